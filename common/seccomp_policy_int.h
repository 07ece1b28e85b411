/* The checked model of a seccomp policy, shared by its parser
 * (seccomp_policy.c), its compiler (seccomp_compile.c) and the named
 * constants (seccomp_consts.c); for them alone. */
#ifndef CELLVM_SECCOMP_POLICY_INT_H
#define CELLVM_SECCOMP_POLICY_INT_H

#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seccomp_policy.h"

#define ARGS_MAX 6          /* a syscall's arguments: arg0 .. arg5 */
#define SYSCALL_NAME_MAX 40 /* longer than any syscall's name, with the NUL */
#define ERRNO_MAX 4095      /* the kernel's MAX_ERRNO */

struct sp_const {
	const char *name;
	uint64_t value;
	bool is_errno; /* may follow `return` */
};

/* The constant named by the len bytes at s, or NULL. */
const struct sp_const *sp_constant(const char *s, size_t len);

/* Comparisons that must all hold, at most one per argument, kept sorted by
 * argument so that chains compare comparison by comparison. */
struct chain {
	unsigned n;
	struct scmp_arg_cmp c[ARGS_MAX];
};

struct sp_syscall {
	int nr;
	char name[SYSCALL_NAME_MAX];
	int errnum;            /* > 0: fails with this errno; 0: allowed */
	bool any;              /* allowed whatever the arguments */
	bool solo;             /* a chain uses !=, <, <=, > or >=: it must stay alone */
	struct chain *chains;  /* else allowed when one of these holds */
	size_t nchains, cap;
	char where[SP_NAME_MAX + 16]; /* "file:line" of its first rule */
};

struct sp_policy {
	struct sp_syscall *sc; /* sorted by nr */
	size_t n, cap;
	size_t alternatives;   /* chains over all syscalls */
};

/* The entry for nr in p (sorted by nr), or where it would go: *found says
 * which. */
size_t sp_find_syscall(const struct sp_policy *p, int nr, bool *found);

/* libseccomp 2.5 builds one tree of a syscall's rules that is right only
 * while they compare with == and masked == (`in`): with the others in two
 * rules it can let through what no rule allows, or loop forever. */
#define SOLO_WHY                                                                          \
	"libseccomp 2.5 combines those across alternatives wrongly; use == and in, or one " \
	"alternative"

/* Adds c to the alternatives v[0..*n) (room for one more), keeping only the
 * most general ones: libseccomp leaks what it prunes when one rule makes
 * another redundant. */
void sp_merge_chain(struct chain *v, size_t *n, const struct chain *c);

/* strerror's text without "Unknown error N" formatting: for messages. */
const char *sp_errtext(int e);

#endif
