#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "machine.h"
#include "testutil.h"

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)

/* ---------------------------------------------------------- log capture */


static void quiet(void)
{
	int fd = open("/dev/null", O_WRONLY);
	cr_assert_geq(fd, 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* ---------------------------------------------------------- a test tree writer */

/* Writes trees independently of machine.c, from a description that can
 * hold what struct machine cannot (9 devices, 33 cpus, odd sizes), plus
 * one override that drops a node or property or replaces a value. */
struct tvirtio {
	const char *name;
	uint32_t id;
	uint64_t base, size;
	uint32_t gsi;
};

struct tm {
	const char *compatible;
	uint32_t cpus;
	size_t nram;
	uint64_t ram[3][2];
	uint64_t serial_port, serial_size;
	uint32_t serial_irq;
	const char *cmdline;
	size_t nvirtio;
	struct tvirtio virtio[10];
	const char *extra_node; /* another node under the root */
};

static struct {
	const char *node;
	const char *prop;    /* NULL: drop the whole node */
	bool drop;           /* drop the property instead of replacing it */
	const void *val;
	int len;
} ov;

static char stack[4][64];
static int depth, skip_depth;

static void tbegin(void *fdt, const char *name)
{
	if (skip_depth || (ov.node && !ov.prop && strcmp(ov.node, name) == 0)) {
		skip_depth++;
		return;
	}
	cr_assert_eq(fdt_begin_node(fdt, name), 0);
	snprintf(stack[depth++], sizeof(stack[0]), "%s", name);
}

static void tend(void *fdt)
{
	if (skip_depth) {
		skip_depth--;
		return;
	}
	depth--;
	cr_assert_eq(fdt_end_node(fdt), 0);
}

static void tprop(void *fdt, const char *name, const void *val, int len)
{
	if (skip_depth)
		return;
	if (ov.prop && strcmp(ov.node, stack[depth - 1]) == 0 && strcmp(ov.prop, name) == 0) {
		if (ov.drop)
			return;
		val = ov.val;
		len = ov.len;
	}
	cr_assert_eq(fdt_property(fdt, name, val, len), 0);
}

static void tstr(void *fdt, const char *name, const char *s)
{
	tprop(fdt, name, s, (int)strlen(s) + 1);
}

static void tu32(void *fdt, const char *name, uint32_t v)
{
	fdt32_t c = cpu_to_fdt32(v);
	tprop(fdt, name, &c, sizeof(c));
}

static void tpair(void *fdt, const char *name, uint64_t a, uint64_t b)
{
	fdt64_t c[2] = { cpu_to_fdt64(a), cpu_to_fdt64(b) };
	tprop(fdt, name, c, sizeof(c));
}

static size_t twrite(const struct tm *t, void *fdt, size_t cap)
{
	char name[64];
	depth = skip_depth = 0;
	cr_assert_eq(fdt_create(fdt, (int)cap), 0);
	cr_assert_eq(fdt_finish_reservemap(fdt), 0);
	tbegin(fdt, "");
	tstr(fdt, "compatible", t->compatible);

	tbegin(fdt, "memory@0");
	tstr(fdt, "device_type", "memory");
	fdt64_t reg[6];
	for (size_t i = 0; i < t->nram; i++) {
		reg[2 * i] = cpu_to_fdt64(t->ram[i][0]);
		reg[2 * i + 1] = cpu_to_fdt64(t->ram[i][1]);
	}
	tprop(fdt, "reg", reg, (int)(16 * t->nram));
	tend(fdt);

	tbegin(fdt, "cpus");
	for (uint32_t i = 0; i < t->cpus; i++) {
		snprintf(name, sizeof(name), "cpu@%x", i);
		tbegin(fdt, name);
		tu32(fdt, "reg", i);
		tend(fdt);
	}
	tend(fdt);

	tbegin(fdt, "chosen");
	tstr(fdt, "bootargs", t->cmdline);
	tend(fdt);

	snprintf(name, sizeof(name), "serial@%llx", (unsigned long long)t->serial_port);
	tbegin(fdt, name);
	tstr(fdt, "compatible", "ns16550a");
	tpair(fdt, "reg", t->serial_port, t->serial_size);
	tu32(fdt, "interrupts", t->serial_irq);
	tend(fdt);

	for (size_t i = 0; i < t->nvirtio; i++) {
		const struct tvirtio *v = &t->virtio[i];
		snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)v->base);
		tbegin(fdt, name);
		tstr(fdt, "compatible", "virtio,mmio");
		tpair(fdt, "reg", v->base, v->size);
		tu32(fdt, "interrupts", v->gsi);
		tu32(fdt, "cellvm,device-id", v->id);
		/* Last new name: string offset 0 (see virtio_node_properties). */
		tstr(fdt, "cellvm,name", v->name);
		tend(fdt);
	}
	if (t->extra_node) {
		tbegin(fdt, t->extra_node);
		tend(fdt);
	}
	tend(fdt);
	cr_assert_eq(fdt_finish(fdt), 0);
	return fdt_totalsize(fdt);
}

