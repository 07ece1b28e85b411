#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acpi.h"
#include "aml.h"
#include "layout.h"
#include "machine.h"

#define AREA (LAYOUT_ACPI_END - LAYOUT_ACPI)

/* ------------------------------------------------------------ helpers */

static uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return le16(p) | le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool sums_to_zero(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s == 0;
}

/* Decodes a PkgLength; returns its size in bytes. */
static size_t pkglen_decode(const uint8_t *p, uint32_t *v)
{
	size_t n = (size_t)(p[0] >> 6) + 1;
	if (n == 1) {
		*v = p[0] & 0x3f;
		return 1;
	}
	*v = p[0] & 0x0f;
	for (size_t i = 1; i < n; i++)
		*v |= (uint32_t)p[i] << (4 + 8 * (i - 1));
	return n;
}

/* Decodes an integer term; returns its size in bytes. */
static size_t int_decode(const uint8_t *p, uint64_t *v)
{
	static const size_t widths[] = { [0x0a] = 1, [0x0b] = 2, [0x0c] = 4, [0x0e] = 8 };
	if (p[0] <= 1) {
		*v = p[0];
		return 1;
	}
	cr_assert(p[0] >= 0x0a && p[0] <= 0x0e && widths[p[0]], "not an integer: %#x", p[0]);
	*v = 0;
	for (size_t i = 0; i < widths[p[0]]; i++)
		*v |= (uint64_t)p[1 + i] << (8 * i);
	return 1 + widths[p[0]];
}

static void fill_machine(struct machine *m, uint32_t cpus, size_t nvirtio)
{
	memset(m, 0, sizeof(*m));
	m->cpus = cpus;
	m->nram = 1;
	m->ram[0] = (struct machine_ram){ .gpa = 0, .size = 256ull << 20, .offset = 0 };
	m->serial_port = MACHINE_SERIAL_PORT;
	m->serial_irq = MACHINE_SERIAL_IRQ;
	strcpy(m->cmdline, "console=ttyS0");
	m->nvirtio = nvirtio;
	/* Windows in reverse order, so base and GSI cannot both follow the index. */
	for (size_t i = 0; i < nvirtio; i++) {
		struct machine_virtio *v = &m->virtio[i];
		snprintf(v->name, sizeof(v->name), "dev%u", (unsigned)i % 10);
		v->device_id = VIRTIO_ID_BLOCK;
		v->base = MACHINE_VIRTIO_BASE + (nvirtio - 1 - i) * MACHINE_VIRTIO_SIZE;
		v->gsi = MACHINE_VIRTIO_GSI_BASE + (uint32_t)i;
	}
}

struct tables {
	const uint8_t *rsdp, *xsdt, *fadt, *madt, *dsdt;
};

/* The table at guest address addr if it lies in buf, has signature sig and a
 * correct checksum; NULL otherwise. */
static const uint8_t *table_at(const uint8_t *buf, size_t len, uint64_t addr, const char *sig)
{
	if (addr < LAYOUT_ACPI || addr - LAYOUT_ACPI > len - 36)
		return NULL;
	const uint8_t *t = buf + (addr - LAYOUT_ACPI);
	uint32_t tlen = le32(t + 4);
	if (memcmp(t, sig, 4) || tlen < 36 || tlen > len - (size_t)(t - buf))
		return NULL;
	return sums_to_zero(t, tlen) ? t : NULL;
}

