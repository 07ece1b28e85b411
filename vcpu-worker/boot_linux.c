#include "boot_linux.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "bytes.h"
#include "layout.h"
#include "log.h"

/* Setup header fields (boot.rst): offsets in the image and, the header being
 * copied in place, in the zero page. */
#define HDR_START 0x1f1u
#define HDR_SETUP_SECTS 0x1f1u
#define HDR_VID_MODE 0x1fau
#define HDR_BOOT_FLAG 0x1feu
#define HDR_JUMP_OFFSET 0x201u       /* the short jump's displacement byte */
#define HDR_MAGIC 0x202u
#define HDR_VERSION 0x206u
#define HDR_TYPE_OF_LOADER 0x210u
#define HDR_CODE32_START 0x214u
#define HDR_RAMDISK_IMAGE 0x218u
#define HDR_RAMDISK_SIZE 0x21cu
#define HDR_CMD_LINE_PTR 0x228u
#define HDR_INITRD_ADDR_MAX 0x22cu
#define HDR_KERNEL_ALIGNMENT 0x230u
#define HDR_RELOCATABLE 0x234u
#define HDR_XLOADFLAGS 0x236u
#define HDR_CMDLINE_SIZE 0x238u
#define HDR_PREF_ADDRESS 0x258u
#define HDR_INIT_SIZE 0x260u
/* The header ends at 0x202 + the jump's displacement: at least through
 * handover_offset (all of protocol 2.12), at most as far as a forward short
 * jump reaches (0x7f), which is inside the zero page's header hole. */
#define HDR_MIN_END 0x268u
#define HDR_MAX_END (0x202u + 0x7fu)

#define BOOT_FLAG 0xaa55u
#define HDR_MAGIC_VALUE 0x53726448u  /* "HdrS" */
#define MIN_PROTOCOL 0x020cu         /* 2.12: xloadflags */
#define XLF_KERNEL_64 0x1u
#define SECTOR 512u
#define DEFAULT_SETUP_SECTS 4u       /* what setup_sects == 0 means */

/* boot_params ("zero page") outside the setup header. */
#define BP_SIZE 0x1000u
#define BP_ACPI_RSDP_ADDR 0x070u
#define BP_E820_ENTRIES 0x1e8u
#define BP_HDR_HOLE_END 0x290u       /* the header is copied into [0x1f1, 0x290) */
#define BP_E820_TABLE 0x2d0u
#define E820_ENTRY_SIZE 20u          /* packed: u64 addr, u64 size, u32 type */
#define E820_RAM 1u
#define E820_RESERVED 2u

#define LOADER_UNDEFINED 0xffu       /* type_of_loader: no assigned id */
#define VID_MODE_NORMAL 0xffffu
#define PAGE 0x1000ull

/* Identity map of [0, 4 GiB): one PDPT, four PDs of 2 MiB pages. */
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull
#define MAP_GIBS 4u
#define PD_ENTRIES 512u
#define HUGE_PAGE 0x200000ull

/* GDT: selectors 0x10 and 0x18 are what boot.rst requires (__BOOT_CS,
 * __BOOT_DS); entry 1 stays null. flags: G, D/B or L, P, DPL 0, S, type. */
#define GDT_ENTRY(flags, base, limit)                                                      \
	((((base) & 0xff000000ull) << 32) | (((uint64_t)(flags) & 0xf0ffull) << 40) |    \
	 (((limit) & 0xf0000ull) << 32) | (((base) & 0xffffffull) << 16) | ((limit) & 0xffffull))
#define GDT_CODE64 GDT_ENTRY(0xa09b, 0, 0xfffff) /* L=1, execute/read, accessed */
#define GDT_DATA GDT_ENTRY(0xc093, 0, 0xfffff)   /* D/B=1, read/write, accessed */
#define BOOT_CS 0x10u
#define BOOT_DS 0x18u
#define GDT_ENTRIES 4u

#define CR0_PE 0x1ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull

/* Everything written below 1 MiB sits in usable RAM and apart. */
_Static_assert(LAYOUT_GDT + GDT_ENTRIES * 8 <= LAYOUT_BOOT_PARAMS, "GDT overlaps zero page");
_Static_assert(LAYOUT_BOOT_PARAMS + BP_SIZE < LAYOUT_STACK, "zero page overlaps stack");
_Static_assert(LAYOUT_STACK <= LAYOUT_PML4, "stack overlaps page tables");
_Static_assert(LAYOUT_PDPT == LAYOUT_PML4 + PAGE && LAYOUT_PD == LAYOUT_PDPT + PAGE,
	       "page tables not contiguous");
