/* cellvmd --cgroup (controller/cgroup.h) on this host's cgroup2 mount: a
 * directory that will not do is refused at start with the words why; each
 * process of a VM runs in the leaf of its name beneath DIR/vm, cellvmd and
 * its spawner in DIR/cellvmd, also as --user; the VM's cgroup goes with
 * the VM; what a crashed cellvmd left is killed and removed at start.
 *
 * Needs root (it makes cgroups). On a hybrid host the cgroup2 mount has no
 * controller: the limits are then turned off (none) and only placement is
 * checked; the memory limit itself is the e2e scenario `cgroup`. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cgroup.h"
#include "ctl_harness.h"
#include "lifecycle.h"
#include "metrics.h"
#include "rpc.h"
#include "spawn.h"

#define NOBODY 65534

static char mnt[64];     /* the cgroup2 mount */
static char dir[128];    /* the test's --cgroup DIR beneath it */
static unsigned avail;   /* CGROUP_CTL_* in DIR's cgroup.controllers */

static bool fs_is(const char *path, long magic)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && sf.f_type == magic;
}

static ssize_t slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Removes a cgroup and what is beneath it, killing what runs there. */
static void remove_cgroup(const char *path)
{
	char sub[512], buf[256];
	static const char *const kids[] = { "cellvmd", "vm", "vm/vcpu-worker", "vm/rng0",
					    "vm/console0", "vm/x" };
	snprintf(sub, sizeof(sub), "%s/cgroup.kill", path);
	if (access(sub, F_OK) == 0) {
		int fd = open(sub, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			(void)!write(fd, "1", 1);
			close(fd);
		}
	}
	for (size_t i = sizeof(kids) / sizeof(kids[0]); i-- > 0;) {
		snprintf(sub, sizeof(sub), "%s/%s", path, kids[i]);
		for (int t = 0; t < 100 && rmdir(sub) < 0 && errno == EBUSY; t++)
			ctl_msleep(10);
	}
	snprintf(sub, sizeof(sub), "%s/cgroup.events", path);
	(void)slurp(sub, buf, sizeof(buf));
	rmdir(path);
}

static void cg_init(void)
{
	ctl_init();
	if (geteuid() != 0)
		cr_skip_test("needs root: it makes cgroups");
	if (fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC))
		snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup");
	else if (fs_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
		snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup/unified");
	else
		cr_skip_test("no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified");
	snprintf(dir, sizeof(dir), "%s/cellvm-test.%d", mnt, (int)getpid());
	cr_assert_eq(mkdir(dir, 0755), 0, "%s: %s", dir, strerror(errno));
	char path[256], buf[512];
	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	ssize_t n = slurp(path, buf, sizeof(buf));
	cr_assert_geq(n, 0);
	cr_assert_eq(cgroup_parse_controllers(buf, (size_t)n, &avail), 0);
}

static void cg_fini(void)
{
	ctl_fini();
	if (dir[0])
		remove_cgroup(dir);
}

TestSuite(cgroup, .init = cg_init, .fini = cg_fini, .timeout = 60);

/* --cgroup DIR with what this host can limit: on a cgroup2 mount with no
 * controller (hybrid), placement only. */
static const char *const *cgroup_args(bool as_nobody)
{
	static const char *args[10];
	size_t n = 0;
	if (as_nobody) {
		args[n++] = "--user";
		args[n++] = "65534:65534";
	}
	args[n++] = "--cgroup";
	args[n++] = dir;
	if (!(avail & CGROUP_CTL_MEMORY)) {
		args[n++] = "--cgroup-memory-headroom";
		args[n++] = "none";
	}
	if (!(avail & CGROUP_CTL_PIDS)) {
		args[n++] = "--cgroup-pids-max";
		args[n++] = "none";
	}
	args[n] = NULL;
	return args;
}

