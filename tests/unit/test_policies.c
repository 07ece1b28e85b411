/* The shipped policies (policy/): each parses and compiles, the device
 * policies stay within the budget, docs/security.md's table gives
 * the numbers the policies really have; cellvmd's cannot start a process
 * (cellvm-spawner does), the worker's starts threads only and has no KVM
 * system ioctl, and the spawner's clone is fork's or a thread's. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "confine.h"
#include "seccomp_policy.h"

#define DEVICE_BUDGET 40 /* syscalls a device process may have at most */

static const struct {
	const char *kind;
	bool device;
} kinds[] = {
	{ "rng", true },      { "blk", true },   { "console", true }, { "net", true },
	{ "balloon", true },   { "vsock", true },
	{ "vcpu", false },    { "controller", false }, { "spawner", false },
};

static struct sp_policy *load(const char *kind)
{
	char name[64], err[512];
	snprintf(name, sizeof(name), "%s.policy", kind);
	struct sp_policy *p = NULL;
	int r = sp_parse(name, sp_read_file, (void *)CELLVM_SRC_POLICY_DIR, &p, err, sizeof(err));
	cr_assert_eq(r, 0, "%s: %s", name, err);
	return p;
}

Test(policies, parse_compile_and_stay_in_budget)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct sp_policy *p = load(kinds[i].kind);
		char err[512];
		for (enum sp_default d = SP_DEFAULT_TRAP; d <= SP_DEFAULT_NOTIFY; d++) {
			scmp_filter_ctx ctx;
			cr_assert_eq(sp_compile(p, d, &ctx, err, sizeof(err)), 0, "%s: %s",
				     kinds[i].kind, err);
			seccomp_release(ctx);
		}
		if (kinds[i].device)
			cr_expect_leq(sp_syscall_count(p), DEVICE_BUDGET, "%s: %zu syscalls",
				      kinds[i].kind, sp_syscall_count(p));
		sp_free(p);
	}
}

/* docs/security.md has a row "| `<kind>.policy` | N | ..." per policy. */
Test(policies, docs_give_the_real_numbers)
{
	FILE *f = fopen(CELLVM_SRC_DOCS_DIR "/security.md", "r");
	cr_assert_not_null(f, "docs/security.md");
	static char doc[65536];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct sp_policy *p = load(kinds[i].kind);
		char row[64];
		snprintf(row, sizeof(row), "| `%s.policy` | ", kinds[i].kind);
		const char *at = strstr(doc, row);
		cr_assert_not_null(at, "docs/security.md has no row for %s.policy", kinds[i].kind);
		unsigned long documented = strtoul(at + strlen(row), NULL, 10);
		cr_expect_eq(documented, sp_syscall_count(p),
			     "docs/security.md says %lu syscalls for %s.policy, it has %zu", documented,
			     kinds[i].kind, sp_syscall_count(p));
		sp_free(p);
	}
}

/* What makes or changes processes and mounts: the spawner's, never cellvmd's. */
static const char *const spawner_only[] = {
	"execve", "execveat", "fork", "vfork", "clone", "clone3", "unshare", "setns",
	"mount", "umount2", "pivot_root", "fsopen", "fsmount", "move_mount", "ptrace",
	"seccomp", "capset", "setrlimit", "kill", "prctl",
};

Test(policies, the_controller_names_no_syscall_that_starts_a_process)
{
	struct sp_policy *p = load("controller");
	for (size_t i = 0; sp_syscall_name(p, i); i++)
		for (size_t k = 0; k < sizeof(spawner_only) / sizeof(spawner_only[0]); k++)
			cr_expect_str_neq(sp_syscall_name(p, i), spawner_only[k],
					  "controller.policy allows %s", spawner_only[k]);
	sp_free(p);
}

