#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "blk_req.h"
#include "bytes.h"

#define CAP 100ull /* sectors of the test disk */

static const struct blk_dev rw_dev = { .capacity = CAP, .discard = true, .write_zeroes = true };

static void make_hdr(uint8_t *p, uint32_t type, uint64_t sector)
{
	put_le32(p, type);
	put_le32(p + 4, 0xdeadbeef); /* reserved: ignored */
	put_le64(p + 8, sector);
}

/* A request as the device sees it after virtq_pop. */
struct chain {
	uint8_t rd[512];
	uint8_t wr[4096];
	struct iovec out[8], in[8];
	unsigned int out_num, in_num;
};

/* Splits rd[0, len) into iovecs at the given cut points. */
static void split_out(struct chain *c, size_t len, const size_t *cuts, unsigned int ncuts)
{
	size_t at = 0;
	c->out_num = 0;
	for (unsigned int i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		c->out[c->out_num++] = (struct iovec){ c->rd + at, end - at };
		at = end;
	}
}

static void one_in(struct chain *c, size_t len)
{
	c->in[0] = (struct iovec){ c->wr, len };
	c->in_num = len ? 1 : 0;
}

/* A header-only request (plus status) of type at sector. */
static void simple(struct chain *c, uint32_t type, uint64_t sector)
{
	memset(c, 0, sizeof(*c));
	make_hdr(c->rd, type, sector);
	split_out(c, BLK_HDR_SIZE, NULL, 0);
	one_in(c, 1);
}

static int parse(struct chain *c, struct blk_req *r)
{
	return blk_req_parse(r, c->out, c->out_num, c->in, c->in_num);
}

Test(blk_req, header_split_at_every_byte)
{
	for (size_t cut = 0; cut <= BLK_HDR_SIZE; cut++) {
		struct chain c = { 0 };
		make_hdr(c.rd, VIRTIO_BLK_T_OUT, 0x0102030405060708ull);
		size_t cuts[] = { cut };
		split_out(&c, BLK_HDR_SIZE + 512, cuts, 1);
		one_in(&c, 1);
		struct blk_req r;
		cr_assert_eq(parse(&c, &r), 0, "cut %zu", cut);
		cr_assert_eq(r.type, VIRTIO_BLK_T_OUT);
		cr_assert_eq(r.sector, 0x0102030405060708ull, "cut %zu", cut);
		cr_assert_eq(r.out_len, 512);
		cr_assert_eq(r.in_len, 0);
		cr_assert_eq(r.status, c.wr);
	}
}

Test(blk_req, header_split_over_three_iovecs_and_empty_ones)
{
	for (size_t a = 0; a <= BLK_HDR_SIZE; a++) {
		for (size_t b = a; b <= BLK_HDR_SIZE; b++) {
			struct chain c = { 0 };
			make_hdr(c.rd, VIRTIO_BLK_T_IN, 77);
			/* Cuts at a, a (an empty iovec) and b. */
			size_t cuts[] = { a, a, b };
			split_out(&c, BLK_HDR_SIZE, cuts, 3);
			one_in(&c, 513);
			struct blk_req r;
			cr_assert_eq(parse(&c, &r), 0);
			cr_assert_eq(r.type, VIRTIO_BLK_T_IN);
			cr_assert_eq(r.sector, 77, "cuts %zu %zu", a, b);
			cr_assert_eq(r.out_len, 0);
			cr_assert_eq(r.in_len, 512);
		}
	}
}

Test(blk_req, header_shorter_than_16_bytes_is_answered_ioerr)
{
	struct chain c = { 0 };
	split_out(&c, BLK_HDR_SIZE - 1, NULL, 0);
	one_in(&c, 1);
	struct blk_req r;
	cr_assert_eq(parse(&c, &r), -EBADMSG);
	cr_assert_eq(r.status, c.wr, "the status is found even so");

	c.out_num = 0;
	cr_assert_eq(parse(&c, &r), -EBADMSG);
}

