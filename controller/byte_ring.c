/* The byte ring of byte_ring.h. */
#include "byte_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

int byte_ring_init(struct byte_ring *r, size_t cap)
{
	if (cap == 0)
		return -EINVAL;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	*r = (struct byte_ring){ .buf = buf, .cap = cap };
	return 0;
}

void byte_ring_destroy(struct byte_ring *r)
{
	free(r->buf);
	*r = (struct byte_ring){ .buf = NULL };
}

void byte_ring_write(struct byte_ring *r, const void *data, size_t n)
{
	const uint8_t *p = data;
	if (n == 0)
		return;
	if (n > r->cap) {
		/* Only the last cap bytes survive: skip the others uncopied. */
		p += n - r->cap;
		r->total += n - r->cap;
		n = r->cap;
	}
	size_t at = (size_t)(r->total % r->cap);
	size_t first = min_size(n, r->cap - at);
	memcpy(r->buf + at, p, first);
	memcpy(r->buf, p + first, n - first);
	r->total += n;
	r->len = min_size(r->len + n, r->cap);
}

int byte_ring_peek(const struct byte_ring *r, uint64_t from, struct iovec iov[2])
{
	uint64_t oldest = byte_ring_oldest(r);
	if (from < oldest)
		from = oldest;
	if (from >= r->total)
		return 0;
	size_t n = (size_t)(r->total - from);
	size_t at = (size_t)(from % r->cap);
	size_t first = min_size(n, r->cap - at);
	iov[0] = (struct iovec){ .iov_base = r->buf + at, .iov_len = first };
	if (first == n)
		return 1;
	iov[1] = (struct iovec){ .iov_base = r->buf, .iov_len = n - first };
	return 2;
}
