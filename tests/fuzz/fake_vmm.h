/* Fakes of KVM (kvm_vm_*) and of the vhost-user frontend (vhu_fe_*) for
 * tests of vcpu-worker/virtio_mmio.c, which link this file instead of
 * kvm_vm.c and vhu_frontend.c. They check how the transport uses them and
 * abort on a violation:
 *   - an ioeventfd is assigned only for the notify register, a queue that is
 *     ready with a valid size, with DRIVER_OK and FEATURES_OK set, once; and
 *     removed only if assigned;
 *   - features set on the backend are offered by the transport, VERSION_1
 *     among them, with FEATURES_OK and DRIVER_OK set;
 *   - the in-flight region is asked for after the features and given
 *     before a ring starts;
 *   - a ring is started once, after the features and its ioeventfd, with its
 *     three parts wholly inside guest RAM (the machine's RAM ranges, mapped
 *     as kvm_vm.c does) and its own eventfds; stopped only if started;
 *   - the irqfd is the device's GSI.
 * A test can make a coming call fail (fake_fail_next); -ETIMEDOUT and
 * -EPROTO break the connection as vhu_frontend.h says (later calls -EPIPE).
 * One device at a time: the fake's state is global. */
#ifndef CELLVM_TESTS_FAKE_VMM_H
#define CELLVM_TESTS_FAKE_VMM_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm_vm.h"
#include "machine.h"
#include "virtio_mmio.h"

#define FAKE_CONFIG_SIZE 256u
#define FAKE_CHECK(c) ((c) ? (void)0 : fake_violation(#c, __FILE__, __LINE__))

/* Where a call was made to fail. */
enum fake_call {
	FAKE_NONE,
	FAKE_SET_FEATURES,
	FAKE_START_RING,
	FAKE_STOP_RING,
	FAKE_IOEVENTFD,
	FAKE_GET_CONFIG,
	FAKE_SET_CONFIG,
	FAKE_RECONNECT,
};

struct fake_vmm {
	struct machine m;    /* the standard layout, one virtio device */
	struct kvm_vm vm;    /* m and RAM only: no VM fd */
	struct virtio_mmio *dev;
	uint64_t backend_features;
	uint32_t backend_queues;
	int fail_err;        /* a coming call's error, 0: none */
	unsigned int fail_skip; /* calls to let pass before it */
	bool fail_kvm;       /* ... for the next KVM call, else the next vhu_fe one */
	enum fake_call failed; /* the last call made to fail */
	bool broken;
	int irqfd;
	bool features_set;
	uint64_t features;
	bool started[VIRTIO_MMIO_MAX_QUEUES];
	bool ioeventfd[VIRTIO_MMIO_MAX_QUEUES];
	unsigned int stops;  /* GET_VRING_BASE calls */
	unsigned int reconnects;
	unsigned int inflight_gets;
	bool inflight_set;   /* SET_INFLIGHT_FD since the features */
	uint16_t base[VIRTIO_MMIO_MAX_QUEUES]; /* each ring's last start */
};

extern struct fake_vmm fake;

/* A new machine and backend; the device is then set up with
 * virtio_mmio_init(d, &fake.vm, &fake.m.virtio[0], -1). */
void fake_setup(struct virtio_mmio *d, uint32_t backend_queues, uint64_t backend_features);

/* The KVM (kvm true) or frontend call after the next `skip` ones returns err. */
void fake_fail_next(bool kvm, int err, unsigned int skip);

/* No ring is started and no ioeventfd assigned. */
bool fake_quiescent(void);

/* How many times the device's interrupt fired since the last call. */
uint64_t fake_irqs(void);

/* What the fake backend's config space holds at offset (256 bytes). */
uint8_t fake_config_byte(uint32_t offset);

_Noreturn void fake_violation(const char *what, const char *file, int line);

#endif
