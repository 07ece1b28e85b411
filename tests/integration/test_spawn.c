/* spawn_child and spawn_reap across a real exec: the probe (spawn_probe.c,
 * built next to this test) reports the environment, fds and signal state it
 * was started with, then ends as its arguments say. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn.h"
#include "testutil.h"

static char probe[PATH_MAX];

/* The probe sits next to this test binary in the build tree. */
static void find_probe(void)
{
	tu_beside_self("spawn_probe", probe, sizeof(probe));
}

TestSuite(spawn, .init = find_probe);

/* ---------------------------------------------------------------- helpers */

static int start(char *const *argv, const struct spawn_fd *fds, size_t nfds, int stderr_fd,
		 pid_t *pid)
{
	struct spawn_req req = {
		.path = probe, .argv = argv, .fds = fds, .nfds = nfds, .stderr_fd = stderr_fd,
	};
	int pidfd = -1;
	cr_assert_eq(spawn_child(&req, pid, &pidfd), 0);
	cr_assert_geq(pidfd, 0);
	return pidfd;
}

/* Waits up to 5 s for the child behind pidfd to end and reaps it. */
static struct child_end wait_end(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 5000), 1, "the child did not end");
	struct child_end end;
	cr_assert_eq(spawn_reap(pidfd, &end), 1);
	return end;
}

static void read_all(int fd, char *buf, size_t len)
{
	size_t used = 0;
	ssize_t n;
	while ((n = read(fd, buf + used, len - 1 - used)) > 0)
		used += (size_t)n;
	cr_assert_geq(n, 0);
	buf[used] = '\0';
}

/* Starts the probe with the report pipe at fd 3 plus `extra`, collects its
 * report and checks it exited 0. */
static void report_of(const struct spawn_fd *extra, size_t nextra, int stderr_fd, char *out,
		      size_t len)
{
	int rp[2];
	cr_assert_eq(pipe2(rp, O_CLOEXEC), 0);
	struct spawn_fd fds[SPAWN_MAX_FDS] = { { rp[1], 3 } };
	cr_assert_lt(nextra, SPAWN_MAX_FDS);
	if (nextra)
		memcpy(fds + 1, extra, nextra * sizeof(*extra));
	char *argv[] = { "spawn_probe", "--report", "3", "--exit", "0", NULL };
	pid_t pid;
	int pidfd = start(argv, fds, nextra + 1, stderr_fd, &pid);
	close(rp[1]);
	read_all(rp[0], out, len);
	close(rp[0]);
	struct child_end end = wait_end(pidfd);
	cr_assert(!end.signaled && end.status == 0, "probe: signaled %d status %d", end.signaled,
		  end.status);
	close(pidfd);
}

/* The path the report gives for fd n, or NULL if fd n was not open. */
static const char *fd_path(const char *report, int n, char *buf, size_t len)
{
	char key[32];
	snprintf(key, sizeof(key), "\nfd %d ", n);
	const char *p = strstr(report, key);
	if (!p)
		return NULL;
	p += strlen(key);
	size_t l = strcspn(p, "\n");
	cr_assert_lt(l, len);
	memcpy(buf, p, l);
	buf[l] = '\0';
	return buf;
}

static size_t count_fds(const char *report)
{
	size_t n = 0;
	for (const char *p = report; (p = strstr(p, "\nfd ")); p++)
		n++;
	return n;
}

static int memfd_named(const char *name)
{
	int fd = memfd_create(name, 0); /* no CLOEXEC: spawn must not rely on it */
	cr_assert_geq(fd, 0);
	return fd;
}

static void expect_no_child(void)
{
	errno = 0;
	cr_expect_eq(waitpid(-1, NULL, WNOHANG), -1, "a child was left behind");
	cr_expect_eq(errno, ECHILD);
}

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* ------------------------------------------------------- what the child gets */

Test(spawn, environment_is_empty)
{
	char report[16384];
	cr_assert_eq(setenv("CELLVM_SPAWN_TEST", "leak", 1), 0);
	report_of(NULL, 0, -1, report, sizeof(report));
	cr_expect(strncmp(report, "env 0\n", 6) == 0, "report:\n%s", report);
}

