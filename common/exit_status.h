/* How cellvm-vcpu ends, as its exit status: the controller turns these into
 * the VMM's errors (a clean guest poweroff/reboot is success; the rest map to
 * KERNEL_LOAD_FAILURE, VCPU_START_FAILURE, VCPU_RUNTIME_FAILURE, ...). The
 * reason in words is logged on stderr. */
#ifndef CELLVM_EXIT_STATUS_H
#define CELLVM_EXIT_STATUS_H

enum vcpu_exit_status {
	VCPU_EXIT_POWEROFF = 0,     /* the guest powered off */
	VCPU_EXIT_ERROR = 1,        /* bad arguments or setup failure */
	VCPU_EXIT_REBOOT = 3,       /* the guest rebooted */
	VCPU_EXIT_STOPPED = 4,      /* stopped by SIGTERM/SIGINT */
	VCPU_EXIT_KERNEL_LOAD = 10, /* the kernel or initrd could not be loaded */
	VCPU_EXIT_START = 11,       /* KVM or a vCPU could not be set up */
	VCPU_EXIT_RUNTIME = 12,     /* triple fault, KVM internal error, ... */
	VCPU_EXIT_DEVICE = 13,      /* a device backend failed: set-up, or hung later */
};

#endif
