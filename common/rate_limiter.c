#include "rate_limiter.h"

#define NS_PER_MS 1000000ull

typedef unsigned __int128 u128;

bool rl_bucket_cfg_ok(const struct rl_bucket_cfg *c)
{
	return c->size <= RL_SIZE_MAX && c->one_time_burst <= RL_SIZE_MAX &&
	       c->refill_ms <= RL_REFILL_MS_MAX;
}

bool rl_bucket_unlimited(const struct rl_bucket_cfg *c)
{
	return c->size == 0 || c->refill_ms == 0;
}

static void bucket_init(struct rl_bucket *b, const struct rl_bucket_cfg *c, uint64_t now)
{
	*b = (struct rl_bucket){ .cfg = *c, .burst = c->one_time_burst,
				 .budget = (int64_t)c->size, .last = now };
}

void rl_init(struct rate_limiter *rl, const struct rl_cfg *c, uint64_t now)
{
	bucket_init(&rl->bandwidth, &c->bandwidth, now);
	bucket_init(&rl->ops, &c->ops, now);
}

void rl_update(struct rate_limiter *rl, unsigned which, const struct rl_cfg *c, uint64_t now)
{
	if (which & RL_BANDWIDTH)
		bucket_init(&rl->bandwidth, &c->bandwidth, now);
	if (which & RL_OPS)
		bucket_init(&rl->ops, &c->ops, now);
}

/* Adds what the time since b->last earned. b->last moves only by the time
 * the whole tokens took, so the fraction of a token carries over. */
static void refill(struct rl_bucket *b, uint64_t now)
{
	uint64_t size = b->cfg.size, refill_ns = b->cfg.refill_ms * NS_PER_MS;
	if (now <= b->last)
		return;
	if (b->budget >= (int64_t)size) {
		b->last = now;
		return;
	}
	u128 earned = (u128)(now - b->last) * size / refill_ns;
	u128 room = (u128)((__int128)size - b->budget);
	if (earned >= room) {
		b->budget = (int64_t)size;
		b->last = now;
		return;
	}
	b->budget = (int64_t)(b->budget + (__int128)earned); /* below size: fits */
	/* Rounded up: never credit the same nanosecond twice. */
	b->last += (uint64_t)((earned * refill_ns + size - 1) / size);
}

/* ns from now until b can give n tokens: 0 if it can now. */
static uint64_t bucket_wait(struct rl_bucket *b, uint64_t now, uint64_t n)
{
	if (rl_bucket_unlimited(&b->cfg) || b->burst >= n)
		return 0;
	n -= b->burst;
	refill(b, now);
	/* More than the bucket holds: goes once it is out of debt. */
	int64_t need = n > b->cfg.size ? 0 : (int64_t)n;
	if (b->budget >= need)
		return 0;
	u128 missing = (u128)((__int128)need - b->budget);
	u128 t = (missing * (b->cfg.refill_ms * NS_PER_MS) + b->cfg.size - 1) / b->cfg.size;
	u128 deadline = (u128)b->last + t;
	if (deadline <= now)
		return 1; /* cannot happen once refilled; never answer "now" with nothing taken */
	return deadline - now > UINT64_MAX ? UINT64_MAX : (uint64_t)(deadline - now);
}

static void bucket_take(struct rl_bucket *b, uint64_t n)
{
	if (rl_bucket_unlimited(&b->cfg))
		return;
	if (b->burst >= n) {
		b->burst -= n;
		return;
	}
	n -= b->burst;
	b->burst = 0;
	/* The debt stays within what int64 holds whatever n the caller asks. */
	__int128 left = (__int128)b->budget - n;
	b->budget = left < -(__int128)RL_SIZE_MAX ? -(int64_t)RL_SIZE_MAX : (int64_t)left;
}

uint64_t rl_take(struct rate_limiter *rl, uint64_t now, uint64_t ops, uint64_t bytes)
{
	uint64_t w_ops = bucket_wait(&rl->ops, now, ops);
	uint64_t w_bw = bucket_wait(&rl->bandwidth, now, bytes);
	if (w_ops || w_bw)
		return w_ops > w_bw ? w_ops : w_bw;
	bucket_take(&rl->ops, ops);
	bucket_take(&rl->bandwidth, bytes);
	return 0;
}

static void bucket_refund(struct rl_bucket *b, uint64_t n)
{
	if (rl_bucket_unlimited(&b->cfg))
		return;
	if (b->burst > 0) {
		uint64_t room = b->cfg.one_time_burst - b->burst;
		b->burst += n < room ? n : room;
		return;
	}
	uint64_t room = (uint64_t)((__int128)b->cfg.size - b->budget);
	b->budget = (int64_t)(b->budget + (__int128)(n < room ? n : room)); /* up to size */
}

void rl_refund(struct rate_limiter *rl, uint64_t ops, uint64_t bytes)
{
	bucket_refund(&rl->ops, ops);
	bucket_refund(&rl->bandwidth, bytes);
}