static void tm_from(struct tm *t, const struct machine *m)
{
	memset(t, 0, sizeof(*t));
	t->compatible = "cellvm,machine-v1";
	t->cpus = m->cpus;
	t->nram = m->nram;
	for (size_t i = 0; i < m->nram; i++) {
		t->ram[i][0] = m->ram[i].gpa;
		t->ram[i][1] = m->ram[i].size;
	}
	t->serial_port = m->serial_port;
	t->serial_size = 8;
	t->serial_irq = m->serial_irq;
	t->cmdline = m->cmdline;
	t->nvirtio = m->nvirtio;
	for (size_t i = 0; i < m->nvirtio; i++) {
		const struct machine_virtio *v = &m->virtio[i];
		t->virtio[i] = (struct tvirtio){ v->name, v->device_id, v->base,
						 MACHINE_VIRTIO_SIZE, v->gsi };
	}
}

/* The machine most refusal tests start from: two RAM ranges, two devices. */
static struct machine base_m;
static struct tm base;
static uint8_t tree[128 * 1024];

static void setup(void)
{
	memset(&ov, 0, sizeof(ov));
	cr_assert_eq(machine_layout(&base_m, 2, 4 * GIB, "console=ttyS0"), 0);
	cr_assert_eq(machine_add_virtio(&base_m, "blk0", VIRTIO_ID_BLOCK), 0);
	cr_assert_eq(machine_add_virtio(&base_m, "net0", VIRTIO_ID_NET), 0);
	tm_from(&base, &base_m);
}

TestSuite(machine, .init = setup);

static int parse_tm(const struct tm *t, struct machine *m)
{
	size_t len = twrite(t, tree, sizeof(tree));
	return machine_from_fdt(tree, len, m);
}

/* The tree must be refused with a log line containing why, and the output
 * left alone. */
static void refused(const struct tm *t, const char *why)
{
	struct machine m, before;
	memset(&m, 0xa5, sizeof(m));
	before = m;
	tu_log_begin();
	int r = parse_tm(t, &m);
	const char *log = tu_log_end();
	cr_assert_eq(r, -EINVAL, "accepted (expected \"%s\")", why);
	cr_assert_not_null(strstr(log, why), "expected \"%s\" in: %s", why, log);
	cr_assert_eq(memcmp(&m, &before, sizeof(m)), 0);
}

static void round_trip(const struct machine *m)
{
	uint8_t buf[16384];
	int len = machine_to_fdt(m, buf, sizeof(buf));
	cr_assert_gt(len, 0);
	struct machine got;
	memset(&got, 0x5a, sizeof(got));
	cr_assert_eq(machine_from_fdt(buf, (size_t)len, &got), 0);
	cr_assert_eq(got.cpus, m->cpus);
	cr_assert_eq(got.nram, m->nram);
	cr_assert_eq(got.nvirtio, m->nvirtio);
	cr_assert_str_eq(got.cmdline, m->cmdline);
	cr_assert_eq(memcmp(&got, m, sizeof(got)), 0);
}

/* ---------------------------------------------------------- round trips */

