/* The guest's ACPI tables: RSDP, XSDT, FADT, MADT and DSDT.
 *
 * The platform is hardware-reduced ACPI (no PM1 blocks, no SCI, no 8259 or
 * PIT for the OS to drive): power-off and reset go through the sleep control
 * and reset registers of vcpu-worker/acpi_pm, whose ports layout.h fixes.
 * The DSDT describes COM1 and every virtio-mmio device (_HID "LNRO0005",
 * as QEMU's microvm and Firecracker do), since Debian's kernel cannot take
 * them from the command line, and \_S5 so Linux can power off.
 *
 * acpi_build is a pure function: it writes the tables for guest-physical base
 * gpa into buf, RSDP first (so gpa is where the OS finds it: inside the BIOS
 * search area 0xe0000..0xfffff, 16-byte aligned), and sets *len to the bytes
 * used. It refuses (-EINVAL, the reason logged) a misaligned gpa, tables that
 * would end above 4 GiB, zero or too many CPUs or virtio devices, a virtio
 * window above 4 GiB and a serial IRQ above 15; -ENOSPC if cap is too small.
 * On error buf holds partial tables. */
#ifndef CELLVM_ACPI_H
#define CELLVM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"

int acpi_build(const struct machine *m, uint8_t *buf, size_t cap, uint64_t gpa, size_t *len);

#endif
