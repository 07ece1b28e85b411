#include "virtq.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "log.h"

int virtq_init(struct virtq *vq, const struct guest_mem *mem, uint16_t num,
	       uint64_t features)
{
	/* A power of 2 that fits in 16 bits is at most VIRTQ_MAX_SIZE. */
	if (num == 0 || (num & (num - 1)) != 0)
		return -EINVAL;
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->num = num;
	vq->event_idx = features & BIT_ULL(VIRTIO_F_EVENT_IDX);
	vq->indirect = features & BIT_ULL(VIRTIO_F_INDIRECT_DESC);
	return 0;
}

/* The driver chooses the ring addresses, so refusals are rate-limited. */
int virtq_map(struct virtq *vq, uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa)
{
	if (desc_gpa % 16 || avail_gpa % 2 || used_gpa % 4) {
		log_ratelimited(LOG_LVL_WARN, "rings at %#" PRIx64 "/%#" PRIx64 "/%#" PRIx64
				": misaligned", desc_gpa, avail_gpa, used_gpa);
		return -EINVAL;
	}
	struct virtq_desc *desc = gm_ptr(vq->mem, desc_gpa, virtq_desc_size(vq->num));
	struct virtq_avail *avail = gm_ptr(vq->mem, avail_gpa, virtq_avail_size(vq->num));
	struct virtq_used *used = gm_ptr(vq->mem, used_gpa, virtq_used_size(vq->num));
	if (!desc || !avail || !used) {
		log_ratelimited(LOG_LVL_WARN, "rings at %#" PRIx64 "/%#" PRIx64 "/%#" PRIx64
				": not inside guest memory", desc_gpa, avail_gpa, used_gpa);
		return -EFAULT;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->used_idx = le16toh(__atomic_load_n(&used->idx, __ATOMIC_RELAXED));
	vq->signalled_used_valid = false;
	vq->broken = false;
	return 0;
}

void virtq_set_base(struct virtq *vq, uint16_t last_avail_idx)
{
	vq->last_avail_idx = last_avail_idx;
}

/* avail_event sits after the used ring, used_event after the avail ring. */
static uint16_t *avail_event(const struct virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->num];
}

static uint16_t *used_event(const struct virtq *vq)
{
	return &vq->avail->ring[vq->num];
}

static void set_avail_event(struct virtq *vq, uint16_t val)
{
	__atomic_store_n(avail_event(vq), htole16(val), __ATOMIC_RELAXED);
}

static uint16_t read_avail_idx(const struct virtq *vq)
{
	/* Acquire: ring entries and descriptors are read after it. */
	return le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
}

/* Marks the queue broken and says why, once: later pops return -EIO quietly. */
__attribute__((format(printf, 2, 3)))
static int vq_break(struct virtq *vq, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_ratelimited(LOG_LVL_WARN, "virtqueue of %u broken: %s", vq->num, why);
	vq->broken = true;
	return -EIO;
}

/* Copies descriptor i of table out of guest memory, in host order. The
 * barrier makes the compiler use the copy and never re-read the guest's. An
 * indirect table need not be aligned, hence bytes and memcpy. */
