/* cellvm-balloon: virtio-balloon (device id 5, virtio 1.2 section 5.5) as a
 * vhost-user backend.
 *
 * Pages the guest puts in the balloon (inflateq) and free pages it reports
 * (reporting_vq) go back to the host: madvise(MADV_REMOVE) on the shared
 * guest-memory mapping punches a hole in the memfd behind it (the kernel
 * does fallocate(PUNCH_HOLE|KEEP_SIZE) on that range), so every process
 * that maps guest RAM shrinks with it. Deflating needs nothing of the host:
 * a page the guest touches again comes back as a zero page. The target
 * (config num_pages) is --amount-mib at start and cellvmd's
 * SET_BALLOON_TARGET later; cellvmd then has the vcpu-worker raise the
 * configuration-change interrupt. `actual` is what the driver writes.
 * The stats buffer is kept and handed back every --stats-interval seconds,
 * so the driver refills it; GET_BALLOON_STATS reports the last one. */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/mman.h>

#include "balloon_parse.h"
#include "bytes.h"
#include "cli.h"
#include "iov.h"
#include "log.h"
#include "serve.h"

#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_PAGE_REPORTING 5

#define BALLOON_CONFIG_SIZE 8 /* le32 num_pages, le32 actual */
#define BALLOON_MAX_QUEUES 4  /* inflate, deflate, stats, reporting */
/* One inflate buffer's PFNs at most (Linux sends 256): bounds a request's work. */
#define BALLOON_MAX_PFNS 16384u

_Static_assert(BALLOON_S_NR == DEV_CTL_BALLOON_NSTATS, "every stat has a wire slot");

enum role { ROLE_NONE, ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORTING };

struct balloon_opts {
	uint32_t target_pages;
	unsigned stats_interval_s; /* 0: no stats queue */
	bool deflate_on_oom;
	bool free_page_reporting;
};

struct balloon {
	struct virtq_elem elem;
	struct vub_ops ops; /* the features and queues the options give */
	struct balloon_opts o;
	uint32_t actual_pages;
	enum role role[BALLOON_MAX_QUEUES];
	struct balloon_stats stats;
	bool stats_held; /* the driver's stats buffer, kept until the next poll */
	uint16_t stats_head;
	struct vub_vring *stats_vr;
	struct evloop_timer stats_timer;
};

/* Gives guest pages [gpa, gpa + len) (inside one region) back to the host. */
static void give_back_gpa(struct vub *b, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gm_ptr(&b->mem, gpa, len);
	uint64_t start, plen;
	if (!p || !balloon_page_span((uintptr_t)p, len, &start, &plen))
		return;
	if (madvise((void *)(uintptr_t)start, plen, MADV_REMOVE) < 0) {
		b->counters.errors++;
		log_ratelimited(LOG_LVL_WARN, "balloon: returning %llu bytes at gpa %#llx: %m",
				(unsigned long long)plen, (unsigned long long)gpa);
	}
}

/* Gives back the whole pages of a host buffer the ring walker validated. */
static void give_back_iov(struct vub *b, const struct iovec *iov)
{
	uint64_t start, plen;
	if (!balloon_page_span((uintptr_t)iov->iov_base, iov->iov_len, &start, &plen))
		return;
	if (madvise((void *)(uintptr_t)start, plen, MADV_REMOVE) < 0) {
		b->counters.errors++;
		log_ratelimited(LOG_LVL_WARN, "balloon: returning a reported range: %m");
	}
}

/* An inflate or deflate buffer: a PFN array in device-readable buffers.
 * Inflated pages go back to the host; PFNs outside guest RAM are skipped. */
