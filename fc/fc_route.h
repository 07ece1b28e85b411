/* Which Firecracker API call a request is, and whether the VM's phase
 * allows it: two pure decisions, the table Firecracker's swagger
 * (src/firecracker/swagger/firecracker.yaml) gives for the calls cellvm-fc
 * serves. "Pre-boot only" calls are refused once InstanceStart has run;
 * calls that need the running VM are refused before. */
#ifndef CELLVM_FC_ROUTE_H
#define CELLVM_FC_ROUTE_H

#include <stddef.h>

#include "http11.h"

enum fc_op {
	FC_OP_DESCRIBE,          /* GET / */
	FC_OP_VERSION,           /* GET /version */
	FC_OP_GET_VM_CONFIG,     /* GET /vm/config */
	FC_OP_PUT_BOOT,          /* PUT /boot-source */
	FC_OP_GET_MACHINE,       /* GET /machine-config */
	FC_OP_PUT_MACHINE,       /* PUT /machine-config */
	FC_OP_PATCH_MACHINE,     /* PATCH /machine-config */
	FC_OP_PUT_DRIVE,         /* PUT /drives/{id} */
	FC_OP_PATCH_DRIVE,       /* PATCH /drives/{id} */
	FC_OP_PUT_NET,           /* PUT /network-interfaces/{id} */
	FC_OP_PATCH_NET,         /* PATCH /network-interfaces/{id} */
	FC_OP_PUT_VSOCK,         /* PUT /vsock */
	FC_OP_PUT_ENTROPY,       /* PUT /entropy */
	FC_OP_GET_BALLOON,       /* GET /balloon */
	FC_OP_PUT_BALLOON,       /* PUT /balloon */
	FC_OP_PATCH_BALLOON,     /* PATCH /balloon */
	FC_OP_GET_BALLOON_STATS, /* GET /balloon/statistics */
	FC_OP_PATCH_BALLOON_STATS, /* PATCH /balloon/statistics */
	FC_OP_PUT_LOGGER,        /* PUT /logger */
	FC_OP_PUT_METRICS,       /* PUT /metrics */
	/* PUT /actions, by its body's action_type. */
	FC_OP_INSTANCE_START,
	FC_OP_CTRL_ALT_DEL,
	FC_OP_FLUSH_METRICS,
	FC_OP_COUNT,
};

enum fc_phase { FC_NOT_STARTED, FC_RUNNING };

struct fc_call {
	enum fc_op op;      /* FC_OP_COUNT for PUT /actions until its body is read */
	const char *id;     /* {id} of /drives/{id} and /network-interfaces/{id} */
	size_t id_len;
};

/* The call a method and path name: 0, or -1 when Firecracker's API has no
 * such call (or cellvm-fc does not serve it), answered 400 as Firecracker
 * does. An {id} is 1 to 64 bytes of letters, digits, '_' and '-'. */
int fc_route(enum http11_method m, const char *path, size_t len, struct fc_call *out);

/* NULL when op may run in phase, else the fault message to answer 400 with. */
const char *fc_allowed(enum fc_op op, enum fc_phase phase);

/* FC_OP_INSTANCE_START, _CTRL_ALT_DEL, _FLUSH_METRICS for an action_type,
 * FC_OP_COUNT for another. */
enum fc_op fc_action(const char *action_type);

/* "Not started" or "Running" (InstanceInfo's state). */
const char *fc_phase_name(enum fc_phase phase);

#endif
