/* cellvm-spawner: the process that starts cellvmd's children, so that
 * cellvmd itself can be confined without fork, exec and what its children
 * do before they confine themselves (Chrome's zygote, crosvm's jail).
 *
 * cellvmd forks it with spawner_start() after dropping its privileges and
 * before confining itself. The spawner keeps only its end of a
 * SOCK_SEQPACKET socketpair (and stdio for its log), dies with cellvmd
 * (PR_SET_PDEATHSIG), confines itself with policy/spawner.policy, then
 * polls its socket and its children's pidfds: it serves the SPAWN requests
 * of controller/spawn_msg.h one at a time with spawn_child(), and reaps
 * each child as it ends and tells cellvmd how (ENDED), unasked, so that
 * cellvmd never waits for it to learn of an end. It treats cellvmd as less
 * trusted than itself: a malformed request gets an error reply and closes
 * what it brought, and it starts only the binaries it was given at start
 * (the worker and the device binaries), so a compromised cellvmd cannot
 * have it run anything else. When cellvmd's end closes it SIGKILLs its
 * children, reaps them and exits.
 *
 * cellvmd's side: spawner_spawn() keeps the contract of spawn_child()
 * (spawn.h), the child's pidfd included (it can be polled and signalled, but
 * only the spawner can wait for it); spawner_next_ended() hands out the
 * ENDEDs, which the caller checks against the children it knows. A
 * malformed message, a reply to nothing or a silence of SPAWNER_REPLY_MS
 * shuts the channel (spawner_shut()): the spawner is not believed again, and
 * sees EOF. Once the spawner is gone or the channel shut they return -EPIPE.
 * Nothing here logs on cellvmd's side: the caller says what failed. */
#ifndef CELLVM_SPAWNER_H
#define CELLVM_SPAWNER_H

#include <sys/types.h>

#include "confine.h"
#include "spawn.h"

/* The most children the spawner tracks at once (not reaped yet). */
#define SPAWNER_MAX_CHILDREN 64
/* A spawner that does not answer a SPAWN within this, or report a child's
 * end within this of its pidfd becoming readable, is stuck: the channel is
 * shut and later calls fail with -EPIPE. */
#define SPAWNER_REPLY_MS 5000
/* How long spawner_stop() waits for it to exit before SIGKILL. */
#define SPAWNER_EXIT_MS 5000

struct spawner {
	pid_t pid;
	int pidfd; /* -1 once reaped */
	int sock;  /* cellvmd's end; -1 once closed */
};

/* Forks the spawner, which confines itself as o says (its --sandbox and
 * --policy-dir follow cellvmd's) and never returns. It starts only
 * allowed[0..nallowed) (absolute paths, compared exactly; a SPAWN of any
 * other path gets -EPERM); it keeps its own copy of them, made by the fork.
 * 0 with *sp set, or -errno (logged). Call it while the process has no other
 * thread. */
int spawner_start(const struct confine_opts *o, const char *const *allowed, size_t nallowed,
		  struct spawner *sp);

/* Closes cellvmd's end, so the spawner kills what it still runs and exits,
 * and reaps it (unless spawner_reaped() did); a spawner that has not exited
 * after SPAWNER_EXIT_MS is killed (its children die with it). */
void spawner_stop(struct spawner *sp);

/* The spawner's pidfd became readable: reaps it. 1 with *end filled, 0 if it
 * still runs (a spurious wake-up), -errno. */
int spawner_reaped(struct spawner *sp, struct child_end *end);

/* spawn_child() through the spawner on sock; -ETIMEDOUT when it did not
 * answer within SPAWNER_REPLY_MS, -EBADMSG when it broke the protocol. The
 * ENDEDs that come before the reply are kept for spawner_next_ended(). */
int spawner_spawn(int sock, const struct spawn_req *req, pid_t *pid, int *pidfd);

/* The next child's end the spawner reported, without waiting (those
 * spawner_spawn() kept first): 1 with *pid and *end, 0 if none is there
 * now, -EPIPE once the spawner is gone, -EBADMSG when it broke the protocol,
 * -errno. sock polls readable when one may be there, or at the spawner's end. */
int spawner_next_ended(int sock, pid_t *pid, struct child_end *end);

/* Shuts the channel to a spawner that is stuck or not believed: it sees EOF,
 * kills what it started and exits; what it sent is dropped, and every later
 * call returns -EPIPE. */
int spawner_shut(int sock);

#endif
