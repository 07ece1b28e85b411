/* A device's rate limiter in its event loop: the token buckets of
 * common/rate_limiter.h on the loop's clock, a timer that calls the device
 * back once the tokens it waits for may be there, and the time it spent
 * throttled. A device asks before it takes a request from a ring; when the
 * answer is "wait", the request stays in the ring (the guest sees slower
 * I/O, never an error) and nothing polls until the callback. Everything
 * here runs on the event loop's thread.
 *
 * For a control channel and metrics (serve.h's serve_device lists a
 * device's throttles): throttle_set changes the limits while the device
 * runs, throttle_us reads the time throttled. */
#ifndef CELLVM_THROTTLE_H
#define CELLVM_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "event_loop.h"
#include "rate_limiter.h"

struct throttle {
	const char *name;       /* the config's key: "rate_limiter", "rx_rate_limiter", ... */
	struct rate_limiter rl;
	bool limited;           /* a bucket is not unlimited */
	struct evloop *loop;    /* NULL until throttle_attach */
	struct evloop_timer timer;
	uint64_t wake_at;       /* the timer's deadline (ns) while it is armed */
	void (*resume)(void *opaque);
	void *opaque;
	uint64_t since;         /* throttled since (ns); 0: not throttled */
	uint64_t throttled_ns;  /* the stretches that ended */
};

/* Sets t up with limits c, full; resume(opaque) is what the timer calls. */
void throttle_init(struct throttle *t, const char *name, const struct rl_cfg *c,
		   void (*resume)(void *opaque), void *opaque);
/* Once the loop exists (a serve_device's setup). */
void throttle_attach(struct throttle *t, struct evloop *loop);

/* Takes ops and bytes tokens now: true to go ahead. False: the device must
 * hold the request back; resume is called from the loop once the tokens
 * may be there, and the device asks again. */
bool throttle_take(struct throttle *t, uint64_t ops, uint64_t bytes);
/* Gives back what a take took for a request that did not go after all. */
void throttle_refund(struct throttle *t, uint64_t ops, uint64_t bytes);
/* Whether a device waits for the callback. */
bool throttle_waiting(const struct throttle *t);
/* Nothing waits any more (the device was reset): no callback. */
void throttle_cancel(struct throttle *t);

/* Replaces the buckets named in which (RL_BANDWIDTH | RL_OPS) with fresh,
 * full ones from c (size 0: unlimited), as Firecracker's update does; a
 * device waiting is called back in the loop's next round. 0, or -EINVAL
 * (logged) if c is past rate_limiter.h's bounds, nothing changed. */
int throttle_set(struct throttle *t, unsigned which, const struct rl_cfg *c);

/* Microseconds during which the device held requests back, so far. */
uint64_t throttle_us(const struct throttle *t);

/* Parses a device option's SPEC (common/rate_limit_arg.h) into *c: 0, or
 * -EINVAL after a log line naming opt. */
int throttle_parse_opt(const char *opt, const char *arg, struct rl_cfg *c);

#endif
