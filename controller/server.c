/* Carries out what the lifecycle decides (lifecycle.h): builds and releases
 * the VM, answers the callers; connections.c brings the requests and
 * supervise.c the children's news. */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "balloon_json.h"
#include "config.h"
#include "connections.h"
#include "stream_hub.h"
#include "dev_query.h"
#include "drive_params.h"
#include "drive_swap.h"
#include "host_vsock.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics_collect.h"
#include "operator.h"
#include "params_uint.h"
#include "rate_params.h"
#include "rpc.h"
#include "supervise.h"
#include "worker_ctl.h"

#define BACKLOG_BYTES (64u << 10)
#define MAX_PENDING_STOPS 64

struct caller {
	struct conn *cl; /* NULL: nobody to answer (gone, or the server itself) */
	uint32_t id;
};

/* A Metrics, SetRateLimiter, balloon or UpdateBlockDevice call waiting
 * for the devices. */
struct dev_caller {
	bool used;
	struct caller c;
	struct server *s;
	enum rpc_method method; /* a balloon read: which answer it wants */
	char device[MACHINE_NAME_MAX]; /* UpdateBlockDevice's */
};

/* A HostVsockConnect waiting for its handshake. */
struct vsock_caller {
	bool used;
	struct caller c;
};

struct server {
	struct evloop *loop;
	struct vm_env env;
	struct lifecycle lc;
	struct vm vm;
	bool vm_live; /* vm holds children or fds */
	struct supervisor *sup;
	struct collector *coll;
	struct dev_caller dev_callers[DEV_QUERY_MAX];
	struct host_vsock *vsock;
	struct vsock_caller vsock_callers[HOST_VSOCK_MAX];
	struct conns *conns;
	struct stream_hub *serial, *console;

	struct vm_config cfg;    /* the VM's: the Create that started it */
	struct vm_config staged; /* the Create being decided: a refused one is never the VM's */
	struct caller create, run;
	struct caller stops[MAX_PENDING_STOPS];
	size_t nstops;

	/* A Create that failed while it was carried out, fed once the decision
	 * that started it is done (so the state machine never re-enters itself). */
	bool post_create_failed;
	int post_create_error;
	char post_detail[LC_REASON_MAX];
};

static void feed(struct server *s, const struct lifecycle_event *ev, struct caller caller,
		 int bind_fd);

/* ---------------------------------------------------------------- replies */

static void reply_ok(struct caller c, const char *result_json, const int *fds, size_t nfds)
{
	conns_reply_ok(c.cl, c.id, result_json, fds, nfds);
}

