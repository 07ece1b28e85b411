/* The cellvmd <-> cellvm-spawner codec: SPAWN, REPLY and ENDED survive a
 * round trip, and the decoders refuse every malformed packet a hostile
 * cellvmd or spawner could send. */
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
	ssize_t len = spawn_msg_encode_spawn(&req, SANDBOX_LOG, pkt, sizeof(pkt));
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
	cr_expect_str_eq(m.path, "/usr/lib/cellvm/cellvm-rng");
	for (size_t i = 0; argv3[i]; i++)
		cr_expect_str_eq(m.argv[i], argv3[i]);
	cr_expect_null(m.argv[3]);
	cr_expect_eq(m.nfds, 2);
	cr_expect_eq(m.target[0], 3);
	cr_expect_eq(m.target[1], 4);
	cr_expect(m.has_stderr);
	cr_expect_eq(m.mode, SANDBOX_LOG);
}

Test(spawn_msg, spawn_without_fds_or_stderr)
{
	char *argv[] = { "true", NULL };
	struct spawn_req req = { .path = "/bin/true", .argv = argv, .stderr_fd = -1 };
	ssize_t len = spawn_msg_encode_spawn(&req, SANDBOX_OFF, pkt, sizeof(pkt));
	cr_assert_gt(len, 0);
	struct spawn_msg_req m;
	cr_assert_eq(spawn_msg_decode_req(pkt, (size_t)len, 0, &m), 0);
	cr_expect_eq(m.nfds, 0);
	cr_expect(!m.has_stderr);
	cr_expect_str_eq(m.argv[0], "true");
	cr_expect_null(m.argv[1]);
	cr_expect_eq(m.mode, SANDBOX_OFF);
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
		cr_expect_eq(spawn_msg_encode_spawn(&bad[i], SANDBOX_ON, pkt, sizeof(pkt)), -EINVAL,
			     "case %zu", i);
	cr_expect_eq(spawn_msg_encode_spawn(&(struct spawn_req){ .path = "/x", .argv = argv3,
								 .stderr_fd = -1 },
					    (enum sandbox_mode)3, pkt, sizeof(pkt)),
		     -EINVAL, "an unknown mode");
	/* Too long for the buffer, or for any packet. */
	struct spawn_req req = { .path = "/x", .argv = argv3, .stderr_fd = -1 };
	cr_expect_eq(spawn_msg_encode_spawn(&req, SANDBOX_ON, pkt, 24), -E2BIG);
	static char big[SPAWN_MSG_MAX_SIZE];
	memset(big, 'a', sizeof(big) - 1);
	char *bigargv[] = { big, NULL };
	req.argv = bigargv;
	cr_expect_eq(spawn_msg_encode_spawn(&req, SANDBOX_ON, pkt, sizeof(pkt)), -E2BIG);
}

Test(spawn_msg, wrong_lengths_and_types)
{
	size_t len = good_spawn();
	cr_expect_eq(decode(0, 0), -EBADMSG);
	cr_expect_eq(decode(3, 0), -EBADMSG);
	cr_expect_eq(decode(19, 3), -EBADMSG, "shorter than the header");
	cr_expect_eq(decode(len - 1, 3), -EBADMSG, "the last string cut");
	pkt[len] = 'x';
	cr_expect_eq(decode(len + 1, 3), -EBADMSG, "a byte after the strings");
	pkt[len] = '\0';
	cr_expect_eq(decode(len + 1, 3), -EBADMSG, "an extra string");
	cr_expect_eq(decode(SPAWN_MSG_MAX_SIZE + 1, 3), -EBADMSG, "over the size limit");
	put_le32(pkt, SPAWN_MSG_REPLY);
	cr_expect_eq(decode(len, 3), -EBADMSG, "the spawner's REPLY");
	put_le32(pkt, SPAWN_MSG_ENDED);
	cr_expect_eq(decode(len, 3), -EBADMSG, "the spawner's ENDED");
	put_le32(pkt, 4);
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
	for (uint32_t bit = 2; bit < 32; bit++) {
		put_le32(pkt + 8, 1u | 1u << bit);
		cr_expect_eq(decode(len, 4), -EBADMSG, "an unknown flag %u", bit);
	}
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

/* The mode is one of the three: a number past them is no mode the spawner
 * could hold against its floor. */
Test(spawn_msg, unknown_modes)
{
	static const uint32_t bad[] = { 3, 0x80000000u, 0xffffffffu };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = good_spawn();
		put_le32(pkt + 16, bad[i]);
		cr_expect_eq(decode(len, 3), -EBADMSG, "mode %u", bad[i]);
	}
	static const enum sandbox_mode good[] = { SANDBOX_ON, SANDBOX_OFF, SANDBOX_LOG };
	for (size_t i = 0; i < 3; i++) {
		size_t len = good_spawn();
		put_le32(pkt + 16, (uint32_t)good[i]);
		struct spawn_msg_req m;
		cr_expect_eq(spawn_msg_decode_req(pkt, len, 3, &m), 0);
		cr_expect_eq(m.mode, good[i]);
	}
}

