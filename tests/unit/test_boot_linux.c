#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot_linux.h"
#include "bytes.h"
#include "layout.h"
#include "log.h"
#include "testutil.h"

#define MB (1024ull * 1024)
#define GB (1024 * MB)
#define RAM_SIZE (32 * MB)
#define FILL 0x5a /* what RAM holds before a load: shows what was written */

/* A synthetic bzImage: 3 setup sectors, then PAYLOAD_LEN bytes of pattern. */
#define SETUP_SECTS 3u
#define PM_OFFSET ((SETUP_SECTS + 1) * 512u)
#define PAYLOAD_LEN 8192u
#define IMG_LEN (PM_OFFSET + PAYLOAD_LEN)
#define HDR_END 0x26cu /* 0x202 + jump displacement 0x6a, as in Linux 6.1 */
#define PREF 0x1000000ull
#define INIT_SIZE 0x800000u

static uint8_t img[IMG_LEN];
static uint8_t *ram;
static size_t ram_size;
static struct machine m;
static struct linux_entry entry;

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

static void build_image(void)
{
	memset(img, 0, sizeof(img));
	img[0x1f1] = SETUP_SECTS;
	put_le16(img + 0x1f2, 0x1234);        /* root_flags: checks the header copy */
	put_le16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = HDR_END - 0x202;
	memcpy(img + 0x202, "HdrS", 4);
	put_le16(img + 0x206, 0x020f);
	img[0x211] = 0x01;                 /* LOADED_HIGH */
	put_le32(img + 0x214, 0x100000);
	put_le32(img + 0x22c, 0x7fffffff);
	put_le32(img + 0x230, 0x200000);
	img[0x234] = 1;
	img[0x235] = 21;
	put_le16(img + 0x236, 0x1 | 0x2);     /* XLF_KERNEL_64 | above 4G */
	put_le32(img + 0x238, 2047);
	put_le64(img + 0x258, PREF);
	put_le32(img + 0x260, INIT_SIZE);
	put_le32(img + 0x264, 0xabcdef01);    /* handover_offset */
	put_le32(img + 0x268, 0x13572468);    /* kernel_info_offset: last header field */
	img[HDR_END] = 0x77;               /* past the header: must not be copied */
	for (size_t i = 0; i < PAYLOAD_LEN; i++)
		img[PM_OFFSET + i] = pattern(i);
}

static void use_ram(size_t size)
{
	free(ram);
	ram_size = size;
	ram = malloc(size); /* exactly the size, so ASan sees any write past it */
	cr_assert_not_null(ram);
	memset(ram, FILL, size);
	m.ram[0].size = size;
}

static void setup(void)
{
	log_set_level(LOG_LVL_WARN); /* no success lines in the test output */
	build_image();
	memset(&m, 0, sizeof(m));
	m.cpus = 1;
	m.nram = 1;
	strcpy(m.cmdline, "console=ttyS0 panic=-1");
	use_ram(RAM_SIZE);
	memset(&entry, 0, sizeof(entry));
}

static void teardown(void)
{
	free(ram);
	ram = NULL;
}

TestSuite(boot_linux, .init = setup, .fini = teardown);


static bool ram_untouched(void)
{
	for (size_t i = 0; i < ram_size; i++)
		if (ram[i] != FILL)
			return false;
	return true;
}

static int load(const uint8_t *initrd, size_t ilen)
{
	return linux_load(ram, &m, img, sizeof(img), initrd, ilen, &entry);
}

/* img (as mutated by the test) is refused by both entry points, with one
 * log line containing `why`, and RAM stays untouched. */
static void expect_bad_image(size_t len, const char *why)
{
	struct bzimage_info bz;
	tu_log_begin();
	int err = bzimage_parse(img, len, &bz);
	const char *log = tu_log_end();
	cr_assert_eq(err, -ENOEXEC);
	cr_assert(strstr(log, why), "log \"%s\" lacks \"%s\"", log, why);
	cr_assert_eq(strchr(log, '\n'), log + strlen(log) - 1, "not one line: %s", log);
	tu_log_begin();
	err = linux_load(ram, &m, img, len, NULL, 0, &entry);
	tu_log_end();
	cr_assert_eq(err, -ENOEXEC);
	cr_assert(ram_untouched());
}

