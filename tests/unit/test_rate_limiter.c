#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rate_limit_arg.h"
#include "rate_limiter.h"

#define MS 1000000ull
#define S (1000 * MS)
#define MIB (1ull << 20)

/* One rl_take at time `at` (ns) and what it must answer. */
struct step {
	uint64_t at, ops, bytes;
	uint64_t wait; /* 0: taken */
};

static void run(const struct rl_cfg *c, const struct step *s, size_t n, const char *name)
{
	struct rate_limiter rl;
	rl_init(&rl, c, 0);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(rl_take(&rl, s[i].at, s[i].ops, s[i].bytes), s[i].wait,
			     "%s, step %zu: wait %llu ns", name, i, (unsigned long long)s[i].wait);
}

#define RUN(cfg, steps) run(&(cfg), steps, sizeof(steps) / sizeof(steps[0]), #steps)

Test(rate_limiter, size_or_refill_zero_is_unlimited)
{
	static const struct rl_cfg none = { { 0, 0, 100 }, { 10, 0, 0 } };
	static const struct step steps[] = { { 0, 1000, 1ull << 40, 0 }, { 0, 1000, 1ull << 40, 0 },
					     { 0, UINT64_MAX, UINT64_MAX, 0 } };
	RUN(none, steps);
}

/* 1000 bytes a second: a byte per ms. */
static const struct rl_cfg thousand = { .bandwidth = { 1000, 0, 1000 } };

Test(rate_limiter, starts_full_and_refills_linearly)
{
	static const struct step steps[] = {
		{ 0, 1, 1000, 0 },         /* full at the start */
		{ 0, 1, 1, 1 * MS },       /* empty: one byte takes a ms */
		{ 0, 1, 500, 500 * MS },
		{ 499 * MS, 1, 500, 1 * MS },
		{ 500 * MS, 1, 500, 0 },   /* exactly when it said */
		{ 500 * MS, 1, 0, 0 },     /* no bytes: the bandwidth bucket is not asked */
		{ 10 * S, 1, 1000, 0 },    /* the refill stops at size */
		{ 10 * S, 1, 1, 1 * MS },
	};
	RUN(thousand, steps);
}

Test(rate_limiter, a_fraction_of_a_token_carries_over)
{
	/* 3 tokens a ms: one every 333333.3 ns. */
	static const struct rl_cfg three = { .ops = { 3, 0, 1 } };
	static const struct step steps[] = {
		{ 0, 3, 0, 0 },
		{ 333333, 1, 0, 1 },      /* not quite */
		{ 500000, 1, 0, 0 },      /* 1.5 earned: one token, half of one kept */
		{ 666668, 1, 0, 0 },      /* the kept half makes the second */
		{ 666668, 1, 0, 333334 },
		{ 1000002, 1, 0, 0 },
	};
	RUN(three, steps);
}

Test(rate_limiter, one_time_burst_goes_first_and_never_comes_back)
{
	/* 100 bytes a second (one per 10 ms) and 50 bytes of burst. */
	static const struct rl_cfg burst = { .bandwidth = { 100, 50, 1000 } };
	static const struct step steps[] = {
		{ 0, 1, 30, 0 },         /* burst: 20 left, the bucket still full */
		{ 0, 1, 120, 0 },        /* 20 of burst and 100 of the bucket */
		{ 0, 1, 1, 10 * MS },
		{ 100 * S, 1, 100, 0 },  /* refilled to size, no burst again */
		{ 100 * S, 1, 1, 10 * MS },
	};
	RUN(burst, steps);
}

Test(rate_limiter, a_request_bigger_than_the_bucket_goes_and_leaves_a_debt)
{
	static const struct step steps[] = {
		{ 0, 1, 600, 0 },
		{ 0, 1, 2500, 0 },          /* 400 left: it goes, 2100 of debt */
		{ 0, 1, 1, 2101 * MS },     /* the debt first, then the byte */
		{ 1 * S, 1, 5000, 1100 * MS }, /* oversize waits for the debt only */
		{ 2100 * MS, 1, 5000, 0 },
		{ 2100 * MS, 1, 1, 5001 * MS },
	};
	RUN(thousand, steps);
}

Test(rate_limiter, both_buckets_or_neither)
{
	/* 10 ops a second, 1000 bytes a second. */
	static const struct rl_cfg both = { .bandwidth = { 1000, 0, 1000 }, .ops = { 10, 0, 1000 } };
	static const struct step steps[] = {
		{ 0, 10, 100, 0 },
		{ 0, 1, 100, 100 * MS },   /* ops empty: the bytes are not taken */
		{ 100 * MS, 1, 900, 0 },   /* so 900 bytes are still there */
		{ 100 * MS, 1, 0, 100 * MS },
		{ 200 * MS, 1, 350, 150 * MS }, /* now the bytes are short */
		{ 350 * MS, 2, 350, 0 },        /* and the op was not taken */
	};
	RUN(both, steps);
}

