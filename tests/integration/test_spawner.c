/* cellvm-spawner (spawner/spawner.c) driven the way cellvmd drives it, and
 * the way a compromised cellvmd could: children start through it and it
 * reports their ends unasked, each malformed request gets an error and
 * leaves no fd behind while the spawner goes on serving, a request that
 * would decide the child's confinement (an option of it in argv, a mode
 * below the floor) starts nothing, the spawner gives each child its own
 * confinement options and the policy it read at its start, a binary swapped
 * after its start does not run, its children die
 * when cellvmd's end closes, and a dead spawner is a clean -EPIPE. The
 * spawner is confined (spawner.policy) and starts spawn_probe, which sits
 * next to this test binary. Then cellvmd's side against a fake spawner that
 * lies. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"
#include "spawn_msg.h"
#include "spawner_link.h"
#include "testutil.h"

static char probe[PATH_MAX];
static struct spawner sp;
#define MISSING "/nonexistent/cellvm-rng"

/* The spawner for bins[0..n), in a setting of the operator's: children
 * may be asked for on only (--min-sandbox on), policies from policy_dir. */
static void start_spawner(const struct spawner_binary *bins, size_t n, const char *policy_dir)
{
	struct spawner_cfg c = { .may_ask = { [SANDBOX_ON] = true }, .bins = bins, .nbins = n };
	confine_opts_init(&c.confine);
	c.confine.policy_dir = policy_dir;
	cr_assert_eq(spawner_start(&c, &sp), 0);
}

static void setup(void)
{
	tu_beside_self("spawn_probe", probe, sizeof(probe));
	const struct spawner_binary bins[] = { { probe, "rng" }, { MISSING, "rng" } };
	start_spawner(bins, 2, CELLVM_SRC_POLICY_DIR);
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
	cr_assert_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, pid, &pidfd), 0);
	close(hold[0]);
	return pidfd;
}

static bool reaped(pid_t pid)
{
	errno = 0;
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* The next ENDED, which must be pid's, within 5 s. */
static struct child_end ended(pid_t pid)
{
	cr_assert(readable(sp.sock, 5000), "no ENDED for %d", (int)pid);
	pid_t who;
	struct child_end end;
	cr_assert_eq(spawner_next_ended(sp.sock, &who, &end), 1);
	cr_assert_eq(who, pid);
	return end;
}

Test(spawner, starts_children_and_reports_their_ends)
{
	pid_t pid, who;
	int hold[2];
	int pidfd = start_held("7", &pid, hold);
	cr_expect_eq(tu_parent_of(pid), sp.pid, "the child's parent is not the spawner");
	struct child_end end;
	cr_expect_eq(spawner_next_ended(sp.sock, &who, &end), 0, "it still runs");
	close(hold[1]);
	end = ended(pid);
	cr_expect(!end.signaled && end.status == 7);
	cr_expect(readable(pidfd, 0));
	cr_expect(reaped(pid), "the spawner reported an end before it reaped the child");
	cr_expect(!readable(sp.sock, 200), "a second message");
	cr_expect_eq(spawner_next_ended(sp.sock, &who, &end), 0);
	close(pidfd);

	pidfd = start_held("0", &pid, hold);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	end = ended(pid);
	cr_expect(end.signaled && end.status == SIGKILL && !end.core);
	close(pidfd);
	close(hold[1]);
}

/* An ENDED that comes before a SPAWN's reply is kept for spawner_next_ended. */
Test(spawner, an_end_before_a_reply_is_kept)
{
	pid_t a, b, who;
	int hold_a[2], hold_b[2];
	int fd_a = start_held("3", &a, hold_a);
	close(hold_a[1]);
	cr_assert(readable(sp.sock, 5000), "no ENDED");
	int fd_b = start_held("4", &b, hold_b);
	struct child_end end;
	cr_assert_eq(spawner_next_ended(sp.sock, &who, &end), 1, "the ENDED was lost");
	cr_expect_eq(who, a);
	cr_expect(!end.signaled && end.status == 3);
	cr_expect_eq(spawner_next_ended(sp.sock, &who, &end), 0);
	close(hold_b[1]);
	end = ended(b);
	cr_expect(!end.signaled && end.status == 4);
	close(fd_a);
	close(fd_b);
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
	struct spawn_msg_from_spawner r;
	cr_assert_eq(spawn_msg_decode_from_spawner(rep, sizeof(rep), nrx, &r), 0);
	cr_assert_eq(r.type, SPAWN_MSG_REPLY);
	cr_assert_lt(r.result, 0);
	return r.result;
}

Test(spawner, hostile_requests_get_an_error_and_leave_nothing)
{
	/* The spawner may start its loop after our first check. */
	uint8_t reply[SPAWN_MSG_REPLY_SIZE];
	spawn_msg_encode_reply(0, sp.pid, reply);
	cr_assert_eq(raw_call(reply, sizeof(reply), NULL, 0), -EBADMSG, "a REPLY to the spawner");
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
	ssize_t len = spawn_msg_encode_spawn(&req, SANDBOX_ON, buf, sizeof(buf));
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
	cr_expect_eq(raw_call(reply, sizeof(reply), many, 1), -EBADMSG, "a REPLY with an fd");
	uint8_t end_msg[SPAWN_MSG_ENDED_SIZE];
	spawn_msg_encode_ended(sp.pid, &(struct child_end){ 0 }, end_msg);
	cr_expect_eq(raw_call(end_msg, sizeof(end_msg), NULL, 0), -EBADMSG, "an ENDED");
	pid_t pid;
	int pidfd = -1;
	/* A binary that is not the VM's, however harmless, is not started. */
	req.path = "/bin/true";
	cr_expect_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, &pid, &pidfd), -EPERM,
		     "not on the list");
	cr_expect_eq(pidfd, -1);
	req.path = MISSING;
	req.nfds = 0;
	req.stderr_fd = -1;
	cr_expect_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, &pid, &pidfd), -ENOENT);

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
	struct child_end end = ended(pid);
	cr_expect(!end.signaled && end.status == 0);
	close(pidfd);
}

