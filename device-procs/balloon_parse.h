/* What a virtio-balloon driver hands the device (virtio 1.2 section 5.5),
 * read as hostile bytes: pure functions over explicit lengths, no I/O.
 *
 * - Inflate and deflate buffers are arrays of le32 page frame numbers of
 *   4 KiB pages. balloon_pfn_ranges sorts a batch, drops duplicates and
 *   pages not wholly inside guest RAM (counted, never an error), and
 *   coalesces consecutive pages of one RAM range into one range.
 * - A stats buffer is an array of 10-byte entries: le16 tag, le64 value.
 *   Tags the device does not know are skipped, as the spec asks.
 * - Host memory is given back in whole host pages: balloon_page_span
 *   narrows any range to the whole pages inside it. */
#ifndef CELLVM_BALLOON_PARSE_H
#define CELLVM_BALLOON_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BALLOON_PAGE_SHIFT 12
#define BALLOON_PAGE_SIZE (1ull << BALLOON_PAGE_SHIFT)
/* PFNs taken at once; Linux sends at most 256 per buffer. */
#define BALLOON_PFN_BATCH 512u

/* The tags of virtio 1.2 and Linux 6.12 (oom kills .. direct reclaim). */
enum balloon_stat_tag {
	BALLOON_S_SWAP_IN = 0,
	BALLOON_S_SWAP_OUT = 1,
	BALLOON_S_MAJFLT = 2,
	BALLOON_S_MINFLT = 3,
	BALLOON_S_MEMFREE = 4,
	BALLOON_S_MEMTOT = 5,
	BALLOON_S_AVAIL = 6,
	BALLOON_S_CACHES = 7,
	BALLOON_S_HTLB_PGALLOC = 8,
	BALLOON_S_HTLB_PGFAIL = 9,
	BALLOON_S_OOM_KILL = 10,
	BALLOON_S_ALLOC_STALL = 11,
	BALLOON_S_ASYNC_SCAN = 12,
	BALLOON_S_DIRECT_SCAN = 13,
	BALLOON_S_ASYNC_RECLAIM = 14,
	BALLOON_S_DIRECT_RECLAIM = 15,
	BALLOON_S_NR = 16,
};
#define BALLOON_STAT_WIRE 10u
/* Entries one stats buffer may carry: a tag may come more than once. */
#define BALLOON_STATS_MAX_ENTRIES 64u

struct balloon_stats {
	uint32_t present;               /* bit t: tag t was reported */
	uint64_t value[BALLOON_S_NR];   /* 0 where not present */
};

/* A range of guest RAM (one memory region). */
struct balloon_ram {
	uint64_t gpa, size;
};

/* Guest-physical pages [gpa, gpa + len), len a multiple of the page size. */
struct balloon_range {
	uint64_t gpa, len;
};

/* Reads the len / 4 PFNs of buf (len a multiple of 4, at most
 * 4 * BALLOON_PFN_BATCH; -EINVAL otherwise) into at most BALLOON_PFN_BATCH
 * ranges in out, sorted by gpa, each inside one of the nram ranges of ram.
 * *refused counts the PFNs dropped for lying outside guest RAM. Returns how
 * many ranges. */
int balloon_pfn_ranges(const uint8_t *buf, size_t len, const struct balloon_ram *ram,
		       size_t nram, struct balloon_range *out, unsigned *refused);

/* Parses a stats buffer into *st (replacing it): 0, or -EINVAL (*st
 * untouched) if len is not a whole number of entries or more than
 * BALLOON_STATS_MAX_ENTRIES of them. A tag given twice keeps its last value. */
int balloon_stats_parse(const uint8_t *buf, size_t len, struct balloon_stats *st);

/* The whole pages of [addr, addr + len): true with *start and *plen set, or
 * false if it holds none (or wraps). */
bool balloon_page_span(uint64_t addr, uint64_t len, uint64_t *start, uint64_t *plen);

#endif