/* The leaf's cgroup.procs comes last, after the stderr fd, when asked. */
Test(spawn_msg, a_cgroup_fd_round_trip)
{
	struct spawn_req req = { .path = "/usr/lib/cellvm/cellvm-rng", .argv = argv3,
				 .fds = two_fds, .nfds = 2, .stderr_fd = 12, .in_cgroup = true,
				 .cgroup_procs_fd = 13 };
	ssize_t len = spawn_msg_encode_spawn(&req, SANDBOX_ON, pkt, sizeof(pkt));
	cr_assert_gt(len, 0);
	cr_expect_eq(get_le32(pkt + 8), 3, "stderr and cgroup flags");
	struct spawn_msg_req m;
	cr_assert_eq(spawn_msg_decode_req(pkt, (size_t)len, 4, &m), 0);
	cr_expect(m.has_stderr);
	cr_expect(m.has_cgroup);
	cr_expect_eq(m.nfds, 2);
	cr_expect_eq(decode((size_t)len, 3), -EBADMSG, "the cgroup fd missing");
	cr_expect_eq(decode((size_t)len, 5), -EBADMSG, "one extra");
	/* Without a stderr fd. */
	req.stderr_fd = -1;
	len = spawn_msg_encode_spawn(&req, SANDBOX_ON, pkt, sizeof(pkt));
	cr_assert_gt(len, 0);
	cr_assert_eq(spawn_msg_decode_req(pkt, (size_t)len, 3, &m), 0);
	cr_expect(!m.has_stderr);
	cr_expect(m.has_cgroup);
	/* Not asked: no flag, and no fd expected. */
	req.in_cgroup = false;
	len = spawn_msg_encode_spawn(&req, SANDBOX_ON, pkt, sizeof(pkt));
	cr_assert_gt(len, 0);
	cr_expect_eq(get_le32(pkt + 8), 0);
	cr_assert_eq(spawn_msg_decode_req(pkt, (size_t)len, 2, &m), 0);
	cr_expect(!m.has_cgroup);
}

Test(spawn_msg, fds_that_came_must_match_the_declared_ones)
{
	size_t len = good_spawn();
	cr_expect_eq(decode(len, 3), 0);
	cr_expect_eq(decode(len, 2), -EBADMSG, "one missing");
	cr_expect_eq(decode(len, 0), -EBADMSG, "all missing");
	cr_expect_eq(decode(len, 4), -EBADMSG, "one extra");
}

Test(spawn_msg, bad_targets)
{
	static const uint32_t bad[] = { 0, 2, SPAWN_MSG_MAX_TARGET + 1, 0x80000000u, 4 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = good_spawn();
		put_le32(pkt + 20, bad[i]); /* 4 (the second's target) is a duplicate */
		cr_expect_eq(decode(len, 3), -EBADMSG, "target %u", bad[i]);
	}
}

