#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "bus.h"

struct rec {
	uint64_t off;
	uint32_t len;
	uint8_t last[8];
	int reads, writes;
};

static void rd(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct rec *r = opaque;
	r->off = off;
	r->len = len;
	r->reads++;
	memset(data, 0x5a, len);
}

static void wr(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct rec *r = opaque;
	r->off = off;
	r->len = len;
	r->writes++;
	memcpy(r->last, data, len);
}

static struct bus_dev dev(uint64_t base, uint64_t len, struct rec *r)
{
	return (struct bus_dev){ .name = "t", .base = base, .len = len, .read = rd,
				 .write = wr, .opaque = r };
}

Test(bus, routes_to_the_window_with_relative_offset)
{
	static struct bus b;
	struct rec r1 = { 0 }, r2 = { 0 };
	cr_assert_eq(bus_add(&b, &(struct bus_dev){ 0 }), -EINVAL, "empty window");
	struct bus_dev d1 = dev(0x3f8, 8, &r1), d2 = dev(0x600, 3, &r2);
	cr_assert_eq(bus_add(&b, &d1), 0);
	cr_assert_eq(bus_add(&b, &d2), 0);
	uint8_t v[4] = { 1, 2, 3, 4 };
	cr_assert(bus_access(&b, 0x3fb, v, 1, true));
	cr_assert_eq(r1.off, 3);
	cr_assert_eq(r1.writes, 1);
	cr_assert(bus_access(&b, 0x601, v, 2, false));
	cr_assert_eq(r2.off, 1);
	cr_assert_eq(v[0], 0x5a);
	cr_assert_eq(r1.reads + r2.writes, 0);
}

Test(bus, access_must_fit_inside_one_window)
{
	static struct bus b;
	struct rec r = { 0 };
	struct bus_dev d = dev(0x1000, 4, &r);
	cr_assert_eq(bus_add(&b, &d), 0);
	uint8_t v[8];
	cr_assert_not(bus_access(&b, 0x1002, v, 4, false), "crosses the end");
	cr_assert_eq(memcmp(v, "\xff\xff\xff\xff", 4), 0, "unhandled reads are all ones");
	cr_assert_not(bus_access(&b, 0xfff, v, 2, true), "starts before");
	cr_assert_not(bus_access(&b, 0x1004, v, 1, true), "one past the end");
	cr_assert(bus_access(&b, 0x1003, v, 1, true), "last byte");
	cr_assert_eq(r.writes, 1);
	cr_assert_eq(r.reads, 0);
}

Test(bus, refuses_overlap_wrap_and_overflow)
{
	static struct bus b;
	struct rec r = { 0 };
	struct bus_dev d = dev(0x100, 0x10, &r);
	cr_assert_eq(bus_add(&b, &d), 0);
	const uint64_t overlaps[][2] = { { 0x100, 1 }, { 0xf8, 0x9 }, { 0x10f, 4 }, { 0x80, 0x100 } };
	for (size_t i = 0; i < sizeof(overlaps) / sizeof(overlaps[0]); i++) {
		struct bus_dev o = dev(overlaps[i][0], overlaps[i][1], &r);
		cr_assert_eq(bus_add(&b, &o), -EEXIST, "overlap %zu", i);
	}
	struct bus_dev touching = dev(0x110, 0x10, &r);
	cr_assert_eq(bus_add(&b, &touching), 0, "adjacent windows are fine");
	struct bus_dev wrap = dev(UINT64_MAX - 1, 4, &r);
	cr_assert_eq(bus_add(&b, &wrap), -EINVAL);
	struct bus_dev top = dev(UINT64_MAX - 3, 4, &r);
	cr_assert_eq(bus_add(&b, &top), 0, "a window ending at the top is fine");
	uint8_t v[2] = { 0 };
	cr_assert(bus_access(&b, UINT64_MAX, v, 1, true));
	cr_assert_not(bus_access(&b, UINT64_MAX, v, 2, false), "wrapping access");
	while (b.n < BUS_MAX_DEVS) {
		struct bus_dev f = dev(0x10000 + b.n * 0x10, 0x10, &r);
		cr_assert_eq(bus_add(&b, &f), 0);
	}
	struct bus_dev full = dev(0x90000, 1, &r);
	cr_assert_eq(bus_add(&b, &full), -ENOSPC);
}
