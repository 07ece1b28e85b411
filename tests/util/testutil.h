/* Helpers the criterion tests share: capturing what the code under test
 * logs, and counting open fds to prove nothing leaked. */
#ifndef CELLVM_TESTUTIL_H
#define CELLVM_TESTUTIL_H

/* Sends stderr (where log lines go) to a memfd until tu_log_end(), which
 * returns what was logged (up to 8 KiB). Each criterion test runs in its own
 * process, so rate limits start fresh too. */
void tu_log_begin(void);
const char *tu_log_end(void);

/* Open fds of this process. */
int tu_count_fds(void);

#endif
