#include "blk_fixture.h"

#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

char img[64];
int img_fd = -1;
uint8_t expected[DISK_SIZE];

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

void setup(void)
{
	for (size_t i = 0; i < DISK_SIZE; i++)
		expected[i] = (uint8_t)(i * 31 + (i >> 9));
	make_image("/tmp");
}

/* Whether the image is in memory (tmpfs, ramfs): cellvm-blk serves such
 * an image synchronously, anything else through io_uring. */
bool image_in_memory(void)
{
	struct statfs sf;
	cr_assert_eq(fstatfs(img_fd, &sf), 0);
	return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

/* Moves the image to dir (same contents) for a test of one data path. */
void move_image(const char *dir)
{
	unlink(img);
	close(img_fd);
	make_image(dir);
}

void teardown(void)
{
	unlink(img);
	close(img_fd);
}


void check_image(void)
{
	static uint8_t now[DISK_SIZE];
	cr_assert_eq(pread(img_fd, now, DISK_SIZE, 0), DISK_SIZE);
	for (size_t i = 0; i < DISK_SIZE; i++)
		cr_assert_eq(now[i], expected[i], "image byte %zu is 0x%02x, expected 0x%02x", i,
			     now[i], expected[i]);
}

/* Starts cellvm-blk on the image with extra options, negotiates features
 * (of WANT) and sets up nq queues of qsize entries. */
void start_with(struct tfe *f, const char *const *extra, unsigned int nq,
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

void start(struct tfe *f, const char *const *extra, unsigned int nq)
{
	start_with(f, extra, nq, QSIZE, WANT);
}

void finish_clean(struct tfe *f)
{
	int status = tfe_finish(f);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "backend must exit 0 when the frontend hangs up (status 0x%x)", status);
}

uint64_t header(struct tfe *f, uint32_t type, uint64_t sector)
{
	uint64_t gpa = tfe_alloc(f, BLK_HDR_SIZE);
	uint8_t *p = tfe_ptr(f, gpa);
	uint32_t t = htole32(type);
	uint64_t s = htole64(sector);
	memcpy(p, &t, 4);
	memcpy(p + 8, &s, 8);
	return gpa;
}

uint64_t status_buf(struct tfe *f)
{
	uint64_t gpa = tfe_alloc(f, 1);
	*(uint8_t *)tfe_ptr(f, gpa) = 0xee;
	return gpa;
}

/* Posts bufs on queue q and waits for it; returns the used len. */
uint32_t post_wait(struct tfe *f, unsigned int q, const struct tfe_buf *b,
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
uint8_t request(struct tfe *f, unsigned int q, uint32_t type, uint64_t sector,
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

uint8_t blk_write(struct tfe *f, unsigned int q, uint64_t sector, const void *src,
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
uint8_t blk_read_at(struct tfe *f, unsigned int q, uint64_t sector, uint64_t data,
			   uint32_t n, uint32_t *len)
{
	memset(tfe_ptr(f, data), 0x5a, n);
	return request(f, q, VIRTIO_BLK_T_IN, sector, data, n, true, len);
}

void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}
