/* libFuzzer harness: in-flight region recovery (common/vhu_inflight.c),
 * which a new device process runs on the region its dead predecessor (maybe
 * compromised) left, and the frontend keeps.
 *
 * Input layout:
 *   byte 0      log2 of the ring size, masked to 0..7 (1..128 entries)
 *   bytes 1-2   the used ring's index, LE
 *   bytes 3-    the queue's region (what follows is used as is, any length)
 * Recovers, checks that the heads given back are distinct, inside the ring,
 * flagged in flight and in counter order, then recovers again: the repaired
 * region must give the same answer, and a pop/answer round on it must work.
 *
 * Boundary: a dead device process (maybe compromised) -> its successor: the in-flight region
 * Links: common/vhu_inflight.c */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vhu_inflight.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint16_t num = (uint16_t)(1u << (data[0] & 7));
	uint16_t used_idx = (uint16_t)(data[1] | data[2] << 8);
	size_t len = size - 3;
	/* An exact-size heap copy, so ASan sees any read past the end. */
	uint8_t *region = malloc(len ? len : 1);
	if (!region)
		return 0;
	memcpy(region, data + 3, len);

	struct vhu_inflight_entry out[128], again[128];
	size_t n, n2;
	uint64_t next, next2;
	int r = vhu_inflight_recover(region, len, num, used_idx, out, num, &n, &next);
	if (r == 0) {
		uint8_t seen[128] = { 0 };
		for (size_t i = 0; i < n; i++) {
			if (out[i].head >= num || seen[out[i].head]++)
				abort();
			if (i && out[i - 1].counter > out[i].counter)
				abort();
			if (out[i].counter >= next && out[i].counter != UINT64_MAX)
				abort();
		}
		if (vhu_inflight_recover(region, len, num, used_idx, again, num, &n2, &next2) ||
		    n2 != n || next2 != next)
			abort();
		for (size_t i = 0; i < n; i++)
			if (again[i].head != out[i].head || again[i].counter != out[i].counter)
				abort();
		/* The repaired region takes a round of tracking. */
		struct vhu_inflight_q q = { .base = region, .num = num, .counter = next };
		uint16_t h = (uint16_t)(used_idx % num);
		vhu_inflight_mark(&q, h);
		vhu_inflight_batch_add(&q, h);
		vhu_inflight_batch_done(&q, 1, (uint16_t)(used_idx + 1));
	} else if (r != -EBADMSG) {
		abort();
	}
	free(region);
	return 0;
}
