/* cellvm-blk driven by the test frontend across a process boundary, against
 * an image file filled with a pattern: every test checks the whole file
 * against what it should hold, so a stray write anywhere is caught. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "blk_req.h"
#include "msg.h"
#include "test_hooks.h"
#include "tfe.h"

#define MEM (8u << 20)
#define DISK_SIZE (1u << 20)
#define SECTORS (DISK_SIZE / 512)
#define QSIZE 16
#define WANT                                                                      \
	(BIT_ULL(VIRTIO_BLK_F_SIZE_MAX) | BIT_ULL(VIRTIO_BLK_F_SEG_MAX) |           \
	 BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) | BIT_ULL(VIRTIO_BLK_F_FLUSH) |             \
	 BIT_ULL(VIRTIO_BLK_F_CONFIG_WCE) | BIT_ULL(VIRTIO_BLK_F_MQ) |              \
	 BIT_ULL(VIRTIO_BLK_F_DISCARD) | BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES) |       \
	 BIT_ULL(VIRTIO_BLK_F_RO) | BIT_ULL(VIRTIO_F_EVENT_IDX) |                   \
	 BIT_ULL(VIRTIO_F_INDIRECT_DESC))

static char img[64];
static int img_fd = -1;
static uint8_t expected[DISK_SIZE]; /* what the image must hold */

/* Makes the image in dir, holding what expected holds. */
static void make_image(const char *dir)
{
	snprintf(img, sizeof(img), "%s/cellvm-blk-test-XXXXXX", dir);
	img_fd = mkstemp(img);
	cr_assert_geq(img_fd, 0, "%s: %s", dir, strerror(errno));
	/* Only the backend under test may hold the image open. */
	cr_assert_eq(fcntl(img_fd, F_SETFD, FD_CLOEXEC), 0);
	cr_assert_eq(pwrite(img_fd, expected, DISK_SIZE, 0), DISK_SIZE);
}

static void setup(void)
{
	for (size_t i = 0; i < DISK_SIZE; i++)
		expected[i] = (uint8_t)(i * 31 + (i >> 9));
	make_image("/tmp");
}

/* Whether the image is in memory (tmpfs, ramfs): cellvm-blk serves such
 * an image synchronously, anything else through io_uring. */
static bool image_in_memory(void)
{
	struct statfs sf;
	cr_assert_eq(fstatfs(img_fd, &sf), 0);
	return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

/* Moves the image to dir (same contents) for a test of one data path. */
static void move_image(const char *dir)
{
	unlink(img);
	close(img_fd);
	make_image(dir);
}

static void teardown(void)
{
	unlink(img);
	close(img_fd);
}

TestSuite(blk, .init = setup, .fini = teardown);

static void check_image(void)
{
	static uint8_t now[DISK_SIZE];
	cr_assert_eq(pread(img_fd, now, DISK_SIZE, 0), DISK_SIZE);
	for (size_t i = 0; i < DISK_SIZE; i++)
		cr_assert_eq(now[i], expected[i], "image byte %zu is 0x%02x, expected 0x%02x", i,
			     now[i], expected[i]);
}

/* Starts cellvm-blk on the image with extra options, negotiates features
 * (of WANT) and sets up nq queues of qsize entries. */
static void start_with(struct tfe *f, const char *const *extra, unsigned int nq,
		       uint16_t qsize, uint64_t features)
{
	const char *argv[16] = { tfe_bin("device-procs/cellvm-blk"), "--disk", img };
	size_t n = 3;
	for (size_t i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	cr_assert_eq(tfe_start(f, argv, MEM), 0);
	cr_assert_eq(tfe_negotiate(f, features), 0);
	for (unsigned int q = 0; q < nq; q++)
		cr_assert_eq(tfe_setup_queue(f, q, qsize), 0);
}

static void start(struct tfe *f, const char *const *extra, unsigned int nq)
{
	start_with(f, extra, nq, QSIZE, WANT);
}

static void finish_clean(struct tfe *f)
{
	int status = tfe_finish(f);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "backend must exit 0 when the frontend hangs up (status 0x%x)", status);
}

static uint64_t header(struct tfe *f, uint32_t type, uint64_t sector)
{
	uint64_t gpa = tfe_alloc(f, BLK_HDR_SIZE);
	uint8_t *p = tfe_ptr(f, gpa);
	uint32_t t = htole32(type);
	uint64_t s = htole64(sector);
	memcpy(p, &t, 4);
	memcpy(p + 8, &s, 8);
	return gpa;
}

static uint64_t status_buf(struct tfe *f)
{
	uint64_t gpa = tfe_alloc(f, 1);
	*(uint8_t *)tfe_ptr(f, gpa) = 0xee;
	return gpa;
}

/* Posts bufs on queue q and waits for it; returns the used len. */
static uint32_t post_wait(struct tfe *f, unsigned int q, const struct tfe_buf *b,
			  unsigned int n, bool indirect)
{
	int head = tfe_post(f, q, b, n, indirect);
	cr_assert_geq(head, 0);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(f, q, 5000, &id, &len), 0);
	cr_assert_eq(id, (uint32_t)head);
	return len;
}

/* One request: header, optional data (device-writable if data_write), status.
 * Returns the status byte; *len gets the used len. */
static uint8_t request(struct tfe *f, unsigned int q, uint32_t type, uint64_t sector,
		       uint64_t data, uint32_t data_len, bool data_write, uint32_t *len)
{
	uint64_t st = status_buf(f);
	struct tfe_buf b[3] = { { header(f, type, sector), BLK_HDR_SIZE, false } };
	unsigned int n = 1;
	if (data_len)
		b[n++] = (struct tfe_buf){ data, data_len, data_write };
	b[n++] = (struct tfe_buf){ st, 1, true };
	uint32_t l = post_wait(f, q, b, n, false);
	if (len)
		*len = l;
	return *(uint8_t *)tfe_ptr(f, st);
}

