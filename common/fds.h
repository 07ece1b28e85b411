/* The fds a process makes for itself and drops: event and signal fds, always
 * close-on-exec (a child inherits only what it is handed on purpose), and
 * closing an fd field so that it cannot be closed twice. */
#ifndef CELLVM_FDS_H
#define CELLVM_FDS_H

#include <stddef.h>

/* Closes *fd if it is open (>= 0) and sets it to -1. */
void close_fd(int *fd);

/* A non-blocking, close-on-exec eventfd counting from 0; -errno. */
int new_eventfd(void);

/* Blocks the n signals in sigs for the calling thread (the threads it
 * creates later inherit that) and returns a close-on-exec signalfd that
 * reads them, with flags (0 or SFD_NONBLOCK) added. On failure, -errno and
 * the signal mask is as it was. */
int new_signalfd(const int *sigs, size_t n, int flags);

#endif
