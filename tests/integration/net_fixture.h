/* What test_net and test_net_mq share: cellvm-net's binary, a tap device
 * the test creates (one queue, or several of a multi-queue tap: the fds
 * are inheritable, for the backend) and watches with an AF_PACKET socket
 * bound to ETHERTYPE, and frames of that type sent and received on the
 * host side. Every helper asserts (criterion); creating a tap skips the
 * test where tap is not available. */
#ifndef CELLVM_TESTS_NET_FIXTURE_H
#define CELLVM_TESTS_NET_FIXTURE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net_hdr.h"
#include "tfe.h"

#define ETHERTYPE 0x88b5 /* local experimental: nothing else uses it */

extern const uint8_t guest_mac[6];
extern const uint8_t peer_mac[6];

struct tap {
	char name[IFNAMSIZ];
	int ifindex;
	int pkt; /* AF_PACKET socket bound to the interface, ETHERTYPE only */
};

const char *net_bin(void);

/* Gives t a fresh interface name (nothing created). */
void tap_name(struct tap *t);
/* An SIOC* ioctl on interface name. */
void ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr);

/* A fresh tap of one queue, named in t: its fd. */
int tap_create(struct tap *t);
/* A fresh multi-queue tap named in t: n queues' fds. */
void tap_create_mq(struct tap *t, int *fds, unsigned int n);

/* Quiet (no IPv6 chatter), jumbo-capable, up, and watched on ETHERTYPE. */
void tap_bring_up(struct tap *t);

/* An Ethernet frame of len bytes with our ethertype and a payload pattern. */
void make_frame(uint8_t *p, size_t len, const uint8_t *dst, const uint8_t *src, uint8_t seed);
/* Sends such a frame (peer to guest) into the interface. */
void host_send(struct tap *t, size_t len, uint8_t seed);
/* Receives the next frame the interface got from the guest; -ETIMEDOUT. */
ssize_t host_recv(struct tap *t, uint8_t *buf, size_t len, int timeout_ms);

/* Posts one writable buffer on receive queue q: its head. */
int post_rx_q(struct tfe *f, unsigned int q, uint64_t gpa, uint32_t len);
/* Posts hdr + frame as a transmit chain on queue q, the header split 5 + 7. */
int post_tx_q(struct tfe *f, unsigned int q, const uint8_t hdr[NET_HDR_SIZE],
	      const uint8_t *frame, uint32_t len);
/* Waits (5 s) for queue q to use chain head with want_len bytes. */
void wait_used(struct tfe *f, unsigned int q, int head, uint32_t want_len);

/* cellvm-net run with args through the shell, stderr dropped: its exit status. */
int run_status(const char *args);

/* Closes the socket; the backend must exit 0 on the frontend's hang-up. */
void finish_clean(struct tfe *f, struct tap *t);

#endif
