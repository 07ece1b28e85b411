/* libFuzzer harness: balloon_params_parse (controller/balloon_json.c), which
 * cellvmd runs on SetBalloon's params from a client. What parses is a
 * target within BALLOON_JSON_MAX_MIB, whose pages fit num_pages's le32;
 * what does not leaves the target untouched and says why.
 *
 * Links: controller/balloon_json.c controller/params_uint.c controller/errf.c
 *   controller/json_strict.c
 *   controller/json_words.c common/dev_ctl.c common/msg.c common/log.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "balloon_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of its own size, so that reading past it is caught. */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	uint32_t mib = UINT32_MAX;
	char err[256] = "";
	int r = balloon_params_parse(text, size, &mib, err, sizeof(err));
	if (r == 0)
		CHECK(mib <= BALLOON_JSON_MAX_MIB &&
		      (uint64_t)mib * BALLOON_JSON_PAGES_PER_MIB <= UINT32_MAX);
	else
		CHECK(mib == UINT32_MAX && err[0]);
	free(text);
	return 0;
}
