/* UpdateBlockDevice's params (controller/drive_params.h): both keys, each a
 * non-empty string that fits; anything else refused with the key named. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "drive_params.h"

static char dev[8], path[16], err[256];

static int parse(const char *s)
{
	return drive_params_parse(s, strlen(s), dev, sizeof(dev), path, sizeof(path), err,
				  sizeof(err));
}

Test(drive_params, a_disk_and_its_new_image)
{
	cr_assert_eq(parse("{\"device\": \"blk1\", \"path\": \"/img/b.img\"}"), 0, "%s", err);
	cr_expect_str_eq(dev, "blk1");
	cr_expect_str_eq(path, "/img/b.img");
}

Test(drive_params, refusals_name_the_key)
{
	static const struct {
		const char *text, *want;
	} t[] = {
		{ "{\"path\": \"/a\"}", "params.device is missing" },
		{ "{\"device\": \"blk0\"}", "params.path is missing" },
		{ "{\"device\": 0, \"path\": \"/a\"}", "params.device: want a string" },
		{ "{\"device\": \"blk0\", \"path\": [\"/a\"]}", "params.path: want a string" },
		{ "{\"device\": \"\", \"path\": \"/a\"}", "params.device: want 1..7 bytes" },
		{ "{\"device\": \"blk0\", \"path\": \"/a/very/long/path\"}",
		  "params.path: want 1..15 bytes" },
		{ "{\"device\": \"blk0\", \"path\": \"/a\\u0000b\"}", "params" },
		{ "{\"device\": \"blk0\", \"path\": \"/a\", \"read_only\": true}",
		  "unknown key \"read_only\"" },
		{ "{\"device\": \"blk0\", \"device\": \"blk1\", \"path\": \"/a\"}", "params" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		strcpy(dev, "keep");
		cr_expect_eq(parse(t[i].text), -EINVAL, "%s", t[i].text);
		cr_expect(strstr(err, t[i].want), "%s: %s", t[i].text, err);
	}
}
