/* cellvm-balloon driven by the test frontend as the guest's driver, across
 * a process boundary and under its seccomp policy: inflated and reported
 * pages leave the guest-memory memfd (its blocks are freed, the pages read
 * back zero, their neighbours keep their data), hostile PFN lists harm
 * nothing outside what they name, config space holds num_pages and the
 * driver's actual, and stats come on the stats queue and back through the
 * control channel cellvmd uses. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "balloon_parse.h"
#include "bytes.h"
#include "dev_ctl.h"
#include "msg.h"
#include "tfe.h"

#define MEM (8u << 20)
#define PAGE 4096u
#define F_STATS_VQ 1
#define F_PAGE_REPORTING 5
/* Data pages, well above the rings and buffers tfe allocates from 4 KiB. */
#define DATA_PFN 512u /* 2 MiB */

static int ctl[2] = { -1, -1 };

/* Starts cellvm-balloon with extra options (NULL-terminated) and its
 * control channel, negotiates features and sets up nq queues. */
static void start(struct tfe *f, const char *const *extra, uint64_t features, unsigned nq)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ctl), 0);
	cr_assert_eq(fcntl(ctl[0], F_SETFD, FD_CLOEXEC), 0);
	char fd[16];
	snprintf(fd, sizeof(fd), "%d", ctl[1]);
	const char *argv[16] = { tfe_bin("device-procs/cellvm-balloon"), "--control-fd", fd };
	size_t n = 3;
	for (size_t i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	cr_assert_eq(tfe_start(f, argv, MEM), 0);
	close(ctl[1]);
	cr_assert_eq(tfe_negotiate(f, features), 0);
	for (unsigned i = 0; i < nq; i++)
		cr_assert_eq(tfe_setup_queue(f, i, 64), 0);
}

static void finish_clean(struct tfe *f)
{
	int status = tfe_finish(f);
	close(ctl[0]);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "backend must exit 0 when the frontend hangs up (status 0x%x)", status);
}

static struct dev_ctl_reply control_call(const struct dev_ctl_req *rq)
{
	struct dev_ctl_reply rp = { 0 };
	cr_assert_eq(dev_ctl_send_req(ctl[0], rq), 0);
	cr_assert_eq(msg_wait(ctl[0], POLLIN, 5000), 1, "no reply");
	int err = dev_ctl_recv_reply(ctl[0], &rp);
	cr_assert_eq(err, 0, "recv: %s", strerror(-err));
	cr_assert_eq(rp.seq, rq->seq);
	return rp;
}

/* Fills n pages from pfn with a non-zero pattern, so that they take blocks. */
static void write_pages(struct tfe *f, uint32_t pfn, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		memset(tfe_ptr(f, (uint64_t)(pfn + i) * PAGE), 0x5a + (int)i, PAGE);
}

static bool page_zero(struct tfe *f, uint32_t pfn)
{
	const uint8_t *p = tfe_ptr(f, (uint64_t)pfn * PAGE);
	for (unsigned i = 0; i < PAGE; i++)
		if (p[i])
			return false;
	return true;
}

static long blocks(int fd)
{
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	return (long)st.st_blocks;
}

/* Posts a device-readable PFN array on queue q and waits for it to be used. */
static void post_pfns(struct tfe *f, unsigned q, const uint32_t *pfns, unsigned n,
		      uint32_t bytes)
{
	uint64_t buf = tfe_alloc(f, 4ull * n + 4);
	for (unsigned i = 0; i < n; i++)
		put_le32(tfe_ptr(f, buf + 4ull * i), pfns[i]);
	struct tfe_buf b = { buf, bytes, false };
	int head = tfe_post(f, q, &b, 1, false);
	cr_assert_geq(head, 0);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(f, q, 5000, &id, &len), 0, "buffer %d not used", head);
	cr_expect_eq(id, (uint32_t)head);
	cr_expect_eq(len, 0, "the device writes nothing into an inflate buffer");
}

