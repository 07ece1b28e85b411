/* The virtio-mmio transport's registers through the MMIO bus, with KVM and
 * the vhost-user frontend faked (tests/fuzz/fake_vmm.h, which aborts on a
 * misuse: a ring started twice, an ioeventfd without DRIVER_OK, ...). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../fuzz/fake_vmm.h"
#include "bus.h"
#include "bytes.h"
#include "event_loop.h"
#include "log.h"
#include "virtio_mmio.h"
#include "virtq.h"

#define FEATURES (BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_F_EVENT_IDX) | 1)
#define NEEDS_RESET 0x40u

static struct virtio_mmio dev;
static struct bus bus;
static struct evloop *loop;

static void setup(void)
{
	log_init("test_virtio_mmio", LOG_LVL_ERROR);
	memset(&bus, 0, sizeof(bus));
	fake_setup(&dev, 2, FEATURES);
	cr_assert_eq(virtio_mmio_init(&dev, &fake.vm, &fake.m.virtio[0], -1), 0);
	cr_assert_eq(evloop_create(&loop), 0);
	cr_assert_eq(virtio_mmio_watch(&dev, loop), 0);
	struct bus_dev bd = virtio_mmio_bus_dev(&dev);
	cr_assert_eq(bus_add(&bus, &bd), 0);
}

static void teardown(void)
{
	virtio_mmio_destroy(&dev);
	evloop_destroy(loop);
}

TestSuite(virtio_mmio, .init = setup, .fini = teardown);

static uint32_t rd(uint32_t reg)
{
	uint8_t b[4];
	cr_assert(bus_access(&bus, fake.m.virtio[0].base + reg, b, 4, false));
	return get_le32(b);
}

static void wr(uint32_t reg, uint32_t v)
{
	uint8_t b[4];
	put_le32(b, v);
	cr_assert(bus_access(&bus, fake.m.virtio[0].base + reg, b, 4, true));
}

/* ---------------------------------------------------------- sequences */

struct step {
	uint16_t reg;
	uint32_t val;
};

#define END { 0xffff, 0 }
/* Reset, ACKNOWLEDGE, DRIVER, VERSION_1 and bit 0 accepted, FEATURES_OK. */
#define INIT { 0x70, 0 }, { 0x70, 1 }, { 0x70, 3 }, { 0x24, 0 }, { 0x20, 1 }, { 0x24, 1 }, \
	{ 0x20, 1 }, { 0x70, 11 }
/* Queue 0: num entries, rings at gpa, gpa + 0x1000, gpa + 0x2000, ready. */
#define QUEUE0(num, gpa) { 0x30, 0 }, { 0x38, num }, { 0x80, gpa }, { 0x90, (gpa) + 0x1000 }, \
	{ 0xa0, (gpa) + 0x2000 }, { 0x44, 1 }

