/* The RPC's framed I/O over socketpairs (controller/rpc_conn.h): the
 * server's incremental reader and bounded writer, and the clients' blocking
 * helpers. The codec is test_rpc.c's. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "log.h"
#include "rpc.h"
#include "rpc_conn.h"
#include "testutil.h"

static void quiet(void)
{
	log_init("test_rpc_io", LOG_LVL_ERROR);
}

TestSuite(rpc_reader, .init = quiet);
TestSuite(rpc_writer, .init = quiet);
TestSuite(rpc_blocking, .init = quiet);

static char err[512];
static uint8_t frame[RPC_FRAME_MAX + 64];

/* ---------------------------------------------------------- the reader */

static struct rpc_reader *reader_new(void)
{
	struct rpc_reader *r = malloc(sizeof(*r));
	cr_assert(r);
	rpc_reader_init(r);
	return r;
}

static size_t encode_run(uint32_t id)
{
	int len = rpc_encode_request(id, RPC_RUN, NULL, frame, sizeof(frame));
	cr_assert_gt(len, 0);
	return (size_t)len;
}

/* Expects the reader to deliver request `id` with nfds fds. */
static void expect_request(struct rpc_reader *r, int sock, uint32_t id, size_t nfds)
{
	cr_assert_eq(rpc_reader_feed(r, sock), 1);
	cr_assert_eq(strlen(r->body), r->body_len, "NUL-terminated");
	struct rpc_request req;
	cr_assert_eq(rpc_parse_request(r->body, r->body_len, &req, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(req.id, id);
	cr_assert_eq(r->nfds, nfds, "message %u: %zu fds, want %zu", id, r->nfds, nfds);
	rpc_request_free(&req);
}

Test(rpc_reader, one_byte_at_a_time)
{
	int sv[2];
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(77);
	for (size_t i = 0; i < len; i++) {
		cr_assert_eq(rpc_reader_feed(r, sv[1]), 0, "byte %zu: nothing whole yet", i);
		tu_raw_send(sv[0], frame + i, 1, NULL, 0);
	}
	expect_request(r, sv[1], 77, 0);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 1, "held until next");
	rpc_reader_next(r);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, two_messages_in_one_write_come_one_at_a_time)
{
	int sv[2];
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	uint8_t both[128];
	size_t a = encode_run(1);
	memcpy(both, frame, a);
	size_t b = encode_run(2);
	memcpy(both + a, frame, b);
	tu_raw_send(sv[0], both, a + b, NULL, 0);

	expect_request(r, sv[1], 1, 0);
	expect_request(r, sv[1], 1, 0); /* not consumed by a second feed */
	rpc_reader_next(r);
	expect_request(r, sv[1], 2, 0);
	rpc_reader_next(r);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, fds_on_the_prefix_are_delivered_with_their_message)
{
	int sv[2], fds[RPC_MAX_FDS];
	tu_sockpair(sv);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		fds[i] = tu_memfd();
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, fds, 1), 0);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, NULL, 0), 0);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, fds, RPC_MAX_FDS), 0);

	expect_request(r, sv[1], 1, 1);
	cr_assert(tu_same_file(r->fds[0], fds[0]));
	cr_assert_eq(fcntl(r->fds[0], F_GETFD), FD_CLOEXEC);
	int taken = r->fds[0];
	rpc_reader_next(r);
	cr_assert_eq(r->nfds, 0);
	cr_assert_eq(r->fds[0], -1, "fds[] is cleared");
	cr_assert_geq(fcntl(taken, F_GETFD), 0, "next does not close the fds");
	close(taken);
	expect_request(r, sv[1], 1, 0);
	rpc_reader_next(r);
	expect_request(r, sv[1], 1, RPC_MAX_FDS);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		cr_assert(tu_same_file(r->fds[i], fds[i]), "fd %d in order", i);
	int before = tu_count_fds();
	rpc_reader_reset(r);
	cr_assert_eq(tu_count_fds(), before - RPC_MAX_FDS, "reset closes what it holds");
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		close(fds[i]);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

/* Feeds until the reader fails; returns the error. */
static int feed_until_error(struct rpc_reader *r, int sock)
{
	int ret;
	for (int i = 0; i < 100; i++) {
		ret = rpc_reader_feed(r, sock);
		if (ret < 0)
			return ret;
		if (ret == 1)
			rpc_reader_next(r);
	}
	cr_assert_fail("the reader never failed");
	return 0;
}

