#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <string.h>

#include "bytes.h"
#include "net_hdr.h"
#include "cli.h"


/* ---------------------------------------------------------------- MAC */

Test(net_mac, parses_lower_and_upper_case)
{
	uint8_t mac[6];
	static const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	cr_assert_eq(cli_parse_mac("52:54:00:ab:cd:ef", mac), 0);
	cr_assert_arr_eq(mac, want, 6);
	cr_assert_eq(cli_parse_mac("52:54:00:AB:Cd:eF", mac), 0);
	cr_assert_arr_eq(mac, want, 6);
}

Test(net_mac, refuses_bad_forms)
{
	static const char *const bad[] = {
		"",
		"52:54:00:12:34",          /* five bytes */
		"52:54:00:12:34:56:78",    /* seven */
		"52:54:00:12:34:5",        /* short last byte */
		"52:54:00:12:34:567",      /* long last byte */
		"5:54:00:12:34:567",       /* one digit moved */
		"52-54-00-12-34-56",       /* other separator */
		"52:54:00:12:34:56 ",      /* trailing space */
		" 52:54:00:12:34:5",       /* leading space */
		"52:54:00:12:34:5g",       /* not hex */
		"525400123456",            /* no separators */
		"52:54:00:12:34::6",
		"52:54:00:12:3456:",
		"+2:54:00:12:34:56",
	};
	uint8_t mac[6] = { 1, 2, 3, 4, 5, 6 };
	static const uint8_t untouched[6] = { 1, 2, 3, 4, 5, 6 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(cli_parse_mac(bad[i], mac), -EINVAL, "accepted \"%s\"", bad[i]);
		cr_assert_arr_eq(mac, untouched, 6, "\"%s\" wrote the output", bad[i]);
	}
}

Test(net_mac, refuses_multicast_broadcast_and_zero)
{
	uint8_t mac[6];
	cr_assert_eq(cli_parse_mac("01:00:5e:00:00:01", mac), -EINVAL);
	cr_assert_eq(cli_parse_mac("53:54:00:12:34:56", mac), -EINVAL);
	cr_assert_eq(cli_parse_mac("ff:ff:ff:ff:ff:ff", mac), -EINVAL);
	cr_assert_eq(cli_parse_mac("00:00:00:00:00:00", mac), -EINVAL);
	/* Locally administered unicast is fine. */
	cr_assert_eq(cli_parse_mac("02:00:00:00:00:01", mac), 0);
}

Test(net_mac, format_round_trips)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x0a, 0xbc, 0xff };
	char s[NET_MAC_STRLEN];
	uint8_t back[6];
	net_mac_format(mac, s);
	cr_assert_str_eq(s, "52:54:00:0a:bc:ff");
	cr_assert_eq(cli_parse_mac(s, back), 0);
	cr_assert_arr_eq(back, mac, 6);
}

Test(net_mac, make_local_gives_local_unicast)
{
	for (unsigned int b = 0; b < 256; b++) {
		uint8_t mac[6] = { (uint8_t)b, 0xff, 0xff, 0xff, 0xff, 0xff };
		net_mac_make_local(mac);
		cr_assert_eq(mac[0] & 1, 0, "multicast from 0x%02x", b);
		cr_assert_eq(mac[0] & 2, 2, "not local from 0x%02x", b);
		cr_assert_eq(mac[0] & 0xfc, b & 0xfc);
		cr_assert_eq(mac[5], 0xff);
	}
}

/* ---------------------------------------------------------------- features */

