/* The lifecycle state machine: every event in every state (one table, the
 * same as docs/rpc.md's), then the sequences the RPC promises. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "lifecycle.h"

/* ---------------------------------------------------------------- helpers */

static struct lifecycle_decision feed(struct lifecycle *lc, enum lifecycle_event_type t,
				      uint64_t now)
{
	struct lifecycle_event ev = { .type = t };
	return lifecycle_handle(lc, &ev, now);
}

static struct lifecycle_decision create_done(struct lifecycle *lc, int error, const char *detail,
					     uint64_t now)
{
	struct lifecycle_event ev = { .type = LC_EV_CREATE_DONE, .error = error, .detail = detail };
	return lifecycle_handle(lc, &ev, now);
}

static struct lifecycle_decision child_exit(struct lifecycle *lc, struct lifecycle_exit x,
					    uint64_t now)
{
	struct lifecycle_event ev = { .type = LC_EV_CHILD_EXITED, .exit = x };
	return lifecycle_handle(lc, &ev, now);
}

static void expect_decision(struct lifecycle_decision d, enum lifecycle_reply reply, int error,
			    unsigned actions, const char *what)
{
	cr_expect_eq(d.reply, reply, "%s: reply %d, want %d", what, d.reply, reply);
	if (reply == LC_REPLY_ERROR)
		cr_expect_eq(d.error, error, "%s: error %s, want %s", what,
			     lifecycle_error_name(d.error), lifecycle_error_name(error));
	cr_expect_eq(d.actions, actions, "%s: actions %#x, want %#x", what, d.actions, actions);
}

static const char *state(const struct lifecycle *lc)
{
	struct lifecycle_status st;
	lifecycle_status(lc, 0, &st);
	return lifecycle_state_name(st.state);
}

/* Puts a fresh machine in `s` the ordinary way; LC_STOPPING is a running VM
 * that got Stop (Run and one Stop pending, ending CONTROLLER_FORCED_HALT). */
static void enter(struct lifecycle *lc, enum lifecycle_state s)
{
	lifecycle_init(lc);
	if (s == LC_NOT_CREATED)
		return;
	feed(lc, LC_EV_CREATE, 10);
	if (s == LC_CREATING)
		return;
	create_done(lc, LC_OK, NULL, 20);
	if (s == LC_CREATED)
		return;
	feed(lc, LC_EV_RUN, 30);
	if (s == LC_RUNNING)
		return;
	feed(lc, LC_EV_STOP, 40);
	cr_assert_eq(lc->state, LC_STOPPING);
}

/* ------------------------------------------------------- the full table */

/* The events of the table: requests, reports, and each exit kind. */
enum ev {
	E_CREATE,
	E_DONE_OK,
	E_DONE_ERR, /* create task failed with KERNEL_LOAD_FAILURE */
	E_BIND,
	E_RUN,
	E_STOP,
	E_ALL,
	E_POWEROFF,
	E_REBOOT,
	E_STOPPED,
	E_KLOAD,
	E_START,
	E_RUNTIME,
	E_BACKEND,
	E_ERROR,
	E_SIGNALED,
	E_DEVDIED,
	E_COUNT
};

static const char *const ev_names[E_COUNT] = {
	"Create",	"CreateDone(ok)", "CreateDone(KERNEL_LOAD_FAILURE)",
	"Bind",		"Run",		  "Stop",
	"AllExited",	"exit(poweroff)", "exit(reboot)",
	"exit(stopped)", "exit(kernel load)", "exit(start failure)",
	"exit(runtime failure)", "exit(device setup)", "exit(status 1)",
	"exit(SIGKILL)", "exit(device blk0 SIGSYS)",
};

static struct lifecycle_decision fire(struct lifecycle *lc, enum ev e, uint64_t now)
{
	static const enum lifecycle_exit_kind kinds[] = {
		[E_POWEROFF] = LC_EXIT_POWEROFF,	[E_REBOOT] = LC_EXIT_REBOOT,
		[E_STOPPED] = LC_EXIT_STOPPED,		[E_KLOAD] = LC_EXIT_KERNEL_LOAD,
		[E_START] = LC_EXIT_START_FAILURE,	[E_RUNTIME] = LC_EXIT_RUNTIME_FAILURE,
		[E_BACKEND] = LC_EXIT_BACKEND_LOST,	[E_ERROR] = LC_EXIT_ERROR,
		[E_SIGNALED] = LC_EXIT_SIGNALED,	[E_DEVDIED] = LC_EXIT_DEVICE_DIED,
	};
	switch (e) {
	case E_CREATE:
		return feed(lc, LC_EV_CREATE, now);
	case E_DONE_OK:
		return create_done(lc, LC_OK, NULL, now);
	case E_DONE_ERR:
		return create_done(lc, LC_ERR_KERNEL_LOAD_FAILURE, "vmlinuz: not a bzImage", now);
	case E_BIND:
		return feed(lc, LC_EV_BIND, now);
	case E_RUN:
		return feed(lc, LC_EV_RUN, now);
	case E_STOP:
		return feed(lc, LC_EV_STOP, now);
	case E_ALL:
		return feed(lc, LC_EV_ALL_EXITED, now);
	default: {
		struct lifecycle_exit x = { .kind = kinds[e], .detail = "why" };
		if (e == E_ERROR)
			x.status = 1;
		if (e == E_SIGNALED)
			x.signo = SIGKILL;
		if (e == E_DEVDIED) {
			x.who = "blk0";
			x.signo = SIGSYS;
		}
		return child_exit(lc, x, now);
	}
	}
}

