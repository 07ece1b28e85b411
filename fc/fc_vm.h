/* The VM cellvm-fc is asked for, in Firecracker's terms, and its translation
 * into cellvm's config (docs/config.md). Pure: JSON text in, JSON text and
 * Firecracker's fault messages out; no I/O.
 *
 * The pending VM is kept as Firecracker's FullVmConfiguration ("boot-source",
 * "machine-config", "drives", "network-interfaces", "vsock", "balloon",
 * "entropy", "logger", "metrics", and cellvm-only settings under "x-cellvm"),
 * which is also what a --config-file holds and GET /vm/config answers. Each
 * PUT or PATCH body is checked as Firecracker's schema has it (unknown keys,
 * types, required keys, ranges cellvm can serve) before it is stored; a
 * refused body leaves the VM as it was. */
#ifndef CELLVM_FC_VM_H
#define CELLVM_FC_VM_H

#include <stdbool.h>
#include <stddef.h>

#include "fc_route.h"

#define FC_BODY_DEPTH 6           /* a body's nesting: drive > rate_limiter > bucket */
#define FC_FILE_MAX (1u << 20)    /* a --config-file, at most */

struct fc_vm;

struct fc_vm *fc_vm_new(void);
void fc_vm_free(struct fc_vm *vm);

/* Applies one call's body (a PUT or PATCH op; id the path's {id} for drives
 * and NICs) to the pending VM: 0, or -EINVAL with the fault message in err,
 * or -ENOMEM. */
int fc_vm_apply(struct fc_vm *vm, enum fc_op op, const char *id, size_t id_len, const char *body,
		size_t len, char *err, size_t errlen);

/* Applies a config file's object, section by section, as the calls would. */
int fc_vm_load(struct fc_vm *vm, const char *text, size_t len, char *err, size_t errlen);

/* cellvm's config for the pending VM (malloc'd JSON text in *out): relative
 * paths made absolute against cwd (absolute; NULL: left as they are), and
 * "sandbox" set to sandbox unless NULL (x-cellvm's otherwise). -EINVAL with
 * the fault message when the VM cannot start (no boot source), -ENOMEM. */
int fc_vm_translate(const struct fc_vm *vm, const char *cwd, const char *sandbox, char **out,
		    char *err, size_t errlen);

/* The body a GET answers (malloc'd), for FC_OP_GET_MACHINE, FC_OP_GET_BALLOON
 * and FC_OP_GET_VM_CONFIG; NULL with a fault message in err when there is
 * nothing to show (no balloon) or out of memory. */
char *fc_vm_get(const struct fc_vm *vm, enum fc_op op, char *err, size_t errlen);

/* The cellvm device a drive or NIC of this id is ("blk1", "net0": the
 * translation's order): 0, or -ENOENT with a fault message in err. */
int fc_vm_device(const struct fc_vm *vm, bool drive, const char *id, size_t id_len, char *name,
		 size_t len, char *err, size_t errlen);

/* Whether the pending VM has this section ("metrics", "balloon", ...). */
bool fc_vm_has(const struct fc_vm *vm, const char *section);

/* A string member of a section ("logger", "log_path"), or NULL. */
const char *fc_vm_string(const struct fc_vm *vm, const char *section, const char *key);

#endif

/* For a PATCH while the VM runs (FC_OP_PATCH_DRIVE, _NET, _BALLOON): checks
 * body as fc_vm_apply() would, without applying it, and makes the params of
 * the controller's calls that carry it out (docs/rpc.md), each malloc'd, or
 * NULL when the body changes nothing of that: in *params SetRateLimiter's
 * {"device", "rate_limiter"} or {"device", "rx_rate_limiter",
 * "tx_rate_limiter"}, or SetBalloon's {"amount_mib"}; in *swap
 * UpdateBlockDevice's {"device", "path"} for a drive's new path_on_host
 * (made absolute against cwd, as fc_vm_translate() makes it; the same path
 * again is no change). -EINVAL with the fault message, or -ENOMEM. */
int fc_vm_patch_params(const struct fc_vm *vm, enum fc_op op, const char *id, size_t id_len,
		       const char *body, size_t len, const char *cwd, char **params, char **swap,
		       char *err, size_t errlen);

/* PUT /actions's body {"action_type": "..."}: FC_OP_INSTANCE_START,
 * _CTRL_ALT_DEL or _FLUSH_METRICS in *op, or -EINVAL with a fault message. */
int fc_vm_action(const char *body, size_t len, enum fc_op *op, char *err, size_t errlen);
