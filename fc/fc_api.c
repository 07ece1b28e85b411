#include "fc_api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client.h"
#include "lifecycle.h"

enum { ID_CREATE = 1, ID_RUN, ID_FIRST_CALL };

char *fc_fault(const char *msg)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "fault_message", json_object_new_string(msg));
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *s = t ? strdup(t) : NULL;
	json_object_put(o);
	return s;
}

static void answer(struct fc_answer *ans, int status, const char *fault)
{
	ans->status = status;
	ans->body = fault ? fc_fault(fault) : NULL;
}

int fc_api_init(struct fc_api *a, const char *id)
{
	memset(a, 0, sizeof(*a));
	a->id = id;
	a->metrics_fd = -1;
	a->serial = -1;
	a->ctl.sock = -1;
	a->next_id = ID_FIRST_CALL;
	if (!getcwd(a->cwd, sizeof(a->cwd)))
		return -errno;
	return (a->vm = fc_vm_new()) ? 0 : -ENOMEM;
}

void fc_api_destroy(struct fc_api *a)
{
	if (a->serial >= 0)
		close(a->serial);
	if (a->ctl.sock >= 0)
		private_ctl_end(&a->ctl);
	if (a->metrics_fd >= 0)
		close(a->metrics_fd);
	fc_vm_free(a->vm);
}

/* A reply from the controller: the Run reply ends the VM; others are
 * returned to the caller waiting for them. */
static void note_run_end(struct fc_api *a, const struct rpc_reply *r)
{
	a->ended = true;
	a->ended_ok = r->ok || a->stop_asked;
	if (!r->ok && !a->stop_asked)
		fprintf(stderr, "cellvm-fc: the VM ended: %s: %s\n", lifecycle_error_name(r->code),
			r->message);
}

int fc_api_ctl_readable(struct fc_api *a)
{
	struct rpc_reply r = { 0 };
	char err[300];
	int fd, e = client_recv(a->ctl.sock, &r, &fd, err, sizeof(err));
	if (e < 0) {
		fprintf(stderr, "cellvm-fc: %s\n", err);
		return e;
	}
	if (fd >= 0)
		close(fd);
	if (!r.epitaph && r.id == ID_RUN)
		note_run_end(a, &r);
	rpc_reply_free(&r);
	return 0;
}

/* One call to the controller while Run is pending: its reply in *r. */
static int ctl_call(struct fc_api *a, enum rpc_method m, const char *params, struct rpc_reply *r,
		    char *err, size_t errlen)
{
	uint32_t id = a->next_id++;
	int fd, e = client_send(a->ctl.sock, id, m, params, NULL, 0, err, errlen);
	while (e == 0) {
		if ((e = client_recv(a->ctl.sock, r, &fd, err, errlen)) < 0)
			break;
		if (fd >= 0)
			close(fd);
		if (!r->epitaph && r->id == id)
			return 0;
		if (!r->epitaph && r->id == ID_RUN)
			note_run_end(a, r);
		rpc_reply_free(r);
	}
	return e;
}

void fc_api_stop(struct fc_api *a)
{
	char err[300];
	if (a->phase != FC_RUNNING || a->stop_asked || a->ended)
		return;
	a->stop_asked = true;
	if (client_send(a->ctl.sock, a->next_id++, RPC_STOP, NULL, NULL, 0, err, sizeof(err)) < 0)
		fprintf(stderr, "cellvm-fc: %s\n", err);
}

int fc_api_start(struct fc_api *a, char *err, size_t errlen)
{
	char *config;
	int r = fc_vm_translate(a->vm, a->cwd, a->vm_sandbox, &config, err, errlen);
	if (r < 0)
		return r;
	if ((r = private_ctl_start(&a->opts, &a->ctl)) < 0) {
		snprintf(err, errlen, "cannot start cellvmd: %s", strerror(-r));
		free(config);
		return r;
	}
	r = private_ctl_boot(&a->ctl, config, ID_CREATE, ID_RUN, err, errlen);
	free(config);
	if (r < 0) {
		private_ctl_end(&a->ctl);
		a->ctl.sock = -1;
		return r;
	}
	a->serial = r;
	a->phase = FC_RUNNING;
	return 0;
}

