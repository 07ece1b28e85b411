/* cellvm-blk: virtio-blk (device id 2) as a vhost-user backend over a raw
 * image, a regular file or a block device. blk_req.c parses and checks each
 * request and blk_io.c runs what passed (through io_uring, or synchronously
 * for an image in memory); this file is the device: its options, the disk,
 * config space and feature negotiation. */
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

#include "blk.h"
#include "bytes.h"
#include "cli.h"
#include "fds.h"
#include "log.h"
#include "serve.h"

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
		.blk_size = d->align,
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
	blk_io_reset(d);
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
	.process = blk_io_process,
	.quiesce = blk_io_quiesce,
	.reset = blk_reset,
};

/* Takes the disk (path, or the inherited fd when path is NULL) and sizes it. */
static int open_disk(struct blk *d, const char *path, int fd)
{
	char name[32];
	if (path) {
		fd = open(path, (d->dev.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC |
				(d->direct ? O_DIRECT : 0));
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
		/* The flag is the open file's: whoever shares it gets it too. */
		if (d->direct && fcntl(fd, F_SETFL, fl | O_DIRECT) < 0) {
			int err = -errno;
			log_err("%s: O_DIRECT: %s", path, strerror(-err));
			return err;
		}
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
	log_info("disk %s: %s of %llu bytes (%llu sectors), %s%s, %u queue%s, polling %u us",
		 path, d->is_blkdev ? "block device" : "file", (unsigned long long)size,
		 (unsigned long long)d->dev.capacity,
		 d->dev.read_only ? "read-only" : "read-write", d->direct ? ", O_DIRECT" : "",
		 d->num_queues, d->num_queues > 1 ? "s" : "", d->poll_us);
	return 0;
}

enum {
	OPT_DISK = 0x200,
	OPT_DISK_FD,
	OPT_READ_ONLY,
	OPT_SERIAL,
	OPT_NUM_QUEUES,
	OPT_DIRECT,
	OPT_POLL_US,
	OPT_RATE_LIMIT,
};

/* The device's own options. */
struct blk_opts {
	const char *disk;
	int disk_fd;
	const char *serial;
	bool read_only;
	bool direct;
	uint16_t num_queues;
	uint32_t poll_us;
	struct rl_cfg rl; /* unlimited unless --rate-limit */
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
	case OPT_DIRECT:
		o->direct = true;
		return 0;
	case OPT_NUM_QUEUES:
		if (cli_parse_uint(arg, 1, VUB_MAX_QUEUES, &v) < 0) {
			log_err("--num-queues %s: give 1 to %u", arg, VUB_MAX_QUEUES);
			return -EINVAL;
		}
		o->num_queues = (uint16_t)v;
		return 0;
	case OPT_POLL_US:
		if (cli_parse_uint(arg, 0, BLK_POLL_US_MAX, &v) < 0) {
			log_err("--poll-us %s: give 0 to %d", arg, BLK_POLL_US_MAX);
			return -EINVAL;
		}
		o->poll_us = (uint32_t)v;
		return 0;
	case OPT_RATE_LIMIT:
		return throttle_parse_opt("--rate-limit", arg, &o->rl);
	default:
		return -ENOENT;
	}
}

/* VUB_MAX_QUEUES is a plain number, so it can go into the text as is. */
#define STR_(x) #x
#define STR(x) STR_(x)

static const char blk_usage[] =
	"usage: cellvm-blk (--socket-path PATH | --fd N) (--disk FILE | --disk-fd N)\n"
	"                  [--read-only] [--direct] [--serial ID] [--num-queues N]\n"
	"                  [--poll-us N] [--rate-limit SPEC] [options]\n"
	"virtio-blk vhost-user backend over a raw image (regular file or block device).\n\n"
	"  --disk FILE             the image to serve\n"
	"  --disk-fd N             the image as an inherited, open fd\n"
	"  --read-only             open the image read-only; writes fail\n"
	"  --direct                bypass the host's page cache (O_DIRECT); the guest's\n"
	"                          block size is the disk's logical block, requests not\n"
	"                          in whole blocks are refused, buffers not aligned to\n"
	"                          one go through a bounce buffer\n"
	"  --serial ID             the GET_ID answer, up to 20 bytes\n"
	"  --num-queues N          request queues, 1 to " STR(VUB_MAX_QUEUES) " (default 1), each\n"
	"                          with its own io_uring (none for an image in memory\n"
	"                          or on a host that refuses io_uring)\n"
	"  --poll-us N             after a batch, busy-poll the queue (new requests and\n"
	"                          completions) for up to N microseconds before sleeping\n"
	"                          on the guest's kick: lower latency for a CPU spinning;\n"
	"                          0 to " STR(BLK_POLL_US_MAX) " (default 0: off)\n"
	"  --rate-limit SPEC       Firecracker's rate limiter for the whole device, all\n"
	"                          queues: KEY=VALUE,... with KEY bandwidth.size (bytes),\n"
	"                          bandwidth.one_time_burst, bandwidth.refill_time (ms)\n"
	"                          and the same for ops (requests), e.g.\n"
	"                          bandwidth.size=1048576,bandwidth.refill_time=125;\n"
	"                          a request over the limit waits in the ring\n"
	SERVE_USAGE;

#ifdef CELLVM_TEST_HOOKS
static int escape(void *ctx, enum test_escape kind)
{
	struct blk *d = ctx;
	return blk_ring_escape(&d->q[0].ring, d->fd, kind);
}
#endif

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
	d->poll_us = o->poll_us;
	d->writeback = 1;
	d->dev.read_only = o->read_only;
	d->direct = o->direct;
	if ((err = open_disk(d, o->disk, o->disk_fd)) < 0) {
		close_fd(&d->fd);
		return err;
	}
	if ((err = blk_io_init(d)) < 0) {
		for (size_t i = 0; i < d->nkeep; i++)
			close(d->keep[i]);
		return err;
	}
	throttle_init(&d->rl, "rate_limiter", &o->rl, blk_io_resume, d);
	d->ops = blk_ops_base;
	d->ops.num_queues = d->num_queues;
	if (d->dev.read_only)
		d->ops.features |= BIT_ULL(VIRTIO_BLK_F_RO);
	else
		d->ops.features |=
			BIT_ULL(VIRTIO_BLK_F_DISCARD) | BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES);
	if (d->num_queues > 1)
		d->ops.features |= BIT_ULL(VIRTIO_BLK_F_MQ);
