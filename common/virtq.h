/* The device side of a split virtqueue (virtio 1.2 section 2.7), run against
 * rings in guest memory that a hostile guest may change at any moment.
 *
 * virtq_pop() is the one place where a descriptor chain is walked and
 * validated. A chain is refused — and the queue marked broken, after which
 * pop returns -EIO and nothing touches the rings — when: the avail index runs
 * more than `num` ahead of the last one seen; a head or next index is >= num;
 * the chain is longer than num (which catches loops) or needs more than
 * VIRTQ_ELEM_MAX_IOV iovecs; a buffer is outside guest memory or wraps; the
 * chain's total length overflows 32 bits; an indirect descriptor is used
 * without VIRTIO_F_INDIRECT_DESC, has NEXT set, a length that is zero or not
 * a multiple of 16 or more than num entries, or sits inside an indirect table;
 * a device-readable buffer follows a device-writable one.
 * Every guest-controlled value is read once into a local before it is used.
 *
 * With in-flight tracking (vhost-user's, common/vhu_inflight.h) each pop
 * marks its head in the region and each publish of used elements clears
 * them; chains a dead backend left in flight (`resubmit`) are popped again,
 * walked and checked like any other, before the avail ring.
 *
 * The owner (a device) then sees only validated iovecs. A broken queue stays
 * broken until virtq_init()/virtq_map() again; the device should set
 * DEVICE_NEEDS_RESET. */
#ifndef CELLVM_VIRTQ_H
#define CELLVM_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"
#include "vhu_inflight.h"

#define VIRTQ_MAX_SIZE 32768u
#define VIRTQ_ELEM_MAX_IOV 1024u

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY 1u

/* Feature bits the queue itself cares about. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Ring layouts, little-endian in guest memory. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* num entries, then used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* num entries, then avail_event (u16) */
};

/* Bytes each ring needs for a queue of num entries (with the event words). */
static inline uint64_t virtq_desc_size(uint16_t num) { return 16ull * num; }
static inline uint64_t virtq_avail_size(uint16_t num) { return 6ull + 2ull * num; }
static inline uint64_t virtq_used_size(uint16_t num) { return 6ull + 8ull * num; }

/* Chains to pop again, in order, before the avail ring: heads < num. */
struct virtq_resubmit {
	struct vhu_inflight_entry *e;
	uint16_t n;
	uint16_t pos;  /* the next to pop */
	uint16_t mark; /* last_avail_idx when they were set: unpop's boundary */
};

struct virtq {
	const struct guest_mem *mem;
	uint16_t num;
	bool event_idx;
	bool indirect;
	bool broken;
	struct virtq_desc *desc; /* NULL until virtq_map() succeeds */
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t last_avail_idx; /* next avail entry to pop */
	uint16_t used_idx;       /* next used entry to write */
	uint16_t signalled_used; /* used_idx when the driver was last notified */
	bool signalled_used_valid;
	bool notify_disabled;    /* virtq_disable_notify() called, not re-enabled */
	struct vhu_inflight_q *inflight;  /* NULL: not tracked (the owner's) */
	struct virtq_resubmit *resubmit;  /* NULL: nothing (the owner's) */
};

/* One popped chain. `out` are the device-readable buffers (driver -> device),
 * `in` the device-writable ones, in chain order. */
struct virtq_elem {
	uint16_t head;
	unsigned int out_num;
	unsigned int in_num;
	uint64_t out_len;
	uint64_t in_len;
	struct iovec out[VIRTQ_ELEM_MAX_IOV];
	struct iovec in[VIRTQ_ELEM_MAX_IOV];
};

/* Resets vq to an unmapped queue of num entries (num: a power of 2,
 * 1..VIRTQ_MAX_SIZE; -EINVAL otherwise) with the negotiated features. */
int virtq_init(struct virtq *vq, const struct guest_mem *mem, uint16_t num,
	       uint64_t features);

/* Translates and checks the three rings (each inside one region, aligned
 * 16/2/4 as the spec requires; -EFAULT/-EINVAL otherwise) and takes used_idx
 * from the used ring. Clears `broken`. Call again after the memory map changes. */
int virtq_map(struct virtq *vq, uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa);

/* Sets the next avail index to pop (vhost-user SET_VRING_BASE). */
void virtq_set_base(struct virtq *vq, uint16_t last_avail_idx);

/* Pops the next available chain into *elem. Returns 1 if one was popped, 0 if
 * the ring is empty, -EIO if the queue is (or has just become) broken. */
int virtq_pop(struct virtq *vq, struct virtq_elem *elem);

/* Undoes the most recent pop, as if it had not happened; called k times it
 * undoes the last k pops, newest first (a device that ran out of buffers
 * mid-way gives them back). A tracked head stays marked in flight: it is
 * the newest popped, so a successor that counts it as taken and pops it
 * again by its head does what this queue will do. */
void virtq_unpop(struct virtq *vq);

/* Writes one used element (len bytes were written into the chain) and
 * publishes it to the driver (store-release of used->idx). */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* For elements the driver must see together (a packet spread over several
 * mergeable rx buffers): virtq_fill writes element i (0-based) past the
 * published ones without publishing it; virtq_flush then publishes n of them
 * with one store-release of used->idx. */
void virtq_fill(struct virtq *vq, unsigned int i, uint16_t head, uint32_t len);
void virtq_flush(struct virtq *vq, unsigned int n);

/* After one or more pushes: true if the driver wants an interrupt now
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). */
bool virtq_should_notify(struct virtq *vq);

/* Asks the driver not to kick (NO_NOTIFY flag, or avail_event with EVENT_IDX). */
void virtq_disable_notify(struct virtq *vq);

/* Asks the driver to kick again. Returns true if buffers arrived meanwhile,
 * in which case the caller must pop again before sleeping. */
bool virtq_enable_notify(struct virtq *vq);

#endif