Test(balloon, inflate_frees_the_memfd_blocks_and_deflate_leaves_data)
{
	struct tfe f;
	start(&f, NULL, 0, 2);
	write_pages(&f, DATA_PFN - 1, 18);
	long before = blocks(f.memfd[0]);
	/* 16 pages in shuffled order with duplicates: one run. */
	uint32_t pfns[20];
	for (unsigned i = 0; i < 16; i++)
		pfns[i] = DATA_PFN + (i * 7) % 16;
	pfns[16] = DATA_PFN + 3;
	pfns[17] = DATA_PFN;
	pfns[18] = DATA_PFN + 15;
	pfns[19] = DATA_PFN + 15;
	post_pfns(&f, 0, pfns, 20, 80);

	/* Before reading the pages: a read fault on shmem allocates them again. */
	long after = blocks(f.memfd[0]);
	cr_expect_leq(after, before - 16 * PAGE / 512, "16 pages freed: %ld -> %ld blocks",
		      before, after);
	off_t data = lseek(f.memfd[0], (off_t)DATA_PFN * PAGE, SEEK_DATA);
	cr_expect_eq(data, (off_t)(DATA_PFN + 16) * PAGE, "a hole where the pages were");
	for (unsigned i = 0; i < 16; i++)
		cr_expect(page_zero(&f, DATA_PFN + i), "page %u reads back zero", i);
	cr_expect_not(page_zero(&f, DATA_PFN - 1), "the page before keeps its data");
	cr_expect_not(page_zero(&f, DATA_PFN + 16), "the page after keeps its data");

	/* Deflate: the guest uses the pages again; the host does nothing. */
	write_pages(&f, DATA_PFN, 4);
	post_pfns(&f, 1, pfns, 4, 16);
	cr_expect_not(page_zero(&f, DATA_PFN), "a deflated page keeps what the guest wrote");
	finish_clean(&f);
}

/* Linux fills an inflate buffer with 256 PFNs (1 KiB): sorted and
 * coalesced within the device's policy (glibc's qsort asked the kernel
 * for sysinfo at that size, which the policy kills). */
Test(balloon, a_full_linux_buffer_of_pfns)
{
	struct tfe f;
	start(&f, NULL, 0, 2);
	write_pages(&f, DATA_PFN, 256);
	long before = blocks(f.memfd[0]);
	uint32_t pfns[256];
	for (unsigned i = 0; i < 256; i++)
		pfns[i] = DATA_PFN + 255 - i; /* the order Linux's page list gives */
	post_pfns(&f, 0, pfns, 256, sizeof(pfns));
	long after = blocks(f.memfd[0]);
	/* Less a few pages the request itself took (its buffer, the rings). */
	cr_expect_leq(after, before - 250 * PAGE / 512, "%ld -> %ld blocks", before, after);
	cr_expect(page_zero(&f, DATA_PFN + 128));
	cr_assert(tfe_alive(&f));
	finish_clean(&f);
}

Test(balloon, pages_in_the_second_region_and_across_its_start)
{
	struct tfe f;
	start(&f, NULL, 0, 2);
	uint32_t first = MEM / 2 / PAGE;
	write_pages(&f, first - 2, 4);
	long before = blocks(f.memfd[1]);
	uint32_t pfns[] = { first - 1, first, first + 1 };
	post_pfns(&f, 0, pfns, 3, sizeof(pfns));
	cr_expect_leq(blocks(f.memfd[1]), before - 2 * PAGE / 512);
	cr_expect(page_zero(&f, first - 1));
	cr_expect(page_zero(&f, first));
	cr_expect(page_zero(&f, first + 1));
	cr_expect_not(page_zero(&f, first - 2));
	finish_clean(&f);
}

/* PFNs past guest RAM, at its very end and huge ones are skipped; the good
 * ones in the same list still go; malformed buffers are answered and
 * change nothing; the device goes on. */
