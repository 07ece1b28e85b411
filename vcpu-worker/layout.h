/* Fixed guest-physical addresses of what the vCPU worker writes below 1 MiB
 * and the platform I/O ports it emulates. The machine description
 * (common/machine.h) owns everything that varies per VM; these are the
 * constants of the boot and ACPI layout that both the loader and the table
 * generator must agree on. */
#ifndef CELLVM_LAYOUT_H
#define CELLVM_LAYOUT_H

/* Low memory, all inside the first 640 KiB of usable RAM or the reserved
 * BIOS area. */
#define LAYOUT_GDT 0x500ull            /* null, null, code64 (0x10), data (0x18) */
#define LAYOUT_BOOT_PARAMS 0x7000ull   /* the "zero page" (4 KiB) */
#define LAYOUT_PML4 0x9000ull          /* identity map of the first 4 GiB: */
#define LAYOUT_PDPT 0xa000ull          /*   PML4, PDPT and 4 PDs of 2 MiB pages */
#define LAYOUT_PD 0xb000ull            /*   0xb000..0xefff */
#define LAYOUT_STACK 0x8ff0ull         /* initial RSP, below the page tables */
#define LAYOUT_CMDLINE 0x20000ull
#define LAYOUT_CMDLINE_MAX 0x10000ull
#define LAYOUT_EBDA 0x9fc00ull         /* end of usable low RAM */
#define LAYOUT_ACPI 0xe0000ull         /* RSDP here (BIOS search area), tables after */
#define LAYOUT_ACPI_END 0x100000ull
#define LAYOUT_KERNEL 0x100000ull      /* 1 MiB: protected-mode kernel */
#define LAYOUT_RESET_VECTOR 0xffff0ull /* where a real-mode reset jumps (F000:FFF0) */

/* Interrupt controllers (fixed by KVM's in-kernel irqchip). */
#define LAYOUT_IOAPIC 0xfec00000ull
#define LAYOUT_LAPIC 0xfee00000ull

/* KVM's private pages for VMX (inside the MMIO hole, never RAM). */
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ull
#define LAYOUT_KVM_TSS 0xfeffd000ull

/* Port I/O of the hardware-reduced ACPI power device (vcpu-worker/acpi_pm.h):
 * sleep control (SLP_TYP/SLP_EN), sleep status, and the reset register. */
#define LAYOUT_PM_SLEEP_CTL 0x600u
#define LAYOUT_PM_SLEEP_STS 0x601u
#define LAYOUT_PM_RESET 0x602u
#define LAYOUT_PM_RESET_VALUE 0x01u
/* The S5 (soft off) sleep type the DSDT's \_S5 announces. */
#define LAYOUT_PM_S5_TYPE 5u

/* i8042: data and command/status ports (reset only). */
#define LAYOUT_I8042_DATA 0x60u
#define LAYOUT_I8042_CMD 0x64u

#endif
