/* libFuzzer harness: the cellvmd <-> device control channel
 * (common/dev_ctl.c). cellvmd decodes every reply a (compromisable) device
 * process sends; a device decodes cellvmd's requests. The first input byte
 * picks the direction (bit 0: reply), the rest is the packet. A packet that
 * decodes must encode back to the same bytes; a SET_RATE_LIMIT's buckets
 * must pass dev_ctl_bucket_check; a reply's status is 0 or an errno; a
 * balloon stats reply names only stats of the table, 0 where not present.
 *
 * Links: common/dev_ctl.c common/msg.c common/log.c */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev_ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

static void request(const uint8_t *pkt, size_t len)
{
	struct dev_ctl_req m;
	if (dev_ctl_decode_req(pkt, len, &m) != 0)
		return;
	CHECK(m.type == DEV_CTL_GET_METRICS || m.type == DEV_CTL_SET_RATE_LIMIT ||
	      m.type == DEV_CTL_SET_BALLOON_TARGET || m.type == DEV_CTL_GET_BALLOON_STATS);
	CHECK(m.type == DEV_CTL_SET_BALLOON_TARGET || m.balloon_pages == 0);
	for (size_t l = 0; l < 2; l++) {
		CHECK(dev_ctl_bucket_check(&m.rl.limiter[l].bandwidth) == 0);
		CHECK(dev_ctl_bucket_check(&m.rl.limiter[l].ops) == 0);
	}
	uint8_t out[DEV_CTL_REQ_SIZE];
	dev_ctl_encode_req(&m, out);
	CHECK(memcmp(out, pkt, len) == 0);
}

static void reply(const uint8_t *pkt, size_t len)
{
	struct dev_ctl_reply m;
	if (dev_ctl_decode_reply(pkt, len, &m) != 0)
		return;
	CHECK(m.status <= 0 && m.status >= -4095);
	CHECK(m.type != DEV_CTL_GET_METRICS || m.status == 0);
	CHECK(m.balloon.present >> DEV_CTL_BALLOON_NSTATS == 0);
	for (unsigned t = 0; t < DEV_CTL_BALLOON_NSTATS; t++)
		CHECK((m.balloon.present & (1u << t)) || m.balloon.stat[t] == 0);
	uint8_t out[DEV_CTL_REPLY_SIZE];
	dev_ctl_encode_reply(&m, out);
	CHECK(memcmp(out, pkt, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* A copy of its own size, so that reading past it is caught. */
	uint8_t *pkt = malloc(size - 1 ? size - 1 : 1);
	if (!pkt)
		return 0;
	memcpy(pkt, data + 1, size - 1);
	if (data[0] & 1)
		reply(pkt, size - 1);
	else
		request(pkt, size - 1);
	free(pkt);
	return 0;
}