/* A load refused with `err` and a log line containing `why`; RAM untouched. */
static void expect_refused(const uint8_t *initrd, size_t ilen, int want, const char *why)
{
	tu_log_begin();
	int err = load(initrd, ilen);
	const char *log = tu_log_end();
	cr_assert_eq(err, want, "got %d, want %d", err, want);
	cr_assert(strstr(log, why), "log \"%s\" lacks \"%s\"", log, why);
	cr_assert(ram_untouched());
}

/* ------------------------------------------------------------ parsing */

Test(boot_linux, parse_reads_the_header)
{
	struct bzimage_info bz;
	cr_assert_eq(bzimage_parse(img, sizeof(img), &bz), 0);
	cr_assert_eq(bz.version, 0x020f);
	cr_assert_eq(bz.hdr_end, HDR_END);
	cr_assert_eq(bz.pm_offset, PM_OFFSET);
	cr_assert_eq(bz.pm_len, PAYLOAD_LEN);
	cr_assert_eq(bz.init_size, INIT_SIZE);
	cr_assert_eq(bz.kernel_alignment, 0x200000);
	cr_assert(bz.relocatable);
	cr_assert_eq(bz.pref_address, PREF);
	cr_assert_eq(bz.cmdline_size, 2047);
	cr_assert_eq(bz.initrd_addr_max, 0x7fffffff);
}

Test(boot_linux, setup_sects_zero_means_four)
{
	struct bzimage_info bz;
	img[0x1f1] = 0;
	cr_assert_eq(bzimage_parse(img, sizeof(img), &bz), 0);
	cr_assert_eq(bz.pm_offset, 5 * 512);
	cr_assert_eq(bz.pm_len, IMG_LEN - 5 * 512);
}

Test(boot_linux, every_truncation_is_refused)
{
	/* A copy of exactly len bytes, so ASan catches any read past it. */
	for (size_t len = 0; len <= PM_OFFSET; len++) {
		uint8_t *copy = malloc(len ? len : 1);
		cr_assert_not_null(copy);
		memcpy(copy, img, len);
		struct bzimage_info bz;
		tu_log_begin();
		int err = bzimage_parse(copy, len, &bz);
		tu_log_end();
		cr_assert_eq(err, -ENOEXEC, "length %zu accepted", len);
		free(copy);
	}
	struct bzimage_info bz;
	cr_assert_eq(bzimage_parse(img, PM_OFFSET + 1, &bz), 0);
	cr_assert_eq(bz.pm_len, 1);
}

Test(boot_linux, truncation_is_named)
{
	expect_bad_image(0x100, "too short");
	expect_bad_image(HDR_END - 1, "outside");
	expect_bad_image(PM_OFFSET, "outside");
}

Test(boot_linux, bad_boot_flag)
{
	put_le16(img + 0x1fe, 0xaa56);
	expect_bad_image(sizeof(img), "0xAA55");
}

Test(boot_linux, bad_magic)
{
	memcpy(img + 0x202, "HdrZ", 4);
	expect_bad_image(sizeof(img), "HdrS");
}

Test(boot_linux, protocol_too_old)
{
	put_le16(img + 0x206, 0x020b);
	expect_bad_image(sizeof(img), "2.11 too old");
	put_le16(img + 0x206, 0x020c);
	struct bzimage_info bz;
	cr_assert_eq(bzimage_parse(img, sizeof(img), &bz), 0);
}

Test(boot_linux, no_64bit_entry)
{
	put_le16(img + 0x236, 0x2);
	expect_bad_image(sizeof(img), "XLF_KERNEL_64");
}

Test(boot_linux, header_end_out_of_range)
{
	img[0x201] = 0x65; /* ends at 0x267, before init_size's end */
	expect_bad_image(sizeof(img), "setup header end 0x267");
	img[0x201] = 0x80; /* a backward jump */
	expect_bad_image(sizeof(img), "setup header end 0x282");
	struct bzimage_info bz;
	img[0x201] = 0x66;
	cr_assert_eq(bzimage_parse(img, sizeof(img), &bz), 0);
	img[0x201] = 0x7f;
	cr_assert_eq(bzimage_parse(img, sizeof(img), &bz), 0);
}

