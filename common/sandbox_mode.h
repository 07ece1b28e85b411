/* How strictly a cellvm process is confined: the --sandbox option and the
 * config's "sandbox" key. Apart from sandbox.h so that what only names a
 * mode (the config, cellvmctl, their fuzzers) needs no libseccomp. */
#ifndef CELLVM_SANDBOX_MODE_H
#define CELLVM_SANDBOX_MODE_H

enum sandbox_mode { SANDBOX_ON, SANDBOX_OFF, SANDBOX_LOG };

/* "on", "off" or "log"; 0, or -EINVAL with *out untouched. */
int sandbox_parse_mode(const char *s, enum sandbox_mode *out);
/* "on", "off", "log" ("?" for anything else). */
const char *sandbox_mode_name(enum sandbox_mode m);

#endif