Test(machine, layout_one_cpu_small_memory)
{
	struct machine m;
	cr_assert_eq(machine_layout(&m, 1, 16 * MIB, ""), 0);
	cr_assert_eq(m.cpus, 1);
	cr_assert_eq(m.nram, 1);
	cr_assert_eq(m.ram[0].gpa, 0);
	cr_assert_eq(m.ram[0].size, 16 * MIB);
	cr_assert_eq(m.ram[0].offset, 0);
	cr_assert_eq(m.serial_port, MACHINE_SERIAL_PORT);
	cr_assert_eq(m.serial_irq, MACHINE_SERIAL_IRQ);
	cr_assert_eq(m.nvirtio, 0);
	cr_assert_eq(machine_ram_size(&m), 16 * MIB);
	round_trip(&m);
}

Test(machine, layout_32_cpus_exactly_3_gib)
{
	struct machine m;
	cr_assert_eq(machine_layout(&m, 32, 3 * GIB, "console=ttyS0 quiet"), 0);
	cr_assert_eq(m.nram, 1);
	cr_assert_eq(m.ram[0].size, 3 * GIB);
	round_trip(&m);
}

Test(machine, layout_above_3_gib_splits)
{
	struct machine m;
	cr_assert_eq(machine_layout(&m, 4, 5 * GIB, "root=/dev/vda"), 0);
	cr_assert_eq(m.nram, 2);
	cr_assert_eq(m.ram[0].gpa, 0);
	cr_assert_eq(m.ram[0].size, MACHINE_LOW_RAM_END);
	cr_assert_eq(m.ram[0].offset, 0);
	cr_assert_eq(m.ram[1].gpa, MACHINE_HIGH_RAM_START);
	cr_assert_eq(m.ram[1].size, 2 * GIB);
	cr_assert_eq(m.ram[1].offset, MACHINE_LOW_RAM_END);
	cr_assert_eq(machine_ram_size(&m), 5 * GIB);
	round_trip(&m);
}

Test(machine, eight_devices)
{
	static const uint32_t ids[] = { VIRTIO_ID_NET, VIRTIO_ID_BLOCK, VIRTIO_ID_CONSOLE,
					VIRTIO_ID_RNG, VIRTIO_ID_VSOCK };
	struct machine m;
	char name[16];
	cr_assert_eq(machine_layout(&m, 2, 256 * MIB, "console=hvc0"), 0);
	for (int i = 0; i < MACHINE_MAX_VIRTIO; i++) {
		snprintf(name, sizeof(name), "dev-%c_x", (char)('0' + i));
		cr_assert_eq(machine_add_virtio(&m, name, ids[i % 5]), 0);
		cr_assert_eq(m.virtio[i].device_id, ids[i % 5]);
		cr_assert_eq(m.virtio[i].base, MACHINE_VIRTIO_BASE + (uint64_t)i * MACHINE_VIRTIO_SIZE);
		cr_assert_eq(m.virtio[i].gsi, MACHINE_VIRTIO_GSI_BASE + (uint32_t)i);
		cr_assert_str_eq(m.virtio[i].name, name);
	}
	cr_assert_eq(machine_add_virtio(&m, "one-more", VIRTIO_ID_RNG), -ENOSPC);
	cr_assert_eq(m.nvirtio, MACHINE_MAX_VIRTIO);
	round_trip(&m);
}

Test(machine, longest_cmdline_and_name)
{
	struct machine m;
	char cmdline[MACHINE_CMDLINE_MAX];
	memset(cmdline, 'a', sizeof(cmdline) - 1);
	cmdline[sizeof(cmdline) - 1] = '\0';
	cr_assert_eq(machine_layout(&m, 1, 64 * MIB, cmdline), 0);
	cr_assert_eq(machine_add_virtio(&m, "abcdefghij-_789", VIRTIO_ID_CONSOLE), 0);
	round_trip(&m);
}

Test(machine, test_writer_matches)
{
	struct machine m;
	cr_assert_eq(parse_tm(&base, &m), 0);
	cr_assert_eq(memcmp(&m, &base_m, sizeof(m)), 0);
}

