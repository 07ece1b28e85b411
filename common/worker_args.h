/* How cellvm-vcpu is started: its command line and the fd numbers it is
 * given, defined once for the controller that builds them
 * (controller/vm.c), the worker that parses them (vcpu-worker/main.c) and
 * the tests' stand-in worker (tests/integration/fake_vcpu.c):
 *
 *   cellvm-vcpu --machine-fd N --mem-fd N (--kernel PATH | --kernel-fd N)
 *               [--initrd PATH | --initrd-fd N] [--serial-fd N]
 *               [--backend NAME=FD]... [--kvm-fd N] [--control-fd N]
 *               [--kvm-check full|api] [--log-level L] [--sandbox on|off|log]
 *               [--policy-dir DIR | --policy-fd N] [--allow-degraded]
 *   cellvm-vcpu --check-kvm [--kvm-check full|api] [--kvm-fd N]
 *
 * The controller places each fd at its WORKER_FD_* number and names that
 * number in the option; cellvm-spawner adds the confinement options
 * (spawner/child_args.h). */
#ifndef CELLVM_WORKER_ARGS_H
#define CELLVM_WORKER_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "confine.h"
#include "machine.h"

enum worker_fd {
	WORKER_FD_MACHINE = 3,
	WORKER_FD_MEM,
	WORKER_FD_KERNEL,
	WORKER_FD_INITRD,
	WORKER_FD_SERIAL,
	WORKER_FD_CONTROL,
	WORKER_FD_KVM,
	WORKER_FD_BACKEND0, /* one per virtio device, in machine order */
};
#define WORKER_MAX_FDS (WORKER_FD_BACKEND0 - 3 + MACHINE_MAX_VIRTIO)
#define WORKER_ARGV_MAX 64

/* How much of its KVM check (vcpu-worker/kvm_probe.h) the worker makes
 * before it builds the VM: the operator's choice (cellvmd --kvm-check). */
enum worker_kvm_check {
	WORKER_KVM_CHECK_FULL = 0, /* the API, the capabilities, and a vCPU that runs */
	WORKER_KVM_CHECK_API,      /* the API and the capabilities only */
};

/* "full" or "api": 0, or -EINVAL for anything else. */
int worker_kvm_check_parse(const char *s, enum worker_kvm_check *out);
const char *worker_kvm_check_name(enum worker_kvm_check c);

/* ---------------------------------------------------------------- building */

/* The controller's fds for each role, -1 where there is none (initrd, kvm). */
struct worker_given {
	int machine, mem, kernel, initrd, serial, control, kvm;
	enum worker_kvm_check kvm_check; /* --kvm-check api only when not full */
	size_t nbackends;
	const char *backend_name[MACHINE_MAX_VIRTIO];
	int backend[MACHINE_MAX_VIRTIO];
};

struct worker_fd_place {
	int fd;     /* the controller's */
	int target; /* WORKER_FD_* in the worker */
};

struct worker_cmdline {
	const char *argv[WORKER_ARGV_MAX]; /* NULL-terminated */
	struct worker_fd_place fds[WORKER_MAX_FDS];
	size_t nfds;
	char backend_arg[MACHINE_MAX_VIRTIO][MACHINE_NAME_MAX + 16];
};

/* The command line for g, with `extra` (NULL-terminated: --log-level)
 * after the fds' options; argv[0] is "cellvm-vcpu". 0, or
 * -E2BIG when it does not fit WORKER_ARGV_MAX. */
int worker_cmdline_build(const struct worker_given *g, const char *const *extra,
			 struct worker_cmdline *out);

/* ---------------------------------------------------------------- parsing */

struct worker_backend_arg {
	char name[MACHINE_NAME_MAX];
	int fd;
};

struct worker_args {
	int machine_fd, mem_fd, kernel_fd, initrd_fd, serial_fd, kvm_fd, control_fd; /* -1: none */
	size_t nbackends;
	struct worker_backend_arg backends[MACHINE_MAX_VIRTIO];
	bool check_kvm; /* --check-kvm: only say whether /dev/kvm can run a guest */
	enum worker_kvm_check kvm_check; /* --kvm-check; default full */
	bool help;
	struct confine_opts confine;
};

/* Parses the command line (and opens --kernel or --initrd PATH). 0 (with
 * a->help set for --help), or -errno after one log line: an unknown option,
 * an fd that is not open, a missing --machine-fd, --mem-fd or kernel
 * without --check-kvm. */
int worker_args_parse(int argc, char **argv, struct worker_args *a);

void worker_args_usage(FILE *f);

#endif
