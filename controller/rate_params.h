/* SetRateLimiter's params (docs/rpc.md): a device and its limiters in
 * Firecracker's rate_limiter JSON (its RateLimiterConfig, as PATCH
 * /drives and /network-interfaces take it):
 *
 *   {"bandwidth": BUCKET, "ops": BUCKET}   either may be left out
 *   BUCKET = {"size": N, "one_time_burst": N, "refill_time": MS}
 *
 * sizes in bytes (bandwidth) or operations (ops), refill_time in
 * milliseconds; sizes 0..2^53, refill_time 0..86400000 (a day),
 * one_time_burst optional. A bucket with size 0 or refill_time 0 is no
 * limit (Firecracker's rule); a bucket left out stays as it is
 * (DEV_CTL_BUCKET_KEEP: Firecracker's PATCH). Any other key, type or range
 * is -EINVAL with one line in err naming it. Pure. */
#ifndef CELLVM_RATE_PARAMS_H
#define CELLVM_RATE_PARAMS_H

#include <stddef.h>

#include <json-c/json.h>

#include "dev_ctl.h"

#define RATE_PARAMS_MAX_VALUE (1ull << 53)
#define RATE_PARAMS_MAX_REFILL_MS 86400000ull

/* v: the rate_limiter object; where: its name in messages ("rate_limiter"). */
int rate_params_limiter(json_object *v, const char *where, struct dev_ctl_limiter *out, char *err,
		       size_t errlen);

/* SetRateLimiter's params (text[0..len), strict JSON):
 *   {"device": "blk0", "rate_limiter": RL}                       a disk
 *   {"device": "net0", "rx_rate_limiter": RL, "tx_rate_limiter": RL}  a NIC
 *     (either or both; Firecracker's names)
 * Fills device (the name; its kind is the prefix: only blk and net have
 * limiters) and *out (a disk's limiter is limiter[DEV_CTL_RX]). 0 or
 * -EINVAL with err. */
int rate_params_parse(const char *text, size_t len, char *device, size_t devlen,
			struct dev_ctl_rate_limit *out, char *err, size_t errlen);

#endif