Test(blk_req, no_writable_byte_cannot_be_answered)
{
	struct chain c;
	simple(&c, VIRTIO_BLK_T_IN, 0);
	struct blk_req r;
	c.in_num = 0; /* the status would be in a readable descriptor */
	cr_assert_eq(parse(&c, &r), -ENOMSG);
	cr_assert_null(r.status);

	/* Only zero-length writable iovecs. */
	c.in[0] = (struct iovec){ c.wr, 0 };
	c.in[1] = (struct iovec){ c.wr + 1, 0 };
	c.in_num = 2;
	cr_assert_eq(parse(&c, &r), -ENOMSG);

	/* Not even a header. */
	c.out_num = 0;
	c.in_num = 0;
	cr_assert_eq(parse(&c, &r), -ENOMSG);
}

Test(blk_req, status_is_the_last_writable_byte)
{
	struct chain c;
	simple(&c, VIRTIO_BLK_T_IN, 0);
	c.in[0] = (struct iovec){ c.wr, 512 };
	c.in[1] = (struct iovec){ c.wr + 1000, 3 };
	c.in[2] = (struct iovec){ c.wr + 2000, 0 };
	c.in_num = 3;
	struct blk_req r;
	cr_assert_eq(parse(&c, &r), 0);
	cr_assert_eq(r.status, c.wr + 1002);
	cr_assert_eq(r.in_len, 514);
}

Test(blk_req, range_exactly_at_end_and_one_past)
{
	cr_assert(blk_range_ok(0, CAP * 512, CAP));
	cr_assert(blk_range_ok(CAP - 1, 512, CAP));
	cr_assert(blk_range_ok(CAP, 0, CAP));
	cr_assert_not(blk_range_ok(CAP - 1, 1024, CAP));
	cr_assert_not(blk_range_ok(CAP, 512, CAP));
	cr_assert_not(blk_range_ok(CAP + 1, 0, CAP));
	cr_assert_not(blk_range_ok(0, 511, CAP), "not whole sectors");
	cr_assert_not(blk_range_ok(0, 513, CAP));
}

Test(blk_req, range_overflow_is_refused)
{
	/* sector + count wraps past 2^64: a naive sum would pass. */
	cr_assert_not(blk_range_ok(UINT64_MAX, 512, CAP));
	cr_assert_not(blk_range_ok(UINT64_MAX, 1024, UINT64_MAX));
	cr_assert(blk_range_ok(UINT64_MAX - 1, 512, UINT64_MAX));
	cr_assert_not(blk_range_ok(UINT64_MAX - 10, 11 * 512, UINT64_MAX));
	/* The largest byte count: sector + count is exactly 2^64. */
	uint64_t most = UINT64_MAX - 511;
	cr_assert_not(blk_range_ok(UINT64_MAX - (most >> 9) + 1, most, UINT64_MAX));
	cr_assert(blk_range_ok(UINT64_MAX - (most >> 9), most, UINT64_MAX));
}

static uint8_t check_io(uint32_t type, uint64_t sector, size_t out_data, size_t in_data,
			const struct blk_dev *d)
{
	struct chain c = { 0 };
	make_hdr(c.rd, type, sector);
	split_out(&c, BLK_HDR_SIZE + out_data, NULL, 0);
	one_in(&c, in_data + 1);
	struct blk_req r;
	cr_assert_eq(parse(&c, &r), 0);
	return blk_req_check(&r, d);
}

Test(blk_req, read_and_write_ranges)
{
	cr_assert_eq(check_io(VIRTIO_BLK_T_IN, CAP - 1, 0, 512, &rw_dev), VIRTIO_BLK_S_OK);
	cr_assert_eq(check_io(VIRTIO_BLK_T_IN, CAP, 0, 512, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_IN, 0, 0, 100, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_IN, UINT64_MAX, 0, 512, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_OUT, CAP - 1, 512, 0, &rw_dev), VIRTIO_BLK_S_OK);
	cr_assert_eq(check_io(VIRTIO_BLK_T_OUT, CAP - 1, 1024, 0, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_OUT, UINT64_MAX, 512, 0, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_OUT, 0, 513, 0, &rw_dev), VIRTIO_BLK_S_IOERR);
}