enum { NONE = LC_REPLY_NONE, OK = LC_REPLY_OK, ERR = LC_REPLY_ERROR, LATER = LC_REPLY_LATER };
#define START LC_ACT_START
#define RUNV LC_ACT_RUN_VCPUS
#define STOPALL LC_ACT_STOP_ALL
#define REL LC_ACT_RELEASE
#define ACCEPT LC_ACT_ACCEPT_BIND
#define CLOSEB LC_ACT_CLOSE_BIND
#define CLOSEG LC_ACT_CLOSE_GUESTS
#define RCREATE LC_ACT_REPLY_CREATE
#define RRUN LC_ACT_REPLY_RUN
#define RSTOPS LC_ACT_REPLY_STOPS
#define NOLAST (-1)

/* G = GuestError shorthand */
#define G(x) LC_ERR_##x

struct row {
	enum lifecycle_state from;
	enum ev ev;
	int reply, error;
	unsigned actions;
	int create_error, run_error; /* when RCREATE / RRUN are in actions */
	bool clean;                  /* when CLOSEG is in actions */
	bool ignored;
	enum lifecycle_state to;
	int last; /* Status's last_error after the event, NOLAST = none yet */
	/* When `to` is LC_STOPPING: what LC_EV_ALL_EXITED then decides. */
	unsigned fin_actions;
	int fin_create, fin_run;
	bool fin_clean;
};

/* Readable row builders. */
#define STAY(st, e, rep, er, act, ign, last_) \
	{ .from = st, .ev = e, .reply = rep, .error = er, .actions = act, .ignored = ign, .to = st, .last = last_ }
#define IGN(st, e, last_) STAY(st, e, NONE, 0, 0, true, last_)

