/* cellvm-blk's data plane. Per queue: chains are popped while slots are
 * free, parsed and checked (blk_req.c), and reads, writes and flushes go to
 * the queue's io_uring as readv/writev/fsync SQEs, submitted once per round;
 * completions come back through the ring's eventfd, are reaped in a batch,
 * and a batch is published in the used ring with one index update and at
 * most one interrupt (EVENT_IDX both ways: kicks are off while we pop, and
 * while --poll-us polls, and vub_vring_notify asks virtq_should_notify).
 * GET_ID and refused requests are answered in the same batch; discard and
 * write-zeroes run synchronously (rare, bounded, and with a fallback that
 * writes zeros).
 *
 * An image in memory (tmpfs, ramfs) has no ring: its reads and writes are
 * a preadv/pwritev in this thread, answered in the same batch. Such reads
 * never wait on storage, and io_uring would hand every one of them to a
 * worker thread (tmpfs refuses RWF_NOWAIT, so none completes inline). A
 * host that refuses io_uring (Docker's default seccomp profile, the
 * kernel.io_uring_disabled sysctl) gets the same path for any image. */
#include "blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "event_loop.h"
#include "iov.h"
#include "log.h"

/* ------------------------------------------------ synchronous requests */

static int discard(struct blk *d, uint64_t off, uint64_t len)
{
	int err = 0;
	if (d->is_blkdev) {
		uint64_t range[2] = { off, len };
		if (ioctl(d->fd, BLKDISCARD, range) < 0)
			err = -errno;
	} else if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			     (off_t)len) < 0) {
		err = -errno;
	}
	/* A discard is a hint: storage that cannot do it has done enough. */
	return err == -EOPNOTSUPP ? 0 : err;
}