_Static_assert(LAYOUT_PD + MAP_GIBS * PAGE <= LAYOUT_CMDLINE, "page tables overlap cmdline");
_Static_assert(LAYOUT_PD + MAP_GIBS * PAGE == LINUX_LONG_MODE_END, "LINUX_LONG_MODE_END is wrong");
_Static_assert(MACHINE_CMDLINE_MAX + 16 <= LAYOUT_CMDLINE_MAX, "cmdline area too small");
_Static_assert(LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX <= LAYOUT_EBDA, "cmdline in EBDA");
_Static_assert(HDR_MAX_END <= BP_HDR_HOLE_END, "setup header overruns its hole");
_Static_assert(HDR_MAX_END <= 2 * SECTOR, "setup header past the setup code");
_Static_assert(BP_E820_TABLE + (MACHINE_MAX_RAM + 2) * E820_ENTRY_SIZE <= BP_SIZE,
	       "e820 table overruns zero page");
/* Low RAM ends below 4 GiB, so all of it is identity-mapped and every
 * address the zero page holds fits in 32 bits. */
_Static_assert(MACHINE_LOW_RAM_END <= MAP_GIBS * (1ull << 30), "low RAM not mapped");

int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *out)
{
	if (len < HDR_MIN_END) {
		log_err("image of %zu bytes is too short for a setup header", len);
		return -ENOEXEC;
	}
	if (get_le16(img + HDR_BOOT_FLAG) != BOOT_FLAG || get_le32(img + HDR_MAGIC) != HDR_MAGIC_VALUE) {
		log_err("not a bzImage: no boot flag 0xAA55 or \"HdrS\" magic");
		return -ENOEXEC;
	}
	uint16_t version = get_le16(img + HDR_VERSION);
	if (version < MIN_PROTOCOL) {
		log_err("boot protocol %u.%02u too old, need 2.12", version >> 8, version & 0xff);
		return -ENOEXEC;
	}
	uint32_t hdr_end = 0x202u + img[HDR_JUMP_OFFSET];
	if (hdr_end < HDR_MIN_END || hdr_end > HDR_MAX_END) {
		log_err("setup header end %#x is not in %#x..%#x", hdr_end, HDR_MIN_END,
			HDR_MAX_END);
		return -ENOEXEC;
	}
	if (!(get_le16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
		log_err("kernel has no 64-bit entry point (XLF_KERNEL_64)");
		return -ENOEXEC;
	}
	unsigned int sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : DEFAULT_SETUP_SECTS;
	/* At most 128 KiB; inside the image, so the setup header is too. */
	size_t pm_offset = (sects + 1) * SECTOR;
	if (pm_offset >= len) {
		log_err("protected-mode code at %#zx is outside the %zu-byte image", pm_offset, len);
		return -ENOEXEC;
	}
	bool relocatable = img[HDR_RELOCATABLE] != 0;
	uint32_t align = get_le32(img + HDR_KERNEL_ALIGNMENT);
	if (relocatable && (align == 0 || (align & (align - 1)) != 0)) {
		log_err("kernel_alignment %#x is not a power of two", align);
		return -ENOEXEC;
	}
	*out = (struct bzimage_info){
		.version = version,
		.hdr_end = hdr_end,
		.pm_offset = pm_offset,
		.pm_len = len - pm_offset,
		.init_size = get_le32(img + HDR_INIT_SIZE),
		.kernel_alignment = align,
		.relocatable = relocatable,
		.pref_address = get_le64(img + HDR_PREF_ADDRESS),
		.cmdline_size = get_le32(img + HDR_CMDLINE_SIZE),
		.initrd_addr_max = get_le32(img + HDR_INITRD_ADDR_MAX),
	};
	return 0;
}

/* [addr, addr+len) lies below limit, computed without overflow. */
static bool fits(uint64_t addr, uint64_t len, uint64_t limit)
{
	return addr <= limit && len <= limit - addr;
}

/* Chooses where the protected-mode code goes (*load) and the end of what the
 * kernel uses before it reads the e820 map (*end): init_size bytes from its
 * runtime start (boot.rst, init_size). */
static int place_kernel(const struct bzimage_info *bz, uint64_t low_end, uint64_t *load,
			uint64_t *end)
{
	uint64_t start, runtime;
	if (bz->relocatable) {
		/* At pref_address, the kernel's LOAD_PHYSICAL_ADDR: the 64-bit
		 * decompressor would move itself up there from anywhere lower. */
		uint64_t mask = bz->kernel_alignment - 1ull;
		uint64_t want = bz->pref_address > LAYOUT_KERNEL ? bz->pref_address : LAYOUT_KERNEL;
		if (__builtin_add_overflow(want, mask, &start))
			start = UINT64_MAX; /* past any RAM: refused below */
		start &= ~mask;
		runtime = start;
	} else {
		/* Loaded where boot.rst puts a bzImage; it runs at pref_address. */
		start = LAYOUT_KERNEL;
		runtime = bz->pref_address;
		if (runtime < LAYOUT_KERNEL) {
			log_err("non-relocatable kernel runs at %#" PRIx64 ", below 1 MiB", runtime);
			return -ENOEXEC;
		}
	}
	if (!fits(start, bz->pm_len, low_end) || !fits(runtime, bz->init_size, low_end)) {
		log_err("kernel (%zu bytes at %#" PRIx64 ", init_size %#x at %#" PRIx64
			") does not fit low RAM ending at %#" PRIx64,
			bz->pm_len, start, bz->init_size, runtime, low_end);
		return -ENOMEM;
	}
	uint64_t code_end = start + bz->pm_len, init_end = runtime + bz->init_size;
	*load = start;
	*end = code_end > init_end ? code_end : init_end;
	return 0;
}

/* The highest page-aligned place for len bytes whose last byte is at most
 * initrd_addr_max: above the kernel if it fits there, else between 1 MiB and
 * the kernel. */
static int place_initrd(const struct bzimage_info *bz, uint64_t low_end, uint64_t kstart,
			uint64_t kend, uint64_t len, uint64_t *addr)
{
	uint64_t top = (uint64_t)bz->initrd_addr_max + 1;
	if (top > low_end)
		top = low_end;
	if (len <= top && ((top - len) & ~(PAGE - 1)) >= kend) {
		*addr = (top - len) & ~(PAGE - 1);
		return 0;
	}
	if (top > kstart)
		top = kstart;
	if (len <= top && ((top - len) & ~(PAGE - 1)) >= LAYOUT_KERNEL) {
		*addr = (top - len) & ~(PAGE - 1);
		return 0;
	}
	log_err("initrd of %" PRIu64 " bytes fits neither above the kernel nor below it "
		"(kernel %#" PRIx64 "..%#" PRIx64 ", initrd_addr_max %#x, low RAM ends at %#" PRIx64 ")",
		len, kstart, kend, bz->initrd_addr_max, low_end);
	return -ENOMEM;
}

static unsigned int e820_add(uint8_t *bp, unsigned int n, uint64_t addr, uint64_t size,
			     uint32_t type)
{
	uint8_t *e = bp + BP_E820_TABLE + n * E820_ENTRY_SIZE;
	put_le64(e, addr);
	put_le64(e + 8, size);
	put_le32(e + 16, type);
	return n + 1;
}

static void write_zero_page(uint8_t *ram, const struct machine *m, const uint8_t *kernel,
			    const struct bzimage_info *bz, uint64_t load, uint64_t initrd,
			    uint64_t ilen)
{
	uint8_t *bp = ram + LAYOUT_BOOT_PARAMS;
	memset(bp, 0, BP_SIZE);
	memcpy(bp + HDR_START, kernel + HDR_START, bz->hdr_end - HDR_START);
	put_le16(bp + HDR_VID_MODE, VID_MODE_NORMAL);
	bp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	/* boot.rst: a relocatable kernel loaded elsewhere than 1 MiB. */
	put_le32(bp + HDR_CODE32_START, (uint32_t)load);
	/* Everything is in low RAM: the ext_* high halves stay zero. */
	put_le32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd);
	put_le32(bp + HDR_RAMDISK_SIZE, (uint32_t)ilen);
	put_le32(bp + HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	/* Kernels before 5.0 ignore this field and find the RSDP by
	 * scanning 0xe0000..0xfffff, which is where it is. */
	put_le64(bp + BP_ACPI_RSDP_ADDR, LAYOUT_ACPI);

	unsigned int n = 0;
	n = e820_add(bp, n, 0, LAYOUT_EBDA, E820_RAM);
	n = e820_add(bp, n, LAYOUT_EBDA, LAYOUT_KERNEL - LAYOUT_EBDA, E820_RESERVED);
	n = e820_add(bp, n, LAYOUT_KERNEL, m->ram[0].size - LAYOUT_KERNEL, E820_RAM);
	for (size_t i = 1; i < m->nram; i++)
		n = e820_add(bp, n, m->ram[i].gpa, m->ram[i].size, E820_RAM);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
}

static void write_page_tables(uint8_t *ram)
{
	memset(ram + LAYOUT_PML4, 0, 2 * PAGE);
	put_le64(ram + LAYOUT_PML4, LAYOUT_PDPT | PTE_P | PTE_RW);
	for (unsigned int i = 0; i < MAP_GIBS; i++)
		put_le64(ram + LAYOUT_PDPT + 8 * i, (LAYOUT_PD + i * PAGE) | PTE_P | PTE_RW);
	for (uint64_t i = 0; i < MAP_GIBS * PD_ENTRIES; i++)
		put_le64(ram + LAYOUT_PD + 8 * i, (i * HUGE_PAGE) | PTE_P | PTE_RW | PTE_PS);
}

static void write_gdt(uint8_t *ram)
{
	memset(ram + LAYOUT_GDT, 0, GDT_ENTRIES * 8);
	put_le64(ram + LAYOUT_GDT + BOOT_CS, GDT_CODE64);
	put_le64(ram + LAYOUT_GDT + BOOT_DS, GDT_DATA);
}

void linux_long_mode(uint8_t *ram, uint64_t rip, struct linux_entry *entry)
{
	write_page_tables(ram);
	write_gdt(ram);
	*entry = (struct linux_entry){
		.rip = rip,
		.rsp = LAYOUT_STACK,
		.cr0 = CR0_PE | CR0_PG,
		.cr3 = LAYOUT_PML4,
		.cr4 = CR4_PAE,
		.efer = EFER_LME | EFER_LMA,
		.gdt_base = LAYOUT_GDT,
		.gdt_limit = GDT_ENTRIES * 8 - 1,
		.cs_sel = BOOT_CS,
		.ds_sel = BOOT_DS,
		.code_desc = GDT_CODE64,
		.data_desc = GDT_DATA,
	};
}

/* Whether the line has a parameter named `name` ("pci=" matches pci=...). */
static bool has_param(const char *line, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = line; *p;) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, name, n))
			return true;
		while (*p && *p != ' ')
			p++;
	}
	return false;
}