static void pfn_request(struct vub *b, const struct virtq_elem *e, bool inflate)
{
	struct balloon_ram ram[GM_MAX_REGIONS];
	struct balloon_range r[BALLOON_PFN_BATCH];
	uint8_t buf[4 * BALLOON_PFN_BATCH];
	if (e->in_num || e->out_len % 4 || e->out_len / 4 > BALLOON_MAX_PFNS) {
		b->counters.errors++;
		log_ratelimited(LOG_LVL_WARN, "balloon: malformed %s buffer of %llu bytes",
				inflate ? "inflate" : "deflate", (unsigned long long)e->out_len);
		return;
	}
	if (!inflate)
		return; /* the guest touching a page again is all a deflate needs */
	for (size_t i = 0; i < b->mem.n; i++)
		ram[i] = (struct balloon_ram){ b->mem.r[i].gpa, b->mem.r[i].size };
	unsigned refused_total = 0;
	for (uint64_t off = 0; off < e->out_len; off += sizeof(buf)) {
		uint64_t len = e->out_len - off < sizeof(buf) ? e->out_len - off : sizeof(buf);
		unsigned refused;
		iov_to_buf(e->out, e->out_num, off, buf, len);
		int n = balloon_pfn_ranges(buf, (size_t)len, ram, b->mem.n, r, &refused);
		for (int i = 0; i < n; i++)
			give_back_gpa(b, r[i].gpa, r[i].len);
		refused_total += refused;
	}
	if (refused_total) {
		b->counters.errors++;
		log_ratelimited(LOG_LVL_WARN, "balloon: %u page(s) outside guest RAM skipped",
				refused_total);
	}
}

/* Hands the kept stats buffer back: the driver refills and returns it. */
static void stats_release(struct balloon *bl)
{
	if (!bl->stats_held)
		return;
	bl->stats_held = false;
	virtq_push(&bl->stats_vr->vq, bl->stats_head, 0);
	vub_vring_notify(bl->stats_vr);
}

static void on_stats_timer(void *opaque)
{
	struct vub_vring *vr = opaque;
	struct balloon *bl = vr->b->dev;
	if (!vub_vring_running(vr))
		return;
	stats_release(bl);
	evloop_timer_arm(vr->b->loop, &bl->stats_timer, bl->o.stats_interval_s * 1000u);
}

/* A stats buffer: parsed, then kept until the next poll. */
static void stats_request(struct vub *b, struct vub_vring *vr, const struct virtq_elem *e)
{
	struct balloon *bl = b->dev;
	uint8_t buf[BALLOON_STAT_WIRE * BALLOON_STATS_MAX_ENTRIES];
	/* A driver owns one stats buffer: a second one means the first is its. */
	stats_release(bl);
	if (e->in_num || e->out_len > sizeof(buf) ||
	    balloon_stats_parse(buf, (size_t)iov_to_buf(e->out, e->out_num, 0, buf, e->out_len),
				&bl->stats) < 0) {
		b->counters.errors++;
		log_ratelimited(LOG_LVL_WARN, "balloon: malformed stats buffer of %llu bytes",
				(unsigned long long)e->out_len);
	}
	bl->stats_held = true;
	bl->stats_head = e->head;
	bl->stats_vr = vr;
}

static void balloon_process(struct vub *b, struct vub_vring *vr)
{
	struct balloon *bl = b->dev;
	enum role role = vr->index < BALLOON_MAX_QUEUES ? bl->role[vr->index] : ROLE_NONE;
	int r;
	while ((r = virtq_pop(&vr->vq, &bl->elem)) > 0) {
		const struct virtq_elem *e = &bl->elem;
		b->counters.requests++;
		switch (role) {
		case ROLE_INFLATE:
		case ROLE_DEFLATE:
			pfn_request(b, e, role == ROLE_INFLATE);
			break;
		case ROLE_STATS:
			stats_request(b, vr, e);
			continue; /* kept, not answered */
		case ROLE_REPORTING:
			for (unsigned i = 0; i < e->out_num; i++)
				give_back_iov(b, &e->out[i]);
			for (unsigned i = 0; i < e->in_num; i++)
				give_back_iov(b, &e->in[i]);
			break;
		case ROLE_NONE:
			b->counters.errors++;
			log_ratelimited(LOG_LVL_WARN, "balloon: buffer on ring %u, which has no use",
					vr->index);
			break;
		}
		virtq_push(&vr->vq, e->head, 0);
	}
	if (r < 0)
		vub_vring_error(vr);
	vub_vring_notify(vr);
}

