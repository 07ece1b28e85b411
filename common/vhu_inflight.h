/* vhost-user in-flight I/O tracking for split virtqueues (QEMU
 * docs/interop/vhost-user.rst, "Inflight I/O tracking";
 * VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD).
 *
 * The backend keeps, in a shared memory region the frontend holds on to,
 * which descriptor chains it has popped and not yet answered, so that a new
 * backend process can pick them up after the old one died. Per queue, at
 * index * vhu_inflight_queue_size(queue_size) in the region (little-endian):
 *   u64 features (0); u16 version (1); u16 desc_num; u16 last_batch_head;
 *   u16 used_idx; then desc_num entries of
 *   { u8 inflight; u8 padding[5]; u16 next; u64 counter; }.
 * A pop sets desc[head].inflight and a growing counter; answering links the
 * heads of a batch from last_batch_head through next, publishes the used
 * index, then clears their inflight flags and stores used_idx. A region in
 * which used_idx differs from the ring's used index died between the two:
 * that last batch was answered.
 *
 * The region comes from the other side (or from a process that died, maybe
 * compromised): vhu_inflight_recover reads it as bytes with an explicit
 * length, each field once, and bounds every index by the ring's size. */
#ifndef CELLVM_VHU_INFLIGHT_H
#define CELLVM_VHU_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#define VHU_INFLIGHT_VERSION 1u
#define VHU_INFLIGHT_HDR_SIZE 16u
#define VHU_INFLIGHT_DESC_SIZE 16u
#define VHU_INFLIGHT_ALIGN 64u /* each queue's region starts on a cache line */

/* Bytes one queue's region takes for a ring of queue_size entries. */
uint64_t vhu_inflight_queue_size(uint16_t queue_size);

/* Bytes of a region for num_queues rings of queue_size entries. */
uint64_t vhu_inflight_size(uint16_t num_queues, uint16_t queue_size);

/* Formats a fresh region of len bytes: zeroes it and writes each queue's
 * version and desc_num. -EINVAL if len is below vhu_inflight_size(). */
int vhu_inflight_format(uint8_t *region, size_t len, uint16_t num_queues,
			uint16_t queue_size);

/* One queue's region as the backend's pop and push path keeps it up to
 * date; `base` holds at least the header and `num` entries (checked by
 * whoever set it up), heads given are < num. */
struct vhu_inflight_q {
	uint8_t *base;
	uint16_t num;
	uint64_t counter; /* the next pop's */
};

/* A chain was popped: in flight, after every one popped before. */
void vhu_inflight_mark(struct vhu_inflight_q *q, uint16_t head);
/* A pop was undone: not in flight. */
void vhu_inflight_unmark(struct vhu_inflight_q *q, uint16_t head);
/* Head joins the batch being answered (before used->idx is published). */
void vhu_inflight_batch_add(struct vhu_inflight_q *q, uint16_t head);
/* The batch's n heads are published, the ring's used index is now used_idx:
 * they are no longer in flight. */
void vhu_inflight_batch_done(struct vhu_inflight_q *q, unsigned int n, uint16_t used_idx);

struct vhu_inflight_entry {
	uint64_t counter;
	uint16_t head;
};

/* Recovers one queue's region (len bytes) for a ring of num entries whose
 * used ring holds used_idx: repairs the last batch if the old backend died
 * after publishing it, stores used_idx, and gives in out (cap entries) the
 * heads still in flight, oldest pop first, *n of them; *next_counter is one
 * past the largest counter seen (0 if none; at most UINT64_MAX). Entries
 * at or beyond num are ignored. 0, or -EBADMSG (region too short, version not 1, desc_num below
 * num, a batch longer than the ring, a head out of range, an inflight flag
 * other than 0 or 1) or -ENOBUFS (cap too small); on error the region may
 * be partly repaired and out means nothing. */
int vhu_inflight_recover(uint8_t *region, size_t len, uint16_t num, uint16_t used_idx,
			 struct vhu_inflight_entry *out, size_t cap, size_t *n,
			 uint64_t *next_counter);

#endif
