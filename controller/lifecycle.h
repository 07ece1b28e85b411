/* The VM lifecycle of one controller: which RPC call is answered how, and
 * what the controller must do next, as a pure state machine.
 *
 * The model is Fuchsia's fuchsia.virtualization.GuestLifecycle: Create(config)
 * builds the VM without running it, Bind attaches a client to a created VM,
 * Run starts the vCPUs and replies only when the VM has stopped, Stop ends a
 * VM and replies once every child process has exited. Errors are Fuchsia's
 * GuestError numbers (docs/rpc.md lists them and the table of every call in
 * every state).
 *
 * Pure: no I/O, no clock reads, no allocation. The controller feeds it each
 * request and each report from its supervisor (with the current monotonic
 * time), gets back a decision — the reply to send now and the actions to take,
 * in bit order — and carries the decision out. The controller keeps the
 * callers of deferred replies (the pending Create, Run and Stops) and the
 * bound channels; the machine tells it when and with what to answer them.
 *
 * Contract for the controller:
 *  - After LC_ACT_STOP_ALL it reports every child that exits
 *    (LC_EV_CHILD_EXITED, optional while stopping) and then LC_EV_ALL_EXITED
 *    exactly once, when no child is left — at once if none was alive.
 *  - After LC_ACT_START it reports LC_EV_CREATE_DONE once; if Stop or a child
 *    death got there first the report is ignored, and the create task must
 *    stop starting things (LC_ACT_STOP_ALL already came).
 *  - A child that exits on its own is reported as LC_EV_CHILD_EXITED before
 *    the LC_EV_ALL_EXITED that follows. */
#ifndef CELLVM_LIFECYCLE_H
#define CELLVM_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

/* fuchsia.virtualization.GuestError, same names and numbers; 0 is success. */
enum lifecycle_error {
	LC_OK = 0,
	LC_ERR_INTERNAL_ERROR = 1,
	LC_ERR_DEVICE_NOT_PRESENT = 2,
	LC_ERR_BAD_CONFIG = 3,
	LC_ERR_GUEST_INITIALIZATION_FAILURE = 4,
	LC_ERR_DEVICE_INITIALIZATION_FAILURE = 5,
	LC_ERR_DEVICE_START_FAILURE = 6,
	LC_ERR_DEVICE_MEMORY_OVERLAP = 7,
	LC_ERR_FAILED_SERVICE_CONNECT = 8,
	LC_ERR_DUPLICATE_PUBLIC_SERVICES = 9,
	LC_ERR_KERNEL_LOAD_FAILURE = 10,
	LC_ERR_VCPU_START_FAILURE = 11,
	LC_ERR_VCPU_RUNTIME_FAILURE = 12,
	LC_ERR_NOT_CREATED = 13,
	LC_ERR_ALREADY_RUNNING = 14,
	LC_ERR_CONTROLLER_FORCED_HALT = 15,
};
#define LC_ERR_MAX LC_ERR_CONTROLLER_FORCED_HALT

enum lifecycle_state {
	LC_NOT_CREATED, /* no VM; Create may start one */
	LC_CREATING,    /* Create is building the VM; its reply is pending */
	LC_CREATED,     /* every process is up, the kernel loaded, vCPUs not running */
	LC_RUNNING,     /* vCPUs run; the Run that started them waits for the end */
	LC_STOPPING,    /* the VM is ending: waiting for every child to exit */
};
#define LC_STATE_COUNT 5

enum lifecycle_event_type {
	LC_EV_CREATE,      /* request: Create(config) (the config is already valid) */
	LC_EV_CREATE_DONE, /* report: the create task finished, .error 0 or GuestError */
	LC_EV_BIND,        /* request: Bind (one-way; no reply, the channel is kept or closed) */
	LC_EV_RUN,         /* request: Run */
	LC_EV_STOP,        /* request: Stop */
	LC_EV_CHILD_EXITED, /* report: the vcpu-worker or a device process exited, .exit */
	LC_EV_ALL_EXITED,  /* report: no child process is left */
};
#define LC_EV_COUNT 7

/* Why a child exited, as the supervisor read it from the wait status. The
 * vcpu-worker's kinds follow its exit statuses (common/exit_status.h). */
enum lifecycle_exit_kind {
	LC_EXIT_POWEROFF,        /* worker: the guest powered off (clean) */
	LC_EXIT_REBOOT,          /* worker: the guest rebooted (clean; the VM ends) */
	LC_EXIT_STOPPED,         /* worker: exited on SIGTERM/SIGINT */
	LC_EXIT_KERNEL_LOAD,     /* worker: the kernel or initrd could not be loaded */
	LC_EXIT_START_FAILURE,   /* worker: KVM or a vCPU could not be set up/started */
	LC_EXIT_RUNTIME_FAILURE, /* worker: triple fault, KVM internal error, ... */
	LC_EXIT_BACKEND_LOST,    /* worker: a device backend failed (set-up, or hung) */
	LC_EXIT_ERROR,           /* worker: any other exit status, in .status */
	LC_EXIT_SIGNALED,        /* worker: killed by signal .signo */
	LC_EXIT_DEVICE_DIED,     /* device process .who: exit .status or signal .signo */
};
#define LC_EXIT_KIND_COUNT 10

struct lifecycle_exit {
	enum lifecycle_exit_kind kind;
	int status;         /* LC_EXIT_ERROR, LC_EXIT_DEVICE_DIED (when signo is 0) */
	int signo;          /* LC_EXIT_SIGNALED, LC_EXIT_DEVICE_DIED: 0 = exited normally */
	const char *who;    /* LC_EXIT_DEVICE_DIED: the device ("blk0"); may be NULL */
	const char *detail; /* the child's own words (last error line); may be NULL */
};

