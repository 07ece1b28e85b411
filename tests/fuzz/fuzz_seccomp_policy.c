/* libFuzzer harness: sp_parse (common/seccomp_policy.c), which every
 * sandboxed process runs on its policy files. The input is two files, split
 * at its first NUL byte: "a.policy", the top one, and "b.policy", which
 * a.policy may @include (and which may include a.policy back). Whatever
 * parses must compile (SP_DEFAULT_KILL); the one refusal allowed then is the
 * kernel's size limit (-E2BIG: over SP_BPF_MAX instructions), which only the
 * generated filter shows.
 *
 * Links: common/seccomp_policy.c common/seccomp_consts.c
 *   common/seccomp_compile.c common/cli.c */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seccomp_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *a, *b;
	size_t alen, blen;
	bool has_b;
};

/* Each file as exactly its bytes on the heap: ASan sees any read past them. */
static int reader(void *opaque, const char *name, char **text, size_t *len)
{
	const struct input *in = opaque;
	const uint8_t *src;
	size_t n;
	if (!strcmp(name, "a.policy")) {
		src = in->a;
		n = in->alen;
	} else if (!strcmp(name, "b.policy") && in->has_b) {
		src = in->b;
		n = in->blen;
	} else {
		return -ENOENT;
	}
	char *t = malloc(n ? n : 1);
	if (!t)
		return -ENOMEM;
	memcpy(t, src, n);
	*text = t;
	*len = n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	struct input in = { .a = data, .alen = nul ? (size_t)(nul - data) : size };
	if (nul) {
		in.b = nul + 1;
		in.blen = size - in.alen - 1;
		in.has_b = true;
	}
	char err[256];
	struct sp_policy *p = NULL;
	int r = sp_parse("a.policy", reader, &in, &p, err, sizeof(err));
	if (r < 0) {
		if (p || !memchr(err, '\0', sizeof(err)) || !err[0])
			abort(); /* every refusal says why, and returns nothing */
		return 0;
	}
	size_t n = sp_syscall_count(p);
	for (size_t i = 0; i < n; i++)
		if (!sp_syscall_name(p, i))
			abort();
	if (sp_syscall_name(p, n))
		abort();
	scmp_filter_ctx ctx = NULL;
	r = sp_compile(p, SP_DEFAULT_KILL, &ctx, err, sizeof(err));
	if (r == 0)
		seccomp_release(ctx);
	else if (r != -E2BIG)
		abort(); /* the parser let through what libseccomp refuses */
	sp_free(p);
	return 0;
}
