/* The vhost-user frontend side of one device backend (a device process):
 * synchronous request/reply over its socket with the common codec, with
 * REPLY_ACK on every request that has no reply of its own, so that a refusal
 * is seen where it happens. The backend is less trusted than this process: a
 * reply that does not come within VHU_FE_TIMEOUT_MS, or that is malformed,
 * fails the call (-ETIMEDOUT/-EPROTO) and marks the connection broken; every
 * later call fails at once with -EPIPE. Calls may come from several threads
 * (vCPUs reading config, the I/O thread): a mutex serialises them.
 *
 * When the backend offers PROTOCOL_F_INFLIGHT_SHMFD, the frontend keeps the
 * in-flight region it hands out (GET_INFLIGHT_FD, once per driver
 * session) and gives it back on every start (SET_INFLIGHT_FD). A backend
 * process that died is replaced by a new one on a new socket
 * (vhu_fe_reconnect): the same device (the same features and queues),
 * which then picks up from the region what the old one left in flight. */
#ifndef CELLVM_VHU_FRONTEND_H
#define CELLVM_VHU_FRONTEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "machine.h"
#include "vhost_user.h"

#define VHU_FE_TIMEOUT_MS 5000

struct vhu_fe {
	char name[MACHINE_NAME_MAX];
	int sock;
	bool broken;
	uint64_t features;           /* offered by the backend */
	uint64_t protocol_features;  /* negotiated */
	uint32_t num_queues;
	uint32_t generation;         /* vhu_fe_reconnect()s so far */
	bool reconnecting;           /* probes pass: the new process may be starting */
	int inflight_fd;             /* the backend's region; -1: none */
	uint64_t inflight_size;
	uint16_t inflight_queues, inflight_qsize;
	pthread_mutex_t lock;
};

/* Takes sock; negotiates protocol features and sets the owner. */
int vhu_fe_init(struct vhu_fe *fe, const char *name, int sock);
void vhu_fe_close(struct vhu_fe *fe);

/* SET_MEM_TABLE with the machine's RAM ranges from mem_fd, as mapped at ram. */
int vhu_fe_set_mem_table(struct vhu_fe *fe, const struct machine *m, const uint8_t *ram,
			 int mem_fd);

int vhu_fe_set_features(struct vhu_fe *fe, uint64_t features);

/* Rings at frontend (our) virtual addresses; kick/call/err are eventfds.
 * base: the first avail index the backend pops (with a region, the backend
 * counts it from the used ring and the region instead). */
struct vhu_fe_ring {
	uint16_t num;
	uint16_t base;
	uint64_t desc, avail, used;
	int kick_fd, call_fd, err_fd;
	bool disabled; /* started disabled (SET_VRING_ENABLE 0): a net pair not in use */
};
int vhu_fe_start_ring(struct vhu_fe *fe, uint32_t index, const struct vhu_fe_ring *r);
/* SET_VRING_ENABLE; -ENOTSUP without VHOST_USER_F_PROTOCOL_FEATURES. */
int vhu_fe_enable_ring(struct vhu_fe *fe, uint32_t index, bool enable);
/* GET_VRING_BASE: stops the ring; *base gets the next avail index. */
int vhu_fe_stop_ring(struct vhu_fe *fe, uint32_t index, uint16_t *base);

/* A fresh in-flight region for nq rings of up to qsize entries
 * (GET_INFLIGHT_FD), replacing the one kept: 0 (also when the backend does
 * not track: fe->inflight_fd stays -1), or -errno. */
int vhu_fe_get_inflight(struct vhu_fe *fe, uint16_t nq, uint16_t qsize);
/* SET_INFLIGHT_FD with the region kept, before the rings start; 0 without
 * one. */
int vhu_fe_set_inflight(struct vhu_fe *fe);

/* Replaces a dead backend's connection by sock (taken): the handshake of
 * vhu_fe_init again, on a backend that must offer what the old one did
 * (-EPROTO otherwise). The region and everything above (memory table,
 * features, rings) are the caller's to send again. */
int vhu_fe_reconnect(struct vhu_fe *fe, int sock);

/* Is the backend alive? GET_FEATURES answered within timeout_ms with what it
 * offered at first: 0; else the connection is broken and the error is
 * returned (-ETIMEDOUT for a backend that hangs). 0 without asking while
 * vhu_fe_reconnect waits for a new process, which may still be starting. */
int vhu_fe_probe(struct vhu_fe *fe, int timeout_ms);

int vhu_fe_get_config(struct vhu_fe *fe, uint32_t offset, uint8_t *buf, uint32_t len);
int vhu_fe_set_config(struct vhu_fe *fe, uint32_t offset, const uint8_t *buf, uint32_t len);

#endif
