/* cellvm-blk: virtio-blk (device id 2) as a vhost-user backend over a raw
 * image, a regular file or a block device. blk_req.c parses and checks each
 * request; this file opens the disk and runs what passed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "blk_req.h"
#include "bytes.h"
#include "cli.h"
#include "fds.h"
#include "iov.h"
#include "log.h"
#include "serve.h"


/* A finished request waiting for the batch's fdatasync before its push. */
struct blk_done {
	uint16_t head;
	uint32_t len;
	uint8_t *status; /* NULL: the request has no status byte */
	uint8_t code;
	bool write;
};

struct blk {
	struct vub_ops ops; /* queues and features depend on the options */
	int fd;
	bool is_blkdev;
	uint16_t num_queues;
	uint8_t writeback; /* the cache mode in config space */
	uint8_t id[BLK_ID_BYTES];
	struct blk_dev dev;
	struct virtq_elem elem;
	struct iovec data[VIRTQ_ELEM_MAX_IOV];
	struct blk_seg segs[BLK_MAX_DWZ_SEG];
	struct blk_done done[BLK_QUEUE_SIZE];
};

/* Moves len bytes between the disk at off and the iovecs (ours: consumed),
 * looping over short transfers; *done counts what moved. */
static int io_full(int fd, struct iovec *iov, int n, uint64_t off, bool write, uint64_t *done)
{
	*done = 0;
	while (n > 0) {
		ssize_t r = write ? pwritev(fd, iov, n, (off_t)off) : preadv(fd, iov, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* the image shrank under us */
		*done += (uint64_t)r;
		off += (uint64_t)r;
		size_t left = (size_t)r;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

static uint8_t blk_rw(struct blk *d, const struct blk_req *r, bool write, uint64_t *written)
{
	const struct virtq_elem *e = &d->elem;
	/* Data is what lies between the header and the status byte. */
	int n = write ? blk_iov_slice(e->out, e->out_num, BLK_HDR_SIZE, r->out_len, d->data,
				      VIRTQ_ELEM_MAX_IOV)
		      : blk_iov_slice(e->in, e->in_num, 0, r->in_len, d->data, VIRTQ_ELEM_MAX_IOV);
	if (n < 0)
		return VIRTIO_BLK_S_IOERR;
	uint64_t done;
	int err = io_full(d->fd, d->data, n, r->sector << BLK_SECTOR_SHIFT, write, &done);
	if (!write)
		*written = done;
	if (err) {
		log_ratelimited(LOG_LVL_WARN, "blk: %s of %llu bytes at sector %llu: %s",
				write ? "write" : "read",
				(unsigned long long)(write ? r->out_len : r->in_len),
				(unsigned long long)r->sector, strerror(-err));
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

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
	static const uint8_t zeros[65536];
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

static uint8_t blk_dwz(struct blk *d, const struct blk_req *r)
{
	unsigned int n;
	uint8_t s = blk_req_segs(r, d->elem.out, d->elem.out_num, d->dev.capacity, d->segs, &n);
	if (s != VIRTIO_BLK_S_OK)
		return s;
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
	return VIRTIO_BLK_S_OK;
}

/* Runs a checked request; *written counts bytes put in the guest's buffers. */
static uint8_t blk_run(struct blk *d, const struct blk_req *r, uint64_t *written)
{
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		return blk_rw(d, r, false, written);
	case VIRTIO_BLK_T_OUT:
		return blk_rw(d, r, true, written);
	case VIRTIO_BLK_T_FLUSH:
		if (fdatasync(d->fd) < 0) {
			log_ratelimited(LOG_LVL_ERROR, "blk: fdatasync: %m");
			return VIRTIO_BLK_S_IOERR;
		}
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		*written = iov_from_buf(d->elem.in, d->elem.in_num, 0, d->id,
					r->in_len < BLK_ID_BYTES ? r->in_len : BLK_ID_BYTES);
		return VIRTIO_BLK_S_OK;
	default: /* DISCARD, WRITE_ZEROES: blk_req_check let nothing else through */
		return blk_dwz(d, r);
	}
}

static void blk_execute(struct blk *d, struct blk_done *c)
{
	struct virtq_elem *e = &d->elem;
	struct blk_req r;
	*c = (struct blk_done){ .head = e->head };
	int err = blk_req_parse(&r, e->out, e->out_num, e->in, e->in_num);
	if (err == -ENOMSG) {
		log_ratelimited(LOG_LVL_WARN, "blk: request without a writable status byte");
		return;
	}
	c->status = r.status;
	uint64_t written = 0;
	if (err) {
		log_ratelimited(LOG_LVL_WARN, "blk: request shorter than its header");
		c->code = VIRTIO_BLK_S_IOERR;
	} else {
		c->code = blk_req_check(&r, &d->dev);
		if (c->code == VIRTIO_BLK_S_OK) {
			c->write = r.type == VIRTIO_BLK_T_OUT || r.type == VIRTIO_BLK_T_DISCARD ||
				   r.type == VIRTIO_BLK_T_WRITE_ZEROES;
			c->code = blk_run(d, &r, &written);
		} else {
			log_ratelimited(LOG_LVL_DEBUG, "blk: request type %u at sector %llu: %s",
					r.type, (unsigned long long)r.sector,
					c->code == VIRTIO_BLK_S_UNSUPP ? "unsupported" : "refused");
		}
	}
	/* The chain is at most 4 GiB (virtq), so this fits. */
	c->len = (uint32_t)(written + 1);
}

/* Answers n finished requests. In writethrough mode their writes reach
 * stable storage, with one fdatasync, before the driver may see them done. */
static void blk_complete(struct blk *d, struct vub_vring *vr, unsigned int n, bool wrote)
{
	if (wrote && !d->writeback && fdatasync(d->fd) < 0) {
		log_ratelimited(LOG_LVL_ERROR, "blk: fdatasync: %m");
		for (unsigned int i = 0; i < n; i++)
			if (d->done[i].write)
				d->done[i].code = VIRTIO_BLK_S_IOERR;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct blk_done *c = &d->done[i];
		if (c->status)
			*c->status = c->code;
		virtq_push(&vr->vq, c->head, c->len);
	}
}

static void blk_process(struct vub *b, struct vub_vring *vr)
{
	struct blk *d = b->dev;
	int r = 0;
	do {
		unsigned int n = 0;
		bool wrote = false;
		while (n < BLK_QUEUE_SIZE && (r = virtq_pop(&vr->vq, &d->elem)) > 0) {
			blk_execute(d, &d->done[n]);
			wrote |= d->done[n].write;
			n++;
		}
		blk_complete(d, vr, n, wrote);
	} while (r > 0);
	if (r < 0)
		vub_vring_error(vr);
	vub_vring_notify(vr);
}

static int blk_get_config(struct vub *b, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct blk *d = b->dev;
	if (!blk_config_range_ok(offset, len))
		return -EINVAL;
	uint8_t cfg[BLK_CONFIG_SIZE];
	struct blk_config_info info = {
		.capacity = d->dev.capacity,
		.num_queues = d->num_queues,
		.writeback = d->writeback,
	};
	blk_config_build(&info, cfg);
	memcpy(buf, cfg + offset, len);
	return 0;
}

static int blk_set_config(struct vub *b, uint32_t offset, const uint8_t *buf, uint32_t len)
{
	struct blk *d = b->dev;
	if (!(b->features & BIT_ULL(VIRTIO_BLK_F_CONFIG_WCE)) ||
	    blk_config_write(offset, buf, len, &d->writeback) < 0) {
		log_ratelimited(LOG_LVL_WARN,
				"blk: SET_CONFIG of %u bytes at %u refused: only writeback, "
				"with CONFIG_WCE, is writable", len, offset);
		return -EINVAL;
	}
	log_ratelimited(LOG_LVL_INFO, "blk: cache mode %s",
			d->writeback ? "writeback" : "writethrough");
	return 0;
}

static int blk_set_features(struct vub *b, uint64_t features)
{
	struct blk *d = b->dev;
	d->dev.discard = features & BIT_ULL(VIRTIO_BLK_F_DISCARD);
	d->dev.write_zeroes = features & BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES);
	/* A driver that cannot flush gets writethrough; one that cannot see
	 * the cache mode gets writeback exactly when it flushes. */
	if (!(features & BIT_ULL(VIRTIO_BLK_F_FLUSH)))
		d->writeback = 0;
	else if (!(features & BIT_ULL(VIRTIO_BLK_F_CONFIG_WCE)))
		d->writeback = 1;
	return 0;
}

static void blk_reset(struct vub *b)
{
	struct blk *d = b->dev;
	d->dev.discard = d->dev.write_zeroes = false;
	d->writeback = 1;
}

static const struct vub_ops blk_ops_base = {
	.name = "blk",
	.num_queues = 1,
	.max_queue_size = BLK_QUEUE_SIZE,
	.features = BIT_ULL(VIRTIO_BLK_F_SIZE_MAX) | BIT_ULL(VIRTIO_BLK_F_SEG_MAX) |
		    BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) | BIT_ULL(VIRTIO_BLK_F_FLUSH) |
		    BIT_ULL(VIRTIO_BLK_F_CONFIG_WCE),
	.get_config = blk_get_config,
	.set_config = blk_set_config,
	.set_features = blk_set_features,
	.process = blk_process,
	.reset = blk_reset,
};

/* Takes the disk (path, or the inherited fd when path is NULL) and sizes it. */
static int open_disk(struct blk *d, const char *path, int fd)
{
	char name[32];
	if (path) {
		fd = open(path, (d->dev.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			int err = -errno;
			log_err("--disk %s: %s", path, strerror(-err));
			return err;
		}
	} else {
		snprintf(name, sizeof(name), "--disk-fd %d", fd);
		path = name;
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			int err = -errno;
			log_err("%s: %s", path, strerror(-err));
			return err;
		}
		if (!d->dev.read_only && (fl & O_ACCMODE) != O_RDWR) {
			log_err("%s is not open for reading and writing (add --read-only?)", path);
			return -EBADF;
		}
		if (d->dev.read_only && (fl & O_ACCMODE) != O_RDONLY)
			log_warn("%s is open for writing: only the device refuses writes", path);
	}
	d->fd = fd;

	struct stat st;
	uint64_t size;
	if (fstat(fd, &st) < 0) {
		int err = -errno;
		log_err("%s: %s", path, strerror(-err));
		return err;
	}
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		d->is_blkdev = true;
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			int err = -errno;
			log_err("%s: BLKGETSIZE64: %s", path, strerror(-err));
			return err;
		}
	} else {
		log_err("%s: neither a regular file nor a block device", path);
		return -EINVAL;
	}
	if (size % BLK_SECTOR_SIZE)
		log_warn("%s: the last %llu bytes are not a whole sector and stay unused", path,
			 (unsigned long long)(size % BLK_SECTOR_SIZE));
	d->dev.capacity = size >> BLK_SECTOR_SHIFT;
	log_info("disk %s: %s of %llu bytes (%llu sectors), %s, %u queue%s", path,
		 d->is_blkdev ? "block device" : "file", (unsigned long long)size,
		 (unsigned long long)d->dev.capacity,
		 d->dev.read_only ? "read-only" : "read-write", d->num_queues,
		 d->num_queues > 1 ? "s" : "");
	return 0;
}

