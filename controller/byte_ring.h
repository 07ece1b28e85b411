/* A fixed-capacity byte ring that keeps the newest bytes of a stream.
 *
 * Bytes are named by their absolute offset in the stream: 0 is the first byte
 * ever written, `total` the offset after the last one. Each reader keeps its
 * own offset, so any number of readers share one ring and none holds up the
 * writer: writing never fails, and what does not fit overwrites the oldest
 * bytes. A reader whose offset fell behind byte_ring_oldest() has lost the
 * bytes in between and goes on from the oldest kept one.
 *
 * Pure: no I/O, no logging; only byte_ring_init() allocates. Offsets are
 * 64-bit and do not wrap in practice (2^64 bytes). Treat the fields as
 * read-only outside byte_ring.c. */
#ifndef CELLVM_BYTE_RING_H
#define CELLVM_BYTE_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct byte_ring {
	uint8_t *buf;
	size_t cap;     /* bytes kept at most */
	size_t len;     /* bytes kept now: min(cap, total) */
	uint64_t total; /* bytes ever written; byte at offset o lives in buf[o % cap] */
};

/* 0, -EINVAL for cap 0, or -ENOMEM. */
int byte_ring_init(struct byte_ring *r, size_t cap);
/* Frees the buffer; the ring is empty with capacity 0 afterwards. */
void byte_ring_destroy(struct byte_ring *r);

/* Appends n bytes; of more than cap only the last cap are kept. */
void byte_ring_write(struct byte_ring *r, const void *data, size_t n);

/* The offset of the oldest byte still kept (total when empty). */
static inline uint64_t byte_ring_oldest(const struct byte_ring *r)
{
	return r->total - r->len;
}

/* Points iov at the kept bytes from offset `from` to the end, in order: one
 * segment, or two where the ring wraps. A `from` below byte_ring_oldest() is
 * taken as the oldest; at or past the end there is nothing. Returns the number
 * of segments filled: 0, 1 or 2. They stay valid until the next write. */
int byte_ring_peek(const struct byte_ring *r, uint64_t from, struct iovec iov[2]);

#endif
