/* Liveness of the device backends while the VM lives. A thread asks each
 * backend GET_FEATURES every BW_INTERVAL_MS and gives it BW_TIMEOUT_MS to
 * answer, so that a device process that hangs (alive, but serving nothing)
 * is found within a second instead of leaving the guest's I/O stuck. The
 * controller sees a device process die by its pidfd; only the frontend can
 * see one stop answering. A backend that fails is reported once through
 * `failed` (from the watch thread), and watched again once its connection
 * is replaced (vhu_fe_reconnect: a restarted process); each failure of it
 * is reported once. */
#ifndef CELLVM_BACKEND_WATCH_H
#define CELLVM_BACKEND_WATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "vhu_frontend.h"

#define BW_INTERVAL_MS 200
#define BW_TIMEOUT_MS 800

/* generation: the fe's when it failed (vhu_frontend.h). */
typedef void (*bw_failed_fn)(void *opaque, const char *name, uint32_t generation, int err);

struct backend_watch {
	struct vhu_fe *fe[MACHINE_MAX_VIRTIO];
	bool reported[MACHINE_MAX_VIRTIO]; /* its failure was reported */
	size_t n;
	bw_failed_fn failed;
	void *opaque;
	int interval_ms, timeout_ms;
	int stop_efd; /* written by backend_watch_stop */
	pthread_t thread;
	bool running;
};

/* Starts watching fe[0..n) (n <= MACHINE_MAX_VIRTIO; n == 0 starts nothing)
 * with the given interval and timeout. Returns 0 or -errno. */
int backend_watch_start(struct backend_watch *bw, struct vhu_fe *const *fe, size_t n,
			int interval_ms, int timeout_ms, bw_failed_fn failed, void *opaque);

/* Ends the watch and joins its thread (a probe in flight finishes first, at
 * most timeout_ms). Safe on a watch never started or already stopped. */
void backend_watch_stop(struct backend_watch *bw);

#endif
