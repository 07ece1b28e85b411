/* Which child's end is the VM's cause: one row per rule of controller/cause.c,
 * each followed through the lifecycle to the error and reason Run (and a
 * Create in progress) would get. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cause.h"

#define SECCOMP "syscall socket (41) is not allowed by rng.policy: killed"
#define ERRLINE "rng0: reading the entropy source failed"
#define HUNG "it stopped answering (hung for 1 s)"

enum step {
	END,   /* the child's end is seen: cause_decide() */
	GRACE, /* the wait for the worker is over: cause_exit() of the device */
};

struct row {
	const char *rule;
	/* the child */
	const char *name;
	bool signaled;
	int status; /* exit status or signal */
	const char *seccomp, *error; /* kept from its log */
	/* the worker */
	struct cause_worker w;
	bool stopping;
	enum step step;
	/* what the lifecycle is told */
	enum cause_verdict verdict;
	enum lifecycle_exit_kind kind;
	int x_status, x_signo;
	const char *who, *detail;
	/* and how the VM ends */
	int run_error, create_error;
	const char *reason;
};

#define W "vcpu-worker"
#define NO_EXIT 0, 0, 0, NULL, NULL /* CAUSE_WAIT: nothing told yet */
#define NO_END 0, 0, NULL            /* the lifecycle ignores it (stopping) */
#define ALIVE .w = { .alive = true }
#define SAID(st, text) .w = { .alive = true, .said_exit = true, .exit_status = (st), .exit_text = (text) }

