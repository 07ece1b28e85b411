#include "metrics_collect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "dev_query.h"
#include "log.h"
#include "proc_usage.h"

/* One call waiting for its devices. */
struct pending {
	bool used;
	bool metrics; /* else a rate-limit change or a balloon call */
	struct lifecycle_status st;
	metrics_done mdone;
	rate_limit_done rdone;
	balloon_done bdone;
	void *opaque;
	struct collector *c;
};

struct collector {
	struct vm *vm;
	struct dev_queries *queries;
	char name[METRICS_NAME_MAX];
	struct pending pend[DEV_QUERY_MAX];
	struct metrics_snapshot snap;
};

static const char *answer_words(enum dev_answer a)
{
	switch (a) {
	case DEV_ANSWER_OK: return "ok";
	case DEV_ANSWER_TIMEOUT: return "did not answer in time";
	case DEV_ANSWER_BROKEN: return "control channel broken";
	case DEV_ANSWER_GONE: return "the VM went away";
	}
	return "?";
}

/* A process's use from its leaf of the VM's cgroup: every task of it
 * counted, memory.current with the kernel memory it caused. false where
 * the VM has no cgroup, or the leaf has neither counter (its controller
 * is not enabled: e.g. a --cgroup-memory-headroom none host). */
static bool cgroup_usage(const struct vm *vm, const char *name, struct metrics_process *p)
{
	if (!vm->cgroup || vm->cgroup->vm_fd < 0)
		return false;
	int leaf = openat(vm->cgroup->vm_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (leaf < 0)
		return false;
	struct cgroup_stats cs;
	int err = cgroup_read_stats(leaf, &cs);
	close(leaf);
	if (err < 0) {
		log_debug("%s: its cgroup's counters: %s", name, strerror(-err));
		return false;
	}
	p->have_cpu = cs.have & CGROUP_FILE_CPU_STAT;
	p->cpu_ns = cs.cpu_usage_usec * 1000;
	p->have_memory = cs.have & CGROUP_FILE_MEMORY_CURRENT;
	p->memory_bytes = cs.memory_current;
	return p->have_cpu || p->have_memory;
}

static void add_processes(struct collector *c, struct metrics_snapshot *s)
{
	for (size_t i = 0; i < c->vm->nchildren && s->nprocs < METRICS_MAX_PROCS; i++) {
		const struct vm_child *ch = &c->vm->child[i];
		if (ch->exited)
			continue;
		struct metrics_process *p = &s->proc[s->nprocs++];
		*p = (struct metrics_process){ .pid = ch->pid, .have_restarts = ch->kind != NULL,
					       .restarts = ch->restarts.total,
					       .blackout_last_ms = ch->blackout_last_ms,
					       .blackout_max_ms = ch->blackout_max_ms };
		snprintf(p->name, sizeof(p->name), "%s", ch->name);
		if (cgroup_usage(c->vm, ch->name, p))
			continue;
		struct proc_usage u;
		int err = proc_usage_read(ch->pid, &u);
		if (err < 0) {
			log_debug("%s: its use: %s", ch->name, strerror(-err));
			continue;
		}
		p->have_cpu = p->have_memory = true;
		p->cpu_ns = u.cpu_ns;
		p->memory_bytes = u.memory_bytes;
	}
}

/* The snapshot without devices: state, uptime, processes. */
static struct metrics_snapshot *base(struct collector *c, const struct lifecycle_status *st)
{
	struct metrics_snapshot *s = &c->snap;
	memset(s, 0, sizeof(*s));
	snprintf(s->vm, sizeof(s->vm), "%s", c->name);
	snprintf(s->state, sizeof(s->state), "%s", lifecycle_state_name(st->state));
	s->uptime_ns = st->uptime_ns;
	add_processes(c, s);
	return s;
}

static void on_metrics(void *opaque, const struct dev_query_result *r)
{
	struct pending *p = opaque;
	struct metrics_snapshot *s = base(p->c, &p->st);
	for (size_t i = 0; i < r->n && s->ndevices < METRICS_MAX_DEVICES; i++) {
		struct metrics_device *d = &s->dev[s->ndevices++];
		snprintf(d->name, sizeof(d->name), "%s", r->dev[i].child->name);
		snprintf(d->kind, sizeof(d->kind), "%s", r->dev[i].child->policy);
		d->answered = r->dev[i].answer == DEV_ANSWER_OK;
		if (d->answered)
			d->c = r->dev[i].reply.counters;
		else
			snprintf(d->error, sizeof(d->error), "%s", answer_words(r->dev[i].answer));
	}
	p->used = false;
	p->mdone(p->opaque, s);
}

/* A one-device call's outcome: 0, or a GuestError with msg. */
static int one_answer(const struct dev_query_result *r, char *msg, size_t len)
{
	if (r->n != 1 || r->dev[0].answer != DEV_ANSWER_OK) {
		snprintf(msg, len, "the device %s",
			 r->n == 1 ? answer_words(r->dev[0].answer) : "was not asked");
		return LC_ERR_INTERNAL_ERROR;
	}
	if (r->dev[0].reply.status < 0) {
		snprintf(msg, len, "%s: %s", r->dev[0].child->name,
			 strerror(-r->dev[0].reply.status));
		return LC_ERR_INTERNAL_ERROR;
	}
	snprintf(msg, len, "ok");
	return LC_OK;
}

static void on_balloon(void *opaque, const struct dev_query_result *r)
{
	struct pending *p = opaque;
	char msg[160];
	p->used = false;
	int code = one_answer(r, msg, sizeof(msg));
	p->bdone(p->opaque, code, msg, code ? NULL : &r->dev[0].reply);
}

static void on_rate_limit(void *opaque, const struct dev_query_result *r)
{
	struct pending *p = opaque;
	char msg[160];
	int code = LC_OK;
	p->used = false;
	if (r->n != 1 || r->dev[0].answer != DEV_ANSWER_OK) {
		snprintf(msg, sizeof(msg), "the device %s",
			 r->n == 1 ? answer_words(r->dev[0].answer) : "was not asked");
		code = LC_ERR_INTERNAL_ERROR;
	} else if (r->dev[0].reply.status == -EINVAL) {
		snprintf(msg, sizeof(msg), "%s refused these limits", r->dev[0].child->name);
		code = LC_ERR_BAD_CONFIG;
	} else if (r->dev[0].reply.status == -EOPNOTSUPP) {
		snprintf(msg, sizeof(msg), "%s has no rate limiter (this cellvm-%s cannot change one)",
			 r->dev[0].child->name, r->dev[0].child->policy);
		code = LC_ERR_INTERNAL_ERROR;
	} else if (r->dev[0].reply.status < 0) {
		snprintf(msg, sizeof(msg), "%s: %s", r->dev[0].child->name,
			 strerror(-r->dev[0].reply.status));
		code = LC_ERR_INTERNAL_ERROR;
	} else {
		snprintf(msg, sizeof(msg), "ok");
	}
	p->rdone(p->opaque, code, msg);
}

static struct pending *take(struct collector *c)
{
	for (size_t i = 0; i < DEV_QUERY_MAX; i++)
		if (!c->pend[i].used) {
			c->pend[i] = (struct pending){ .used = true, .c = c };
			return &c->pend[i];
		}
	return NULL;
}

int metrics_collect(struct collector *c, const struct lifecycle_status *st, metrics_done done,
		    void *opaque)
{
	struct pending *p = take(c);
	if (!p)
		return -EBUSY;
	p->metrics = true;
	p->st = *st;
	p->st.last_reason = NULL; /* not kept: valid only until the next event */
	p->mdone = done;
	p->opaque = opaque;
	/* Without devices to ask, the query completes at once, from the loop. */
	struct dev_ctl_req rq = { .type = DEV_CTL_GET_METRICS };
	const char *only = lifecycle_device_call(st->state) == LC_OK ? NULL : "";
	int err = dev_query_submit(c->queries, &rq, only, on_metrics, p);
	if (err < 0)
		p->used = false;
	return err;
}

void metrics_collect_set_rate_limit(struct collector *c, enum lifecycle_state state,
				    const char *device, const struct dev_ctl_rate_limit *rl,
				    rate_limit_done done, void *opaque)
{
	char msg[160];
	int code = lifecycle_device_call(state);
	if (code) {
		snprintf(msg, sizeof(msg), "no VM whose devices run (state %s)",
			 lifecycle_state_name(state));
		done(opaque, code, msg);
		return;
	}
	struct pending *p = take(c);
	if (!p) {
		done(opaque, LC_ERR_INTERNAL_ERROR, "too many calls waiting for the devices");
		return;
	}
	p->rdone = done;
	p->opaque = opaque;
	struct dev_ctl_req rq = { .type = DEV_CTL_SET_RATE_LIMIT, .rl = *rl };
	int err = dev_query_submit(c->queries, &rq, device, on_rate_limit, p);
	if (err == 0)
		return;
	p->used = false;
	if (err == -ENOENT)
		snprintf(msg, sizeof(msg), "%s: no such device process in this VM (Status lists them)",
			 device);
	else
		snprintf(msg, sizeof(msg), "too many calls waiting for the devices");
	done(opaque, err == -ENOENT ? LC_ERR_DEVICE_NOT_PRESENT : LC_ERR_INTERNAL_ERROR, msg);
}

void metrics_collect_balloon(struct collector *c, enum lifecycle_state state,
			     const struct dev_ctl_req *rq, balloon_done done, void *opaque)
{
	char msg[160];
	int code = lifecycle_device_call(state);
	if (code) {
		snprintf(msg, sizeof(msg), "no VM whose devices run (state %s)",
			 lifecycle_state_name(state));
		done(opaque, code, msg, NULL);
		return;
	}
	struct pending *p = take(c);
	if (!p) {
		done(opaque, LC_ERR_INTERNAL_ERROR, "too many calls waiting for the devices", NULL);
		return;
	}
	p->bdone = done;
	p->opaque = opaque;
	int err = dev_query_submit(c->queries, rq, METRICS_BALLOON_DEVICE, on_balloon, p);
	if (err == 0)
		return;
	p->used = false;
	if (err == -ENOENT)
		done(opaque, LC_ERR_DEVICE_NOT_PRESENT,
		     "the VM has no balloon: add \"balloon\": {\"amount_mib\": 0} to its config",
		     NULL);
	else
		done(opaque, LC_ERR_INTERNAL_ERROR, "too many calls waiting for the devices", NULL);
}

void metrics_collect_release(struct collector *c)
{
	dev_queries_release(c->queries);
}

int metrics_collect_create(struct collector **out, struct evloop *loop, struct vm *vm,
			   const char *vm_name)
{
	struct collector *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->vm = vm;
	snprintf(c->name, sizeof(c->name), "%s", vm_name);
	int err = dev_queries_create(&c->queries, loop, vm);
	if (err) {
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

void metrics_collect_destroy(struct collector *c)
{
	if (!c)
		return;
	dev_queries_destroy(c->queries);
	free(c);
}