static void reply_error(struct caller c, int code, const char *message)
{
	conns_reply_error(c.cl, c.id, code, message);
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

/* ---------------------------------------------------------------- actions */

static int internal(char *err, size_t len, const char *what, int r)
{
	snprintf(err, len, "%s: %s", what, strerror(-r));
	return LC_ERR_INTERNAL_ERROR;
}

static void start_vm(struct server *s)
{
	char err[LC_REASON_MAX];
	s->cfg = s->staged;
	s->vm_live = true;
	int code = vm_build(&s->vm, &s->cfg, &s->env, err, sizeof(err));
	/* What the build started is watched even when it failed: its ends
	 * are how the VM's stop completes. */
	const char *what = NULL;
	int r = supervise_start(s->sup, &what);
	if (r < 0 && !code)
		code = internal(err, sizeof(err), what, r);
	if (!code) {
		/* The hubs read the guest's output from the start, so the boot
		 * log is there for the first client. */
		if ((r = stream_hub_create(&s->serial, s->loop, s->vm.serial_fd, "serial",
					    BACKLOG_BYTES)) == 0)
			s->vm.serial_fd = -1;
		if (!r && s->vm.console_fd >= 0 &&
		    (r = stream_hub_create(&s->console, s->loop, s->vm.console_fd, "console",
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
	}
}

static void release(struct server *s)
{
	/* Its channels leave the loop while the VM's fds are open. */
	metrics_collect_release(s->coll);
	stream_hub_destroy(s->serial);
	stream_hub_destroy(s->console);
	s->serial = s->console = NULL;
	supervise_release(s->sup);
	vm_release(&s->vm);
	s->vm_live = false;
}

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
	if (d.actions & LC_ACT_RUN_VCPUS)
		supervise_run(s->sup);
	if (d.actions & LC_ACT_STOP_ALL)
		supervise_stop(s->sup);
	if (d.actions & LC_ACT_RELEASE)
		release(s);
	if (d.actions & LC_ACT_ACCEPT_BIND) {
		conns_add_guest(s->conns, bind_fd, c.cl);
		bind_fd = -1;
	}
	if (bind_fd >= 0)
		close(bind_fd); /* LC_ACT_CLOSE_BIND, or nothing took it */
	if (d.actions & LC_ACT_CLOSE_GUESTS)
		conns_close_guests(s->conns, d.guests_clean);
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

/* One event through the state machine, then the follow-ups it raised. */
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
	if (supervise_all_exited(s->sup))
		feed(s, &(struct lifecycle_event){ .type = LC_EV_ALL_EXITED }, (struct caller){ 0 },
		     -1);
}

/* ---------------------------------------------------------------- the supervisor's news */

static void on_ready(void *opaque)
{
	feed(opaque, &(struct lifecycle_event){ .type = LC_EV_CREATE_DONE, .error = 0 },
	     (struct caller){ 0 }, -1);
}

static void on_child_exited(void *opaque, const struct lifecycle_exit *x)
{
	feed(opaque, &(struct lifecycle_event){ .type = LC_EV_CHILD_EXITED, .exit = *x },
	     (struct caller){ 0 }, -1);
}

/* A device process to start again (supervise.h). */
static int on_restart(void *opaque, struct vm_child *c, int *worker_end)
{
	struct server *s = opaque;
	return vm_restart_device(&s->vm, &s->env, c, worker_end);
}

static const struct supervise_ops supervise_ops = {
	.ready = on_ready,
	.child_exited = on_child_exited,
	.restart = on_restart,
};

/* ---------------------------------------------------------------- requests */

/* One process's confinement as the controller set it: its --sandbox, its
 * policy, and the namespaces a confined child of that kind enters
 * (docs/security.md; a host that refuses user namespaces gives fewer, and
 * the child logs so). */
static json_object *confinement_json(enum sandbox_mode mode, const char *policy,
				     bool namespaces)
{
	static const char *const ns[] = { "user", "pid", "mount", "ipc", "uts", "net" };
	char file[32];
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	snprintf(file, sizeof(file), "%s.policy", policy);
	json_object_object_add(o, "sandbox", json_object_new_string(sandbox_mode_name(mode)));
	json_object_object_add(o, "policy", mode == SANDBOX_OFF ? NULL
								 : json_object_new_string(file));
	for (size_t i = 0; namespaces && mode != SANDBOX_OFF && i < sizeof(ns) / sizeof(ns[0]); i++)
		json_object_array_add(a, json_object_new_string(ns[i]));
	json_object_object_add(o, "namespaces", a);
	return o;
}

static json_object *dirs_json(const char (*dirs)[VM_CONFIG_PATH_MAX], size_t n)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(dirs[i]));
	return a;
}

/* A cap, or null for none. */
static json_object *cap_json(uint64_t v)
{
	return v ? json_object_new_int64((int64_t)v) : NULL;
}

static json_object *operator_json(const struct operator_policy *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "min_sandbox",
			       json_object_new_string(sandbox_mode_name(p->min_sandbox)));
	json_object_object_add(o, "allow_dirs", dirs_json(p->dir, p->ndirs));
	json_object_object_add(o, "allow_socket_dirs", dirs_json(p->socket_dir, p->nsocket_dirs));
	json_object_object_add(o, "max_memory", cap_json(operator_memory_cap(p)));
	json_object_object_add(o, "max_cpus", cap_json(p->max_cpus));
	json_object_object_add(o, "max_devices", cap_json(p->max_devices));
	json_object_object_add(o, "kvm_check",
			       json_object_new_string(worker_kvm_check_name(p->kvm_check)));
	return o;
}

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
	/* Each device process cellvm may restart: how often it was, and the
	 * I/O blackouts (from its end to the worker's resumed rings). */
	json_object *restarts = json_object_new_object();
	for (size_t i = 0; i < s->vm.nchildren; i++) {
		const struct vm_child *c = &s->vm.child[i];
		if (!c->kind)
			continue;
		json_object *r = json_object_new_object();
		json_object_object_add(r, "count", json_object_new_int64((int64_t)c->restarts.total));
		json_object_object_add(r, "blackout_last_ms",
				       json_object_new_int64((int64_t)c->blackout_last_ms));
		json_object_object_add(r, "blackout_max_ms",
				       json_object_new_int64((int64_t)c->blackout_max_ms));
		json_object_object_add(restarts, c->name, r);
	}
	json_object_object_add(o, "restarts", restarts);
	json_object *conf = json_object_new_object();
	json_object_object_add(conf, "cellvmd", confinement_json(s->env.sandbox, "controller", false));
	json_object_object_add(conf, "cellvm-spawner",
			       confinement_json(s->env.sandbox, "spawner", false));
	for (size_t i = 0; i < s->vm.nchildren; i++)
		if (!s->vm.child[i].exited)
			json_object_object_add(conf, s->vm.child[i].name,
					       confinement_json(s->vm.child[i].sandbox,
								s->vm.child[i].policy, true));
	json_object_object_add(o, "confinement", conf);
	json_object_object_add(o, "operator", operator_json(s->env.gate->pol));
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

