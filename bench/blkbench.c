/* blkbench: random I/O against a vhost-user-blk backend, driven through tfe
 * (tests/frontend), the frontend that plays the guest driver. It keeps QD
 * requests of BS bytes at random BS-aligned offsets in flight for SECONDS and
 * prints IOPS, MB/s and latency percentiles as one line of key=value pairs.
 * Then it reads a few blocks back and checks them (a write run: that they
 * hold what this run wrote; with --image, that the device and the file
 * agree), so a backend that drops or fakes I/O posts no figure.
 * bench/blk.sh runs it against cellvm-blk and qemu-storage-daemon. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blk_req.h"
#include "bytes.h"
#include "cli.h"
#include "tfe.h"

#define QNUM 256u          /* the ring: both backends take 256 */
#define MAX_QD (QNUM / 3)  /* each request is a 3-descriptor chain */
#define VERIFY_BLOCKS 64u
#define WAIT_MS 5000       /* a request not done by then is a hang */
/* What a guest's virtio-blk driver takes, less EVENT_IDX: without it the
 * backend signals every batch it completes, so a wait never hangs on a
 * notification a lagging used_event suppressed; both backends see the same. */
#define WANT                                                                      \
	(BIT_ULL(VIRTIO_BLK_F_SIZE_MAX) | BIT_ULL(VIRTIO_BLK_F_SEG_MAX) |           \
	 BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) | BIT_ULL(VIRTIO_BLK_F_FLUSH) |             \
	 BIT_ULL(VIRTIO_BLK_F_CONFIG_WCE))

/* Latency histogram: 16 linear steps per power of two of nanoseconds, so a
 * percentile is at most 1/16 low, without keeping every sample. */
#define HIST_SUB 16u
#define HIST_BUCKETS (64u * HIST_SUB)

struct opts {
	const char *socket;
	const char *image;
	char **backend; /* argv after "--": started with --fd */
	unsigned long qd, bs, seconds, size;
	bool write;
};

/* One request kept in flight: its chain is written once, then re-published. */
struct slot {
	uint16_t head;
	uint64_t hdr, data, status; /* GPAs */
	uint64_t block;
	uint64_t t0;
};

