/* UpdateBlockDevice's checks in cellvmd (docs/rpc.md): which process serves
 * the disk a tenant names, and the new image, opened as Create opens disks
 * (through the gate: the operator's --allow-dir, no symlink, a regular
 * file; read-only when the disk is) and locked the same way. The restart
 * that makes the device serve it is supervise_swap()'s. */
#ifndef CELLVM_DRIVE_SWAP_H
#define CELLVM_DRIVE_SWAP_H

#include <stddef.h>

#include "config.h"
#include "gate.h"
#include "vm.h"

/* 0 with *c the device process serving disk `device` of cfg (a
 * cellvm-blk cellvm started, which can be restarted) and *fd the image at
 * path, opened and locked; else a GuestError with one line in err and
 * nothing open: DEVICE_NOT_PRESENT (no such disk), BAD_CONFIG (an external
 * backend's disk, a path the gate refuses or cannot open, an image in use),
 * INTERNAL_ERROR (the disk's process cannot be restarted). */
int drive_swap_open(struct vm *vm, const struct vm_config *cfg, const struct gate *gate,
		    const char *device, const char *path, struct vm_child **c, int *fd,
		    char *err, size_t errlen);

#endif
