/* The process test_sandbox confines: it builds a small filter itself (an
 * allow list for what it and glibc/ASan need), calls sandbox_enter, then
 * does what its arguments ask and reports on stdout, one line per action.
 *
 *   sandbox_probe [--mode on|off|log] [--ns] [--given-ns] [--keep-net] [--keep FD]...
 *                 [--max-fds N] [--new-tasks N] [--writes-files] [--deny-userns]
 *                 [--no-caps] [--allow-degraded] [--deny SYSCALL=ERRNO]... ACTION...
 *
 * --deny-userns and --deny stand in for a kernel that refuses (a filter
 * loaded before sandbox_enter makes unshare(CLONE_NEWUSER) or SYSCALL fail
 * with that errno). --no-caps drops every capability first, as a child of a
 * confined root cellvmd starts. If sandbox_enter fails the probe prints "enter: -ERRNO"
 * and exits 3. Actions:
 *   wait      print "ready", then read stdin until EOF (SIGTERM prints
 *             "sigterm" and exits 43)
 *   ls        "ls: " and the entries of / in readdir order
 *   open      open("/etc/passwd"): "open: ok" or "open: <errno name>"
 *   open-up   the same through "/..", which could reach a root stacked on /
 *   mkdir     mkdir("/new") if / is empty, else "mkdir: not tried" (a
 *             broken sandbox must not create anything in the real root)
 *   socket    socket(AF_INET): "socket: ..."
 *   execve    execve("/bin/true"): "execve: ..."
 *   ptrace    ptrace(PTRACE_TRACEME): "ptrace: ..."
 *   mprotect  mprotect(a page, PROT_READ | PROT_EXEC): "mprotect: ..."
 *   kill:PID  kill(PID, SIGKILL): "kill: ..."
 *   thread    start a thread and join it: "thread: ok" or "thread: EAGAIN"
 *   uid       "uid: " and its uid as it sees it
 *   exit:N    exit with status N
 * After the last action it exits 0. It always ends with _exit: LeakSanitizer
 * would need ptrace and /proc at exit. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <cap-ng.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

#define MAX_DENY 4

/* What the probe, glibc, ASan/UBSan and sandbox.c's reporters call once
 * confined; argument conditions where a call is also an escape attempt. */
static const int allowed[] = {
	SCMP_SYS(read),		SCMP_SYS(write),	  SCMP_SYS(close),
	SCMP_SYS(exit_group),	SCMP_SYS(exit),		  SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(brk),
	SCMP_SYS(munmap),	SCMP_SYS(madvise),	  SCMP_SYS(futex),
	SCMP_SYS(openat),	SCMP_SYS(getdents64),	  SCMP_SYS(newfstatat),
	SCMP_SYS(fstat),	SCMP_SYS(mkdir),	  SCMP_SYS(getpid),
	SCMP_SYS(gettid),	SCMP_SYS(clone3),	  SCMP_SYS(rseq),
	SCMP_SYS(set_robust_list), SCMP_SYS(getuid),
	SCMP_SYS(sched_getaffinity), /* ASan, starting a thread */
	SCMP_SYS(sigaltstack), /* ASan, before every call of a noreturn function */
	SCMP_SYS(tgkill),      /* raise(), as most policies allow */
};

static void fail(const char *what) __attribute__((noreturn));
static void fail(const char *what)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "sandbox_probe: %s: %s\n", what, strerror(errno));
	if (n > 0 && (size_t)n < sizeof(line) && write(STDERR_FILENO, line, (size_t)n) < 0)
		_exit(121);
	_exit(120);
}

static scmp_filter_ctx build_filter(enum sandbox_mode mode)
{
	if (mode == SANDBOX_OFF)
		return NULL;
	scmp_filter_ctx f = seccomp_init(mode == SANDBOX_ON ? SCMP_ACT_TRAP : SCMP_ACT_NOTIFY);
	if (!f)
		fail("seccomp_init");
	int err = 0;
	for (size_t i = 0; err == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, allowed[i], 0);
	if (err == 0)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (err == 0)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* The LOG mode notifier's own calls. */
	const scmp_datum_t recv = SECCOMP_IOCTL_NOTIF_RECV, send = SECCOMP_IOCTL_NOTIF_SEND;
	if (err == 0)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, recv));
	if (err == 0)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, send));
	if (err) {
		errno = -err;
		fail("seccomp_rule_add");
	}
	return f;
}

/* A filter of its own, loaded first: the kernel as the test wants it. */
static void deny(bool userns, char *const *calls, size_t n)
{
	if (!userns && n == 0)
		return;
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
	if (!f)
		fail("seccomp_init");
	int err = 0;
	if (userns)
		err = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
	for (size_t i = 0; err == 0 && i < n; i++) {
		char name[64];
		int e;
		if (sscanf(calls[i], "%63[^=]=%d", name, &e) != 2)
			fail(calls[i]);
		int nr = seccomp_syscall_resolve_name(name);
		err = seccomp_rule_add(f, SCMP_ACT_ERRNO((uint32_t)e), nr, 0);
	}
	if (err == 0)
		err = seccomp_load(f);
	seccomp_release(f);
	if (err) {
		errno = -err;
		fail("loading the deny filter");
	}
}

