/* cellvm-blk's state, shared by the device (blk.c: options, the disk,
 * config space, its rings' set-up) and its data plane (blk_io.c: requests
 * from the avail ring to the used ring, through io_uring, or synchronously
 * for an image in memory; blk.c sees the same blk_io_* either way). */
#ifndef CELLVM_BLK_H
#define CELLVM_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend.h"
#include "blk_req.h"
#include "blk_ring.h"
#include "throttle.h"

/* One request in flight on a ring. */
struct blk_slot {
	uint8_t *status; /* the guest's status byte */
	uint64_t want;   /* bytes the operation must move */
	uint8_t *bounce; /* --direct, unaligned: the aligned copy; else NULL */
	struct iovec *guest; /* a bounced read: where the data goes */
	unsigned int nguest;
	uint16_t head;
	bool in;         /* a read: want bytes land in the guest's buffers */
	bool busy;
};

/* --direct (O_DIRECT): buffers, lengths and offsets must be multiples of
 * the storage's logical block, found at start (blk_io_init: 512 to
 * BLK_DIRECT_ALIGN_MAX) and given to the guest as its block size. Requests
 * whose offset or length is not a multiple are refused (IOERR, logged);
 * guest buffers that are not aligned go through a bounce buffer, at most
 * BLK_BOUNCE_MAX bytes of them in flight per queue. */
#define BLK_DIRECT_ALIGN_MAX 4096u
#define BLK_BOUNCE_MAX (64u << 20)

/* --poll-us: the longest a queue busy-polls after a batch. Nothing else in
 * the process (other queues, the frontend's messages) runs meanwhile, and
 * it is a CPU spinning: 1 ms bounds both. */
#define BLK_POLL_US_MAX 1000

/* One queue: its ring and what is in flight there. */
struct blk_queue {
	struct blk *d;
	struct blk_ring ring;
	unsigned int nfree;           /* free slots, a stack in free[] */
	uint16_t free[BLK_QUEUE_SIZE];
	unsigned int filled;          /* used elements written, not yet published */
	unsigned int iov_used;        /* of iov, by SQEs not yet submitted */
	uint64_t bounced;             /* bytes of bounce buffers in flight */
	bool bounce_full;             /* a chain waits for bounced bytes to finish */
	struct blk_slot slot[BLK_QUEUE_SIZE];
	struct iovec iov[VIRTQ_ELEM_MAX_IOV];
};

struct blk {
	struct vub_ops ops; /* queues and features depend on the options */
	struct vub *b;      /* set by blk_io_setup */
	int fd;
	bool is_blkdev;
	bool direct;       /* opened with O_DIRECT */
	bool sync_io;      /* in memory: preadv/pwritev here, no io_uring */
	uint32_t align;    /* --direct: the storage's logical block; else 512 */
	uint16_t num_queues;
	uint32_t poll_us;  /* --poll-us; 0: sleep on the kick right away */
	uint8_t writeback; /* the cache mode in config space */
	uint8_t id[BLK_ID_BYTES];
	struct blk_dev dev;
	struct virtq_elem elem; /* the chain being started */
	struct blk_seg segs[BLK_MAX_DWZ_SEG];
	/* --rate-limit, one for the device, its queues in a line: once one
	 * waits, the others queue behind it; the timer resumes them in turn,
	 * starting after the last one that went. */
	struct throttle rl;
	uint32_t waiting;   /* queues the limiter holds back, a bit each */
	uint32_t turn;      /* the bit of the queue being resumed; else 0 */
	uint16_t next_turn; /* the queue resumed first next time */
	uint64_t admitted;  /* requests the limiter let through */
	int keep[1 + 2 * VUB_MAX_QUEUES]; /* the disk, each ring and its eventfd */
	size_t nkeep;
	struct blk_queue q[VUB_MAX_QUEUES];
};

/* Chooses the data path for d->fd and sets it up (before the process is
 * confined): an image whose reads never wait on storage (a file on tmpfs
 * or ramfs) is served synchronously, anything else through one io_uring
 * per queue (d->num_queues). Sets d->align. Lists the fds to keep (the
 * disk; each ring and its eventfd) in d->keep. 0 or -errno, logged; what
 * it set up is listed in d->keep either way. */
int blk_io_init(struct blk *d);

/* serve_device's setup: the rings' eventfds into b's event loop. */
int blk_io_setup(struct vub *b);

/* vub_ops' process, quiesce and reset. */
void blk_io_process(struct vub *b, struct vub_vring *vr);
void blk_io_quiesce(struct vub *b, struct vub_vring *vr);
void blk_io_reset(struct blk *d);

/* The limiter's callback (d): the queues it held back go on, in turn. */
void blk_io_resume(void *opaque);

#endif
