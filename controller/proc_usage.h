/* What one of the VM's processes uses of the host, for the metrics: CPU
 * time and resident memory.
 *
 * Without a cgroup per process these come from /proc: the process cellvmd
 * started (its pid) and, where it confined itself with a reaper (a kernel
 * that refused the spawner's namespaces: sandbox_ns.c; the pid cellvmd
 * knows is then the reaper, whose only child does the work), that child,
 * read from /proc/PID/task/PID/children. Threads are counted (a process's stat sums
 * them); grandchildren are not (the VM's processes start none).
 * Where the VM has a cgroup, metrics_collect.c reads each process's leaf
 * instead (cgroup_read_stats: cpu.stat's usage_usec, memory.current),
 * which counts all of that process's tasks. */
#ifndef CELLVM_PROC_USAGE_H
#define CELLVM_PROC_USAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_usage {
	uint64_t cpu_ns;       /* user + system */
	uint64_t memory_bytes; /* resident */
};

/* The fields of one /proc/PID/stat text (buf[0..len), not NUL-terminated;
 * the process's name in it may hold any bytes, parentheses and spaces
 * too): utime and stime in clock ticks, rss in pages. 0 or -EINVAL. Pure. */
struct proc_stat {
	uint64_t utime, stime, rss_pages;
};
int proc_stat_parse(const char *buf, size_t len, struct proc_stat *out);

/* Reads pid's use and its sandboxed child's, if it has one. 0 or -errno
 * (-ESRCH: gone). */
int proc_usage_read(pid_t pid, struct proc_usage *out);

#endif