struct bench {
	struct tfe f;
	struct opts o;
	uint64_t nblocks;
	uint64_t seed, rng;
	struct slot slots[MAX_QD];
	int16_t slot_of[QNUM]; /* head descriptor -> slot */
	uint64_t written[VERIFY_BLOCKS]; /* the blocks of the last writes */
	uint64_t ios;
	uint64_t hist[HIST_BUCKETS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(struct bench *b)
{
	/* xorshift64*: cheap, and good enough to scatter offsets. */
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 0x2545f4914f6cdd1dull;
}

static unsigned int hist_bucket(uint64_t ns)
{
	if (ns < HIST_SUB)
		return (unsigned int)ns;
	unsigned int msb = 63u - (unsigned int)__builtin_clzll(ns);
	return (msb - 3) * HIST_SUB + (unsigned int)((ns >> (msb - 4)) & (HIST_SUB - 1));
}

/* The smallest latency of bucket i. */
static uint64_t hist_value(unsigned int i)
{
	if (i < 2 * HIST_SUB)
		return i;
	return (uint64_t)(HIST_SUB + i % HIST_SUB) << (i / HIST_SUB - 1);
}

static double percentile_us(const struct bench *b, double p)
{
	uint64_t want = (uint64_t)(p * (double)b->ios), seen = 0;
	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		seen += b->hist[i];
		if (seen > want)
			return (double)hist_value(i) / 1000.0;
	}
	return 0;
}

/* What a write run puts in a block: this run's seed makes a stale image fail. */
static void pattern(const struct bench *b, uint64_t block, uint64_t *out)
{
	for (size_t i = 0; i < b->o.bs / 8; i++)
		out[i] = b->seed ^ (block * 0x9e3779b97f4a7c15ull) ^ i;
}

static void set_header(struct bench *b, uint64_t gpa, uint32_t type, uint64_t block)
{
	uint8_t *p = tfe_ptr(&b->f, gpa);
	uint32_t t = htole32(type);
	uint64_t sector = htole64(block * b->o.bs >> BLK_SECTOR_SHIFT);
	memcpy(p, &t, 4);
	memcpy(p + 8, &sector, 8);
}

/* A data buffer aligned like a guest page, so O_DIRECT needs no bounce. */
static uint64_t alloc_data(struct bench *b)
{
	return (tfe_alloc(&b->f, b->o.bs + 4095) + 4095) & ~4095ull;
}


static uint64_t rnd_block(struct bench *b)
{
	return rnd(b) % b->nblocks;
}

/* Fills in slot s's request for block and stamps its start. */
static void prepare(struct bench *b, struct slot *s, bool write, uint64_t block)
{
	s->block = block;
	if (write)
		pattern(b, block, tfe_ptr(&b->f, s->data));
	set_header(b, s->hdr, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, block);
	*(uint8_t *)tfe_ptr(&b->f, s->status) = 0xff;
	s->t0 = now_ns();
}

/* Writes slot i's chain into the ring and publishes it. */
static int post_chain(struct bench *b, unsigned int i, bool write)
{
	struct slot *s = &b->slots[i];
	const struct tfe_buf bufs[3] = {
		{ s->hdr, BLK_HDR_SIZE, false },
		{ s->data, (uint32_t)b->o.bs, !write },
		{ s->status, 1, true },
	};
	int head = tfe_post(&b->f, 0, bufs, 3, false);
	if (head < 0) {
		fprintf(stderr, "blkbench: posting a request: %s\n", strerror(-head));
		return head;
	}
	s->head = (uint16_t)head;
	b->slot_of[head] = (int16_t)i;
	return 0;
}

/* Waits for the next completion and checks it: one of our chains, status
 * OK, and the used length a read (data and status) or a write calls for. */
static struct slot *reap(struct bench *b, bool write)
{
	uint32_t id, len;
	int err = tfe_wait_used(&b->f, 0, WAIT_MS, &id, &len);
	if (err) {
		fprintf(stderr, "blkbench: no completion within %d ms: %s\n", WAIT_MS,
			strerror(-err));
		return NULL;
	}
	if (id >= QNUM || b->slot_of[id] < 0) {
		fprintf(stderr, "blkbench: the backend completed descriptor %u, not a request\n",
			id);
		return NULL;
	}
	struct slot *s = &b->slots[b->slot_of[id]];
	uint8_t status = *(uint8_t *)tfe_ptr(&b->f, s->status);
	uint32_t want = write ? 1 : (uint32_t)b->o.bs + 1;
	if (status != VIRTIO_BLK_S_OK || len != want) {
		fprintf(stderr, "blkbench: %s of block %llu: status %u, used length %u (want %u)\n",
			write ? "write" : "read", (unsigned long long)s->block, status, len, want);
		return NULL;
	}
	return s;
}

/* The measured run: completions after the deadline are drained, not counted. */
static int run(struct bench *b)
{
	bool w = b->o.write;
	uint64_t end = now_ns() + b->o.seconds * 1000000000ull;
	unsigned int inflight = 0;
	for (unsigned int i = 0; i < b->o.qd; i++) {
		prepare(b, &b->slots[i], w, rnd_block(b));
		if (post_chain(b, i, w) < 0)
			return -EIO;
		inflight++;
	}
	while (inflight > 0) {
		struct slot *s = reap(b, w);
		if (!s)
			return -EIO;
		uint64_t t = now_ns();
		if (t > end) {
			inflight--;
			continue;
		}
		b->hist[hist_bucket(t - s->t0)]++;
		if (w)
			b->written[b->ios % VERIFY_BLOCKS] = s->block;
		b->ios++;
		prepare(b, s, w, rnd_block(b));
		tfe_avail_publish(&b->f, 0, s->head, 1);
	}
	return 0;
}

/* Reads blocks back through the device, one at a time, and compares them
 * with what they must hold. Returns how many were checked, or -errno. */
static int verify(struct bench *b, int img_fd)
{
	unsigned int n = b->o.write ? (b->ios < VERIFY_BLOCKS ? (unsigned int)b->ios
							     : VERIFY_BLOCKS)
				    : img_fd >= 0 ? VERIFY_BLOCKS : 0;
	uint64_t *want = malloc(b->o.bs), *file = malloc(b->o.bs);
	struct slot *s = &b->slots[0];
	const uint8_t *got = tfe_ptr(&b->f, s->data);
	int err = want && file ? 0 : -ENOMEM;
	for (unsigned int i = 0; i < n && !err; i++) {
		uint64_t block = b->o.write ? b->written[i] : rnd_block(b);
		/* A backend that leaves the buffer alone must not pass. */
		memset(tfe_ptr(&b->f, s->data), 0x5a, b->o.bs);
		prepare(b, s, false, block);
		if (post_chain(b, 0, false) < 0 || !reap(b, false)) {
			err = -EIO;
			break;
		}
		if (img_fd >= 0 && pread(img_fd, file, b->o.bs, (off_t)(block * b->o.bs)) !=
					   (ssize_t)b->o.bs) {
			err = -EIO;
			fprintf(stderr, "blkbench: --image: reading block %llu: short or %m\n",
				(unsigned long long)block);
			break;
		}
		const char *bad = NULL;
		if (b->o.write) {
			pattern(b, block, want);
			if (memcmp(got, want, b->o.bs))
				bad = "the device reads back something else than was written";
			else if (img_fd >= 0 && memcmp(file, want, b->o.bs))
				bad = "the image holds something else than was written";
		} else if (memcmp(got, file, b->o.bs)) {
			bad = "the device reads something else than the image holds";
		}
		if (bad) {
			fprintf(stderr, "blkbench: block %llu: %s\n", (unsigned long long)block, bad);
			err = -EIO;
		}
	}
	free(want);
	free(file);
	return err ? err : (int)n;
}

static const char usage[] =
	"usage: blkbench (--socket PATH | -- BACKEND [ARG...]) [--qd N] [--bs BYTES]\n"
	"                [--rw read|write] [--seconds S] [--size BYTES] [--image FILE]\n"
	"Random I/O through one virtqueue of a vhost-user-blk backend.\n\n"
	"  --socket PATH   connect to a backend listening on PATH\n"
	"  -- BACKEND ...  start BACKEND with its arguments and --fd N\n"
	"  --qd N          requests in flight, 1 to 85 (default 1)\n"
	"  --bs BYTES      request size, a multiple of 512 up to 1 MiB (default 4096)\n"
	"  --rw read|write (default read)\n"
	"  --seconds S     how long to measure (default 3)\n"
	"  --size BYTES    the span of the disk to spread requests over (default all)\n"
	"  --image FILE    the backend's image: afterwards, blocks read through the\n"
	"                  device are compared with the file\n";

/* A number option in [min, max], or a message and -EINVAL. */
static int num_opt(const char *name, const char *arg, unsigned long min, unsigned long max,
		   unsigned long *out)
{
	if (cli_parse_uint(arg, min, max, out) == 0)
		return 0;
	fprintf(stderr, "blkbench: --%s %s: give %lu to %lu\n", name, arg, min, max);
	return -EINVAL;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "qd", required_argument, NULL, 'q' },
		{ "bs", required_argument, NULL, 'b' },
		{ "rw", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 'z' },
		{ "image", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	*o = (struct opts){ .qd = 1, .bs = 4096, .seconds = 3 };
	int c, err = 0;
	while (!err && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'q':
			err = num_opt("qd", optarg, 1, MAX_QD, &o->qd);
			break;
		case 'b':
			err = num_opt("bs", optarg, BLK_SECTOR_SIZE, BLK_SIZE_MAX, &o->bs);
			if (!err && o->bs % BLK_SECTOR_SIZE) {
				fprintf(stderr, "blkbench: --bs %s: not a multiple of 512\n", optarg);
				err = -EINVAL;
			}
			break;
		case 'r':
			o->write = strcmp(optarg, "write") == 0;
			if (!o->write && strcmp(optarg, "read") != 0) {
				fprintf(stderr, "blkbench: --rw %s: give read or write\n", optarg);
				err = -EINVAL;
			}
			break;
		case 't':
			err = num_opt("seconds", optarg, 1, 3600, &o->seconds);
			break;
		case 'z':
			err = num_opt("size", optarg, 1, ULONG_MAX, &o->size);
			break;
		case 'i':
			o->image = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			err = -EINVAL;
		}
	}
	if (!err && (optind < argc) == !!o->socket) {
		fprintf(stderr, "blkbench: give exactly one of --socket PATH and -- BACKEND\n");
		err = -EINVAL;
	}
	if (err) {
		fputs(usage, stderr);
		return err;
	}
	o->backend = argv + optind;
	return 0;
}