static const struct row table[] = {
	/* ------------------------------------------------ NOT_CREATED */
	{ LC_NOT_CREATED, E_CREATE, LATER, 0, START, .to = LC_CREATING, .last = NOLAST },
	IGN(LC_NOT_CREATED, E_DONE_OK, NOLAST),
	IGN(LC_NOT_CREATED, E_DONE_ERR, NOLAST),
	STAY(LC_NOT_CREATED, E_BIND, NONE, 0, CLOSEB, false, NOLAST),
	STAY(LC_NOT_CREATED, E_RUN, ERR, G(NOT_CREATED), 0, false, NOLAST),
	STAY(LC_NOT_CREATED, E_STOP, OK, 0, 0, false, NOLAST),
	IGN(LC_NOT_CREATED, E_ALL, NOLAST),
	IGN(LC_NOT_CREATED, E_POWEROFF, NOLAST),
	IGN(LC_NOT_CREATED, E_REBOOT, NOLAST),
	IGN(LC_NOT_CREATED, E_STOPPED, NOLAST),
	IGN(LC_NOT_CREATED, E_KLOAD, NOLAST),
	IGN(LC_NOT_CREATED, E_START, NOLAST),
	IGN(LC_NOT_CREATED, E_RUNTIME, NOLAST),
	IGN(LC_NOT_CREATED, E_BACKEND, NOLAST),
	IGN(LC_NOT_CREATED, E_ERROR, NOLAST),
	IGN(LC_NOT_CREATED, E_SIGNALED, NOLAST),
	IGN(LC_NOT_CREATED, E_DEVDIED, NOLAST),

	/* ------------------------------------------------ CREATING */
	STAY(LC_CREATING, E_CREATE, ERR, G(ALREADY_RUNNING), 0, false, NOLAST),
	{ LC_CREATING, E_DONE_OK, NONE, 0, RCREATE, .create_error = 0, .to = LC_CREATED,
	  .last = NOLAST },
	{ LC_CREATING, E_DONE_ERR, NONE, 0, STOPALL, .to = LC_STOPPING, .last = G(KERNEL_LOAD_FAILURE),
	  .fin_actions = REL | RCREATE, .fin_create = G(KERNEL_LOAD_FAILURE) },
	STAY(LC_CREATING, E_BIND, NONE, 0, CLOSEB, false, NOLAST),
	STAY(LC_CREATING, E_RUN, ERR, G(NOT_CREATED), 0, false, NOLAST),
	{ LC_CREATING, E_STOP, LATER, 0, STOPALL, .to = LC_STOPPING, .last = G(CONTROLLER_FORCED_HALT),
	  .fin_actions = REL | RCREATE | RSTOPS, .fin_create = G(CONTROLLER_FORCED_HALT) },
	{ LC_CREATING, E_ALL, NONE, 0, REL | RCREATE, .create_error = G(INTERNAL_ERROR),
	  .to = LC_NOT_CREATED, .last = G(INTERNAL_ERROR) },
#define CREATING_EXIT(e, code)                                                               \
	{ LC_CREATING, e, NONE, 0, STOPALL, .to = LC_STOPPING, .last = code,                  \
	  .fin_actions = REL | RCREATE, .fin_create = code }
	CREATING_EXIT(E_POWEROFF, G(GUEST_INITIALIZATION_FAILURE)),
	CREATING_EXIT(E_REBOOT, G(GUEST_INITIALIZATION_FAILURE)),
	CREATING_EXIT(E_STOPPED, G(GUEST_INITIALIZATION_FAILURE)),
	CREATING_EXIT(E_KLOAD, G(KERNEL_LOAD_FAILURE)),
	CREATING_EXIT(E_START, G(GUEST_INITIALIZATION_FAILURE)),
	CREATING_EXIT(E_RUNTIME, G(GUEST_INITIALIZATION_FAILURE)),
	CREATING_EXIT(E_BACKEND, G(DEVICE_INITIALIZATION_FAILURE)),
	CREATING_EXIT(E_ERROR, G(GUEST_INITIALIZATION_FAILURE)),
	CREATING_EXIT(E_SIGNALED, G(GUEST_INITIALIZATION_FAILURE)),
	CREATING_EXIT(E_DEVDIED, G(DEVICE_START_FAILURE)),

	/* ------------------------------------------------ CREATED */
	STAY(LC_CREATED, E_CREATE, ERR, G(ALREADY_RUNNING), 0, false, NOLAST),
	IGN(LC_CREATED, E_DONE_OK, NOLAST),
	IGN(LC_CREATED, E_DONE_ERR, NOLAST),
	STAY(LC_CREATED, E_BIND, NONE, 0, ACCEPT, false, NOLAST),
	{ LC_CREATED, E_RUN, LATER, 0, RUNV, .to = LC_RUNNING, .last = NOLAST },
	{ LC_CREATED, E_STOP, LATER, 0, STOPALL, .to = LC_STOPPING, .last = G(CONTROLLER_FORCED_HALT),
	  .fin_actions = REL | CLOSEG | RSTOPS, .fin_clean = true },
	{ LC_CREATED, E_ALL, NONE, 0, REL | CLOSEG, .clean = false, .to = LC_NOT_CREATED,
	  .last = G(INTERNAL_ERROR) },
#define CREATED_EXIT(e, code, clean_)                                                        \
	{ LC_CREATED, e, NONE, 0, STOPALL, .to = LC_STOPPING, .last = code,                   \
	  .fin_actions = REL | CLOSEG, .fin_clean = clean_ }
	CREATED_EXIT(E_POWEROFF, LC_OK, true),
	CREATED_EXIT(E_REBOOT, LC_OK, true),
	CREATED_EXIT(E_STOPPED, G(VCPU_RUNTIME_FAILURE), false),
	CREATED_EXIT(E_KLOAD, G(VCPU_RUNTIME_FAILURE), false),
	CREATED_EXIT(E_START, G(VCPU_START_FAILURE), false),
	CREATED_EXIT(E_RUNTIME, G(VCPU_RUNTIME_FAILURE), false),
	CREATED_EXIT(E_BACKEND, G(VCPU_RUNTIME_FAILURE), false),
	CREATED_EXIT(E_ERROR, G(VCPU_RUNTIME_FAILURE), false),
	CREATED_EXIT(E_SIGNALED, G(VCPU_RUNTIME_FAILURE), false),
	CREATED_EXIT(E_DEVDIED, G(VCPU_RUNTIME_FAILURE), false),

	/* ------------------------------------------------ RUNNING */
	STAY(LC_RUNNING, E_CREATE, ERR, G(ALREADY_RUNNING), 0, false, NOLAST),
	IGN(LC_RUNNING, E_DONE_OK, NOLAST),
	IGN(LC_RUNNING, E_DONE_ERR, NOLAST),
	STAY(LC_RUNNING, E_BIND, NONE, 0, ACCEPT, false, NOLAST),
	STAY(LC_RUNNING, E_RUN, ERR, G(ALREADY_RUNNING), 0, false, NOLAST),
	{ LC_RUNNING, E_STOP, LATER, 0, STOPALL, .to = LC_STOPPING, .last = G(CONTROLLER_FORCED_HALT),
	  .fin_actions = REL | CLOSEG | RRUN | RSTOPS, .fin_run = G(CONTROLLER_FORCED_HALT),
	  .fin_clean = true },
	{ LC_RUNNING, E_ALL, NONE, 0, REL | CLOSEG | RRUN, .run_error = G(INTERNAL_ERROR),
	  .clean = false, .to = LC_NOT_CREATED, .last = G(INTERNAL_ERROR) },
#define RUNNING_EXIT(e, code, clean_)                                                        \
	{ LC_RUNNING, e, NONE, 0, STOPALL, .to = LC_STOPPING, .last = code,                   \
	  .fin_actions = REL | CLOSEG | RRUN, .fin_run = code, .fin_clean = clean_ }
	RUNNING_EXIT(E_POWEROFF, LC_OK, true),
	RUNNING_EXIT(E_REBOOT, LC_OK, true),
	RUNNING_EXIT(E_STOPPED, G(VCPU_RUNTIME_FAILURE), false),
	RUNNING_EXIT(E_KLOAD, G(VCPU_RUNTIME_FAILURE), false),
	RUNNING_EXIT(E_START, G(VCPU_START_FAILURE), false),
	RUNNING_EXIT(E_RUNTIME, G(VCPU_RUNTIME_FAILURE), false),
	RUNNING_EXIT(E_BACKEND, G(VCPU_RUNTIME_FAILURE), false),
	RUNNING_EXIT(E_ERROR, G(VCPU_RUNTIME_FAILURE), false),
	RUNNING_EXIT(E_SIGNALED, G(VCPU_RUNTIME_FAILURE), false),
	RUNNING_EXIT(E_DEVDIED, G(VCPU_RUNTIME_FAILURE), false),

	/* ------------------------------------------------ STOPPING (Run + 1 Stop pending) */
#define STOPPING_FIN                                                                          \
	.fin_actions = REL | CLOSEG | RRUN | RSTOPS, .fin_run = G(CONTROLLER_FORCED_HALT),     \
	.fin_clean = true
#define STOPPING_SAME(e, rep, er, act, ign)                                                   \
	{ LC_STOPPING, e, rep, er, act, .ignored = ign, .to = LC_STOPPING,                    \
	  .last = G(CONTROLLER_FORCED_HALT), STOPPING_FIN }
	STOPPING_SAME(E_CREATE, ERR, G(ALREADY_RUNNING), 0, false),
	STOPPING_SAME(E_DONE_OK, NONE, 0, 0, true),
	STOPPING_SAME(E_DONE_ERR, NONE, 0, 0, true),
	STOPPING_SAME(E_BIND, NONE, 0, CLOSEB, false),
	STOPPING_SAME(E_RUN, ERR, G(NOT_CREATED), 0, false),
	STOPPING_SAME(E_STOP, LATER, 0, 0, false),
	{ LC_STOPPING, E_ALL, NONE, 0, REL | CLOSEG | RRUN | RSTOPS,
	  .run_error = G(CONTROLLER_FORCED_HALT), .clean = true, .to = LC_NOT_CREATED,
	  .last = G(CONTROLLER_FORCED_HALT) },
	/* The first reason stays: children exiting on STOP_ALL change nothing. */
	STOPPING_SAME(E_POWEROFF, NONE, 0, 0, true),
	STOPPING_SAME(E_REBOOT, NONE, 0, 0, true),
	STOPPING_SAME(E_STOPPED, NONE, 0, 0, true),
	STOPPING_SAME(E_KLOAD, NONE, 0, 0, true),
	STOPPING_SAME(E_START, NONE, 0, 0, true),
	STOPPING_SAME(E_RUNTIME, NONE, 0, 0, true),
	STOPPING_SAME(E_BACKEND, NONE, 0, 0, true),
	STOPPING_SAME(E_ERROR, NONE, 0, 0, true),
	STOPPING_SAME(E_SIGNALED, NONE, 0, 0, true),
	STOPPING_SAME(E_DEVDIED, NONE, 0, 0, true),
};