struct lifecycle_event {
	enum lifecycle_event_type type;
	int error;                 /* LC_EV_CREATE_DONE: 0, or the GuestError it failed with */
	const char *detail;        /* LC_EV_CREATE_DONE: what failed ("disk 0: ..."); may be NULL */
	struct lifecycle_exit exit; /* LC_EV_CHILD_EXITED */
};

/* What to send the caller of this event now. Reports get LC_REPLY_NONE. */
enum lifecycle_reply {
	LC_REPLY_NONE,  /* no reply: a report, or Bind (see LC_ACT_*_BIND) */
	LC_REPLY_OK,    /* reply success now */
	LC_REPLY_ERROR, /* reply .error now */
	LC_REPLY_LATER, /* keep the caller: an LC_ACT_REPLY_* of a later decision answers it */
};

/* Actions, to be carried out in this (bit) order. */
enum lifecycle_action {
	/* Build the VM: sealed memfd, spawn and connect the device processes and
	 * the vcpu-worker, load the kernel; vCPUs stay stopped. Ends with
	 * LC_EV_CREATE_DONE. */
	LC_ACT_START = 1u << 0,
	/* Tell the vcpu-worker to start its vCPUs. */
	LC_ACT_RUN_VCPUS = 1u << 1,
	/* Ask every child to exit (SIGTERM, SIGKILL after a grace period); ends
	 * with LC_EV_ALL_EXITED. */
	LC_ACT_STOP_ALL = 1u << 2,
	/* No child is left: release the VM's memfd, sockets and fds. */
	LC_ACT_RELEASE = 1u << 3,
	/* Serve the Guest interface on this Bind's channel. */
	LC_ACT_ACCEPT_BIND = 1u << 4,
	/* Close this Bind's channel (Bind outside the Create..Stop window). */
	LC_ACT_CLOSE_BIND = 1u << 5,
	/* Close every bound Guest channel, epitaph .guests_clean ? ok : internal. */
	LC_ACT_CLOSE_GUESTS = 1u << 6,
	/* Answer the pending Create with .create_error (0 = success). */
	LC_ACT_REPLY_CREATE = 1u << 7,
	/* Answer the pending Run with .run_error (0 = success). */
	LC_ACT_REPLY_RUN = 1u << 8,
	/* Answer every pending Stop with success. */
	LC_ACT_REPLY_STOPS = 1u << 9,
};

struct lifecycle_decision {
	enum lifecycle_reply reply;
	int error;        /* LC_REPLY_ERROR: the GuestError */
	unsigned actions; /* LC_ACT_* */
	int create_error; /* LC_ACT_REPLY_CREATE */
	int run_error;    /* LC_ACT_REPLY_RUN */
	bool guests_clean; /* LC_ACT_CLOSE_GUESTS */
	/* The event changed nothing: a report that came too late (a child exit
	 * or create result after the VM already began to stop) or one that does
	 * not belong to this state. Not an error; the controller may log it. */
	bool ignored;
};

#define LC_REASON_MAX 160

/* The machine. Treat the fields as private; lifecycle_status() reads them. */
struct lifecycle {
	enum lifecycle_state state;
	bool create_pending;     /* a Create waits for its reply */
	bool run_pending;        /* a Run waits for its reply */
	unsigned stops_pending;  /* Stop calls waiting for every child to exit */
	int end_error;           /* while stopping: what the pending Create/Run get */
	bool ran;                /* the vCPUs were started (uptime is meaningful) */
	uint64_t run_start_ns;
	uint64_t run_end_ns;     /* valid once the VM left LC_RUNNING */
	bool have_last;
	int last_error;          /* how the latest VM or Create attempt ended (0 = clean) */
	char last_reason[LC_REASON_MAX];
};

struct lifecycle_status {
	enum lifecycle_state state;
	uint64_t uptime_ns;   /* time the vCPUs ran: still counting in LC_RUNNING,
			       * frozen while LC_STOPPING, 0 otherwise */
	bool have_last;       /* false until a VM or Create attempt has ended */
	int last_error;       /* 0 = the latest VM ended cleanly */
	const char *last_reason; /* "" when !have_last; valid until the next event */
};

void lifecycle_init(struct lifecycle *lc);

/* Feeds one event at monotonic time now_ns; returns what to do. Never fails:
 * an event that does not fit the state is answered as docs/rpc.md says or
 * reported as ignored. An unknown event type is ignored; an unknown exit kind
 * ends the VM as a failure (never as a clean exit). */
struct lifecycle_decision lifecycle_handle(struct lifecycle *lc, const struct lifecycle_event *ev,
					   uint64_t now_ns);

/* Whether a call that goes to the VM's device processes (SetRateLimiter,
 * and Metrics' device counters) is taken in this state: LC_OK in CREATED
 * and RUNNING, where every device is up; else LC_ERR_NOT_CREATED (no VM,
 * one Create is still building, or one going away). It changes nothing:
 * such calls are answered outside lifecycle_handle, as Status is. */
int lifecycle_device_call(enum lifecycle_state state);

/* The Status call's snapshot at monotonic time now_ns. */
void lifecycle_status(const struct lifecycle *lc, uint64_t now_ns, struct lifecycle_status *out);

/* "NOT_CREATED", "CREATING", ...; "UNKNOWN" for a value out of range. */
const char *lifecycle_state_name(enum lifecycle_state state);
/* "OK" for 0, "INTERNAL_ERROR" ... "CONTROLLER_FORCED_HALT"; "UNKNOWN" otherwise. */
const char *lifecycle_error_name(int code);
/* The reverse for the wire: the code of an exact name ("OK" is 0), or -1. */
int lifecycle_error_from_name(const char *name);

#endif
