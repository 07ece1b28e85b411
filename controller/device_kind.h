/* The kinds of virtio device a VM can have, one row each: the virtio id, the
 * prefix of its names in the machine ("blk" names blk0, blk1, ...), the binary
 * in the device directory that serves it, how many of it a config asks for,
 * and how one is planned: the fd it serves and its arguments. controller/vm.c
 * builds the machine, the spawner's list of binaries and each device's
 * process from this table alone, so a new kind of device is one row.
 *
 * The table's order is the machine's: every block device, then every net
 * device, then the console, then the rng, then the balloon, then the vsock. */
#ifndef CELLVM_DEVICE_KIND_H
#define CELLVM_DEVICE_KIND_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "gate.h"
#include "rate_limit_arg.h"
#include "sandbox_mode.h"

/* Fd numbers in a device process: fixed, so a command line reads the same in
 * every log. */
enum {
	DEVICE_FD_SOCKET = 3, /* its vhost-user connection */
	DEVICE_FD_RESOURCE,   /* its disk, tap or console host side */
	DEVICE_FD_CONTROL,    /* cellvmd's control channel (dev_ctl.h): --control-fd */
	DEVICE_FD_EXTRA,      /* its further resources from here: a net device's
			       * tap queues after the first */
};
#define DEVICE_EXTRA_MAX 7    /* a net device's 8 pairs' tap queues, less one */

/* How one device is served: a process cellvm starts, or an external
 * vhost-user backend (socket set, nothing else). */
struct device_plan {
	enum sandbox_mode sandbox;
	const char *args[12]; /* after --fd 3, NULL-terminated */
	int resource;        /* given to it as DEVICE_FD_RESOURCE; -1: none */
	int extra[DEVICE_EXTRA_MAX]; /* given as DEVICE_FD_EXTRA + i, never held */
	size_t nextra;
	int host;            /* the controller's end of resource (the console's); -1: none */
	bool hold;           /* the controller keeps resource open too, for the VM's
			      * life: a disk's lock lives on that open file */
	const char *socket;  /* an external backend's socket: connect here instead */
	char socket_field[48];    /* the config's name for it */
	char mac[18];        /* "--mac"'s argument */
	char limits[2][RL_ARG_MAX]; /* the rate limit options' arguments */
	char numbers[2][12];  /* numeric arguments (the balloon's, the vsock's CID) */
	char fd_list[32];     /* "4,6,7": a net device's tap queues */
};

/* Closes p's resource (unless held meanwhile: -1) and its extra fds. */
void device_plan_close(struct device_plan *p);

struct device_kind {
	uint32_t virtio_id;  /* VIRTIO_ID_* */
	const char *prefix;  /* machine names: prefix + index; its policy's kind */
	const char *binary;  /* in the device directory */
	size_t (*count)(const struct vm_config *cfg);
	/* Plans entry idx of this kind in cfg, opening what the device serves
	 * through gate (the controller opens every path, so sandboxed children
	 * need none).
	 * *p arrives with the VM's sandbox mode, resource and host -1 and the
	 * rest empty. 0 with *p filled, or a GuestError (LC_ERR_*, positive) with a line for
	 * the user in err that starts with name; nothing is left open then. */
	int (*plan)(const struct vm_config *cfg, size_t idx, const struct gate *gate,
		    const char *name, struct device_plan *p, char *err, size_t errlen);
};

#define DEVICE_KINDS 6
extern const struct device_kind device_kinds[DEVICE_KINDS];

#endif
