#include "restart_policy.h"

#include <string.h>

struct restart_policy restart_policy_for(const struct restart_cfg *dev,
					 const struct restart_cfg *vm, uint32_t cap)
{
	struct restart_policy p = { RESTART_DEFAULT_MAX, RESTART_DEFAULT_WINDOW_S };
	const struct restart_cfg *c = dev && dev->set ? dev : vm && vm->set ? vm : NULL;
	if (c)
		p = (struct restart_policy){ c->max, c->window_s };
	if (p.max > cap)
		p.max = cap;
	return p;
}

/* Restarts in (now - window, now]. */
static size_t in_window(const struct restart_policy *p, const struct restart_history *h,
			uint64_t now_ms)
{
	uint64_t window_ms = (uint64_t)p->window_s * 1000;
	size_t k = 0;
	for (size_t i = 0; i < h->n; i++)
		if (h->t_ms[i] <= now_ms && now_ms - h->t_ms[i] < window_ms)
			k++;
	return k;
}

enum restart_verdict restart_decide(const struct restart_policy *p,
				    const struct restart_history *h, uint64_t now_ms,
				    uint64_t *delay_ms)
{
	*delay_ms = 0;
	size_t k = in_window(p, h, now_ms);
	if (k >= p->max)
		return RESTART_GIVE_UP;
	if (k == 0 || h->n == 0)
		return RESTART_NOW;
	uint64_t gap = RESTART_BACKOFF_MAX_MS;
	if (k - 1 < 16)
		gap = (uint64_t)RESTART_BACKOFF_BASE_MS << (k - 1);
	if (gap > RESTART_BACKOFF_MAX_MS)
		gap = RESTART_BACKOFF_MAX_MS;
	uint64_t last = h->t_ms[h->n - 1];
	uint64_t since = now_ms >= last ? now_ms - last : 0;
	if (since >= gap)
		return RESTART_NOW;
	*delay_ms = gap - since;
	return RESTART_LATER;
}

void restart_record(struct restart_history *h, uint64_t now_ms)
{
	if (h->n == RESTART_MAX_MAX) {
		memmove(h->t_ms, h->t_ms + 1, (RESTART_MAX_MAX - 1) * sizeof(h->t_ms[0]));
		h->n--;
	}
	h->t_ms[h->n++] = now_ms;
	h->total++;
}