static const struct row rows[] = {
	/* ---- the worker's own end: its exit status is the kind */
	{ "worker exit 0: the guest powered off", W, false, 0, NULL, NULL, { 0 }, false, END,
	  CAUSE_REPORT, LC_EXIT_POWEROFF, 0, 0, W, NULL, LC_OK, LC_ERR_GUEST_INITIALIZATION_FAILURE,
	  "guest powered off" },
	{ "worker exit 3: the guest rebooted", W, false, 3, NULL, NULL, { 0 }, false, END,
	  CAUSE_REPORT, LC_EXIT_REBOOT, 3, 0, W, NULL, LC_OK, LC_ERR_GUEST_INITIALIZATION_FAILURE,
	  "guest rebooted" },
	{ "worker exit 4: stopped by a signal the controller did not send", W, false, 4, NULL, NULL,
	  { 0 }, false, END, CAUSE_REPORT, LC_EXIT_STOPPED, 4, 0, W, NULL,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_GUEST_INITIALIZATION_FAILURE,
	  "vcpu-worker exited on SIGTERM/SIGINT the controller did not send" },
	{ "worker exit 10 with EXIT: its words are the reason", W, false, 10, NULL, NULL,
	  { .said_exit = true, .exit_status = 10, .exit_text = "bad kernel image" }, false, END,
	  CAUSE_REPORT, LC_EXIT_KERNEL_LOAD, 10, 0, W, "bad kernel image",
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_KERNEL_LOAD_FAILURE,
	  "vcpu-worker could not load the kernel: bad kernel image" },
	{ "worker exit 11: the vCPUs could not start", W, false, 11, NULL, NULL, { 0 }, false, END,
	  CAUSE_REPORT, LC_EXIT_START_FAILURE, 11, 0, W, NULL, LC_ERR_VCPU_START_FAILURE,
	  LC_ERR_GUEST_INITIALIZATION_FAILURE, "vcpu-worker could not start the vCPUs" },
	{ "worker exit 12 with EXIT", W, false, 12, NULL, NULL,
	  { .said_exit = true, .exit_status = 12, .exit_text = "vcpu 0: triple fault" }, false, END,
	  CAUSE_REPORT, LC_EXIT_RUNTIME_FAILURE, 12, 0, W, "vcpu 0: triple fault",
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_GUEST_INITIALIZATION_FAILURE,
	  "vCPU runtime failure: vcpu 0: triple fault" },
	{ "worker exit 13: a backend failed", W, false, 13, NULL, NULL,
	  { .said_exit = true, .exit_status = 13, .exit_text = "backend rng0: gone" }, false, END,
	  CAUSE_REPORT, LC_EXIT_BACKEND_LOST, 13, 0, W, "backend rng0: gone",
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_DEVICE_INITIALIZATION_FAILURE,
	  "vcpu-worker lost a device backend: backend rng0: gone" },
	{ "worker exit 77: any other status", W, false, 77, NULL, NULL, { 0 }, false, END,
	  CAUSE_REPORT, LC_EXIT_ERROR, 77, 0, W, NULL, LC_ERR_VCPU_RUNTIME_FAILURE,
	  LC_ERR_GUEST_INITIALIZATION_FAILURE, "vcpu-worker exited with status 77" },
	{ "worker's end, not its EXIT, gives the kind", W, false, 12, NULL, NULL,
	  { .said_exit = true, .exit_status = 13, .exit_text = "said 13" }, false, END,
	  CAUSE_REPORT, LC_EXIT_RUNTIME_FAILURE, 12, 0, W, "said 13", LC_ERR_VCPU_RUNTIME_FAILURE,
	  LC_ERR_GUEST_INITIALIZATION_FAILURE, "vCPU runtime failure: said 13" },
	{ "worker's error line is not its reason (EXIT is)", W, false, 1, NULL, ERRLINE, { 0 },
	  false, END, CAUSE_REPORT, LC_EXIT_ERROR, 1, 0, W, NULL, LC_ERR_VCPU_RUNTIME_FAILURE,
	  LC_ERR_GUEST_INITIALIZATION_FAILURE, "vcpu-worker exited with status 1" },
	{ "worker killed by a signal (a crash)", W, true, SIGSEGV, NULL, NULL, { 0 }, false, END,
	  CAUSE_REPORT, LC_EXIT_SIGNALED, 0, SIGSEGV, W, NULL, LC_ERR_VCPU_RUNTIME_FAILURE,
	  LC_ERR_GUEST_INITIALIZATION_FAILURE, "vcpu-worker killed by signal 11 (SIGSEGV)" },
	{ "worker killed by the controller: why, over its EXIT", W, true, SIGKILL, NULL, NULL,
	  { .said_exit = true, .exit_status = 12, .exit_text = "late words", .kill_reason = HUNG },
	  false, END, CAUSE_REPORT, LC_EXIT_SIGNALED, 0, SIGKILL, W, HUNG,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_GUEST_INITIALIZATION_FAILURE,
	  "vcpu-worker killed by signal 9 (SIGKILL): " HUNG },
	{ "worker's seccomp report, over everything", W, true, SIGSYS, SECCOMP, ERRLINE,
	  { .said_exit = true, .exit_status = 12, .exit_text = "words", .kill_reason = HUNG },
	  false, END, CAUSE_REPORT, LC_EXIT_SIGNALED, 0, SIGSYS, W, SECCOMP,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_GUEST_INITIALIZATION_FAILURE,
	  "vcpu-worker killed by signal 31 (SIGSYS): " SECCOMP },
	{ "worker SIGSYS without a report: its EXIT words", W, true, SIGSYS, "", NULL,
	  { .said_exit = true, .exit_status = 12, .exit_text = "words" }, false, END, CAUSE_REPORT,
	  LC_EXIT_SIGNALED, 0, SIGSYS, W, "words", LC_ERR_VCPU_RUNTIME_FAILURE,
	  LC_ERR_GUEST_INITIALIZATION_FAILURE, "vcpu-worker killed by signal 31 (SIGSYS): words" },
	{ "worker's end while devices wait for it: its own", W, true, SIGSEGV, NULL, NULL,
	  { .alive = true }, false, END, CAUSE_REPORT, LC_EXIT_SIGNALED, 0, SIGSEGV, W, NULL,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_GUEST_INITIALIZATION_FAILURE,
	  "vcpu-worker killed by signal 11 (SIGSEGV)" },

	/* ---- a device killed by a signal is its own cause, whatever the worker said */
	{ "device SIGSYS: the seccomp report", "rng0", true, SIGSYS, SECCOMP, ERRLINE, ALIVE, false,
	  END, CAUSE_REPORT, LC_EXIT_DEVICE_DIED, 0, SIGSYS, "rng0", SECCOMP,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_DEVICE_START_FAILURE,
	  "device process rng0 killed by signal 31 (SIGSYS): " SECCOMP },
	{ "device SIGSYS without a report: its error line", "rng0", true, SIGSYS, "", ERRLINE,
	  ALIVE, false, END, CAUSE_REPORT, LC_EXIT_DEVICE_DIED, 0, SIGSYS, "rng0", ERRLINE,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_DEVICE_START_FAILURE,
	  "device process rng0 killed by signal 31 (SIGSYS): " ERRLINE },
	{ "device SIGKILL though the worker, seeing it go, said EXIT first", "rng0", true, SIGKILL,
	  NULL, NULL, SAID(13, "device rng0: backend connection failed"), false, END, CAUSE_REPORT,
	  LC_EXIT_DEVICE_DIED, 0, SIGKILL, "rng0", NULL, LC_ERR_VCPU_RUNTIME_FAILURE,
	  LC_ERR_DEVICE_START_FAILURE, "device process rng0 killed by signal 9 (SIGKILL)" },

	/* ---- a device that exits while its worker lives */
	{ "device exit 0, worker said EXIT: the worker's words", "rng0", false, 0, NULL, ERRLINE,
	  SAID(13, "device rng0: backend connection failed"), false, END, CAUSE_REPORT,
	  LC_EXIT_BACKEND_LOST, 13, 0, W, "device rng0: backend connection failed",
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_DEVICE_INITIALIZATION_FAILURE,
	  "vcpu-worker lost a device backend: device rng0: backend connection failed" },
	{ "device exit 1, worker said EXIT 0: a clean poweroff", "console0", false, 1, NULL, ERRLINE,
	  SAID(0, ""), false, END, CAUSE_REPORT, LC_EXIT_POWEROFF, 0, 0, W, NULL, LC_OK,
	  LC_ERR_GUEST_INITIALIZATION_FAILURE, "guest powered off" },
	{ "device exit 0, worker said EXIT but was killed: why", "rng0", false, 0, NULL, NULL,
	  { .alive = true, .said_exit = true, .exit_status = 13, .exit_text = "words",
	    .kill_reason = HUNG }, false, END, CAUSE_REPORT, LC_EXIT_BACKEND_LOST, 13, 0, W, HUNG,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_DEVICE_INITIALIZATION_FAILURE,
	  "vcpu-worker lost a device backend: " HUNG },
	{ "device exit 0, worker silent: wait for it", "rng0", false, 0, NULL, NULL, ALIVE, false,
	  END, CAUSE_WAIT, NO_EXIT, NO_END },
	{ "device exit 1, worker silent: wait for it", "rng0", false, 1, NULL, ERRLINE, ALIVE, false,
	  END, CAUSE_WAIT, NO_EXIT, NO_END },
	{ "device exit 0, the worker did not end in time: the device", "rng0", false, 0, NULL, NULL,
	  ALIVE, false, GRACE, CAUSE_REPORT, LC_EXIT_DEVICE_DIED, 0, 0, "rng0", NULL,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_DEVICE_START_FAILURE,
	  "device process rng0 exited with status 0" },
	{ "device exit 1, the worker did not end in time: its error line", "rng0", false, 1, NULL,
	  ERRLINE, ALIVE, false, GRACE, CAUSE_REPORT, LC_EXIT_DEVICE_DIED, 1, 0, "rng0", ERRLINE,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_DEVICE_START_FAILURE,
	  "device process rng0 exited with status 1: " ERRLINE },

	/* ---- a device once its worker is gone, or was never started */
	{ "device exit 1, no worker: its error line", "blk0", false, 1, NULL, ERRLINE, { 0 }, false,
	  END, CAUSE_REPORT, LC_EXIT_DEVICE_DIED, 1, 0, "blk0", ERRLINE,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_DEVICE_START_FAILURE,
	  "device process blk0 exited with status 1: " ERRLINE },
	{ "device exit 0, no worker: an old error line explains nothing", "blk0", false, 0, NULL,
	  ERRLINE, { 0 }, false, END, CAUSE_REPORT, LC_EXIT_DEVICE_DIED, 0, 0, "blk0", NULL,
	  LC_ERR_VCPU_RUNTIME_FAILURE, LC_ERR_DEVICE_START_FAILURE,
	  "device process blk0 exited with status 0" },

	/* ---- while the VM stops, every end is expected and reported as it is */
	{ "stopping: a device's end does not wait", "rng0", false, 0, NULL, NULL, ALIVE, true, END,
	  CAUSE_REPORT, LC_EXIT_DEVICE_DIED, 0, 0, "rng0", NULL, NO_END },
	{ "stopping: a device's end is its own though the worker said EXIT", "rng0", false, 0, NULL,
	  NULL, SAID(13, "words"), true, END, CAUSE_REPORT, LC_EXIT_DEVICE_DIED, 0, 0, "rng0",
	  NULL, NO_END },
	{ "stopping: the worker's SIGTERM exit", W, false, 4, NULL, NULL, { 0 }, true, END,
	  CAUSE_REPORT, LC_EXIT_STOPPED, 4, 0, W, NULL, NO_END },
};

