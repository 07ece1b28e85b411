/* libFuzzer harness: net_ctrl_parse (common/net_ctrl.c), which the
 * vcpu-worker runs on every command a guest puts on virtio-net's control
 * queue. Input: byte 0-1 max_pairs (LE), the rest the command.
 * Asserted (abort): the answer is VIRTIO_NET_OK or VIRTIO_NET_ERR, with a
 * reason exactly when ERR; OK only for a 4-byte MQ VQ_PAIRS_SET whose count
 * is in [1, max_pairs] and is the one parsed; never a read past len (ASan,
 * the command copied to an exact-size buffer).
 *
 * Links: common/net_ctrl.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net_ctrl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint16_t max = (uint16_t)(data[0] | data[1] << 8);
	size_t len = size - 2;
	if (len > NET_CTRL_CMD_MAX + 8)
		return 0;
	uint8_t *cmd = malloc(len ? len : 1);
	if (!cmd)
		return 0;
	memcpy(cmd, data + 2, len);
	struct net_ctrl_cmd c;
	const char *why = "unset";
	uint8_t ack = net_ctrl_parse(cmd, len, max, &c, &why);
	CHECK(ack == VIRTIO_NET_OK || ack == VIRTIO_NET_ERR);
	if (ack == VIRTIO_NET_OK) {
		CHECK(why == NULL);
		CHECK(len == 4 && cmd[0] == VIRTIO_NET_CTRL_MQ &&
		      cmd[1] == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET);
		CHECK(c.pairs == (uint16_t)(cmd[2] | cmd[3] << 8));
		CHECK(c.pairs >= 1 && c.pairs <= max);
	} else {
		CHECK(why != NULL && c.pairs == 0);
	}
	free(cmd);
	return 0;
}