static void read_desc(const void *table, uint16_t i, struct virtq_desc *d)
{
	memcpy(d, (const uint8_t *)table + (size_t)i * sizeof(*d), sizeof(*d));
	__asm__ volatile("" : : "r"(d) : "memory");
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Appends the buffer [addr, addr+len) to elem. */
static int add_buffer(struct virtq *vq, struct virtq_elem *elem, uint64_t addr,
		      uint32_t len, bool writable)
{
	struct iovec *iov = writable ? elem->in : elem->out;
	unsigned int *n = writable ? &elem->in_num : &elem->out_num;
	int r = gm_to_iov(vq->mem, addr, len, iov + *n, VIRTQ_ELEM_MAX_IOV - *n);
	if (r == -ENOBUFS)
		return vq_break(vq, "chain needs more than %u iovecs", VIRTQ_ELEM_MAX_IOV);
	if (r < 0)
		return vq_break(vq, "buffer %#" PRIx64 "+%#x is outside guest memory", addr,
				len);
	*n += (unsigned int)r;
	if (writable)
		elem->in_len += len;
	else
		elem->out_len += len;
	return 0;
}

/* Switches the walk to the indirect table that d points to. `nested` says
 * whether the walk is already in one: it cannot be told from the table's
 * address, since a guest may point an indirect descriptor at the ring's own
 * descriptor table. */
static int enter_indirect(struct virtq *vq, const struct virtq_desc *d, bool nested,
			  const void **table, uint32_t *table_num)
{
	if (!vq->indirect)
		return vq_break(vq, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (nested)
		return vq_break(vq, "indirect descriptor inside an indirect table");
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return vq_break(vq, "indirect descriptor with NEXT");
	if (d->len == 0 || d->len % sizeof(struct virtq_desc) ||
	    d->len / sizeof(struct virtq_desc) > vq->num)
		return vq_break(vq, "indirect table of %u bytes", d->len);
	/* A table split over two regions is refused too: drivers allocate
	 * tables as small contiguous blocks, and this keeps one mapping. */
	*table = gm_ptr(vq->mem, d->addr, d->len);
	if (!*table)
		return vq_break(vq, "indirect table %#" PRIx64 "+%#x is outside guest memory",
				d->addr, d->len);
	*table_num = d->len / sizeof(struct virtq_desc);
	return 0;
}

/* Walks and checks the chain at head (< num) into elem: 0 or -EIO. */
static int walk_chain(struct virtq *vq, uint16_t head, struct virtq_elem *elem)
{
	elem->head = head;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	const void *table = vq->desc;
	uint32_t table_num = vq->num;
	uint32_t walked = 0; /* descriptors taken from the current table */
	uint16_t i = head;
	bool seen_writable = false;
	bool in_indirect = false;
	for (;;) {
		struct virtq_desc d;
		read_desc(table, i, &d);
		/* next < table_num, so a longer chain has revisited a descriptor. */
		if (++walked > table_num)
			return vq_break(vq, "chain longer than %u descriptors", table_num);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			int r = enter_indirect(vq, &d, in_indirect, &table, &table_num);
			if (r < 0)
				return r;
			in_indirect = true;
			walked = 0;
			i = 0;
			continue;
		}
		bool writable = d.flags & VIRTQ_DESC_F_WRITE;
		if (!writable && seen_writable)
			return vq_break(vq, "device-readable descriptor after a writable one");
		seen_writable |= writable;
		/* A zero-length buffer adds no iovec. */
		int r = add_buffer(vq, elem, d.addr, d.len, writable);
		if (r < 0)
			return r;
		if (elem->out_len + elem->in_len > UINT32_MAX)
			return vq_break(vq, "chain longer than 4 GiB");
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= table_num)
			return vq_break(vq, "next %u out of range", d.next);
		i = d.next;
	}
	return 0;
}

/* The next chain a dead backend left in flight. */
static int pop_resubmit(struct virtq *vq, struct virtq_elem *elem)
{
	struct virtq_resubmit *rs = vq->resubmit;
	uint16_t head = rs->e[rs->pos].head;
	int r = walk_chain(vq, head, elem);
	if (r < 0)
		return r;
	rs->pos++;
	if (vq->inflight)
		vhu_inflight_mark(vq->inflight, head);
	return 1;
}

