/* The VM lifecycle state machine; docs/rpc.md has the table it implements. */
#include "lifecycle.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[LC_STATE_COUNT] = {
	[LC_NOT_CREATED] = "NOT_CREATED", [LC_CREATING] = "CREATING", [LC_CREATED] = "CREATED",
	[LC_RUNNING] = "RUNNING",	  [LC_STOPPING] = "STOPPING",
};

static const char *const error_names[LC_ERR_MAX + 1] = {
	[LC_OK] = "OK",
	[LC_ERR_INTERNAL_ERROR] = "INTERNAL_ERROR",
	[LC_ERR_DEVICE_NOT_PRESENT] = "DEVICE_NOT_PRESENT",
	[LC_ERR_BAD_CONFIG] = "BAD_CONFIG",
	[LC_ERR_GUEST_INITIALIZATION_FAILURE] = "GUEST_INITIALIZATION_FAILURE",
	[LC_ERR_DEVICE_INITIALIZATION_FAILURE] = "DEVICE_INITIALIZATION_FAILURE",
	[LC_ERR_DEVICE_START_FAILURE] = "DEVICE_START_FAILURE",
	[LC_ERR_DEVICE_MEMORY_OVERLAP] = "DEVICE_MEMORY_OVERLAP",
	[LC_ERR_FAILED_SERVICE_CONNECT] = "FAILED_SERVICE_CONNECT",
	[LC_ERR_DUPLICATE_PUBLIC_SERVICES] = "DUPLICATE_PUBLIC_SERVICES",
	[LC_ERR_KERNEL_LOAD_FAILURE] = "KERNEL_LOAD_FAILURE",
	[LC_ERR_VCPU_START_FAILURE] = "VCPU_START_FAILURE",
	[LC_ERR_VCPU_RUNTIME_FAILURE] = "VCPU_RUNTIME_FAILURE",
	[LC_ERR_NOT_CREATED] = "NOT_CREATED",
	[LC_ERR_ALREADY_RUNNING] = "ALREADY_RUNNING",
	[LC_ERR_CONTROLLER_FORCED_HALT] = "CONTROLLER_FORCED_HALT",
};

const char *lifecycle_state_name(enum lifecycle_state state)
{
	if ((unsigned)state >= LC_STATE_COUNT)
		return "UNKNOWN";
	return state_names[state];
}

const char *lifecycle_error_name(int code)
{
	if (code < 0 || code > LC_ERR_MAX)
		return "UNKNOWN";
	return error_names[code];
}

int lifecycle_error_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i <= LC_ERR_MAX; i++)
		if (strcmp(name, error_names[i]) == 0)
			return i;
	return -1;
}

void lifecycle_init(struct lifecycle *lc)
{
	memset(lc, 0, sizeof(*lc));
	lc->state = LC_NOT_CREATED;
}

/* Records how the current VM (or Create attempt) ends, for Status. A child's
 * words reach operators' terminals and logs: control bytes become '?'. */
