/* Just enough of the PS/2 controller (i8042) for Linux's reboot path.
 *
 * There is no keyboard or mouse behind it, and the ACPI tables do not
 * announce it, so Linux only touches it to reboot: it waits for the input
 * buffer to drain (status bit 1 clear, always here) and writes 0xFE
 * ("pulse the reset line"), which calls the reset callback. The controller
 * commands Linux's i8042 driver uses first are answered too: 0xAA self-test
 * (0x55), 0x20/0x60 read/write of the configuration byte. Anything else is
 * ignored with a rate-limited debug line.
 *
 * Accesses come from any vCPU thread, so the state has a mutex; reset is
 * called after it is released. */
#ifndef CELLVM_I8042_H
#define CELLVM_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

/* The fields are private to i8042.c. */
struct i8042 {
	pthread_mutex_t lock;
	void (*reset)(void *opaque);
	void *opaque;
	uint8_t ctr;      /* controller configuration byte */
	uint8_t out;      /* the byte the data port returns */
	bool out_full;    /* status bit 0: out is waiting to be read */
	bool want_ctr;    /* the next data write is the configuration byte */
};

/* -errno if the mutex cannot be set up. */
int i8042_init(struct i8042 *k, void (*reset)(void *opaque), void *opaque);
void i8042_destroy(struct i8042 *k);

/* Adds the data and command/status ports (layout.h) to the port-I/O bus
 * (bus_add's errors). */
int i8042_register(struct i8042 *k, struct bus *bus);

#endif
