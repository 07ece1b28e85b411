#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "thread.h"

/* The signal that pulls a vCPU thread out of KVM_RUN. */
#define SIG_KICK SIGUSR1
#define CPUID_MAX_ENTRIES 256

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

int vcpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int err = -errno;
		log_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(-err));
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

static unsigned int order_base_2(uint32_t n)
{
	unsigned int s = 0;
	while ((1u << s) < n)
		s++;
	return s;
}

/* The supported table with this vCPU's identity and the machine's topology:
 * one package of ncpus cores, one thread each. */
static int set_cpuid(struct vcpu *v, uint32_t ncpus, const struct kvm_cpuid2 *supported)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sz);
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffffu) | ((uint32_t)v->id << 24) | (ncpus << 16);
			e->ecx |= 1u << 31; /* running under a hypervisor */
			if (ncpus > 1)
				e->edx |= 1u << 28; /* HTT: the count in EBX is valid */
			break;
		case 0xb:
			/* x2APIC topology: level 0 threads (1 each), level 1 cores. */
			e->edx = (uint32_t)v->id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 0 | (1u << 8);
			} else if (e->index == 1) {
				e->eax = order_base_2(ncpus);
				e->ebx = ncpus;
				e->ecx = 1 | (2u << 8);
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		default:
			break;
		}
	}
	int err = 0;
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0) {
		err = -errno;
		log_err("vcpu %d: KVM_SET_CPUID2: %s", v->id, strerror(-err));
	}
	free(c);
	return err;
}

static int set_msrs(struct vcpu *v)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 }, /* fast strings */
		/* MTRRs on, default write-back: without it RAM would be uncached. */
		{ MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[N];
	} msrs = { .hdr.nmsrs = N };
	for (size_t i = 0; i < N; i++) {
		msrs.e[i].index = boot_msrs[i].index;
		msrs.e[i].data = boot_msrs[i].data;
	}
	int r = ioctl(v->fd, KVM_SET_MSRS, &msrs);
	if (r != N) {
		log_err("vcpu %d: KVM_SET_MSRS set %d of %d", v->id, r, N);
		return -EINVAL;
	}
	return 0;
}

static void set_lvt_mode(struct kvm_lapic_state *l, unsigned int reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, &l->regs[reg], sizeof(v));
	v = (v & ~0x700u & ~(1u << 16)) | (mode << 8); /* delivery mode, unmasked */
	memcpy(&l->regs[reg], &v, sizeof(v));
}

static int set_lapic_fpu(struct vcpu *v)
{
	struct kvm_lapic_state lapic;
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	/* LINT0 carries the PIC's interrupts, LINT1 NMIs, as on a PC. */
	set_lvt_mode(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
	set_lvt_mode(&lapic, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0 || ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vcpu *v, struct vcpu_host *host, int id, uint32_t ncpus,
		const struct kvm_cpuid2 *supported)
{
	int err;
	memset(v, 0, sizeof(*v));
	v->id = id;
	v->host = host;
	v->fd = ioctl(host->vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		err = -errno;
		log_err("KVM_CREATE_VCPU %d: %s", id, strerror(-err));
		return err;
	}
	v->run = mmap(NULL, (size_t)host->vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		err = -errno;
		v->run = NULL;
		log_err("vcpu %d: mmap kvm_run: %s", id, strerror(-err));
		return err;
	}
	if ((err = set_cpuid(v, ncpus, supported)) || (err = set_msrs(v)))
		return err;
	if ((err = set_lapic_fpu(v))) {
		log_err("vcpu %d: LAPIC/FPU: %s", id, strerror(-err));
		return err;
	}
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	*s = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = sel,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = code ? 0 : 1, /* a 64-bit code segment has D clear */
		.s = 1,
		.l = code ? 1 : 0,
		.g = 1,
	};
}

int vcpu_set_boot_state(int vcpu_fd, const struct linux_entry *e)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	flat_segment(&sregs.cs, e->cs_sel, 0xb, true);
	flat_segment(&sregs.ds, e->ds_sel, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = e->gdt_base;
	sregs.gdt.limit = e->gdt_limit;
	sregs.cr0 = e->cr0;
	sregs.cr3 = e->cr3;
	sregs.cr4 = e->cr4;
	sregs.efer = e->efer;
	struct kvm_regs regs = {
		.rflags = 2, /* bit 1 is always set */
		.rip = e->rip,
		.rsi = e->rsi,
		.rsp = e->rsp,
		.rbp = e->rsp,
	};
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0) {
		int err = -errno;
		log_err("64-bit entry registers: %s", strerror(-err));
		return err;
	}
	return 0;
}