/* cellvmd may ask for a mode, never write the child's confinement: each of
 * these is refused whole and starts nothing (a probe that started would
 * exit at once and its ENDED would come). */
Test(spawner, cellvmd_cannot_decide_confinement)
{
	static const char *const opts[][3] = {
		{ "--sandbox", "off" }, { "--sandbox=off" }, { "--sand=off" }, { "--sandbox" },
		{ "--policy-dir", "/tmp" }, { "--policy-dir=/tmp" }, { "--pol", "/tmp" },
		{ "--policy-fd", "0" }, { "--allow-degraded" }, { "--allow" }, { "--a" },
		{ "--", "--sandbox", "off" }, { "--=x" },
	};
	int before = -1;
	pid_t pid;
	int pidfd = -1;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char *argv[8] = { "spawn_probe", "--exit", "0" };
		size_t a = 3;
		for (size_t k = 0; k < 3 && opts[i][k]; k++)
			argv[a++] = (char *)opts[i][k];
		struct spawn_req req = { .path = probe, .argv = argv, .stderr_fd = -1 };
		cr_expect_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, &pid, &pidfd), -EPERM,
			     "%s", opts[i][0]);
		/* Counted once it serves: its set-up opens fds. */
		if (before < 0)
			before = tu_count_fds_of(sp.pid);
	}
	/* Below the operator's floor, however the arguments read. */
	char *argv[] = { "spawn_probe", "--exit", "0", NULL };
	struct spawn_req req = { .path = probe, .argv = argv, .stderr_fd = -1 };
	cr_expect_eq(spawner_spawn(sp.sock, &req, SANDBOX_OFF, &pid, &pidfd), -EPERM, "off");
	cr_expect_eq(spawner_spawn(sp.sock, &req, SANDBOX_LOG, &pid, &pidfd), -EPERM, "log");
	cr_expect_eq(pidfd, -1);
	cr_expect(!readable(sp.sock, 300), "something was started");
	cr_expect_eq(tu_count_fds_of(sp.pid), before);
	/* Options of the child's own, and values that only look alike, pass. */
	char *fine[] = { "spawn_probe", "--exit", "0", "--serial", "sandbox", "-s", NULL };
	req.argv = fine;
	cr_assert_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, &pid, &pidfd), 0);
	cr_expect(!ended(pid).signaled);
	close(pidfd);
}

/* The child's confinement options are the spawner's, after cellvmd's, and
 * its policy is the bundle the spawner read at its start; its environment
 * is the spawner's two variables. It starts as PID 1
 * of its own pid namespace, the spawner's child: no process of its stays
 * outside (a reaper), and the pid cellvmd gets is the one that runs. */
