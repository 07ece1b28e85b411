#include "machine.h"

#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define MACHINE_COMPATIBLE "cellvm,machine-v1"
#define MIB (1024ull * 1024)
/* The boot page tables map RAM in 2 MiB pages, and KVM backs it with huge
 * pages where it can. */
#define RAM_ALIGN (2 * MIB)
/* Room for the boot structures below 1 MiB, the kernel and its initrd. */
#define RAM_MIN (16 * MIB)
#define SERIAL_NPORTS 8u
#define VIRTIO_END (MACHINE_VIRTIO_BASE + MACHINE_MAX_VIRTIO * MACHINE_VIRTIO_SIZE)
#define PAIR_SIZE 16 /* <a b> in 2+2 cells */

_Static_assert(MACHINE_VIRTIO_GSI_BASE + MACHINE_MAX_VIRTIO <= MACHINE_IOAPIC_PINS,
	       "every virtio slot has an IOAPIC pin");
_Static_assert(MACHINE_SERIAL_IRQ < MACHINE_VIRTIO_GSI_BASE, "serial IRQ is not a virtio GSI");
_Static_assert(MACHINE_VIRTIO_BASE >= MACHINE_LOW_RAM_END && VIRTIO_END <= MACHINE_HIGH_RAM_START,
	       "virtio windows sit in the MMIO hole");

/* ---------------------------------------------------------- validation */

