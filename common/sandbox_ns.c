/* The namespaces of a confined process: its own user namespace, the empty
 * root, and, when nobody made its pid namespace for it, the reaper that
 * stays outside. */
#include "sandbox_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

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
static void map_ids(uid_t uid, gid_t gid, struct sandbox_missing *m)
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
		sandbox_miss(m, "its uid/gid map in the user namespace (%s: %s)", path, strerror(-err));
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

/* A copy of directory dir alone (none of the mounts beneath it), read-only,
 * nosuid, nodev and noexec: a mount fd, or -errno. */
static int dir_mount(const char *dir)
{
	int mnt = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (mnt < 0)
		return -errno;
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					    MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
	if (mount_setattr(mnt, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
		int err = -errno;
		close(mnt);
		return err;
	}
	return mnt;
}

/* An empty tmpfs, read-only, nosuid, nodev and noexec from the start, as
 * the root: no /proc, no /dev, no file to open by any path. With root_dir,
 * that directory alone is the root instead, as read-only. *root says which.
 * What the kernel refuses goes into *m; -errno only where the process must
 * not go on. */
static int empty_root(const char *root_dir, struct sandbox_missing *m, int *root)
{
	const char *step = "making the mounts private";
	int fs = -1, mnt = -1, err = 0;
	/* Nothing done below may propagate back into the parent namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto fail;
	if (root_dir) {
		mnt = dir_mount(root_dir);
		if (mnt >= 0)
			goto mounted;
		/* The empty root then: safe, only unable to reach the directory. */
		sandbox_miss(m, "%s as its root (%s)", root_dir, strerror(-mnt));
	}
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
mounted:
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
	*root = fs < 0 ? SANDBOX_ROOT_DIR : SANDBOX_ROOT_EMPTY;
	goto out;
fail:
	err = -errno;
fail_err:
	sandbox_miss(m, "the empty root (%s: %s)", step, strerror(-err));
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
	if (err == 0 && (err = sandbox_drop_caps(&bounding_left)) < 0)
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

/* The user and pid namespaces the spawner made at the clone: it is PID 1 of
 * the latter (the former cannot be checked from inside). */
static int check_given(void)
{
	if (getpid() == 1)
		return 0;
	log_err("sandbox: --given-ns, but it is pid %d, not PID 1 of a pid namespace of its own",
		(int)getpid());
	return -EINVAL;
}

int sandbox_namespaces(bool keep_net, bool given_ns, const char *root_dir,
		       struct sandbox_missing *m, bool *own_userns, bool *reaper, int *root)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int err;
	*reaper = false;
	*root = SANDBOX_ROOT_HOST;
	if (given_ns && (err = check_given()))
		return err;
	/* First on its own: the namespaces below then belong to it, and an
	 * unprivileged process may create them. */
	*own_userns = given_ns || unshare(CLONE_NEWUSER) == 0;
	if (!*own_userns)
		sandbox_miss(m, "a user namespace (unshare: %s)", strerror(errno));
	else if (!given_ns)
		map_ids(uid, gid, m);
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
	if (!given_ns)
		flags |= CLONE_NEWPID;
	if (!keep_net)
		flags |= CLONE_NEWNET;
	if (unshare(flags) < 0) {
		sandbox_miss(m, "%smount, ipc%s namespaces and the empty root (unshare: %s)",
			     given_ns ? "" : "pid, ", keep_net ? " and uts" : ", uts and net",
			     strerror(errno));
		return 0;
	}
	/* Before the fork, so that the reaper stands on the empty root too:
	 * pivot_root would move it there, re-entering the mount namespace
	 * moves only the caller. */
	err = empty_root(root_dir, m, root);
	/* A new pid namespace takes effect for children only. */
	if (err == 0 && !given_ns && (err = fork_reaper()) == 0)
		*reaper = true;
	return err;
}