/* Follows RSDP -> XSDT -> FADT/MADT, FADT -> DSDT; NULL if all is well. */
static const char *check_tables(const uint8_t *buf, size_t len, struct tables *t)
{
	memset(t, 0, sizeof(*t));
	t->rsdp = buf;
	if (len < 36 || memcmp(buf, "RSD PTR ", 8) || buf[15] != 2 || le32(buf + 20) != 36)
		return "RSDP header";
	if (!sums_to_zero(buf, 20) || !sums_to_zero(buf, 36))
		return "RSDP checksum";
	t->xsdt = table_at(buf, len, le64(buf + 24), "XSDT");
	if (!t->xsdt || (le32(t->xsdt + 4) - 36) % 8)
		return "XSDT";
	for (uint32_t off = 36; off < le32(t->xsdt + 4); off += 8) {
		uint64_t addr = le64(t->xsdt + off);
		const uint8_t *f = table_at(buf, len, addr, "FACP");
		const uint8_t *a = table_at(buf, len, addr, "APIC");
		if ((f && t->fadt) || (a && t->madt) || (!f && !a))
			return "XSDT entry";
		t->fadt = f ? f : t->fadt;
		t->madt = a ? a : t->madt;
	}
	if (!t->fadt || !t->madt)
		return "XSDT lacks FADT or MADT";
	if (le32(t->fadt + 4) != 276 || t->fadt[8] != 6)
		return "FADT revision 6 size";
	if (le64(t->fadt + 140) != le32(t->fadt + 40))
		return "FADT DSDT and X_DSDT differ";
	t->dsdt = table_at(buf, len, le64(t->fadt + 140), "DSDT");
	return t->dsdt ? NULL : "DSDT";
}

static size_t build(const struct machine *m, uint8_t *buf, struct tables *t)
{
	size_t len = 0;
	cr_assert_eq(acpi_build(m, buf, AREA, LAYOUT_ACPI, &len), 0);
	cr_assert(len > 0 && len <= AREA);
	const char *bad = check_tables(buf, len, t);
	cr_assert_null(bad, "%s", bad);
	return len;
}

static const uint32_t cpu_counts[] = { 1, 2, 7, MACHINE_MAX_CPUS };
static const size_t virtio_counts[] = { 0, 1, 3, MACHINE_MAX_VIRTIO };

/* ------------------------------------------------------------ AML */

Test(aml, pkglen_boundaries)
{
	static const struct {
		size_t content;
		int n;
		uint8_t bytes[4];
	} cases[] = {
		{ 0, 1, { 0x01 } },
		{ 62, 1, { 0x3f } },                   /* 63: the last 1-byte length */
		{ 63, 2, { 0x41, 0x04 } },             /* 65 */
		{ 4093, 2, { 0x4f, 0xff } },           /* 4095: the last 2-byte length */
		{ 4094, 3, { 0x81, 0x00, 0x01 } },     /* 4097 */
		{ 0xffffc, 3, { 0x8f, 0xff, 0xff } },  /* 0xfffff */
		{ 0xffffd, 4, { 0xc1, 0x00, 0x00, 0x01 } },
		{ 0xffffffb, 4, { 0xcf, 0xff, 0xff, 0xff } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[4] = { 0 };
		cr_assert_eq(aml_pkglen_encode(cases[i].content, out), cases[i].n, "case %zu", i);
		cr_assert_arr_eq(out, cases[i].bytes, (size_t)cases[i].n, "case %zu", i);
		uint32_t v;
		cr_assert_eq(pkglen_decode(out, &v), (size_t)cases[i].n);
		cr_assert_eq(v, cases[i].content + (size_t)cases[i].n);
	}
	uint8_t out[4];
	cr_assert_eq(aml_pkglen_encode(0xffffffc, out), -EINVAL);
	cr_assert_eq(aml_pkglen_encode(SIZE_MAX, out), -EINVAL);
}

/* aml_end inserts a PkgLength of the right size around contents of every
 * length near the boundaries. */
Test(aml, end_inserts_pkglen_at_boundaries)
{
	static const size_t sizes[] = { 60, 61, 62, 63, 64, 4092, 4093, 4094, 4095, 0xffffb,
					0xffffc, 0xffffd, 0xffffe };
	size_t cap = 0x100100;
	uint8_t *buf = malloc(cap);
	char *filler = malloc(0x100000);
	cr_assert(buf && filler);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* Scope contents: NameSeg (4) + String (prefix, k chars, NUL). */
		size_t k = sizes[i] - 6;
		memset(filler, 'x', k);
		filler[k] = '\0';
		struct aml a;
		aml_init(&a, buf, cap);
		size_t mark = aml_scope_begin(&a, "ABCD");
		aml_string(&a, filler);
		aml_end(&a, mark);
		cr_assert_eq(aml_error(&a), 0);
		uint32_t v;
		size_t n = pkglen_decode(buf + 1, &v);
		cr_assert_eq(n, sizes[i] < 63 ? 1 : sizes[i] < 4094 ? 2 : sizes[i] < 0xffffd ? 3 : 4,
			     "contents %zu", sizes[i]);
		cr_assert_eq(v, a.len - 1, "contents %zu", sizes[i]);
		cr_assert_eq(memcmp(buf + 1 + n, "ABCD", 4), 0);
	}
	free(filler);
	free(buf);
}

