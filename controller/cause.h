/* Which child's end is the VM's cause, and in what words: a pure function
 * of what the supervisor knows when a child's end is seen.
 *
 * Ends come in whatever order the pidfds fire, and the worker's own account
 * (EXIT on its control channel) may come before or after them: a worker that
 * crashes or gives up closes its devices' connections, so their ends often
 * show first. cause_decide() says what the lifecycle is told for one end:
 * that child's end, the worker's end as its EXIT said, or nothing yet (wait
 * up to CAUSE_WORKER_GRACE_MS for the worker's end, then report the device
 * with cause_exit()). The lifecycle keeps the first reason it is told, so
 * this decides the error and reason the VM ends with (docs/rpc.md,
 * "Processes, fds and supervision").
 *
 * Pure: no I/O, no clock; the exit's strings point into the inputs. */
#ifndef CELLVM_CAUSE_H
#define CELLVM_CAUSE_H

#include <stdbool.h>

#include "lifecycle.h"
#include "vm.h"

/* The detail of a child its VM's cgroup OOM-killed. */
#define CAUSE_OOM_TEXT \
	"out of memory: its VM's cgroup reached memory.max (--cgroup-memory-headroom)"

/* How long a device's end waits for its worker's (a timer, not a block). */
#define CAUSE_WORKER_GRACE_MS 200

/* What is known of the worker when a child's end is decided. */
struct cause_worker {
	bool alive;              /* it was started and its end is not seen yet */
	bool said_exit;          /* it sent EXIT ... */
	int exit_status;         /* ... with this status (common/exit_status.h) */
	const char *exit_text;   /* ... and these words ("" or NULL: none) */
	const char *kill_reason; /* why the controller killed it; NULL if it did not */
};

enum cause_verdict {
	CAUSE_REPORT, /* tell the lifecycle .exit now */
	CAUSE_WAIT,   /* a device ended while its worker lives: wait for the worker */
};

struct cause {
	enum cause_verdict verdict;
	struct lifecycle_exit exit; /* CAUSE_REPORT */
};

/* The lifecycle's view of c's own end (c is the worker when its name is
 * VM_WORKER_NAME), with the words that best explain it. */
struct lifecycle_exit cause_exit(const struct vm_child *c, const struct cause_worker *w);

/* What to tell the lifecycle now that c's end is seen. stopping: the
 * controller is ending the VM (every end is expected and none is a cause). */
struct cause cause_decide(const struct vm_child *c, const struct cause_worker *w, bool stopping);

#endif
