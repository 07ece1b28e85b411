/* The hardware-reduced ACPI power device: the FADT's sleep control, sleep
 * status and reset registers (one byte each, at the ports layout.h fixes).
 *
 * Writing SLP_EN with SLP_TYP = LAYOUT_PM_S5_TYPE (the DSDT's \_S5) calls
 * poweroff; writing LAYOUT_PM_RESET_VALUE to the reset register calls reset.
 * Other sleep types are not supported: the request is logged (rate-limited)
 * and the guest "wakes" at once, WAK_STS (sleep status bit 7) being set so
 * that ACPICA's wait for it ends. WAK_STS is cleared by writing 1 to it.
 *
 * Accesses come from any vCPU thread; the callbacks run on it, with no
 * lock held. */
#ifndef CELLVM_ACPI_PM_H
#define CELLVM_ACPI_PM_H

#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"

struct acpi_pm_ops {
	void (*poweroff)(void *opaque);
	void (*reset)(void *opaque);
};

/* The fields are private to acpi_pm.c. */
struct acpi_pm {
	struct acpi_pm_ops ops;
	void *opaque;
	atomic_uchar sleep_sts;
};

/* ops is copied. */
void acpi_pm_init(struct acpi_pm *pm, const struct acpi_pm_ops *ops, void *opaque);

/* Adds the three registers to the port-I/O bus (bus_add's errors). */
int acpi_pm_register(struct acpi_pm *pm, struct bus *bus);

/* The firmware's reset vector, for guest RAM at LAYOUT_RESET_VECTOR: real-mode
 * code that writes the reset register. Linux on hardware-reduced ACPI
 * reboots through EFI, and without EFI falls back to jumping to the BIOS at
 * F000:FFF0 in real mode; with no BIOS there it would run off into zeroes
 * instead of rebooting. */
#define ACPI_PM_RESET_STUB_SIZE 16
void acpi_pm_reset_stub(uint8_t out[ACPI_PM_RESET_STUB_SIZE]);

#endif
