/* The operator's floor: options to struct operator_policy, and the
 * decisions a Create's config must pass (operator.h). */
#include "operator.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errf.h"
#include "json_words.h"
#include "restart_policy.h"

void operator_policy_init(struct operator_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->min_sandbox = SANDBOX_ON;
	p->max_restarts = UINT32_MAX;
}

/* on > log > off: log still runs every process in its namespaces and
 * reports what its policy lacks; off confines nothing. */
static int strength(enum sandbox_mode m)
{
	switch (m) {
	case SANDBOX_ON: return 2;
	case SANDBOX_LOG: return 1;
	case SANDBOX_OFF: return 0;
	}
	return 0;
}

bool operator_sandbox_ok(const struct operator_policy *p, enum sandbox_mode m)
{
	return strength(m) >= strength(p->min_sandbox);
}

uint64_t operator_memory_cap(const struct operator_policy *p)
{
	if (!p->max_memory || (p->host_memory && p->host_memory < p->max_memory))
		return p->host_memory;
	return p->max_memory;
}

/* Absolute, and every component a name: no "", ".", "..". "/" alone is the
 * root. */
static bool normalised(const char *s)
{
	if (s[0] != '/')
		return false;
	if (!s[1])
		return true;
	for (const char *c = s + 1;;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!c[n])
			return true;
		c += n + 1;
	}
}

