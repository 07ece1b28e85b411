/* `cellvm-vcpu --check-kvm` against this host's own KVM: its verdict must
 * be what the host's KVM is, and it must come at once. A KVM with the
 * hardware's virtualization (kvm_intel or kvm_amd, and vmx or svm in
 * /proc/cpuinfo) can run a stock kernel; a paravirtual one (kvm_pvm, no vmx
 * or svm: this project's CI hosts) cannot. The operator's `cellvmd
 * --kvm-check api` skips the vCPU run: a Create with the real worker then
 * succeeds on either (ctl_harness.h, with the real cellvm-vcpu in the fake's
 * place). Skipped without a /dev/kvm this process can open, or with a KVM
 * that is neither. */
#include <criterion/criterion.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bytes.h"
#include "ctl_harness.h"
#include "kvm_verdict.h"
#include "lifecycle.h"

#define WORKER CELLVM_BUILD_DIR "/vcpu-worker/cellvm-vcpu"
#define CANNOT "/dev/kvm cannot run this guest: "
/* Without a vCPU the check answers at once. */
#define ANSWER_WITHIN_MS 1500
/* With one, the probe's vCPU gets 500 ms of CPU, or KVM_PROBE_WALL_MS of
 * the clock on a host too busy to give it that (where setting up and
 * tearing down its VM waits for a CPU too): a verdict, never a hang. */
#define VERDICT_WITHIN_MS (2 * KVM_PROBE_WALL_MS + 1500)

enum host_kvm { KVM_NONE, KVM_HARDWARE, KVM_PARAVIRT, KVM_UNKNOWN };

static bool module_loaded(const char *name)
{
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return stat(path, &st) == 0;
}

/* Whether any CPU flag in /proc/cpuinfo is vmx or svm. */
static bool cpu_has_virtualization(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	bool found = false;
	cr_assert_not_null(f);
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0)
			found = strstr(line, " vmx") || strstr(line, " svm");
	fclose(f);
	return found;
}

static enum host_kvm host_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return KVM_NONE;
	close(fd);
	bool pvm = module_loaded("kvm_pvm");
	bool hw = module_loaded("kvm_intel") || module_loaded("kvm_amd");
	bool flags = cpu_has_virtualization();
	if (pvm && !hw && !flags)
		return KVM_PARAVIRT;
	if (hw && !pvm && flags)
		return KVM_HARDWARE;
	return KVM_UNKNOWN;
}

/* Runs `cmd` (a shell line); its stdout into out, its exit status and how
 * long it took. */
static int run(const char *cmd, char *out, size_t len, long *ms)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "%s", cmd);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cr_assert(WIFEXITED(st), "%s: status %#x", cmd, st);
	return WEXITSTATUS(st);
}

Test(check_kvm, the_verdict_is_what_this_host_s_kvm_is)
{
	enum host_kvm kind = host_kvm();
	if (kind == KVM_NONE)
		cr_skip_test("no /dev/kvm this test can open");
	if (kind == KVM_UNKNOWN)
		cr_skip_test("a KVM neither with vmx/svm (kvm_intel, kvm_amd) nor paravirtual (kvm_pvm)");
	char out[512];
	long ms;
	int st = run(WORKER " --check-kvm 2>/dev/null", out, sizeof(out), &ms);
	cr_expect_lt(ms, VERDICT_WITHIN_MS, "the check took %ld ms", ms);
	if (kind == KVM_HARDWARE) {
		cr_expect_eq(st, 0, "%s", out);
		cr_expect_eq(strncmp(out, "/dev/kvm can run this guest: ", 29), 0, "%s", out);
	} else {
		/* PVM runs the probe's loop emulated, at about 1 M instructions/s. */
		cr_expect_eq(st, 1, "%s", out);
		cr_expect_eq(strncmp(out, CANNOT "a 64-bit vCPU made no progress in ", 66), 0,
			     "%s", out);
		cr_expect(strstr(out, "paravirtual KVM?"), "%s", out);
	}
}

/* A probe whose vCPU waits for a CPU (here: SCHED_IDLE on a CPU a busy loop
 * holds, as on a host with more work than CPUs) is judged by the CPU its
 * vCPU had, not by the clock: a hardware KVM still passes, a paravirtual
 * one still shows its own instruction rate (about 1 M/s), not the share of
 * the CPU it got. Within KVM_PROBE_WALL_MS either way. */
Test(check_kvm, a_starved_vcpu_is_judged_by_the_cpu_it_had)
{
	enum host_kvm kind = host_kvm();
	if (kind == KVM_NONE || kind == KVM_UNKNOWN)
		cr_skip_test("no /dev/kvm whose verdict is known");
	pid_t hog = fork();
	cr_assert_geq(hog, 0);
	if (hog == 0) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(0, &one);
		if (sched_setaffinity(0, sizeof(one), &one) == 0)
			for (;;)
				__asm__ volatile("" ::: "memory");
		_exit(1);
	}
	char out[512];
	long ms;
	int st = run("taskset -c 0 chrt --idle 0 " WORKER " --check-kvm 2>/dev/null", out,
		     sizeof(out), &ms);
	kill(hog, SIGKILL);
	waitpid(hog, NULL, 0);
	cr_expect_lt(ms, VERDICT_WITHIN_MS, "the check took %ld ms", ms);
	if (kind == KVM_HARDWARE) {
		cr_expect_eq(st, 0, "%s", out);
		return;
	}
	unsigned long long k = 0;
	const char *rate = strstr(out, "ms (");
	cr_assert(st == 1 && rate && sscanf(rate, "ms (%lluk instructions/s", &k) == 1, "%s", out);
	cr_expect_geq(k, 300, "%s", out);
}