#define NROWS (sizeof(table) / sizeof(table[0]))

Test(lifecycle, table_covers_every_event_in_every_state_once)
{
	int seen[LC_STATE_COUNT][E_COUNT] = { { 0 } };
	for (size_t i = 0; i < NROWS; i++)
		seen[table[i].from][table[i].ev]++;
	for (int s = 0; s < LC_STATE_COUNT; s++)
		for (int e = 0; e < E_COUNT; e++)
			cr_expect_eq(seen[s][e], 1, "%s x %s: %d rows",
				     lifecycle_state_name((enum lifecycle_state)s), ev_names[e],
				     seen[s][e]);
	cr_expect_eq(NROWS, (size_t)LC_STATE_COUNT * E_COUNT);
}

Test(lifecycle, every_event_in_every_state)
{
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &table[i];
		char what[96];
		snprintf(what, sizeof(what), "%s x %s", lifecycle_state_name(r->from),
			 ev_names[r->ev]);
		struct lifecycle lc;
		enter(&lc, r->from);
		struct lifecycle before = lc;

		struct lifecycle_decision d = fire(&lc, r->ev, 1000);
		expect_decision(d, (enum lifecycle_reply)r->reply, r->error, r->actions, what);
		cr_expect_eq(d.ignored, r->ignored, "%s: ignored %d", what, d.ignored);
		if (r->actions & RCREATE)
			cr_expect_eq(d.create_error, r->create_error, "%s: create_error %s", what,
				     lifecycle_error_name(d.create_error));
		if (r->actions & RRUN)
			cr_expect_eq(d.run_error, r->run_error, "%s: run_error %s", what,
				     lifecycle_error_name(d.run_error));
		if (r->actions & CLOSEG)
			cr_expect_eq(d.guests_clean, r->clean, "%s: guests_clean", what);
		cr_expect_str_eq(state(&lc), lifecycle_state_name(r->to), "%s: now %s", what,
				 state(&lc));

		struct lifecycle_status st;
		lifecycle_status(&lc, 1000, &st);
		if (r->last == NOLAST) {
			cr_expect(!st.have_last, "%s: no last error yet", what);
		} else {
			cr_expect(st.have_last, "%s: a last error", what);
			cr_expect_eq(st.last_error, r->last, "%s: last error %s, want %s", what,
				     lifecycle_error_name(st.last_error),
				     lifecycle_error_name(r->last));
			cr_expect_neq(st.last_reason[0], '\0', "%s: a reason", what);
		}

		/* A refused request, a Bind, a Stop with nothing to stop and an
		 * ignored report leave the machine exactly as it was. */
		bool unchanged = r->ignored || r->reply == ERR || r->reply == OK || r->ev == E_BIND;
		if (unchanged)
			cr_expect(memcmp(&before, &lc, sizeof(lc)) == 0, "%s: machine changed",
				  what);

		if (r->to == LC_STOPPING) {
			struct lifecycle_decision f = feed(&lc, LC_EV_ALL_EXITED, 2000);
			char fwhat[128];
			snprintf(fwhat, sizeof(fwhat), "%s, then AllExited", what);
			expect_decision(f, LC_REPLY_NONE, 0, r->fin_actions, fwhat);
			cr_expect(!f.ignored, "%s", fwhat);
			if (r->fin_actions & RCREATE)
				cr_expect_eq(f.create_error, r->fin_create, "%s: create_error %s",
					     fwhat, lifecycle_error_name(f.create_error));
			if (r->fin_actions & RRUN)
				cr_expect_eq(f.run_error, r->fin_run, "%s: run_error %s", fwhat,
					     lifecycle_error_name(f.run_error));
			if (r->fin_actions & CLOSEG)
				cr_expect_eq(f.guests_clean, r->fin_clean, "%s: guests_clean",
					     fwhat);
			cr_expect_str_eq(state(&lc), "NOT_CREATED", "%s", fwhat);
			/* ... and the next VM can be made at once. */
			cr_expect_eq(feed(&lc, LC_EV_CREATE, 3000).reply, LC_REPLY_LATER, "%s",
				     fwhat);
		}
	}
}

