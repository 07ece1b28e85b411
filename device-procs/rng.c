/* cellvm-rng: virtio-rng (device id 4) as a vhost-user backend. Each buffer
 * the driver offers is filled from getrandom(2). */
#include <errno.h>
#include <getopt.h>
#include <sys/random.h>

#include "backend.h"
#include "log.h"
#include "serve.h"

/* Bounds the work one request can ask for; the driver asks again for more. */
#define RNG_MAX_PER_REQUEST 65536u

struct rng {
	struct virtq_elem elem;
};

/* Fills up to `max` bytes of the writable buffers; returns bytes written. */
static uint32_t fill_random(const struct virtq_elem *e, uint32_t max)
{
	uint32_t done = 0;
	for (unsigned int i = 0; i < e->in_num && done < max; i++) {
		uint8_t *p = e->in[i].iov_base;
		size_t want = e->in[i].iov_len;
		if (want > max - done)
			want = max - done;
		while (want > 0) {
			ssize_t n = getrandom(p, want, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				log_ratelimited(LOG_LVL_ERROR, "getrandom: %m");
				return done;
			}
			p += n;
			want -= (size_t)n;
			done += (uint32_t)n;
		}
	}
	return done;
}

static void rng_process(struct vub *b, struct vub_vring *vr)
{
	struct rng *rng = b->dev;
	int r;
	while ((r = virtq_pop(&vr->vq, &rng->elem)) > 0) {
		uint32_t len = 0;
		if (rng->elem.out_num)
			log_ratelimited(LOG_LVL_WARN, "rng: request with device-readable buffers");
		else
			len = fill_random(&rng->elem, RNG_MAX_PER_REQUEST);
		b->counters.requests++;
		b->counters.read_bytes += len;
		virtq_push(&vr->vq, rng->elem.head, len);
	}
	if (r < 0)
		vub_vring_error(vr);
	vub_vring_notify(vr);
}

static const struct vub_ops rng_ops = {
	.name = "rng",
	.num_queues = 1,
	.max_queue_size = 1024,
	.process = rng_process,
};

static int rng_start(void *ctx, const struct serve_opts *o, void *dev, struct serve_device *d)
{
	(void)ctx, (void)o, (void)dev;
	d->ops = &rng_ops;
	return 0;
}

static const struct option rng_longopts[] = { SERVE_LONG_OPTIONS, { 0 } };

const struct serve_program serve_program = {
	.process = "cellvm-rng",
	.usage = "usage: cellvm-rng (--socket-path PATH | --fd N) [options]\n"
		 "virtio-rng vhost-user backend fed from getrandom(2).\n\n" SERVE_USAGE,
	.caps_type = "rng",
	.longopts = rng_longopts,
	.start = rng_start,
	.dev_size = sizeof(struct rng),
};
