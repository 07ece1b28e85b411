/* virtio-net's control queue commands (virtio 1.2 §5.1.6.5) as a pure
 * function over bytes: the guest writes them, so this is guest input.
 *
 * A command is the chain's device-readable bytes: {u8 class, u8 command}
 * then the command's data; the device answers with one byte, VIRTIO_NET_OK
 * or VIRTIO_NET_ERR, in the chain's first writable byte. Of the classes the
 * only one served is VIRTIO_NET_CTRL_MQ's VQ_PAIRS_SET {le16 pairs}: the
 * device then uses pairs 0 to pairs-1. Everything else (RX mode, MAC, VLAN,
 * announce, offloads, RSS, coalescing: features the device does not offer)
 * is answered VIRTIO_NET_ERR, as the spec asks of an unknown command. */
#ifndef CELLVM_NET_CTRL_H
#define CELLVM_NET_CTRL_H

#include <stddef.h>
#include <stdint.h>

/* Feature bits of the control queue and what needs it (virtio 1.2 §5.1.3). */
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_VLAN 19
#define VIRTIO_NET_F_CTRL_RX_EXTRA 20
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23
/* The control queue and every feature served through it but MQ: a frontend
 * that emulates the queue never passes these to a backend. */
#define NET_CTRL_VQ_FEATURES                                                       \
	((1ull << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | (1ull << VIRTIO_NET_F_CTRL_VQ) | \
	 (1ull << VIRTIO_NET_F_CTRL_RX) | (1ull << VIRTIO_NET_F_CTRL_VLAN) |          \
	 (1ull << VIRTIO_NET_F_CTRL_RX_EXTRA) | (1ull << VIRTIO_NET_F_GUEST_ANNOUNCE) | \
	 (1ull << VIRTIO_NET_F_CTRL_MAC_ADDR))

#define VIRTIO_NET_OK 0u
#define VIRTIO_NET_ERR 1u

#define VIRTIO_NET_CTRL_RX 0u
#define VIRTIO_NET_CTRL_MQ 4u
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0u
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN 1u
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX 0x8000u

/* The longest command read: larger chains are answered VIRTIO_NET_ERR
 * unread (VQ_PAIRS_SET is 4 bytes; RSS's tables, which the device does
 * not offer, are the only long ones). */
#define NET_CTRL_CMD_MAX 64u

struct net_ctrl_cmd {
	uint8_t class;
	uint8_t command;
	uint16_t pairs; /* VQ_PAIRS_SET's, when it returned VIRTIO_NET_OK */
};

/* Parses the command in buf[0..len) (len: the chain's readable bytes, at
 * most NET_CTRL_CMD_MAX; the caller refuses longer ones) for a device of
 * max_pairs pairs. VIRTIO_NET_OK for VQ_PAIRS_SET with exactly 2 bytes of
 * data and 1 <= pairs <= max_pairs (c filled); otherwise VIRTIO_NET_ERR with
 * *why saying what was wrong (c->class and c->command set if len >= 2). */
uint8_t net_ctrl_parse(const uint8_t *buf, size_t len, uint16_t max_pairs,
		       struct net_ctrl_cmd *c, const char **why);

#endif
