/* fake_vcpu's `blk-io`: the least of a vhost-user frontend and a virtio-blk
 * driver, in the VM's own guest memory (the worker's --mem-fd), for the
 * controller's tests of a device's counters: one queue, one request at a
 * time, each answered within a second. */
#ifndef CELLVM_FAKE_BLK_H
#define CELLVM_FAKE_BLK_H

#include <stddef.h>

/* Sets up queue 0 of the blk backend on sock, then writes `writes` 4 KiB
 * blocks from sector 0 on and reads `reads` back. 0, or -errno with why. */
int fake_blk_io(int sock, int mem_fd, unsigned writes, unsigned reads, char *why, size_t len);

#endif
