/* The balloon's readers of guest bytes (device-procs/balloon_parse.h): PFN
 * arrays to coalesced ranges inside guest RAM, stats entries, page spans. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "balloon_parse.h"
#include "bytes.h"

#define PAGE BALLOON_PAGE_SIZE

/* Two regions as tfe lays them out: [0, 4 MiB) and [4 MiB, 8 MiB). */
static const struct balloon_ram ram[2] = { { 0, 4u << 20 }, { 4u << 20, 4u << 20 } };

static int ranges(const uint32_t *pfns, size_t n, struct balloon_range *out, unsigned *refused)
{
	uint8_t buf[4 * BALLOON_PFN_BATCH];
	for (size_t i = 0; i < n; i++)
		put_le32(buf + 4 * i, pfns[i]);
	return balloon_pfn_ranges(buf, 4 * n, ram, 2, out, refused);
}

Test(balloon_pfn, coalesces_sorted_runs_and_drops_duplicates)
{
	uint32_t pfns[] = { 12, 10, 11, 11, 20, 10, 13 };
	struct balloon_range r[BALLOON_PFN_BATCH];
	unsigned refused;
	int n = ranges(pfns, 7, r, &refused);
	cr_assert_eq(n, 2);
	cr_expect_eq(refused, 0);
	cr_expect_eq(r[0].gpa, 10 * PAGE);
	cr_expect_eq(r[0].len, 4 * PAGE);
	cr_expect_eq(r[1].gpa, 20 * PAGE);
	cr_expect_eq(r[1].len, PAGE);
}

Test(balloon_pfn, a_run_stops_at_a_region_boundary)
{
	uint32_t last = (4u << 20) / PAGE - 1;
	uint32_t pfns[] = { last, last + 1 };
	struct balloon_range r[BALLOON_PFN_BATCH];
	unsigned refused;
	cr_assert_eq(ranges(pfns, 2, r, &refused), 2, "one range per region");
	cr_expect_eq(r[0].gpa, (uint64_t)last * PAGE);
	cr_expect_eq(r[1].gpa, 4u << 20);
}

Test(balloon_pfn, pages_outside_ram_are_refused_not_fatal)
{
	uint32_t end = (8u << 20) / PAGE;
	uint32_t pfns[] = { 5, end, end + 1, UINT32_MAX, 6 };
	struct balloon_range r[BALLOON_PFN_BATCH];
	unsigned refused;
	int n = ranges(pfns, 5, r, &refused);
	cr_assert_eq(n, 1);
	cr_expect_eq(refused, 3);
	cr_expect_eq(r[0].gpa, 5 * PAGE);
	cr_expect_eq(r[0].len, 2 * PAGE);
}

Test(balloon_pfn, a_page_that_crosses_the_end_of_ram_is_refused)
{
	/* RAM that ends in the middle of a page. */
	const struct balloon_ram odd = { 0, 3 * PAGE + 100 };
	uint8_t buf[8];
	put_le32(buf, 2);
	put_le32(buf + 4, 3);
	struct balloon_range r[BALLOON_PFN_BATCH];
	unsigned refused;
	cr_assert_eq(balloon_pfn_ranges(buf, 8, &odd, 1, r, &refused), 1);
	cr_expect_eq(refused, 1);
	cr_expect_eq(r[0].len, PAGE);
}

Test(balloon_pfn, bad_lengths)
{
	static uint8_t buf[4 * BALLOON_PFN_BATCH + 4];
	struct balloon_range r[BALLOON_PFN_BATCH];
	unsigned refused;
	cr_expect_eq(balloon_pfn_ranges(buf, 3, ram, 2, r, &refused), -EINVAL);
	cr_expect_eq(balloon_pfn_ranges(buf, sizeof(buf), ram, 2, r, &refused), -EINVAL);
	cr_expect_eq(balloon_pfn_ranges(buf, 0, ram, 2, r, &refused), 0);
	cr_expect_eq(balloon_pfn_ranges(buf, 4, NULL, 0, r, &refused), 0, "no RAM: all refused");
	cr_expect_eq(refused, 1);
}

