#include "net_hdr.h"

#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "iov.h"


void net_mac_format(const uint8_t mac[NET_MAC_LEN], char out[NET_MAC_STRLEN])
{
	snprintf(out, NET_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}

void net_mac_make_local(uint8_t mac[NET_MAC_LEN])
{
	/* Bit 0 of the first byte: multicast; bit 1: locally administered. */
	mac[0] = (uint8_t)((mac[0] & ~1u) | 2u);
}

const char *net_features_check(uint64_t f)
{
	bool guest_tso = f & (BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) | BIT_ULL(VIRTIO_NET_F_GUEST_TSO6));
	bool host_tso = f & (BIT_ULL(VIRTIO_NET_F_HOST_TSO4) | BIT_ULL(VIRTIO_NET_F_HOST_TSO6));
	if (guest_tso && !(f & BIT_ULL(VIRTIO_NET_F_GUEST_CSUM)))
		return "GUEST_TSO4/6 without GUEST_CSUM";
	if ((f & BIT_ULL(VIRTIO_NET_F_GUEST_ECN)) && !guest_tso)
		return "GUEST_ECN without GUEST_TSO4/6";
	if (host_tso && !(f & BIT_ULL(VIRTIO_NET_F_CSUM)))
		return "HOST_TSO4/6 without CSUM";
	if ((f & BIT_ULL(VIRTIO_NET_F_HOST_ECN)) && !host_tso)
		return "HOST_ECN without HOST_TSO4/6";
	return NULL;
}

unsigned int net_tun_offload(uint64_t f)
{
	/* tap refuses TSO without checksum offload, as the spec does. */
	if (!(f & BIT_ULL(VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	unsigned int t = TUN_F_CSUM;
	if (f & BIT_ULL(VIRTIO_NET_F_GUEST_TSO4))
		t |= TUN_F_TSO4;
	if (f & BIT_ULL(VIRTIO_NET_F_GUEST_TSO6))
		t |= TUN_F_TSO6;
	if ((t & (TUN_F_TSO4 | TUN_F_TSO6)) && (f & BIT_ULL(VIRTIO_NET_F_GUEST_ECN)))
		t |= TUN_F_TSO_ECN;
	return t;
}

int net_hdr_gather(const struct iovec *iov, unsigned int n, struct net_hdr *h)
{
	uint8_t raw[NET_HDR_SIZE];
	uint16_t w[5];
	if (iov_to_buf(iov, n, 0, raw, sizeof(raw)) != sizeof(raw))
		return -EINVAL;
	memcpy(w, raw + 2, sizeof(w));
	h->flags = raw[0];
	h->gso_type = raw[1];
	h->hdr_len = le16toh(w[0]);
	h->gso_size = le16toh(w[1]);
	h->csum_start = le16toh(w[2]);
	h->csum_offset = le16toh(w[3]);
	h->num_buffers = le16toh(w[4]);
	return 0;
}

/* The feature that allows sending a GSO type (without its ECN bit). */
static int gso_feature(uint8_t type)
{
	switch (type) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return VIRTIO_NET_F_HOST_TSO4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return VIRTIO_NET_F_HOST_TSO6;
	default:
		return -1;
	}
}

const char *net_tx_check(const struct iovec *iov, unsigned int n, uint64_t len,
			 uint64_t features)
{
	struct net_hdr h;
	if (len < NET_HDR_SIZE + NET_ETH_HLEN || net_hdr_gather(iov, n, &h) < 0)
		return "shorter than a header and an Ethernet header";
	uint64_t frame = len - NET_HDR_SIZE;
	if (frame > NET_MAX_FRAME)
		return "frame longer than 65550 bytes";
	if (h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return "unknown header flags";
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!(features & BIT_ULL(VIRTIO_NET_F_CSUM)))
			return "checksum offload without VIRTIO_NET_F_CSUM";
		if ((uint64_t)h.csum_start + h.csum_offset + 2 > frame)
			return "checksum field outside the frame";
	}
	uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (h.gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return "ECN bit without a GSO type";
		return NULL;
	}
	int need = gso_feature(gso);
	if (need < 0 || !(features & BIT_ULL(need)))
		return "GSO type not negotiated";
	if ((h.gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(features & BIT_ULL(VIRTIO_NET_F_HOST_ECN)))
		return "GSO with ECN without VIRTIO_NET_F_HOST_ECN";
	if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return "GSO without NEEDS_CSUM";
	if (h.gso_size == 0)
		return "GSO with a segment size of 0";
	return NULL;
}

void net_hdr_set_num_buffers(const struct iovec *iov, unsigned int n, uint16_t num)
{
	uint16_t le = htole16(num);
	iov_from_buf(iov, n, NET_HDR_SIZE - sizeof(le), &le, sizeof(le));
}

void net_config_build(uint8_t out[NET_CONFIG_SIZE], const uint8_t mac[NET_MAC_LEN],
		      uint16_t status, uint16_t pairs)
{
	uint16_t le16;
	uint32_t le32;
	memset(out, 0, NET_CONFIG_SIZE);
	memcpy(out, mac, NET_MAC_LEN);
	le16 = htole16(status);
	memcpy(out + 6, &le16, sizeof(le16));
	le16 = htole16(pairs); /* max_virtqueue_pairs */
	memcpy(out + 8, &le16, sizeof(le16));
	le16 = htole16(1500);
	memcpy(out + 10, &le16, sizeof(le16));
	le32 = htole32(UINT32_MAX); /* SPEED_UNKNOWN */
	memcpy(out + 12, &le32, sizeof(le32));
	out[16] = 0xff; /* DUPLEX_UNKNOWN */
}