Test(boot_linux, setup_sects_past_the_end)
{
	img[0x1f1] = 255; /* code at 128 KiB in a 10 KiB image */
	expect_bad_image(sizeof(img), "outside");
	img[0x1f1] = IMG_LEN / 512 - 1; /* code starts exactly at the end */
	expect_bad_image(sizeof(img), "outside");
}

Test(boot_linux, alignment_not_a_power_of_two)
{
	put_le32(img + 0x230, 0x300000);
	expect_bad_image(sizeof(img), "kernel_alignment 0x300000");
	put_le32(img + 0x230, 0);
	expect_bad_image(sizeof(img), "kernel_alignment 0");
	img[0x234] = 0; /* only a relocatable kernel is aligned */
	struct bzimage_info bz;
	cr_assert_eq(bzimage_parse(img, sizeof(img), &bz), 0);
}

/* ------------------------------------------------------------ loading */

Test(boot_linux, kernel_lands_at_pref_address)
{
	cr_assert_eq(load(NULL, 0), 0);
	for (size_t i = 0; i < PAYLOAD_LEN; i++)
		cr_assert_eq(ram[PREF + i], pattern(i), "byte %zu", i);
	cr_assert_eq(ram[PREF - 1], FILL);
	cr_assert_eq(ram[PREF + PAYLOAD_LEN], FILL);
	cr_assert_eq(entry.rip, PREF + 0x200);
}

Test(boot_linux, relocatable_kernel_is_aligned)
{
	put_le64(img + 0x258, PREF + 0x100000); /* rounds up to the next 2 MiB */
	cr_assert_eq(load(NULL, 0), 0);
	cr_assert_eq(entry.rip, PREF + 0x200000 + 0x200);
	cr_assert_eq(ram[PREF + 0x200000], pattern(0));
	use_ram(RAM_SIZE);
	put_le64(img + 0x258, 0); /* no preference: the first aligned place above 1 MiB */
	cr_assert_eq(load(NULL, 0), 0);
	cr_assert_eq(entry.rip, 0x200000 + 0x200);
}

Test(boot_linux, fixed_kernel_loads_at_1mib)
{
	img[0x234] = 0;
	cr_assert_eq(load(NULL, 0), 0);
	cr_assert_eq(entry.rip, LAYOUT_KERNEL + 0x200);
	cr_assert_eq(memcmp(ram + LAYOUT_KERNEL, img + PM_OFFSET, PAYLOAD_LEN), 0);
	cr_assert_eq(get_le32(ram + LAYOUT_BOOT_PARAMS + 0x214), LAYOUT_KERNEL);
}

Test(boot_linux, fixed_kernel_running_below_1mib)
{
	img[0x234] = 0;
	put_le64(img + 0x258, 0x10000);
	expect_refused(NULL, 0, -ENOEXEC, "below 1 MiB");
}

Test(boot_linux, fixed_kernel_runtime_area_must_fit)
{
	img[0x234] = 0;
	put_le64(img + 0x258, RAM_SIZE - INIT_SIZE + 0x1000); /* runs at pref, not at 1 MiB */
	expect_refused(NULL, 0, -ENOMEM, "does not fit");
}

Test(boot_linux, zero_page)
{
	cr_assert_eq(load(NULL, 0), 0);
	const uint8_t *bp = ram + LAYOUT_BOOT_PARAMS;
	cr_assert_eq(bp[0x100], 0, "zero page not cleared");
	cr_assert_eq(bp[0xfff], 0, "zero page not cleared");
	/* The header is copied through its last byte and no further. */
	cr_assert_eq(get_le16(bp + 0x1f2), 0x1234);
	cr_assert_eq(get_le16(bp + 0x1fe), 0xaa55);
	cr_assert_eq(memcmp(bp + 0x202, "HdrS", 4), 0);
	cr_assert_eq(get_le16(bp + 0x206), 0x020f);
	cr_assert_eq(get_le32(bp + 0x260), INIT_SIZE);
	cr_assert_eq(get_le32(bp + 0x264), 0xabcdef01);
	cr_assert_eq(get_le32(bp + 0x268), 0x13572468);
	cr_assert_eq(bp[HDR_END], 0);
	/* What the loader writes. */
	cr_assert_eq(get_le16(bp + 0x1fa), 0xffff);               /* vid_mode */
	cr_assert_eq(bp[0x210], 0xff);                         /* type_of_loader */
	cr_assert_eq(bp[0x211], 0x01);                         /* loadflags kept */
	cr_assert_eq(get_le32(bp + 0x214), PREF);                 /* code32_start */
	cr_assert_eq(get_le32(bp + 0x218), 0);                    /* no initrd */
	cr_assert_eq(get_le32(bp + 0x21c), 0);
	cr_assert_eq(get_le32(bp + 0x228), LAYOUT_CMDLINE);       /* cmd_line_ptr */
	cr_assert_eq(get_le32(bp + 0x0c8), 0);                    /* ext_cmd_line_ptr */
	cr_assert_eq(get_le64(bp + 0x070), LAYOUT_ACPI);          /* acpi_rsdp_addr */
}

