#include "balloon_parse.h"

#include <errno.h>
#include <string.h>

#include "bytes.h"

/* In place, no allocation and no syscall: glibc's qsort may ask the
 * kernel for the machine's memory (sysinfo), which the device's policy
 * does not allow. A batch is small; Shell's gaps keep it quick. */
static void sort_u32(uint32_t *a, size_t n)
{
	static const size_t gaps[] = { 132, 57, 23, 10, 4, 1 };
	for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++)
		for (size_t i = gaps[g]; i < n; i++) {
			uint32_t v = a[i];
			size_t j = i;
			for (; j >= gaps[g] && a[j - gaps[g]] > v; j -= gaps[g])
				a[j] = a[j - gaps[g]];
			a[j] = v;
		}
}

/* The index of the RAM range holding the whole page at gpa, or nram. */
static size_t ram_of(const struct balloon_ram *ram, size_t nram, uint64_t gpa)
{
	for (size_t i = 0; i < nram; i++)
		if (gpa >= ram[i].gpa && gpa - ram[i].gpa < ram[i].size &&
		    ram[i].size - (gpa - ram[i].gpa) >= BALLOON_PAGE_SIZE)
			return i;
	return nram;
}

int balloon_pfn_ranges(const uint8_t *buf, size_t len, const struct balloon_ram *ram,
		       size_t nram, struct balloon_range *out, unsigned *refused)
{
	uint32_t pfn[BALLOON_PFN_BATCH];
	size_t n = len / 4;
	*refused = 0;
	if (len % 4 || n > BALLOON_PFN_BATCH)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		pfn[i] = get_le32(buf + 4 * i);
	sort_u32(pfn, n);

	int nout = 0;
	size_t last_ram = nram;
	for (size_t i = 0; i < n; i++) {
		if (i && pfn[i] == pfn[i - 1])
			continue;
		/* A u32 PFN shifted by 12 fits in 44 bits: nothing wraps. */
		uint64_t gpa = (uint64_t)pfn[i] << BALLOON_PAGE_SHIFT;
		size_t r = ram_of(ram, nram, gpa);
		if (r == nram) {
			(*refused)++;
			continue;
		}
		struct balloon_range *prev = nout ? &out[nout - 1] : NULL;
		if (prev && r == last_ram && prev->gpa + prev->len == gpa) {
			prev->len += BALLOON_PAGE_SIZE;
			continue;
		}
		out[nout++] = (struct balloon_range){ gpa, BALLOON_PAGE_SIZE };
		last_ram = r;
	}
	return nout;
}

int balloon_stats_parse(const uint8_t *buf, size_t len, struct balloon_stats *st)
{
	if (len % BALLOON_STAT_WIRE || len / BALLOON_STAT_WIRE > BALLOON_STATS_MAX_ENTRIES)
		return -EINVAL;
	struct balloon_stats s = { 0 };
	for (size_t off = 0; off < len; off += BALLOON_STAT_WIRE) {
		uint16_t tag = get_le16(buf + off);
		if (tag >= BALLOON_S_NR)
			continue; /* a newer driver's: ignored (virtio 1.2 5.5.6.3) */
		s.present |= 1u << tag;
		s.value[tag] = get_le64(buf + off + 2);
	}
	*st = s;
	return 0;
}

bool balloon_page_span(uint64_t addr, uint64_t len, uint64_t *start, uint64_t *plen)
{
	const uint64_t mask = BALLOON_PAGE_SIZE - 1;
	if (len > UINT64_MAX - addr || addr > UINT64_MAX - mask)
		return false;
	uint64_t s = (addr + mask) & ~mask;
	uint64_t e = (addr + len) & ~mask;
	if (e <= s)
		return false;
	*start = s;
	*plen = e - s;
	return true;
}
