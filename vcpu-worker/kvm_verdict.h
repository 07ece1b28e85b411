/* What the KVM probe's vCPU did, and what that means: a pure decision.
 *
 * The probe (kvm_probe.h) runs a tiny guest in the mode Linux's 64-bit entry
 * point is entered in (long mode, paging, CPL0). The guest reports each stage
 * it reaches by writing the stage's number (one byte) to port KVM_PROBE_PORT:
 *   1 (RUNS)    its first instructions completed;
 *   2 (LOOPED)  it ran a loop of KVM_PROBE_LOOP iterations of two
 *               instructions each (dec, jnz), as a kernel's decompressor runs
 *               tight loops of millions;
 *   3 (DONE)    it did what a kernel does first at CPL0: cpuid, rdmsr/wrmsr
 *               of EFER, CR4 and CR3 writes (a global TLB flush), lidt, and
 *               an int3 through its IDT and back.
 * A watchdog stops it once its thread has had KVM_PROBE_DEADLINE_MS of CPU
 * (guest time counts as the thread's), or KVM_PROBE_WALL_MS have passed: on
 * a loaded host the vCPU may wait for a CPU, which says nothing about the
 * KVM; the times below are the thread's CPU time. 1M instructions in 500 ms is
 * 2 M/s: a CPU runs thousands of times that, QEMU's TCG under a nested KVM
 * 4 to 20 times even on a loaded host (4 M/s was seen with 2 such QEMUs on 2
 * cores); a KVM that emulates each instruction of CPL0 code (a paravirtual
 * KVM such as PVM, which can run a guest natively only if it is built for
 * it) manages about 1 M/s, so a stock kernel never gets past its
 * decompressor. One that emulates faster still fails the int3. */
#ifndef CELLVM_KVM_VERDICT_H
#define CELLVM_KVM_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVM_PROBE_PORT 0xe9u         /* the guest's stage reports */
#define KVM_PROBE_LOOP 0x80000u      /* iterations of the loop: 1M instructions */
#define KVM_PROBE_DEADLINE_MS 500u   /* of the vCPU thread's CPU, from the first KVM_RUN */
#define KVM_PROBE_WALL_MS 10000u     /* of the clock: a vCPU that gets no CPU at all */

enum kvm_probe_stage {
	KVM_PROBE_NONE = 0,
	KVM_PROBE_RUNS = 1,
	KVM_PROBE_LOOPED = 2,
	KVM_PROBE_DONE = 3,
};

struct kvm_probe_result {
	enum kvm_probe_stage stage; /* the last stage the guest reported */
	bool timed_out;             /* the watchdog stopped it */
	int run_err;                /* KVM_RUN failed otherwise: -errno */
	/* Otherwise, short of DONE: the exit that was not a stage report. */
	uint32_t exit_reason;       /* KVM_EXIT_* */
	uint32_t suberror;          /* of KVM_EXIT_INTERNAL_ERROR */
	uint64_t entry_failure;     /* of KVM_EXIT_FAIL_ENTRY */
	uint64_t rip;               /* where it stopped */
	uint64_t loop_left;         /* RCX: iterations left when stopped in the loop */
	uint64_t elapsed_us;        /* CPU time from the first KVM_RUN to the last return */
	uint64_t stage_us[KVM_PROBE_DONE + 1]; /* when each stage was reported, the same way */
};

/* 0 if the vCPU ran the whole probe (stage DONE) in time; otherwise -ENOTSUP
 * with why set to "/dev/kvm cannot run this guest: " and what it did, short
 * enough (under 120 bytes) to reach Create's reply whole. */
int kvm_verdict(const struct kvm_probe_result *r, char *why, size_t len);

#endif
