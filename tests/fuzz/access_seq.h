/* The record layout of the harnesses that drive a device's registers with a
 * sequence of accesses (fuzz_acpi_pm, fuzz_i8042, fuzz_virtio_mmio):
 *   op byte   bit 0 write, bits 1-2 the size 1, 2, 4 or 8, bits 3-7 free
 *             for the harness (fuzz_virtio_mmio picks a region with them)
 *   off byte  the harness maps it to an address
 *   value     for a write only, `size` bytes
 * access_next() decodes the record at *pos; false when the input ends (a
 * write whose value is cut short ends it too). A read's buf is 0x5a-filled
 * so that a handler that leaves it alone is seen. */
#ifndef CELLVM_FUZZ_ACCESS_SEQ_H
#define CELLVM_FUZZ_ACCESS_SEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct access {
	uint8_t op, off;
	bool is_write;
	uint32_t len;
	const uint8_t *value; /* a write's bytes in the input */
	uint8_t buf[8];       /* what goes to bus_access */
};

static inline bool access_next(const uint8_t *data, size_t size, size_t *pos, struct access *a)
{
	if (size - *pos < 2)
		return false;
	a->op = data[*pos];
	a->off = data[*pos + 1];
	*pos += 2;
	a->is_write = a->op & 1;
	a->len = 1u << ((a->op >> 1) & 3);
	a->value = NULL;
	if (a->is_write) {
		if (a->len > size - *pos)
			return false;
		a->value = data + *pos;
		memcpy(a->buf, a->value, a->len);
		*pos += a->len;
	} else {
		memset(a->buf, 0x5a, sizeof(a->buf));
	}
	return true;
}

#endif
