/* The fixture test_blk and test_blk_io share: cellvm-blk driven by the test
 * frontend (tests/frontend) across a process boundary, against an image file
 * of DISK_SIZE bytes filled with a pattern; `expected` holds what the image
 * must hold, and check_image() compares the whole file, so a stray write
 * anywhere is caught. setup()/teardown() make and remove the image (in /tmp;
 * move_image() moves it for a test of one data path). Every helper asserts
 * (criterion) rather than return an error. */
#ifndef CELLVM_TESTS_BLK_FIXTURE_H
#define CELLVM_TESTS_BLK_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "blk_req.h"
#include "bytes.h"
#include "tfe.h"

#define MEM (8u << 20)
#define DISK_SIZE (1u << 20)
#define SECTORS (DISK_SIZE / 512)
#define QSIZE 16
#define WANT                                                                      \
	(BIT_ULL(VIRTIO_BLK_F_SIZE_MAX) | BIT_ULL(VIRTIO_BLK_F_SEG_MAX) |           \
	 BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) | BIT_ULL(VIRTIO_BLK_F_FLUSH) |             \
	 BIT_ULL(VIRTIO_BLK_F_CONFIG_WCE) | BIT_ULL(VIRTIO_BLK_F_MQ) |              \
	 BIT_ULL(VIRTIO_BLK_F_DISCARD) | BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES) |       \
	 BIT_ULL(VIRTIO_BLK_F_RO) | BIT_ULL(VIRTIO_F_EVENT_IDX) |                   \
	 BIT_ULL(VIRTIO_F_INDIRECT_DESC))

extern char img[64];
extern int img_fd;
extern uint8_t expected[DISK_SIZE];

void setup(void);
void teardown(void);
/* Whether the image is in memory (tmpfs, ramfs): cellvm-blk serves such
 * an image synchronously, anything else through io_uring. */
bool image_in_memory(void);
/* Moves the image to dir (same contents). */
void move_image(const char *dir);
void check_image(void);

/* Starts cellvm-blk on the image with extra options (NULL-terminated, or
 * NULL), negotiates features (of WANT) and sets up nq queues of qsize. */
void start_with(struct tfe *f, const char *const *extra, unsigned int nq, uint16_t qsize,
		uint64_t features);
/* The same with QSIZE and WANT. */
void start(struct tfe *f, const char *const *extra, unsigned int nq);
/* Hangs up; the backend must exit 0. */
void finish_clean(struct tfe *f);

/* A request header / a status byte (0xee) in guest memory: their GPAs. */
uint64_t header(struct tfe *f, uint32_t type, uint64_t sector);
uint64_t status_buf(struct tfe *f);
/* Posts bufs on queue q and waits for it; returns the used len. */
uint32_t post_wait(struct tfe *f, unsigned int q, const struct tfe_buf *b, unsigned int n,
		   bool indirect);
/* One request: header, optional data (device-writable if data_write),
 * status. Returns the status byte; *len (if not NULL) gets the used len. */
uint8_t request(struct tfe *f, unsigned int q, uint32_t type, uint64_t sector, uint64_t data,
		uint32_t data_len, bool data_write, uint32_t *len);
/* Writes n bytes of src at sector; returns the status. */
uint8_t blk_write(struct tfe *f, unsigned int q, uint64_t sector, const void *src, uint32_t n);
/* Reads n bytes at sector into guest memory at data; returns the status. */
uint8_t blk_read_at(struct tfe *f, unsigned int q, uint64_t sector, uint64_t data, uint32_t n,
		    uint32_t *len);
/* A pattern of n bytes from seed. */
void fill(uint8_t *p, size_t n, uint8_t seed);

#endif