Test(spawner, the_spawner_writes_the_childs_confinement)
{
	pid_t pid;
	int hold[2];
	int pidfd = start_held("0", &pid, hold);
	char path[64], cmdline[1024], link[256];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(f, 0);
	ssize_t n = read(f, cmdline, sizeof(cmdline) - 1);
	close(f);
	cr_assert_gt(n, 0);
	for (ssize_t i = 0; i < n; i++)
		cmdline[i] = cmdline[i] ? cmdline[i] : ' ';
	cmdline[n] = '\0';
	cr_expect_str_eq(cmdline,
			 "spawn_probe --await 3 --exit 0 --sandbox on --policy-fd 4 --given-ns ");
	char status[4096], want[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(f, 0);
	n = read(f, status, sizeof(status) - 1);
	close(f);
	cr_assert_gt(n, 0);
	status[n] = '\0';
	snprintf(want, sizeof(want), "\nNSpid:\t%d\t1\n", (int)pid);
	cr_expect_not_null(strstr(status, want), "not PID 1 of its own pid namespace:\n%s", status);
	/* It can make the rest of its sandbox: every capability in its user
	 * namespace. The spawner holds none, so as root it could not map the
	 * child's root (the kernel asks CAP_SETFCAP): unmapped, the child has
	 * them as ambient capabilities. */
	cr_expect_null(strstr(status, "\nCapEff:\t0000000000000000\n"), "%s", status);
	if (geteuid() == 0)
		cr_expect_null(strstr(status, "\nCapAmb:\t0000000000000000\n"), "%s", status);
	cr_expect_eq(tu_parent_of(pid), sp.pid);
	/* Its environment: glibc's malloc without tcache, and the spawner's
	 * policy, whose filter it runs under. */
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	f = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(f, 0);
	n = read(f, status, sizeof(status) - 1);
	close(f);
	cr_assert_gt(n, 0);
	for (ssize_t i = 0; i < n; i++)
		status[i] = status[i] ? status[i] : ' ';
	status[n] = '\0';
	cr_expect_str_eq(status, "GLIBC_TUNABLES=glibc.malloc.tcache_count=0 "
				 "CELLVM_INHERITED_POLICY=spawner.policy ");
	snprintf(path, sizeof(path), "/proc/%d/fd/4", (int)pid);
	n = readlink(path, link, sizeof(link) - 1);
	cr_assert_gt(n, 0);
	link[n] = '\0';
	cr_expect_str_eq(link, "/memfd:rng.policy (deleted)");
	close(hold[1]);
	cr_expect(!ended(pid).signaled);
	close(pidfd);
}

/* ---------------------------------------------------------------- what it took at start */

static char dir[] = "/tmp/cellvm-spawner-XXXXXX";
static char bin[PATH_MAX], pol[PATH_MAX];

static void copy(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	cr_assert(in >= 0 && out >= 0, "%s -> %s", from, to);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n);
	cr_assert_eq(n, 0);
	close(in);
	close(out);
}

/* A copy of the probe and of the policies in a
 * directory of the test's own, which it changes once the spawner runs. */
static void taken_setup(void)
{
	tu_beside_self("spawn_probe", probe, sizeof(probe));
	cr_assert_not_null(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/cellvm-rng", dir);
	copy(probe, bin, 0755);
	DIR *d = opendir(CELLVM_SRC_POLICY_DIR);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strstr(e->d_name, ".policy"))
			continue;
		char from[PATH_MAX];
		snprintf(from, sizeof(from), "%s/%s", CELLVM_SRC_POLICY_DIR, e->d_name);
		snprintf(pol, sizeof(pol), "%s/%s", dir, e->d_name);
		copy(from, pol, 0644);
	}
	closedir(d);
	snprintf(pol, sizeof(pol), "%s/rng.policy", dir);
	const struct spawner_binary bins[] = { { bin, "rng" } };
	start_spawner(bins, 1, dir);
	/* A first child answered: the spawner has read its binaries and
	 * policies by now, so what the test swaps next comes after its start. */
	char *argv[] = { "cellvm-rng", "--exit", "0", NULL };
	struct spawn_req req = { .path = bin, .argv = argv, .stderr_fd = -1 };
	pid_t pid;
	int pidfd;
	cr_assert_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, &pid, &pidfd), 0);
	struct child_end end = ended(pid);
	cr_assert(!end.signaled && end.status == 0, "the first child: %s %d",
		  end.signaled ? "signal" : "status", end.status);
	close(pidfd);
}

