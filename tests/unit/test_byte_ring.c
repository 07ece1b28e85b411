/* The byte ring: what it keeps, where each reader goes on, and wrap-around
 * of the buffer (not of the 64-bit offsets, which never wrap). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "byte_ring.h"

/* An impossible allocation returns NULL under ASan too, as it does without
 * it, so the -ENOMEM path can be tested. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

/* Flattens what byte_ring_peek() gives from `from`; returns the byte count. */
static size_t peek_all(const struct byte_ring *r, uint64_t from, uint8_t *out, size_t outlen,
		       int *nseg)
{
	struct iovec iov[2];
	int n = byte_ring_peek(r, from, iov);
	cr_assert(n >= 0 && n <= 2, "segments: %d", n);
	size_t got = 0;
	for (int i = 0; i < n; i++) {
		cr_assert_gt(iov[i].iov_len, 0, "segment %d is empty", i);
		cr_assert_leq(got + iov[i].iov_len, outlen);
		memcpy(out + got, iov[i].iov_base, iov[i].iov_len);
		got += iov[i].iov_len;
	}
	if (nseg)
		*nseg = n;
	return got;
}

static void expect_peek(const struct byte_ring *r, uint64_t from, const char *want, int nseg)
{
	uint8_t got[256];
	int n;
	size_t len = peek_all(r, from, got, sizeof(got), &n);
	cr_assert_eq(len, strlen(want), "from %llu: %zu bytes, want %zu", (unsigned long long)from,
		     len, strlen(want));
	cr_assert_arr_eq(got, want, len, "from %llu: wrong bytes", (unsigned long long)from);
	cr_assert_eq(n, nseg, "from %llu: %d segments, want %d", (unsigned long long)from, n,
		     nseg);
}

static void write_str(struct byte_ring *r, const char *s)
{
	byte_ring_write(r, s, strlen(s));
}

Test(byte_ring, init_refuses_zero_capacity)
{
	struct byte_ring r = { .cap = 99 };
	cr_assert_eq(byte_ring_init(&r, 0), -EINVAL);
	cr_assert_eq(r.cap, 99, "untouched on failure");
}

Test(byte_ring, init_reports_enomem)
{
	struct byte_ring r = { .cap = 99 };
	cr_assert_eq(byte_ring_init(&r, SIZE_MAX), -ENOMEM);
	cr_assert_eq(r.cap, 99, "untouched on failure");
}

Test(byte_ring, empty_ring_has_nothing)
{
	struct byte_ring r;
	cr_assert_eq(byte_ring_init(&r, 8), 0);
	struct iovec iov[2];
	cr_assert_eq(byte_ring_peek(&r, 0, iov), 0);
	cr_assert_eq(byte_ring_oldest(&r), 0);
	byte_ring_write(&r, NULL, 0);
	cr_assert_eq(r.total, 0, "a zero-length write adds nothing");
	byte_ring_destroy(&r);
	cr_assert_null(r.buf);
	byte_ring_destroy(&r); /* twice is harmless */
}

Test(byte_ring, keeps_what_fits_in_order)
{
	struct byte_ring r;
	cr_assert_eq(byte_ring_init(&r, 8), 0);
	write_str(&r, "abc");
	write_str(&r, "de");
	cr_assert_eq(r.total, 5);
	cr_assert_eq(byte_ring_oldest(&r), 0);
	expect_peek(&r, 0, "abcde", 1);
	expect_peek(&r, 3, "de", 1);
	expect_peek(&r, 5, "", 0);
	expect_peek(&r, 6, "", 0); /* past the end: nothing, no garbage */
	byte_ring_destroy(&r);
}

Test(byte_ring, wraps_around_the_buffer_end)
{
	struct byte_ring r;
	cr_assert_eq(byte_ring_init(&r, 8), 0);
	write_str(&r, "abcdef");
	write_str(&r, "ghij"); /* gh at the end, ij at the start; ab overwritten */
	cr_assert_eq(r.total, 10);
	cr_assert_eq(r.len, 8);
	cr_assert_eq(byte_ring_oldest(&r), 2);
	expect_peek(&r, 2, "cdefghij", 2);
	expect_peek(&r, 6, "ghij", 2);
	expect_peek(&r, 8, "ij", 1);
	expect_peek(&r, 9, "j", 1);
	byte_ring_destroy(&r);
}

