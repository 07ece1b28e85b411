/* The KVM virtual machine: the VM fd with its in-kernel irqchip (PIC,
 * IOAPIC, LAPIC) and PIT, what /dev/kvm told about it, guest RAM mapped from
 * the memfd the worker is given (never allocated here), and the interrupt
 * and notification plumbing (IRQ lines, irqfds, ioeventfds) the devices
 * use. */
#ifndef CELLVM_KVM_VM_H
#define CELLVM_KVM_VM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "machine.h"

struct kvm_vm {
	int vm_fd;
	int mem_fd;
	uint8_t *ram;      /* the whole memfd, mapped once */
	uint64_t ram_size; /* = machine_ram_size() */
	const struct machine *m;
	/* From /dev/kvm, which is closed once the VM exists. */
	int max_vcpus;
	int vcpu_mmap_size;
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID */
};

/* Takes over kvm_fd (/dev/kvm, open, found able to run the guest by
 * kvm_probe()): creates the VM with its irqchip and PIT, keeps what the
 * worker will need from kvm_fd, and closes it, on every path: nothing later
 * can create another VM. Needs no machine: the worker does it before it
 * reads the description. kvm_vm_destroy() even on an error. */
int kvm_vm_create(struct kvm_vm *vm, int kvm_fd);

/* Checks that the VM allows m's vCPUs and maps mem_fd (which must be at
 * least machine_ram_size() long) as guest RAM (vm->ram), which the VM
 * sees once kvm_vm_add_ram() gave it its memory slots. */
int kvm_vm_setup(struct kvm_vm *vm, const struct machine *m, int mem_fd);
int kvm_vm_add_ram(struct kvm_vm *vm);

/* Gives the new VM vm_fd the private pages VMX needs (layout.h). */
int kvm_vm_vmx_pages(int vm_fd);
void kvm_vm_destroy(struct kvm_vm *vm);

/* Host pointer for [gpa, gpa+len) if it lies in one RAM range, else NULL. */
void *kvm_vm_gpa(const struct kvm_vm *vm, uint64_t gpa, uint64_t len);

/* Sets an interrupt line of the PIC/IOAPIC to level (0 or 1). */
int kvm_vm_irq_line(const struct kvm_vm *vm, uint32_t irq, bool level);

/* Registers eventfd fd as an edge-triggered interrupt for gsi (irqfd). */
int kvm_vm_irqfd(const struct kvm_vm *vm, int fd, uint32_t gsi, bool assign);

/* Makes a 4-byte guest write of `value` to MMIO address addr signal fd from
 * inside KVM, without an exit to user space (ioeventfd with datamatch). */
int kvm_vm_ioeventfd(const struct kvm_vm *vm, int fd, uint64_t addr, uint32_t value,
		     bool assign);

#endif
