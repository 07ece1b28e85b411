/* device-procs/throttle.c on a real event loop: the callback comes when
 * the tokens are there, not before; the time throttled is counted; a live
 * change wakes whoever waits. */
#include <criterion/criterion.h>
#include <errno.h>

#include "event_loop.h"
#include "throttle.h"

struct waiter {
	struct throttle t;
	int resumed;
	uint64_t at; /* when resume last ran (ns) */
	bool retake; /* resume asks for one op again */
	bool retook;
};

static void resume(void *opaque)
{
	struct waiter *w = opaque;
	w->resumed++;
	w->at = evloop_now_ns();
	if (w->retake)
		w->retook = throttle_take(&w->t, 1, 0);
}

/* Runs the loop until w was resumed n times (at most 2 s). */
static void run_until(struct evloop *loop, struct waiter *w, int n)
{
	uint64_t end = evloop_now_ns() + 2000000000ull;
	while (w->resumed < n && evloop_now_ns() < end)
		cr_assert_geq(evloop_run_once(loop, 100), 0);
	cr_assert_eq(w->resumed, n);
}

Test(throttle, resumes_when_the_tokens_are_there_and_counts_the_wait)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	static struct waiter w;
	/* 20 ops a second: one each 50 ms. */
	throttle_init(&w.t, "test", &(struct rl_cfg){ .ops = { 1, 0, 50 } }, resume, &w);
	throttle_attach(&w.t, loop);
	cr_assert(throttle_take(&w.t, 1, 0));
	uint64_t t0 = evloop_now_ns();
	cr_assert_not(throttle_take(&w.t, 1, 0));
	cr_assert(throttle_waiting(&w.t));
	w.retake = true;
	run_until(loop, &w, 1);
	cr_expect(w.retook, "the callback came before the token");
	cr_expect_geq(w.at - t0, 45000000ull, "resumed after %llu ns", (unsigned long long)(w.at - t0));
	cr_expect_not(throttle_waiting(&w.t));
	uint64_t us = throttle_us(&w.t);
	cr_expect(us >= 45000 && us < 1000000, "throttled %llu us", (unsigned long long)us);
	/* Not throttled now: the count stands still. */
	cr_expect_eq(throttle_us(&w.t), us);
	evloop_destroy(loop);
}

Test(throttle, a_live_change_wakes_the_waiter_at_once)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	static struct waiter w;
	/* One op a minute. */
	throttle_init(&w.t, "test", &(struct rl_cfg){ .ops = { 1, 0, 60000 } }, resume, &w);
	throttle_attach(&w.t, loop);
	cr_assert(throttle_take(&w.t, 1, 0));
	cr_assert_not(throttle_take(&w.t, 1, 0));
	struct rl_cfg bad = { .ops = { 1, 0, RL_REFILL_MS_MAX + 1 } };
	cr_expect_eq(throttle_set(&w.t, RL_OPS, &bad), -EINVAL);
	uint64_t t0 = evloop_now_ns();
	cr_assert_eq(throttle_set(&w.t, RL_OPS, &(struct rl_cfg){ 0 }), 0);
	w.retake = true;
	run_until(loop, &w, 1);
	cr_expect(w.retook, "unlimited now");
	cr_expect_lt(w.at - t0, 500000000ull);
	cr_expect_not(throttle_waiting(&w.t));
	/* A reset while waiting: no callback, the stretch ends. */
	throttle_set(&w.t, RL_OPS, &(struct rl_cfg){ .ops = { 1, 0, 60000 } });
	cr_assert(throttle_take(&w.t, 1, 0));
	cr_assert_not(throttle_take(&w.t, 1, 0));
	throttle_cancel(&w.t);
	cr_expect_not(throttle_waiting(&w.t));
	uint64_t us = throttle_us(&w.t);
	cr_assert_eq(evloop_run_once(loop, 100), 0);
	cr_expect_eq(throttle_us(&w.t), us);
	cr_expect_eq(w.resumed, 1);
	evloop_destroy(loop);
}
