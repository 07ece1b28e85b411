#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bytes.h"
#include "guest_mem.h"
#include "virtq.h"
#include "testutil.h"

/* Guest memory for the tests: one 1 MiB region holding the rings, indirect
 * tables and buffers at fixed offsets. */
#define BASE 0x100000ull
#define RSIZE 0x100000ull
#define DESC_GPA BASE
#define AVAIL_GPA (BASE + 0x10000)
#define USED_GPA (BASE + 0x20000)
#define TABLE_GPA (BASE + 0x40000)
#define BUF_GPA (BASE + 0x80000)

#define F_INDIRECT BIT_ULL(VIRTIO_F_INDIRECT_DESC)
#define F_EVENT_IDX BIT_ULL(VIRTIO_F_EVENT_IDX)

/* ---------------------------------------------------------- test driver */

static struct guest_mem gm;
static int mem_fd = -1;
static uint8_t *mem; /* host address of BASE */
static struct virtq vq;
static struct virtq_elem elem;

static struct {
	uint16_t num;
	uint16_t avail_idx; /* the driver's shadow of avail->idx */
	uint16_t next_desc; /* next free descriptor, handed out round-robin */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
} drv;

static void *host(uint64_t gpa)
{
	return mem + (gpa - BASE);
}

static void setup(void)
{
	gm_init(&gm);
	mem_fd = gm_memfd_create("guest", RSIZE);
	cr_assert_geq(mem_fd, 0);
	cr_assert_eq(gm_add_region(&gm, BASE, RSIZE, 0x7f0000000000ull, mem_fd, 0), 0);
	mem = gm_ptr(&gm, BASE, RSIZE);
	cr_assert_not_null(mem);
}

static void teardown(void)
{
	gm_clear(&gm);
	close(mem_fd);
}

TestSuite(virtq, .init = setup, .fini = teardown);