Test(balloon_pfn, a_full_batch_of_distinct_pages_fits)
{
	uint32_t pfns[BALLOON_PFN_BATCH];
	for (unsigned i = 0; i < BALLOON_PFN_BATCH; i++)
		pfns[i] = 2 * i; /* no two adjacent: one range each */
	static struct balloon_range r[BALLOON_PFN_BATCH];
	unsigned refused;
	cr_assert_eq(ranges(pfns, BALLOON_PFN_BATCH, r, &refused), (int)BALLOON_PFN_BATCH);
}

Test(balloon_pfn, a_full_batch_backwards_is_one_run)
{
	uint32_t pfns[BALLOON_PFN_BATCH];
	for (unsigned i = 0; i < BALLOON_PFN_BATCH; i++)
		pfns[i] = 100 + BALLOON_PFN_BATCH - 1 - (i * 37) % BALLOON_PFN_BATCH;
	static struct balloon_range r[BALLOON_PFN_BATCH];
	unsigned refused;
	cr_assert_eq(ranges(pfns, BALLOON_PFN_BATCH, r, &refused), 1);
	cr_expect_eq(r[0].gpa, 100 * PAGE);
	cr_expect_eq(r[0].len, BALLOON_PFN_BATCH * PAGE);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t v)
{
	put_le16(p, tag);
	put_le64(p + 2, v);
}

Test(balloon_stats, parses_known_tags_and_skips_others)
{
	uint8_t buf[40];
	put_stat(buf, 4, 1000);    /* free memory */
	put_stat(buf + 10, 99, 7); /* unknown: skipped */
	put_stat(buf + 20, 5, 2000);
	put_stat(buf + 30, 4, 1500); /* again: the last one counts */
	struct balloon_stats st;
	memset(&st, 0xaa, sizeof(st));
	cr_assert_eq(balloon_stats_parse(buf, sizeof(buf), &st), 0);
	cr_expect_eq(st.present, (1u << 4) | (1u << 5));
	cr_expect_eq(st.value[4], 1500);
	cr_expect_eq(st.value[5], 2000);
	cr_expect_eq(st.value[0], 0, "a stat not reported reads 0");
}

Test(balloon_stats, refuses_partial_entries_and_too_many)
{
	uint8_t buf[BALLOON_STAT_WIRE * (BALLOON_STATS_MAX_ENTRIES + 1)] = { 0 };
	struct balloon_stats st = { .present = 1, .value = { 42 } };
	cr_expect_eq(balloon_stats_parse(buf, 15, &st), -EINVAL);
	cr_expect_eq(balloon_stats_parse(buf, sizeof(buf), &st), -EINVAL);
	cr_expect_eq(st.value[0], 42, "untouched on error");
	cr_expect_eq(balloon_stats_parse(buf, 0, &st), 0);
	cr_expect_eq(st.present, 0, "an empty buffer reports nothing");
}

Test(balloon_span, whole_pages_inside)
{
	uint64_t s, l;
	cr_assert(balloon_page_span(PAGE, 3 * PAGE, &s, &l));
	cr_expect_eq(s, PAGE);
	cr_expect_eq(l, 3 * PAGE);
	cr_assert(balloon_page_span(PAGE + 1, 3 * PAGE, &s, &l));
	cr_expect_eq(s, 2 * PAGE);
	cr_expect_eq(l, 2 * PAGE, "narrowed at both ends");
	cr_expect_not(balloon_page_span(PAGE + 1, PAGE, &s, &l), "no whole page");
	cr_expect_not(balloon_page_span(0, 100, &s, &l));
	cr_expect_not(balloon_page_span(UINT64_MAX - 10, 5, &s, &l));
	cr_expect_not(balloon_page_span(UINT64_MAX - PAGE, 2 * PAGE, &s, &l), "wraps");
}
