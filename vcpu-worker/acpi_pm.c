#include "acpi_pm.h"

#include <string.h>

#include "layout.h"
#include "log.h"

/* ACPI 6.5 §4.8.3.7-8: sleep control and sleep status registers. */
#define SLP_EN 0x20
#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK 0x07
#define WAK_STS 0x80

#define REG_SLEEP_CTL (LAYOUT_PM_SLEEP_CTL - LAYOUT_PM_SLEEP_CTL)
#define REG_SLEEP_STS (LAYOUT_PM_SLEEP_STS - LAYOUT_PM_SLEEP_CTL)
#define REG_RESET (LAYOUT_PM_RESET - LAYOUT_PM_SLEEP_CTL)
#define NREGS 3

_Static_assert(REG_SLEEP_STS == 1 && REG_RESET == 2, "one window of three byte registers");

static void sleep_ctl_write(struct acpi_pm *pm, uint8_t v)
{
	if (!(v & SLP_EN))
		return;
	unsigned int typ = (v >> SLP_TYP_SHIFT) & SLP_TYP_MASK;
	if (typ == LAYOUT_PM_S5_TYPE) {
		pm->ops.poweroff(pm->opaque);
		return;
	}
	log_ratelimited(LOG_LVL_WARN, "acpi_pm: sleep type %u not supported, waking at once", typ);
	atomic_fetch_or(&pm->sleep_sts, WAK_STS);
}

static void reset_write(struct acpi_pm *pm, uint8_t v)
{
	if (v == LAYOUT_PM_RESET_VALUE)
		pm->ops.reset(pm->opaque);
	else
		log_ratelimited(LOG_LVL_DEBUG, "acpi_pm: reset register write %#x ignored", v);
}

/* Wider accesses reach the registers a byte at a time. */
static void pm_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	for (uint32_t i = 0; i < len; i++) {
		switch (off + i) {
		case REG_SLEEP_CTL:
			sleep_ctl_write(pm, data[i]);
			break;
		case REG_SLEEP_STS: /* write 1 to clear */
			atomic_fetch_and(&pm->sleep_sts, (unsigned char)~(data[i] & WAK_STS));
			break;
		default:
			reset_write(pm, data[i]);
			break;
		}
	}
}

/* Only the status register reads back; control and reset read as 0. */
static void pm_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i == REG_SLEEP_STS ? atomic_load(&pm->sleep_sts) : 0;
}

void acpi_pm_init(struct acpi_pm *pm, const struct acpi_pm_ops *ops, void *opaque)
{
	pm->ops = *ops;
	pm->opaque = opaque;
	atomic_init(&pm->sleep_sts, 0);
}

int acpi_pm_register(struct acpi_pm *pm, struct bus *bus)
{
	const struct bus_dev dev = {
		.name = "acpi_pm",
		.base = LAYOUT_PM_SLEEP_CTL,
		.len = NREGS,
		.read = pm_read,
		.write = pm_write,
		.opaque = pm,
	};
	return bus_add(bus, &dev);
}

void acpi_pm_reset_stub(uint8_t out[ACPI_PM_RESET_STUB_SIZE])
{
	const uint8_t code[ACPI_PM_RESET_STUB_SIZE] = {
		0xba, LAYOUT_PM_RESET & 0xff, LAYOUT_PM_RESET >> 8, /* mov dx, reset register */
		0xb0, LAYOUT_PM_RESET_VALUE,                        /* mov al, reset value */
		0xee,                                               /* out dx, al */
		0xf4,                                               /* hlt */
		0xeb, 0xfd,                                         /* jmp to the hlt */
	};
	memcpy(out, code, sizeof(code));
}
