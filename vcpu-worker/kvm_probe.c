#include "kvm_probe.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "boot_linux.h"
#include "bytes.h"
#include "kvm_verdict.h"
#include "kvm_vm.h"
#include "layout.h"
#include "log.h"
#include "thread.h"
#include "vcpu.h"

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_IRQCHIP, "IRQCHIP" }, /* also IRQ_LINE, GET/SET_LAPIC */
	{ KVM_CAP_PIT2, "PIT2" },
	{ KVM_CAP_IRQFD, "IRQFD" },
	{ KVM_CAP_IOEVENTFD, "IOEVENTFD" },
	{ KVM_CAP_EXT_CPUID, "EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
};

/* The probe VM's memory: GDT and page tables where linux_long_mode puts
 * them, the code, the IDT and its pseudo-descriptor between them. */
#define PROBE_RAM 0x10000ull
#define PROBE_CODE 0x1000ull
#define PROBE_IDT 0x2000ull
#define PROBE_IDTR 0x2ff0ull
#define INT3_VECTOR 3u
#define IDT_GATE_SIZE 16u
#define GATE_INTR64 0x8eu /* present, DPL 0, 64-bit interrupt gate */

_Static_assert(PROBE_IDTR + 10 <= LAYOUT_BOOT_PARAMS && LINUX_LONG_MODE_END <= PROBE_RAM,
	       "the probe's memory does not hold what long mode needs");

/* The program of kvm_verdict.h. Each report is `mov $stage, %al; out %al,
 * $KVM_PROBE_PORT`; the int3 handler is the last instruction. */
static const uint8_t probe_code[] = {
	0xb0, 0x01, 0xe6, KVM_PROBE_PORT,     /* report RUNS */
	0xb9, KVM_PROBE_LOOP & 0xff, (KVM_PROBE_LOOP >> 8) & 0xff, (KVM_PROBE_LOOP >> 16) & 0xff,
	KVM_PROBE_LOOP >> 24,                 /* mov $KVM_PROBE_LOOP, %ecx */
	0xff, 0xc9,                           /* 1: dec %ecx */
	0x75, 0xfc,                           /* jnz 1b */
	0xb0, 0x02, 0xe6, KVM_PROBE_PORT,     /* report LOOPED */
	0xb8, 0x01, 0x00, 0x00, 0x80,         /* mov $0x80000001, %eax */
	0x0f, 0xa2,                           /* cpuid */
	0xb9, 0x80, 0x00, 0x00, 0xc0,         /* mov $MSR_EFER, %ecx */
	0x0f, 0x32,                           /* rdmsr */
	0x0f, 0xba, 0xe8, 0x00,               /* bts $_EFER_SCE, %eax */
	0x0f, 0x30,                           /* wrmsr */
	0x0f, 0x20, 0xe1,                     /* mov %cr4, %rcx */
	0x48, 0x89, 0xc8,                     /* mov %rcx, %rax */
	0x48, 0x81, 0xf1, 0x80, 0, 0, 0,      /* xor $X86_CR4_PGE, %rcx */
	0x0f, 0x22, 0xe1,                     /* mov %rcx, %cr4 */
	0x0f, 0x22, 0xe0,                     /* mov %rax, %cr4: a global TLB flush */
	0x0f, 0x20, 0xd8,                     /* mov %cr3, %rax */
	0x0f, 0x22, 0xd8,                     /* mov %rax, %cr3 */
	0x0f, 0x01, 0x1c, 0x25, PROBE_IDTR & 0xff, PROBE_IDTR >> 8, 0, 0, /* lidt PROBE_IDTR */
	0xcc,                                 /* int3 */
	0xb0, 0x03, 0xe6, KVM_PROBE_PORT,     /* report DONE */
	0xf4,                                 /* hlt */
	0x48, 0xcf,                           /* int3 handler: iretq */
};
#define INT3_HANDLER (PROBE_CODE + sizeof(probe_code) - 2)

struct probe_vm {
	int vm_fd, vcpu_fd;
	uint8_t *ram;
	struct kvm_run *run;
	size_t run_size;
};

struct watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	atomic_bool fired;
	clockid_t vcpu_cpu;    /* the vCPU thread's CPU clock */
	uint64_t cpu_deadline; /* on it, ns */
	uint64_t wall_deadline; /* CLOCK_MONOTONIC, ns */
	pthread_t vcpu_thread;
	struct kvm_run *run;
};

