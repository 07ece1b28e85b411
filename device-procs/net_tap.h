/* cellvm-net's hold on its tap: the ioctls that put a tap fd in the mode
 * the device needs and change the offloads it may use. Kept apart from
 * net.c so that a test can link a stand-in tap (a packet socket) instead. */
#ifndef CELLVM_NET_TAP_H
#define CELLVM_NET_TAP_H

#include <net/if.h>
#include <stdbool.h>

/* Checks that fd is a tap with IFF_TAP, IFF_NO_PI and IFF_VNET_HDR and puts
 * it in the device's mode: NET_HDR_SIZE headers, no offloads yet,
 * non-blocking, close-on-exec. Its name goes to name. 0 or -errno, logged. */
int net_tap_prepare(int fd, char name[IFNAMSIZ]);

/* Lets tap hand the guest packets with the TUN_F_* offloads given. 0 or
 * -errno, logged. */
int net_tap_set_offload(int fd, unsigned int offload);

/* Attaches (or detaches) fd's queue of a multi-queue tap (TUNSETQUEUE): the
 * kernel steers received flows only to attached queues. 0 or -errno,
 * logged. */
int net_tap_set_queue(int fd, bool attached);

#endif
