/* Child processes: fork, a clean set-up in the child, exec; reaping by pidfd. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn_ns.h"

static int check_req(const struct spawn_req *req)
{
	if (!req->path || req->path[0] != '/' || !req->argv || !req->argv[0] ||
	    (req->by_fd && req->exec_fd < 0) || (req->in_cgroup && req->cgroup_procs_fd < 0))
		return -EINVAL;
	if (req->nfds > SPAWN_MAX_FDS || (req->nfds && !req->fds) || req->stderr_fd < -1)
		return -EINVAL;
	for (size_t i = 0; i < req->nfds; i++) {
		if (req->fds[i].fd < 0 || req->fds[i].target < 3)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (req->fds[j].target == req->fds[i].target)
				return -EINVAL;
	}
	return 0;
}

/* In the child: tell the parent why we did not exec, and go. */
static _Noreturn void child_fail(int errfd, int err)
{
	ssize_t n = write(errfd, &err, sizeof(err));
	(void)n; /* nothing more a child can do; the parent sees EOF and a 127 */
	_exit(127);
}

/* What the child is given besides the request: its parent (a pidfd), the
 * fds it copies and where it reports a failure, and with own_ns its maps. */
struct child_ctx {
	int parent;
	int devnull;
	int errfd;
	struct spawn_ns ns;
};

/* In the child, between fork and exec: async-signal-safe calls only. Every
 * source fd is first copied above the highest target, so no dup2 below can
 * overwrite a source that another entry still needs. */