/* What a child makes once confined; the value is what happened. */
enum call {
	CALL_NOTHING,
	CALL_FORK,		/* the fork syscall */
	CALL_CLONE_SIGCHLD,	/* clone(SIGCHLD): a fork, but not glibc's */
	CALL_CLONE_VFORK,	/* clone(CLONE_VM|CLONE_VFORK|SIGCHLD): posix_spawn's */
	CALL_EXECVE,
	CALL_GLIBC_FORK,	/* fork(): clone(CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD) */
	CALL_THREAD,		/* pthread_create: clone3, then clone on ENOSYS */
	CALL_CLONE3,		/* clone3 with no arguments: EINVAL if it runs */
	CALL_KVM_IOCTL,		/* ioctl(-1, arg): EBADF if it runs */
	CALL_UNIX_SOCKET,	/* socket(AF_UNIX, SOCK_STREAM | arg, 0) */
};

enum { RAN = 0, NOT_CONFINED = 100, RETURNED = 102, FAILED = 103, CLONE3_RAN = 104 };

static void *thread_main(void *arg)
{
	return arg;
}

static _Noreturn void make(enum call call, unsigned long arg)
{
	static char *const argv[] = { "/bin/true", NULL };
	pthread_t t;
	pid_t pid;
	int st;
	switch (call) {
	case CALL_NOTHING: _exit(getpid() > 0 ? RAN : FAILED);
	case CALL_FORK: syscall(SYS_fork); break;
	case CALL_CLONE_SIGCHLD: syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); break;
	case CALL_CLONE_VFORK: syscall(SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0); break;
	case CALL_EXECVE: execve(argv[0], argv, NULL); break;
	case CALL_GLIBC_FORK:
		if ((pid = fork()) == 0)
			_exit(RAN);
		_exit(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
			      WEXITSTATUS(st) == RAN ? RAN : FAILED);
	case CALL_THREAD:
		_exit(pthread_create(&t, NULL, thread_main, NULL) == 0 && pthread_join(t, NULL) == 0
			      ? RAN : FAILED);
	case CALL_CLONE3:
		if (syscall(SYS_clone3, NULL, 0) < 0)
			_exit(errno == ENOSYS ? RAN : CLONE3_RAN);
		break;
	case CALL_KVM_IOCTL:
		if (ioctl(-1, arg, 0) < 0)
			_exit(errno == EBADF ? RAN : FAILED);
		break;
	case CALL_UNIX_SOCKET:
		_exit(socket(AF_UNIX, SOCK_STREAM | (int)arg, 0) >= 0 ? RAN : FAILED);
	}
	_exit(RETURNED);
}

/* A child confines itself with <kind>.policy and makes one call: its exit
 * status (enum above), or minus the signal that killed it. */
static int under(const char *kind, enum call call, unsigned long arg)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct confine_opts o;
		confine_opts_init(&o);
		o.policy_dir = CELLVM_SRC_POLICY_DIR;
		if (confine(&o, &(struct confine_req){ .process = "probe", .kind = kind,
						       .max_fds = 64, .new_tasks = 4,
						       .writes_files = true }) < 0)
			_exit(NOT_CONFINED);
		make(call, arg);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

Test(policies, the_controller_policy_kills_fork_clone_and_exec)
{
	cr_expect_eq(under("controller", CALL_NOTHING, 0), RAN, "getpid under controller.policy");
	cr_expect_eq(under("controller", CALL_FORK, 0), -SIGSYS, "fork");
	cr_expect_eq(under("controller", CALL_CLONE_SIGCHLD, 0), -SIGSYS, "clone");
	cr_expect_eq(under("controller", CALL_EXECVE, 0), -SIGSYS, "execve");
	cr_expect_eq(under("controller", CALL_THREAD, 0), -SIGSYS, "pthread_create");
}

/* clone3's flags are in memory, out of seccomp's sight: it fails with
 * ENOSYS, and glibc starts threads with clone, whose flags the policy
 * checks: a thread passes, a new process does not. */
