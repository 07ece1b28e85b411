/* The operator's floor (docs/deploy.md, "Operator policy"): what cellvmd's
 * command line allows every Create, whatever the tenant's config asks. The
 * operator starts cellvmd and decides; the tenant (the RPC client) only asks
 * within that.
 *
 * Pure: operator_opt() parses one option into the struct, operator_check()
 * decides whether a parsed config is within the floor, operator_place() says
 * beneath which allowed directory a path lies. No I/O, no logging; opening
 * the directories and the files is gate.h's. */
#ifndef CELLVM_OPERATOR_H
#define CELLVM_OPERATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sandbox_mode.h"
#include "worker_args.h"

#define OPERATOR_MAX_DIRS 16

enum {
	OPERATOR_OPT_MIN_SANDBOX = 0x1a0,
	OPERATOR_OPT_ALLOW_DIR,
	OPERATOR_OPT_ALLOW_SOCKET_DIR,
	OPERATOR_OPT_MAX_MEMORY,
	OPERATOR_OPT_MAX_CPUS,
	OPERATOR_OPT_MAX_DEVICES,
	OPERATOR_OPT_KVM_CHECK,
	OPERATOR_OPT_MAX_RESTARTS,
};

#define OPERATOR_LONG_OPTIONS                                                          \
	{ "min-sandbox", required_argument, NULL, OPERATOR_OPT_MIN_SANDBOX },          \
	{ "allow-dir", required_argument, NULL, OPERATOR_OPT_ALLOW_DIR },              \
	{ "allow-socket-dir", required_argument, NULL, OPERATOR_OPT_ALLOW_SOCKET_DIR }, \
	{ "max-memory", required_argument, NULL, OPERATOR_OPT_MAX_MEMORY },            \
	{ "max-cpus", required_argument, NULL, OPERATOR_OPT_MAX_CPUS },                \
	{ "max-devices", required_argument, NULL, OPERATOR_OPT_MAX_DEVICES },          \
	{ "kvm-check", required_argument, NULL, OPERATOR_OPT_KVM_CHECK },              \
	{ "max-restarts", required_argument, NULL, OPERATOR_OPT_MAX_RESTARTS }

#define OPERATOR_USAGE                                                                      \
	"operator policy (docs/deploy.md), what every Create must stay within:\n"               \
	"  --min-sandbox on|log|off  the weakest sandbox a config may ask (default on)\n"       \
	"  --allow-dir DIR           kernels, initrds and disks only beneath DIR (repeatable;\n" \
	"                            default: anywhere the service user can open)\n"           \
	"  --allow-socket-dir DIR    external vhost-user sockets only beneath DIR (repeatable)\n" \
	"  --max-memory SIZE         guest RAM at most SIZE (default: the host's RAM)\n"      \
	"  --max-cpus N              vCPUs at most N\n"                                         \
	"  --max-devices N           virtio devices at most N\n"                              \
	"  --max-restarts N          a device process restarted at most N times in its\n"    \
	"                            config's window (0: never; default: the config's)\n"  \
	"  --kvm-check full|api      what the vcpu-worker checks of /dev/kvm before each VM:\n" \
	"                            full (default) runs a vCPU too; api skips that run\n"

struct operator_policy {
	enum sandbox_mode min_sandbox;   /* default SANDBOX_ON */
	size_t ndirs;                    /* 0: paths are not limited by directory */
	char dir[OPERATOR_MAX_DIRS][VM_CONFIG_PATH_MAX];      /* absolute, normalised */
	size_t nsocket_dirs;             /* 0: sockets are not limited by directory */
	char socket_dir[OPERATOR_MAX_DIRS][VM_CONFIG_PATH_MAX];
	uint64_t max_memory;             /* bytes; 0: no cap of the operator's */
	uint64_t host_memory;            /* the host's RAM, a cap too; 0: unknown */
	uint32_t max_cpus;               /* 0: only the machine's limit */
	uint32_t max_devices;            /* 0: only the machine's limit */
	enum worker_kvm_check kvm_check; /* not a cap: how each worker checks /dev/kvm */
	uint32_t max_restarts;           /* caps each device's restart policy; UINT32_MAX: none */
};

/* The defaults: --min-sandbox on, --kvm-check full, nothing else. */
void operator_policy_init(struct operator_policy *p);

/* Handles option c (one of OPERATOR_LONG_OPTIONS) with its argument: 1
 * handled, 0 if c is not one of them, -EINVAL with "--opt ARG: why" in err. */
int operator_opt(struct operator_policy *p, int c, const char *arg, char *err, size_t errlen);

/* Is a sandbox mode at least the floor? on > log > off. */
bool operator_sandbox_ok(const struct operator_policy *p, enum sandbox_mode m);

/* The memory cap in force: the smaller of --max-memory and the host's RAM;
 * 0 when neither is known. */
uint64_t operator_memory_cap(const struct operator_policy *p);

/* Where path lies. With no directories (n == 0): 0, *dir = -1, *rel = path.
 * Else path must be absolute and normalised (no "." or ".." component, no
 * "//", no trailing "/") and beneath one of dirs[0..n): 0 with *dir its
 * index and *rel the rest (never empty, never starting with "/"); -EINVAL
 * with why in err otherwise. The answer depends on the text alone, so a
 * refusal reads the same whether the file exists or not. */
int operator_place(const char (*dirs)[VM_CONFIG_PATH_MAX], size_t n, const char *path,
		   int *dir, const char **rel, char *err, size_t errlen);

/* Whether cfg is within the floor: every sandbox mode (the VM's and each
 * device's), memory, cpus, the number of devices, and every path beneath
 * an allowed directory. 0, or -EINVAL with one line in err naming the field
 * and the floor, e.g. `block_devices[0].sandbox "off" is below the
 * operator's floor (--min-sandbox on)`. */
int operator_check(const struct operator_policy *p, const struct vm_config *cfg, char *err,
		   size_t errlen);

#endif
