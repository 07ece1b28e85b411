/* libFuzzer harness: cellvm-net's receive and transmit paths
 * (device-procs/net.c, net_hdr.c) with its real ops and options, driven as
 * a guest and its frontend would (tests/fuzz/dev_drive.h says how an input
 * reads and what is checked). Its tap is a packet socketpair
 * (fake_net_tap.c): HOST records are packets tap gives (virtio-net header
 * and frame), and every packet the device writes to tap is checked here on
 * its own terms: a header and an Ethernet header at least, a frame of at
 * most 65550 bytes, only the header flags, checksum request and GSO type
 * the driver negotiated, and exactly the readable bytes of a transmit chain
 * the device used, in order. The offloads the device lets tap use must be
 * ones the driver accepted.
 *
 * Boundary: guest (rings, frames) and tap -> cellvm-net, its real code
 * Links: tests/fuzz/dev_drive.c tests/fuzz/fake_net_tap.c device-procs/net.c
 *   device-procs/net_hdr.c device-procs/backend.c device-procs/backend_inflight.c
 *   device-procs/serve.c tests/fuzz/confine_stub.c common/vhost_user.c common/msg.c
 *   common/guest_mem.c common/virtq.c common/vhu_inflight.c common/event_loop.c common/log.c
 *   common/fds.c common/cli.c common/unix_sock.c common/iov.c common/tap.c
 *   device-procs/throttle.c common/rate_limiter.c common/rate_limit_arg.c common/dev_ctl.c */
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "dev_drive.h"
#include "fake_net_tap.h"
#include "net_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TXQ 1u
#define MAX_SENT 64u

static int tap_peer = -1;
/* The readable bytes of transmit chains used since the last check. */
static uint8_t *sent[MAX_SENT];
static size_t sent_len[MAX_SENT], nsent, next_sent;
static uint8_t pkt[NET_HDR_SIZE + NET_MAX_FRAME + 16];

#define FAIL(...) (fprintf(stderr, "fuzz_dev_net: " __VA_ARGS__), fputc('\n', stderr), abort())

static void net_used(struct dd *d, unsigned int q, const struct dd_chain *c, uint32_t len)
{
	(void)len;
	if (q != TXQ || nsent == MAX_SENT)
		return;
	size_t n = 0;
	for (unsigned int i = 0; i < c->nseg; i++)
		if (!c->seg[i].w)
			n += c->seg[i].len;
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		abort();
	n = 0;
	for (unsigned int i = 0; i < c->nseg; i++)
		if (!c->seg[i].w) {
			dd_read(d, c->seg[i].gpa, p + n, c->seg[i].len);
			n += c->seg[i].len;
		}
	sent[nsent] = p;
	sent_len[nsent++] = n;
}

static bool has(const struct dd *d, unsigned int bit)
{
	return d->b.features & BIT_ULL(bit);
}

/* A packet on tap, checked without net_hdr.c's help. */
static void check_frame(const struct dd *d, const uint8_t *p, size_t n)
{
	if (n < NET_HDR_SIZE + NET_ETH_HLEN || n > NET_HDR_SIZE + NET_MAX_FRAME)
		FAIL("%zu-byte packet on tap", n);
	size_t frame = n - NET_HDR_SIZE;
	uint8_t flags = p[0], gso = p[1];
	uint16_t gso_size = get_le16(p + 4), start = get_le16(p + 6), off = get_le16(p + 8);
	if (flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		FAIL("header flags 0x%x on tap", flags);
	if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (!has(d, VIRTIO_NET_F_CSUM) || (size_t)start + off + 2 > frame))
		FAIL("checksum request %u+%u in a %zu-byte frame", start, off, frame);
	bool ecn = gso & VIRTIO_NET_HDR_GSO_ECN;
	switch (gso & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (ecn)
			FAIL("ECN without GSO on tap");
		return;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!has(d, VIRTIO_NET_F_HOST_TSO4))
			FAIL("TSO4 not negotiated");
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!has(d, VIRTIO_NET_F_HOST_TSO6))
			FAIL("TSO6 not negotiated");
		break;
	default:
		FAIL("GSO type 0x%x on tap", gso);
	}
	if ((ecn && !has(d, VIRTIO_NET_F_HOST_ECN)) || !(flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
	    !gso_size)
		FAIL("GSO packet without ECN, NEEDS_CSUM or a segment size on tap");
}

static void net_check(struct dd *d)
{
	ssize_t n;
	while ((n = recv(tap_peer, pkt, sizeof(pkt), MSG_DONTWAIT)) >= 0) {
		check_frame(d, pkt, (size_t)n);
		if (d->loose) /* the chains may not be what the driver made */
			continue;
		while (next_sent < nsent &&
		       (sent_len[next_sent] != (size_t)n || memcmp(sent[next_sent], pkt, n)))
			next_sent++;
		if (next_sent == nsent)
			FAIL("a %zd-byte packet on tap that no transmit chain held", n);
		next_sent++;
	}
	for (size_t i = 0; i < nsent; i++)
		free(sent[i]);
	nsent = next_sent = 0;
	unsigned int o = fake_tap_offload;
	if (((o & TUN_F_CSUM) && !has(d, VIRTIO_NET_F_GUEST_CSUM)) ||
	    ((o & TUN_F_TSO4) && !has(d, VIRTIO_NET_F_GUEST_TSO4)) ||
	    ((o & TUN_F_TSO6) && !has(d, VIRTIO_NET_F_GUEST_TSO6)) ||
	    ((o & TUN_F_TSO_ECN) && !has(d, VIRTIO_NET_F_GUEST_ECN)))
		FAIL("tap offloads 0x%x beyond the driver's features", o);
}

static void net_feed(struct dd *d, const uint8_t *p, size_t n)
{
	(void)d;
	/* A full tap queue drops the packet, as tap would. */
	ssize_t r = send(tap_peer, p, n, MSG_DONTWAIT);
	(void)r;
}

/* A tap never reads as end-of-file, but a tap fd that did must stop being
 * read rather than spin (the driver's busy-loop bound catches that). The
 * peer still takes what the device sends. */
static void net_close(struct dd *d)
{
	(void)d;
	if (shutdown(tap_peer, SHUT_WR) < 0)
		abort();
}

static const struct dd_hooks net_hooks = {
	.host_feed = net_feed, .host_close = net_close, .used = net_used, .check = net_check,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	char fd[16];
	snprintf(fd, sizeof(fd), "%d", sv[0]);
	const char *const argv[] = { "--tap-fd", fd, "--mac", "52:54:00:12:34:56" };
	struct dd d;
	tap_peer = sv[1];
	dd_start(&d, &serve_program, 4, argv);
	dd_run(&d, &net_hooks, data, size);
	dd_stop(&d);
	close(tap_peer);
	tap_peer = -1;
	return 0;
}
