/* libFuzzer harness: rate_limiter_params (controller/rate_params.c), which
 * cellvmd runs on SetRateLimiter's params from a client. What parses names
 * a disk or a NIC, and its limiters are what a device may be sent: every
 * bucket passes dev_ctl_bucket_check, within rate_params.h's bounds, a disk's tx
 * limiter untouched, and the SET_RATE_LIMIT request round-trips.
 *
 * Links: controller/rate_params.c controller/errf.c controller/json_strict.c
 *   controller/json_words.c common/dev_ctl.c common/msg.c common/log.c */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rate_params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

static void check_bucket(const struct dev_ctl_bucket *b)
{
	CHECK(dev_ctl_bucket_check(b) == 0);
	CHECK(b->size <= RATE_PARAMS_MAX_VALUE && b->refill_time_ms <= RATE_PARAMS_MAX_REFILL_MS &&
	      b->one_time_burst <= RATE_PARAMS_MAX_VALUE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	char dev[16], err[256];
	struct dev_ctl_rate_limit rl;
	int r = rate_params_parse(text, size, dev, sizeof(dev), &rl, err, sizeof(err));
	free(text);
	CHECK(strnlen(err, sizeof(err)) < sizeof(err) || r == 0);
	if (r != 0) {
		CHECK(r == -EINVAL);
		return 0;
	}
	CHECK(strnlen(dev, sizeof(dev)) < sizeof(dev));
	bool disk = strncmp(dev, "blk", 3) == 0;
	CHECK(disk || strncmp(dev, "net", 3) == 0);
	for (int i = 0; i < 2; i++) {
		check_bucket(&rl.limiter[i].bandwidth);
		check_bucket(&rl.limiter[i].ops);
	}
	if (disk)
		CHECK(rl.limiter[DEV_CTL_TX].bandwidth.mode == DEV_CTL_BUCKET_KEEP &&
		      rl.limiter[DEV_CTL_TX].ops.mode == DEV_CTL_BUCKET_KEEP);
	struct dev_ctl_req rq = { .type = DEV_CTL_SET_RATE_LIMIT, .seq = 1, .rl = rl }, back;
	uint8_t wire[DEV_CTL_REQ_SIZE];
	dev_ctl_encode_req(&rq, wire);
	CHECK(dev_ctl_decode_req(wire, sizeof(wire), &back) == 0);
	CHECK(memcmp(&back.rl, &rl, sizeof(rl)) == 0);
	return 0;
}
