/* cellvm-spawner (controller/spawner.c) driven the way cellvmd drives it, and
 * the way a compromised cellvmd could: children start and are reaped through
 * it, each malformed request gets an error and leaves no fd behind while the
 * spawner goes on serving, its children die when cellvmd's end closes, and a
 * dead spawner is a clean -EPIPE. The spawner is confined (spawner.policy)
 * and starts spawn_probe, which sits next to this test binary. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "msg.h"
#include "spawn_msg.h"
#include "spawner.h"
#include "testutil.h"

static char probe[PATH_MAX];
static struct spawner sp;
#define MISSING "/nonexistent/cellvm-rng"

static void setup(void)
{
	tu_beside_self("spawn_probe", probe, sizeof(probe));
	struct confine_opts o;
	confine_opts_init(&o);
	o.policy_dir = CELLVM_SRC_POLICY_DIR;
	const char *allowed[] = { probe, MISSING };
	cr_assert_eq(spawner_start(&o, allowed, 2, &sp), 0);
}

static void teardown(void)
{
	spawner_stop(&sp);
}

TestSuite(spawner, .init = setup, .fini = teardown, .timeout = 30);

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;
	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return r == 1;
}

/* spawn_probe --await 3 --exit N through the spawner: it runs until the
 * write end of *hold closes. */
static int start_held(const char *status, pid_t *pid, int hold[2])
{
	cr_assert_eq(pipe2(hold, O_CLOEXEC), 0);
	char *argv[] = { "spawn_probe", "--await", "3", "--exit", (char *)status, NULL };
	struct spawn_fd fd = { hold[0], 3 };
	struct spawn_req req = { .path = probe, .argv = argv, .fds = &fd, .nfds = 1,
				 .stderr_fd = -1 };
	int pidfd = -1;
	cr_assert_eq(spawner_spawn(sp.sock, &req, pid, &pidfd), 0);
	close(hold[0]);
	return pidfd;
}

Test(spawner, starts_children_and_reaps_them)
{
	pid_t pid;
	int hold[2];
	int pidfd = start_held("7", &pid, hold);
	cr_expect_eq(tu_parent_of(pid), sp.pid, "the child's parent is not the spawner");
	struct child_end end;
	cr_expect_eq(spawner_reap(sp.sock, pid, &end), 0, "it still runs");
	close(hold[1]);
	cr_assert(readable(pidfd, 5000), "the child did not end");
	cr_assert_eq(spawner_reap(sp.sock, pid, &end), 1);
	cr_expect(!end.signaled && end.status == 7);
	cr_expect_eq(spawner_reap(sp.sock, pid, &end), -ECHILD, "reaped twice");
	close(pidfd);
}

/* A raw request; returns the reply's result (with no fd). */
static int raw_call(const void *buf, size_t len, const int *fds, size_t nfds)
{
	tu_raw_send(sp.sock, buf, len, fds, nfds);
	uint8_t rep[SPAWN_MSG_REPLY_SIZE];
	int rx[MSG_RX_MAX_FDS];
	size_t nrx;
	cr_assert(readable(sp.sock, 5000), "no reply");
	ssize_t n = msg_recv_some(sp.sock, rep, sizeof(rep), 0, rx, &nrx);
	cr_assert_eq(n, (ssize_t)sizeof(rep));
	struct spawn_msg_reply r;
	cr_assert_eq(spawn_msg_decode_reply(rep, sizeof(rep), SPAWN_MSG_SPAWN, nrx, &r), 0);
	cr_assert_lt(r.result, 0);
	return r.result;
}

