/* Every process cellvmd starts is confined (issue 6), and a device that
 * tries to escape is stopped with the syscall named: cellvmd with the
 * scripted worker (no KVM) and real device processes; the escapes come from
 * tests/hooks/cellvm-rng, cellvm-rng built with tests/hooks/test_hooks.h.
 * The vcpu-worker's confinement is checked on real KVM (tests/e2e/). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_harness.h"
#include "lifecycle.h"
#include "testutil.h"
#include "unix_sock.h"

TestSuite(confinement, .init = ctl_init, .fini = ctl_fini, .timeout = 60);

struct proc_status {
	int seccomp, filters, nnp;
	uint64_t cap_eff, cap_prm, cap_bnd;
};

static struct proc_status proc_status(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	struct proc_status st = { .seccomp = -1, .nnp = -1 };
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Seccomp: %d", &st.seccomp);
		sscanf(line, "Seccomp_filters: %d", &st.filters);
		sscanf(line, "NoNewPrivs: %d", &st.nnp);
		sscanf(line, "CapEff: %" SCNx64, &st.cap_eff);
		sscanf(line, "CapPrm: %" SCNx64, &st.cap_prm);
		sscanf(line, "CapBnd: %" SCNx64, &st.cap_bnd);
	}
	fclose(f);
	return st;
}

/* What /proc/PID/task/PID/children lists: "" for none. */
static const char *children_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* The NSpid line of /proc/PID/status: its pid in each pid namespace. */
static const char *nspid_of(pid_t pid, char *buf, size_t len)
{
	char path[64], text[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	const char *v = strstr(text, "\nNSpid:\t");
	cr_assert_not_null(v, "%s: no NSpid", path);
	v += 8;
	snprintf(buf, len, "%.*s", (int)strcspn(v, "\n"), v);
	return buf;
}

/* The soft RLIMIT_NPROC of pid (/proc/PID/limits), -1 for unlimited. */
static long max_processes(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	long v = -2;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Max processes", 13) == 0)
			v = strncmp(line + 26, "unlimited", 9) == 0 ? -1 : strtol(line + 26, NULL, 10);
	fclose(f);
	cr_assert_neq(v, -2, "%s: no Max processes", path);
	return v;
}

static bool same_ns(pid_t pid, const char *ns)
{
	char a[64], b[64], la[64] = "", lb[64] = "";
	snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)pid, ns);
	snprintf(b, sizeof(b), "/proc/self/ns/%s", ns);
	cr_assert_gt(readlink(a, la, sizeof(la) - 1), 0, "%s: %s", a, strerror(errno));
	cr_assert_gt(readlink(b, lb, sizeof(lb) - 1), 0);
	return strcmp(la, lb) == 0;
}

/* The process confines itself right after start: wait for its own filter,
 * on top of the one it inherits from cellvmd (which itself has one). */
static struct proc_status await_filter(pid_t pid, int filters)
{
	struct proc_status st = proc_status(pid);
	for (uint64_t end = ctl_now_ms() + CTL_WAIT_MS;
	     st.filters < filters && ctl_now_ms() < end;) {
		ctl_msleep(10);
		st = proc_status(pid);
	}
	return st;
}

static void expect_confined(pid_t pid, int filters, const char *who)
{
	struct proc_status st = await_filter(pid, filters);
	cr_expect_geq(st.filters, filters, "%s (pid %d): %d seccomp filters", who, (int)pid,
		      st.filters);
	cr_expect_eq(st.seccomp, 2, "%s (pid %d): Seccomp %d", who, (int)pid, st.seccomp);
	cr_expect_eq(st.nnp, 1, "%s: NoNewPrivs %d", who, st.nnp);
	cr_expect_eq(st.cap_eff, 0, "%s: CapEff %" PRIx64, who, st.cap_eff);
	cr_expect_eq(st.cap_prm, 0, "%s: CapPrm %" PRIx64, who, st.cap_prm);
	cr_expect_eq(st.cap_bnd, 0, "%s: CapBnd %" PRIx64, who, st.cap_bnd);
}

/* Its root directory holds nothing. */
static void expect_empty_root(pid_t pid, const char *who)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s: %s: %s", who, path, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)))
		cr_expect(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0,
			  "%s: its root holds \"%s\"", who, e->d_name);
	closedir(d);
}

