#include "bus.h"

#include <errno.h>
#include <string.h>

int bus_add(struct bus *bus, const struct bus_dev *dev)
{
	uint64_t end;
	if (dev->len == 0 || __builtin_add_overflow(dev->base, dev->len - 1, &end))
		return -EINVAL;
	if (bus->n == BUS_MAX_DEVS)
		return -ENOSPC;
	for (unsigned int i = 0; i < bus->n; i++) {
		const struct bus_dev *o = &bus->devs[i];
		if (dev->base <= o->base + (o->len - 1) && o->base <= end)
			return -EEXIST;
	}
	bus->devs[bus->n++] = *dev;
	return 0;
}

bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write)
{
	for (unsigned int i = 0; i < bus->n; i++) {
		const struct bus_dev *d = &bus->devs[i];
		uint64_t off = addr - d->base;
		if (addr < d->base || off >= d->len || len > d->len - off)
			continue;
		if (is_write)
			d->write(d->opaque, off, data, len);
		else
			d->read(d->opaque, off, data, len);
		return true;
	}
	if (!is_write)
		memset(data, 0xff, len);
	return false;
}