static void expect_e820(unsigned int i, uint64_t addr, uint64_t size, uint32_t type)
{
	const uint8_t *e = ram + LAYOUT_BOOT_PARAMS + 0x2d0 + 20 * i;
	cr_assert_eq(get_le64(e), addr, "entry %u addr %#lx", i, (unsigned long)get_le64(e));
	cr_assert_eq(get_le64(e + 8), size, "entry %u size %#lx", i, (unsigned long)get_le64(e + 8));
	cr_assert_eq(get_le32(e + 16), type, "entry %u type %u", i, get_le32(e + 16));
}

Test(boot_linux, e820_map)
{
	cr_assert_eq(load(NULL, 0), 0);
	cr_assert_eq(ram[LAYOUT_BOOT_PARAMS + 0x1e8], 3);
	expect_e820(0, 0, LAYOUT_EBDA, 1);
	expect_e820(1, LAYOUT_EBDA, 0x100000 - LAYOUT_EBDA, 2);
	expect_e820(2, 0x100000, RAM_SIZE - 0x100000, 1);
	cr_assert_eq(get_le64(ram + LAYOUT_BOOT_PARAMS + 0x2d0 + 60), 0);
}

Test(boot_linux, e820_map_with_high_ram)
{
	m.nram = 2;
	m.ram[1] = (struct machine_ram){ .gpa = 4 * GB, .size = GB, .offset = RAM_SIZE };
	cr_assert_eq(load(NULL, 0), 0);
	cr_assert_eq(ram[LAYOUT_BOOT_PARAMS + 0x1e8], 4);
	expect_e820(2, 0x100000, RAM_SIZE - 0x100000, 1);
	expect_e820(3, 4 * GB, GB, 1);
}

Test(boot_linux, cmdline_written_and_terminated)
{
	cr_assert_eq(load(NULL, 0), 0);
	static const char want[] = "console=ttyS0 panic=-1 pci=off";
	cr_assert_eq(memcmp(ram + LAYOUT_CMDLINE, want, sizeof(want)), 0);
	cr_assert_eq(ram[LAYOUT_CMDLINE + sizeof(want)], FILL);
}

/* pci=off is added where the line does not name pci= and it fits. */
Test(boot_linux, cmdline_gets_pci_off)
{
	static const struct {
		const char *user;
		uint32_t max;
		const char *want; /* NULL: -EINVAL */
	} rows[] = {
		{ "console=ttyS0", 2047, "console=ttyS0 pci=off" },
		{ "", 2047, "pci=off" },
		{ "pci=conf1 quiet", 2047, "pci=conf1 quiet" },
		{ "quiet  pci=noacpi", 2047, "quiet  pci=noacpi" },
		{ "xpci=1 apci=off", 2047, "xpci=1 apci=off pci=off" },
		{ "pci", 2047, "pci pci=off" },
		{ "console=ttyS0", 21, "console=ttyS0 pci=off" },
		{ "console=ttyS0", 20, "console=ttyS0" },
		{ "console=ttyS0", 13, "console=ttyS0" },
		{ "console=ttyS0", 12, NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[64];
		memset(out, 'x', sizeof(out));
		int n = linux_cmdline(rows[i].user, rows[i].max, out, sizeof(out));
		if (!rows[i].want) {
			cr_expect_eq(n, -EINVAL, "row %zu", i);
			continue;
		}
		cr_expect_eq(n, (int)strlen(rows[i].want), "row %zu", i);
		cr_expect_str_eq(out, rows[i].want, "row %zu", i);
	}
	/* out too small for the addition: the line as is; too small for it: -EINVAL */
	char small[14];
	cr_expect_eq(linux_cmdline("console=ttyS0", 2047, small, sizeof(small)), 13);
	cr_expect_str_eq(small, "console=ttyS0");
	cr_expect_eq(linux_cmdline("console=ttyS0", 2047, small, 13), -EINVAL);
}

Test(boot_linux, cmdline_longer_than_kernel_takes)
{
	size_t n = strlen(m.cmdline);
	put_le32(img + 0x238, (uint32_t)n - 1);
	expect_refused(NULL, 0, -EINVAL, "cmdline");
	put_le32(img + 0x238, (uint32_t)n); /* cmdline_size excludes the NUL */
	cr_assert_eq(load(NULL, 0), 0);
}

Test(boot_linux, cmdline_not_terminated)
{
	memset(m.cmdline, 'a', sizeof(m.cmdline));
	put_le32(img + 0x238, 0xffffffff);
	expect_refused(NULL, 0, -EINVAL, "NUL");
}

static uint8_t *make_initrd(size_t len)
{
	uint8_t *p = malloc(len);
	cr_assert_not_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 13 + 1);
	return p;
}

