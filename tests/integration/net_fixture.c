#include "net_fixture.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc };

const char *net_bin(void)
{
	return tfe_bin("device-procs/cellvm-net");
}

void ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	strcpy(ifr->ifr_name, name);
	cr_assert_eq(ioctl(s, req, ifr), 0, "ioctl 0x%lx on %s: %s", req, name, strerror(errno));
	close(s);
}

/* Quiet (no IPv6 chatter), jumbo-capable, up, and watched on ETHERTYPE. */
void tap_bring_up(struct tap *t)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", t->name);
	FILE *p = fopen(path, "w");
	if (p) {
		fputs("1", p);
		fclose(p);
	}
	struct ifreq ifr = { .ifr_mtu = 9000 };
	ifreq_ioctl(t->name, SIOCSIFMTU, &ifr);
	memset(&ifr, 0, sizeof(ifr));
	ifreq_ioctl(t->name, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	ifreq_ioctl(t->name, SIOCSIFFLAGS, &ifr);
	t->ifindex = (int)if_nametoindex(t->name);
	cr_assert_gt(t->ifindex, 0);
	t->pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETHERTYPE));
	cr_assert_geq(t->pkt, 0);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETHERTYPE),
				   .sll_ifindex = t->ifindex };
	cr_assert_eq(bind(t->pkt, (struct sockaddr *)&sll, sizeof(sll)), 0);
}

void tap_name(struct tap *t)
{
	static int seq;
	snprintf(t->name, sizeof(t->name), "cvt%d_%d", (int)getpid() % 10000000, seq++);
}

/* Opens n queues of a fresh tap (IFF_MULTI_QUEUE when multi) into fds. */
static void tap_open_queues(struct tap *t, int *fds, unsigned int n, bool multi)
{
	tap_name(t);
	for (unsigned int i = 0; i < n; i++) {
		fds[i] = open("/dev/net/tun", O_RDWR);
		if (fds[i] < 0)
			cr_skip_test("no /dev/net/tun: %s", strerror(errno));
		struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR |
						  (multi ? IFF_MULTI_QUEUE : 0) };
		strcpy(ifr.ifr_name, t->name);
		if (ioctl(fds[i], TUNSETIFF, &ifr) < 0) {
			int err = errno;
			for (unsigned int j = 0; j <= i; j++)
				close(fds[j]);
			cr_skip_test("cannot create a tap device: %s", strerror(err));
		}
	}
}

int tap_create(struct tap *t)
{
	int fd;
	tap_open_queues(t, &fd, 1, false);
	return fd;
}

void tap_create_mq(struct tap *t, int *fds, unsigned int n)
{
	tap_open_queues(t, fds, n, true);
}

void finish_clean(struct tfe *f, struct tap *t)
{
	close(t->pkt);
	int status = tfe_finish(f);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "backend must exit 0 when the frontend hangs up (status 0x%x)", status);
}

/* An Ethernet frame of len bytes with our ethertype and a payload pattern. */
void make_frame(uint8_t *p, size_t len, const uint8_t *dst, const uint8_t *src,
		       uint8_t seed)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = ETHERTYPE >> 8;
	p[13] = ETHERTYPE & 0xff;
	for (size_t i = 14; i < len; i++)
		p[i] = (uint8_t)(i * 13 + seed);
}

void host_send(struct tap *t, size_t len, uint8_t seed)
{
	uint8_t *frame = malloc(len);
	make_frame(frame, len, guest_mac, peer_mac, seed);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETHERTYPE),
				   .sll_ifindex = t->ifindex, .sll_halen = 6 };
	memcpy(sll.sll_addr, guest_mac, 6);
	cr_assert_eq(sendto(t->pkt, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)),
		     (ssize_t)len, "sendto: %s", strerror(errno));
	free(frame);
}

/* Receives the next frame the interface got from the guest. */
ssize_t host_recv(struct tap *t, uint8_t *buf, size_t len, int timeout_ms)
{
	for (;;) {
		struct pollfd p = { .fd = t->pkt, .events = POLLIN };
		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(t->pkt, buf, len, 0, (struct sockaddr *)&from, &fl);
		cr_assert_geq(n, 0);
		if (from.sll_pkttype != PACKET_OUTGOING)
			return n;
	}
}

int post_rx_q(struct tfe *f, unsigned int q, uint64_t gpa, uint32_t len)
{
	struct tfe_buf b = { gpa, len, true };
	int head = tfe_post(f, q, &b, 1, false);
	cr_assert_geq(head, 0);
	return head;
}

void wait_used(struct tfe *f, unsigned int q, int head, uint32_t want_len)
{
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(f, q, 5000, &id, &len), 0, "queue %u: no used buffer", q);
	cr_assert_eq(id, (uint32_t)head);
	cr_assert_eq(len, want_len);
}

/* Posts hdr + frame as a transmit chain, the header split 5 + 7. */
int post_tx_q(struct tfe *f, unsigned int q, const uint8_t hdr[NET_HDR_SIZE],
	      const uint8_t *frame, uint32_t len)
{
	uint64_t gpa = tfe_alloc(f, NET_HDR_SIZE + len);
	uint8_t *p = tfe_ptr(f, gpa);
	memcpy(p, hdr, NET_HDR_SIZE);
	memcpy(p + NET_HDR_SIZE, frame, len);
	struct tfe_buf b[3] = { { gpa, 5, false }, { gpa + 5, 7, false },
				{ gpa + NET_HDR_SIZE, len, false } };
	int head = tfe_post(f, q, b, 3, false);
	cr_assert_geq(head, 0);
	return head;
}

int run_status(const char *args)
{
	char cmd[4300];
	snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", net_bin(), args);
	int status = system(cmd);
	cr_assert(WIFEXITED(status), "status 0x%x", status);
	return WEXITSTATUS(status);
}
