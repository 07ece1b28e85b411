#include "acpi.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "aml.h"
#include "bytes.h"
#include "layout.h"
#include "log.h"

/* Field offsets and values from ACPI 6.3 §5.2; the tables claim 6.3. */
#define RSDP_LEN 36
#define RSDP_V1_LEN 20 /* what the first checksum covers */
#define SDT_HEADER_LEN 36
#define TABLE_ALIGN 16

#define FADT_LEN 276
#define FADT_REV 6
#define FADT_MINOR 3
#define FADT_DSDT 40
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT 140
#define FADT_SLEEP_CONTROL_REG 244
#define FADT_SLEEP_STATUS_REG 256
#define FADT_HYPERVISOR_ID 268

#define FADT_F_PWR_BUTTON (1u << 4)  /* set: no fixed-feature button */
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)

#define IAPC_VGA_NOT_PRESENT (1u << 2)
#define IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)

#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

#define MADT_REV 5
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_LAPIC_NMI 4
#define MADT_LAPIC_ENABLED 1u
#define MADT_ALL_CPUS 0xff

#define DSDT_REV 2 /* 64-bit integers */
#define XSDT_REV 1

/* Where tables go: a bump allocator over the caller's buffer. */
struct out {
	uint8_t *buf;
	size_t cap;
	size_t len;
};

/* The byte that makes p[0..n) sum to zero once stored in its slot (which
 * must hold 0 while this runs). */
static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0 - sum);
}

/* n zeroed bytes at the next aligned offset, or NULL if they do not fit. */
static uint8_t *alloc(struct out *o, size_t n)
{
	size_t at = (o->len + TABLE_ALIGN - 1) & ~(size_t)(TABLE_ALIGN - 1);
	if (at > o->cap || n > o->cap - at)
		return NULL;
	memset(o->buf + o->len, 0, at + n - o->len);
	o->len = at + n;
	return o->buf + at;
}

static void sdt_header(uint8_t *t, const char *sig, uint8_t rev)
{
	memcpy(t, sig, 4);
	t[8] = rev;
	memcpy(t + 10, "CELLVM", 6);
	/* OEM table id: "CELLVM" and the signature's first two letters. */
	memcpy(t + 16, "CELLVM", 6);
	memcpy(t + 22, sig, 2);
	put_le32(t + 24, 1);     /* OEM revision */
	memcpy(t + 28, "CLVM", 4); /* creator id */
	put_le32(t + 32, 1);     /* creator revision */
}

static void sdt_finish(uint8_t *t, size_t len)
{
	put_le32(t + 4, (uint32_t)len);
	t[9] = 0;
	t[9] = checksum(t, len);
}

/* A Generic Address Structure for one byte-wide I/O port. */
static void gas_io8(uint8_t *p, uint16_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = 8; /* bit width */
	p[2] = 0; /* bit offset */
	p[3] = GAS_ACCESS_BYTE;
	put_le64(p + 4, port);
}

static void dsdt_serial(struct aml *a, const struct machine *m)
{
	size_t dev = aml_device_begin(a, "COM1");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	size_t res = aml_restemplate_begin(a);
	aml_io(a, m->serial_port, m->serial_port, 1, 8);
	aml_irq_noflags(a, (uint8_t)m->serial_irq);
	aml_restemplate_end(a, res);
	aml_end(a, dev);
}

static void dsdt_virtio(struct aml *a, const struct machine_virtio *v, size_t index)
{
	/* VR00..VR07: check_machine keeps index below MACHINE_MAX_VIRTIO. */
	char name[5] = { 'V', 'R', (char)('0' + index / 10), (char)('0' + index % 10), '\0' };
	size_t dev = aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_string(a, "LNRO0005");
	aml_name(a, "_UID");
	aml_integer(a, index);
	aml_name(a, "_CRS");
	size_t res = aml_restemplate_begin(a);
	aml_memory32_fixed(a, true, (uint32_t)v->base, (uint32_t)MACHINE_VIRTIO_SIZE);
	aml_interrupt(a, v->gsi);
	aml_restemplate_end(a, res);
	aml_end(a, dev);
}

