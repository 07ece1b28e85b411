/* A call's params that are one unsigned integer under one key, read
 * strictly (docs/rpc.md): SetBalloon {"amount_mib": N},
 * BalloonRequestNumPages {"requested_num_pages": N}, HostVsockConnect
 * {"guest_port": P}. Pure.
 *
 * text[0..len) must be one strict JSON object (json_strict.h) whose only
 * key is `key`, an integer 0..max. Returns 0 with *out set, or -EINVAL with
 * one line in err: "params.KEY is missing: WHAT", "params.KEY: want an
 * integer 0..MAX, not ...", "params: unknown key "X" (METHOD takes KEY)",
 * or the strict check's words; *out is untouched then. */
#ifndef CELLVM_PARAMS_UINT_H
#define CELLVM_PARAMS_UINT_H

#include <stddef.h>
#include <stdint.h>

struct params_uint {
	const char *method; /* "SetBalloon" */
	const char *key;    /* "amount_mib" */
	const char *what;   /* "the balloon's target in MiB" */
	uint64_t max;       /* at most 2^53 */
};

int params_uint_parse(const struct params_uint *p, const char *text, size_t len, uint64_t *out,
		      char *err, size_t errlen);

#endif
