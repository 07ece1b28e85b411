/* How a violation of the filter is reported: the SIGSYS handler in ON mode,
 * the notifier thread in LOG mode, and the line of a child that a filter it
 * inherited kills before it has its own (common/sandbox.h). */
#include "sandbox_int.h"

#include <errno.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"
#include "thread.h"

#define NR_NAMED 1024      /* syscall numbers with a precomputed name (x86-64 uses ~470) */
#define NAMES_LEN 8192     /* all their names (x86-64: 3.7 KiB) */
#define LABEL_LEN 64       /* process and policy names in report lines */
#define SI_SECCOMP 1       /* si_code of a seccomp trap (SYS_SECCOMP, not in glibc's headers) */
/* No policy lists it and no kernel implements it: the trap that ends the
 * process (see on_sigsys). Below 0x40000000, which would be an x32 call. */
#define NR_NEVER 0x3fffffff

/* What the SIGSYS handler and the notifier thread need, ready before the
 * filter is loaded: neither may allocate or look anything up. */
static struct {
	char name[LABEL_LEN];
	char policy[LABEL_LEN];
	long pid;
	/* Number nr's name is at names[name_at[nr] - 1]; 0: it has none.
	 * Packed, the table costs only the two pages or so written in it. */
	uint16_t name_at[NR_NAMED];
	char names[NAMES_LEN];
	atomic_bool reported; /* the SIGSYS line is out */
	/* LOG mode: the notifier thread, and what it has logged (one bit per
	 * number, the last one for every number beyond NR_NAMED). */
	pthread_t notifier;
	int handoff[2];
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	uint8_t seen[NR_NAMED / 8 + 1];
} rep;

_Static_assert(NAMES_LEN < UINT16_MAX, "name_at holds an offset into names, plus 1");

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
	put(l, nr >= 0 && nr < NR_NAMED && rep.name_at[nr] ? rep.names + rep.name_at[nr] - 1
							  : "unknown");
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
	size_t used = 0;
	for (int nr = 0; !named && nr < NR_NAMED; nr++) {
		char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		size_t len = s ? strlen(s) + 1 : 0;
		if (len && used + len <= NAMES_LEN) {
			memcpy(rep.names + used, s, len);
			rep.name_at[nr] = (uint16_t)(used + 1);
			used += len;
		}
		free(s);
	}
	named = true;
}

void sandbox_report_prepare(const char *name, const char *policy)
{
	snprintf(rep.name, sizeof(rep.name), "%s", name);
	snprintf(rep.policy, sizeof(rep.policy), "%s", policy);
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

int sandbox_report_sigsys(void)
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
	sandbox_report_sigsys();
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
void sandbox_report_notifier_hand_over(int fd)
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
int sandbox_report_notifier_start(void)
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
	err = thread_start(&rep.notifier, notifier, NULL);
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
