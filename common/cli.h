/* Command-line numbers and fds, parsed one way in every binary. Both
 * functions return 0 (with *out set) or -EINVAL (with *out untouched) and log
 * nothing: the caller names the option in its own message. */
#ifndef CELLVM_CLI_H
#define CELLVM_CLI_H

/* A decimal number in [min, max]: digits only, so an empty string, a sign,
 * leading blanks, trailing junk and a value past ULONG_MAX are refused. */
int cli_parse_uint(const char *arg, unsigned long min, unsigned long max, unsigned long *out);

/* A number in [0, INT_MAX], as cli_parse_uint, that names an fd open in this
 * process (fcntl F_GETFD succeeds). */
int cli_parse_fd(const char *arg, int *out);

#endif
