/* For fuzz_dev_net: a stand-in for device-procs/net_tap.c, so cellvm-net
 * runs on a SOCK_SEQPACKET socket (one packet per read and write, as on a
 * tap) that the harness holds the other end of. The offloads the device
 * asks for are kept for the harness to check against. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>

#include "fake_net_tap.h"
#include "log.h"
#include "net_tap.h"

unsigned int fake_tap_offload;

int net_tap_prepare(int fd, char name[IFNAMSIZ])
{
	int type;
	socklen_t len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
		log_err("fake tap fd %d: not a packet socket", fd);
		return -EINVAL;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	strcpy(name, "fuzztap");
	fake_tap_offload = 0;
	return 0;
}

int net_tap_set_queue(int fd, bool attached)
{
	(void)fd;
	(void)attached;
	return 0;
}

int net_tap_set_offload(int fd, unsigned int offload)
{
	(void)fd;
	fake_tap_offload = offload;
	return 0;
}
