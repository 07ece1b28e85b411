/* Policy bundles (common/policy_bundle.c): what is added is found by name,
 * byte for byte; a malformed bundle is refused whole; and a bundle read
 * through sp_parse gives the policy its directory gives. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_bundle.h"
#include "seccomp_policy.h"

static int find(const char *b, const char *name)
{
	const char *t;
	size_t n;
	return policy_bundle_find(b, strlen(b), name, &t, &n);
}

Test(policy_bundle, added_files_are_found_byte_for_byte)
{
	char *b = NULL;
	size_t len = 0;
	cr_assert_eq(policy_bundle_add(&b, &len, "a.policy", "read: 1\n", 8), 0);
	cr_assert_eq(policy_bundle_add(&b, &len, "b.policy", "", 0), 0);
	cr_assert_eq(policy_bundle_add(&b, &len, "c.policy", "@file x 1\nq", 11), 0);
	cr_expect_eq(len, strlen("@file a.policy 8\nread: 1\n@file b.policy 0\n"
				 "@file c.policy 11\n@file x 1\nq"));
	const char *t;
	size_t n;
	cr_assert_eq(policy_bundle_find(b, len, "c.policy", &t, &n), 0);
	cr_expect(n == 11 && memcmp(t, "@file x 1\nq", 11) == 0);
	cr_assert_eq(policy_bundle_find(b, len, "b.policy", &t, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_eq(policy_bundle_find(b, len, "x", &t, &n), -ENOENT,
		     "a header inside a file's text is text");
	cr_expect_eq(policy_bundle_add(&b, &len, "a.policy", "", 0), -EINVAL, "a name twice");
	cr_expect_eq(policy_bundle_add(&b, &len, "../a", "", 0), -EINVAL);
	cr_expect_eq(policy_bundle_add(&b, &len, ".a", "", 0), -EINVAL);
	cr_expect_eq(policy_bundle_add(&b, &len, "big", "", SP_FILE_MAX + 1), -EFBIG);
	free(b);
}

Test(policy_bundle, malformed_bundles_are_refused_whole)
{
	static const char *const bad[] = {
		"@file a 2\nx",                 /* shorter than it says */
		"@file a 1\nx@file b 1\n",      /* the same, later */
		"@file a 1\nxjunk",             /* not a header */
		"@file a 01\nx",                /* a leading zero */
		"@file a \nx",                  /* no length */
		"@file a 1 \nx",                /* not just digits */
		"@file  1\nx",                  /* no name */
		"@file .a 1\nx",                /* a leading dot */
		"@file a/b 1\nx",               /* a path */
		"@file a 1\nx@file a 1\ny",     /* a name twice */
		"@file a 99999999999999999999\n",
		"@file a 1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(find(bad[i], "a"), -EBADMSG, "case %zu", i);
	cr_expect_eq(find("", "a"), -ENOENT);
	cr_expect_eq(find("@file a 1\nx", "a"), 0);
	const char nul[] = "@file a\0b 1\nx";
	const char *t;
	size_t n;
	cr_expect_eq(policy_bundle_find(nul, sizeof(nul) - 1, "a", &t, &n), -EBADMSG);
}

/* The kind's policy through a bundle of its files: the same syscalls. */
Test(policy_bundle, parses_like_the_directory)
{
	static const char *const files[] = { "rng.policy", "common_device.policy",
					     "common.policy", "threads.policy" };
	char *b = NULL;
	size_t len = 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *text;
		size_t n;
		if (sp_read_file((void *)CELLVM_SRC_POLICY_DIR, files[i], &text, &n) < 0)
			continue; /* a file rng.policy does not include */
		cr_assert_eq(policy_bundle_add(&b, &len, files[i], text, n), 0);
		free(text);
	}
	struct policy_bundle pb = { b, len };
	struct sp_policy *from_dir, *from_bundle;
	char err[256];
	cr_assert_eq(sp_parse("rng.policy", sp_read_file, (void *)CELLVM_SRC_POLICY_DIR,
			      &from_dir, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sp_parse("rng.policy", policy_bundle_read, &pb, &from_bundle, err,
			      sizeof(err)), 0, "%s", err);
	cr_expect_eq(sp_syscall_count(from_dir), sp_syscall_count(from_bundle));
	for (size_t i = 0; i < sp_syscall_count(from_dir); i++)
		cr_expect_str_eq(sp_syscall_name(from_dir, i), sp_syscall_name(from_bundle, i));
	sp_free(from_dir);
	sp_free(from_bundle);
	pb.len = 0;
	cr_expect_neq(sp_parse("rng.policy", policy_bundle_read, &pb, &from_bundle, err,
			       sizeof(err)), 0, "an empty bundle has no policy");
	free(b);
}