static struct vm_child child_of(const struct row *r)
{
	struct vm_child c = { .end = { .signaled = r->signaled, .status = r->status } };
	snprintf(c.name, sizeof(c.name), "%s", r->name);
	snprintf(c.log.seccomp, sizeof(c.log.seccomp), "%s", r->seccomp ? r->seccomp : "");
	snprintf(c.log.error, sizeof(c.log.error), "%s", r->error ? r->error : "");
	return c;
}

static const char *or_null(const char *s)
{
	return s ? s : "(null)";
}

/* The lifecycle in `from`, told x, then that every child is gone: the
 * error the pending call gets, and Status's reason. */
static int ends_with(enum lifecycle_state from, const struct lifecycle_exit *x, char *reason,
		     size_t len)
{
	struct lifecycle lc;
	lifecycle_init(&lc);
	lifecycle_handle(&lc, &(struct lifecycle_event){ .type = LC_EV_CREATE }, 1);
	if (from == LC_RUNNING) {
		lifecycle_handle(&lc, &(struct lifecycle_event){ .type = LC_EV_CREATE_DONE }, 2);
		lifecycle_handle(&lc, &(struct lifecycle_event){ .type = LC_EV_RUN }, 3);
	}
	cr_assert_eq(lc.state, from);
	lifecycle_handle(&lc, &(struct lifecycle_event){ .type = LC_EV_CHILD_EXITED, .exit = *x }, 4);
	struct lifecycle_decision d =
		lifecycle_handle(&lc, &(struct lifecycle_event){ .type = LC_EV_ALL_EXITED }, 5);
	struct lifecycle_status st;
	lifecycle_status(&lc, 6, &st);
	snprintf(reason, len, "%s", st.last_reason);
	return from == LC_RUNNING ? d.run_error : d.create_error;
}

