/* libFuzzer harness: the vhost-user codec (common/vhost_user.c), which every
 * backend runs on bytes from its frontend and cellvm-vcpu on replies from its
 * backends. Input: byte 0 picks the fd count (0..2), the rest is one message.
 * A message that decodes must survive encode + decode unchanged.
 *
 * Links: common/vhost_user.c common/msg.c common/log.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vhost_user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		log_init("fuzz_vhost_user", LOG_LVL_ERROR);
		inited = 1;
	}
	if (size < 1)
		return 0;
	size_t nfds = data[0] % 3;
	const uint8_t *msg = data + 1;
	size_t len = size - 1;

	/* An exact-size heap copy, so ASan sees any read past the message. */
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, msg, len);

	struct vhu_msg m1, m2;
	int r = vhu_decode(buf, len, nfds, &m1);
	free(buf);
	if (r != 0)
		return 0;

	uint8_t enc[VHU_HDR_SIZE + VHU_MAX_PAYLOAD];
	size_t enc_len = 0;
	if (vhu_encode(&m1, enc, sizeof(enc), &enc_len) != 0)
		abort(); /* what decode accepts, encode must take */
	if (enc_len > sizeof(enc) || enc_len > len)
		abort();
	if (vhu_decode(enc, enc_len, nfds, &m2) != 0)
		abort();
	/* decode zeroes *out first, so the whole struct compares. */
	if (memcmp(&m1, &m2, sizeof(m1)) != 0)
		abort();
	return 0;
}
