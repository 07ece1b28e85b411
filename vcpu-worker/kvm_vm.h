/* The KVM virtual machine: /dev/kvm, the VM fd with its in-kernel irqchip
 * (PIC, IOAPIC, LAPIC) and PIT, guest RAM mapped from the memfd the worker is
 * given (never allocated here), and the interrupt and notification plumbing
 * (IRQ lines, irqfds, ioeventfds) the devices use. */
#ifndef CELLVM_KVM_VM_H
#define CELLVM_KVM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "machine.h"

struct kvm_vm {
	int kvm_fd;
	int vm_fd;
	int mem_fd;
	uint8_t *ram;      /* the whole memfd, mapped once */
	uint64_t ram_size; /* = machine_ram_size() */
	const struct machine *m;
	int vcpu_mmap_size;
};

/* Takes over kvm_fd (/dev/kvm, open, found able to run the guest by
 * kvm_probe()), checks that it allows m's vCPUs, creates the VM, irqchip and
 * PIT, and maps mem_fd (which must be at least machine_ram_size() long) as
 * guest RAM. */
int kvm_vm_create(struct kvm_vm *vm, int kvm_fd, const struct machine *m, int mem_fd);

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
