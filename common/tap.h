/* Opening a tap device the way cellvm-net serves it: IFF_TAP, IFF_NO_PI and
 * IFF_VNET_HDR, and IFF_MULTI_QUEUE when it serves more than one queue pair
 * (one fd per pair, each a queue of the same tap). The controller opens taps
 * before it drops privileges and passes the fds down; cellvm-net opens them
 * itself when run on its own. */
#ifndef CELLVM_TAP_H
#define CELLVM_TAP_H

#include <stdbool.h>

/* The tap named name (created if it does not exist and we may), as a
 * CLOEXEC fd; with multi_queue one more queue of it (IFF_MULTI_QUEUE: a tap
 * is multi-queue or not for its whole life, so a persistent one must have
 * been made so). -EINVAL for a name of IFNAMSIZ bytes or more, else -errno
 * of open("/dev/net/tun") or TUNSETIFF (-EINVAL there: multi_queue does not
 * match the tap). Logs nothing: the caller knows what the name stands for. */
int tap_open(const char *name, bool multi_queue);

#endif
