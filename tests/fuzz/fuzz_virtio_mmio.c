/* libFuzzer harness: the virtio-mmio transport (vcpu-worker/virtio_mmio.c)
 * whose registers a hostile guest drives at will, through the MMIO bus as a
 * vCPU's exit does, with KVM and the vhost-user frontend replaced by the
 * checking fakes of tests/fuzz/fake_vmm.h.
 *
 * Input:
 *   byte 0      the queues the backend reports, % 10
 *   bytes 1-8   the features it offers, LE
 *   then        records as access_seq.h; the op byte's bits 3-7 pick where:
 *                 0-15   a register, base + off
 *                 16-19  the config space, base + 0x100 * (bits - 15) + off
 *                 20-21  around the window's end, base + 0xf80 + off
 *                 22-23  around its start, base - 0x80 + off
 *                 24-31  a write: a register; a read: an event,
 *                   24-25  the KVM (off bit 3) or frontend call after the
 *                          next (off >> 4) % 4 fails with -EIO, -ETIMEDOUT,
 *                          -EPROTO or -EINVAL (off % 4)
 *                   26-28  the backend signals queue off % 8's call eventfd
 *                   29-31  ... its err eventfd (then the I/O loop runs once)
 * Asserted (abort), besides the fakes' own checks: only accesses wholly in
 * the window are handled; registers read as virtio 1.2 §4.2.2 and
 * virtio_mmio.h say (QueueReady and QueueNumMax per selected queue, the
 * offered features per DeviceFeaturesSel, Status as written with refused
 * FEATURES_OK dropped and no bit cleared but by a reset, 0 for write-only
 * and unknown registers, all ones for accesses that are not 4 aligned
 * bytes); config reads give the backend's bytes or all ones if it refused;
 * the features set on the backend are what the driver accepted; at
 * DRIVER_OK every ready queue is started unless that failed; an ioeventfd
 * only while DRIVER_OK; after a reset, or the device's destruction, no ring
 * started and no ioeventfd left; no interrupt for a device in reset; a call
 * interrupts (ISR bit 0) exactly for a started queue, an err sets
 * DEVICE_NEEDS_RESET exactly for one; a failed frontend or KVM call at
 * DRIVER_OK sets DEVICE_NEEDS_RESET, and that always comes with a
 * configuration-change interrupt; a notify write kicks exactly a started
 * queue.
 *
 * Links: vcpu-worker/virtio_mmio.c vcpu-worker/bus.c tests/fuzz/fake_vmm.c
 *        vcpu-worker/net_ctrlq.c common/net_ctrl.c common/virtq.c common/vhu_inflight.c
 *        common/guest_mem.c
 *        common/iov.c common/machine.c common/event_loop.c common/fds.c common/log.c */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_seq.h"
#include "bus.h"
#include "bytes.h"
#include "event_loop.h"
#include "fake_vmm.h"
#include "log.h"
#include "virtio_mmio.h"
#include "virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) FAKE_CHECK(c)
#define HDR 9

#define ST_FEATURES_OK 8u
#define ST_DRIVER_OK 4u
#define ST_NEEDS_RESET 0x40u
#define ISR_USED 1u
#define ISR_CONFIG 2u
/* virtio 1.2 §6: the device-specific bits, and the transport's own the
 * backend's rings implement. */
#define OFFERED_MASK                                                                     \
	(((1ull << 24) - 1) | BIT_ULL(VIRTIO_F_INDIRECT_DESC) | BIT_ULL(VIRTIO_F_EVENT_IDX) | \
	 BIT_ULL(VIRTIO_F_VERSION_1))

static struct virtio_mmio dev;
static struct bus bus;

/* The driver-visible state as the spec and the header define it. */
static struct {
	uint32_t status, dfsel, drsel, qsel, nq;
	uint64_t offered, accepted;
	uint16_t num[VIRTIO_MMIO_MAX_QUEUES];
	bool ready[VIRTIO_MMIO_MAX_QUEUES];
} sh;

static bool queue_num_ok(uint32_t v)
{
	return v && v <= VIRTIO_MMIO_QUEUE_MAX && !(v & (v - 1));
}

