#include "throttle.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "rate_limit_arg.h"

#define NS_PER_MS 1000000ull

static bool cfg_limited(const struct rate_limiter *rl)
{
	return !rl_bucket_unlimited(&rl->bandwidth.cfg) || !rl_bucket_unlimited(&rl->ops.cfg);
}

static void log_limits(const struct throttle *t, const char *when)
{
	char text[RL_ARG_MAX];
	rl_arg_format(&(struct rl_cfg){ t->rl.bandwidth.cfg, t->rl.ops.cfg }, text);
	log_info("%s: %s%s", t->name, when, text[0] ? text : "unlimited");
}

/* The end of a stretch throttled. */
static void unthrottled(struct throttle *t, uint64_t now)
{
	if (!t->since)
		return;
	t->throttled_ns += now - t->since;
	t->since = 0;
}

static void on_timer(void *opaque)
{
	struct throttle *t = opaque;
	uint64_t now = evloop_now_ns();
	t->resume(t->opaque);
	/* The device took what it waited for, or has nothing left to wait
	 * for; otherwise it asked again and waits on. */
	if (!evloop_timer_armed(&t->timer))
		unthrottled(t, now);
}

void throttle_init(struct throttle *t, const char *name, const struct rl_cfg *c,
		   void (*resume)(void *opaque), void *opaque)
{
	*t = (struct throttle){ .name = name, .resume = resume, .opaque = opaque };
	rl_init(&t->rl, c, evloop_now_ns());
	t->limited = cfg_limited(&t->rl);
	evloop_timer_init(&t->timer, on_timer, t);
	if (t->limited)
		log_limits(t, "");
}

void throttle_attach(struct throttle *t, struct evloop *loop)
{
	t->loop = loop;
}

bool throttle_waiting(const struct throttle *t)
{
	return evloop_timer_armed(&t->timer);
}

bool throttle_take(struct throttle *t, uint64_t ops, uint64_t bytes)
{
	if (!t->limited)
		return true;
	uint64_t now = evloop_now_ns();
	uint64_t wait = rl_take(&t->rl, now, ops, bytes);
	if (!wait) {
		unthrottled(t, now);
		return true;
	}
	if (!t->since)
		t->since = now;
	/* Another request may wait for less: the earlier wake-up stands. */
	if (throttle_waiting(t) && t->wake_at <= now + wait)
		return false;
	/* The loop's timers count whole ms: round up, so that the tokens are
	 * there when it fires (no wake-up that finds too few, no spinning). */
	uint64_t ms = (wait + NS_PER_MS - 1) / NS_PER_MS;
	if (ms > UINT32_MAX)
		ms = UINT32_MAX;
	evloop_timer_arm(t->loop, &t->timer, (unsigned)ms);
	t->wake_at = now + ms * NS_PER_MS;
	return false;
}

void throttle_refund(struct throttle *t, uint64_t ops, uint64_t bytes)
{
	rl_refund(&t->rl, ops, bytes);
}

void throttle_cancel(struct throttle *t)
{
	evloop_timer_cancel(&t->timer);
	unthrottled(t, evloop_now_ns());
}

int throttle_set(struct throttle *t, unsigned which, const struct rl_cfg *c)
{
	if (((which & RL_BANDWIDTH) && !rl_bucket_cfg_ok(&c->bandwidth)) ||
	    ((which & RL_OPS) && !rl_bucket_cfg_ok(&c->ops))) {
		log_err("%s: limits out of range: refused", t->name);
		return -EINVAL;
	}
	rl_update(&t->rl, which, c, evloop_now_ns());
	t->limited = cfg_limited(&t->rl);
	log_limits(t, "now ");
	/* Whoever waits asks again with the new limits, from the loop. */
	if (throttle_waiting(t)) {
		evloop_timer_arm(t->loop, &t->timer, 0);
		t->wake_at = evloop_now_ns();
	}
	return 0;
}

uint64_t throttle_us(const struct throttle *t)
{
	uint64_t ns = t->throttled_ns;
	if (t->since)
		ns += evloop_now_ns() - t->since;
	return ns / 1000;
}

int throttle_parse_opt(const char *opt, const char *arg, struct rl_cfg *c)
{
	const char *why;
	if (rl_arg_parse(arg, strlen(arg), c, &why) < 0) {
		log_err("%s %s: %s", opt, arg, why);
		return -EINVAL;
	}
	return 0;
}
