/* Who is PID 1 of a confined process's pid namespace, and how its end
 * reaches its parent (common/sandbox.h), with sandbox_probe as in
 * test_sandbox (sandbox_fixture.h). Run by hand, the process forks into the
 * namespace and its original stays as the reaper, which ends as the child
 * ends and passes SIGTERM on. Started as cellvm-spawner starts it, PID 1 of
 * user and pid namespaces of its own (--given-ns), it is its confined self
 * from the start: no fork, no reaper, its end and signals its own. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox_fixture.h"

TestSuite(reaper, .init = init, .timeout = 30);
TestSuite(given_ns, .init = init, .timeout = 30);

/* ------------------------------------------------------- run by hand */

Test(reaper, reaper_exits_like_the_child)
{
	char out[64], err[256];
	const char *seven[] = { "--mode", "on", "--ns", "exit:7", NULL };
	int st = run(seven, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
	const char *zero[] = { "--mode", "log", "--ns", "exit:0", NULL };
	st = run(zero, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	st = run_opts(seven, true, false, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 7, "SIGCHLD ignored: status %#x, %s", st,
		  err);
}

Test(reaper, reaper_dies_like_the_child)
{
	struct probe p;
	const char *args[] = { "--mode", "on", "--ns", "wait", NULL };
	start_waiting(&p, args);
	cr_assert_eq(kill(child_of(p.pid), SIGKILL), 0);
	int st = release(&p);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
}

Test(reaper, reaper_forwards_sigterm)
{
	char out[64];
	struct probe p;
	const char *args[] = { "--mode", "on", "--ns", "wait", NULL };
	start_waiting(&p, args);
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	read_all(p.out, out, sizeof(out));
	cr_expect_str_eq(out, "sigterm\n");
	int st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 43, "status %#x", st);
}

Test(reaper, child_dies_with_the_reaper)
{
	struct probe p;
	const char *args[] = { "--mode", "on", "--ns", "wait", NULL };
	start_waiting(&p, args);
	int child = pidfd_open(child_of(p.pid), 0);
	cr_assert_geq(child, 0);
	cr_assert_eq(kill(p.pid, SIGKILL), 0);
	struct pollfd pf = { .fd = child, .events = POLLIN };
	cr_expect_eq(poll(&pf, 1, WAIT_MS), 1, "the child outlived the reaper");
	close(child);
	int st = release(&p);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
}

/* ------------------------------------------- started in its namespaces */

Test(given_ns, the_started_process_is_the_confined_one)
{
	char v[64];
	struct probe p;
	const char *args[] = { "--mode", "on", "--ns", "--keep", "5", "--new-tasks", "2", "wait",
			       NULL };
	start_opts(&p, args, -1, false, true);
	read_line(p.out, v, sizeof(v));
	cr_assert_str_eq(v, "ready");
	expect_confined(p.pid, 1, true);
	cr_expect_eq(count_children(p.pid), 0, "it forked");
	static const char *const ns[] = { "user", "pid", "mnt", "ipc", "uts", "net" };
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		cr_expect(!same_ns(p.pid, ns[i]), "it shares our %s namespace", ns[i]);
	char want[32];
	snprintf(want, sizeof(want), "%d\t1", (int)p.pid);
	expect_status(p.pid, "NSpid", want);
	cr_expect_str_eq(fds_of(p.pid, v, sizeof(v)), "0 1 2 5");
	/* RLIMIT_NPROC: itself and new_tasks, no reaper among them. */
	expect_limit(p.pid, "Max processes", "3");
	int st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);

	char out[256], err[512];
	const char *look[] = { "--mode", "on", "--ns", "ls", "open", "uid", NULL };
	st = run_opts(look, false, true, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, %s", st, err);
	cr_expect_str_eq(out, "ls: . ..\nopen: ENOENT\nuid: 0\n");
	cr_expect_str_eq(err, "");
}

/* Its parent sees how it ended, with nothing in between: an exit status, a
 * seccomp kill (SIGSYS, with its line), SIGTERM from outside to its
 * handler, SIGKILL. */
Test(given_ns, its_end_is_its_own)
{
	char out[256], err[512];
	const char *seven[] = { "--mode", "on", "--ns", "exit:7", NULL };
	int st = run_opts(seven, false, true, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x, %s", st, err);
	const char *sys[] = { "--mode", "on", "--ns", "socket", NULL };
	st = run_opts(sys, false, true, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "status %#x", st);
	cr_expect_str_eq(err, "sandbox_probe[1]: seccomp: syscall socket (41) is not allowed by "
			      "probe.policy: killed\n");

	struct probe p;
	const char *args[] = { "--mode", "on", "--ns", "wait", NULL };
	start_opts(&p, args, -1, false, true);
	read_line(p.out, out, sizeof(out));
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	read_all(p.out, out, sizeof(out));
	cr_expect_str_eq(out, "sigterm\n");
	st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 43, "status %#x", st);

	start_opts(&p, args, -1, false, true);
	read_line(p.out, out, sizeof(out));
	cr_assert_eq(kill(p.pid, SIGKILL), 0);
	st = release(&p);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
}

/* A process told so that is not PID 1 of a pid namespace would run with our
 * pid namespace: refused. */
Test(given_ns, refused_unless_pid_1)
{
	char out[256], err[512];
	const char *args[] = { "--mode", "on", "--ns", "--given-ns", "exit:0", NULL };
	int st = run(args, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %#x, %s", st, err);
	cr_expect_str_eq(out, "enter: -22\n");
	cr_expect_not_null(strstr(err, "sandbox: --given-ns, but it is pid "), "%s", err);
}
