/* The shipped policies (policy/): each parses and compiles, the device
 * policies stay within the budget, docs/security.md's table gives
 * the numbers the policies really have, and cellvmd's cannot start a
 * process (cellvm-spawner does). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* A child confines itself as cellvmd does and makes one call. */
static int under_controller_policy(int call)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		static char *const argv[] = { "/bin/true", NULL };
		struct confine_opts o;
		confine_opts_init(&o);
		o.policy_dir = CELLVM_SRC_POLICY_DIR;
		if (confine(&o, &(struct confine_req){ .process = "probe", .kind = "controller",
						       .max_fds = 64, .writes_files = true }) < 0)
			_exit(100);
		switch (call) {
		case 0: _exit(getpid() > 0 ? 0 : 101);
		case 1: syscall(SYS_fork); break;
		case 2: syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); break;
		case 3: execve(argv[0], argv, NULL); break;
		}
		_exit(102); /* the call returned */
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

Test(policies, the_controller_policy_kills_fork_clone_and_exec)
{
	cr_expect_eq(under_controller_policy(0), 0, "getpid under controller.policy");
	cr_expect_eq(under_controller_policy(1), -SIGSYS, "fork");
	cr_expect_eq(under_controller_policy(2), -SIGSYS, "clone");
	cr_expect_eq(under_controller_policy(3), -SIGSYS, "execve");
}