Test(spawn, only_the_given_fds_at_their_numbers)
{
	char report[16384], path[256];
	int stray = open("/dev/zero", O_RDONLY); /* not close-on-exec */
	cr_assert_geq(stray, 0);
	int extra = memfd_named("extra");
	/* Our stdin is not /dev/null, so the child's can only come from spawn. */
	int saved = dup(STDIN_FILENO), in = memfd_named("stdin");
	cr_assert_geq(saved, 0);
	cr_assert_eq(dup2(in, STDIN_FILENO), STDIN_FILENO);
	struct spawn_fd fds[] = { { extra, 7 } };
	report_of(fds, 1, -1, report, sizeof(report));
	cr_assert_eq(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	close(in);

	cr_expect_eq(count_fds(report), 5, "want 0 1 2 3 7; report:\n%s", report);
	for (int fd = 0; fd <= 7; fd++) {
		bool want = fd <= 3 || fd == 7;
		cr_expect_eq(fd_path(report, fd, path, sizeof(path)) != NULL, want, "fd %d", fd);
	}
	cr_expect_str_eq(fd_path(report, 0, path, sizeof(path)), "/dev/null");
	cr_expect_str_eq(fd_path(report, 7, path, sizeof(path)), "/memfd:extra (deleted)");
	cr_expect_null(fd_path(report, stray, path, sizeof(path)), "report:\n%s", report);
	close(extra);
	close(stray);
}

Test(spawn, stdout_and_stderr_go_to_stderr_fd)
{
	char report[16384], path[256];
	int err = memfd_named("err");
	report_of(NULL, 0, err, report, sizeof(report));
	cr_expect_str_eq(fd_path(report, 1, path, sizeof(path)), "/memfd:err (deleted)");
	cr_expect_str_eq(fd_path(report, 2, path, sizeof(path)), "/memfd:err (deleted)");
	close(err);
}

Test(spawn, stdout_and_stderr_inherited_with_minus_one)
{
	char report[16384], path[256], ours[256];
	int saved = dup(STDOUT_FILENO);
	cr_assert_geq(saved, 0);
	int out = memfd_named("ours");
	cr_assert_eq(dup2(out, STDOUT_FILENO), STDOUT_FILENO);
	report_of(NULL, 0, -1, report, sizeof(report));
	cr_assert_eq(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	ssize_t n = readlink("/proc/self/fd/2", ours, sizeof(ours) - 1);
	cr_assert_gt(n, 0);
	ours[n] = '\0';
	cr_expect_str_eq(fd_path(report, 1, path, sizeof(path)), "/memfd:ours (deleted)");
	cr_expect_str_eq(fd_path(report, 2, path, sizeof(path)), ours);
	close(saved);
	close(out);
}

/* Each source is another entry's target: a naive dup2 in order would give
 * both targets the same file. */
Test(spawn, swapped_targets)
{
	char report[16384], path[256];
	int a = 5;
	while (is_open(a) || is_open(a + 1))
		a++;
	int five = memfd_named("five"), six = memfd_named("six");
	cr_assert_eq(dup2(five, a), a);
	cr_assert_eq(dup2(six, a + 1), a + 1);
	struct spawn_fd fds[] = { { a, a + 1 }, { a + 1, a } };
	report_of(fds, 2, -1, report, sizeof(report));
	cr_expect_str_eq(fd_path(report, a + 1, path, sizeof(path)), "/memfd:five (deleted)",
			 "report:\n%s", report);
	cr_expect_str_eq(fd_path(report, a, path, sizeof(path)), "/memfd:six (deleted)");
	close(a);
	close(a + 1);
	close(five);
	close(six);
}

Test(spawn, signals_default_and_unblocked)
{
	char report[16384];
	cr_assert_neq(signal(SIGPIPE, SIG_IGN), SIG_ERR);
	cr_assert_neq(signal(SIGHUP, SIG_IGN), SIG_ERR);
	sigset_t usr1, now;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &usr1, NULL), 0);

	report_of(NULL, 0, -1, report, sizeof(report));
	cr_expect_not_null(strstr(report, "SigBlk:\t0000000000000000\n"), "report:\n%s", report);
	cr_expect_not_null(strstr(report, "SigIgn:\t0000000000000000\n"), "report:\n%s", report);

	/* Our own mask is back as it was (spawn blocks everything across fork). */
	cr_assert_eq(sigprocmask(SIG_BLOCK, NULL, &now), 0);
	cr_expect(sigismember(&now, SIGUSR1));
	cr_expect(!sigismember(&now, SIGTERM));
}