static const struct seq_case {
	const char *name;
	struct step steps[24];
	uint32_t status;  /* Status read at the end */
	uint32_t ready;   /* queue 0's QueueReady */
	bool started;     /* queue 0's ring at the backend */
} seq_cases[] = {
	{ "full init", { INIT, QUEUE0(256, 0x100000), { 0x70, 15 }, END }, 15, 1, true },
	{ "DRIVER_OK without FEATURES_OK", { { 0x70, 1 }, { 0x70, 3 }, QUEUE0(256, 0x100000),
	  { 0x70, 7 }, END }, 7, 1, false },
	{ "a feature not offered", { { 0x70, 3 }, { 0x24, 0 }, { 0x20, 1 | 1u << 22 },
	  { 0x24, 1 }, { 0x20, 1 }, { 0x70, 11 }, QUEUE0(256, 0x100000), { 0x70, 15 }, END },
	  7, 1, false },
	{ "no VERSION_1", { { 0x70, 3 }, { 0x24, 0 }, { 0x20, 1 }, { 0x70, 11 }, END }, 3, 0,
	  false },
	{ "QueueReady with QueueNum 0", { INIT, QUEUE0(0, 0x100000), { 0x70, 15 }, END }, 15, 0,
	  false },
	{ "QueueNum above the maximum", { INIT, QUEUE0(512, 0x100000), { 0x70, 15 }, END }, 15,
	  0, false },
	{ "QueueNum not a power of 2", { INIT, QUEUE0(100, 0x100000), { 0x70, 15 }, END }, 15,
	  0, false },
	{ "rings across the end of low RAM", { INIT, QUEUE0(256, 0xbffff800), { 0x70, 15 },
	  END }, 15 | NEEDS_RESET, 1, false },
	{ "rings in the MMIO hole", { INIT, QUEUE0(8, 0xd0000000), { 0x70, 15 }, END },
	  15 | NEEDS_RESET, 1, false },
	{ "rings that end where RAM ends", { INIT, QUEUE0(256, 0xbfffd000), { 0x70, 15 }, END },
	  15, 1, true },
	{ "QueueNum after QueueReady", { INIT, QUEUE0(256, 0x100000), { 0x38, 512 },
	  { 0x70, 15 }, END }, 15, 1, true },
	/* Regression: clearing DRIVER_OK and setting it again started the
	 * ring a second time (the fake aborts) with its ioeventfd left. */
	{ "Status bits cleared", { INIT, QUEUE0(256, 0x100000), { 0x70, 15 }, { 0x70, 3 },
	  { 0x70, 15 }, END }, 15, 1, true },
	{ "DEVICE_NEEDS_RESET written", { { 0x70, NEEDS_RESET | 1 }, END }, 1, 0, false },
	{ "reset", { INIT, QUEUE0(256, 0x100000), { 0x70, 15 }, { 0x70, 0 }, END }, 0, 0,
	  false },
};

Test(virtio_mmio, sequences)
{
	for (size_t c = 0; c < sizeof(seq_cases) / sizeof(seq_cases[0]); c++) {
		const struct seq_case *k = &seq_cases[c];
		wr(0x70, 0);
		cr_assert(fake_quiescent(), "%s", k->name);
		fake_irqs();
		for (const struct step *s = k->steps; s->reg != 0xffff; s++)
			wr(s->reg, s->val);
		cr_expect_eq(rd(0x70), k->status, "%s: status %#x", k->name, rd(0x70));
		wr(0x30, 0);
		cr_expect_eq(rd(0x44), k->ready, "%s", k->name);
		cr_expect_eq(fake.started[0], k->started, "%s", k->name);
		cr_expect_eq(fake.ioeventfd[0], k->started, "%s", k->name);
		if (k->started)
			cr_expect_eq(fake.features, BIT_ULL(VIRTIO_F_VERSION_1) | 1, "%s", k->name);
		/* An interrupt exactly for a new DEVICE_NEEDS_RESET. */
		cr_expect_eq(fake_irqs(), (k->status & NEEDS_RESET) ? 1u : 0u, "%s", k->name);
	}
}

/* ---------------------------------------------------------- registers */

Test(virtio_mmio, identity_and_unknown_registers)
{
	cr_expect_eq(rd(0x000), 0x74726976u);
	cr_expect_eq(rd(0x004), 2u);
	cr_expect_eq(rd(0x008), 2u);
	cr_expect_eq(rd(0x0b0), 0xffffffffu); /* no shared memory */
	cr_expect_eq(rd(0x038), 0u);          /* QueueNum is write-only */
	cr_expect_eq(rd(0x0f0), 0u);
	wr(0x14, 1);
	cr_expect_eq(rd(0x010), 1u); /* VERSION_1 in the high word */
	wr(0x14, 2);
	cr_expect_eq(rd(0x010), 0u);
	uint8_t b[8];
	cr_assert(bus_access(&bus, fake.m.virtio[0].base + 0x70, b, 2, false));
	cr_expect_eq(get_le16(b), 0xffff);
	cr_assert(bus_access(&bus, fake.m.virtio[0].base + 0x02, b, 4, false));
	cr_expect_eq(get_le32(b), 0xffffffffu);
	put_le32(b, 1);
	cr_assert(bus_access(&bus, fake.m.virtio[0].base + 0x70, b, 1, true));
	cr_expect_eq(rd(0x70), 0u); /* a narrow write is ignored */
}

Test(virtio_mmio, queue_sel_out_of_range)
{
	wr(0x30, 2);
	cr_expect_eq(rd(0x34), 0u);
	wr(0x38, 16);
	wr(0x44, 1);
	cr_expect_eq(rd(0x44), 0u);
	wr(0x30, 1);
	cr_expect_eq(rd(0x34), (uint32_t)VIRTIO_MMIO_QUEUE_MAX);
}