enum {
	OPT_DISK = 0x200,
	OPT_DISK_FD,
	OPT_READ_ONLY,
	OPT_SERIAL,
	OPT_NUM_QUEUES,
};

/* The device's own options. */
struct blk_opts {
	const char *disk;
	int disk_fd;
	const char *serial;
	bool read_only;
	uint16_t num_queues;
};

/* Handles option c if it is one of the device's own: 0 if handled, -ENOENT
 * if it is not, -EINVAL (logged) for a bad argument. */
static int blk_opt(void *ctx, int c, const char *arg)
{
	struct blk_opts *o = ctx;
	unsigned long v;
	switch (c) {
	case OPT_DISK:
		o->disk = arg;
		return 0;
	case OPT_DISK_FD:
		return serve_fd_number("--disk-fd", arg, &o->disk_fd);
	case OPT_READ_ONLY:
		o->read_only = true;
		return 0;
	case OPT_SERIAL:
		o->serial = arg;
		return 0;
	case OPT_NUM_QUEUES:
		if (cli_parse_uint(arg, 1, VUB_MAX_QUEUES, &v) < 0) {
			log_err("--num-queues %s: give 1 to %u", arg, VUB_MAX_QUEUES);
			return -EINVAL;
		}
		o->num_queues = (uint16_t)v;
		return 0;
	default:
		return -ENOENT;
	}
}