/* Lays out empty rings of num entries and maps a device queue on them. */
static void drv_start(uint16_t num, uint64_t features)
{
	memset(mem, 0, TABLE_GPA - BASE);
	drv.num = num;
	drv.avail_idx = 0;
	drv.next_desc = 0;
	drv.desc = host(DESC_GPA);
	drv.avail = host(AVAIL_GPA);
	drv.used = host(USED_GPA);
	cr_assert_eq(virtq_init(&vq, &gm, num, features), 0);
	cr_assert_eq(virtq_map(&vq, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
}

/* Writes a descriptor; tables may sit at any address, hence memcpy. */
static void set_desc(uint64_t table_gpa, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = {
		.addr = htole64(addr),
		.len = htole32(len),
		.flags = htole16(flags),
		.next = htole16(next),
	};
	memcpy(host(table_gpa + 16ull * i), &d, sizeof(d));
}

static void set_avail_idx(uint16_t idx)
{
	drv.avail_idx = idx;
	__atomic_store_n(&drv.avail->idx, htole16(idx), __ATOMIC_RELEASE);
}

/* Makes descriptor `head` available. */
static void post(uint16_t head)
{
	drv.avail->ring[drv.avail_idx & (drv.num - 1)] = htole16(head);
	set_avail_idx((uint16_t)(drv.avail_idx + 1));
}

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* Posts a chain of direct descriptors; returns its head. */
static uint16_t post_chain(const struct buf *b, size_t n)
{
	uint16_t head = drv.next_desc;
	for (size_t i = 0; i < n; i++) {
		uint16_t cur = drv.next_desc;
		drv.next_desc = (uint16_t)((drv.next_desc + 1) & (drv.num - 1));
		uint16_t flags = b[i].writable ? VIRTQ_DESC_F_WRITE : 0;
		if (i + 1 < n)
			flags |= VIRTQ_DESC_F_NEXT;
		set_desc(DESC_GPA, cur, b[i].gpa, b[i].len, flags, drv.next_desc);
	}
	post(head);
	return head;
}

/* A one-descriptor chain pointing at an indirect table of n entries. */
static uint16_t post_indirect(uint64_t table_gpa, uint32_t n)
{
	uint16_t head = drv.next_desc;
	drv.next_desc = (uint16_t)((drv.next_desc + 1) & (drv.num - 1));
	set_desc(DESC_GPA, head, table_gpa, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	post(head);
	return head;
}

static uint16_t used_idx(void)
{
	return le16toh(__atomic_load_n(&drv.used->idx, __ATOMIC_ACQUIRE));
}

static uint16_t avail_event(void)
{
	return le16toh(*(uint16_t *)&drv.used->ring[drv.num]);
}

static void set_used_event(uint16_t v)
{
	drv.avail->ring[drv.num] = htole16(v);
}

/* What a driver decides after moving avail->idx from old to new. */
static bool drv_must_kick(uint16_t old, uint16_t new)
{
	if (vq.event_idx)
		return (uint16_t)(new - avail_event() - 1) < (uint16_t)(new - old);
	return !(le16toh(drv.used->flags) & VIRTQ_USED_F_NO_NOTIFY);
}


/* The next pop must break the queue for the reason `why`, without touching
 * the used ring. */
static void expect_broken(const char *why)
{
	uint16_t last = vq.last_avail_idx;
	tu_log_begin();
	int r = virtq_pop(&vq, &elem);
	const char *log = tu_log_end();
	cr_assert_eq(r, -EIO);
	cr_assert(vq.broken);
	cr_assert_not_null(strstr(log, why), "expected \"%s\", log: %s", why, log);
	cr_assert_eq(vq.last_avail_idx, last);
	cr_assert_eq(used_idx(), 0);
}

/* ---------------------------------------------------------- setup */

Test(virtq, init_checks_num)
{
	cr_assert_eq(virtq_init(&vq, &gm, 0, 0), -EINVAL);
	cr_assert_eq(virtq_init(&vq, &gm, 6, 0), -EINVAL);
	cr_assert_eq(virtq_init(&vq, &gm, 3, 0), -EINVAL);
	cr_assert_eq(virtq_init(&vq, &gm, 0xffff, 0), -EINVAL);
	cr_assert_eq(virtq_init(&vq, &gm, 1, 0), 0);
	cr_assert_eq(virtq_init(&vq, &gm, VIRTQ_MAX_SIZE, F_INDIRECT | F_EVENT_IDX), 0);
	cr_assert_eq(vq.num, VIRTQ_MAX_SIZE);
	cr_assert(vq.indirect && vq.event_idx && !vq.broken && !vq.desc);
	cr_assert_eq(virtq_init(&vq, &gm, 8, 0), 0);
	cr_assert(!vq.indirect && !vq.event_idx);
}

Test(virtq, map_checks_alignment)
{
	cr_assert_eq(virtq_init(&vq, &gm, 8, 0), 0);
	cr_assert_eq(virtq_map(&vq, DESC_GPA + 8, AVAIL_GPA, USED_GPA), -EINVAL);
	cr_assert_eq(virtq_map(&vq, DESC_GPA, AVAIL_GPA + 1, USED_GPA), -EINVAL);
	cr_assert_eq(virtq_map(&vq, DESC_GPA, AVAIL_GPA, USED_GPA + 2), -EINVAL);
	cr_assert_null(vq.desc);
	cr_assert_eq(virtq_map(&vq, DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4), 0);
}

Test(virtq, map_checks_bounds)
{
	/* For 8 entries: desc 128 bytes, avail 4 + 16 + 2, used 4 + 64 + 2. */
	uint64_t end = BASE + RSIZE;
	cr_assert_eq(virtq_init(&vq, &gm, 8, 0), 0);
	/* Each ring overhangs the end of memory by its last entry or event word. */
	cr_assert_eq(virtq_map(&vq, end - 128 + 16, AVAIL_GPA, USED_GPA), -EFAULT);
	cr_assert_eq(virtq_map(&vq, DESC_GPA, end - 22 + 2, USED_GPA), -EFAULT);
	cr_assert_eq(virtq_map(&vq, DESC_GPA, AVAIL_GPA, end - 70 + 2), -EFAULT);
	cr_assert_eq(virtq_map(&vq, 0, AVAIL_GPA, USED_GPA), -EFAULT);
	cr_assert_null(vq.desc);
	cr_assert_eq(virtq_map(&vq, end - 128, end - 0x1000 - 22, end - 0x2000 - 72), 0);
}

Test(virtq, unmapped_queue)
{
	cr_assert_eq(virtq_init(&vq, &gm, 8, 0), 0);
	cr_assert_eq(virtq_pop(&vq, &elem), -EIO);
	cr_assert(!vq.broken);
	virtq_push(&vq, 0, 0);
	cr_assert(!virtq_should_notify(&vq));
	virtq_disable_notify(&vq);
	cr_assert(!virtq_enable_notify(&vq));
}

Test(virtq, map_takes_used_idx)
{
	drv_start(8, 0);
	drv.used->idx = htole16(13);
	cr_assert_eq(virtq_map(&vq, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
	virtq_push(&vq, 3, 4);
	cr_assert_eq(used_idx(), 14);
	cr_assert_eq(le32toh(drv.used->ring[13 & 7].id), 3);
}

/* ---------------------------------------------------------- popping */

Test(virtq, empty_ring)
{
	drv_start(8, 0);
	cr_assert_eq(virtq_pop(&vq, &elem), 0);
	cr_assert(!vq.broken);
}

Test(virtq, simple_chain)
{
	drv_start(8, 0);
	memcpy(host(BUF_GPA), "request!", 8);
	const struct buf b[] = {
		{ BUF_GPA, 8, false },
		{ BUF_GPA + 0x100, 0x20, true },
		{ BUF_GPA + 0x200, 0x10, true },
	};
	uint16_t head = post_chain(b, 3);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.head, head);
	cr_assert_eq(elem.out_num, 1);
	cr_assert_eq(elem.in_num, 2);
	cr_assert_eq(elem.out_len, 8);
	cr_assert_eq(elem.in_len, 0x30);
	cr_assert_eq(elem.out[0].iov_base, host(BUF_GPA));
	cr_assert_eq(elem.out[0].iov_len, 8);
	cr_assert_eq(memcmp(elem.out[0].iov_base, "request!", 8), 0);
	cr_assert_eq(elem.in[0].iov_base, host(BUF_GPA + 0x100));
	cr_assert_eq(elem.in[0].iov_len, 0x20);
	cr_assert_eq(elem.in[1].iov_base, host(BUF_GPA + 0x200));
	cr_assert_eq(elem.in[1].iov_len, 0x10);
	memcpy(elem.in[1].iov_base, "reply", 5);
	cr_assert_eq(memcmp(host(BUF_GPA + 0x200), "reply", 5), 0);
	cr_assert_eq(vq.last_avail_idx, 1);
	cr_assert_eq(virtq_pop(&vq, &elem), 0);
}

Test(virtq, zero_length_descriptors_skipped)
{
	drv_start(8, 0);
	const struct buf b[] = {
		{ BUF_GPA, 0, false },
		{ BUF_GPA, 4, false },
		{ BUF_GPA + 0x100, 0, true },
		{ BUF_GPA + 0x100, 8, true },
	};
	post_chain(b, 4);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.out_num, 1);
	cr_assert_eq(elem.in_num, 1);
	cr_assert_eq(elem.out[0].iov_len, 4);
	cr_assert_eq(elem.in[0].iov_len, 8);
}

Test(virtq, multiple_chains_full_ring)
{
	drv_start(8, 0);
	uint16_t heads[8];
	for (uint32_t i = 0; i < 8; i++) {
		const struct buf b = { BUF_GPA + 0x100 * i, i + 1, false };
		heads[i] = post_chain(&b, 1);
	}
	/* A ring with exactly num entries pending is full, not broken. */
	for (uint32_t i = 0; i < 8; i++) {
		cr_assert_eq(virtq_pop(&vq, &elem), 1);
		cr_assert_eq(elem.head, heads[i]);
		cr_assert_eq(elem.out_len, i + 1);
		cr_assert_eq(elem.out[0].iov_base, host(BUF_GPA + 0x100 * i));
	}
	cr_assert_eq(virtq_pop(&vq, &elem), 0);
}

Test(virtq, avail_idx_wraps)
{
	drv_start(8, 0);
	virtq_set_base(&vq, 0xfffe);
	set_avail_idx(0xfffe);
	const struct buf b = { BUF_GPA, 1, false };
	uint16_t heads[3];
	for (int i = 0; i < 3; i++)
		heads[i] = post_chain(&b, 1);
	cr_assert_eq(drv.avail_idx, 1);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(virtq_pop(&vq, &elem), 1);
		cr_assert_eq(elem.head, heads[i]);
	}
	cr_assert_eq(vq.last_avail_idx, 1);
	cr_assert_eq(virtq_pop(&vq, &elem), 0);
}

Test(virtq, chain_of_num_descriptors)
{
	drv_start(8, 0);
	struct buf b[8];
	for (uint32_t i = 0; i < 8; i++)
		b[i] = (struct buf){ BUF_GPA + 0x10 * i, 0x10, i >= 4 };
	post_chain(b, 8);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.out_num, 4);
	cr_assert_eq(elem.in_num, 4);
}

Test(virtq, max_iovecs)
{
	drv_start(2048, 0);
	struct buf b[VIRTQ_ELEM_MAX_IOV];
	for (uint32_t i = 0; i < VIRTQ_ELEM_MAX_IOV; i++)
		b[i] = (struct buf){ BUF_GPA + i, 1, false };
	post_chain(b, VIRTQ_ELEM_MAX_IOV);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.out_num, VIRTQ_ELEM_MAX_IOV);
	cr_assert_eq(elem.out[VIRTQ_ELEM_MAX_IOV - 1].iov_base,
		     host(BUF_GPA + VIRTQ_ELEM_MAX_IOV - 1));
}

