/* mq-tap: makes the persistent multi-queue tap a multi-queue net device
 * needs, for the e2e scenario `boot` (busybox's tunctl cannot: it makes
 * single-queue taps, which IFF_MULTI_QUEUE cannot open).
 *
 *   mq-tap NAME
 *
 * Like `ip tuntap add NAME mode tap multi_queue vnet_hdr`: anyone may open
 * it (no owner set), and it stays until deleted. */
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tap.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mq-tap NAME\n");
		return 2;
	}
	int fd = tap_open(argv[1], true);
	if (fd < 0) {
		fprintf(stderr, "mq-tap: %s: %s\n", argv[1], strerror(-fd));
		return 1;
	}
	if (ioctl(fd, TUNSETPERSIST, 1ul) < 0) {
		perror("mq-tap: TUNSETPERSIST");
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}
