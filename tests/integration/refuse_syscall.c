/* Runs a program as a host that refuses some syscalls would:
 *
 *   refuse-syscall SYSCALL=ERRNO[,SYSCALL=ERRNO...] PROGRAM [ARG...]
 *
 * loads a seccomp filter that fails each SYSCALL with ERRNO (a number) and
 * allows everything else, then execs PROGRAM, which inherits the filter as
 * it would inherit a container runtime's (Docker's default profile fails
 * io_uring_setup with EPERM) or see the kernel.io_uring_disabled sysctl. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add_rules(scmp_filter_ctx ctx, char *spec)
{
	for (char *save = NULL, *tok = strtok_r(spec, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			return -EINVAL;
		*eq = '\0';
		int nr = seccomp_syscall_resolve_name(tok);
		char *end;
		long e = strtol(eq + 1, &end, 10);
		if (nr == __NR_SCMP_ERROR || *end || e <= 0 || e > 4095)
			return -EINVAL;
		int err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO((unsigned int)e), nr, 0);
		if (err < 0)
			return err;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: refuse-syscall SYSCALL=ERRNO[,...] PROGRAM [ARG...]\n");
		return 2;
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return 2;
	int err = add_rules(ctx, argv[1]);
	if (err == 0)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	if (err < 0) {
		fprintf(stderr, "refuse-syscall: %s: %s\n", argv[1], strerror(-err));
		return 2;
	}
	execv(argv[2], argv + 2);
	fprintf(stderr, "refuse-syscall: %s: %m\n", argv[2]);
	return 127;
}