static struct dev_caller *dev_caller(struct server *s, struct caller c)
{
	for (size_t i = 0; i < DEV_QUERY_MAX; i++)
		if (!s->dev_callers[i].used) {
			s->dev_callers[i] = (struct dev_caller){ .used = true, .c = c, .s = s };
			return &s->dev_callers[i];
		}
	reply_error(c, LC_ERR_INTERNAL_ERROR, "too many calls waiting for the devices");
	return NULL;
}

static void on_metrics(void *opaque, const struct metrics_snapshot *snap)
{
	struct dev_caller *dc = opaque;
	char *text = metrics_to_json(snap);
	if (text)
		reply_ok(dc->c, text, NULL, 0);
	else
		reply_error(dc->c, LC_ERR_INTERNAL_ERROR, "out of memory");
	free(text);
	dc->used = false;
}

static void on_rate_limit(void *opaque, int code, const char *message)
{
	struct dev_caller *dc = opaque;
	if (code)
		reply_error(dc->c, code, message);
	else
		reply_ok(dc->c, NULL, NULL, 0);
	dc->used = false;
}

int server_metrics(struct server *s, metrics_done done, void *opaque)
{
	struct lifecycle_status st;
	lifecycle_status(&s->lc, evloop_now_ns(), &st);
	return metrics_collect(s->coll, &st, done, opaque);
}

static void get_metrics(struct server *s, struct caller c)
{
	struct dev_caller *dc = dev_caller(s, c);
	if (dc && server_metrics(s, on_metrics, dc) < 0) {
		dc->used = false;
		reply_error(c, LC_ERR_INTERNAL_ERROR, "too many calls waiting for the devices");
	}
}

static void set_rate_limiter(struct server *s, struct caller c, const char *params)
{
	char device[MACHINE_NAME_MAX], err[256];
	struct dev_ctl_rate_limit rl;
	if (rate_params_parse(params, strlen(params), device, sizeof(device), &rl, err,
				sizeof(err)) < 0) {
		reply_error(c, LC_ERR_BAD_CONFIG, err);
		return;
	}
	struct dev_caller *dc = dev_caller(s, c);
	if (dc)
		metrics_collect_set_rate_limit(s->coll, s->lc.state, device, &rl, on_rate_limit, dc);
}

/* The balloon took its new target: the guest hears of it by a
 * configuration-change interrupt, which only the vcpu-worker can raise. */
static void on_balloon_set(void *opaque, int code, const char *message,
			   const struct dev_ctl_reply *reply)
{
	struct dev_caller *dc = opaque;
	(void)reply;
	int err = 0;
	if (!code && (err = wctl_send(dc->s->vm.ctl_fd, WCTL_CONFIG_CHANGED, 0,
				      METRICS_BALLOON_DEVICE)) < 0) {
		log_err("telling the vcpu-worker of the balloon's target: %s", strerror(-err));
		code = LC_ERR_INTERNAL_ERROR;
		message = "the balloon took the target, but the guest could not be told";
	}
	if (code)
		reply_error(dc->c, code, message);
	else
		reply_ok(dc->c, NULL, NULL, 0);
	dc->used = false;
}