Test(virtio_mmio, config_space)
{
	uint8_t b[8];
	cr_assert(bus_access(&bus, fake.m.virtio[0].base + 0x104, b, 2, false));
	cr_expect(b[0] == fake_config_byte(4) && b[1] == fake_config_byte(5));
	/* Refused by the backend: all ones. */
	cr_assert(bus_access(&bus, fake.m.virtio[0].base + 0x100 + FAKE_CONFIG_SIZE, b, 4, false));
	cr_expect_eq(get_le32(b), 0xffffffffu);
}

/* ---------------------------------------------------------- reset */

static void start_both(void)
{
	static const struct step init[] = { INIT, QUEUE0(256, 0x100000), { 0x30, 1 },
					    { 0x38, 64 }, { 0x80, 0 }, { 0x84, 1 },
					    { 0x90, 0x1000 }, { 0x94, 1 }, { 0xa0, 0x2000 },
					    { 0xa4, 1 }, { 0x44, 1 }, { 0x70, 15 }, END };
	for (const struct step *s = init; s->reg != 0xffff; s++)
		wr(s->reg, s->val);
	cr_assert(fake.started[0] && fake.started[1]);
}

Test(virtio_mmio, reset_stops_every_ring)
{
	start_both();
	wr(0x70, 0);
	cr_expect(fake_quiescent());
	cr_expect_eq(fake.stops, 2u);
	cr_expect_eq(rd(0x70), 0u);
	for (uint32_t q = 0; q < 2; q++) {
		wr(0x30, q);
		cr_expect_eq(rd(0x44), 0u);
	}
	start_both(); /* and the driver may start again */
}

/* Regression (fuzz_virtio_mmio, before it reached main): a notify of
 * 0xffffffff matched "no control queue" (UINT32_MAX) and indexed q[] with
 * it. Out of range notifies kick nothing. */
Test(virtio_mmio, notify_out_of_range_kicks_nothing)
{
	start_both();
	wr(0x50, 0xffffffffu);
	wr(0x50, 2);
	wr(0x50, VIRTIO_MMIO_MAX_QUEUES);
	for (uint32_t q = 0; q < 2; q++) {
		uint64_t v;
		cr_expect_lt(read(dev.q[q].kick_fd, &v, sizeof(v)), 0, "queue %u kicked", q);
	}
	cr_expect_eq(fake_irqs(), 0u);
	wr(0x50, 1);
	uint64_t v;
	cr_expect_eq(read(dev.q[1].kick_fd, &v, sizeof(v)), (ssize_t)sizeof(v));
}

