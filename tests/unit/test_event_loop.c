#include <criterion/criterion.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event_loop.h"

struct ctx;

/* One watched eventfd; its callback may delete another watched fd. */
struct watch {
	struct ctx *c;
	int fd;
	int calls;
	int del_fd; /* fd this callback deletes, or -1 */
};

struct ctx {
	struct evloop *loop;
	struct watch w[3];
};

static void on_ready(void *opaque, uint32_t events)
{
	struct watch *w = opaque;
	uint64_t v;
	(void)events;
	w->calls++;
	cr_assert_eq(read(w->fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	if (w->del_fd >= 0)
		cr_assert_eq(evloop_del(w->c->loop, w->del_fd), 0);
}

static void setup_ctx(struct ctx *c, int n)
{
	cr_assert_eq(evloop_create(&c->loop), 0);
	for (int i = 0; i < n; i++) {
		struct watch *w = &c->w[i];
		*w = (struct watch){ .c = c, .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
				     .del_fd = -1 };
		cr_assert_geq(w->fd, 0);
		cr_assert_eq(evloop_add(c->loop, w->fd, EPOLLIN, on_ready, w), 0);
	}
}

static void kick(int fd)
{
	uint64_t one = 1;
	cr_assert_eq(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

Test(event_loop, dispatches_ready_fds_only)
{
	struct ctx c;
	setup_ctx(&c, 3);
	kick(c.w[1].fd);
	cr_assert_eq(evloop_run_once(c.loop, 1000), 1);
	cr_assert_eq(c.w[0].calls, 0);
	cr_assert_eq(c.w[1].calls, 1);
	cr_assert_eq(c.w[2].calls, 0);
	cr_assert_eq(evloop_run_once(c.loop, 0), 0, "nothing ready: no callback");
	evloop_destroy(c.loop);
}

Test(event_loop, add_twice_is_eexist_and_del_unknown_is_enoent)
{
	struct ctx c;
	setup_ctx(&c, 1);
	cr_assert_eq(evloop_add(c.loop, c.w[0].fd, EPOLLIN, on_ready, &c.w[0]), -EEXIST);
	cr_assert_eq(evloop_del(c.loop, 12345), -ENOENT);
	cr_assert_eq(evloop_mod(c.loop, 12345, EPOLLIN), -ENOENT);
	evloop_destroy(c.loop);
}

Test(event_loop, deleted_handler_not_called_for_events_already_fetched)
{
	/* Both fds are ready in the same round and each callback deletes the
	 * other: whichever runs first, the other must not run. */
	struct ctx c;
	setup_ctx(&c, 2);
	c.w[0].del_fd = c.w[1].fd;
	c.w[1].del_fd = c.w[0].fd;
	kick(c.w[0].fd);
	kick(c.w[1].fd);
	cr_assert_eq(evloop_run_once(c.loop, 1000), 1);
	cr_assert_eq(c.w[0].calls + c.w[1].calls, 1, "deleted handler must not run");
	evloop_destroy(c.loop);
}

Test(event_loop, callback_may_delete_itself)
{
	struct ctx c;
	setup_ctx(&c, 1);
	c.w[0].del_fd = c.w[0].fd;
	kick(c.w[0].fd);
	cr_assert_eq(evloop_run_once(c.loop, 1000), 1);
	kick(c.w[0].fd);
	cr_assert_eq(evloop_run_once(c.loop, 0), 0, "no longer watched");
	cr_assert_eq(evloop_add(c.loop, c.w[0].fd, EPOLLIN, on_ready, &c.w[0]), 0,
		     "can be watched again");
	evloop_destroy(c.loop);
}

Test(event_loop, mod_changes_interest)
{
	struct ctx c;
	setup_ctx(&c, 1);
	cr_assert_eq(evloop_mod(c.loop, c.w[0].fd, 0), 0);
	kick(c.w[0].fd);
	cr_assert_eq(evloop_run_once(c.loop, 0), 0, "no interest: no callback");
	cr_assert_eq(evloop_mod(c.loop, c.w[0].fd, EPOLLIN), 0);
	cr_assert_eq(evloop_run_once(c.loop, 1000), 1);
	evloop_destroy(c.loop);
}

static void stopper(void *opaque, uint32_t events)
{
	struct watch *w = opaque;
	on_ready(w, events);
	evloop_stop(w->c->loop);
}

Test(event_loop, run_returns_after_stop)
{
	struct ctx c;
	setup_ctx(&c, 1);
	cr_assert_eq(evloop_mod(c.loop, c.w[0].fd, 0), 0);
	cr_assert_eq(evloop_del(c.loop, c.w[0].fd), 0);
	cr_assert_eq(evloop_add(c.loop, c.w[0].fd, EPOLLIN, stopper, &c.w[0]), 0);
	kick(c.w[0].fd);
	cr_assert_eq(evloop_run(c.loop), 0);
	cr_assert_eq(c.w[0].calls, 1);
	evloop_destroy(c.loop);
}

Test(event_loop, fds_lists_the_epoll_fd_and_every_watched_fd)
{
	struct ctx c;
	setup_ctx(&c, 3);
	int fds[8];
	cr_assert_eq(evloop_fds(c.loop, fds, 8), 4);
	bool seen[3] = { false };
	for (size_t i = 1; i < 4; i++)
		for (int j = 0; j < 3; j++)
			seen[j] |= fds[i] == c.w[j].fd;
	cr_expect(seen[0] && seen[1] && seen[2]);
	cr_expect(fds[0] != c.w[0].fd && fds[0] != c.w[1].fd && fds[0] != c.w[2].fd);
	cr_assert_eq(evloop_del(c.loop, c.w[1].fd), 0);
	cr_expect_eq(evloop_fds(c.loop, fds, 1), 3, "the count, even past max");
	evloop_destroy(c.loop);
}
