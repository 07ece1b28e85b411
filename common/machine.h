/* The machine layout, described once as a flattened device tree.
 *
 * The controller builds the description (machine_layout + machine_to_fdt)
 * and hands the blob to cellvm-vcpu, which reads it back (machine_from_fdt)
 * and sets up KVM, the boot tables and ACPI from it: no second copy of the
 * layout exists anywhere.
 *
 * Tree shape (all cells 2/2 except where noted):
 *   / { compatible = "cellvm,machine-v1";
 *       memory@0      { device_type = "memory"; reg = <gpa size> ...; }
 *       cpus          { cpu@N { reg = <apic id (1 cell)>; } ... }
 *       chosen        { bootargs = "..."; }
 *       serial@3f8    { compatible = "ns16550a"; reg = <port 8>; interrupts = <irq>; }
 *       virtio_mmio@A { compatible = "virtio,mmio"; reg = <A 0x1000>;
 *                       interrupts = <gsi>; cellvm,name = "blk0";
 *                       cellvm,device-id = <virtio device id>; } ... }
 * (I/O ports use the same two-cell encoding, as plain numbers.)
 *
 * machine_from_fdt is a pure function over bytes: it refuses (-EINVAL, with
 * the reason logged) anything malformed or unsafe — a truncated or corrupt
 * blob, zero or too many CPUs or devices, RAM ranges that overlap, wrap, are
 * unaligned or reach the MMIO hole, device windows outside the hole or
 * overlapping, IRQs out of range or shared, names too long or duplicated. */
#ifndef CELLVM_MACHINE_H
#define CELLVM_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "virtio_ids.h"

#define MACHINE_MAX_CPUS 32
#define MACHINE_MAX_RAM 2
#define MACHINE_MAX_VIRTIO 8
#define MACHINE_NAME_MAX 16        /* including the NUL */
#define MACHINE_CMDLINE_MAX 2048   /* including the NUL */

/* x86 layout: RAM below the 32-bit hole, the rest above 4 GiB. */
#define MACHINE_LOW_RAM_END 0xc0000000ull   /* 3 GiB: the MMIO hole starts here */
#define MACHINE_HIGH_RAM_START 0x100000000ull
#define MACHINE_VIRTIO_BASE 0xd0000000ull
#define MACHINE_VIRTIO_SIZE 0x1000ull
#define MACHINE_VIRTIO_GSI_BASE 16u          /* IOAPIC pins 16..23 */
#define MACHINE_SERIAL_PORT 0x3f8u
#define MACHINE_SERIAL_IRQ 4u
#define MACHINE_IOAPIC_PINS 24u

struct machine_ram {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset; /* where this range starts in the guest-memory memfd */
};

struct machine_virtio {
	char name[MACHINE_NAME_MAX];
	uint32_t device_id; /* VIRTIO_ID_* (virtio_ids.h) */
	uint64_t base;      /* MMIO window, MACHINE_VIRTIO_SIZE bytes */
	uint32_t gsi;
};

struct machine {
	uint32_t cpus;
	size_t nram;
	struct machine_ram ram[MACHINE_MAX_RAM];
	uint16_t serial_port;
	uint32_t serial_irq;
	char cmdline[MACHINE_CMDLINE_MAX];
	size_t nvirtio;
	struct machine_virtio virtio[MACHINE_MAX_VIRTIO];
};

/* Fills m with the standard layout for `cpus` CPUs and mem_size bytes of RAM
 * (a multiple of 2 MiB) and the given cmdline; no virtio devices yet.
 * -EINVAL for out-of-range values. */
int machine_layout(struct machine *m, uint32_t cpus, uint64_t mem_size, const char *cmdline);

/* Adds a virtio-mmio device in the next free window and IRQ. -ENOSPC when
 * full, -EINVAL for a bad or duplicate name. */
int machine_add_virtio(struct machine *m, const char *name, uint32_t device_id);

/* Total RAM bytes (the size of the guest-memory memfd). */
uint64_t machine_ram_size(const struct machine *m);

/* Writes m as a device tree blob into buf; returns its size or -errno
 * (-ENOSPC if cap is too small). */
int machine_to_fdt(const struct machine *m, void *buf, size_t cap);

/* Reads and validates a blob of len bytes (8-byte aligned: libfdt insists). */
int machine_from_fdt(const void *blob, size_t len, struct machine *m);

#endif
