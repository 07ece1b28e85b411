#include "event_loop.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define EVLOOP_BATCH 32

struct evloop_handler {
	int fd;
	bool dead; /* deleted while its events may still be in the current batch */
	evloop_cb cb;
	void *opaque;
	struct evloop_handler *next;
};

struct evloop {
	int epfd;
	bool stop;
	struct evloop_handler *live;
	/* Deleted handlers are freed only after the current dispatch round, so a
	 * pointer still sitting in the fetched epoll batch stays valid. */
	struct evloop_handler *graveyard;
	struct evloop_timer *timers; /* armed, by deadline; equal ones in arming order */
	struct evloop_timer *due;    /* the current round's due timers, while they run */
};

int evloop_create(struct evloop **out)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int err = -errno;
		free(loop);
		return err;
	}
	*out = loop;
	return 0;
}

size_t evloop_fds(const struct evloop *loop, int *out, size_t max)
{
	size_t n = 0;
	if (n < max)
		out[n] = loop->epfd;
	n++;
	for (const struct evloop_handler *h = loop->live; h; h = h->next) {
		if (n < max)
			out[n] = h->fd;
		n++;
	}
	return n;
}

static void free_list(struct evloop_handler *h)
{
	while (h) {
		struct evloop_handler *next = h->next;
		free(h);
		h = next;
	}
}

void evloop_destroy(struct evloop *loop)
{
	if (!loop)
		return;
	free_list(loop->live);
	free_list(loop->graveyard);
	while (loop->timers)
		evloop_timer_cancel(loop->timers); /* a later cancel by its owner is harmless */
	close(loop->epfd);
	free(loop);
}

static struct evloop_handler **find(struct evloop *loop, int fd)
{
	for (struct evloop_handler **p = &loop->live; *p; p = &(*p)->next)
		if ((*p)->fd == fd)
			return p;
	return NULL;
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
	if (find(loop, fd))
		return -EEXIST;
	struct evloop_handler *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->cb = cb;
	h->opaque = opaque;
	struct epoll_event ev = { .events = events, .data.ptr = h };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;
		free(h);
		return err;
	}
	h->next = loop->live;
	loop->live = h;
	return 0;
}

int evloop_mod(struct evloop *loop, int fd, uint32_t events)
{
	struct evloop_handler **p = find(loop, fd);
	if (!p)
		return -ENOENT;
	struct epoll_event ev = { .events = events, .data.ptr = *p };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int evloop_del(struct evloop *loop, int fd)
{
	struct evloop_handler **p = find(loop, fd);
	if (!p)
		return -ENOENT;
	struct evloop_handler *h = *p;
	*p = h->next;
	/* The fd may already be closed by its owner; epoll then dropped it. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF &&
	    errno != ENOENT)
		log_warn("epoll_ctl(DEL, %d): %m", fd);
	h->dead = true;
	h->next = loop->graveyard;
	loop->graveyard = h;
	return 0;
}

uint64_t evloop_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void evloop_timer_init(struct evloop_timer *t, evloop_timer_cb cb, void *opaque)
{
	*t = (struct evloop_timer){ .cb = cb, .opaque = opaque };
}

bool evloop_timer_armed(const struct evloop_timer *t)
{
	return t->pprev != NULL;
}

/* Unlinks t from the list it is on: the loop's, or a round's due list. */
void evloop_timer_cancel(struct evloop_timer *t)
{
	if (!t->pprev)
		return;
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

void evloop_timer_arm(struct evloop *loop, struct evloop_timer *t, unsigned ms)
{
	evloop_timer_cancel(t);
	t->deadline_ns = evloop_now_ns() + (uint64_t)ms * 1000000u;
	struct evloop_timer **p = &loop->timers;
	while (*p && (*p)->deadline_ns <= t->deadline_ns)
		p = &(*p)->next;
	t->next = *p;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = p;
	*p = t;
}

/* epoll_wait's timeout: the caller's, cut to the nearest deadline, rounded
 * up (waking before it would spin). No timer, no clock read. */
static int wait_ms(const struct evloop *loop, int timeout_ms)
{
	if (!loop->timers)
		return timeout_ms;
	uint64_t now = evloop_now_ns(), due = loop->timers->deadline_ns;
	uint64_t ms = due > now ? (due - now + 999999) / 1000000 : 0;
	if (ms > INT_MAX)
		ms = INT_MAX;
	return timeout_ms >= 0 && (uint64_t)timeout_ms < ms ? timeout_ms : (int)ms;
}

/* Runs the timers due now. They are moved to a list of their own first, so
 * that one armed by a callback waits for the next round, and one cancelled
 * by a callback (unlinked from this list) is not called. */
static int fire_timers(struct evloop *loop)
{
	if (!loop->timers)
		return 0;
	uint64_t now = evloop_now_ns();
	struct evloop_timer **end = &loop->timers;
	while (*end && (*end)->deadline_ns <= now)
		end = &(*end)->next;
	if (end == &loop->timers)
		return 0;
	loop->due = loop->timers;
	loop->due->pprev = &loop->due;
	loop->timers = *end;
	if (loop->timers)
		loop->timers->pprev = &loop->timers;
	*end = NULL;
	int ran = 0;
	while (loop->due) {
		struct evloop_timer *t = loop->due;
		evloop_timer_cancel(t);
		t->cb(t->opaque);
		ran++;
	}
	return ran;
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[EVLOOP_BATCH];
	int n = epoll_wait(loop->epfd, evs, EVLOOP_BATCH, wait_ms(loop, timeout_ms));
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0; /* the timers may be due all the same */
	}
	int ran = 0;
	for (int i = 0; i < n; i++) {
		struct evloop_handler *h = evs[i].data.ptr;
		if (h->dead)
			continue;
		h->cb(h->opaque, evs[i].events);
		ran++;
	}
	ran += fire_timers(loop);
	free_list(loop->graveyard);
	loop->graveyard = NULL;
	return ran;
}

int evloop_run(struct evloop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int r = evloop_run_once(loop, -1);
		if (r < 0)
			return r;
	}
	return 0;
}

void evloop_stop(struct evloop *loop)
{
	loop->stop = true;
}