Test(blk_req, data_the_wrong_way_is_refused)
{
	cr_assert_eq(check_io(VIRTIO_BLK_T_IN, 0, 512, 512, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_OUT, 0, 512, 512, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_FLUSH, 0, 0, 0, &rw_dev), VIRTIO_BLK_S_OK);
	cr_assert_eq(check_io(VIRTIO_BLK_T_FLUSH, 0, 16, 0, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_FLUSH, 0, 0, 16, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_GET_ID, 0, 0, 20, &rw_dev), VIRTIO_BLK_S_OK);
	cr_assert_eq(check_io(VIRTIO_BLK_T_GET_ID, 0, 4, 20, &rw_dev), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_DISCARD, 0, 16, 16, &rw_dev), VIRTIO_BLK_S_IOERR);
}

Test(blk_req, read_only_refuses_writes_only)
{
	struct blk_dev ro = { .capacity = CAP, .read_only = true };
	cr_assert_eq(check_io(VIRTIO_BLK_T_OUT, 0, 512, 0, &ro), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(check_io(VIRTIO_BLK_T_IN, 0, 0, 512, &ro), VIRTIO_BLK_S_OK);
	cr_assert_eq(check_io(VIRTIO_BLK_T_FLUSH, 0, 0, 0, &ro), VIRTIO_BLK_S_OK);
	/* Not offered read-only, so never negotiated. */
	cr_assert_eq(check_io(VIRTIO_BLK_T_DISCARD, 0, 16, 0, &ro), VIRTIO_BLK_S_UNSUPP);
	ro.write_zeroes = true; /* even if a frontend claims it */
	cr_assert_eq(check_io(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, 0, &ro), VIRTIO_BLK_S_IOERR);
}

Test(blk_req, unknown_or_unnegotiated_types_are_unsupp)
{
	uint32_t unknown[] = { 2, 3, 5, 7, 9, 10, 12, 14, 15, 0x80000000u, UINT32_MAX };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		cr_assert_eq(check_io(unknown[i], 0, 0, 0, &rw_dev), VIRTIO_BLK_S_UNSUPP);
	struct blk_dev plain = { .capacity = CAP };
	cr_assert_eq(check_io(VIRTIO_BLK_T_DISCARD, 0, 16, 0, &plain), VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(check_io(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, 0, &plain),
		     VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(check_io(VIRTIO_BLK_T_DISCARD, 0, 16, 0, &rw_dev), VIRTIO_BLK_S_OK);
}

/* A DISCARD/WRITE_ZEROES request with n segments; returns the segs status. */
static uint8_t segs(uint32_t type, const struct blk_seg *in, unsigned int n, size_t extra,
		    struct blk_seg *outs, unsigned int *nout)
{
	struct chain c = { 0 };
	make_hdr(c.rd, type, 0);
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *p = c.rd + BLK_HDR_SIZE + i * BLK_SEG_SIZE;
		put_le64(p, in[i].sector);
		put_le32(p + 8, in[i].num_sectors);
		put_le32(p + 12, in[i].flags);
	}
	/* Split segments across iovecs, too. */
	size_t cuts[] = { 5, BLK_HDR_SIZE + 3, BLK_HDR_SIZE + 21 };
	size_t len = BLK_HDR_SIZE + n * BLK_SEG_SIZE + extra;
	split_out(&c, len, cuts, len > cuts[2] ? 3 : 1);
	one_in(&c, 1);
	struct blk_req r;
	cr_assert_eq(parse(&c, &r), 0);
	cr_assert_eq(blk_req_check(&r, &rw_dev), VIRTIO_BLK_S_OK);
	return blk_req_segs(&r, c.out, c.out_num, CAP, outs, nout);
}

Test(blk_req, segments_decoded)
{
	struct blk_seg in[3] = { { 1, 2, 0 }, { CAP - 5, 5, 1 }, { 0, 0, 0 } }, out[BLK_MAX_DWZ_SEG];
	unsigned int n;
	cr_assert_eq(segs(VIRTIO_BLK_T_WRITE_ZEROES, in, 3, 0, out, &n), VIRTIO_BLK_S_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[1].sector, CAP - 5);
	cr_assert_eq(out[1].num_sectors, 5);
	cr_assert_eq(out[1].flags, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	in[1].flags = 0;
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, in, 3, 0, out, &n), VIRTIO_BLK_S_OK);
	cr_assert_eq(n, 3);
}

Test(blk_req, segment_flags)
{
	struct blk_seg s = { 0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP }, out[BLK_MAX_DWZ_SEG];
	unsigned int n;
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, &s, 1, 0, out, &n), VIRTIO_BLK_S_UNSUPP,
		     "unmap on a discard");
	for (unsigned int bit = 1; bit < 32; bit++) {
		s.flags = 1u << bit;
		cr_assert_eq(segs(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, 0, out, &n),
			     VIRTIO_BLK_S_UNSUPP, "reserved flag bit %u", bit);
		cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, &s, 1, 0, out, &n), VIRTIO_BLK_S_UNSUPP);
	}
	cr_assert_eq(n, 0);
}