/* How often the watchdog reads the vCPU thread's CPU clock. */
#define WATCHDOG_TICK_NS 5000000ull

static uint64_t clock_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t now_us(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000u;
}

static int check_caps(int kvm_fd, char *why, size_t len)
{
	int v = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		snprintf(why, len, "/dev/kvm cannot run this guest: KVM API version %d, want %d", v,
			 KVM_API_VERSION);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(why, len, "/dev/kvm cannot run this guest: it lacks KVM_CAP_%s",
				 required_caps[i].name);
			return -ENOTSUP;
		}
	}
	return 0;
}

static void write_guest(uint8_t *ram, struct linux_entry *entry)
{
	linux_long_mode(ram, PROBE_CODE, entry);
	memcpy(ram + PROBE_CODE, probe_code, sizeof(probe_code));
	uint8_t *gate = ram + PROBE_IDT + INT3_VECTOR * IDT_GATE_SIZE;
	memset(gate, 0, IDT_GATE_SIZE);
	put_le16(gate, INT3_HANDLER & 0xffff);
	put_le16(gate + 2, entry->cs_sel);
	gate[5] = GATE_INTR64;
	put_le16(gate + 6, (INT3_HANDLER >> 16) & 0xffff);
	put_le32(gate + 8, (uint32_t)(INT3_HANDLER >> 32));
	put_le16(ram + PROBE_IDTR, (INT3_VECTOR + 1) * IDT_GATE_SIZE - 1);
	put_le64(ram + PROBE_IDTR + 2, PROBE_IDT);
}

/* The VM, its memory and one vCPU at the probe's entry, as the worker sets
 * up the boot CPU (with KVM's supported CPUID: the guest writes EFER). */
static int create(int kvm_fd, struct probe_vm *p)
{
	int err;
	struct linux_entry entry;
	struct kvm_cpuid2 *cpuid = NULL;
	int mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0) {
		log_err("KVM_GET_VCPU_MMAP_SIZE: %d", mmap_size);
		return -EINVAL;
	}
	if ((p->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0)) < 0) {
		err = -errno;
		log_err("KVM_CREATE_VM: %s", strerror(-err));
		return err;
	}
	if ((err = kvm_vm_vmx_pages(p->vm_fd)))
		return err;
	p->ram = mmap(NULL, PROBE_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->ram == MAP_FAILED) {
		p->ram = NULL;
		log_err("KVM probe memory: %m");
		return -ENOMEM;
	}
	struct kvm_userspace_memory_region r = { .memory_size = PROBE_RAM,
						  .userspace_addr = (uint64_t)(uintptr_t)p->ram };
	if (ioctl(p->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ||
	    (p->vcpu_fd = ioctl(p->vm_fd, KVM_CREATE_VCPU, 0ul)) < 0) {
		err = -errno;
		log_err("KVM probe memory or vCPU: %s", strerror(-err));
		return err;
	}
	p->run_size = (size_t)mmap_size;
	p->run = mmap(NULL, p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->vcpu_fd, 0);
	if (p->run == MAP_FAILED) {
		p->run = NULL;
		log_err("KVM probe: mmap kvm_run: %m");
		return -ENOMEM;
	}
	if ((err = vcpu_supported_cpuid(kvm_fd, &cpuid)))
		return err;
	if (ioctl(p->vcpu_fd, KVM_SET_CPUID2, cpuid) < 0) {
		err = -errno;
		log_err("KVM probe: KVM_SET_CPUID2: %s", strerror(-err));
	}
	free(cpuid);
	if (err)
		return err;
	write_guest(p->ram, &entry);
	return vcpu_set_boot_state(p->vcpu_fd, &entry);
}

static void destroy(struct probe_vm *p)
{
	if (p->run)
		munmap(p->run, p->run_size);
	if (p->vcpu_fd >= 0)
		close(p->vcpu_fd);
	if (p->ram)
		munmap(p->ram, PROBE_RAM);
	if (p->vm_fd >= 0)
		close(p->vm_fd);
}

/* Kicks the vCPU out of KVM_RUN once its thread has had its CPU budget,
 * or the clock ran out; reads that CPU clock every WATCHDOG_TICK_NS. */
