/* Confining a process: the steps of sandbox_enter(), in order, then how a
 * violation is reported (the SIGSYS handler in ON mode, the notifier thread
 * in LOG mode) and the reaper that stays outside the pid namespace. */
#include "sandbox.h"

#include <cap-ng.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define NR_NAMED 1024      /* syscall numbers with a precomputed name (x86-64 uses ~470) */
#define SYSNAME_LEN 32     /* longer than any syscall name */
#define LABEL_LEN 64       /* process and policy names in report lines */
#define SI_SECCOMP 1       /* si_code of a seccomp trap (SYS_SECCOMP, not in glibc's headers) */
/* No policy lists it and no kernel implements it: the trap that ends the
 * process (see on_sigsys). Below 0x40000000, which would be an x32 call. */
#define NR_NEVER 0x3fffffff

static const char *const mode_names[] = {
	[SANDBOX_ON] = "on", [SANDBOX_OFF] = "off", [SANDBOX_LOG] = "log",
};

int sandbox_parse_mode(const char *s, enum sandbox_mode *out)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*out = (enum sandbox_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sandbox_mode_name(enum sandbox_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

/* ------------------------------------------------------- report lines */

/* What the SIGSYS handler and the notifier thread need, ready before the
 * filter is loaded: neither may allocate or look anything up. */
static struct {
	char name[LABEL_LEN];
	char policy[LABEL_LEN];
	long pid;
	char sys[NR_NAMED][SYSNAME_LEN];
	atomic_bool reported; /* the SIGSYS line is out */
	/* LOG mode: the notifier thread, and what it has logged (one bit per
	 * number, the last one for every number beyond NR_NAMED). */
	pthread_t notifier;
	int handoff[2];
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	uint8_t seen[NR_NAMED / 8 + 1];
} rep;

/* A line built without allocation, always ending in '\n'. */
struct line {
	char buf[320];
	size_t len;
};

static void put(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
}

static void put_num(struct line *l, long v)
{
	char d[24];
	size_t n = sizeof(d) - 1;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
	d[n] = '\0';
	do
		d[--n] = (char)('0' + u % 10);
	while ((u /= 10) && n > 1);
	if (v < 0)
		d[--n] = '-';
	put(l, d + n);
}

/* "<name>[<pid>]: seccomp: syscall <syscall> (<nr>) " */
static void put_head(struct line *l, int nr)
{
	put(l, rep.name);
	put(l, "[");
	put_num(l, rep.pid);
	put(l, "]: seccomp: syscall ");
	put(l, nr >= 0 && nr < NR_NAMED && rep.sys[nr][0] ? rep.sys[nr] : "unknown");
	put(l, " (");
	put_num(l, nr);
	put(l, ") ");
}

static void write_line(struct line *l)
{
	l->buf[l->len++] = '\n';
	ssize_t w = write(STDERR_FILENO, l->buf, l->len);
	(void)w; /* nowhere left to report a failed write */
}

/* Every syscall's name, once per process. */
static void name_syscalls(void)
{
	static bool named;
	for (int nr = 0; !named && nr < NR_NAMED; nr++) {
		char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (s)
			snprintf(rep.sys[nr], SYSNAME_LEN, "%s", s);
		free(s);
	}
	named = true;
}

static void prepare_reports(const struct sandbox_cfg *c)
{
	snprintf(rep.name, sizeof(rep.name), "%s", c->name);
	snprintf(rep.policy, sizeof(rep.policy), "%s", c->policy_name);
	rep.pid = (long)getpid();
	name_syscalls();
}

/* ON mode: the one line the controller looks for, then death by SIGSYS.
 * Async-signal-safe: write, sigaction and sigprocmask only. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code == SI_SECCOMP && !atomic_exchange(&rep.reported, true)) {
		struct line l = { .len = 0 };
		put_head(&l, si->si_syscall);
		put(&l, "is not allowed by ");
		put(&l, rep.policy);
		put(&l, ": killed");
		write_line(&l);
	}
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	/* Should either fail, the trap below still kills: a forced signal
	 * that is blocked or handled is reset to its default first. */
	sigaction(SIGSYS, &dfl, NULL);
	sigprocmask(SIG_UNBLOCK, &sys, NULL);
	/* Not raise(): as PID 1 of a pid namespace the process ignores its own
	 * signals that have the default action. A seccomp trap is a forced
	 * signal, which ends even PID 1 by SIGSYS once the handler is gone. */
	syscall(NR_NEVER);
	_exit(128 + SIGSYS); /* only if a filter allowed NR_NEVER */
}

static int install_sigsys(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		int err = -errno;
		log_err("sandbox: SIGSYS handler: %s", strerror(-err));
		return err;
	}
	return 0;
}

