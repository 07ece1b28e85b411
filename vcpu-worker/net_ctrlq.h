/* virtio-net's control queue, emulated by the frontend as QEMU's virtio-net
 * does for a vhost-user backend: the backend (cellvm-net, or any standard
 * vhost-user-net backend) serves only the data queue pairs and counts only
 * them in GET_QUEUE_NUM; the transport (virtio_mmio.h) offers the guest
 * VIRTIO_NET_F_CTRL_VQ and this one queue more, and turns the driver's
 * VQ_PAIRS_SET into SET_VRING_ENABLE of each pair's two rings, the
 * vhost-user way to take a pair in or out of use. So cellvm-net stays a
 * backend QEMU can drive, and this frontend can drive other backends.
 *
 * Commands are parsed by common/net_ctrl.h. A chain is served on the vCPU
 * thread that wrote the notify register: commands are rare (one at probe,
 * one per `ethtool -L`). The ring is walked by common/virtq.h over this
 * module's own mapping of guest RAM, with every guest check that implies. */
#ifndef CELLVM_NET_CTRLQ_H
#define CELLVM_NET_CTRLQ_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "kvm_vm.h"
#include "virtq.h"

struct net_ctrlq {
	struct guest_mem mem;
	struct virtq vq;
	struct virtq_elem elem;
	bool started;
	uint16_t max_pairs;
	uint16_t pairs; /* in use: 1 until the driver sets more */
};

/* Maps vm's RAM (its memfd) for the queue of a device of max_pairs pairs.
 * 0 or -errno, logged. */
int net_ctrlq_init(struct net_ctrlq *c, const struct kvm_vm *vm, uint16_t max_pairs);
void net_ctrlq_destroy(struct net_ctrlq *c);

/* The driver's ring of num entries at these guest-physical addresses, with
 * the negotiated features. 0 or -errno (rings outside RAM, misaligned). */
int net_ctrlq_start(struct net_ctrlq *c, uint16_t num, uint64_t desc, uint64_t avail,
		    uint64_t used, uint64_t features);

/* A device reset: the queue stops, one pair is in use. */
void net_ctrlq_reset(struct net_ctrlq *c);

/* Called for VQ_PAIRS_SET with the driver's count: 0, or -errno (the
 * command is answered VIRTIO_NET_ERR and c->pairs stays). */
typedef int net_ctrlq_set_pairs(void *opaque, uint16_t pairs);

/* Serves every chain the driver queued: the command parsed and, if it is a
 * VQ_PAIRS_SET, applied; its ack written to the chain's first writable
 * byte. Returns 1 if the driver wants an interrupt, 0 if not, -EIO if the
 * ring broke (the device then needs a reset). Nothing when not started. */
int net_ctrlq_process(struct net_ctrlq *c, net_ctrlq_set_pairs *set_pairs, void *opaque);

#endif
