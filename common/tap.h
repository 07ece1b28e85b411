/* Opening a tap device the way cellvm-net serves it: IFF_TAP, IFF_NO_PI and
 * IFF_VNET_HDR. The controller opens taps before it drops privileges and
 * passes the fd down; cellvm-net opens one itself when run on its own. */
#ifndef CELLVM_TAP_H
#define CELLVM_TAP_H

/* The tap named name (created if it does not exist and we may), as a
 * CLOEXEC fd; -EINVAL for a name of IFNAMSIZ bytes or more, else -errno of
 * open("/dev/net/tun") or TUNSETIFF. Logs nothing: the caller knows what the
 * name stands for. */
int tap_open(const char *name);

#endif