/* A parsed machine may use any slots; new devices take the lowest free. */
Test(machine, add_takes_lowest_free_slot)
{
	base.nvirtio = 1;
	base.virtio[0].base = MACHINE_VIRTIO_BASE;
	base.virtio[0].gsi = MACHINE_VIRTIO_GSI_BASE + 1;
	struct machine m;
	cr_assert_eq(parse_tm(&base, &m), 0);
	cr_assert_eq(machine_add_virtio(&m, "rng0", VIRTIO_ID_RNG), 0);
	cr_assert_eq(m.virtio[1].base, MACHINE_VIRTIO_BASE + MACHINE_VIRTIO_SIZE);
	cr_assert_eq(m.virtio[1].gsi, MACHINE_VIRTIO_GSI_BASE);
	round_trip(&m);
}

/* ---------------------------------------------------------- builder refusals */

static void layout_refused(uint32_t cpus, uint64_t mem, const char *cmdline, const char *why)
{
	struct machine m;
	tu_log_begin();
	int r = machine_layout(&m, cpus, mem, cmdline);
	const char *log = tu_log_end();
	cr_assert_eq(r, -EINVAL, "accepted (expected \"%s\")", why);
	cr_assert_not_null(strstr(log, why), "expected \"%s\" in: %s", why, log);
}

Test(machine, layout_refusals)
{
	layout_refused(0, 64 * MIB, "", "0 cpus");
	layout_refused(MACHINE_MAX_CPUS + 1, 64 * MIB, "", "33 cpus");
	layout_refused(1, 0, "", "is empty");
	layout_refused(1, 17 * MIB, "", "not 2 MiB aligned");
	layout_refused(1, 5 * GIB + MIB, "", "not 2 MiB aligned");
	layout_refused(1, 14 * MIB, "", "at least 16 MiB");
	layout_refused(1, UINT64_MAX - 2 * MIB + 1, "", "wraps");
	char cmdline[MACHINE_CMDLINE_MAX + 1];
	memset(cmdline, 'a', MACHINE_CMDLINE_MAX);
	cmdline[MACHINE_CMDLINE_MAX] = '\0';
	layout_refused(1, 64 * MIB, cmdline, "cmdline is 2048 bytes");
}

static void add_refused(struct machine *m, const char *name, uint32_t id)
{
	size_t n = m->nvirtio;
	tu_log_begin();
	int r = machine_add_virtio(m, name, id);
	tu_log_end();
	cr_assert_eq(r, -EINVAL, "\"%s\" id %u accepted", name, id);
	cr_assert_eq(m->nvirtio, n);
}

Test(machine, add_virtio_refusals)
{
	struct machine m = base_m;
	add_refused(&m, "", VIRTIO_ID_BLOCK);
	add_refused(&m, "abcdefghijklmnop", VIRTIO_ID_BLOCK); /* 16 characters */
	add_refused(&m, "Blk0", VIRTIO_ID_BLOCK);
	add_refused(&m, "blk/0", VIRTIO_ID_BLOCK);
	add_refused(&m, "blk@0", VIRTIO_ID_BLOCK);
	add_refused(&m, "blk 0", VIRTIO_ID_BLOCK);
	add_refused(&m, "blk.0", VIRTIO_ID_BLOCK);
	add_refused(&m, "blk0", VIRTIO_ID_BLOCK); /* taken */
	add_refused(&m, "rng0", 0);
	cr_assert_eq(machine_add_virtio(&m, "rng0", VIRTIO_ID_RNG), 0);
}

static void to_fdt_refused(const struct machine *m, const char *why)
{
	uint8_t buf[16384];
	tu_log_begin();
	int r = machine_to_fdt(m, buf, sizeof(buf));
	const char *log = tu_log_end();
	cr_assert_eq(r, -EINVAL, "accepted (expected \"%s\")", why);
	cr_assert_not_null(strstr(log, why), "expected \"%s\" in: %s", why, log);
}

Test(machine, to_fdt_refuses_bad_machines)
{
	struct machine m = base_m;
	m.ram[1].offset += 2 * MIB;
	to_fdt_refused(&m, "memfd offset");

	m = base_m;
	memset(m.cmdline, 'x', sizeof(m.cmdline));
	to_fdt_refused(&m, "cmdline is not NUL-terminated");

	m = base_m;
	m.nvirtio = MACHINE_MAX_VIRTIO + 1;
	to_fdt_refused(&m, "9 virtio devices");

	m = base_m;
	m.nram = MACHINE_MAX_RAM + 1;
	to_fdt_refused(&m, "3 RAM ranges");

	m = base_m;
	m.nram = 0;
	to_fdt_refused(&m, "0 RAM ranges");

	m = base_m;
	memset(m.virtio[1].name, 'a', sizeof(m.virtio[1].name));
	to_fdt_refused(&m, "bad name");
}

