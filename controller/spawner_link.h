/* cellvmd's side of cellvm-spawner (spawner/spawner.h says what the
 * spawner is).
 *
 * spawner_spawn() keeps the contract of spawn_child()
 * (spawn.h), the child's pidfd included (it can be polled and signalled, but
 * only the spawner can wait for it); spawner_next_ended() hands out the
 * ENDEDs, which the caller checks against the children it knows. A
 * malformed message, a reply to nothing or a silence of SPAWNER_REPLY_MS
 * shuts the channel (spawner_shut()): the spawner is not believed again, and
 * sees EOF. Once the spawner is gone or the channel shut they return -EPIPE.
 * Nothing here logs on cellvmd's side: the caller says what failed. */
#ifndef CELLVM_SPAWNER_LINK_H
#define CELLVM_SPAWNER_LINK_H

#include <sys/types.h>

#include "confine.h"
#include "spawn.h"
#include "spawner.h"

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

/* Forks the spawner, which runs as c says (spawner_run(): c is the
 * operator's word, and the spawner keeps its own copy, made by the fork)
 * and never returns. 0 with *sp set, or -errno (logged). Call it while the
 * process has no other thread. */
int spawner_start(const struct spawner_cfg *c, struct spawner *sp);

/* Closes cellvmd's end, so the spawner kills what it still runs and exits,
 * and reaps it (unless spawner_reaped() did); a spawner that has not exited
 * after SPAWNER_EXIT_MS is killed (its children die with it). */
void spawner_stop(struct spawner *sp);

/* The spawner's pidfd became readable: reaps it. 1 with *end filled, 0 if it
 * still runs (a spurious wake-up), -errno. */
int spawner_reaped(struct spawner *sp, struct child_end *end);

/* spawn_child() through the spawner on sock, asking for the child to be
 * confined in mode (req->by_fd is not sent: the spawner always execs its
 * own fd of the binary; req->cgroup_procs_fd goes with it); -EPERM for a mode below the floor, a binary not
 * on its list or a confinement option in req->argv; -ETIMEDOUT when it did
 * not answer within SPAWNER_REPLY_MS, -EBADMSG when it broke the protocol.
 * The ENDEDs that come before the reply are kept for spawner_next_ended(). */
int spawner_spawn(int sock, const struct spawn_req *req, enum sandbox_mode mode, pid_t *pid,
		  int *pidfd);

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