/* Anywhere: an fd that is no KVM gets a verdict too, not a crash or a hang. */
Test(check_kvm, a_kvm_fd_that_is_no_kvm_cannot_run_a_guest)
{
	char out[512];
	long ms;
	int st = run(WORKER " --check-kvm --kvm-fd 3 3</dev/null 2>/dev/null", out, sizeof(out),
		     &ms);
	cr_expect_eq(st, 1, "%s", out);
	cr_expect_str_eq(out, CANNOT "KVM API version -1, want 12\n");
	cr_expect_lt(ms, ANSWER_WITHIN_MS, "the check took %ld ms", ms);
}

/* `--kvm-check api` alone: the API and capabilities, no vCPU, on any KVM. */
Test(check_kvm, api_only_passes_any_kvm_with_the_capabilities)
{
	if (host_kvm() == KVM_NONE)
		cr_skip_test("no /dev/kvm this test can open");
	char out[512];
	long ms;
	int st = run(WORKER " --check-kvm --kvm-check api 2>/dev/null", out, sizeof(out), &ms);
	cr_expect_eq(st, 0, "%s", out);
	cr_expect(strstr(out, "no vCPU was run (--kvm-check api)"), "%s", out);
	cr_expect_lt(ms, ANSWER_WITHIN_MS, "the check took %ld ms", ms);
	st = run(WORKER " --check-kvm --kvm-check api --kvm-fd 3 3</dev/null 2>/dev/null", out,
		 sizeof(out), &ms);
	cr_expect_eq(st, 1, "an fd that is no KVM still fails: %s", out);
}

/* ---------------------------------------------------------------- Create */

TestSuite(kvm_check, .init = ctl_init, .fini = ctl_fini, .timeout = 30);

/* A bzImage the worker loads, in dir (nothing useful runs it: Create
 * starts no vCPU). */
static const char *write_bzimage(const char *dir)
{
	static char path[128];
	static uint8_t img[4096];
	img[0x1f1] = 1;                  /* setup_sects: protected-mode code at 1024 */
	put_le16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x6a;               /* the header ends at 0x26c */
	memcpy(img + 0x202, "HdrS", 4);
	put_le16(img + 0x206, 0x020f);
	img[0x211] = 0x01;               /* LOADED_HIGH */
	put_le32(img + 0x22c, 0x7fffffff);
	put_le32(img + 0x230, 0x200000);
	img[0x234] = 1;                  /* relocatable */
	put_le16(img + 0x236, 0x1);      /* XLF_KERNEL_64 */
	put_le32(img + 0x238, 2047);
	put_le64(img + 0x258, 0x1000000);
	put_le32(img + 0x260, 0x100000); /* init_size */
	snprintf(path, sizeof(path), "%s/bzImage", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
	close(fd);
	return path;
}

/* cellvmd with the real worker and `--kvm-check kvm_check` (NULL: none) on
 * its command line; the config of a VM with rng and console, in cfg. */
static int start_real(const char *kvm_check, char *cfg, size_t len)
{
	static char worker[512];
	snprintf(worker, sizeof(worker), "%s", ctl_build_path("vcpu-worker/cellvm-vcpu"));
	const char *args[5] = { "--worker", worker };
	if (kvm_check) {
		args[2] = "--kvm-check";
		args[3] = kvm_check;
	}
	int c = ctl_start_with(args);
	snprintf(cfg, len, "{\"kernel\": \"%s\", \"memory\": \"64M\"%s}", write_bzimage(ctl.dir),
		 CTL_WITH_DEVICES);
	return c;
}

static bool log_has(const char *what)
{
	FILE *f = fopen(ctl.log, "r");
	char line[1024];
	bool found = false;
	cr_assert_not_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

static void expect_status_kvm_check(int c, const char *want)
{
	struct rpc_reply r = ctl_rpc(c, RPC_STATUS, NULL);
	cr_assert(r.ok, "Status: %s", r.message);
	json_object *o = json_tokener_parse(r.result), *op, *v;
	cr_assert(o && json_object_object_get_ex(o, "operator", &op) &&
		  json_object_object_get_ex(op, "kvm_check", &v), "%s", r.result);
	cr_expect_str_eq(json_object_get_string(v), want);
	json_object_put(o);
	rpc_reply_free(&r);
}

Test(kvm_check, api_creates_a_vm_on_any_kvm_with_the_capabilities)
{
	if (host_kvm() == KVM_NONE)
		cr_skip_test("no /dev/kvm this test can open");
	char cfg[512];
	int c = start_real("api", cfg, sizeof(cfg));
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	ctl_expect_state(c, "CREATED");
	expect_status_kvm_check(c, "api");
	cr_expect(log_has("API and capabilities only (--kvm-check api)"),
		  "the worker was not told to skip the vCPU run");
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	close(c);
	ctl_finish();
}

/* Whether pid maps the guest's RAM at a 2 MiB-aligned address with
 * MADV_HUGEPAGE (VmFlags "hg"). */
static bool ram_mapped_for_huge_pages(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool in_ram = false, found = false;
	unsigned long start = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2) {
			in_ram = strstr(line, "/memfd:cellvm-ram") != NULL;
			start = a;
		} else if (in_ram && strncmp(line, "VmFlags:", 8) == 0) {
			found = strstr(line, " hg") && start % (2ul << 20) == 0;
		}
	}
	fclose(f);
	return found;
}