Test(machine, to_fdt_small_buffer)
{
	uint8_t buf[16384];
	int len = machine_to_fdt(&base_m, buf, sizeof(buf));
	cr_assert_gt(len, 0);
	for (int cap = 0; cap < len; cap++)
		cr_assert_eq(machine_to_fdt(&base_m, buf, (size_t)cap), -ENOSPC, "cap %d", cap);
	cr_assert_eq(machine_to_fdt(&base_m, buf, (size_t)len), len);
}

/* ---------------------------------------------------------- parser: blob */

Test(machine, garbage_refused)
{
	uint8_t junk[256];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	struct machine m;
	tu_log_begin();
	int r = machine_from_fdt(junk, sizeof(junk), &m);
	const char *log = tu_log_end();
	cr_assert_eq(r, -EINVAL);
	cr_assert_not_null(strstr(log, "not a valid device tree"));
}

/* Room for len bytes ending right before a PROT_NONE page, so that reads
 * past the blob fault even inside the uninstrumented libfdt. libfdt wants
 * the blob 8-byte aligned, so up to 7 readable bytes may follow len. */
static uint8_t *guarded(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = (len + page - 1) / page * page;
	uint8_t *p = mmap(NULL, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(mprotect(p + span, page, PROT_NONE), 0);
	return p + span - ((len + 7) & ~(size_t)7);
}

/* libfdt's own checker crashes on format versions below 16, so they must be
 * refused before it sees them (found by tests/fuzz/fuzz_machine). */
Test(machine, old_format_versions_refused)
{
	int len = machine_to_fdt(&base_m, tree, sizeof(tree));
	cr_assert_gt(len, 0);
	const uint32_t versions[] = { 1, 4, 15, 16 };
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		uint8_t *p = guarded((size_t)len);
		memcpy(p, tree, (size_t)len);
		fdt_set_version(p, versions[i]);
		struct machine m;
		tu_log_begin();
		int r = machine_from_fdt(p, (size_t)len, &m);
		const char *log = tu_log_end();
		cr_assert_eq(r, -EINVAL, "version %u", versions[i]);
		cr_assert_not_null(strstr(log, "want format version 17"), "%s", log);
	}
}

Test(machine, trailing_bytes_refused)
{
	int len = machine_to_fdt(&base_m, tree, sizeof(tree));
	cr_assert_gt(len, 0);
	struct machine m;
	tu_log_begin();
	int r = machine_from_fdt(tree, (size_t)len + 8, &m);
	const char *log = tu_log_end();
	cr_assert_eq(r, -EINVAL);
	cr_assert_not_null(strstr(log, "in a blob of"), "%s", log);
}


Test(machine, every_truncation_refused)
{
	int len = machine_to_fdt(&base_m, tree, sizeof(tree));
	cr_assert_gt(len, 0);
	uint8_t *end = guarded((size_t)len) + (((size_t)len + 7) & ~(size_t)7);
	quiet();
	for (int n = 0; n < len; n++) {
		uint8_t *p = end - (((size_t)n + 7) & ~(size_t)7);
		memcpy(p, tree, (size_t)n);
		struct machine m;
		cr_assert_eq(machine_from_fdt(p, (size_t)n, &m), -EINVAL, "len %d", n);
	}
	uint8_t *p = end - (((size_t)len + 7) & ~(size_t)7);
	memcpy(p, tree, (size_t)len);
	struct machine m;
	cr_assert_eq(machine_from_fdt(p, (size_t)len, &m), 0);
}