Test(virtq, set_base_and_unpop)
{
	drv_start(8, 0);
	uint16_t heads[3];
	for (uint32_t i = 0; i < 3; i++) {
		const struct buf b = { BUF_GPA, i + 1, false };
		heads[i] = post_chain(&b, 1);
	}
	virtq_set_base(&vq, 1);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.head, heads[1]);
	virtq_unpop(&vq);
	cr_assert_eq(vq.last_avail_idx, 1);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.head, heads[1]);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.head, heads[2]);
	cr_assert_eq(virtq_pop(&vq, &elem), 0);
}

Test(virtq, indirect_chain)
{
	drv_start(8, F_INDIRECT);
	memcpy(host(BUF_GPA), "hdr", 3);
	/* An odd table address: the spec asks no alignment of the driver. */
	uint64_t t = TABLE_GPA + 4;
	set_desc(t, 0, BUF_GPA, 3, VIRTQ_DESC_F_NEXT, 2);
	set_desc(t, 2, BUF_GPA + 0x10, 5, VIRTQ_DESC_F_NEXT, 1);
	set_desc(t, 1, BUF_GPA + 0x100, 0x40, VIRTQ_DESC_F_WRITE, 0);
	uint16_t head = post_indirect(t, 3);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.head, head);
	cr_assert_eq(elem.out_num, 2);
	cr_assert_eq(elem.in_num, 1);
	cr_assert_eq(elem.out[0].iov_base, host(BUF_GPA));
	cr_assert_eq(memcmp(elem.out[0].iov_base, "hdr", 3), 0);
	cr_assert_eq(elem.out[1].iov_base, host(BUF_GPA + 0x10));
	cr_assert_eq(elem.out_len, 8);
	cr_assert_eq(elem.in[0].iov_base, host(BUF_GPA + 0x100));
	cr_assert_eq(elem.in_len, 0x40);
}

