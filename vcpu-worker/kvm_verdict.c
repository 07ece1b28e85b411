#include "kvm_verdict.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>

#define CANNOT "/dev/kvm cannot run this guest: a 64-bit vCPU "

static const char *where(enum kvm_probe_stage s)
{
	switch (s) {
	case KVM_PROBE_NONE: return "at start";
	case KVM_PROBE_RUNS: return "in the loop";
	default: return "in CPL0 work";
	}
}

/* An exit that is no stage report; the RIP of an entry that failed says
 * nothing, so it is left out there. */
static void describe_exit(const struct kvm_probe_result *r, char *why, size_t len)
{
	unsigned long long rip = r->rip;
	const char *at = where(r->stage);
	switch (r->exit_reason) {
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(why, len, CANNOT "got KVM internal error %u%s %s, rip %#llx", r->suberror,
			 r->suberror == KVM_INTERNAL_ERROR_EMULATION ? " (emulation)" : "", at,
			 rip);
		break;
	case KVM_EXIT_SHUTDOWN:
		snprintf(why, len, CANNOT "got a triple fault %s, rip %#llx", at, rip);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, len, CANNOT "got VM entry failure %#llx %s",
			 (unsigned long long)r->entry_failure, at);
		break;
	default:
		snprintf(why, len, CANNOT "got unexpected KVM exit %u %s, rip %#llx", r->exit_reason,
			 at, rip);
		break;
	}
}

int kvm_verdict(const struct kvm_probe_result *r, char *why, size_t len)
{
	unsigned long long ms = r->elapsed_us / 1000;
	if (r->stage == KVM_PROBE_DONE)
		return 0;
	if (r->run_err) {
		snprintf(why, len, CANNOT "failed KVM_RUN: %s", strerror(-r->run_err));
	} else if (!r->timed_out) {
		describe_exit(r, why, len);
	} else if (r->stage == KVM_PROBE_RUNS) {
		/* How fast it ran: the part of the loop it did, 2 instructions
		 * an iteration, since it began. */
		uint64_t left = r->loop_left < KVM_PROBE_LOOP ? r->loop_left : KVM_PROBE_LOOP;
		uint64_t begun = r->stage_us[KVM_PROBE_RUNS];
		uint64_t us = r->elapsed_us > begun ? r->elapsed_us - begun : 1;
		unsigned long long kps = 2 * (KVM_PROBE_LOOP - left) * 1000 / us;
		snprintf(why, len, CANNOT "made no progress in %llu ms (%lluk instructions/s: "
			 "paravirtual KVM?)", ms, kps);
	} else if (r->stage == KVM_PROBE_NONE) {
		snprintf(why, len, CANNOT "ran no instruction in %llu ms", ms);
	} else {
		snprintf(why, len, CANNOT "hung for %llu ms %s, rip %#llx", ms, where(r->stage),
			 (unsigned long long)r->rip);
	}
	return -ENOTSUP;
}
