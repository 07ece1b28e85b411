#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cause.h"
#include "config.h"
#include "console_hub.h"
#include "lifecycle.h"
#include "log.h"
#include "rpc.h"
#include "rpc_conn.h"
#include "worker_ctl.h"

#define CREATE_TIMEOUT_MS 60000 /* the worker reports READY within this */
#define PING_INTERVAL_MS 250    /* how often a running worker is asked */
#define HANG_MS 1000            /* no PONG for this long: the worker hangs */
#define KILL_GRACE_MS 3000      /* SIGTERM, then SIGKILL after this */
#define BACKLOG_BYTES (64u << 10)
#define WRITE_LIMIT (1u << 20)  /* replies queued for a client that does not read */
#define MAX_PENDING_STOPS 64

struct client {
	struct server *s;
	int fd;
	bool guest;   /* a Guest channel (Bind), else a lifecycle connection */
	bool closing; /* close once the queued output is out */
	bool dead;    /* disconnected; freed at the end of the callback (gc) */
	struct rpc_reader rd;
	struct rpc_writer wr;
	struct client *next;
};

struct server;

/* The event-loop handle of one child's pidfd. */
struct child_watch {
	struct server *s;
	size_t idx;
};

struct caller {
	struct client *cl; /* NULL: nobody to answer (gone, or the server itself) */
	uint32_t id;
};

struct server {
	struct evloop *loop;
	struct vm_env env;
	struct lifecycle lc;
	struct vm vm;
	bool vm_live;            /* vm holds children or fds */
	struct child_watch watch[VM_MAX_CHILDREN];
	struct child_watch log_watch[VM_MAX_CHILDREN];
	struct console_hub *serial, *console;
	struct client *clients;
	unsigned nclients, nguests;

	struct vm_config cfg; /* the latest Create's */
	struct caller create, run;
	struct caller stops[MAX_PENDING_STOPS];
	size_t nstops;

	/* The worker's own report: its EXIT message, if one came. */
	bool ctl_eof; /* the control channel ended (and left the loop) */
	bool have_exit_msg;
	struct wctl_msg exit_msg;
	const char *kill_reason; /* why the controller killed the worker, if it did */

	struct evloop_timer create_timer, ping_timer, kill_timer, grace_timer;
	bool ping_outstanding;
	uint64_t ping_sent_ns;

	/* Follow-up events raised while a decision is carried out, fed once it
	 * is done (so the state machine never re-enters itself). */
	bool post_create_failed;
	int post_create_error;
	char post_detail[LC_REASON_MAX];
	bool stopping_all, all_exited_fed;
	/* Devices that ended cleanly while the worker still ran, fed once the
	 * worker's end is known or when grace_timer fires. */
	struct vm_child *deferred[VM_MAX_CHILDREN];
	size_t ndeferred;
};

static void feed(struct server *s, const struct lifecycle_event *ev, struct caller caller,
		 int bind_fd);
static void client_kill(struct client *cl);

/* ---------------------------------------------------------------- clients */

/* Disconnects cl and forgets it as a caller; gc() frees it. */
static void client_kill(struct client *cl)
{
	struct server *s = cl->s;
	if (s->create.cl == cl)
		s->create.cl = NULL;
	if (s->run.cl == cl)
		s->run.cl = NULL;
	for (size_t i = 0; i < s->nstops; i++)
		if (s->stops[i].cl == cl)
			s->stops[i].cl = NULL;
	if (cl->guest)
		s->nguests--;
	else
		s->nclients--;
	evloop_del(s->loop, cl->fd);
	close(cl->fd);
	cl->fd = -1;
	cl->dead = true;
}

static void client_update_events(struct client *cl)
{
	uint32_t ev = cl->closing ? 0 : EPOLLIN;
	if (rpc_writer_pending(&cl->wr))
		ev |= EPOLLOUT;
	if (evloop_mod(cl->s->loop, cl->fd, ev) < 0)
		log_warn("client %d: watching it failed", cl->fd);
}

/* Sends what is queued; disconnects the client when it is done (closing) or
 * broken. */
static void client_flush(struct client *cl)
{
	int r = rpc_writer_flush(&cl->wr, cl->fd);
	if (r < 0) {
		log_info("client %d: gone while sending (%s)", cl->fd, strerror(-r));
		client_kill(cl);
	} else if (cl->closing && !rpc_writer_pending(&cl->wr)) {
		client_kill(cl);
	} else {
		client_update_events(cl);
	}
}

