#include "fake_vmm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bytes.h"
#include "log.h"
#include "vhu_frontend.h"
#include "virtq.h"

/* Above 3 GiB, so that rings can straddle the MMIO hole: 2 MiB at 4 GiB. */
#define FAKE_MEM_SIZE (MACHINE_LOW_RAM_END + (2ull << 20))
#define NOTIFY_OFF 0x50u
#define STATUS_DRIVER_OK 4u
#define STATUS_FEATURES_OK 8u

struct fake_vmm fake;

_Noreturn void fake_violation(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: fake_vmm: %s\n", file, line, what);
	abort();
}

void fake_setup(struct virtio_mmio *d, uint32_t backend_queues, uint64_t backend_features)
{
	/* Guest RAM costs only the pages touched: a reconnect reads the used
	 * rings' indexes, nothing else behind a ring is read. */
	static uint8_t *ram;
	memset(&fake, 0, sizeof(fake));
	FAKE_CHECK(machine_layout(&fake.m, 1, FAKE_MEM_SIZE, "") == 0);
	FAKE_CHECK(machine_add_virtio(&fake.m, "vd", 2) == 0);
	if (!ram) {
		ram = mmap(NULL, FAKE_MEM_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		FAKE_CHECK(ram != MAP_FAILED);
	}
	fake.vm.vm_fd = fake.vm.mem_fd = -1;
	fake.vm.ram = ram;
	fake.vm.ram_size = FAKE_MEM_SIZE;
	fake.vm.m = &fake.m;
	fake.dev = d;
	fake.backend_queues = backend_queues;
	fake.backend_features = backend_features;
	fake.irqfd = -1;
}

void fake_fail_next(bool kvm, int err, unsigned int skip)
{
	fake.fail_kvm = kvm;
	fake.fail_err = err;
	fake.fail_skip = skip;
}

bool fake_quiescent(void)
{
	for (int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		if (fake.started[i] || fake.ioeventfd[i])
			return false;
	return true;
}

uint64_t fake_irqs(void)
{
	uint64_t n;
	if (fake.irqfd < 0 || read(fake.irqfd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return 0;
	return n;
}

uint8_t fake_config_byte(uint32_t offset)
{
	return (uint8_t)(offset * 7 + 0x11);
}

/* The injected error for a call of kind `call`, or 0. */
static int injected(bool kvm, enum fake_call call)
{
	if (!kvm && fake.broken) {
		fake.failed = call;
		return -EPIPE;
	}
	if (!fake.fail_err || fake.fail_kvm != kvm)
		return 0;
	if (fake.fail_skip) {
		fake.fail_skip--;
		return 0;
	}
	int err = fake.fail_err;
	fake.fail_err = 0;
	fake.failed = call;
	if (!kvm && (err == -ETIMEDOUT || err == -EPROTO)) {
		fake.broken = true;
		fake.dev->fe.broken = true;
	}
	return err;
}

/* The queue's size is one the transport may hand on. */
static bool num_ok(uint16_t num)
{
	return num && num <= VIRTIO_MMIO_QUEUE_MAX && !(num & (num - 1));
}

/* The RAM range that holds all of [a, a+len), by guest-physical address
 * (gpa) or by offset in the mapping; NULL if none does. */
static const struct machine_ram *ram_range(uint64_t a, uint64_t len, bool gpa)
{
	for (size_t i = 0; i < fake.m.nram; i++) {
		const struct machine_ram *r = &fake.m.ram[i];
		uint64_t start = gpa ? r->gpa : r->offset;
		if (a >= start && a - start < r->size && len <= r->size - (a - start))
			return r;
	}
	return NULL;
}

/* A host address the backend is given lies in guest RAM with all its len. */
static bool in_ram(uint64_t p, uint64_t len)
{
	uint64_t ram = (uint64_t)(uintptr_t)fake.vm.ram;
	return p >= ram && ram_range(p - ram, len, false);
}

/* ---------------------------------------------------------- KVM */

void *kvm_vm_gpa(const struct kvm_vm *vm, uint64_t gpa, uint64_t len)
{
	FAKE_CHECK(vm == &fake.vm);
	const struct machine_ram *r = ram_range(gpa, len, true);
	return r ? vm->ram + r->offset + (gpa - r->gpa) : NULL;
}

int kvm_vm_irqfd(const struct kvm_vm *vm, int fd, uint32_t gsi, bool assign)
{
	FAKE_CHECK(vm == &fake.vm && assign && fd >= 0 && fake.irqfd < 0);
	FAKE_CHECK(gsi == fake.m.virtio[0].gsi);
	fake.irqfd = fd;
	return 0;
}

int kvm_vm_ioeventfd(const struct kvm_vm *vm, int fd, uint64_t addr, uint32_t value,
		     bool assign)
{
	const struct virtio_mmio *d = fake.dev;
	FAKE_CHECK(vm == &fake.vm && addr == fake.m.virtio[0].base + NOTIFY_OFF);
	FAKE_CHECK(value < d->nqueues && fd == d->q[value].kick_fd);
	if (!assign) {
		FAKE_CHECK(fake.ioeventfd[value]);
		fake.ioeventfd[value] = false;
		return 0;
	}
	FAKE_CHECK(!fake.ioeventfd[value]);
	FAKE_CHECK(d->q[value].ready && num_ok(d->q[value].num));
	FAKE_CHECK((d->status & STATUS_DRIVER_OK) && (d->status & STATUS_FEATURES_OK));
	int err = injected(true, FAKE_IOEVENTFD);
	if (!err)
		fake.ioeventfd[value] = true;
	return err;
}

/* ---------------------------------------------------------- vhost-user */

int vhu_fe_init(struct vhu_fe *fe, const char *name, int sock)
{
	FAKE_CHECK(fe == &fake.dev->fe && sock == -1);
	memset(fe, 0, sizeof(*fe));
	snprintf(fe->name, sizeof(fe->name), "%s", name);
	fe->sock = sock;
	fe->features = fake.backend_features;
	fe->num_queues = fake.backend_queues;
	return 0;
}

int vhu_fe_reconnect(struct vhu_fe *fe, int sock)
{
	FAKE_CHECK(fe == &fake.dev->fe);
	fe->sock = sock;
	/* A new backend: nothing started, nothing set. */
	fake.features_set = false;
	memset(fake.started, 0, sizeof(fake.started));
	fake.inflight_set = false;
	fake.reconnects++;
	return injected(false, FAKE_RECONNECT);
}

int vhu_fe_get_inflight(struct vhu_fe *fe, uint16_t nq, uint16_t qsize)
{
	FAKE_CHECK(fe == &fake.dev->fe && nq == fake.dev->nbackend && qsize);
	FAKE_CHECK(fake.features_set);
	fake.inflight_gets++;
	return 0;
}

int vhu_fe_set_inflight(struct vhu_fe *fe)
{
	FAKE_CHECK(fe == &fake.dev->fe && fake.features_set && fake.inflight_gets);
	fake.inflight_set = true;
	return 0;
}

void vhu_fe_close(struct vhu_fe *fe)
{
	FAKE_CHECK(fe == &fake.dev->fe);
}

int vhu_fe_set_mem_table(struct vhu_fe *fe, const struct machine *m, const uint8_t *ram,
			 int mem_fd)
{
	FAKE_CHECK(fe == &fake.dev->fe && m == &fake.m && ram == fake.vm.ram);
	FAKE_CHECK(mem_fd == fake.vm.mem_fd);
	return 0;
}

int vhu_fe_set_features(struct vhu_fe *fe, uint64_t features)
{
	const struct virtio_mmio *d = fake.dev;
	FAKE_CHECK(fe == &d->fe);
	FAKE_CHECK(!(features & ~d->device_features) && !(features & ~fe->features));
	FAKE_CHECK(features & BIT_ULL(VIRTIO_F_VERSION_1));
	FAKE_CHECK((d->status & STATUS_DRIVER_OK) && (d->status & STATUS_FEATURES_OK));
	int err = injected(false, FAKE_SET_FEATURES);
	if (err)
		return err;
	fake.features_set = true;
	fake.inflight_set = false;
	fake.features = features;
	return 0;
}

int vhu_fe_start_ring(struct vhu_fe *fe, uint32_t index, const struct vhu_fe_ring *r)
{
	const struct virtio_mmio *d = fake.dev;
	FAKE_CHECK(fe == &d->fe && index < d->nqueues && !fake.started[index]);
	FAKE_CHECK(fake.features_set && fake.ioeventfd[index] && num_ok(r->num));
	FAKE_CHECK(in_ram(r->desc, virtq_desc_size(r->num)));
	FAKE_CHECK(in_ram(r->avail, virtq_avail_size(r->num)));
	FAKE_CHECK(in_ram(r->used, virtq_used_size(r->num)));
	const struct virtio_mmio_queue *q = &d->q[index];
	FAKE_CHECK(r->kick_fd == q->kick_fd && r->call_fd == q->call_fd && r->err_fd == q->err_fd);
	FAKE_CHECK(r->kick_fd >= 0 && r->call_fd >= 0 && r->err_fd >= 0);
	FAKE_CHECK(fake.inflight_set);
	int err = injected(false, FAKE_START_RING);
	if (!err) {
		fake.started[index] = true;
		fake.base[index] = r->base;
	}
	return err;
}

int vhu_fe_enable_ring(struct vhu_fe *fe, uint32_t index, bool enable)
{
	/* Only a net device with an emulated control queue enables rings. */
	(void)fe;
	(void)index;
	(void)enable;
	fake_violation("a ring enabled by the control queue", __FILE__, __LINE__);
}

int vhu_fe_stop_ring(struct vhu_fe *fe, uint32_t index, uint16_t *base)
{
	FAKE_CHECK(fe == &fake.dev->fe && index < fake.dev->nqueues && fake.started[index]);
	fake.stops++;
	/* GET_VRING_BASE stops the ring even when its reply is lost. */
	fake.started[index] = false;
	int err = injected(false, FAKE_STOP_RING);
	if (!err)
		*base = 0;
	return err;
}

int vhu_fe_get_config(struct vhu_fe *fe, uint32_t offset, uint8_t *buf, uint32_t len)
{
	FAKE_CHECK(fe == &fake.dev->fe && len >= 1 && len <= 8);
	int err = injected(false, FAKE_GET_CONFIG);
	if (err)
		return err;
	if (offset > FAKE_CONFIG_SIZE || len > FAKE_CONFIG_SIZE - offset)
		return -EINVAL;
	for (uint32_t i = 0; i < len; i++)
		buf[i] = fake_config_byte(offset + i);
	return 0;
}

int vhu_fe_set_config(struct vhu_fe *fe, uint32_t offset, const uint8_t *buf, uint32_t len)
{
	FAKE_CHECK(fe == &fake.dev->fe && buf && len >= 1 && len <= 8);
	(void)offset;
	return injected(false, FAKE_SET_CONFIG);
}
