/* `cellvm-vcpu --check-kvm` against this host's own KVM: its verdict must
 * be what the host's KVM is, and it must come at once. A KVM with the
 * hardware's virtualization (kvm_intel or kvm_amd, and vmx or svm in
 * /proc/cpuinfo) can run a stock kernel; a paravirtual one (kvm_pvm, no vmx
 * or svm: this project's CI hosts) cannot. Skipped without a /dev/kvm this
 * process can open, or with a KVM that is neither. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKER CELLVM_BUILD_DIR "/vcpu-worker/cellvm-vcpu"
#define CANNOT "/dev/kvm cannot run this guest: "
/* The probe's deadline is 500 ms; setting up its VM takes a few more. */
#define ANSWER_WITHIN_MS 1500

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
	cr_expect_lt(ms, ANSWER_WITHIN_MS, "the check took %ld ms", ms);
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
