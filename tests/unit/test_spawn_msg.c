/* The cellvmd <-> cellvm-spawner codec: requests and replies survive a round
 * trip, and the decoders refuse every malformed packet a hostile cellvmd (or
 * a broken spawner) could send. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "bytes.h"
#include "spawn_msg.h"

static uint8_t pkt[SPAWN_MSG_MAX_SIZE + 64];

static char *argv3[] = { "cellvm-rng", "--fd", "3", NULL };
static const struct spawn_fd two_fds[] = { { 10, 3 }, { 11, 4 } };

/* cellvm-rng with fds 3 and 4 and a stderr fd: its packet length. */
static size_t good_spawn(void)
{
	struct spawn_req req = { .path = "/usr/lib/cellvm/cellvm-rng", .argv = argv3,
				 .fds = two_fds, .nfds = 2, .stderr_fd = 12 };
	ssize_t len = spawn_msg_encode_spawn(&req, pkt, sizeof(pkt));
	cr_assert_gt(len, 0);
	return (size_t)len;
}

static int decode(size_t len, size_t nfds)
{
	struct spawn_msg_req m;
	return spawn_msg_decode_req(pkt, len, nfds, &m);
}

Test(spawn_msg, spawn_round_trip)
{
	size_t len = good_spawn();
	struct spawn_msg_req m;
	cr_assert_eq(spawn_msg_decode_req(pkt, len, 3, &m), 0);
	cr_expect_eq(m.type, SPAWN_MSG_SPAWN);
	cr_expect_str_eq(m.path, "/usr/lib/cellvm/cellvm-rng");
	for (size_t i = 0; argv3[i]; i++)
		cr_expect_str_eq(m.argv[i], argv3[i]);
	cr_expect_null(m.argv[3]);
	cr_expect_eq(m.nfds, 2);
	cr_expect_eq(m.target[0], 3);
	cr_expect_eq(m.target[1], 4);
	cr_expect(m.has_stderr);
}

Test(spawn_msg, spawn_without_fds_or_stderr)
{
	char *argv[] = { "true", NULL };
	struct spawn_req req = { .path = "/bin/true", .argv = argv, .stderr_fd = -1 };
	ssize_t len = spawn_msg_encode_spawn(&req, pkt, sizeof(pkt));
	cr_assert_gt(len, 0);
	struct spawn_msg_req m;
	cr_assert_eq(spawn_msg_decode_req(pkt, (size_t)len, 0, &m), 0);
	cr_expect_eq(m.nfds, 0);
	cr_expect(!m.has_stderr);
	cr_expect_str_eq(m.argv[0], "true");
	cr_expect_null(m.argv[1]);
}

Test(spawn_msg, reap_round_trip)
{
	spawn_msg_encode_reap(4321, pkt);
	struct spawn_msg_req m;
	cr_assert_eq(spawn_msg_decode_req(pkt, SPAWN_MSG_REAP_SIZE, 0, &m), 0);
	cr_expect_eq(m.type, SPAWN_MSG_REAP);
	cr_expect_eq(m.pid, 4321);
}