static void taken_teardown(void)
{
	spawner_stop(&sp);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(taken_at_start, .init = taken_setup, .fini = taken_teardown, .timeout = 30);

/* Another executable renamed over the binary's path, and another policy
 * over its policy's, after the spawner started: what runs is the probe it
 * opened (it exits 7 as asked; /bin/false would exit 1), given the policy it
 * read (the child's fd 3 holds it, and the new text is not in it). */
Test(taken_at_start, a_swapped_binary_or_policy_changes_nothing)
{
	char other[PATH_MAX + 8];
	snprintf(other, sizeof(other), "%s.new", bin);
	copy("/bin/false", other, 0755);
	cr_assert_eq(rename(other, bin), 0);
	snprintf(other, sizeof(other), "%s.new", pol);
	int f = open(other, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	cr_assert_geq(f, 0);
	static const char swapped[] = "# swapped\nptrace: 1\n";
	cr_assert_eq(write(f, swapped, sizeof(swapped) - 1), (ssize_t)sizeof(swapped) - 1);
	close(f);
	cr_assert_eq(rename(other, pol), 0);

	int hold[2];
	cr_assert_eq(pipe2(hold, O_CLOEXEC), 0);
	char *argv[] = { "cellvm-rng", "--await", "3", "--exit", "7", NULL };
	struct spawn_fd fd = { hold[0], 3 };
	struct spawn_req req = { .path = bin, .argv = argv, .fds = &fd, .nfds = 1,
				 .stderr_fd = -1 };
	pid_t pid;
	int pidfd;
	cr_assert_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, &pid, &pidfd), 0);
	close(hold[0]);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/4", (int)pid);
	int bundle = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(bundle, 0, "%s: %s", path, strerror(errno));
	static char text[1 << 20];
	ssize_t n = pread(bundle, text, sizeof(text) - 1, 0);
	cr_assert_gt(n, 0);
	text[n] = '\0';
	close(bundle);
	cr_expect(strstr(text, "@file rng.policy "), "no rng.policy in:\n%s", text);
	cr_expect(strstr(text, "@file common.policy "), "no common.policy in:\n%s", text);
	cr_expect(!strstr(text, "# swapped"), "the policy read after the spawner's start");
	close(hold[1]);
	struct child_end end = ended(pid);
	cr_expect(!end.signaled && end.status == 7, "what ran is not the probe: %s %d",
		  end.signaled ? "signal" : "status", end.status);
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
	cr_expect_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, &pid, &pidfd), -EPIPE);
	cr_expect_eq(spawner_next_ended(sp.sock, &pid, &end), -EPIPE);
	cr_expect_eq(tu_count_fds(), before, "an fd leaked");
}

Test(spawner, a_stuck_spawner_times_out_and_stop_kills_it)
{
	pid_t pid, other;
	int hold[2];
	int pidfd = start_held("0", &pid, hold);
	cr_assert_eq(kill(sp.pid, SIGSTOP), 0);
	char *argv[] = { "spawn_probe", "--exit", "0", NULL };
	struct spawn_req req = { .path = probe, .argv = argv, .stderr_fd = -1 };
	int fd = -1;
	cr_expect_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, &other, &fd), -ETIMEDOUT);
	cr_expect_eq(spawner_spawn(sp.sock, &req, SANDBOX_ON, &other, &fd), -EPIPE,
		     "a timed-out channel is done");
	struct child_end end;
	cr_expect_eq(spawner_next_ended(sp.sock, &other, &end), -EPIPE);
	cr_expect_eq(fd, -1);
	spawner_stop(&sp); /* SIGKILL after SPAWNER_EXIT_MS: a stopped spawner does not exit */
	cr_expect_eq(sp.pidfd, -1, "the spawner was reaped");
	cr_expect(readable(pidfd, 5000), "its child outlived it");
	close(pidfd);
	close(hold[1]);
}

/* ---------------------------------------------------------------- a lying spawner */

/* cellvmd's end, and the fake spawner's. */
static int fake[2];

static void fake_setup(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fake), 0);
}

static void fake_teardown(void)
{
	close(fake[0]);
	close(fake[1]);
}

TestSuite(cellvmd_side, .init = fake_setup, .fini = fake_teardown, .timeout = 30);

static void fake_ended(pid_t pid, const struct child_end *end)
{
	uint8_t m[SPAWN_MSG_ENDED_SIZE];
	spawn_msg_encode_ended(pid, end, m);
	tu_raw_send(fake[1], m, sizeof(m), NULL, 0);
}

static void fake_reply(int result, pid_t pid, int fd)
{
	uint8_t m[SPAWN_MSG_REPLY_SIZE];
	spawn_msg_encode_reply(result, pid, m);
	tu_raw_send(fake[1], m, sizeof(m), &fd, fd >= 0);
}

