#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_strict.h"
#include "rpc.h"

static json_object *u64(uint64_t v)
{
	/* json-c's integers are signed: a counter past INT64_MAX (only a lying
	 * device's) shows as the largest. */
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static json_object *device_json(const struct metrics_device *d)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string(d->kind));
	if (!d->answered) {
		json_object_object_add(o, "error", json_object_new_string(d->error));
		return o;
	}
	uint32_t mask = dev_ctl_kind_counters(d->kind);
	for (size_t i = 0; i < DEV_CTL_NCOUNTERS; i++)
		if (mask & 1u << i)
			json_object_object_add(o, dev_ctl_counter_info[i].name,
					       u64(dev_ctl_counter(&d->c, i)));
	return o;
}

static json_object *process_json(const struct metrics_process *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int64(p->pid));
	if (p->have_cpu)
		json_object_object_add(o, "cpu_ns", u64(p->cpu_ns));
	if (p->have_memory)
		json_object_object_add(o, "memory_bytes", u64(p->memory_bytes));
	if (p->have_restarts) {
		json_object_object_add(o, "restarts", u64(p->restarts));
		json_object_object_add(o, "blackout_last_ms", u64(p->blackout_last_ms));
		json_object_object_add(o, "blackout_max_ms", u64(p->blackout_max_ms));
	}
	return o;
}

char *metrics_to_json(const struct metrics_snapshot *s)
{
	json_object *o = json_object_new_object(), *devs = json_object_new_object(),
		    *procs = json_object_new_object();
	json_object_object_add(o, "vm", json_object_new_string(s->vm));
	json_object_object_add(o, "state", json_object_new_string(s->state));
	json_object_object_add(o, "uptime_ns", u64(s->uptime_ns));
	for (size_t i = 0; i < s->ndevices; i++)
		json_object_object_add(devs, s->dev[i].name, device_json(&s->dev[i]));
	for (size_t i = 0; i < s->nprocs; i++)
		json_object_object_add(procs, s->proc[i].name, process_json(&s->proc[i]));
	json_object_object_add(o, "devices", devs);
	json_object_object_add(o, "processes", procs);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	char *out = text ? strdup(text) : NULL;
	json_object_put(o);
	return out;
}

/* ------------------------------------------------------------ reading */