Test(spawn_msg, the_encoder_refuses_what_the_spawner_would)
{
	char *noargs[] = { NULL };
	const struct spawn_fd low[] = { { 10, 2 } }, twice[] = { { 10, 5 }, { 11, 5 } },
			      high[] = { { 10, SPAWN_MSG_MAX_TARGET + 1 } };
	struct spawn_fd many[SPAWN_MSG_MAX_FDS + 1];
	for (int i = 0; i <= SPAWN_MSG_MAX_FDS; i++)
		many[i] = (struct spawn_fd){ 10 + i, 3 + i };
	static char *longargv[SPAWN_MSG_MAX_ARGS + 2];
	for (size_t i = 0; i <= SPAWN_MSG_MAX_ARGS; i++)
		longargv[i] = "x";
	const struct spawn_req bad[] = {
		{ .path = "cellvm-rng", .argv = argv3, .stderr_fd = -1 },
		{ .path = NULL, .argv = argv3, .stderr_fd = -1 },
		{ .path = "/x", .argv = noargs, .stderr_fd = -1 },
		{ .path = "/x", .argv = argv3, .fds = low, .nfds = 1, .stderr_fd = -1 },
		{ .path = "/x", .argv = argv3, .fds = twice, .nfds = 2, .stderr_fd = -1 },
		{ .path = "/x", .argv = argv3, .fds = high, .nfds = 1, .stderr_fd = -1 },
		{ .path = "/x", .argv = argv3, .fds = many, .nfds = SPAWN_MSG_MAX_FDS + 1,
		  .stderr_fd = -1 },
		{ .path = "/x", .argv = longargv, .stderr_fd = -1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(spawn_msg_encode_spawn(&bad[i], pkt, sizeof(pkt)), -EINVAL, "case %zu",
			     i);
	/* Too long for the buffer, or for any packet. */
	struct spawn_req req = { .path = "/x", .argv = argv3, .stderr_fd = -1 };
	cr_expect_eq(spawn_msg_encode_spawn(&req, pkt, 20), -E2BIG);
	static char big[SPAWN_MSG_MAX_SIZE];
	memset(big, 'a', sizeof(big) - 1);
	char *bigargv[] = { big, NULL };
	req.argv = bigargv;
	cr_expect_eq(spawn_msg_encode_spawn(&req, pkt, sizeof(pkt)), -E2BIG);
}

Test(spawn_msg, wrong_lengths_and_types)
{
	size_t len = good_spawn();
	cr_expect_eq(decode(0, 0), -EBADMSG);
	cr_expect_eq(decode(3, 0), -EBADMSG);
	cr_expect_eq(decode(15, 3), -EBADMSG, "shorter than the header");
	cr_expect_eq(decode(len - 1, 3), -EBADMSG, "the last string cut");
	pkt[len] = 'x';
	cr_expect_eq(decode(len + 1, 3), -EBADMSG, "a byte after the strings");
	pkt[len] = '\0';
	cr_expect_eq(decode(len + 1, 3), -EBADMSG, "an extra string");
	cr_expect_eq(decode(SPAWN_MSG_MAX_SIZE + 1, 3), -EBADMSG, "over the size limit");
	put_le32(pkt, 3);
	cr_expect_eq(decode(len, 3), -EBADMSG, "an unknown type");
	put_le32(pkt, 0);
	cr_expect_eq(decode(len, 3), -EBADMSG, "type 0");
}

Test(spawn_msg, counts_are_capped)
{
	size_t len = good_spawn();
	put_le32(pkt + 4, SPAWN_MSG_MAX_FDS + 1);
	cr_expect_eq(decode(len, SPAWN_MSG_MAX_FDS + 2), -EBADMSG, "too many fds");
	put_le32(pkt + 4, 0xffffffff);
	cr_expect_eq(decode(len, 3), -EBADMSG, "a huge fd count");
	len = good_spawn();
	put_le32(pkt + 8, 2);
	cr_expect_eq(decode(len, 4), -EBADMSG, "has_stderr neither 0 nor 1");
	len = good_spawn();
	put_le32(pkt + 12, 0);
	cr_expect_eq(decode(len, 3), -EBADMSG, "no argv[0]");
	put_le32(pkt + 12, SPAWN_MSG_MAX_ARGS + 1);
	cr_expect_eq(decode(len, 3), -EBADMSG, "too many args");
	put_le32(pkt + 12, 4);
	cr_expect_eq(decode(len, 3), -EBADMSG, "more args than strings");
	put_le32(pkt + 12, 2);
	cr_expect_eq(decode(len, 3), -EBADMSG, "fewer args than strings");
}

Test(spawn_msg, fds_that_came_must_match_the_declared_ones)
{
	size_t len = good_spawn();
	cr_expect_eq(decode(len, 3), 0);
	cr_expect_eq(decode(len, 2), -EBADMSG, "one missing");
	cr_expect_eq(decode(len, 0), -EBADMSG, "all missing");
	cr_expect_eq(decode(len, 4), -EBADMSG, "one extra");
	spawn_msg_encode_reap(77, pkt);
	cr_expect_eq(decode(SPAWN_MSG_REAP_SIZE, 1), -EBADMSG, "REAP with an fd");
}

Test(spawn_msg, bad_targets)
{
	static const uint32_t bad[] = { 0, 2, SPAWN_MSG_MAX_TARGET + 1, 0x80000000u, 4 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = good_spawn();
		put_le32(pkt + 16, bad[i]); /* 4 (the second's target) is a duplicate */
		cr_expect_eq(decode(len, 3), -EBADMSG, "target %u", bad[i]);
	}
}

Test(spawn_msg, strings)
{
	size_t len = good_spawn();
	size_t path = 16 + 8;
	pkt[path] = 'u';
	cr_expect_eq(decode(len, 3), -EBADMSG, "a relative path");
	len = good_spawn();
	memset(pkt + path, 'a', len - path);
	cr_expect_eq(decode(len, 3), -EBADMSG, "no NUL at all");
	len = good_spawn();
	pkt[len - 1] = 'x';
	cr_expect_eq(decode(len, 3), -EBADMSG, "the last string without its NUL");
	/* A packet that ends inside the targets it declares. */
	good_spawn();
	put_le32(pkt + 4, SPAWN_MSG_MAX_FDS);
	cr_expect_eq(decode(16 + 8, SPAWN_MSG_MAX_FDS + 1), -EBADMSG, "targets past the end");
}

Test(spawn_msg, reap_checks)
{
	spawn_msg_encode_reap(77, pkt);
	cr_expect_eq(decode(SPAWN_MSG_REAP_SIZE - 1, 0), -EBADMSG, "short");
	cr_expect_eq(decode(SPAWN_MSG_REAP_SIZE + 1, 0), -EBADMSG, "long");
	put_le32(pkt + 4, 0);
	cr_expect_eq(decode(SPAWN_MSG_REAP_SIZE, 0), -EBADMSG, "pid 0");
	put_le32(pkt + 4, 0xffffffff);
	cr_expect_eq(decode(SPAWN_MSG_REAP_SIZE, 0), -EBADMSG, "pid -1");
}

static int reply(const struct spawn_msg_reply *r, enum spawn_msg_type to, size_t nfds,
		 struct spawn_msg_reply *out)
{
	spawn_msg_encode_reply(r, pkt);
	return spawn_msg_decode_reply(pkt, SPAWN_MSG_REPLY_SIZE, to, nfds, out);
}

Test(spawn_msg, reply_round_trips)
{
	struct spawn_msg_reply out;
	cr_assert_eq(reply(&(struct spawn_msg_reply){ .pid = 99 }, SPAWN_MSG_SPAWN, 1, &out), 0);
	cr_expect_eq(out.result, 0);
	cr_expect_eq(out.pid, 99);
	cr_assert_eq(reply(&(struct spawn_msg_reply){ .result = -ENOENT }, SPAWN_MSG_SPAWN, 0,
			   &out),
		     0);
	cr_expect_eq(out.result, -ENOENT);
	struct child_end end = { .signaled = true, .status = SIGSYS, .core = true };
	cr_assert_eq(reply(&(struct spawn_msg_reply){ .result = 1, .end = end }, SPAWN_MSG_REAP, 0,
			   &out),
		     0);
	cr_expect(out.end.signaled && out.end.core && out.end.status == SIGSYS);
	cr_assert_eq(reply(&(struct spawn_msg_reply){ .result = 1, .end = { .status = 12 } },
			   SPAWN_MSG_REAP, 0, &out),
		     0);
	cr_expect(!out.end.signaled && out.end.status == 12);
	cr_assert_eq(reply(&(struct spawn_msg_reply){ .result = 0 }, SPAWN_MSG_REAP, 0, &out), 0);
	cr_assert_eq(reply(&(struct spawn_msg_reply){ .result = -ECHILD }, SPAWN_MSG_REAP, 0,
			   &out),
		     0);
}

Test(spawn_msg, bad_replies)
{
	struct spawn_msg_reply out;
	const struct {
		struct spawn_msg_reply r;
		enum spawn_msg_type to;
		size_t nfds;
		const char *what;
	} bad[] = {
		{ { .pid = 99 }, SPAWN_MSG_SPAWN, 0, "started without its pidfd" },
		{ { .pid = 99 }, SPAWN_MSG_SPAWN, 2, "started with two fds" },
		{ { .pid = 0 }, SPAWN_MSG_SPAWN, 1, "started as pid 0" },
		{ { .pid = -1 }, SPAWN_MSG_SPAWN, 1, "started as pid -1" },
		{ { .result = -ENOENT }, SPAWN_MSG_SPAWN, 1, "a failure with an fd" },
		{ { .result = -ENOENT, .pid = 5 }, SPAWN_MSG_SPAWN, 0, "a failure with a pid" },
		{ { .result = 1 }, SPAWN_MSG_SPAWN, 0, "1 to a SPAWN" },
		{ { .result = 2 }, SPAWN_MSG_REAP, 0, "2 to a REAP" },
		{ { .result = -5000 }, SPAWN_MSG_REAP, 0, "not an errno" },
		{ { .result = 0, .pid = 5 }, SPAWN_MSG_REAP, 0, "a REAP with a pid" },
		{ { .result = 0 }, SPAWN_MSG_REAP, 1, "a REAP with an fd" },
		{ { .result = 0, .end = { .status = 3 } }, SPAWN_MSG_REAP, 0, "running, with an end" },
		{ { .result = 1, .end = { .status = 256 } }, SPAWN_MSG_REAP, 0, "exit status 256" },
		{ { .result = 1, .end = { .signaled = true } }, SPAWN_MSG_REAP, 0, "signal 0" },
		{ { .result = 1, .end = { .signaled = true, .status = NSIG } }, SPAWN_MSG_REAP, 0,
		  "signal NSIG" },
		{ { .result = 1, .end = { .core = true, .status = 1 } }, SPAWN_MSG_REAP, 0,
		  "a core without a signal" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(reply(&bad[i].r, bad[i].to, bad[i].nfds, &out), -EBADMSG, "%s",
			     bad[i].what);
	spawn_msg_encode_reply(&(struct spawn_msg_reply){ .result = 1, .end = { .status = 1 } },
			       pkt);
	put_le32(pkt + 8, 2);
	cr_expect_eq(spawn_msg_decode_reply(pkt, SPAWN_MSG_REPLY_SIZE, SPAWN_MSG_REAP, 0, &out),
		     -EBADMSG, "signaled 2");
	cr_expect_eq(spawn_msg_decode_reply(pkt, SPAWN_MSG_REPLY_SIZE - 1, SPAWN_MSG_REAP, 0, &out),
		     -EBADMSG, "short");
	cr_expect_eq(spawn_msg_decode_reply(pkt, SPAWN_MSG_REPLY_SIZE + 1, SPAWN_MSG_REAP, 0, &out),
		     -EBADMSG, "long");
}
