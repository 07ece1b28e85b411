/* The balloon calls' JSON (controller/balloon_json.h): SetBalloon's params
 * read strictly, BalloonStats's result with only the stats reported. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balloon_json.h"

static char err[256];

static int parse(const char *text, uint32_t *mib)
{
	return balloon_params_parse(text, strlen(text), mib, err, sizeof(err));
}

Test(balloon_json, params)
{
	uint32_t mib = 7;
	cr_assert_eq(parse("{\"amount_mib\": 150}", &mib), 0);
	cr_expect_eq(mib, 150);
	cr_assert_eq(parse("{\"amount_mib\": 0}", &mib), 0);
	cr_expect_eq(mib, 0);
	cr_assert_eq(parse("{\"amount_mib\": 16777215}", &mib), 0);
	cr_expect_eq(mib, BALLOON_JSON_MAX_MIB);
}

Test(balloon_json, bad_params)
{
	static const char *const bad[][2] = {
		{ "{}", "params.amount_mib is missing" },
		{ "{\"amount_mib\": 16777216}", "params.amount_mib: want an integer 0..16777215" },
		{ "{\"amount_mib\": -1}", "params.amount_mib: want an integer" },
		{ "{\"amount_mib\": \"5\"}", "params.amount_mib: want an integer 0..16777215, not a string" },
		{ "{\"amount_mib\": 1.5}", "params.amount_mib: want an integer" },
		{ "{\"amount_mib\": 1, \"x\": 2}", "params: unknown key \"x\"" },
		{ "{\"amount_mib\": 1, \"amount_mib\": 2}", "params" },
		{ "[1]", "params" },
		{ "{\"amount_mib\": 1", "params" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t mib = 99;
		cr_expect_eq(parse(bad[i][0], &mib), -EINVAL, "%s", bad[i][0]);
		cr_expect_eq(mib, 99, "untouched: %s", bad[i][0]);
		cr_expect(!strncmp(err, bad[i][1], strlen(bad[i][1])), "%s: got %s", bad[i][0], err);
	}
}

Test(balloon_json, stats)
{
	struct dev_ctl_balloon b = { .target_pages = 38400, .actual_pages = 512,
				     .present = 1u << 4 | 1u << 5 };
	b.stat[4] = 123456789;
	b.stat[5] = UINT64_MAX;
	char *t = balloon_stats_json(&b);
	cr_assert_not_null(t);
	cr_expect_str_eq(t, "{\"target_pages\":38400,\"actual_pages\":512,\"target_mib\":150,"
			    "\"actual_mib\":2,\"free_memory\":123456789,"
			    "\"total_memory\":18446744073709551615}");
	free(t);
}