static bool name_ok(const char *name)
{
	size_t n = strnlen(name, MACHINE_NAME_MAX);
	if (n == 0 || n == MACHINE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* RAM ranges in ascending order, each laid out in the memfd right after the
 * previous one; the first holds the boot structures at 0. */
static int check_ram(const struct machine *m)
{
	if (m->nram == 0 || m->nram > MACHINE_MAX_RAM) {
		log_err("%zu RAM ranges: want 1..%d", m->nram, MACHINE_MAX_RAM);
		return -EINVAL;
	}
	uint64_t offset = 0, prev_end = 0;
	for (size_t i = 0; i < m->nram; i++) {
		const struct machine_ram *r = &m->ram[i];
		uint64_t end;
		if (r->size == 0) {
			log_err("RAM range %zu at %#" PRIx64 " is empty", i, r->gpa);
			return -EINVAL;
		}
		if ((r->gpa | r->size) % RAM_ALIGN) {
			log_err("RAM range %zu [%#" PRIx64 " +%#" PRIx64 "] is not 2 MiB aligned",
				i, r->gpa, r->size);
			return -EINVAL;
		}
		if (__builtin_add_overflow(r->gpa, r->size, &end)) {
			log_err("RAM range %zu [%#" PRIx64 " +%#" PRIx64 "] wraps", i, r->gpa, r->size);
			return -EINVAL;
		}
		if (i > 0 && r->gpa < prev_end) {
			log_err("RAM range %zu at %#" PRIx64 " overlaps or precedes range %zu",
				i, r->gpa, i - 1);
			return -EINVAL;
		}
		if (end > MACHINE_LOW_RAM_END && r->gpa < MACHINE_HIGH_RAM_START) {
			log_err("RAM range %zu [%#" PRIx64 " +%#" PRIx64 "] reaches the MMIO hole",
				i, r->gpa, r->size);
			return -EINVAL;
		}
		if (r->offset != offset) {
			log_err("RAM range %zu at memfd offset %#" PRIx64 ", expected %#" PRIx64,
				i, r->offset, offset);
			return -EINVAL;
		}
		offset += r->size;
		prev_end = end;
	}
	if (m->ram[0].gpa != 0 || m->ram[0].size < RAM_MIN) {
		log_err("the first RAM range must start at 0 and hold at least 16 MiB");
		return -EINVAL;
	}
	return 0;
}

static int check_virtio(const struct machine *m)
{
	if (m->nvirtio > MACHINE_MAX_VIRTIO) {
		log_err("%zu virtio devices: at most %d", m->nvirtio, MACHINE_MAX_VIRTIO);
		return -EINVAL;
	}
	for (size_t i = 0; i < m->nvirtio; i++) {
		const struct machine_virtio *v = &m->virtio[i];
		if (!name_ok(v->name)) {
			log_err("virtio %zu: bad name \"%.*s\" (want [a-z0-9_-]{1,%d})", i,
				MACHINE_NAME_MAX, v->name, MACHINE_NAME_MAX - 1);
			return -EINVAL;
		}
		if (v->device_id == 0) {
			log_err("virtio %s: device id 0", v->name);
			return -EINVAL;
		}
		if (v->base < MACHINE_VIRTIO_BASE || v->base >= VIRTIO_END ||
		    v->base % MACHINE_VIRTIO_SIZE) {
			log_err("virtio %s: window %#" PRIx64 " is not a virtio slot", v->name,
				v->base);
			return -EINVAL;
		}
		if (v->gsi < MACHINE_VIRTIO_GSI_BASE || v->gsi >= MACHINE_IOAPIC_PINS) {
			log_err("virtio %s: GSI %" PRIu32 " outside %u..%u", v->name, v->gsi,
				MACHINE_VIRTIO_GSI_BASE, MACHINE_IOAPIC_PINS - 1);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			const struct machine_virtio *o = &m->virtio[j];
			const char *what = strcmp(v->name, o->name) == 0 ? "name" :
					   v->base == o->base ? "window" :
					   v->gsi == o->gsi ? "GSI" : NULL;
			if (what) {
				log_err("virtio %s: same %s as virtio %s", v->name, what, o->name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* Everything the vCPU worker relies on; shared by the builder and the
 * parser so that neither side can produce what the other refuses. */
static int check_machine(const struct machine *m)
{
	if (m->cpus == 0 || m->cpus > MACHINE_MAX_CPUS) {
		log_err("%" PRIu32 " cpus: want 1..%d", m->cpus, MACHINE_MAX_CPUS);
		return -EINVAL;
	}
	/* The worker emulates COM1 only, where the ACPI tables announce it. */
	if (m->serial_port != MACHINE_SERIAL_PORT || m->serial_irq != MACHINE_SERIAL_IRQ) {
		log_err("serial at port %#x IRQ %" PRIu32 ": want port %#x IRQ %u",
			m->serial_port, m->serial_irq, MACHINE_SERIAL_PORT, MACHINE_SERIAL_IRQ);
		return -EINVAL;
	}
	if (!memchr(m->cmdline, '\0', sizeof(m->cmdline))) {
		log_err("cmdline is not NUL-terminated");
		return -EINVAL;
	}
	int err = check_ram(m);
	return err ? err : check_virtio(m);
}

/* ---------------------------------------------------------- building */

int machine_layout(struct machine *m, uint32_t cpus, uint64_t mem_size, const char *cmdline)
{
	size_t n = strlen(cmdline);
	if (n >= MACHINE_CMDLINE_MAX) {
		log_err("cmdline is %zu bytes: at most %d", n, MACHINE_CMDLINE_MAX - 1);
		return -EINVAL;
	}
	memset(m, 0, sizeof(*m));
	m->cpus = cpus;
	m->ram[0].size = mem_size < MACHINE_LOW_RAM_END ? mem_size : MACHINE_LOW_RAM_END;
	m->nram = 1;
	if (mem_size > MACHINE_LOW_RAM_END) {
		m->ram[1].gpa = MACHINE_HIGH_RAM_START;
		m->ram[1].size = mem_size - MACHINE_LOW_RAM_END;
		m->ram[1].offset = MACHINE_LOW_RAM_END;
		m->nram = 2;
	}
	m->serial_port = MACHINE_SERIAL_PORT;
	m->serial_irq = MACHINE_SERIAL_IRQ;
	memcpy(m->cmdline, cmdline, n + 1);
	return check_machine(m);
}

int machine_add_virtio(struct machine *m, const char *name, uint32_t device_id)
{
	if (m->nvirtio == MACHINE_MAX_VIRTIO) {
		log_err("virtio %s: already %d devices", name, MACHINE_MAX_VIRTIO);
		return -ENOSPC;
	}
	if (!name_ok(name) || device_id == 0) {
		log_err("virtio \"%.*s\": bad name (want [a-z0-9_-]{1,%d}) or device id %" PRIu32,
			MACHINE_NAME_MAX, name, MACHINE_NAME_MAX - 1, device_id);
		return -EINVAL;
	}
	/* A parsed machine may use any slots: take the lowest free window and
	 * the lowest free GSI. */
	uint32_t used_slots = 0, used_gsis = 0;
	for (size_t i = 0; i < m->nvirtio; i++) {
		const struct machine_virtio *o = &m->virtio[i];
		if (strcmp(o->name, name) == 0) {
			log_err("virtio %s: name already taken", name);
			return -EINVAL;
		}
		uint64_t slot = (o->base - MACHINE_VIRTIO_BASE) / MACHINE_VIRTIO_SIZE;
		uint32_t pin = o->gsi - MACHINE_VIRTIO_GSI_BASE;
		if (slot < MACHINE_MAX_VIRTIO)
			used_slots |= 1u << slot;
		if (pin < MACHINE_MAX_VIRTIO)
			used_gsis |= 1u << pin;
	}
	struct machine_virtio *v = &m->virtio[m->nvirtio];
	memset(v, 0, sizeof(*v));
	strcpy(v->name, name);
	v->device_id = device_id;
	v->base = MACHINE_VIRTIO_BASE + MACHINE_VIRTIO_SIZE * (uint64_t)__builtin_ctz(~used_slots);
	v->gsi = MACHINE_VIRTIO_GSI_BASE + (uint32_t)__builtin_ctz(~used_gsis);
	m->nvirtio++;
	return 0;
}

uint64_t machine_ram_size(const struct machine *m)
{
	uint64_t total = 0;
	for (size_t i = 0; i < m->nram; i++)
		total += m->ram[i].size;
	return total;
}

static int prop_pairs(void *fdt, const char *name, const uint64_t *v, size_t n)
{
	fdt64_t cells[2 * MACHINE_MAX_RAM];
	for (size_t i = 0; i < n; i++)
		cells[i] = cpu_to_fdt64(v[i]);
	return fdt_property(fdt, name, cells, (int)(n * sizeof(cells[0])));
}

static int write_memory(const struct machine *m, void *fdt)
{
	uint64_t reg[2 * MACHINE_MAX_RAM];
	for (size_t i = 0; i < m->nram; i++) {
		reg[2 * i] = m->ram[i].gpa;
		reg[2 * i + 1] = m->ram[i].size;
	}
	int r = fdt_begin_node(fdt, "memory@0");
	r = r ?: fdt_property_string(fdt, "device_type", "memory");
	r = r ?: prop_pairs(fdt, "reg", reg, 2 * m->nram);
	return r ?: fdt_end_node(fdt);
}

static int write_cpus(const struct machine *m, void *fdt)
{
	int r = fdt_begin_node(fdt, "cpus");
	for (uint32_t i = 0; i < m->cpus && !r; i++) {
		char name[16];
		snprintf(name, sizeof(name), "cpu@%" PRIx32, i);
		r = fdt_begin_node(fdt, name);
		r = r ?: fdt_property_u32(fdt, "reg", i);
		r = r ?: fdt_end_node(fdt);
	}
	return r ?: fdt_end_node(fdt);
}

static int write_serial(const struct machine *m, void *fdt)
{
	char name[32];
	snprintf(name, sizeof(name), "serial@%x", m->serial_port);
	uint64_t reg[2] = { m->serial_port, SERIAL_NPORTS };
	int r = fdt_begin_node(fdt, name);
	r = r ?: fdt_property_string(fdt, "compatible", "ns16550a");
	r = r ?: prop_pairs(fdt, "reg", reg, 2);
	r = r ?: fdt_property_u32(fdt, "interrupts", m->serial_irq);
	return r ?: fdt_end_node(fdt);
}

static int write_virtio(const struct machine_virtio *v, void *fdt)
{
	char name[32];
	snprintf(name, sizeof(name), "virtio_mmio@%" PRIx64, v->base);
	uint64_t reg[2] = { v->base, MACHINE_VIRTIO_SIZE };
	int r = fdt_begin_node(fdt, name);
	r = r ?: fdt_property_string(fdt, "compatible", "virtio,mmio");
	r = r ?: prop_pairs(fdt, "reg", reg, 2);
	r = r ?: fdt_property_u32(fdt, "interrupts", v->gsi);
	r = r ?: fdt_property_string(fdt, "cellvm,name", v->name);
	r = r ?: fdt_property_u32(fdt, "cellvm,device-id", v->device_id);
	return r ?: fdt_end_node(fdt);
}

static int write_tree(const struct machine *m, void *fdt, int cap)
{
	int r = fdt_create(fdt, cap);
	r = r ?: fdt_finish_reservemap(fdt);
	r = r ?: fdt_begin_node(fdt, "");
	r = r ?: fdt_property_string(fdt, "compatible", MACHINE_COMPATIBLE);
	r = r ?: write_memory(m, fdt);
	r = r ?: write_cpus(m, fdt);
	r = r ?: fdt_begin_node(fdt, "chosen");
	r = r ?: fdt_property_string(fdt, "bootargs", m->cmdline);
	r = r ?: fdt_end_node(fdt);
	r = r ?: write_serial(m, fdt);
	for (size_t i = 0; i < m->nvirtio && !r; i++)
		r = write_virtio(&m->virtio[i], fdt);
	r = r ?: fdt_end_node(fdt);
	return r ?: fdt_finish(fdt);
}

int machine_to_fdt(const struct machine *m, void *buf, size_t cap)
{
	if (check_machine(m))
		return -EINVAL;
	int r = write_tree(m, buf, cap > INT_MAX ? INT_MAX : (int)cap);
	if (r == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	if (r < 0) {
		log_err("libfdt: %s", fdt_strerror(r));
		return -EINVAL;
	}
	return (int)fdt_totalsize(buf);
}

/* ---------------------------------------------------------- parsing */

enum node_kind { NODE_MEMORY, NODE_CPUS, NODE_CHOSEN, NODE_SERIAL, NODE_VIRTIO, NODE_KINDS };

static const char *const node_kinds[NODE_KINDS] = {
	[NODE_MEMORY] = "memory",
	[NODE_CPUS] = "cpus",
	[NODE_CHOSEN] = "chosen",
	[NODE_SERIAL] = "serial",
	[NODE_VIRTIO] = "virtio_mmio",
};

/* The kind of a node from its name without the unit address, or -1. */
static int node_kind(const char *name)
{
	for (int k = 0; k < NODE_KINDS; k++) {
		size_t n = strlen(node_kinds[k]);
		if (strncmp(name, node_kinds[k], n) == 0 && (name[n] == '\0' || name[n] == '@'))
			return k;
	}
	return -1;
}

static const char *node_name(const void *fdt, int node)
{
	const char *name = fdt_get_name(fdt, node, NULL);
	return name && *name ? name : "/";
}

/* Cells are big-endian and property values need not be aligned. */
static uint32_t be32_at(const uint8_t *p)
{
	fdt32_t v;
	memcpy(&v, p, sizeof(v));
	return fdt32_to_cpu(v);
}

static uint64_t be64_at(const uint8_t *p)
{
	fdt64_t v;
	memcpy(&v, p, sizeof(v));
	return fdt64_to_cpu(v);
}

static const uint8_t *get_prop(const void *fdt, int node, const char *prop, int *len)
{
	const uint8_t *p = fdt_getprop(fdt, node, prop, len);
	if (!p)
		log_err("%s: no %s", node_name(fdt, node), prop);
	return p;
}

static const uint8_t *get_sized(const void *fdt, int node, const char *prop, int size)
{
	int len;
	const uint8_t *p = get_prop(fdt, node, prop, &len);
	if (p && len != size) {
		log_err("%s: %s is %d bytes, expected %d", node_name(fdt, node), prop, len, size);
		return NULL;
	}
	return p;
}

/* A string property of at most max bytes with its NUL; *len includes it. */
static const char *get_string(const void *fdt, int node, const char *prop, size_t max,
			      size_t *len)
{
	int n;
	const char *p = (const char *)get_prop(fdt, node, prop, &n);
	if (!p)
		return NULL;
	if (n < 1 || p[n - 1] != '\0') {
		log_err("%s: %s is not NUL-terminated", node_name(fdt, node), prop);
		return NULL;
	}
	if (strlen(p) != (size_t)n - 1) {
		log_err("%s: %s has an embedded NUL", node_name(fdt, node), prop);
		return NULL;
	}
	if ((size_t)n > max) {
		log_err("%s: %s is longer than %zu bytes", node_name(fdt, node), prop, max - 1);
		return NULL;
	}
	*len = (size_t)n;
	return p;
}

static int expect_string(const void *fdt, int node, const char *prop, const char *want)
{
	size_t len;
	const char *s = get_string(fdt, node, prop, strlen(want) + 1, &len);
	if (s && strcmp(s, want) == 0)
		return 0;
	if (s)
		log_err("%s: %s is \"%s\", expected \"%s\"", node_name(fdt, node), prop, s, want);
	return -EINVAL;
}

static int parse_memory(const void *fdt, int node, struct machine *m)
{
	if (expect_string(fdt, node, "device_type", "memory"))
		return -EINVAL;
	int len;
	const uint8_t *reg = get_prop(fdt, node, "reg", &len);
	if (!reg)
		return -EINVAL;
	if (len == 0 || len % PAIR_SIZE || len / PAIR_SIZE > MACHINE_MAX_RAM) {
		log_err("%s: reg is %d bytes, expected 1..%d <gpa size> pairs",
			node_name(fdt, node), len, MACHINE_MAX_RAM);
		return -EINVAL;
	}
	/* The memfd holds the ranges back to back; check_ram checks the order. */
	uint64_t offset = 0;
	m->nram = (size_t)len / PAIR_SIZE;
	for (size_t i = 0; i < m->nram; i++) {
		m->ram[i].gpa = be64_at(reg + PAIR_SIZE * i);
		m->ram[i].size = be64_at(reg + PAIR_SIZE * i + 8);
		m->ram[i].offset = offset;
		offset += m->ram[i].size;
	}
	return 0;
}

/* CPU i has APIC id i: the machine keeps only the count. */
static int parse_cpus(const void *fdt, int node, struct machine *m)
{
	int cpu;
	fdt_for_each_subnode(cpu, fdt, node) {
		const uint8_t *reg = get_sized(fdt, cpu, "reg", 4);
		if (!reg)
			return -EINVAL;
		if (be32_at(reg) != m->cpus) {
			log_err("%s: APIC id %" PRIu32 ", expected %" PRIu32,
				node_name(fdt, cpu), be32_at(reg), m->cpus);
			return -EINVAL;
		}
		m->cpus++;
	}
	return cpu == -FDT_ERR_NOTFOUND ? 0 : -EINVAL;
}

static int parse_chosen(const void *fdt, int node, struct machine *m)
{
	size_t len;
	const char *s = get_string(fdt, node, "bootargs", MACHINE_CMDLINE_MAX, &len);
	if (!s)
		return -EINVAL;
	memcpy(m->cmdline, s, len);
	return 0;
}

static int parse_serial(const void *fdt, int node, struct machine *m)
{
	if (expect_string(fdt, node, "compatible", "ns16550a"))
		return -EINVAL;
	const uint8_t *reg = get_sized(fdt, node, "reg", PAIR_SIZE);
	const uint8_t *irq = reg ? get_sized(fdt, node, "interrupts", 4) : NULL;
	if (!irq)
		return -EINVAL;
	uint64_t port = be64_at(reg), n = be64_at(reg + 8);
	if (port > UINT16_MAX || n != SERIAL_NPORTS) {
		log_err("%s: ports %#" PRIx64 " +%" PRIu64 ", expected %u I/O ports",
			node_name(fdt, node), port, n, SERIAL_NPORTS);
		return -EINVAL;
	}
	m->serial_port = (uint16_t)port;
	m->serial_irq = be32_at(irq);
	return 0;
}

static int parse_virtio(const void *fdt, int node, struct machine *m)
{
	if (m->nvirtio == MACHINE_MAX_VIRTIO) {
		log_err("%s: more than %d virtio devices", node_name(fdt, node), MACHINE_MAX_VIRTIO);
		return -EINVAL;
	}
	if (expect_string(fdt, node, "compatible", "virtio,mmio"))
		return -EINVAL;
	const uint8_t *reg = get_sized(fdt, node, "reg", PAIR_SIZE);
	const uint8_t *irq = reg ? get_sized(fdt, node, "interrupts", 4) : NULL;
	const uint8_t *id = irq ? get_sized(fdt, node, "cellvm,device-id", 4) : NULL;
	size_t len;
	const char *name = id ? get_string(fdt, node, "cellvm,name", MACHINE_NAME_MAX, &len) : NULL;
	if (!name)
		return -EINVAL;
	if (be64_at(reg + 8) != MACHINE_VIRTIO_SIZE) {
		log_err("%s: window of %#" PRIx64 " bytes, expected %#llx", node_name(fdt, node),
			be64_at(reg + 8), MACHINE_VIRTIO_SIZE);
		return -EINVAL;
	}
	struct machine_virtio *v = &m->virtio[m->nvirtio++];
	memcpy(v->name, name, len);
	v->device_id = be32_at(id);
	v->base = be64_at(reg);
	v->gsi = be32_at(irq);
	return 0;
}

static int (*const parsers[NODE_KINDS])(const void *, int, struct machine *) = {
	[NODE_MEMORY] = parse_memory,
	[NODE_CPUS] = parse_cpus,
	[NODE_CHOSEN] = parse_chosen,
	[NODE_SERIAL] = parse_serial,
	[NODE_VIRTIO] = parse_virtio,
};

int machine_from_fdt(const void *blob, size_t len, struct machine *out)
{
	/* libfdt 1.6.1's fdt_check_full dereferences NULL on old format
	 * versions: accept only the version machine_to_fdt writes (17, which
	 * reads as compatible down to 16) before handing it the blob. */
	if (len < sizeof(struct fdt_header) || fdt_magic(blob) != FDT_MAGIC ||
	    fdt_version(blob) < 17 || fdt_last_comp_version(blob) > 17) {
		log_err("not a valid device tree: want format version 17");
		return -EINVAL;
	}
	/* Checks every offset, tag, name and string reference, so the
	 * libfdt readers below stay inside the blob. */
	int err = fdt_check_full(blob, len);
	if (err) {
		log_err("not a valid device tree: %s", fdt_strerror(err));
		return -EINVAL;
	}
	/* The blob travels alone: trailing bytes mean a framing mix-up. */
	if (fdt_totalsize(blob) != len) {
		log_err("device tree of %u bytes in a blob of %zu", fdt_totalsize(blob), len);
		return -EINVAL;
	}
	struct machine m;
	memset(&m, 0, sizeof(m));
	if (expect_string(blob, 0, "compatible", MACHINE_COMPATIBLE))
		return -EINVAL;
	unsigned int seen = 0;
	int node;
	fdt_for_each_subnode(node, blob, 0) {
		const char *name = node_name(blob, node);
		int kind = node_kind(name);
		if (kind < 0) {
			log_err("unknown node %s", name);
			return -EINVAL;
		}
		if (kind != NODE_VIRTIO && (seen & (1u << kind))) {
			log_err("second %s node %s", node_kinds[kind], name);
			return -EINVAL;
		}
		seen |= 1u << kind;
		if (parsers[kind](blob, node, &m))
			return -EINVAL;
	}
	if (node != -FDT_ERR_NOTFOUND)
		return -EINVAL; /* fdt_check_full rules this out */
	for (int k = 0; k < NODE_KINDS; k++) {
		if (k != NODE_VIRTIO && !(seen & (1u << k))) {
			log_err("no %s node", node_kinds[k]);
			return -EINVAL;
		}
	}
	if (check_machine(&m))
		return -EINVAL;
	*out = m;
	return 0;
}
