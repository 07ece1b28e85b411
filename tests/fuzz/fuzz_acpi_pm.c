/* libFuzzer harness: the ACPI power registers (vcpu-worker/acpi_pm.c) a
 * guest writes to power off or reset, checked against acpi_pm.h.
 *
 * Input: a sequence of records (access_seq.h): an op byte (bit 0 write,
 * bits 1-2 the size 1, 2, 4 or 8), an offset byte (the access is at
 * LAYOUT_PM_SLEEP_CTL - 4 + off % 12, so the window and its neighbours),
 * and for a write the size value bytes; each goes through bus_access as a
 * vCPU's port exit does.
 * Asserted (abort): only accesses wholly inside the three registers are
 * handled (others read all ones); per written byte, poweroff is called once
 * for SLP_EN with SLP_TYP = S5 at the control register, reset once for
 * LAYOUT_PM_RESET_VALUE at the reset register, and neither otherwise; any
 * other sleep request sets WAK_STS, writing 1 to it clears it; the status
 * register reads back only WAK_STS and the others read 0.
 *
 * Links: vcpu-worker/acpi_pm.c vcpu-worker/bus.c common/log.c */
#include <stdlib.h>
#include <string.h>

#include "access_seq.h"
#include "acpi_pm.h"
#include "bus.h"
#include "layout.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())
#define SLP_EN 0x20
#define WAK_STS 0x80

static struct acpi_pm pm;
static struct bus bus;
static struct {
	unsigned int poweroff, reset;
} calls;

static void fake_poweroff(void *opaque)
{
	CHECK(opaque == &calls);
	calls.poweroff++;
}

static void fake_reset(void *opaque)
{
	CHECK(opaque == &calls);
	calls.reset++;
}

static const struct acpi_pm_ops ops = { fake_poweroff, fake_reset };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		log_init("fuzz_acpi_pm", LOG_LVL_ERROR);
		inited = 1;
	}
	memset(&bus, 0, sizeof(bus));
	memset(&calls, 0, sizeof(calls));
	acpi_pm_init(&pm, &ops, &calls);
	if (acpi_pm_register(&pm, &bus) != 0)
		abort();
	uint8_t sts = 0; /* the shadow status register */
	size_t pos = 0;
	struct access a;
	while (access_next(data, size, &pos, &a)) {
		bool is_write = a.is_write;
		uint32_t len = a.len;
		uint64_t port = LAYOUT_PM_SLEEP_CTL - 4 + a.off % 12;
		uint8_t *buf = a.buf;
		bool mine = port >= LAYOUT_PM_SLEEP_CTL && port + len <= LAYOUT_PM_RESET + 1;
		unsigned int want_off = 0, want_reset = 0;
		for (uint32_t i = 0; mine && is_write && i < len; i++) {
			uint64_t reg = port + i;
			uint8_t v = buf[i];
			if (reg == LAYOUT_PM_SLEEP_CTL && (v & SLP_EN)) {
				if (((v >> 2) & 7) == LAYOUT_PM_S5_TYPE)
					want_off++;
				else
					sts |= WAK_STS;
			} else if (reg == LAYOUT_PM_SLEEP_STS) {
				sts &= (uint8_t)~(v & WAK_STS);
			} else if (reg == LAYOUT_PM_RESET && v == LAYOUT_PM_RESET_VALUE) {
				want_reset++;
			}
		}
		CHECK(bus_access(&bus, port, buf, len, is_write) == mine);
		for (uint32_t i = 0; !is_write && i < len; i++)
			CHECK(buf[i] == (!mine ? 0xff : port + i == LAYOUT_PM_SLEEP_STS ? sts : 0));
		CHECK(calls.poweroff == want_off && calls.reset == want_reset);
		calls.poweroff = calls.reset = 0;
	}
	return 0;
}
