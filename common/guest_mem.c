#include "guest_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Region sizes and offsets are u64 and go straight into mmap and iovecs. */
_Static_assert(sizeof(size_t) == sizeof(uint64_t), "64-bit hosts only");

void gm_init(struct guest_mem *gm)
{
	memset(gm, 0, sizeof(*gm));
}

static bool ranges_overlap(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size)
{
	/* Callers have checked that neither range wraps. */
	return a < b + b_size && b < a + a_size;
}

/* The peer chooses regions, so every refusal is rate-limited. */
int gm_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size,
		  uint64_t uaddr, int fd, uint64_t mmap_offset)
{
	uint64_t gpa_end, uaddr_end, file_end;
	if (size == 0 || __builtin_add_overflow(gpa, size, &gpa_end) ||
	    __builtin_add_overflow(uaddr, size, &uaddr_end) ||
	    __builtin_add_overflow(mmap_offset, size, &file_end)) {
		log_ratelimited(LOG_LVL_WARN, "region gpa %#" PRIx64 " size %#" PRIx64
				" uaddr %#" PRIx64 " offset %#" PRIx64 ": empty or wraps",
				gpa, size, uaddr, mmap_offset);
		return -EINVAL;
	}
	if (gm->n == GM_MAX_REGIONS) {
		log_ratelimited(LOG_LVL_WARN, "region gpa %#" PRIx64 ": already %d regions",
				gpa, GM_MAX_REGIONS);
		return -ENOSPC;
	}
	size_t pos = gm->n;
	for (size_t i = 0; i < gm->n; i++) {
		const struct gm_region *r = &gm->r[i];
		if (ranges_overlap(gpa, size, r->gpa, r->size) ||
		    ranges_overlap(uaddr, size, r->uaddr, r->size)) {
			log_ratelimited(LOG_LVL_WARN, "region gpa %#" PRIx64 " size %#" PRIx64
					" uaddr %#" PRIx64 " overlaps region gpa %#" PRIx64,
					gpa, size, uaddr, r->gpa);
			return -EINVAL;
		}
		if (pos == gm->n && r->gpa > gpa)
			pos = i;
	}

	/* A mapping past the end of the file would SIGBUS on first touch. */
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = errno;
		log_ratelimited(LOG_LVL_WARN, "fstat region fd: %s", strerror(err));
		return -err;
	}
	if ((uint64_t)st.st_size < file_end) {
		log_ratelimited(LOG_LVL_WARN, "region gpa %#" PRIx64 ": file has %#" PRIx64
				" bytes, needs %#" PRIx64, gpa, (uint64_t)st.st_size, file_end);
		return -EINVAL;
	}
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals >= 0 && !(seals & F_SEAL_SHRINK))
		log_ratelimited(LOG_LVL_WARN, "region gpa %#" PRIx64 ": memfd not sealed "
				"against shrinking, a truncate would fault us", gpa);

	/* mmap wants a page-aligned offset: map from the page below and skip
	 * the remainder. Nothing wraps: delta + size <= file_end <= st_size. */
	uint64_t delta = mmap_offset & ((uint64_t)sysconf(_SC_PAGESIZE) - 1);
	size_t map_len = (size_t)(delta + size);
	void *base = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			  (off_t)(mmap_offset - delta));
	if (base == MAP_FAILED) {
		int err = errno;
		log_ratelimited(LOG_LVL_WARN, "mmap region gpa %#" PRIx64 " size %#" PRIx64 ": %s",
				gpa, size, strerror(err));
		return -err;
	}

	memmove(&gm->r[pos + 1], &gm->r[pos], (gm->n - pos) * sizeof(gm->r[0]));
	gm->r[pos] = (struct gm_region){
		.gpa = gpa,
		.size = size,
		.uaddr = uaddr,
		.hva = (uint8_t *)base + delta,
		.map_base = base,
		.map_len = map_len,
	};
	gm->n++;
	return 0;
}

static void unmap_region(struct gm_region *r)
{
	/* Cannot fail for a mapping we made. */
	munmap(r->map_base, r->map_len);
}

int gm_remove_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, uint64_t uaddr)
{
	for (size_t i = 0; i < gm->n; i++) {
		struct gm_region *r = &gm->r[i];
		if (r->gpa != gpa || r->size != size || r->uaddr != uaddr)
			continue;
		unmap_region(r);
		gm->n--;
		memmove(r, r + 1, (gm->n - i) * sizeof(*r));
		return 0;
	}
	return -ENOENT;
}

void gm_clear(struct guest_mem *gm)
{
	for (size_t i = 0; i < gm->n; i++)
		unmap_region(&gm->r[i]);
	gm->n = 0;
}

/* The region holding byte gpa, or NULL. */
static const struct gm_region *find_region(const struct guest_mem *gm, uint64_t gpa)
{
	for (size_t i = 0; i < gm->n; i++) {
		const struct gm_region *r = &gm->r[i];
		if (gpa - r->gpa < r->size) /* below r->gpa wraps to a huge offset */
			return r;
	}
	return NULL;
}

/* No region holds byte 2^64-1 (gm_add_region refuses a gpa+size that wraps),
 * so a range that wraps always reaches a byte outside every region. */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return NULL;
	const struct gm_region *r = find_region(gm, gpa);
	if (!r || len > r->size - (gpa - r->gpa))
		return NULL;
	return r->hva + (gpa - r->gpa);
}

int gm_to_iov(const struct guest_mem *gm, uint64_t gpa, uint64_t len,
	      struct iovec *iov, size_t max_iov)
{
	size_t n = 0;
	while (len > 0) {
		const struct gm_region *r = find_region(gm, gpa);
		if (!r)
			return -EFAULT;
		if (n == max_iov)
			return -ENOBUFS;
		uint64_t off = gpa - r->gpa;
		uint64_t chunk = r->size - off < len ? r->size - off : len;
		iov[n].iov_base = r->hva + off;
		iov[n].iov_len = chunk;
		n++;
		gpa += chunk;
		len -= chunk;
	}
	return (int)n;
}

int gm_uva_to_gpa(const struct guest_mem *gm, uint64_t uva, uint64_t len, uint64_t *gpa)
{
	for (size_t i = 0; i < gm->n; i++) {
		const struct gm_region *r = &gm->r[i];
		uint64_t off = uva - r->uaddr; /* wraps if uva < r->uaddr */
		if (off >= r->size)
			continue;
		if (len > r->size - off)
			return -EFAULT;
		*gpa = r->gpa + off;
		return 0;
	}
	return -EFAULT;
}

int gm_memfd_create(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		int err = errno;
		log_err("memfd_create %s: %s", name, strerror(err));
		return -err;
	}
	/* A size above INT64_MAX becomes a negative off_t, which fails. */
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int err = errno;
		log_err("memfd %s of %#" PRIx64 " bytes: %s", name, size, strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}