Test(spawn_msg, strings)
{
	size_t len = good_spawn();
	size_t path = 20 + 8;
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
	cr_expect_eq(decode(20 + 8, SPAWN_MSG_MAX_FDS + 1), -EBADMSG, "targets past the end");
}

/* ---------------------------------------------------------------- the spawner's */

static struct spawn_msg_from_spawner got;

static int from_spawner(size_t len, size_t nfds)
{
	memset(&got, 0xa5, sizeof(got));
	return spawn_msg_decode_from_spawner(pkt, len, nfds, &got);
}

Test(spawn_msg, reply_round_trips)
{
	spawn_msg_encode_reply(0, 99, pkt);
	cr_assert_eq(from_spawner(SPAWN_MSG_REPLY_SIZE, 1), 0);
	cr_expect_eq(got.type, SPAWN_MSG_REPLY);
	cr_expect_eq(got.result, 0);
	cr_expect_eq(got.pid, 99);
	spawn_msg_encode_reply(-ENOENT, 0, pkt);
	cr_assert_eq(from_spawner(SPAWN_MSG_REPLY_SIZE, 0), 0);
	cr_expect_eq(got.type, SPAWN_MSG_REPLY);
	cr_expect_eq(got.result, -ENOENT);
	cr_expect_eq(got.pid, 0);
	spawn_msg_encode_reply(-4095, 0, pkt);
	cr_expect_eq(from_spawner(SPAWN_MSG_REPLY_SIZE, 0), 0, "the largest errno");
}

Test(spawn_msg, bad_replies)
{
	const struct {
		int result;
		uint32_t pid;
		size_t nfds;
		const char *what;
	} bad[] = {
		{ 0, 99, 0, "started without its pidfd" },
		{ 0, 99, 2, "started with two fds" },
		{ 0, 0, 1, "started as pid 0" },
		{ 0, 0xffffffff, 1, "started as pid -1" },
		{ 0, 0x80000000u, 1, "started as a pid over INT_MAX" },
		{ -ENOENT, 0, 1, "a failure with an fd" },
		{ -ENOENT, 5, 0, "a failure with a pid" },
		{ 1, 0, 0, "result 1" },
		{ 1, 99, 1, "result 1 with a pid and an fd" },
		{ -4096, 0, 0, "not an errno" },
		{ INT32_MIN, 0, 0, "INT32_MIN" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spawn_msg_encode_reply(bad[i].result, (pid_t)bad[i].pid, pkt);
		cr_expect_eq(from_spawner(SPAWN_MSG_REPLY_SIZE, bad[i].nfds), -EBADMSG, "%s",
			     bad[i].what);
	}
	spawn_msg_encode_reply(0, 99, pkt);
	cr_expect_eq(from_spawner(SPAWN_MSG_REPLY_SIZE - 1, 1), -EBADMSG, "short");
	cr_expect_eq(from_spawner(SPAWN_MSG_REPLY_SIZE + 1, 1), -EBADMSG, "long");
	cr_expect_eq(from_spawner(SPAWN_MSG_ENDED_SIZE, 1), -EBADMSG, "as long as an ENDED");
}

Test(spawn_msg, ended_round_trips)
{
	const struct child_end ends[] = {
		{ .status = 0 },
		{ .status = 12 },
		{ .status = 255 },
		{ .signaled = true, .status = SIGKILL },
		{ .signaled = true, .status = SIGSYS, .core = true },
		{ .signaled = true, .status = NSIG - 1 },
	};
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		spawn_msg_encode_ended(4321, &ends[i], pkt);
		cr_assert_eq(from_spawner(SPAWN_MSG_ENDED_SIZE, 0), 0, "case %zu", i);
		cr_expect_eq(got.type, SPAWN_MSG_ENDED);
		cr_expect_eq(got.pid, 4321);
		cr_expect(got.end.signaled == ends[i].signaled && got.end.status == ends[i].status &&
				  got.end.core == ends[i].core,
			  "case %zu: %d %d %d", i, got.end.signaled, got.end.status, got.end.core);
	}
	spawn_msg_encode_ended(INT32_MAX, &ends[0], pkt);
	cr_expect_eq(from_spawner(SPAWN_MSG_ENDED_SIZE, 0), 0, "the largest pid");
}