static void client_send(struct client *cl, const uint8_t *frame, int len, const int *fds,
			size_t nfds)
{
	if (!cl || cl->dead)
		return;
	int r = len < 0 ? len : rpc_writer_queue(&cl->wr, frame, (size_t)len, fds, nfds);
	if (r < 0) {
		log_warn("client %d: reply dropped, disconnecting it (%s)", cl->fd, strerror(-r));
		client_kill(cl);
		return;
	}
	client_flush(cl);
}

static void reply_ok(struct caller c, const char *result_json, const int *fds, size_t nfds)
{
	static uint8_t frame[4 + RPC_MAX_BODY];
	if (c.cl)
		client_send(c.cl, frame, rpc_encode_ok(c.id, result_json, frame, sizeof(frame)),
			    fds, nfds);
}

static void reply_error(struct caller c, int code, const char *message)
{
	static uint8_t frame[4 + RPC_MAX_BODY];
	if (c.cl)
		client_send(c.cl, frame,
			    rpc_encode_error(c.id, code, message, frame, sizeof(frame)), NULL, 0);
}

/* Answers a call whose result is how the VM (or Create) ended. */
static void reply_end(struct server *s, struct caller c, int code)
{
	if (code == LC_OK) {
		reply_ok(c, NULL, NULL, 0);
		return;
	}
	struct lifecycle_status st;
	lifecycle_status(&s->lc, evloop_now_ns(), &st);
	reply_error(c, code, st.have_last && st.last_reason[0] ? st.last_reason
							       : lifecycle_error_name(code));
}

/* ---------------------------------------------------------------- supervision */

static struct vm_child *worker(struct server *s)
{
	for (size_t i = 0; i < s->vm.nchildren; i++)
		if (strcmp(s->vm.child[i].name, VM_WORKER_NAME) == 0)
			return &s->vm.child[i];
	return NULL;
}

static void kill_worker(struct server *s, const char *why)
{
	struct vm_child *w = worker(s);
	if (!w || w->exited)
		return;
	log_err("vcpu-worker (pid %d): %s; killing it", (int)w->pid, why);
	s->kill_reason = why;
	if (pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0) < 0)
		log_err("kill vcpu-worker: %m");
}

/* What cause_decide() needs to know of the worker now. */
static struct cause_worker worker_state(struct server *s)
{
	const struct vm_child *w = worker(s);
	return (struct cause_worker){ .alive = w && !w->exited,
				      .said_exit = s->have_exit_msg,
				      .exit_status = (int)s->exit_msg.status,
				      .exit_text = s->exit_msg.text,
				      .kill_reason = s->kill_reason };
}

static void maybe_all_exited(struct server *s)
{
	if (!s->stopping_all || s->all_exited_fed || vm_alive(&s->vm) > 0 || s->ndeferred)
		return;
	s->all_exited_fed = true;
	feed(s, &(struct lifecycle_event){ .type = LC_EV_ALL_EXITED }, (struct caller){ 0 }, -1);
}

static int control_read_one(struct server *s);

/* The deferred devices' ends, after the worker's if it came. */
static void feed_deferred(struct server *s)
{
	evloop_timer_cancel(&s->grace_timer);
	size_t n = s->ndeferred;
	s->ndeferred = 0;
	for (size_t i = 0; i < n; i++) {
		struct cause_worker w = worker_state(s);
		feed(s, &(struct lifecycle_event){ .type = LC_EV_CHILD_EXITED,
						   .exit = cause_exit(s->deferred[i], &w) },
		     (struct caller){ 0 }, -1);
	}
}

static void on_child_end(struct server *s, struct vm_child *c)
{
	char how[96];
	child_end_describe(&c->end, how, sizeof(how));
	bool clean = !c->end.signaled && c->end.status == 0;
	log_msg(clean || s->stopping_all ? LOG_LVL_INFO : LOG_LVL_ERROR, __func__, "%s (pid %d) %s",
		c->name, (int)c->pid, how);
	/* The worker's EXIT, sent before it exits, says why it ends. */
	while (!s->have_exit_msg && control_read_one(s))
		;
	if (c == worker(s)) {
		evloop_timer_cancel(&s->ping_timer);
		evloop_timer_cancel(&s->create_timer);
	}
	struct cause_worker w = worker_state(s);
	struct cause k = cause_decide(c, &w, s->stopping_all);
	if (k.verdict == CAUSE_WAIT) {
		/* Without holding up the loop. */
		if (s->ndeferred == 0)
			evloop_timer_arm(s->loop, &s->grace_timer, CAUSE_WORKER_GRACE_MS);
		s->deferred[s->ndeferred++] = c;
		return;
	}
	feed(s, &(struct lifecycle_event){ .type = LC_EV_CHILD_EXITED, .exit = k.exit },
	     (struct caller){ 0 }, -1);
	if (c == worker(s))
		feed_deferred(s);
	maybe_all_exited(s);
}

