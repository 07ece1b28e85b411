/* The KVM probe's decision (vcpu-worker/kvm_verdict.h): only a vCPU that ran
 * the whole program in time can run a guest, and every other outcome says
 * what the vCPU did, in words short enough for Create's reply. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>

#include "kvm_verdict.h"

/* What reaches Create's reply: "vcpu-worker could not start the vCPUs: "
 * and the reason, cut at 159 bytes. */
#define REASON_ROOM (159 - sizeof("vcpu-worker could not start the vCPUs: ") + 1)

static int verdict(const struct kvm_probe_result *r, char *why, size_t len)
{
	memset(why, 0, len);
	return kvm_verdict(r, why, len);
}

Test(kvm_verdict, a_vcpu_that_ran_it_all_can_run_the_guest)
{
	char why[256];
	struct kvm_probe_result r = { .stage = KVM_PROBE_DONE, .elapsed_us = 400 };
	cr_assert_eq(verdict(&r, why, sizeof(why)), 0);
	cr_assert_str_empty(why);
}

/* What this project's CI host does (a PVM KVM): the loop runs, emulated,
 * at about 1 M instructions/s, and the watchdog stops it. */
Test(kvm_verdict, an_emulated_loop_is_no_progress_with_its_rate)
{
	char why[256];
	struct kvm_probe_result r = { .stage = KVM_PROBE_RUNS, .timed_out = true,
				      .loop_left = KVM_PROBE_LOOP - 100000, .elapsed_us = 200000,
				      .rip = 0x1009 };
	cr_assert_eq(verdict(&r, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU made no progress "
			      "in 200 ms (1000k instructions/s: paravirtual KVM?)");
	/* The rate is the loop's own: from its first report, not from entry. */
	r.stage_us[KVM_PROBE_RUNS] = 40000;
	cr_assert_eq(verdict(&r, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU made no progress "
			      "in 200 ms (1250k instructions/s: paravirtual KVM?)");
}

Test(kvm_verdict, a_loop_counter_out_of_range_counts_as_no_iteration)
{
	char why[256];
	struct kvm_probe_result r = { .stage = KVM_PROBE_RUNS, .timed_out = true,
				      .loop_left = ~0ull, .elapsed_us = 0,
				      .stage_us = { [KVM_PROBE_RUNS] = 10 } };
	cr_assert_eq(verdict(&r, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU made no progress "
			      "in 0 ms (0k instructions/s: paravirtual KVM?)");
}

Test(kvm_verdict, timeouts_before_and_after_the_loop)
{
	char why[256];
	struct kvm_probe_result none = { .timed_out = true, .elapsed_us = 201000 };
	cr_assert_eq(verdict(&none, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU ran no instruction "
			      "in 201 ms");
	struct kvm_probe_result cpl0 = { .stage = KVM_PROBE_LOOPED, .timed_out = true,
					 .elapsed_us = 200500, .rip = 0x1032 };
	cr_assert_eq(verdict(&cpl0, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU hung for 200 ms "
			      "in CPL0 work, rip 0x1032");
}

/* PVM with a longer deadline: the int3 through the IDT cannot be emulated. */
Test(kvm_verdict, an_exit_that_is_no_report_names_the_exit_and_where)
{
	char why[256];
	struct kvm_probe_result r = { .stage = KVM_PROBE_LOOPED, .rip = 0x1046,
				      .exit_reason = KVM_EXIT_INTERNAL_ERROR,
				      .suberror = KVM_INTERNAL_ERROR_EMULATION };
	cr_assert_eq(verdict(&r, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU got KVM internal "
			      "error 1 (emulation) in CPL0 work, rip 0x1046");
	r = (struct kvm_probe_result){ .stage = KVM_PROBE_RUNS, .rip = 0x100b,
				       .exit_reason = KVM_EXIT_SHUTDOWN };
	cr_assert_eq(verdict(&r, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU got a triple fault "
			      "in the loop, rip 0x100b");
	r = (struct kvm_probe_result){ .exit_reason = KVM_EXIT_FAIL_ENTRY,
				       .entry_failure = 0x80000021, .rip = 0x1000 };
	cr_assert_eq(verdict(&r, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU got VM entry failure "
			      "0x80000021 at start");
	/* A port write out of order is no report. */
	r = (struct kvm_probe_result){ .stage = KVM_PROBE_RUNS, .exit_reason = KVM_EXIT_IO,
				       .rip = 0x1011 };
	cr_assert_eq(verdict(&r, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU got unexpected KVM "
			      "exit 2 in the loop, rip 0x1011");
}

Test(kvm_verdict, a_failed_kvm_run_says_how)
{
	char why[256];
	struct kvm_probe_result r = { .stage = KVM_PROBE_RUNS, .run_err = -EFAULT };
	cr_assert_eq(verdict(&r, why, sizeof(why)), -ENOTSUP);
	cr_assert_str_eq(why, "/dev/kvm cannot run this guest: a 64-bit vCPU failed KVM_RUN: "
			      "Bad address");
}

/* The longest of each kind still reaches Create's reply whole: any RIP,
 * exit or error number, and times from the deadline (a timeout comes no
 * sooner) to 100 s. */
Test(kvm_verdict, every_reason_fits_in_create_s_reply)
{
	const uint64_t soonest = KVM_PROBE_DEADLINE_MS * 1000ull, latest = 99999999;
	const struct kvm_probe_result worst[] = {
		{ .stage = KVM_PROBE_RUNS, .timed_out = true, .elapsed_us = soonest },
		{ .stage = KVM_PROBE_RUNS, .timed_out = true, .elapsed_us = latest },
		{ .timed_out = true, .elapsed_us = latest },
		{ .stage = KVM_PROBE_LOOPED, .timed_out = true, .elapsed_us = latest, .rip = ~0ull },
		{ .stage = KVM_PROBE_LOOPED, .rip = ~0ull, .exit_reason = KVM_EXIT_INTERNAL_ERROR,
		  .suberror = KVM_INTERNAL_ERROR_EMULATION },
		{ .stage = KVM_PROBE_LOOPED, .rip = ~0ull, .exit_reason = KVM_EXIT_INTERNAL_ERROR,
		  .suberror = ~0u },
		{ .stage = KVM_PROBE_LOOPED, .rip = ~0ull, .exit_reason = KVM_EXIT_SHUTDOWN },
		/* SVM's is -1 */
		{ .stage = KVM_PROBE_LOOPED, .exit_reason = KVM_EXIT_FAIL_ENTRY,
		  .entry_failure = ~0ull },
		{ .stage = KVM_PROBE_LOOPED, .rip = ~0ull, .exit_reason = ~0u },
		{ .run_err = -EOPNOTSUPP },
	};
	for (size_t i = 0; i < sizeof(worst) / sizeof(worst[0]); i++) {
		char why[512];
		cr_assert_eq(verdict(&worst[i], why, sizeof(why)), -ENOTSUP);
		cr_expect_lt(strlen(why), REASON_ROOM, "%zu: %zu bytes: %s", i, strlen(why), why);
		cr_expect_eq(strncmp(why, "/dev/kvm cannot run this guest: ", 32), 0, "%s", why);
	}
}