/* VUB_MAX_QUEUES is a plain number, so it can go into the text as is. */
#define STR_(x) #x
#define STR(x) STR_(x)

static const char blk_usage[] =
	"usage: cellvm-blk (--socket-path PATH | --fd N) (--disk FILE | --disk-fd N)\n"
	"                  [--read-only] [--serial ID] [--num-queues N] [options]\n"
	"virtio-blk vhost-user backend over a raw image (regular file or block device).\n\n"
	"  --disk FILE             the image to serve\n"
	"  --disk-fd N             the image as an inherited, open fd\n"
	"  --read-only             open the image read-only; writes fail\n"
	"  --serial ID             the GET_ID answer, up to 20 bytes\n"
	"  --num-queues N          request queues, 1 to " STR(VUB_MAX_QUEUES) " (default 1)\n"
	SERVE_USAGE;

/* Sets up the device from its options. */
static int blk_start(void *ctx, const struct serve_opts *so, void *dev, struct serve_device *sd)
{
	const struct blk_opts *o = ctx;
	struct blk *d = dev;
	int err;
	if ((err = serve_one_source(so, "--disk FILE", o->disk, "--disk-fd", o->disk_fd)))
		return err;
	if (blk_id_make(d->id, o->serial ? o->serial : "") < 0) {
		log_err("--serial %s: longer than %u bytes", o->serial, BLK_ID_BYTES);
		return -EINVAL;
	}
	d->fd = -1;
	d->num_queues = o->num_queues;
	d->writeback = 1;
	d->dev.read_only = o->read_only;
	if ((err = open_disk(d, o->disk, o->disk_fd)) < 0) {
		close_fd(&d->fd);
		return err;
	}
	d->ops = blk_ops_base;
	d->ops.num_queues = d->num_queues;
	if (d->dev.read_only)
		d->ops.features |= BIT_ULL(VIRTIO_BLK_F_RO);
	else
		d->ops.features |=
			BIT_ULL(VIRTIO_BLK_F_DISCARD) | BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES);
	if (d->num_queues > 1)
		d->ops.features |= BIT_ULL(VIRTIO_BLK_F_MQ);
	*sd = (struct serve_device){ .ops = &d->ops,
				     .confine = { .fds = &d->fd, .nfds = 1, .writes_files = true } };
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		SERVE_LONG_OPTIONS,
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "disk-fd", required_argument, NULL, OPT_DISK_FD },
		{ "read-only", no_argument, NULL, OPT_READ_ONLY },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "num-queues", required_argument, NULL, OPT_NUM_QUEUES },
		{ 0 },
	};
	static const char *const caps[] = { "read-only", NULL };
	struct blk_opts o = { .disk_fd = -1, .num_queues = 1 };
	const struct serve_program prog = {
		.process = "cellvm-blk",
		.usage = blk_usage,
		.caps_type = "block",
		.caps_features = caps,
		.longopts = longopts,
		.opt = blk_opt,
		.start = blk_start,
		.dev_size = sizeof(struct blk),
		.ctx = &o,
	};
	return serve_main(argc, argv, &prog);
}
