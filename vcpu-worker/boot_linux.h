/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry.
 *
 * bzimage_parse is a pure function over the image bytes: it validates the
 * setup header and returns what loading needs. It refuses (-ENOEXEC, the
 * reason logged) a truncated image, a missing 0xAA55 boot flag or "HdrS"
 * magic, a protocol older than 2.12, a kernel without the 64-bit entry point
 * (XLF_KERNEL_64), a setup header or protected-mode code outside the image,
 * and a relocatable kernel whose alignment is not a power of two.
 *
 * linux_load writes into low RAM (m->ram[0], from GPA 0; `ram` is the host
 * address of GPA 0): the protected-mode kernel (at pref_address if
 * relocatable, else at 1 MiB), the initrd if ilen > 0 (as high as
 * initrd_addr_max and low RAM allow without touching the kernel's init_size
 * area), m->cmdline with what linux_cmdline adds, the zero page with the e820 map, a GDT and page tables
 * mapping the first 4 GiB 1:1. It fills *entry with the vCPU state for the
 * 64-bit entry point. Every range is checked before the first write, so on
 * error guest RAM is untouched: -EINVAL for a bad machine or cmdline, -ENOEXEC
 * for a bad image, -ENOMEM when the kernel or initrd does not fit. */
#ifndef CELLVM_BOOT_LINUX_H
#define CELLVM_BOOT_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine.h"

struct bzimage_info {
	uint16_t version;         /* boot protocol, e.g. 0x020f */
	uint32_t hdr_end;         /* image offset one past the setup header */
	size_t pm_offset;         /* protected-mode code: image offset ... */
	size_t pm_len;            /* ... and length (to the end of the image) */
	uint32_t init_size;       /* memory the kernel needs from its start */
	uint32_t kernel_alignment;
	bool relocatable;
	uint64_t pref_address;
	uint32_t cmdline_size;    /* longest cmdline, without the NUL */
	uint32_t initrd_addr_max; /* highest byte the initrd may occupy */
};

int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *out);

/* vCPU state at the 64-bit entry point: long mode with paging, flat
 * segments. The descriptors are raw GDT entries (base 0, limit 0xfffff,
 * G=1, P=1, DPL 0) from which the caller fills KVM's hidden segment parts. */
struct linux_entry {
	uint64_t rip, rsi, rsp;
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint16_t cs_sel, ds_sel;    /* __BOOT_CS (0x10), __BOOT_DS (0x18) */
	uint64_t code_desc;         /* 64-bit code (L=1), execute/read, accessed */
	uint64_t data_desc;         /* 32-bit data (D/B=1), read/write, accessed */
};

/* Long mode without a kernel: writes the GDT and the page tables mapping the
 * first 4 GiB 1:1 at their places below 1 MiB (layout.h) into `ram` (the
 * host address of GPA 0, at least LINUX_LONG_MODE_END bytes), and fills
 * *entry to enter 64-bit code at rip with RSP LAYOUT_STACK and RSI 0.
 * linux_load uses it; so does the KVM probe (kvm_probe.h), which must run
 * its vCPU in the very mode a kernel is entered in. */
#define LINUX_LONG_MODE_END 0xf000ull /* one past the last page table */
void linux_long_mode(uint8_t *ram, uint64_t rip, struct linux_entry *entry);

/* The command line the guest gets: `user` and, unless it names pci= itself,
 * " pci=off" (the machine has no PCI bus: its devices are virtio-mmio, so
 * the kernel need not probe PCI configuration space, thousands of port I/O
 * exits on some CPU models), when that still fits in `max` bytes (the
 * kernel's cmdline_size, the NUL left out) and in out[cap]. Returns the
 * length written to out (NUL-terminated), or -EINVAL when `user` alone does
 * not fit. Pure. */
int linux_cmdline(const char *user, uint32_t max, char *out, size_t cap);

int linux_load(uint8_t *ram, const struct machine *m, const uint8_t *kernel, size_t klen,
	       const uint8_t *initrd, size_t ilen, struct linux_entry *entry);

#endif
