#include "i8042.h"

#include <string.h>

#include "layout.h"
#include "log.h"

#define STS_OUT_FULL 0x01
#define STS_SYS 0x04          /* "self-test passed", mirrored from the config byte */
#define CTR_SYS 0x04
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_SELF_TEST 0xaa
#define SELF_TEST_OK 0x55
#define CMD_PULSE_RESET 0xfe  /* pulse output line 0, wired to CPU reset */

static void set_out(struct i8042 *k, uint8_t v)
{
	k->out = v;
	k->out_full = true;
}

static void data_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	(void)off;
	(void)len; /* a one-port window: the bus only routes single bytes */
	pthread_mutex_lock(&k->lock);
	data[0] = k->out;
	k->out_full = false;
	pthread_mutex_unlock(&k->lock);
}

static void data_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	(void)off;
	(void)len;
	pthread_mutex_lock(&k->lock);
	bool is_ctr = k->want_ctr;
	if (is_ctr)
		k->ctr = data[0];
	k->want_ctr = false;
	pthread_mutex_unlock(&k->lock);
	if (!is_ctr)
		log_ratelimited(LOG_LVL_DEBUG, "i8042: keyboard byte %#x ignored (no keyboard)",
				data[0]);
}

static void status_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	(void)off;
	(void)len;
	/* The input buffer is always empty: commands take effect at once. */
	pthread_mutex_lock(&k->lock);
	data[0] = (k->out_full ? STS_OUT_FULL : 0) | (k->ctr & CTR_SYS ? STS_SYS : 0);
	pthread_mutex_unlock(&k->lock);
}

static void command_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t cmd = data[0];
	(void)off;
	(void)len;
	pthread_mutex_lock(&k->lock);
	k->want_ctr = cmd == CMD_WRITE_CTR;
	if (cmd == CMD_READ_CTR)
		set_out(k, k->ctr);
	else if (cmd == CMD_SELF_TEST)
		set_out(k, SELF_TEST_OK);
	pthread_mutex_unlock(&k->lock);

	if (cmd == CMD_PULSE_RESET)
		k->reset(k->opaque);
	else if (cmd != CMD_READ_CTR && cmd != CMD_WRITE_CTR && cmd != CMD_SELF_TEST)
		log_ratelimited(LOG_LVL_DEBUG, "i8042: command %#x ignored", cmd);
}

int i8042_init(struct i8042 *k, void (*reset)(void *opaque), void *opaque)
{
	memset(k, 0, sizeof(*k));
	int err = pthread_mutex_init(&k->lock, NULL);
	if (err)
		return -err;
	k->reset = reset;
	k->opaque = opaque;
	k->ctr = CTR_SYS;
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

int i8042_register(struct i8042 *k, struct bus *bus)
{
	const struct bus_dev data = {
		.name = "i8042-data", .base = LAYOUT_I8042_DATA, .len = 1,
		.read = data_read, .write = data_write, .opaque = k,
	};
	const struct bus_dev cmd = {
		.name = "i8042-cmd", .base = LAYOUT_I8042_CMD, .len = 1,
		.read = status_read, .write = command_write, .opaque = k,
	};
	int err = bus_add(bus, &data);
	return err ? err : bus_add(bus, &cmd);
}