Test(blk_req, segment_ranges)
{
	struct blk_seg s, out[BLK_MAX_DWZ_SEG];
	unsigned int n;
	s = (struct blk_seg){ CAP - 1, 1, 0 };
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, &s, 1, 0, out, &n), VIRTIO_BLK_S_OK);
	s = (struct blk_seg){ CAP - 1, 2, 0 };
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, &s, 1, 0, out, &n), VIRTIO_BLK_S_IOERR);
	s = (struct blk_seg){ CAP, 1, 0 };
	cr_assert_eq(segs(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, 0, out, &n), VIRTIO_BLK_S_IOERR);
	s = (struct blk_seg){ UINT64_MAX, 1, 0 };
	cr_assert_eq(segs(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, 0, out, &n), VIRTIO_BLK_S_IOERR,
		     "sector + count wraps");
	s = (struct blk_seg){ UINT64_MAX - 1, 2, 0 };
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, &s, 1, 0, out, &n), VIRTIO_BLK_S_IOERR);
	s = (struct blk_seg){ 0, UINT32_MAX, 0 };
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, &s, 1, 0, out, &n), VIRTIO_BLK_S_IOERR,
		     "more sectors than max_discard_sectors");
	s = (struct blk_seg){ 0, BLK_MAX_DWZ_SECTORS + 1, 0 };
	cr_assert_eq(segs(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, 0, out, &n), VIRTIO_BLK_S_IOERR);
	/* A bad second segment fails the whole request. */
	struct blk_seg two[2] = { { 0, 1, 0 }, { CAP, 1, 0 } };
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, two, 2, 0, out, &n), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(n, 0);
}

Test(blk_req, segment_count_and_length)
{
	struct blk_seg s[BLK_MAX_DWZ_SEG + 1] = { 0 }, out[BLK_MAX_DWZ_SEG];
	unsigned int n;
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, s, 0, 0, out, &n), VIRTIO_BLK_S_IOERR,
		     "no segment");
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, s, 1, 1, out, &n), VIRTIO_BLK_S_IOERR,
		     "not a whole segment");
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, s, 0, 15, out, &n), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, s, BLK_MAX_DWZ_SEG, 0, out, &n),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(n, BLK_MAX_DWZ_SEG);
	cr_assert_eq(segs(VIRTIO_BLK_T_DISCARD, s, BLK_MAX_DWZ_SEG + 1, 0, out, &n),
		     VIRTIO_BLK_S_IOERR, "more than max_discard_seg");
}

Test(blk_req, id)
{
	uint8_t id[BLK_ID_BYTES];
	memset(id, 0xff, sizeof(id));
	cr_assert_eq(blk_id_make(id, "disk-7"), 0);
	cr_assert_eq(memcmp(id, "disk-7\0\0\0\0\0\0\0\0\0\0\0\0\0\0", BLK_ID_BYTES), 0);
	cr_assert_eq(blk_id_make(id, "01234567890123456789"), 0, "exactly 20: no NUL");
	cr_assert_eq(memcmp(id, "01234567890123456789", BLK_ID_BYTES), 0);
	cr_assert_eq(blk_id_make(id, "012345678901234567890"), -EINVAL);
	cr_assert_eq(memcmp(id, "01234567890123456789", BLK_ID_BYTES), 0, "left unchanged");
}

