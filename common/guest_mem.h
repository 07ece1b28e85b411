/* Guest memory: one or more memfd regions mapped MAP_SHARED, and the checked
 * translation of guest-physical ranges into host pointers.
 *
 * Every translation takes a range [gpa, gpa+len) and refuses it (-EFAULT /
 * NULL) if gpa+len wraps around, if any byte lies outside every region, or —
 * for gm_ptr, which returns one pointer — if the range straddles two regions.
 * gm_to_iov splits a range over regions that are adjacent in GPA. A zero
 * length is an empty range: gm_to_iov returns 0 iovecs.
 *
 * Regions also carry the frontend's virtual address (vhost-user's `uaddr`),
 * since vhost-user names ring addresses in that space. */
#ifndef CELLVM_GUEST_MEM_H
#define CELLVM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Also the answer to vhost-user GET_MAX_MEM_SLOTS. */
#define GM_MAX_REGIONS 32

struct gm_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint8_t *hva;    /* host address of gpa */
	void *map_base;  /* what mmap returned (covers mmap_offset + size) */
	size_t map_len;
};

/* Regions are kept sorted by gpa. Zero-initialise or gm_init() before use. */
struct guest_mem {
	struct gm_region r[GM_MAX_REGIONS];
	size_t n;
};

void gm_init(struct guest_mem *gm);

/* Maps bytes [mmap_offset, mmap_offset+size) of fd read-write, shared, as
 * guest-physical [gpa, gpa+size) known to the frontend at uaddr. Does not
 * take fd (the caller may close it afterwards). Refuses (-EINVAL) a zero
 * size, any range that wraps, overlap with an existing region in GPA or in
 * uaddr space, a file shorter than mmap_offset+size; -ENOSPC when full. A
 * memfd not sealed against shrinking is mapped with a warning. */
int gm_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size,
		  uint64_t uaddr, int fd, uint64_t mmap_offset);

/* Unmaps the region with exactly this gpa, size and uaddr; -ENOENT if none. */
int gm_remove_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, uint64_t uaddr);

/* Unmaps every region. */
void gm_clear(struct guest_mem *gm);

/* Host pointer to [gpa, gpa+len) if it lies inside one region; NULL otherwise
 * (len 0 is refused too). */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Fills up to max_iov iovecs covering [gpa, gpa+len). Returns how many were
 * used, -EFAULT if any byte is outside guest memory or the range wraps,
 * -ENOBUFS if more than max_iov would be needed. */
int gm_to_iov(const struct guest_mem *gm, uint64_t gpa, uint64_t len,
	      struct iovec *iov, size_t max_iov);

/* Translates the frontend virtual range [uva, uva+len) (inside one region)
 * to its guest-physical address; -EFAULT otherwise. */
int gm_uva_to_gpa(const struct guest_mem *gm, uint64_t uva, uint64_t len, uint64_t *gpa);

/* Creates a memfd of `size` bytes sealed against shrinking, growing and
 * further sealing (so a peer that maps it cannot be made to fault by a
 * truncate). Returns the fd or -errno. */
int gm_memfd_create(const char *name, uint64_t size);

#endif
