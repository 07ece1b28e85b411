/* Copies between a flat buffer and a scatter list of iovecs: the one way
 * device code reads a guest's request bytes and writes its answers, wherever
 * the guest split them across descriptors. Pure functions, no I/O.
 *
 * Offsets and lengths count bytes of the iovecs taken as one run; zero-length
 * iovecs are skipped. A copy stops where the iovecs end: it never reads or
 * writes past them, and returns how many bytes it moved (0 for len 0 or an
 * offset at or past the end). Nothing here overflows: sizes saturate at
 * UINT64_MAX. */
#ifndef CELLVM_IOV_H
#define CELLVM_IOV_H

#include <stdint.h>
#include <sys/uio.h>

/* The bytes the n iovecs hold together (UINT64_MAX if more). */
uint64_t iov_size(const struct iovec *iov, unsigned int n);

/* Copies up to len bytes from byte off of the iovecs into buf. */
uint64_t iov_to_buf(const struct iovec *iov, unsigned int n, uint64_t off, void *buf,
		    uint64_t len);

/* Copies up to len bytes of buf into the iovecs from their byte off on. */
uint64_t iov_from_buf(const struct iovec *iov, unsigned int n, uint64_t off,
		      const void *buf, uint64_t len);

/* Fills dst with iovecs covering bytes [off, off + len) of src (the same
 * memory, nothing copied). Returns how many (0 for len 0), or -EINVAL if src
 * is shorter, -ENOBUFS if more than max are needed. */
int iov_slice(const struct iovec *src, unsigned int n, uint64_t off, uint64_t len,
	      struct iovec *dst, unsigned int max);

#endif