Test(cause, every_rule)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct vm_child c = child_of(r);
		struct cause k = { .verdict = CAUSE_REPORT };
		if (r->step == END)
			k = cause_decide(&c, &r->w, r->stopping);
		else
			k.exit = cause_exit(&c, &r->w);
		cr_expect_eq(k.verdict, r->verdict, "%s: verdict %d", r->rule, k.verdict);
		if (r->verdict != CAUSE_REPORT || k.verdict != CAUSE_REPORT)
			continue;
		const struct lifecycle_exit *x = &k.exit;
		cr_expect_eq(x->kind, r->kind, "%s: kind %d, want %d", r->rule, x->kind, r->kind);
		cr_expect_eq(x->status, r->x_status, "%s: status %d", r->rule, x->status);
		cr_expect_eq(x->signo, r->x_signo, "%s: signo %d", r->rule, x->signo);
		cr_expect_str_eq(or_null(x->who), or_null(r->who), "%s: who", r->rule);
		cr_expect_str_eq(or_null(x->detail), or_null(r->detail), "%s: detail", r->rule);
		if (!r->reason)
			continue; /* stopping: the lifecycle ignores it */
		char reason[LC_REASON_MAX];
		int run = ends_with(LC_RUNNING, x, reason, sizeof(reason));
		cr_expect_eq(run, r->run_error, "%s: Run gets %s, want %s", r->rule,
			     lifecycle_error_name(run), lifecycle_error_name(r->run_error));
		cr_expect_str_eq(reason, r->reason, "%s: reason", r->rule);
		int create = ends_with(LC_CREATING, x, reason, sizeof(reason));
		cr_expect_eq(create, r->create_error, "%s: Create gets %s, want %s", r->rule,
			     lifecycle_error_name(create), lifecycle_error_name(r->create_error));
	}
}