/* A disk image for blk0 in the test's directory. */
static void disk_config(char *cfg, size_t len, const char *script, const char *extra)
{
	char disk[160], keys[512];
	snprintf(disk, sizeof(disk), "%s/disk.img", ctl.dir);
	int fd = open(disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	snprintf(keys, sizeof(keys), ", \"block_devices\": [{\"path\": \"%s\"}]%s", disk, extra);
	ctl_config(cfg, len, script, keys);
}

Test(confinement, every_device_process_and_the_controller_are_confined)
{
	int c = ctl_start();
	char cfg[1024];
	disk_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	struct ctl_status st = ctl_status(c);
	static const char *const devices[] = { "blk0", "rng0", "console0" };
	static const char *const spaces[] = { "user", "pid", "mnt", "ipc", "uts", "net" };
	for (size_t i = 0; i < 3; i++) {
		char buf[64], want[64];
		/* The process cellvmd knows (and signals, and reads the end of)
		 * is the confined one, started by the spawner as PID 1 of its
		 * own pid namespace: no reaper outside, one process a device. */
		pid_t dev = ctl_pid_of(&st, devices[i]);
		cr_assert_gt(dev, 0, "no pid for %s", devices[i]);
		expect_confined(dev, 2, devices[i]);
		cr_expect_eq(tu_parent_of(dev), ctl.spawner, "%s: parent %d", devices[i],
			     (int)tu_parent_of(dev));
		cr_expect_str_eq(children_of(dev, buf, sizeof(buf)), "", "%s has children",
				 devices[i]);
		snprintf(want, sizeof(want), "%d\t1", (int)dev);
		cr_expect_str_eq(nspid_of(dev, buf, sizeof(buf)), want, "%s", devices[i]);
		for (size_t k = 0; k < 6; k++)
			cr_expect(!same_ns(dev, spaces[k]), "%s shares our %s namespace",
				  devices[i], spaces[k]);
		expect_empty_root(dev, devices[i]);
	}
	expect_confined(ctl.pid, 1, "cellvmd");
	expect_confined(ctl.spawner, 1, "cellvm-spawner");
	/* Its filter has no fork, clone or exec (test_policies shows it), and
	 * RLIMIT_NPROC 0 refuses a new task even without it. */
	cr_expect_eq(max_processes(ctl.pid), 0, "cellvmd may start processes");
	ctl_finish();
}

/* cellvm-vsock under cellvmd: cellvmd binds uds_path and hands it over;
 * the device, confined, has that directory alone as its root and takes
 * a host client's CONNECT line (its policy, the spawner's inherited one
 * for open_tree, the controller's for bind). */
Test(confinement, vsock_stands_in_its_socket_directory)
{
	int c = ctl_start();
	char cfg[1024], extra[256], uds[160], dir[128], other[192];
	snprintf(dir, sizeof(dir), "%s/vsock", ctl.dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	snprintf(other, sizeof(other), "%s/marker", dir);
	int fd = open(other, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(extra, sizeof(extra), ", \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"%s\"}",
		 uds);
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, extra);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	struct ctl_status st = ctl_status(c);
	pid_t dev = ctl_pid_of(&st, "vsock0");
	cr_assert_gt(dev, 0, "no pid for vsock0");
	expect_confined(dev, 2, "vsock0");
	/* Its root is the socket's directory: the marker and the socket. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/root/marker", (int)dev);
	cr_expect_eq(access(path, F_OK), 0, "vsock0's root is not its socket directory");
	int h = unix_connect(uds, 0);
	cr_assert_geq(h, 0, "%s: %s", uds, strerror(-h));
	cr_assert_eq(write(h, "CONNECT 52\n", 11), 11);
	ctl_msleep(300);
	cr_expect_eq(kill(dev, 0), 0, "vsock0 died taking a host client");
	close(h);
	ctl_finish();
}

Test(confinement, sandbox_off_runs_the_same_processes_unconfined)
{
	/* The operator lets a config ask for "off" (--min-sandbox). */
	static const char *const off[] = { "--sandbox", "off", "--min-sandbox", "off", NULL };
	int c = ctl_start_with(off);
	char cfg[1024];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, CTL_WITH_RNG ", \"sandbox\": \"off\"");
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	struct ctl_status st = ctl_status(c);
	pid_t rng = ctl_pid_of(&st, "rng0");
	cr_assert_gt(rng, 0);
	ctl_msleep(100);
	cr_expect_eq(proc_status(rng).seccomp, 0, "rng0 is confined with --sandbox=off");
	cr_expect(same_ns(rng, "mnt"), "rng0 has a mount namespace of its own");
	cr_expect(same_ns(rng, "pid") && same_ns(rng, "user"),
		  "rng0 has a pid or user namespace of its own");
	cr_expect_eq(proc_status(ctl.pid).seccomp, 0, "cellvmd is confined with --sandbox off");
	cr_expect_eq(proc_status(ctl.spawner).seccomp, 0,
		     "cellvm-spawner is confined with --sandbox off");
	ctl_finish();
}

/* Each escape kind of tests/hooks/test_hooks.h and the syscall it needs. */
static const struct {
	unsigned kind;
	const char *syscall;
} escapes[] = {
	{ 1, "openat" }, { 2, "socket" }, { 3, "execve" },
	{ 4, "ptrace" }, { 5, "mprotect" }, { 6, "kill" },
};

/* cellvmd with the hook-enabled devices, in sandbox mode `mode`, which is
 * also the floor a config may ask for. */
static const char *const *hooks_args(const char *mode)
{
	static char dir[PATH_MAX];
	static const char *args[7] = { "--device-dir", dir, "--sandbox", NULL, "--min-sandbox",
				       NULL, NULL };
	snprintf(dir, sizeof(dir), "%s", ctl_build_path("tests/hooks"));
	args[3] = args[5] = mode;
	return args;
}

Test(confinement, escapes_kill_only_the_device_and_are_named)
{
	int c = ctl_start_with(hooks_args("on"));
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		char cfg[1024], script[128];
		snprintf(script, sizeof(script), "ready\nwait-run\nescape rng0 %u\nserve\n",
			 escapes[i].kind);
		ctl_config(cfg, sizeof(cfg), script, CTL_WITH_RNG);
		ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
		struct rpc_reply r = ctl_rpc(c, RPC_RUN, NULL);
		cr_assert(!r.ok && r.code == LC_ERR_VCPU_RUNTIME_FAILURE,
			  "escape %u: Run: %s: %s", escapes[i].kind, lifecycle_error_name(r.code),
			  r.message);
		cr_expect(strstr(r.message, "rng0") && strstr(r.message, "SIGSYS") &&
				  strstr(r.message, escapes[i].syscall) &&
				  strstr(r.message, "rng.policy"),
			  "escape %u: \"%s\" does not name rng0, SIGSYS, %s and rng.policy",
			  escapes[i].kind, r.message, escapes[i].syscall);
		rpc_reply_free(&r);
		/* The controller is still there, and the next VM can start. */
		ctl_expect_state(c, "NOT_CREATED");
	}
	ctl_finish();
}