/* Before main(): under a filter inherited across exec, which names its
 * policy in SANDBOX_INHERITED_ENV (cellvm-spawner's in ON mode), a call it
 * refuses before this process has a filter of its own gets the same line,
 * naming that policy. Without it the process would die of SIGSYS unnamed. */
__attribute__((constructor)) static void report_inherited(void)
{
	const char *policy = getenv(SANDBOX_INHERITED_ENV);
	if (!policy || !*policy)
		return;
	snprintf(rep.name, sizeof(rep.name), "%s", program_invocation_short_name);
	snprintf(rep.policy, sizeof(rep.policy), "%.40s (inherited)", policy);
	rep.pid = (long)getpid();
	name_syscalls();
	install_sigsys();
}

/* LOG mode: each notification is a syscall outside the policy; log its
 * number once and let it run. The filter applies to this thread too, and a
 * call of its own that the policy does not allow would wait for itself
 * forever: once the filter may be loaded it makes only read and close (the
 * hand-over), ioctl (SECCOMP_IOCTL_NOTIF_RECV, _SEND) and write, and
 * exit_group if the notification fd breaks. */
static void *notifier(void *arg)
{
	(void)arg;
	char ready = 1;
	int fd = -1;
	ssize_t n = -1;
	if (write(rep.handoff[1], &ready, 1) == 1)
		n = read(rep.handoff[1], &fd, sizeof(fd));
	close(rep.handoff[1]);
	if (n != (ssize_t)sizeof(fd) || fd < 0)
		return NULL; /* no filter was loaded */
	for (;;) {
		struct line l = { .len = 0 };
		/* The kernel wants it zeroed (libseccomp 2.5 does not). */
		memset(rep.req, 0, sizeof(*rep.req));
		/* libseccomp keeps the ioctl's errno: EINTR, or ENOENT for a
		 * caller killed before its notification was read. */
		if (seccomp_notify_receive(fd, rep.req) < 0) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			put(&l, rep.name);
			put(&l, ": seccomp: receiving a notification failed (errno ");
			put_num(&l, errno);
			put(&l, "); unlisted syscalls would hang: exiting");
			write_line(&l);
			_exit(EXIT_FAILURE);
		}
		int nr = rep.req->data.nr;
		unsigned int bit = nr >= 0 && nr < NR_NAMED ? (unsigned int)nr : NR_NAMED;
		if (!(rep.seen[bit / 8] & (1u << (bit % 8)))) {
			rep.seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
			put_head(&l, nr);
			put(&l, "is not in ");
			put(&l, rep.policy);
			put(&l, " (allowed: --sandbox=log)");
			write_line(&l);
		}
		*rep.resp = (struct seccomp_notif_resp){
			.id = rep.req->id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE,
		};
		/* A failure means the caller was interrupted and waits no more. */
		seccomp_notify_respond(fd, rep.resp);
	}
}

/* Gives the thread the notification fd, or -1 to end it. */
static void hand_over(int fd)
{
	ssize_t w = write(rep.handoff[0], &fd, sizeof(fd));
	(void)w; /* cannot fail: the thread waits in read at the other end */
	close(rep.handoff[0]);
	if (fd < 0) {
		pthread_join(rep.notifier, NULL);
		seccomp_notify_free(rep.req, rep.resp);
	}
}