Test(rpc_reader, fds_with_the_body_are_refused_and_closed)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	int before = tu_count_fds();
	tu_raw_send(sv[0], frame, 4, &fd, 1);
	tu_raw_send(sv[0], frame + 4, len - 4, &fd, 1);
	cr_assert_eq(feed_until_error(r, sv[1]), -EBADMSG);
	cr_assert_eq(tu_count_fds(), before, "both received fds closed");
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, fds_after_the_first_prefix_read_are_refused)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	int before = tu_count_fds();
	tu_raw_send(sv[0], frame, 1, NULL, 0);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	tu_raw_send(sv[0], frame + 1, len - 1, &fd, 1);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), -EBADMSG);
	cr_assert_eq(tu_count_fds(), before);
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

static void too_many_fds(size_t n, bool passcred)
{
	int sv[2], fds[64];
	tu_sockpair(sv);
	int on = 1;
	if (passcred)
		cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	for (size_t i = 0; i < n; i++)
		fds[i] = tu_memfd();
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	int before = tu_count_fds();
	tu_raw_send(sv[0], frame, len, fds, n);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), -EBADMSG, "%zu fds", n);
	cr_assert_eq(tu_count_fds(), before, "%zu fds: all closed", n);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, more_than_four_fds_are_refused)
{
	too_many_fds(RPC_MAX_FDS + 1, false);
}

/* With credentials in the control data, a fifth fd does not fit. */
Test(rpc_reader, truncated_control_data_is_refused)
{
	too_many_fds(RPC_MAX_FDS + 1, true);
	too_many_fds(64, false);
}

Test(rpc_reader, four_fds_fit_beside_credentials)
{
	int sv[2], fds[RPC_MAX_FDS];
	tu_sockpair(sv);
	int on = 1;
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		fds[i] = tu_memfd();
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, fds, RPC_MAX_FDS), 0);
	expect_request(r, sv[1], 1, RPC_MAX_FDS);
	rpc_reader_reset(r);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		close(fds[i]);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

static void bad_prefix(uint32_t n)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	uint8_t hdr[4];
	put_le32(hdr, n);
	int before = tu_count_fds();
	tu_raw_send(sv[0], hdr, 4, &fd, 1);
	tu_raw_send(sv[0], "{}", 2, NULL, 0);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), -EMSGSIZE, "prefix %u", n);
	cr_assert_eq(tu_count_fds(), before, "the prefix's fd closed");
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, zero_prefix_is_refused)
{
	bad_prefix(0);
}

Test(rpc_reader, oversize_prefix_is_refused)
{
	bad_prefix(RPC_MAX_BODY + 1);
	bad_prefix(UINT32_MAX);
}

Test(rpc_reader, largest_message)
{
	int sv[2];
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t plen = RPC_MAX_BODY - strlen("{\"id\":1,\"method\":\"Create\",\"params\":}");
	int len = rpc_encode_request(1, RPC_CREATE, tu_padded_object(plen), frame, sizeof(frame));
	cr_assert_eq(len, (int)RPC_FRAME_MAX);
	int sndbuf = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	cr_assert_eq(rpc_send_frame(sv[0], frame, (size_t)len, NULL, 0), 0);
	expect_request(r, sv[1], 1, 0);
	cr_assert_eq(r->body_len, RPC_MAX_BODY);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

static void eof_after(size_t sent, bool with_fd)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	cr_assert_leq(sent, len);
	int before = tu_count_fds();
	if (sent)
		tu_raw_send(sv[0], frame, sent, &fd, with_fd ? 1 : 0);
	close(sv[0]);
	int ret = rpc_reader_feed(r, sv[1]);
	if (sent == len) {
		cr_assert_eq(ret, 1);
		cr_assert_eq(r->nfds, with_fd ? 1u : 0u);
		rpc_reader_reset(r);
		ret = rpc_reader_feed(r, sv[1]);
	}
	cr_assert_eq(ret, -ECONNRESET, "EOF after %zu bytes", sent);
	cr_assert_eq(tu_count_fds(), before - 1, "after %zu bytes: no fd held", sent);
	free(r);
	close(fd);
	close(sv[1]);
}

