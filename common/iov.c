#include "iov.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

uint64_t iov_size(const struct iovec *iov, unsigned int n)
{
	uint64_t total = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (iov[i].iov_len > UINT64_MAX - total)
			return UINT64_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

/* Copies between the iovecs (from byte off) and buf; to_buf picks the way. */
static uint64_t iov_copy(const struct iovec *iov, unsigned int n, uint64_t off, uint8_t *buf,
			 uint64_t len, bool to_buf)
{
	uint64_t done = 0;
	for (unsigned int i = 0; i < n && done < len; i++) {
		uint64_t l = iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		/* 0 < take <= both what this iovec has left and what is wanted. */
		uint64_t take = l - off < len - done ? l - off : len - done;
		uint8_t *p = (uint8_t *)iov[i].iov_base + off;
		if (to_buf)
			memcpy(buf + done, p, take);
		else
			memcpy(p, buf + done, take);
		done += take;
		off = 0;
	}
	return done;
}

uint64_t iov_to_buf(const struct iovec *iov, unsigned int n, uint64_t off, void *buf,
		    uint64_t len)
{
	return iov_copy(iov, n, off, buf, len, true);
}

uint64_t iov_from_buf(const struct iovec *iov, unsigned int n, uint64_t off,
		      const void *buf, uint64_t len)
{
	/* iov_copy only reads buf in this direction. */
	return iov_copy(iov, n, off, (uint8_t *)buf, len, false);
}

int iov_slice(const struct iovec *src, unsigned int n, uint64_t off, uint64_t len,
	      struct iovec *dst, unsigned int max)
{
	unsigned int k = 0;
	for (unsigned int i = 0; i < n && len > 0; i++) {
		uint64_t l = src[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		if (k == max)
			return -ENOBUFS;
		uint64_t take = l - off < len ? l - off : len;
		dst[k].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[k].iov_len = take;
		k++;
		len -= take;
		off = 0;
	}
	return len ? -EINVAL : (int)k;
}
