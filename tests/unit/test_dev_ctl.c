/* The cellvmd <-> device control channel (common/dev_ctl.h): messages round
 * trip, and the decoders refuse every malformed packet, as cellvmd must for
 * a compromised device's replies. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "dev_ctl.h"

static const struct dev_ctl_bucket set = { DEV_CTL_BUCKET_SET, 1 << 20, 4096, 125 };
static const struct dev_ctl_bucket off = { DEV_CTL_BUCKET_DISABLE, 0, 0, 0 };

Test(dev_ctl, request_round_trip)
{
	uint8_t buf[DEV_CTL_REQ_SIZE];
	struct dev_ctl_req m = { .type = DEV_CTL_SET_RATE_LIMIT, .seq = 7 }, out;
	m.rl.limiter[DEV_CTL_RX].bandwidth = set;
	m.rl.limiter[DEV_CTL_TX].ops = off;
	dev_ctl_encode_req(&m, buf);
	cr_assert_eq(dev_ctl_decode_req(buf, sizeof(buf), &out), 0);
	cr_expect_eq(out.type, DEV_CTL_SET_RATE_LIMIT);
	cr_expect_eq(out.seq, 7);
	cr_expect_eq(memcmp(&out.rl, &m.rl, sizeof(m.rl)), 0);

	m = (struct dev_ctl_req){ .type = DEV_CTL_GET_METRICS, .seq = 0xffffffffu };
	dev_ctl_encode_req(&m, buf);
	cr_assert_eq(dev_ctl_decode_req(buf, sizeof(buf), &out), 0);
	cr_expect_eq(out.type, DEV_CTL_GET_METRICS);
	cr_expect_eq(out.seq, 0xffffffffu);
}

Test(dev_ctl, reply_round_trip)
{
	uint8_t buf[DEV_CTL_REPLY_SIZE];
	struct dev_ctl_reply m = { .type = DEV_CTL_GET_METRICS, .seq = 3 }, out;
	m.counters.requests = 10;
	m.counters.read_bytes = 1ull << 40;
	m.counters.tx_dropped = UINT64_MAX;
	dev_ctl_encode_reply(&m, buf);
	cr_assert_eq(dev_ctl_decode_reply(buf, sizeof(buf), &out), 0);
	cr_expect_eq(out.type, DEV_CTL_GET_METRICS);
	cr_expect_eq(out.seq, 3);
	cr_expect_eq(memcmp(&out.counters, &m.counters, sizeof(m.counters)), 0);
	cr_expect_eq(dev_ctl_counter(&out.counters, 1), 1ull << 40);
	cr_expect_str_eq(dev_ctl_counter_info[1].name, "read_bytes");

	m = (struct dev_ctl_reply){ .type = DEV_CTL_SET_RATE_LIMIT, .seq = 4,
				    .status = -EOPNOTSUPP };
	dev_ctl_encode_reply(&m, buf);
	cr_assert_eq(dev_ctl_decode_reply(buf, sizeof(buf), &out), 0);
	cr_expect_eq(out.status, -EOPNOTSUPP);
}

/* Each change to a valid request that must make it malformed. */
Test(dev_ctl, malformed_requests)
{
	uint8_t good[DEV_CTL_REQ_SIZE + 1], buf[DEV_CTL_REQ_SIZE + 1];
	struct dev_ctl_req m = { .type = DEV_CTL_SET_RATE_LIMIT, .seq = 1 }, out = { .seq = 99 };
	m.rl.limiter[0].bandwidth = set;
	dev_ctl_encode_req(&m, good);
	good[DEV_CTL_REQ_SIZE] = 0;
	cr_expect_eq(dev_ctl_decode_req(good, DEV_CTL_REQ_SIZE - 1, &out), -EBADMSG);
	cr_expect_eq(dev_ctl_decode_req(good, DEV_CTL_REQ_SIZE + 1, &out), -EBADMSG);
	cr_expect_eq(dev_ctl_decode_req(good, 0, &out), -EBADMSG);
	struct { size_t off; uint32_t v; } bad[] = {
		{ 0, 0 }, { 0, 5 }, { 0, DEV_CTL_REPLY | 1 },  /* type */
		{ 8, 3 },                 /* mode */
		{ 12, 1 },                /* reserved */
		{ 16, 0 },                /* SET with size 0 */
		{ 32, 0 },                /* SET with refill 0 */
		{ 8 + 32 + 16, 5 },       /* KEEP with a size */
		{ 8 + 64 + 24, 1 },       /* KEEP with a refill time */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(buf, good, sizeof(buf));
		put_le32(buf + bad[i].off, bad[i].v);
		cr_expect_eq(dev_ctl_decode_req(buf, DEV_CTL_REQ_SIZE, &out), -EBADMSG, "row %zu", i);
	}
	/* GET_METRICS with a bucket. */
	memcpy(buf, good, sizeof(buf));
	put_le32(buf, DEV_CTL_GET_METRICS);
	cr_expect_eq(dev_ctl_decode_req(buf, DEV_CTL_REQ_SIZE, &out), -EBADMSG);
	cr_expect_eq(out.seq, 99, "untouched on failure");
}

