#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_mem.h"
#include "testutil.h"

#define MB (1024ull * 1024)
#define UA 0x7f0000000000ull /* frontend virtual base used by the tests */

static struct guest_mem gm;
static int fd = -1; /* a sealed 1 MiB memfd */

static void setup(void)
{
	gm_init(&gm);
	fd = gm_memfd_create("test", MB);
	cr_assert_geq(fd, 0);
}

static void teardown(void)
{
	gm_clear(&gm);
	close(fd);
}

TestSuite(guest_mem, .init = setup, .fini = teardown);


static bool is_mapped(void *page)
{
	unsigned char vec;
	return mincore(page, 1, &vec) == 0;
}

Test(guest_mem, add_translate_remove)
{
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x10000, UA, fd, 0), 0);
	uint8_t *p = gm_ptr(&gm, 0x10000, 0x10000);
	cr_assert_not_null(p);
	cr_assert_eq(gm_ptr(&gm, 0x10100, 4), p + 0x100);
	memcpy(p + 0x100, "abcd", 4);
	char buf[4];
	cr_assert_eq(pread(fd, buf, 4, 0x100), 4);
	cr_assert_eq(memcmp(buf, "abcd", 4), 0);

	/* Removal needs the exact gpa, size and uaddr. */
	cr_assert_eq(gm_remove_region(&gm, 0x10000, 0x8000, UA), -ENOENT);
	cr_assert_eq(gm_remove_region(&gm, 0x10000, 0x10000, UA + 0x1000), -ENOENT);
	cr_assert_eq(gm_remove_region(&gm, 0x20000, 0x10000, UA), -ENOENT);
	void *map_base = gm.r[0].map_base;
	cr_assert_eq(gm_remove_region(&gm, 0x10000, 0x10000, UA), 0);
	cr_assert_eq(gm.n, 0);
	cr_assert_null(gm_ptr(&gm, 0x10100, 4));
	cr_assert(!is_mapped(map_base));
	cr_assert_eq(gm_remove_region(&gm, 0x10000, 0x10000, UA), -ENOENT);
}

Test(guest_mem, remove_keeps_others)
{
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x1000, UA, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x20000, 0x1000, UA + 0x1000, fd, 0x1000), 0);
	cr_assert_eq(gm_add_region(&gm, 0x30000, 0x1000, UA + 0x2000, fd, 0x2000), 0);
	uint8_t *base = gm_ptr(&gm, 0x10000, 1);
	cr_assert_eq(gm_remove_region(&gm, 0x20000, 0x1000, UA + 0x1000), 0);
	cr_assert_eq(gm.n, 2);
	cr_assert_eq(gm_ptr(&gm, 0x10000, 1), base);
	cr_assert_null(gm_ptr(&gm, 0x20000, 1));
	uint8_t *p = gm_ptr(&gm, 0x30000, 1);
	cr_assert_not_null(p);
	*p = 0x5a;
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, 0x2000), 1);
	cr_assert_eq(b, 0x5a);
}

Test(guest_mem, zero_size_refused)
{
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0, UA, fd, 0), -EINVAL);
	/* Not even with an offset that would leave a partial page to map. */
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0, UA, fd, 0x100), -EINVAL);
	cr_assert_eq(gm.n, 0);
}

Test(guest_mem, sorted_by_gpa)
{
	cr_assert_eq(gm_add_region(&gm, 0x30000, 0x1000, UA + 0x2000, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x1000, UA, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x20000, 0x1000, UA + 0x1000, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x40000, 0x1000, UA + 0x3000, fd, 0), 0);
	cr_assert_eq(gm.n, 4);
	for (size_t i = 0; i < gm.n; i++)
		cr_assert_eq(gm.r[i].gpa, 0x10000 * (i + 1));
}

Test(guest_mem, unaligned_mmap_offset)
{
	uint8_t pattern[64];
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 1);
	cr_assert_eq(pwrite(fd, pattern, sizeof(pattern), 0x1100), (ssize_t)sizeof(pattern));
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x2000, UA, fd, 0x1100), 0);
	uint8_t *p = gm_ptr(&gm, 0x10000, 0x2000);
	cr_assert_not_null(p);
	cr_assert_eq(memcmp(p, pattern, sizeof(pattern)), 0);
	/* The last byte is mapped too (the mapping covers the remainder). */
	p[0x1fff] = 0xa5;
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, 0x1100 + 0x1fff), 1);
	cr_assert_eq(b, 0xa5);
	cr_assert_eq(gm_remove_region(&gm, 0x10000, 0x2000, UA), 0);
}

