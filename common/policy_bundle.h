/* A policy bundle: one process kind's policy files in one blob, so that a
 * child reads its policy from an fd cellvm-spawner filled at its own start
 * (--policy-fd, common/confine.h) and never from a directory someone may
 * change since. The text is the files one after another, each as
 *
 *   @file NAME LEN\n   then exactly LEN bytes of the file
 *
 * NAME a policy file name (seccomp_policy.h's rule: [A-Za-z0-9._-], at most
 * SP_NAME_MAX bytes, no leading '.'), LEN decimal, at most SP_FILE_MAX, no
 * leading zero; each name once. The top file of the kind and everything it
 * @includes are in it; sp_parse() reads them by name through
 * policy_bundle_read(). Pure: bytes with explicit lengths, no I/O. */
#ifndef CELLVM_POLICY_BUNDLE_H
#define CELLVM_POLICY_BUNDLE_H

#include <stddef.h>

/* The most bytes in one bundle: a kind and its includes. */
#define POLICY_BUNDLE_MAX (1u << 20)

/* Appends file `name` (tlen bytes of text) to the bundle *buf of *len bytes
 * (realloc'd; *buf NULL and *len 0 to start). 0, -EINVAL for a bad name or a
 * name already in it, -EFBIG past SP_FILE_MAX or POLICY_BUNDLE_MAX, -ENOMEM. */
int policy_bundle_add(char **buf, size_t *len, const char *name, const char *text,
		      size_t tlen);

/* Finds `name` in the len bytes at b: 0 with *text and *tlen pointing into b,
 * -ENOENT if it is not there, -EBADMSG if the bundle is malformed anywhere
 * (checked whole, whichever file is asked for). */
int policy_bundle_find(const char *b, size_t len, const char *name, const char **text,
		       size_t *tlen);

/* An sp_reader over a bundle: opaque is a struct policy_bundle. */
struct policy_bundle {
	const char *b;
	size_t len;
};
int policy_bundle_read(void *opaque, const char *name, char **text, size_t *len);

#endif