/* Connects (or starts the backend), negotiates, sets up the queue and the
 * slots, and learns the disk's size. */
static int setup(struct bench *b)
{
	const struct opts *o = &b->o;
	/* Rings, the slots' buffers (each aligned up to a page) and slack. */
	uint64_t need = (1u << 20) + o->qd * (o->bs + 4096 + 64);
	uint64_t mem = (need + (2u << 20) - 1) & ~((2ull << 20) - 1);
	int err = o->socket ? tfe_connect(&b->f, mem, o->socket)
			    : tfe_start(&b->f, (const char *const *)o->backend, mem);
	uint64_t cap;
	if (err || (err = tfe_negotiate(&b->f, WANT)) || (err = tfe_setup_queue(&b->f, 0, QNUM)) ||
	    (err = tfe_get_config(&b->f, 0, &cap, sizeof(cap)))) {
		fprintf(stderr, "blkbench: setting up the backend: %s\n", strerror(-err));
		return err;
	}
	uint64_t disk = le64toh(cap) << BLK_SECTOR_SHIFT;
	uint64_t size = o->size ? o->size : disk;
	if (size > disk || size < o->bs) {
		fprintf(stderr, "blkbench: span %llu bytes: the disk has %llu, a request %lu\n",
			(unsigned long long)size, (unsigned long long)disk, o->bs);
		return -EINVAL;
	}
	b->nblocks = size / o->bs;
	memset(b->slot_of, 0xff, sizeof(b->slot_of));
	for (unsigned int i = 0; i < o->qd; i++) {
		struct slot *s = &b->slots[i];
		s->hdr = tfe_alloc(&b->f, BLK_HDR_SIZE);
		s->status = tfe_alloc(&b->f, 1);
		s->data = alloc_data(b);
	}
	b->seed = now_ns() ^ ((uint64_t)getpid() << 32);
	b->rng = b->seed | 1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench bench;
	struct bench *b = &bench;
	if (parse_opts(argc, argv, &b->o))
		return 2;
	int img_fd = -1;
	if (b->o.image && (img_fd = open(b->o.image, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "blkbench: --image %s: %m\n", b->o.image);
		return 2;
	}
	int err = setup(b);
	int verified = err ? 0 : (err = run(b)) ? 0 : verify(b, img_fd);
	if (!err && verified < 0)
		err = verified;
	if (!err) {
		double secs = (double)b->o.seconds;
		printf("rw=%s qd=%lu bs=%lu seconds=%lu ios=%llu iops=%.0f MBps=%.1f "
		       "lat_p50_us=%.1f lat_p99_us=%.1f verified=%d\n",
		       b->o.write ? "write" : "read", b->o.qd, b->o.bs, b->o.seconds,
		       (unsigned long long)b->ios, (double)b->ios / secs,
		       (double)b->ios * (double)b->o.bs / secs / 1e6, percentile_us(b, 0.50),
		       percentile_us(b, 0.99), verified);
	}
	int status = tfe_finish(&b->f);
	if (!b->o.socket && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		fprintf(stderr, "blkbench: the backend ended with wait status 0x%x\n", status);
		err = err ? err : -EIO;
	}
	if (img_fd >= 0)
		close(img_fd);
	return err ? 1 : 0;
}
