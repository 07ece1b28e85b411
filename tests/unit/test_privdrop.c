/* The --user parser, how a child's end is described, and the privilege drop
 * itself (as root only: each drop runs in a forked child, which reports the
 * first check that failed as its exit status). */
#include <cap-ng.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <linux/securebits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"
#include "spawn.h"

static void quiet(void)
{
	log_init("test_privdrop", LOG_LVL_ERROR);
}

TestSuite(privdrop, .init = quiet);

/* ---------------------------------------------------------------- --user */

static void expect_user(const char *s, uid_t uid, gid_t gid)
{
	uid_t u = 77;
	gid_t g = 77;
	int r = privdrop_parse_user(s, &u, &g);
	cr_expect_eq(r, 0, "\"%s\": %d", s, r);
	cr_expect_eq(u, uid, "\"%s\": uid %u, want %u", s, (unsigned)u, (unsigned)uid);
	cr_expect_eq(g, gid, "\"%s\": gid %u, want %u", s, (unsigned)g, (unsigned)gid);
}

static void expect_refused(const char *s, int want)
{
	uid_t u = 77;
	gid_t g = 77;
	int r = privdrop_parse_user(s, &u, &g);
	cr_expect_eq(r, want, "\"%s\": got %d, want %d", s, r, want);
	cr_expect(u == 77 && g == 77, "\"%s\": output changed on failure", s);
}

Test(privdrop, numeric_ids)
{
	expect_user("1000:1000", 1000, 1000);
	expect_user("0:0", 0, 0);
	expect_user("12:34", 12, 34);
	expect_user("007:8", 7, 8);
	expect_user("4294967294:4294967294", 4294967294u, 4294967294u);
}

Test(privdrop, bad_numeric_forms)
{
	static const char *const bad[] = {
		"", ":", "1:", ":1", "a:b", "1:b", "a:1", "1:2:3",
		" 1:2", "1 :2", "1: 2", "1:2 ", "+1:2", "-1:2", "1:-2", "0x10:1", "1.0:2",
		"4294967295:0", "0:4294967295", /* (uid_t)-1 means "unchanged" */
		"4294967296:0", "0:18446744073709551616",
		"99999999999:1", "00000000001:1", /* more digits than any id */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i], -EINVAL);
}

Test(privdrop, user_names)
{
	expect_user("root", 0, 0);
	struct passwd *pw = getpwnam("nobody");
	if (pw)
		expect_user("nobody", pw->pw_uid, pw->pw_gid);
	expect_refused("cellvm-no-such-user", -ENOENT);
	expect_refused("1000", -ENOENT); /* no ':' makes it a name */
}

/* ------------------------------------------------------- child_end_describe */

static void expect_describe(struct child_end end, const char *want)
{
	char buf[96];
	memset(buf, 'x', sizeof(buf));
	child_end_describe(&end, buf, sizeof(buf));
	cr_expect_str_eq(buf, want);
}

Test(privdrop, child_end_describe)
{
	expect_describe((struct child_end){ .status = 0 }, "exited with status 0");
	expect_describe((struct child_end){ .status = 12 }, "exited with status 12");
	expect_describe((struct child_end){ .signaled = true, .status = SIGKILL },
			"killed by signal 9 (SIGKILL)");
	expect_describe((struct child_end){ .signaled = true, .status = SIGSYS },
			"killed by signal 31 (SIGSYS: a seccomp violation)");
	expect_describe((struct child_end){ .signaled = true, .status = SIGSEGV, .core = true },
			"killed by signal 11 (SIGSEGV), core dumped");
	expect_describe((struct child_end){ .signaled = true, .status = SIGSYS, .core = true },
			"killed by signal 31 (SIGSYS: a seccomp violation), core dumped");
	expect_describe((struct child_end){ .signaled = true, .status = 99 },
			"killed by signal 99");
}

Test(privdrop, child_end_describe_truncates)
{
	struct child_end end = { .signaled = true, .status = SIGKILL };
	char buf[8];
	child_end_describe(&end, buf, sizeof(buf));
	cr_expect_str_eq(buf, "killed ");
	buf[0] = '#';
	child_end_describe(&end, buf, 0);
	cr_expect_eq(buf[0], '#', "len 0 wrote");
}

/* ----------------------------------------------------------- privdrop_to */