Test(guest_mem, wrapping_ranges_refused)
{
	cr_assert_eq(gm_add_region(&gm, UINT64_MAX - 0xfff, 0x2000, UA, fd, 0), -EINVAL);
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x2000, UINT64_MAX - 0xfff, fd, 0), -EINVAL);
	/* A wrapped offset + size would pass the file size check. */
	tu_log_begin();
	int r = gm_add_region(&gm, 0x10000, 0x2000, UA, fd, UINT64_MAX - 0xfff);
	const char *log = tu_log_end();
	cr_assert_eq(r, -EINVAL);
	cr_assert_not_null(strstr(log, "wraps"), "log: %s", log);
	/* gpa + size == 2^64 wraps to 0 as well. */
	cr_assert_eq(gm_add_region(&gm, UINT64_MAX - 0xfff, 0x1000, UA, fd, 0), -EINVAL);
	cr_assert_eq(gm.n, 0);
	/* One byte less ends just below 2^64: fine. */
	cr_assert_eq(gm_add_region(&gm, UINT64_MAX - 0xfff, 0xfff, UA, fd, 0), 0);
}

Test(guest_mem, uaddr_overlap_refused)
{
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x10000, UA, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x40000, 0x10000, UA + 0xf000, fd, 0), -EINVAL);
	cr_assert_eq(gm_add_region(&gm, 0x40000, 0x10000, UA - 0xf000, fd, 0), -EINVAL);
	cr_assert_eq(gm_add_region(&gm, 0x40000, 0x1000, UA + 0x4000, fd, 0), -EINVAL);
	cr_assert_eq(gm_add_region(&gm, 0x40000, 0x30000, UA - 0x10000, fd, 0), -EINVAL);
	cr_assert_eq(gm.n, 1);
	/* Touching is not overlapping. */
	cr_assert_eq(gm_add_region(&gm, 0x40000, 0x10000, UA + 0x10000, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x60000, 0x10000, UA - 0x10000, fd, 0), 0);
}

Test(guest_mem, gpa_overlap_refused)
{
	/* [0x10000, 0x20000) */
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x10000, UA, fd, 0), 0);
	static const struct {
		uint64_t gpa, size;
	} bad[] = {
		{ 0x10000, 0x10000 }, /* identical */
		{ 0x14000, 0x4000 },  /* inside */
		{ 0x8000, 0xc000 },   /* straddling the start */
		{ 0x1c000, 0x8000 },  /* straddling the end */
		{ 0x8000, 0x20000 },  /* containing */
		{ 0x1ffff, 1 },       /* last byte */
		{ 0xf000, 0x1001 },   /* first byte */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(gm_add_region(&gm, bad[i].gpa, bad[i].size, UA + 0x100000, fd, 0),
			     -EINVAL, "case %zu", i);
	cr_assert_eq(gm.n, 1);
	/* Adjacent on both sides is fine. */
	cr_assert_eq(gm_add_region(&gm, 0x20000, 0x10000, UA + 0x100000, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x0, 0x10000, UA + 0x200000, fd, 0), 0);
	cr_assert_eq(gm.n, 3);
}

Test(guest_mem, file_too_short)
{
	cr_assert_eq(gm_add_region(&gm, 0x10000, MB + 0x1000, UA, fd, 0), -EINVAL);
	cr_assert_eq(gm_add_region(&gm, 0x10000, MB, UA, fd, 0x1000), -EINVAL);
	cr_assert_eq(gm_add_region(&gm, 0x10000, 1, UA, fd, MB), -EINVAL);
	cr_assert_eq(gm.n, 0);
	/* Exactly up to the end of the file is fine. */
	cr_assert_eq(gm_add_region(&gm, 0x10000, MB - 0x1000, UA, fd, 0x1000), 0);
	cr_assert_eq(gm_add_region(&gm, 0x200000, 1, UA + MB, fd, MB - 1), 0);
}

Test(guest_mem, too_many_regions)
{
	for (uint64_t i = 0; i < GM_MAX_REGIONS; i++)
		cr_assert_eq(gm_add_region(&gm, i * 0x10000, 0x1000, UA + i * 0x10000, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x1000000, 0x1000, UA + 0x1000000, fd, 0), -ENOSPC);
	cr_assert_eq(gm.n, GM_MAX_REGIONS);
}