Test(rpc_reader, eof_between_messages)
{
	eof_after(0, false);
	eof_after(encode_run(1), true);
}

Test(rpc_reader, eof_mid_prefix)
{
	eof_after(2, true);
}

Test(rpc_reader, eof_mid_body)
{
	eof_after(9, true);
}

Test(rpc_reader, other_errors_close_held_fds)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	encode_run(1);
	int before = tu_count_fds();
	tu_raw_send(sv[0], frame, 6, &fd, 1);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	cr_assert_eq(r->nfds, 1);
	cr_assert_eq(tu_count_fds(), before + 1);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(rpc_reader_feed(r, p[0]), -ENOTSOCK);
	cr_assert_eq(tu_count_fds(), before + 2, "the fd from the socket closed");
	close(p[0]);
	close(p[1]);
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/* ---------------------------------------------------------- the writer */

/* Requests of about 1 KiB: Create with a padded config. */
static size_t encode_padded(uint32_t id, size_t pad)
{
	char params[2048];
	cr_assert_lt(pad, sizeof(params) - 16);
	size_t o = (size_t)sprintf(params, "{\"pad\":\"");
	memset(params + o, 'p', pad);
	strcpy(params + o + pad, "\"}");
	int len = rpc_encode_request(id, RPC_CREATE, params, frame, sizeof(frame));
	cr_assert_gt(len, 0);
	return (size_t)len;
}

