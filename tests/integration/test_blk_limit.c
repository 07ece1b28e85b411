/* cellvm-blk's --rate-limit, driven by the test frontend across a process
 * boundary (the fixture: blk_fixture.h): requests over the limit are slower,
 * never refused; a queue held back stops neither the device's other queue
 * nor its socket, and nothing spins meanwhile. Functional checks with
 * generous bounds, not benchmarks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk_fixture.h"
#include "blk_req.h"
#include "tfe.h"

TestSuite(blk_limit, .init = setup, .fini = teardown);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time process pid has used, in seconds (utime + stime). */
static double cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *fp = fopen(path, "r");
	cr_assert(fp);
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* Fields 14 and 15, counted after the command's closing parenthesis. */
	const char *p = strrchr(buf, ')');
	unsigned long ut, st;
	cr_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			      &ut, &st) == 2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

#define CHUNK (128u << 10)

/* 8 MiB written at 4 MiB/s (bucket 1 MiB, refill 250 ms), one request at
 * a time: the first MiB goes at once, the other 7 take 1.75 s. */
static void writes_over_the_limit(void)
{
	struct tfe f;
	const char *extra[] = { "--rate-limit", "bandwidth.size=1048576,bandwidth.refill_time=250",
				NULL };
	start(&f, extra, 1);
	uint64_t data = tfe_alloc(&f, CHUNK);
	double t0 = now_s();
	for (unsigned int i = 0; i < 64; i++) {
		uint64_t sector = (i % (DISK_SIZE / CHUNK)) * (CHUNK / 512);
		fill(tfe_ptr(&f, data), CHUNK, (uint8_t)i);
		memcpy(expected + sector * 512, tfe_ptr(&f, data), CHUNK);
		uint32_t len;
		cr_assert_eq(request(&f, 0, VIRTIO_BLK_T_OUT, sector, data, CHUNK, false, &len),
			     VIRTIO_BLK_S_OK, "write %u", i);
		cr_assert_eq(len, 1);
	}
	double took = now_s() - t0;
	cr_log_info("8 MiB at 4 MiB/s: %.3f s", took);
	cr_expect_geq(took, 1.5, "8 MiB at 4 MiB/s took %.3f s", took);
	cr_expect_lt(took, 6.0, "8 MiB at 4 MiB/s took %.3f s", took);
	check_image();
	finish_clean(&f);
}

/* Through io_uring (an image on a disk's file system) ... */
Test(blk_limit, writes_over_the_limit_are_slower_and_all_succeed)
{
	writes_over_the_limit();
}

/* ... and synchronously (an image in memory). */
Test(blk_limit, writes_over_the_limit_to_an_image_in_memory_too)
{
	move_image("/dev/shm");
	cr_assert(image_in_memory());
	writes_over_the_limit();
}

#define NREQ 10

/* Two queues under one limit of 5 requests a second (bucket 1, refill
 * 200 ms), --poll-us on: queue 0 posts NREQ reads at once, queue 1 one
 * read. While queue 0 waits, the socket answers at once and queue 1 gets
 * its turn at the next refills, long before queue 0 is done; the device
 * does not spin while it waits. */