/* A device that calls what cellvm-spawner's filter refuses before its own
 * filter exists (as the sandbox's old fallback for an initramfs root did
 * with chroot) is named with the syscall and the inherited policy. */
Test(confinement, a_violation_of_the_inherited_filter_is_named)
{
	static char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", ctl_build_path("tests/hooks/early"));
	const char *const args[] = { "--device-dir", dir, "--sandbox", "on", NULL };
	int c = ctl_start_with(args);
	char cfg[1024];
	ctl_config(cfg, sizeof(cfg), "ready\nwait-run\nserve\n", CTL_WITH_RNG);
	/* Create fails, or answers before the device has died. */
	struct rpc_reply r = ctl_rpc(c, RPC_CREATE, cfg);
	bool created = r.ok;
	rpc_reply_free(&r);
	ctl_await_state(c, "NOT_CREATED", CTL_WAIT_MS);
	struct ctl_status st = ctl_status(c);
	cr_assert(st.have_last, "Status has no last end");
	cr_expect(st.last_code == (created ? LC_ERR_VCPU_RUNTIME_FAILURE
					   : LC_ERR_DEVICE_START_FAILURE),
		  "created: %d, %s", created, lifecycle_error_name(st.last_code));
	cr_expect(strstr(st.reason, "rng0") && strstr(st.reason, "SIGSYS") &&
			  strstr(st.reason, "chroot") && strstr(st.reason, "spawner.policy"),
		  "\"%s\" does not name rng0, SIGSYS, chroot and spawner.policy", st.reason);
	ctl_finish();
}

/* Filters stack: cellvmd's own is inherited by the device, so cellvmd is in
 * log mode too (as `cellvm run --sandbox=log` does). */
Test(confinement, log_mode_allows_and_names_what_the_policy_lacks)
{
	int c = ctl_start_with(hooks_args("log"));
	char cfg[1024];
	ctl_config(cfg, sizeof(cfg), "ready\nwait-run\nescape rng0 2\nserve\n",
		   CTL_WITH_RNG ", \"sandbox\": \"log\"");
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	uint32_t run = ctl_send_call(c, RPC_RUN, NULL);
	/* The hook logs what socket() returned: it ran. */
	char log[65536];
	bool named = false, ran = false;
	for (uint64_t end = ctl_now_ms() + CTL_WAIT_MS; !(named && ran) && ctl_now_ms() < end;) {
		ctl_msleep(50);
		int fd = open(ctl.log, O_RDONLY | O_CLOEXEC);
		cr_assert_geq(fd, 0);
		ssize_t n = read(fd, log, sizeof(log) - 1);
		close(fd);
		log[n > 0 ? n : 0] = '\0';
		named = strstr(log, "syscall socket") && strstr(log, "rng.policy");
		ran = strstr(log, "test hook: escape 2 returned") != NULL;
	}
	cr_expect(named, "the log does not name socket and rng.policy");
	cr_expect(ran, "socket() did not run in log mode");
	ctl_expect_state(c, "RUNNING");
	int c2 = ctl_conn();
	ctl_expect_ok(ctl_rpc(c2, RPC_STOP, NULL), "Stop");
	ctl_expect_error(ctl_reply_to(c, run, CTL_WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
			 "Run");
	ctl_finish();
}
