/* controller/restart_policy.c: which policy a device gets, and the decision
 * on each death as a table: restart now, later (backoff), or give up. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "restart_policy.h"

Test(restart_policy, which_policy)
{
	struct restart_cfg none = { 0 }, vm = { true, 3, 10 }, dev = { true, 0, 30 };
	struct restart_policy p = restart_policy_for(&none, &none, UINT32_MAX);
	cr_assert_eq(p.max, 5);
	cr_assert_eq(p.window_s, 60);
	p = restart_policy_for(&none, &vm, UINT32_MAX);
	cr_assert_eq(p.max, 3);
	cr_assert_eq(p.window_s, 10);
	p = restart_policy_for(&dev, &vm, UINT32_MAX);
	cr_assert_eq(p.max, 0, "a device's own wins: off");
	cr_assert_eq(p.window_s, 30);
	p = restart_policy_for(NULL, &vm, 2);
	cr_assert_eq(p.max, 2, "the operator's cap");
	p = restart_policy_for(NULL, NULL, 0);
	cr_assert_eq(p.max, 0, "--max-restarts 0 turns them off");
}

static const struct decide_case {
	const char *name;
	struct restart_policy p;
	size_t n;
	uint64_t t[8];
	uint64_t now;
	enum restart_verdict want;
	uint64_t delay;
} cases[] = {
	{ "first", { 5, 60 }, 0, { 0 }, 1000, RESTART_NOW, 0 },
	{ "off", { 0, 60 }, 0, { 0 }, 1000, RESTART_GIVE_UP, 0 },
	{ "second, long after", { 5, 60 }, 1, { 1000 }, 5000, RESTART_NOW, 0 },
	{ "second, 50 ms after", { 5, 60 }, 1, { 1000 }, 1050, RESTART_LATER, 50 },
	{ "third, 150 ms after", { 5, 60 }, 2, { 1000, 2000 }, 2150, RESTART_LATER, 50 },
	{ "e2e: every 4 s", { 5, 60 }, 4, { 0, 4000, 8000, 12000 }, 16000, RESTART_NOW, 0 },
	{ "sixth in the window", { 5, 60 }, 5, { 0, 4000, 8000, 12000, 16000 }, 20000,
	  RESTART_GIVE_UP, 0 },
	{ "old ones left the window", { 5, 60 }, 5, { 0, 4000, 8000, 12000, 16000 }, 60001,
	  RESTART_NOW, 0 },
	{ "window edge: just outside", { 2, 1 }, 2, { 1000, 1500 }, 2000, RESTART_NOW, 0 },
	{ "window edge: just inside", { 2, 1 }, 2, { 1001, 1500 }, 2000, RESTART_GIVE_UP, 0 },
	{ "backoff capped", { 100, 3600 }, 8, { 1, 2, 3, 4, 5, 6, 7, 8 }, 8, RESTART_LATER,
	  5000 },
	{ "max 1 used", { 1, 60 }, 1, { 1000 }, 30000, RESTART_GIVE_UP, 0 },
};

Test(restart_policy, decide_table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct decide_case *c = &cases[i];
		struct restart_history h = { .n = c->n };
		for (size_t k = 0; k < c->n; k++)
			h.t_ms[k] = c->t[k];
		uint64_t delay = 99;
		cr_expect_eq(restart_decide(&c->p, &h, c->now, &delay), c->want, "%s", c->name);
		cr_expect_eq(delay, c->delay, "%s: delay %llu", c->name,
			     (unsigned long long)delay);
	}
}

Test(restart_policy, history_keeps_the_last)
{
	struct restart_history h = { 0 };
	for (uint64_t t = 0; t < RESTART_MAX_MAX + 7; t++)
		restart_record(&h, t);
	cr_assert_eq(h.n, RESTART_MAX_MAX);
	cr_assert_eq(h.t_ms[0], 7);
	cr_assert_eq(h.t_ms[RESTART_MAX_MAX - 1], RESTART_MAX_MAX + 6);
	cr_assert_eq(h.total, RESTART_MAX_MAX + 7);
}