static void set_last(struct lifecycle *lc, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_last(struct lifecycle *lc, int error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lc->last_reason, sizeof(lc->last_reason), fmt, ap);
	va_end(ap);
	for (char *p = lc->last_reason; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	lc->last_error = error;
	lc->have_last = true;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* ": detail" or "" */
static const char *sep(const char *s)
{
	return s && *s ? ": " : "";
}

static const char *sig_abbrev(int signo)
{
	const char *s = sigabbrev_np(signo);
	return s ? s : "?";
}

/* The reason in words for Status. */
static void describe_exit(struct lifecycle *lc, int error, const struct lifecycle_exit *x)
{
	const char *d = or_empty(x->detail);
	switch (x->kind) {
	case LC_EXIT_POWEROFF:
		set_last(lc, error, "guest powered off");
		return;
	case LC_EXIT_REBOOT:
		set_last(lc, error, "guest rebooted");
		return;
	case LC_EXIT_STOPPED:
		set_last(lc, error, "vcpu-worker exited on SIGTERM/SIGINT the controller did not send");
		return;
	case LC_EXIT_KERNEL_LOAD:
		set_last(lc, error, "vcpu-worker could not load the kernel%s%s", sep(d), d);
		return;
	case LC_EXIT_START_FAILURE:
		set_last(lc, error, "vcpu-worker could not start the vCPUs%s%s", sep(d), d);
		return;
	case LC_EXIT_RUNTIME_FAILURE:
		set_last(lc, error, "vCPU runtime failure%s%s", sep(d), d);
		return;
	case LC_EXIT_BACKEND_LOST:
		set_last(lc, error, "vcpu-worker lost a device backend%s%s", sep(d), d);
		return;
	case LC_EXIT_ERROR:
		set_last(lc, error, "vcpu-worker exited with status %d%s%s", x->status, sep(d), d);
		return;
	case LC_EXIT_SIGNALED:
		set_last(lc, error, "vcpu-worker killed by signal %d (SIG%s)%s%s", x->signo,
			 sig_abbrev(x->signo), sep(d), d);
		return;
	case LC_EXIT_DEVICE_DIED:
		if (x->signo)
			set_last(lc, error, "device process %s killed by signal %d (SIG%s)%s%s",
				 x->who ? x->who : "?", x->signo, sig_abbrev(x->signo), sep(d), d);
		else
			set_last(lc, error, "device process %s exited with status %d%s%s",
				 x->who ? x->who : "?", x->status, sep(d), d);
		return;
	}
	set_last(lc, error, "child exited for an unknown reason (kind %d)", (int)x->kind);
}

/* What a failed Create reports when a child dies while it is being built. The
 * create task usually knows better and reports first (LC_EV_CREATE_DONE);
 * this is the answer when the death is what it learns of first. */
static int create_exit_error(enum lifecycle_exit_kind kind)
{
	switch (kind) {
	case LC_EXIT_DEVICE_DIED:
		return LC_ERR_DEVICE_START_FAILURE;
	case LC_EXIT_BACKEND_LOST:
		return LC_ERR_DEVICE_INITIALIZATION_FAILURE;
	case LC_EXIT_KERNEL_LOAD:
		return LC_ERR_KERNEL_LOAD_FAILURE;
	default:
		return LC_ERR_GUEST_INITIALIZATION_FAILURE;
	}
}

/* What the pending Run gets when a child exits while the VM is created or
 * running. A device process dying is VCPU_RUNTIME_FAILURE: the running VM
 * failed at run time, and that is the Run error clients already handle as
 * "the VM died under me" (Fuchsia's manager calls it
 * VMM_UNEXPECTED_TERMINATION, which is not a GuestError); INTERNAL_ERROR would
 * blame the controller and DEVICE_START_FAILURE is Create's. The reason names
 * the device. */
static int run_exit_error(enum lifecycle_exit_kind kind)
{
	switch (kind) {
	case LC_EXIT_POWEROFF:
	case LC_EXIT_REBOOT:
		return LC_OK;
	case LC_EXIT_START_FAILURE:
		return LC_ERR_VCPU_START_FAILURE;
	default:
		return LC_ERR_VCPU_RUNTIME_FAILURE;
	}
}

/* Enters LC_STOPPING: the VM will end with `error` (the pending Create/Run get
 * it); the caller has recorded the reason. */
static void begin_stop(struct lifecycle *lc, struct lifecycle_decision *d, int error,
		       uint64_t now_ns)
{
	if (lc->state == LC_RUNNING)
		lc->run_end_ns = now_ns;
	lc->state = LC_STOPPING;
	lc->end_error = error;
	d->actions |= LC_ACT_STOP_ALL;
}

/* Every child is gone: release, answer everyone waiting, back to no VM. The
 * replies go out only now so that a client that saw its Run or Stop answered
 * can Create at once. */
static void finish(struct lifecycle *lc, struct lifecycle_decision *d, uint64_t now_ns)
{
	if (lc->state == LC_RUNNING)
		lc->run_end_ns = now_ns;
	d->actions |= LC_ACT_RELEASE;
	if (lc->create_pending) {
		/* Never created: no Bind was accepted. */
		d->actions |= LC_ACT_REPLY_CREATE;
		d->create_error = lc->end_error;
	} else {
		/* Fuchsia: the Guest channel's epitaph is ok for an expected end
		 * (guest exit or Stop), internal for anything else. */
		d->actions |= LC_ACT_CLOSE_GUESTS;
		d->guests_clean = lc->end_error == LC_OK ||
				  lc->end_error == LC_ERR_CONTROLLER_FORCED_HALT;
	}
	if (lc->run_pending) {
		d->actions |= LC_ACT_REPLY_RUN;
		d->run_error = lc->end_error;
	}
	if (lc->stops_pending)
		d->actions |= LC_ACT_REPLY_STOPS;
	lc->create_pending = false;
	lc->run_pending = false;
	lc->stops_pending = 0;
	lc->state = LC_NOT_CREATED;
}

static void on_create(struct lifecycle *lc, struct lifecycle_decision *d)
{
	if (lc->state != LC_NOT_CREATED) {
		/* A VM exists until its last child has exited, even while stopping. */
		d->reply = LC_REPLY_ERROR;
		d->error = LC_ERR_ALREADY_RUNNING;
		return;
	}
	lc->state = LC_CREATING;
	lc->create_pending = true;
	lc->ran = false;
	lc->end_error = LC_OK;
	d->reply = LC_REPLY_LATER;
	d->actions |= LC_ACT_START;
}

static void on_create_done(struct lifecycle *lc, struct lifecycle_decision *d,
			   const struct lifecycle_event *ev, uint64_t now_ns)
{
	if (lc->state != LC_CREATING) {
		/* Stop or a child's death got there first (LC_STOPPING), or a
		 * report with no Create behind it. */
		d->ignored = true;
		return;
	}
	if (ev->error == LC_OK) {
		lc->state = LC_CREATED;
		lc->create_pending = false;
		d->actions |= LC_ACT_REPLY_CREATE;
		d->create_error = LC_OK;
		return;
	}
	int err = ev->error;
	if (err < 1 || err > LC_ERR_MAX)
		err = LC_ERR_INTERNAL_ERROR;
	/* The detail says what failed; the code is reported next to it. */
	if (ev->detail && *ev->detail)
		set_last(lc, err, "%s", ev->detail);
	else
		set_last(lc, err, "Create failed with %s", lifecycle_error_name(err));
	/* Whatever was started must exit before Create answers: the reply
	 * promises the next Create finds nothing left over. */
	begin_stop(lc, d, err, now_ns);
}

static void on_bind(struct lifecycle *lc, struct lifecycle_decision *d)
{
	if (lc->state == LC_CREATED || lc->state == LC_RUNNING)
		d->actions |= LC_ACT_ACCEPT_BIND;
	else
		d->actions |= LC_ACT_CLOSE_BIND;
}

static void on_run(struct lifecycle *lc, struct lifecycle_decision *d, uint64_t now_ns)
{
	switch (lc->state) {
	case LC_CREATED:
		lc->state = LC_RUNNING;
		lc->run_pending = true;
		lc->ran = true;
		lc->run_start_ns = now_ns;
		d->reply = LC_REPLY_LATER;
		d->actions |= LC_ACT_RUN_VCPUS;
		return;
	case LC_RUNNING:
		d->reply = LC_REPLY_ERROR;
		d->error = LC_ERR_ALREADY_RUNNING;
		return;
	default:
		/* No VM that can run: none yet, Create not answered yet, or the
		 * VM is going away. */
		d->reply = LC_REPLY_ERROR;
		d->error = LC_ERR_NOT_CREATED;
		return;
	}
}

static void on_stop(struct lifecycle *lc, struct lifecycle_decision *d, uint64_t now_ns)
{
	switch (lc->state) {
	case LC_NOT_CREATED:
		d->reply = LC_REPLY_OK;
		return;
	case LC_STOPPING:
		/* Already ending for another reason or an earlier Stop: that
		 * reason stays; this caller waits for the same moment. */
		lc->stops_pending++;
		d->reply = LC_REPLY_LATER;
		return;
	default:
		set_last(lc, LC_ERR_CONTROLLER_FORCED_HALT, "stopped by Stop%s",
			 lc->state == LC_CREATING ? " during Create" : "");
		lc->stops_pending++;
		d->reply = LC_REPLY_LATER;
		begin_stop(lc, d, LC_ERR_CONTROLLER_FORCED_HALT, now_ns);
		return;
	}
}

static void on_child_exited(struct lifecycle *lc, struct lifecycle_decision *d,
			    const struct lifecycle_exit *x, uint64_t now_ns)
{
	int err;
	switch (lc->state) {
	case LC_CREATING:
		err = create_exit_error(x->kind);
		break;
	case LC_CREATED:
	case LC_RUNNING:
		err = run_exit_error(x->kind);
		break;
	default:
		/* LC_STOPPING: children exit because they were told to; the first
		 * reason stays. LC_NOT_CREATED: a late report. */
		d->ignored = true;
		return;
	}
	describe_exit(lc, err, x);
	begin_stop(lc, d, err, now_ns);
}

static void on_all_exited(struct lifecycle *lc, struct lifecycle_decision *d, uint64_t now_ns)
{
	switch (lc->state) {
	case LC_NOT_CREATED:
		d->ignored = true;
		return;
	case LC_STOPPING:
		break;
	default:
		/* Every child gone without one exit report: the supervisor broke
		 * its contract. End the VM rather than wait forever. */
		set_last(lc, LC_ERR_INTERNAL_ERROR, "every child process exited unreported");
		lc->end_error = LC_ERR_INTERNAL_ERROR;
		break;
	}
	finish(lc, d, now_ns);
}

struct lifecycle_decision lifecycle_handle(struct lifecycle *lc, const struct lifecycle_event *ev,
					   uint64_t now_ns)
{
	struct lifecycle_decision d = { .reply = LC_REPLY_NONE };
	switch (ev->type) {
	case LC_EV_CREATE:
		on_create(lc, &d);
		break;
	case LC_EV_CREATE_DONE:
		on_create_done(lc, &d, ev, now_ns);
		break;
	case LC_EV_BIND:
		on_bind(lc, &d);
		break;
	case LC_EV_RUN:
		on_run(lc, &d, now_ns);
		break;
	case LC_EV_STOP:
		on_stop(lc, &d, now_ns);
		break;
	case LC_EV_CHILD_EXITED:
		on_child_exited(lc, &d, &ev->exit, now_ns);
		break;
	case LC_EV_ALL_EXITED:
		on_all_exited(lc, &d, now_ns);
		break;
	default:
		d.ignored = true;
		break;
	}
	return d;
}

int lifecycle_device_call(enum lifecycle_state state)
{
	return state == LC_CREATED || state == LC_RUNNING ? LC_OK : LC_ERR_NOT_CREATED;
}

void lifecycle_status(const struct lifecycle *lc, uint64_t now_ns, struct lifecycle_status *out)
{
	out->state = lc->state;
	out->uptime_ns = 0;
	if (lc->state == LC_RUNNING && now_ns > lc->run_start_ns)
		out->uptime_ns = now_ns - lc->run_start_ns;
	else if (lc->state == LC_STOPPING && lc->ran && lc->run_end_ns > lc->run_start_ns)
		out->uptime_ns = lc->run_end_ns - lc->run_start_ns;
	out->have_last = lc->have_last;
	out->last_error = lc->have_last ? lc->last_error : LC_OK;
	out->last_reason = lc->have_last ? lc->last_reason : "";
}
