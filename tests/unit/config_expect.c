/* What the config parser's tests share (config_expect.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_expect.h"

/* Every parse runs on a malloc'd copy of exactly the document's bytes, with
 * no NUL after it, so ASan catches any read past len. */
struct vm_config cfg;
char err[1024];

int parse_bytes(const char *s, size_t n)
{
	char *copy = malloc(n ? n : 1);
	cr_assert(copy);
	memcpy(copy, s, n);
	memset(err, 0, sizeof(err));
	int r = vm_config_parse(copy, n, &cfg, err, sizeof(err));
	free(copy);
	return r;
}

int parse_str(const char *s)
{
	return parse_bytes(s, strlen(s));
}

/* Templates write JSON's double quotes as single ones. */
static char doc[1 << 21];

const char *J(const char *tmpl)
{
	size_t n = strlen(tmpl);
	cr_assert_lt(n, sizeof(doc));
	for (size_t i = 0; i <= n; i++)
		doc[i] = tmpl[i] == '\'' ? '"' : tmpl[i];
	return doc;
}

/* {"kernel": "/boot/vmlinuz", <members>} */
const char *with(const char *members)
{
	char tmp[1 << 16];
	snprintf(tmp, sizeof(tmp), "{'kernel':'/boot/vmlinuz'%s%s}", members[0] ? "," : "",
		 members);
	return J(tmp);
}

void expect_ok(const char *json)
{
	int r = parse_str(json);
	cr_assert_eq(r, 0, "refused: %s\n  error: %s", json, err);
}

/* Refused, and the message starts with want. */
void expect_err(const char *json, const char *want)
{
	int r = parse_str(json);
	cr_assert_eq(r, -EINVAL, "accepted (%d): %s", r, json);
	cr_assert(!strncmp(err, want, strlen(want)), "%s\n  got:  %s\n  want: %s...", json, err,
		  want);
}

