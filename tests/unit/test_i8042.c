#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "acpi_pm.h"
#include "bus.h"
#include "i8042.h"
#include "layout.h"

static struct bus bus;
static unsigned int resets, poweroffs;

static void on_reset(void *opaque)
{
	cr_assert_eq(opaque, &bus);
	resets++;
}

static void on_poweroff(void *opaque)
{
	cr_assert_eq(opaque, &bus);
	poweroffs++;
}

static uint8_t in8(uint64_t port)
{
	uint8_t v;
	cr_assert(bus_access(&bus, port, &v, 1, false), "port %#lx", (unsigned long)port);
	return v;
}

static void out8(uint64_t port, uint8_t v)
{
	cr_assert(bus_access(&bus, port, &v, 1, true), "port %#lx", (unsigned long)port);
}

/* ---------------------------------------------------------- i8042 */

static struct i8042 kbc;

static void kbc_setup(void)
{
	memset(&bus, 0, sizeof(bus));
	resets = poweroffs = 0;
	cr_assert_eq(i8042_init(&kbc, on_reset, &bus), 0);
	cr_assert_eq(i8042_register(&kbc, &bus), 0);
}

static void kbc_teardown(void)
{
	i8042_destroy(&kbc);
}

TestSuite(i8042, .init = kbc_setup, .fini = kbc_teardown);

#define STS_OBF 0x01
#define STS_IBF 0x02

/* Linux's reboot: wait for the input buffer to drain, then pulse reset. */
Test(i8042, reset_via_0xfe)
{
	cr_assert_eq(in8(LAYOUT_I8042_CMD) & (STS_IBF | STS_OBF), 0);
	out8(LAYOUT_I8042_CMD, 0xfe);
	cr_assert_eq(resets, 1);
	out8(LAYOUT_I8042_CMD, 0xfe);
	cr_assert_eq(resets, 2);
}

Test(i8042, other_commands_and_data_ignored)
{
	static const uint8_t cmds[] = { 0x00, 0xa7, 0xa8, 0xad, 0xae, 0xd1, 0xd4, 0xf0, 0xfc, 0xfd, 0xff };
	for (size_t i = 0; i < sizeof(cmds); i++) {
		out8(LAYOUT_I8042_CMD, cmds[i]);
		cr_assert_eq(in8(LAYOUT_I8042_CMD) & (STS_IBF | STS_OBF), 0, "cmd %#x", cmds[i]);
	}
	out8(LAYOUT_I8042_DATA, 0xfe); /* a keyboard command, not a reset */
	out8(LAYOUT_I8042_DATA, 0xff);
	cr_assert_eq(resets, 0);
	cr_assert_eq(in8(LAYOUT_I8042_CMD) & STS_OBF, 0);
}

Test(i8042, self_test_answers_0x55)
{
	out8(LAYOUT_I8042_CMD, 0xaa);
	cr_assert_eq(in8(LAYOUT_I8042_CMD) & (STS_OBF | STS_IBF), STS_OBF);
	cr_assert_eq(in8(LAYOUT_I8042_DATA), 0x55);
	cr_assert_eq(in8(LAYOUT_I8042_CMD) & STS_OBF, 0);
}

Test(i8042, config_byte_read_write)
{
	out8(LAYOUT_I8042_CMD, 0x20);
	cr_assert(in8(LAYOUT_I8042_CMD) & STS_OBF);
	uint8_t ctr = in8(LAYOUT_I8042_DATA);
	cr_assert_eq(in8(LAYOUT_I8042_CMD) & 0x04, ctr & 0x04); /* system flag mirrored */
	/* Only the byte right after 0x60 is the config byte. */
	out8(LAYOUT_I8042_CMD, 0x60);
	out8(LAYOUT_I8042_DATA, 0x65);
	out8(LAYOUT_I8042_DATA, 0x11);
	out8(LAYOUT_I8042_CMD, 0x20);
	cr_assert_eq(in8(LAYOUT_I8042_DATA), 0x65);
	cr_assert_eq(in8(LAYOUT_I8042_CMD) & 0x04, 0x04);
	out8(LAYOUT_I8042_CMD, 0x60);
	out8(LAYOUT_I8042_DATA, 0x61);
	cr_assert_eq(in8(LAYOUT_I8042_CMD) & 0x04, 0);
	out8(LAYOUT_I8042_CMD, 0x60);
	out8(LAYOUT_I8042_CMD, 0xad);
	out8(LAYOUT_I8042_DATA, 0x22);
	out8(LAYOUT_I8042_CMD, 0x20);
	cr_assert_eq(in8(LAYOUT_I8042_DATA), 0x61);
	cr_assert_eq(resets, 0);
}

/* Port 0x61 (speaker/NMI) sits between and belongs to someone else. */
Test(i8042, only_its_two_ports)
{
	uint8_t v[2] = { 0 };
	cr_assert(!bus_access(&bus, LAYOUT_I8042_DATA + 1, v, 1, false));
	cr_assert(!bus_access(&bus, LAYOUT_I8042_CMD - 1, v, 1, true));
	cr_assert(!bus_access(&bus, LAYOUT_I8042_DATA, v, 2, false));
	struct i8042 other;
	cr_assert_eq(i8042_init(&other, on_reset, &bus), 0);
	cr_assert_eq(i8042_register(&other, &bus), -EEXIST);
	i8042_destroy(&other);
}