Test(balloon, hostile_pfn_lists_harm_nothing_outside_what_they_name)
{
	struct tfe f;
	start(&f, NULL, 0, 2);
	write_pages(&f, DATA_PFN, 8);
	uint32_t end = MEM / PAGE;
	uint32_t pfns[] = { end, end + 1, UINT32_MAX, 0x80000000u, DATA_PFN + 2, end - 0 };
	post_pfns(&f, 0, pfns, 6, sizeof(pfns));
	cr_expect(page_zero(&f, DATA_PFN + 2));
	for (unsigned i = 0; i < 8; i++)
		if (i != 2)
			cr_expect_not(page_zero(&f, DATA_PFN + i), "page %u untouched", i);

	/* A length that is not a whole number of PFNs: nothing is done. */
	uint32_t one[] = { DATA_PFN + 4 };
	post_pfns(&f, 0, one, 1, 3);
	cr_expect_not(page_zero(&f, DATA_PFN + 4));
	/* A device-writable PFN buffer: refused. */
	uint64_t buf = tfe_alloc(&f, 4);
	put_le32(tfe_ptr(&f, buf), DATA_PFN + 5);
	struct tfe_buf b = { buf, 4, true };
	cr_assert_geq(tfe_post(&f, 0, &b, 1, false), 0);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
	cr_expect_not(page_zero(&f, DATA_PFN + 5));

	/* Still serving. */
	post_pfns(&f, 0, one, 1, 4);
	cr_expect(page_zero(&f, DATA_PFN + 4));
	cr_assert(tfe_alive(&f));
	struct dev_ctl_reply rp =
		control_call(&(struct dev_ctl_req){ .type = DEV_CTL_GET_METRICS, .seq = 1 });
	cr_expect_eq(rp.counters.requests, 4);
	cr_expect_eq(rp.counters.errors, 3, "out-of-RAM PFNs, bad length, writable buffer");
	finish_clean(&f);
}

static uint32_t config_u32(struct tfe *f, uint32_t off)
{
	uint8_t b[4];
	cr_assert_eq(tfe_get_config(f, off, b, 4), 0);
	return get_le32(b);
}

static int set_config(struct tfe *f, uint32_t off, uint32_t v)
{
	struct vhu_msg m = { .request = VHU_SET_CONFIG, .kind = VHU_P_CONFIG,
			     .u.config = { .offset = off, .size = 4 } };
	put_le32(m.u.config.data, v);
	return tfe_call(f, &m, NULL, 0, NULL);
}

/* num_pages is the target (--amount-mib, then cellvmd's SET_BALLOON_TARGET);
 * actual is what the driver writes; the driver cannot write num_pages. */
Test(balloon, config_space_target_and_actual)
{
	struct tfe f;
	start(&f, (const char *const[]){ "--amount-mib", "3", NULL }, 0, 2);
	cr_expect_eq(config_u32(&f, 0), 3 * 256);
	cr_expect_eq(config_u32(&f, 4), 0);
	cr_expect_eq(set_config(&f, 4, 700), 0);
	cr_expect_eq(config_u32(&f, 4), 700);
	cr_expect_eq(set_config(&f, 0, 1), -EIO, "num_pages is the device's");
	cr_expect_eq(config_u32(&f, 0), 3 * 256);
	uint8_t past[4];
	cr_expect_neq(tfe_get_config(&f, 8, past, 4), 0, "no config past actual");

	struct dev_ctl_reply rp = control_call(
		&(struct dev_ctl_req){ .type = DEV_CTL_SET_BALLOON_TARGET, .seq = 5,
				       .balloon_pages = 1234 });
	cr_expect_eq(rp.status, 0);
	cr_expect_eq(config_u32(&f, 0), 1234);
	rp = control_call(&(struct dev_ctl_req){ .type = DEV_CTL_GET_BALLOON_STATS, .seq = 6 });
	cr_expect_eq(rp.status, 0);
	cr_expect_eq(rp.balloon.target_pages, 1234);
	cr_expect_eq(rp.balloon.actual_pages, 700);
	cr_expect_eq(rp.balloon.present, 0, "no stats queue: no stats");
	finish_clean(&f);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t v)
{
	put_le16(p, tag);
	put_le64(p + 2, v);
}

/* The driver's stats buffer is kept, then handed back after the interval;
 * what it said reaches cellvmd. */
