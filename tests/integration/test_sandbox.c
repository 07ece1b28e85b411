/* sandbox_enter across a real process: sandbox_probe (built next to this
 * test) confines itself as its arguments say, then does what they ask. The
 * test looks at it from outside (/proc/PID/status, ns, fd, limits), sees how
 * it ends, and reads what it printed (sandbox_fixture.h); test_sandbox_reaper
 * has who is PID 1 and how the end reaches the parent. Also run unprivileged:
 *   setpriv --reuid 65534 --regid 65534 --clear-groups ./test_sandbox */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "sandbox_fixture.h"
#include "testutil.h"

TestSuite(sandbox, .init = init, .timeout = 30);

/* ------------------------------------------------------------- the mode */

Test(sandbox, parse_mode)
{
	static const char *const names[] = { "on", "off", "log" };
	static const enum sandbox_mode modes[] = { SANDBOX_ON, SANDBOX_OFF, SANDBOX_LOG };
	for (size_t i = 0; i < 3; i++) {
		enum sandbox_mode m = (enum sandbox_mode)77;
		cr_expect_eq(sandbox_parse_mode(names[i], &m), 0);
		cr_expect_eq(m, modes[i]);
		cr_expect_str_eq(sandbox_mode_name(modes[i]), names[i]);
	}
	static const char *const bad[] = { "", "ON", "of", "logs", "enforce", "on " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum sandbox_mode m = (enum sandbox_mode)77;
		cr_expect_eq(sandbox_parse_mode(bad[i], &m), -EINVAL, "\"%s\"", bad[i]);
		cr_expect_eq(m, (enum sandbox_mode)77, "\"%s\": changed on failure", bad[i]);
	}
	cr_expect_str_eq(sandbox_mode_name((enum sandbox_mode)9), "?");
}

/* ----------------------------------------------- refused configurations */

static scmp_filter_ctx filter(uint32_t def)
{
	scmp_filter_ctx f = seccomp_init(def);
	cr_assert_not_null(f);
	return f;
}

/* Refused before anything changed: this very process stays as it was. */
static void expect_refused(struct sandbox_cfg cfg, int want, const char *msg)
{
	char nnp[8];
	int before = tu_count_fds();
	tu_log_begin();
	int r = sandbox_enter(&cfg);
	const char *logged = tu_log_end();
	cr_expect_eq(r, want, "%s: got %d, want %d", msg, r, want);
	cr_expect_not_null(strstr(logged, msg), "want \"%s\" in: %s", msg, logged);
	cr_expect_eq(count(logged, "\n"), 1, "one line: %s", logged);
	cr_expect_eq(tu_count_fds(), before, "%s: fd leaked", msg);
	cr_expect_str_eq(status_of(getpid(), "NoNewPrivs", nnp, sizeof(nnp)), "0", "%s", msg);
}