/* ------------------------------------------------------------ sequences */

Test(lifecycle, create_run_poweroff_then_create_run_again)
{
	struct lifecycle lc;
	lifecycle_init(&lc);
	for (int round = 0; round < 3; round++) {
		expect_decision(feed(&lc, LC_EV_CREATE, 100), LC_REPLY_LATER, 0, LC_ACT_START,
				"Create");
		struct lifecycle_decision d = create_done(&lc, LC_OK, NULL, 200);
		expect_decision(d, LC_REPLY_NONE, 0, LC_ACT_REPLY_CREATE, "CreateDone");
		cr_expect_eq(d.create_error, LC_OK);
		expect_decision(feed(&lc, LC_EV_BIND, 250), LC_REPLY_NONE, 0, LC_ACT_ACCEPT_BIND,
				"Bind");
		expect_decision(feed(&lc, LC_EV_RUN, 300), LC_REPLY_LATER, 0, LC_ACT_RUN_VCPUS,
				"Run");

		/* Round 1 reboots: also a clean end of the VM. */
		struct lifecycle_exit x = { .kind = round == 1 ? LC_EXIT_REBOOT : LC_EXIT_POWEROFF };
		d = child_exit(&lc, x, 900);
		/* Run is not answered yet: the devices still run. */
		expect_decision(d, LC_REPLY_NONE, 0, LC_ACT_STOP_ALL, "guest exit");
		cr_expect_str_eq(state(&lc), "STOPPING");
		expect_decision(feed(&lc, LC_EV_CREATE, 950), LC_REPLY_ERROR,
				LC_ERR_ALREADY_RUNNING, 0, "Create while stopping");
		/* A device exiting on STOP_ALL does not turn the clean end bad. */
		struct lifecycle_exit dev = { .kind = LC_EXIT_DEVICE_DIED, .who = "rng0",
					      .signo = SIGTERM };
		cr_expect(child_exit(&lc, dev, 960).ignored);

		d = feed(&lc, LC_EV_ALL_EXITED, 1000);
		expect_decision(d, LC_REPLY_NONE, 0,
				LC_ACT_RELEASE | LC_ACT_CLOSE_GUESTS | LC_ACT_REPLY_RUN,
				"AllExited");
		cr_expect_eq(d.run_error, LC_OK, "Run succeeds on a clean guest exit");
		cr_expect(d.guests_clean);

		struct lifecycle_status st;
		lifecycle_status(&lc, 1000, &st);
		cr_expect_eq(st.state, LC_NOT_CREATED);
		cr_expect_eq(st.last_error, LC_OK);
		cr_expect_str_eq(st.last_reason, round == 1 ? "guest rebooted" : "guest powered off");
	}
}

Test(lifecycle, stop_running_vm_forced_halt_after_children_exit)
{
	struct lifecycle lc;
	lifecycle_init(&lc);
	feed(&lc, LC_EV_CREATE, 0);
	create_done(&lc, LC_OK, NULL, 500);
	feed(&lc, LC_EV_RUN, 1000);

	struct lifecycle_status st;
	lifecycle_status(&lc, 3500, &st);
	cr_expect_eq(st.uptime_ns, 2500, "uptime counts while running");

	struct lifecycle_decision d = feed(&lc, LC_EV_STOP, 5000);
	/* Stop waits; nobody is answered before the children are gone. */
	expect_decision(d, LC_REPLY_LATER, 0, LC_ACT_STOP_ALL, "Stop");
	lifecycle_status(&lc, 9000, &st);
	cr_expect_eq(st.state, LC_STOPPING);
	cr_expect_eq(st.uptime_ns, 4000, "uptime frozen when the VM stops running");
	cr_expect_eq(st.last_error, LC_ERR_CONTROLLER_FORCED_HALT);

	/* The worker exits as told, a device is killed late: no reply yet. */
	struct lifecycle_exit w = { .kind = LC_EXIT_STOPPED };
	d = child_exit(&lc, w, 5100);
	cr_expect(d.ignored);
	cr_expect_eq(d.actions, 0u);
	struct lifecycle_exit dev = { .kind = LC_EXIT_DEVICE_DIED, .who = "blk0", .signo = SIGKILL };
	cr_expect_eq(child_exit(&lc, dev, 6000).actions, 0u);
	/* A second Stop waits for the same moment. */
	expect_decision(feed(&lc, LC_EV_STOP, 6100), LC_REPLY_LATER, 0, 0, "second Stop");
	cr_expect_eq(lc.stops_pending, 2u);

	d = feed(&lc, LC_EV_ALL_EXITED, 7000);
	expect_decision(d, LC_REPLY_NONE, 0,
			LC_ACT_RELEASE | LC_ACT_CLOSE_GUESTS | LC_ACT_REPLY_RUN | LC_ACT_REPLY_STOPS,
			"AllExited");
	cr_expect_eq(d.run_error, LC_ERR_CONTROLLER_FORCED_HALT);
	cr_expect(d.guests_clean, "a Stop is an expected end");
	cr_expect_eq(lc.stops_pending, 0u);

	lifecycle_status(&lc, 8000, &st);
	cr_expect_eq(st.state, LC_NOT_CREATED);
	cr_expect_eq(st.uptime_ns, 0u);
	cr_expect_eq(st.last_error, LC_ERR_CONTROLLER_FORCED_HALT);
	cr_expect_str_eq(st.last_reason, "stopped by Stop");

	/* Create and Run work again. */
	expect_decision(feed(&lc, LC_EV_CREATE, 9000), LC_REPLY_LATER, 0, LC_ACT_START, "Create");
	create_done(&lc, LC_OK, NULL, 9100);
	expect_decision(feed(&lc, LC_EV_RUN, 9200), LC_REPLY_LATER, 0, LC_ACT_RUN_VCPUS, "Run");
	/* A later Stop with nothing pending on it any more is answered at once. */
	d = feed(&lc, LC_EV_STOP, 9300);
	feed(&lc, LC_EV_ALL_EXITED, 9400);
	expect_decision(feed(&lc, LC_EV_STOP, 9500), LC_REPLY_OK, 0, 0, "Stop without a VM");
}