Test(machine, byte_flips_never_crash)
{
	int len = machine_to_fdt(&base_m, tree, sizeof(tree));
	cr_assert_gt(len, 0);
	uint8_t *p = guarded((size_t)len);
	static const uint8_t masks[] = { 0x01, 0x08, 0x80, 0xff };
	unsigned int accepted = 0, refused_n = 0;
	quiet();
	for (int i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(masks); k++) {
			memcpy(p, tree, (size_t)len);
			p[i] ^= masks[k];
			struct machine m;
			int r = machine_from_fdt(p, (size_t)len, &m);
			cr_assert(r == 0 || r == -EINVAL, "byte %d mask %#x: %d", i, masks[k], r);
			if (r == 0) {
				/* Whatever the parser accepts, the builder accepts. */
				uint8_t out[16384];
				cr_assert_gt(machine_to_fdt(&m, out, sizeof(out)), 0);
				accepted++;
			} else {
				refused_n++;
			}
		}
	}
	cr_assert_gt(accepted, 0);
	cr_assert_gt(refused_n, 0);
}

/* ---------------------------------------------------------- parser: structure */

static void override(const char *node, const char *prop, const void *val, int len)
{
	ov.node = node;
	ov.prop = prop;
	ov.drop = false;
	ov.val = val;
	ov.len = len;
}

static void drop_prop(const char *node, const char *prop)
{
	override(node, prop, NULL, 0);
	ov.drop = true;
}

Test(machine, root_compatible)
{
	base.compatible = "cellvm,machine-v2";
	refused(&base, "expected \"cellvm,machine-v1\"");
	base.compatible = "cellvm";
	refused(&base, "expected \"cellvm,machine-v1\"");
	drop_prop("", "compatible");
	refused(&base, "/: no compatible");
}

Test(machine, unknown_node)
{
	base.extra_node = "memoryx@0";
	refused(&base, "unknown node memoryx@0");
}

Test(machine, second_node)
{
	base.extra_node = "chosen@1";
	refused(&base, "second chosen node");
}

Test(machine, missing_nodes)
{
	static const char *const nodes[][2] = {
		{ "memory@0", "no memory node" },
		{ "cpus", "no cpus node" },
		{ "chosen", "no chosen node" },
		{ "serial@3f8", "no serial node" },
	};
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		override(nodes[i][0], NULL, NULL, 0);
		refused(&base, nodes[i][1]);
	}
	/* Devices are optional. */
	base.nvirtio = 0;
	memset(&ov, 0, sizeof(ov));
	struct machine m;
	cr_assert_eq(parse_tm(&base, &m), 0);
	cr_assert_eq(m.nvirtio, 0);
}

Test(machine, memory_node)
{
	override("memory@0", "device_type", "cpu", 4);
	refused(&base, "device_type is \"cpu\"");
	drop_prop("memory@0", "reg");
	refused(&base, "memory@0: no reg");
	uint8_t reg[48] = { 0 };
	override("memory@0", "reg", reg, 24);
	refused(&base, "reg is 24 bytes");
	override("memory@0", "reg", reg, 0);
	refused(&base, "reg is 0 bytes");
	base.nram = 3;
	base.ram[2][0] = 8 * GIB;
	base.ram[2][1] = 2 * MIB;
	memset(&ov, 0, sizeof(ov));
	refused(&base, "reg is 48 bytes");
}

Test(machine, cpu_nodes)
{
	uint8_t reg8[8] = { 0 };
	override("cpu@0", "reg", reg8, 8);
	refused(&base, "cpu@0: reg is 8 bytes");
	drop_prop("cpu@1", "reg");
	refused(&base, "cpu@1: no reg");
	fdt32_t five = cpu_to_fdt32(5);
	override("cpu@1", "reg", &five, 4);
	refused(&base, "APIC id 5, expected 1");
	memset(&ov, 0, sizeof(ov));
	base.cpus = 0;
	refused(&base, "0 cpus");
	base.cpus = MACHINE_MAX_CPUS + 1;
	refused(&base, "33 cpus");
	base.cpus = MACHINE_MAX_CPUS;
	struct machine m;
	cr_assert_eq(parse_tm(&base, &m), 0);
	cr_assert_eq(m.cpus, MACHINE_MAX_CPUS);
}

