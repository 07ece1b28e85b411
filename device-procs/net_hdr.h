/* virtio-net (virtio 1.2 section 5.1): the per-packet header, feature
 * dependencies, MAC addresses and config space as pure functions over bytes
 * and iovecs. Nothing here does I/O, so every check of guest input can be
 * unit-tested on its own; device-procs/net.c moves what passes.
 *
 * With VIRTIO_F_VERSION_1 the header is always 12 bytes {u8 flags, u8
 * gso_type, le16 hdr_len, le16 gso_size, le16 csum_start, le16 csum_offset,
 * le16 num_buffers}, the same layout tap uses with TUNSETVNETHDRSZ 12, so a
 * frame passes between guest and tap with its header unchanged. The guest may
 * split the header across descriptors, so nothing assumes one part per iovec. */
#ifndef CELLVM_NET_HDR_H
#define CELLVM_NET_HDR_H

#include <stdint.h>
#include <sys/uio.h>

#define NET_HDR_SIZE 12u
#define NET_ETH_HLEN 14u
/* The largest frame either way: a 64 KiB GSO packet plus link headers. */
#define NET_MAX_FRAME 65550u
#define NET_MAC_LEN 6u
#define NET_MAC_STRLEN 18u /* "52:54:00:12:34:56" and its NUL */
#define NET_CONFIG_SIZE 24u
/* Queue pairs at most: two vhost-user rings each (VUB_MAX_QUEUES). */
#define NET_MAX_PAIRS 8u

/* Feature bits (section 5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
/* CTRL_VQ and MQ: common/net_ctrl.h. */

#define VIRTIO_NET_S_LINK_UP 1u

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1u
#define VIRTIO_NET_HDR_GSO_NONE 0u
#define VIRTIO_NET_HDR_GSO_TCPV4 1u
#define VIRTIO_NET_HDR_GSO_TCPV6 4u
#define VIRTIO_NET_HDR_GSO_ECN 0x80u

/* A header in host byte order. */
struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

/* Formats mac as lowercase "52:54:00:12:34:56". */
void net_mac_format(const uint8_t mac[NET_MAC_LEN], char out[NET_MAC_STRLEN]);

/* Turns random bytes into a locally administered unicast address. */
void net_mac_make_local(uint8_t mac[NET_MAC_LEN]);

/* NULL if the driver's features respect the spec's dependencies (section
 * 5.1.3.1: guest TSO needs GUEST_CSUM, host TSO needs CSUM, ECN needs TSO);
 * otherwise which one is broken. */
const char *net_features_check(uint64_t features);

/* The TUN_F_* offloads that match what the driver accepted: the kinds of
 * packet tap may hand to the guest. */
unsigned int net_tun_offload(uint64_t features);

/* Reads the header at the start of the iovecs; -EINVAL if they hold fewer
 * than NET_HDR_SIZE bytes. */
int net_hdr_gather(const struct iovec *iov, unsigned int n, struct net_hdr *h);

/* Checks a transmit chain's readable bytes (len of them: header + frame)
 * against the negotiated features: NULL if tap may have it, otherwise why
 * not. Refuses a chain shorter than a header and an Ethernet header, a frame
 * over NET_MAX_FRAME, unknown flags, a checksum request without CSUM or
 * outside the frame, a GSO type that was not negotiated or lacks NEEDS_CSUM
 * or a segment size. */
const char *net_tx_check(const struct iovec *iov, unsigned int n, uint64_t len,
			 uint64_t features);

/* Writes num_buffers into the header at the start of the iovecs (which hold
 * at least NET_HDR_SIZE bytes). */
void net_hdr_set_num_buffers(const struct iovec *iov, unsigned int n, uint16_t num);

/* Builds struct virtio_net_config (section 5.1.4), little-endian: mac@0,
 * status@6, max_virtqueue_pairs@8 (pairs), mtu@10 (1500), speed@12 and
 * duplex@16 (unknown), RSS fields@17 (none). */
void net_config_build(uint8_t out[NET_CONFIG_SIZE], const uint8_t mac[NET_MAC_LEN],
		      uint16_t status, uint16_t pairs);

#endif