static int parse_count(const char *arg, uint32_t max, uint32_t *out)
{
	char *end;
	if (arg[0] < '0' || arg[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || *end || v < 1 || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int add_dir(char (*dirs)[VM_CONFIG_PATH_MAX], size_t *n, size_t max_len,
		   const char *opt, const char *arg, char *err, size_t errlen)
{
	if (*n == OPERATOR_MAX_DIRS)
		return errf(err, errlen, -EINVAL, "%s %s: at most %d directories", opt, arg,
			    OPERATOR_MAX_DIRS);
	if (!normalised(arg))
		return errf(err, errlen, -EINVAL, "%s %s: want an absolute path with no \".\", \"..\", "
					 "\"//\" or trailing \"/\"", opt, arg);
	if (strlen(arg) >= max_len)
		return errf(err, errlen, -EINVAL, "%s %s: longer than %zu bytes", opt, arg, max_len - 1);
	snprintf(dirs[(*n)++], VM_CONFIG_PATH_MAX, "%s", arg);
	return 1;
}

int operator_opt(struct operator_policy *p, int c, const char *arg, char *err, size_t errlen)
{
	uint64_t bytes;
	switch (c) {
	case OPERATOR_OPT_MIN_SANDBOX:
		if (sandbox_parse_mode(arg, &p->min_sandbox) < 0)
			return errf(err, errlen, -EINVAL, "--min-sandbox %s: want on, log or off", arg);
		return 1;
	case OPERATOR_OPT_ALLOW_DIR:
		return add_dir(p->dir, &p->ndirs, VM_CONFIG_PATH_MAX, "--allow-dir", arg, err,
			       errlen);
	case OPERATOR_OPT_ALLOW_SOCKET_DIR:
		/* A socket beneath it must still fit sun_path: "/x" at least. */
		return add_dir(p->socket_dir, &p->nsocket_dirs, VM_CONFIG_SOCKET_MAX - 2,
			       "--allow-socket-dir", arg, err, errlen);
	case OPERATOR_OPT_MAX_MEMORY:
		if (config_parse_size(arg, &bytes) < 0 || bytes < VM_CONFIG_MEM_MIN)
			return errf(err, errlen, -EINVAL, "--max-memory %s: want a size such as 512M or 2G, "
						 "at least 16M", arg);
		p->max_memory = bytes;
		return 1;
	case OPERATOR_OPT_MAX_CPUS:
		if (parse_count(arg, VM_CONFIG_MAX_CPUS, &p->max_cpus) < 0)
			return errf(err, errlen, -EINVAL, "--max-cpus %s: want 1 to %d", arg,
				    VM_CONFIG_MAX_CPUS);
		return 1;
	case OPERATOR_OPT_MAX_DEVICES:
		if (parse_count(arg, VM_CONFIG_MAX_DEVICES, &p->max_devices) < 0)
			return errf(err, errlen, -EINVAL, "--max-devices %s: want 1 to %d", arg,
				    VM_CONFIG_MAX_DEVICES);
		return 1;
	case OPERATOR_OPT_MAX_RESTARTS:
		if (!strcmp(arg, "0")) {
			p->max_restarts = 0;
			return 1;
		}
		if (parse_count(arg, RESTART_MAX_MAX, &p->max_restarts) < 0)
			return errf(err, errlen, -EINVAL, "--max-restarts %s: want 0 to %u", arg,
				    RESTART_MAX_MAX);
		return 1;
	case OPERATOR_OPT_KVM_CHECK:
		if (worker_kvm_check_parse(arg, &p->kvm_check) < 0)
			return errf(err, errlen, -EINVAL, "--kvm-check %s: want full or api", arg);
		return 1;
	default: return 0;
	}
}

int operator_place(const char (*dirs)[VM_CONFIG_PATH_MAX], size_t n, const char *path,
		   int *dir, const char **rel, char *err, size_t errlen)
{
	if (n == 0) {
		*dir = -1;
		*rel = path;
		return 0;
	}
	if (!normalised(path) || !path[1])
		return errf(err, errlen, -EINVAL, "want an absolute path with no \".\", \"..\", \"//\" or "
					 "trailing \"/\" (the operator limits paths to directories)");
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(dirs[i]);
		if (len == 1) { /* "/" */
			*dir = (int)i;
			*rel = path + 1;
			return 0;
		}
		if (strncmp(path, dirs[i], len) == 0 && path[len] == '/') {
			*dir = (int)i;
			*rel = path + len + 1;
			return 0;
		}
	}
	return errf(err, errlen, -EINVAL, "not beneath a directory the operator allows");
}

/* "<field> <quoted path>: <why>" when path is not placed. */
static int place(const char (*dirs)[VM_CONFIG_PATH_MAX], size_t n, const char *field,
		 const char *path, const char *opt, char *err, size_t errlen)
{
	int dir;
	const char *rel;
	char why[160];
	if (operator_place(dirs, n, path, &dir, &rel, why, sizeof(why)) == 0)
		return 0;
	struct json_shown q;
	return errf(err, errlen, -EINVAL, "%s %s: %s (%s)", field, json_show(&q, path, strlen(path), true),
		    why, opt);
}

static int sandbox_floor(const struct operator_policy *p, const char *field,
			 enum sandbox_mode m, char *err, size_t errlen)
{
	if (operator_sandbox_ok(p, m))
		return 0;
	return errf(err, errlen, -EINVAL, "%s \"%s\" is below the operator's floor (--min-sandbox %s)",
		    field, sandbox_mode_name(m), sandbox_mode_name(p->min_sandbox));
}

int operator_check(const struct operator_policy *p, const struct vm_config *cfg, char *err,
		   size_t errlen)
{
	char field[64];
	int r;
	if ((r = sandbox_floor(p, "sandbox", cfg->sandbox, err, errlen)))
		return r;
	for (size_t i = 0; i < cfg->nblock; i++) {
		snprintf(field, sizeof(field), "block_devices[%zu].sandbox", i);
		if (cfg->block[i].backend == VM_BACKEND_CELLVM &&
		    (r = sandbox_floor(p, field, cfg->block[i].sandbox, err, errlen)))
			return r;
	}
	for (size_t i = 0; i < cfg->nnet; i++) {
		snprintf(field, sizeof(field), "net_devices[%zu].sandbox", i);
		if (cfg->net[i].backend == VM_BACKEND_CELLVM &&
		    (r = sandbox_floor(p, field, cfg->net[i].sandbox, err, errlen)))
			return r;
	}

	uint64_t cap = operator_memory_cap(p);
	struct config_size_text s1, s2;
	if (cap && cfg->memory > cap)
		return errf(err, errlen, -EINVAL, "memory: %s is above the operator's cap (%s %s)",
			    config_format_size(&s1, cfg->memory),
			    cap == p->max_memory ? "--max-memory" : "the host's RAM,",
			    config_format_size(&s2, cap));
	if (p->max_cpus && cfg->cpus > p->max_cpus)
		return errf(err, errlen, -EINVAL, "cpus: %u is above the operator's cap (--max-cpus %u)",
			    cfg->cpus, p->max_cpus);
	size_t ndev = vm_config_ndevices(cfg);
	if (p->max_devices && ndev > p->max_devices)
		return errf(err, errlen, -EINVAL, "block_devices + net_devices + console + rng + "
					 "balloon + vsock: %zu "
					 "devices is above the operator's cap (--max-devices %u)",
			    ndev, p->max_devices);

	if ((r = place(p->dir, p->ndirs, "kernel", cfg->kernel, "--allow-dir", err, errlen)) ||
	    (cfg->initrd[0] &&
	     (r = place(p->dir, p->ndirs, "initrd", cfg->initrd, "--allow-dir", err, errlen))))
		return r;
	for (size_t i = 0; i < cfg->nblock; i++) {
		const struct vm_block_device *b = &cfg->block[i];
		if (b->backend == VM_BACKEND_CELLVM) {
			snprintf(field, sizeof(field), "block_devices[%zu].path", i);
			r = place(p->dir, p->ndirs, field, b->path, "--allow-dir", err, errlen);
		} else {
			snprintf(field, sizeof(field), "block_devices[%zu].vhost_user_socket", i);
			r = place(p->socket_dir, p->nsocket_dirs, field, b->vhost_user_socket,
				  "--allow-socket-dir", err, errlen);
		}
		if (r)
			return r;
	}
	for (size_t i = 0; i < cfg->nnet; i++) {
		snprintf(field, sizeof(field), "net_devices[%zu].vhost_user_socket", i);
		if (cfg->net[i].backend == VM_BACKEND_VHOST_USER &&
		    (r = place(p->socket_dir, p->nsocket_dirs, field, cfg->net[i].vhost_user_socket,
			       "--allow-socket-dir", err, errlen)))
			return r;
	}
	if (cfg->vsock && (r = place(p->socket_dir, p->nsocket_dirs, "vsock.uds_path",
				     cfg->vsock_dev.uds_path, "--allow-socket-dir", err, errlen)))
		return r;
	return 0;
}