Test(policies, the_worker_starts_threads_and_no_process)
{
	cr_expect_eq(under("vcpu", CALL_CLONE3, 0), RAN, "clone3 answers ENOSYS");
	cr_expect_eq(under("vcpu", CALL_THREAD, 0), RAN, "pthread_create");
	cr_expect_eq(under("vcpu", CALL_GLIBC_FORK, 0), -SIGSYS, "fork()");
	cr_expect_eq(under("vcpu", CALL_CLONE_SIGCHLD, 0), -SIGSYS, "clone(SIGCHLD)");
	cr_expect_eq(under("vcpu", CALL_CLONE_VFORK, 0), -SIGSYS, "clone(CLONE_VM|CLONE_VFORK)");
	cr_expect_eq(under("vcpu", CALL_FORK, 0), -SIGSYS, "fork");
	cr_expect_eq(under("vcpu", CALL_EXECVE, 0), -SIGSYS, "execve");
}

/* The spawner forks as glibc does, its children start threads under its
 * filter; clone3 and any other clone fail there too. */
Test(policies, the_spawner_forks_and_starts_threads_through_clone_only)
{
	cr_expect_eq(under("spawner", CALL_GLIBC_FORK, 0), RAN, "fork()");
	cr_expect_eq(under("spawner", CALL_THREAD, 0), RAN, "pthread_create");
	cr_expect_eq(under("spawner", CALL_CLONE3, 0), RAN, "clone3 answers ENOSYS");
	cr_expect_eq(under("spawner", CALL_CLONE_SIGCHLD, 0), -SIGSYS, "clone(SIGCHLD)");
	cr_expect_eq(under("spawner", CALL_CLONE_VFORK, 0), -SIGSYS,
		     "clone(CLONE_VM|CLONE_VFORK)");
}

/* The worker creates its VM before its filter is loaded and closes
 * /dev/kvm: confined, it has no system ioctl left, so no new VM. */
Test(policies, the_confined_worker_cannot_create_a_vm)
{
	static const struct {
		unsigned long nr;
		const char *name;
	} system[] = {
		{ KVM_CREATE_VM, "KVM_CREATE_VM" },
		{ KVM_GET_API_VERSION, "KVM_GET_API_VERSION" },
		{ KVM_CHECK_EXTENSION, "KVM_CHECK_EXTENSION" },
		{ KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE" },
		{ KVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID" },
		{ KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP" },
		{ KVM_CREATE_PIT2, "KVM_CREATE_PIT2" },
	};
	for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++)
		cr_expect_eq(under("vcpu", CALL_KVM_IOCTL, system[i].nr), -SIGSYS, "%s",
			     system[i].name);
	/* What it does use still reaches the kernel. */
	cr_expect_eq(under("vcpu", CALL_KVM_IOCTL, KVM_RUN), RAN, "KVM_RUN");
	cr_expect_eq(under("vcpu", CALL_KVM_IOCTL, KVM_CREATE_VCPU), RAN, "KVM_CREATE_VCPU");
}

/* cellvm-vsock connects a guest's connection to a host socket with
 * unix_connect's socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK);
 * any other socket is refused. */
Test(policies, vsock_makes_its_unix_stream_sockets_and_no_other)
{
	cr_expect_eq(under("vsock", CALL_UNIX_SOCKET, SOCK_NONBLOCK | SOCK_CLOEXEC), RAN,
		     "socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC)");
	cr_expect_eq(under("vsock", CALL_UNIX_SOCKET, SOCK_CLOEXEC), -SIGSYS,
		     "socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)");
	cr_expect_eq(under("blk", CALL_UNIX_SOCKET, SOCK_NONBLOCK | SOCK_CLOEXEC), -SIGSYS,
		     "socket under blk.policy");
}

/* A child runs under the spawner's filter as well as its own: a device
 * policy the spawner's does not include kills that device at the first
 * call only its own allows (cellvm-vsock's socket, cellvm-balloon's
 * MADV_REMOVE did). */
Test(policies, the_spawner_policy_includes_every_device_policy)
{
	FILE *f = fopen(CELLVM_SRC_POLICY_DIR "/spawner.policy", "r");
	cr_assert_not_null(f, "spawner.policy");
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!kinds[i].device)
			continue;
		char line[64];
		snprintf(line, sizeof(line), "\n@include %s.policy\n", kinds[i].kind);
		cr_expect_not_null(strstr(text, line), "spawner.policy does not include %s.policy",
				   kinds[i].kind);
	}
}
