/* libFuzzer harness: cellvm-blk's request path (device-procs/blk.c,
 * blk_req.c, blk_io.c through its real io_uring, blk_ring.c) with its real
 * ops and options, driven as a guest and its frontend would
 * (tests/fuzz/dev_drive.h says how an input reads and what is checked).
 * Three devices are started once, each on an image of 64 KiB and 100 bytes
 * (128 sectors: the tail is no whole sector) refilled with a pattern for
 * each input; the header's variant byte picks one (modulo 3): 0 read-write
 * on a memfd; 1 read-write with --direct (an unlinked file in /tmp: tmpfs
 * refuses O_DIRECT), --poll-us and two queues; 2 the same --read-only
 * (blk's options add up across parses). On top of the driver's checks: the image
 * keeps its size, its tail is never touched, a read-only image never
 * changes and reads from it return its bytes, and every answered request's
 * status byte is OK, IOERR or UNSUPP.
 *
 * Boundary: guest (rings, requests) -> cellvm-blk, its real code and io_uring
 * Links: tests/fuzz/dev_drive.c device-procs/blk.c device-procs/blk_io.c
 *   device-procs/blk_ring.c device-procs/blk_req.c device-procs/backend.c
 *   device-procs/backend_inflight.c device-procs/serve.c tests/fuzz/confine_stub.c
 *   common/vhost_user.c common/msg.c common/guest_mem.c common/virtq.c common/vhu_inflight.c
 *   common/event_loop.c common/log.c common/fds.c common/cli.c common/unix_sock.c common/iov.c
 *   device-procs/throttle.c common/rate_limiter.c common/rate_limit_arg.c common/dev_ctl.c */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk_req.h"
#include "bytes.h"
#include "dev_drive.h"
#include "guest_mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMAGE_SECTORS 128u
#define IMAGE_SIZE (IMAGE_SECTORS * BLK_SECTOR_SIZE + 100u)

#define FAIL(...) (fprintf(stderr, "fuzz_dev_blk: " __VA_ARGS__), fputc('\n', stderr), abort())

static struct dd dev[3];
static int image[3] = { -1, -1, -1 }; /* the harness's own, without O_DIRECT */
static uint8_t pattern[IMAGE_SIZE], now[IMAGE_SIZE];
static int cur;

static void blk_image_read(uint8_t *out)
{
	struct stat st;
	if (fstat(image[cur], &st) < 0 || st.st_size != IMAGE_SIZE)
		FAIL("the image is now %lld bytes", (long long)st.st_size);
	if (pread(image[cur], out, IMAGE_SIZE, 0) != IMAGE_SIZE)
		FAIL("reading the image");
}

static void blk_check(struct dd *d)
{
	(void)d;
	blk_image_read(now);
	size_t whole = IMAGE_SECTORS * BLK_SECTOR_SIZE;
	if (memcmp(now + whole, pattern + whole, IMAGE_SIZE - whole))
		FAIL("the image's tail past its capacity changed");
	if (cur == 2 && memcmp(now, pattern, IMAGE_SIZE))
		FAIL("the read-only image changed");
}

/* The chain's readable bytes [0, n) into out; how many there were. */
static size_t gather_out(struct dd *d, const struct dd_chain *c, uint8_t *out, size_t n)
{
	size_t k = 0;
	for (unsigned int i = 0; i < c->nseg && k < n; i++) {
		if (c->seg[i].w)
			continue;
		size_t m = c->seg[i].len < n - k ? c->seg[i].len : n - k;
		dd_read(d, c->seg[i].gpa, out + k, m);
		k += m;
	}
	return k;
}

static void blk_used(struct dd *d, unsigned int q, const struct dd_chain *c, uint32_t len)
{
	(void)q;
	if (!len || d->loose) /* loose: the chain may not be what the driver made */
		return;
	/* The status byte: the chain's last writable byte. */
	int last = -1;
	for (unsigned int i = 0; i < c->nseg; i++)
		if (c->seg[i].w && c->seg[i].len)
			last = (int)i;
	if (last < 0)
		FAIL("used len %u for a chain without writable bytes", len);
	uint8_t status;
	dd_read(d, c->seg[last].gpa + c->seg[last].len - 1, &status, 1);
	if (status > VIRTIO_BLK_S_UNSUPP)
		FAIL("status %u", status);
	uint8_t hdr[BLK_HDR_SIZE];
	if (cur != 2 || status != VIRTIO_BLK_S_OK ||
	    gather_out(d, c, hdr, sizeof(hdr)) != sizeof(hdr) ||
	    get_le32(hdr) != VIRTIO_BLK_T_IN)
		return;
	/* A read from the read-only image: its bytes, in the writable buffers. */
	uint64_t off = get_le64(hdr + 8) * BLK_SECTOR_SIZE, done = 0;
	for (unsigned int i = 0; i < c->nseg; i++) {
		const struct dd_seg *s = &c->seg[i];
		uint32_t n = s->len - ((int)i == last); /* not the status byte */
		if (!s->w || !n)
			continue;
		uint8_t buf[8192];
		dd_read(d, s->gpa, buf, n);
		if (off + done + n > IMAGE_SIZE || memcmp(buf, pattern + off + done, n))
			FAIL("a read of sector %llu returned other bytes than the image's",
			     (unsigned long long)(off / BLK_SECTOR_SIZE));
		done += n;
	}
}

static const struct dd_hooks blk_hooks = { .async = true, .used = blk_used, .check = blk_check };

/* The device's disk, and the harness's own fd of the same file (a fresh
 * open file: --direct's O_DIRECT is set on the device's). */
static int new_image(int i, int *own)
{
	char path[64];
	int fd;
	if (i == 0) {
		fd = gm_memfd_create("fuzz-blk", IMAGE_SIZE);
	} else {
		char tmpl[] = "/tmp/fuzz-blk.XXXXXX";
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0 && (unlink(tmpl) < 0 || ftruncate(fd, IMAGE_SIZE) < 0))
			abort();
	}
	if (fd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((*own = open(path, O_RDWR | O_CLOEXEC)) < 0)
		abort();
	return fd;
}

static void start(int i)
{
	static const char *const extra[] = { "--direct", "--poll-us", "20", "--num-queues", "2",
					      "--read-only" };
	const char *argv[10] = { "--disk-fd", NULL, "--serial", "fuzz-serial" };
	char fd[16];
	int argc = 4;
	snprintf(fd, sizeof(fd), "%d", new_image(i, &image[i]));
	argv[1] = fd;
	for (int k = 0; i > 0 && k < (i == 1 ? 5 : 6); k++)
		argv[argc++] = extra[k];
	dd_start(&dev[i], &serve_program, argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (image[0] < 0) {
		for (size_t i = 0; i < IMAGE_SIZE; i++)
			pattern[i] = (uint8_t)(i * 7 + i / 512);
		for (int i = 0; i < 3; i++)
			start(i);
	}
	cur = size > 1 ? data[1] % 3 : 0;
	if (pwrite(image[cur], pattern, IMAGE_SIZE, 0) != IMAGE_SIZE ||
	    ftruncate(image[cur], IMAGE_SIZE) < 0)
		abort();
	dd_run(&dev[cur], &blk_hooks, data, size);
	return 0;
}