/* BalloonStats, BalloonGetSize or BalloonGetMemStats: one read of the
 * balloon, answered in the shape the call has. */
static void on_balloon_read(void *opaque, int code, const char *message,
			    const struct dev_ctl_reply *reply)
{
	struct dev_caller *dc = opaque;
	const struct dev_ctl_balloon *b = code ? NULL : &reply->balloon;
	char *text = !b ? NULL
		     : dc->method == RPC_BALLOON_GET_SIZE ? balloon_size_json(b)
		     : dc->method == RPC_BALLOON_GET_MEM_STATS
			     ? balloon_mem_stats_json(b, dc->s->cfg.balloon.stats_polling_interval_s)
			     : balloon_stats_json(b);
	if (code)
		reply_error(dc->c, code, message);
	else if (text)
		reply_ok(dc->c, text, NULL, 0);
	else
		reply_error(dc->c, LC_ERR_INTERNAL_ERROR, "out of memory");
	free(text);
	dc->used = false;
}

/* SetBalloon {"amount_mib": N} and BalloonRequestNumPages
 * {"requested_num_pages": N}: a target of at most the VM's memory. */
static void set_balloon(struct server *s, struct caller c, const struct rpc_request *rq)
{
	char err[256];
	uint32_t n;
	bool mib = rq->method == RPC_SET_BALLOON;
	if ((mib ? balloon_params_parse : balloon_pages_parse)(rq->params, strlen(rq->params), &n,
							       err, sizeof(err)) < 0) {
		reply_error(c, LC_ERR_BAD_CONFIG, err);
		return;
	}
	uint64_t most = s->cfg.memory >> (mib ? 20 : 12);
	if (s->cfg.balloon.present && n > most) {
		snprintf(err, sizeof(err), "params.%s: %u is more than the VM's %llu %s",
			 mib ? "amount_mib" : "requested_num_pages", n, (unsigned long long)most,
			 mib ? "MiB" : "pages");
		reply_error(c, LC_ERR_BAD_CONFIG, err);
		return;
	}
	struct dev_caller *dc = dev_caller(s, c);
	struct dev_ctl_req dq = { .type = DEV_CTL_SET_BALLOON_TARGET,
				  .balloon_pages = mib ? n * BALLOON_JSON_PAGES_PER_MIB : n };
	if (dc)
		metrics_collect_balloon(s->coll, s->lc.state, &dq, on_balloon_set, dc);
}

static void read_balloon(struct server *s, struct caller c, enum rpc_method m)
{
	struct dev_caller *dc = dev_caller(s, c);
	struct dev_ctl_req rq = { .type = DEV_CTL_GET_BALLOON_STATS };
	if (!dc)
		return;
	dc->method = m;
	metrics_collect_balloon(s->coll, s->lc.state, &rq, on_balloon_read, dc);
}

/* The disk runs on its new image: the guest's driver hears of it by a
 * configuration-change interrupt, and reads the capacity again. */
static void on_drive_swapped(void *opaque, int err)
{
	struct dev_caller *dc = opaque;
	char msg[160];
	if (!err && (err = wctl_send(dc->s->vm.ctl_fd, WCTL_CONFIG_CHANGED, 0, dc->device)) < 0) {
		log_err("telling the vcpu-worker of %s's new image: %s", dc->device,
			strerror(-err));
		snprintf(msg, sizeof(msg),
			 "%s serves the new image, but the guest could not be told", dc->device);
	} else if (err == -ECANCELED) {
		snprintf(msg, sizeof(msg), "the VM stopped before %s served the new image",
			 dc->device);
	} else if (err) {
		snprintf(msg, sizeof(msg), "%s: restarting it on the new image: %s", dc->device,
			 strerror(-err));
	}
	if (err)
		reply_error(dc->c, LC_ERR_INTERNAL_ERROR, msg);
	else
		reply_ok(dc->c, NULL, NULL, 0);
	dc->used = false;
}

/* UpdateBlockDevice {"device": "blk0", "path": P}: the disk's process is
 * restarted on image P (supervise_swap); the old image stays when P cannot
 * be had. */
