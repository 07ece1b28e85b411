/* The supervision of one VM's processes, for the controller: each child's
 * end (its pidfd says it ended, the spawner's ENDED says how: without it
 * within SPAWNER_REPLY_MS, or from a spawner that is gone or broke the
 * protocol, the child is SIGKILLed and counted killed) and stderr, the
 * worker's control channel (READY, PONG, EXIT), its liveness (PING every
 * 250 ms, SIGKILL after 1 s without PONG), the create deadline (READY
 * within 60 s) and the stop (SIGTERM, SIGKILL 3 s later). docs/rpc.md has
 * the table.
 *
 * A device process that ends while the VM runs is started again when its
 * restart policy allows (restart_policy.h: at once, or after a backoff),
 * its new socket sent to the worker (BACKEND), and the I/O blackout
 * counted from its end to the worker's RESUMED; when the policy is spent
 * its end is reported as any other. A device the worker finds hung
 * (HUNG) is killed, which makes it such an end.
 *
 * It reports what the lifecycle is to hear — the worker is ready, a child's
 * end as cause.h decides it — from its own event-loop callbacks only, never
 * from a call the owner makes, so the owner is not re-entered while it
 * carries out a decision; after each decision the owner asks
 * supervise_all_exited(). It holds the vm it was given, which the owner
 * builds, reads and releases. */
#ifndef CELLVM_SUPERVISE_H
#define CELLVM_SUPERVISE_H

#include <stdbool.h>

#include "event_loop.h"
#include "lifecycle.h"
#include "vm.h"

struct supervisor;

struct supervise_ops {
	/* The worker sent READY: the VM is built. */
	void (*ready)(void *opaque);
	/* A child's end, or the worker's as it said it (cause.h). */
	void (*child_exited)(void *opaque, const struct lifecycle_exit *x);
	/* Starts device c again (vm_restart_device): 0 with the worker's end
	 * of its new socket in *worker_end, or -errno. */
	int (*restart)(void *opaque, struct vm_child *c, int *worker_end);
};

int supervise_create(struct supervisor **out, struct evloop *loop, struct vm *vm,
		     int spawner_fd, const struct supervise_ops *ops, void *opaque);
/* Call once no VM is left (after supervise_release). */
void supervise_destroy(struct supervisor *sv);

/* Watches what vm_build() started, also when it failed, and gives the
 * worker 60 s to be ready. -errno with *what ("watching a child") when a
 * watch failed; the rest is watched all the same. */
int supervise_start(struct supervisor *sv, const char **what);
/* Tells the worker to run its vCPUs (it is killed if that fails). */
void supervise_run(struct supervisor *sv);
/* Asks every child to exit: SIGTERM now, SIGKILL 3 s later. */
void supervise_stop(struct supervisor *sv);
/* True once after supervise_stop(), when no child is left and every end has
 * been reported: then LC_EV_ALL_EXITED is due. */
bool supervise_all_exited(struct supervisor *sv);
/* err: 0 once the worker runs the device on its new process (its
 * RESUMED), else -errno: -ECANCELED (the VM stops or cannot restart it),
 * or why the restart failed (the device's end is then the VM's, as any
 * failed restart's). */
typedef void (*supervise_swap_done)(void *opaque, int err);
/* Restarts device c deliberately, to serve what vm_swap_disk() gave it:
 * SIGKILLs it, and its end restarts it at once, whatever its policy says
 * and without counting in the policy's window (it counts in its restarts'
 * total). done is called from the loop, or from supervise_release(); the
 * caller's opaque must stay valid until then. 0, -ESRCH (the VM does not
 * run: not READY, stopping, its worker gone) or -EBUSY (c is no device
 * cellvm can restart, or it is being restarted or swapped) with done never
 * called, or -errno from the kill. */
int supervise_swap(struct supervisor *sv, struct vm_child *c, supervise_swap_done done,
		   void *opaque);
/* Stops watching the VM's fds, before vm_release(); pending swaps are told
 * -ECANCELED. */
void supervise_release(struct supervisor *sv);

#endif
