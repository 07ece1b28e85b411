/* Policy texts for the seccomp policy tests: in-memory files handed to
 * sp_parse, and the expectations the two test files share (parsed, refused
 * with this message, these names, nothing leaked). */
#ifndef CELLVM_TEST_POLICY_FILES_H
#define CELLVM_TEST_POLICY_FILES_H

#include <stddef.h>

#include "seccomp_policy.h"

struct mem_file {
	const char *name;
	const char *text;
	size_t len; /* 0: strlen(text) */
};

#define NFILES(...) (sizeof((struct mem_file[]){ __VA_ARGS__ }) / sizeof(struct mem_file))
#define FILES(...) ((const struct mem_file[]){ __VA_ARGS__ }), NFILES(__VA_ARGS__)

/* The files sp_parse may read; reads counts them. */
struct mem_fs {
	const struct mem_file *files;
	size_t n;
	unsigned reads;
};

/* The reader for sp_parse (opaque: a struct mem_fs). */
int mem_read(void *opaque, const char *name, char **text, size_t *len);

/* sp_parse's message of the last parse. */
extern char err[512];

/* In ASan builds, that nothing leaked so far (LeakSanitizer's own check). */
void expect_no_leak(void);
/* Parses `top` from files; returns sp_parse's result (reads: files read). */
int parse_in(const struct mem_file *files, size_t n, const char *top, struct sp_policy **out,
	     unsigned *reads);
/* Parsed, or the test fails with the message. */
struct sp_policy *parse_ok_in(const struct mem_file *files, size_t n, const char *top);
struct sp_policy *parse_ok(const char *text);
/* Refused with `code` and exactly the message `want`. */
void expect_err_in(const struct mem_file *files, size_t n, const char *top, int code,
		   const char *want);
void expect_err(const char *text, const char *want);
/* The policy's syscalls are exactly names[0..n), in this order. */
void expect_names(const struct sp_policy *p, const char *const *names, size_t n);

#endif