static uint64_t initrd_addr(void)
{
	const uint8_t *bp = ram + LAYOUT_BOOT_PARAMS;
	return get_le32(bp + 0x218) | (uint64_t)get_le32(bp + 0x0c0) << 32;
}

static uint64_t initrd_size(void)
{
	const uint8_t *bp = ram + LAYOUT_BOOT_PARAMS;
	return get_le32(bp + 0x21c) | (uint64_t)get_le32(bp + 0x0c4) << 32;
}

Test(boot_linux, initrd_at_the_top_of_low_ram)
{
	size_t len = MB + 100;
	uint8_t *rd = make_initrd(len);
	cr_assert_eq(load(rd, len), 0);
	uint64_t want = (RAM_SIZE - len) & ~0xfffull;
	cr_assert_eq(initrd_addr(), want, "initrd at %#lx", (unsigned long)initrd_addr());
	cr_assert_eq(initrd_size(), len);
	cr_assert_eq(memcmp(ram + want, rd, len), 0);
	free(rd);
}

Test(boot_linux, initrd_below_initrd_addr_max)
{
	/* The last byte may sit exactly at initrd_addr_max. */
	put_le32(img + 0x22c, 28 * MB - 1);
	size_t len = 2 * MB;
	uint8_t *rd = make_initrd(len);
	cr_assert_eq(load(rd, len), 0);
	cr_assert_eq(initrd_addr(), 26 * MB);
	cr_assert_eq(memcmp(ram + 26 * MB, rd, len), 0);
	free(rd);
}

Test(boot_linux, initrd_below_the_kernel_when_above_is_too_small)
{
	/* 8 MiB free above the kernel's init_size area, 15 MiB below it. */
	size_t len = 10 * MB + 5;
	uint8_t *rd = make_initrd(len);
	cr_assert_eq(load(rd, len), 0);
	uint64_t want = (PREF - len) & ~0xfffull;
	cr_assert_eq(initrd_addr(), want, "initrd at %#lx", (unsigned long)initrd_addr());
	cr_assert_leq(want + len, PREF);
	cr_assert_eq(memcmp(ram + want, rd, len), 0);
	cr_assert_eq(memcmp(ram + PREF, img + PM_OFFSET, PAYLOAD_LEN), 0);
	free(rd);
}

Test(boot_linux, initrd_max_below_the_kernel)
{
	put_le32(img + 0x22c, 12 * MB - 1);
	size_t len = MB;
	uint8_t *rd = make_initrd(len);
	cr_assert_eq(load(rd, len), 0);
	cr_assert_eq(initrd_addr(), 11 * MB);
	free(rd);
}

Test(boot_linux, initrd_too_big)
{
	size_t len = 16 * MB; /* 8 MiB above the kernel, 15 MiB below */
	uint8_t *rd = make_initrd(len);
	expect_refused(rd, len, -ENOMEM, "initrd");
	free(rd);
}