Test(net_features, dependencies)
{
	cr_assert_null(net_features_check(0));
	cr_assert_null(net_features_check(BIT_ULL(VIRTIO_NET_F_GUEST_CSUM) |
					  BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) |
					  BIT_ULL(VIRTIO_NET_F_GUEST_ECN)));
	cr_assert_null(net_features_check(BIT_ULL(VIRTIO_NET_F_CSUM) |
					  BIT_ULL(VIRTIO_NET_F_HOST_TSO6) |
					  BIT_ULL(VIRTIO_NET_F_HOST_ECN)));
	cr_assert_not_null(net_features_check(BIT_ULL(VIRTIO_NET_F_GUEST_TSO4)));
	cr_assert_not_null(net_features_check(BIT_ULL(VIRTIO_NET_F_GUEST_TSO6)));
	cr_assert_not_null(net_features_check(BIT_ULL(VIRTIO_NET_F_GUEST_CSUM) |
					      BIT_ULL(VIRTIO_NET_F_GUEST_ECN)));
	cr_assert_not_null(net_features_check(BIT_ULL(VIRTIO_NET_F_HOST_TSO4)));
	cr_assert_not_null(net_features_check(BIT_ULL(VIRTIO_NET_F_CSUM) |
					      BIT_ULL(VIRTIO_NET_F_HOST_ECN)));
}

Test(net_features, tun_offload_mapping)
{
	uint64_t csum = BIT_ULL(VIRTIO_NET_F_GUEST_CSUM);
	cr_assert_eq(net_tun_offload(0), 0u);
	cr_assert_eq(net_tun_offload(csum), (unsigned)TUN_F_CSUM);
	cr_assert_eq(net_tun_offload(csum | BIT_ULL(VIRTIO_NET_F_GUEST_TSO4)),
		     (unsigned)(TUN_F_CSUM | TUN_F_TSO4));
	cr_assert_eq(net_tun_offload(csum | BIT_ULL(VIRTIO_NET_F_GUEST_TSO6)),
		     (unsigned)(TUN_F_CSUM | TUN_F_TSO6));
	cr_assert_eq(net_tun_offload(csum | BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) |
				     BIT_ULL(VIRTIO_NET_F_GUEST_TSO6) |
				     BIT_ULL(VIRTIO_NET_F_GUEST_ECN)),
		     (unsigned)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN));
	/* Host-side (guest transmit) features do not change what tap sends. */
	cr_assert_eq(net_tun_offload(BIT_ULL(VIRTIO_NET_F_CSUM) | BIT_ULL(VIRTIO_NET_F_HOST_TSO4) |
				     BIT_ULL(VIRTIO_NET_F_MRG_RXBUF)),
		     0u);
	/* TSO without checksum offload, or ECN without TSO, gives nothing extra. */
	cr_assert_eq(net_tun_offload(BIT_ULL(VIRTIO_NET_F_GUEST_TSO4)), 0u);
	cr_assert_eq(net_tun_offload(csum | BIT_ULL(VIRTIO_NET_F_GUEST_ECN)), (unsigned)TUN_F_CSUM);
}

/* ---------------------------------------------------------------- headers */

static void put_hdr(uint8_t *p, uint8_t flags, uint8_t gso, uint16_t gso_size,
		    uint16_t csum_start, uint16_t csum_offset)
{
	uint16_t w[5] = { htole16(54), htole16(gso_size), htole16(csum_start),
			  htole16(csum_offset), htole16(0) };
	p[0] = flags;
	p[1] = gso;
	memcpy(p + 2, w, sizeof(w));
}

/* A packet of `frame` bytes after the header, in one iovec. */
struct pkt {
	uint8_t b[NET_HDR_SIZE + 1600];
	struct iovec iov;
};

static void pkt_init(struct pkt *p, uint32_t frame)
{
	memset(p->b, 0, sizeof(p->b));
	p->iov = (struct iovec){ p->b, NET_HDR_SIZE + frame };
}

#define ALL_TX (BIT_ULL(VIRTIO_NET_F_CSUM) | BIT_ULL(VIRTIO_NET_F_HOST_TSO4) | \
		BIT_ULL(VIRTIO_NET_F_HOST_TSO6) | BIT_ULL(VIRTIO_NET_F_HOST_ECN))

