/* The worker's part in restarting a device process (cellvmd decides and
 * restarts, common/worker_ctl.h): a backend the watch finds failing is
 * reported (HUNG) rather than ending the VM, and the new process's socket
 * that cellvmd then sends (BACKEND) is where the device resumes
 * (virtio_mmio_reconnect), which cellvmd hears (RESUMED, with the time it
 * took). Without a control channel there is nobody to restart a device:
 * its failure ends the VM, as the caller decides. */
#ifndef CELLVM_DEVICE_RESTART_H
#define CELLVM_DEVICE_RESTART_H

#include <stddef.h>

#include "virtio_mmio.h"

/* Tells cellvmd (ctl_fd) that the backend of device name failed with err
 * (-ETIMEDOUT: it hangs) after generation restarts. 0 or -errno. */
int device_restart_report(int ctl_fd, const char *name, uint32_t generation, int err);

/* Resumes the device named name of devs[0..n) on the new backend socket fd
 * (taken) and sends RESUMED. 0, or -errno with why (for EXIT) filled. */
int device_restart_resume(struct virtio_mmio *devs, size_t n, int ctl_fd, const char *name,
			  int fd, char *why, size_t whylen);

#endif
