/* Confining a process: the steps of sandbox_enter(), in order. The
 * namespaces and the reaper are sandbox_ns.c's, the reports of a violation
 * sandbox_report.c's. */
#include "sandbox.h"

#include <cap-ng.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "sandbox_int.h"

/* ------------------------------------------------------- checks */

/* The effective, permitted and inheritable sets of a thread (0: the
 * caller). 1 if any is not empty, 0 if all are, or -errno. */
static int holds_caps(pid_t tid)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = tid };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (d[i].effective | d[i].permitted | d[i].inheritable)
			return 1;
	return 0;
}

/* The caller's thread id as /proc names it: started in a pid namespace of
 * its own (given_ns), the process still sees the /proc of its parent's, in
 * which gettid() is another number. 0 once *tid is set, or -errno. */
static int proc_tid(pid_t *tid)
{
	char link[64];
	ssize_t n = readlink("/proc/thread-self", link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	const char *t = strrchr(link, '/');
	*tid = t ? (pid_t)atoi(t + 1) : 0;
	return *tid > 0 ? 0 : -EINVAL;
}

/* With namespaces there must be no other thread: unshare(CLONE_NEWUSER)
 * refuses, and fork would leave them behind. Without, they may run, but
 * without capabilities: those belong to a thread, and only the caller's
 * are dropped. */
static int check_threads(bool namespaces)
{
	pid_t self = 0;
	int err = proc_tid(&self);
	DIR *d = err ? NULL : opendir("/proc/self/task");
	if (!d) {
		err = err ? err : -errno;
		log_err("sandbox: listing threads: /proc/self/task: %s", strerror(-err));
		return err;
	}
	struct dirent *e;
	while (err == 0 && (e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0 || tid == self)
			continue;
		if (namespaces) {
			log_err("sandbox: namespaces need a single-threaded process "
				"(thread %d runs)", (int)tid);
			err = -EINVAL;
		} else if (holds_caps(tid) == 1) {
			log_err("sandbox: thread %d holds capabilities: drop them before "
				"starting threads", (int)tid);
			err = -EPERM;
		}
	}
	closedir(d);
	return err;
}

static int check_cfg(const struct sandbox_cfg *c)
{
	if (!c->name || !c->policy_name || (unsigned)c->mode > SANDBOX_LOG) {
		log_err("sandbox: no process name, policy name or mode");
		return -EINVAL;
	}
	if (c->mode == SANDBOX_OFF) {
		if (!c->filter)
			return 0;
		log_err("sandbox: %s: a filter was built for --sandbox=off", c->policy_name);
		return -EINVAL;
	}
	uint32_t want = c->mode == SANDBOX_ON ? SCMP_ACT_TRAP : SCMP_ACT_NOTIFY, act = 0;
	if (!c->filter || seccomp_attr_get(c->filter, SCMP_FLTATR_ACT_DEFAULT, &act) < 0 ||
	    (act != want && !(c->mode == SANDBOX_LOG && act == SCMP_ACT_LOG))) {
		log_err("sandbox: %s: want a filter with default action %s for --sandbox=%s",
			c->policy_name, c->mode == SANDBOX_ON ? "trap" : "notify or log",
			sandbox_mode_name(c->mode));
		return -EINVAL;
	}
	if (c->nkeep > SANDBOX_MAX_KEEP || (c->nkeep && !c->keep_fds) || c->max_fds <= 2) {
		log_err("sandbox: %zu kept fds (at most %d), max_fds %llu (above 2)", c->nkeep,
			SANDBOX_MAX_KEEP, (unsigned long long)c->max_fds);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->nkeep; i++) {
		int fd = c->keep_fds[i];
		if (fd < 0 || (rlim_t)fd >= c->max_fds) {
			log_err("sandbox: kept fd %d: want 0 to max_fds %llu - 1", fd,
				(unsigned long long)c->max_fds);
			return -EINVAL;
		}
		if (fcntl(fd, F_GETFD) < 0) {
			log_err("sandbox: kept fd %d is not open", fd);
			return -EBADF;
		}
	}
	return check_threads(c->namespaces);
}

/* ------------------------------------------------------- the steps */

/* What the process is: its tasks now, whether it has a user namespace of
 * its own (RLIMIT_NPROC then counts only the tasks in there), and what of
 * the sandbox the kernel refused. */
struct state {
	unsigned int tasks;
	bool own_userns;
	struct sandbox_missing m;
};

void sandbox_miss(struct sandbox_missing *m, const char *fmt, ...)
{
	va_list ap;
	if (m->len && m->len < sizeof(m->what))
		m->len += (size_t)snprintf(m->what + m->len, sizeof(m->what) - m->len, "; ");
	if (m->len >= sizeof(m->what))
		return;
	va_start(ap, fmt);
	int n = vsnprintf(m->what + m->len, sizeof(m->what) - m->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		m->len += (size_t)n;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int close_others(const int *keep, size_t n)
{
	int sorted[SANDBOX_MAX_KEEP];
	if (n)
		memcpy(sorted, keep, n * sizeof(*keep));
	qsort(sorted, n, sizeof(*sorted), cmp_int);
	unsigned int from = 3;
	for (size_t i = 0; i < n; i++) {
		unsigned int fd = (unsigned int)sorted[i];
		if (fd < from)
			continue;
		if (fd > from && close_range(from, fd - 1, 0) < 0)
			goto fail;
		from = fd + 1;
	}
	if (close_range(from, ~0u, 0) == 0)
		return 0;
fail:;
	int err = -errno;
	log_err("sandbox: close_range: %s", strerror(-err));
	return err;
}

/* Every set, bounding and ambient included. Inside the user namespace the
 * process holds all of them there; outside, normally none. The bounding
 * set needs CAP_SETPCAP to shrink: *bounding_left says it could not be
 * (no_new_privs already keeps exec from granting anything). Checked from
 * the kernel, not from libcap-ng's copy, and without /proc. */
int sandbox_drop_caps(bool *bounding_left)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	const char *wrong = "capget";
	if (syscall(SYS_capget, &h, d) < 0)
		goto fail;
	bool setpcap = d[CAP_TO_INDEX(CAP_SETPCAP)].effective & CAP_TO_MASK(CAP_SETPCAP);
	capng_clear(CAPNG_SELECT_ALL);
	wrong = "capng_apply";
	if (capng_apply(setpcap ? CAPNG_SELECT_ALL
				: (capng_select_t)(CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT)) < 0)
		goto fail;
	wrong = "capabilities are left";
	if (holds_caps(0) != 0)
		goto fail;
	*bounding_left = false;
	for (int cap = 0;; cap++) {
		int bnd = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (bnd < 0)
			break; /* EINVAL past the last capability */
		wrong = "ambient capabilities are left";
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != 0)
			goto fail;
		wrong = "the bounding set is not empty";
		if (bnd && setpcap)
			goto fail;
		*bounding_left |= bnd;
	}
	return 0;
fail:
	log_err("sandbox: dropping capabilities: %s", wrong);
	return -EPERM;
}

static int set_limit(int resource, const char *name, rlim_t v)
{
	struct rlimit r = { v, v };
	if (setrlimit(resource, &r) == 0)
		return 0;
	int err = -errno;
	log_err("sandbox: %s %llu: %s", name, (unsigned long long)v, strerror(-err));
	return err;
}

/* RLIMIT_FSIZE 0 would make a regular file on stdout or stderr (a log
 * file) unwritable, and the first line written there would end the process
 * by SIGXFSZ. */
static bool stdio_is_file(const char *name)
{
	struct stat st;
	for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			log_warn("sandbox: %s runs without RLIMIT_FSIZE 0 (fd %d is a regular file)",
				 name, fd);
			return true;
		}
	}
	return false;
}

