/* common/vhu_inflight.c: the region's layout and sizes, the tracking a
 * backend does on pop and push, and recovery from a region a dead (maybe
 * compromised) backend left: in-flight heads in pop order, the last batch
 * repaired when the used index was published but the flags not cleared,
 * and every malformed field refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "vhu_inflight.h"

#define QS 8
static uint8_t region[4096];

static void fresh(void)
{
	cr_assert_eq(vhu_inflight_format(region, sizeof(region), 2, QS), 0);
}

static int recover(uint16_t used_idx, struct vhu_inflight_entry *out, size_t *n,
		   uint64_t *next)
{
	return vhu_inflight_recover(region, vhu_inflight_queue_size(QS), QS, used_idx, out,
				    QS, n, next);
}

Test(vhu_inflight, sizes_follow_the_spec_layout)
{
	/* 16-byte header, 16-byte entries, each queue on 64 bytes. */
	cr_assert_eq(vhu_inflight_queue_size(8), 192);
	cr_assert_eq(vhu_inflight_queue_size(128), 2112);
	cr_assert_eq(vhu_inflight_queue_size(0), 64);
	cr_assert_eq(vhu_inflight_size(2, 128), 4224);
	cr_assert_eq(vhu_inflight_size(16, 32768), 16ull * (16 + 16 * 32768 + 48));
}

Test(vhu_inflight, format_writes_each_queue_header)
{
	memset(region, 0xaa, sizeof(region));
	fresh();
	for (int q = 0; q < 2; q++) {
		const uint8_t *h = region + q * vhu_inflight_queue_size(QS);
		cr_assert_eq(get_le64(h), 0);
		cr_assert_eq(get_le16(h + 8), 1);
		cr_assert_eq(get_le16(h + 10), QS);
		cr_assert_eq(get_le16(h + 12), 0);
		cr_assert_eq(get_le16(h + 14), 0);
	}
	cr_assert_eq(region[2 * vhu_inflight_queue_size(QS) - 1], 0);
	cr_assert_eq(vhu_inflight_format(region, 100, 2, QS), -EINVAL);
}

Test(vhu_inflight, fresh_region_has_nothing_in_flight)
{
	fresh();
	struct vhu_inflight_entry out[QS];
	size_t n = 99;
	uint64_t next = 99;
	cr_assert_eq(recover(0, out, &n, &next), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(next, 0);
}

Test(vhu_inflight, popped_and_unanswered_come_back_in_pop_order)
{
	fresh();
	struct vhu_inflight_q q = { .base = region, .num = QS, .counter = 10 };
	vhu_inflight_mark(&q, 5);
	vhu_inflight_mark(&q, 2);
	vhu_inflight_mark(&q, 7);
	vhu_inflight_mark(&q, 0);
	vhu_inflight_mark(&q, 3);
	vhu_inflight_unmark(&q, 3); /* given back */
	/* 2 is answered alone. */
	vhu_inflight_batch_add(&q, 2);
	vhu_inflight_batch_done(&q, 1, 1);

	struct vhu_inflight_entry out[QS];
	size_t n;
	uint64_t next;
	cr_assert_eq(recover(1, out, &n, &next), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[0].head, 5);
	cr_assert_eq(out[1].head, 7);
	cr_assert_eq(out[2].head, 0);
	cr_assert_eq(out[0].counter, 10);
	cr_assert_eq(next, 14);
}

Test(vhu_inflight, death_after_publishing_a_batch_is_repaired)
{
	fresh();
	struct vhu_inflight_q q = { .base = region, .num = QS };
	for (uint16_t h = 0; h < 4; h++)
		vhu_inflight_mark(&q, h);
	/* 1 and 3 answered together, the used index published (now 2), then
	 * death before the flags were cleared. */
	vhu_inflight_batch_add(&q, 1);
	vhu_inflight_batch_add(&q, 3);

	struct vhu_inflight_entry out[QS];
	size_t n;
	uint64_t next;
	cr_assert_eq(recover(2, out, &n, &next), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(out[0].head, 0);
	cr_assert_eq(out[1].head, 2);
	cr_assert_eq(get_le16(region + 14), 2, "used_idx stored");
	/* Recovering again finds the same. */
	cr_assert_eq(recover(2, out, &n, &next), 0);
	cr_assert_eq(n, 2);
}

Test(vhu_inflight, death_before_publishing_keeps_the_batch_in_flight)
{
	fresh();
	struct vhu_inflight_q q = { .base = region, .num = QS };
	vhu_inflight_mark(&q, 6);
	vhu_inflight_batch_add(&q, 6); /* used->idx not yet published: still 0 */
	struct vhu_inflight_entry out[QS];
	size_t n;
	uint64_t next;
	cr_assert_eq(recover(0, out, &n, &next), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].head, 6);
}

Test(vhu_inflight, used_index_wraps)
{
	fresh();
	put_le16(region + 14, 0xffff);
	struct vhu_inflight_q q = { .base = region, .num = QS };
	vhu_inflight_mark(&q, 1);
	vhu_inflight_mark(&q, 4);
	vhu_inflight_batch_add(&q, 4);
	struct vhu_inflight_entry out[QS];
	size_t n;
	uint64_t next;
	cr_assert_eq(recover(0, out, &n, &next), 0); /* 0xffff + 1 */
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].head, 1);
}

Test(vhu_inflight, malformed_regions_are_refused)
{
	struct vhu_inflight_entry out[QS];
	size_t n;
	uint64_t next;

	fresh();
	cr_assert_eq(vhu_inflight_recover(region, 16 + 16 * QS - 1, QS, 0, out, QS, &n, &next),
		     -EBADMSG, "too short");
	put_le16(region + 8, 2);
	cr_assert_eq(recover(0, out, &n, &next), -EBADMSG, "version");
	fresh();
	put_le16(region + 10, QS - 1);
	cr_assert_eq(recover(0, out, &n, &next), -EBADMSG, "desc_num below the ring");
	fresh();
	cr_assert_eq(recover(QS + 1, out, &n, &next), -EBADMSG, "batch longer than ring");
	fresh();
	put_le16(region + 12, QS);
	cr_assert_eq(recover(1, out, &n, &next), -EBADMSG, "batch head out of range");
	fresh();
	region[16 + 16 * 3] = 2;
	cr_assert_eq(recover(0, out, &n, &next), -EBADMSG, "flag not 0 or 1");
	fresh();
	region[16 + 16 * 3] = 1;
	region[16 + 16 * 4] = 1;
	cr_assert_eq(vhu_inflight_recover(region, sizeof(region), QS, 0, out, 1, &n, &next),
		     -ENOBUFS);
}

Test(vhu_inflight, a_bigger_region_serves_a_smaller_ring)
{
	fresh();
	region[16 + 16 * 7] = 1; /* beyond a ring of 4: ignored */
	region[16 + 16 * 2] = 1;
	struct vhu_inflight_entry out[QS];
	size_t n;
	uint64_t next;
	cr_assert_eq(vhu_inflight_recover(region, sizeof(region), 4, 0, out, 4, &n, &next), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].head, 2);
}
