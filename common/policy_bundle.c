/* Policy bundles: building and checked reading (policy_bundle.h). */
#include "policy_bundle.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seccomp_policy.h"

#define TAG "@file "

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > SP_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    s[i]) || s[i] == '\0')
			return false;
	return true;
}

/* One file's header at b[off..len): its name and text. -EBADMSG if it is
 * not one. */
static int next(const char *b, size_t len, size_t *off, const char **name, size_t *nlen,
		const char **text, size_t *tlen)
{
	size_t o = *off;
	if (len - o < strlen(TAG) || memcmp(b + o, TAG, strlen(TAG)) != 0)
		return -EBADMSG;
	o += strlen(TAG);
	const char *sp = memchr(b + o, ' ', len - o);
	if (!sp || !name_ok(b + o, (size_t)(sp - (b + o))))
		return -EBADMSG;
	*name = b + o;
	*nlen = (size_t)(sp - (b + o));
	o = (size_t)(sp - b) + 1;
	size_t n = 0, digits = 0;
	for (; o < len && b[o] >= '0' && b[o] <= '9'; o++, digits++) {
		n = n * 10 + (size_t)(b[o] - '0');
		if (n > SP_FILE_MAX)
			return -EBADMSG;
	}
	if (digits == 0 || (digits > 1 && b[o - digits] == '0') || o == len || b[o] != '\n')
		return -EBADMSG;
	o++;
	if (n > len - o)
		return -EBADMSG;
	*text = b + o;
	*tlen = n;
	*off = o + n;
	return 0;
}

int policy_bundle_find(const char *b, size_t len, const char *name, const char **text,
		       size_t *tlen)
{
	if (len > POLICY_BUNDLE_MAX)
		return -EBADMSG;
	int found = -ENOENT;
	size_t want = strlen(name);
	for (size_t off = 0; off < len;) {
		const char *n, *t;
		size_t nl, tl;
		if (next(b, len, &off, &n, &nl, &t, &tl) < 0)
			return -EBADMSG;
		/* A name twice: which one is meant cannot be told. */
		for (size_t o = 0; o < (size_t)(n - b) - strlen(TAG);) {
			const char *n2, *t2;
			size_t nl2, tl2;
			(void)next(b, len, &o, &n2, &nl2, &t2, &tl2); /* checked already */
			if (nl2 == nl && memcmp(n2, n, nl) == 0)
				return -EBADMSG;
		}
		if (nl == want && memcmp(n, name, nl) == 0) {
			*text = t;
			*tlen = tl;
			found = 0;
		}
	}
	return found;
}

int policy_bundle_add(char **buf, size_t *len, const char *name, const char *text,
		      size_t tlen)
{
	size_t nlen = strlen(name);
	const char *t;
	size_t tl;
	if (!name_ok(name, nlen))
		return -EINVAL;
	int r = policy_bundle_find(*buf, *len, name, &t, &tl);
	if (r != -ENOENT)
		return r == 0 ? -EINVAL : r;
	if (tlen > SP_FILE_MAX)
		return -EFBIG;
	char hdr[sizeof(TAG) + SP_NAME_MAX + 24];
	int h = snprintf(hdr, sizeof(hdr), TAG "%s %zu\n", name, tlen);
	size_t add = (size_t)h + tlen;
	if (add > POLICY_BUNDLE_MAX - *len)
		return -EFBIG;
	char *nb = realloc(*buf, *len + add);
	if (!nb)
		return -ENOMEM;
	memcpy(nb + *len, hdr, (size_t)h);
	memcpy(nb + *len + h, text, tlen);
	*buf = nb;
	*len += add;
	return 0;
}

int policy_bundle_read(void *opaque, const char *name, char **text, size_t *len)
{
	const struct policy_bundle *pb = opaque;
	const char *t;
	size_t tl;
	int r = policy_bundle_find(pb->b, pb->len, name, &t, &tl);
	if (r < 0)
		return r;
	if (!(*text = malloc(tl ? tl : 1)))
		return -ENOMEM;
	memcpy(*text, t, tl);
	*len = tl;
	return 0;
}