/* Passes a child's stderr on; stops watching it at EOF. */
static void read_child_log(struct server *s, struct vm_child *c, unsigned rounds)
{
	if (c->log.fd < 0)
		return;
	int r = child_log_read(&c->log, STDERR_FILENO, rounds);
	if (r != 0) {
		evloop_del(s->loop, c->log.fd);
		child_log_close(&c->log);
	}
}

static void on_child_log(void *opaque, uint32_t events)
{
	struct child_watch *w = opaque;
	(void)events;
	read_child_log(w->s, &w->s->vm.child[w->idx], 16);
}

static void on_pidfd(void *opaque, uint32_t events)
{
	struct child_watch *w = opaque;
	struct server *s = w->s;
	struct vm_child *c = &s->vm.child[w->idx];
	(void)events;
	int r = spawner_reap(s->env.spawner_fd, c->pid, &c->end);
	if (r == 0)
		return;
	if (r < 0) {
		/* The spawner is gone, and its children were SIGKILLed with it
		 * (cellvmd says so once), or it is stuck or does not know the
		 * child: make sure the child is gone and count it so, rather
		 * than wait forever. */
		if (r != -EPIPE)
			log_err("%s: reaping through the spawner: %s", c->name, strerror(-r));
		if (pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
			log_err("%s: SIGKILL: %m", c->name);
		c->end = (struct child_end){ .signaled = true, .status = SIGKILL };
	}
	c->exited = true;
	/* Its last words (a seccomp report) are in the pipe by now. */
	read_child_log(s, c, 64);
	evloop_del(s->loop, c->pidfd);
	close(c->pidfd);
	c->pidfd = -1;
	on_child_end(s, c);
}

/* ---------------------------------------------------------------- worker control */

/* Handles one message from the worker: 1 if there was one, else 0 (none
 * yet, or the channel ended). */
static int control_read_one(struct server *s)
{
	struct wctl_msg m;
	if (s->vm.ctl_fd < 0 || s->ctl_eof)
		return 0;
	int err = wctl_recv(s->vm.ctl_fd, &m);
	if (err == -EAGAIN)
		return 0;
	if (err) {
		/* EOF: the worker is exiting; its pidfd tells how. */
		evloop_del(s->loop, s->vm.ctl_fd);
		s->ctl_eof = true;
		if (err != -ECONNRESET)
			kill_worker(s, "malformed message on the control channel");
		return 0;
	}
	switch (m.type) {
	case WCTL_READY:
		evloop_timer_cancel(&s->create_timer);
		evloop_timer_arm(s->loop, &s->ping_timer, PING_INTERVAL_MS);
		s->ping_outstanding = false;
		feed(s, &(struct lifecycle_event){ .type = LC_EV_CREATE_DONE, .error = 0 },
		     (struct caller){ 0 }, -1);
		break;
	case WCTL_PONG:
		s->ping_outstanding = false;
		break;
	case WCTL_EXIT:
		s->have_exit_msg = true;
		s->exit_msg = m;
		break;
	default:
		kill_worker(s, "it sent a controller's message on the control channel");
		break;
	}
	return 1;
}

static void on_control(void *opaque, uint32_t events)
{
	struct server *s = opaque;
	(void)events;
	for (int i = 0; i < 8 && control_read_one(s); i++)
		;
}

static void on_create_timer(void *opaque)
{
	kill_worker(opaque, "not ready within 60 s of Create");
}

static void on_grace_timer(void *opaque)
{
	struct server *s = opaque;
	/* The worker lives on: the devices' ends are the news. */
	feed_deferred(s);
	maybe_all_exited(s);
}

/* Every PING_INTERVAL_MS while the worker runs, until it hangs or ends. */
static void on_ping_timer(void *opaque)
{
	struct server *s = opaque;
	uint64_t now = evloop_now_ns();
	if (s->ping_outstanding && now - s->ping_sent_ns >= HANG_MS * 1000000ull) {
		kill_worker(s, "it stopped answering (hung for 1 s)");
		return;
	}
	evloop_timer_arm(s->loop, &s->ping_timer, PING_INTERVAL_MS);
	if (s->ping_outstanding)
		return;
	int err = wctl_send(s->vm.ctl_fd, WCTL_PING, 0, NULL);
	if (err < 0) {
		log_debug("PING: %s", strerror(-err)); /* it is exiting: the pidfd follows */
		return;
	}
	s->ping_outstanding = true;
	s->ping_sent_ns = now;
}

static void on_kill_timer(void *opaque)
{
	struct server *s = opaque;
	for (size_t i = 0; i < s->vm.nchildren; i++)
		if (!s->vm.child[i].exited)
			log_warn("%s (pid %d) did not exit within %u ms of SIGTERM; SIGKILL",
				 s->vm.child[i].name, (int)s->vm.child[i].pid, KILL_GRACE_MS);
	vm_signal_all(&s->vm, SIGKILL);
}

/* ---------------------------------------------------------------- actions */

static int internal(char *err, size_t len, const char *what, int r)
{
	snprintf(err, len, "%s: %s", what, strerror(-r));
	return LC_ERR_INTERNAL_ERROR;
}

static void start_vm(struct server *s)
{
	char err[LC_REASON_MAX];
	s->have_exit_msg = s->ctl_eof = false;
	s->kill_reason = NULL;
	s->stopping_all = s->all_exited_fed = false;
	s->ping_outstanding = false;
	s->vm_live = true;
	int code = vm_build(&s->vm, &s->cfg, &s->env, err, sizeof(err));
	for (size_t i = 0; i < s->vm.nchildren; i++) {
		s->watch[i] = (struct child_watch){ s, i };
		s->log_watch[i] = (struct child_watch){ s, i };
		int r = evloop_add(s->loop, s->vm.child[i].pidfd, EPOLLIN, on_pidfd, &s->watch[i]);
		if (!r)
			r = evloop_add(s->loop, s->vm.child[i].log.fd, EPOLLIN, on_child_log,
				       &s->log_watch[i]);
		if (r < 0 && !code)
			code = internal(err, sizeof(err), "watching a child", r);
	}
	int r;
	if (!code && (r = evloop_add(s->loop, s->vm.ctl_fd, EPOLLIN, on_control, s)) < 0)
		code = internal(err, sizeof(err), "watching the control channel", r);
	if (!code) {
		/* The hubs read the guest's output from the start, so the boot
		 * log is there for the first client. */
		if ((r = console_hub_create(&s->serial, s->loop, s->vm.serial_fd, "serial",
					    BACKLOG_BYTES)) == 0)
			s->vm.serial_fd = -1;
		if (!r && s->vm.console_fd >= 0 &&
		    (r = console_hub_create(&s->console, s->loop, s->vm.console_fd, "console",
					    BACKLOG_BYTES)) == 0)
			s->vm.console_fd = -1;
		if (r < 0)
			code = internal(err, sizeof(err), "serving the guest's console", r);
	}
	if (code) {
		log_err("Create failed: %s (%s)", err, lifecycle_error_name(code));
		s->post_create_failed = true;
		s->post_create_error = code;
		snprintf(s->post_detail, sizeof(s->post_detail), "%s", err);
		return;
	}
	evloop_timer_arm(s->loop, &s->create_timer, CREATE_TIMEOUT_MS);
}

static void stop_all(struct server *s)
{
	s->stopping_all = true;
	evloop_timer_cancel(&s->create_timer);
	evloop_timer_cancel(&s->ping_timer);
	vm_signal_all(&s->vm, SIGTERM);
	if (vm_alive(&s->vm))
		evloop_timer_arm(s->loop, &s->kill_timer, KILL_GRACE_MS);
}

static void release(struct server *s)
{
	console_hub_destroy(s->serial);
	console_hub_destroy(s->console);
	s->serial = s->console = NULL;
	if (s->vm.ctl_fd >= 0 && !s->ctl_eof)
		evloop_del(s->loop, s->vm.ctl_fd);
	for (size_t i = 0; i < s->vm.nchildren; i++)
		if (s->vm.child[i].log.fd >= 0)
			evloop_del(s->loop, s->vm.child[i].log.fd);
	vm_release(&s->vm);
	evloop_timer_cancel(&s->kill_timer);
	evloop_timer_cancel(&s->grace_timer);
	s->ndeferred = 0;
	s->vm_live = false;
	s->stopping_all = false;
}

static void close_guests(struct server *s, bool clean)
{
	static uint8_t frame[64];
	int len = rpc_encode_epitaph(clean, frame, sizeof(frame));
	for (struct client *cl = s->clients; cl; cl = cl->next) {
		if (!cl->guest || cl->dead)
			continue;
		cl->closing = true;
		client_send(cl, frame, len, NULL, 0);
	}
}

static int add_client(struct server *s, int fd, bool guest);

static const char *refusal(const struct server *s, enum lifecycle_event_type t, int code)
{
	static char msg[160];
	const char *state = lifecycle_state_name(s->lc.state);
	if (code == LC_ERR_ALREADY_RUNNING && t == LC_EV_RUN)
		snprintf(msg, sizeof(msg), "the VM is already running");
	else if (code == LC_ERR_ALREADY_RUNNING)
		snprintf(msg, sizeof(msg), "a VM exists (state %s): Stop it first", state);
	else if (code == LC_ERR_NOT_CREATED)
		snprintf(msg, sizeof(msg), "no VM to run (state %s): call Create first", state);
	else
		snprintf(msg, sizeof(msg), "%s", lifecycle_error_name(code));
	return msg;
}

static void keep_caller(struct server *s, enum lifecycle_event_type t, struct caller c)
{
	switch (t) {
	case LC_EV_CREATE: s->create = c; break;
	case LC_EV_RUN: s->run = c; break;
	case LC_EV_STOP:
		if (s->nstops < MAX_PENDING_STOPS)
			s->stops[s->nstops++] = c;
		else
			reply_error(c, LC_ERR_INTERNAL_ERROR, "too many Stop calls pending");
		break;
	default: break;
	}
}

static void apply(struct server *s, enum lifecycle_event_type t, struct lifecycle_decision d,
		  struct caller c, int bind_fd)
{
	switch (d.reply) {
	case LC_REPLY_OK: reply_ok(c, NULL, NULL, 0); break;
	case LC_REPLY_ERROR: reply_error(c, d.error, refusal(s, t, d.error)); break;
	case LC_REPLY_LATER: keep_caller(s, t, c); break;
	case LC_REPLY_NONE: break;
	}
	if (d.actions & LC_ACT_START)
		start_vm(s);
	if (d.actions & LC_ACT_RUN_VCPUS) {
		int err = wctl_send(s->vm.ctl_fd, WCTL_RUN, 0, NULL);
		if (err < 0)
			kill_worker(s, "the control channel is broken");
	}
	if (d.actions & LC_ACT_STOP_ALL)
		stop_all(s);
	if (d.actions & LC_ACT_RELEASE)
		release(s);
	if (d.actions & LC_ACT_ACCEPT_BIND) {
		add_client(s, bind_fd, true);
		bind_fd = -1;
	}
	if (bind_fd >= 0)
		close(bind_fd); /* LC_ACT_CLOSE_BIND, or nothing took it */
	if (d.actions & LC_ACT_CLOSE_GUESTS)
		close_guests(s, d.guests_clean);
	if (d.actions & LC_ACT_REPLY_CREATE) {
		reply_end(s, s->create, d.create_error);
		s->create = (struct caller){ 0 };
	}
	if (d.actions & LC_ACT_REPLY_RUN) {
		reply_end(s, s->run, d.run_error);
		s->run = (struct caller){ 0 };
	}
	if (d.actions & LC_ACT_REPLY_STOPS) {
		for (size_t i = 0; i < s->nstops; i++)
			reply_ok(s->stops[i], NULL, NULL, 0);
		s->nstops = 0;
	}
}

static void feed(struct server *s, const struct lifecycle_event *ev, struct caller c,
		 int bind_fd)
{
	enum lifecycle_state before = s->lc.state;
	struct lifecycle_decision d = lifecycle_handle(&s->lc, ev, evloop_now_ns());
	if (s->lc.state != before)
		log_info("VM %s -> %s", lifecycle_state_name(before),
			 lifecycle_state_name(s->lc.state));
	apply(s, ev->type, d, c, bind_fd);
	if (s->post_create_failed) {
		s->post_create_failed = false;
		feed(s,
		     &(struct lifecycle_event){ .type = LC_EV_CREATE_DONE,
						.error = s->post_create_error,
						.detail = s->post_detail },
		     (struct caller){ 0 }, -1);
	}
	maybe_all_exited(s);
}

/* ---------------------------------------------------------------- requests */

static char *status_json(struct server *s)
{
	struct lifecycle_status st;
	lifecycle_status(&s->lc, evloop_now_ns(), &st);
	json_object *o = json_object_new_object(), *pids = json_object_new_object();
	json_object_object_add(o, "state", json_object_new_string(lifecycle_state_name(st.state)));
	json_object_object_add(o, "uptime_ns", json_object_new_int64((int64_t)st.uptime_ns));
	if (st.have_last) {
		json_object *le = json_object_new_object();
		json_object_object_add(le, "code", json_object_new_int(st.last_error));
		json_object_object_add(le, "name",
				       json_object_new_string(lifecycle_error_name(st.last_error)));
		json_object_object_add(le, "reason", json_object_new_string(st.last_reason));
		json_object_object_add(o, "last_error", le);
	} else {
		json_object_object_add(o, "last_error", NULL);
	}
	for (size_t i = 0; i < s->vm.nchildren; i++)
		if (!s->vm.child[i].exited)
			json_object_object_add(pids, s->vm.child[i].name,
					       json_object_new_int(s->vm.child[i].pid));
	json_object_object_add(o, "pids", pids);
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

static void get_stream(struct server *s, struct caller c, bool console)
{
	struct console_hub *hub = console ? s->console : s->serial;
	if (!hub) {
		reply_error(c, LC_ERR_DEVICE_NOT_PRESENT,
			    console ? "the VM has no console: add \"console\": true to its config"
				    : "the VM has no serial port");
		return;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err("socketpair: %m");
		reply_error(c, LC_ERR_INTERNAL_ERROR, "out of sockets");
		return;
	}
	int err = console_hub_attach(hub, sv[0]);
	if (err < 0) {
		close(sv[0]);
		close(sv[1]);
		reply_error(c, LC_ERR_INTERNAL_ERROR,
			    err == -EMFILE ? "too many clients attached; detach one"
					   : "could not attach");
		return;
	}
	reply_ok(c, NULL, &sv[1], 1);
	close(sv[1]);
}

/* One request from cl with its fds (which this takes). Protocol errors
 * disconnect the client: there is no id to answer to. */
static void handle_request(struct client *cl, const char *body, size_t len, int *fds,
			   size_t nfds)
{
	struct server *s = cl->s;
	struct rpc_request rq = { 0 };
	char err[256];
	int bad = rpc_parse_request(body, len, &rq, err, sizeof(err));
	if (!bad && nfds != rpc_method_fds(rq.method)) {
		snprintf(err, sizeof(err), "%s with %zu fds (it takes %u)", rpc_method_name(rq.method),
			 nfds, rpc_method_fds(rq.method));
		bad = -EINVAL;
	} else if (!bad && cl->guest != (rq.method == RPC_GET_SERIAL ||
					 rq.method == RPC_GET_CONSOLE)) {
		snprintf(err, sizeof(err), "%s on a %s channel", rpc_method_name(rq.method),
			 cl->guest ? "Guest" : "lifecycle");
		bad = -EINVAL;
	}
	if (bad) {
		log_warn("client %d: %s; disconnecting it", cl->fd, err);
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		rpc_request_free(&rq);
		client_kill(cl);
		return;
	}
	struct caller c = { cl, rq.id };
	struct lifecycle_event ev = { 0 };
	switch (rq.method) {
	case RPC_CREATE:
		if (vm_config_parse(rq.params, strlen(rq.params), &s->cfg, err, sizeof(err)) < 0) {
			reply_error(c, LC_ERR_BAD_CONFIG, err);
			break;
		}
		ev.type = LC_EV_CREATE;
		feed(s, &ev, c, -1);
		break;
	case RPC_BIND:
		ev.type = LC_EV_BIND;
		feed(s, &ev, c, fds[0]);
		break;
	case RPC_RUN:
		ev.type = LC_EV_RUN;
		feed(s, &ev, c, -1);
		break;
	case RPC_STOP:
		ev.type = LC_EV_STOP;
		feed(s, &ev, c, -1);
		break;
	case RPC_STATUS: {
		char *text = status_json(s);
		if (text)
			reply_ok(c, text, NULL, 0);
		else
			reply_error(c, LC_ERR_INTERNAL_ERROR, "out of memory");
		free(text);
		break;
	}
	case RPC_GET_SERIAL:
	case RPC_GET_CONSOLE:
		get_stream(s, c, rq.method == RPC_GET_CONSOLE);
		break;
	}
	rpc_request_free(&rq);
}

/* ---------------------------------------------------------------- connections */

/* Frees the clients killed during this callback (nothing below the event
 * loop holds a client pointer across callbacks). */
static void gc(struct server *s)
{
	for (struct client **p = &s->clients; *p;) {
		struct client *cl = *p;
		if (!cl->dead) {
			p = &cl->next;
			continue;
		}
		*p = cl->next;
		rpc_reader_reset(&cl->rd);
		rpc_writer_free(&cl->wr);
		free(cl);
	}
}

static void on_client(void *opaque, uint32_t events)
{
	struct client *cl = opaque;
	struct server *s = cl->s;
	if ((events & EPOLLOUT) && !cl->dead)
		client_flush(cl);
	/* A few messages per round, so one client cannot starve the rest. */
	for (int i = 0; i < 8 && !cl->dead && !cl->closing && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)); i++) {
		int r = rpc_reader_feed(&cl->rd, cl->fd);
		if (r == 0)
			break;
		if (r < 0) {
			if (r != -ECONNRESET)
				log_warn("client %d: %s; disconnecting it", cl->fd, strerror(-r));
			client_kill(cl);
			break;
		}
		int fds[RPC_MAX_FDS];
		size_t nfds = cl->rd.nfds;
		memcpy(fds, cl->rd.fds, nfds * sizeof(int));
		cl->rd.nfds = 0;
		handle_request(cl, cl->rd.body, cl->rd.body_len, fds, nfds);
		if (!cl->dead)
			rpc_reader_next(&cl->rd);
	}
	gc(s);
}