Test(byte_ring, one_write_larger_than_capacity_keeps_its_tail)
{
	struct byte_ring r;
	cr_assert_eq(byte_ring_init(&r, 4), 0);
	write_str(&r, "x");
	write_str(&r, "0123456789");
	cr_assert_eq(r.total, 11);
	cr_assert_eq(byte_ring_oldest(&r), 7);
	expect_peek(&r, 0, "6789", 2); /* 11 % 4: the tail starts mid-buffer */
	write_str(&r, "ABCD"); /* exactly cap: replaces everything */
	expect_peek(&r, 0, "ABCD", 2);
	cr_assert_eq(byte_ring_oldest(&r), 11);
	byte_ring_destroy(&r);
}

Test(byte_ring, reader_that_fell_behind_goes_on_from_the_oldest)
{
	struct byte_ring r;
	cr_assert_eq(byte_ring_init(&r, 5), 0);
	uint64_t reader = 0;
	write_str(&r, "hello");
	expect_peek(&r, reader, "hello", 1);
	reader += 2; /* took "he" */
	write_str(&r, " world");
	/* "llo world" was written since, only " world"'s last 5 are kept. */
	uint64_t oldest = byte_ring_oldest(&r);
	cr_assert_eq(oldest, 6);
	cr_assert_eq(oldest - reader, 4, "the reader lost \"llo \"");
	expect_peek(&r, reader, "world", 2);
	/* A second reader that kept up is unaffected by the first. */
	expect_peek(&r, 9, "ld", 2); /* buf[4], then buf[0] */
	byte_ring_destroy(&r);
}

Test(byte_ring, offsets_beyond_32_bits)
{
	struct byte_ring r;
	cr_assert_eq(byte_ring_init(&r, 10), 0);
	/* A ring that has already carried 2^32 + 7 bytes, all read and
	 * overwritten: empty, positions continuing from there. */
	const uint64_t base = (1ull << 32) + 7;
	r.total = base;
	cr_assert_eq(base % 10, 3);
	write_str(&r, "abcdefgh"); /* buf[3..9], then buf[0] */
	cr_assert_eq(r.total, base + 8);
	cr_assert_eq(byte_ring_oldest(&r), base);
	expect_peek(&r, base, "abcdefgh", 2);
	expect_peek(&r, base + 5, "fgh", 2);
	expect_peek(&r, base + 7, "h", 1);
	/* A reader 2^32 bytes behind lost everything, however the low bits look. */
	expect_peek(&r, 7, "abcdefgh", 2);
	expect_peek(&r, base + 8, "", 0);
	byte_ring_destroy(&r);
}

/* Many writes of varying sizes against a flat copy of the whole stream. */
Test(byte_ring, matches_a_flat_model)
{
	enum { CAP = 13, STREAM = 4000 };
	static uint8_t stream[STREAM];
	struct byte_ring r;
	cr_assert_eq(byte_ring_init(&r, CAP), 0);
	size_t written = 0;
	unsigned step = 0;
	while (written < STREAM) {
		size_t n = (step * 7 + 3) % (2 * CAP + 3); /* 0 .. 2*CAP+2 */
		if (n > STREAM - written)
			n = STREAM - written;
		for (size_t i = 0; i < n; i++)
			stream[written + i] = (uint8_t)((written + i) * 31 + 1);
		byte_ring_write(&r, stream + written, n);
		written += n;
		step++;
		cr_assert_eq(r.total, written);
		uint64_t oldest = written > CAP ? written - CAP : 0;
		cr_assert_eq(byte_ring_oldest(&r), oldest);
		for (uint64_t from = oldest > 2 ? oldest - 2 : 0; from <= written; from++) {
			uint8_t got[CAP];
			uint64_t start = from < oldest ? oldest : from;
			size_t len = peek_all(&r, from, got, sizeof(got), NULL);
			cr_assert_eq(len, written - start, "step %u from %llu", step,
				     (unsigned long long)from);
			cr_assert_arr_eq(got, stream + start, len, "step %u from %llu", step,
					 (unsigned long long)from);
		}
	}
	byte_ring_destroy(&r);
}