Test(net_hdr, gather_across_iovecs)
{
	uint8_t raw[NET_HDR_SIZE];
	put_hdr(raw, 1, 0x81, 1448, 34, 16);
	raw[10] = 3;
	raw[11] = 1;
	/* Split 1 + 4 + 0 + 7 bytes. */
	struct iovec iov[4] = { { raw, 1 }, { raw + 1, 4 }, { raw + 5, 0 }, { raw + 5, 7 } };
	struct net_hdr h;
	cr_assert_eq(net_hdr_gather(iov, 4, &h), 0);
	cr_assert_eq(h.flags, 1);
	cr_assert_eq(h.gso_type, 0x81);
	cr_assert_eq(h.hdr_len, 54);
	cr_assert_eq(h.gso_size, 1448);
	cr_assert_eq(h.csum_start, 34);
	cr_assert_eq(h.csum_offset, 16);
	cr_assert_eq(h.num_buffers, 0x103);
}

Test(net_hdr, gather_too_short)
{
	uint8_t raw[NET_HDR_SIZE] = { 0 };
	struct iovec iov[2] = { { raw, 5 }, { raw + 5, 6 } };
	struct net_hdr h;
	cr_assert_eq(net_hdr_gather(iov, 2, &h), -EINVAL);
	cr_assert_eq(net_hdr_gather(iov, 0, &h), -EINVAL);
}

Test(net_hdr, tx_plain_frame_ok)
{
	struct pkt p;
	pkt_init(&p, 60);
	cr_assert_null(net_tx_check(&p.iov, 1, p.iov.iov_len, 0));
	/* The smallest: an Ethernet header. */
	pkt_init(&p, NET_ETH_HLEN);
	cr_assert_null(net_tx_check(&p.iov, 1, p.iov.iov_len, 0));
}

Test(net_hdr, tx_too_short)
{
	struct pkt p;
	pkt_init(&p, NET_ETH_HLEN - 1);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, 0));
	pkt_init(&p, 0);
	p.iov.iov_len = NET_HDR_SIZE - 1;
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, 0));
	/* A len claiming more than the iovecs hold. */
	pkt_init(&p, 0);
	p.iov.iov_len = 6;
	cr_assert_not_null(net_tx_check(&p.iov, 1, 100, 0));
}

Test(net_hdr, tx_header_split_across_iovecs)
{
	struct pkt p;
	pkt_init(&p, 100);
	put_hdr(p.b, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34, 16);
	struct iovec iov[3] = { { p.b, 3 }, { p.b + 3, 8 }, { p.b + 11, 101 } };
	cr_assert_null(net_tx_check(iov, 3, 112, ALL_TX));
	/* The same split, but the GSO type not negotiated: the gathered header
	 * is what was checked. */
	cr_assert_not_null(net_tx_check(iov, 3, 112, BIT_ULL(VIRTIO_NET_F_CSUM)));
}

Test(net_hdr, tx_frame_too_long)
{
	static uint8_t big[NET_HDR_SIZE + NET_MAX_FRAME + 1];
	struct iovec iov = { big, NET_HDR_SIZE + NET_MAX_FRAME };
	cr_assert_null(net_tx_check(&iov, 1, iov.iov_len, 0));
	iov.iov_len++;
	cr_assert_not_null(net_tx_check(&iov, 1, iov.iov_len, 0));
}

Test(net_hdr, tx_flags)
{
	struct pkt p;
	pkt_init(&p, 100);
	put_hdr(p.b, 2 /* DATA_VALID: receive only */, 0, 0, 0, 0);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
	put_hdr(p.b, 4, 0, 0, 0, 0);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
}