static int add_client(struct server *s, int fd, bool guest)
{
	if (s->nclients + s->nguests >= SERVER_MAX_CLIENTS) {
		log_warn("client %d refused: %u clients already", fd, SERVER_MAX_CLIENTS);
		close(fd);
		return -EMFILE;
	}
	struct client *cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return -ENOMEM;
	}
	cl->s = s;
	cl->fd = fd;
	cl->guest = guest;
	rpc_reader_init(&cl->rd);
	rpc_writer_init(&cl->wr, WRITE_LIMIT);
	int err = evloop_add(s->loop, fd, EPOLLIN, on_client, cl);
	if (err < 0) {
		rpc_writer_free(&cl->wr);
		free(cl);
		close(fd);
		return err;
	}
	cl->next = s->clients;
	s->clients = cl;
	if (guest)
		s->nguests++;
	else
		s->nclients++;
	return 0;
}

int server_add_client(struct server *s, int client_fd)
{
	return add_client(s, client_fd, false);
}

unsigned server_clients(const struct server *s)
{
	return s->nclients;
}

void server_stop_vm(struct server *s)
{
	feed(s, &(struct lifecycle_event){ .type = LC_EV_STOP }, (struct caller){ 0 }, -1);
	gc(s);
}

bool server_idle(const struct server *s)
{
	return s->lc.state == LC_NOT_CREATED && !s->vm_live;
}

int server_create(struct server **out, struct evloop *loop, const struct vm_env *env)
{
	struct server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->env = *env;
	lifecycle_init(&s->lc);
	s->vm = (struct vm){ .ctl_fd = -1, .serial_fd = -1, .console_fd = -1 };
	evloop_timer_init(&s->create_timer, on_create_timer, s);
	evloop_timer_init(&s->ping_timer, on_ping_timer, s);
	evloop_timer_init(&s->kill_timer, on_kill_timer, s);
	evloop_timer_init(&s->grace_timer, on_grace_timer, s);
	*out = s;
	return 0;
}

void server_destroy(struct server *s)
{
	if (!s)
		return;
	for (struct client *cl = s->clients; cl; cl = cl->next)
		if (!cl->dead)
			client_kill(cl);
	gc(s);
	evloop_timer_cancel(&s->create_timer);
	evloop_timer_cancel(&s->ping_timer);
	evloop_timer_cancel(&s->kill_timer);
	evloop_timer_cancel(&s->grace_timer);
	free(s);
}
