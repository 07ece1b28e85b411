/* Helpers the criterion tests share: capturing what the code under test
 * logs, and counting open fds to prove nothing leaked. */
#ifndef CELLVM_TESTUTIL_H
#define CELLVM_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Sends stderr (where log lines go) to a memfd until tu_log_end(), which
 * returns what was logged (up to 8 KiB). Each criterion test runs in its own
 * process, so rate limits start fresh too. */
void tu_log_begin(void);
const char *tu_log_end(void);

/* Open fds of this process. */
int tu_count_fds(void);

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

#endif