Test(sandbox, refuses_bad_configurations)
{
	static const int negative[] = { -1 }, high[] = { 16 }, closed[] = { 999 };
	static int many[SANDBOX_MAX_KEEP + 1];
	const struct sandbox_cfg good = {
		.name = "t", .policy_name = "t.policy", .mode = SANDBOX_ON, .max_fds = 16,
	};
	struct sandbox_cfg c;
	cr_assert_eq(fcntl(closed[0], F_GETFD), -1);

	c = good, c.name = NULL, c.filter = filter(SCMP_ACT_TRAP);
	expect_refused(c, -EINVAL, "no process name");
	c = good, c.policy_name = NULL, c.filter = filter(SCMP_ACT_TRAP);
	expect_refused(c, -EINVAL, "no process name, policy name or mode");
	c = good, c.mode = (enum sandbox_mode)3, c.filter = filter(SCMP_ACT_TRAP);
	expect_refused(c, -EINVAL, "no process name, policy name or mode");
	c = good;
	expect_refused(c, -EINVAL, "want a filter with default action trap for --sandbox=on");
	c = good, c.filter = filter(SCMP_ACT_NOTIFY);
	expect_refused(c, -EINVAL, "want a filter with default action trap for --sandbox=on");
	c = good, c.mode = SANDBOX_LOG, c.filter = filter(SCMP_ACT_TRAP);
	expect_refused(c, -EINVAL, "want a filter with default action notify or log for --sandbox=log");
	c = good, c.mode = SANDBOX_OFF, c.filter = filter(SCMP_ACT_TRAP);
	expect_refused(c, -EINVAL, "a filter was built for --sandbox=off");
	c = good, c.filter = filter(SCMP_ACT_TRAP), c.keep_fds = many;
	c.nkeep = SANDBOX_MAX_KEEP + 1;
	expect_refused(c, -EINVAL, "65 kept fds (at most 64)");
	c = good, c.filter = filter(SCMP_ACT_TRAP), c.nkeep = 1;
	expect_refused(c, -EINVAL, "1 kept fds (at most 64)");
	c = good, c.filter = filter(SCMP_ACT_TRAP), c.max_fds = 2;
	expect_refused(c, -EINVAL, "max_fds 2 (above 2)");
	c = good, c.filter = filter(SCMP_ACT_TRAP), c.keep_fds = negative, c.nkeep = 1;
	expect_refused(c, -EINVAL, "kept fd -1: want 0 to max_fds 16 - 1");
	c = good, c.filter = filter(SCMP_ACT_TRAP), c.keep_fds = high, c.nkeep = 1;
	expect_refused(c, -EINVAL, "kept fd 16: want 0 to max_fds 16 - 1");
	c = good, c.filter = filter(SCMP_ACT_TRAP), c.keep_fds = closed, c.nkeep = 1;
	c.max_fds = 1000;
	expect_refused(c, -EBADF, "kept fd 999 is not open");
}

static void *idle(void *arg)
{
	int *gate = arg;
	char c;
	ssize_t n = read(gate[0], &c, 1);
	(void)n;
	return NULL;
}

static void with_thread(struct sandbox_cfg c, int want, const char *msg)
{
	int gate[2];
	pthread_t t;
	cr_assert_eq(pipe2(gate, O_CLOEXEC), 0);
	cr_assert_eq(pthread_create(&t, NULL, idle, gate), 0);
	expect_refused(c, want, msg);
	close(gate[1]);
	cr_assert_eq(pthread_join(t, NULL), 0);
	close(gate[0]);
}

Test(sandbox, refuses_namespaces_with_threads)
{
	struct sandbox_cfg c = {
		.name = "t", .policy_name = "t.policy", .mode = SANDBOX_ON, .max_fds = 16,
		.namespaces = true, .filter = filter(SCMP_ACT_TRAP),
	};
	with_thread(c, -EINVAL, "namespaces need a single-threaded process");
}

Test(sandbox, refuses_a_thread_with_capabilities)
{
	if (!root())
		cr_skip_test("needs capabilities to hold: run as root");
	struct sandbox_cfg c = {
		.name = "t", .policy_name = "t.policy", .mode = SANDBOX_ON, .max_fds = 16,
		.filter = filter(SCMP_ACT_TRAP),
	};
	with_thread(c, -EPERM, "holds capabilities: drop them before starting threads");
}

/* ------------------------------------------------------- what it confines */