static int build_dsdt(const struct machine *m, struct out *o, size_t *off)
{
	uint8_t *t = alloc(o, SDT_HEADER_LEN);
	if (!t)
		return -ENOSPC;
	sdt_header(t, "DSDT", DSDT_REV);
	struct aml a;
	aml_init(&a, o->buf + o->len, o->cap - o->len);
	size_t sb = aml_scope_begin(&a, "\\_SB");
	dsdt_serial(&a, m);
	for (size_t i = 0; i < m->nvirtio; i++)
		dsdt_virtio(&a, &m->virtio[i], i);
	aml_end(&a, sb);
	/* Hardware-reduced sleep: Linux writes SLP_TYPa << 2 | SLP_EN to the
	 * sleep control register; SLP_TYPb and the rest are unused. */
	aml_name(&a, "\\_S5");
	size_t pkg = aml_package_begin(&a, 4);
	aml_integer(&a, LAYOUT_PM_S5_TYPE);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_end(&a, pkg);
	int err = aml_error(&a);
	if (err)
		return err;
	o->len += a.len;
	sdt_finish(t, SDT_HEADER_LEN + a.len);
	*off = (size_t)(t - o->buf);
	return 0;
}

static int build_madt(const struct machine *m, struct out *o, size_t *off)
{
	size_t len = SDT_HEADER_LEN + 8 + 8 * (size_t)m->cpus + 12 + 10 + 6;
	uint8_t *t = alloc(o, len);
	if (!t)
		return -ENOSPC;
	sdt_header(t, "APIC", MADT_REV);
	put_le32(t + 36, (uint32_t)LAYOUT_LAPIC);
	put_le32(t + 40, MADT_PCAT_COMPAT);
	uint8_t *e = t + 44;
	/* ACPI processor UID = APIC id = index, as the vCPUs are created. */
	for (uint32_t i = 0; i < m->cpus; i++, e += 8) {
		e[0] = MADT_LAPIC;
		e[1] = 8;
		e[2] = (uint8_t)i;
		e[3] = (uint8_t)i;
		put_le32(e + 4, MADT_LAPIC_ENABLED);
	}
	/* The IOAPIC takes the first id no local APIC uses. */
	e[0] = MADT_IOAPIC;
	e[1] = 12;
	e[2] = (uint8_t)m->cpus;
	put_le32(e + 4, (uint32_t)LAYOUT_IOAPIC);
	put_le32(e + 8, 0); /* GSI base */
	e += 12;
	/* ISA IRQ 0 (the PIT) is wired to IOAPIC pin 2; flags 0 = conforms
	 * to the ISA bus: edge, active high. */
	e[0] = MADT_ISO;
	e[1] = 10;
	e[2] = 0; /* bus: ISA */
	e[3] = 0; /* source IRQ */
	put_le32(e + 4, 2);
	put_le16(e + 8, 0);
	e += 10;
	/* LINT1 of every local APIC is the NMI line. */
	e[0] = MADT_LAPIC_NMI;
	e[1] = 6;
	e[2] = MADT_ALL_CPUS;
	put_le16(e + 3, 0);
	e[5] = 1;
	sdt_finish(t, len);
	*off = (size_t)(t - o->buf);
	return 0;
}

static int build_fadt(struct out *o, uint64_t dsdt_gpa, size_t *off)
{
	uint8_t *t = alloc(o, FADT_LEN);
	if (!t)
		return -ENOSPC;
	sdt_header(t, "FACP", FADT_REV);
	/* Both DSDT pointers, equal, for OSes that read either one. */
	put_le32(t + FADT_DSDT, (uint32_t)dsdt_gpa);
	put_le64(t + FADT_X_DSDT, dsdt_gpa);
	/* No VGA; no CMOS RTC, so Linux neither probes one nor reads the
	 * wall clock from one (kvmclock gives it). No 8042 flag either: the
	 * i8042 only implements reset, so Linux must not drive it. */
	put_le16(t + FADT_IAPC_BOOT_ARCH, IAPC_VGA_NOT_PRESENT | IAPC_CMOS_RTC_NOT_PRESENT);
	put_le32(t + FADT_FLAGS, FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP |
				      FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON);
	gas_io8(t + FADT_RESET_REG, LAYOUT_PM_RESET);
	t[FADT_RESET_VALUE] = LAYOUT_PM_RESET_VALUE;
	t[FADT_MINOR_VERSION] = FADT_MINOR;
	gas_io8(t + FADT_SLEEP_CONTROL_REG, LAYOUT_PM_SLEEP_CTL);
	gas_io8(t + FADT_SLEEP_STATUS_REG, LAYOUT_PM_SLEEP_STS);
	memcpy(t + FADT_HYPERVISOR_ID, "CELLVM  ", 8);
	sdt_finish(t, FADT_LEN);
	*off = (size_t)(t - o->buf);
	return 0;
}