/* A child its VM's cgroup OOM-killed (supervise.c reads memory.events.local
 * at a SIGKILL): that is the detail, over the controller's reason or its
 * log's last error. */
Test(cause, an_oom_kill_is_named)
{
	struct cause_worker w = { .alive = true, .kill_reason = HUNG };
	struct vm_child worker = { .name = W, .end = { .signaled = true, .status = SIGKILL },
				   .oom_killed = true };
	struct cause k = cause_decide(&worker, &w, false);
	cr_assert_eq(k.verdict, CAUSE_REPORT);
	cr_expect_eq(k.exit.kind, LC_EXIT_SIGNALED);
	cr_expect_str_eq(k.exit.detail, CAUSE_OOM_TEXT);
	struct vm_child dev = { .name = "blk0", .end = { .signaled = true, .status = SIGKILL },
				.oom_killed = true };
	snprintf(dev.log.error, sizeof(dev.log.error), "%s", ERRLINE);
	k = cause_decide(&dev, &w, false);
	cr_assert_eq(k.verdict, CAUSE_REPORT);
	cr_expect_eq(k.exit.kind, LC_EXIT_DEVICE_DIED);
	cr_expect_str_eq(k.exit.who, "blk0");
	cr_expect_str_eq(k.exit.detail, CAUSE_OOM_TEXT);
	dev.oom_killed = false;
	k = cause_decide(&dev, &w, false);
	cr_expect_str_eq(k.exit.detail, ERRLINE, "a plain SIGKILL keeps its log's words");
}

/* A device the controller killed because the worker found it hung: that is
 * the detail, over its log's last words (a hung process's). */
Test(cause, a_device_killed_for_hanging_says_so)
{
	struct cause_worker w = { .alive = true };
	struct vm_child dev = { .name = "blk0", .end = { .signaled = true, .status = SIGKILL },
				.killed_for = "it stopped answering" };
	snprintf(dev.log.error, sizeof(dev.log.error), "%s", ERRLINE);
	struct cause k = cause_decide(&dev, &w, false);
	cr_assert_eq(k.verdict, CAUSE_REPORT);
	cr_expect_eq(k.exit.kind, LC_EXIT_DEVICE_DIED);
	cr_expect_eq(k.exit.signo, SIGKILL);
	cr_expect_str_eq(k.exit.detail, "it stopped answering");
}