#ifdef CELLVM_TEST_HOOKS
	test_hooks_device(escape, d);
#endif
	*sd = (struct serve_device){ .ops = &d->ops,
				     .setup = blk_io_setup,
				     .limiters = &d->rl, .nlimiters = 1,
				     .confine = { .fds = d->keep, .nfds = d->nkeep,
						  .new_tasks = BLK_RING_WORKERS,
						  .writes_files = true } };
	return 0;
}

static const struct option blk_longopts[] = {
	SERVE_LONG_OPTIONS,
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "disk-fd", required_argument, NULL, OPT_DISK_FD },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "num-queues", required_argument, NULL, OPT_NUM_QUEUES },
	{ "poll-us", required_argument, NULL, OPT_POLL_US },
	{ "rate-limit", required_argument, NULL, OPT_RATE_LIMIT },
	{ 0 },
};
static const char *const blk_caps[] = { "read-only", NULL };
static struct blk_opts blk_args = { .disk_fd = -1, .num_queues = 1 };

const struct serve_program serve_program = {
	.process = "cellvm-blk",
	.usage = blk_usage,
	.caps_type = "block",
	.caps_features = blk_caps,
	.longopts = blk_longopts,
	.opt = blk_opt,
	.start = blk_start,
	.dev_size = sizeof(struct blk),
	.ctx = &blk_args,
};
