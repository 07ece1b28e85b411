#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "iov.h"

Test(iov, size)
{
	uint8_t a[3], b[5];
	struct iovec v[3] = { { a, 3 }, { NULL, 0 }, { b, 5 } };
	cr_assert_eq(iov_size(v, 3), 8);
	cr_assert_eq(iov_size(v, 1), 3);
	cr_assert_eq(iov_size(v, 0), 0);
	cr_assert_eq(iov_size(NULL, 0), 0);
}

Test(iov, size_saturates)
{
	/* Never dereferenced: only the lengths are summed. */
	struct iovec v[3] = { { NULL, SIZE_MAX }, { NULL, 2 }, { NULL, 1 } };
	cr_assert_eq(iov_size(v, 1), SIZE_MAX);
	cr_assert_eq(iov_size(v, 3), UINT64_MAX);
}

/* Moved here from test_blk_req.c (blk_iov_to_buf/blk_iov_from_buf). */
Test(iov, copy_stops_at_the_end)
{
	uint8_t a[3] = { 0 }, b[3] = { 0 };
	struct iovec v[2] = { { a, 3 }, { b, 3 } };
	const uint8_t src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	cr_assert_eq(iov_from_buf(v, 2, 2, src, 8), 4);
	cr_assert_eq(a[2], 1);
	cr_assert_eq(b[0], 2);
	cr_assert_eq(b[2], 4);
	uint8_t dst[8] = { 0 };
	cr_assert_eq(iov_to_buf(v, 2, 1, dst, 8), 5);
	cr_assert_eq(dst[1], 1);
}

/* Moved here from test_net_hdr.c (net_iov_read/net_iov_write). */
Test(iov, read_write_offsets)
{
	uint8_t a[3] = { 0 }, b[5] = { 0 }, out[8];
	struct iovec iov[2] = { { a, 3 }, { b, 5 } };
	const uint8_t in[6] = { 1, 2, 3, 4, 5, 6 };
	cr_assert_eq(iov_from_buf(iov, 2, 1, in, 6), 6);
	cr_assert_eq(a[0], 0);
	cr_assert_eq(a[1], 1);
	cr_assert_eq(b[0], 3);
	cr_assert_eq(b[3], 6);
	cr_assert_eq(iov_from_buf(iov, 2, 6, in, 6), 2, "only 2 bytes left");
	cr_assert_eq(iov_to_buf(iov, 2, 0, out, 8), 8);
	cr_assert_eq(out[2], 2);
	cr_assert_eq(iov_to_buf(iov, 2, 9, out, 1), 0);
}

Test(iov, every_offset_and_length)
{
	/* 10 bytes split 1 + 0 + 4 + 5; every [off, off + len) against a flat copy. */
	uint8_t flat[10], p0[1], p2[4], p3[5];
	struct iovec v[4] = { { p0, 1 }, { NULL, 0 }, { p2, 4 }, { p3, 5 } };
	for (unsigned int i = 0; i < sizeof(flat); i++)
		flat[i] = (uint8_t)(0x10 + i);
	memcpy(p0, flat, 1);
	memcpy(p2, flat + 1, 4);
	memcpy(p3, flat + 5, 5);
	for (uint64_t off = 0; off <= 12; off++) {
		for (uint64_t len = 0; len <= 12; len++) {
			uint8_t out[16];
			memset(out, 0xee, sizeof(out));
			uint64_t want = off >= 10 ? 0 : (len < 10 - off ? len : 10 - off);
			cr_assert_eq(iov_to_buf(v, 4, off, out, len), want, "off %llu len %llu",
				     (unsigned long long)off, (unsigned long long)len);
			cr_assert_arr_eq(out, flat + (off < 10 ? off : 10), want);
			cr_assert_eq(out[want], 0xee, "nothing written past the copy");
		}
	}
}

Test(iov, from_buf_writes_only_its_range)
{
	uint8_t a[4], b[4];
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	struct iovec v[2] = { { a, 4 }, { b, 4 } };
	const uint8_t src[3] = { 7, 8, 9 };
	cr_assert_eq(iov_from_buf(v, 2, 3, src, 3), 3);
	const uint8_t wa[4] = { 0, 0, 0, 7 }, wb[4] = { 8, 9, 0, 0 };
	cr_assert_arr_eq(a, wa, 4);
	cr_assert_arr_eq(b, wb, 4);
}

Test(iov, past_the_end)
{
	uint8_t a[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
	struct iovec v[1] = { { a, 4 } };
	cr_assert_eq(iov_to_buf(v, 1, 4, out, 4), 0);
	cr_assert_eq(iov_to_buf(v, 1, UINT64_MAX, out, 4), 0);
	cr_assert_eq(iov_from_buf(v, 1, 5, out, 4), 0);
	cr_assert_eq(iov_to_buf(v, 1, 3, out, UINT64_MAX), 1, "a huge len stops at the end");
	cr_assert_eq(out[0], 4);
	cr_assert_eq(a[3], 4);
}

Test(iov, empty_and_zero_length)
{
	uint8_t a[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
	struct iovec v[2] = { { NULL, 0 }, { a, 4 } };
	cr_assert_eq(iov_to_buf(NULL, 0, 0, out, 4), 0, "no iovecs");
	cr_assert_eq(iov_from_buf(NULL, 0, 0, out, 4), 0, "no iovecs");
	cr_assert_eq(iov_to_buf(v, 1, 0, out, 4), 0, "only an empty iovec");
	cr_assert_eq(iov_to_buf(v, 2, 0, NULL, 0), 0, "len 0 touches nothing");
	cr_assert_eq(iov_from_buf(v, 2, 1, NULL, 0), 0, "len 0 touches nothing");
	cr_assert_eq(iov_to_buf(v, 2, 0, out, 4), 4, "the empty iovec is skipped");
	cr_assert_eq(out[0], 1);
	cr_assert_eq(out[3], 4);
}

Test(iov, slice)
{
	uint8_t a[10], b[10], c[10];
	struct iovec src[4] = { { a, 10 }, { b, 0 }, { b, 10 }, { c, 10 } }, dst[4];
	cr_assert_eq(iov_slice(src, 4, 5, 20, dst, 4), 3);
	cr_assert(dst[0].iov_base == a + 5 && dst[0].iov_len == 5);
	cr_assert(dst[1].iov_base == b && dst[1].iov_len == 10);
	cr_assert(dst[2].iov_base == c && dst[2].iov_len == 5);
	cr_assert_eq(iov_slice(src, 4, 10, 10, dst, 4), 1);
	cr_assert(dst[0].iov_base == b && dst[0].iov_len == 10);
	cr_assert_eq(iov_slice(src, 4, 30, 0, dst, 4), 0);
	cr_assert_eq(iov_slice(src, 4, 25, 6, dst, 4), -EINVAL, "past the end");
	cr_assert_eq(iov_slice(src, 4, 31, 0, dst, 4), 0);
	cr_assert_eq(iov_slice(src, 4, 0, 30, dst, 2), -ENOBUFS);
}