Test(boot_linux, initrd_not_below_1mib)
{
	put_le32(img + 0x22c, 2 * MB - 1);
	uint8_t *rd = make_initrd(MB + 1); /* would fit at 0xff000 */
	expect_refused(rd, MB + 1, -ENOMEM, "initrd");
	free(rd);
}

Test(boot_linux, initrd_larger_than_address_space_below_max)
{
	put_le32(img + 0x22c, 0xfff); /* top (0x1000) below the initrd's size */
	uint8_t *rd = make_initrd(0x2000);
	expect_refused(rd, 0x2000, -ENOMEM, "initrd");
	free(rd);
}

Test(boot_linux, kernel_bigger_than_ram)
{
	/* The code itself (not init_size) overruns low RAM. */
	img[0x234] = 0;
	put_le64(img + 0x258, LAYOUT_KERNEL);
	put_le32(img + 0x260, 0x1000);
	use_ram(LAYOUT_KERNEL + PAYLOAD_LEN - 1);
	expect_refused(NULL, 0, -ENOMEM, "does not fit");
	use_ram(LAYOUT_KERNEL + PAYLOAD_LEN);
	cr_assert_eq(load(NULL, 0), 0);
}

Test(boot_linux, init_size_must_fit)
{
	put_le32(img + 0x260, RAM_SIZE - PREF + 1);
	expect_refused(NULL, 0, -ENOMEM, "does not fit");
	put_le32(img + 0x260, RAM_SIZE - PREF);
	cr_assert_eq(load(NULL, 0), 0);
}

Test(boot_linux, overflowing_values)
{
	put_le32(img + 0x260, 0xffffffff);
	expect_refused(NULL, 0, -ENOMEM, "does not fit");
	put_le32(img + 0x260, INIT_SIZE);
	put_le64(img + 0x258, UINT64_MAX - 0x1000); /* aligning up wraps */
	expect_refused(NULL, 0, -ENOMEM, "does not fit");
	img[0x234] = 0; /* runtime start + init_size wraps */
	expect_refused(NULL, 0, -ENOMEM, "does not fit");
	put_le64(img + 0x258, UINT64_MAX - PAYLOAD_LEN + 1); /* the relocatable load address wraps */
	img[0x234] = 1;
	put_le32(img + 0x230, 1);
	put_le32(img + 0x260, 0);
	expect_refused(NULL, 0, -ENOMEM, "does not fit");
}

Test(boot_linux, bad_machine)
{
	struct machine good = m;
	m.nram = 0;
	expect_refused(NULL, 0, -EINVAL, "low RAM");
	m = good;
	m.nram = MACHINE_MAX_RAM + 1;
	expect_refused(NULL, 0, -EINVAL, "low RAM");
	m = good;
	m.ram[0].gpa = 0x1000;
	expect_refused(NULL, 0, -EINVAL, "low RAM");
	m = good;
	m.ram[0].size = LAYOUT_KERNEL - 1;
	expect_refused(NULL, 0, -EINVAL, "low RAM");
	m = good;
	m.ram[0].size = MACHINE_LOW_RAM_END + 0x1000;
	expect_refused(NULL, 0, -EINVAL, "low RAM");
}

Test(boot_linux, bad_image_through_load)
{
	memcpy(img + 0x202, "HdrZ", 4);
	expect_refused(NULL, 0, -ENOEXEC, "HdrS");
}

/* Translates gpa through the page tables at cr3 as the CPU would (4-level,
 * 2 MiB pages); false if a level is not present. */
static bool walk(uint64_t gpa, uint64_t *out)
{
	const uint64_t mask = 0x000ffffffffff000ull;
	uint64_t e = get_le64(ram + entry.cr3 + 8 * ((gpa >> 39) & 511));
	if (!(e & 1) || !(e & 2))
		return false;
	e = get_le64(ram + (e & mask) + 8 * ((gpa >> 30) & 511));
	if (!(e & 1) || !(e & 2) || (e & 0x80))
		return false;
	e = get_le64(ram + (e & mask) + 8 * ((gpa >> 21) & 511));
	if (!(e & 1) || !(e & 2) || !(e & 0x80))
		return false;
	*out = (e & 0x000fffffffe00000ull) | (gpa & 0x1fffff);
	return true;
}