#define NOBODY 65534

static void need_root(void)
{
	quiet();
	if (geteuid() != 0)
		cr_skip_test("needs root (CI runs as root)");
}

/* Runs fn in a forked child; its exit status (0 = every check passed). */
static int in_child(int (*fn)(const void *), const void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(fn(arg));
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "the child was killed by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

/* A Cap* line of /proc/self/status; ~0 if it cannot be read. */
static unsigned long long cap_set(const char *name)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return ~0ull;
	char line[128];
	unsigned long long v = ~0ull;
	size_t n = strlen(name);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	return v;
}

/* The checks after a drop to NOBODY; 0 or the number of the first failure. */
static int dropped_to_nobody(const char *root_only)
{
	uid_t r, e, s;
	gid_t rg, eg, sg, groups[4];
	if (getresuid(&r, &e, &s) < 0 || r != NOBODY || e != NOBODY || s != NOBODY)
		return 10;
	if (getresgid(&rg, &eg, &sg) < 0 || rg != NOBODY || eg != NOBODY || sg != NOBODY)
		return 11;
	if (getgroups(4, groups) != 1 || groups[0] != NOBODY)
		return 12;
	static const char *const sets[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
	for (int i = 0; i < 5; i++)
		if (cap_set(sets[i]) != 0)
			return 13 + i;
	if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0)
		return 18;
	errno = 0;
	if (open(root_only, O_RDONLY) >= 0 || errno != EACCES)
		return 19;
	if (setuid(0) == 0 || setgid(0) == 0)
		return 20;
	return 0;
}

static const char *const failed[] = {
	[1] = "privdrop_to failed",
	[2] = "set-up before the drop failed",
	[3] = "wrong result",
	[4] = "wrong log",
	[10] = "uid", [11] = "gid", [12] = "supplementary groups",
	[13] = "CapInh", [14] = "CapPrm", [15] = "CapEff", [16] = "CapBnd", [17] = "CapAmb",
	[18] = "PR_GET_KEEPCAPS", [19] = "opened a root-only file", [20] = "got root back",
};

static void expect_child_ok(int (*fn)(const void *), const void *arg)
{
	int code = in_child(fn, arg);
	cr_expect_eq(code, 0, "check %d failed: %s", code,
		     code < (int)(sizeof(failed) / sizeof(failed[0])) && failed[code] ?
			     failed[code] : "?");
}

/* A file only root may read. */
static void make_root_only(char *path)
{
	int fd = mkstemp(path); /* 0600, owned by root */
	cr_assert_geq(fd, 0);
	close(fd);
}

static int drop_to_nobody(const void *root_only)
{
	if (privdrop_to(NOBODY, NOBODY) != 0)
		return 1;
	return dropped_to_nobody(root_only);
}

Test(privdrop, root_drops_to_nobody, .init = need_root)
{
	char path[] = "/tmp/privdrop-root-only-XXXXXX";
	make_root_only(path);
	expect_child_ok(drop_to_nobody, path);
	unlink(path);
}

/* With PR_SET_KEEPCAPS on, leaving uid 0 would keep the permitted set. */
static int drop_with_keepcaps(const void *root_only)
{
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return 2;
	return drop_to_nobody(root_only);
}

Test(privdrop, keepcaps_is_turned_off, .init = need_root)
{
	char path[] = "/tmp/privdrop-root-only-XXXXXX";
	make_root_only(path);
	expect_child_ok(drop_with_keepcaps, path);
	unlink(path);
}

/* Staying uid 0 keeps every capability unless they are cleared explicitly;
 * an ambient one (raised here) goes with the permitted and inheritable sets. */
static int drop_to_root(const void *arg)
{
	(void)arg;
	if (capng_get_caps_process() < 0 ||
	    capng_update(CAPNG_ADD, CAPNG_INHERITABLE, CAP_NET_ADMIN) < 0 ||
	    capng_apply(CAPNG_SELECT_CAPS) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) < 0 ||
	    cap_set("CapAmb") == 0)
		return 2;
	if (privdrop_to(0, 0) != 0)
		return 1;
	static const char *const sets[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
	for (int i = 0; i < 5; i++)
		if (cap_set(sets[i]) != 0)
			return 13 + i;
	return 0;
}