/* ---------------------------------------------------------- acpi_pm */

static struct acpi_pm pm;
static const struct acpi_pm_ops pm_ops = { .poweroff = on_poweroff, .reset = on_reset };

static void pm_setup(void)
{
	memset(&bus, 0, sizeof(bus));
	resets = poweroffs = 0;
	acpi_pm_init(&pm, &pm_ops, &bus);
	cr_assert_eq(acpi_pm_register(&pm, &bus), 0);
}

TestSuite(acpi_pm, .init = pm_setup);

#define SLP_EN 0x20
#define SLP_TYP(t) ((uint8_t)((t) << 2))
#define WAK_STS 0x80

Test(acpi_pm, poweroff_on_s5)
{
	cr_assert_eq(in8(LAYOUT_PM_SLEEP_STS), 0);
	out8(LAYOUT_PM_SLEEP_CTL, SLP_TYP(LAYOUT_PM_S5_TYPE) | SLP_EN);
	cr_assert_eq(poweroffs, 1);
	cr_assert_eq(resets, 0);
}

Test(acpi_pm, s5_needs_slp_en)
{
	out8(LAYOUT_PM_SLEEP_CTL, SLP_TYP(LAYOUT_PM_S5_TYPE));
	cr_assert_eq(poweroffs, 0);
	/* Reserved bits do not hide a valid request. */
	out8(LAYOUT_PM_SLEEP_CTL, SLP_TYP(LAYOUT_PM_S5_TYPE) | SLP_EN | 0xc3);
	cr_assert_eq(poweroffs, 1);
}

/* Unsupported sleep states wake at once, so ACPICA's wait for WAK_STS ends. */
Test(acpi_pm, other_sleep_types_wake_at_once)
{
	for (unsigned int t = 0; t < 8; t++) {
		if (t == LAYOUT_PM_S5_TYPE)
			continue;
		out8(LAYOUT_PM_SLEEP_STS, WAK_STS); /* ACPICA clears it first */
		cr_assert_eq(in8(LAYOUT_PM_SLEEP_STS), 0);
		out8(LAYOUT_PM_SLEEP_CTL, SLP_TYP(t) | SLP_EN);
		cr_assert_eq(in8(LAYOUT_PM_SLEEP_STS), WAK_STS, "type %u", t);
		/* Only the status register reads back. */
		cr_assert_eq(in8(LAYOUT_PM_SLEEP_CTL), 0);
		cr_assert_eq(in8(LAYOUT_PM_RESET), 0);
	}
	cr_assert_eq(poweroffs, 0);
	cr_assert_eq(resets, 0);
	/* Writing 0 leaves it; writing 1 clears it. */
	out8(LAYOUT_PM_SLEEP_STS, 0x7f);
	cr_assert_eq(in8(LAYOUT_PM_SLEEP_STS), WAK_STS);
	out8(LAYOUT_PM_SLEEP_STS, WAK_STS);
	cr_assert_eq(in8(LAYOUT_PM_SLEEP_STS), 0);
}

Test(acpi_pm, reset_register)
{
	for (unsigned int v = 0; v < 256; v++) {
		if (v != LAYOUT_PM_RESET_VALUE)
			out8(LAYOUT_PM_RESET, (uint8_t)v);
	}
	cr_assert_eq(resets, 0);
	out8(LAYOUT_PM_RESET, LAYOUT_PM_RESET_VALUE);
	cr_assert_eq(resets, 1);
	cr_assert_eq(poweroffs, 0);
	cr_assert_eq(in8(LAYOUT_PM_RESET), 0);
	cr_assert_eq(in8(LAYOUT_PM_SLEEP_CTL), 0);
}

/* A wide access reaches each byte register in turn. */
Test(acpi_pm, wide_access)
{
	uint8_t w[3] = { 0, 0, LAYOUT_PM_RESET_VALUE };
	cr_assert(bus_access(&bus, LAYOUT_PM_SLEEP_CTL, w, 3, true));
	cr_assert_eq(resets, 1);
	uint8_t r[2] = { 0xff, 0xff };
	cr_assert(bus_access(&bus, LAYOUT_PM_SLEEP_CTL, r, 2, false));
	cr_assert_eq(r[0], 0);
	cr_assert_eq(r[1], 0);
	cr_assert(!bus_access(&bus, LAYOUT_PM_RESET, r, 2, false));
}

/* The reset vector stub writes the reset value to the reset register: decode
 * its "mov dx, imm16; mov al, imm8; out dx, al" and replay that write. */
Test(acpi_pm, reset_stub_resets)
{
	uint8_t code[ACPI_PM_RESET_STUB_SIZE];
	acpi_pm_reset_stub(code);
	cr_assert_eq(code[0], 0xba, "mov dx, imm16");
	cr_assert_eq(code[3], 0xb0, "mov al, imm8");
	cr_assert_eq(code[5], 0xee, "out dx, al");
	cr_assert_eq(code[6], 0xf4, "then halt");
	uint16_t port = (uint16_t)(code[1] | code[2] << 8);
	out8(port, code[4]);
	cr_assert_eq(resets, 1);
}
