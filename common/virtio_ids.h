/* Virtio device ids (virtio 1.2 section 5): the one set of names for them.
 * The machine description carries them (common/machine.h), the worker shows
 * them to the guest in the MMIO DeviceID register, and the controller's table
 * of device kinds (controller/device_kind.h) maps each to its backend. */
#ifndef CELLVM_VIRTIO_IDS_H
#define CELLVM_VIRTIO_IDS_H

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_VSOCK 19

#endif
