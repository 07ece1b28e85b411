/* cellvm-blk replaced under a frontend that keeps the in-flight region
 * (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): every request completes exactly
 * once, with its data in the image, whatever the dead process had popped,
 * answered, or answered without clearing its marks.
 *
 * forged_death: the test plays the dead process, leaving a region in each
 * state the spec's recovery handles (popped and in flight; answered and
 * published but not cleared; never popped). sigkill_mid_flight: a real
 * cellvm-blk killed right after a burst of writes was kicked. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blk_fixture.h"
#include "vhu_inflight.h"

TestSuite(blk_restart, .init = setup, .fini = teardown);

#define NQ 1
#define CHUNK 4096u

static const char *const *blk_argv(void)
{
	static const char *argv[4];
	argv[0] = tfe_bin("device-procs/cellvm-blk");
	argv[1] = "--disk";
	argv[2] = img;
	argv[3] = NULL;
	return argv;
}

/* Starts cellvm-blk with one queue tracked in a region: its fd and size. */
static void start_tracked(struct tfe *f, int *fd, uint64_t *size)
{
	cr_assert_eq(tfe_start(f, blk_argv(), MEM), 0);
	cr_assert_eq(tfe_negotiate(f, WANT), 0);
	cr_assert(f->protocol_features & BIT_ULL(VHU_PROTOCOL_F_INFLIGHT_SHMFD));
	cr_assert_eq(tfe_get_inflight(f, NQ, QSIZE, fd, size), 0);
	cr_assert_eq(*size, vhu_inflight_size(NQ, QSIZE));
	cr_assert_eq(tfe_set_inflight(f, *fd, *size, NQ, QSIZE), 0);
	cr_assert_eq(tfe_setup_queue(f, 0, QSIZE), 0);
}

static uint16_t used_idx(struct tfe *f)
{
	return get_le16(tfe_ptr(f, f->q[0].used_gpa + 2));
}

static void kill_backend(struct tfe *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &f->status, 0);
	f->pid = -1;
}

/* A new cellvm-blk on the same region, rings and memory, resumed from the
 * used ring's index as a frontend that lost its backend would. */
static void replace(struct tfe *f, int fd, uint64_t size)
{
	cr_assert_eq(tfe_respawn(f, blk_argv()), 0);
	cr_assert_eq(tfe_negotiate(f, WANT), 0);
	cr_assert_eq(tfe_set_inflight(f, fd, size, NQ, QSIZE), 0);
	cr_assert_eq(tfe_resume_queue(f, 0, used_idx(f)), 0);
}

/* Posts a write of CHUNK bytes (pattern seed) at sector, indirect, without
 * a kick; its status byte's GPA in *status. Returns the head. */
static uint16_t post_write(struct tfe *f, uint64_t sector, uint8_t seed, uint64_t *status)
{
	uint64_t data = tfe_alloc(f, CHUNK);
	fill(tfe_ptr(f, data), CHUNK, seed);
	memcpy(expected + sector * 512, tfe_ptr(f, data), CHUNK);
	*status = status_buf(f);
	struct tfe_buf b[3] = { { header(f, VIRTIO_BLK_T_OUT, sector), BLK_HDR_SIZE, false },
				{ data, CHUNK, false },
				{ *status, 1, true } };
	int head = tfe_post_nokick(f, 0, b, 3, true);
	cr_assert_geq(head, 0);
	return (uint16_t)head;
}

/* Waits for want completions; each must be a distinct head of heads[]
 * (n of them) not seen before (seen[]), with status OK. */
static void expect_done(struct tfe *f, const uint16_t *heads, const uint64_t *status,
			size_t n, bool *seen, size_t want)
{
	for (size_t k = 0; k < want; k++) {
		uint32_t id, len;
		cr_assert_eq(tfe_wait_used(f, 0, 5000, &id, &len), 0, "completion %zu of %zu", k,
			     want);
		size_t i = 0;
		while (i < n && heads[i] != id)
			i++;
		cr_assert_lt(i, n, "head %u was not posted", id);
		cr_assert(!seen[i], "head %u completed twice", id);
		seen[i] = true;
		cr_assert_eq(*(uint8_t *)tfe_ptr(f, status[i]), VIRTIO_BLK_S_OK);
	}
}