Test(sandbox, off_runs_unconfined)
{
	char out[256], err[512];
	const char *args[] = { "--mode", "off", "--ns", "exit:0", NULL };
	int st = run(args, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	cr_expect_not_null(strstr(err, "sandbox off: sandbox_probe runs unconfined\n"), "%s", err);
	cr_expect_eq(count(err, "\n"), 1, "%s", err);
}

Test(sandbox, with_namespaces)
{
	char fds[64], v[64];
	struct probe p;
	const char *args[] = { "--mode", "on", "--ns", "--keep", "5", "wait", NULL };
	start_waiting(&p, args);
	pid_t child = child_of(p.pid);

	/* The confined process. */
	expect_confined(child, 1, true);
	static const char *const ns[] = { "user", "pid", "mnt", "ipc", "uts", "net" };
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		cr_expect(!same_ns(child, ns[i]), "the child shares our %s namespace", ns[i]);
	cr_expect_str_eq(fds_of(child, fds, sizeof(fds)), "0 1 2 5");
	expect_limit(child, "Max open files", "16");
	expect_limit(child, "Max processes", "0");
	expect_limit(child, "Max core file size", "0");
	expect_limit(child, "Max file size", "0");
	status_of(child, "NSpid", v, sizeof(v));
	cr_expect_str_eq(v + strcspn(v, "\t"), "\t1", "not PID 1 in its namespace: NSpid %s", v);

	/* Root in its user namespace, as the caller outside; nobody else. */
	char want[64], path[64], text[128];
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)child);
	snprintf(want, sizeof(want), "0 %u 1", (unsigned)geteuid());
	cr_expect_str_eq(file_words(path, text, sizeof(text)), want);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)child);
	snprintf(want, sizeof(want), "0 %u 1", (unsigned)getegid());
	cr_expect_str_eq(file_words(path, text, sizeof(text)), want);
	snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)child);
	cr_expect_str_eq(file_words(path, text, sizeof(text)), "deny");

	/* The reaper: confined too, with nothing but stderr. */
	expect_confined(p.pid, 1, true);
	cr_expect(!same_ns(p.pid, "user"));
	cr_expect(same_ns(p.pid, "pid"), "the reaper must stay in our pid namespace");
	cr_expect_str_eq(fds_of(p.pid, fds, sizeof(fds)), "2");

	int st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

/* A root process that holds no capability (a child of a confined root
 * cellvmd) cannot map root into its user namespace. It goes on unmapped,
 * which leaves no confinement out: no "runs without" warning. */
Test(sandbox, root_without_capabilities_stays_unmapped)
{
	if (!root())
		cr_skip_test("needs root");
	char out[256], err[1024];
	const char *none[] = { "--mode", "on", "--ns", "--no-caps", "uid", NULL };
	cr_assert_eq(run(none, out, sizeof(out), err, sizeof(err)), 0, "stderr: %s", err);
	cr_expect_str_eq(out, "uid: 65534\n", "stderr: %s", err);
	cr_expect(!strstr(err, "runs without"), "stderr: %s", err);
	const char *with[] = { "--mode", "on", "--ns", "uid", NULL };
	cr_assert_eq(run(with, out, sizeof(out), err, sizeof(err)), 0, "stderr: %s", err);
	cr_expect_str_eq(out, "uid: 0\n", "root with CAP_SETFCAP maps itself");
}