static void balloon_ring_running(struct vub *b, struct vub_vring *vr, bool running)
{
	struct balloon *bl = b->dev;
	if (vr->index >= BALLOON_MAX_QUEUES || bl->role[vr->index] != ROLE_STATS)
		return;
	if (running) {
		evloop_timer_init(&bl->stats_timer, on_stats_timer, vr);
		evloop_timer_arm(b->loop, &bl->stats_timer, bl->o.stats_interval_s * 1000u);
	} else {
		/* Its memory may go away: the buffer is the driver's again. */
		evloop_timer_cancel(&bl->stats_timer);
		bl->stats_held = false;
	}
}

static void balloon_quiesce(struct vub *b, struct vub_vring *vr)
{
	struct balloon *bl = b->dev;
	if (bl->stats_held && bl->stats_vr == vr)
		stats_release(bl);
}

static int balloon_set_features(struct vub *b, uint64_t features)
{
	struct balloon *bl = b->dev;
	/* Queues are numbered without the gaps of features not negotiated
	 * (virtio 1.2 5.5.2). */
	unsigned n = 0;
	/* Roles may move: a kept stats buffer belongs to no ring any more. */
	evloop_timer_cancel(&bl->stats_timer);
	bl->stats_held = false;
	memset(bl->role, 0, sizeof(bl->role));
	bl->role[n++] = ROLE_INFLATE;
	bl->role[n++] = ROLE_DEFLATE;
	if (features & BIT_ULL(VIRTIO_BALLOON_F_STATS_VQ))
		bl->role[n++] = ROLE_STATS;
	if (features & BIT_ULL(VIRTIO_BALLOON_F_PAGE_REPORTING))
		bl->role[n++] = ROLE_REPORTING;
	return 0;
}

static void balloon_reset(struct vub *b)
{
	struct balloon *bl = b->dev;
	memset(bl->role, 0, sizeof(bl->role));
	bl->stats_held = false;
}

static void config_bytes(const struct balloon *bl, uint8_t cfg[BALLOON_CONFIG_SIZE])
{
	put_le32(cfg, bl->o.target_pages);
	put_le32(cfg + 4, bl->actual_pages);
}

static int balloon_get_config(struct vub *b, uint32_t offset, uint8_t *buf, uint32_t len)
{
	uint8_t cfg[BALLOON_CONFIG_SIZE];
	if (offset > BALLOON_CONFIG_SIZE || len > BALLOON_CONFIG_SIZE - offset)
		return -EINVAL;
	config_bytes(b->dev, cfg);
	memcpy(buf, cfg + offset, len);
	return 0;
}

/* Only `actual` is the driver's to write. */
static int balloon_set_config(struct vub *b, uint32_t offset, const uint8_t *buf, uint32_t len)
{
	struct balloon *bl = b->dev;
	uint8_t cfg[BALLOON_CONFIG_SIZE];
	if (offset < 4 || offset > BALLOON_CONFIG_SIZE || len > BALLOON_CONFIG_SIZE - offset) {
		log_ratelimited(LOG_LVL_WARN, "balloon: config write at %u (%u bytes) refused",
				offset, len);
		return -EPERM;
	}
	config_bytes(bl, cfg);
	memcpy(cfg + offset, buf, len);
	bl->actual_pages = get_le32(cfg + 4);
	return 0;
}

static void balloon_control(struct vub *b, const struct dev_ctl_req *rq, struct dev_ctl_reply *rp)
{
	struct balloon *bl = b->dev;
	switch (rq->type) {
	case DEV_CTL_SET_BALLOON_TARGET:
		bl->o.target_pages = rq->balloon_pages;
		log_info("balloon: target %u pages", rq->balloon_pages);
		return;
	case DEV_CTL_GET_BALLOON_STATS:
		rp->balloon = (struct dev_ctl_balloon){ .target_pages = bl->o.target_pages,
							.actual_pages = bl->actual_pages,
							.present = bl->stats.present };
		memcpy(rp->balloon.stat, bl->stats.value, sizeof(rp->balloon.stat));
		return;
	default:
		rp->status = -EOPNOTSUPP;
	}
}