/* The cgroup v2 path of pid, relative to the mount ("/a/b"). */
static void cgroup_of(pid_t pid, char *out, size_t len)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	cr_assert_gt(slurp(path, buf, sizeof(buf)), 0);
	char *line = strncmp(buf, "0::", 3) == 0 ? buf : strstr(buf, "\n0::");
	cr_assert_not_null(line, "%s", buf);
	line += line[0] == '\n' ? 4 : 3;
	line[strcspn(line, "\n")] = '\0';
	snprintf(out, len, "%s", line);
}

static void expect_in(pid_t pid, const char *leaf)
{
	char want[256], got[256];
	snprintf(want, sizeof(want), "%s/%s", dir + strlen(mnt), leaf);
	cgroup_of(pid, got, sizeof(got));
	cr_expect_str_eq(got, want, "pid %d", (int)pid);
}

static bool exists(const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return access(path, F_OK) == 0;
}

/* DIR/vm is gone within ms. */
static void expect_vm_cgroup_gone(int ms)
{
	for (uint64_t end = ctl_now_ms() + (uint64_t)ms; exists("vm");) {
		cr_assert_lt(ctl_now_ms(), end, "%s/vm is still there", dir);
		ctl_msleep(10);
	}
}

/* A VM with a worker, rng0 and console0: each in its leaf, cellvmd and the
 * spawner in DIR/cellvmd; Stop removes DIR/vm. */
static void each_in_its_leaf(bool as_nobody)
{
	int c = ctl_start_with(cgroup_args(as_nobody));
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, CTL_WITH_DEVICES);
	if (as_nobody) {
		char path[160];
		cr_assert_eq(chmod(ctl.dir, 0711), 0);
		snprintf(path, sizeof(path), "%s/script%u", ctl.dir, ctl.nfiles - 1);
		cr_assert_eq(chmod(path, 0644), 0);
	}
	expect_in(ctl.pid, "cellvmd");
	expect_in(ctl.spawner, "cellvmd");
	cr_expect(!exists("vm"), "no VM, no VM cgroup");
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	struct ctl_status st = ctl_status(c);
	cr_assert_eq(st.npids, 3);
	for (size_t i = 0; i < st.npids; i++) {
		char leaf[64];
		snprintf(leaf, sizeof(leaf), "vm/%s", st.pids[i].name);
		expect_in(st.pids[i].pid, leaf);
	}
	if (as_nobody) {
		struct stat sb;
		char path[256];
		snprintf(path, sizeof(path), "%s/vm/rng0/cgroup.procs", dir);
		cr_assert_eq(stat(path, &sb), 0);
		cr_expect_eq(sb.st_uid, NOBODY, "the leaves are the service user's");
		cr_assert_eq(stat(dir, &sb), 0);
		cr_expect_eq(sb.st_uid, NOBODY, "DIR was handed to --user");
	}
	/* The counters of a process and of the whole VM, as cellvmd reads them. */
	char leaf[256];
	snprintf(leaf, sizeof(leaf), "%s/vm/vcpu-worker", dir);
	int lfd = open(leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(lfd, 0);
	struct cgroup_stats cs;
	cr_expect_eq(cgroup_read_stats(lfd, &cs), 0);
	close(lfd);
	cr_expect(cs.have & CGROUP_FILE_CPU_STAT, "cpu.stat is always there");
	cr_expect_gt(cs.cpu_usage_usec, 0, "the worker ran");
	cr_expect_eq(!!(cs.have & CGROUP_FILE_MEMORY_CURRENT), !!(avail & CGROUP_CTL_MEMORY));
	/* Metrics reads each process's use from its leaf: the worker's CPU time
	 * there (at least what was read above), its memory only where the leaf
	 * counts it (/proc would always have given a resident size). */
	struct rpc_reply r = ctl_rpc(c, RPC_METRICS, NULL);
	cr_assert(r.ok, "Metrics: %s", r.message);
	static struct metrics_snapshot ms;
	char why[256];
	cr_assert_eq(metrics_from_json(r.result, strlen(r.result), &ms, why, sizeof(why)), 0, "%s",
		     why);
	rpc_reply_free(&r);
	const struct metrics_process *w = NULL;
	for (size_t i = 0; i < ms.nprocs; i++)
		if (strcmp(ms.proc[i].name, "vcpu-worker") == 0)
			w = &ms.proc[i];
	cr_assert_not_null(w, "no vcpu-worker in Metrics");
	cr_expect(w->have_cpu);
	cr_expect_geq(w->cpu_ns, cs.cpu_usage_usec * 1000);
	cr_expect_eq(w->have_memory, !!(cs.have & CGROUP_FILE_MEMORY_CURRENT));
	if (avail & CGROUP_CTL_MEMORY) {
		char path[256], buf[64];
		snprintf(path, sizeof(path), "%s/vm/memory.max", dir);
		cr_assert_gt(slurp(path, buf, sizeof(buf)), 0);
		cr_expect_neq(strcmp(buf, "max\n"), 0, "memory.max is set");
	}
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	ctl_expect_state(c, "NOT_CREATED");
	expect_vm_cgroup_gone(CTL_WAIT_MS);
	/* A second VM gets a cgroup again. */
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, CTL_WITH_RNG);
	if (as_nobody) {
		char path[160];
		snprintf(path, sizeof(path), "%s/script%u", ctl.dir, ctl.nfiles - 1);
		cr_assert_eq(chmod(path, 0644), 0);
	}
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create again");
	st = ctl_status(c);
	cr_assert_eq(st.npids, 2);
	expect_in(ctl_pid_of(&st, "rng0"), "vm/rng0");
	ctl_finish();
	expect_vm_cgroup_gone(CTL_WAIT_MS);
}

