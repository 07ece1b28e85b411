/* A rate limiter as Firecracker defines one: two token buckets, bandwidth
 * (bytes) and ops (operations), each {size, one_time_burst, refill_time}.
 * Pure: no clock and no timer inside; the caller passes the time (ns, any
 * monotonic origin) and arms its own timer from what rl_take answers.
 *
 * A bucket starts full. one_time_burst is extra credit, spent before the
 * bucket and never refilled. The bucket refills linearly, size tokens per
 * refill_time ms, up to size. A request may ask for more than size: it goes
 * as soon as the bucket is not in debt, empties it and leaves the excess as
 * a debt the refill pays back first (Firecracker lets it through and blocks
 * for excess / size * refill_time), so the long-run rate holds for any
 * request size. A bucket with size 0 or refill_time 0 is unlimited. */
#ifndef CELLVM_RATE_LIMITER_H
#define CELLVM_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

/* Bounds a config (docs/config.md) is checked against; the arithmetic
 * holds for any value up to them. */
#define RL_SIZE_MAX ((uint64_t)INT64_MAX)  /* size and one_time_burst */
#define RL_REFILL_MS_MAX 86400000ull      /* a day */

struct rl_bucket_cfg {
	uint64_t size;           /* tokens; 0: unlimited */
	uint64_t one_time_burst; /* tokens */
	uint64_t refill_ms;      /* refill_time; 0: unlimited */
};

struct rl_cfg {
	struct rl_bucket_cfg bandwidth; /* bytes */
	struct rl_bucket_cfg ops;       /* operations */
};

/* Which buckets an update replaces. */
enum { RL_BANDWIDTH = 1, RL_OPS = 2 };

struct rl_bucket {
	struct rl_bucket_cfg cfg;
	uint64_t burst;  /* one_time_burst left */
	int64_t budget;  /* tokens; below 0: the debt of an oversize request */
	uint64_t last;   /* the time the budget is counted up to */
};

struct rate_limiter {
	struct rl_bucket bandwidth, ops;
};

/* Whether c's values are within the bounds above (size 0 is fine). */
bool rl_bucket_cfg_ok(const struct rl_bucket_cfg *c);
bool rl_bucket_unlimited(const struct rl_bucket_cfg *c);

/* Both buckets from c, full, at time now. */
void rl_init(struct rate_limiter *rl, const struct rl_cfg *c, uint64_t now);

/* Replaces the buckets named in which (RL_BANDWIDTH | RL_OPS) with fresh,
 * full ones from c, as Firecracker's update does; the others keep their
 * state. */
void rl_update(struct rate_limiter *rl, unsigned which, const struct rl_cfg *c, uint64_t now);

/* Takes ops and bytes tokens at time now, both or neither. Returns 0 if
 * taken, else the ns from now until both would be there (at least 1),
 * having taken nothing: the caller waits that long and asks again. */
uint64_t rl_take(struct rate_limiter *rl, uint64_t now, uint64_t ops, uint64_t bytes);

/* Gives back what an rl_take took for a request that did not go after all
 * (Firecracker's manual_replenish): into the burst while any is left, else
 * the bucket, up to size. */
void rl_refund(struct rate_limiter *rl, uint64_t ops, uint64_t bytes);

#endif
