/* Seccomp policies: the text of policy/README.md's language to a checked
 * model (sp_parse), and that model to a libseccomp filter (sp_compile).
 *
 * sp_parse() is pure apart from its reader: it sees each file as bytes with
 * a length, opens nothing itself, logs nothing, and stops at the first error
 * with "FILE:LINE: what is wrong". What it accepts names only syscalls of the
 * native architecture, in rules libseccomp takes and combines right. sp_compile()
 * builds the filter without loading it. Neither logs: the caller decides
 * what a failure means. */
#ifndef CELLVM_SECCOMP_POLICY_H
#define CELLVM_SECCOMP_POLICY_H

#include <seccomp.h>
#include <stddef.h>

#define SP_FILE_MAX (256u << 10) /* bytes in one policy file */
#define SP_LINE_MAX 1024         /* bytes in one line, without its '\n' */
#define SP_INCLUDE_DEPTH 8       /* @include nesting below the top file */
#define SP_NAME_MAX 64           /* a policy file's name: [A-Za-z0-9._-], no leading '.' */
/* Alternatives with argument checks in a whole policy: libseccomp's merging
 * of one syscall's rules grows steeply (seconds for a few hundred). */
#define SP_ALTERNATIVES_MAX 256
#define SP_BPF_MAX 4096          /* instructions the kernel takes in one filter */

struct sp_policy;

/* How to get a policy file's text by name (never with '/': the parser checks
 * names first). Returns 0 with a malloc'd text and its length (the parser
 * frees it), or -errno. */
typedef int (*sp_reader)(void *opaque, const char *name, char **text, size_t *len);

/* The real reader: dir is the directory (a const char *); reads <dir>/<name>,
 * a regular file of at most SP_FILE_MAX bytes (-EFBIG beyond, -EINVAL for a
 * name with '/' or a file that is not regular). */
int sp_read_file(void *dir, const char *name, char **text, size_t *len);

/* Parses `name` and everything it includes. 0 with *out set (sp_free it);
 * -EINVAL with "FILE:LINE: ..." in err; -ENOMEM; or the reader's error with
 * err naming the file (and the @include line that wanted it). err may be
 * NULL; the message is cut to errlen. */
int sp_parse(const char *name, sp_reader read, void *opaque, struct sp_policy **out, char *err,
	     size_t errlen);
void sp_free(struct sp_policy *p);

/* The distinct syscalls the policy lets through (allowed, with or without
 * argument checks, or made to fail with an errno), for docs/security.md; and
 * their names in order of syscall number (i < sp_syscall_count, else NULL). */
size_t sp_syscall_count(const struct sp_policy *p);
const char *sp_syscall_name(const struct sp_policy *p, size_t i);

/* What the filter does with a syscall the policy does not let through. */
enum sp_default {
	SP_DEFAULT_TRAP,   /* enforce: SIGSYS to the thread (the sandbox's reporter names the
			    * syscall and kills) */
	SP_DEFAULT_KILL,   /* enforce without a reporter: SCMP_ACT_KILL_PROCESS */
	SP_DEFAULT_NOTIFY, /* --sandbox=log: SCMP_ACT_NOTIFY; a notifier thread logs and lets
			    * the call continue. The filter also allows what that thread calls
			    * (ioctl SECCOMP_IOCTL_NOTIF_RECV / SEND / ID_VALID, read, close,
			    * write, exit_group), so it can never wait on itself. */
	SP_DEFAULT_LOG,    /* --sandbox=log in a process that starts confined children:
			    * SCMP_ACT_LOG (allowed, recorded by the kernel's audit log); a
			    * child cannot add a notifier under a filter that has one */
};

/* Builds a filter for the native arch, not loaded: the policy's rules, `def`
 * for everything else, SCMP_FLTATR_CTL_TSYNC (every thread), and the whole
 * process killed for a syscall of another arch (x32 or i386 on x86-64).
 * Returns 0 with *out set (seccomp_release it), or -errno with the reason in
 * err: -E2BIG for a filter over SP_BPF_MAX instructions; -EINVAL when the
 * notifier's needs clash with the policy (a `return` rule for one of its
 * syscalls, or an ioctl alternative with !=, <, <=, >, >=, which it would
 * have to share); -EOPNOTSUPP when libseccomp or the kernel cannot notify
 * with TSYNC. */
int sp_compile(const struct sp_policy *p, enum sp_default def, scmp_filter_ctx *out, char *err,
	       size_t errlen);

#endif