static void update_block_device(struct server *s, struct caller c, const char *params)
{
	char device[MACHINE_NAME_MAX], path[VM_CONFIG_PATH_MAX], err[LC_REASON_MAX];
	struct vm_child *child;
	int fd, code;
	if (drive_params_parse(params, strlen(params), device, sizeof(device), path, sizeof(path),
			       err, sizeof(err)) < 0) {
		reply_error(c, LC_ERR_BAD_CONFIG, err);
		return;
	}
	if ((code = lifecycle_device_call(s->lc.state))) {
		snprintf(err, sizeof(err), "no VM whose devices run (state %s)",
			 lifecycle_state_name(s->lc.state));
		reply_error(c, code, err);
		return;
	}
	if ((code = drive_swap_open(&s->vm, &s->cfg, s->env.gate, device, path, &child, &fd, err,
				    sizeof(err)))) {
		reply_error(c, code, err);
		return;
	}
	struct dev_caller *dc = dev_caller(s, c);
	if (!dc) {
		close(fd);
		return;
	}
	snprintf(dc->device, sizeof(dc->device), "%s", device);
	int r = vm_swap_disk(child, fd);
	if (!r && (r = supervise_swap(s->sup, child, on_drive_swapped, dc)) < 0)
		(void)vm_swap_disk(child, -1);
	if (r < 0) {
		dc->used = false;
		snprintf(err, sizeof(err), "%s: %s", device,
			 r == -EBUSY ? "being restarted; try again" : strerror(-r));
		reply_error(c, LC_ERR_INTERNAL_ERROR, err);
		return;
	}
	log_info("%s: swapping its image (UpdateBlockDevice)", device);
}

static void on_vsock_connected(void *opaque, int code, const char *message, int fd,
			       uint32_t host_port)
{
	struct vsock_caller *vc = opaque;
	char result[32];
	if (code) {
		reply_error(vc->c, code, message);
	} else {
		snprintf(result, sizeof(result), "{\"host_port\":%u}", host_port);
		reply_ok(vc->c, result, &fd, 1);
		close(fd);
	}
	vc->used = false;
}

/* HostVsockConnect {"guest_port": P}: a stream to the guest's listener on
 * P, through the VM's own vsock socket (host_vsock.h). */
static void host_vsock_call(struct server *s, struct caller c, const char *params)
{
	static const struct params_uint p = { "HostVsockConnect", "guest_port",
					      "the port the guest listens on", UINT32_MAX };
	char err[256];
	uint64_t port;
	if (params_uint_parse(&p, params, strlen(params), &port, err, sizeof(err)) < 0) {
		reply_error(c, LC_ERR_BAD_CONFIG, err);
		return;
	}
	int code = lifecycle_device_call(s->lc.state);
	if (code) {
		snprintf(err, sizeof(err), "no VM whose devices run (state %s)",
			 lifecycle_state_name(s->lc.state));
		reply_error(c, code, err);
		return;
	}
	if (!s->cfg.vsock) {
		reply_error(c, LC_ERR_DEVICE_NOT_PRESENT,
			    "the VM has no vsock: add \"vsock\": {\"guest_cid\": 3, \"uds_path\": "
			    "PATH} to its config");
		return;
	}
	struct vsock_caller *vc = NULL;
	for (size_t i = 0; i < HOST_VSOCK_MAX && !vc; i++)
		if (!s->vsock_callers[i].used)
			vc = &s->vsock_callers[i];
	if (!vc) {
		reply_error(c, LC_ERR_INTERNAL_ERROR, "too many vsock connections being made");
		return;
	}
	*vc = (struct vsock_caller){ .used = true, .c = c };
	code = host_vsock_connect(s->vsock, s->cfg.vsock_dev.uds_path, (uint32_t)port,
				  on_vsock_connected, vc, err, sizeof(err));
	if (code) {
		vc->used = false;
		reply_error(c, code, err);
	}
}

