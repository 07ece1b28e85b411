/* A VM's metrics as cellvmd reports them (docs/rpc.md, "Metrics"): the VM's
 * state and uptime, each device's counters (common/dev_ctl.h, the ones its
 * kind keeps) or why they are missing, and each process's CPU time and
 * memory. cellvmd fills a snapshot and sends it as the Metrics result
 * (metrics_to_json); clients read it back (metrics_from_json) and show it
 * as text or Prometheus's exposition format (metrics_text.h). Pure: no
 * I/O, nothing logged. */
#ifndef CELLVM_METRICS_H
#define CELLVM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev_ctl.h"
#include "vm.h"

#define METRICS_NAME_MAX 64
#define METRICS_MAX_DEVICES VM_CONFIG_MAX_DEVICES
#define METRICS_MAX_PROCS VM_MAX_CHILDREN

struct metrics_device {
	char name[METRICS_NAME_MAX]; /* as Status names it: "blk0" */
	char kind[METRICS_NAME_MAX]; /* "blk", "net", "console", "rng" */
	bool answered;               /* else error says why the counters are missing */
	char error[METRICS_NAME_MAX]; /* "timed out", "control channel broken", ... */
	struct dev_ctl_counters c;   /* those of dev_ctl_kind_counters(kind) */
};

struct metrics_process {
	char name[METRICS_NAME_MAX]; /* "vcpu-worker", "blk0" */
	int64_t pid;
	bool have_cpu;
	uint64_t cpu_ns;       /* user + system */
	bool have_memory;
	uint64_t memory_bytes; /* resident */
	bool have_restarts;    /* a device process cellvm may restart */
	uint64_t restarts;
	uint64_t blackout_last_ms, blackout_max_ms; /* from its end to resumed rings */
};

struct metrics_snapshot {
	char vm[METRICS_NAME_MAX];    /* the `vm` label: cellvmd's name for its VM */
	char state[METRICS_NAME_MAX]; /* lifecycle_state_name() */
	uint64_t uptime_ns;
	size_t ndevices;
	struct metrics_device dev[METRICS_MAX_DEVICES];
	size_t nprocs;
	struct metrics_process proc[METRICS_MAX_PROCS];
};

/* The Metrics result as one JSON object, malloc'd; NULL when out of memory.
 * {"vm", "state", "uptime_ns", "devices": {NAME: {"kind", counters... |
 * "error"}}, "processes": {NAME: {"pid", "cpu_ns"?, "memory_bytes"?, "restarts"?,
 * "blackout_last_ms"?, "blackout_max_ms"?}}}. */
char *metrics_to_json(const struct metrics_snapshot *s);

/* Reads a Metrics result (text[0..len), as strict as the RPC's bodies).
 * Keys it does not know are skipped, so a newer cellvmd's result still
 * reads; a known key of the wrong type or range, more devices or processes
 * than fit, or a name too long is -EINVAL with a line in err (*out is then
 * partly filled). */
int metrics_from_json(const char *text, size_t len, struct metrics_snapshot *out, char *err,
		      size_t errlen);

#endif
