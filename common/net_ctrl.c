#include "net_ctrl.h"

#include <string.h>

#include "bytes.h"

uint8_t net_ctrl_parse(const uint8_t *buf, size_t len, uint16_t max_pairs,
		       struct net_ctrl_cmd *c, const char **why)
{
	memset(c, 0, sizeof(*c));
	if (len < 2) {
		*why = "shorter than a command header";
		return VIRTIO_NET_ERR;
	}
	if (len > NET_CTRL_CMD_MAX) {
		*why = "longer than any command served";
		return VIRTIO_NET_ERR;
	}
	c->class = buf[0];
	c->command = buf[1];
	if (c->class != VIRTIO_NET_CTRL_MQ) {
		*why = "a class the device does not offer";
		return VIRTIO_NET_ERR;
	}
	if (c->command != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
		*why = "an MQ command other than VQ_PAIRS_SET";
		return VIRTIO_NET_ERR;
	}
	if (len != 4) {
		*why = "VQ_PAIRS_SET without exactly 2 bytes of data";
		return VIRTIO_NET_ERR;
	}
	uint16_t pairs = get_le16(buf + 2);
	if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > max_pairs) {
		*why = "VQ_PAIRS_SET out of range";
		return VIRTIO_NET_ERR;
	}
	c->pairs = pairs;
	*why = NULL;
	return VIRTIO_NET_OK;
}