/* As cellvm-spawner starts a confined child: PID 1 of user and pid
 * namespaces of its own, root there (we are allowed to map ourselves), so
 * with every capability there after the exec, SIGTERM and SIGINT blocked
 * until it handles them. Its pid and pidfd are the exec'd process's. */
Test(spawn, own_namespaces)
{
	int rp[2], hold[2];
	cr_assert_eq(pipe2(rp, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(hold, O_CLOEXEC), 0);
	struct spawn_fd fds[] = { { rp[1], 3 }, { hold[0], 4 } };
	char *argv[] = { "spawn_probe", "--report", "3", "--await", "4", "--exit", "5", NULL };
	struct spawn_req req = { .path = probe, .argv = argv, .fds = fds, .nfds = 2,
				 .stderr_fd = -1, .own_ns = true };
	pid_t pid;
	int pidfd = -1;
	cr_assert_eq(spawn_child(&req, &pid, &pidfd), 0);
	close(rp[1]);
	close(hold[0]);
	/* While it waits for hold. */
	char report[16384], want[64], path[64], ours[64], theirs[64];
	static const char *const ns[] = { "user", "pid" };
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns[i]);
		ssize_t n = readlink(path, theirs, sizeof(theirs) - 1);
		cr_assert_gt(n, 0, "%s", path);
		theirs[n] = '\0';
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		n = readlink(path, ours, sizeof(ours) - 1);
		cr_assert_gt(n, 0);
		ours[n] = '\0';
		cr_expect_str_neq(ours, theirs, "the child shares our %s namespace", ns[i]);
	}
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(f, 0);
	read_all(f, report, sizeof(report));
	close(f);
	snprintf(want, sizeof(want), " %u ", (unsigned)geteuid());
	cr_expect_not_null(strstr(report, want), "uid_map: %s", report);
	close(hold[1]);
	read_all(rp[0], report, sizeof(report));
	close(rp[0]);
	snprintf(want, sizeof(want), "NSpid:\t%d\t1\n", (int)pid);
	cr_expect_not_null(strstr(report, want), "report:\n%s", report);
	cr_expect_not_null(strstr(report, "SigBlk:\t0000000000004002\n"), "report:\n%s", report);
	cr_expect_null(strstr(report, "CapEff:\t0000000000000000\n"), "report:\n%s", report);
	struct child_end end = wait_end(pidfd);
	cr_expect(!end.signaled && end.status == 5, "signaled %d status %d", end.signaled,
		  end.status);
	close(pidfd);
	expect_no_child();
}

/* ------------------------------------------------------------ failed starts */

static void expect_start_fails(const struct spawn_req *req, int want, const char *what)
{
	int before = tu_count_fds();
	pid_t pid = -1;
	int pidfd = -1;
	int r = spawn_child(req, &pid, &pidfd);
	cr_expect_eq(r, want, "%s: got %d (%s), want %d", what, r, strerror(-r), want);
	cr_expect_eq(pid, -1, "%s: *pid set on failure", what);
	cr_expect_eq(pidfd, -1, "%s: *pidfd set on failure", what);
	cr_expect_eq(tu_count_fds(), before, "%s: fd leaked", what);
	expect_no_child();
}

Test(spawn, missing_binary_is_enoent_with_nothing_left)
{
	char *argv[] = { "x", NULL };
	struct spawn_req req = { .path = "/nonexistent/probe", .argv = argv, .stderr_fd = -1 };
	expect_start_fails(&req, -ENOENT, "missing binary");
}

