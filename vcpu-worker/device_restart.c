#include "device_restart.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "worker_ctl.h"

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

int device_restart_resume(struct virtio_mmio *devs, size_t n, int ctl_fd, const char *name,
			  int fd, char *why, size_t whylen)
{
	struct virtio_mmio *d = NULL;
	for (size_t i = 0; i < n && !d; i++)
		if (strcmp(devs[i].desc->name, name) == 0)
			d = &devs[i];
	if (!d) {
		close(fd);
		snprintf(why, whylen, "cellvmd restarted %s, which is no device here", name);
		return -ENOENT;
	}
	uint64_t t0 = now_us();
	int err = virtio_mmio_reconnect(d, fd);
	if (err) {
		snprintf(why, whylen, "device %s: resuming on its restarted backend: %s", name,
			 strerror(-err));
		return err;
	}
	uint64_t took = now_us() - t0;
	log_info("device %s resumed on its restarted backend in %llu us", name,
		 (unsigned long long)took);
	err = wctl_send(ctl_fd, WCTL_RESUMED, took > UINT32_MAX ? UINT32_MAX : (uint32_t)took,
			name);
	if (err)
		log_warn("control: RESUMED: %s", strerror(-err));
	return 0;
}
