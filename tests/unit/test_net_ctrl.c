/* The control queue's command parser (common/net_ctrl.h). */
#include <criterion/criterion.h>

#include "net_ctrl.h"

static uint8_t parse(const uint8_t *buf, size_t len, uint16_t max, struct net_ctrl_cmd *c)
{
	const char *why = "unset";
	uint8_t ack = net_ctrl_parse(buf, len, max, c, &why);
	if (ack == VIRTIO_NET_OK)
		cr_assert_null(why);
	else
		cr_assert_not_null(why);
	return ack;
}

Test(net_ctrl, vq_pairs_set_in_range)
{
	struct net_ctrl_cmd c;
	for (uint16_t n = 1; n <= 4; n++) {
		const uint8_t cmd[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, n, 0 };
		cr_assert_eq(parse(cmd, sizeof(cmd), 4, &c), VIRTIO_NET_OK);
		cr_assert_eq(c.pairs, n);
		cr_assert_eq(c.class, VIRTIO_NET_CTRL_MQ);
	}
	const uint8_t big[] = { VIRTIO_NET_CTRL_MQ, 0, 0x00, 0x01 }; /* 256, little-endian */
	cr_assert_eq(parse(big, sizeof(big), 256, &c), VIRTIO_NET_OK);
	cr_assert_eq(c.pairs, 256);
}

Test(net_ctrl, vq_pairs_set_out_of_range)
{
	struct net_ctrl_cmd c;
	const uint8_t zero[] = { VIRTIO_NET_CTRL_MQ, 0, 0, 0 };
	const uint8_t five[] = { VIRTIO_NET_CTRL_MQ, 0, 5, 0 };
	const uint8_t high[] = { VIRTIO_NET_CTRL_MQ, 0, 1, 0x80 };
	cr_assert_eq(parse(zero, sizeof(zero), 4, &c), VIRTIO_NET_ERR);
	cr_assert_eq(parse(five, sizeof(five), 4, &c), VIRTIO_NET_ERR);
	cr_assert_eq(parse(high, sizeof(high), 4, &c), VIRTIO_NET_ERR);
	cr_assert_eq(c.pairs, 0, "no count taken from a refused command");
}

Test(net_ctrl, lengths)
{
	struct net_ctrl_cmd c;
	const uint8_t cmd[NET_CTRL_CMD_MAX + 1] = { VIRTIO_NET_CTRL_MQ, 0, 2, 0 };
	cr_assert_eq(parse(cmd, 0, 4, &c), VIRTIO_NET_ERR);
	cr_assert_eq(parse(cmd, 1, 4, &c), VIRTIO_NET_ERR);
	cr_assert_eq(parse(cmd, 2, 4, &c), VIRTIO_NET_ERR, "no data");
	cr_assert_eq(parse(cmd, 3, 4, &c), VIRTIO_NET_ERR, "half the data");
	cr_assert_eq(parse(cmd, 5, 4, &c), VIRTIO_NET_ERR, "trailing bytes");
	cr_assert_eq(parse(cmd, sizeof(cmd), 4, &c), VIRTIO_NET_ERR, "over the cap");
	cr_assert_eq(parse(NULL, 0, 4, &c), VIRTIO_NET_ERR);
}

Test(net_ctrl, other_classes_and_commands_are_errors)
{
	struct net_ctrl_cmd c;
	/* What Linux sends when CTRL_RX is offered (it is not): promisc on. */
	const uint8_t rx[] = { VIRTIO_NET_CTRL_RX, 0, 1 };
	cr_assert_eq(parse(rx, sizeof(rx), 4, &c), VIRTIO_NET_ERR);
	cr_assert_eq(c.class, VIRTIO_NET_CTRL_RX);
	/* MQ's RSS_CONFIG and HASH_CONFIG, MAC, VLAN, announce, offloads. */
	const uint8_t rss[] = { VIRTIO_NET_CTRL_MQ, 1, 1, 0 };
	const uint8_t hash[] = { VIRTIO_NET_CTRL_MQ, 2, 1, 0 };
	cr_assert_eq(parse(rss, sizeof(rss), 4, &c), VIRTIO_NET_ERR);
	cr_assert_eq(parse(hash, sizeof(hash), 4, &c), VIRTIO_NET_ERR);
	for (uint8_t cls = 1; cls < 8; cls++) {
		if (cls == VIRTIO_NET_CTRL_MQ)
			continue;
		const uint8_t cmd[] = { cls, 0, 1, 0 };
		cr_assert_eq(parse(cmd, sizeof(cmd), 4, &c), VIRTIO_NET_ERR, "class %u", cls);
	}
}
