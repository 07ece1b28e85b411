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
 * cellvmd never waits for it to learn of an end. It treats cellvmd as less
 * trusted than itself: a malformed request gets an error reply and closes
 * what it brought, and it starts only the binaries it was given at start
 * (the worker and the device binaries), so a compromised cellvmd cannot
 * have it run anything else. When cellvmd's end closes it SIGKILLs its
 * children, reaps them and exits.
 */
#ifndef CELLVM_SPAWNER_H
#define CELLVM_SPAWNER_H

#include <stddef.h>
#include <sys/types.h>

#include "confine.h"

/* The most children the spawner tracks at once (not reaped yet). */
#define SPAWNER_MAX_CHILDREN 64

/* The spawner's life, in the child of cellvmd's fork (spawner_start() in
 * controller/spawner_link.h): confines itself as o says, serves sock, whose
 * other end is parent's, and exits when that end closes. It starts only
 * allowed[0..nallowed) (absolute paths, compared exactly; a SPAWN of any
 * other path gets -EPERM). */
_Noreturn void spawner_run(const struct confine_opts *o, int sock, pid_t parent,
			   const char *const *allowed, size_t nallowed);

#endif