Test(rate_limiter, refund_and_update)
{
	struct rate_limiter rl;
	rl_init(&rl, &(struct rl_cfg){ .bandwidth = { 1000, 10, 1000 }, .ops = { 5, 0, 1000 } }, 0);
	cr_assert_eq(rl_take(&rl, 0, 1, 1010), 0);
	rl_refund(&rl, 1, 400);
	cr_expect_eq(rl_take(&rl, 0, 1, 400), 0, "refunded into the bucket (the burst is spent)");
	cr_expect_eq(rl_take(&rl, 0, 1, 1), 1 * MS);
	rl_refund(&rl, 0, 5000);
	cr_expect_eq(rl_take(&rl, 0, 0, 1000), 0, "refunded up to size");
	cr_expect_eq(rl_take(&rl, 0, 0, 1), 1 * MS, "not beyond");
	/* A new bandwidth bucket, full; ops keeps its state (4 left of 5). */
	rl_update(&rl, RL_BANDWIDTH, &(struct rl_cfg){ .bandwidth = { 2000, 0, 1000 } }, 0);
	cr_expect_eq(rl_take(&rl, 0, 5, 2000), 200 * MS, "ops were not refilled");
	cr_expect_eq(rl_take(&rl, 0, 4, 2000), 0);
	rl_update(&rl, RL_OPS, &(struct rl_cfg){ 0 }, 0);
	cr_expect_eq(rl_take(&rl, 0, 100, 0), 0, "ops now unlimited");
}

/* The case: 32 MiB in 128 KiB writes, 1 MiB bucket, 125 ms
 * refill (8 MiB/s), as fast as the limiter lets them: the first MiB at
 * once, the other 31 at 8 MiB/s. */
Test(rate_limiter, thirty_two_mib_at_eight_mib_a_second)
{
	struct rate_limiter rl;
	rl_init(&rl, &(struct rl_cfg){ .bandwidth = { MIB, 0, 125 } }, 0);
	uint64_t now = 0;
	for (int i = 0; i < 256; i++) {
		uint64_t w;
		while ((w = rl_take(&rl, now, 1, 128 << 10)))
			now += w;
	}
	cr_expect_eq(now, 31 * S / 8, "took %llu ns", (unsigned long long)now);
	/* The same with 4 MiB requests, four times the bucket. */
	rl_init(&rl, &(struct rl_cfg){ .bandwidth = { MIB, 0, 125 } }, 0);
	now = 0;
	for (int i = 0; i < 8; i++) {
		uint64_t w;
		while ((w = rl_take(&rl, now, 1, 4 * MIB)))
			now += w;
	}
	cr_expect_eq(now, 27 * S / 8, "oversize: %llu ns", (unsigned long long)now);
}

Test(rate_limiter, the_largest_values_do_not_overflow)
{
	struct rate_limiter rl;
	struct rl_cfg c = { .bandwidth = { RL_SIZE_MAX, RL_SIZE_MAX, RL_REFILL_MS_MAX },
			    .ops = { 1, 0, RL_REFILL_MS_MAX } };
	cr_assert(rl_bucket_cfg_ok(&c.bandwidth) && rl_bucket_cfg_ok(&c.ops));
	rl_init(&rl, &c, UINT64_MAX - 10 * S);
	cr_expect_eq(rl_take(&rl, UINT64_MAX - 10 * S, 1, RL_SIZE_MAX), 0, "the burst");
	cr_expect_eq(rl_take(&rl, UINT64_MAX - 10 * S, 0, UINT64_MAX), 0, "oversize, no debt yet");
	cr_expect_eq(rl_take(&rl, UINT64_MAX, 1, 0), RL_REFILL_MS_MAX * MS - 10 * S);
	cr_expect_gt(rl_take(&rl, UINT64_MAX, 0, 1), 0, "in debt");
	c.bandwidth.size = RL_SIZE_MAX + 1;
	cr_expect_not(rl_bucket_cfg_ok(&c.bandwidth));
	c.bandwidth = (struct rl_bucket_cfg){ 1, 0, RL_REFILL_MS_MAX + 1 };
	cr_expect_not(rl_bucket_cfg_ok(&c.bandwidth));
}

/* ------------------------------------------------------ the option's text */