static uint8_t blk_write(struct tfe *f, unsigned int q, uint64_t sector, const void *src,
			 uint32_t n)
{
	uint64_t data = tfe_alloc(f, n);
	memcpy(tfe_ptr(f, data), src, n);
	uint32_t len;
	uint8_t s = request(f, q, VIRTIO_BLK_T_OUT, sector, data, n, false, &len);
	cr_assert_eq(len, 1, "a write puts only the status in the guest's buffers");
	return s;
}

/* Reads n bytes at sector into guest memory at data; returns the status. */
static uint8_t blk_read_at(struct tfe *f, unsigned int q, uint64_t sector, uint64_t data,
			   uint32_t n, uint32_t *len)
{
	memset(tfe_ptr(f, data), 0x5a, n);
	return request(f, q, VIRTIO_BLK_T_IN, sector, data, n, true, len);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

Test(blk, write_lands_in_the_image_and_reads_back)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint8_t buf[4096];
	fill(buf, sizeof(buf), 1);
	cr_assert_eq(blk_write(&f, 0, 3, buf, sizeof(buf)), VIRTIO_BLK_S_OK);
	memcpy(expected + 3 * 512, buf, sizeof(buf));
	check_image();

	uint64_t data = tfe_alloc(&f, 8192);
	uint32_t len;
	cr_assert_eq(blk_read_at(&f, 0, 2, data, 8192, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(len, 8192 + 1);
	cr_assert_eq(memcmp(tfe_ptr(&f, data), expected + 1024, 8192), 0);
	finish_clean(&f);
}

Test(blk, read_straddling_the_two_memory_regions)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint64_t data = MEM / 2 - 700;
	uint32_t len;
	cr_assert_eq(blk_read_at(&f, 0, 10, data, 2048, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(len, 2049);
	cr_assert_eq(memcmp(tfe_ptr(&f, data), expected + 10 * 512, 2048), 0);
	finish_clean(&f);
}

Test(blk, many_requests_indirect_with_event_idx_and_disk_fd)
{
	struct tfe f;
	char fdarg[16];
	int fd = dup(img_fd); /* dup clears close-on-exec: the backend inherits it */
	cr_assert_geq(fd, 0);
	snprintf(fdarg, sizeof(fdarg), "%d", fd);
	const char *argv[] = { tfe_bin("device-procs/cellvm-blk"), "--disk-fd", fdarg, NULL };
	cr_assert_eq(tfe_start(&f, argv, MEM), 0);
	close(fd);
	cr_assert_eq(tfe_negotiate(&f, WANT), 0);
	cr_assert_eq(tfe_setup_queue(&f, 0, QSIZE), 0);

	uint64_t st[6];
	for (unsigned int i = 0; i < 6; i++) {
		uint64_t data = tfe_alloc(&f, 1024);
		fill(tfe_ptr(&f, data), 1024, (uint8_t)(i + 10));
		memcpy(expected + (100 + 2 * i) * 512, tfe_ptr(&f, data), 1024);
		st[i] = status_buf(&f);
		/* Data split over two descriptors. */
		struct tfe_buf b[4] = { { header(&f, VIRTIO_BLK_T_OUT, 100 + 2 * i), 16, false },
					{ data, 300, false },
					{ data + 300, 724, false },
					{ st[i], 1, true } };
		cr_assert_geq(tfe_post(&f, 0, b, 4, i % 2), 0);
	}
	for (unsigned int i = 0; i < 6; i++) {
		uint32_t id, len;
		cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
		cr_assert_eq(len, 1);
	}
	for (unsigned int i = 0; i < 6; i++)
		cr_assert_eq(*(uint8_t *)tfe_ptr(&f, st[i]), VIRTIO_BLK_S_OK);
	check_image();
	finish_clean(&f);
}

Test(blk, flush_and_writethrough_mode)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint32_t len;
	cr_assert_eq(request(&f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(len, 1);

	uint8_t wb;
	cr_assert_eq(tfe_get_config(&f, BLK_CONFIG_WRITEBACK, &wb, 1), 0);
	cr_assert_eq(wb, 1, "writeback by default with FLUSH negotiated");
	struct vhu_msg m = { .request = VHU_SET_CONFIG, .kind = VHU_P_CONFIG,
			     .u.config = { .offset = BLK_CONFIG_WRITEBACK, .size = 1 } };
	cr_assert_eq(tfe_call(&f, &m, NULL, 0, NULL), 0);
	cr_assert_eq(tfe_get_config(&f, BLK_CONFIG_WRITEBACK, &wb, 1), 0);
	cr_assert_eq(wb, 0);

	uint8_t buf[512];
	fill(buf, sizeof(buf), 3);
	cr_assert_eq(blk_write(&f, 0, 0, buf, sizeof(buf)), VIRTIO_BLK_S_OK);
	memcpy(expected, buf, sizeof(buf));
	check_image();

	/* Every other config byte is read-only. */
	m.u.config = (struct vhu_config){ .offset = 0, .size = 8 };
	cr_assert_eq(tfe_call(&f, &m, NULL, 0, NULL), -EIO);
	m.u.config = (struct vhu_config){ .offset = BLK_CONFIG_WRITEBACK, .size = 1,
					  .data = { 7 } };
	cr_assert_eq(tfe_call(&f, &m, NULL, 0, NULL), -EIO);
	uint64_t cap;
	cr_assert_eq(tfe_get_config(&f, 0, &cap, 8), 0);
	cr_assert_eq(le64toh(cap), SECTORS);
	finish_clean(&f);
}

/* A DISCARD or WRITE_ZEROES request of n segments {sector, count, flags}. */
static uint8_t dwz(struct tfe *f, uint32_t type, const uint64_t (*segs)[3], unsigned int n)
{
	uint64_t gpa = tfe_alloc(f, 16ull * n);
	uint8_t *p = tfe_ptr(f, gpa);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t s = htole64(segs[i][0]);
		uint32_t c = htole32((uint32_t)segs[i][1]), fl = htole32((uint32_t)segs[i][2]);
		memcpy(p + 16 * i, &s, 8);
		memcpy(p + 16 * i + 8, &c, 4);
		memcpy(p + 16 * i + 12, &fl, 4);
	}
	uint32_t len;
	uint8_t s = request(f, 0, type, 0, gpa, 16 * n, false, &len);
	cr_assert_eq(len, 1);
	return s;
}

static void expect_zero(uint64_t sector, uint64_t count)
{
	memset(expected + sector * 512, 0, count * 512);
}

Test(blk, discard_and_write_zeroes)
{
	struct tfe f;
	start(&f, NULL, 1);
	const uint64_t d1[][3] = { { 16, 16, 0 }, { 3, 5, 0 } };
	cr_assert_eq(dwz(&f, VIRTIO_BLK_T_DISCARD, d1, 2), VIRTIO_BLK_S_OK);
	expect_zero(16, 16);
	expect_zero(3, 5);
	check_image();

	const uint64_t z[][3] = { { 40, 10, 0 },
				  { 100, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP },
				  { SECTORS - 1, 1, 0 } };
	cr_assert_eq(dwz(&f, VIRTIO_BLK_T_WRITE_ZEROES, z, 3), VIRTIO_BLK_S_OK);
	expect_zero(40, 10);
	expect_zero(100, 8);
	expect_zero(SECTORS - 1, 1);
	check_image();

	/* Reads see the zeros too. */
	uint64_t data = tfe_alloc(&f, 4096);
	cr_assert_eq(blk_read_at(&f, 0, 38, data, 4096, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(memcmp(tfe_ptr(&f, data), expected + 38 * 512, 4096), 0);

	/* Refused whole: a bad flag, unmap on a discard, a segment past the end. */
	const uint64_t bad_flag[][3] = { { 200, 1, 0 }, { 201, 1, 2 } };
	cr_assert_eq(dwz(&f, VIRTIO_BLK_T_WRITE_ZEROES, bad_flag, 2), VIRTIO_BLK_S_UNSUPP);
	const uint64_t unmap[][3] = { { 200, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP } };
	cr_assert_eq(dwz(&f, VIRTIO_BLK_T_DISCARD, unmap, 1), VIRTIO_BLK_S_UNSUPP);
	const uint64_t past[][3] = { { 200, 1, 0 }, { SECTORS - 1, 2, 0 } };
	cr_assert_eq(dwz(&f, VIRTIO_BLK_T_WRITE_ZEROES, past, 2), VIRTIO_BLK_S_IOERR);
	const uint64_t wrap[][3] = { { UINT64_MAX, 2, 0 } };
	cr_assert_eq(dwz(&f, VIRTIO_BLK_T_DISCARD, wrap, 1), VIRTIO_BLK_S_IOERR);
	check_image();
	finish_clean(&f);
}

Test(blk, get_id_returns_the_serial)
{
	struct tfe f;
	const char *extra[] = { "--serial", "cellvm-serial-1", NULL };
	start(&f, extra, 1);
	uint64_t id = tfe_alloc(&f, BLK_ID_BYTES);
	memset(tfe_ptr(&f, id), 0xff, BLK_ID_BYTES);
	uint32_t len;
	cr_assert_eq(request(&f, 0, VIRTIO_BLK_T_GET_ID, 0, id, BLK_ID_BYTES, true, &len),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(len, BLK_ID_BYTES + 1);
	cr_assert_eq(memcmp(tfe_ptr(&f, id), "cellvm-serial-1\0\0\0\0\0", BLK_ID_BYTES), 0);
	finish_clean(&f);
}

/* The open flags of pid's fd for path, or -1. */
static int open_flags(pid_t pid, const char *path)
{
	char dir[64], link[4096], name[320];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	int flags = -1;
	struct dirent *e;
	while ((e = readdir(d)) && flags < 0) {
		snprintf(name, sizeof(name), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(name, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, path))
			continue;
		snprintf(name, sizeof(name), "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
		FILE *fi = fopen(name, "r");
		cr_assert_not_null(fi);
		char line[256];
		while (fgets(line, sizeof(line), fi))
			if (sscanf(line, "flags: %o", (unsigned int *)&flags) == 1)
				break;
		fclose(fi);
	}
	closedir(d);
	return flags;
}

Test(blk, read_only_refuses_writes)
{
	struct tfe f;
	/* Unconfined, so the test can read the backend's fds in /proc (a
	 * confined one is the child of its reaper, in its own mount namespace). */
	const char *extra[] = { "--read-only", "--sandbox", "off", NULL };
	start(&f, extra, 1);
	cr_assert(f.features & BIT_ULL(VIRTIO_BLK_F_RO));
	cr_assert_not(f.features &
		      (BIT_ULL(VIRTIO_BLK_F_DISCARD) | BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES)));
	int flags = open_flags(f.pid, img);
	cr_assert_neq(flags, -1, "the backend holds the image open");
	cr_assert_eq(flags & O_ACCMODE, O_RDONLY, "opened read-only, flags 0%o", flags);

	uint8_t buf[1024];
	fill(buf, sizeof(buf), 9);
	cr_assert_eq(blk_write(&f, 0, 0, buf, sizeof(buf)), VIRTIO_BLK_S_IOERR);
	const uint64_t seg[][3] = { { 0, 8, 0 } };
	cr_assert_eq(dwz(&f, VIRTIO_BLK_T_DISCARD, seg, 1), VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(dwz(&f, VIRTIO_BLK_T_WRITE_ZEROES, seg, 1), VIRTIO_BLK_S_UNSUPP);
	check_image();
	uint64_t data = tfe_alloc(&f, 512);
	cr_assert_eq(blk_read_at(&f, 0, 0, data, 512, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(memcmp(tfe_ptr(&f, data), expected, 512), 0);
	finish_clean(&f);
}

Test(blk, past_the_end_and_unknown_types)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint64_t data = tfe_alloc(&f, 1024);
	uint32_t len;
	cr_assert_eq(blk_read_at(&f, 0, SECTORS - 1, data, 512, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(len, 513, "exactly at the end");
	cr_assert_eq(blk_read_at(&f, 0, SECTORS - 1, data, 1024, &len), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(len, 1);
	cr_assert_eq(blk_read_at(&f, 0, SECTORS, data, 512, &len), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(blk_read_at(&f, 0, UINT64_MAX, data, 512, &len), VIRTIO_BLK_S_IOERR);
	uint8_t buf[1024] = { 0 };
	cr_assert_eq(blk_write(&f, 0, SECTORS - 1, buf, 1024), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(blk_write(&f, 0, (UINT64_MAX >> 9) + 1, buf, 1024), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(blk_write(&f, 0, 0, buf, 100), VIRTIO_BLK_S_IOERR, "not whole sectors");
	check_image();

	cr_assert_eq(request(&f, 0, 99, 0, 0, 0, false, &len), VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(len, 1);
	cr_assert_eq(request(&f, 0, VIRTIO_BLK_T_GET_ID + 1, 0, data, 20, true, &len),
		     VIRTIO_BLK_S_UNSUPP);
	finish_clean(&f);
}

Test(blk, config_space)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint8_t cfg[BLK_CONFIG_SIZE];
	cr_assert_eq(tfe_get_config(&f, 0, cfg, sizeof(cfg)), 0);
	uint64_t cap;
	uint32_t blk_size;
	memcpy(&cap, cfg, 8);
	memcpy(&blk_size, cfg + 20, 4);
	cr_assert_eq(le64toh(cap), SECTORS);
	cr_assert_eq(le32toh(blk_size), 512);
	cr_assert_eq(cfg[34] | cfg[35] << 8, 1, "num_queues");
	uint8_t b[4];
	cr_assert_eq(tfe_get_config(&f, BLK_CONFIG_SIZE - 1, b, 2), -EIO, "past the end");
	cr_assert(tfe_alive(&f));
	finish_clean(&f);
}

Test(blk, two_queues)
{
	struct tfe f;
	const char *extra[] = { "--num-queues", "2", NULL };
	start(&f, extra, 2);
	cr_assert(f.features & BIT_ULL(VIRTIO_BLK_F_MQ));
	uint8_t nq[2];
	cr_assert_eq(tfe_get_config(&f, 34, nq, 2), 0);
	cr_assert_eq(nq[0], 2);
	uint8_t buf[2048];
	fill(buf, sizeof(buf), 77);
	cr_assert_eq(blk_write(&f, 1, 50, buf, sizeof(buf)), VIRTIO_BLK_S_OK);
	memcpy(expected + 50 * 512, buf, sizeof(buf));
	uint64_t data = tfe_alloc(&f, 2048);
	cr_assert_eq(blk_read_at(&f, 0, 50, data, 2048, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(memcmp(tfe_ptr(&f, data), buf, sizeof(buf)), 0);
	check_image();
	finish_clean(&f);
}

Test(blk, refuses_bad_options)
{
	const char *bin = tfe_bin("device-procs/cellvm-blk");
	const char *const cases[][6] = {
		{ bin, NULL },
		{ bin, "--disk", img, "--disk-fd", "0", NULL },
		{ bin, "--disk", "/tmp", NULL },
		{ bin, "--disk", "/nonexistent/image", NULL },
		{ bin, "--disk", img, "--serial", "123456789012345678901", NULL },
		{ bin, "--disk", img, "--num-queues", "17", NULL },
		{ bin, "--disk", img, "--poll-us", "1001", NULL },
		{ bin, "--disk", img, "--poll-us", "-1", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tfe f;
		cr_assert_eq(tfe_start(&f, cases[i], MEM), 0);
		int status = tfe_finish(&f);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "case %zu: 0x%x", i,
			  status);
	}
}

Test(blk, print_capabilities)
{
	char out[256];
	cr_assert_eq(tfe_capabilities("device-procs/cellvm-blk", out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "\"type\": \"block\""), "got: %s", out);
	cr_assert_not_null(strstr(out, "\"read-only\""), "got: %s", out);
}

/* ------------------------------------------------------------ hostile guest */

/* Writes descriptor i of queue 0. */
static void desc(struct tfe *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	*tfe_desc(f, 0, i) = (struct virtq_desc){ addr, len, flags, next };
}

/* The ring is broken: the backend says so, lives on, answers nothing more on
 * that ring, and has touched nothing on the disk. */
static void expect_broken(struct tfe *f)
{
	cr_assert(tfe_wait_err(f, 0, 3000), "the backend must signal the err eventfd");
	cr_assert(tfe_alive(f));
	uint8_t cfg[8];
	cr_assert_eq(tfe_get_config(f, 0, cfg, 8), 0, "still serving its socket");
	check_image();
	finish_clean(f);
}

Test(blk, hostile_descriptor_loop)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint64_t hdr = header(&f, VIRTIO_BLK_T_OUT, 0), data = tfe_alloc(&f, 512);
	desc(&f, 0, hdr, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(&f, 1, data, 512, VIRTQ_DESC_F_NEXT, 0);
	tfe_avail_publish(&f, 0, 0, 1);
	expect_broken(&f);
}

Test(blk, hostile_address_outside_memory)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint64_t st = status_buf(&f);
	desc(&f, 0, MEM + 4096, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(&f, 1, st, 1, VIRTQ_DESC_F_WRITE, 0);
	tfe_avail_publish(&f, 0, 0, 1);
	expect_broken(&f);
}

Test(blk, hostile_address_wraps)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint64_t st = status_buf(&f);
	desc(&f, 0, header(&f, VIRTIO_BLK_T_IN, 0), 16, VIRTQ_DESC_F_NEXT, 1);
	desc(&f, 1, UINT64_MAX - 255, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	desc(&f, 2, st, 1, VIRTQ_DESC_F_WRITE, 0);
	tfe_avail_publish(&f, 0, 0, 1);
	expect_broken(&f);
}

Test(blk, hostile_length_past_memory)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint64_t st = status_buf(&f);
	desc(&f, 0, header(&f, VIRTIO_BLK_T_OUT, 0), UINT32_MAX, VIRTQ_DESC_F_NEXT, 1);
	desc(&f, 1, st, 1, VIRTQ_DESC_F_WRITE, 0);
	tfe_avail_publish(&f, 0, 0, 1);
	expect_broken(&f);
}

Test(blk, hostile_avail_index_far_ahead)
{
	struct tfe f;
	start(&f, NULL, 1);
	tfe_avail_publish(&f, 0, 0, 1000);
	expect_broken(&f);
}

Test(blk, hostile_head_out_of_range)
{
	struct tfe f;
	start(&f, NULL, 1);
	tfe_avail_publish(&f, 0, QSIZE + 3, 1);
	expect_broken(&f);
}

Test(blk, broken_ring_answers_nothing_more)
{
	struct tfe f;
	start(&f, NULL, 1);
	tfe_avail_publish(&f, 0, 0, 1000);
	cr_assert(tfe_wait_err(&f, 0, 3000));
	struct tfe_buf b[2] = { { header(&f, VIRTIO_BLK_T_FLUSH, 0), 16, false },
				{ status_buf(&f), 1, true } };
	cr_assert_geq(tfe_post(&f, 0, b, 2, false), 0);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 0, 300, &id, &len), -ETIMEDOUT);
	cr_assert(tfe_alive(&f));
	finish_clean(&f);
}

Test(blk, header_split_across_descriptors_works)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint64_t hdr = header(&f, VIRTIO_BLK_T_OUT, 7), data = tfe_alloc(&f, 512);
	uint64_t st = status_buf(&f);
	fill(tfe_ptr(&f, data), 512, 42);
	struct tfe_buf b[5] = { { hdr, 5, false }, { hdr + 5, 7, false }, { hdr + 12, 4, false },
				{ data, 512, false }, { st, 1, true } };
	cr_assert_eq(post_wait(&f, 0, b, 5, false), 1);
	cr_assert_eq(*(uint8_t *)tfe_ptr(&f, st), VIRTIO_BLK_S_OK);
	memcpy(expected + 7 * 512, tfe_ptr(&f, data), 512);
	check_image();

	/* Header and the start of the data in one descriptor, status at the
	 * end of a longer writable one. */
	uint64_t in = tfe_alloc(&f, 16 + 1024 + 1);
	memcpy(tfe_ptr(&f, in), tfe_ptr(&f, header(&f, VIRTIO_BLK_T_IN, 7)), 16);
	struct tfe_buf r[2] = { { in, 16, false }, { in + 16, 1025, true } };
	cr_assert_eq(post_wait(&f, 0, r, 2, false), 1025);
	cr_assert_eq(*(uint8_t *)tfe_ptr(&f, in + 16 + 1024), VIRTIO_BLK_S_OK);
	cr_assert_eq(memcmp(tfe_ptr(&f, in + 16), expected + 7 * 512, 1024), 0);
	finish_clean(&f);
}

Test(blk, status_in_a_readable_descriptor_gets_no_answer)
{
	struct tfe f;
	start(&f, NULL, 1);
	uint64_t data = tfe_alloc(&f, 512), st = status_buf(&f);
	memset(tfe_ptr(&f, data), 0xaa, 512);
	struct tfe_buf b[3] = { { header(&f, VIRTIO_BLK_T_OUT, 0), 16, false },
				{ data, 512, false },
				{ st, 1, false } };
	cr_assert_eq(post_wait(&f, 0, b, 3, false), 0, "nothing written: used len 0");
	cr_assert_eq(*(uint8_t *)tfe_ptr(&f, st), 0xee, "a readable buffer is never written");
	check_image();

	/* A read whose data is device-readable: refused, nothing read. */
	uint64_t st2 = status_buf(&f);
	struct tfe_buf r[3] = { { header(&f, VIRTIO_BLK_T_IN, 0), 16, false },
				{ data, 512, false },
				{ st2, 1, true } };
	cr_assert_eq(post_wait(&f, 0, r, 3, false), 1);
	cr_assert_eq(*(uint8_t *)tfe_ptr(&f, st2), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(*(uint8_t *)tfe_ptr(&f, data), 0xaa);

	/* No header at all. */
	struct tfe_buf s[1] = { { st2, 1, true } };
	cr_assert_eq(post_wait(&f, 0, s, 1, false), 1);
	cr_assert_eq(*(uint8_t *)tfe_ptr(&f, st2), VIRTIO_BLK_S_IOERR);
	cr_assert(tfe_alive(&f));
	finish_clean(&f);
}

/* ------------------------------------------------------------ io_uring */

#define DEEP 32

/* One 4 KiB request of a burst: where it goes, its buffers, its head. */
struct burst_req {
	unsigned int q;
	uint64_t sector;
	uint64_t data, st;
	int head;
	bool seen;
};

/* Posts the n requests of r (writes of a fresh pattern, or reads) without
 * waiting in between, then takes each of the nq queues' answers in
 * whatever order they come, checks each against the request it answers,
 * and that nothing more comes. */
static void burst(struct tfe *f, struct burst_req *r, unsigned int n, unsigned int nq, bool in)
{
	unsigned int posted[TFE_MAX_QUEUES] = { 0 };
	for (unsigned int i = 0; i < n; i++) {
		r[i].data = tfe_alloc(f, 4096);
		if (in) {
			memset(tfe_ptr(f, r[i].data), 0x5a, 4096);
		} else {
			fill(tfe_ptr(f, r[i].data), 4096, (uint8_t)(i * 3));
			memcpy(expected + r[i].sector * 512, tfe_ptr(f, r[i].data), 4096);
		}
		r[i].st = status_buf(f);
		r[i].seen = false;
		struct tfe_buf b[3] = {
			{ header(f, in ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, r[i].sector), 16, false },
			{ r[i].data, 4096, in },
			{ r[i].st, 1, true } };
		r[i].head = tfe_post(f, r[i].q, b, 3, false);
		cr_assert_geq(r[i].head, 0);
		posted[r[i].q]++;
	}
	for (unsigned int q = 0; q < nq; q++) {
		uint32_t id, len;
		for (unsigned int k = 0; k < posted[q]; k++) {
			cr_assert_eq(tfe_wait_used(f, q, 5000, &id, &len), 0, "queue %u answer %u", q, k);
			unsigned int i = 0;
			while (i < n && (r[i].q != q || (uint32_t)r[i].head != id))
				i++;
			cr_assert_lt(i, n, "queue %u: head %u was not posted there", q, id);
			cr_assert_not(r[i].seen, "queue %u: head %u answered twice", q, id);
			r[i].seen = true;
			cr_assert_eq(len, in ? 4097 : 1);
			cr_assert_eq(*(uint8_t *)tfe_ptr(f, r[i].st), VIRTIO_BLK_S_OK,
				     "request %u: status %u", i, *(uint8_t *)tfe_ptr(f, r[i].st));
			if (in)
				cr_assert_eq(memcmp(tfe_ptr(f, r[i].data),
						    expected + r[i].sector * 512, 4096), 0,
					     "request %u read the wrong bytes", i);
		}
		cr_assert_eq(tfe_wait_used(f, q, 100, &id, &len), -ETIMEDOUT,
			     "queue %u: nothing more", q);
	}
	check_image();
}

/* Posts DEEP writes of 4 KiB (then reads them back) without waiting in
 * between, and takes the answers in whatever order they come. */
Test(blk, many_requests_in_flight_complete_in_any_order)
{
	struct tfe f;
	/* Three descriptors a request, none reused while in flight. */
	start_with(&f, NULL, 1, 4 * DEEP, WANT);
	struct burst_req r[DEEP];
	for (int round = 0; round < 2; round++) {
		for (unsigned int i = 0; i < DEEP; i++)
			r[i] = (struct burst_req){ .q = 0, .sector = 8 * (DEEP - 1 - i) + 256 };
		burst(&f, r, DEEP, 1, round == 1);
	}
	finish_clean(&f);
}

/* --num-queues 4: requests in flight on every queue at once, each queue
 * (with its own io_uring) answering on its own ring; what one queue wrote,
 * the next one reads back. Again with the longest --poll-us, where a
 * polling queue takes its completions itself while the others wait. */
Test(blk, four_queues_with_requests_in_flight_on_each)
{
	const char *const extras[][5] = { { "--num-queues", "4", NULL },
					  { "--num-queues", "4", "--poll-us", "1000", NULL } };
	for (unsigned int e = 0; e < 2; e++) {
		struct tfe f;
		/* DEEP / 4 requests of three descriptors a queue. */
		start_with(&f, extras[e], 4, 32, WANT);
		uint8_t nq[2];
		cr_assert_eq(tfe_get_config(&f, 34, nq, 2), 0);
		cr_assert_eq(nq[0] | nq[1] << 8, 4);
		struct burst_req r[DEEP];
		for (int round = 0; round < 2; round++) {
			for (unsigned int i = 0; i < DEEP; i++)
				r[i] = (struct burst_req){ .q = (i + (unsigned int)round) % 4,
							   .sector = 8 * (uint64_t)i + 512 };
			burst(&f, r, DEEP, 4, round == 1);
		}
		finish_clean(&f);
	}
}

/* GET_VRING_BASE right after a burst: every request is answered before the
 * reply, so the base the frontend gets loses none. */
Test(blk, stopping_a_ring_answers_what_is_in_flight)
{
	struct tfe f;
	start(&f, NULL, 1);
	for (unsigned int i = 0; i < QSIZE / 2; i++) {
		uint64_t data = tfe_alloc(&f, 8192);
		fill(tfe_ptr(&f, data), 8192, (uint8_t)(i + 40));
		memcpy(expected + (200 + 16 * i) * 512, tfe_ptr(&f, data), 8192);
		struct tfe_buf b[3] = { { header(&f, VIRTIO_BLK_T_OUT, 200 + 16 * i), 16, false },
					{ data, 8192, false },
					{ status_buf(&f), 1, true } };
		cr_assert_geq(tfe_post(&f, 0, b, 3, false), 0);
	}
	uint16_t base;
	cr_assert_eq(tfe_stop_queue(&f, 0, &base), 0);
	struct virtq_used *used = tfe_ptr(&f, f.q[0].used_gpa);
	cr_assert_eq(used->idx, base, "all %u taken answered before the reply", base);
	for (uint16_t i = 0; i < base; i++) {
		uint32_t id, len;
		cr_assert_eq(tfe_wait_used(&f, 0, 0, &id, &len), 0);
		cr_assert_eq(len, 1);
	}
	finish_clean(&f);
}

/* Sends a test-hook escape of kind to the backend and returns what it said
 * in its log (stderr, the file log_fd): the CQE's result. */
static int ring_escape(struct tfe *f, int log_fd, unsigned int kind)
{
	uint32_t hdr[3] = { TEST_HOOK_ESCAPE + kind, VHU_VERSION, 0 };
	cr_assert_eq(msg_send(f->sock, hdr, sizeof(hdr), NULL, 0, NULL, 0), 0);
	uint8_t cfg[8];
	cr_assert_eq(tfe_get_config(f, 0, cfg, 8), 0, "the hook ran before this reply");
	char log[16384], want[64];
	ssize_t n = pread(log_fd, log, sizeof(log) - 1, 0);
	cr_assert_gt(n, 0);
	log[n] = '\0';
	snprintf(want, sizeof(want), "test hook: escape %u returned ", kind);
	const char *p = strstr(log, want);
	cr_assert_not_null(p, "no result for escape %u in: %s", kind, log);
	return atoi(p + strlen(want));
}

/* Starts the hooks build of cellvm-blk, confined, on the image with one
 * queue of qsize entries, under refuse (refuse-syscall's SYSCALL=ERRNO
 * list) unless NULL; its log (stderr) goes to a file, whose fd it returns. */
static int start_hooked_refusing(struct tfe *f, uint16_t qsize, const char *refuse)
{
	char logpath[] = "/tmp/cellvm-blk-log-XXXXXX";
	int log_fd = mkstemp(logpath);
	cr_assert_geq(log_fd, 0);
	unlink(logpath);
	int saved = dup(2);
	cr_assert_geq(saved, 0);
	cr_assert_eq(dup2(log_fd, 2), 2);
	/* tfe_bin's answer lasts until its next call. */
	char wrapper[4096], blk[4096];
	snprintf(wrapper, sizeof(wrapper), "%s", tfe_bin("tests/integration/refuse-syscall"));
	snprintf(blk, sizeof(blk), "%s", tfe_bin("tests/hooks/cellvm-blk"));
	const char *argv[] = { wrapper, refuse, blk, "--disk", img, "--sandbox", "on", NULL };
	int err = tfe_start(f, refuse ? argv : argv + 2, MEM);
	dup2(saved, 2);
	close(saved);
	cr_assert_eq(err, 0);
	cr_assert_eq(tfe_negotiate(f, WANT), 0);
	cr_assert_eq(tfe_setup_queue(f, 0, qsize), 0);
	return log_fd;
}

static int start_hooked(struct tfe *f, uint16_t qsize)
{
	return start_hooked_refusing(f, qsize, NULL);
}

/* A confined cellvm-blk that its guest took over has its rings: they read
 * and write the disk and do nothing else, whatever it submits. */
Test(blk, a_confined_ring_refuses_every_other_operation)
{
	/* An image in memory would have no ring to test. */
	if (image_in_memory())
		move_image("/var/tmp");
	if (image_in_memory())
		cr_skip_test("no directory on storage for the image (/tmp, /var/tmp)");
	struct tfe f;
	int log_fd = start_hooked(&f, QSIZE);

	cr_assert_eq(ring_escape(&f, log_fd, TEST_ESCAPE_URING_READ), 512,
		     "the disk as fixed file: allowed");
	cr_assert_eq(ring_escape(&f, log_fd, TEST_ESCAPE_URING_OPENAT), -EACCES);
	cr_assert_eq(ring_escape(&f, log_fd, TEST_ESCAPE_URING_CONNECT), -EACCES);
	cr_assert_eq(ring_escape(&f, log_fd, TEST_ESCAPE_URING_UNFIXED), -EACCES);
	/* And the device still serves. */
	uint64_t data = tfe_alloc(&f, 512);
	cr_assert_eq(blk_read_at(&f, 0, 1, data, 512, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(memcmp(tfe_ptr(&f, data), expected + 512, 512), 0);
	finish_clean(&f);
	close(log_fd);
}

/* What a synchronously served image must still do: bursts of writes and
 * reads in flight, flushes, and writes in writethrough mode all land and
 * read back. */
static void check_synchronous_io(struct tfe *f)
{
	struct burst_req r[DEEP];
	for (int round = 0; round < 2; round++) {
		for (unsigned int i = 0; i < DEEP; i++)
			r[i] = (struct burst_req){ .q = 0, .sector = 8 * i + 8 };
		burst(f, r, DEEP, 1, round == 1);
	}
	uint32_t len;
	cr_assert_eq(request(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(len, 1);
	struct vhu_msg m = { .request = VHU_SET_CONFIG, .kind = VHU_P_CONFIG,
			     .u.config = { .offset = BLK_CONFIG_WRITEBACK, .size = 1 } };
	cr_assert_eq(tfe_call(f, &m, NULL, 0, NULL), 0, "writethrough");
	uint8_t buf[1536];
	fill(buf, sizeof(buf), 5);
	cr_assert_eq(blk_write(f, 0, 1, buf, sizeof(buf)), VIRTIO_BLK_S_OK);
	memcpy(expected + 512, buf, sizeof(buf));
	cr_assert_eq(request(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len), VIRTIO_BLK_S_OK);
	check_image();
}

/* An image in memory (tmpfs) is served synchronously: the confined device
 * has no ring at all (a read submitted through one would return 512). */
Test(blk, an_image_in_memory_is_served_without_io_uring)
{
	move_image("/dev/shm");
	if (!image_in_memory())
		cr_skip_test("/dev/shm is not tmpfs here");
	struct tfe f;
	int log_fd = start_hooked(&f, 4 * DEEP);
	cr_assert_eq(ring_escape(&f, log_fd, TEST_ESCAPE_URING_READ), -ENXIO, "no ring");
	check_synchronous_io(&f);
	finish_clean(&f);
	close(log_fd);
}

/* A host that refuses io_uring (Docker's default seccomp profile fails
 * io_uring_setup with EPERM) still gets its disk, synchronously, with a
 * warning that says why. */
Test(blk, a_host_that_refuses_io_uring_gets_synchronous_io)
{
	if (image_in_memory())
		move_image("/var/tmp");
	if (image_in_memory())
		cr_skip_test("no directory on storage for the image (/tmp, /var/tmp)");
	struct tfe f;
	int log_fd = start_hooked_refusing(&f, 4 * DEEP, "io_uring_setup=1");
	cr_assert_eq(ring_escape(&f, log_fd, TEST_ESCAPE_URING_READ), -ENXIO, "no ring");
	check_synchronous_io(&f);
	finish_clean(&f);
	char log[16384];
	ssize_t n = pread(log_fd, log, sizeof(log) - 1, 0);
	cr_assert_gt(n, 0);
	log[n] = '\0';
	cr_assert_not_null(strstr(log, "io_uring is refused here"), "log: %s", log);
	close(log_fd);
}

/* --direct: aligned guest buffers go straight to O_DIRECT I/O, unaligned
 * ones (a buffer off by 16 bytes, data split at an odd length) through a
 * bounce buffer; both land, read back, and flush. */
Test(blk, direct_with_aligned_and_unaligned_buffers)
{
	struct tfe f;
	const char *extra[] = { "--direct", NULL };
	start(&f, extra, 1);
	uint64_t raw = tfe_alloc(&f, 3 * 4096);
	uint64_t al = (raw + 4095) & ~4095ull, odd = raw + 16;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t data = pass ? odd : al, sector = pass ? 64 : 32;
		fill(tfe_ptr(&f, data), 4096, (uint8_t)(pass + 90));
		memcpy(expected + sector * 512, tfe_ptr(&f, data), 4096);
		uint64_t st = status_buf(&f);
		struct tfe_buf b[4] = { { header(&f, VIRTIO_BLK_T_OUT, sector), 16, false },
					{ data, 1000, false },
					{ data + 1000, 3096, false },
					{ st, 1, true } };
		/* Aligned: one descriptor of 4096. */
		if (!pass) {
			b[1].len = 4096;
			b[2] = b[3];
		}
		cr_assert_eq(post_wait(&f, 0, b, pass ? 4 : 3, false), 1);
		cr_assert_eq(*(uint8_t *)tfe_ptr(&f, st), VIRTIO_BLK_S_OK, "pass %d", pass);
		check_image();
		uint32_t len;
		cr_assert_eq(blk_read_at(&f, 0, sector, data, 4096, &len), VIRTIO_BLK_S_OK);
		cr_assert_eq(len, 4097);
		cr_assert_eq(memcmp(tfe_ptr(&f, data), expected + sector * 512, 4096), 0);
	}
	uint32_t len;
	cr_assert_eq(request(&f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len), VIRTIO_BLK_S_OK);
	finish_clean(&f);
}

/* ------------------------------------------------------------ --poll-us */

/* A read of 4 KiB at sector 8 on queue 0, its buffers made once. */
struct poll_read {
	uint64_t hdr, data, st;
};

/* Posts the read without a kick, kicks only if the device asks for one
 * (tfe_kick_needed: whether it is asleep on the kick or still polling), and
 * spins on the used ring for the answer: no sleep, so the next read follows
 * it at once. Returns whether it kicked. */
static bool read_asking(struct tfe *f, const struct poll_read *p)
{
	memset(tfe_ptr(f, p->data), 0x5a, 4096);
	*(uint8_t *)tfe_ptr(f, p->st) = 0xee;
	struct tfe_buf b[3] = { { p->hdr, 16, false }, { p->data, 4096, true }, { p->st, 1, true } };
	int head = tfe_post_nokick(f, 0, b, 3, false);
	cr_assert_geq(head, 0);
	bool kicked = tfe_kick_needed(f, 0);
	if (kicked)
		tfe_kick(f, 0);
	uint32_t id, len;
	int err;
	for (int spins = 0; (err = tfe_wait_used(f, 0, 0, &id, &len)) == -ETIMEDOUT; spins++)
		cr_assert_lt(spins, 50 * 1000 * 1000, "no answer (%s)",
			     kicked ? "kicked" : "the device said it needs no kick");
	cr_assert_eq(id, (uint32_t)head);
	cr_assert_eq(len, 4097);
	cr_assert_eq(*(uint8_t *)tfe_ptr(f, p->st), VIRTIO_BLK_S_OK);
	cr_assert_eq(memcmp(tfe_ptr(f, p->data), expected + 8 * 512, 4096), 0);
	return kicked;
}

/* --poll-us 200: right after an answer the device is still polling, tells
 * the driver so (no kick wanted) and takes what it posts without a kick;
 * with EVENT_IDX (avail_event) and without (NO_NOTIFY). A driver that was
 * told no kick is needed and gets no answer fails the test, whatever the
 * timing; how often the reads land inside the window depends on the
 * machine, so once is enough. */
Test(blk, poll_takes_requests_without_a_kick)
{
	for (int event_idx = 0; event_idx < 2; event_idx++) {
		struct tfe f;
		const char *extra[] = { "--poll-us", "200", NULL };
		start_with(&f, extra, 1, QSIZE,
			   event_idx ? WANT : WANT & ~BIT_ULL(VIRTIO_F_EVENT_IDX));
		cr_assert_eq(!!(f.features & BIT_ULL(VIRTIO_F_EVENT_IDX)), event_idx);
		struct poll_read p = { header(&f, VIRTIO_BLK_T_IN, 8), tfe_alloc(&f, 4096),
				       status_buf(&f) };
		cr_assert(read_asking(&f, &p), "an idle device sleeps on the kick");
		/* Both spinning need both CPUs at once: on a busy machine that can
		 * take thousands of reads, hence seconds rather than a count. */
		unsigned int unkicked = 0, tries = 0;
		for (time_t end = time(NULL) + 20; unkicked < 20 && time(NULL) < end; tries++)
			unkicked += !read_asking(&f, &p);
		cr_assert_geq(unkicked, 1, "none of %u reads taken without a kick", tries);
		cr_log_info("event_idx %d: %u of %u reads without a kick", event_idx, unkicked,
			    tries);
		finish_clean(&f);
	}
}

/* Without --poll-us the device sleeps on the kick as soon as it has
 * answered: a read posted right after, without a kick, waits for one. */
Test(blk, without_poll_an_unkicked_request_waits_for_its_kick)
{
	struct tfe f;
	start(&f, NULL, 1);
	struct poll_read p = { header(&f, VIRTIO_BLK_T_IN, 8), tfe_alloc(&f, 4096),
			       status_buf(&f) };
	for (int i = 0; i < 20; i++)
		cr_assert(read_asking(&f, &p), "read %d: the device wants every kick", i);
	struct tfe_buf b[3] = { { p.hdr, 16, false }, { p.data, 4096, true }, { p.st, 1, true } };
	int head = tfe_post_nokick(&f, 0, b, 3, false);
	cr_assert_geq(head, 0);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 0, 300, &id, &len), -ETIMEDOUT, "not without its kick");
	tfe_kick(&f, 0);
	cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
	cr_assert_eq(id, (uint32_t)head);
	finish_clean(&f);
}
