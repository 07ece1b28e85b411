/* The virtio-mmio transport (virtio 1.2 §4.2, version 2 registers) of one
 * device whose virtqueues a device process serves over vhost-user.
 *
 * The guest's register accesses arrive on vCPU threads through the MMIO bus.
 * Feature negotiation is checked here; on DRIVER_OK the rings are handed to
 * the backend (SET_FEATURES, SET_VRING_*), and each queue's notify register
 * becomes a KVM ioeventfd on the backend's kick eventfd, so a kick never
 * leaves the kernel. The backend's call eventfd is watched by the I/O thread:
 * it sets InterruptStatus bit 0 *before* raising the interrupt (an irqfd),
 * because the guest reads InterruptStatus before it looks at the rings. A
 * backend error (err eventfd, a refused or timed-out request) sets
 * DEVICE_NEEDS_RESET and raises a configuration-change interrupt. Writing 0
 * to Status resets the device: the rings are stopped (GET_VRING_BASE) and a
 * driver may initialise it again; no other write clears a Status bit. The
 * call and err eventfds count only while their ring is started: the backend
 * keeps them after a reset. Registers are 4 aligned bytes: another access
 * reads all ones and writes nothing; unknown and write-only registers read
 * 0. Config space (from 0x100) is the backend's, all ones where it refuses.
 * A virtio-net backend of several queue pairs (VIRTIO_NET_F_MQ) gets the
 * control queue emulated here, as QEMU does (net_ctrlq.h): one queue more
 * than the backend's, VIRTIO_NET_F_CTRL_VQ offered, and pairs the driver
 * leaves off disabled (SET_VRING_ENABLE 0). */
#ifndef CELLVM_VIRTIO_MMIO_H
#define CELLVM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "event_loop.h"
#include "kvm_vm.h"
#include "machine.h"
#include "vhu_frontend.h"

/* A backend's 16 (VUB_MAX_QUEUES), and a net device's control queue. */
#define VIRTIO_MMIO_MAX_QUEUES 17
#define VIRTIO_MMIO_QUEUE_MAX 256

struct virtio_mmio_queue {
	uint16_t num;
	bool ready;
	bool started;
	uint64_t desc, driver, device; /* guest-physical ring addresses */
	int kick_fd, call_fd, err_fd;
	struct virtio_mmio *dev;       /* for the I/O thread's callbacks */
};

struct virtio_mmio {
	const struct machine_virtio *desc;
	struct kvm_vm *vm;
	struct vhu_fe fe;
	pthread_mutex_t lock;          /* register state, vs vCPU threads */
	uint64_t device_features;      /* what the guest is offered */
	uint64_t driver_features;
	uint32_t device_features_sel, driver_features_sel;
	uint32_t queue_sel;
	uint32_t nqueues;
	uint32_t nbackend;             /* queues 0..nbackend-1 are the backend's */
	uint64_t backend_mask;         /* the features the backend may be given */
	/* virtio-net with MQ: queue nbackend is the control queue, served here
	 * (net_ctrlq.h); NULL otherwise. */
	struct net_ctrlq *ctrl;
	uint32_t status;
	atomic_uint isr;
	uint32_t config_generation;    /* ConfigGeneration: one more per change */
	int irq_fd;                    /* eventfd wired to the GSI */
	struct virtio_mmio_queue q[VIRTIO_MMIO_MAX_QUEUES];
};

/* Connects to the backend on sock (taken), negotiates, sends the memory
 * table, and sets up the interrupt and the queues' eventfds. */
int virtio_mmio_init(struct virtio_mmio *d, struct kvm_vm *vm,
		     const struct machine_virtio *desc, int sock);

/* The device's register window for the MMIO bus. */
struct bus_dev virtio_mmio_bus_dev(struct virtio_mmio *d);

/* Watches the queues' call and err eventfds from the I/O thread's loop. */
int virtio_mmio_watch(struct virtio_mmio *d, struct evloop *loop);

/* The backend changed its config space (cellvmd says so: the balloon's new
 * target): ConfigGeneration moves on and, once the driver is up
 * (DRIVER_OK), a configuration-change interrupt is raised. Any thread. */
void virtio_mmio_config_changed(struct virtio_mmio *d);

/* The backend's process died and a new one of the same device serves sock
 * (taken): the handshake and memory table again and, when the driver runs
 * the rings, its features, the in-flight region and every started ring at
 * its place, with the same eventfds. The guest sees nothing: its
 * registers, ioeventfds and interrupt routes are untouched, and what the
 * old process left in flight is answered by the new one. 0 or -errno
 * (logged); the caller then ends the VM. Any thread but a vCPU's. */
int virtio_mmio_reconnect(struct virtio_mmio *d, int sock);

/* Stops the rings and closes everything (the VM is no longer running). */
void virtio_mmio_destroy(struct virtio_mmio *d);

#endif
