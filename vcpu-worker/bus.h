/* Port-I/O and MMIO dispatch for the devices the vCPU worker emulates.
 *
 * A device registers a window [base, base+len) with read/write callbacks;
 * a vCPU exit is routed to the one window that holds the whole access.
 * Callbacks run on vCPU threads: a device that is also touched from another
 * thread locks itself. An access no window holds is reported unhandled
 * (reads then return all ones). */
#ifndef CELLVM_BUS_H
#define CELLVM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#define BUS_MAX_DEVS 32

struct bus_dev {
	const char *name;
	uint64_t base;
	uint64_t len;
	/* off is relative to base; 1 <= len <= 8 bytes, within the window. */
	void (*read)(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
	void *opaque;
};

struct bus {
	struct bus_dev devs[BUS_MAX_DEVS];
	unsigned int n;
};

/* -EINVAL for an empty or wrapping window, -EEXIST if it overlaps another,
 * -ENOSPC when full. */
int bus_add(struct bus *bus, const struct bus_dev *dev);

/* Routes one access; false if no window holds it. */
bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write);

#endif
