#include <criterion/criterion.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
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

/* ---------------------------------------------------------------- timers */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One timer; its callback records the order it ran in, then may re-arm
 * itself or cancel another timer. */
struct tick {
	struct evloop *loop;
	struct evloop_timer t;
	int calls;
	int order;          /* the global sequence number of its latest call */
	int rearm_ms;       /* >= 0: re-arm itself with this */
	struct tick *other; /* cancelled by this callback, or NULL */
};

static int seq;

static void on_tick(void *opaque)
{
	struct tick *k = opaque;
	k->calls++;
	k->order = ++seq;
	if (k->rearm_ms >= 0)
		evloop_timer_arm(k->loop, &k->t, (unsigned)k->rearm_ms);
	if (k->other)
		evloop_timer_cancel(&k->other->t);
}

static void tick_init(struct tick *k, struct evloop *loop)
{
	*k = (struct tick){ .loop = loop, .rearm_ms = -1 };
	evloop_timer_init(&k->t, on_tick, k);
}

Test(event_loop, timer_fires_once_after_its_delay_and_bounds_the_wait)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	struct tick k;
	tick_init(&k, loop);
	cr_expect(!evloop_timer_armed(&k.t));
	uint64_t t0 = now_ms();
	evloop_timer_arm(loop, &k.t, 50);
	cr_expect(evloop_timer_armed(&k.t));
	cr_assert_eq(evloop_run_once(loop, 0), 0, "not due yet");
	/* No fd is ready and the caller would wait forever: the timer ends the wait. */
	cr_assert_eq(evloop_run_once(loop, -1), 1);
	uint64_t waited = now_ms() - t0;
	cr_expect_geq(waited, 50, "fired after %llu ms", (unsigned long long)waited);
	cr_expect_lt(waited, 1000, "fired after %llu ms", (unsigned long long)waited);
	cr_expect_eq(k.calls, 1);
	cr_expect(!evloop_timer_armed(&k.t), "one-shot");
	cr_assert_eq(evloop_run_once(loop, 80), 0, "fired once only");
	evloop_destroy(loop);
}

Test(event_loop, caller_timeout_shorter_than_a_timer_wins)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	struct tick k;
	tick_init(&k, loop);
	evloop_timer_arm(loop, &k.t, 5000);
	uint64_t t0 = now_ms();
	cr_assert_eq(evloop_run_once(loop, 20), 0);
	cr_expect_lt(now_ms() - t0, 1000);
	cr_expect_eq(k.calls, 0);
	evloop_timer_cancel(&k.t);
	evloop_destroy(loop);
}

Test(event_loop, cancelled_and_rearmed_timers)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	struct tick a, b;
	tick_init(&a, loop);
	tick_init(&b, loop);
	evloop_timer_cancel(&a.t); /* not armed: nothing happens */
	evloop_timer_arm(loop, &a.t, 10);
	evloop_timer_cancel(&a.t);
	cr_expect(!evloop_timer_armed(&a.t));
	evloop_timer_arm(loop, &b.t, 10);
	evloop_timer_arm(loop, &b.t, 5000); /* moved, not added twice */
	cr_assert_eq(evloop_run_once(loop, 100), 0);
	cr_expect_eq(a.calls + b.calls, 0);
	evloop_timer_arm(loop, &b.t, 0);
	cr_assert_eq(evloop_run_once(loop, 1000), 1);
	cr_assert_eq(evloop_run_once(loop, 50), 0, "the old deadline is gone too");
	cr_expect_eq(b.calls, 1);
	evloop_destroy(loop);
}

Test(event_loop, timers_fire_earliest_first)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	struct tick k[3];
	static const unsigned ms[3] = { 30, 10, 20 };
	for (int i = 0; i < 3; i++) {
		tick_init(&k[i], loop);
		evloop_timer_arm(loop, &k[i].t, ms[i]);
	}
	int ran = 0;
	for (uint64_t end = now_ms() + 2000; ran < 3 && now_ms() < end;)
		ran += evloop_run_once(loop, -1);
	cr_assert_eq(ran, 3);
	cr_expect(k[1].order < k[2].order && k[2].order < k[0].order, "order %d %d %d",
		  k[0].order, k[1].order, k[2].order);
	evloop_destroy(loop);
}

Test(event_loop, a_timer_cancelled_by_another_due_in_the_same_round_is_not_called)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	struct tick a, b;
	tick_init(&a, loop);
	tick_init(&b, loop);
	a.other = &b;
	b.other = &a;
	evloop_timer_arm(loop, &a.t, 0);
	evloop_timer_arm(loop, &b.t, 0);
	usleep(2000); /* both due */
	cr_assert_eq(evloop_run_once(loop, 0), 1);
	cr_expect_eq(a.calls + b.calls, 1, "the cancelled one must not run");
	cr_expect(!evloop_timer_armed(&a.t) && !evloop_timer_armed(&b.t));
	evloop_destroy(loop);
}

Test(event_loop, a_timer_rearmed_from_its_callback_waits_for_the_next_round)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	struct tick k;
	tick_init(&k, loop);
	k.rearm_ms = 0;
	evloop_timer_arm(loop, &k.t, 0);
	for (int i = 1; i <= 3; i++) {
		cr_assert_eq(evloop_run_once(loop, 1000), 1, "round %d", i);
		cr_expect_eq(k.calls, i);
		cr_expect(evloop_timer_armed(&k.t));
	}
	evloop_destroy(loop);
	cr_expect(!evloop_timer_armed(&k.t), "the loop's end disarms it");
	evloop_timer_cancel(&k.t); /* harmless after the loop is gone */
}

static int fd_order; /* on_ready_in_order's place in the sequence */

static void on_ready_in_order(void *opaque, uint32_t events)
{
	on_ready(opaque, events);
	fd_order = ++seq;
}

Test(event_loop, ready_fds_run_before_the_timers_of_their_round)
{
	struct ctx c;
	setup_ctx(&c, 1);
	cr_assert_eq(evloop_del(c.loop, c.w[0].fd), 0);
	cr_assert_eq(evloop_add(c.loop, c.w[0].fd, EPOLLIN, on_ready_in_order, &c.w[0]), 0);
	struct tick k;
	tick_init(&k, c.loop);
	evloop_timer_arm(c.loop, &k.t, 0);
	kick(c.w[0].fd);
	usleep(2000);
	cr_assert_eq(evloop_run_once(c.loop, 1000), 2);
	cr_expect_eq(k.calls, 1);
	cr_expect_eq(c.w[0].calls, 1);
	cr_expect_lt(fd_order, k.order, "the timer ran before the ready fd");
	evloop_destroy(c.loop);
}
