/* SetRateLimiter's params and Firecracker's rate_limiter JSON
 * (controller/rate_params.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "rate_params.h"

static int parse(const char *s, char *dev, struct dev_ctl_rate_limit *rl, char *err)
{
	return rate_params_parse(s, strlen(s), dev, 16, rl, err, 256);
}

Test(rate_limiter, a_disk)
{
	char dev[16], err[256];
	struct dev_ctl_rate_limit rl;
	cr_assert_eq(parse("{\"device\": \"blk0\", \"rate_limiter\": {\"bandwidth\": {\"size\": "
			   "1048576, \"one_time_burst\": 4096, \"refill_time\": 125}, \"ops\": "
			   "{\"size\": 0, \"refill_time\": 100}}}", dev, &rl, err), 0, "%s", err);
	cr_expect_str_eq(dev, "blk0");
	const struct dev_ctl_limiter *l = &rl.limiter[DEV_CTL_RX];
	cr_expect_eq(l->bandwidth.mode, DEV_CTL_BUCKET_SET);
	cr_expect_eq(l->bandwidth.size, 1048576);
	cr_expect_eq(l->bandwidth.one_time_burst, 4096);
	cr_expect_eq(l->bandwidth.refill_time_ms, 125);
	cr_expect_eq(l->ops.mode, DEV_CTL_BUCKET_DISABLE, "size 0: no limit");
	cr_expect_eq(rl.limiter[DEV_CTL_TX].bandwidth.mode, DEV_CTL_BUCKET_KEEP);
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(dev_ctl_bucket_check(&rl.limiter[i].bandwidth), 0);
		cr_expect_eq(dev_ctl_bucket_check(&rl.limiter[i].ops), 0);
	}
	/* Left out: unchanged. */
	cr_assert_eq(parse("{\"device\": \"blk1\", \"rate_limiter\": {}}", dev, &rl, err), 0);
	cr_expect_eq(rl.limiter[0].bandwidth.mode, DEV_CTL_BUCKET_KEEP);
	cr_expect_eq(rl.limiter[0].ops.mode, DEV_CTL_BUCKET_KEEP);
}

Test(rate_limiter, a_nic)
{
	char dev[16], err[256];
	struct dev_ctl_rate_limit rl;
	cr_assert_eq(parse("{\"device\": \"net0\", \"tx_rate_limiter\": {\"ops\": {\"size\": 100, "
			   "\"refill_time\": 1000}}}", dev, &rl, err), 0, "%s", err);
	cr_expect_eq(rl.limiter[DEV_CTL_TX].ops.mode, DEV_CTL_BUCKET_SET);
	cr_expect_eq(rl.limiter[DEV_CTL_RX].ops.mode, DEV_CTL_BUCKET_KEEP);
}

Test(rate_limiter, refused)
{
	static const struct { const char *params, *word; } rows[] = {
		{ "{}", "\"device\"" },
		{ "{\"device\": 0}", "\"device\"" },
		{ "{\"device\": \"blk0000000000000000\"}", "\"device\"" },
		{ "{\"device\": \"rng0\"}", "has no rate limiter" },
		{ "{\"device\": \"blk0\", \"rx_rate_limiter\": {}}", "rx_rate_limiter" },
		{ "{\"device\": \"net0\", \"rate_limiter\": {}}", "rate_limiter" },
		{ "{\"device\": \"blk0\", \"rate_limiter\": []}", "want an object" },
		{ "{\"device\": \"blk0\", \"rate_limiter\": {\"iops\": {}}}", "\"iops\"" },
		{ "{\"device\": \"blk0\", \"rate_limiter\": {\"ops\": {\"size\": 1}}}",
		  "rate_limiter.ops.refill_time is missing" },
		{ "{\"device\": \"blk0\", \"rate_limiter\": {\"ops\": {\"size\": 1.5, "
		  "\"refill_time\": 1}}}", "rate_limiter.ops.size" },
		{ "{\"device\": \"blk0\", \"rate_limiter\": {\"ops\": {\"size\": 9007199254740993, "
		  "\"refill_time\": 1}}}", "0..2^53" },
		{ "{\"device\": \"blk0\", \"rate_limiter\": {\"bandwidth\": {\"size\": 1, "
		  "\"refill_time\": 1, \"refill\": 2}}}", "\"refill\"" },
		{ "{\"device\": \"blk0\", \"rate_limiter\": {\"bandwidth\": {\"size\": 1, "
		  "\"refill_time\": 86400001}}}", "a day" },
		{ "{\"device\": \"blk0\", \"device\": \"blk1\"}", "duplicate" },
		{ "[1]", "params" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char dev[16], err[256] = "";
		struct dev_ctl_rate_limit rl;
		cr_expect_eq(parse(rows[i].params, dev, &rl, err), -EINVAL, "row %zu", i);
		cr_expect_not_null(strstr(err, rows[i].word), "row %zu: %s", i, err);
	}
}
