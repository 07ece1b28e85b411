#include "net_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"
#include "net_hdr.h"

int net_tap_set_offload(int fd, unsigned int offload)
{
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offload) < 0) {
		int err = -errno;
		log_err("net: TUNSETOFFLOAD 0x%x: %s", offload, strerror(-err));
		return err;
	}
	return 0;
}

int net_tap_set_queue(int fd, bool attached)
{
	struct ifreq ifr = { .ifr_flags = attached ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE };
	if (ioctl(fd, TUNSETQUEUE, &ifr) < 0) {
		int err = -errno;
		log_err("net: TUNSETQUEUE %s: %s", attached ? "attach" : "detach", strerror(-err));
		return err;
	}
	return 0;
}

int net_tap_prepare(int fd, char name[IFNAMSIZ])
{
	struct ifreq ifr = { 0 };
	int hdr = NET_HDR_SIZE;
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		log_err("tap fd %d: not a tap device: %m", fd);
		return -errno;
	}
	if ((ifr.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) !=
	    (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) {
		log_err("tap fd %d: needs IFF_TAP, IFF_NO_PI and IFF_VNET_HDR", fd);
		return -EINVAL;
	}
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	name[IFNAMSIZ - 1] = '\0';
	int fl = fcntl(fd, F_GETFL);
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0ul) < 0 ||
	    fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_err("tap %s: setting it up: %m", name);
		return -errno;
	}
	return 0;
}