static uint32_t expected_read(uint64_t off)
{
	bool q = sh.qsel < sh.nq;
	switch (off) {
	case 0x000: return 0x74726976u;
	case 0x004: return 2;
	case 0x008: return dev.desc->device_id;
	case 0x00c: return 0x4d564c43u;
	case 0x010: return sh.dfsel > 1 ? 0 : (uint32_t)(sh.offered >> (32 * sh.dfsel));
	case 0x034: return q ? VIRTIO_MMIO_QUEUE_MAX : 0;
	case 0x044: return q && sh.ready[sh.qsel];
	case 0x060: return atomic_load(&dev.isr);
	case 0x070: return sh.status | (dev.status & ST_NEEDS_RESET);
	case 0x0b0:
	case 0x0b4: return 0xffffffffu;
	default: return 0;
	}
}

static void sh_reset(void)
{
	memset(sh.num, 0, sizeof(sh.num));
	memset(sh.ready, 0, sizeof(sh.ready));
	sh.status = sh.dfsel = sh.drsel = sh.qsel = 0;
	sh.accepted = 0;
}

static void sh_status(uint32_t v)
{
	if (v == 0) {
		sh_reset();
		return;
	}
	v = (v & ~ST_NEEDS_RESET) | sh.status;
	uint32_t added = v & ~sh.status;
	if ((added & ST_FEATURES_OK) &&
	    ((sh.accepted & ~sh.offered) || !(sh.accepted & BIT_ULL(VIRTIO_F_VERSION_1))))
		v &= ~ST_FEATURES_OK;
	sh.status = v;
}

static void sh_write(uint64_t off, uint32_t v)
{
	bool q = sh.qsel < sh.nq;
	switch (off) {
	case 0x014: sh.dfsel = v; break;
	case 0x020:
		if (sh.drsel <= 1 && !(sh.status & ST_FEATURES_OK))
			sh.accepted = sh.drsel ? (sh.accepted & 0xffffffffull) | (uint64_t)v << 32
					       : (sh.accepted & ~0xffffffffull) | v;
		break;
	case 0x024: sh.drsel = v; break;
	case 0x030: sh.qsel = v; break;
	case 0x038:
		if (q && !sh.ready[sh.qsel] && !(sh.status & ST_DRIVER_OK) && queue_num_ok(v))
			sh.num[sh.qsel] = (uint16_t)v;
		break;
	case 0x044:
		if (q && (v == 0 || sh.num[sh.qsel]))
			sh.ready[sh.qsel] = v != 0;
		break;
	case 0x070: sh_status(v); break;
	default: break;
	}
}

