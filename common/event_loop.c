#include "event_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
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

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[EVLOOP_BATCH];
	int n = epoll_wait(loop->epfd, evs, EVLOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	int ran = 0;
	for (int i = 0; i < n; i++) {
		struct evloop_handler *h = evs[i].data.ptr;
		if (h->dead)
			continue;
		h->cb(h->opaque, evs[i].events);
		ran++;
	}
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