/* The worker asks for transparent huge pages on the guest's RAM, at an
 * address where they fit: where the host allows them for shared memory
 * (shmem_enabled "advise"), KVM maps the guest in 2 MiB pages. */
Test(kvm_check, the_worker_maps_guest_ram_for_huge_pages)
{
	if (host_kvm() == KVM_NONE)
		cr_skip_test("no /dev/kvm this test can open");
	char cfg[512];
	int c = start_real("api", cfg, sizeof(cfg));
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	struct ctl_status st = ctl_status(c);
	pid_t w = ctl_pid_of(&st, "vcpu-worker");
	cr_assert_gt(w, 0, "no vcpu-worker in Status");
	/* The worker itself, or the process its sandbox forked. */
	pid_t kids[4];
	size_t n = ctl_children(w, kids, 4);
	bool found = ram_mapped_for_huge_pages(w);
	for (size_t i = 0; i < n && !found; i++)
		found = ram_mapped_for_huge_pages(kids[i]);
	cr_expect(found, "no 2 MiB-aligned MADV_HUGEPAGE mapping of cellvm-ram in the worker");
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	close(c);
	ctl_finish();
}

/* Without the option: the vCPU runs, and a KVM that cannot run a stock
 * kernel fails Create with the reason. */
Test(kvm_check, full_is_the_default)
{
	enum host_kvm kind = host_kvm();
	if (kind == KVM_NONE || kind == KVM_UNKNOWN)
		cr_skip_test("no /dev/kvm whose verdict is known");
	char cfg[512];
	int c = start_real(NULL, cfg, sizeof(cfg));
	expect_status_kvm_check(c, "full");
	if (kind == KVM_PARAVIRT) {
		ctl_create_fails(c, cfg, LC_ERR_GUEST_INITIALIZATION_FAILURE,
				 CANNOT "a 64-bit vCPU made no progress");
	} else {
		ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
		ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	}
	close(c);
	ctl_finish();
}

/* The kernel is loaded on a thread of its own while the worker sets up the
 * devices: a kernel it cannot load still fails Create as such, with the
 * loader's words, and leaves nothing behind. */
Test(kvm_check, a_kernel_the_worker_cannot_load_fails_create_as_such)
{
	if (host_kvm() == KVM_NONE)
		cr_skip_test("no /dev/kvm this test can open");
	char cfg[512], path[128];
	int c = start_real("api", cfg, sizeof(cfg));
	snprintf(path, sizeof(path), "%s/not-a-kernel", ctl.dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	static const uint8_t junk[4096] = { 1 };
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	snprintf(cfg, sizeof(cfg), "{\"kernel\": \"%s\", \"memory\": \"64M\"%s}", path,
		 CTL_WITH_DEVICES);
	ctl_create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, "not a bzImage");
	close(c);
	ctl_finish();
}

/* `cellvm run --kvm-check` reaches the worker through its private cellvmd:
 * with api the worker runs no test vCPU (and the VM is stopped by the
 * signal); a bad value is refused before anything starts. */
Test(check_kvm, cellvm_run_passes_kvm_check_on)
{
	if (host_kvm() == KVM_NONE)
		cr_skip_test("no /dev/kvm this test can open");
	char dir[] = "/tmp/cellvm-kvm-check-XXXXXX", cmd[512], out[8192];
	long ms;
	cr_assert_not_null(mkdtemp(dir));
	const char *kernel = write_bzimage(dir);
	snprintf(cmd, sizeof(cmd), "%s run --kvm-check bogus --kernel %s 2>&1",
		 CELLVM_BUILD_DIR "/client/cellvm", kernel);
	cr_expect_eq(run(cmd, out, sizeof(out), &ms), 2);
	cr_expect(strstr(out, "--kvm-check bogus: want full or api"), "%s", out);
	snprintf(cmd, sizeof(cmd), "timeout -s TERM 5 %s run --kvm-check api --kernel %s "
		 "--memory 64M --log-level info </dev/null 2>&1",
		 CELLVM_BUILD_DIR "/client/cellvm", kernel);
	run(cmd, out, sizeof(out), &ms);
	cr_expect(strstr(out, "API and capabilities only (--kvm-check api)"), "%s", out);
	unlink(kernel);
	rmdir(dir);
}
