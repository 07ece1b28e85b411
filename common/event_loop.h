/* A single-threaded epoll event loop.
 *
 * A callback may add or delete any fd, its own included: after evloop_del()
 * returns, the deleted handler's callback is never called again, not even
 * for events already fetched in the current round. */
#ifndef CELLVM_EVENT_LOOP_H
#define CELLVM_EVENT_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct evloop;

/* events: EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, ... as epoll reports them. */
typedef void (*evloop_cb)(void *opaque, uint32_t events);

int evloop_create(struct evloop **out);
/* Frees the loop and its handlers; does not close the watched fds. */
void evloop_destroy(struct evloop *loop);

/* -EEXIST if fd is already watched. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_cb cb, void *opaque);
int evloop_mod(struct evloop *loop, int fd, uint32_t events);
/* -ENOENT if fd is not watched. */
int evloop_del(struct evloop *loop, int fd);

/* The fds the loop holds: its epoll fd, then every watched fd, up to max
 * of them into out. Returns how many there are (which may be more than
 * max). For a sandbox that closes every fd its process does not use. */
size_t evloop_fds(const struct evloop *loop, int *out, size_t max);

/* Waits up to timeout_ms (-1: forever) and dispatches what is ready.
 * Returns the number of callbacks run, or -errno. */
int evloop_run_once(struct evloop *loop, int timeout_ms);
/* Dispatches until evloop_stop() is called from a callback. */
int evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);

#endif
