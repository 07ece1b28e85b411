/* libFuzzer harness: the i8042 stub (vcpu-worker/i8042.c) that a guest
 * reaches at ports 0x60 and 0x64, checked against what i8042.h promises.
 *
 * Input: a sequence of records (access_seq.h): an op byte (bit 0 write,
 * bits 1-2 the size 1, 2, 4 or 8), an offset byte (the access is at 0x5e +
 * off % 8, so both ports and their neighbours), and for a write the size
 * value bytes; each goes through bus_access as a vCPU's port exit does.
 * Asserted (abort): only single-byte accesses to the two ports are handled
 * (others read all ones); the status byte shows "output full" exactly while
 * a 0x20/0xAA answer is unread, the input buffer always empty, and the
 * configuration byte's system flag; the data port returns the configuration
 * byte after 0x20 (as last written after 0x60) and 0x55 after 0xAA; reset is
 * called once per 0xFE command, with the lock released, and never otherwise.
 *
 * Links: vcpu-worker/i8042.c vcpu-worker/bus.c common/log.c */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "access_seq.h"
#include "bus.h"
#include "i8042.h"
#include "layout.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

static struct i8042 k;
static struct bus bus;
static unsigned int resets;

/* The shadow controller. */
static struct {
	uint8_t ctr, out;
	bool full, want_ctr;
} sh;

static void fake_reset(void *opaque)
{
	CHECK(opaque == &resets);
	int err = pthread_mutex_trylock(&k.lock);
	CHECK(err == 0); /* called with the lock released */
	pthread_mutex_unlock(&k.lock);
	resets++;
}

/* Returns how many resets the access must cause. */
static unsigned int sh_access(uint64_t port, uint8_t *v, bool is_write)
{
	if (port == LAYOUT_I8042_DATA && !is_write) {
		CHECK(*v == sh.out);
		sh.full = false;
	} else if (port == LAYOUT_I8042_DATA) {
		if (sh.want_ctr)
			sh.ctr = *v;
		sh.want_ctr = false;
	} else if (!is_write) {
		CHECK(*v == ((sh.full ? 0x01 : 0) | (sh.ctr & 0x04)));
	} else {
		sh.want_ctr = *v == 0x60;
		if (*v == 0x20 || *v == 0xaa) {
			sh.out = *v == 0x20 ? sh.ctr : 0x55;
			sh.full = true;
		}
		return *v == 0xfe;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		log_init("fuzz_i8042", LOG_LVL_ERROR);
		inited = 1;
	}
	memset(&bus, 0, sizeof(bus));
	memset(&sh, 0, sizeof(sh));
	sh.ctr = 0x04;
	resets = 0;
	if (i8042_init(&k, fake_reset, &resets) != 0 || i8042_register(&k, &bus) != 0)
		abort();
	size_t pos = 0;
	struct access a;
	while (access_next(data, size, &pos, &a)) {
		bool is_write = a.is_write;
		uint32_t len = a.len;
		uint64_t port = LAYOUT_I8042_DATA - 2 + a.off % 8;
		uint8_t *buf = a.buf;
		bool mine = len == 1 && (port == LAYOUT_I8042_DATA || port == LAYOUT_I8042_CMD);
		unsigned int before = resets;
		CHECK(bus_access(&bus, port, buf, len, is_write) == mine);
		unsigned int want = 0;
		if (mine)
			want = sh_access(port, buf, is_write);
		else
			for (uint32_t i = 0; i < len; i++)
				CHECK(is_write ? buf[i] == a.value[i] : buf[i] == 0xff);
		CHECK(resets - before == want);
	}
	i8042_destroy(&k);
	return 0;
}