/* Started before the filter is loaded, and known to be past its own
 * start-up when this returns: creating or starting a thread under the
 * filter would need syscalls that only this thread could let through. It
 * then waits for the notification fd, which exists only once the filter is
 * loaded. */
static int start_notifier(void)
{
	const char *step = "seccomp_notify_alloc";
	int err = seccomp_notify_alloc(&rep.req, &rep.resp);
	if (err < 0)
		goto fail;
	step = "socketpair";
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rep.handoff) < 0) {
		err = -errno;
		goto free_bufs;
	}
	/* All signals blocked: a handler meant for the process must not run
	 * on this thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	step = "pthread_create";
	err = -pthread_create(&rep.notifier, NULL, notifier, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		close(rep.handoff[1]);
		close(rep.handoff[0]);
		goto free_bufs;
	}
	char ready;
	ssize_t n;
	while ((n = read(rep.handoff[0], &ready, 1)) < 0 && errno == EINTR)
		;
	if (n == 1)
		return 0;
	step = "the thread did not start";
	err = n < 0 ? -errno : -EPIPE;
	close(rep.handoff[0]);
	pthread_join(rep.notifier, NULL);
free_bufs:
	seccomp_notify_free(rep.req, rep.resp);
fail:
	log_err("sandbox: starting the seccomp notifier: %s: %s", step, strerror(-err));
	return err;
}

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

/* With namespaces there must be no other thread: unshare(CLONE_NEWUSER)
 * refuses, and fork would leave them behind. Without, they may run, but
 * without capabilities: those belong to a thread, and only the caller's
 * are dropped. */