Test(spawner, hostile_requests_get_an_error_and_leave_nothing)
{
	/* The spawner may start its loop after our first check. */
	struct child_end end;
	cr_assert_eq(spawner_reap(sp.sock, 1, &end), -ECHILD, "pid 1 is not its child");
	const int before = tu_count_fds_of(sp.pid);

	/* Every refused request closes the fds it brought: the spawner's copy
	 * of this pipe's write end with it, so the read end sees EOF. */
	static uint8_t buf[SPAWN_MSG_MAX_SIZE + 256];
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_expect_eq(raw_call("garbage", 7, &p[1], 1), -EBADMSG, "garbage");

	char *argv[] = { "spawn_probe", "--exit", "0", NULL };
	const struct spawn_fd two[] = { { p[1], 3 }, { p[1], 4 } };
	struct spawn_req req = { .path = probe, .argv = argv, .fds = two, .nfds = 2,
				 .stderr_fd = p[1] };
	ssize_t len = spawn_msg_encode_spawn(&req, buf, sizeof(buf));
	cr_assert_gt(len, 0);
	int many[40];
	for (size_t i = 0; i < 40; i++)
		many[i] = p[1];
	cr_expect_eq(raw_call(buf, (size_t)len, many, 2), -EBADMSG, "one fd missing");
	cr_expect_eq(raw_call(buf, (size_t)len, many, 4), -EBADMSG, "one fd too many");
	cr_expect_eq(raw_call(buf, (size_t)len, many, 0), -EBADMSG, "no fd at all");
	cr_expect_eq(raw_call(buf, (size_t)len, many, 40), -EBADMSG, "40 fds");
	cr_expect_eq(raw_call(buf, (size_t)len - 1, many, 3), -EBADMSG, "cut short");
	memset(buf + len, 'x', sizeof(buf) - (size_t)len);
	cr_expect_eq(raw_call(buf, sizeof(buf), many, 3), -EBADMSG, "over the size limit");
	uint8_t reap[SPAWN_MSG_REAP_SIZE];
	spawn_msg_encode_reap(sp.pid, reap);
	cr_expect_eq(raw_call(reap, sizeof(reap), many, 1), -EBADMSG, "REAP with an fd");
	cr_expect_eq(spawner_reap(sp.sock, getpid(), &end), -ECHILD, "not its child");
	pid_t pid;
	int pidfd = -1;
	/* A binary that is not the VM's, however harmless, is not started. */
	req.path = "/bin/true";
	cr_expect_eq(spawner_spawn(sp.sock, &req, &pid, &pidfd), -EPERM, "not on the list");
	cr_expect_eq(pidfd, -1);
	req.path = MISSING;
	req.nfds = 0;
	req.stderr_fd = -1;
	cr_expect_eq(spawner_spawn(sp.sock, &req, &pid, &pidfd), -ENOENT);

	close(p[1]);
	char c;
	cr_expect(readable(p[0], 1000) && read(p[0], &c, 1) == 0,
		  "the spawner kept a copy of a refused request's fd");
	close(p[0]);
	cr_expect_eq(tu_count_fds_of(sp.pid), before, "the spawner's fds: %d, were %d",
		     tu_count_fds_of(sp.pid), before);

	/* And it still serves. */
	int hold[2];
	pidfd = start_held("0", &pid, hold);
	close(hold[1]);
	cr_assert(readable(pidfd, 5000));
	cr_expect_eq(spawner_reap(sp.sock, pid, &end), 1);
	close(pidfd);
}

Test(spawner, children_die_when_cellvmds_end_closes)
{
	pid_t pid[3];
	int pidfd[3], hold[3][2];
	for (size_t i = 0; i < 3; i++)
		pidfd[i] = start_held("0", &pid[i], hold[i]);
	spawner_stop(&sp); /* returns once the spawner is reaped */
	for (size_t i = 0; i < 3; i++) {
		cr_expect(readable(pidfd[i], 0), "child %d still runs", (int)pid[i]);
		errno = 0;
		cr_expect(kill(pid[i], 0) < 0 && errno == ESRCH, "child %d was not reaped",
			  (int)pid[i]);
		close(pidfd[i]);
		close(hold[i][1]);
	}
}

Test(spawner, a_dead_spawner_is_a_clean_epipe)
{
	cr_assert_eq(kill(sp.pid, SIGKILL), 0);
	cr_assert(readable(sp.pidfd, 5000));
	struct child_end end;
	cr_assert_eq(spawner_reaped(&sp, &end), 1);
	cr_expect(end.signaled && end.status == SIGKILL);
	const int before = tu_count_fds();
	char *argv[] = { "spawn_probe", "--exit", "0", NULL };
	struct spawn_req req = { .path = probe, .argv = argv, .stderr_fd = -1 };
	pid_t pid;
	int pidfd;
	cr_expect_eq(spawner_spawn(sp.sock, &req, &pid, &pidfd), -EPIPE);
	cr_expect_eq(spawner_reap(sp.sock, 1234, &end), -EPIPE);
	cr_expect_eq(tu_count_fds(), before, "an fd leaked");
}

Test(spawner, a_stuck_spawner_times_out_and_stop_kills_it)
{
	pid_t pid;
	int hold[2];
	int pidfd = start_held("0", &pid, hold);
	cr_assert_eq(kill(sp.pid, SIGSTOP), 0);
	struct child_end end;
	cr_expect_eq(spawner_reap(sp.sock, pid, &end), -ETIMEDOUT);
	cr_expect_eq(spawner_reap(sp.sock, pid, &end), -EPIPE, "a timed-out channel is done");
	spawner_stop(&sp); /* SIGKILL after SPAWNER_EXIT_MS: a stopped spawner does not exit */
	cr_expect_eq(sp.pidfd, -1, "the spawner was reaped");
	cr_expect(readable(pidfd, 5000), "its child outlived it");
	close(pidfd);
	close(hold[1]);
}