static int parse(const char *s, struct rl_cfg *c)
{
	const char *why = NULL;
	int r = rl_arg_parse(s, strlen(s), c, &why);
	if (r)
		cr_assert(why && *why);
	return r;
}

Test(rate_limit_arg, good)
{
	static const struct {
		const char *text;
		struct rl_cfg want;
		const char *formatted; /* NULL: the text itself */
	} t[] = {
		{ "bandwidth.size=1048576,bandwidth.refill_time=125",
		  { .bandwidth = { 1048576, 0, 125 } }, NULL },
		{ "ops.refill_time=1000,ops.size=100,ops.one_time_burst=5",
		  { .ops = { 100, 5, 1000 } }, "ops.size=100,ops.one_time_burst=5,ops.refill_time=1000" },
		{ "bandwidth.size=1,bandwidth.one_time_burst=2,bandwidth.refill_time=3,"
		  "ops.size=4,ops.one_time_burst=5,ops.refill_time=6",
		  { { 1, 2, 3 }, { 4, 5, 6 } }, NULL },
		{ "bandwidth.size=0,bandwidth.refill_time=7", { .bandwidth = { 0, 0, 7 } }, "" },
		{ "ops.size=9223372036854775807,ops.refill_time=86400000,"
		  "ops.one_time_burst=9223372036854775807",
		  { .ops = { RL_SIZE_MAX, RL_SIZE_MAX, RL_REFILL_MS_MAX } },
		  "ops.size=9223372036854775807,ops.one_time_burst=9223372036854775807,"
		  "ops.refill_time=86400000" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct rl_cfg c;
		cr_assert_eq(parse(t[i].text, &c), 0, "%s", t[i].text);
		cr_expect_eq(memcmp(&c, &t[i].want, sizeof(c)), 0, "%s", t[i].text);
		char out[RL_ARG_MAX];
		rl_arg_format(&c, out);
		cr_expect_str_eq(out, t[i].formatted ? t[i].formatted : t[i].text);
	}
	/* The longest text fits. */
	struct rl_cfg c = { { RL_SIZE_MAX, RL_SIZE_MAX, RL_REFILL_MS_MAX },
			    { RL_SIZE_MAX, RL_SIZE_MAX, RL_REFILL_MS_MAX } }, back;
	char out[RL_ARG_MAX];
	rl_arg_format(&c, out);
	cr_assert_lt(strlen(out), RL_ARG_MAX - 1);
	cr_assert_eq(parse(out, &back), 0);
	cr_expect_eq(memcmp(&c, &back, sizeof(c)), 0);
}

Test(rate_limit_arg, bad)
{
	static const char *const bad[] = {
		"",
		",",
		"bandwidth.size=1,bandwidth.refill_time=1,",
		",bandwidth.size=1,bandwidth.refill_time=1",
		"bandwidth.size=1",                                   /* no refill_time */
		"bandwidth.refill_time=1",                            /* no size */
		"bandwidth.one_time_burst=1",
		"bandwidth.size=1,bandwidth.refill_time=1,bandwidth.size=2",
		"bandwidth.size=1,bandwidth.refill_time=86400001",
		"ops.size=9223372036854775808,ops.refill_time=1",
		"ops.size=18446744073709551616,ops.refill_time=1",
		"ops.size=-1,ops.refill_time=1",
		"ops.size=+1,ops.refill_time=1",
		"ops.size= 1,ops.refill_time=1",
		"ops.size=1 ,ops.refill_time=1",
		"ops.size=0x10,ops.refill_time=1",
		"ops.size=,ops.refill_time=1",
		"ops.size=1k,ops.refill_time=1",
		"ops.Size=1,ops.refill_time=1",
		"iops.size=1,iops.refill_time=1",
		"size=1,refill_time=1",
		"ops.size,ops.refill_time=1",
		"ops.size=1;ops.refill_time=1",
		"ops..size=1,ops.refill_time=1",
		"ops.size=1=2,ops.refill_time=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rl_cfg c = { .ops = { 42, 42, 42 } };
		cr_expect_eq(parse(bad[i], &c), -EINVAL, "\"%s\"", bad[i]);
		cr_expect_eq(c.ops.size, 42, "untouched on failure");
	}
	/* The length is explicit: bytes past it are not read, a NUL inside is. */
	struct rl_cfg c;
	const char *why;
	cr_expect_eq(rl_arg_parse("ops.size=1,ops.refill_time=1junk", 28, &c, &why), 0);
	cr_expect_eq(c.ops.refill_ms, 1);
	cr_expect_eq(rl_arg_parse("ops.size=1\0,ops.refill_time=1", 29, &c, &why), -EINVAL);
}