Test(spawn, not_executable_is_eacces)
{
	char path[] = "/tmp/spawn-noexec-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fchmod(fd, 0644), 0);
	close(fd);
	char *argv[] = { "x", NULL };
	struct spawn_req req = { .path = path, .argv = argv, .stderr_fd = -1 };
	expect_start_fails(&req, -EACCES, "file without x bit");
	unlink(path);
}

Test(spawn, source_fd_not_open_is_ebadf)
{
	/* High, so that spawn's own pipe and /dev/null cannot take the number. */
	int closed = 1000;
	cr_assert(!is_open(closed));
	struct spawn_fd fds[] = { { closed, 3 } };
	char *argv[] = { "spawn_probe", "--exit", "0", NULL };
	struct spawn_req req = { .path = probe, .argv = argv, .fds = fds, .nfds = 1,
				 .stderr_fd = -1 };
	expect_start_fails(&req, -EBADF, "closed source fd");
	req.nfds = 0;
	req.stderr_fd = closed;
	expect_start_fails(&req, -EBADF, "closed stderr fd");
}

Test(spawn, bad_requests_are_einval)
{
	int fd = memfd_named("x");
	char *argv[] = { "spawn_probe", "--exit", "0", NULL };
	char *no_name[] = { NULL };
	struct spawn_fd low[] = { { fd, 2 } };
	struct spawn_fd twice[] = { { fd, 4 }, { fd, 4 } };
	struct spawn_fd negative[] = { { -1, 4 } };
	struct spawn_fd many[SPAWN_MAX_FDS + 1];
	for (int i = 0; i <= SPAWN_MAX_FDS; i++)
		many[i] = (struct spawn_fd){ fd, 3 + i };
	const struct spawn_req good = { .path = probe, .argv = argv, .stderr_fd = -1 };
	struct spawn_req r;

	r = good, r.path = "spawn_probe";
	expect_start_fails(&r, -EINVAL, "relative path");
	r = good, r.path = NULL;
	expect_start_fails(&r, -EINVAL, "no path");
	r = good, r.argv = NULL;
	expect_start_fails(&r, -EINVAL, "no argv");
	r = good, r.argv = no_name;
	expect_start_fails(&r, -EINVAL, "no argv[0]");
	r = good, r.fds = low, r.nfds = 1;
	expect_start_fails(&r, -EINVAL, "target 2");
	r = good, r.fds = twice, r.nfds = 2;
	expect_start_fails(&r, -EINVAL, "one target twice");
	r = good, r.fds = negative, r.nfds = 1;
	expect_start_fails(&r, -EINVAL, "negative source");
	r = good, r.fds = many, r.nfds = SPAWN_MAX_FDS + 1;
	expect_start_fails(&r, -EINVAL, "too many fds");
	r = good, r.fds = NULL, r.nfds = 1;
	expect_start_fails(&r, -EINVAL, "nfds without fds");
	r = good, r.stderr_fd = -2;
	expect_start_fails(&r, -EINVAL, "stderr_fd -2");

	/* The same request with SPAWN_MAX_FDS fds works. */
	pid_t pid;
	int pidfd = -1;
	r = good, r.fds = many, r.nfds = SPAWN_MAX_FDS;
	cr_assert_eq(spawn_child(&r, &pid, &pidfd), 0);
	struct child_end end = wait_end(pidfd);
	cr_expect(!end.signaled && end.status == 0);
	close(pidfd);
	close(fd);
}

/* ------------------------------------------------------------ how it ends */