int virtq_pop(struct virtq *vq, struct virtq_elem *elem)
{
	if (!vq->desc)
		return -EIO; /* not mapped yet: no guest fault, so nothing is marked */
	if (vq->broken)
		return -EIO;
	struct virtq_resubmit *rs = vq->resubmit;
	if (rs && rs->pos < rs->n)
		return pop_resubmit(vq, elem);
	uint16_t avail_idx = read_avail_idx(vq);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending > vq->num)
		return vq_break(vq, "avail idx %u is more than %u ahead of %u", avail_idx,
				vq->num, vq->last_avail_idx);
	if (pending == 0)
		return 0;
	uint16_t head = le16toh(__atomic_load_n(
		&vq->avail->ring[vq->last_avail_idx & (vq->num - 1)], __ATOMIC_RELAXED));
	if (head >= vq->num)
		return vq_break(vq, "head %u out of range", head);
	int r = walk_chain(vq, head, elem);
	if (r < 0)
		return r;

	if (vq->inflight)
		vhu_inflight_mark(vq->inflight, head);
	vq->last_avail_idx++;
	/* No owner holds num chains: unpops cannot reach the resubmitted ones
	 * any more, and the mark must not match again once the index wraps. */
	if (rs && rs->n && (uint16_t)(vq->last_avail_idx - rs->mark) >= vq->num)
		rs->n = rs->pos = 0;
	if (vq->event_idx && !vq->notify_disabled)
		set_avail_event(vq, vq->last_avail_idx);
	return 1;
}

void virtq_unpop(struct virtq *vq)
{
	struct virtq_resubmit *rs = vq->resubmit;
	if (rs && rs->pos && vq->last_avail_idx == rs->mark)
		rs->pos--;
	else
		vq->last_avail_idx--;
}

void virtq_fill(struct virtq *vq, unsigned int i, uint16_t head, uint32_t len)
{
	if (!vq->desc || vq->broken)
		return;
	struct virtq_used_elem *e =
		&vq->used->ring[(uint16_t)(vq->used_idx + i) & (vq->num - 1)];
	__atomic_store_n(&e->id, htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(len), __ATOMIC_RELAXED);
	if (vq->inflight && head < vq->num)
		vhu_inflight_batch_add(vq->inflight, head);
}

void virtq_flush(struct virtq *vq, unsigned int n)
{
	if (!vq->desc || vq->broken)
		return;
	vq->used_idx = (uint16_t)(vq->used_idx + n);
	/* Release: the driver must see the elements before the index. */
	__atomic_store_n(&vq->used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
	if (vq->inflight)
		vhu_inflight_batch_done(vq->inflight, n, vq->used_idx);
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	virtq_fill(vq, 0, head, len);
	virtq_flush(vq, 1);
}

bool virtq_should_notify(struct virtq *vq)
{
	if (!vq->desc || vq->broken)
		return false;
	/* Our used->idx store must be visible before we read the driver's
	 * suppression, or both sides may decide the other one is not waiting. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx) {
		uint16_t flags = le16toh(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED));
		return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	uint16_t event = le16toh(__atomic_load_n(used_event(vq), __ATOMIC_RELAXED));
	uint16_t old = vq->signalled_used;
	uint16_t new = vq->used_idx;
	bool valid = vq->signalled_used_valid;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	/* Without a previous notification we cannot tell whether we passed
	 * used_event, so notify. */
	return !valid || (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

void virtq_disable_notify(struct virtq *vq)
{
	if (!vq->desc || vq->broken)
		return;
	vq->notify_disabled = true;
	/* With EVENT_IDX: an index behind every one the driver can reach (it
	 * never runs behind last_avail_idx), so it never crosses it. */
	if (vq->event_idx)
		set_avail_event(vq, (uint16_t)(vq->last_avail_idx - 1));
	else
		__atomic_store_n(&vq->used->flags, htole16(VIRTQ_USED_F_NO_NOTIFY),
				 __ATOMIC_RELAXED);
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (!vq->desc || vq->broken)
		return false;
	vq->notify_disabled = false;
	if (vq->event_idx)
		set_avail_event(vq, read_avail_idx(vq));
	else
		__atomic_store_n(&vq->used->flags, 0, __ATOMIC_RELAXED);
	/* The driver may have added buffers before it saw our request: our
	 * store must be visible before we look at avail->idx again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return read_avail_idx(vq) != vq->last_avail_idx;
}
