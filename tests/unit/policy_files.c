/* Policy texts in memory for the seccomp policy tests (policy_files.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_files.h"

/* Criterion counts a test as passed before LeakSanitizer reports at exit, so
 * tests that prove nothing leaked ask it themselves (in ASan builds). */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

void expect_no_leak(void)
{
	if (__lsan_do_recoverable_leak_check)
		cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see above)");
}

/* The reader the tests give sp_parse: exactly the file's bytes, malloc'd
 * with no NUL after them, so ASan sees any read past the length. */
int mem_read(void *opaque, const char *name, char **text, size_t *len)
{
	struct mem_fs *fs = opaque;
	fs->reads++;
	for (size_t i = 0; i < fs->n; i++) {
		if (strcmp(fs->files[i].name, name))
			continue;
		size_t n = fs->files[i].len ? fs->files[i].len : strlen(fs->files[i].text);
		char *t = malloc(n ? n : 1);
		if (!t)
			return -ENOMEM;
		memcpy(t, fs->files[i].text, n);
		*text = t;
		*len = n;
		return 0;
	}
	return -ENOENT;
}

char err[512];

/* Parses `top` from files; returns sp_parse's result. */
int parse_in(const struct mem_file *files, size_t n, const char *top, struct sp_policy **out,
	     unsigned *reads)
{
	struct mem_fs fs = { files, n, 0 };
	memset(err, 0, sizeof(err));
	int r = sp_parse(top, mem_read, &fs, out, err, sizeof(err));
	if (reads)
		*reads = fs.reads;
	return r;
}

struct sp_policy *parse_ok_in(const struct mem_file *files, size_t n, const char *top)
{
	struct sp_policy *p = NULL;
	int r = parse_in(files, n, top, &p, NULL);
	cr_assert_eq(r, 0, "refused (%d): %s", r, err);
	return p;
}

struct sp_policy *parse_ok(const char *text)
{
	return parse_ok_in(FILES({ "t.policy", text, 0 }), "t.policy");
}

void expect_err_in(const struct mem_file *files, size_t n, const char *top, int code,
		   const char *want)
{
	struct sp_policy *p = NULL;
	int r = parse_in(files, n, top, &p, NULL);
	cr_assert_eq(r, code, "want %d, got %d (%s)", code, r, err);
	cr_expect_str_eq(err, want);
	cr_expect_null(p);
}

void expect_err(const char *text, const char *want)
{
	expect_err_in(FILES({ "t.policy", text, 0 }), "t.policy", -EINVAL, want);
}

void expect_names(const struct sp_policy *p, const char *const *names, size_t n)
{
	cr_assert_eq(sp_syscall_count(p), n);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(sp_syscall_name(p, i), names[i], "name %zu", i);
	cr_expect_null(sp_syscall_name(p, n));
}

/* ------------------------------------------ filters loaded in a child */
