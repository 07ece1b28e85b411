/* The worker's launch contract: what the controller builds is what the
 * worker parses (common/worker_args.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "worker_args.h"

static size_t argc_of(const struct worker_cmdline *cl)
{
	size_t n = 0;
	while (cl->argv[n])
		n++;
	return n;
}

static const char *after(const struct worker_cmdline *cl, const char *opt)
{
	for (size_t i = 0; cl->argv[i]; i++)
		if (strcmp(cl->argv[i], opt) == 0)
			return cl->argv[i + 1];
	return NULL;
}

static struct worker_given given(size_t nbackends)
{
	static const char *const names[] = { "blk0", "net0", "console0", "rng0",
					     "blk1", "blk2", "blk3", "blk4" };
	struct worker_given g = { .machine = 40, .mem = 41, .kernel = 42, .initrd = -1,
				  .serial = 43, .control = 44, .kvm = -1,
				  .nbackends = nbackends };
	for (size_t i = 0; i < nbackends; i++) {
		g.backend_name[i] = names[i];
		g.backend[i] = 50 + (int)i;
	}
	return g;
}

Test(worker_args, each_fd_at_its_number_and_named_there)
{
	struct worker_given g = given(2);
	g.kvm = 45;
	struct worker_cmdline cl;
	const char *extra[] = { "--log-level", "info", NULL };
	cr_assert_eq(worker_cmdline_build(&g, extra, &cl), 0);
	cr_expect_str_eq(cl.argv[0], "cellvm-vcpu");
	cr_expect_str_eq(after(&cl, "--machine-fd"), "3");
	cr_expect_str_eq(after(&cl, "--kvm-fd"), "9");
	cr_expect_null(after(&cl, "--initrd-fd"), "no initrd, no option");
	cr_expect_str_eq(after(&cl, "--log-level"), "info");
	cr_expect_null(after(&cl, "--kvm-check"), "the full check is the default: no option");
	cr_expect_str_eq(cl.argv[argc_of(&cl) - 2], "--log-level", "extra options come last");
	cr_assert_eq(cl.nfds, 8);
	int seen_backend = 0;
	for (size_t i = 0; i < cl.nfds; i++) {
		if (cl.fds[i].fd == 51) {
			cr_expect_eq(cl.fds[i].target, WORKER_FD_BACKEND0 + 1);
			seen_backend = 1;
		}
		if (cl.fds[i].fd == 41)
			cr_expect_eq(cl.fds[i].target, WORKER_FD_MEM);
	}
	cr_expect(seen_backend);
}

Test(worker_args, too_long_a_command_line_is_refused)
{
	struct worker_given g = given(MACHINE_MAX_VIRTIO);
	const char *extra[WORKER_ARGV_MAX] = { 0 };
	for (size_t i = 0; i < WORKER_ARGV_MAX - 1; i++)
		extra[i] = "--x";
	struct worker_cmdline cl;
	cr_expect_eq(worker_cmdline_build(&g, extra, &cl), -E2BIG);
	/* argv[0], 5 fds and the backends with their values, the NULL */
	extra[WORKER_ARGV_MAX - 1 - (1 + 2 * (5 + MACHINE_MAX_VIRTIO))] = NULL;
	cr_expect_eq(worker_cmdline_build(&g, extra, &cl), 0, "exactly full fits");
	g.kvm_check = WORKER_KVM_CHECK_API;
	cr_expect_eq(worker_cmdline_build(&g, extra, &cl), -E2BIG, "--kvm-check api counts too");
}

/* In a child with every target fd open, as the spawner leaves it: the
 * parser finds each role at the number the builder chose. */
Test(worker_args, what_is_built_is_what_is_parsed)
{
	struct worker_given g = given(3);
	g.initrd = 47;
	g.kvm_check = WORKER_KVM_CHECK_API;
	struct worker_cmdline cl;
	const char *extra[] = { "--sandbox", "log", NULL };
	cr_assert_eq(worker_cmdline_build(&g, extra, &cl), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (size_t i = 0; i < cl.nfds; i++)
			if (null < 0 || dup2(null, cl.fds[i].target) < 0)
				_exit(2);
		log_init("test", LOG_LVL_ERROR);
		struct worker_args w;
		int ok = worker_args_parse((int)argc_of(&cl), (char **)cl.argv, &w) == 0 &&
			 w.machine_fd == WORKER_FD_MACHINE && w.mem_fd == WORKER_FD_MEM &&
			 w.kernel_fd == WORKER_FD_KERNEL && w.initrd_fd == WORKER_FD_INITRD &&
			 w.serial_fd == WORKER_FD_SERIAL && w.control_fd == WORKER_FD_CONTROL &&
			 w.kvm_fd == -1 && w.nbackends == 3 &&
			 strcmp(w.backends[2].name, "console0") == 0 &&
			 w.backends[2].fd == WORKER_FD_BACKEND0 + 2 &&
			 w.confine.mode == SANDBOX_LOG && !w.check_kvm && !w.help &&
			 w.kvm_check == WORKER_KVM_CHECK_API;
		_exit(ok ? 0 : 1);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

Test(worker_args, parse_refuses_what_it_cannot_use)
{
	log_init("test", LOG_LVL_ERROR);
	struct worker_args w;
	char *no_machine[] = { "cellvm-vcpu", "--mem-fd", "0", "--kernel-fd", "0", NULL };
	cr_expect_eq(worker_args_parse(5, no_machine, &w), -EINVAL);
	char *closed[] = { "cellvm-vcpu", "--machine-fd", "1000", NULL };
	cr_expect_eq(worker_args_parse(3, closed, &w), -EINVAL);
	char *bad_backend[] = { "cellvm-vcpu", "--check-kvm", "--backend", "=0", NULL };
	cr_expect_eq(worker_args_parse(4, bad_backend, &w), -EINVAL);
	char *stray[] = { "cellvm-vcpu", "--check-kvm", "stray", NULL };
	cr_expect_eq(worker_args_parse(3, stray, &w), -EINVAL);
	char *check[] = { "cellvm-vcpu", "--check-kvm", "--backend", "rng0=0", NULL };
	cr_expect_eq(worker_args_parse(4, check, &w), 0);
	cr_expect(w.check_kvm);
	cr_expect_eq(w.nbackends, 1);
	cr_expect_eq(w.kvm_check, WORKER_KVM_CHECK_FULL);
	char *api[] = { "cellvm-vcpu", "--check-kvm", "--kvm-check", "api", NULL };
	cr_expect_eq(worker_args_parse(4, api, &w), 0);
	cr_expect_eq(w.kvm_check, WORKER_KVM_CHECK_API);
	char *bad_check[] = { "cellvm-vcpu", "--check-kvm", "--kvm-check", "none", NULL };
	cr_expect_eq(worker_args_parse(4, bad_check, &w), -EINVAL);
}
