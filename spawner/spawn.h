/* Starting a child process and reading how it ended.
 *
 * spawn_child() starts a binary with only what the caller hands it: an empty
 * environment, stdin from /dev/null, stdout/stderr on one fd (or ours), the
 * listed fds at the listed numbers and no other fd, default signal
 * dispositions, an empty signal mask, and SIGKILL when its parent thread dies.
 * It returns only after the exec succeeded or failed; a failed start leaves
 * no process and no fd behind. The child is tracked by a pidfd.
 *
 * With own_ns it starts as PID 1 of user and pid namespaces of its own
 * (spawner/spawn_ns.h) and with SIGTERM and SIGINT blocked: PID 1 of a pid
 * namespace drops the signals it has no handler for, and blocked they wait
 * for the handling it sets up (a signalfd) instead. Its pid and pidfd here
 * are the exec'd process's; its end is its own.
 *
 * Nothing here logs: the caller names the child in its own message. Safe in a
 * process with threads (only async-signal-safe calls between fork and exec),
 * but PR_SET_PDEATHSIG fires when the *thread* that called spawn_child exits,
 * so call it from a thread that lives as long as the child should. */
#ifndef CELLVM_SPAWN_H
#define CELLVM_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The most fds one child is given, besides 0, 1 and 2. */
#define SPAWN_MAX_FDS 32

/* The parent's `fd` becomes `target` in the child (target >= 3). A source may
 * carry another entry's target number (a swap of 5 and 6 works). */
struct spawn_fd {
	int fd;
	int target;
};

struct spawn_req {
	const char *path;           /* absolute path of the binary */
	/* by_fd: exec exec_fd instead (execveat; opened earlier, O_PATH will
	 * do), so that what runs is what was opened, whatever path names now */
	bool by_fd;
	int exec_fd;
	char *const *argv;          /* argv[0] is the process name; NULL-terminated */
	const struct spawn_fd *fds; /* may be NULL when nfds is 0 */
	size_t nfds;                /* at most SPAWN_MAX_FDS */
	int stderr_fd;              /* the child's stdout and stderr; -1 = inherit ours */
	/* in_cgroup: the child writes itself into cgroup_procs_fd (a cgroup
	 * v2 leaf's cgroup.procs, open for writing) first thing after the
	 * fork, before anything of the binary runs, so all it and its own
	 * children use is counted there; else it stays in ours */
	bool in_cgroup;
	int cgroup_procs_fd;
	char *const *envp;          /* the child's environment; NULL: an empty one */
	bool own_ns;                /* its own user and pid namespaces (above) */
};

/* Starts the child. On success returns 0 with *pid and *pidfd set (the pidfd
 * is close-on-exec). Errors: -EINVAL for a bad request (relative path, no
 * argv[0], a target below 3 or twice, a negative source, exec_fd or
 * cgroup_procs_fd, too many fds); the
 * -errno of the exec (-ENOENT, -EACCES, ...) or of the child's set-up (-EBADF
 * for a source fd that is not open; with own_ns, of its namespaces), after
 * the child is reaped; -errno of pipe2, open, fork (clone) or pidfd_open;
 * the -errno of the write into cgroup_procs_fd (-EACCES: not ours to move
 * into). */
int spawn_child(const struct spawn_req *req, pid_t *pid, int *pidfd);

/* How a child ended. */
struct child_end {
	bool signaled; /* killed by a signal, else it exited */
	int status;    /* the exit status, or the signal number */
	bool core;     /* signaled, and a core was dumped */
};

/* Reaps the child if it has ended (waitid(P_PIDFD, WEXITED | WNOHANG)).
 * Returns 1 with *end filled, 0 if it still runs, or -errno (-ECHILD once it
 * was reaped, -EBADF for an fd that is not a pidfd). The pidfd stays open. */
int spawn_reap(int pidfd, struct child_end *end);

/* "exited with status 12", "killed by signal 9 (SIGKILL)", "killed by signal
 * 31 (SIGSYS: a seccomp violation)", "..., core dumped". Pure; truncates to
 * len (len 0 writes nothing). */
void child_end_describe(const struct child_end *end, char *buf, size_t len);

#endif