static int set_rlimits(const struct sandbox_cfg *c, const struct state *s, bool limit_fsize)
{
	int err;
	/* A leak or a flood of connections stops at max_fds. */
	if ((err = set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", c->max_fds)))
		return err;
	/* No task beyond new_tasks: the count is per user and includes
	 * threads. Outside a user namespace of its own it would include every
	 * process of the user on the host, so only 0 means anything there.
	 * Root on the host is exempt; seccomp stops it there. */
	if (c->new_tasks == 0)
		err = set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", 0);
	else if (s->own_userns)
		err = set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", (rlim_t)s->tasks + c->new_tasks);
	if (err)
		return err;
	/* A crash leaves no core file, with guest memory in it. */
	if ((err = set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0)))
		return err;
	/* A process without a file to write cannot grow one. */
	if (limit_fsize)
		err = set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", 0);
	return err;
}

/* A log-mode filter that records through the audit log, not a notifier. */
static bool log_default(scmp_filter_ctx f)
{
	uint32_t act = 0;
	return seccomp_attr_get(f, SCMP_FLTATR_ACT_DEFAULT, &act) == 0 && act == SCMP_ACT_LOG;
}

/* On every thread, including those started before. */
static int load(const struct sandbox_cfg *c)
{
	int err = seccomp_attr_set(c->filter, SCMP_FLTATR_CTL_TSYNC, 1);
	/* no_new_privs is the first step's, not libseccomp's to set. */
	if (err == 0)
		err = seccomp_attr_set(c->filter, SCMP_FLTATR_CTL_NNP, 0);
	/* The kernel's errno where libseccomp 2.5 passes it on (EINVAL,
	 * ENOMEM, EACCES, ESRCH) rather than -ECANCELED for all. */
	if (err == 0)
		err = seccomp_attr_set(c->filter, SCMP_FLTATR_API_SYSRAWRC, 1);
	if (err == 0)
		err = seccomp_load(c->filter);
	if (c->mode == SANDBOX_LOG && !log_default(c->filter)) {
		int fd = err ? -1 : seccomp_notify_fd(c->filter);
		if (err == 0 && fd < 0)
			err = fd;
		sandbox_report_notifier_hand_over(fd);
	}
	if (err)
		log_err("sandbox: loading %s: %s", c->policy_name, strerror(-err));
	return err;
}

static int enter_dir(const char *dir)
{
	if (chdir(dir) == 0)
		return 0;
	int err = -errno;
	log_err("sandbox: chdir %s: %s", dir, strerror(-err));
	return err;
}

static int enter(const struct sandbox_cfg *c)
{
	struct state s = { .tasks = 1 };
	bool bounding_left;
	int err;

	/* Nothing the process execs can gain privileges (setuid, file
	 * capabilities); it is also what lets an unprivileged process load a
	 * seccomp filter. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		err = -errno;
		log_err("sandbox: PR_SET_NO_NEW_PRIVS: %s", strerror(-err));
		return err;
	}
	/* Only what it was given explicitly: an inherited or leaked fd must
	 * not outlive the sandbox. Before the fork, so the reaper has none. */
	if ((err = close_others(c->keep_fds, c->nkeep)))
		return err;
	/* Nothing to see or reach: other processes, mounts, files, the
	 * network. Only the child returns. */
	int root = SANDBOX_ROOT_HOST;
	if (c->namespaces) {
		bool reaper;
		if ((err = sandbox_namespaces(c->keep_net, c->given_ns, c->root_dir, &s.m,
					      &s.own_userns, &reaper, &root)))
			return err;
		s.tasks += reaper; /* in the same user namespace */
	}
	/* Without namespaces the file system is the host's: in root_dir. On
	 * the empty root instead, root_dir stays out of reach. */
	if (c->root_dir && root == SANDBOX_ROOT_HOST && (err = enter_dir(c->root_dir)))
		return err;
	/* After the namespaces, which need CAP_SYS_ADMIN in the new user one. */
	if ((err = sandbox_drop_caps(&bounding_left)))
		return err;
	if (c->namespaces && bounding_left)
		sandbox_miss(&s.m, "an empty capability bounding set (no CAP_SETPCAP)");
	if (c->namespaces && !s.own_userns && c->new_tasks)
		sandbox_miss(&s.m, "RLIMIT_NPROC (it would count every process of the user)");
	/* Less than asked for is a refusal, unless the operator accepts it. */
	if (s.m.len && !c->allow_degraded) {
		log_err("sandbox: %s would run without %s: refused (--allow-degraded runs it so)",
			c->name, s.m.what);
		return -EPERM;
	}
	if (s.m.len)
		log_warn("sandbox: %s runs without %s", c->name, s.m.what);
	bool limit_fsize = !c->writes_files && !stdio_is_file(c->name);
	sandbox_report_prepare(c->name, c->policy_name);
	/* After the capability drop, which the thread then shares, and before
	 * RLIMIT_NPROC, which would refuse it. */
	/* A log-mode filter whose default is SCMP_ACT_LOG needs no notifier:
	 * the kernel's audit log records what its policy lacks. */
	bool notify = c->mode == SANDBOX_LOG && !log_default(c->filter);
	if (notify) {
		if ((err = sandbox_report_notifier_start()))
			return err;
		s.tasks++;
	}
	if ((err = set_rlimits(c, &s, limit_fsize)) == 0 && c->mode == SANDBOX_ON)
		err = sandbox_report_sigsys();
	if (err == 0 && c->before_filter)
		err = c->before_filter(c->before_filter_arg);
	if (err) {
		if (notify)
			sandbox_report_notifier_hand_over(-1);
		return err;
	}
	/* Last: every step above makes syscalls the policy need not allow. */
	return load(c);
}

int sandbox_enter(const struct sandbox_cfg *cfg)
{
	int err = check_cfg(cfg);
	if (err == 0 && cfg->mode == SANDBOX_OFF) {
		log_warn("sandbox off: %s runs unconfined", cfg->name);
		if (cfg->root_dir)
			err = enter_dir(cfg->root_dir);
		if (err == 0 && cfg->before_filter)
			err = cfg->before_filter(cfg->before_filter_arg);
	} else if (err == 0)
		err = enter(cfg);
	if (cfg->filter)
		seccomp_release(cfg->filter);
#ifndef CELLVM_SANITIZERS
	/* What the set-up freed (the policy's compilation above all) goes
	 * back to the kernel. Not in a sanitizer build: its allocator has
	 * the heap, and glibc's, never used, would first set itself up
	 * (getrandom, which no policy allows). */
	malloc_trim(0);
#endif
	return err;
}
