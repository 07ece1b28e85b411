/* A child started as PID 1 of user and pid namespaces of its own
 * (spawn_req.own_ns in spawn.h): the clone that makes them, the child's
 * set-up in them before its exec, and whether this kernel allows them.
 *
 * The exec'd process is then its confined self from the start: no process
 * of its has to stay outside its pid namespace to be its parent's child (a
 * reaper, common/sandbox.h), so its parent waits for, signals and reads
 * the end of the process that does the work. Inside, its uid and gid are
 * root (as sandbox_enter maps them; not for a root caller without
 * CAP_SETFCAP, which the kernel refuses: it stays unmapped there) and it
 * holds every capability of its namespace after the exec (as root there;
 * unmapped, as ambient capabilities), as after its own
 * unshare(CLONE_NEWUSER); none outside. */
#ifndef CELLVM_SPAWN_NS_H
#define CELLVM_SPAWN_NS_H

#include <stdbool.h>
#include <sys/types.h>

/* What the child writes, made before the clone (no formatting after it). */
struct spawn_ns {
	char uid_map[24];
	char gid_map[24];
	bool root; /* its uid outside is 0: a refused map is no error */
};

void spawn_ns_prepare(struct spawn_ns *ns);

/* fork() into the new namespaces: the child's pid, 0 in the child, or
 * -errno. The child must exec or _exit, calling only async-signal-safe
 * functions: glibc's fork handlers have not run. */
pid_t spawn_ns_clone(void);

/* In the child of spawn_ns_clone(): maps its ids, or (unmapped) keeps its
 * capabilities for the exec. 0, or the errno of the step that failed. */
int spawn_ns_enter(const struct spawn_ns *ns);

/* Whether the kernel makes them for us: a throwaway child that exits at
 * once. false where user namespaces are refused (a sysctl, a security
 * module, the count's limit). */
bool spawn_ns_works(void);

#endif