Test(machine, bootargs)
{
	drop_prop("chosen", "bootargs");
	refused(&base, "chosen: no bootargs");
	override("chosen", "bootargs", "abc", 3);
	refused(&base, "bootargs is not NUL-terminated");
	override("chosen", "bootargs", "", 0);
	refused(&base, "bootargs is not NUL-terminated");
	override("chosen", "bootargs", "a\0b", 4);
	refused(&base, "bootargs has an embedded NUL");
	memset(&ov, 0, sizeof(ov));
	static char cmdline[MACHINE_CMDLINE_MAX + 1];
	memset(cmdline, 'a', MACHINE_CMDLINE_MAX);
	base.cmdline = cmdline;
	refused(&base, "bootargs is longer than 2047 bytes");
	cmdline[MACHINE_CMDLINE_MAX - 1] = '\0';
	struct machine m;
	cr_assert_eq(parse_tm(&base, &m), 0);
	cr_assert_str_eq(m.cmdline, cmdline);
}

Test(machine, serial_node)
{
	override("serial@3f8", "compatible", "ns16450", 8);
	refused(&base, "compatible is \"ns16450\"");
	uint8_t b[32] = { 0 };
	override("serial@3f8", "reg", b, 8);
	refused(&base, "serial@3f8: reg is 8 bytes");
	override("serial@3f8", "interrupts", b, 8);
	refused(&base, "serial@3f8: interrupts is 8 bytes");
	drop_prop("serial@3f8", "interrupts");
	refused(&base, "serial@3f8: no interrupts");
	memset(&ov, 0, sizeof(ov));
	base.serial_size = 16;
	refused(&base, "expected 8 I/O ports");
	base.serial_size = 8;
	base.serial_port = 0x103f8; /* must not wrap to 0x3f8 */
	refused(&base, "expected 8 I/O ports");
	base.serial_port = 0x2f8;
	refused(&base, "serial at port 0x2f8");
	base.serial_port = MACHINE_SERIAL_PORT;
	base.serial_irq = 3;
	refused(&base, "IRQ 3");
}

#define DEV0 "virtio_mmio@d0000000"

Test(machine, virtio_node_properties)
{
	override(DEV0, "compatible", "virtio,pci", 11);
	refused(&base, "compatible is \"virtio,pci\"");
	uint8_t b[32] = { 0 };
	override(DEV0, "reg", b, 8);
	refused(&base, DEV0 ": reg is 8 bytes");
	override(DEV0, "interrupts", b, 2);
	refused(&base, DEV0 ": interrupts is 2 bytes");
	override(DEV0, "cellvm,device-id", b, 8);
	refused(&base, DEV0 ": cellvm,device-id is 8 bytes");
	drop_prop(DEV0, "cellvm,name");
	refused(&base, DEV0 ": no cellvm,name");
	override(DEV0, "cellvm,name", "blk", 3);
	refused(&base, "cellvm,name is not NUL-terminated");
	/* The 4 bytes before this empty value are its name offset, 0: the
	 * length must be checked before the last byte. */
	override(DEV0, "cellvm,name", "", 0);
	refused(&base, "cellvm,name is not NUL-terminated");
	override(DEV0, "cellvm,name", "abcdefghijklmnop", 17);
	refused(&base, "cellvm,name is longer than 15 bytes");
	memset(&ov, 0, sizeof(ov));
	base.virtio[0].size = 0x2000;
	refused(&base, "window of 0x2000 bytes");
}

Test(machine, nine_devices)
{
	static char names[9][8];
	base.nvirtio = 9;
	for (uint32_t i = 0; i < 9; i++) {
		snprintf(names[i], sizeof(names[i]), "d%u", i);
		base.virtio[i] = (struct tvirtio){ names[i], 4, MACHINE_VIRTIO_BASE + i * MACHINE_VIRTIO_SIZE,
						   MACHINE_VIRTIO_SIZE, MACHINE_VIRTIO_GSI_BASE + i };
	}
	refused(&base, "more than 8 virtio devices");
}

/* ---------------------------------------------------------- parser: meaning */

static void ram2(uint64_t gpa0, uint64_t size0, uint64_t gpa1, uint64_t size1)
{
	base.nram = size1 || gpa1 ? 2 : 1;
	base.ram[0][0] = gpa0;
	base.ram[0][1] = size0;
	base.ram[1][0] = gpa1;
	base.ram[1][1] = size1;
}