static int build_xsdt(struct out *o, const uint64_t *entries, size_t n, size_t *off)
{
	size_t len = SDT_HEADER_LEN + 8 * n;
	uint8_t *t = alloc(o, len);
	if (!t)
		return -ENOSPC;
	sdt_header(t, "XSDT", XSDT_REV);
	for (size_t i = 0; i < n; i++)
		put_le64(t + SDT_HEADER_LEN + 8 * i, entries[i]);
	sdt_finish(t, len);
	*off = (size_t)(t - o->buf);
	return 0;
}

/* Revision 2 (ACPI 2.0+): the OS follows the XSDT; no RSDT. */
static void fill_rsdp(uint8_t *p, uint64_t xsdt_gpa)
{
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, "CELLVM", 6);
	p[15] = 2;
	put_le32(p + 20, RSDP_LEN);
	put_le64(p + 24, xsdt_gpa);
	p[8] = checksum(p, RSDP_V1_LEN);
	p[32] = checksum(p, RSDP_LEN);
}

static int check_machine(const struct machine *m, uint64_t gpa)
{
	if (gpa % TABLE_ALIGN) {
		log_err("RSDP address 0x%" PRIx64 " is not 16-byte aligned", gpa);
		return -EINVAL;
	}
	if (m->cpus == 0 || m->cpus > MACHINE_MAX_CPUS) {
		log_err("%" PRIu32 " CPUs: want 1..%d", m->cpus, MACHINE_MAX_CPUS);
		return -EINVAL;
	}
	if (m->nvirtio > MACHINE_MAX_VIRTIO) {
		log_err("%zu virtio devices: at most %d", m->nvirtio, MACHINE_MAX_VIRTIO);
		return -EINVAL;
	}
	/* What Memory32Fixed and IRQNoFlags can describe. */
	for (size_t i = 0; i < m->nvirtio; i++) {
		if (m->virtio[i].base > (1ull << 32) - MACHINE_VIRTIO_SIZE) {
			log_err("virtio window 0x%" PRIx64 " is above 4 GiB", m->virtio[i].base);
			return -EINVAL;
		}
	}
	if (m->serial_irq > 15) {
		log_err("serial IRQ %" PRIu32 " is not an ISA IRQ", m->serial_irq);
		return -EINVAL;
	}
	return 0;
}

int acpi_build(const struct machine *m, uint8_t *buf, size_t cap, uint64_t gpa, size_t *len)
{
	int err = check_machine(m, gpa);
	if (err)
		return err;
	struct out o = { .buf = buf, .cap = cap, .len = 0 };
	/* Tables follow in the order that lets each point only backwards;
	 * the RSDP's slot comes first and is filled last. */
	uint8_t *rsdp = alloc(&o, RSDP_LEN);
	size_t dsdt = 0, madt = 0, fadt = 0, xsdt = 0;
	err = rsdp ? build_dsdt(m, &o, &dsdt) : -ENOSPC;
	if (!err)
		err = build_madt(m, &o, &madt);
	if (!err)
		err = build_fadt(&o, gpa + dsdt, &fadt);
	if (!err) {
		const uint64_t entries[] = { gpa + fadt, gpa + madt };
		err = build_xsdt(&o, entries, sizeof(entries) / sizeof(entries[0]), &xsdt);
	}
	if (err) {
		log_err("ACPI tables in %zu bytes: %s", cap, strerror(-err));
		return err;
	}
	/* The FADT's 32-bit DSDT pointer needs the tables below 4 GiB. */
	if (gpa > UINT32_MAX || o.len > UINT32_MAX - gpa) {
		log_err("ACPI tables at 0x%" PRIx64 " would end above 4 GiB", gpa);
		return -EINVAL;
	}
	fill_rsdp(rsdp, gpa + xsdt);
	*len = o.len;
	return 0;
}
