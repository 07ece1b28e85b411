/* The rules of cause.h; tests/unit/test_cause.c has a row for each. */
#include "cause.h"

#include <signal.h>
#include <string.h>

#include "exit_status.h"

static enum lifecycle_exit_kind worker_kind(int status)
{
	switch (status) {
	case VCPU_EXIT_POWEROFF: return LC_EXIT_POWEROFF;
	case VCPU_EXIT_REBOOT: return LC_EXIT_REBOOT;
	case VCPU_EXIT_STOPPED: return LC_EXIT_STOPPED;
	case VCPU_EXIT_KERNEL_LOAD: return LC_EXIT_KERNEL_LOAD;
	case VCPU_EXIT_START: return LC_EXIT_START_FAILURE;
	case VCPU_EXIT_RUNTIME: return LC_EXIT_RUNTIME_FAILURE;
	case VCPU_EXIT_DEVICE: return LC_EXIT_BACKEND_LOST;
	default: return LC_EXIT_ERROR;
	}
}

static bool has(const char *s)
{
	return s && s[0];
}

static bool is_worker(const struct vm_child *c)
{
	return strcmp(c->name, VM_WORKER_NAME) == 0;
}

struct lifecycle_exit cause_exit(const struct vm_child *c, const struct cause_worker *w)
{
	struct lifecycle_exit x = { .who = c->name };
	/* The sandbox's report names the syscall: better than any other word. */
	bool sigsys = c->end.signaled && c->end.status == SIGSYS && has(c->log.seccomp);
	if (!is_worker(c)) {
		x.kind = LC_EXIT_DEVICE_DIED;
		x.status = c->end.signaled ? 0 : c->end.status;
		x.signo = c->end.signaled ? c->end.status : 0;
		if (sigsys)
			x.detail = c->log.seccomp;
		else if (c->oom_killed)
			x.detail = CAUSE_OOM_TEXT;
		else if (c->killed_for)
			x.detail = c->killed_for; /* its own last words came from a hung process */
		else if ((c->end.signaled || c->end.status) && has(c->log.error))
			x.detail = c->log.error; /* a clean exit's old error line explains nothing */
		return x;
	}
	if (sigsys)
		x.detail = c->log.seccomp;
	else if (c->oom_killed)
		x.detail = CAUSE_OOM_TEXT; /* whatever else it or the controller said */
	else if (w->kill_reason)
		x.detail = w->kill_reason; /* it was killed for this, whatever it said */
	else if (w->said_exit && has(w->exit_text))
		x.detail = w->exit_text;
	if (c->end.signaled) {
		x.kind = LC_EXIT_SIGNALED;
		x.signo = c->end.status;
	} else {
		x.kind = worker_kind(c->end.status);
		x.status = c->end.status;
	}
	return x;
}

struct cause cause_decide(const struct vm_child *c, const struct cause_worker *w, bool stopping)
{
	struct cause k = { .verdict = CAUSE_REPORT };
	/* The worker's end is its own; so is every end once the VM stops, and
	 * a device's once its worker is gone (or was never started). A device
	 * killed by a signal (SIGSYS, say) is its own cause too: no worker
	 * causes that, and a worker that saw its backend go is the effect. */
	if (stopping || is_worker(c) || !w->alive || c->end.signaled) {
		k.exit = cause_exit(c, w);
		return k;
	}
	/* A device whose frontend went away exits by itself, maybe before the
	 * worker's end is seen: a worker that said EXIT is the cause. */
	if (w->said_exit) {
		struct vm_child as_said = { .name = VM_WORKER_NAME,
					    .end = { .status = w->exit_status } };
		k.exit = cause_exit(&as_said, w);
		k.exit.who = VM_WORKER_NAME; /* not as_said's, which ends here */
		return k;
	}
	/* A worker that died without a word (a crash) closes its devices'
	 * connections as it goes: its own end is likely to follow. */
	k.verdict = CAUSE_WAIT;
	return k;
}
