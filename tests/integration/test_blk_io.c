/* cellvm-blk's data paths, driven by the test frontend across a process
 * boundary (the fixture: blk_fixture.h): many requests in flight on one or
 * more queues, the confined io_uring and what it refuses, images served
 * synchronously (in memory, or where the host refuses io_uring), --direct
 * and --poll-us. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/magic.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blk_fixture.h"
#include "blk_req.h"
#include "bytes.h"
#include "dev_ctl.h"
#include "msg.h"
#include "test_hooks.h"
#include "tfe.h"

TestSuite(blk, .init = setup, .fini = teardown);

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

/* ------------------------------------------------------------ --control-fd */

/* One request on cellvmd's side of the control channel, its reply. */
static struct dev_ctl_reply control_call(int sock, const struct dev_ctl_req *rq)
{
	struct dev_ctl_reply rp = { 0 };
	cr_assert_eq(dev_ctl_send_req(sock, rq), 0);
	cr_assert_eq(msg_wait(sock, POLLIN, 5000), 1, "no reply");
	int err = dev_ctl_recv_reply(sock, &rp);
	cr_assert_eq(err, 0, "recv: %s", strerror(-err));
	cr_assert_eq(rp.seq, rq->seq);
	return rp;
}

/* The counters cellvmd reads: requests, bytes each way and errors as the
 * guest saw them; a malformed request is dropped and the next answered; a
 * rate-limit change for the disk's limiter is taken, one for a limiter a
 * disk does not have (a NIC's tx) refused. */
Test(blk, control_fd_reports_the_data_path_counters)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(fcntl(sv[0], F_SETFD, FD_CLOEXEC), 0);
	char arg[16];
	snprintf(arg, sizeof(arg), "%d", sv[1]);
	struct tfe f;
	start(&f, (const char *const[]){ "--control-fd", arg, NULL }, 1);
	close(sv[1]);
	uint8_t src[4096];
	fill(src, sizeof(src), 7);
	memcpy(expected + 8 * 512, src, sizeof(src));
	cr_assert_eq(blk_write(&f, 0, 8, src, sizeof(src)), VIRTIO_BLK_S_OK);
	uint64_t data = tfe_alloc(&f, 8192);
	cr_assert_eq(blk_read_at(&f, 0, 0, data, 8192, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(blk_read_at(&f, 0, SECTORS, data, 512, NULL), VIRTIO_BLK_S_IOERR);

	uint8_t junk[DEV_CTL_REQ_SIZE] = { 0xff };
	cr_assert_eq(send(sv[0], junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	struct dev_ctl_reply rp =
		control_call(sv[0], &(struct dev_ctl_req){ .type = DEV_CTL_GET_METRICS, .seq = 9 });
	cr_expect_eq(rp.type, DEV_CTL_GET_METRICS);
	cr_expect_eq(rp.counters.requests, 3);
	cr_expect_eq(rp.counters.write_bytes, 4096);
	cr_expect_eq(rp.counters.read_bytes, 8192);
	cr_expect_eq(rp.counters.errors, 1);

	struct dev_ctl_req set = { .type = DEV_CTL_SET_RATE_LIMIT, .seq = 10 };
	set.rl.limiter[DEV_CTL_RX].bandwidth =
		(struct dev_ctl_bucket){ DEV_CTL_BUCKET_SET, 1 << 20, 0, 125 };
	rp = control_call(sv[0], &set);
	cr_expect_eq(rp.status, 0);
	set.seq = 11;
	set.rl.limiter[DEV_CTL_TX].ops = (struct dev_ctl_bucket){ DEV_CTL_BUCKET_SET, 10, 0, 1000 };
	rp = control_call(sv[0], &set);
	cr_expect_eq(rp.status, -EINVAL);
	finish_clean(&f);
	check_image();
	close(sv[0]);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A limit set over the control channel while the device runs holds the
 * guest's requests back (slower, never failed), the time shows in the
 * counters, and lifting it lets them go at once. */
Test(blk, control_fd_changes_the_rate_limit_live)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(fcntl(sv[0], F_SETFD, FD_CLOEXEC), 0);
	char arg[16];
	snprintf(arg, sizeof(arg), "%d", sv[1]);
	struct tfe f;
	start(&f, (const char *const[]){ "--control-fd", arg, NULL }, 1);
	close(sv[1]);
	uint64_t data = tfe_alloc(&f, 512);
	/* 5 requests a second: one in the full bucket, then one per 200 ms. */
	struct dev_ctl_req set = { .type = DEV_CTL_SET_RATE_LIMIT, .seq = 1 };
	set.rl.limiter[DEV_CTL_RX].ops = (struct dev_ctl_bucket){ DEV_CTL_BUCKET_SET, 1, 0, 200 };
	cr_assert_eq(control_call(sv[0], &set).status, 0);
	double t0 = now_s();
	for (int i = 0; i < 6; i++)
		cr_assert_eq(blk_read_at(&f, 0, (uint64_t)i, data, 512, NULL), VIRTIO_BLK_S_OK);
	double limited = now_s() - t0;
	cr_expect_geq(limited, 0.8, "6 requests at 5/s took %.3f s", limited);
	struct dev_ctl_reply rp =
		control_call(sv[0], &(struct dev_ctl_req){ .type = DEV_CTL_GET_METRICS, .seq = 2 });
	cr_expect_geq(rp.counters.throttled_us, 600000, "throttled %" PRIu64 " us",
		      rp.counters.throttled_us);

	set.seq = 3;
	set.rl.limiter[DEV_CTL_RX].ops = (struct dev_ctl_bucket){ DEV_CTL_BUCKET_DISABLE, 0, 0, 0 };
	cr_assert_eq(control_call(sv[0], &set).status, 0);
	t0 = now_s();
	for (int i = 0; i < 20; i++)
		cr_assert_eq(blk_read_at(&f, 0, (uint64_t)i, data, 512, NULL), VIRTIO_BLK_S_OK);
	double lifted = now_s() - t0;
	cr_expect_lt(lifted, 0.5, "20 requests without a limit took %.3f s", lifted);
	finish_clean(&f);
	check_image();
	close(sv[0]);
}