Test(lifecycle, device_death_mid_run_fails_run)
{
	struct lifecycle lc;
	lifecycle_init(&lc);
	feed(&lc, LC_EV_CREATE, 0);
	create_done(&lc, LC_OK, NULL, 0);
	feed(&lc, LC_EV_RUN, 100);

	struct lifecycle_exit dev = { .kind = LC_EXIT_DEVICE_DIED, .who = "blk0", .signo = SIGSYS };
	struct lifecycle_decision d = child_exit(&lc, dev, 700);
	expect_decision(d, LC_REPLY_NONE, 0, LC_ACT_STOP_ALL, "device died");
	struct lifecycle_status st;
	lifecycle_status(&lc, 800, &st);
	cr_expect_eq(st.state, LC_STOPPING);
	cr_expect_eq(st.last_error, LC_ERR_VCPU_RUNTIME_FAILURE);
	cr_expect_str_eq(st.last_reason, "device process blk0 killed by signal 31 (SIGSYS)");
	cr_expect_eq(st.uptime_ns, 600);

	/* The VM is ending: Bind is refused, a Stop waits, the cause stays. */
	expect_decision(feed(&lc, LC_EV_BIND, 710), LC_REPLY_NONE, 0, LC_ACT_CLOSE_BIND, "Bind");
	expect_decision(feed(&lc, LC_EV_STOP, 720), LC_REPLY_LATER, 0, 0, "Stop");
	struct lifecycle_exit w = { .kind = LC_EXIT_STOPPED };
	child_exit(&lc, w, 730);

	d = feed(&lc, LC_EV_ALL_EXITED, 800);
	expect_decision(d, LC_REPLY_NONE, 0,
			LC_ACT_RELEASE | LC_ACT_CLOSE_GUESTS | LC_ACT_REPLY_RUN | LC_ACT_REPLY_STOPS,
			"AllExited");
	cr_expect_eq(d.run_error, LC_ERR_VCPU_RUNTIME_FAILURE);
	cr_expect(!d.guests_clean, "an unexpected end closes Guest channels with internal");
	lifecycle_status(&lc, 900, &st);
	cr_expect_str_eq(st.last_reason, "device process blk0 killed by signal 31 (SIGSYS)");

	/* A device that exits with a status says so. */
	lifecycle_init(&lc);
	feed(&lc, LC_EV_CREATE, 0);
	create_done(&lc, LC_OK, NULL, 0);
	struct lifecycle_exit dev2 = { .kind = LC_EXIT_DEVICE_DIED, .who = "net0", .status = 2,
				       .detail = "tap0: EBUSY" };
	child_exit(&lc, dev2, 10);
	lifecycle_status(&lc, 10, &st);
	cr_expect_str_eq(st.last_reason, "device process net0 exited with status 2: tap0: EBUSY");
}

Test(lifecycle, create_failure_back_to_not_created_error_kept)
{
	struct lifecycle lc;
	lifecycle_init(&lc);
	feed(&lc, LC_EV_CREATE, 0);
	struct lifecycle_decision d =
		create_done(&lc, LC_ERR_DEVICE_START_FAILURE, "blk0: /x.img: No such file", 10);
	/* The devices already started must exit before Create answers. */
	expect_decision(d, LC_REPLY_NONE, 0, LC_ACT_STOP_ALL, "CreateDone(error)");
	expect_decision(feed(&lc, LC_EV_RUN, 15), LC_REPLY_ERROR, LC_ERR_NOT_CREATED, 0, "Run");

	d = feed(&lc, LC_EV_ALL_EXITED, 20);
	expect_decision(d, LC_REPLY_NONE, 0, LC_ACT_RELEASE | LC_ACT_REPLY_CREATE, "AllExited");
	cr_expect_eq(d.create_error, LC_ERR_DEVICE_START_FAILURE);

	struct lifecycle_status st;
	lifecycle_status(&lc, 30, &st);
	cr_expect_eq(st.state, LC_NOT_CREATED);
	cr_expect(st.have_last);
	cr_expect_eq(st.last_error, LC_ERR_DEVICE_START_FAILURE);
	cr_expect_str_eq(st.last_reason,
			 "blk0: /x.img: No such file");
	expect_decision(feed(&lc, LC_EV_RUN, 40), LC_REPLY_ERROR, LC_ERR_NOT_CREATED, 0, "Run");

	/* The error stays for Status while the next VM is built and runs. */
	feed(&lc, LC_EV_CREATE, 50);
	create_done(&lc, LC_OK, NULL, 60);
	feed(&lc, LC_EV_RUN, 70);
	lifecycle_status(&lc, 80, &st);
	cr_expect_eq(st.state, LC_RUNNING);
	cr_expect_eq(st.last_error, LC_ERR_DEVICE_START_FAILURE);
}

