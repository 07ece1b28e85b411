/* The operator's cgroup options (docs/deploy.md, "A cgroup per VM") and
 * what they mean: the limits of one VM's cgroup, and whether a directory
 * is a cgroup v2 cellvmd can use.
 *
 *   --cgroup DIR|self              put each VM in a cgroup beneath DIR, a
 *                                  delegated cgroup v2 directory (self: the
 *                                  one cellvmd was started in)
 *   --cgroup-memory-headroom SIZE  memory.max = guest RAM + the VMM's
 *                                  overhead (cgroup_overhead()) + SIZE; a
 *                                  leading '-' takes it off (default 64M);
 *                                  none: no memory.max
 *   --cgroup-swap-max SIZE         memory.swap.max (default 0: no swap)
 *   --cgroup-pids-max N|none       pids.max (default 512)
 *   --cgroup-cpu-max PCT           cpu.max: PCT% of one CPU per vCPU (the
 *                                  VM's processes together); default none
 *
 * A limit needs its controller in DIR's cgroup.controllers; "none" for the
 * memory and pids limits leaves a cgroup per process for counting only,
 * which needs no controller (cpu.stat is always there).
 *
 * Pure: no I/O, no logging; controller/cgroup.h does the writing. */
#ifndef CELLVM_CGROUP_POLICY_H
#define CELLVM_CGROUP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum {
	CGROUP_OPT_DIR = 0x1c0,
	CGROUP_OPT_MEMORY_HEADROOM,
	CGROUP_OPT_SWAP_MAX,
	CGROUP_OPT_PIDS_MAX,
	CGROUP_OPT_CPU_MAX,
};

#define CGROUP_LONG_OPTIONS                                                            \
	{ "cgroup", required_argument, NULL, CGROUP_OPT_DIR },                         \
	{ "cgroup-memory-headroom", required_argument, NULL, CGROUP_OPT_MEMORY_HEADROOM }, \
	{ "cgroup-swap-max", required_argument, NULL, CGROUP_OPT_SWAP_MAX },           \
	{ "cgroup-pids-max", required_argument, NULL, CGROUP_OPT_PIDS_MAX },           \
	{ "cgroup-cpu-max", required_argument, NULL, CGROUP_OPT_CPU_MAX }

#define CGROUP_USAGE                                                                        \
	"a cgroup v2 per VM (docs/deploy.md):\n"                                              \
	"  --cgroup DIR|self         each VM in a cgroup of its own beneath DIR, a delegated\n" \
	"                            cgroup v2 directory (self: the one cellvmd runs in)\n"   \
	"  --cgroup-memory-headroom [-]SIZE|none  memory.max is guest RAM + the VMM's\n"     \
	"                            overhead + SIZE (default 64M)\n"                         \
	"  --cgroup-swap-max SIZE    memory.swap.max (default 0)\n"                           \
	"  --cgroup-pids-max N|none  pids.max (default 512)\n"                                \
	"  --cgroup-cpu-max PCT      cpu.max: PCT%% of a CPU per vCPU (default: no cap)\n"

#define CGROUP_DIR_MAX 4096
#define CGROUP_DEFAULT_HEADROOM (64ll << 20)
#define CGROUP_DEFAULT_PIDS_MAX 512
#define CGROUP_PIDS_MAX_MAX 4194304 /* the kernel's PID_MAX_LIMIT */
#define CGROUP_CPU_PERIOD_US 100000
/* A memory.max below this is refused, whatever the headroom says. */
#define CGROUP_MEMORY_MIN (16ull << 20)

/* The controllers cellvmd uses, as a mask. */
enum {
	CGROUP_CTL_MEMORY = 1u << 0,
	CGROUP_CTL_PIDS = 1u << 1,
	CGROUP_CTL_CPU = 1u << 2,
};

struct cgroup_policy {
	char dir[CGROUP_DIR_MAX]; /* "" without --cgroup; "self" */
	bool memory_limit;        /* false: "none" */
	int64_t memory_headroom;  /* bytes, maybe negative */
	uint64_t swap_max;        /* bytes */
	uint32_t pids_max;        /* 0: "none" */
	uint32_t cpu_max_pct;     /* 0: no cpu.max */
	bool tuned;               /* some --cgroup-* option was given */
};

/* The defaults: no cgroup, the default headroom, swap 0, pids 512. */
void cgroup_policy_init(struct cgroup_policy *p);

/* Handles option c (one of CGROUP_LONG_OPTIONS): 1 handled, 0 if c is not
 * one of them, -EINVAL with "--opt ARG: why" in err. */
int cgroup_opt(struct cgroup_policy *p, int c, const char *arg, char *err, size_t errlen);

/* Once every option is read: -EINVAL with why in err for a --cgroup-*
 * option without --cgroup (it would be silently ignored). */
int cgroup_policy_check(const struct cgroup_policy *p, char *err, size_t errlen);

/* The controllers p's limits need (CGROUP_CTL_*). */
unsigned cgroup_policy_controllers(const struct cgroup_policy *p);

/* What the VMM's own processes are given beyond guest RAM for cfg: the
 * worker, each vCPU's thread, each device process cellvm starts, and KVM's
 * tables for the guest's memory. An estimate, meant to be generous. */
uint64_t cgroup_overhead(const struct vm_config *cfg);

/* A 0 is no limit: the file is not written. */
struct cgroup_limits {
	uint64_t memory_max; /* bytes */
	uint64_t swap_max;   /* bytes; with memory_max */
	uint32_t pids_max;
	uint64_t cpu_quota_us; /* 0: no cap ("max") */
	uint64_t cpu_period_us;
};

/* The limits of cfg's VM under p: 0, or -EINVAL with why in err when the
 * headroom leaves less than CGROUP_MEMORY_MIN. */
int cgroup_limits_for(const struct cgroup_policy *p, const struct vm_config *cfg,
		      struct cgroup_limits *out, char *err, size_t errlen);

/* The interface files to write, in order, for l: each name and the text,
 * into out (room for CGROUP_LIMIT_FILES). Returns how many. */
#define CGROUP_LIMIT_FILES 5
struct cgroup_file_text {
	const char *file;
	char text[48];
};
size_t cgroup_limit_files(const struct cgroup_limits *l,
			  struct cgroup_file_text out[CGROUP_LIMIT_FILES]);

/* What was seen of a --cgroup directory. */
struct cgroup_dir_seen {
	bool cgroup2;          /* fstatfs says CGROUP2_SUPER_MAGIC */
	bool read_controllers; /* cgroup.controllers was read ... */
	unsigned controllers;  /* ... and these are in it */
	bool dir_writable;     /* a cgroup can be made in it */
	bool procs_writable;   /* cgroup.procs */
	bool subtree_writable; /* cgroup.subtree_control */
};

/* Whether such a directory will do for controllers want: 0, or -EINVAL with
 * what is wrong and what to do in err (e.g. "not a cgroup v2 directory",
 * "the memory controller is not available", "not delegated to this user:
 * cgroup.procs is not writable"). */
int cgroup_dir_verdict(const struct cgroup_dir_seen *s, unsigned want, char *err,
		       size_t errlen);

/* The controller names in a mask, for cgroup.subtree_control or messages:
 * "+memory +pids" (plus) or "memory, pids". Returns buf. */
const char *cgroup_controller_names(unsigned mask, bool plus, char *buf, size_t len);

#endif