enum {
	OPT_AMOUNT_MIB = 0x200,
	OPT_DEFLATE_ON_OOM,
	OPT_STATS_INTERVAL,
	OPT_FREE_PAGE_REPORTING,
};

static struct balloon_opts balloon_args;

static int balloon_opt(void *ctx, int c, const char *arg)
{
	struct balloon_opts *o = ctx;
	unsigned long v;
	switch (c) {
	case OPT_AMOUNT_MIB:
		/* num_pages is a le32 of 4 KiB pages. */
		if (cli_parse_uint(arg, 0, UINT32_MAX >> 8, &v) < 0) {
			log_err("--amount-mib %s: not a number of MiB up to %u", arg,
				UINT32_MAX >> 8);
			return -EINVAL;
		}
		o->target_pages = (uint32_t)v << 8;
		return 0;
	case OPT_STATS_INTERVAL:
		if (cli_parse_uint(arg, 0, 86400, &v) < 0) {
			log_err("--stats-interval %s: not a number of seconds up to 86400", arg);
			return -EINVAL;
		}
		o->stats_interval_s = (unsigned)v;
		return 0;
	case OPT_DEFLATE_ON_OOM:
		o->deflate_on_oom = true;
		return 0;
	case OPT_FREE_PAGE_REPORTING:
		o->free_page_reporting = true;
		return 0;
	default:
		return -ENOENT;
	}
}

static int balloon_start(void *ctx, const struct serve_opts *so, void *dev, struct serve_device *d)
{
	struct balloon *bl = dev;
	(void)so;
	bl->o = *(const struct balloon_opts *)ctx;
	bl->ops = (struct vub_ops){
		.name = "balloon",
		.num_queues = 2,
		.max_queue_size = 1024,
		.get_config = balloon_get_config,
		.set_config = balloon_set_config,
		.set_features = balloon_set_features,
		.process = balloon_process,
		.ring_running = balloon_ring_running,
		.quiesce = balloon_quiesce,
		.reset = balloon_reset,
	};
	if (bl->o.stats_interval_s) {
		bl->ops.features |= BIT_ULL(VIRTIO_BALLOON_F_STATS_VQ);
		bl->ops.num_queues++;
	}
	if (bl->o.deflate_on_oom)
		bl->ops.features |= BIT_ULL(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	if (bl->o.free_page_reporting) {
		bl->ops.features |= BIT_ULL(VIRTIO_BALLOON_F_PAGE_REPORTING);
		bl->ops.num_queues++;
	}
	d->ops = &bl->ops;
	d->control = balloon_control;
	return 0;
}

static const struct option balloon_longopts[] = {
	SERVE_LONG_OPTIONS,
	{ "amount-mib", required_argument, NULL, OPT_AMOUNT_MIB },
	{ "deflate-on-oom", no_argument, NULL, OPT_DEFLATE_ON_OOM },
	{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
	{ "free-page-reporting", no_argument, NULL, OPT_FREE_PAGE_REPORTING },
	{ 0 },
};

const struct serve_program serve_program = {
	.process = "cellvm-balloon",
	.usage = "usage: cellvm-balloon (--socket-path PATH | --fd N) [options]\n"
		 "virtio-balloon vhost-user backend: inflated and reported pages go back to\n"
		 "the host (a hole punched in the guest-memory file).\n\n"
		 "  --amount-mib N          the balloon's target at start (default 0)\n"
		 "  --deflate-on-oom        the guest may deflate when it runs out of memory\n"
		 "  --stats-interval S      ask for memory statistics every S seconds\n"
		 "                          (default 0: no statistics queue)\n"
		 "  --free-page-reporting   the guest reports free pages, given back too\n"
		 SERVE_USAGE,
	.caps_type = "balloon",
	.longopts = balloon_longopts,
	.opt = balloon_opt,
	.start = balloon_start,
	.dev_size = sizeof(struct balloon),
	.ctx = &balloon_args,
};