static void expect_bytes(void (*emit)(struct aml *, const void *), const void *arg,
			 const uint8_t *want, size_t n)
{
	uint8_t buf[64];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	emit(&a, arg);
	cr_assert_eq(aml_error(&a), 0);
	cr_assert_eq(a.len, n);
	cr_assert_arr_eq(buf, want, n);
}

static void emit_name(struct aml *a, const void *s)
{
	aml_namestring(a, s);
}

Test(aml, namestrings)
{
	expect_bytes(emit_name, "\\", (const uint8_t *)"\\\0", 2);
	expect_bytes(emit_name, "_SB", (const uint8_t *)"_SB_", 4);
	expect_bytes(emit_name, "\\_S5", (const uint8_t *)"\\_S5_", 5);
	expect_bytes(emit_name, "\\_SB.VR00", (const uint8_t *)"\\\x2e_SB_VR00", 10);
	expect_bytes(emit_name, "^^AB.C.D", (const uint8_t *)"^^\x2f\x03"
						"AB__C___D___", 16);
	static const char *const bad[] = { "", "abc", "ABCDE", "1ABC", "A..B", "A.", ".A",
					   "\\^A", "A-B", "\\\\A" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t buf[32];
		struct aml a;
		aml_init(&a, buf, sizeof(buf));
		aml_namestring(&a, bad[i]);
		cr_assert_eq(aml_error(&a), -EINVAL, "\"%s\"", bad[i]);
		cr_assert_eq(a.len, 0, "nothing written for \"%s\"", bad[i]);
	}
}

static void emit_int(struct aml *a, const void *v)
{
	aml_integer(a, *(const uint64_t *)v);
}

