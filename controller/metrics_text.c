#include "metrics_text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct out {
	char *p;
	size_t cap, len;
	bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = true;
	else
		o->len += (size_t)n;
}

static int finish(struct out *o)
{
	return o->full ? -EMSGSIZE : (int)o->len;
}

/* A label value as the exposition format escapes it. */
static const char *esc(const char *s, char *buf, size_t cap)
{
	size_t n = 0;
	for (; *s && n + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			buf[n++] = '\\';
			buf[n++] = *s;
		} else if (*s == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

#define ESC_MAX (2 * METRICS_NAME_MAX + 1)

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ns or us as seconds with every digit kept: "12.000345". */
static void seconds(struct out *o, uint64_t v, uint64_t per_s, int digits)
{
	put(o, "%" PRIu64 ".%0*" PRIu64 "\n", v / per_s, digits, v % per_s);
}

/* The kinds of the devices that answered, each once, in their order. */
static size_t kinds(const struct metrics_snapshot *s, const char *out[METRICS_MAX_DEVICES])
{
	size_t n = 0;
	for (size_t i = 0; i < s->ndevices; i++) {
		size_t k = 0;
		while (k < n && strcmp(out[k], s->dev[i].kind) != 0)
			k++;
		if (k == n && s->dev[i].answered && dev_ctl_kind_counters(s->dev[i].kind))
			out[n++] = s->dev[i].kind;
	}
	return n;
}

static void device_counters(struct out *o, const struct metrics_snapshot *s, const char *vm)
{
	const char *kind[METRICS_MAX_DEVICES];
	size_t nk = kinds(s, kind);
	char name[160], dev[ESC_MAX];
	for (size_t k = 0; k < nk; k++) {
		uint32_t mask = dev_ctl_kind_counters(kind[k]);
		for (size_t i = 0; i < DEV_CTL_NCOUNTERS; i++) {
			const struct dev_ctl_counter_info *c = &dev_ctl_counter_info[i];
			if (!(mask & 1u << i))
				continue;
			bool us = strcmp(c->unit, "us") == 0;
			/* throttled_us -> throttled_seconds */
			int stem = (int)(us ? strlen(c->name) - 3 : strlen(c->name));
			snprintf(name, sizeof(name), "cellvm_%s_%.*s%s_total", kind[k], stem, c->name,
				 us ? "_seconds" : "");
			family(o, name, "counter", c->help);
			for (size_t d = 0; d < s->ndevices; d++) {
				const struct metrics_device *m = &s->dev[d];
				if (!m->answered || strcmp(m->kind, kind[k]) != 0)
					continue;
				put(o, "%s{vm=\"%s\",device=\"%s\"} ", name, vm,
				    esc(m->name, dev, sizeof(dev)));
				if (us)
					seconds(o, dev_ctl_counter(&m->c, i), 1000000, 6);
				else
					put(o, "%" PRIu64 "\n", dev_ctl_counter(&m->c, i));
			}
		}
	}
}

int metrics_prometheus(const struct metrics_snapshot *s, char *out, size_t cap)
{
	struct out o = { out, cap, 0, cap == 0 };
	char vm[ESC_MAX], b[ESC_MAX];
	esc(s->vm, vm, sizeof(vm));
	family(&o, "cellvm_vm_uptime_seconds", "gauge", "Time the VM's vCPUs have run");
	put(&o, "cellvm_vm_uptime_seconds{vm=\"%s\"} ", vm);
	seconds(&o, s->uptime_ns, 1000000000, 9);
	family(&o, "cellvm_vm_state", "gauge", "The VM's lifecycle state (1 for the current one)");
	put(&o, "cellvm_vm_state{vm=\"%s\",state=\"%s\"} 1\n", vm, esc(s->state, b, sizeof(b)));
	if (s->ndevices) {
		family(&o, "cellvm_device_up", "gauge", "Whether the device process answered");
		for (size_t i = 0; i < s->ndevices; i++)
			put(&o, "cellvm_device_up{vm=\"%s\",device=\"%s\"} %d\n", vm,
			    esc(s->dev[i].name, b, sizeof(b)), s->dev[i].answered);
	}
	device_counters(&o, s, vm);
	bool any = false;
	for (size_t i = 0; i < s->nprocs; i++) {
		if (!s->proc[i].have_cpu)
			continue;
		if (!any)
			family(&o, "cellvm_process_cpu_seconds_total", "counter",
			       "CPU time of the VM's process, user and system");
		any = true;
		put(&o, "cellvm_process_cpu_seconds_total{vm=\"%s\",process=\"%s\"} ", vm,
		    esc(s->proc[i].name, b, sizeof(b)));
		seconds(&o, s->proc[i].cpu_ns, 1000000000, 9);
	}
	any = false;
	for (size_t i = 0; i < s->nprocs; i++) {
		if (!s->proc[i].have_memory)
			continue;
		if (!any)
			family(&o, "cellvm_process_resident_memory_bytes", "gauge",
			       "Resident memory of the VM's process");
		any = true;
		put(&o, "cellvm_process_resident_memory_bytes{vm=\"%s\",process=\"%s\"} %" PRIu64 "\n",
		    vm, esc(s->proc[i].name, b, sizeof(b)), s->proc[i].memory_bytes);
	}
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} restart[] = {
		{ "cellvm_device_restarts_total", "counter",
		  "Restarts of the device process since the VM started",
		  offsetof(struct metrics_process, restarts) },
		{ "cellvm_device_restart_blackout_last_seconds", "gauge",
		  "I/O blackout of the device's last restart, from its end to resumed rings",
		  offsetof(struct metrics_process, blackout_last_ms) },
		{ "cellvm_device_restart_blackout_max_seconds", "gauge",
		  "Longest I/O blackout of the device's restarts",
		  offsetof(struct metrics_process, blackout_max_ms) },
	};
	for (size_t k = 0; k < sizeof(restart) / sizeof(restart[0]); k++) {
		any = false;
		for (size_t i = 0; i < s->nprocs; i++) {
			if (!s->proc[i].have_restarts)
				continue;
			if (!any)
				family(&o, restart[k].name, restart[k].type, restart[k].help);
			any = true;
			uint64_t v;
			memcpy(&v, (const uint8_t *)&s->proc[i] + restart[k].off, sizeof(v));
			put(&o, "%s{vm=\"%s\",device=\"%s\"} ", restart[k].name, vm,
			    esc(s->proc[i].name, b, sizeof(b)));
			if (k == 0)
				put(&o, "%" PRIu64 "\n", v);
			else
				seconds(&o, v, 1000, 3);
		}
	}
	return finish(&o);
}

int metrics_human(const struct metrics_snapshot *s, char *out, size_t cap)
{
	struct out o = { out, cap, 0, cap == 0 };
	put(&o, "VM %s: %s, vCPUs ran %" PRIu64 ".%03" PRIu64 " s\n", s->vm, s->state,
	    s->uptime_ns / 1000000000, s->uptime_ns / 1000000 % 1000);
	for (size_t i = 0; i < s->ndevices; i++) {
		const struct metrics_device *d = &s->dev[i];
		put(&o, "%-12s", d->name);
		if (!d->answered) {
			put(&o, " (%s)\n", d->error);
			continue;
		}
		uint32_t mask = dev_ctl_kind_counters(d->kind);
		for (size_t k = 0; k < DEV_CTL_NCOUNTERS; k++)
			if (mask & 1u << k)
				put(&o, " %s %" PRIu64, dev_ctl_counter_info[k].name,
				    dev_ctl_counter(&d->c, k));
		put(&o, "\n");
	}
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct metrics_process *p = &s->proc[i];
		put(&o, "%-12s pid %" PRId64, p->name, p->pid);
		if (p->have_cpu)
			put(&o, " cpu %" PRIu64 ".%03" PRIu64 " s", p->cpu_ns / 1000000000,
			    p->cpu_ns / 1000000 % 1000);
		if (p->have_memory)
			put(&o, " memory %" PRIu64 " KiB", p->memory_bytes >> 10);
		if (p->have_restarts && p->restarts)
			put(&o, " restarts %" PRIu64 " (blackout last %" PRIu64 " ms, max %" PRIu64
				" ms)", p->restarts, p->blackout_last_ms, p->blackout_max_ms);
		put(&o, "\n");
	}
	return finish(&o);
}
