/* The operator's cgroup options and what they decide (cgroup_policy.h). */
#include "cgroup_policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "errf.h"

/* The overhead estimate's terms: the worker (binary, heap, stacks, the
 * sandbox's namespaces), a vCPU (its thread, kvm_run, KVM's vCPU state), a
 * device process, and KVM's page tables and maps for the guest's memory. */
#define OVERHEAD_WORKER (32ull << 20)
#define OVERHEAD_VCPU (4ull << 20)
#define OVERHEAD_DEVICE (16ull << 20)
#define OVERHEAD_RAM_SHIFT 6 /* 1/64 of guest RAM */

void cgroup_policy_init(struct cgroup_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->memory_limit = true;
	p->memory_headroom = CGROUP_DEFAULT_HEADROOM;
	p->pids_max = CGROUP_DEFAULT_PIDS_MAX;
}

int cgroup_opt(struct cgroup_policy *p, int c, const char *arg, char *err, size_t errlen)
{
	uint64_t bytes;
	unsigned long n;
	bool neg;
	switch (c) {
	case CGROUP_OPT_DIR:
		if (strcmp(arg, "self") != 0 && arg[0] != '/')
			return errf(err, errlen, -EINVAL, "--cgroup %s: want an absolute path or self", arg);
		if (strlen(arg) >= sizeof(p->dir))
			return errf(err, errlen, -EINVAL, "--cgroup %s: longer than %zu bytes", arg,
				    sizeof(p->dir) - 1);
		snprintf(p->dir, sizeof(p->dir), "%s", arg);
		return 1;
	case CGROUP_OPT_MEMORY_HEADROOM:
		if ((p->memory_limit = strcmp(arg, "none") != 0) == false)
			break;
		neg = arg[0] == '-';
		if (config_parse_size(arg + neg, &bytes) < 0 || bytes > VM_CONFIG_MEM_MAX)
			return errf(err, errlen, -EINVAL, "--cgroup-memory-headroom %s: want a size such as "
						 "64M, or -64M to take it off, at most 64G; or none", arg);
		p->memory_headroom = neg ? -(int64_t)bytes : (int64_t)bytes;
		break;
	case CGROUP_OPT_SWAP_MAX:
		if (config_parse_size(arg, &bytes) < 0)
			return errf(err, errlen, -EINVAL, "--cgroup-swap-max %s: want a size such as 0 or 1G",
				    arg);
		p->swap_max = bytes;
		break;
	case CGROUP_OPT_PIDS_MAX:
		if (strcmp(arg, "none") == 0)
			n = 0;
		else if (cli_parse_uint(arg, 16, CGROUP_PIDS_MAX_MAX, &n) < 0)
			return errf(err, errlen, -EINVAL, "--cgroup-pids-max %s: want 16 to %d, or none", arg,
				    CGROUP_PIDS_MAX_MAX);
		p->pids_max = (uint32_t)n;
		break;
	case CGROUP_OPT_CPU_MAX:
		if (cli_parse_uint(arg, 1, 10000, &n) < 0)
			return errf(err, errlen, -EINVAL, "--cgroup-cpu-max %s: want a percentage of one "
						 "CPU per vCPU, 1 to 10000", arg);
		p->cpu_max_pct = (uint32_t)n;
		break;
	default: return 0;
	}
	p->tuned = true;
	return 1;
}

int cgroup_policy_check(const struct cgroup_policy *p, char *err, size_t errlen)
{
	if (p->tuned && !p->dir[0])
		return errf(err, errlen, -EINVAL, "--cgroup-* options need --cgroup DIR");
	return 0;
}

unsigned cgroup_policy_controllers(const struct cgroup_policy *p)
{
	return (p->memory_limit ? CGROUP_CTL_MEMORY : 0) | (p->pids_max ? CGROUP_CTL_PIDS : 0) |
	       (p->cpu_max_pct ? CGROUP_CTL_CPU : 0);
}

/* The device processes cellvm starts for cfg (an external backend is
 * another's process, in another cgroup). */
static unsigned own_devices(const struct vm_config *cfg)
{
	unsigned n = cfg->console + cfg->rng + cfg->balloon.present;
	for (size_t i = 0; i < cfg->nblock; i++)
		n += cfg->block[i].backend == VM_BACKEND_CELLVM;
	for (size_t i = 0; i < cfg->nnet; i++)
		n += cfg->net[i].backend == VM_BACKEND_CELLVM;
	return n;
}

