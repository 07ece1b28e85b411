/* cellvm-spawner: the process that starts cellvmd's children, so that
 * cellvmd itself can be confined without fork, exec and what its children
 * do before they confine themselves (Chrome's zygote, crosvm's jail).
 *
 * cellvmd forks it with spawner_start() after dropping its privileges and
 * before confining itself. The spawner keeps only its end of a
 * SOCK_SEQPACKET socketpair (and stdio for its log), dies with cellvmd
 * (PR_SET_PDEATHSIG), confines itself with policy/spawner.policy, then
 * polls its socket and its children's pidfds: it serves the SPAWN requests
 * of spawner/spawn_msg.h one at a time with spawn_child(), and reaps
 * each child as it ends and tells cellvmd how (ENDED), unasked, so that
 * cellvmd never waits for it to learn of an end.
 *
 * What it is told at the fork comes from the operator (cellvmd's command
 * line) and is trusted; what cellvmd asks later is not (cellvmd faces
 * tenants). So it decides by its start-time settings alone: it starts only
 * the binaries it was given, through fds it opened then (execveat: a path
 * swapped since changes nothing), hands each child the policy of the
 * binary's kind that it read then (a sealed memfd, --policy-fd), refuses a
 * sandbox mode below the operator's floor and any confinement option in
 * cellvmd's argv (EPERM: spawner/child_args.h), and writes the child's
 * --sandbox and --allow-degraded itself. A confined child starts as PID 1
 * of its own user and pid namespaces (--given-ns, spawner/spawn_ns.h), so
 * no reaper of its stays outside them; every child's environment is
 * glibc's malloc without tcache (GLIBC_TUNABLES: less heap kept after its
 * set-up) and, in ON mode, the spawner's policy's name. A malformed request gets an error
 * reply and closes what it brought. When cellvmd's end closes it SIGKILLs
 * its children, reaps them and exits.
 */
#ifndef CELLVM_SPAWNER_H
#define CELLVM_SPAWNER_H

#include <stddef.h>
#include <sys/types.h>

#include "confine.h"

/* The most children the spawner tracks at once (not reaped yet). */
#define SPAWNER_MAX_CHILDREN 64
#define SPAWNER_MAX_BINARIES 8

/* A binary it may start, and the kind of its policy ("vcpu": vcpu.policy). */
struct spawner_binary {
	const char *path; /* absolute; a SPAWN names it exactly */
	const char *kind;
};

/* What the operator decided, as cellvmd was started. */
struct spawner_cfg {
	/* Its own confinement; policy_dir (where every policy is read, once, at
	 * its start) and allow_degraded hold for its children too. */
	struct confine_opts confine;
	/* may_ask[mode]: whether a child may be started in that mode (the
	 * operator's --min-sandbox); a SPAWN asking another gets -EPERM. */
	bool may_ask[SANDBOX_LOG + 1];
	const struct spawner_binary *bins;
	size_t nbins; /* at most SPAWNER_MAX_BINARIES */
};

/* The spawner's life, in the child of cellvmd's fork (spawner_start() in
 * controller/spawner_link.h): opens c's binaries and reads their policies,
 * confines itself as c says, serves sock, whose other end is parent's, and
 * exits when that end closes. A SPAWN of any path but c's gets -EPERM; of
 * one it could not open at start, that error. */
_Noreturn void spawner_run(const struct spawner_cfg *c, int sock, pid_t parent);

#endif
