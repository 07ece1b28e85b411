/* Reading cgroup v2 interface files: cgroup.controllers, single values
 * (memory.current, pids.current: a number or "max") and flat keyed files
 * (memory.stat, memory.events, cpu.stat: "key value" lines), into the
 * counters of one cgroup (struct cgroup_stats) that Status and the metrics
 * report per process.
 *
 * Pure: each parser sees the bytes read with their length (not
 * NUL-terminated), opens nothing and logs nothing; a malformed file is
 * -EINVAL and leaves the output as it was. */
#ifndef CELLVM_CGROUP_TEXT_H
#define CELLVM_CGROUP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define CGROUP_MAX UINT64_MAX /* "max" in a single-value file */

/* The controllers named in cgroup.controllers (or cgroup.subtree_control)
 * as a mask of cgroup_policy.h's CGROUP_CTL_*; other names are skipped. */
int cgroup_parse_controllers(const char *buf, size_t len, unsigned *mask);

/* One number, or "max" (CGROUP_MAX), with an optional trailing newline. */
int cgroup_parse_value(const char *buf, size_t len, uint64_t *v);

/* The value of key in a flat keyed file: 0 with *v, -ENOENT when the file
 * has no such line, -EINVAL when a line is not "key number". */
int cgroup_parse_keyed(const char *buf, size_t len, const char *key, uint64_t *v);

/* Which files a struct cgroup_stats was filled from. */
enum cgroup_stat_file {
	CGROUP_FILE_MEMORY_CURRENT = 1u << 0,
	CGROUP_FILE_MEMORY_STAT = 1u << 1,
	CGROUP_FILE_MEMORY_EVENTS = 1u << 2, /* memory.events.local: this cgroup's own */
	CGROUP_FILE_CPU_STAT = 1u << 3,
	CGROUP_FILE_PIDS_CURRENT = 1u << 4,
};

struct cgroup_stats {
	unsigned have; /* CGROUP_FILE_* read and parsed; a field of another is 0 */
	uint64_t memory_current;      /* bytes */
	uint64_t anon, file, shmem, kernel; /* memory.stat, bytes (kernel: 0 before Linux 5.18) */
	uint64_t oom, oom_kill;       /* memory.events.local: times at the limit's OOM, processes killed */
	uint64_t cpu_usage_usec, cpu_user_usec, cpu_system_usec; /* cpu.stat */
	uint64_t nr_throttled, throttled_usec; /* cpu.stat, with the cpu controller */
	uint64_t pids_current;
};

/* Parses the file `which` (one CGROUP_FILE_*) into *out and sets its bit in
 * out->have: 0, or -EINVAL. A key the kernel does not have (cpu.stat's
 * throttling without the cpu controller, memory.stat's kernel before 5.18)
 * reads as 0; one that every kernel since 5.4 has must be there. */
int cgroup_stats_parse(enum cgroup_stat_file which, const char *buf, size_t len,
		       struct cgroup_stats *out);

#endif