static void get_stream(struct server *s, struct caller c, bool console)
{
	struct stream_hub *hub = console ? s->console : s->serial;
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
	int err = stream_hub_attach(hub, sv[0]);
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

/* One checked request (connections.c); takes its fds. */
static void on_request(void *opaque, struct conn *cl, const struct rpc_request *rq, int *fds,
		       size_t nfds)
{
	struct server *s = opaque;
	struct caller c = { cl, rq->id };
	struct lifecycle_event ev = { 0 };
	char err[256];
	(void)nfds;
	switch (rq->method) {
	case RPC_CREATE:
		if (vm_config_parse(rq->params, strlen(rq->params), &s->staged, err, sizeof(err)) < 0 ||
		    operator_check(s->env.gate->pol, &s->staged, err, sizeof(err)) < 0) {
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
		get_stream(s, c, rq->method == RPC_GET_CONSOLE);
		break;
	case RPC_METRICS:
		get_metrics(s, c);
		break;
	case RPC_SET_RATE_LIMITER:
		set_rate_limiter(s, c, rq->params);
		break;
	case RPC_SET_BALLOON:
	case RPC_BALLOON_REQUEST_NUM_PAGES:
		set_balloon(s, c, rq);
		break;
	case RPC_BALLOON_STATS:
	case RPC_BALLOON_GET_SIZE:
	case RPC_BALLOON_GET_MEM_STATS:
		read_balloon(s, c, rq->method);
		break;
	case RPC_HOST_VSOCK_CONNECT:
		host_vsock_call(s, c, rq->params);
		break;
	case RPC_UPDATE_BLOCK_DEVICE:
		update_block_device(s, c, rq->params);
		break;
	}
}

/* A connection went: it is nobody's caller any more. */
static void on_gone(void *opaque, struct conn *cl)
{
	struct server *s = opaque;
	if (s->create.cl == cl)
		s->create.cl = NULL;
	if (s->run.cl == cl)
		s->run.cl = NULL;
	for (size_t i = 0; i < s->nstops; i++)
		if (s->stops[i].cl == cl)
			s->stops[i].cl = NULL;
	for (size_t i = 0; i < DEV_QUERY_MAX; i++)
		if (s->dev_callers[i].c.cl == cl)
			s->dev_callers[i].c.cl = NULL;
	for (size_t i = 0; i < HOST_VSOCK_MAX; i++)
		if (s->vsock_callers[i].c.cl == cl)
			s->vsock_callers[i].c.cl = NULL;
}

/* cl waits for the answer to its Create, Run or Stop: it is not idle. */
static bool on_waiting(void *opaque, const struct conn *cl)
{
	struct server *s = opaque;
	if (s->create.cl == cl || s->run.cl == cl)
		return true;
	for (size_t i = 0; i < s->nstops; i++)
		if (s->stops[i].cl == cl)
			return true;
	for (size_t i = 0; i < DEV_QUERY_MAX; i++)
		if (s->dev_callers[i].used && s->dev_callers[i].c.cl == cl)
			return true;
	return false;
}

static const struct conns_ops conns_ops = {
	.request = on_request,
	.gone = on_gone,
	.waiting = on_waiting,
};

/* ---------------------------------------------------------------- the server */

int server_add_client(struct server *s, int client_fd, uid_t uid)
{
	return conns_add(s->conns, client_fd, uid);
}

void server_set_idle_timeout(struct server *s, unsigned ms)
{
	conns_set_idle_timeout(s->conns, ms);
}

unsigned server_clients(const struct server *s)
{
	return conns_lifecycle(s->conns);
}

void server_stop_vm(struct server *s)
{
	feed(s, &(struct lifecycle_event){ .type = LC_EV_STOP }, (struct caller){ 0 }, -1);
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
	int err;
	if ((err = supervise_create(&s->sup, loop, &s->vm, env->spawner_fd, &supervise_ops, s)) ||
	    (err = metrics_collect_create(&s->coll, loop, &s->vm, env->name)) ||
	    (err = host_vsock_create(&s->vsock, loop, env->gate)) ||
	    (err = conns_create(&s->conns, loop, &conns_ops, s))) {
		server_destroy(s);
		return err;
	}
	*out = s;
	return 0;
}

void server_destroy(struct server *s)
{
	if (!s)
		return;
	conns_destroy(s->conns);
	host_vsock_destroy(s->vsock);
	metrics_collect_destroy(s->coll);
	supervise_destroy(s->sup);
	free(s);
}