Test(dev_ctl, malformed_replies)
{
	uint8_t good[DEV_CTL_REPLY_SIZE], buf[DEV_CTL_REPLY_SIZE];
	struct dev_ctl_reply m = { .type = DEV_CTL_SET_RATE_LIMIT, .seq = 1 }, out = { .seq = 99 };
	dev_ctl_encode_reply(&m, good);
	struct { size_t off; uint32_t v; } bad[] = {
		{ 0, DEV_CTL_SET_RATE_LIMIT },     /* not marked a reply */
		{ 0, DEV_CTL_REPLY | 9 },          /* unknown type */
		{ 0, DEV_CTL_REPLY },
		{ 8, 1 },                          /* positive status */
		{ 8, (uint32_t)-4096 },            /* not an errno */
		{ 12, 1 },                         /* reserved */
		{ 16, 1 },                         /* counters in a SET reply */
		{ DEV_CTL_REPLY_SIZE - 4, 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(buf, good, sizeof(buf));
		put_le32(buf + bad[i].off, bad[i].v);
		cr_expect_eq(dev_ctl_decode_reply(buf, sizeof(buf), &out), -EBADMSG, "row %zu", i);
	}
	m.type = DEV_CTL_GET_METRICS;
	dev_ctl_encode_reply(&m, buf);
	put_le32(buf + 8, (uint32_t)-EIO); /* GET_METRICS never fails */
	cr_expect_eq(dev_ctl_decode_reply(buf, sizeof(buf), &out), -EBADMSG);
	cr_expect_eq(dev_ctl_decode_reply(good, sizeof(good) - 1, &out), -EBADMSG);
	cr_expect_eq(out.seq, 99, "untouched on failure");
}

/* The balloon's requests: a target in pages, a stats read; their replies
 * carry the balloon's state only for a successful GET_BALLOON_STATS. */
Test(dev_ctl, balloon_round_trip)
{
	uint8_t rq[DEV_CTL_REQ_SIZE], rp[DEV_CTL_REPLY_SIZE];
	struct dev_ctl_req q = { .type = DEV_CTL_SET_BALLOON_TARGET, .seq = 7,
				 .balloon_pages = 0xfffffffe }, qo;
	dev_ctl_encode_req(&q, rq);
	cr_assert_eq(dev_ctl_decode_req(rq, sizeof(rq), &qo), 0);
	cr_expect_eq(qo.type, DEV_CTL_SET_BALLOON_TARGET);
	cr_expect_eq(qo.balloon_pages, 0xfffffffe);
	q = (struct dev_ctl_req){ .type = DEV_CTL_GET_BALLOON_STATS, .seq = 8 };
	dev_ctl_encode_req(&q, rq);
	cr_assert_eq(dev_ctl_decode_req(rq, sizeof(rq), &qo), 0);
	cr_expect_eq(qo.balloon_pages, 0);

	struct dev_ctl_reply m = { .type = DEV_CTL_GET_BALLOON_STATS, .seq = 8 }, out;
	m.balloon = (struct dev_ctl_balloon){ .target_pages = 256, .actual_pages = 200,
					      .present = 1u << 4 | 1u << 15 };
	m.balloon.stat[4] = 123456789;
	m.balloon.stat[15] = UINT64_MAX;
	dev_ctl_encode_reply(&m, rp);
	cr_assert_eq(dev_ctl_decode_reply(rp, sizeof(rp), &out), 0);
	cr_expect_eq(memcmp(&out.balloon, &m.balloon, sizeof(m.balloon)), 0);
	cr_expect_str_eq(dev_ctl_balloon_stat_name(4), "free_memory");
	cr_expect_null(dev_ctl_balloon_stat_name(DEV_CTL_BALLOON_NSTATS));

	m = (struct dev_ctl_reply){ .type = DEV_CTL_SET_BALLOON_TARGET, .seq = 9,
				    .status = -EOPNOTSUPP };
	dev_ctl_encode_reply(&m, rp);
	cr_assert_eq(dev_ctl_decode_reply(rp, sizeof(rp), &out), 0);
	cr_expect_eq(out.status, -EOPNOTSUPP);
}

Test(dev_ctl, malformed_balloon_messages)
{
	uint8_t good[DEV_CTL_REQ_SIZE], buf[DEV_CTL_REQ_SIZE];
	struct dev_ctl_req q = { .type = DEV_CTL_SET_BALLOON_TARGET, .seq = 1, .balloon_pages = 5 },
			   qo = { .seq = 99 };
	dev_ctl_encode_req(&q, good);
	memcpy(buf, good, sizeof(buf));
	buf[DEV_CTL_REQ_SIZE - 1] = 1; /* past the pages: reserved */
	cr_expect_eq(dev_ctl_decode_req(buf, sizeof(buf), &qo), -EBADMSG);
	memcpy(buf, good, sizeof(buf));
	put_le32(buf, DEV_CTL_GET_BALLOON_STATS); /* pages in a stats read */
	cr_expect_eq(dev_ctl_decode_req(buf, sizeof(buf), &qo), -EBADMSG);
	cr_expect_eq(qo.seq, 99);

	uint8_t rgood[DEV_CTL_REPLY_SIZE], rbuf[DEV_CTL_REPLY_SIZE];
	struct dev_ctl_reply m = { .type = DEV_CTL_GET_BALLOON_STATS, .seq = 1 }, out = { .seq = 99 };
	m.balloon.present = 1;
	m.balloon.stat[0] = 3;
	dev_ctl_encode_reply(&m, rgood);
	struct { size_t off; uint32_t v; } bad[] = {
		{ 16 + 12, 1 },                 /* reserved */
		{ 16 + 8, 1u << 16 },           /* a stat past the table */
		{ 16 + 16 + 8, 1 },             /* a value for a stat not present */
		{ DEV_CTL_REPLY_SIZE - 4, 1 },  /* the last stat, not present */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(rbuf, rgood, sizeof(rbuf));
		put_le32(rbuf + bad[i].off, bad[i].v);
		cr_expect_eq(dev_ctl_decode_reply(rbuf, sizeof(rbuf), &out), -EBADMSG, "row %zu", i);
	}
	/* A failed stats read carries nothing. */
	m = (struct dev_ctl_reply){ .type = DEV_CTL_GET_BALLOON_STATS, .seq = 2, .status = -EIO };
	dev_ctl_encode_reply(&m, rbuf);
	put_le32(rbuf + 16, 1);
	cr_expect_eq(dev_ctl_decode_reply(rbuf, sizeof(rbuf), &out), -EBADMSG);
	cr_expect_eq(out.seq, 99, "untouched on failure");
}

Test(dev_ctl, kinds)
{
	uint32_t blk = dev_ctl_kind_counters("blk");
	cr_expect(blk & 1u << 1, "blk reads");
	cr_expect(!(blk & 1u << 5), "blk has no frames");
	cr_expect(dev_ctl_kind_counters("net") & 1u << 9);
	cr_expect_eq(dev_ctl_kind_counters("gpu"), 0);
}

/* Over a socket: whole packets only, no fds, EOF and nothing-there told apart. */
Test(dev_ctl, socket)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	struct dev_ctl_req rq;
	struct dev_ctl_reply rp;
	cr_expect_eq(dev_ctl_recv_req(sv[1], &rq), -EAGAIN);
	cr_assert_eq(dev_ctl_send_req(sv[0], &(struct dev_ctl_req){ .type = DEV_CTL_GET_METRICS,
								     .seq = 5 }), 0);
	cr_assert_eq(dev_ctl_recv_req(sv[1], &rq), 0);
	cr_expect_eq(rq.seq, 5);
	struct dev_ctl_reply r = { .type = DEV_CTL_GET_METRICS, .seq = 5 };
	r.counters.write_bytes = 4096;
	cr_assert_eq(dev_ctl_send_reply(sv[1], &r), 0);
	cr_assert_eq(dev_ctl_recv_reply(sv[0], &rp), 0);
	cr_expect_eq(rp.counters.write_bytes, 4096);
	/* A longer packet is malformed, not cut. */
	uint8_t big[DEV_CTL_REPLY_SIZE + 8] = { 0 };
	cr_assert_eq(send(sv[1], big, sizeof(big), 0), (ssize_t)sizeof(big));
	cr_expect_eq(dev_ctl_recv_reply(sv[0], &rp), -EBADMSG);
	close(sv[1]);
	cr_expect_eq(dev_ctl_recv_reply(sv[0], &rp), -ECONNRESET);
	close(sv[0]);
}