Test(lifecycle, create_failure_codes_out_of_range_are_internal)
{
	const int bad[] = { -1, 16, 1000 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lifecycle lc;
		lifecycle_init(&lc);
		feed(&lc, LC_EV_CREATE, 0);
		create_done(&lc, bad[i], NULL, 0);
		struct lifecycle_decision d = feed(&lc, LC_EV_ALL_EXITED, 0);
		cr_expect_eq(d.create_error, LC_ERR_INTERNAL_ERROR, "code %d", bad[i]);
		struct lifecycle_status st;
		lifecycle_status(&lc, 0, &st);
		cr_expect_str_eq(st.last_reason, "Create failed with INTERNAL_ERROR");
	}
}

Test(lifecycle, stop_during_create_wins_over_late_create_done)
{
	struct lifecycle lc;
	lifecycle_init(&lc);
	feed(&lc, LC_EV_CREATE, 0);
	expect_decision(feed(&lc, LC_EV_STOP, 5), LC_REPLY_LATER, 0, LC_ACT_STOP_ALL, "Stop");
	struct lifecycle_decision d = create_done(&lc, LC_OK, NULL, 6);
	cr_expect(d.ignored, "the create task's late success changes nothing");
	cr_expect_eq(d.actions, 0u);
	d = feed(&lc, LC_EV_ALL_EXITED, 7);
	expect_decision(d, LC_REPLY_NONE, 0,
			LC_ACT_RELEASE | LC_ACT_REPLY_CREATE | LC_ACT_REPLY_STOPS, "AllExited");
	cr_expect_eq(d.create_error, LC_ERR_CONTROLLER_FORCED_HALT);
	struct lifecycle_status st;
	lifecycle_status(&lc, 8, &st);
	cr_expect_str_eq(st.last_reason, "stopped by Stop during Create");
}