/* How many kicks the queue's eventfd holds (drained). */
static uint64_t kicks(uint32_t i)
{
	uint64_t n;
	if (read(dev.q[i].kick_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return 0;
	return n;
}

static void event(struct evloop *loop, uint8_t kind, uint8_t off)
{
	if (kind <= 25) {
		static const int errs[] = { -EIO, -ETIMEDOUT, -EPROTO, -EINVAL };
		fake_fail_next(off & 8, errs[off % 4], (off >> 4) % 4);
		return;
	}
	uint32_t i = off % 8;
	if (i >= dev.nqueues)
		return;
	bool err = kind >= 29;
	bool started = fake.started[i];
	uint32_t before = dev.status;
	uint64_t one = 1;
	CHECK(write(err ? dev.q[i].err_fd : dev.q[i].call_fd, &one, sizeof(one)) == sizeof(one));
	CHECK(evloop_run_once(loop, 0) >= 0);
	uint64_t irqs = fake_irqs();
	CHECK(irqs == (started ? 1 : 0));
	if (!err) {
		CHECK(!started || (atomic_load(&dev.isr) & ISR_USED));
		CHECK(dev.status == before);
	} else {
		CHECK(dev.status == (started ? before | ST_NEEDS_RESET : before));
		CHECK(!started || (atomic_load(&dev.isr) & ISR_CONFIG));
	}
}

/* One access in or near the window, checked against the shadow. */
static void access_one(const struct access *a, uint64_t addr)
{
	uint64_t base = dev.desc->base;
	bool mine = addr >= base && addr - base < MACHINE_VIRTIO_SIZE &&
		    a->len <= MACHINE_VIRTIO_SIZE - (addr - base);
	struct access copy = *a, *out = &copy;
	uint32_t before = sh.status, isr_before = atomic_load(&dev.isr);
	uint32_t v = 0;
	if (a->is_write && a->len == 4)
		v = get_le32(a->buf);
	fake.failed = FAKE_NONE;
	CHECK(bus_access(&bus, addr, out->buf, a->len, a->is_write) == mine);
	uint64_t off = addr - base;
	if (!mine) {
		for (uint32_t i = 0; !a->is_write && i < a->len; i++)
			CHECK(out->buf[i] == 0xff);
		return;
	}
	if (off >= 0x100) {
		uint32_t c = (uint32_t)(off - 0x100);
		bool refused = fake.failed != FAKE_NONE || c + a->len > FAKE_CONFIG_SIZE;
		for (uint32_t i = 0; !a->is_write && i < a->len; i++)
			CHECK(out->buf[i] == (refused ? 0xff : fake_config_byte(c + i)));
		return;
	}
	if (a->len != 4 || (off & 3)) {
		for (uint32_t i = 0; !a->is_write && i < a->len; i++)
			CHECK(out->buf[i] == 0xff);
		CHECK(atomic_load(&dev.isr) == isr_before);
		return;
	}
	if (!a->is_write) {
		CHECK(get_le32(out->buf) == expected_read(off));
		return;
	}
	sh_write(off, v);
	if (off == 0x050)
		for (uint32_t i = 0; i < dev.nqueues; i++)
			CHECK(kicks(i) == (i == v && fake.started[i]));
	if (off == 0x064)
		CHECK(atomic_load(&dev.isr) == (isr_before & ~v));
	if (off == 0x070 && v == 0) {
		CHECK(fake_quiescent() && dev.status == 0 && atomic_load(&dev.isr) == 0);
		return;
	}
	bool failed = fake.failed == FAKE_SET_FEATURES || fake.failed == FAKE_START_RING ||
		      fake.failed == FAKE_IOEVENTFD;
	if (off == 0x070 && (sh.status & ~before & ST_DRIVER_OK) && (sh.status & ST_FEATURES_OK)) {
		/* driver_ok(): the accepted features, every ready queue, or a
		 * failure the driver is told of. */
		if (!(dev.status & ST_NEEDS_RESET)) {
			CHECK(fake.features_set && fake.features == sh.accepted);
			for (uint32_t i = 0; i < sh.nq; i++)
				CHECK(fake.started[i] == sh.ready[i]);
		}
	} else {
		CHECK(!failed);
	}
	if (failed)
		CHECK(dev.status & ST_NEEDS_RESET);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		log_init("fuzz_virtio_mmio", LOG_LVL_ERROR);
		inited = 1;
	}
	if (size < HDR)
		return 0;
	fake_setup(&dev, data[0] % 10, get_le64(data + 1));
	memset(&bus, 0, sizeof(bus));
	struct evloop *loop;
	CHECK(evloop_create(&loop) == 0);
	CHECK(virtio_mmio_init(&dev, &fake.vm, &fake.m.virtio[0], -1) == 0);
	CHECK(virtio_mmio_watch(&dev, loop) == 0);
	struct bus_dev bd = virtio_mmio_bus_dev(&dev);
	CHECK(bus_add(&bus, &bd) == 0);
	memset(&sh, 0, sizeof(sh));
	sh.nq = dev.nqueues;
	CHECK(sh.nq == (data[0] % 10 < VIRTIO_MMIO_MAX_QUEUES ? data[0] % 10 : VIRTIO_MMIO_MAX_QUEUES));
	sh.offered = fake.backend_features & OFFERED_MASK;

	size_t pos = HDR;
	struct access a;
	while (access_next(data, size, &pos, &a)) {
		uint8_t where = a.op >> 3;
		uint64_t base = dev.desc->base, addr;
		uint32_t needs_before = dev.status & ST_NEEDS_RESET;
		if (!a.is_write && where >= 24) {
			event(loop, where, a.off);
		} else {
			if (where < 16 || where >= 24)
				addr = base + a.off;
			else if (where < 20)
				addr = base + 0x100 * (where - 15u) + a.off;
			else if (where < 22)
				addr = base + 0xf80 + a.off;
			else
				addr = base - 0x80 + a.off;
			access_one(&a, addr);
			uint64_t irqs = fake_irqs();
			/* Only a new DEVICE_NEEDS_RESET interrupts from a register access. */
			bool raised = !needs_before && (dev.status & ST_NEEDS_RESET);
			CHECK(irqs == raised);
			CHECK(!raised || (atomic_load(&dev.isr) & ISR_CONFIG));
		}
		CHECK(!(atomic_load(&dev.isr) & ~(ISR_USED | ISR_CONFIG)));
		CHECK((dev.status & ~ST_NEEDS_RESET) == sh.status);
		for (uint32_t i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
			CHECK(!fake.ioeventfd[i] || (dev.status & ST_DRIVER_OK));
			CHECK(!fake.started[i] || fake.ioeventfd[i]);
		}
	}
	bool broken = fake.broken;
	virtio_mmio_destroy(&dev);
	CHECK(broken || fake_quiescent());
	evloop_destroy(loop);
	return 0;
}