Test(guest_mem, unsealed_memfd_warns)
{
	int plain = memfd_create("plain", MFD_CLOEXEC);
	cr_assert_geq(plain, 0);
	cr_assert_eq(ftruncate(plain, 0x10000), 0);
	tu_log_begin();
	int r = gm_add_region(&gm, 0x10000, 0x10000, UA, plain, 0);
	const char *log = tu_log_end();
	cr_assert_eq(r, 0);
	cr_assert_not_null(strstr(log, "not sealed"), "log: %s", log);

	/* The sealed one maps silently. */
	tu_log_begin();
	r = gm_add_region(&gm, 0x20000, 0x10000, UA + 0x10000, fd, 0);
	log = tu_log_end();
	cr_assert_eq(r, 0);
	cr_assert_str_empty(log);
	close(plain);
}

Test(guest_mem, range_at_region_end)
{
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x10000, UA, fd, 0), 0);
	uint8_t *p = gm_ptr(&gm, 0x10000, 1);
	cr_assert_eq(gm_ptr(&gm, 0x1fffc, 4), p + 0xfffc);
	cr_assert_null(gm_ptr(&gm, 0x1fffc, 5));
	cr_assert_null(gm_ptr(&gm, 0x20000, 1));
	cr_assert_null(gm_ptr(&gm, 0xffff, 1));
	cr_assert_null(gm_ptr(&gm, 0xffff, 2));
	cr_assert_null(gm_ptr(&gm, 0x10000, 0x10001));

	struct iovec iov[4];
	cr_assert_eq(gm_to_iov(&gm, 0x1fffc, 4, iov, 4), 1);
	cr_assert_eq(iov[0].iov_base, p + 0xfffc);
	cr_assert_eq(iov[0].iov_len, 4);
	cr_assert_eq(gm_to_iov(&gm, 0x1fffc, 5, iov, 4), -EFAULT);
	cr_assert_eq(gm_to_iov(&gm, 0xffff, 2, iov, 4), -EFAULT);
}

Test(guest_mem, wrapping_translation_refused)
{
	/* A region that ends right below 2^64, so the start of a wrapping
	 * range lies inside guest memory. */
	uint64_t top = UINT64_MAX - 0xfff;
	cr_assert_eq(gm_add_region(&gm, top, 0xfff, UA, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0, 0x1000, UA + 0x1000, fd, 0), 0);
	cr_assert_not_null(gm_ptr(&gm, UINT64_MAX - 3, 3));
	cr_assert_null(gm_ptr(&gm, UINT64_MAX - 1, 4));
	cr_assert_null(gm_ptr(&gm, UINT64_MAX - 1, UINT64_MAX));
	struct iovec iov[4];
	cr_assert_eq(gm_to_iov(&gm, UINT64_MAX - 1, 4, iov, 4), -EFAULT);
	cr_assert_eq(gm_to_iov(&gm, top, UINT64_MAX, iov, 4), -EFAULT);
	cr_assert_eq(gm_to_iov(&gm, UINT64_MAX - 3, 3, iov, 4), 1);
	uint64_t g;
	cr_assert_eq(gm_uva_to_gpa(&gm, UA + 0xffe, 4, &g), -EFAULT);
	cr_assert_eq(gm_uva_to_gpa(&gm, UA + 0xffe, UINT64_MAX, &g), -EFAULT);
}

Test(guest_mem, zero_length)
{
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x10000, UA, fd, 0), 0);
	cr_assert_null(gm_ptr(&gm, 0x10000, 0));
	struct iovec iov[1];
	cr_assert_eq(gm_to_iov(&gm, 0x10000, 0, iov, 1), 0);
	cr_assert_eq(gm_to_iov(&gm, 0x10000, 0, iov, 0), 0);
}

Test(guest_mem, hole_between_regions)
{
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x10000, UA, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x30000, 0x10000, UA + 0x10000, fd, 0x10000), 0);
	cr_assert_null(gm_ptr(&gm, 0x1fff0, 0x20));
	cr_assert_null(gm_ptr(&gm, 0x28000, 1));
	cr_assert_null(gm_ptr(&gm, 0x2fff0, 0x20));
	struct iovec iov[4];
	cr_assert_eq(gm_to_iov(&gm, 0x1fff0, 0x20, iov, 4), -EFAULT);
	cr_assert_eq(gm_to_iov(&gm, 0x28000, 1, iov, 4), -EFAULT);
	cr_assert_eq(gm_to_iov(&gm, 0x10000, 0x30000, iov, 4), -EFAULT);
	cr_assert_eq(gm_to_iov(&gm, 0x2fff0, 0x20, iov, 4), -EFAULT);
	cr_assert_eq(gm_to_iov(&gm, 0x30000, 0x10000, iov, 4), 1);
}