static int check_threads(bool namespaces)
{
	DIR *d = opendir("/proc/self/task");
	if (!d) {
		int err = -errno;
		log_err("sandbox: listing threads: /proc/self/task: %s", strerror(-err));
		return err;
	}
	pid_t self = gettid();
	int err = 0;
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

/* What the kernel refused, for the one warning line. */
struct missing {
	char what[512];
	size_t len;
};

/* What the process is: its tasks now, whether it has a user namespace of
 * its own (RLIMIT_NPROC then counts only the tasks in there), and what of
 * the sandbox the kernel refused. */
struct state {
	unsigned int tasks;
	bool own_userns;
	struct missing m;
};

static void miss(struct missing *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void miss(struct missing *m, const char *fmt, ...)
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

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(s);
	int err = write(fd, s, len) == (ssize_t)len ? 0 : -errno;
	close(fd);
	return err;
}

/* The caller's ids become root inside; it is nobody else there. */
static void map_ids(uid_t uid, gid_t gid, struct missing *m)
{
	char map[32];
	const char *path = "/proc/self/setgroups";
	/* The kernel lets an unprivileged process write gid_map only once
	 * setgroups is denied (it could otherwise drop a group that denies it
	 * access). */
	int err = write_file(path, "deny");
	if (err == 0) {
		path = "/proc/self/uid_map";
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		err = write_file(path, map);
	}
	if (err == 0) {
		path = "/proc/self/gid_map";
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		err = write_file(path, map);
	}
	if (err == -EPERM && uid == 0) {
		/* Root outside may map itself only if it held CAP_SETFCAP when
		 * it made the namespace (Linux 5.12+); a child of a confined
		 * root cellvmd holds none. Unmapped it is the overflow uid in
		 * there, which owns nothing: no confinement is missing. */
		log_info("sandbox: root without CAP_SETFCAP: unmapped in its user namespace");
		return;
	}
	if (err)
		miss(m, "its uid/gid map in the user namespace (%s: %s)", path, strerror(-err));
}

/* setns(2) into the mount namespace the process is in already sets its
 * root and cwd to the topmost mount on the namespace's "/" (the kernel looks
 * it up with LOOKUP_DOWN). 0 once that is `root_mnt`, or -errno. A process
 * chrooted below the namespace's root would be taken out of its chroot:
 * -EXDEV then, and it must not go on. */
static int reenter_mount_ns(int root_mnt)
{
	struct stat want, got;
	int ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return -errno;
	int err = setns(ns, CLONE_NEWNS) < 0 ? -errno : 0;
	close(ns);
	if (err == 0 && (fstat(root_mnt, &want) < 0 || stat("/", &got) < 0))
		err = -errno;
	if (err == 0 && (want.st_dev != got.st_dev || want.st_ino != got.st_ino)) {
		log_err("sandbox: the mount namespace's root is not the empty one: the process "
			"was chrooted, and would now see the namespace's whole root");
		err = -EXDEV;
	}
	return err;
}

/* An empty tmpfs, read-only, nosuid, nodev and noexec from the start, as
 * the root: no /proc, no /dev, no file to open by any path. What the kernel
 * refuses goes into *m; -errno only where the process must not go on. */
static int empty_root(struct missing *m)
{
	const char *step = "making the mounts private";
	int fs = -1, mnt = -1, err = 0;
	/* Nothing done below may propagate back into the parent namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto fail;
	step = "fsopen tmpfs";
	if ((fs = fsopen("tmpfs", FSOPEN_CLOEXEC)) < 0)
		goto fail;
	step = "fsconfig tmpfs";
	if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto fail;
	step = "fsmount";
	mnt = fsmount(fs, FSMOUNT_CLOEXEC,
		      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mnt < 0)
		goto fail;
	/* Onto / itself, so that no directory of the old root is needed as a
	 * mount point. */
	step = "move_mount onto /";
	if (move_mount(mnt, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		goto fail;
	step = "fchdir";
	if (fchdir(mnt) < 0)
		goto fail;
	/* pivot_root(".", ".") puts the old root on top of the new one, and
	 * detaching it leaves the tmpfs alone in this mount namespace. */
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		step = "detaching the old root";
		if (umount2(".", MNT_DETACH) < 0)
			goto fail;
	} else if (errno == EINVAL) {
		/* The root is the initramfs (rootfs), which has no parent mount
		 * to pivot it away from. Entering our own mount namespace again
		 * makes its top mount on "/", the tmpfs, our root and cwd: the
		 * mount tree is then the one a pivoted root leaves (rootfs with
		 * the tmpfs on it), without chroot(2), which the filter this
		 * process inherits from cellvm-spawner refuses. */
		if ((err = reenter_mount_ns(mnt)) == -EXDEV)
			goto out; /* worse than no empty root: fatal */
		step = "re-entering the mount namespace";
		if (err)
			goto fail_err;
	} else {
		step = "pivot_root";
		goto fail;
	}
	step = "chdir /";
	if (chdir("/") < 0)
		goto fail;
	goto out;
fail:
	err = -errno;
fail_err:
	miss(m, "the empty root (%s: %s)", step, strerror(-err));
	err = 0;
out:
	if (mnt >= 0)
		close(mnt);
	if (fs >= 0)
		close(fs);
	return err;
}

/* exit_group itself: a sanitizer's _exit would take down its signal stack
 * first, with syscalls the reaper's filter refuses. */
_Noreturn static void reaper_exit(int status)
{
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

_Noreturn static void end_like(int status)
{
	if (WIFEXITED(status))
		reaper_exit(WEXITSTATUS(status));
	int sig = WTERMSIG(status);
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	/* sigaction refuses SIGKILL, which needs no reset. */
	if ((sig == SIGKILL || sigaction(sig, &dfl, NULL) == 0) &&
	    sigprocmask(SIG_UNBLOCK, &one, NULL) == 0)
		raise(sig);
	reaper_exit(128 + sig); /* the signal did not end us: the shell's convention */
}

static int drop_caps(bool *bounding_left);

/* The reaper's own filter: wait for the child, signal it, end like it. */
static int confine_reaper(pid_t child)
{
	static const int allowed[] = {
		SCMP_SYS(rt_sigtimedwait), SCMP_SYS(wait4),	  SCMP_SYS(waitid),
		SCMP_SYS(rt_sigaction),	   SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
		SCMP_SYS(getpid),	   SCMP_SYS(gettid),	  SCMP_SYS(exit_group),
	};
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!f)
		return -ENOMEM;
	int err = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (err == 0)
		err = seccomp_attr_set(f, SCMP_FLTATR_CTL_NNP, 0); /* set already */
	for (size_t i = 0; err == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, allowed[i], 0);
	if (err == 0)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)child));
	if (err == 0)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	if (err == 0)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
				       SCMP_A0(SCMP_CMP_EQ, STDERR_FILENO));
	/* Only asking: ASan does before every call of a noreturn function. */
	if (err == 0)
		err = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(sigaltstack), 1,
				       SCMP_A0(SCMP_CMP_EQ, 0));
	if (err == 0)
		err = seccomp_load(f);
	/* Loaded, f is not released: free() could call munmap or brk, which
	 * the filter refuses, and the reaper never returns. */
	if (err)
		seccomp_release(f);
	return err;
}