Test(cgroup, each_process_runs_in_the_leaf_of_its_name)
{
	each_in_its_leaf(false);
}

Test(cgroup, as_user_too)
{
	each_in_its_leaf(true);
}

/* cellvmd started with args: it exits 1 before it listens, its log says
 * word. */
static void refused(const char *const *args, const char *word)
{
	char sock[128], log[128], buf[4096];
	snprintf(sock, sizeof(sock), "/tmp/cellvm-cgtest.%d.sock", (int)getpid());
	snprintf(log, sizeof(log), "/tmp/cellvm-cgtest.%d.log", (int)getpid());
	char *argv[16] = { "cellvmd", "--socket", sock };
	size_t n = 3;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	struct spawn_req req = { .path = ctl_build_path("controller/cellvmd"), .argv = argv,
				 .stderr_fd = fd };
	pid_t pid;
	int pidfd;
	cr_assert_eq(spawn_child(&req, &pid, &pidfd), 0);
	close(fd);
	bool ended = ctl_readable(pidfd, CTL_WAIT_MS);
	if (!ended) {
		kill(pid, SIGKILL);
		(void)ctl_readable(pidfd, CTL_WAIT_MS);
		unlink(sock);
	}
	cr_assert(ended, "cellvmd %s %s did not exit", args[0], args[1]);
	struct child_end end;
	cr_assert_eq(spawn_reap(pidfd, &end), 1);
	close(pidfd);
	slurp(log, buf, sizeof(buf));
	unlink(log);
	cr_expect(!end.signaled && end.status == 1, "%s %s: status %d: %s", args[0], args[1],
		  end.status, buf);
	cr_expect(strstr(buf, word), "%s %s: no \"%s\" in: %s", args[0], args[1], word, buf);
	cr_expect_neq(access(sock, F_OK), 0, "no socket for a refused --cgroup");
}

