/* A rate limiter's limits (rate_limiter.h) as one command-line argument,
 * the form cellvmd gives cellvm-blk's --rate-limit and cellvm-net's
 * --rx-rate-limit / --tx-rate-limit: comma-separated KEY=VALUE, KEY one of
 * bandwidth.size, bandwidth.one_time_burst, bandwidth.refill_time, ops.size,
 * ops.one_time_burst, ops.refill_time (the JSON config's names; sizes in
 * bytes or operations, refill_time in ms), VALUE decimal digits, e.g.
 * "bandwidth.size=1048576,bandwidth.refill_time=125". A bucket named needs
 * its size and refill_time; one not named is unlimited. Pure. */
#ifndef CELLVM_RATE_LIMIT_ARG_H
#define CELLVM_RATE_LIMIT_ARG_H

#include <stddef.h>

#include "rate_limiter.h"

/* The longest text rl_arg_format writes, NUL included. */
#define RL_ARG_MAX 224

/* Parses s[0..len) into *out. 0, or -EINVAL with *why a fixed reason:
 * empty, an unknown or repeated key, a value that is not digits or is past
 * rate_limiter.h's bounds, a bucket without its size or refill_time. */
int rl_arg_parse(const char *s, size_t len, struct rl_cfg *out, const char **why);

/* c as rl_arg_parse reads it back, unlimited buckets left out ("" if both
 * are). */
void rl_arg_format(const struct rl_cfg *c, char out[RL_ARG_MAX]);

#endif