struct rd {
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int bad(struct rd *r, const char *fmt, ...)
{
	if (r->err && r->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->err, r->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int get_string(struct rd *r, json_object *o, const char *key, const char *where,
		      char *out, size_t cap, bool required)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return required ? bad(r, "%s%s is missing", where, key) : 0;
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= cap)
		return bad(r, "%s%s: want a string under %zu bytes", where, key, cap);
	snprintf(out, cap, "%s", json_object_get_string(v));
	return 0;
}

/* An integer >= 0; *have false if the key is absent (and !required). */
static int get_u64(struct rd *r, json_object *o, const char *key, const char *where,
		   uint64_t *out, bool *have)
{
	json_object *v;
	if (have)
		*have = false;
	if (!json_object_object_get_ex(o, key, &v))
		return have ? 0 : bad(r, "%s%s is missing", where, key);
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return bad(r, "%s%s: want an integer >= 0", where, key);
	*out = (uint64_t)json_object_get_int64(v);
	if (have)
		*have = true;
	return 0;
}

static int read_device(struct rd *r, const char *name, json_object *v, struct metrics_device *d)
{
	char where[METRICS_NAME_MAX + 16];
	snprintf(where, sizeof(where), "devices.%s.", name);
	if (!json_object_is_type(v, json_type_object))
		return bad(r, "devices.%s: want an object", name);
	*d = (struct metrics_device){ 0 };
	snprintf(d->name, sizeof(d->name), "%s", name);
	int err = get_string(r, v, "kind", where, d->kind, sizeof(d->kind), true);
	if (err || (err = get_string(r, v, "error", where, d->error, sizeof(d->error), false)))
		return err;
	d->answered = !json_object_object_get_ex(v, "error", NULL);
	for (size_t i = 0; i < DEV_CTL_NCOUNTERS && d->answered; i++) {
		uint64_t n = 0;
		bool have;
		if ((err = get_u64(r, v, dev_ctl_counter_info[i].name, where, &n, &have)))
			return err;
		memcpy((uint8_t *)&d->c + dev_ctl_counter_info[i].offset, &n, sizeof(n));
	}
	return 0;
}

static int read_process(struct rd *r, const char *name, json_object *v, struct metrics_process *p)
{
	char where[METRICS_NAME_MAX + 16];
	snprintf(where, sizeof(where), "processes.%s.", name);
	if (!json_object_is_type(v, json_type_object))
		return bad(r, "processes.%s: want an object", name);
	*p = (struct metrics_process){ 0 };
	snprintf(p->name, sizeof(p->name), "%s", name);
	uint64_t pid;
	int err = get_u64(r, v, "pid", where, &pid, NULL);
	if (!err && pid > INT32_MAX)
		err = bad(r, "%spid: out of range", where);
	if (!err)
		err = get_u64(r, v, "cpu_ns", where, &p->cpu_ns, &p->have_cpu);
	if (!err)
		err = get_u64(r, v, "memory_bytes", where, &p->memory_bytes, &p->have_memory);
	if (!err)
		err = get_u64(r, v, "restarts", where, &p->restarts, &p->have_restarts);
	if (!err && p->have_restarts)
		err = get_u64(r, v, "blackout_last_ms", where, &p->blackout_last_ms, NULL) ?:
		      get_u64(r, v, "blackout_max_ms", where, &p->blackout_max_ms, NULL);
	p->pid = (int64_t)pid;
	return err;
}

/* Each member of the object at key (absent: none) through one reader. */
static int read_map(struct rd *r, json_object *top, const char *key, size_t max, size_t *n,
		    int (*each)(struct rd *, const char *, json_object *, void *), void *arr,
		    size_t elem)
{
	json_object *o;
	*n = 0;
	if (!json_object_object_get_ex(top, key, &o))
		return 0;
	if (!json_object_is_type(o, json_type_object))
		return bad(r, "%s: want an object", key);
	json_object_object_foreach(o, name, v) {
		if (*n == max)
			return bad(r, "%s: more than %zu", key, max);
		if (strlen(name) >= METRICS_NAME_MAX)
			return bad(r, "%s: a name longer than %d bytes", key, METRICS_NAME_MAX - 1);
		int err = each(r, name, v, (uint8_t *)arr + *n * elem);
		if (err)
			return err;
		(*n)++;
	}
	return 0;
}

static int each_device(struct rd *r, const char *name, json_object *v, void *d)
{
	return read_device(r, name, v, d);
}

static int each_process(struct rd *r, const char *name, json_object *v, void *p)
{
	return read_process(r, name, v, p);
}

int metrics_from_json(const char *text, size_t len, struct metrics_snapshot *out, char *err,
		      size_t errlen)
{
	struct rd r = { err, errlen };
	struct json_strict_error e;
	json_object *top;
	if (json_strict_parse(text, len, RPC_MAX_BODY, 4, &top, NULL, NULL, &e) < 0)
		return bad(&r, "the metrics %s%s%s", e.where, e.where[0] ? ": " : "", e.what);
	struct metrics_snapshot *s = out;
	memset(s, 0, sizeof(*s));
	int ret = get_string(&r, top, "vm", "", s->vm, sizeof(s->vm), true);
	if (!ret)
		ret = get_string(&r, top, "state", "", s->state, sizeof(s->state), true);
	if (!ret)
		ret = get_u64(&r, top, "uptime_ns", "", &s->uptime_ns, NULL);
	if (!ret)
		ret = read_map(&r, top, "devices", METRICS_MAX_DEVICES, &s->ndevices, each_device,
			       s->dev, sizeof(s->dev[0]));
	if (!ret)
		ret = read_map(&r, top, "processes", METRICS_MAX_PROCS, &s->nprocs, each_process,
			       s->proc, sizeof(s->proc[0]));
	json_object_put(top);
	return ret;
}
