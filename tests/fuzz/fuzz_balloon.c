/* libFuzzer harness: what a virtio-balloon driver hands cellvm-balloon
 * (device-procs/balloon_parse.c): inflate/deflate PFN arrays, stats
 * buffers, and the ranges of reported free pages.
 *
 * Input layout: byte 0 picks the reader (mod 3), the rest is its input:
 *   0  PFN array: byte 1 picks the guest RAM layout (mod 4: none, one
 *      region, two adjacent ones, two with a gap and an odd end), the rest
 *      the le32 PFNs. Every range must be page-sized, inside one RAM range,
 *      sorted and apart from the next; every PFN inside RAM must be in a
 *      range and every one outside counted as refused.
 *   1  stats buffer: only tags below 16 present, 0 where absent.
 *   2  page span: le64 addr, le64 len; the span is whole pages inside.
 *
 * Links: device-procs/balloon_parse.c */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "balloon_parse.h"
#include "bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())
#define PAGE BALLOON_PAGE_SIZE

static const struct balloon_ram layouts[4][2] = {
	{ { 0, 0 } },
	{ { 0, 1ull << 30 } },
	{ { 0, 2ull << 20 }, { 2ull << 20, 2ull << 20 } },
	{ { 1ull << 20, 1ull << 20 }, { 1ull << 32, 3 * PAGE + 7 } },
};
static const size_t nlayout[4] = { 0, 1, 2, 2 };

static bool in_ram(const struct balloon_ram *ram, size_t nram, uint64_t gpa)
{
	for (size_t i = 0; i < nram; i++)
		if (gpa >= ram[i].gpa && gpa + PAGE <= ram[i].gpa + ram[i].size)
			return true;
	return false;
}

static void pfns(const uint8_t *buf, size_t len)
{
	if (len < 1)
		return;
	const struct balloon_ram *ram = layouts[buf[0] % 4];
	size_t nram = nlayout[buf[0] % 4];
	buf++, len--;
	static struct balloon_range r[BALLOON_PFN_BATCH];
	unsigned refused;
	int n = balloon_pfn_ranges(buf, len, ram, nram, r, &refused);
	if (len % 4 || len / 4 > BALLOON_PFN_BATCH) {
		CHECK(n == -EINVAL);
		return;
	}
	CHECK(n >= 0 && (size_t)n <= len / 4);
	for (int i = 0; i < n; i++) {
		CHECK(r[i].len && r[i].len % PAGE == 0 && r[i].gpa % PAGE == 0);
		CHECK(in_ram(ram, nram, r[i].gpa) && in_ram(ram, nram, r[i].gpa + r[i].len - PAGE));
		CHECK(i == 0 || r[i - 1].gpa + r[i - 1].len <= r[i].gpa);
	}
	unsigned outside = 0;
	for (size_t j = 0; j < len / 4; j++) {
		uint64_t gpa = (uint64_t)get_le32(buf + 4 * j) * PAGE;
		if (!in_ram(ram, nram, gpa)) {
			outside++;
			continue;
		}
		bool found = false;
		for (int i = 0; i < n && !found; i++)
			found = gpa - r[i].gpa < r[i].len;
		CHECK(found);
	}
	/* Refused counts distinct PFNs: at most the ones outside. */
	CHECK(refused <= outside);
}

static void stats(const uint8_t *buf, size_t len)
{
	struct balloon_stats st;
	memset(&st, 0xee, sizeof(st));
	if (balloon_stats_parse(buf, len, &st) < 0) {
		CHECK(len % BALLOON_STAT_WIRE || len / BALLOON_STAT_WIRE > BALLOON_STATS_MAX_ENTRIES);
		return;
	}
	CHECK(st.present >> BALLOON_S_NR == 0);
	for (unsigned t = 0; t < BALLOON_S_NR; t++)
		CHECK((st.present & (1u << t)) || st.value[t] == 0);
}

static void span(const uint8_t *buf, size_t len)
{
	if (len < 16)
		return;
	uint64_t addr = get_le64(buf), l = get_le64(buf + 8), s, pl;
	if (!balloon_page_span(addr, l, &s, &pl))
		return;
	CHECK(s % PAGE == 0 && pl % PAGE == 0 && pl > 0);
	CHECK(s >= addr && pl <= l && s - addr <= l - pl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* A copy of its own size, so that reading past it is caught. */
	uint8_t *buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		pfns(buf, size - 1);
		break;
	case 1:
		stats(buf, size - 1);
		break;
	default:
		span(buf, size - 1);
	}
	free(buf);
	return 0;
}