Test(blk_restart, forged_death)
{
	struct tfe f;
	int fd;
	uint64_t size;
	start_tracked(&f, &fd, &size);
	uint8_t one[512];
	fill(one, sizeof(one), 1);
	cr_assert_eq(blk_write(&f, 0, 0, one, sizeof(one)), VIRTIO_BLK_S_OK);
	memcpy(expected, one, sizeof(one));
	kill_backend(&f);

	/* Posted while the process was dying: A, B, C, D. */
	uint16_t heads[4];
	uint64_t status[4];
	for (int i = 0; i < 4; i++)
		heads[i] = post_write(&f, 8 + 8 * (uint64_t)i, (uint8_t)(0x40 + i), &status[i]);
	/* It had popped A, B and C, and answered B: B's data is in the image,
	 * its used element and used->idx published, its mark not cleared. */
	uint8_t *region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(region, MAP_FAILED);
	struct vhu_inflight_q q = { .base = region, .num = QSIZE, .counter = 100 };
	for (int i = 0; i < 3; i++)
		vhu_inflight_mark(&q, heads[i]);
	cr_assert_eq(pwrite(img_fd, expected + 16 * 512, CHUNK, 16 * 512), CHUNK);
	*(uint8_t *)tfe_ptr(&f, status[1]) = VIRTIO_BLK_S_OK;
	vhu_inflight_batch_add(&q, heads[1]);
	uint16_t u = used_idx(&f);
	uint8_t *used = tfe_ptr(&f, f.q[0].used_gpa);
	put_le32(used + 4 + 8 * (u % QSIZE), heads[1]);
	put_le32(used + 4 + 8 * (u % QSIZE) + 4, 1);
	put_le16(used + 2, (uint16_t)(u + 1));

	replace(&f, fd, size);
	tfe_kick(&f, 0);
	bool seen[4] = { false };
	expect_done(&f, heads, status, 4, seen, 4); /* B's forged element first */
	cr_assert(seen[0] && seen[1] && seen[2] && seen[3]);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 0, 200, &id, &len), -ETIMEDOUT, "head %u again", id);
	check_image();

	/* Nothing is left marked. */
	struct vhu_inflight_entry e[QSIZE];
	size_t n;
	uint64_t next;
	cr_assert_eq(vhu_inflight_recover(region, size, QSIZE, used_idx(&f), e, QSIZE, &n, &next),
		     0);
	cr_assert_eq(n, 0);
	munmap(region, size);
	close(fd);
	finish_clean(&f);
}

Test(blk_restart, sigkill_mid_flight)
{
	struct tfe f;
	int fd;
	uint64_t size;
	start_tracked(&f, &fd, &size);
	uint8_t *region = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(region, MAP_FAILED);
	size_t in_flight_seen = 0;
	for (int round = 0; round < 8; round++) {
		enum { N = QSIZE - 2 };
		uint16_t heads[N];
		uint64_t status[N];
		bool seen[N] = { false };
		for (int i = 0; i < N; i++)
			heads[i] = post_write(&f, (uint64_t)(round * N + i) * 8,
					      (uint8_t)(round * 16 + i), &status[i]);
		tfe_kick(&f, 0);
		/* The first completion: the process is in the middle of them. */
		uint32_t id, len;
		if (tfe_wait_used(&f, 0, 5000, &id, &len) == 0) {
			for (int i = 0; i < N; i++)
				seen[i] |= heads[i] == id;
		}
		kill_backend(&f);
		for (int i = 0; i < QSIZE; i++)
			in_flight_seen += region[16 + 16 * i] == 1;
		replace(&f, fd, size);
		size_t done = 0;
		for (int i = 0; i < N; i++)
			done += seen[i];
		expect_done(&f, heads, status, N, seen, N - done);
		cr_assert_eq(tfe_wait_used(&f, 0, 100, &id, &len), -ETIMEDOUT, "head %u again",
			     id);
	}
	check_image();
	fprintf(stderr, "test_blk_restart: %zu requests marked in flight at the 8 kills\n",
		in_flight_seen);
	munmap(region, size);
	close(fd);
	finish_clean(&f);
}