static void small_sndbuf(int sock)
{
	int small = 4096;
	cr_assert_eq(setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
}

Test(rpc_writer, queues_while_the_peer_does_not_read_then_delivers_in_order)
{
	int sv[2], fd1 = tu_memfd(), fd2[2] = { tu_memfd(), tu_memfd() };
	tu_sockpair(sv);
	small_sndbuf(sv[0]);
	struct rpc_writer w;
	const size_t limit = 64 * 1024;
	rpc_writer_init(&w, limit);
	cr_assert(!rpc_writer_pending(&w));

	/* Fill the socket until the writer has to keep bytes. */
	uint32_t id = 0;
	int ret = 0;
	while (ret == 0) {
		size_t len = encode_padded(id++, 1000);
		cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0);
		ret = rpc_writer_flush(&w, sv[0]);
		cr_assert_geq(ret, 0);
		cr_assert_lt(id, 1000, "the socket never filled");
	}
	cr_assert_eq(ret, 1);
	cr_assert(rpc_writer_pending(&w));
	uint32_t sent_plain = id;

	/* Frames with fds queue behind, each with its own. */
	size_t len = encode_padded(id++, 10);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, &fd1, 1), 0);
	len = encode_padded(id++, 10);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0);
	len = encode_padded(id++, 10);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, fd2, 2), 0);
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), 1, "the peer still does not read");

	/* Up to the limit, then -ENOBUFS with nothing queued. */
	for (;;) {
		len = encode_padded(id, 1000);
		int q = rpc_writer_queue(&w, frame, len, NULL, 0);
		if (q == -ENOBUFS)
			break;
		cr_assert_eq(q, 0);
		id++;
	}
	cr_assert_leq(w.len - w.off, limit);
	cr_assert_gt(w.len - w.off + len, limit, "-ENOBUFS only past the limit");
	size_t queued = w.len - w.off;
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), -ENOBUFS);
	cr_assert_eq(w.len - w.off, queued, "nothing queued");

	/* The peer reads: every frame in order, the fds with theirs only. */
	struct rpc_reader *r = reader_new();
	uint32_t next = 0;
	for (int spins = 0; next < id; spins++) {
		cr_assert_lt(spins, 100000);
		ret = rpc_writer_flush(&w, sv[0]);
		cr_assert_geq(ret, 0);
		int f = rpc_reader_feed(r, sv[1]);
		cr_assert_geq(f, 0);
		if (f == 0)
			continue;
		size_t want = next == sent_plain ? 1 : next == sent_plain + 2 ? 2 : 0;
		expect_request(r, sv[1], next, want);
		if (want == 1)
			cr_assert(tu_same_file(r->fds[0], fd1));
		if (want == 2) {
			cr_assert(tu_same_file(r->fds[0], fd2[0]));
			cr_assert(tu_same_file(r->fds[1], fd2[1]));
		}
		rpc_reader_reset(r);
		next++;
	}
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), 0);
	cr_assert(!rpc_writer_pending(&w));
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0, "nothing more");
	cr_assert_geq(fcntl(fd1, F_GETFD), 0, "the caller's fds stay open");
	rpc_writer_free(&w);
	rpc_writer_free(&w);
	free(r);
	close(fd1);
	close(fd2[0]);
	close(fd2[1]);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_writer, fds_go_with_their_frame_when_frames_share_a_flush)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_writer w;
	rpc_writer_init(&w, 4096);
	int before = tu_count_fds();
	/* plain, fd, plain, fd, plain: all queued, then one flush. */
	for (uint32_t id = 0; id < 5; id++) {
		size_t len = encode_run(id);
		cr_assert_eq(rpc_writer_queue(&w, frame, len, &fd, id % 2), 0);
	}
	cr_assert_eq(tu_count_fds(), before + 2, "the writer holds duplicates");
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), 0);
	cr_assert_eq(tu_count_fds(), before, "and closes them once sent");
	struct rpc_reader *r = reader_new();
	for (uint32_t id = 0; id < 5; id++) {
		expect_request(r, sv[1], id, id % 2);
		if (id % 2)
			cr_assert(tu_same_file(r->fds[0], fd));
		rpc_reader_reset(r);
	}
	rpc_writer_free(&w);
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_writer, limits_on_fd_frames_and_frame_size)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_writer w;
	rpc_writer_init(&w, 1 << 16);
	int before = tu_count_fds();
	size_t len = encode_run(1);
	for (int i = 0; i < RPC_WRITER_MAX_FD_FRAMES; i++)
		cr_assert_eq(rpc_writer_queue(&w, frame, len, &fd, 1), 0);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, &fd, 1), -ENOBUFS);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0, "frames without fds still fit");
	cr_assert_eq(tu_count_fds(), before + RPC_WRITER_MAX_FD_FRAMES);
	rpc_writer_free(&w);
	cr_assert_eq(tu_count_fds(), before, "free closes the fds not sent");
	cr_assert(!rpc_writer_pending(&w));

	rpc_writer_init(&w, len - 1);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), -ENOBUFS, "larger than the limit");
	rpc_writer_init(&w, len);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), -ENOBUFS);
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), 0);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0, "room again once sent");
	rpc_writer_free(&w);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_writer, refuses_bad_frames_and_fds)
{
	int fds[RPC_MAX_FDS + 1];
	for (int i = 0; i <= RPC_MAX_FDS; i++)
		fds[i] = tu_memfd();
	struct rpc_writer w;
	rpc_writer_init(&w, 1 << 16);
	size_t len = encode_run(1);
	int before = tu_count_fds();
	cr_assert_eq(rpc_writer_queue(&w, frame, len - 1, NULL, 0), -EINVAL);
	cr_assert_eq(rpc_writer_queue(&w, frame, len + 1, NULL, 0), -EINVAL);
	cr_assert_eq(rpc_writer_queue(&w, frame, 4, NULL, 0), -EINVAL);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, fds, RPC_MAX_FDS + 1), -EINVAL);
	/* A bad fd after a good one: the good one's duplicate is closed. */
	int bad[2] = { fds[0], 1000000 };
	cr_assert_eq(rpc_writer_queue(&w, frame, len, bad, 2), -EBADF);
	cr_assert(!rpc_writer_pending(&w), "nothing queued");
	cr_assert_eq(w.nfds, 0);
	cr_assert_eq(tu_count_fds(), before);
	rpc_writer_free(&w);
	for (int i = 0; i <= RPC_MAX_FDS; i++)
		close(fds[i]);
}

Test(rpc_writer, peer_gone)
{
	int sv[2];
	tu_sockpair(sv);
	close(sv[1]);
	struct rpc_writer w;
	rpc_writer_init(&w, 1 << 16);
	size_t len = encode_run(1);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0);
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), -ECONNRESET);
	cr_assert_eq(rpc_writer_flush(&w, -1), -EBADF, "other errors pass through");
	rpc_writer_free(&w);
	close(sv[0]);
}

