/* Threads with a small stack.
 *
 * glibc gives a thread an 8 MiB stack by default; on a host whose
 * transparent huge pages are "always" (Debian's default), the first touch
 * of a 2 MiB-aligned part of it can fault in a whole huge page: 2 MiB of
 * private memory for a thread that uses a few KiB. A stack smaller than
 * 2 MiB cannot hold an aligned huge page, and cellvm's threads (vCPUs, the
 * kernel loader, watchdogs, the seccomp notifier) need far less. */
#ifndef CELLVM_THREAD_H
#define CELLVM_THREAD_H

#include <pthread.h>

/* Each thread's stack: room for ASan's redzones, and under 2 MiB. */
#define THREAD_STACK_SIZE (512u << 10)

/* pthread_create with a THREAD_STACK_SIZE stack: 0 or -errno. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