static int fake_spawn(pid_t *pid, int *pidfd)
{
	char *argv[] = { "cellvm-rng", NULL };
	struct spawn_req req = { .path = "/usr/lib/cellvm/cellvm-rng", .argv = argv,
				 .stderr_fd = -1 };
	return spawner_spawn(fake[0], &req, SANDBOX_ON, pid, pidfd);
}

/* cellvmd shut the channel: the fake spawner reads EOF after what was sent. */
static void expect_shut(void)
{
	uint8_t buf[SPAWN_MSG_MAX_SIZE];
	ssize_t n;
	while ((n = recv(fake[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	cr_expect_eq(n, 0, "the channel is open");
	pid_t pid;
	struct child_end end;
	cr_expect_eq(spawner_next_ended(fake[0], &pid, &end), -EPIPE, "believed again");
}

Test(cellvmd_side, ends_before_the_reply_are_kept_in_order)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	fake_ended(101, &(struct child_end){ .status = 1 });
	fake_ended(102, &(struct child_end){ .signaled = true, .status = SIGSEGV, .core = true });
	fake_reply(0, 103, p[0]);
	fake_ended(104, &(struct child_end){ .status = 4 });
	pid_t pid = 0;
	int pidfd = -1;
	cr_assert_eq(fake_spawn(&pid, &pidfd), 0);
	cr_expect_eq(pid, 103);
	cr_expect_geq(pidfd, 0);
	close(pidfd);
	struct child_end end;
	cr_assert_eq(spawner_next_ended(fake[0], &pid, &end), 1);
	cr_expect(pid == 101 && !end.signaled && end.status == 1);
	cr_assert_eq(spawner_next_ended(fake[0], &pid, &end), 1);
	cr_expect(pid == 102 && end.signaled && end.status == SIGSEGV && end.core);
	cr_assert_eq(spawner_next_ended(fake[0], &pid, &end), 1);
	cr_expect(pid == 104 && end.status == 4);
	cr_expect_eq(spawner_next_ended(fake[0], &pid, &end), 0);
	close(p[0]);
	close(p[1]);
}

/* Each lie shuts the channel, and what came with it is closed. */
Test(cellvmd_side, a_lie_is_not_believed_again)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	uint8_t bad_signal[SPAWN_MSG_ENDED_SIZE];
	spawn_msg_encode_ended(77, &(struct child_end){ .signaled = true, .status = 9 },
			       bad_signal);
	memset(bad_signal + 12, 0, 4); /* signal 0 */
	uint8_t reply[SPAWN_MSG_REPLY_SIZE];
	spawn_msg_encode_reply(0, 77, reply);
	uint8_t good[SPAWN_MSG_ENDED_SIZE];
	spawn_msg_encode_ended(77, &(struct child_end){ .status = 0 }, good);
	const struct {
		const void *buf;
		size_t len;
		bool fd;
		int err;
		const char *what;
	} lies[] = {
		{ reply, sizeof(reply), true, -EBADMSG, "a REPLY to nothing" },
		{ bad_signal, sizeof(bad_signal), false, -EBADMSG, "an ENDED by signal 0" },
		{ good, sizeof(good), true, -EBADMSG, "an ENDED with an fd" },
		{ "garbage", 7, false, -EBADMSG, "garbage" },
		{ "", 0, false, -EPIPE, "an empty packet, its end" },
	};
	const int before = tu_count_fds();
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		tu_raw_send(fake[1], lies[i].buf, lies[i].len, &p[0], lies[i].fd);
		pid_t pid;
		struct child_end end;
		cr_expect_eq(spawner_next_ended(fake[0], &pid, &end), lies[i].err, "%s",
			     lies[i].what);
		expect_shut();
		fake_teardown();
		fake_setup();
	}
	cr_expect_eq(tu_count_fds(), before, "an fd a lie brought was kept");
	close(p[0]);
	close(p[1]);
}

/* It tracks at most SPAWNER_MAX_CHILDREN: more ends than that are a lie. */
Test(cellvmd_side, too_many_ends_before_a_reply)
{
	for (pid_t pid = 1; pid <= SPAWNER_MAX_CHILDREN + 1; pid++)
		fake_ended(pid, &(struct child_end){ .status = 0 });
	fake_reply(-ENOENT, 0, -1);
	pid_t pid;
	int pidfd = -1;
	cr_expect_eq(fake_spawn(&pid, &pidfd), -EBADMSG);
	cr_expect_eq(pidfd, -1);
	expect_shut();
}