uint64_t cgroup_overhead(const struct vm_config *cfg)
{
	return OVERHEAD_WORKER + OVERHEAD_VCPU * cfg->cpus + OVERHEAD_DEVICE * own_devices(cfg) +
	       (cfg->memory >> OVERHEAD_RAM_SHIFT);
}

int cgroup_limits_for(const struct cgroup_policy *p, const struct vm_config *cfg,
		      struct cgroup_limits *out, char *err, size_t errlen)
{
	/* Both terms are at most 64G plus a little: no overflow either way. */
	int64_t mem = (int64_t)(cfg->memory + cgroup_overhead(cfg)) + p->memory_headroom;
	if (p->memory_limit && mem < (int64_t)CGROUP_MEMORY_MIN) {
		struct config_size_text t;
		return errf(err, errlen, -EINVAL, "memory: %s with the operator's headroom "
					 "(--cgroup-memory-headroom) leaves less than 16M for the VM",
			    config_format_size(&t, cfg->memory));
	}
	*out = (struct cgroup_limits){ .memory_max = p->memory_limit ? (uint64_t)mem : 0,
				       .swap_max = p->swap_max,
				       .pids_max = p->pids_max,
				       .cpu_period_us = CGROUP_CPU_PERIOD_US };
	if (p->cpu_max_pct)
		out->cpu_quota_us =
			(uint64_t)CGROUP_CPU_PERIOD_US * p->cpu_max_pct * cfg->cpus / 100;
	return 0;
}

size_t cgroup_limit_files(const struct cgroup_limits *l,
			  struct cgroup_file_text out[CGROUP_LIMIT_FILES])
{
	size_t n = 0;
	if (l->memory_max) {
		/* A VM that reaches its limit ends whole: a worker without its
		 * devices, or devices without their worker, serve nobody. */
		out[n].file = "memory.oom.group";
		snprintf(out[n++].text, sizeof(out[0].text), "1");
		out[n].file = "memory.max";
		snprintf(out[n++].text, sizeof(out[0].text), "%llu",
			 (unsigned long long)l->memory_max);
		out[n].file = "memory.swap.max";
		snprintf(out[n++].text, sizeof(out[0].text), "%llu",
			 (unsigned long long)l->swap_max);
	}
	if (l->pids_max) {
		out[n].file = "pids.max";
		snprintf(out[n++].text, sizeof(out[0].text), "%u", l->pids_max);
	}
	if (l->cpu_quota_us) {
		out[n].file = "cpu.max";
		snprintf(out[n++].text, sizeof(out[0].text), "%llu %llu",
			 (unsigned long long)l->cpu_quota_us, (unsigned long long)l->cpu_period_us);
	}
	return n;
}

static const char *const names[] = { "memory", "pids", "cpu" };

const char *cgroup_controller_names(unsigned mask, bool plus, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(mask & (1u << i)))
			continue;
		int w = snprintf(buf + off, len - off, "%s%s%s", !off ? "" : plus ? " " : ", ",
				 plus ? "+" : "", names[i]);
		if (w < 0 || (size_t)w >= len - off)
			break;
		off += (size_t)w;
	}
	return buf;
}

int cgroup_dir_verdict(const struct cgroup_dir_seen *s, unsigned want, char *err,
		       size_t errlen)
{
	static const char delegate[] = "(delegate it to cellvmd's user: systemd's Delegate=yes, "
				       "or chown of the directory, cgroup.procs and "
				       "cgroup.subtree_control)";
	if (!s->cgroup2)
		return errf(err, errlen, -EINVAL, "not a cgroup v2 directory (a cgroup2 file system, "
					 "such as /sys/fs/cgroup on a unified host)");
	if (!s->read_controllers)
		return errf(err, errlen, -EINVAL, "cgroup.controllers cannot be read");
	unsigned missing = want & ~s->controllers;
	if (missing) {
		char m[64];
		return errf(err, errlen, -EINVAL, "the %s controller%s not available here (enable %s in "
					 "the parent's cgroup.subtree_control)",
			    cgroup_controller_names(missing, false, m, sizeof(m)),
			    missing & (missing - 1) ? "s are" : " is", missing & (missing - 1) ? "them" : "it");
	}
	if (!s->dir_writable)
		return errf(err, errlen, -EINVAL, "no cgroup can be made in it %s", delegate);
	if (!s->procs_writable)
		return errf(err, errlen, -EINVAL, "cgroup.procs is not writable %s", delegate);
	if (!s->subtree_writable)
		return errf(err, errlen, -EINVAL, "cgroup.subtree_control is not writable %s", delegate);
	return 0;
}