int linux_cmdline(const char *user, uint32_t max, char *out, size_t cap)
{
	static const char pci_off[] = " pci=off";
	size_t n = strlen(user);
	if (n > max || n >= cap)
		return -EINVAL;
	memcpy(out, user, n + 1);
	if (!has_param(user, "pci=") && n + strlen(pci_off) <= max && n + sizeof(pci_off) <= cap) {
		/* No leading blank on an empty line. */
		const char *add = n ? pci_off : pci_off + 1;
		memcpy(out + n, add, strlen(add) + 1);
		n += strlen(add);
	}
	return (int)n;
}

int linux_load(uint8_t *ram, const struct machine *m, const uint8_t *kernel, size_t klen,
	       const uint8_t *initrd, size_t ilen, struct linux_entry *entry)
{
	if (m->nram == 0 || m->nram > MACHINE_MAX_RAM || m->ram[0].gpa != 0 ||
	    m->ram[0].size < LAYOUT_KERNEL || m->ram[0].size > MACHINE_LOW_RAM_END) {
		log_err("low RAM must start at 0 and end between 1 MiB and %#llx",
			MACHINE_LOW_RAM_END);
		return -EINVAL;
	}
	uint64_t low_end = m->ram[0].size;
	size_t userlen = strnlen(m->cmdline, sizeof(m->cmdline));
	if (userlen == sizeof(m->cmdline)) {
		log_err("cmdline is not NUL-terminated");
		return -EINVAL;
	}

	struct bzimage_info bz;
	int err = bzimage_parse(kernel, klen, &bz);
	if (err)
		return err;
	char cmdline[MACHINE_CMDLINE_MAX + 16];
	int cmdlen = linux_cmdline(m->cmdline, bz.cmdline_size, cmdline, sizeof(cmdline));
	if (cmdlen < 0) {
		log_err("cmdline of %zu bytes is longer than the kernel's %u", userlen,
			bz.cmdline_size);
		return -EINVAL;
	}
	uint64_t load, kend, iaddr = 0;
	err = place_kernel(&bz, low_end, &load, &kend);
	if (err)
		return err;
	if (ilen > 0) {
		err = place_initrd(&bz, low_end, load, kend, ilen, &iaddr);
		if (err)
			return err;
	}

	/* All ranges are checked: the fixed structures lie below 1 MiB (see
	 * the asserts above), the kernel and initrd in [1 MiB, low_end). */
	memcpy(ram + load, kernel + bz.pm_offset, bz.pm_len);
	if (ilen > 0)
		memcpy(ram + iaddr, initrd, ilen);
	memcpy(ram + LAYOUT_CMDLINE, cmdline, (size_t)cmdlen + 1);
	write_zero_page(ram, m, kernel, &bz, load, iaddr, ilen);
	linux_long_mode(ram, load + 0x200 /* the 64-bit entry point */, entry);
	entry->rsi = LAYOUT_BOOT_PARAMS;
	log_info("kernel (protocol %u.%02u) at %#" PRIx64 "..%#" PRIx64 ", initrd %#" PRIx64
		 " (%zu bytes)", bz.version >> 8, bz.version & 0xff, load, kend, iaddr, ilen);
	return 0;
}
