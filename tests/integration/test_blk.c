/* cellvm-blk's requests, options and hostile rings, driven by the test
 * frontend across a process boundary (the fixture: blk_fixture.h); its data
 * paths (requests in flight, io_uring, --direct, --poll-us) are test_blk_io's. */
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

#include "blk_fixture.h"
#include "blk_req.h"
#include "bytes.h"
#include "msg.h"
#include "test_hooks.h"
#include "tfe.h"

TestSuite(blk, .init = setup, .fini = teardown);

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
		{ bin, "--disk", img, "--rate-limit", "bandwidth.size=1048576", NULL },
		{ bin, "--disk", img, "--rate-limit", "ops.size=1,ops.refill_time=86400001", NULL },
		{ bin, "--disk", img, "--rate-limit", "", NULL },
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