/* Unhandled accesses are logged once per address: a guest probing absent
 * hardware (PCI, RTC, port 0x80 delays) must not flood the log. */
#define UNHANDLED_SLOTS 128
static pthread_mutex_t unhandled_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t unhandled[UNHANDLED_SLOTS];
static unsigned int n_unhandled;

static void note_unhandled(bool pio, uint64_t addr, bool write, uint32_t len)
{
	uint64_t key = addr | (pio ? 1ull << 63 : 0);
	pthread_mutex_lock(&unhandled_lock);
	bool seen = n_unhandled == UNHANDLED_SLOTS;
	for (unsigned int i = 0; i < n_unhandled && !seen; i++)
		seen = unhandled[i] == key;
	if (!seen)
		unhandled[n_unhandled++] = key;
	pthread_mutex_unlock(&unhandled_lock);
	if (!seen)
		log_debug("unhandled %s %s at 0x%llx (%u bytes); further ones not logged",
			  pio ? "port" : "MMIO", write ? "write" : "read",
			  (unsigned long long)addr, len);
}

static void end(struct vcpu *v, enum vcpu_exit_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void end(struct vcpu *v, enum vcpu_exit_status st, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	v->host->end(v->host->opaque, st, why);
}

/* Handles one exit; false when the vCPU must stop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vcpu_host *h = v->host;
	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint8_t *data = (uint8_t *)run + run->io.data_offset;
		bool write = run->io.direction == KVM_EXIT_IO_OUT;
		for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
			if (!bus_access(h->pio, run->io.port, data, run->io.size, write))
				note_unhandled(true, run->io.port, write, run->io.size);
		return true;
	}
	case KVM_EXIT_MMIO:
		if (!bus_access(h->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
				run->mmio.is_write))
			note_unhandled(false, run->mmio.phys_addr, run->mmio.is_write, run->mmio.len);
		return true;
	case KVM_EXIT_HLT:
		return true; /* the in-kernel LAPIC normally keeps halts in KVM */
	case KVM_EXIT_SHUTDOWN:
		end(v, VCPU_EXIT_RUNTIME, "vcpu %d: triple fault", v->id);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			end(v, VCPU_EXIT_POWEROFF, "guest powered off");
			break;
		case KVM_SYSTEM_EVENT_RESET:
			end(v, VCPU_EXIT_REBOOT, "guest rebooted");
			break;
		default:
			end(v, VCPU_EXIT_RUNTIME, "vcpu %d: system event %u", v->id,
			    run->system_event.type);
		}
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		end(v, VCPU_EXIT_RUNTIME, "vcpu %d: KVM internal error, suberror %u", v->id,
		    run->internal.suberror);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		end(v, VCPU_EXIT_RUNTIME, "vcpu %d: VM entry failed, reason 0x%llx", v->id,
		    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	default:
		end(v, VCPU_EXIT_RUNTIME, "vcpu %d: unexpected KVM exit %u", v->id,
		    run->exit_reason);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16];
	snprintf(name, sizeof(name), "vcpu%d", v->id);
	pthread_setname_np(pthread_self(), name);
	while (!atomic_load(&v->host->stopping)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			end(v, VCPU_EXIT_RUNTIME, "vcpu %d: KVM_RUN: %m", v->id);
			break;
		}
		if (!handle_exit(v))
			break;
	}
	return NULL;
}

static void on_kick(int sig)
{
	(void)sig;
}

int vcpu_init_signals(void)
{
	struct sigaction sa = { .sa_handler = on_kick }; /* no SA_RESTART: KVM_RUN returns */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIG_KICK, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_start(struct vcpu *v)
{
	int err = thread_start(&v->thread, vcpu_thread, v);
	if (err) {
		log_err("vcpu %d: thread: %s", v->id, strerror(-err));
		return err;
	}
	v->running = true;
	return 0;
}

void vcpu_kick_thread(pthread_t thread, struct kvm_run *run)
{
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(thread, SIG_KICK);
}

void vcpu_kick(struct vcpu *v)
{
	if (v->running)
		vcpu_kick_thread(v->thread, v->run);
}

void vcpu_join(struct vcpu *v)
{
	if (!v->running)
		return;
	pthread_join(v->thread, NULL);
	v->running = false;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, (size_t)v->host->vm->vcpu_mmap_size);
	if (v->fd > 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
