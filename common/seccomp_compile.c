/* A parsed seccomp policy to a libseccomp filter (common/seccomp_policy.h). */
#include "seccomp_policy_int.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert(SP_BPF_MAX == BPF_MAXINSNS, "the kernel's limit");

/* What the --sandbox=log notifier thread (common/sandbox.c) calls once the
 * filter is loaded: it must never wait for an answer to its own syscall. */
static const struct {
	const char *name;
	int nr;
	bool check;    /* allowed only for this arg1 */
	uint64_t arg1;
} notifier_calls[] = {
	{ "ioctl", SCMP_SYS(ioctl), true, SECCOMP_IOCTL_NOTIF_RECV },
	{ "ioctl", SCMP_SYS(ioctl), true, SECCOMP_IOCTL_NOTIF_SEND },
	{ "ioctl", SCMP_SYS(ioctl), true, SECCOMP_IOCTL_NOTIF_ID_VALID },
	/* the number before Linux 5.17 fixed its direction; libseccomp tries both */
	{ "ioctl", SCMP_SYS(ioctl), true, SECCOMP_IOR(2, __u64) },
	{ "read", SCMP_SYS(read), false, 0 },   /* the hand-over of the notification fd */
	{ "close", SCMP_SYS(close), false, 0 }, /* and of its socket */
	{ "write", SCMP_SYS(write), false, 0 }, /* its log lines */
	{ "exit_group", SCMP_SYS(exit_group), false, 0 }, /* when the notification fd breaks */
};
#define NOTIFIER_CALLS (sizeof(notifier_calls) / sizeof(notifier_calls[0]))

__attribute__((format(printf, 3, 4))) static void cfail(char *err, size_t errlen,
							 const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct sp_syscall *lookup(const struct sp_policy *p, int nr)
{
	bool found;
	size_t i = sp_find_syscall(p, nr, &found);
	return found ? &p->sc[i] : NULL;
}

/* Everything the filter says about nr: the policy's rule, and for
 * SP_DEFAULT_NOTIFY what the notifier needs of it. */
static int add_syscall(scmp_filter_ctx ctx, const struct sp_policy *p, int nr,
		       enum sp_default def)
{
	const struct sp_syscall *sc = lookup(p, nr);
	if (sc && sc->errnum)
		return seccomp_rule_add_exact(ctx, SCMP_ACT_ERRNO((uint32_t)sc->errnum), nr, 0);
	bool any = sc && sc->any;
	for (size_t i = 0; def == SP_DEFAULT_NOTIFY && i < NOTIFIER_CALLS; i++)
		any |= notifier_calls[i].nr == nr && !notifier_calls[i].check;
	if (any)
		return seccomp_rule_add_exact(ctx, SCMP_ACT_ALLOW, nr, 0);
	size_t n = sc ? sc->nchains : 0;
	struct chain *v = malloc((n + NOTIFIER_CALLS) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (n)
		memcpy(v, sc->chains, n * sizeof(*v));
	for (size_t i = 0; def == SP_DEFAULT_NOTIFY && i < NOTIFIER_CALLS; i++) {
		struct chain c = { 1, { { 1, SCMP_CMP_EQ, notifier_calls[i].arg1, 0 } } };
		if (notifier_calls[i].nr == nr)
			sp_merge_chain(v, &n, &c);
	}
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ALLOW, nr, v[i].n, v[i].c);
	free(v);
	return r;
}

/* The filter's length in instructions, as seccomp_load would hand it over. */
static int bpf_length(scmp_filter_ctx ctx, size_t *insns)
{
	int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = seccomp_export_bpf(ctx, fd);
	if (r == 0) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end < 0)
			r = -errno;
		else
			*insns = (size_t)end / sizeof(struct sock_filter);
	}
	close(fd);
	return r;
}

int sp_compile(const struct sp_policy *p, enum sp_default def, scmp_filter_ctx *out, char *err,
	       size_t errlen)
{
	uint32_t act;
	switch (def) {
	case SP_DEFAULT_TRAP: act = SCMP_ACT_TRAP; break;
	case SP_DEFAULT_KILL: act = SCMP_ACT_KILL_PROCESS; break;
	case SP_DEFAULT_NOTIFY: act = SCMP_ACT_NOTIFY; break;
	case SP_DEFAULT_LOG: act = SCMP_ACT_LOG; break;
	default:
		cfail(err, errlen, "unknown default action %d", (int)def);
		return -EINVAL;
	}
	if (def == SP_DEFAULT_NOTIFY) {
		for (size_t i = 0; i < NOTIFIER_CALLS; i++) {
			const struct sp_syscall *sc = lookup(p, notifier_calls[i].nr);
			if (sc && sc->errnum) {
				cfail(err, errlen, "%s: the policy makes it fail (%s), but the "
						   "--sandbox=log notifier needs it",
				      sc->name, sc->where);
				return -EINVAL;
			}
			if (sc && !sc->any && sc->solo && notifier_calls[i].check) {
				cfail(err, errlen,
				      "%s: its alternative (%s) uses !=, <, <=, > or >=, and the "
				      "--sandbox=log notifier adds more: " SOLO_WHY,
				      sc->name, sc->where);
				return -EINVAL;
			}
		}
		/* 6: notification and TSYNC together (kernel 5.7, libseccomp 2.5) */
		unsigned api = seccomp_api_get();
		if (api < 6) {
			cfail(err, errlen, "--sandbox=log needs seccomp API level 6, this "
					   "libseccomp and kernel give %u", api);
			return -EOPNOTSUPP;
		}
	}
	scmp_filter_ctx ctx = seccomp_init(act);
	if (!ctx) {
		cfail(err, errlen, "seccomp_init failed");
		return -ENOMEM;
	}
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r < 0) {
		cfail(err, errlen, "cannot set the filter's attributes: %s", sp_errtext(-r));
		goto fail;
	}
	/* the policy's syscalls, then those only the notifier needs, each once */
	const char *name = NULL;
	for (size_t i = 0; i < p->n && r == 0; i++) {
		name = p->sc[i].name;
		r = add_syscall(ctx, p, p->sc[i].nr, def);
	}
	for (size_t i = 0; def == SP_DEFAULT_NOTIFY && i < NOTIFIER_CALLS && r == 0; i++) {
		bool first = i == 0 || notifier_calls[i - 1].nr != notifier_calls[i].nr;
		if (!first || lookup(p, notifier_calls[i].nr))
			continue;
		name = notifier_calls[i].name;
		r = add_syscall(ctx, p, notifier_calls[i].nr, def);
	}
	if (r < 0) {
		cfail(err, errlen, "libseccomp refused the rules for %s: %s", name, sp_errtext(-r));
		goto fail;
	}
	size_t insns = 0;
	if ((r = bpf_length(ctx, &insns)) < 0) {
		cfail(err, errlen, "cannot generate the filter: %s", sp_errtext(-r));
		goto fail;
	}
	if (insns > SP_BPF_MAX) {
		cfail(err, errlen, "the filter is %zu instructions, the kernel takes at most %d: "
				   "fewer alternatives with argument checks",
		      insns, SP_BPF_MAX);
		r = -E2BIG;
		goto fail;
	}
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return r;
}