static int write_zero_bytes(int fd, uint64_t off, uint64_t len)
{
	/* Aligned for a disk opened with O_DIRECT. */
	static const uint8_t zeros[65536] __attribute__((aligned(4096)));
	while (len > 0) {
		size_t want = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t r = pwrite(fd, zeros, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

static int write_zeroes(struct blk *d, uint64_t off, uint64_t len, bool unmap)
{
	int mode = FALLOC_FL_KEEP_SIZE | (unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
	if (fallocate(d->fd, mode, (off_t)off, (off_t)len) == 0)
		return 0;
	/* Storage without that mode (or with other alignment rules) still
	 * takes plain zeros. */
	if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
		return -errno;
	return write_zero_bytes(d->fd, off, len);
}

/* A DISCARD/WRITE_ZEROES whose n segments blk_req_segs put in d->segs. */
static uint8_t blk_dwz(struct blk *d, const struct blk_req *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		const struct blk_seg *g = &d->segs[i];
		if (g->num_sectors == 0)
			continue;
		uint64_t off = g->sector << BLK_SECTOR_SHIFT;
		uint64_t len = (uint64_t)g->num_sectors << BLK_SECTOR_SHIFT;
		int err = r->type == VIRTIO_BLK_T_DISCARD
				  ? discard(d, off, len)
				  : write_zeroes(d, off, len,
						 g->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
		if (err) {
			log_ratelimited(LOG_LVL_WARN, "blk: %s of %u sectors at sector %llu: %s",
					r->type == VIRTIO_BLK_T_DISCARD ? "discard" : "write-zeroes",
					g->num_sectors,
					(unsigned long long)g->sector, strerror(-err));
			return VIRTIO_BLK_S_IOERR;
		}
	}
	/* Writethrough: done means on stable storage. */
	if (!d->writeback && fdatasync(d->fd) < 0) {
		log_ratelimited(LOG_LVL_ERROR, "blk: fdatasync: %m");
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/* ------------------------------------------------------------ answers */

static struct vub_vring *vring_of(struct blk_queue *q)
{
	return &q->d->b->vrings[q - q->d->q];
}

/* Publishes the answers written so far, with one interrupt at most. */
static void publish(struct blk_queue *q)
{
	if (!q->filled)
		return;
	struct vub_vring *vr = vring_of(q);
	virtq_flush(&vr->vq, q->filled);
	q->filled = 0;
	vub_vring_notify(vr);
}

/* Answers the chain head: code in its status byte (if it has one) and
 * written bytes of data before it. */
static void answer(struct blk_queue *q, uint16_t head, uint8_t *status, uint8_t code,
		   uint64_t written)
{
	struct virtq *vq = &vring_of(q)->vq;
	q->d->b->counters.requests++;
	q->d->b->counters.errors += !status || code != VIRTIO_BLK_S_OK;
	if (status)
		*status = code;
	/* A chain is at most 4 GiB (virtq), so the length fits. */
	virtq_fill(vq, q->filled++, head, status ? (uint32_t)(written + 1) : 0);
	/* The driver may reuse heads still in flight: never write past what
	 * one publication can hold. */
	if (q->filled == vq->num)
		publish(q);
}

/* ---------------------------------------------------------- the ring */

/* Submits the queued SQEs; their iovecs may be reused once that is done. */
static void submit(struct blk_queue *q)
{
	if (q->d->sync_io)
		return;
	int r = io_uring_submit(&q->ring.ring);
	if (r < 0)
		log_ratelimited(LOG_LVL_ERROR, "blk: io_uring_enter: %s", strerror(-r));
	if (io_uring_sq_ready(&q->ring.ring) == 0)
		q->iov_used = 0;
}

/* Puts bytes [off, off + len) of src into the queue's iovecs. Returns how
 * many, -EINVAL if src is shorter (cannot happen for a checked request),
 * -ENOBUFS if unsubmitted SQEs hold them all. */
static int take_iov(struct blk_queue *q, const struct iovec *src, unsigned int n, uint64_t off,
		    uint64_t len, struct iovec **iov)
{
	for (int tries = 0; tries < 2; tries++) {
		*iov = q->iov + q->iov_used;
		int k = iov_slice(src, n, off, len, *iov, VIRTQ_ELEM_MAX_IOV - q->iov_used);
		if (k != -ENOBUFS) {
			if (k > 0)
				q->iov_used += (unsigned int)k;
			return k;
		}
		submit(q);
	}
	return -ENOBUFS;
}

static bool aligned(const struct iovec *iov, int n, uint32_t align)
{
	for (int i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) % align)
			return false;
	return true;
}

static void finish(struct blk_queue *q, uint64_t user_data, int64_t res);

/* The synchronous data path: the request in slot i, done and answered now.
 * A flush and a writethrough write wait for the storage as the ring's would
 * (on tmpfs both are a no-op in the kernel). */
static void run_now(struct blk_queue *q, uint16_t i, uint32_t type, const struct iovec *iov,
		    int n, off_t off)
{
	int fd = q->d->fd;
	int flags = q->d->writeback ? 0 : RWF_DSYNC;
	ssize_t r = 0;
	if (type == VIRTIO_BLK_T_IN)
		while ((r = preadv(fd, iov, n, off)) < 0 && errno == EINTR)
			;
	else if (type == VIRTIO_BLK_T_OUT)
		while ((r = pwritev2(fd, iov, n, off, flags)) < 0 && errno == EINTR)
			;
	else if (type == VIRTIO_BLK_T_FLUSH)
		r = fdatasync(fd);
	int64_t res = r < 0 ? -errno : r;
	q->iov_used = 0;
	finish(q, i, res);
}

/* Sends a checked IN, OUT or FLUSH to the ring, or runs it now on the
 * synchronous path: 1 once it is queued or answered, 0 with the status to
 * answer now in *code, -EAGAIN if it must wait for bounce buffers to come
 * free. */
static int queue_io(struct blk_queue *q, const struct blk_req *r, uint8_t *code)
{
	struct blk *d = q->d;
	const struct virtq_elem *e = &d->elem;
	bool in = r->type == VIRTIO_BLK_T_IN;
	uint64_t want = in ? r->in_len : r->out_len;
	struct iovec *iov = NULL;
	int n = 0;
	off_t off = (off_t)(r->sector << BLK_SECTOR_SHIFT);
	*code = VIRTIO_BLK_S_IOERR;
	if (r->type != VIRTIO_BLK_T_FLUSH) {
		if (want == 0) {
			*code = VIRTIO_BLK_S_OK;
			return 0;
		}
		/* O_DIRECT would fail it (EINVAL) with less to say. */
		if (((uint64_t)off | want) % d->align) {
			log_ratelimited(LOG_LVL_WARN, "blk: --direct: %s of %llu bytes at sector "
					"%llu is not in whole %u-byte blocks of the disk: refused",
					in ? "read" : "write", (unsigned long long)want,
					(unsigned long long)r->sector, d->align);
			return 0;
		}
		/* Data is what lies between the header and the status byte. */
		n = in ? take_iov(q, e->in, e->in_num, 0, want, &iov)
		       : take_iov(q, e->out, e->out_num, BLK_HDR_SIZE, want, &iov);
		if (n < 0)
			return 0;
	}
	unsigned int nguest = (unsigned int)n;
	uint8_t *bounce = NULL;
	struct iovec *guest = NULL;
	if (d->direct && !aligned(iov, n, d->align)) {
		if (q->bounced + want > BLK_BOUNCE_MAX) {
			q->iov_used -= (unsigned int)n;
			if (q->bounced == 0) {
				log_ratelimited(LOG_LVL_WARN, "blk: unaligned request of %llu "
						"bytes: more than --direct bounces",
						(unsigned long long)want);
				return 0;
			}
			q->bounce_full = true;
			return -EAGAIN;
		}
		if (posix_memalign((void **)&bounce, d->align, want) ||
		    (in && !(guest = malloc(sizeof(*guest) * (size_t)n)))) {
			free(bounce);
			q->iov_used -= (unsigned int)n;
			log_ratelimited(LOG_LVL_ERROR, "blk: bounce buffer: out of memory");
			return 0;
		}
		if (in)
			memcpy(guest, iov, sizeof(*guest) * (size_t)n);
		else
			iov_to_buf(iov, (unsigned int)n, 0, bounce, want);
		/* The SQE's one iovec is the bounce buffer. */
		q->iov_used -= (unsigned int)n - 1;
		iov[0] = (struct iovec){ bounce, want };
		q->bounced += want;
		n = 1;
	}
	struct io_uring_sqe *sqe = NULL;
	if (!d->sync_io && !(sqe = blk_ring_sqe(&q->ring))) {
		log_ratelimited(LOG_LVL_ERROR, "blk: io_uring submission queue full");
		if (bounce)
			q->bounced -= want;
		free(bounce);
		free(guest);
		return 0;
	}
	uint16_t i = q->free[--q->nfree];
	q->slot[i] = (struct blk_slot){ .status = r->status, .want = want, .bounce = bounce,
					.guest = guest, .nguest = nguest, .head = e->head,
					.in = in, .busy = true };
	if (!sqe) {
		run_now(q, i, r->type, iov, n, off);
		return 1;
	}
	if (r->type == VIRTIO_BLK_T_FLUSH) {
		io_uring_prep_fsync(sqe, BLK_RING_DISK, IORING_FSYNC_DATASYNC);
	} else if (in) {
		io_uring_prep_readv(sqe, BLK_RING_DISK, iov, (unsigned int)n, off);
	} else {
		io_uring_prep_writev(sqe, BLK_RING_DISK, iov, (unsigned int)n, off);
		/* Writethrough: each write is on stable storage when done. */
		if (!d->writeback)
			sqe->rw_flags = RWF_DSYNC;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, i);
	return 1;
}

/* A completion: answers its request and frees its slot. */
static void finish(struct blk_queue *q, uint64_t user_data, int64_t res)
{
	if (user_data >= BLK_QUEUE_SIZE || !q->slot[user_data].busy)
		return; /* not a request's (the test hooks') */
	struct blk_slot *s = &q->slot[user_data];
	/* A short transfer only happens at the end of an image that shrank
	 * under us, or when the storage is full: an error either way. */
	bool ok = res >= 0 && (uint64_t)res == s->want;
	if (ok)
		*(s->in ? &q->d->b->counters.read_bytes : &q->d->b->counters.write_bytes) += s->want;
	else
		log_ratelimited(LOG_LVL_WARN, "blk: %s of %llu bytes: %s",
				s->want == 0 ? "flush" : s->in ? "read" : "write",
				(unsigned long long)s->want,
				res < 0 ? strerror((int)-res) : "short transfer");
	if (s->bounce) {
		if (ok && s->in)
			iov_from_buf(s->guest, s->nguest, 0, s->bounce, s->want);
		free(s->bounce);
		free(s->guest);
		q->bounced -= s->want;
		q->bounce_full = false;
	}
	answer(q, s->head, s->status, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR,
	       ok && s->in ? s->want : 0);
	s->busy = false;
	q->free[q->nfree++] = (uint16_t)user_data;
}

/* Answers every completion the ring holds; returns how many. */
static unsigned int reap(struct blk_queue *q)
{
	struct io_uring_cqe *cqes[32];
	unsigned int n, total = 0;
	while ((n = io_uring_peek_batch_cqe(&q->ring.ring, cqes, 32)) > 0) {
		for (unsigned int i = 0; i < n; i++)
			finish(q, cqes[i]->user_data, cqes[i]->res);
		io_uring_cq_advance(&q->ring.ring, n);
		total += n;
	}
	return total;
}

/* ----------------------------------------------------------- the limiter */

_Static_assert(VUB_MAX_QUEUES <= 32, "a bit per queue in blk's waiting and turn");

static uint32_t bit_of(const struct blk_queue *q)
{
	return 1u << (q - q->d->q);
}

/* Whether the limiter holds q back: q waits for tokens, or another queue
 * does and it is not q's turn (q joins the line then: the limiter's
 * callback resumes it, kicks or no kicks). */
static bool held(struct blk_queue *q)
{
	struct blk *d = q->d;
	uint32_t bit = bit_of(q);
	if (d->waiting & bit)
		return true;
	if (!d->waiting || d->turn == bit)
		return false;
	d->waiting |= bit;
	return true;
}

/* What a checked request costs in bytes: the data it moves (write-zeroes:
 * the zeros it writes, n segments in d->segs); 1 op each, whatever it is. */
static uint64_t cost_bytes(const struct blk *d, const struct blk_req *r, unsigned int n)
{
	uint64_t bytes = 0;
	if (r->type == VIRTIO_BLK_T_IN)
		return r->in_len;
	if (r->type == VIRTIO_BLK_T_OUT)
		return r->out_len;
	if (r->type == VIRTIO_BLK_T_WRITE_ZEROES)
		for (unsigned int i = 0; i < n; i++)
			bytes += (uint64_t)d->segs[i].num_sectors << BLK_SECTOR_SHIFT;
	return bytes;
}

/* Takes a request's tokens; false puts q in the line. */
static bool admit(struct blk_queue *q, uint64_t bytes)
{
	struct blk *d = q->d;
	if (!throttle_take(&d->rl, 1, bytes)) {
		d->waiting |= bit_of(q);
		return false;
	}
	d->admitted++;
	return true;
}

/* ------------------------------------------------------------ requests */

/* Starts the chain in d->elem: queued on the ring, or answered. False if
 * it must wait (popped back): for bounce buffers, or for the limiter. */
static bool start(struct blk_queue *q)
{
	struct blk *d = q->d;
	struct virtq_elem *e = &d->elem;
	struct virtq *vq = &vring_of(q)->vq;
	struct blk_req r;
	uint64_t written = 0;
	unsigned int nseg = 0;
	int err = blk_req_parse(&r, e->out, e->out_num, e->in, e->in_num);
	if (err == -ENOMSG) {
		log_ratelimited(LOG_LVL_WARN, "blk: request without a writable status byte");
		answer(q, e->head, NULL, 0, 0);
		return true;
	}
	if (err) {
		log_ratelimited(LOG_LVL_WARN, "blk: request shorter than its header");
		answer(q, e->head, r.status, VIRTIO_BLK_S_IOERR, 0);
		return true;
	}
	uint8_t code = blk_req_check(&r, &d->dev);
	if (code == VIRTIO_BLK_S_OK &&
	    (r.type == VIRTIO_BLK_T_DISCARD || r.type == VIRTIO_BLK_T_WRITE_ZEROES))
		code = blk_req_segs(&r, e->out, e->out_num, d->dev.capacity, d->segs, &nseg);
	uint64_t bytes = code == VIRTIO_BLK_S_OK ? cost_bytes(d, &r, nseg) : 0;
	if (!admit(q, bytes)) {
		virtq_unpop(vq);
		return false;
	}
	if (code != VIRTIO_BLK_S_OK) {
		log_ratelimited(LOG_LVL_DEBUG, "blk: request type %u at sector %llu: %s", r.type,
				(unsigned long long)r.sector,
				code == VIRTIO_BLK_S_UNSUPP ? "unsupported" : "refused");
	} else if (r.type == VIRTIO_BLK_T_GET_ID) {
		written = iov_from_buf(e->in, e->in_num, 0, d->id,
				       r.in_len < BLK_ID_BYTES ? r.in_len : BLK_ID_BYTES);
	} else if (r.type == VIRTIO_BLK_T_DISCARD || r.type == VIRTIO_BLK_T_WRITE_ZEROES) {
		code = blk_dwz(d, &r, nseg);
	} else {
		int queued = queue_io(q, &r, &code);
		if (queued < 0) {
			throttle_refund(&d->rl, 1, bytes);
			virtq_unpop(vq);
		}
		if (queued)
			return queued > 0; /* answered on completion, or later */
	}
	answer(q, e->head, r.status, code, written);
	return true;
}

/* --poll-us, with the avail ring found empty and kicks still off: submits
 * and publishes what the batch did, reaps completions that came in, and
 * says whether to look at the avail ring again (the pop is the poll). The
 * window opens at the first call (*deadline 0) and does not reopen when
 * work turns up, so one wake-up spins at most poll_us. */
static bool poll_again(struct blk_queue *q, uint64_t *deadline)
{
	if (!q->d->poll_us)
		return false;
	uint64_t now = evloop_now_ns();
	if (!*deadline)
		*deadline = now + q->d->poll_us * 1000ull;
	else if (now >= *deadline)
		return false;
	submit(q);
	publish(q);
	if (!q->d->sync_io && io_uring_cq_ready(&q->ring.ring))
		reap(q);
	else
		__builtin_ia32_pause();
	return true;
}

/* Pops while slots (and bounce buffers) are free and the limiter lets it,
 * submits, publishes. With every slot busy it leaves kicks off: the next
 * completion calls it again; held back by the limiter, the same: its
 * callback does (no polling meanwhile). With --poll-us, kicks stay off
 * while it polls; they go back on, with the usual look at the avail ring
 * after, only before it sleeps. */
static void pump(struct blk_queue *q)
{
	struct vub_vring *vr = vring_of(q);
	struct virtq *vq = &vr->vq;
	uint64_t deadline = 0;
	int r = 0;
	virtq_disable_notify(vq);
	for (;;) {
		while (q->nfree > 0 && !q->bounce_full && !held(q) &&
		       (r = virtq_pop(vq, &q->d->elem)) > 0)
			if (!start(q))
				break;
		if (r < 0 || q->nfree == 0 || q->bounce_full || held(q))
			break;
		if (poll_again(q, &deadline))
			continue;
		if (!virtq_enable_notify(vq))
			break;
		virtq_disable_notify(vq);
	}
	submit(q);
	publish(q);
	if (r < 0)
		vub_vring_error(vr);
}

void blk_io_process(struct vub *b, struct vub_vring *vr)
{
	struct blk *d = b->dev;
	pump(&d->q[vr->index]);
}

static void on_ring(void *opaque, uint32_t events)
{
	struct blk_queue *q = opaque;
	uint64_t n;
	(void)events;
	/* Non-blocking: EAGAIN means a drain already took the count. */
	if (read(q->ring.efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LVL_WARN, "blk: ring eventfd: %m");
	if (q->nfree == BLK_QUEUE_SIZE || !vub_vring_running(vring_of(q)))
		return; /* nothing in flight: quiesced, or a test hook's */
	/* Slots came free: what waited in the avail ring can go. None did
	 * when a poll took the completions already: no new window for that. */
	if (reap(q))
		pump(q);
}

void blk_io_resume(void *opaque)
{
	struct blk *d = opaque;
	uint16_t n = d->num_queues, first = d->next_turn;
	for (uint16_t k = 0; k < n && d->waiting; k++) {
		uint16_t i = (uint16_t)((first + k) % n);
		uint32_t bit = 1u << i;
		if (!(d->waiting & bit))
			continue;
		d->waiting &= ~bit;
		/* A ring stopped meanwhile pumps when it runs again. */
		if (!vub_vring_running(&d->b->vrings[i]))
			continue;
		uint64_t before = d->admitted;
		d->turn = bit;
		pump(&d->q[i]);
		d->turn = 0;
		/* Its first request still waits: the others stay behind it. */
		if ((d->waiting & bit) && d->admitted == before)
			break;
		d->next_turn = (uint16_t)((i + 1) % n);
	}
}

void blk_io_reset(struct blk *d)
{
	d->waiting = 0;
	throttle_cancel(&d->rl);
}

void blk_io_quiesce(struct vub *b, struct vub_vring *vr)
{
	struct blk *d = b->dev;
	struct blk_queue *q = &d->q[vr->index];
	/* The kernel must be done with guest memory, and every request
	 * answered, before the ring or memory goes. */
	while (q->nfree < BLK_QUEUE_SIZE) {
		int err = io_uring_submit_and_wait(&q->ring.ring, 1);
		if (err < 0 && err != -EINTR) {
			log_err("blk: ring %u: waiting for requests in flight: %s", vr->index,
				strerror(-err));
			break;
		}
		reap(q);
	}
	publish(q);
}

/* ------------------------------------------------------------ set-up */

/* Whether reads of d's image never wait on storage: a file in memory. (A
 * block device's node lies on devtmpfs, which says nothing of the device.) */
static int in_memory(const struct blk *d, bool *yes)
{
	struct statfs sf;
	*yes = false;
	if (d->is_blkdev)
		return 0;
	if (fstatfs(d->fd, &sf) < 0) {
		int err = -errno;
		log_err("blk: fstatfs of the disk: %s", strerror(-err));
		return err;
	}
	*yes = sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
	return 0;
}

/* --direct: the smallest read O_DIRECT takes at offset 0, as the kernel
 * answers it (EINVAL below the logical block), for files and block devices
 * alike; the memory is aligned to the largest block tried. */
static int direct_align(struct blk *d)
{
	d->align = BLK_SECTOR_SIZE;
	if (!d->direct)
		return 0;
	uint8_t *buf;
	if (posix_memalign((void **)&buf, BLK_DIRECT_ALIGN_MAX, BLK_DIRECT_ALIGN_MAX)) {
		log_err("blk: --direct: out of memory");
		return -ENOMEM;
	}
	int err = -EINVAL;
	for (; d->align <= BLK_DIRECT_ALIGN_MAX; d->align *= 2) {
		err = pread(d->fd, buf, d->align, 0) < 0 ? -errno : 0;
		if (err != -EINVAL)
			break;
	}
	free(buf);
	if (err)
		log_err("blk: --direct: a read of %u bytes at offset 0: %s",
			d->align > BLK_DIRECT_ALIGN_MAX ? BLK_DIRECT_ALIGN_MAX : d->align,
			strerror(-err));
	else if (d->align > BLK_SECTOR_SIZE)
		log_info("blk: --direct: the disk's logical block is %u bytes: the guest's "
			 "block size; smaller requests are refused", d->align);
	return err;
}

int blk_io_init(struct blk *d)
{
	int err;
	d->nkeep = 0;
	d->keep[d->nkeep++] = d->fd;
	if ((err = in_memory(d, &d->sync_io)) < 0 || (err = direct_align(d)) < 0)
		return err;
	if (d->sync_io)
		log_info("blk: the image is in memory (tmpfs or ramfs): synchronous I/O, "
			 "no io_uring");
	for (uint16_t i = 0; i < d->num_queues; i++) {
		struct blk_queue *q = &d->q[i];
		q->d = d;
		for (unsigned int s = 0; s < BLK_QUEUE_SIZE; s++)
			q->free[s] = (uint16_t)(BLK_QUEUE_SIZE - 1 - s);
		q->nfree = BLK_QUEUE_SIZE;
		q->ring.efd = -1;
		if (d->sync_io)
			continue;
		err = blk_ring_init(&q->ring, d->fd, BLK_QUEUE_SIZE);
		/* Decided on the first ring, so that no queue has one then. */
		if (i == 0 && blk_ring_refused(err)) {
			log_warn("blk: io_uring is refused here (%s: kernel.io_uring_disabled or "
				 "a seccomp profile): synchronous I/O, one request at a time "
				 "per queue", strerror(-err));
			d->sync_io = true;
			continue;
		}
		if (err < 0) {
			if (blk_ring_refused(err))
				log_err("blk: io_uring refused for queue %u: %s", i, strerror(-err));
			return err;
		}
		d->keep[d->nkeep++] = q->ring.ring.ring_fd;
		d->keep[d->nkeep++] = q->ring.efd;
	}
	return 0;
}

int blk_io_setup(struct vub *b)
{
	struct blk *d = b->dev;
	d->b = b;
	throttle_attach(&d->rl, b->loop);
	for (uint16_t i = 0; !d->sync_io && i < d->num_queues; i++) {
		int err = evloop_add(b->loop, d->q[i].ring.efd, EPOLLIN, on_ring, &d->q[i]);
		if (err < 0) {
			log_err("blk: watching ring %u: %s", i, strerror(-err));
			return err;
		}
	}
	return 0;
}