Test(virtq, indirect_table_of_num_entries)
{
	drv_start(8, F_INDIRECT);
	for (uint16_t i = 0; i < 8; i++)
		set_desc(TABLE_GPA, i, BUF_GPA + i, 1, i < 7 ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	post_indirect(TABLE_GPA, 8);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.out_num, 8);
}

Test(virtq, direct_then_indirect)
{
	drv_start(8, F_INDIRECT);
	set_desc(TABLE_GPA, 0, BUF_GPA + 0x100, 0x10, VIRTQ_DESC_F_WRITE, 0);
	set_desc(DESC_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(0);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.out_num, 1);
	cr_assert_eq(elem.in_num, 1);
	cr_assert_eq(elem.in[0].iov_base, host(BUF_GPA + 0x100));
}

/* ---------------------------------------------------------- hostile rings */

Test(virtq, avail_idx_too_far_ahead)
{
	drv_start(8, 0);
	const struct buf b = { BUF_GPA, 1, false };
	for (int i = 0; i < 8; i++)
		post_chain(&b, 1);
	set_avail_idx(9); /* ring entries are all valid heads */
	expect_broken("more than 8 ahead");
}

Test(virtq, head_out_of_range)
{
	drv_start(8, 0);
	post(8);
	expect_broken("head 8 out of range");
}

