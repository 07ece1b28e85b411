/* libFuzzer harness: the port-I/O/MMIO dispatch (vcpu-worker/bus.c) every
 * guest port or MMIO exit goes through, with windows anywhere in the 64-bit
 * space, and accesses that straddle, overhang or wrap past their edges.
 *
 * Input:
 *   byte 0      number of windows to add, % (BUS_MAX_DEVS + 4)
 *   then each   8-byte LE base, 8-byte LE length
 *   then        records: an op byte (bit 0 write, bits 1-3 size - 1, so
 *               1..8; bits 4-7 pick a window, taken or not, as anchor), a
 *               signed delta byte (the access is at anchor base + delta,
 *               wrapping), and for a write the size value bytes.
 * Asserted (abort): bus_add returns -EINVAL exactly for an empty or wrapping
 * window, -ENOSPC when full, -EEXIST exactly when it overlaps a window
 * already taken; every access reaches exactly the one taken window that
 * holds all of it, once, with its offset, length and bytes, and a read
 * returns what that device gave; an access no window holds reaches none and
 * reads all ones.
 *
 * Links: vcpu-worker/bus.c */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())
#define MAX_WIN (BUS_MAX_DEVS + 4)

typedef unsigned __int128 u128;

/* One fake device per window: the last access it saw. */
static struct fake {
	unsigned int hits;
	uint64_t off;
	uint32_t len;
	uint8_t data[8];
} fakes[MAX_WIN];

static void fake_pattern(unsigned int id, uint64_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(id * 31 + off + i);
}

static void fake_record(struct fake *f, uint64_t off, uint32_t len)
{
	CHECK(len >= 1 && len <= 8); /* bus.h's promise to a device */
	f->hits++;
	f->off = off;
	f->len = len;
}

static void fake_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct fake *f = opaque;
	fake_record(f, off, len);
	fake_pattern((unsigned int)(f - fakes), off, data, len);
}

static void fake_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct fake *f = opaque;
	fake_record(f, off, len);
	memcpy(f->data, data, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bus bus;
	uint64_t base[MAX_WIN], len[MAX_WIN];
	bool taken[MAX_WIN];
	unsigned int ntaken = 0;
	if (size < 1)
		return 0;
	unsigned int nwin = data[0] % MAX_WIN;
	if (size - 1 < 16u * nwin)
		return 0;
	memset(&bus, 0, sizeof(bus));
	memset(fakes, 0, sizeof(fakes));
	size_t pos = 1;
	for (unsigned int i = 0; i < nwin; i++, pos += 16) {
		base[i] = get_le64(data + pos);
		len[i] = get_le64(data + pos + 8);
		int want = 0;
		if (len[i] == 0 || (u128)base[i] + len[i] - 1 > UINT64_MAX)
			want = -EINVAL;
		else if (ntaken == BUS_MAX_DEVS)
			want = -ENOSPC;
		for (unsigned int j = 0; j < i && !want; j++)
			if (taken[j] && (u128)base[i] < (u128)base[j] + len[j] &&
			    (u128)base[j] < (u128)base[i] + len[i])
				want = -EEXIST;
		struct bus_dev d = { .name = "fake", .base = base[i], .len = len[i],
				     .read = fake_read, .write = fake_write, .opaque = &fakes[i] };
		CHECK(bus_add(&bus, &d) == want);
		taken[i] = want == 0;
		ntaken += taken[i];
	}
	if (nwin == 0)
		return 0;
	while (size - pos >= 2) {
		uint8_t op = data[pos];
		int8_t delta = (int8_t)data[pos + 1];
		pos += 2;
		bool is_write = op & 1;
		uint32_t alen = ((op >> 1) & 7) + 1;
		uint64_t addr = base[(op >> 4) % nwin] + (uint64_t)(int64_t)delta;
		uint8_t buf[8], val[8];
		if (is_write) {
			if (alen > size - pos)
				break;
			memcpy(val, data + pos, alen);
			pos += alen;
		} else {
			memset(val, 0x5a, sizeof(val));
		}
		memcpy(buf, val, sizeof(buf));
		int holder = -1;
		for (unsigned int i = 0; i < nwin; i++)
			if (taken[i] && addr >= base[i] &&
			    (u128)addr + alen <= (u128)base[i] + len[i]) {
				CHECK(holder < 0); /* taken windows never overlap */
				holder = (int)i;
			}
		for (unsigned int i = 0; i < nwin; i++)
			fakes[i].hits = 0;
		CHECK(bus_access(&bus, addr, buf, alen, is_write) == (holder >= 0));
		for (unsigned int i = 0; i < nwin; i++)
			CHECK(fakes[i].hits == ((int)i == holder));
		if (holder < 0) {
			for (uint32_t i = 0; i < alen; i++)
				CHECK(buf[i] == (is_write ? val[i] : 0xff));
			continue;
		}
		struct fake *f = &fakes[holder];
		uint8_t want[8];
		CHECK(f->off == addr - base[holder] && f->len == alen);
		if (is_write)
			CHECK(!memcmp(f->data, val, alen));
		fake_pattern((unsigned int)holder, f->off, want, alen);
		CHECK(is_write || !memcmp(buf, want, alen));
	}
	return 0;
}