/* One write per line: dprintf would also lseek. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || write(STDOUT_FILENO, line, (size_t)n) != n)
		_exit(123);
}

static void report(const char *what, int r)
{
	if (r < 0)
		say("%s: %s\n", what, strerrorname_np(errno));
	else
		say("%s: ok\n", what);
}

static void on_sigterm(int sig)
{
	(void)sig;
	static const char msg[] = "sigterm\n";
	ssize_t w = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(w == (ssize_t)sizeof(msg) - 1 ? 43 : 121);
}

static void wait_for_eof(void)
{
	/* As PID 1 of its pid namespace the probe would ignore a forwarded
	 * SIGTERM without a handler. */
	struct sigaction sa = { .sa_handler = on_sigterm };
	if (sigaction(SIGTERM, &sa, NULL) < 0)
		fail("sigaction");
	say("ready\n");
	char buf[64];
	ssize_t n;
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0)
		if (n < 0 && errno != EINTR)
			fail("read");
}

static bool root_is_empty(void)
{
	DIR *d = opendir("/");
	if (!d)
		fail("opendir /");
	size_t n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n == 2;
}

static void list_root(void)
{
	char line[1024] = "ls:";
	DIR *d = opendir("/");
	if (!d)
		fail("opendir /");
	struct dirent *e;
	while ((e = readdir(d)))
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", e->d_name);
	closedir(d);
	say("%s\n", line);
}

static void *thread_main(void *arg)
{
	return arg;
}

static void start_thread(void)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, thread_main, NULL);
	if (err == 0)
		err = pthread_join(t, NULL);
	errno = err;
	report("thread", err ? -1 : 0);
}

static void act(const char *a)
{
	if (strcmp(a, "wait") == 0) {
		wait_for_eof();
	} else if (strcmp(a, "uid") == 0) {
		say("uid: %u\n", (unsigned)getuid());
	} else if (strcmp(a, "ls") == 0) {
		list_root();
	} else if (strcmp(a, "open") == 0) {
		report("open", open("/etc/passwd", O_RDONLY | O_CLOEXEC));
	} else if (strcmp(a, "open-up") == 0) {
		report("open-up", open("/../etc/passwd", O_RDONLY | O_CLOEXEC));
	} else if (strcmp(a, "mkdir") == 0) {
		if (root_is_empty())
			report("mkdir", mkdir("/new", 0700));
		else
			say("mkdir: not tried\n");
	} else if (strcmp(a, "socket") == 0) {
		report("socket", socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	} else if (strcmp(a, "execve") == 0) {
		char *argv[] = { "true", NULL }, *envp[] = { NULL };
		report("execve", execve("/bin/true", argv, envp));
	} else if (strcmp(a, "ptrace") == 0) {
		report("ptrace", (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL));
	} else if (strcmp(a, "mprotect") == 0) {
		static char page[4096] __attribute__((aligned(4096)));
		report("mprotect", mprotect(page, sizeof(page), PROT_READ | PROT_EXEC));
	} else if (strncmp(a, "kill:", 5) == 0) {
		report("kill", kill((pid_t)atoi(a + 5), SIGKILL));
	} else if (strcmp(a, "thread") == 0) {
		start_thread();
	} else if (strncmp(a, "exit:", 5) == 0) {
		_exit(atoi(a + 5));
	} else {
		errno = EINVAL;
		fail(a);
	}
}

int main(int argc, char **argv)
{
	static int keep[SANDBOX_MAX_KEEP];
	char *denied[MAX_DENY];
	size_t ndenied = 0;
	bool deny_userns = false, no_caps = false;
	struct sandbox_cfg cfg = {
		.name = "sandbox_probe", .policy_name = "probe.policy", .keep_fds = keep,
		.max_fds = 16,
	};
	log_init("sandbox_probe", LOG_LVL_INFO);
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *o = argv[i];
		char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(o, "--ns") == 0)
			cfg.namespaces = true;
		else if (strcmp(o, "--given-ns") == 0)
			cfg.given_ns = true;
		else if (strcmp(o, "--keep-net") == 0)
			cfg.keep_net = true;
		else if (strcmp(o, "--writes-files") == 0)
			cfg.writes_files = true;
		else if (strcmp(o, "--deny-userns") == 0)
			deny_userns = true;
		else if (strcmp(o, "--no-caps") == 0)
			no_caps = true;
		else if (strcmp(o, "--allow-degraded") == 0)
			cfg.allow_degraded = true;
		else if (!v)
			fail(o);
		else if (strcmp(o, "--mode") == 0 && sandbox_parse_mode(v, &cfg.mode) == 0)
			i++;
		else if (strcmp(o, "--keep") == 0 && cfg.nkeep < SANDBOX_MAX_KEEP)
			keep[cfg.nkeep++] = atoi(argv[++i]);
		else if (strcmp(o, "--max-fds") == 0)
			cfg.max_fds = strtoull(argv[++i], NULL, 10);
		else if (strcmp(o, "--new-tasks") == 0)
			cfg.new_tasks = (unsigned int)atoi(argv[++i]);
		else if (strcmp(o, "--deny") == 0 && ndenied < MAX_DENY)
			denied[ndenied++] = argv[++i];
		else
			fail(o);
	}
	deny(deny_userns, denied, ndenied);
	if (no_caps) {
		capng_clear(CAPNG_SELECT_BOTH);
		if (capng_apply(CAPNG_SELECT_BOTH) < 0)
			fail("--no-caps");
	}
	cfg.filter = build_filter(cfg.mode);
	int err = sandbox_enter(&cfg);
	if (err) {
		say("enter: %d\n", err);
		_exit(3);
	}
	for (; i < argc; i++)
		act(argv[i]);
	_exit(0);
}