Test(sandbox, without_namespaces)
{
	char fds[64];
	struct probe p;
	const char *args[] = { "--mode", "on", "--keep", "5", "--max-fds", "32", "--writes-files",
			       "wait", NULL };
	start_waiting(&p, args);
	/* Without CAP_SETPCAP (unprivileged, no user namespace) the bounding
	 * set stays; no_new_privs makes it moot. */
	expect_confined(p.pid, 1, root());
	static const char *const ns[] = { "user", "pid", "mnt", "ipc", "uts", "net" };
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		cr_expect(same_ns(p.pid, ns[i]), "the probe left our %s namespace", ns[i]);
	cr_expect_str_eq(fds_of(p.pid, fds, sizeof(fds)), "0 1 2 5");
	expect_limit(p.pid, "Max open files", "32");
	expect_limit(p.pid, "Max processes", "0");
	expect_limit(p.pid, "Max file size", "unlimited");
	int st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

Test(sandbox, keep_net)
{
	struct probe p;
	const char *args[] = { "--mode", "on", "--ns", "--keep-net", "wait", NULL };
	start_waiting(&p, args);
	pid_t child = child_of(p.pid);
	cr_expect(same_ns(child, "net"));
	cr_expect(!same_ns(child, "mnt"));
	cr_expect(!same_ns(child, "user"));
	int st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

Test(sandbox, the_root_is_empty)
{
	char out[512], err[512];
	const char *args[] = { "--mode", "on", "--ns", "ls", "open", "open-up", "mkdir", NULL };
	int st = run(args, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, stderr %s", st, err);
	cr_expect_str_eq(out, "ls: . ..\nopen: ENOENT\nopen-up: ENOENT\nmkdir: EROFS\n");
	cr_expect_str_eq(err, "");
}

/* RLIMIT_NPROC counts the tasks of the user in its user namespace: in the
 * sandbox's own, the reaper, the child and new_tasks more. Root is exempt. */
Test(sandbox, new_tasks)
{
	char out[128], err[512], v[32];
	struct probe p;
	const char *two[] = { "--mode", "on", "--ns", "--new-tasks", "2", "wait", NULL };
	start_waiting(&p, two);
	expect_limit(child_of(p.pid), "Max processes", "4");
	int st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);

	const char *one[] = { "--mode", "on", "--ns", "--new-tasks", "1", "thread", "thread",
			      NULL };
	st = run(one, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, %s", st, err);
	cr_expect_str_eq(out, "thread: ok\nthread: ok\n");
	/* The notifier thread counts too. */
	const char *log_two[] = { "--mode", "log", "--ns", "--new-tasks", "2", "wait", NULL };
	start_waiting(&p, log_two);
	expect_limit(child_of(p.pid), "Max processes", "5");
	st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	const char *log_one[] = { "--mode", "log", "--ns", "--new-tasks", "1", "thread", NULL };
	st = run(log_one, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, %s", st, err);
	cr_expect_str_eq(out, "thread: ok\n");
	const char *none[] = { "--mode", "on", "--ns", "thread", NULL };
	run(none, out, sizeof(out), err, sizeof(err));
	cr_expect_str_eq(out, root() ? "thread: ok\n" : "thread: EAGAIN\n");

	/* Without a user namespace of its own the count is host-wide: left. */
	const char *host[] = { "--mode", "on", "--new-tasks", "1", "wait", NULL };
	start_waiting(&p, host);
	expect_limit(p.pid, "Max processes", limit_of(getpid(), "Max processes", v, sizeof(v)));
	st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

/* ------------------------------------------------------------- escapes */

static void expect_killed_for(const char *action, const char *syscall, bool ns)
{
	char out[512], err[512], want[160];
	const char *with_ns[] = { "--mode", "on", "--ns", action, NULL };
	const char *without[] = { "--mode", "on", action, NULL };
	const char **args = ns ? with_ns : without;
	int st = run(args, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "%s: status %#x, stdout %s", action,
		  st, out);
	cr_expect(!WCOREDUMP(st), "%s: core dumped", action);
	cr_expect_str_eq(out, "", "%s ran", action);
	snprintf(want, sizeof(want), "]: seccomp: syscall %s (", syscall);
	cr_expect_not_null(strstr(err, want), "%s: want \"%s\" in: %s", action, want, err);
	cr_expect_not_null(strstr(err, ") is not allowed by probe.policy: killed\n"), "%s", err);
	cr_expect_eq(count(err, "\n"), 1, "%s: one line: %s", action, err);
}

static void escapes(bool ns)
{
	pid_t victim = fork();
	cr_assert_geq(victim, 0);
	if (victim == 0) {
		pause();
		_exit(0);
	}
	char kill_victim[32];
	snprintf(kill_victim, sizeof(kill_victim), "kill:%d", (int)victim);
	expect_killed_for("socket", "socket", ns);
	expect_killed_for("execve", "execve", ns);
	expect_killed_for("ptrace", "ptrace", ns);
	expect_killed_for("mprotect", "mprotect", ns);
	expect_killed_for(kill_victim, "kill", ns);
	cr_expect_eq(waitpid(victim, NULL, WNOHANG), 0, "the victim died");
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
}

Test(sandbox, escapes_kill_only_the_probe_with_namespaces)
{
	escapes(true);
}

Test(sandbox, escapes_kill_only_the_probe_without_namespaces)
{
	escapes(false);
}

/* The same calls run (or fail on their own), each logged once by name. */
Test(sandbox, log_mode_lets_them_run)
{
	char out[1024], err[2048];
	const char *args[] = { "--mode", "log", "--ns", "socket", "socket", "execve", "mprotect",
			       "ptrace", "kill:77", "socket", NULL };
	int st = run(args, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	/* execve finds no file in the empty root; pid 77 is not in its pid
	 * namespace. */
	cr_expect_str_eq(out, "socket: ok\nsocket: ok\nexecve: ENOENT\nmprotect: ok\nptrace: ok\n"
			      "kill: ESRCH\nsocket: ok\n");
	static const char *const calls[] = { "socket (41)", "execve (59)", "mprotect (10)",
					     "ptrace (101)", "kill (62)" };
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		char line[160];
		snprintf(line, sizeof(line),
			 "sandbox_probe[1]: seccomp: syscall %s is not in probe.policy "
			 "(allowed: --sandbox=log)\n",
			 calls[i]);
		cr_expect_eq(count(err, line), 1, "want once: %s in: %s", line, err);
	}
	cr_expect_eq(count(err, "\n"), 5, "%s", err);
}

/* The notifier thread started before the filter was loaded: TSYNC put it
 * under the filter too. It blocks every signal, so that none meant for the
 * process runs its handler there. */
Test(sandbox, log_mode_filters_every_thread)
{
	char path[64], v[32];
	struct probe p;
	const char *args[] = { "--mode", "log", "--ns", "wait", NULL };
	start_waiting(&p, args);
	pid_t child = child_of(p.pid);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)child);
	DIR *d = opendir(path);
	cr_assert_not_null(d);
	int threads = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0)
			continue;
		threads++;
		unsigned long long blocked = 0;
		const unsigned long long want = 1ull << (SIGTERM - 1) | 1ull << (SIGINT - 1) |
						1ull << (SIGHUP - 1) | 1ull << (SIGSYS - 1);
		sscanf(status_of(tid, "SigBlk", v, sizeof(v)), "%llx", &blocked);
		cr_expect_eq((blocked & want) == want, tid != child, "thread %d SigBlk %s",
			     (int)tid, v);
		cr_expect_str_eq(status_of(tid, "Seccomp", v, sizeof(v)), "2", "thread %d",
				 (int)tid);
		cr_expect_str_eq(status_of(tid, "NoNewPrivs", v, sizeof(v)), "1", "thread %d",
				 (int)tid);
	}
	closedir(d);
	cr_expect_eq(threads, 2, "the probe and its notifier");
	int st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

/* ------------------------------------------- where the kernel refuses */

static void expect_one_warning(const char *err, const char *what)
{
	cr_expect_eq(count(err, ": warn: "), 1, "one warning: %s", err);
	cr_expect_not_null(strstr(err, "sandbox: sandbox_probe runs without "), "%s", err);
	cr_expect_not_null(strstr(err, what), "want \"%s\" in: %s", what, err);
}

Test(sandbox, without_a_user_namespace)
{
	char fds[64];
	struct probe p;
	const char *args[] = { "--mode", "on", "--ns", "--deny-userns", "--allow-degraded", "wait",
			       NULL };
	start_waiting(&p, args);
	/* Root makes the other namespaces without it; others get none. */
	pid_t confined = root() ? child_of(p.pid) : p.pid;
	expect_confined(confined, 2, root());
	cr_expect(same_ns(confined, "user"));
	cr_expect_eq(same_ns(confined, "mnt"), !root());
	cr_expect_str_eq(fds_of(confined, fds, sizeof(fds)), "0 1 2");
	int st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	char err[1024];
	const char *quick[] = { "--mode", "on", "--ns", "--deny-userns", "--allow-degraded",
				"exit:0", NULL };
	run(quick, fds, sizeof(fds), err, sizeof(err));
	expect_one_warning(err, "a user namespace (unshare: Operation not permitted)");
	if (!root())
		expect_one_warning(err, "; pid, mount, ipc, uts and net namespaces and the empty "
					"root (unshare: Operation not permitted); an empty "
					"capability bounding set (no CAP_SETPCAP)\n");
	const char *tasks[] = { "--mode", "on", "--ns", "--deny-userns", "--allow-degraded",
				"--new-tasks", "1", "exit:0", NULL };
	run(tasks, fds, sizeof(fds), err, sizeof(err));
	expect_one_warning(err, "; RLIMIT_NPROC (it would count every process of the user)\n");
}

/* Less confinement than asked for is refused unless the operator accepts it:
 * the process never runs what it was started for. */
Test(sandbox, degraded_is_refused_by_default)
{
	char out[256], err[1024];
	const char *no_userns[] = { "--mode", "on", "--ns", "--deny-userns", "exit:0", NULL };
	int st = run(no_userns, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %#x, %s", st, err);
	cr_expect_str_eq(out, "enter: -1\n");
	cr_expect_not_null(strstr(err, "would run without a user namespace (unshare: Operation "
				       "not permitted)"), "%s", err);
	cr_expect_not_null(strstr(err, "refused (--allow-degraded runs it so)"), "%s", err);
	const char *no_root[] = { "--mode", "on", "--ns", "--deny", "fsopen=38", "open", NULL };
	st = run(no_root, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %#x, %s", st, err);
	cr_expect_str_eq(out, "enter: -1\n", "it opened nothing");
	cr_expect_not_null(strstr(err, "would run without the empty root"), "%s", err);
}

/* pivot_root refuses a root that is the initramfs (rootfs) with EINVAL, as
 * here: the process still stands on the empty root, with nothing missing,
 * and without chroot(2), which cellvm-spawner's filter refuses. */
Test(sandbox, pivot_root_refused_as_on_an_initramfs_root)
{
	char out[512], err[1024];
	const char *args[] = { "--mode", "on", "--ns", "--deny", "pivot_root=22", "--deny",
			       "chroot=1", "ls", "open", "open-up", NULL };
	int st = run(args, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, %s", st, err);
	cr_expect_str_eq(out, "ls: . ..\nopen: ENOENT\nopen-up: ENOENT\n");
	cr_expect_eq(count(err, ": warn: "), 0, "nothing is missing: %s", err);
}

Test(sandbox, without_the_empty_root)
{
	char out[1024], err[1024];
	const char *args[] = { "--mode", "on", "--ns", "--deny", "fsopen=38", "--allow-degraded",
			       "open", NULL };
	int st = run(args, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, %s", st, err);
	cr_expect_str_eq(out, "open: ok\n");
	expect_one_warning(err, "the empty root (fsopen tmpfs: Function not implemented)\n");
}

/* RLIMIT_FSIZE 0 would stop a log file on stderr, and SIGXFSZ the process. */
Test(sandbox, stderr_in_a_file_keeps_fsize)
{
	char path[] = "/tmp/test_sandbox-XXXXXX", out[64], err[512];
	int file = mkstemp(path);
	cr_assert_geq(file, 0);
	unlink(path);
	struct probe p;
	const char *args[] = { "--mode", "on", "--ns", "wait", NULL };
	start_opts(&p, args, file, false, false);
	read_line(p.out, out, sizeof(out));
	cr_assert_str_eq(out, "ready");
	expect_limit(child_of(p.pid), "Max file size", "unlimited");
	int st = release(&p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	ssize_t n = pread(file, err, sizeof(err) - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(file);
	expect_one_warning(err, "RLIMIT_FSIZE 0 (fd 2 is a regular file)\n");
}

/* ----------------------------------------- failures once it has begun */

/* No fd left below max_fds for the notification fd: the load fails, the
 * notifier thread ends, and the probe is told. */
Test(sandbox, failed_load_in_log_mode)
{
	char out[256], err[512];
	const char *args[] = { "--mode", "log", "--max-fds", "3", "exit:0", NULL };
	int st = run(args, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %#x", st);
	/* EMFILE, which libseccomp 2.5 turns into EFAULT. */
	cr_expect_eq(strncmp(out, "enter: -", 8), 0, "%s", out);
	cr_expect_not_null(strstr(err, "sandbox: loading probe.policy: "), "%s", err);
}

Test(sandbox, failed_rlimit)
{
	char out[256], err[512];
	const char *args[] = { "--mode", "on", "--ns", "--max-fds", "2000000000", "exit:0", NULL };
	int st = run(args, out, sizeof(out), err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %#x", st);
	cr_expect_str_eq(out, "enter: -1\n");
	cr_expect_not_null(strstr(err, "sandbox: RLIMIT_NOFILE 2000000000: Operation not "
				       "permitted\n"),
			   "%s", err);
}