Test(boot_linux, identity_page_tables)
{
	cr_assert_eq(load(NULL, 0), 0);
	cr_assert_eq(entry.cr3, LAYOUT_PML4);
	const uint64_t gpas[] = { 0, 0x1234, MB, PREF + 0x200, 2 * MB - 1, GB + 7,
				  3 * GB + 0x10000, 3900 * MB + 5, 4 * GB - 1 };
	for (size_t i = 0; i < sizeof(gpas) / sizeof(gpas[0]); i++) {
		uint64_t hpa;
		cr_assert(walk(gpas[i], &hpa), "%#lx not mapped", (unsigned long)gpas[i]);
		cr_assert_eq(hpa, gpas[i], "%#lx maps to %#lx", (unsigned long)gpas[i],
			     (unsigned long)hpa);
	}
	uint64_t hpa;
	cr_assert_not(walk(4 * GB, &hpa));
	cr_assert_not(walk(512 * GB, &hpa));
	/* Nothing but the first 4 GiB: the rest of PML4 and PDPT is empty. */
	for (unsigned int i = 1; i < 512; i++)
		cr_assert_eq(get_le64(ram + LAYOUT_PML4 + 8 * i), 0, "PML4[%u]", i);
	for (unsigned int i = 4; i < 512; i++)
		cr_assert_eq(get_le64(ram + LAYOUT_PDPT + 8 * i), 0, "PDPT[%u]", i);
}

Test(boot_linux, gdt_and_entry_state)
{
	cr_assert_eq(load(NULL, 0), 0);
	cr_assert_eq(entry.gdt_base, LAYOUT_GDT);
	cr_assert_eq(entry.gdt_limit, 4 * 8 - 1);
	cr_assert_eq(entry.cs_sel, 0x10);
	cr_assert_eq(entry.ds_sel, 0x18);
	cr_assert_eq(get_le64(ram + LAYOUT_GDT), 0);
	cr_assert_eq(get_le64(ram + LAYOUT_GDT + 8), 0);
	cr_assert_eq(get_le64(ram + LAYOUT_GDT + 0x10), entry.code_desc);
	cr_assert_eq(get_le64(ram + LAYOUT_GDT + 0x18), entry.data_desc);
	/* Flat 4 GiB: base 0, limit 0xfffff with G; code is 64-bit
	 * execute/read, data read/write, both present at DPL 0. */
	cr_assert_eq(entry.code_desc, 0x00af9b000000ffffull);
	cr_assert_eq(entry.data_desc, 0x00cf93000000ffffull);
	cr_assert_eq(entry.rsi, LAYOUT_BOOT_PARAMS);
	cr_assert_eq(entry.rsp, LAYOUT_STACK);
	cr_assert_eq(entry.cr0, 0x80000001ull);  /* PE, PG */
	cr_assert_eq(entry.cr4, 0x20ull);        /* PAE */
	cr_assert_eq(entry.efer, 0x500ull);      /* LME, LMA */
}

/* The real thing, when the e2e setup has fetched it. */
Test(boot_linux, debian_kernel)
{
	const char *path = getenv("CELLVM_TEST_KERNEL");
	if (!path)
		cr_skip_test("CELLVM_TEST_KERNEL not set");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	size_t klen = (size_t)st.st_size;
	uint8_t *k = mmap(NULL, klen, PROT_READ, MAP_PRIVATE, fd, 0);
	cr_assert_neq(k, MAP_FAILED);
	close(fd);

	struct bzimage_info bz;
	cr_assert_eq(bzimage_parse(k, klen, &bz), 0);
	cr_assert_geq(bz.version, 0x020c);
	cr_assert(bz.relocatable);

	free(ram);
	ram_size = 256 * MB;
	ram = calloc(1, ram_size);
	cr_assert_not_null(ram);
	m.ram[0].size = ram_size;
	size_t ilen = 4 * MB;
	uint8_t *rd = make_initrd(ilen);
	cr_assert_eq(linux_load(ram, &m, k, klen, rd, ilen, &entry), 0);
	cr_assert_eq(entry.rip, bz.pref_address + 0x200);
	cr_assert_eq(memcmp(ram + bz.pref_address, k + bz.pm_offset, bz.pm_len), 0);
	cr_assert_geq(initrd_addr(), bz.pref_address + bz.init_size);
	cr_assert_leq(initrd_addr() + ilen, ram_size);
	free(rd);
	munmap(k, klen);
}
