/* cellvmd's requests to its device processes (controller/dev_query.h),
 * with the test playing the devices on the other ends of their control
 * channels: answers are matched to what was asked, a silent device times
 * out without holding up the others, a late answer is dropped, and a device
 * that breaks the protocol is asked nothing more. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dev_query.h"
#include "event_loop.h"
#include "vm.h"

static struct vm vm;
static int dev_end[3]; /* the devices' ends, by child index; -1: none */
static struct evloop *loop;
static struct dev_queries *q;

static struct dev_query_result got;
static int ndone;

static void done(void *opaque, const struct dev_query_result *r)
{
	(void)opaque;
	got = *r;
	ndone++;
}

static void setup(void)
{
	vm = (struct vm){ .nchildren = 3, .ctl_fd = -1, .serial_fd = -1, .console_fd = -1 };
	const char *names[3] = { VM_WORKER_NAME, "blk0", "rng0" };
	for (int i = 0; i < 3; i++) {
		struct vm_child *c = &vm.child[i];
		snprintf(c->name, sizeof(c->name), "%s", names[i]);
		c->policy = i == 1 ? "blk" : i == 2 ? "rng" : "vcpu";
		c->ctl_fd = dev_end[i] = -1;
		c->pidfd = -1;
		if (i == 0)
			continue;
		int sv[2];
		cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
		cr_assert_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
		c->ctl_fd = sv[0];
		dev_end[i] = sv[1];
	}
	cr_assert_eq(evloop_create(&loop), 0);
	cr_assert_eq(dev_queries_create(&q, loop, &vm), 0);
	ndone = 0;
}

static void teardown(void)
{
	dev_queries_release(q);
	dev_queries_destroy(q);
	evloop_destroy(loop);
	for (int i = 0; i < 3; i++) {
		if (vm.child[i].ctl_fd >= 0)
			close(vm.child[i].ctl_fd);
		if (dev_end[i] >= 0)
			close(dev_end[i]);
	}
}

TestSuite(dev_query, .init = setup, .fini = teardown, .timeout = 10);

/* Runs the loop until `want` queries are done or ms pass. */
static void pump(int want, int ms)
{
	uint64_t end = evloop_now_ns() + (uint64_t)ms * 1000000;
	while (ndone < want && evloop_now_ns() < end)
		cr_assert_geq(evloop_run_once(loop, 10), 0);
}

/* Device i takes the request waiting for it (pumping until it came). */
static struct dev_ctl_req take(int i)
{
	struct dev_ctl_req rq;
	int err;
	for (int n = 0; (err = dev_ctl_recv_req(dev_end[i], &rq)) == -EAGAIN && n < 100; n++)
		evloop_run_once(loop, 10);
	cr_assert_eq(err, 0, "device %d: %s", i, strerror(-err));
	return rq;
}

static void answer(int i, const struct dev_ctl_req *rq, uint64_t requests)
{
	struct dev_ctl_reply r = { .type = rq->type, .seq = rq->seq };
	r.counters.requests = requests;
	cr_assert_eq(dev_ctl_send_reply(dev_end[i], &r), 0);
}

static const struct dev_ctl_req get = { .type = DEV_CTL_GET_METRICS };

Test(dev_query, every_device_answers)
{
	cr_assert_eq(dev_query_submit(q, &get, NULL, done, NULL), 0);
	cr_expect_eq(ndone, 0, "never answered within the submit");
	struct dev_ctl_req a = take(1), b = take(2);
	cr_expect_neq(a.seq, b.seq);
	answer(2, &b, 22);
	answer(1, &a, 11);
	pump(1, 1000);
	cr_assert_eq(ndone, 1);
	cr_assert_eq(got.n, 2, "the worker has no channel");
	cr_expect_str_eq(got.dev[0].child->name, "blk0");
	cr_expect_eq(got.dev[0].answer, DEV_ANSWER_OK);
	cr_expect_eq(got.dev[0].reply.counters.requests, 11);
	cr_expect_eq(got.dev[1].reply.counters.requests, 22);
}

Test(dev_query, a_silent_device_times_out_and_its_late_answer_is_dropped)
{
	uint64_t t0 = evloop_now_ns();
	cr_assert_eq(dev_query_submit(q, &get, NULL, done, NULL), 0);
	struct dev_ctl_req a = take(1), late = take(2);
	answer(1, &a, 1);
	pump(1, 2000);
	cr_assert_eq(ndone, 1);
	uint64_t took = (evloop_now_ns() - t0) / 1000000;
	cr_expect(took >= DEV_QUERY_TIMEOUT_MS - 10 && took < DEV_QUERY_TIMEOUT_MS + 500, "%llu ms",
		  (unsigned long long)took);
	cr_expect_eq(got.dev[0].answer, DEV_ANSWER_OK);
	cr_expect_eq(got.dev[1].answer, DEV_ANSWER_TIMEOUT);

	/* Its answer comes now: dropped, and the next query is answered. */
	answer(2, &late, 999);
	cr_assert_eq(dev_query_submit(q, &get, "rng0", done, NULL), 0);
	struct dev_ctl_req next = take(2);
	answer(2, &next, 5);
	pump(2, 1000);
	cr_assert_eq(ndone, 2);
	cr_assert_eq(got.n, 1);
	cr_expect_eq(got.dev[0].answer, DEV_ANSWER_OK);
	cr_expect_eq(got.dev[0].reply.counters.requests, 5);
}