Test(machine, ram_refusals)
{
	ram2(0, 64 * MIB, 4 * GIB, 0);
	refused(&base, "RAM range 1 at 0x100000000 is empty");
	ram2(0, 64 * MIB, 4 * GIB, MIB);
	refused(&base, "not 2 MiB aligned");
	ram2(0, 64 * MIB, 4 * GIB + MIB, 2 * MIB);
	refused(&base, "not 2 MiB aligned");
	ram2(0, 64 * MIB, UINT64_MAX - 2 * MIB + 1, 4 * MIB);
	refused(&base, "wraps");
	ram2(0, 2 * GIB, GIB, 2 * MIB);
	refused(&base, "RAM range 1 at 0x40000000 overlaps or precedes range 0");
	ram2(4 * GIB, 64 * MIB, 0, 64 * MIB);
	refused(&base, "overlaps or precedes");
	ram2(0, 3 * GIB + 2 * MIB, 0, 0);
	refused(&base, "reaches the MMIO hole");
	ram2(0, 64 * MIB, 3 * GIB + 512 * MIB, 2 * MIB);
	refused(&base, "reaches the MMIO hole");
	ram2(0, 64 * MIB, 4 * GIB - 2 * MIB, 4 * MIB);
	refused(&base, "reaches the MMIO hole");
	ram2(2 * MIB, 64 * MIB, 0, 0);
	refused(&base, "must start at 0");
	ram2(0, 8 * MIB, 0, 0);
	refused(&base, "at least 16 MiB");
	/* Neighbours of the hole are fine, and so is a gap between ranges. */
	ram2(0, 3 * GIB, 8 * GIB, 2 * MIB);
	struct machine m;
	cr_assert_eq(parse_tm(&base, &m), 0);
	cr_assert_eq(m.ram[1].offset, 3 * GIB);
	cr_assert_eq(machine_ram_size(&m), 3 * GIB + 2 * MIB);
}

Test(machine, virtio_refusals)
{
	base.virtio[1].name = "Net0";
	refused(&base, "bad name \"Net0\"");
	base.virtio[1].name = "";
	refused(&base, "bad name \"\"");
	base.virtio[1].name = "net0";
	base.virtio[1].id = 0;
	refused(&base, "device id 0");
	base.virtio[1].id = VIRTIO_ID_NET;

	uint64_t bad_bases[] = { MACHINE_LOW_RAM_END, MACHINE_VIRTIO_BASE - MACHINE_VIRTIO_SIZE,
				 MACHINE_VIRTIO_BASE + MACHINE_MAX_VIRTIO * MACHINE_VIRTIO_SIZE,
				 MACHINE_VIRTIO_BASE + 0x800, 0xfec00000 };
	for (size_t i = 0; i < sizeof(bad_bases) / sizeof(bad_bases[0]); i++) {
		base.virtio[1].base = bad_bases[i];
		refused(&base, "is not a virtio slot");
	}
	base.virtio[1].base = base_m.virtio[1].base;

	base.virtio[1].gsi = MACHINE_SERIAL_IRQ;
	refused(&base, "GSI 4 outside");
	base.virtio[1].gsi = MACHINE_VIRTIO_GSI_BASE - 1;
	refused(&base, "GSI 15 outside");
	base.virtio[1].gsi = MACHINE_IOAPIC_PINS;
	refused(&base, "GSI 24 outside");
	base.virtio[1].gsi = base_m.virtio[1].gsi;

	base.virtio[1].name = "blk0";
	refused(&base, "virtio blk0: same name as virtio blk0");
	base.virtio[1].name = "net0";
	base.virtio[1].base = base.virtio[0].base;
	refused(&base, "same window as");
	base.virtio[1].base = base_m.virtio[1].base;
	base.virtio[1].gsi = base.virtio[0].gsi;
	refused(&base, "same GSI as");

	/* Slots and GSIs need not follow the device order. */
	base.virtio[1].gsi = MACHINE_IOAPIC_PINS - 1;
	base.virtio[1].base = MACHINE_VIRTIO_BASE + 7 * MACHINE_VIRTIO_SIZE;
	struct machine m;
	cr_assert_eq(parse_tm(&base, &m), 0);
	round_trip(&m);
}
