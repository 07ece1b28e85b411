/* Confining the calling process: no_new_privs, only the fds it was given,
 * namespaces with an empty read-only root, no capabilities, rlimits, then a
 * seccomp filter on every thread. Once per process, before the first
 * untrusted byte.
 *
 * In SANDBOX_ON a syscall the filter does not allow kills the process by
 * SIGSYS after one stderr line naming it, which the controller looks for:
 *   "<name>[<pid>]: seccomp: syscall <syscall> (<nr>) is not allowed by <policy>: killed"
 * In SANDBOX_LOG a thread of the process lets each such call run and logs it
 * once per syscall number:
 *   "<name>[<pid>]: seccomp: syscall <syscall> (<nr>) is not in <policy> (allowed: --sandbox=log)"
 * <pid> is the process's own view: 1 inside a pid namespace, as in its other
 * log lines. Where the kernel refuses a namespace (no user namespaces for
 * unprivileged users, say), the process does not run degraded unless asked
 * to (allow_degraded): then one warning line says what is missing and the
 * rest still applies. A root pivot_root refuses (the initramfs) is no such
 * case: the empty root is reached another way. */
#ifndef CELLVM_SANDBOX_H
#define CELLVM_SANDBOX_H

#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>

#include "sandbox_mode.h"


/* A process that starts children under its own filter in ON mode names its
 * policy in their environment ("spawner.policy"): a child that calls what
 * that filter refuses before it confines itself still gets its report line,
 * "... is not allowed by spawner.policy (inherited): killed". */
#define SANDBOX_INHERITED_ENV "CELLVM_INHERITED_POLICY"


/* The most fds one process keeps besides 0, 1 and 2. */
#define SANDBOX_MAX_KEEP 64

struct sandbox_cfg {
	const char *name;        /* the process, for messages: "cellvm-blk" (copied) */
	const char *policy_name; /* for messages: "blk.policy" (copied) */
	enum sandbox_mode mode;
	/* Unloaded; default action SCMP_ACT_TRAP for ON, SCMP_ACT_NOTIFY for
	 * LOG (the reporters rely on it) or SCMP_ACT_LOG for LOG in a process
	 * whose children add notifiers of their own (then the kernel's audit log
	 * records, and no notifier runs), NULL for OFF. sandbox_enter() always
	 * releases it, on every path. Besides what the process itself needs,
	 * the policy must allow what the reporters call:
	 *   ON, the SIGSYS handler: write, rt_sigaction, rt_sigprocmask;
	 *   LOG, the notifier thread: ioctl SECCOMP_IOCTL_NOTIF_RECV and
	 *   SECCOMP_IOCTL_NOTIF_SEND, write, read, close, exit_group.
	 * After loading it, sandbox_enter() calls write and close (LOG), then
	 * free()s the filter and gives the heap's free pages back
	 * (malloc_trim: munmap, brk or madvise MADV_DONTNEED at glibc's
	 * discretion). */
	scmp_filter_ctx filter;
	const int *keep_fds; /* kept open besides 0, 1, 2; every other fd is closed */
	size_t nkeep;        /* at most SANDBOX_MAX_KEEP */
	/* New user, pid, mount, ipc, uts and net namespaces and an empty root;
	 * needs a single-threaded caller (it forks). */
	bool namespaces;
	bool keep_net;  /* with namespaces: stay in the current network namespace */
	/* With namespaces: the process was started as PID 1 of user and pid
	 * namespaces of its own, its ids mapped (cellvm-spawner does it:
	 * spawner/spawn_ns.h). It makes the other namespaces there and does not
	 * fork: no reaper. Refused (-EINVAL) unless it is PID 1. */
	bool given_ns;
	/* An absolute directory the process returns in (its cwd). With
	 * namespaces it is also the root, alone (no mount beneath it) and
	 * read-only, instead of the empty tmpfs: a device that must connect to
	 * Unix sockets there reaches them and nothing else. Where the kernel
	 * refuses, the root is the empty one (a degradation). NULL: none. */
	const char *root_dir;
	rlim_t max_fds; /* RLIMIT_NOFILE, above every kept fd */
	/* Threads or processes it still starts once confined (vCPU threads, a
	 * controller's children); 0: none, RLIMIT_NPROC 0. That limit counts
	 * the tasks of the user in its user namespace: in the sandbox's own, it
	 * becomes the tasks there plus new_tasks; without one it would count
	 * every process of the user on the host, and above 0 is left alone. */
	unsigned int new_tasks;
	/* false: RLIMIT_FSIZE 0 (memfds are files too), unless stdout or
	 * stderr is a regular file, which it would make unwritable (warned). */
	bool writes_files;
	/* With namespaces: run on without what the kernel refuses (a user
	 * namespace, another namespace, the empty root, an empty bounding
	 * set), with one warning. false: sandbox_enter() fails (-EPERM). */
	bool allow_degraded;
	/* Called in the process that returns confined (the child, with
	 * namespaces) once every other step is done, just before the filter
	 * is loaded, and with SANDBOX_OFF too: for what must happen in that
	 * process but its policy need not allow afterwards (the vcpu-worker
	 * creates its VM there). 0, or -errno after one log line. NULL: none. */
	int (*before_filter)(void *arg);
	void *before_filter_arg;
};

/* Confines the calling process (each step is commented in sandbox.c).
 * Returns 0 in the confined process. On an error it returns -errno after one
 * log_err; the process may be half-confined and must exit. Nothing is
 * changed yet when the configuration is refused: -EINVAL (a missing name,
 * filter or default action that does not match the mode, a negative or
 * too many kept fds, max_fds not above every kept fd, namespaces asked of a
 * process with threads), -EBADF (a kept fd is not open), -EPERM (another
 * thread holds capabilities: they belong to a thread and only the caller's
 * are dropped).
 *
 * With namespaces and no given_ns the process forks. The original process
 * stays behind as a reaper, itself confined: it forwards SIGTERM, SIGINT and
 * SIGHUP to the child and ends the way the child ends (the same exit status,
 * or killed by the same signal), so the caller's parent sees the child's
 * end; if it dies, the child gets SIGKILL. That is how a process run by
 * hand (by QEMU, say) confines itself. The child returns from
 * sandbox_enter() as PID 1 of its pid namespace, as a given_ns process is
 * from its start: a signal from outside reaches it only if it handles or
 * blocks it (signalfd), except SIGKILL. SIGCHLD is reset to its default.
 *
 * Afterwards only new_tasks more threads or processes can be created (root
 * on the host is exempt from RLIMIT_NPROC: only seccomp stops it there).
 * Threads started before must hold no capability. With SANDBOX_OFF, logs
 * that the process runs unconfined and returns 0. */
int sandbox_enter(const struct sandbox_cfg *cfg);

#endif