/* The original process, outside the child's pid namespace, for as long as
 * the child runs: the controller's pidfd and signals keep working on it. */
_Noreturn static void reap(pid_t child)
{
	struct rlimit none = { 0, 0 };
	const char *step = "closing fds";
	bool bounding_left;
	int err = 0;
	/* It keeps nothing of what the child was given; stderr for errors. */
	if (close_range(0, 1, 0) < 0 || close_range(3, ~0u, 0) < 0)
		err = -errno;
	if (err == 0 && setrlimit(RLIMIT_CORE, &none) < 0) {
		step = "RLIMIT_CORE";
		err = -errno;
	}
	/* Inside the user namespace it holds every capability there. */
	if (err == 0 && (err = drop_caps(&bounding_left)) < 0)
		step = "dropping capabilities";
	if (err == 0 && (err = confine_reaper(child)) < 0)
		step = "seccomp";
	if (err) {
		/* The child dies with us (PR_SET_PDEATHSIG). */
		log_err("sandbox: reaper: %s: %s", step, strerror(-err));
		reaper_exit(EXIT_FAILURE);
	}
	sigset_t wait_for;
	sigemptyset(&wait_for);
	sigaddset(&wait_for, SIGTERM);
	sigaddset(&wait_for, SIGINT);
	sigaddset(&wait_for, SIGHUP);
	sigaddset(&wait_for, SIGCHLD);
	for (;;) {
		int sig = sigwaitinfo(&wait_for, NULL), status;
		if (sig < 0 && errno == EINTR)
			continue;
		if (sig < 0) {
			log_err("sandbox: reaper: sigwaitinfo: %m");
			reaper_exit(EXIT_FAILURE);
		}
		if (sig != SIGCHLD) {
			if (kill(child, sig) < 0)
				log_warn("sandbox: reaper: forwarding signal %d: %m", sig);
			continue;
		}
		pid_t r = waitpid(child, &status, WNOHANG);
		if (r == child)
			end_like(status);
		if (r < 0) {
			log_err("sandbox: reaper: waitpid: %m");
			reaper_exit(EXIT_FAILURE);
		}
	}
}

