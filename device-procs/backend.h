/* The vhost-user backend core shared by every device process.
 *
 * It owns one frontend connection at a time: the protocol state machine
 * (feature and protocol-feature negotiation, owner, memory table, vrings,
 * config, REPLY_ACK), and the vrings' eventfds in the event loop. A device
 * supplies a `struct vub_ops` and sees only started, enabled rings with
 * validated memory (common/virtq.h).
 *
 * Rings follow docs/interop/vhost-user.rst: a ring starts when it gets a kick
 * fd and stops on GET_VRING_BASE (whose reply carries the next avail index);
 * with VHOST_USER_F_PROTOCOL_FEATURES negotiated a ring is also disabled until
 * SET_VRING_ENABLE(1). A ring that is not both started and enabled never
 * touches guest memory. A message the core refuses gets a NACK when the
 * frontend asked for REPLY_ACK and a log line; a protocol violation that
 * leaves the stream unusable (bad framing) ends the connection. */
#ifndef CELLVM_BACKEND_H
#define CELLVM_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "dev_ctl.h"
#include "event_loop.h"
#include "guest_mem.h"
#include "msg.h"
#include "vhost_user.h"
#include "virtq.h"

#define VUB_MAX_QUEUES 16

struct vub;

struct vub_vring {
	struct vub *b;
	uint16_t index;
	uint16_t num;            /* SET_VRING_NUM; 0 until set */
	uint16_t base;           /* SET_VRING_BASE */
	bool addr_set;
	struct vhu_vring_addr addr; /* frontend virtual addresses */
	int kick_fd;
	int call_fd;
	int err_fd;
	bool enabled;
	bool started;
	bool mapped;             /* vq's rings translated for the current memory */
	bool err_signalled;      /* vub_vring_error() ran since the ring started */
	bool positioned;         /* unmapped while started: resume from the saved */
	uint16_t saved_used_idx; /* position (base is the avail side) */
	bool saved_broken;
	struct virtq vq;
	void *dev_priv;          /* the device's per-ring state */
	struct vhu_inflight_q inflight;  /* base NULL: not tracked */
	struct virtq_resubmit resubmit;  /* e on the heap; NULL: none */
};

struct vub_ops {
	const char *name;        /* short device name for logs: "blk" */
	uint32_t num_queues;     /* queues the device offers (<= VUB_MAX_QUEUES) */
	uint16_t max_queue_size; /* largest SET_VRING_NUM accepted (power of 2) */
	uint64_t features;       /* device feature bits; the core adds VERSION_1,
				    INDIRECT_DESC, EVENT_IDX, PROTOCOL_FEATURES */
	uint64_t protocol_features; /* beyond REPLY_ACK/CONFIGURE_MEM_SLOTS/RESET_DEVICE/
				       STATUS (always), MQ (num_queues > 1) and CONFIG
				       (get_config), which the core offers */
	/* Copies config space bytes [offset, offset+len) into buf; -EINVAL if
	 * the range is outside the device's config space. NULL for a device
	 * without config space: VHOST_USER_PROTOCOL_F_CONFIG is then not offered. */
	int (*get_config)(struct vub *b, uint32_t offset, uint8_t *buf, uint32_t len);
	/* Writes config space; NULL if the device has no writable config. */
	int (*set_config)(struct vub *b, uint32_t offset, const uint8_t *buf, uint32_t len);
	/* The frontend set these features (already checked to be offered). */
	int (*set_features)(struct vub *b, uint64_t features);
	/* Handles what the driver made available on a running ring. */
	void (*process)(struct vub *b, struct vub_vring *vr);
	/* A ring starts or stops running (started, enabled and mapped); optional.
	 * On a stop the device must drop every element it holds: guest memory
	 * may be unmapped right after. */
	void (*ring_running)(struct vub *b, struct vub_vring *vr, bool running);
	/* A running ring is about to stop or change (its fds, addresses,
	 * guest memory): the device finishes and answers what it has in
	 * flight there while the ring and memory are still mapped; optional. */
	void (*quiesce)(struct vub *b, struct vub_vring *vr);
	/* Device reset (RESET_OWNER, RESET_DEVICE, disconnect); optional. */
	void (*reset)(struct vub *b);
};

struct vub {
	const struct vub_ops *ops;
	void *dev;               /* the device's state */
	struct evloop *loop;
	int sock;                /* the frontend; -1 when none */
	uint64_t features;       /* acked by SET_FEATURES */
	uint64_t protocol_features;
	bool owner;
	uint8_t status;          /* SET_STATUS */
	struct guest_mem mem;
	struct vub_vring vrings[VUB_MAX_QUEUES];
	/* What the device did for the guest (dev_ctl.h), kept by its data path
	 * for the life of the process, across frontends: cellvmd reads them
	 * through --control-fd. */
	struct dev_ctl_counters counters;
	/* In-flight tracking (backend_inflight.h). */
	int inflight_fd;         /* the region's memfd; -1: none to give */
	uint64_t inflight_fd_size;
	uint8_t *inflight;       /* the region SET_INFLIGHT_FD gave; NULL: none */
	uint64_t inflight_len;
	uint16_t inflight_queues;
	uint16_t inflight_qsize;
	/* Called once the connection is gone (peer hang-up or fatal error). */
	void (*on_disconnect)(struct vub *b);
};

/* Every feature the backend offers (device + transport). The in-flight
 * region (PROTOCOL_F_INFLIGHT_SHMFD) is offered to every device: the core's
 * virtq tracks pops and pushes, so each device's rings resume after its
 * process is replaced. */
uint64_t vub_offered_features(const struct vub_ops *ops);
uint64_t vub_offered_protocol_features(const struct vub_ops *ops);

void vub_init(struct vub *b, const struct vub_ops *ops, void *dev, struct evloop *loop);

/* Makes the in-flight region's memfd (b->inflight_fd; the owner closes
 * it), before the process is confined: 0 or -errno (logged; the device
 * then answers GET_INFLIGHT_FD with no region). */
int vub_inflight_prepare(struct vub *b);

/* Serves frontend `sock` (takes ownership) from the event loop. */
int vub_attach(struct vub *b, int sock);

/* Closes the connection and every ring fd, unmaps guest memory, resets the
 * device; then calls on_disconnect. Safe to call when not attached. */
void vub_detach(struct vub *b);

/* Handles one decoded message (fds: its fds, consumed). Returns 0, or
 * -errno when the connection must end. Exposed for the fuzz harness. */
int vub_handle(struct vub *b, struct vhu_msg *m, struct msg_fds *fds);

bool vub_vring_running(const struct vub_vring *vr);

/* After pushing used elements: signals the call eventfd if the driver wants
 * an interrupt. */
void vub_vring_notify(struct vub_vring *vr);

/* Has the loop call process() for this ring again after what else is ready
 * (a device that stopped at its budget with buffers left): a write to the
 * ring's own kick eventfd. */
void vub_vring_rekick(struct vub_vring *vr);

/* The ring broke (virtq_pop returned -EIO): signal the err eventfd once, so
 * the frontend can set DEVICE_NEEDS_RESET. */
void vub_vring_error(struct vub_vring *vr);

#endif
