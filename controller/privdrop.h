/* Giving up root: the controller, started as root by a service manager, opens
 * what it needs (/dev/kvm, taps, disk images), then becomes a configured
 * uid/gid with no capability left, and passes the fds down.
 *
 * privdrop_to() is all or nothing from the caller's view: 0 means the ids and
 * capabilities were read back and are what was asked; on an error the process
 * is half-way and must exit. Call it before starting threads (capabilities
 * belong to a thread). It does not set PR_SET_NO_NEW_PRIVS: the controller
 * still execs children that install their own seccomp filters. */
#ifndef CELLVM_PRIVDROP_H
#define CELLVM_PRIVDROP_H

#include <sys/types.h>

/* A --user value: "UID:GID" in decimal (each below 4294967295, which means
 * "unchanged" to the kernel), or a user name and its primary group. Returns
 * 0 with *uid and *gid set, -EINVAL for a bad form ("", "1:", ":1", "a:b",
 * an overflow), -ENOENT for an unknown name, or -errno of the lookup. A ':'
 * makes it numeric (a name cannot hold one), and the numeric form is pure; a
 * name goes through NSS (getpwnam_r). Logs nothing. */
int privdrop_parse_user(const char *s, uid_t *uid, gid_t *gid);

/* Makes uid and gid the real, effective and saved ids, and clears every
 * capability (effective, permitted, inheritable, hence ambient). What needs a
 * capability is done when the process holds it, then checked: with
 * CAP_SETGID the groups become just gid; with CAP_SETPCAP the bounding set is
 * emptied (before the uid change, which takes CAP_SETPCAP away). Without them
 * the process is an ordinary user already: a non-root caller running as
 * uid/gid only loses its (normally no) capabilities. PR_SET_KEEPCAPS ends 0.
 * Returns 0, or -EPERM after one log_err naming the step that failed or did
 * not take. */
int privdrop_to(uid_t uid, gid_t gid);

#endif
