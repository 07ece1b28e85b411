/* The fixture of test_sandbox and test_sandbox_reaper (sandbox_fixture.h). */
#include "sandbox_fixture.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "spawn_ns.h"
#include "testutil.h"

char probe_path[PATH_MAX];

void init(void)
{
	tu_beside_self("sandbox_probe", probe_path, sizeof(probe_path));
	log_init("test_sandbox", LOG_LVL_INFO);
}

void start_opts(struct probe *p, const char *const *args, int err_fd, bool sigchld_ign,
		bool given_ns)
{
	const char *argv[32] = { "sandbox_probe" };
	size_t n = 1, a = 0;
	if (given_ns)
		argv[n++] = "--given-ns";
	for (; args[a]; a++, n++) {
		cr_assert_lt(n, 31);
		argv[n] = args[a];
	}
	argv[n] = NULL;
	struct spawn_ns ns;
	spawn_ns_prepare(&ns);
	int in[2], out[2], err[2] = { -1, err_fd };
	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	if (err_fd < 0)
		cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
	int kept = memfd_create("kept", MFD_CLOEXEC), stray = memfd_create("stray", MFD_CLOEXEC);
	cr_assert(kept >= 0 && stray >= 0);
	pid_t pid = given_ns ? spawn_ns_clone() : fork();
	cr_assert_geq(pid, 0, "%s", strerror((int)-pid));
	if (pid == 0) {
		struct rlimit core;
		if (given_ns && spawn_ns_enter(&ns) != 0)
			_exit(125);
		/* dup2 clears close-on-exec on the copies. */
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0 ||
		    dup2(kept, KEPT_FD) < 0 || dup2(stray, STRAY_FD) < 0 ||
		    getrlimit(RLIMIT_CORE, &core) < 0)
			_exit(126);
		core.rlim_cur = core.rlim_max;
		if (setrlimit(RLIMIT_CORE, &core) < 0 ||
		    (sigchld_ign && signal(SIGCHLD, SIG_IGN) == SIG_ERR))
			_exit(126);
		execv(probe_path, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (err_fd < 0)
		close(err[1]);
	close(kept);
	close(stray);
	*p = (struct probe){ .pid = pid, .in = in[1], .out = out[0], .err = err[0] };
}

void start(struct probe *p, const char *const *args)
{
	start_opts(p, args, -1, false, false);
}

/* Reads up to EOF (or len - 1 bytes), at most WAIT_MS in all. */
void read_all(int fd, char *buf, size_t len)
{
	size_t used = 0;
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		cr_assert_eq(poll(&pf, 1, WAIT_MS), 1, "no EOF; so far: %.*s", (int)used, buf);
		ssize_t n = read(fd, buf + used, len - 1 - used);
		cr_assert_geq(n, 0);
		used += (size_t)n;
		if (n == 0 || used == len - 1)
			break;
	}
	buf[used] = '\0';
}

/* Reads one line (without '\n'). */
void read_line(int fd, char *buf, size_t len)
{
	size_t used = 0;
	while (used < len - 1) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		cr_assert_eq(poll(&pf, 1, WAIT_MS), 1, "no line; so far: %.*s", (int)used, buf);
		cr_assert_eq(read(fd, buf + used, 1), 1, "EOF; so far: %.*s", (int)used, buf);
		if (buf[used] == '\n')
			break;
		used++;
	}
	buf[used] = '\0';
}

/* The probe's wait status, reaped within WAIT_MS. */
int end_of(pid_t pid)
{
	int pidfd = pidfd_open(pid, 0), st;
	cr_assert_geq(pidfd, 0);
	struct pollfd pf = { .fd = pidfd, .events = POLLIN };
	if (poll(&pf, 1, WAIT_MS) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		cr_assert_fail("the probe did not end");
	}
	close(pidfd);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

/* Runs the probe to its end: its stdout and stderr, and its wait status. */
int run_opts(const char *const *args, bool sigchld_ign, bool given_ns, char *out,
	     size_t outlen, char *err, size_t errlen)
{
	struct probe p;
	start_opts(&p, args, -1, sigchld_ign, given_ns);
	close(p.in);
	read_all(p.out, out, outlen);
	read_all(p.err, err, errlen);
	close(p.out);
	close(p.err);
	return end_of(p.pid);
}

int run(const char *const *args, char *out, size_t outlen, char *err, size_t errlen)
{
	return run_opts(args, false, false, out, outlen, err, errlen);
}

/* Starts the probe with a "wait" action and returns once it said "ready". */
void start_waiting(struct probe *p, const char *const *args)
{
	char line[64];
	start(p, args);
	read_line(p->out, line, sizeof(line));
	cr_assert_str_eq(line, "ready");
}

/* Lets a waiting probe go and reaps it; its wait status. */
int release(struct probe *p)
{
	close(p->in);
	int st = end_of(p->pid);
	close(p->out);
	close(p->err);
	return st;
}

/* The reaper's child: the confined process. */
pid_t child_of(pid_t parent)
{
	DIR *d = opendir("/proc");
	cr_assert_not_null(d);
	pid_t found = 0;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		char path[64], stat[512];
		int pid = atoi(e->d_name);
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, stat, sizeof(stat) - 1);
		close(fd);
		stat[n > 0 ? n : 0] = '\0';
		const char *after = strrchr(stat, ')');
		int ppid;
		if (after && sscanf(after, ") %*c %d", &ppid) == 1 && ppid == parent)
			found = (pid_t)pid;
	}
	closedir(d);
	cr_assert_gt(found, 0, "no child of %d", (int)parent);
	return found;
}