/* An ENDED for pid 77 that exited 1, with one field (at off) set to v. */
static int ended_with(size_t off, uint32_t v)
{
	spawn_msg_encode_ended(77, &(struct child_end){ .status = 1 }, pkt);
	put_le32(pkt + off, v);
	return from_spawner(SPAWN_MSG_ENDED_SIZE, 0);
}

Test(spawn_msg, bad_endeds)
{
	const struct {
		size_t off;
		uint32_t v;
		const char *what;
	} bad[] = {
		{ 4, 0, "pid 0" },
		{ 4, 0xffffffff, "pid -1" },
		{ 4, 0x80000000u, "a pid over INT_MAX" },
		{ 8, 2, "signaled 2" },
		{ 12, 256, "exit status 256" },
		{ 12, 0xffffffff, "exit status -1" },
		{ 16, 1, "a core without a signal" },
		{ 16, 2, "core 2" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(ended_with(bad[i].off, bad[i].v), -EBADMSG, "%s", bad[i].what);
	/* A signal: 1 to NSIG - 1, and a core at most 1. */
	struct child_end killed = { .signaled = true, .status = SIGSEGV };
	const struct {
		size_t off;
		uint32_t v;
		const char *what;
	} bad_signal[] = {
		{ 12, 0, "signal 0" },
		{ 12, NSIG, "signal NSIG" },
		{ 12, 0xffffffff, "signal -1" },
		{ 16, 2, "core 2 with a signal" },
	};
	for (size_t i = 0; i < sizeof(bad_signal) / sizeof(bad_signal[0]); i++) {
		spawn_msg_encode_ended(77, &killed, pkt);
		put_le32(pkt + bad_signal[i].off, bad_signal[i].v);
		cr_expect_eq(from_spawner(SPAWN_MSG_ENDED_SIZE, 0), -EBADMSG, "%s",
			     bad_signal[i].what);
	}
	spawn_msg_encode_ended(77, &killed, pkt);
	cr_expect_eq(from_spawner(SPAWN_MSG_ENDED_SIZE, 0), 0);
	cr_expect_eq(from_spawner(SPAWN_MSG_ENDED_SIZE, 1), -EBADMSG, "with an fd");
	cr_expect_eq(from_spawner(SPAWN_MSG_ENDED_SIZE - 1, 0), -EBADMSG, "short");
	cr_expect_eq(from_spawner(SPAWN_MSG_ENDED_SIZE + 1, 0), -EBADMSG, "long");
	cr_expect_eq(from_spawner(SPAWN_MSG_REPLY_SIZE, 0), -EBADMSG, "as long as a REPLY");
}

Test(spawn_msg, the_spawners_decoder_refuses_other_types)
{
	spawn_msg_encode_ended(77, &(struct child_end){ .status = 1 }, pkt);
	static const uint32_t types[] = { 0, SPAWN_MSG_SPAWN, 4, 0xffffffff };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		put_le32(pkt, types[i]);
		cr_expect_eq(from_spawner(SPAWN_MSG_ENDED_SIZE, 0), -EBADMSG, "type %u", types[i]);
		cr_expect_eq(from_spawner(SPAWN_MSG_REPLY_SIZE, 0), -EBADMSG, "type %u", types[i]);
	}
	cr_expect_eq(from_spawner(0, 0), -EBADMSG, "empty");
	cr_expect_eq(from_spawner(3, 0), -EBADMSG, "shorter than a type");
	/* A SPAWN that is good for the spawner is nothing the spawner sends. */
	size_t len = good_spawn();
	cr_expect_eq(from_spawner(len, 3), -EBADMSG, "a SPAWN");
}