Test(blk_req, config_layout)
{
	uint8_t cfg[BLK_CONFIG_SIZE];
	struct blk_config_info info = { .capacity = 0x1122334455667788ull, .num_queues = 4,
					.writeback = 1 };
	blk_config_build(&info, cfg);
	uint64_t cap;
	memcpy(&cap, cfg, 8);
	cr_assert_eq(le64toh(cap), 0x1122334455667788ull);
	cr_assert_eq(cfg[0], 0x88, "little-endian");
	cr_assert_eq(get_le32(cfg + 8), BLK_SIZE_MAX);
	cr_assert_eq(get_le32(cfg + 12), BLK_SEG_MAX);
	cr_assert_eq(get_le32(cfg + 16), 0, "geometry");
	cr_assert_eq(get_le32(cfg + 20), 512, "blk_size");
	for (int i = 24; i < 32; i++)
		cr_assert_eq(cfg[i], 0, "topology byte %d", i);
	cr_assert_eq(cfg[32], 1, "writeback");
	cr_assert_eq(cfg[33], 0);
	cr_assert_eq(cfg[34], 4, "num_queues");
	cr_assert_eq(cfg[35], 0);
	cr_assert_eq(get_le32(cfg + 36), BLK_MAX_DWZ_SECTORS, "max_discard_sectors");
	cr_assert_eq(get_le32(cfg + 40), BLK_MAX_DWZ_SEG, "max_discard_seg");
	cr_assert_eq(get_le32(cfg + 44), BLK_DISCARD_ALIGN_SECTORS);
	cr_assert_eq(get_le32(cfg + 48), BLK_MAX_DWZ_SECTORS, "max_write_zeroes_sectors");
	cr_assert_eq(get_le32(cfg + 52), BLK_MAX_DWZ_SEG, "max_write_zeroes_seg");
	cr_assert_eq(cfg[56], 1, "write_zeroes_may_unmap");
	cr_assert(cfg[57] == 0 && cfg[58] == 0 && cfg[59] == 0);
	info.writeback = 0;
	info.blk_size = 4096;
	blk_config_build(&info, cfg);
	cr_assert_eq(cfg[32], 0);
	cr_assert_eq(get_le32(cfg + 20), 4096, "--direct on 4 KiB-sector storage");
}

Test(blk_req, config_ranges)
{
	cr_assert(blk_config_range_ok(0, BLK_CONFIG_SIZE));
	cr_assert(blk_config_range_ok(BLK_CONFIG_SIZE, 0));
	cr_assert(blk_config_range_ok(56, 4));
	cr_assert_not(blk_config_range_ok(57, 4));
	cr_assert_not(blk_config_range_ok(0, BLK_CONFIG_SIZE + 1));
	cr_assert_not(blk_config_range_ok(UINT32_MAX, 2), "offset + len wraps");
	cr_assert_not(blk_config_range_ok(2, UINT32_MAX));
}

Test(blk_req, config_write_only_writeback)
{
	uint8_t wb = 1;
	uint8_t zero = 0, one = 1, two = 2, many[4] = { 0 };
	cr_assert_eq(blk_config_write(BLK_CONFIG_WRITEBACK, &zero, 1, &wb), 0);
	cr_assert_eq(wb, 0);
	cr_assert_eq(blk_config_write(BLK_CONFIG_WRITEBACK, &one, 1, &wb), 0);
	cr_assert_eq(wb, 1);
	cr_assert_eq(blk_config_write(BLK_CONFIG_WRITEBACK, &two, 1, &wb), -EINVAL);
	cr_assert_eq(blk_config_write(0, &zero, 1, &wb), -EINVAL, "capacity is read-only");
	cr_assert_eq(blk_config_write(33, &zero, 1, &wb), -EINVAL);
	cr_assert_eq(blk_config_write(BLK_CONFIG_WRITEBACK, many, 4, &wb), -EINVAL);
	cr_assert_eq(blk_config_write(BLK_CONFIG_WRITEBACK, many, 0, &wb), -EINVAL);
	cr_assert_eq(wb, 1);
}