Test(virtq, next_out_of_range)
{
	drv_start(8, 0);
	set_desc(DESC_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 8);
	post(0);
	expect_broken("next 8 out of range");
}

Test(virtq, loop)
{
	drv_start(8, 0);
	set_desc(DESC_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 0);
	post(0);
	expect_broken("chain longer than 8 descriptors");
}

/* Without the length bound, a loop of empty buffers would never end. */
Test(virtq, loop_of_empty_descriptors, .timeout = 10)
{
	drv_start(8, 0);
	for (uint16_t i = 0; i < 8; i++)
		set_desc(DESC_GPA, i, BUF_GPA, 0, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) & 7));
	post(3);
	expect_broken("chain longer than 8 descriptors");
}

Test(virtq, loop_in_indirect_table, .timeout = 10)
{
	drv_start(8, F_INDIRECT);
	for (uint16_t i = 0; i < 4; i++)
		set_desc(TABLE_GPA, i, BUF_GPA, 0, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) & 3));
	post_indirect(TABLE_GPA, 4);
	expect_broken("chain longer than 4 descriptors");
}

Test(virtq, too_many_iovecs)
{
	drv_start(2048, 0);
	struct buf b[VIRTQ_ELEM_MAX_IOV + 1];
	for (uint32_t i = 0; i <= VIRTQ_ELEM_MAX_IOV; i++)
		b[i] = (struct buf){ BUF_GPA + i, 1, true };
	post_chain(b, VIRTQ_ELEM_MAX_IOV + 1);
	expect_broken("more than 1024 iovecs");
}

Test(virtq, buffer_outside_memory)
{
	drv_start(8, 0);
	const struct buf b[] = { { BUF_GPA, 4, false }, { BASE + RSIZE - 4, 8, true } };
	post_chain(b, 2);
	expect_broken("outside guest memory");
}

Test(virtq, buffer_wraps)
{
	drv_start(8, 0);
	const struct buf b = { UINT64_MAX - 1, 4, false };
	post_chain(&b, 1);
	expect_broken("outside guest memory");
}

Test(virtq, total_length_over_4g)
{
	/* Descriptors may alias, so two of 2 GiB over one 2 GiB region. */
	uint64_t big = 0x100000000ull, big_size = 0x80000000ull;
	int big_fd = gm_memfd_create("big", big_size);
	cr_assert_geq(big_fd, 0);
	cr_assert_eq(gm_add_region(&gm, big, big_size, 0x7e0000000000ull, big_fd, 0), 0);
	close(big_fd);
	drv_start(8, 0);

	/* Exactly UINT32_MAX is still fine. */
	const struct buf ok[] = { { big, 0x80000000u, false }, { big, 0x7fffffffu, true } };
	post_chain(ok, 2);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.out_len + elem.in_len, UINT32_MAX);

	const struct buf bad[] = { { big, 0x80000000u, false }, { big, 0x80000000u, false } };
	post_chain(bad, 2);
	expect_broken("longer than 4 GiB");
}

Test(virtq, readable_after_writable)
{
	drv_start(8, 0);
	const struct buf b[] = { { BUF_GPA, 4, true }, { BUF_GPA + 0x10, 4, false } };
	post_chain(b, 2);
	expect_broken("readable descriptor after a writable");
}