/* The value of one /proc/PID/status field ("Seccomp" -> "2"). */
const char *status_of(pid_t pid, const char *field, char *buf, size_t len)
{
	char path[64], text[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	read_all(fd, text, sizeof(text));
	close(fd);
	char key[64];
	snprintf(key, sizeof(key), "\n%s:\t", field);
	const char *v = strstr(text, key);
	cr_assert_not_null(v, "%s: no %s", path, field);
	v += strlen(key);
	snprintf(buf, len, "%.*s", (int)strcspn(v, "\n"), v);
	return buf;
}

void expect_status(pid_t pid, const char *field, const char *want)
{
	char v[64];
	cr_expect_str_eq(status_of(pid, field, v, sizeof(v)), want, "pid %d %s", (int)pid, field);
}

/* Seccomp in filter mode, no_new_privs, no capability in any set. */
void expect_confined(pid_t pid, int filters, bool bounding_empty)
{
	static const char *const caps[] = { "CapInh", "CapPrm", "CapEff", "CapAmb" };
	char n[16], v[64];
	expect_status(pid, "Seccomp", "2");
	snprintf(n, sizeof(n), "%d", filters);
	expect_status(pid, "Seccomp_filters", n);
	expect_status(pid, "NoNewPrivs", "1");
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		expect_status(pid, caps[i], "0000000000000000");
	status_of(pid, "CapBnd", v, sizeof(v));
	cr_expect_eq(strcmp(v, "0000000000000000") == 0, bounding_empty, "pid %d CapBnd %s",
		     (int)pid, v);
}

bool same_ns(pid_t pid, const char *ns)
{
	char path[64], ours[128], theirs[128];
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	ssize_t n = readlink(path, theirs, sizeof(theirs) - 1);
	cr_assert_gt(n, 0, "%s: %s", path, strerror(errno));
	theirs[n] = '\0';
	snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
	n = readlink(path, ours, sizeof(ours) - 1);
	cr_assert_gt(n, 0);
	ours[n] = '\0';
	return strcmp(ours, theirs) == 0;
}

/* "0 1 2 5": the open fds of pid, in order. */
const char *fds_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	bool open_fd[64] = { false };
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s: %s", path, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd < 64)
			open_fd[fd] = true;
	}
	closedir(d);
	buf[0] = '\0';
	for (int fd = 0; fd < 64; fd++) {
		size_t used = strlen(buf);
		if (open_fd[fd])
			snprintf(buf + used, len - used, "%s%d", used ? " " : "", fd);
	}
	return buf;
}

/* The soft value of one /proc/PID/limits line ("Max processes" -> "0"). */
const char *limit_of(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64], text[4096];
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	read_all(fd, text, sizeof(text));
	close(fd);
	const char *l = strstr(text, name);
	cr_assert_not_null(l, "%s: no %s", path, name);
	char soft[32];
	cr_assert_eq(sscanf(l + strlen(name), "%31s", soft), 1);
	snprintf(buf, len, "%s", soft);
	return buf;
}

void expect_limit(pid_t pid, const char *name, const char *want)
{
	char v[32];
	cr_expect_str_eq(limit_of(pid, name, v, sizeof(v)), want, "pid %d %s", (int)pid, name);
}

/* A small file's words, one space apart ("0   1000   1\n" -> "0 1000 1"). */
const char *file_words(const char *path, char *buf, size_t len)
{
	char text[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	read_all(fd, text, sizeof(text));
	close(fd);
	buf[0] = '\0';
	for (char *save, *w = strtok_r(text, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? " " : "", w);
	return buf;
}

int count(const char *text, const char *what)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

bool root(void)
{
	return geteuid() == 0;
}

pid_t count_children(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	read_all(fd, buf, sizeof(buf));
	close(fd);
	return (pid_t)count(buf, " ");
}
