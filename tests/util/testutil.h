/* Helpers the criterion tests share: capturing what the code under test
 * logs, and counting open fds to prove nothing leaked. */
#ifndef CELLVM_TESTUTIL_H
#define CELLVM_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Sends stderr (where log lines go) to a memfd until tu_log_end(), which
 * returns what was logged (up to 8 KiB). Each criterion test runs in its own
 * process, so rate limits start fresh too. */
void tu_log_begin(void);
const char *tu_log_end(void);

/* Open fds of this process; of another (from /proc/PID/fd, without . and ..). */
int tu_count_fds(void);
int tu_count_fds_of(pid_t pid);

/* From /proc/PID/stat: its parent; whether it has ended (gone, or a zombie
 * nobody reaped: a container's init may not). */
pid_t tu_parent_of(pid_t pid);
bool tu_ended(pid_t pid);

/* The program `name` next to this test's binary in the build tree, into
 * path; the test fails if it is not built. */
void tu_beside_self(const char *name, char *path, size_t len);

/* A connected AF_UNIX stream socketpair (close-on-exec). */
void tu_sockpair(int sv[2]);

/* A new memfd: each has its own inode, so a received fd can be matched to
 * the one sent (tu_same_file: false if either is not open). */
int tu_memfd(void);
bool tu_same_file(int a, int b);

/* One sendmsg of exactly these bytes with up to 64 fds and no retry, so a
 * test decides how bytes and fds are split and can send what a codec would
 * refuse. */
void tu_raw_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds);

/* {"a":"xx...x"}, a JSON object of exactly len (>= 8) bytes, in a static
 * buffer of up to 128 KiB. */
const char *tu_padded_object(size_t len);

#endif