Test(balloon, stats_arrive_on_the_stats_queue_and_are_reported, .timeout = 20)
{
	struct tfe f;
	start(&f, (const char *const[]){ "--stats-interval", "1", NULL }, BIT_ULL(F_STATS_VQ), 3);
	uint64_t buf = tfe_alloc(&f, 30);
	put_stat(tfe_ptr(&f, buf), BALLOON_S_MEMFREE, 5000000);
	put_stat(tfe_ptr(&f, buf + 10), BALLOON_S_MEMTOT, 8000000);
	put_stat(tfe_ptr(&f, buf + 20), 200, 1); /* unknown: skipped */
	struct tfe_buf b = { buf, 30, false };
	int head = tfe_post(&f, 2, &b, 1, false);
	cr_assert_geq(head, 0);
	uint32_t id, len;
	cr_expect_eq(tfe_wait_used(&f, 2, 300, &id, &len), -ETIMEDOUT,
		     "the device keeps the stats buffer until it wants new stats");
	cr_assert_eq(tfe_wait_used(&f, 2, 3000, &id, &len), 0, "handed back after the interval");
	cr_expect_eq(id, (uint32_t)head);

	struct dev_ctl_reply rp =
		control_call(&(struct dev_ctl_req){ .type = DEV_CTL_GET_BALLOON_STATS, .seq = 2 });
	cr_assert_eq(rp.status, 0);
	cr_expect_eq(rp.balloon.present, (1u << BALLOON_S_MEMFREE) | (1u << BALLOON_S_MEMTOT));
	cr_expect_eq(rp.balloon.stat[BALLOON_S_MEMFREE], 5000000);
	cr_expect_eq(rp.balloon.stat[BALLOON_S_MEMTOT], 8000000);

	/* The driver refills it: the new values replace the old. */
	put_stat(tfe_ptr(&f, buf), BALLOON_S_MEMFREE, 4000000);
	b.len = 10;
	cr_assert_geq(tfe_post(&f, 2, &b, 1, false), 0);
	cr_assert_eq(tfe_wait_used(&f, 2, 3000, &id, &len), 0);
	rp = control_call(&(struct dev_ctl_req){ .type = DEV_CTL_GET_BALLOON_STATS, .seq = 3 });
	cr_expect_eq(rp.balloon.present, 1u << BALLOON_S_MEMFREE);
	cr_expect_eq(rp.balloon.stat[BALLOON_S_MEMFREE], 4000000);
	finish_clean(&f);
}

/* Free page reporting: the reported ranges go back too. Without the stats
 * queue the reporting queue is queue 2. */
Test(balloon, reported_free_pages_go_back_to_the_host)
{
	struct tfe f;
	start(&f, (const char *const[]){ "--free-page-reporting", NULL },
	      BIT_ULL(F_PAGE_REPORTING), 3);
	write_pages(&f, DATA_PFN, 34);
	long before = blocks(f.memfd[0]);
	/* 32 pages, and a range that is not page-aligned: only its whole page. */
	struct tfe_buf b[2] = { { (uint64_t)DATA_PFN * PAGE, 32 * PAGE, true },
				{ (uint64_t)(DATA_PFN + 32) * PAGE + 1, 2 * PAGE - 1, true } };
	int head = tfe_post(&f, 2, b, 2, false);
	cr_assert_geq(head, 0);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 2, 5000, &id, &len), 0);
	cr_expect_eq(len, 0);
	cr_expect_leq(blocks(f.memfd[0]), before - 33 * PAGE / 512);
	for (unsigned i = 0; i < 32; i++)
		cr_expect(page_zero(&f, DATA_PFN + i), "page %u", i);
	cr_expect_not(page_zero(&f, DATA_PFN + 32), "a partly reported page stays");
	cr_expect(page_zero(&f, DATA_PFN + 33));
	finish_clean(&f);
}

Test(balloon, print_capabilities)
{
	char out[256];
	cr_assert_eq(tfe_capabilities("device-procs/cellvm-balloon", out, sizeof(out)), 0);
	cr_expect_not_null(strstr(out, "\"type\": \"balloon\""), "got: %s", out);
}
