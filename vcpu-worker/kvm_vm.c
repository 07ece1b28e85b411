#include "kvm_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "vcpu.h"

#define HUGE_2M (2ull << 20)

/* Maps the guest's RAM at a 2 MiB-aligned address and asks for transparent
 * huge pages there: where the host lets shmem have them
 * (transparent_hugepage/shmem_enabled "advise"), KVM then maps the guest in
 * 2 MiB pages, and a booting guest takes a fault per 2 MiB, not per 4 KiB. */
static int map_ram(struct kvm_vm *vm)
{
	const struct machine *m = vm->m;
	struct stat st;
	vm->ram_size = machine_ram_size(m);
	if (fstat(vm->mem_fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < vm->ram_size) {
		log_err("guest memory fd holds %lld bytes, the machine needs %llu",
			(long long)st.st_size, (unsigned long long)vm->ram_size);
		return -EINVAL;
	}
	/* An address range HUGE_2M larger than the RAM, whose aligned part the
	 * RAM then replaces; the slack on either side is given back. */
	size_t span = vm->ram_size + HUGE_2M;
	uint8_t *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED) {
		int err = -errno;
		log_err("reserving address space for guest memory: %s", strerror(-err));
		return err;
	}
	uint8_t *a = (uint8_t *)(((uintptr_t)r + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	void *p = mmap(a, vm->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE | MAP_FIXED,
		       vm->mem_fd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;
		log_err("mapping guest memory: %s", strerror(-err));
		munmap(r, span);
		return err;
	}
	if (a > r)
		munmap(r, (size_t)(a - r));
	if (r + span > a + vm->ram_size)
		munmap(a + vm->ram_size, (size_t)(r + span - (a + vm->ram_size)));
	/* Only advice: a kernel without THP says EINVAL, and RAM works anyway. */
	if (madvise(p, vm->ram_size, MADV_HUGEPAGE) < 0)
		log_debug("madvise(MADV_HUGEPAGE) on guest memory: %m");
	vm->ram = p;
	return 0;
}

int kvm_vm_add_ram(struct kvm_vm *vm)
{
	const struct machine *m = vm->m;
	for (size_t i = 0; i < m->nram; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = (uint32_t)i,
			.guest_phys_addr = m->ram[i].gpa,
			.memory_size = m->ram[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)(vm->ram + m->ram[i].offset),
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			int err = -errno;
			log_err("KVM_SET_USER_MEMORY_REGION %zu: %s", i, strerror(-err));
			return err;
		}
	}
	return 0;
}

int kvm_vm_vmx_pages(int vm_fd)
{
	/* VMX needs these private pages inside the hole; SVM ignores them. */
	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0 ||
	    ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ LAYOUT_KVM_IDENTITY_MAP }) < 0) {
		int err = -errno;
		log_err("KVM TSS/identity map: %s", strerror(-err));
		return err;
	}
	return 0;
}

/* The VM and everything else the worker asks of kvm_fd. */
static int create(struct kvm_vm *vm, int kvm_fd)
{
	int err;
	/* api.rst: without MAX_VCPUS, NR_VCPUS is the limit; without either, 4. */
	vm->max_vcpus = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (vm->max_vcpus <= 0)
		vm->max_vcpus = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (vm->max_vcpus <= 0)
		vm->max_vcpus = 4;
	vm->vcpu_mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0) {
		log_err("KVM_GET_VCPU_MMAP_SIZE: %d", vm->vcpu_mmap_size);
		return -EINVAL;
	}
	if ((err = vcpu_supported_cpuid(kvm_fd, &vm->cpuid)))
		return err;
	vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		err = -errno;
		log_err("KVM_CREATE_VM: %s", strerror(-err));
		return err;
	}
	if ((err = kvm_vm_vmx_pages(vm->vm_fd)))
		return err;
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0 ||
	    ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		err = -errno;
		log_err("KVM irqchip/PIT: %s", strerror(-err));
		return err;
	}
	return 0;
}

int kvm_vm_create(struct kvm_vm *vm, int kvm_fd)
{
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = vm->mem_fd = -1;
	int err = create(vm, kvm_fd);
	close(kvm_fd);
	return err;
}

int kvm_vm_setup(struct kvm_vm *vm, const struct machine *m, int mem_fd)
{
	if (m->cpus > (uint32_t)vm->max_vcpus) {
		log_err("/dev/kvm cannot run this guest: it allows %d vCPUs, the machine has %u",
			vm->max_vcpus, m->cpus);
		return -ENOTSUP;
	}
	vm->m = m;
	vm->mem_fd = mem_fd;
	return map_ram(vm);
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	free(vm->cpuid);
	vm->ram = NULL;
	vm->cpuid = NULL;
	vm->vm_fd = -1;
}

void *kvm_vm_gpa(const struct kvm_vm *vm, uint64_t gpa, uint64_t len)
{
	for (size_t i = 0; i < vm->m->nram; i++) {
		const struct machine_ram *r = &vm->m->ram[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return vm->ram + r->offset + (gpa - r->gpa);
	}
	return NULL;
}

int kvm_vm_irq_line(const struct kvm_vm *vm, uint32_t irq, bool level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0) {
		int err = -errno;
		log_ratelimited(LOG_LVL_ERROR, "KVM_IRQ_LINE %u: %s", irq, strerror(-err));
		return err;
	}
	return 0;
}

int kvm_vm_irqfd(const struct kvm_vm *vm, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd i = { .fd = (uint32_t)fd, .gsi = gsi,
			       .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };
	if (ioctl(vm->vm_fd, KVM_IRQFD, &i) < 0) {
		int err = -errno;
		log_err("KVM_IRQFD gsi %u: %s", gsi, strerror(-err));
		return err;
	}
	return 0;
}

int kvm_vm_ioeventfd(const struct kvm_vm *vm, int fd, uint64_t addr, uint32_t value,
		     bool assign)
{
	struct kvm_ioeventfd e = {
		.datamatch = value,
		.addr = addr,
		.len = 4,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &e) < 0) {
		int err = -errno;
		log_err("KVM_IOEVENTFD 0x%llx: %s", (unsigned long long)addr, strerror(-err));
		return err;
	}
	return 0;
}