Test(spawn, pidfd_readable_when_the_child_exits)
{
	int before = tu_count_fds();
	int gate[2];
	cr_assert_eq(pipe2(gate, O_CLOEXEC), 0);
	struct spawn_fd fds[] = { { gate[0], 3 } };
	char *argv[] = { "spawn_probe", "--await", "3", "--exit", "7", NULL };
	pid_t pid;
	int pidfd = start(argv, fds, 1, -1, &pid);
	close(gate[0]);
	cr_expect(fcntl(pidfd, F_GETFD) & FD_CLOEXEC, "pidfd not close-on-exec");

	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	cr_expect_eq(poll(&p, 1, 0), 0, "readable while the child runs");
	struct child_end end = { .signaled = true, .status = -1 };
	cr_expect_eq(spawn_reap(pidfd, &end), 0);
	cr_expect_eq(kill(pid, 0), 0, "the child is not running");

	close(gate[1]); /* lets it exit */
	end = wait_end(pidfd);
	cr_expect(!end.signaled);
	cr_expect_eq(end.status, 7);
	cr_expect(!end.core);
	cr_expect_eq(spawn_reap(pidfd, &end), -ECHILD, "reaped twice");
	cr_expect_eq(kill(pid, 0), -1, "not reaped");
	close(pidfd);
	cr_expect_eq(tu_count_fds(), before);
	expect_no_child();
}

static struct child_end end_of_raise(int sig)
{
	char num[16];
	snprintf(num, sizeof(num), "%d", sig);
	char *argv[] = { "spawn_probe", "--raise", num, NULL };
	pid_t pid;
	int pidfd = start(argv, NULL, 0, -1, &pid);
	struct child_end end = wait_end(pidfd);
	close(pidfd);
	return end;
}

Test(spawn, reap_reports_the_signal)
{
	char what[96];
	struct child_end end = end_of_raise(SIGTERM);
	cr_expect(end.signaled);
	cr_expect_eq(end.status, SIGTERM);
	cr_expect(!end.core); /* the probe sets RLIMIT_CORE to 0 */
	child_end_describe(&end, what, sizeof(what));
	cr_expect_str_eq(what, "killed by signal 15 (SIGTERM)");

	end = end_of_raise(SIGSYS);
	cr_expect(end.signaled);
	cr_expect_eq(end.status, SIGSYS);
	child_end_describe(&end, what, sizeof(what));
	cr_expect_str_eq(what, "killed by signal 31 (SIGSYS: a seccomp violation)");
}

Test(spawn, reap_of_a_non_pidfd_fails)
{
	struct child_end end;
	int fd = memfd_named("x");
	int r = spawn_reap(fd, &end);
	cr_expect_eq(r, -EBADF, "%d", r);
	r = spawn_reap(-1, &end);
	cr_expect_eq(r, -EINVAL, "%d", r);
	close(fd);
}

/* The probe is started by an intermediate process that then exits: the probe
 * must be killed with it. We are its subreaper, so it is reparented to us and
 * we can see how it died. */
Test(spawn, child_dies_with_its_parent)
{
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	int rp[2], pp[2];
	cr_assert_eq(pipe2(rp, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
	pid_t mid = fork();
	cr_assert_geq(mid, 0);
	if (mid == 0) {
		struct spawn_fd fds[] = { { rp[1], 3 } };
		char *argv[] = { "spawn_probe", "--report", "3", "--pause", NULL };
		struct spawn_req req = { .path = probe, .argv = argv, .fds = fds, .nfds = 1,
					 .stderr_fd = -1 };
		pid_t pid = -1;
		int pidfd;
		int r = spawn_child(&req, &pid, &pidfd);
		_exit(write(pp[1], &pid, sizeof(pid)) == sizeof(pid) && r == 0 ? 0 : 1);
	}
	close(rp[1]);
	close(pp[1]);
	pid_t pid;
	cr_assert_eq(read(pp[0], &pid, sizeof(pid)), (ssize_t)sizeof(pid));
	close(pp[0]);
	int st;
	cr_assert_eq(waitpid(mid, &st, 0), mid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the intermediate failed to spawn");

	/* Its report, then EOF when it dies: within a second of its parent. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char buf[4096];
	ssize_t n;
	do {
		struct pollfd p = { .fd = rp[0], .events = POLLIN };
		if (poll(&p, 1, 1000) != 1) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			cr_assert_fail("the child outlived its parent");
		}
		n = read(rp[0], buf, sizeof(buf));
	} while (n > 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(rp[0]);
	cr_expect_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 1000);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status 0x%x", st);
}