Test(guest_mem, straddling_adjacent_regions)
{
	/* Three regions adjacent in GPA, backed by unrelated file pages. */
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x10000, UA, fd, 0x40000), 0);
	cr_assert_eq(gm_add_region(&gm, 0x20000, 0x10000, UA + 0x10000, fd, 0x10000), 0);
	cr_assert_eq(gm_add_region(&gm, 0x30000, 0x10000, UA + 0x20000, fd, 0x80000), 0);
	uint8_t *a = gm_ptr(&gm, 0x10000, 1), *b = gm_ptr(&gm, 0x20000, 1);
	uint8_t *c = gm_ptr(&gm, 0x30000, 1);
	cr_assert_null(gm_ptr(&gm, 0x1fff0, 0x20));

	struct iovec iov[3];
	cr_assert_eq(gm_to_iov(&gm, 0x1fff0, 0x20, iov, 3), 2);
	cr_assert_eq(iov[0].iov_base, a + 0xfff0);
	cr_assert_eq(iov[0].iov_len, 0x10);
	cr_assert_eq(iov[1].iov_base, b);
	cr_assert_eq(iov[1].iov_len, 0x10);
	cr_assert_eq(gm_to_iov(&gm, 0x1fff0, 0x20, iov, 1), -ENOBUFS);

	cr_assert_eq(gm_to_iov(&gm, 0x1fff0, 0x10020, iov, 3), 3);
	cr_assert_eq(iov[1].iov_len, 0x10000);
	cr_assert_eq(iov[2].iov_base, c);
	cr_assert_eq(iov[2].iov_len, 0x10);
	cr_assert_eq(gm_to_iov(&gm, 0x1fff0, 0x10020, iov, 2), -ENOBUFS);
	/* Running off the last region is a fault, not a shortage of iovecs. */
	cr_assert_eq(gm_to_iov(&gm, 0x1fff0, 0x20020, iov, 3), -EFAULT);
}

Test(guest_mem, uva_to_gpa)
{
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x10000, UA, fd, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x80000, 0x10000, UA + 0x10000, fd, 0x10000), 0);
	uint64_t g = 0;
	cr_assert_eq(gm_uva_to_gpa(&gm, UA + 0x100, 0x10, &g), 0);
	cr_assert_eq(g, 0x10100);
	cr_assert_eq(gm_uva_to_gpa(&gm, UA + 0x10008, 8, &g), 0);
	cr_assert_eq(g, 0x80008);
	cr_assert_eq(gm_uva_to_gpa(&gm, UA + 0xfff0, 0x10, &g), 0);
	cr_assert_eq(g, 0x1fff0);
	/* Straddling two regions, even adjacent in uaddr space, is refused. */
	cr_assert_eq(gm_uva_to_gpa(&gm, UA + 0xfff0, 0x11, &g), -EFAULT);
	cr_assert_eq(gm_uva_to_gpa(&gm, UA - 1, 1, &g), -EFAULT);
	cr_assert_eq(gm_uva_to_gpa(&gm, UA + 0x20000, 1, &g), -EFAULT);
	cr_assert_eq(gm_uva_to_gpa(&gm, 0x10100, 1, &g), -EFAULT); /* a gpa, not a uva */
}

Test(guest_mem, memfd_sealed)
{
	int seals = fcntl(fd, F_GET_SEALS);
	cr_assert_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	cr_assert_eq(lseek(fd, 0, SEEK_END), (off_t)MB);
	cr_assert_eq(ftruncate(fd, MB / 2), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(ftruncate(fd, 2 * MB), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

Test(guest_mem, memfd_bad_size)
{
	cr_assert_eq(gm_memfd_create("huge", UINT64_MAX), -EINVAL);
}

Test(guest_mem, mappings_share_memory)
{
	struct guest_mem other;
	gm_init(&other);
	cr_assert_eq(gm_add_region(&gm, 0x10000, 0x10000, UA, fd, 0x10000), 0);
	cr_assert_eq(gm_add_region(&other, 0x40000000, 0x20000, UA, fd, 0), 0);
	uint8_t *p = gm_ptr(&gm, 0x10000, 0x10000);
	uint8_t *q = gm_ptr(&other, 0x40010000, 0x10000);
	cr_assert(p && q && p != q);
	void *map_base = other.r[0].map_base;
	memcpy(p + 0x20, "shared", 6);
	cr_assert_eq(memcmp(q + 0x20, "shared", 6), 0);
	q[0x40] = 'x';
	cr_assert_eq(p[0x40], 'x');
	gm_clear(&other);
	cr_assert_eq(other.n, 0);
	cr_assert(!is_mapped(map_base));
	cr_assert_null(gm_ptr(&other, 0x40010000, 1));
}