Test(virtq, readable_after_writable_in_indirect_table)
{
	drv_start(8, F_INDIRECT);
	set_desc(TABLE_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(TABLE_GPA, 1, BUF_GPA, 4, 0, 0);
	post_indirect(TABLE_GPA, 2);
	expect_broken("readable descriptor after a writable");
}

Test(virtq, indirect_without_feature)
{
	drv_start(8, 0);
	set_desc(TABLE_GPA, 0, BUF_GPA, 4, 0, 0);
	post_indirect(TABLE_GPA, 1);
	expect_broken("without VIRTIO_F_INDIRECT_DESC");
}

Test(virtq, indirect_with_next)
{
	drv_start(8, F_INDIRECT);
	set_desc(TABLE_GPA, 0, BUF_GPA, 4, 0, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, BUF_GPA, 4, 0, 0);
	post(0);
	expect_broken("indirect descriptor with NEXT");
}

static void post_indirect_len(uint32_t len)
{
	for (uint16_t i = 0; i < 16; i++)
		set_desc(TABLE_GPA, i, BUF_GPA, 4, 0, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, len, VIRTQ_DESC_F_INDIRECT, 0);
	post(0);
}

Test(virtq, indirect_len_zero)
{
	drv_start(8, F_INDIRECT);
	post_indirect_len(0);
	expect_broken("indirect table of 0 bytes");
}

Test(virtq, indirect_len_not_multiple_of_16)
{
	drv_start(8, F_INDIRECT);
	post_indirect_len(24);
	expect_broken("indirect table of 24 bytes");
}

Test(virtq, indirect_more_than_num_entries)
{
	drv_start(8, F_INDIRECT);
	post_indirect_len(16 * 9);
	expect_broken("indirect table of 144 bytes");
}

Test(virtq, indirect_table_outside_memory)
{
	drv_start(8, F_INDIRECT);
	uint64_t t = BASE + RSIZE - 16;
	set_desc(t, 0, BUF_GPA, 4, 0, 0);
	post_indirect(t, 2);
	expect_broken("indirect table 0x");
}

Test(virtq, indirect_next_beyond_table)
{
	drv_start(8, F_INDIRECT);
	/* In range for the queue, not for this two-entry table. */
	set_desc(TABLE_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
	set_desc(TABLE_GPA, 1, BUF_GPA, 4, 0, 0);
	set_desc(TABLE_GPA, 2, BUF_GPA, 4, 0, 0);
	post_indirect(TABLE_GPA, 2);
	expect_broken("next 2 out of range");
}

Test(virtq, indirect_within_indirect)
{
	drv_start(8, F_INDIRECT);
	uint64_t inner = TABLE_GPA + 0x1000;
	set_desc(inner, 0, BUF_GPA, 4, 0, 0);
	set_desc(TABLE_GPA, 0, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
	post_indirect(TABLE_GPA, 1);
	expect_broken("indirect descriptor inside an indirect table");
}

/* The ring's own descriptor table used as an indirect table: descriptor 0
 * points at itself. Telling "nested" from the table address would loop. */
Test(virtq, indirect_table_is_the_descriptor_table, .timeout = 10)
{
	drv_start(8, F_INDIRECT);
	set_desc(DESC_GPA, 0, DESC_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(0);
	expect_broken("indirect descriptor inside an indirect table");
}

Test(virtq, broken_stays_broken)
{
	drv_start(8, 0);
	post(8);
	expect_broken("head 8 out of range");

	/* Even a valid chain is not popped now, and the rings stay untouched. */
	const struct buf b = { BUF_GPA, 4, false };
	post_chain(&b, 1);
	drv.used->flags = htole16(0x1234);
	tu_log_begin();
	cr_assert_eq(virtq_pop(&vq, &elem), -EIO);
	cr_assert_eq(virtq_pop(&vq, &elem), -EIO);
	virtq_push(&vq, 0, 4);
	cr_assert(!virtq_should_notify(&vq));
	virtq_disable_notify(&vq);
	cr_assert(!virtq_enable_notify(&vq));
	const char *log = tu_log_end();
	cr_assert_str_empty(log, "logged again: %s", log);
	cr_assert_eq(used_idx(), 0);
	cr_assert_eq(drv.used->ring[0].id, 0);
	cr_assert_eq(drv.used->ring[0].len, 0);
	cr_assert_eq(le16toh(drv.used->flags), 0x1234);
	cr_assert_eq(vq.last_avail_idx, 0);

	/* Mapping again (after a device reset) clears it. */
	drv.used->flags = 0;
	cr_assert_eq(virtq_map(&vq, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
	cr_assert(!vq.broken);
	virtq_set_base(&vq, 1);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(elem.out_len, 4);
}

/* ---------------------------------------------------------- used ring */

Test(virtq, push_writes_used_ring)
{
	drv_start(8, 0);
	uint16_t heads[3];
	for (uint32_t i = 0; i < 3; i++) {
		const struct buf b = { BUF_GPA, 4, true };
		heads[i] = post_chain(&b, 1);
		cr_assert_eq(virtq_pop(&vq, &elem), 1);
	}
	virtq_push(&vq, heads[2], 7);
	cr_assert_eq(used_idx(), 1);
	virtq_push(&vq, heads[0], 0);
	virtq_push(&vq, heads[1], 0xffffffffu);
	cr_assert_eq(used_idx(), 3);
	cr_assert_eq(le32toh(drv.used->ring[0].id), heads[2]);
	cr_assert_eq(le32toh(drv.used->ring[0].len), 7);
	cr_assert_eq(le32toh(drv.used->ring[1].id), heads[0]);
	cr_assert_eq(le32toh(drv.used->ring[1].len), 0);
	cr_assert_eq(le32toh(drv.used->ring[2].id), heads[1]);
	cr_assert_eq(le32toh(drv.used->ring[2].len), 0xffffffffu);
}

Test(virtq, push_wraps_used_ring)
{
	drv_start(8, 0);
	for (uint16_t i = 0; i < 10; i++)
		virtq_push(&vq, i & 7, 100u + i);
	cr_assert_eq(used_idx(), 10);
	cr_assert_eq(le32toh(drv.used->ring[1].id), 1);
	cr_assert_eq(le32toh(drv.used->ring[1].len), 109);
	cr_assert_eq(le32toh(drv.used->ring[2].len), 102);
	/* Nothing beyond the ring: avail_event stays as it was. */
	cr_assert_eq(avail_event(), 0);
}

Test(virtq, fill_publishes_nothing_until_flush)
{
	drv_start(8, 0);
	virtq_push(&vq, 5, 1);
	virtq_fill(&vq, 0, 1, 10);
	virtq_fill(&vq, 1, 2, 20);
	virtq_fill(&vq, 2, 3, 30);
	cr_assert_eq(used_idx(), 1, "filled elements stay invisible");
	virtq_flush(&vq, 3);
	cr_assert_eq(used_idx(), 4);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(le32toh(drv.used->ring[1 + i].id), (uint32_t)(1 + i));
		cr_assert_eq(le32toh(drv.used->ring[1 + i].len), 10u * (uint32_t)(1 + i));
	}
}

/* ---------------------------------------------------------- notifications */

Test(virtq, should_notify_flags)
{
	drv_start(8, 0);
	virtq_push(&vq, 0, 1);
	cr_assert(virtq_should_notify(&vq));
	drv.avail->flags = htole16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtq_push(&vq, 1, 1);
	cr_assert(!virtq_should_notify(&vq));
	drv.avail->flags = 0;
	cr_assert(virtq_should_notify(&vq));
}

Test(virtq, should_notify_event_idx)
{
	drv_start(8, F_EVENT_IDX);
	/* The flag means nothing with EVENT_IDX. */
	drv.avail->flags = htole16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	set_used_event(100);
	virtq_push(&vq, 0, 1);
	cr_assert(virtq_should_notify(&vq)); /* nothing signalled yet */

	set_used_event(1); /* interrupt once used->idx moves past 1 */
	virtq_push(&vq, 1, 1);
	cr_assert(virtq_should_notify(&vq)); /* 1 -> 2 passes it */

	set_used_event(4);
	virtq_push(&vq, 2, 1);
	cr_assert(!virtq_should_notify(&vq)); /* 2 -> 3 does not */
	virtq_push(&vq, 3, 1);
	cr_assert(!virtq_should_notify(&vq)); /* 3 -> 4 does not */
	virtq_push(&vq, 4, 1);
	virtq_push(&vq, 5, 1);
	cr_assert(virtq_should_notify(&vq)); /* 4 -> 6 does */
	cr_assert(!virtq_should_notify(&vq)); /* nothing new */
}

Test(virtq, should_notify_event_idx_wraps)
{
	drv_start(8, F_EVENT_IDX);
	drv.used->idx = htole16(0xfffe);
	cr_assert_eq(virtq_map(&vq, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
	virtq_push(&vq, 0, 1);
	cr_assert(virtq_should_notify(&vq));
	set_used_event(0);
	virtq_push(&vq, 0, 1); /* 0xffff -> 0 */
	cr_assert(!virtq_should_notify(&vq));
	virtq_push(&vq, 0, 1); /* 0 -> 1 */
	cr_assert(virtq_should_notify(&vq));
}

Test(virtq, map_forgets_last_signal)
{
	drv_start(8, F_EVENT_IDX);
	set_used_event(100);
	virtq_push(&vq, 0, 1);
	cr_assert(virtq_should_notify(&vq));
	virtq_push(&vq, 0, 1);
	cr_assert(!virtq_should_notify(&vq));
	/* After a remap (say, a reset) the device cannot know what the driver
	 * saw last, so it notifies. */
	cr_assert_eq(virtq_map(&vq, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
	virtq_push(&vq, 0, 1);
	cr_assert(virtq_should_notify(&vq));
}

Test(virtq, disable_enable_flags)
{
	drv_start(8, 0);
	cr_assert(drv_must_kick(0, 1));
	virtq_disable_notify(&vq);
	cr_assert_eq(le16toh(drv.used->flags), VIRTQ_USED_F_NO_NOTIFY);
	cr_assert(!virtq_enable_notify(&vq));
	cr_assert_eq(drv.used->flags, 0);
	/* Pops do not touch avail_event without EVENT_IDX. */
	const struct buf b = { BUF_GPA, 4, false };
	post_chain(&b, 1);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(avail_event(), 0);
}

/* The driver adds a buffer while kicks are off, so it does not kick: enable
 * must report it, or the device would sleep with work pending. */
Test(virtq, enable_rechecks_flags)
{
	drv_start(8, 0);
	virtq_disable_notify(&vq);
	const struct buf b = { BUF_GPA, 4, false };
	post_chain(&b, 1);
	cr_assert(!drv_must_kick(0, 1));
	cr_assert(virtq_enable_notify(&vq));
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert(!virtq_enable_notify(&vq));
}

Test(virtq, pop_sets_avail_event)
{
	drv_start(8, F_EVENT_IDX);
	const struct buf b = { BUF_GPA, 4, false };
	post_chain(&b, 1);
	post_chain(&b, 1);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(avail_event(), 1);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(avail_event(), 2);
	/* Ring drained: the driver's next buffer kicks. */
	post_chain(&b, 1);
	cr_assert(drv_must_kick(2, 3));
}

Test(virtq, disable_enable_event_idx)
{
	drv_start(8, F_EVENT_IDX);
	const struct buf b = { BUF_GPA, 4, false };
	post_chain(&b, 1);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);

	virtq_disable_notify(&vq);
	cr_assert_eq(drv.used->flags, 0);
	/* No kick, however many buffers the driver adds while disabled... */
	post_chain(&b, 1);
	cr_assert(!drv_must_kick(1, 2));
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	for (int i = 0; i < 3; i++)
		post_chain(&b, 1);
	cr_assert(!drv_must_kick(2, 5));
	/* ...and pops leave avail_event alone. */
	uint16_t ev = avail_event();
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(avail_event(), ev);

	/* Enabling reports the pending buffers and asks for a kick on the next;
	 * pops move avail_event again. */
	cr_assert(virtq_enable_notify(&vq));
	cr_assert_eq(avail_event(), 5);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(avail_event(), 4);
	cr_assert_eq(virtq_pop(&vq, &elem), 1);
	cr_assert_eq(avail_event(), 5);
	cr_assert(!virtq_enable_notify(&vq));
	post_chain(&b, 1);
	cr_assert(drv_must_kick(5, 6));
}
