/* libFuzzer harness: the rate limiter's option text (common/rate_limit_arg.c),
 * which cellvm-blk and cellvm-net parse from cellvmd's command line, and its
 * token buckets (common/rate_limiter.c), which take the guest's request
 * sizes at the times the guest chooses.
 *
 * Input layout:
 *   byte 0      n, the option text's length; bytes 1..n the text
 *   then steps of 18 bytes: byte 0 the action (mod 4: 0-1 take, 2 refund,
 *               3 a fresh bucket: bit 2 bandwidth, bit 3 ops), bytes 1-8 the
 *               time that passes first (LE, ns), byte 9 ops, bytes 10-17
 *               bytes (LE).
 * Checks: what parses formats to text that parses to the same limits; a
 * take that waits takes nothing (asked again at once: the same wait), and
 * the same take goes exactly when it said (not 1 ns before); the budget
 * stays within [-RL_SIZE_MAX, size] and the burst within one_time_burst.
 *
 * Boundary: cellvmd (the option) and guest (sizes, timing) -> cellvm-blk, cellvm-net
 * Links: common/rate_limiter.c common/rate_limit_arg.c */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "rate_limit_arg.h"
#include "rate_limiter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) (fprintf(stderr, "fuzz_rate_limiter: " __VA_ARGS__), fputc('\n', stderr), abort())
#define STEP 18u

static void check_bucket(const struct rl_bucket *b)
{
	if (rl_bucket_unlimited(&b->cfg))
		return;
	if (b->budget > (int64_t)b->cfg.size || b->budget < -(int64_t)RL_SIZE_MAX)
		FAIL("budget %lld outside [-max, %llu]", (long long)b->budget,
		     (unsigned long long)b->cfg.size);
	if (b->burst > b->cfg.one_time_burst)
		FAIL("burst %llu above %llu", (unsigned long long)b->burst,
		     (unsigned long long)b->cfg.one_time_burst);
}

static void take(struct rate_limiter *rl, uint64_t now, uint64_t ops, uint64_t bytes)
{
	uint64_t w = rl_take(rl, now, ops, bytes);
	if (!w)
		return;
	struct rate_limiter again = *rl;
	if (rl_take(&again, now, ops, bytes) != w)
		FAIL("a take that waits changed the next answer");
	/* UINT64_MAX says "at least that"; past the clock's end nothing is
	 * left to check. */
	if (w == UINT64_MAX || now + w < now)
		return;
	struct rate_limiter early = *rl, on_time = *rl;
	if (w > 1 && rl_take(&early, now + w - 1, ops, bytes) == 0)
		FAIL("the take went 1 ns before the %llu ns it said", (unsigned long long)w);
	if (rl_take(&on_time, now + w, ops, bytes) != 0)
		FAIL("the take did not go after the %llu ns it said", (unsigned long long)w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size < 1u + data[0])
		return 0;
	size_t n = data[0];
	/* Exactly n bytes on the heap: ASan sees any read past them. */
	char *text = malloc(n ? n : 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, n);
	struct rl_cfg c, back;
	const char *why;
	int r = rl_arg_parse(text, n, &c, &why);
	free(text);
	if (r)
		return 0;
	char out[RL_ARG_MAX];
	rl_arg_format(&c, out);
	if (strlen(out) >= RL_ARG_MAX - 1)
		FAIL("formatted text fills the buffer");
	/* Unlimited buckets are left out of the text: compare what limits. */
	struct rl_cfg want = c;
	if (rl_bucket_unlimited(&want.bandwidth))
		memset(&want.bandwidth, 0, sizeof(want.bandwidth));
	if (rl_bucket_unlimited(&want.ops))
		memset(&want.ops, 0, sizeof(want.ops));
	if (out[0] ? rl_arg_parse(out, strlen(out), &back, &why) != 0 ||
			     memcmp(&back, &want, sizeof(want)) != 0
		   : memcmp(&want, &(struct rl_cfg){ 0 }, sizeof(want)) != 0)
		FAIL("\"%s\" does not read back", out);

	struct rate_limiter rl;
	uint64_t now = 0;
	rl_init(&rl, &c, now);
	for (const uint8_t *p = data + 1 + n; p + STEP <= data + size; p += STEP) {
		uint64_t dt = get_le64(p + 1), bytes = get_le64(p + 10), ops = p[9];
		now = now + dt < now ? UINT64_MAX : now + dt;
		switch (p[0] % 4) {
		case 2:
			rl_refund(&rl, ops, bytes);
			break;
		case 3:
			rl_update(&rl, (p[0] >> 2) & (RL_BANDWIDTH | RL_OPS), &c, now);
			break;
		default:
			take(&rl, now, ops, bytes);
		}
		check_bucket(&rl.bandwidth);
		check_bucket(&rl.ops);
	}
	return 0;
}