/* ---------------------------------------------------------- blocking helpers */

Test(rpc_blocking, roundtrip_with_fds)
{
	int sv[2], fds[2] = { tu_memfd(), tu_memfd() };
	tu_sockpair(sv);
	int len = rpc_encode_request(3, RPC_BIND, NULL, frame, sizeof(frame));
	cr_assert_eq(rpc_send_frame(sv[0], frame, (size_t)len, fds, 1), 0);
	len = rpc_encode_ok(3, "{\"a\":1}", frame, sizeof(frame));
	cr_assert_eq(rpc_send_frame(sv[0], frame, (size_t)len, fds, 2), 0);

	char *body;
	size_t blen, n;
	int got[RPC_MAX_FDS];
	cr_assert_eq(rpc_recv_frame(sv[1], &body, &blen, got, RPC_MAX_FDS, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert(tu_same_file(got[0], fds[0]));
	close(got[0]);
	struct rpc_request req;
	cr_assert_eq(rpc_parse_request(body, blen, &req, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(req.method, RPC_BIND);
	cr_assert_eq(rpc_method_fds(req.method), n);
	free(body);

	cr_assert_eq(rpc_recv_frame(sv[1], &body, &blen, got, 2, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(strlen(body), blen);
	struct rpc_reply rep;
	cr_assert_eq(rpc_parse_reply(body, blen, &rep, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(rep.result, "{\"a\":1}");
	rpc_reply_free(&rep);
	free(body);
	close(got[0]);
	close(got[1]);
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);
}

/* A frame on a fresh socketpair, sent as `parts`; rpc_recv_frame() must
 * fail with want and leave no fd open. */
struct part {
	size_t off, len, nfds;
};

static void recv_fails(const uint8_t *f, const struct part *parts, size_t nparts, size_t max_fds,
		       bool close_peer, int want, const char *what)
{
	int sv[2], fds[2] = { tu_memfd(), tu_memfd() };
	tu_sockpair(sv);
	int before = tu_count_fds();
	for (size_t i = 0; i < nparts; i++)
		tu_raw_send(sv[0], f + parts[i].off, parts[i].len, fds, parts[i].nfds);
	if (close_peer)
		close(sv[0]);
	char *body = NULL;
	size_t blen, n;
	int got[RPC_MAX_FDS];
	cr_assert_eq(rpc_recv_frame(sv[1], &body, &blen, got, max_fds, &n), want, "%s", what);
	cr_assert_eq(tu_count_fds(), before - (close_peer ? 1 : 0), "%s: fds closed", what);
	cr_assert_null(body, "%s: nothing allocated", what);
	close(fds[0]);
	close(fds[1]);
	if (!close_peer)
		close(sv[0]);
	close(sv[1]);
}

Test(rpc_blocking, errors_leave_nothing_open)
{
	int sv[2], fds[RPC_MAX_FDS + 1] = { 0 };
	tu_sockpair(sv);
	char *body = NULL;
	size_t blen, n;
	int got[RPC_MAX_FDS];
	size_t len = encode_run(1);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len - 1, NULL, 0), -EINVAL);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, fds, RPC_MAX_FDS + 1), -EINVAL);
	cr_assert_eq(rpc_recv_frame(sv[1], &body, &blen, got, RPC_MAX_FDS + 1, &n), -EINVAL);
	close(sv[0]);
	close(sv[1]);

	recv_fails(frame, (struct part[]){ { 0, len, 2 } }, 1, 1, false, -EBADMSG, "over max_fds");
	recv_fails(frame, (struct part[]){ { 0, 4, 1 }, { 4, len - 4, 1 } }, 2, 1, false, -EBADMSG,
		   "fds with the body");
	recv_fails(frame, (struct part[]){ { 0, 6, 1 } }, 1, 1, true, -ECONNRESET, "EOF mid-body");
	uint8_t bad[8] = { 0 };
	put_le32(bad, RPC_MAX_BODY + 1);
	recv_fails(bad, (struct part[]){ { 0, 8, 1 } }, 1, 1, false, -EMSGSIZE, "oversize prefix");
	put_le32(bad, 0);
	recv_fails(bad, (struct part[]){ { 0, 8, 1 } }, 1, 1, false, -EMSGSIZE, "zero prefix");
}