static _Noreturn void child_exec(const struct spawn_req *req, const struct child_ctx *cx)
{
	static char *const empty_env[] = { NULL };
	int high[SPAWN_MAX_FDS];
	int floor = 3;
	int errfd = cx->errfd;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(errfd, errno);
	/* Whether it died before PDEATHSIG was armed: its pidfd, since
	 * getppid() is 0 in a new pid namespace either way. */
	struct pollfd p = { .fd = cx->parent, .events = POLLIN };
	if (poll(&p, 1, 0) != 0)
		_exit(127);
	/* Into its cgroup before it allocates anything of its own ("0" is the
	 * writer): the fds below may reuse the number. The spawner's filter
	 * refuses clone3, whose CLONE_INTO_CGROUP would do this at the fork. */
	if (req->in_cgroup && write(req->cgroup_procs_fd, "0", 1) != 1)
		child_fail(errfd, errno);
	if (req->own_ns) {
		int err = spawn_ns_enter(&cx->ns);
		if (err)
			child_fail(errfd, err);
	}

	/* Exec resets handled signals but keeps ignored ones and the mask. The
	 * mask is still full (see spawn_child), so no handler runs meanwhile. */
	/* The raw call: glibc's sigaction refuses the two signals it keeps
	 * for itself (32, 33), which an ignoring parent would otherwise pass
	 * on. The kernel's struct: handler, flags, restorer, mask. */
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} dfl = { .handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		(void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask)); /* KILL, STOP: EINVAL */

	for (size_t i = 0; i < req->nfds; i++)
		if (req->fds[i].target >= floor)
			floor = req->fds[i].target + 1;
	int efd = fcntl(errfd, F_DUPFD_CLOEXEC, floor);
	if (efd < 0)
		child_fail(errfd, errno);
	errfd = efd;
	int exe = -1;
	if (req->by_fd && (exe = fcntl(req->exec_fd, F_DUPFD_CLOEXEC, floor)) < 0)
		child_fail(errfd, errno);
	int devnull = fcntl(cx->devnull, F_DUPFD, floor);
	if (devnull < 0)
		child_fail(errfd, errno);
	int out = req->stderr_fd;
	if (out >= 0 && (out = fcntl(out, F_DUPFD, floor)) < 0)
		child_fail(errfd, errno);
	for (size_t i = 0; i < req->nfds; i++) {
		high[i] = fcntl(req->fds[i].fd, F_DUPFD, floor);
		if (high[i] < 0)
			child_fail(errfd, errno);
	}

	if (floor > 3 && close_range(3, (unsigned)floor - 1, 0) < 0)
		child_fail(errfd, errno);
	if (dup2(devnull, STDIN_FILENO) < 0)
		child_fail(errfd, errno);
	if (out >= 0 && (dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0))
		child_fail(errfd, errno);
	for (size_t i = 0; i < req->nfds; i++)
		if (dup2(high[i], req->fds[i].target) < 0)
			child_fail(errfd, errno);
	/* The copies, errfd among them, and whatever else sits above: closed at exec. */
	if (close_range((unsigned)floor, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(errfd, errno);

	sigset_t mask;
	sigemptyset(&mask);
	if (req->own_ns) {
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
	}
	if (sigprocmask(SIG_SETMASK, &mask, NULL) < 0)
		child_fail(errfd, errno);
	char *const *envp = req->envp ? req->envp : empty_env;
	if (req->by_fd)
		execveat(exe, "", req->argv, envp, AT_EMPTY_PATH);
	else
		execve(req->path, req->argv, envp);
	child_fail(errfd, errno);
}

/* Waits for the exec: EOF on the close-on-exec pipe means it happened, an int
 * is the errno of what failed. */
static int await_exec(int rfd)
{
	int err;
	ssize_t n;
	do
		n = read(rfd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	if (n != sizeof(err) || err <= 0)
		return -EIO;
	return -err;
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Forks (clones, with own_ns) with every signal blocked, so the child runs
 * none of our handlers before it has reset them. The child does not return.
 * Returns its pid or -errno. */
static pid_t fork_child(const struct spawn_req *req, struct child_ctx *cx)
{
	if (req->own_ns)
		spawn_ns_prepare(&cx->ns);
	sigset_t all, old;
	sigfillset(&all);
	int err = pthread_sigmask(SIG_SETMASK, &all, &old);
	if (err)
		return -err;
	pid_t child = req->own_ns ? spawn_ns_clone() : fork();
	if (child == 0)
		child_exec(req, cx);
	if (child < 0)
		err = req->own_ns ? (int)-child : errno;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL); /* fails only for a bad `how` */
	return child < 0 ? -err : child;
}

int spawn_child(const struct spawn_req *req, pid_t *pid, int *pidfd)
{
	int ret = check_req(req);
	if (ret < 0)
		return ret;

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	struct child_ctx cx = { .parent = pidfd_open(getpid(), 0), .errfd = pfd[1] };
	cx.devnull = cx.parent < 0 ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (cx.devnull < 0) {
		ret = -errno;
		if (cx.parent >= 0)
			close(cx.parent);
		close(pfd[0]);
		close(pfd[1]);
		return ret;
	}
	pid_t child = fork_child(req, &cx);
	close(cx.devnull);
	close(cx.parent);
	close(pfd[1]);
	ret = child < 0 ? (int)child : await_exec(pfd[0]);
	close(pfd[0]);

	int fd = -1;
	if (ret == 0) {
		/* Nobody but us reaps it, so the pid cannot have been reused yet. */
		fd = pidfd_open(child, 0);
		if (fd < 0)
			ret = -errno;
	}
	if (ret < 0) {
		/* After a report it exits anyway; the kill covers a failed read. It
		 * cannot fail: the child is ours and not reaped. */
		if (child > 0) {
			(void)kill(child, SIGKILL);
			reap(child);
		}
		return ret;
	}
	*pid = child;
	*pidfd = fd;
	return 0;
}

int spawn_reap(int pidfd, struct child_end *end)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	int r;
	do
		r = waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0;
	end->signaled = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
	end->core = si.si_code == CLD_DUMPED;
	end->status = si.si_status;
	return 1;
}

void child_end_describe(const struct child_end *end, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (!end->signaled) {
		snprintf(buf, len, "exited with status %d", end->status);
		return;
	}
	const char *name = sigabbrev_np(end->status);
	const char *why = end->status == SIGSYS ? ": a seccomp violation" : "";
	const char *core = end->core ? ", core dumped" : "";
	if (name)
		snprintf(buf, len, "killed by signal %d (SIG%s%s)%s", end->status, name, why, core);
	else
		snprintf(buf, len, "killed by signal %d%s", end->status, core);
}
