#include "device_restart.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "thread.h"
#include "worker_ctl.h"

void device_restart_init(struct device_restart *r, struct virtio_mmio *devs, size_t n,
			 int ctl_fd, device_restart_failed_fn failed, void *opaque)
{
	*r = (struct device_restart){ .devs = devs, .n = n, .ctl_fd = ctl_fd, .failed = failed,
				      .opaque = opaque };
}

int device_restart_report(int ctl_fd, const char *name, uint32_t generation, int err)
{
	if (err == -ETIMEDOUT)
		log_err("device %s does not answer its frontend (hung): asking for a restart", name);
	else
		log_err("device %s: backend connection failed (%s): asking for a restart", name,
			strerror(-err));
	return wctl_send(ctl_fd, WCTL_HUNG, generation, name);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void *resume(void *arg)
{
	struct resume_job *j = arg;
	const char *name = j->d->desc->name;
	uint64_t t0 = now_us();
	int err = virtio_mmio_reconnect(j->d, j->fd);
	if (err) {
		char why[WCTL_TEXT_MAX];
		snprintf(why, sizeof(why), "device %s: resuming on its restarted backend: %s", name,
			 strerror(-err));
		j->r->failed(j->r->opaque, why);
		return NULL;
	}
	uint64_t took = now_us() - t0;
	log_info("device %s resumed on its restarted backend in %llu us", name,
		 (unsigned long long)took);
	err = wctl_send(j->r->ctl_fd, WCTL_RESUMED, took > UINT32_MAX ? UINT32_MAX : (uint32_t)took,
			name);
	if (err)
		log_warn("control: RESUMED: %s", strerror(-err));
	return NULL;
}

int device_restart_resume(struct device_restart *r, const char *name, int fd)
{
	size_t i = 0;
	while (i < r->n && strcmp(r->devs[i].desc->name, name))
		i++;
	if (i == r->n) {
		log_warn("control: BACKEND for %s, which is no device here", name);
		close(fd);
		return -ENOENT;
	}
	struct resume_job *j = &r->job[i];
	/* The device died again while it resumed: that resume ends first
	 * (its calls fail at once on a dead process, or time out). */
	if (j->started)
		pthread_join(j->thread, NULL);
	*j = (struct resume_job){ .r = r, .d = &r->devs[i], .fd = fd };
	int err = thread_start(&j->thread, resume, j);
	if (err) {
		log_err("device %s: a thread to resume it: %s", name, strerror(-err));
		close(fd);
		return err;
	}
	j->started = true;
	return 0;
}

void device_restart_join(struct device_restart *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->job[i].started)
			pthread_join(r->job[i].thread, NULL);
		r->job[i].started = false;
	}
}