Test(privdrop, staying_uid_0_still_clears_capabilities, .init = need_root)
{
	expect_child_ok(drop_to_root, NULL);
}

/* Once unprivileged: the same ids again is fine (nothing left to drop). */
static int drop_twice(const void *root_only)
{
	if (privdrop_to(NOBODY, NOBODY) != 0 || privdrop_to(NOBODY, NOBODY) != 0)
		return 1;
	return dropped_to_nobody(root_only);
}

Test(privdrop, unprivileged_same_ids_succeeds, .init = need_root)
{
	char path[] = "/tmp/privdrop-root-only-XXXXXX";
	make_root_only(path);
	expect_child_ok(drop_twice, path);
	unlink(path);
}

/* Runs privdrop_to(uid, gid) with stderr in a memfd: 0 if it returned
 * -EPERM after exactly one line that contains `want`. */
static int refused_with(uid_t uid, gid_t gid, const char *want)
{
	int log = memfd_create("log", 0);
	if (log < 0 || dup2(log, STDERR_FILENO) < 0)
		return 2;
	if (privdrop_to(uid, gid) != -EPERM)
		return 3;
	char buf[1024];
	ssize_t n = pread(log, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 4;
	buf[n] = '\0';
	char *nl = strchr(buf, '\n');
	if (!strstr(buf, want) || !nl || nl[1] != '\0')
		return 4;
	return 0;
}

static int other_ids_unprivileged(const void *arg)
{
	(void)arg;
	if (privdrop_to(NOBODY, NOBODY) != 0)
		return 2;
	return refused_with(1000, 1000, "setresgid");
}

Test(privdrop, unprivileged_other_ids_is_eperm, .init = need_root)
{
	expect_child_ok(other_ids_unprivileged, NULL);
}

/* PR_SET_KEEPCAPS locked on: it cannot end 0, so the drop fails. */
static int keepcaps_locked(const void *arg)
{
	(void)arg;
	if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0) < 0)
		return 2;
	return refused_with(NOBODY, NOBODY, "PR_SET_KEEPCAPS");
}

Test(privdrop, keepcaps_locked_is_eperm, .init = need_root)
{
	expect_child_ok(keepcaps_locked, NULL);
}

/* A step that reports success but does nothing (a seccomp filter makes the
 * syscall return 0 without running it) must be caught by the read-back. */
struct fake {
	const char *what;
	int sys;
	int prctl_op; /* for prctl: the option faked; else 0 */
	uid_t id;     /* privdrop_to(id, id) */
	const char *want;
};

static const struct fake fakes[] = {
	{ "setresuid", SCMP_SYS(setresuid), 0, NOBODY, "the uid did not change" },
	{ "setresgid", SCMP_SYS(setresgid), 0, NOBODY, "the gid did not change" },
	{ "setgroups", SCMP_SYS(setgroups), 0, NOBODY, "supplementary groups are left" },
	{ "capset", SCMP_SYS(capset), 0, 0, "capabilities are left" },
	{ "PR_CAPBSET_DROP", SCMP_SYS(prctl), PR_CAPBSET_DROP, NOBODY,
	  "the bounding set is not empty" },
	{ "PR_SET_KEEPCAPS", SCMP_SYS(prctl), PR_SET_KEEPCAPS, NOBODY,
	  "PR_SET_KEEPCAPS is still set" },
};

static int with_fake(const void *arg)
{
	const struct fake *f = arg;
	/* On, so that faking its reset leaves it on; groups, so that faking
	 * setgroups leaves some. */
	static const gid_t groups[] = { 0, 4 };
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(2, groups) < 0)
		return 2;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return 2;
	struct scmp_arg_cmp op = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = f->prctl_op };
	int r = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(0), f->sys, f->prctl_op ? 1 : 0, &op);
	if (r < 0 || seccomp_load(ctx) < 0)
		return 2;
	seccomp_release(ctx);
	return refused_with(f->id, f->id, f->want);
}

Test(privdrop, a_step_that_did_not_take_is_eperm, .init = need_root)
{
	for (size_t i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++) {
		int code = in_child(with_fake, &fakes[i]);
		cr_expect_eq(code, 0, "%s faked: check %d failed: %s", fakes[i].what, code,
			     code < (int)(sizeof(failed) / sizeof(failed[0])) && failed[code] ?
				     failed[code] : "?");
	}
}