Test(cgroup, a_directory_that_will_not_do_is_an_error_at_start)
{
	refused((const char *const[]){ "--cgroup", "/tmp", NULL }, "not a cgroup v2 directory");
	refused((const char *const[]){ "--cgroup", "/nonexistent/cg", NULL },
		"No such file or directory");
	refused((const char *const[]){ "--cgroup", "rel/dir", NULL }, "want an absolute path");
	refused((const char *const[]){ "--cgroup-pids-max", "64", NULL }, "need --cgroup DIR");
	if (fs_is("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC))
		refused((const char *const[]){ "--cgroup", "/sys/fs/cgroup/memory", NULL },
			"a cgroup v1 hierarchy");
	else
		cr_log_info("no cgroup v1 hierarchy at /sys/fs/cgroup/memory: not tried");
	if (!(avail & CGROUP_CTL_MEMORY))
		refused((const char *const[]){ "--cgroup", dir, NULL },
			"controllers are not available");
	else
		cr_log_info("%s has the memory controller: its absence not tried", dir);
}

/* A process in DIR/cellvmd is another cellvmd's: DIR is refused. */
Test(cgroup, a_directory_another_cellvmd_uses_is_refused)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/cellvmd", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/cellvmd/cgroup.procs", dir);
	int procs = open(path, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(procs, 0);
	char *argv[] = { "sleep", "60", NULL };
	struct spawn_req req = { .path = "/bin/sleep", .argv = argv, .stderr_fd = -1,
				 .in_cgroup = true, .cgroup_procs_fd = procs };
	pid_t pid;
	int pidfd;
	cr_assert_eq(spawn_child(&req, &pid, &pidfd), 0);
	close(procs);
	refused((const char *const[]){ "--cgroup", dir, "--cgroup-memory-headroom", "none",
				       "--cgroup-pids-max", "none", NULL },
		"in use");
	kill(pid, SIGKILL);
	struct child_end end;
	cr_assert(ctl_readable(pidfd, CTL_WAIT_MS));
	cr_assert_eq(spawn_reap(pidfd, &end), 1);
	close(pidfd);
}

/* A crashed cellvmd's VM cgroup, with a process still in it: killed and
 * removed when the next cellvmd starts. */
Test(cgroup, what_a_crashed_cellvmd_left_is_killed_and_removed_at_start)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/vm", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/vm/x", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/vm/x/cgroup.procs", dir);
	int procs = open(path, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(procs, 0);
	char *argv[] = { "sleep", "60", NULL };
	struct spawn_req req = { .path = "/bin/sleep", .argv = argv, .stderr_fd = -1,
				 .in_cgroup = true, .cgroup_procs_fd = procs };
	pid_t pid;
	int pidfd;
	cr_assert_eq(spawn_child(&req, &pid, &pidfd), 0);
	close(procs);
	expect_in(pid, "vm/x");
	int c = ctl_start_with(cgroup_args(false));
	cr_assert(ctl_readable(pidfd, 0), "the leftover process was killed before cellvmd serves");
	struct child_end end;
	cr_assert_eq(spawn_reap(pidfd, &end), 1);
	close(pidfd);
	cr_expect(end.signaled && end.status == SIGKILL);
	cr_expect(!exists("vm"), "the leftover cgroup is gone");
	ctl_expect_state(c, "NOT_CREATED");
	ctl_finish();
}

/* spawn_child's in_cgroup: a cgroup.procs it cannot write is an error and
 * leaves no process. */
Test(cgroup, a_child_that_cannot_enter_its_cgroup_does_not_run)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(ro, 0);
	char *argv[] = { "sleep", "60", NULL };
	struct spawn_req req = { .path = "/bin/sleep", .argv = argv, .stderr_fd = -1,
				 .in_cgroup = true, .cgroup_procs_fd = ro };
	pid_t pid;
	int pidfd;
	cr_expect_eq(spawn_child(&req, &pid, &pidfd), -EBADF);
	req.cgroup_procs_fd = -1;
	cr_expect_eq(spawn_child(&req, &pid, &pidfd), -EINVAL);
	close(ro);
	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	char buf[128];
	cr_assert_gt(slurp(path, buf, sizeof(buf)), 0);
	cr_expect(strstr(buf, "populated 0"), "%s", buf);
}
