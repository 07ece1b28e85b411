/* Stream sockets on a Unix path: listen on one, connect to one. Both are
 * close-on-exec, non-blocking only if asked (flags: 0 or SOCK_NONBLOCK),
 * and return the fd or -errno without logging: the caller knows which
 * option or peer the path is and says so in its one log line. Replacing a
 * stale socket file, permissions and renames are the caller's business. */
#ifndef CELLVM_UNIX_SOCK_H
#define CELLVM_UNIX_SOCK_H

#include <sys/un.h>

/* The longest path a socket address holds, without its NUL. */
#define UNIX_SOCK_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Bound to path (which must not exist: -EADDRINUSE) and listening with
 * backlog; a failure leaves no file behind. -ENAMETOOLONG for a path longer
 * than UNIX_SOCK_PATH_MAX. */
int unix_listen(const char *path, int backlog, int flags);

/* Connected to path; -ENAMETOOLONG as above, -ENOENT if there is no such
 * file, -ECONNREFUSED if nobody listens there, -EAGAIN if non-blocking and
 * the listener's backlog is full. */
int unix_connect(const char *path, int flags);

#endif
