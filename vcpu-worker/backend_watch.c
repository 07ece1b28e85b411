#include "backend_watch.h"
#include "thread.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void *watch(void *arg)
{
	struct backend_watch *bw = arg;
	struct pollfd p = { .fd = bw->stop_efd, .events = POLLIN };
	for (;;) {
		int n = poll(&p, 1, bw->interval_ms);
		if (n > 0 || (n < 0 && errno != EINTR))
			return NULL;
		for (size_t i = 0; i < bw->n; i++) {
			/* A broken connection fails at once until it is replaced. */
			int err = vhu_fe_probe(bw->fe[i], bw->timeout_ms);
			if (!err) {
				bw->reported[i] = false;
			} else if (!bw->reported[i]) {
				bw->reported[i] = true;
				bw->failed(bw->opaque, bw->fe[i]->name, bw->fe[i]->generation, err);
			}
		}
	}
}

int backend_watch_start(struct backend_watch *bw, struct vhu_fe *const *fe, size_t n,
			int interval_ms, int timeout_ms, bw_failed_fn failed, void *opaque)
{
	*bw = (struct backend_watch){ .n = n, .failed = failed, .opaque = opaque,
				      .interval_ms = interval_ms, .timeout_ms = timeout_ms,
				      .stop_efd = -1 };
	if (n > MACHINE_MAX_VIRTIO)
		return -EINVAL;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		bw->fe[i] = fe[i];
	if ((bw->stop_efd = eventfd(0, EFD_CLOEXEC)) < 0)
		return -errno;
	int err = thread_start(&bw->thread, watch, bw);
	if (err) {
		close(bw->stop_efd);
		bw->stop_efd = -1;
		return err;
	}
	bw->running = true;
	return 0;
}

void backend_watch_stop(struct backend_watch *bw)
{
	if (!bw->running)
		return;
	uint64_t one = 1;
	/* Adding 1 to an eventfd read by nobody cannot overflow it. */
	while (write(bw->stop_efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(bw->thread, NULL);
	close(bw->stop_efd);
	bw->stop_efd = -1;
	bw->running = false;
}