/* Each way a compromised device can break the protocol. */
static void broken_by(void (*misbehave)(const struct dev_ctl_req *rq))
{
	cr_assert_eq(dev_query_submit(q, &get, NULL, done, NULL), 0);
	struct dev_ctl_req a = take(1), b = take(2);
	answer(2, &b, 2);
	misbehave(&a);
	pump(1, 1000);
	cr_assert_eq(ndone, 1, "answered at once, not after the timeout");
	cr_expect_eq(got.dev[0].answer, DEV_ANSWER_BROKEN);
	cr_expect_eq(got.dev[1].answer, DEV_ANSWER_OK);
	/* Asked nothing more; the others still are. */
	cr_assert_eq(dev_query_submit(q, &get, NULL, done, NULL), 0);
	b = take(2);
	answer(2, &b, 3);
	pump(2, 1000);
	cr_assert_eq(ndone, 2);
	cr_expect_eq(got.dev[0].answer, DEV_ANSWER_BROKEN);
	struct dev_ctl_req none;
	if (dev_end[1] >= 0)
		cr_expect_eq(dev_ctl_recv_req(dev_end[1], &none), -EAGAIN, "blk0 was not asked");
	cr_expect_eq(got.dev[1].reply.counters.requests, 3);
}

static void malformed(const struct dev_ctl_req *rq)
{
	uint8_t junk[DEV_CTL_REPLY_SIZE + 3] = { 1, 2, 3 };
	(void)rq;
	cr_assert_eq(send(dev_end[1], junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
}

static void wrong_seq(const struct dev_ctl_req *rq)
{
	struct dev_ctl_req other = *rq;
	other.seq += 7;
	answer(1, &other, 1);
}

static void wrong_type(const struct dev_ctl_req *rq)
{
	struct dev_ctl_reply r = { .type = DEV_CTL_SET_RATE_LIMIT, .seq = rq->seq };
	cr_assert_eq(dev_ctl_send_reply(dev_end[1], &r), 0);
}

static void hang_up(const struct dev_ctl_req *rq)
{
	(void)rq;
	close(dev_end[1]);
	dev_end[1] = -1;
}

Test(dev_query, a_malformed_reply_breaks_the_channel) { broken_by(malformed); }
Test(dev_query, a_reply_to_nothing_asked_breaks_the_channel) { broken_by(wrong_seq); }
Test(dev_query, a_reply_of_another_type_breaks_the_channel) { broken_by(wrong_type); }
Test(dev_query, a_closed_channel_is_broken) { broken_by(hang_up); }

/* A device that floods its channel costs cellvmd a bounded read per round
 * and is cut off at its first stray reply. */
Test(dev_query, a_flood_is_cut_off)
{
	cr_assert_eq(dev_query_submit(q, &get, "blk0", done, NULL), 0);
	struct dev_ctl_req a = take(1);
	for (int i = 0; i < 50; i++)
		answer(1, &a, (uint64_t)i);
	pump(1, 1000);
	cr_expect_eq(got.dev[0].answer, DEV_ANSWER_OK);
	cr_expect_eq(got.dev[0].reply.counters.requests, 0, "the first reply counts");
	for (int i = 0; i < 10; i++)
		evloop_run_once(loop, 0);
	cr_assert_eq(dev_query_submit(q, &get, "blk0", done, NULL), 0);
	pump(2, 1000);
	cr_expect_eq(got.dev[0].answer, DEV_ANSWER_BROKEN);
}

Test(dev_query, refusals_and_release)
{
	cr_expect_eq(dev_query_submit(q, &get, "blk9", done, NULL), -ENOENT);
	cr_expect_eq(dev_query_submit(q, &get, VM_WORKER_NAME, done, NULL), -ENOENT,
		     "the worker has no control channel");
	/* Nobody asked: answered from the loop with no answers. */
	cr_assert_eq(dev_query_submit(q, &get, "", done, NULL), 0);
	cr_expect_eq(ndone, 0);
	pump(1, 1000);
	cr_expect_eq(got.n, 0);
	for (int i = 0; i < DEV_QUERY_MAX; i++)
		cr_assert_eq(dev_query_submit(q, &get, NULL, done, NULL), 0);
	cr_expect_eq(dev_query_submit(q, &get, NULL, done, NULL), -EBUSY);
	take(1);
	/* The VM goes: every query waiting is answered now. */
	dev_queries_release(q);
	cr_expect_eq(ndone, 1 + DEV_QUERY_MAX);
	cr_expect_eq(got.n, 0, "the last query never started");
}
