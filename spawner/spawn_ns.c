/* A child's own user and pid namespaces, made at its clone (spawn_ns.h). */
#include "spawn_ns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void spawn_ns_prepare(struct spawn_ns *ns)
{
	uid_t uid = geteuid();
	snprintf(ns->uid_map, sizeof(ns->uid_map), "0 %u 1", (unsigned)uid);
	snprintf(ns->gid_map, sizeof(ns->gid_map), "0 %u 1", (unsigned)getegid());
	ns->root = uid == 0;
}

pid_t spawn_ns_clone(void)
{
	/* The raw call: glibc's clone() wants a new stack, and fork() takes no
	 * flags. With no stack given the child goes on on a copy of ours, as
	 * after fork. */
	long pid = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0);
	return pid < 0 ? -errno : (pid_t)pid;
}

/* 0 or an errno; open and write only. */
static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	size_t len = strlen(s);
	int err = write(fd, s, len) == (ssize_t)len ? 0 : errno;
	close(fd);
	return err;
}

/* The caller's ids become root inside (as sandbox_ns.c's map_ids): setgroups
 * first denied, which an unprivileged gid_map needs. Root outside may map
 * itself only if it held CAP_SETFCAP at the clone (Linux 5.12+), which a
 * confined spawner does not: unmapped (*mapped false), it is the overflow
 * uid in there, which owns nothing. 0 or an errno. */
static int map_ids(const struct spawn_ns *ns, bool *mapped)
{
	int err = write_file("/proc/self/setgroups", "deny");
	if (err == 0)
		err = write_file("/proc/self/uid_map", ns->uid_map);
	if (err == 0)
		err = write_file("/proc/self/gid_map", ns->gid_map);
	*mapped = err == 0;
	return err == EPERM && ns->root ? 0 : err;
}

/* The clone gave the child every capability in its namespace. An exec keeps
 * them for root there; an unmapped uid is not root: as ambient capabilities
 * they stay, so that the process can make the rest of its sandbox (mount,
 * ipc, uts and net namespaces, its empty root) and then drops them all
 * (sandbox_drop_caps). */
static int keep_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &h, d) < 0)
		return errno;
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		d[i].inheritable = d[i].permitted;
	if (syscall(SYS_capset, &h, d) < 0)
		return errno;
	int cap = 0;
	while (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) == 0)
		cap++;
	/* EINVAL past the last capability the kernel knows. */
	return errno == EINVAL && cap > 0 ? 0 : errno;
}

int spawn_ns_enter(const struct spawn_ns *ns)
{
	/* A spawner that changed its uid (cellvmd's --user) is not dumpable,
	 * which makes its /proc files root's: the maps could not be opened.
	 * The exec makes the child dumpable anyway. */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return errno;
	bool mapped;
	int err = map_ids(ns, &mapped);
	return err || mapped ? err : keep_caps();
}

bool spawn_ns_works(void)
{
	struct spawn_ns ns;
	spawn_ns_prepare(&ns);
	pid_t pid = spawn_ns_clone();
	if (pid == 0)
		syscall(SYS_exit_group, spawn_ns_enter(&ns) ? 1 : 0);
	if (pid < 0)
		return false;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
