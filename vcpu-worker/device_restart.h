/* The worker's part in restarting a device process (cellvmd decides and
 * restarts, common/worker_ctl.h): a backend the watch finds failing is
 * reported (HUNG) rather than ending the VM, and the new process's socket
 * that cellvmd then sends (BACKEND) is where the device resumes
 * (virtio_mmio_reconnect), which cellvmd hears (RESUMED, with the time it
 * took). The resume runs on a thread of its own, one per device at a time:
 * it waits for the new process to start and answer, while the event loop
 * goes on serving the other devices, the serial port and cellvmd. Without
 * a control channel there is nobody to restart a device: its failure ends
 * the VM, as the caller decides. */
#ifndef CELLVM_DEVICE_RESTART_H
#define CELLVM_DEVICE_RESTART_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "virtio_mmio.h"

/* A resume that failed: why, for the VM's end (from the resume's thread). */
typedef void (*device_restart_failed_fn)(void *opaque, const char *why);

struct device_restart {
	struct virtio_mmio *devs;
	size_t n;
	int ctl_fd;
	device_restart_failed_fn failed;
	void *opaque;
	struct resume_job {
		struct device_restart *r;
		struct virtio_mmio *d;
		int fd;
		pthread_t thread;
		bool started; /* a thread to join */
	} job[MACHINE_MAX_VIRTIO];
};

void device_restart_init(struct device_restart *r, struct virtio_mmio *devs, size_t n,
			 int ctl_fd, device_restart_failed_fn failed, void *opaque);

/* Tells cellvmd (ctl_fd) that the backend of device name failed with err
 * (-ETIMEDOUT: it hangs) after generation restarts. 0 or -errno. */
int device_restart_report(int ctl_fd, const char *name, uint32_t generation, int err);

/* Resumes the device named name on the new backend socket fd (taken), on
 * its thread (after the device's previous resume has ended), which sends
 * RESUMED or calls failed. 0, or -errno (logged) if no resume started: no
 * such device, no thread. */
int device_restart_resume(struct device_restart *r, const char *name, int fd);

/* Waits for every resume's thread (before the devices are destroyed). */
void device_restart_join(struct device_restart *r);

#endif
