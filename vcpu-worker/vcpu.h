/* vCPUs: creation with CPUID/MSRs/FPU/LAPIC set up for a Linux guest, the
 * 64-bit boot register state for the boot CPU, and one thread per vCPU
 * running KVM_RUN and routing exits to the port-I/O and MMIO buses.
 *
 * A vCPU thread ends the VM through host->end(): guest poweroff/reboot
 * (ACPI, i8042, KVM system events) and failures (triple fault, KVM internal
 * error, failed entry) each with a reason. vcpu_kick() makes a thread leave
 * KVM_RUN promptly so that vcpu_join() can return. */
#ifndef CELLVM_VCPU_H
#define CELLVM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "boot_linux.h"
#include "bus.h"
#include "exit_status.h"
#include "kvm_vm.h"

struct vcpu_host {
	struct kvm_vm *vm;
	const struct bus *pio;
	const struct bus *mmio;
	atomic_bool stopping;
	/* Ends the VM; the first call wins. Called from vCPU threads. */
	void (*end)(void *opaque, enum vcpu_exit_status st, const char *why);
	void *opaque;
};

struct vcpu {
	int id;
	int fd;
	struct kvm_run *run;
	struct vcpu_host *host;
	pthread_t thread;
	bool running;
};

/* KVM_GET_SUPPORTED_CPUID into a malloc'd table (free() it). */
int vcpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out);

/* Creates vCPU id with CPUID derived from `supported` for a machine of
 * ncpus, and the MSR, FPU and LAPIC state Linux expects at boot. */
int vcpu_create(struct vcpu *v, struct vcpu_host *host, int id, uint32_t ncpus,
		const struct kvm_cpuid2 *supported);

/* Puts the vCPU vcpu_fd at a 64-bit entry point (long mode, paging, flat
 * segments): the boot CPU at the kernel's, the KVM probe's at its code. */
int vcpu_set_boot_state(int vcpu_fd, const struct linux_entry *e);

/* Installs the signal that kicks vCPU threads (once per process). */
int vcpu_init_signals(void);
int vcpu_start(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
/* Makes `thread` leave KVM_RUN promptly on the vCPU whose kvm_run is `run`
 * (vcpu_kick for a thread that is not a struct vcpu's: the KVM probe's). */
void vcpu_kick_thread(pthread_t thread, struct kvm_run *run);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

#endif