static void *watchdog(void *arg)
{
	struct watchdog *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		if (clock_ns(w->vcpu_cpu) >= w->cpu_deadline || now >= w->wall_deadline) {
			atomic_store(&w->fired, true);
			vcpu_kick_thread(w->vcpu_thread, w->run);
			break;
		}
		uint64_t next = now + WATCHDOG_TICK_NS;
		struct timespec ts = { .tv_sec = (time_t)(next / 1000000000u),
				       .tv_nsec = (long)(next % 1000000000u) };
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Arms w for the calling thread, which is about to run the vCPU. */
static int start_watchdog(struct watchdog *w, pthread_t *t)
{
	int err = pthread_getcpuclockid(pthread_self(), &w->vcpu_cpu);
	if (err) {
		log_err("KVM probe: the vCPU thread's CPU clock: %s", strerror(err));
		return -err;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->lock, NULL);
	w->cpu_deadline = clock_ns(w->vcpu_cpu) + KVM_PROBE_DEADLINE_MS * 1000000ull;
	w->wall_deadline = clock_ns(CLOCK_MONOTONIC) + KVM_PROBE_WALL_MS * 1000000ull;
	if ((err = thread_start(t, watchdog, w)))
		log_err("KVM probe: watchdog thread: %s", strerror(-err));
	return err;
}

static void stop_watchdog(struct watchdog *w, pthread_t t)
{
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(t, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

/* A stage report: one byte out to the probe's port, the next stage. */
static bool is_report(const struct kvm_run *run, enum kvm_probe_stage next)
{
	return run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
	       run->io.port == KVM_PROBE_PORT && run->io.size == 1 && run->io.count == 1 &&
	       *((const uint8_t *)run + run->io.data_offset) == next;
}

/* Runs the vCPU until DONE, another exit, a failure or the watchdog. */
static int run_probe(struct probe_vm *p, struct kvm_probe_result *res)
{
	struct watchdog w = { .vcpu_thread = pthread_self(), .run = p->run };
	pthread_t t;
	int err = start_watchdog(&w, &t);
	if (err)
		return err;
	/* The vCPU's progress is measured in the CPU it had, not the clock. */
	uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID) / 1000u;
	for (;;) {
		if (ioctl(p->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				res->run_err = -errno;
				break;
			}
			if (atomic_load(&w.fired)) {
				res->timed_out = true;
				break;
			}
			continue;
		}
		if (!is_report(p->run, res->stage + 1)) {
			res->exit_reason = p->run->exit_reason;
			res->suberror = p->run->internal.suberror;
			res->entry_failure = p->run->fail_entry.hardware_entry_failure_reason;
			break;
		}
		res->stage_us[++res->stage] = clock_ns(CLOCK_THREAD_CPUTIME_ID) / 1000u - t0;
		if (res->stage == KVM_PROBE_DONE)
			break;
	}
	res->elapsed_us = clock_ns(CLOCK_THREAD_CPUTIME_ID) / 1000u - t0;
	stop_watchdog(&w, t);
	struct kvm_regs regs;
	if (res->stage != KVM_PROBE_DONE && ioctl(p->vcpu_fd, KVM_GET_REGS, &regs) == 0) {
		res->rip = regs.rip;
		res->loop_left = regs.rcx;
	}
	return 0;
}

int kvm_probe(int kvm_fd, bool run_vcpu, char *why, size_t len, uint64_t *cost_us)
{
	uint64_t t0 = now_us();
	struct probe_vm p = { .vm_fd = -1, .vcpu_fd = -1 };
	struct kvm_probe_result res = { 0 };
	int err = check_caps(kvm_fd, why, len);
	if (!err && run_vcpu && !(err = vcpu_init_signals()) && !(err = create(kvm_fd, &p)) &&
	    !(err = run_probe(&p, &res)))
		err = kvm_verdict(&res, why, len);
	destroy(&p);
	*cost_us = now_us() - t0;
	if (err == -ENOTSUP)
		log_err("%s", why);
	else if (err)
		snprintf(why, len, "the KVM probe could not run: %s", strerror(-err));
	else if (!run_vcpu)
		log_info("KVM probe: API and capabilities only (--kvm-check api), in %llu us; "
			 "no vCPU was run", (unsigned long long)*cost_us);
	else
		log_info("KVM probe: a 64-bit vCPU ran its loop in %llu us, all of it in %llu us; "
			 "the check took %llu us",
			 (unsigned long long)(res.stage_us[KVM_PROBE_LOOPED] -
					      res.stage_us[KVM_PROBE_RUNS]),
			 (unsigned long long)res.elapsed_us, (unsigned long long)*cost_us);
	return err;
}