Test(blk_limit, a_throttled_queue_stops_neither_the_other_nor_the_socket)
{
	struct tfe f;
	const char *extra[] = { "--num-queues", "2", "--poll-us", "1000", "--sandbox", "off",
				"--rate-limit", "ops.size=1,ops.refill_time=200", NULL };
	start_with(&f, extra, 2, 64, WANT);
	uint64_t data = tfe_alloc(&f, 4096 * (NREQ + 1));
	uint64_t st[NREQ + 1];
	int head[NREQ + 1];
	bool seen[NREQ] = { false };
	double cpu0 = cpu_s(f.pid), t0 = now_s();
	for (unsigned int i = 0; i <= NREQ; i++) {
		st[i] = status_buf(&f);
		struct tfe_buf b[3] = { { header(&f, VIRTIO_BLK_T_IN, i * 8), BLK_HDR_SIZE, false },
					{ data + i * 4096, 4096, true },
					{ st[i], 1, true } };
		head[i] = tfe_post(&f, i == NREQ, b, 3, true);
		cr_assert_geq(head[i], 0);
	}

	uint8_t cfg[8];
	double c0 = now_s();
	cr_assert_eq(tfe_get_config(&f, 0, cfg, sizeof(cfg)), 0);
	double answer = now_s() - c0;
	cr_expect_lt(answer, 0.15, "GET_CONFIG took %.3f s while a queue waited", answer);

	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 1, 3000, &id, &len), 0, "queue 1 never answered");
	double q1 = now_s() - t0;
	cr_assert_eq(id, (uint32_t)head[NREQ]);
	cr_assert_eq(*(uint8_t *)tfe_ptr(&f, st[NREQ]), VIRTIO_BLK_S_OK);
	for (unsigned int k = 0; k < NREQ; k++) {
		cr_assert_eq(tfe_wait_used(&f, 0, 3000, &id, &len), 0, "queue 0, answer %u", k);
		unsigned int i = 0;
		while (i < NREQ && (uint32_t)head[i] != id)
			i++;
		cr_assert(i < NREQ && !seen[i], "head %u", id);
		seen[i] = true;
		cr_assert_eq(len, 4097);
		cr_assert_eq(*(uint8_t *)tfe_ptr(&f, st[i]), VIRTIO_BLK_S_OK, "request %u", i);
		cr_assert_eq(memcmp(tfe_ptr(&f, data + i * 4096), expected + i * 4096, 4096), 0);
	}
	double q0 = now_s() - t0, cpu = cpu_s(f.pid) - cpu0;
	cr_log_info("GET_CONFIG %.4f s; queue 1 done %.3f s, queue 0 %.3f s; CPU %.3f s", answer,
		    q1, q0, cpu);
	/* 11 requests, the first at once, then one each 200 ms: 2 s. */
	cr_expect_geq(q0, 1.5, "queue 0 done after %.3f s", q0);
	cr_expect_lt(q1, q0 - 0.8, "queue 1 answered after %.3f s, queue 0 after %.3f s", q1, q0);
	cr_expect_lt(cpu, 0.5, "%.3f s of CPU in %.3f s throttled: spinning?", cpu, q0);
	finish_clean(&f);
}

/* A bandwidth bucket of 4 KiB a second: a 64 KiB write goes (bigger than
 * the bucket) and leaves 15 s of debt. A flush and a GET_ID move no data:
 * they go at once. A read waits; the frontend hangs up meanwhile, and the
 * device exits cleanly with the read never answered. */
Test(blk_limit, requests_without_data_do_not_wait_for_bandwidth)
{
	struct tfe f;
	const char *extra[] = { "--rate-limit", "bandwidth.size=4096,bandwidth.refill_time=1000",
				"--serial", "limited", NULL };
	start(&f, extra, 1);
	uint8_t buf[64 << 10];
	fill(buf, sizeof(buf), 5);
	memcpy(expected, buf, sizeof(buf));
	cr_assert_eq(blk_write(&f, 0, 0, buf, sizeof(buf)), VIRTIO_BLK_S_OK);
	double t0 = now_s();
	cr_assert_eq(request(&f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	uint64_t id = tfe_alloc(&f, 20);
	uint32_t len;
	cr_assert_eq(request(&f, 0, VIRTIO_BLK_T_GET_ID, 0, id, 20, true, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(memcmp(tfe_ptr(&f, id), "limited", 8), 0);
	double took = now_s() - t0;
	cr_expect_lt(took, 0.5, "flush and GET_ID took %.3f s", took);

	uint64_t data = tfe_alloc(&f, 512), st = status_buf(&f);
	struct tfe_buf b[3] = { { header(&f, VIRTIO_BLK_T_IN, 0), BLK_HDR_SIZE, false },
				{ data, 512, true }, { st, 1, true } };
	cr_assert_geq(tfe_post(&f, 0, b, 3, false), 0);
	uint32_t used;
	cr_assert_eq(tfe_wait_used(&f, 0, 300, &used, &len), -ETIMEDOUT, "the read went");
	cr_assert_eq(*(uint8_t *)tfe_ptr(&f, st), 0xee, "the read was answered");
	check_image();
	finish_clean(&f);
}
