/* A single-threaded epoll event loop, with one-shot timers.
 *
 * A callback may add or delete any fd, its own included: after evloop_del()
 * returns, the deleted handler's callback is never called again, not even
 * for events already fetched in the current round.
 *
 * Timers are a deadline list on CLOCK_MONOTONIC whose nearest deadline is
 * epoll_wait's timeout: no fd and no syscall per timer, so arming cannot
 * fail and a confined process needs nothing beyond epoll_wait and the
 * clock. A round runs the ready fds' callbacks first, then the timers due
 * when it began, earliest first. A cancelled timer is never called, not
 * even when it was due in the current round; one armed from a callback
 * fires in a later round at the earliest (so a 0 ms re-arm cannot spin). */
#ifndef CELLVM_EVENT_LOOP_H
#define CELLVM_EVENT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evloop;

/* events: EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, ... as epoll reports them. */
typedef void (*evloop_cb)(void *opaque, uint32_t events);

int evloop_create(struct evloop **out);
/* Frees the loop and its handlers and disarms its timers; does not close
 * the watched fds. */
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

typedef void (*evloop_timer_cb)(void *opaque);

/* The caller's memory (embed it); treat the fields as private. It must be
 * cancelled (or have fired) before it is freed. */
struct evloop_timer {
	uint64_t deadline_ns;
	evloop_timer_cb cb;
	void *opaque;
	struct evloop_timer *next, **pprev; /* pprev: NULL while not armed */
};

/* The timers' clock, CLOCK_MONOTONIC in ns. */
uint64_t evloop_now_ns(void);

void evloop_timer_init(struct evloop_timer *t, evloop_timer_cb cb, void *opaque);
/* Fires t once, ms from now; an armed t is moved to the new deadline. */
void evloop_timer_arm(struct evloop *loop, struct evloop_timer *t, unsigned ms);
/* Nothing happens if t is not armed. */
void evloop_timer_cancel(struct evloop_timer *t);
bool evloop_timer_armed(const struct evloop_timer *t);

/* Waits up to timeout_ms (-1: forever), less if a timer is due sooner, and
 * dispatches what is ready. Returns the number of callbacks run, or -errno. */
int evloop_run_once(struct evloop *loop, int timeout_ms);
/* Dispatches until evloop_stop() is called from a callback. */
int evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);

#endif