Test(lifecycle, worker_reasons_reach_status)
{
	struct {
		struct lifecycle_exit x;
		int code;
		const char *reason;
	} cases[] = {
		{ { .kind = LC_EXIT_RUNTIME_FAILURE, .detail = "triple fault on vCPU 1" },
		  LC_ERR_VCPU_RUNTIME_FAILURE, "vCPU runtime failure: triple fault on vCPU 1" },
		{ { .kind = LC_EXIT_RUNTIME_FAILURE }, LC_ERR_VCPU_RUNTIME_FAILURE,
		  "vCPU runtime failure" },
		{ { .kind = LC_EXIT_START_FAILURE, .detail = "KVM_CREATE_VCPU: EMFILE" },
		  LC_ERR_VCPU_START_FAILURE,
		  "vcpu-worker could not start the vCPUs: KVM_CREATE_VCPU: EMFILE" },
		{ { .kind = LC_EXIT_SIGNALED, .signo = SIGKILL }, LC_ERR_VCPU_RUNTIME_FAILURE,
		  "vcpu-worker killed by signal 9 (SIGKILL)" },
		{ { .kind = LC_EXIT_ERROR, .status = 77 }, LC_ERR_VCPU_RUNTIME_FAILURE,
		  "vcpu-worker exited with status 77" },
		{ { .kind = (enum lifecycle_exit_kind)99 }, LC_ERR_VCPU_RUNTIME_FAILURE,
		  "child exited for an unknown reason (kind 99)" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lifecycle lc;
		enter(&lc, LC_RUNNING);
		child_exit(&lc, cases[i].x, 100);
		struct lifecycle_decision d = feed(&lc, LC_EV_ALL_EXITED, 200);
		cr_expect_eq(d.run_error, cases[i].code, "case %zu: %s", i,
			     lifecycle_error_name(d.run_error));
		struct lifecycle_status st;
		lifecycle_status(&lc, 300, &st);
		cr_expect_str_eq(st.last_reason, cases[i].reason, "case %zu", i);
	}
}

Test(lifecycle, reasons_are_one_printable_bounded_line)
{
	struct lifecycle lc;
	enter(&lc, LC_RUNNING);
	char longd[600];
	memset(longd, 'a', sizeof(longd) - 1);
	longd[sizeof(longd) - 1] = '\0';
	longd[3] = '\n';
	longd[4] = '\x1b';
	longd[5] = '\x7f';
	struct lifecycle_exit x = { .kind = LC_EXIT_RUNTIME_FAILURE, .detail = longd };
	child_exit(&lc, x, 1);
	struct lifecycle_status st;
	lifecycle_status(&lc, 1, &st);
	cr_expect_eq(strlen(st.last_reason), LC_REASON_MAX - 1);
	cr_expect_eq(strncmp(st.last_reason, "vCPU runtime failure: aaa???aa", 30), 0, "%s",
		     st.last_reason);
	for (const char *p = st.last_reason; *p; p++)
		cr_expect((unsigned char)*p >= 0x20 && *p != 0x7f);
	/* A device without a name. */
	enter(&lc, LC_RUNNING);
	struct lifecycle_exit dev = { .kind = LC_EXIT_DEVICE_DIED, .signo = SIGSEGV };
	child_exit(&lc, dev, 1);
	lifecycle_status(&lc, 1, &st);
	cr_expect_str_eq(st.last_reason, "device process ? killed by signal 11 (SIGSEGV)");
}

Test(lifecycle, uptime_never_underflows)
{
	struct lifecycle lc;
	lifecycle_init(&lc);
	struct lifecycle_status st;
	lifecycle_status(&lc, 123, &st);
	cr_expect_eq(st.uptime_ns, 0u);
	cr_expect_str_eq(st.last_reason, "");
	feed(&lc, LC_EV_CREATE, 0);
	create_done(&lc, LC_OK, NULL, 0);
	lifecycle_status(&lc, 5000, &st);
	cr_expect_eq(st.uptime_ns, 0u, "not running yet");
	feed(&lc, LC_EV_RUN, 1000);
	lifecycle_status(&lc, 999, &st);
	cr_expect_eq(st.uptime_ns, 0u, "a clock read before Run");
	lifecycle_status(&lc, UINT64_MAX, &st);
	cr_expect_eq(st.uptime_ns, UINT64_MAX - 1000);
}

Test(lifecycle, all_exited_unreported_ends_the_vm)
{
	/* Covered per state in the table; here: the next VM works after it. */
	struct lifecycle lc;
	enter(&lc, LC_RUNNING);
	struct lifecycle_decision d = feed(&lc, LC_EV_ALL_EXITED, 500);
	cr_expect_eq(d.run_error, LC_ERR_INTERNAL_ERROR);
	cr_expect_eq(d.actions & LC_ACT_STOP_ALL, 0u, "nothing left to stop");
	expect_decision(feed(&lc, LC_EV_CREATE, 600), LC_REPLY_LATER, 0, LC_ACT_START, "Create");
}

Test(lifecycle, unknown_event_is_ignored)
{
	struct lifecycle lc;
	enter(&lc, LC_RUNNING);
	struct lifecycle before = lc;
	struct lifecycle_decision d = feed(&lc, (enum lifecycle_event_type)42, 0);
	cr_expect(d.ignored);
	cr_expect_eq(d.reply, LC_REPLY_NONE);
	cr_expect_eq(d.actions, 0u);
	cr_expect(memcmp(&before, &lc, sizeof(lc)) == 0);
}

/* docs/rpc.md: SetRateLimiter and Metrics' device counters, state by state. */
Test(lifecycle, device_calls_only_while_every_device_is_up)
{
	static const int want[LC_STATE_COUNT] = {
		[LC_NOT_CREATED] = LC_ERR_NOT_CREATED, [LC_CREATING] = LC_ERR_NOT_CREATED,
		[LC_CREATED] = LC_OK, [LC_RUNNING] = LC_OK, [LC_STOPPING] = LC_ERR_NOT_CREATED,
	};
	for (int s = 0; s < LC_STATE_COUNT; s++) {
		struct lifecycle lc;
		enter(&lc, (enum lifecycle_state)s);
		cr_expect_eq(lifecycle_device_call(lc.state), want[s], "%s",
			     lifecycle_state_name((enum lifecycle_state)s));
	}
	cr_expect_eq(lifecycle_device_call((enum lifecycle_state)LC_STATE_COUNT), LC_ERR_NOT_CREATED);
}

Test(lifecycle, names)
{
	static const char *const want[] = {
		"OK",
		"INTERNAL_ERROR",
		"DEVICE_NOT_PRESENT",
		"BAD_CONFIG",
		"GUEST_INITIALIZATION_FAILURE",
		"DEVICE_INITIALIZATION_FAILURE",
		"DEVICE_START_FAILURE",
		"DEVICE_MEMORY_OVERLAP",
		"FAILED_SERVICE_CONNECT",
		"DUPLICATE_PUBLIC_SERVICES",
		"KERNEL_LOAD_FAILURE",
		"VCPU_START_FAILURE",
		"VCPU_RUNTIME_FAILURE",
		"NOT_CREATED",
		"ALREADY_RUNNING",
		"CONTROLLER_FORCED_HALT",
	};
	/* Fuchsia's numbers, spelled out so a renumbering fails here. */
	cr_expect_eq(LC_ERR_INTERNAL_ERROR, 1);
	cr_expect_eq(LC_ERR_BAD_CONFIG, 3);
	cr_expect_eq(LC_ERR_KERNEL_LOAD_FAILURE, 10);
	cr_expect_eq(LC_ERR_VCPU_RUNTIME_FAILURE, 12);
	cr_expect_eq(LC_ERR_NOT_CREATED, 13);
	cr_expect_eq(LC_ERR_CONTROLLER_FORCED_HALT, 15);
	for (int i = 0; i <= 15; i++) {
		cr_expect_str_eq(lifecycle_error_name(i), want[i]);
		cr_expect_eq(lifecycle_error_from_name(want[i]), i);
	}
	cr_expect_str_eq(lifecycle_error_name(-1), "UNKNOWN");
	cr_expect_str_eq(lifecycle_error_name(16), "UNKNOWN");
	cr_expect_eq(lifecycle_error_from_name("UNKNOWN"), -1);
	cr_expect_eq(lifecycle_error_from_name("ok"), -1, "exact spelling only");
	cr_expect_eq(lifecycle_error_from_name("NOT_CREATED "), -1);
	cr_expect_eq(lifecycle_error_from_name(""), -1);
	cr_expect_eq(lifecycle_error_from_name(NULL), -1);

	static const char *const states[] = { "NOT_CREATED", "CREATING", "CREATED", "RUNNING",
					      "STOPPING" };
	for (int s = 0; s < LC_STATE_COUNT; s++)
		cr_expect_str_eq(lifecycle_state_name((enum lifecycle_state)s), states[s]);
	cr_expect_str_eq(lifecycle_state_name((enum lifecycle_state)LC_STATE_COUNT), "UNKNOWN");
	cr_expect_str_eq(lifecycle_state_name((enum lifecycle_state)-1), "UNKNOWN");
}