Test(aml, integers_use_the_shortest_encoding)
{
	static const struct {
		uint64_t v;
		size_t n;
		uint8_t bytes[9];
	} cases[] = {
		{ 0, 1, { 0x00 } },
		{ 1, 1, { 0x01 } },
		{ 2, 2, { 0x0a, 0x02 } },
		{ 0xff, 2, { 0x0a, 0xff } },
		{ 0x100, 3, { 0x0b, 0x00, 0x01 } },
		{ 0xffff, 3, { 0x0b, 0xff, 0xff } },
		{ 0x10000, 5, { 0x0c, 0x00, 0x00, 0x01, 0x00 } },
		{ 0xffffffff, 5, { 0x0c, 0xff, 0xff, 0xff, 0xff } },
		{ 0x100000000, 9, { 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 } },
		{ UINT64_MAX, 9, { 0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_bytes(emit_int, &cases[i].v, cases[i].bytes, cases[i].n);
}

static void emit_string(struct aml *a, const void *s)
{
	aml_string(a, s);
}

static void emit_eisaid(struct aml *a, const void *s)
{
	aml_eisaid(a, s);
}

Test(aml, strings_and_eisaid)
{
	expect_bytes(emit_string, "LNRO0005", (const uint8_t *)"\x0dLNRO0005", 10);
	expect_bytes(emit_eisaid, "PNP0501", (const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x05, 0x01 }, 5);
	static const char *const bad[] = { "pnp0501", "PNP050G", "PNP05", "PNP05011", "\xc3\xa9" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t buf[32];
		struct aml a;
		aml_init(&a, buf, sizeof(buf));
		if (i == 4)
			aml_string(&a, bad[i]);
		else
			aml_eisaid(&a, bad[i]);
		cr_assert_eq(aml_error(&a), -EINVAL, "case %zu", i);
	}
}

static void emit_crs(struct aml *a, const void *unused)
{
	(void)unused;
	aml_name(a, "_CRS");
	size_t res = aml_restemplate_begin(a);
	aml_memory32_fixed(a, true, 0xd0000000, 0x1000);
	aml_interrupt(a, 16);
	aml_io(a, 0x3f8, 0x3f8, 1, 8);
	aml_irq_noflags(a, 4);
	aml_restemplate_end(a, res);
}

Test(aml, resource_template_bytes)
{
	/* As iasl compiles Name(_CRS, ResourceTemplate(){...}) of the same. */
	static const uint8_t want[] = {
		0x08, '_', 'C', 'R', 'S', 0x11, 0x25, 0x0a, 0x22,
		0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00,
		0x89, 0x06, 0x00, 0x03, 0x01, 0x10, 0x00, 0x00, 0x00,
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
		0x22, 0x10, 0x00,
		0x79, 0x00,
	};
	expect_bytes(emit_crs, NULL, want, sizeof(want));
	uint8_t buf[16];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	aml_irq_noflags(&a, 16);
	cr_assert_eq(aml_error(&a), -EINVAL, "IRQNoFlags holds only ISA IRQs");
	aml_init(&a, buf, sizeof(buf));
	aml_io(&a, 0x3f9, 0x3f8, 1, 8);
	cr_assert_eq(aml_error(&a), -EINVAL, "min above max");
}

Test(aml, errors_are_sticky_and_never_overflow)
{
	uint8_t full[64];
	struct aml a;
	aml_init(&a, full, sizeof(full));
	emit_crs(&a, NULL);
	size_t need = a.len;
	for (size_t cap = 0; cap < need; cap++) {
		uint8_t *buf = malloc(cap ? cap : 1); /* exact size: ASan sees overruns */
		cr_assert(buf);
		aml_init(&a, buf, cap);
		emit_crs(&a, NULL);
		cr_assert_eq(aml_error(&a), -ENOSPC, "cap %zu", cap);
		cr_assert_leq(a.len, cap);
		aml_namestring(&a, "bad");
		cr_assert_eq(aml_error(&a), -ENOSPC, "the first error stays");
		free(buf);
	}
	aml_init(&a, full, sizeof(full));
	aml_end(&a, 1);
	cr_assert_eq(aml_error(&a), -EINVAL, "a mark past the end");
}

/* ------------------------------------------------------------ tables */

Test(acpi, tables_chain_and_checksum)
{
	static uint8_t buf[AREA];
	for (size_t c = 0; c < sizeof(cpu_counts) / sizeof(cpu_counts[0]); c++) {
		for (size_t v = 0; v < sizeof(virtio_counts) / sizeof(virtio_counts[0]); v++) {
			struct machine m;
			struct tables t;
			fill_machine(&m, cpu_counts[c], virtio_counts[v]);
			build(&m, buf, &t);
			cr_assert_eq(LAYOUT_ACPI % 16, 0, "RSDP is 16-byte aligned");
			cr_assert_eq(t.rsdp, buf, "RSDP first");
		}
	}
}

Test(acpi, corrupting_any_table_is_detected)
{
	static uint8_t buf[AREA];
	struct machine m;
	struct tables t;
	fill_machine(&m, 4, 3);
	size_t len = build(&m, buf, &t);
	/* A byte inside each checksummed range: RSDP v1 part, RSDP extension,
	 * then a body byte of each table. */
	const uint8_t *targets[] = { t.rsdp + 10, t.rsdp + 33, t.xsdt + 20, t.fadt + 200,
				     t.madt + 50, t.dsdt + 60 };
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		size_t off = (size_t)(targets[i] - buf);
		buf[off] ^= 0x40;
		struct tables u;
		cr_assert_not_null(check_tables(buf, len, &u), "corrupt byte %zu unnoticed", off);
		buf[off] ^= 0x40;
		cr_assert_null(check_tables(buf, len, &u));
	}
}

Test(acpi, fadt_is_hardware_reduced_with_power_registers)
{
	static uint8_t buf[AREA];
	struct machine m;
	struct tables t;
	fill_machine(&m, 1, 0);
	build(&m, buf, &t);
	uint32_t flags = le32(t.fadt + 112);
	cr_assert(flags & (1u << 20), "HW_REDUCED_ACPI");
	cr_assert(flags & (1u << 10), "RESET_REG_SUP");
	/* GAS: SystemIO, 8 bits, offset 0, byte access, port. */
	static const struct {
		size_t off;
		uint16_t port;
	} regs[] = { { 116, LAYOUT_PM_RESET }, { 244, LAYOUT_PM_SLEEP_CTL },
		     { 256, LAYOUT_PM_SLEEP_STS } };
	for (size_t i = 0; i < 3; i++) {
		const uint8_t *g = t.fadt + regs[i].off;
		cr_assert(g[0] == 1 && g[1] == 8 && g[2] == 0 && g[3] == 1, "GAS %zu", i);
		cr_assert_eq(le64(g + 4), regs[i].port);
	}
	cr_assert_eq(t.fadt[128], LAYOUT_PM_RESET_VALUE);
	cr_assert_eq(memcmp(t.fadt + 268, "CELLVM  ", 8), 0);
	cr_assert_eq(memcmp(t.fadt + 10, "CELLVM", 6), 0);
	cr_assert_eq(memcmp(t.fadt + 16, "CELLVMFA", 8), 0);
}

Test(acpi, madt_has_one_lapic_per_cpu)
{
	static uint8_t buf[AREA];
	for (size_t c = 0; c < sizeof(cpu_counts) / sizeof(cpu_counts[0]); c++) {
		struct machine m;
		struct tables t;
		fill_machine(&m, cpu_counts[c], 1);
		build(&m, buf, &t);
		const uint8_t *p = t.madt;
		cr_assert_eq(le32(p + 36), LAYOUT_LAPIC);
		cr_assert_eq(le32(p + 40), 1, "PCAT_COMPAT");
		uint32_t nlapic = 0, nioapic = 0, niso = 0, nnmi = 0;
		uint64_t lapic_ids = 0;
		uint8_t ioapic_id = 0;
		for (uint32_t off = 44; off < le32(p + 4); off += p[off + 1]) {
			const uint8_t *e = p + off;
			cr_assert(e[1] >= 2 && off + e[1] <= le32(p + 4), "entry at %u", off);
			if (e[0] == 0) {
				cr_assert_eq(e[1], 8);
				cr_assert_eq(e[2], nlapic, "UID = index");
				cr_assert_eq(e[3], nlapic, "APIC id = index");
				cr_assert_eq(le32(e + 4), 1, "enabled");
				lapic_ids |= 1ull << e[3];
				nlapic++;
			} else if (e[0] == 1) {
				cr_assert_eq(e[1], 12);
				ioapic_id = e[2];
				cr_assert_eq(le32(e + 4), LAYOUT_IOAPIC);
				cr_assert_eq(le32(e + 8), 0, "GSI base");
				nioapic++;
			} else if (e[0] == 2) {
				cr_assert(e[1] == 10 && e[2] == 0 && e[3] == 0 && le32(e + 4) == 2);
				niso++;
			} else if (e[0] == 4) {
				cr_assert(e[1] == 6 && e[2] == 0xff && e[5] == 1, "LINT1 NMI, all CPUs");
				nnmi++;
			} else {
				cr_assert_fail("unexpected MADT entry type %u", e[0]);
			}
		}
		cr_assert_eq(nlapic, cpu_counts[c]);
		cr_assert(nioapic == 1 && niso == 1 && nnmi == 1);
		cr_assert(ioapic_id >= 64 || !(lapic_ids & (1ull << ioapic_id)),
			  "IOAPIC id %u is a LAPIC's", ioapic_id);
	}
}

/* Returns the offset just past NameOp+seg in [p, end), or 0. */
static size_t find_name(const uint8_t *p, size_t start, size_t end, const char *seg)
{
	for (size_t i = start; i + 5 <= end; i++)
		if (p[i] == 0x08 && memcmp(p + i + 1, seg, 4) == 0)
			return i + 5;
	return 0;
}

/* Walks the DSDT: Scope(\_SB){COM1, VR00..} then Name(\_S5, Package). */
Test(acpi, dsdt_describes_every_device)
{
	static uint8_t buf[AREA];
	for (size_t v = 0; v < sizeof(virtio_counts) / sizeof(virtio_counts[0]); v++) {
		struct machine m;
		struct tables t;
		fill_machine(&m, 2, virtio_counts[v]);
		build(&m, buf, &t);
		const uint8_t *d = t.dsdt;
		size_t dlen = le32(d + 4), pos = 36;
		uint32_t pl;
		cr_assert_eq(d[pos], 0x10, "ScopeOp");
		size_t n0 = pkglen_decode(d + pos + 1, &pl);
		size_t scope_end = pos + 1 + pl;
		pos += 1 + n0;
		cr_assert_eq(memcmp(d + pos, "\\_SB_", 5), 0);
		pos += 5;
		size_t ndev = 0;
		while (pos < scope_end) {
			cr_assert(d[pos] == 0x5b && d[pos + 1] == 0x82, "DeviceOp at %zu", pos);
			size_t start = pos + 2;
			size_t n = pkglen_decode(d + start, &pl);
			size_t end = start + pl, body = start + n;
			cr_assert_leq(end, scope_end);
			size_t h = find_name(d, body, end, "_HID");
			size_t u = find_name(d, body, end, "_UID");
			size_t c = find_name(d, body, end, "_CRS");
			cr_assert(h && u && c);
			uint64_t uid;
			int_decode(d + u, &uid);
			cr_assert_eq(d[c], 0x11, "BufferOp");
			size_t b = c + 1 + pkglen_decode(d + c + 1, &pl);
			size_t buf_end = c + 1 + pl;
			uint64_t bsize;
			b += int_decode(d + b, &bsize);
			cr_assert_eq(b + bsize, buf_end, "BufferSize matches PkgLength");
			cr_assert_eq(buf_end, end, "_CRS ends the device");
			cr_assert(d[buf_end - 2] == 0x79 && d[buf_end - 1] == 0, "End Tag");
			if (memcmp(d + body, "COM1", 4) == 0) {
				static const uint8_t res[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01,
							       0x08, 0x22, 0x10, 0x00 };
				cr_assert_arr_eq(d + h, ((uint8_t[]){ 0x0c, 0x41, 0xd0, 0x05, 0x01 }), 5);
				cr_assert(uid == 0 && bsize == sizeof(res) + 2);
				cr_assert_arr_eq(d + b, res, sizeof(res));
			} else {
				cr_assert_eq(memcmp(d + h, "\x0dLNRO0005", 10), 0);
				cr_assert_lt(uid, m.nvirtio);
				char name[5];
				snprintf(name, sizeof(name), "VR%02u", (unsigned)uid);
				cr_assert_eq(memcmp(d + body, name, 4), 0);
				const struct machine_virtio *mv = &m.virtio[uid];
				cr_assert_eq(bsize, 12 + 9 + 2);
				const uint8_t *r = d + b;
				cr_assert(r[0] == 0x86 && le16(r + 1) == 9 && r[3] == 1, "Memory32Fixed RW");
				cr_assert_eq(le32(r + 4), mv->base);
				cr_assert_eq(le32(r + 8), MACHINE_VIRTIO_SIZE);
				r += 12;
				cr_assert(r[0] == 0x89 && le16(r + 1) == 6, "Extended Interrupt");
				cr_assert_eq(r[3], 0x03, "consumer, edge, active high, exclusive");
				cr_assert_eq(r[4], 1);
				cr_assert_eq(le32(r + 5), mv->gsi);
				ndev++;
			}
			pos = end;
		}
		cr_assert_eq(pos, scope_end);
		cr_assert_eq(ndev, m.nvirtio);
		static const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x07, 0x04,
					      0x0a, LAYOUT_PM_S5_TYPE, 0x00, 0x00, 0x00 };
		cr_assert_eq(dlen - pos, sizeof(s5), "\\_S5 ends the DSDT");
		cr_assert_arr_eq(d + pos, s5, sizeof(s5));
	}
}

/* Runs fn with stderr sent to /dev/null (the refusals log). */
static void quietly(void (*fn)(void))
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
	cr_assert(saved >= 0 && null >= 0);
	dup2(null, STDERR_FILENO);
	close(null);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static void every_short_buffer(void)
{
	static uint8_t full[AREA];
	struct machine m;
	fill_machine(&m, MACHINE_MAX_CPUS, MACHINE_MAX_VIRTIO);
	size_t need;
	cr_assert_eq(acpi_build(&m, full, AREA, LAYOUT_ACPI, &need), 0);
	for (size_t cap = 0; cap < need; cap++) {
		uint8_t *buf = malloc(cap ? cap : 1); /* exact size: ASan sees overruns */
		size_t len = 12345;
		cr_assert(buf);
		cr_assert_eq(acpi_build(&m, buf, cap, LAYOUT_ACPI, &len), -ENOSPC, "cap %zu", cap);
		cr_assert_eq(len, 12345, "len untouched on error");
		free(buf);
	}
	uint8_t *buf = malloc(need);
	size_t len;
	cr_assert_eq(acpi_build(&m, buf, need, LAYOUT_ACPI, &len), 0, "exactly enough");
	cr_assert_eq(len, need);
	cr_assert_arr_eq(buf, full, need, "same tables whatever the cap");
	free(buf);
}

Test(acpi, short_buffer_is_enospc)
{
	quietly(every_short_buffer);
}

static void refusals(void)
{
	static uint8_t buf[AREA];
	struct machine m;
	size_t len;
	fill_machine(&m, 1, 1);
	cr_assert_eq(acpi_build(&m, buf, AREA, LAYOUT_ACPI + 8, &len), -EINVAL, "misaligned");
	cr_assert_eq(acpi_build(&m, buf, AREA, 0xffffff00, &len), -EINVAL, "ends above 4 GiB");
	m.cpus = 0;
	cr_assert_eq(acpi_build(&m, buf, AREA, LAYOUT_ACPI, &len), -EINVAL, "no CPU");
	m.cpus = MACHINE_MAX_CPUS + 1;
	cr_assert_eq(acpi_build(&m, buf, AREA, LAYOUT_ACPI, &len), -EINVAL, "too many CPUs");
	fill_machine(&m, 1, 1);
	m.nvirtio = MACHINE_MAX_VIRTIO + 1;
	cr_assert_eq(acpi_build(&m, buf, AREA, LAYOUT_ACPI, &len), -EINVAL, "too many devices");
	fill_machine(&m, 1, 1);
	m.virtio[0].base = 0xfffff001;
	cr_assert_eq(acpi_build(&m, buf, AREA, LAYOUT_ACPI, &len), -EINVAL, "window past 4 GiB");
	fill_machine(&m, 1, 1);
	m.serial_irq = 16;
	cr_assert_eq(acpi_build(&m, buf, AREA, LAYOUT_ACPI, &len), -EINVAL, "serial IRQ");
}

Test(acpi, bad_machines_are_refused)
{
	quietly(refusals);
}

/* ------------------------------------------------------------ iasl */

static char workdir[] = "/tmp/cellvm-acpi-XXXXXX";

static void make_workdir(void)
{
	cr_assert_not_null(mkdtemp(workdir));
}

static void remove_workdir(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	cr_assert_eq(system(cmd), 0);
}

/* Runs cmd in workdir; returns its exit status and output (stdout+stderr). */
static int run(const char *cmd, char *out, size_t cap)
{
	char line[256];
	snprintf(line, sizeof(line), "cd '%s' && %s 2>&1", workdir, cmd);
	FILE *p = popen(line, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Reads or writes workdir/name; returns the bytes moved. */
static size_t file_io(const char *name, const char *mode, void *p, size_t n)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", workdir, name);
	FILE *f = fopen(path, mode);
	cr_assert_not_null(f, "%s", path);
	size_t done = mode[0] == 'r' ? fread(p, 1, n, f) : fwrite(p, 1, n, f);
	cr_assert_eq(fclose(f), 0);
	return done;
}

/* iasl -d each table, then compile the disassembly back: both must pass
 * without errors, and a data table must come back unchanged but for the
 * creator fields (iasl puts its own) and so the checksum. Leaves the DSDT's
 * disassembly in dsl. iasl 20200925 cannot read a binary RSDP: check_tables
 * checks that one. */
static void iasl_round_trip(const struct tables *t, char *dsl, size_t cap)
{
	cr_assert_eq(system("command -v iasl >/dev/null 2>&1"), 0,
		     "iasl not found: apt-get install acpica-tools");
	const struct {
		const char *name;
		const uint8_t *p;
	} tables[] = { { "xsdt", t->xsdt }, { "facp", t->fadt }, { "apic", t->madt },
		       { "dsdt", t->dsdt } };
	static char out[65536];
	static uint8_t again[4096];
	char cmd[64], name[16];
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		const uint8_t *p = tables[i].p;
		size_t len = le32(p + 4);
		cr_assert_eq(file_io(tables[i].name, "wb", (void *)p, len), len);
		snprintf(cmd, sizeof(cmd), "iasl -d %s", tables[i].name);
		cr_assert_eq(run(cmd, out, sizeof(out)), 0, "%s: %s", cmd, out);
		cr_assert_null(strstr(out, "Error"), "%s: %s", cmd, out);
		snprintf(cmd, sizeof(cmd), "iasl %s.dsl", tables[i].name);
		cr_assert_eq(run(cmd, out, sizeof(out)), 0, "%s: %s", cmd, out);
		cr_assert_not_null(strstr(out, " 0 Errors"), "%s: %s", cmd, out);
		if (p == t->dsdt)
			continue; /* iasl optimises AML: no byte equality */
		snprintf(name, sizeof(name), "%s.aml", tables[i].name);
		cr_assert_eq(file_io(name, "rb", again, sizeof(again)), len, "%s", name);
		cr_assert_arr_eq(again, p, 9, "%s", name);
		cr_assert_arr_eq(again + 10, p + 10, 18, "%s", name);
		cr_assert_arr_eq(again + 36, p + 36, len - 36, "%s", name);
	}
	dsl[file_io("dsdt.dsl", "r", dsl, cap - 1)] = '\0';
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

Test(acpi, iasl_accepts_every_table, .init = make_workdir, .fini = remove_workdir,
     .timeout = 60)
{
	static uint8_t buf[AREA];
	static char dsl[65536];
	for (size_t v = 0; v < sizeof(virtio_counts) / sizeof(virtio_counts[0]); v += 3) {
		struct machine m;
		struct tables t;
		fill_machine(&m, 4, virtio_counts[v]);
		build(&m, buf, &t);
		iasl_round_trip(&t, dsl, sizeof(dsl));
		cr_assert_eq(count(dsl, "\"LNRO0005\""), m.nvirtio, "%s", dsl);
		cr_assert_eq(count(dsl, "_S5, Package (0x04)"), 1, "%s", dsl);
		cr_assert_eq(count(dsl, "EisaId (\"PNP0501\")"), 1, "%s", dsl);
	}
}