static void signal(int fd)
{
	uint64_t one = 1;
	cr_assert_eq(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	cr_assert_geq(evloop_run_once(loop, 0), 0);
}

Test(virtio_mmio, call_interrupts_a_live_queue)
{
	start_both();
	signal(dev.q[1].call_fd);
	cr_expect_eq(fake_irqs(), 1u);
	cr_expect_eq(rd(0x60), 1u);
	wr(0x64, 1);
	cr_expect_eq(rd(0x60), 0u);
}

/* Regression: the backend still holds its call and err eventfds after
 * GET_VRING_BASE; a late signal interrupted a device in reset, or set
 * DEVICE_NEEDS_RESET, which a driver waiting for Status 0 never sees go. */
Test(virtio_mmio, signals_after_reset_are_ignored)
{
	start_both();
	wr(0x70, 0);
	fake_irqs();
	signal(dev.q[0].call_fd);
	signal(dev.q[1].err_fd);
	cr_expect_eq(fake_irqs(), 0u);
	cr_expect_eq(rd(0x60), 0u);
	cr_expect_eq(rd(0x70), 0u);
}

Test(virtio_mmio, err_sets_needs_reset)
{
	start_both();
	signal(dev.q[0].err_fd);
	cr_expect_eq(rd(0x70), 15u | NEEDS_RESET);
	cr_expect_eq(rd(0x60), 2u);
	cr_expect_eq(fake_irqs(), 1u);
}

/* The balloon's new target: ConfigGeneration moves on, and a driver that is
 * up gets a configuration-change interrupt; one that is not, none. */
Test(virtio_mmio, config_change_interrupts_a_live_driver)
{
	uint32_t gen = rd(0xfc);
	virtio_mmio_config_changed(&dev);
	cr_expect_eq(rd(0xfc), gen + 1);
	cr_expect_eq(fake_irqs(), 0u, "no interrupt before DRIVER_OK");
	cr_expect_eq(rd(0x60), 0u);
	start_both();
	virtio_mmio_config_changed(&dev);
	cr_expect_eq(rd(0xfc), gen + 2);
	cr_expect_eq(fake_irqs(), 1u);
	cr_expect_eq(rd(0x60), 2u);
}

/* ---------------------------------------------------------- failures */

static const struct fail_case {
	const char *name;
	bool kvm;
	int err;
	unsigned int skip;
} fail_cases[] = {
	{ "KVM refuses the ioeventfd", true, -ENOSPC, 0 },
	{ "SET_FEATURES refused", false, -EIO, 0 },
	{ "SET_VRING_* refused", false, -EIO, 1 },
	{ "backend times out", false, -ETIMEDOUT, 0 },
	{ "malformed reply", false, -EPROTO, 0 },
};

Test(virtio_mmio, frontend_errors_need_reset)
{
	for (size_t c = 0; c < sizeof(fail_cases) / sizeof(fail_cases[0]); c++) {
		const struct fail_case *k = &fail_cases[c];
		wr(0x70, 0);
		fake_irqs();
		fake_fail_next(k->kvm, k->err, k->skip);
		static const struct step init[] = { INIT, QUEUE0(256, 0x100000), { 0x70, 15 },
						    END };
		for (const struct step *s = init; s->reg != 0xffff; s++)
			wr(s->reg, s->val);
		cr_expect_eq(rd(0x70), 15u | NEEDS_RESET, "%s", k->name);
		cr_expect(rd(0x60) & 2u, "%s", k->name);
		cr_expect_eq(fake_irqs(), 1u, "%s", k->name);
		cr_expect(!fake.started[0] && !fake.ioeventfd[0], "%s", k->name);
	}
	/* Broken since the timeout: a new DRIVER_OK fails at once. */
	cr_expect(fake.broken);
}

/* A new backend process: the same rings started again, each from the used
 * index the guest sees, after the features and the in-flight region; no
 * interrupt, no register change, no ioeventfd touched. */
Test(virtio_mmio, reconnect_resumes_started_rings)
{
	start_both();
	cr_assert(fake.inflight_set && fake.inflight_gets == 1);
	/* Queue 1's used ring is at 0x100002000: its idx says 7 answered. */
	put_le16(kvm_vm_gpa(&fake.vm, 0x100002000ull + 2, 2), 7);
	fake_irqs();
	uint32_t status = rd(0x70);
	cr_assert_eq(virtio_mmio_reconnect(&dev, -1), 0);
	cr_expect_eq(fake.reconnects, 1u);
	cr_expect(fake.started[0] && fake.started[1]);
	cr_expect(fake.features_set && fake.inflight_set);
	cr_expect_eq(fake.inflight_gets, 1u, "the driver's region is kept");
	cr_expect_eq(fake.base[0], 0u);
	cr_expect_eq(fake.base[1], 7u);
	cr_expect_eq(fake_irqs(), 0u);
	cr_expect_eq(rd(0x70), status);
	/* And the transport goes on: a reset stops both on the new backend. */
	wr(0x70, 0);
	cr_expect(fake_quiescent());
}

Test(virtio_mmio, reconnect_before_driver_ok_starts_nothing)
{
	static const struct step init[] = { INIT, QUEUE0(256, 0x100000), END };
	for (const struct step *s = init; s->reg != 0xffff; s++)
		wr(s->reg, s->val);
	cr_assert_eq(virtio_mmio_reconnect(&dev, -1), 0);
	cr_expect(!fake.started[0] && !fake.features_set);
	wr(0x70, 15); /* the driver goes on on the new backend */
	cr_expect(fake.started[0]);
}

Test(virtio_mmio, reconnect_failure_is_returned)
{
	start_both();
	fake_fail_next(false, -EPROTO, 0);
	cr_expect_eq(virtio_mmio_reconnect(&dev, -1), -EPROTO);
}