/* Forks; only the child returns, as PID 1 of the new pid namespace. */
static int fork_reaper(void)
{
	/* A parent that dies before the child sets PR_SET_PDEATHSIG shows
	 * in its pidfd: getppid() is 0 in the new namespace either way. */
	int parent = pidfd_open(getpid(), 0);
	if (parent < 0) {
		int err = -errno;
		log_err("sandbox: pidfd_open: %s", strerror(-err));
		return err;
	}
	/* Ignored, SIGCHLD would have the kernel reap the child before the
	 * reaper could see how it ended. */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	if (sigaction(SIGCHLD, &dfl, NULL) < 0) {
		int err = -errno;
		log_err("sandbox: SIGCHLD: %s", strerror(-err));
		close(parent);
		return err;
	}
	/* Blocked across fork: what arrives meanwhile waits for sigwaitinfo. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid > 0)
		reap(pid);
	int err = pid < 0 ? -errno : 0;
	if (pid == 0) {
		struct pollfd p = { .fd = parent, .events = POLLIN };
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			err = -errno;
		else if (poll(&p, 1, 0) != 0)
			err = -ESRCH;
	}
	close(parent);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		log_err("sandbox: %s: %s", pid < 0 ? "fork" : "the reaper is gone",
			strerror(-err));
	return err;
}

static int enter_namespaces(const struct sandbox_cfg *c, struct state *s)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	/* First on its own: the namespaces below then belong to it, and an
	 * unprivileged process may create them. */
	s->own_userns = unshare(CLONE_NEWUSER) == 0;
	if (!s->own_userns)
		miss(&s->m, "a user namespace (unshare: %s)", strerror(errno));
	else
		map_ids(uid, gid, &s->m);
	int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
	if (!c->keep_net)
		flags |= CLONE_NEWNET;
	if (unshare(flags) < 0) {
		miss(&s->m, "%s namespaces and the empty root (unshare: %s)",
		     c->keep_net ? "pid, mount, ipc and uts" : "pid, mount, ipc, uts and net",
		     strerror(errno));
		return 0;
	}
	/* Before the fork, so that the reaper stands on the empty root too:
	 * pivot_root would move it there, re-entering the mount namespace
	 * moves only the caller. */
	int err = empty_root(&s->m);
	/* A new pid namespace takes effect for children only. */
	if (err == 0 && (err = fork_reaper()) == 0)
		s->tasks++; /* the reaper, in the same user namespace */
	return err;
}

/* Every set, bounding and ambient included. Inside the user namespace the
 * process holds all of them there; outside, normally none. The bounding
 * set needs CAP_SETPCAP to shrink: *bounding_left says it could not be
 * (no_new_privs already keeps exec from granting anything). Checked from
 * the kernel, not from libcap-ng's copy, and without /proc. */
static int drop_caps(bool *bounding_left)
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
static bool stdio_is_file(struct missing *m)
{
	struct stat st;
	for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			miss(m, "RLIMIT_FSIZE 0 (fd %d is a regular file)", fd);
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
		hand_over(fd);
	}
	if (err)
		log_err("sandbox: loading %s: %s", c->policy_name, strerror(-err));
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
	if (c->namespaces && (err = enter_namespaces(c, &s)))
		return err;
	/* After the namespaces, which need CAP_SYS_ADMIN in the new user one. */
	if ((err = drop_caps(&bounding_left)))
		return err;
	if (c->namespaces && bounding_left)
		miss(&s.m, "an empty capability bounding set (no CAP_SETPCAP)");
	if (c->namespaces && !s.own_userns && c->new_tasks)
		miss(&s.m, "RLIMIT_NPROC (it would count every process of the user)");
	bool limit_fsize = !c->writes_files && !stdio_is_file(&s.m);
	if (s.m.len)
		log_warn("sandbox: %s runs without %s", c->name, s.m.what);
	prepare_reports(c);
	/* After the capability drop, which the thread then shares, and before
	 * RLIMIT_NPROC, which would refuse it. */
	/* A log-mode filter whose default is SCMP_ACT_LOG needs no notifier:
	 * the kernel's audit log records what its policy lacks. */
	bool notify = c->mode == SANDBOX_LOG && !log_default(c->filter);
	if (notify) {
		if ((err = start_notifier()))
			return err;
		s.tasks++;
	}
	if ((err = set_rlimits(c, &s, limit_fsize)) == 0 && c->mode == SANDBOX_ON)
		err = install_sigsys();
	if (err) {
		if (notify)
			hand_over(-1);
		return err;
	}
	/* Last: every step above makes syscalls the policy need not allow. */
	return load(c);
}

int sandbox_enter(const struct sandbox_cfg *cfg)
{
	int err = check_cfg(cfg);
	if (err == 0 && cfg->mode == SANDBOX_OFF)
		log_warn("sandbox off: %s runs unconfined", cfg->name);
	else if (err == 0)
		err = enter(cfg);
	if (cfg->filter)
		seccomp_release(cfg->filter);
	return err;
}
