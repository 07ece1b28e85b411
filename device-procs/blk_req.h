/* virtio-blk (virtio 1.2 section 5.2): requests and config space as pure
 * functions over bytes and iovecs. Nothing here does I/O, so every check of
 * guest input can be unit-tested on its own; device-procs/blk.c runs what
 * passes.
 *
 * A request is a chain: a 16-byte header {le32 type, le32 reserved, le64
 * sector} at the start of the device-readable bytes, then data, and a status
 * byte as the last device-writable byte. The guest may split any of it across
 * descriptors, so nothing assumes one part per iovec. */
#ifndef CELLVM_BLK_REQ_H
#define CELLVM_BLK_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define BLK_SECTOR_SHIFT 9
#define BLK_SECTOR_SIZE 512u
#define BLK_HDR_SIZE 16u
#define BLK_ID_BYTES 20u
#define BLK_SEG_SIZE 16u /* one discard/write-zeroes segment */
#define BLK_CONFIG_SIZE 60u
#define BLK_CONFIG_WRITEBACK 32u /* offset of the only writable config byte */

/* Limits the device announces in its config space and then enforces. The
 * queue size bounds seg_max: a chain is never longer than the queue. */
#define BLK_QUEUE_SIZE 256u
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2)  /* header and status take two */
#define BLK_SIZE_MAX (1u << 20)
#define BLK_MAX_DWZ_SECTORS (1u << 16)    /* bounds the zero-writing fallback */
#define BLK_MAX_DWZ_SEG 8u
#define BLK_DISCARD_ALIGN_SECTORS 8u      /* a hint: 4 KiB, a file system block */

/* Feature bits (section 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_T_DISCARD 11u
#define VIRTIO_BLK_T_WRITE_ZEROES 13u

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u

struct blk_req {
	uint32_t type;
	uint64_t sector;
	uint8_t *status;  /* host address of the status byte */
	uint64_t out_len; /* device-readable bytes after the header */
	uint64_t in_len;  /* device-writable bytes before the status byte */
};

/* What the device is, for blk_req_check. */
struct blk_dev {
	uint64_t capacity; /* in 512-byte sectors */
	bool read_only;
	bool discard;      /* VIRTIO_BLK_F_DISCARD negotiated */
	bool write_zeroes; /* VIRTIO_BLK_F_WRITE_ZEROES negotiated */
};

struct blk_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* Locates the status byte and reads the header of the chain out/in.
 * Returns 0; -ENOMSG if the chain has no writable byte (the request cannot
 * be answered: push it with len 0); -EBADMSG if the readable bytes are fewer
 * than a header (the status is set: answer IOERR). */
int blk_req_parse(struct blk_req *r, const struct iovec *out, unsigned int out_num,
		  const struct iovec *in, unsigned int in_num);

/* Decides whether a parsed request may run on d: VIRTIO_BLK_S_OK, or the
 * status to answer with. Checks the type, that data goes the type's way only,
 * read-only, and for IN/OUT a whole number of sectors inside the disk. The
 * segments of DISCARD/WRITE_ZEROES are checked by blk_req_segs. */
uint8_t blk_req_check(const struct blk_req *r, const struct blk_dev *d);

/* Whether [sector, sector + bytes) is whole sectors inside a disk of
 * capacity sectors, without overflow. */
bool blk_range_ok(uint64_t sector, uint64_t bytes, uint64_t capacity);

/* Gathers and checks every segment of a DISCARD/WRITE_ZEROES request whose
 * segments are the r->out_len readable bytes after the header of out; fills
 * segs (BLK_MAX_DWZ_SEG entries) and *n. Returns VIRTIO_BLK_S_OK, IOERR (bad
 * length, too many segments, too many sectors, outside the disk) or UNSUPP
 * (unknown flags, unmap on a discard). */
uint8_t blk_req_segs(const struct blk_req *r, const struct iovec *out, unsigned int out_num,
		     uint64_t capacity, struct blk_seg *segs, unsigned int *n);

/* The GET_ID answer for serial: its bytes, NUL-padded. -EINVAL (nothing
 * written) if serial is longer than BLK_ID_BYTES. */
int blk_id_make(uint8_t id[BLK_ID_BYTES], const char *serial);

/* What config space reflects. */
struct blk_config_info {
	uint64_t capacity;
	uint16_t num_queues;
	uint8_t writeback;
	uint32_t blk_size; /* the logical block; 0 means BLK_SECTOR_SIZE */
};

/* Builds struct virtio_blk_config (section 5.2.4), little-endian. */
void blk_config_build(const struct blk_config_info *c, uint8_t out[BLK_CONFIG_SIZE]);

/* Whether [off, off + len) lies inside config space. */
bool blk_config_range_ok(uint32_t off, uint32_t len);

/* A driver's config write: only the writeback byte, 0 or 1. Returns 0 with
 * *writeback set, or -EINVAL (nothing changed). */
int blk_config_write(uint32_t off, const uint8_t *buf, uint32_t len, uint8_t *writeback);

#endif