Test(net_hdr, tx_checksum_request)
{
	struct pkt p;
	pkt_init(&p, 100);
	put_hdr(p.b, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 34, 16);
	cr_assert_null(net_tx_check(&p.iov, 1, p.iov.iov_len, BIT_ULL(VIRTIO_NET_F_CSUM)));
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, 0), "CSUM not negotiated");
	/* The 2-byte checksum field must lie inside the frame: 98 + 2 = 100 ok. */
	put_hdr(p.b, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 90, 8);
	cr_assert_null(net_tx_check(&p.iov, 1, p.iov.iov_len, BIT_ULL(VIRTIO_NET_F_CSUM)));
	put_hdr(p.b, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 90, 9);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, BIT_ULL(VIRTIO_NET_F_CSUM)));
	put_hdr(p.b, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0xffff, 0xffff);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, BIT_ULL(VIRTIO_NET_F_CSUM)));
}

Test(net_hdr, tx_gso)
{
	struct pkt p;
	pkt_init(&p, 1500);
	uint8_t csum = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	put_hdr(p.b, csum, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34, 16);
	cr_assert_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len,
					BIT_ULL(VIRTIO_NET_F_CSUM) |
						BIT_ULL(VIRTIO_NET_F_HOST_TSO6)));
	put_hdr(p.b, csum, VIRTIO_NET_HDR_GSO_TCPV6, 1428, 54, 16);
	cr_assert_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len,
					BIT_ULL(VIRTIO_NET_F_CSUM) |
						BIT_ULL(VIRTIO_NET_F_HOST_TSO4)));
	/* ECN needs HOST_ECN. */
	put_hdr(p.b, csum, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448, 34, 16);
	cr_assert_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len,
					ALL_TX & ~BIT_ULL(VIRTIO_NET_F_HOST_ECN)));
	/* ECN alone is not a GSO type. */
	put_hdr(p.b, 0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
	/* UFO (3) and unknown types are never accepted. */
	put_hdr(p.b, csum, 3, 1448, 34, 6);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
	put_hdr(p.b, csum, 5, 1448, 34, 16);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
	/* GSO needs NEEDS_CSUM and a segment size. */
	put_hdr(p.b, 0, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34, 16);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
	put_hdr(p.b, csum, VIRTIO_NET_HDR_GSO_TCPV4, 0, 34, 16);
	cr_assert_not_null(net_tx_check(&p.iov, 1, p.iov.iov_len, ALL_TX));
}

Test(net_hdr, set_num_buffers_across_iovecs)
{
	uint8_t raw[NET_HDR_SIZE + 4];
	memset(raw, 0xaa, sizeof(raw));
	/* Bytes 10 and 11 in different iovecs. */
	struct iovec iov[2] = { { raw, 11 }, { raw + 11, 5 } };
	net_hdr_set_num_buffers(iov, 2, 0x0203);
	cr_assert_eq(raw[10], 0x03);
	cr_assert_eq(raw[11], 0x02);
	cr_assert_eq(raw[9], 0xaa);
	cr_assert_eq(raw[12], 0xaa);
}

/* ---------------------------------------------------------------- config */

Test(net_config, layout)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	uint8_t c[NET_CONFIG_SIZE];
	net_config_build(c, mac, VIRTIO_NET_S_LINK_UP, 1);
	cr_assert_arr_eq(c, mac, 6);
	cr_assert_eq(c[6], 1);
	cr_assert_eq(c[7], 0);
	cr_assert_eq(c[8], 1, "max_virtqueue_pairs");
	cr_assert_eq(c[9], 0);
	cr_assert_eq(c[10] | c[11] << 8, 1500, "mtu");
	cr_assert_eq(c[12] & c[13] & c[14] & c[15], 0xff, "speed unknown");
	cr_assert_eq(c[16], 0xff, "duplex unknown");
	for (unsigned int i = 17; i < NET_CONFIG_SIZE; i++)
		cr_assert_eq(c[i], 0);
}

Test(net_config, max_virtqueue_pairs)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	uint8_t c[NET_CONFIG_SIZE];
	net_config_build(c, mac, VIRTIO_NET_S_LINK_UP, 0x0304);
	cr_assert_eq(c[8] | c[9] << 8, 0x0304, "max_virtqueue_pairs, little-endian");
}
