#include "vhu_inflight.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"

/* Header fields and entry fields, by offset. */
#define OFF_VERSION 8
#define OFF_DESC_NUM 10
#define OFF_LAST_BATCH_HEAD 12
#define OFF_USED_IDX 14
#define DESC_INFLIGHT 0
#define DESC_NEXT 6
#define DESC_COUNTER 8

uint64_t vhu_inflight_queue_size(uint16_t queue_size)
{
	uint64_t raw = VHU_INFLIGHT_HDR_SIZE + (uint64_t)VHU_INFLIGHT_DESC_SIZE * queue_size;
	return (raw + VHU_INFLIGHT_ALIGN - 1) / VHU_INFLIGHT_ALIGN * VHU_INFLIGHT_ALIGN;
}

uint64_t vhu_inflight_size(uint16_t num_queues, uint16_t queue_size)
{
	return (uint64_t)num_queues * vhu_inflight_queue_size(queue_size);
}

int vhu_inflight_format(uint8_t *region, size_t len, uint16_t num_queues, uint16_t queue_size)
{
	uint64_t need = vhu_inflight_size(num_queues, queue_size);
	if (len < need)
		return -EINVAL;
	memset(region, 0, need);
	for (uint16_t i = 0; i < num_queues; i++) {
		uint8_t *q = region + (size_t)i * vhu_inflight_queue_size(queue_size);
		put_le16(q + OFF_VERSION, VHU_INFLIGHT_VERSION);
		put_le16(q + OFF_DESC_NUM, queue_size);
	}
	return 0;
}

static uint8_t *desc_at(uint8_t *q, uint16_t head)
{
	return q + VHU_INFLIGHT_HDR_SIZE + (size_t)head * VHU_INFLIGHT_DESC_SIZE;
}

void vhu_inflight_mark(struct vhu_inflight_q *q, uint16_t head)
{
	uint8_t *d = desc_at(q->base, head);
	put_le64(d + DESC_COUNTER, q->counter++);
	d[DESC_INFLIGHT] = 1;
}

void vhu_inflight_unmark(struct vhu_inflight_q *q, uint16_t head)
{
	desc_at(q->base, head)[DESC_INFLIGHT] = 0;
}

void vhu_inflight_batch_add(struct vhu_inflight_q *q, uint16_t head)
{
	put_le16(desc_at(q->base, head) + DESC_NEXT, get_le16(q->base + OFF_LAST_BATCH_HEAD));
	put_le16(q->base + OFF_LAST_BATCH_HEAD, head);
}

void vhu_inflight_batch_done(struct vhu_inflight_q *q, unsigned int n, uint16_t used_idx)
{
	/* The used index was published before: a death from here on is
	 * repaired from used_idx's mismatch, so no clear may come before it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	uint16_t h = get_le16(q->base + OFF_LAST_BATCH_HEAD);
	/* The links are this process's own, but the frontend shares the page:
	 * every head is bounded before use. */
	for (unsigned int k = 0; k < n && h < q->num; k++) {
		uint8_t *d = desc_at(q->base, h);
		d[DESC_INFLIGHT] = 0;
		h = get_le16(d + DESC_NEXT);
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	put_le16(q->base + OFF_USED_IDX, used_idx);
}

static int by_counter(const void *a, const void *b)
{
	const struct vhu_inflight_entry *x = a, *y = b;
	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->head < y->head ? -1 : x->head > y->head;
}

int vhu_inflight_recover(uint8_t *region, size_t len, uint16_t num, uint16_t used_idx,
			 struct vhu_inflight_entry *out, size_t cap, size_t *n,
			 uint64_t *next_counter)
{
	*n = 0;
	*next_counter = 0;
	if (len < VHU_INFLIGHT_HDR_SIZE + (size_t)VHU_INFLIGHT_DESC_SIZE * num)
		return -EBADMSG;
	if (get_le16(region + OFF_VERSION) != VHU_INFLIGHT_VERSION ||
	    get_le16(region + OFF_DESC_NUM) < num)
		return -EBADMSG;

	uint16_t batch = (uint16_t)(used_idx - get_le16(region + OFF_USED_IDX));
	if (batch > num)
		return -EBADMSG;
	/* The old backend died after publishing its last batch: answered. */
	uint16_t h = get_le16(region + OFF_LAST_BATCH_HEAD);
	for (uint16_t k = 0; k < batch; k++) {
		if (h >= num)
			return -EBADMSG;
		uint8_t *d = desc_at(region, h);
		d[DESC_INFLIGHT] = 0;
		h = get_le16(d + DESC_NEXT);
	}
	put_le16(region + OFF_USED_IDX, used_idx);

	size_t got = 0;
	uint64_t next = 0;
	for (uint16_t i = 0; i < num; i++) {
		const uint8_t *d = desc_at(region, i);
		uint8_t flag = d[DESC_INFLIGHT];
		if (flag > 1)
			return -EBADMSG;
		if (!flag)
			continue;
		if (got == cap)
			return -ENOBUFS;
		uint64_t c = get_le64(d + DESC_COUNTER);
		out[got++] = (struct vhu_inflight_entry){ .counter = c, .head = i };
		if (c >= next)
			next = c == UINT64_MAX ? c : c + 1;
	}
	qsort(out, got, sizeof(*out), by_counter);
	*n = got;
	*next_counter = next;
	return 0;
}
