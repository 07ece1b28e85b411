/* Whether the KVM behind kvm_fd can run a stock Linux guest, asked before
 * anything of the VM is built (and alone by `cellvm-vcpu --check-kvm`):
 *  - the KVM API version and every capability the worker relies on
 *    (kvm_vm.c and vcpu.c use nothing else);
 *  - a throwaway VM with 64 KiB of its own memory (never the guest's) whose
 *    one vCPU, entered exactly as the kernel is (linux_long_mode,
 *    vcpu_set_boot_state), runs the program kvm_verdict.h describes, kicked
 *    out of KVM_RUN by a watchdog thread at KVM_PROBE_DEADLINE_MS.
 * A /dev/kvm that opens and creates VMs can still be one that never gets a
 * kernel anywhere (a paravirtual KVM emulates it instruction by instruction):
 * without the probe, such a guest hangs with no output at all.
 *
 * Without run_vcpu (the operator's --kvm-check api) only the first is made:
 * no VM, no vCPU, no thread, and a KVM that cannot run a stock kernel passes.
 *
 * kvm_probe returns 0 if the KVM can run the guest (*cost_us: how long the
 * whole check took), -ENOTSUP if it cannot, with the reason in why (also
 * logged, once), or another -errno (logged) if the check itself could not be
 * made. With run_vcpu, the calling thread receives vcpu.h's kick signal,
 * whose handler it installs. */
#ifndef CELLVM_KVM_PROBE_H
#define CELLVM_KVM_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int kvm_probe(int kvm_fd, bool run_vcpu, char *why, size_t len, uint64_t *cost_us);

#endif