/* A file the client names for our output (a FIFO Kata reads, or a file). */
static int open_output(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	/* Non-blocking only to open a FIFO that has no reader yet without
	 * hanging: writes block like Firecracker's. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -errno;
	}
	return fd;
}

/* PUT /logger: our log (and the controller's, started later) goes there. */
static int logger(struct fc_api *a, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum log_level lvl;
	} levels[] = { { "error", LOG_LVL_ERROR }, { "warning", LOG_LVL_WARN },
		       { "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
		       { "trace", LOG_LVL_DEBUG }, { "off", LOG_LVL_ERROR } };
	const char *lvl = fc_vm_string(a->vm, "logger", "level");
	const char *path = fc_vm_string(a->vm, "logger", "log_path");
	for (size_t i = 0; lvl && i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcasecmp(lvl, levels[i].name) == 0) {
			a->opts.level = levels[i].lvl;
			log_set_level(levels[i].lvl);
		}
	if (!path)
		return 0;
	int fd = open_output(path, err, errlen);
	if (fd < 0)
		return fd;
	int r = dup2(fd, STDERR_FILENO) < 0 ? -errno : 0;
	if (r < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
	close(fd);
	return r;
}

/* What the logger and metrics sections name, opened (where asked). */
static int outputs(struct fc_api *a, bool log, bool metrics, char *err, size_t errlen)
{
	if (log && fc_vm_has(a->vm, "logger") && logger(a, err, errlen) < 0)
		return -EINVAL;
	if (metrics && fc_vm_has(a->vm, "metrics")) {
		int fd = open_output(fc_vm_string(a->vm, "metrics", "metrics_path"), err, errlen);
		if (fd < 0)
			return fd;
		if (a->metrics_fd >= 0)
			close(a->metrics_fd);
		a->metrics_fd = fd;
	}
	return 0;
}

int fc_api_start_file(struct fc_api *a, const char *text, size_t len, char *err, size_t errlen)
{
	int r = fc_vm_load(a->vm, text, len, err, errlen);
	if (r == 0)
		r = outputs(a, true, true, err, errlen);
	return r < 0 ? r : fc_api_start(a, err, errlen);
}

/* FlushMetrics: one JSON line, the controller's Metrics result (docs/rpc.md)
 * with Firecracker's timestamp, or only the timestamp before boot. */
static int flush_metrics(struct fc_api *a, char *err, size_t errlen)
{
	struct rpc_reply r = { 0 };
	struct timespec ts;
	if (a->metrics_fd < 0) {
		snprintf(err, errlen, "No metrics destination: PUT /metrics first");
		return -EINVAL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object *o = NULL;
	if (a->phase == FC_RUNNING && !a->ended) {
		int e = ctl_call(a, RPC_METRICS, NULL, &r, err, errlen);
		if (e < 0)
			return e;
		o = r.ok ? json_tokener_parse(r.result) : NULL;
		rpc_reply_free(&r);
	}
	if (!o && !(o = json_object_new_object()))
		return -ENOMEM;
	json_object_object_add(o, "utc_timestamp_ms",
			       json_object_new_int64((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int e = 0;
	if (!t || dprintf(a->metrics_fd, "%s\n", t) < 0) {
		snprintf(err, errlen, "writing the metrics: %s", t ? strerror(errno) : "out of memory");
		e = -EIO;
	}
	json_object_put(o);
	return e;
}

/* A GET whose body comes from the controller (BalloonStats). */
static void ctl_get(struct fc_api *a, enum rpc_method m, struct fc_answer *ans)
{
	struct rpc_reply r = { 0 };
	char err[300];
	if (ctl_call(a, m, NULL, &r, err, sizeof(err)) < 0)
		return answer(ans, 500, err);
	if (!r.ok) {
		answer(ans, 400, r.message);
	} else {
		ans->status = 200;
		ans->body = r.result;
		r.result = NULL;
	}
	rpc_reply_free(&r);
}

/* One controller call of a running PATCH (params NULL: none due): 0, or
 * -1 with ans set (500: the controller could not be asked; 400: it
 * refused, in its words). Frees params. */
static int patch_call(struct fc_api *a, enum rpc_method m, char *params, struct fc_answer *ans)
{
	char err[512];
	struct rpc_reply r = { 0 };
	if (!params)
		return 0;
	int e = ctl_call(a, m, params, &r, err, sizeof(err));
	free(params);
	if (e < 0) {
		answer(ans, 500, err);
		return -1;
	}
	if (!r.ok)
		answer(ans, 400, r.message);
	e = r.ok ? 0 : -1;
	rpc_reply_free(&r);
	return e;
}

/* A PATCH on the running VM: the controller's calls, then the pending
 * config updated to match. A new image first: the restarted disk process
 * then takes the new limits too. */
static void running_patch(struct fc_api *a, const struct fc_call *c, const struct http11_req *rq,
			  struct fc_answer *ans)
{
	char err[512], *params, *swap;
	if (fc_vm_patch_params(a->vm, c->op, c->id, c->id_len, rq->body, rq->body_len, a->cwd,
			       &params, &swap, err, sizeof(err)) < 0)
		return answer(ans, 400, err);
	if (patch_call(a, RPC_UPDATE_BLOCK_DEVICE, swap, ans) < 0) {
		free(params);
		return;
	}
	if (patch_call(a, c->op == FC_OP_PATCH_BALLOON ? RPC_SET_BALLOON : RPC_SET_RATE_LIMITER,
		       params, ans) < 0)
		return;
	if (fc_vm_apply(a->vm, c->op, c->id, c->id_len, rq->body, rq->body_len, err, sizeof(err)) < 0)
		return answer(ans, 400, err);
	answer(ans, 204, NULL);
}

static char *describe(const struct fc_api *a)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(a->id));
	json_object_object_add(o, "state", json_object_new_string(fc_phase_name(a->phase)));
	json_object_object_add(o, "vmm_version", json_object_new_string(FC_API_VERSION));
	json_object_object_add(o, "app_name", json_object_new_string("cellvm-fc"));
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *s = t ? strdup(t) : NULL;
	json_object_put(o);
	return s;
}

void fc_api_handle(struct fc_api *a, const struct http11_req *rq, struct fc_answer *ans)
{
	struct fc_call c;
	char err[512];
	const char *why;
	ans->body = NULL;
	if (fc_route(rq->method, rq->path, rq->path_len, &c) < 0) {
		snprintf(err, sizeof(err), "Invalid request method and/or path: %.*s",
			 (int)(rq->path_len > 128 ? 128 : rq->path_len), rq->path);
		return answer(ans, 400, err);
	}
	if (c.op == FC_OP_COUNT &&
	    fc_vm_action(rq->body, rq->body_len, &c.op, err, sizeof(err)) < 0)
		return answer(ans, 400, err);
	if ((why = fc_allowed(c.op, a->phase)))
		return answer(ans, 400, why);
	ans->status = 200;
	switch (c.op) {
	case FC_OP_DESCRIBE:
		ans->body = describe(a);
		break;
	case FC_OP_VERSION:
		ans->body = strdup("{\"firecracker_version\":\"" FC_API_VERSION "\"}");
		break;
	case FC_OP_GET_MACHINE:
	case FC_OP_GET_BALLOON:
	case FC_OP_GET_VM_CONFIG:
		if (!(ans->body = fc_vm_get(a->vm, c.op, err, sizeof(err))))
			answer(ans, 400, err);
		return;
	case FC_OP_GET_BALLOON_STATS: return ctl_get(a, RPC_BALLOON_STATS, ans);
	case FC_OP_PATCH_BALLOON_STATS:
		return answer(ans, 400, "balloon statistics: a new polling interval is not supported "
					"by cellvm");
	case FC_OP_INSTANCE_START:
		if (fc_api_start(a, err, sizeof(err)) < 0)
			return answer(ans, 400, err);
		return answer(ans, 204, NULL);
	case FC_OP_CTRL_ALT_DEL:
		fc_api_stop(a);
		return answer(ans, 204, NULL);
	case FC_OP_FLUSH_METRICS:
		if (flush_metrics(a, err, sizeof(err)) < 0)
			return answer(ans, 400, err);
		return answer(ans, 204, NULL);
	case FC_OP_PATCH_DRIVE:
	case FC_OP_PATCH_NET:
	case FC_OP_PATCH_BALLOON:
		if (a->phase == FC_RUNNING)
			return running_patch(a, &c, rq, ans);
		/* Before boot a PATCH updates the pending VM. */
		__attribute__((fallthrough));
	default:
		if (fc_vm_apply(a->vm, c.op, c.id, c.id_len, rq->body, rq->body_len, err,
				sizeof(err)) < 0)
			return answer(ans, 400, err);
		if (outputs(a, c.op == FC_OP_PUT_LOGGER, c.op == FC_OP_PUT_METRICS, err,
			    sizeof(err)) < 0)
			return answer(ans, 400, err);
		return answer(ans, 204, NULL);
	}
	if (!ans->body)
		answer(ans, 500, "out of memory");
}
