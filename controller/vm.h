/* One VM's processes and resources, as the controller builds them from a
 * config: the sealed guest-memory memfd, the machine description, one
 * process per device the config asks cellvm to serve, a connection to each
 * external vhost-user backend, and the vcpu-worker holding it all.
 *
 * vm_build() opens every file, tap and socket the config names (in the
 * controller, so sandboxed children never need a path) and has the spawner
 * start the children with only their fds, in a clean environment. It does not wait
 * for them: the worker reports READY (or EXIT) on vm->ctl_fd, and each
 * child's end shows on its pidfd. What vm_build() started stays in *vm even
 * when it fails, so the caller stops and reaps it the same way in every
 * case; vm_release() then closes what is left.
 *
 * Each device process gets a control channel besides its vhost-user socket
 * (common/dev_ctl.h: its counters, its rate limits), cellvmd's end in its
 * vm_child; an external backend has none.
 *
 * Devices are named as the machine description names them, by their kind's
 * prefix and index (device_kind.h): blk0.., net0.., console0, rng0; the
 * worker is "vcpu-worker". */
#ifndef CELLVM_VM_H
#define CELLVM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cgroup.h"
#include "child_log.h"
#include "config.h"
#include "device_kind.h"
#include "gate.h"
#include "log.h"
#include "machine.h"
#include "restart_policy.h"
#include "spawner_link.h"
#include "worker_args.h"

#define VM_MAX_CHILDREN (1 + VM_CONFIG_MAX_DEVICES)
#define VM_WORKER_NAME "vcpu-worker"

struct vm_child {
	char name[MACHINE_NAME_MAX];
	pid_t pid;
	int pidfd;          /* -1 once reaped */
	bool exited;
	struct child_end end;
	struct child_log log; /* its stderr */
	enum sandbox_mode sandbox; /* what the spawner was asked for it */
	bool oom_killed;      /* its cgroup's OOM killer killed it (or one of its own) */
	const char *killed_for; /* why the controller SIGKILLed it, if it did; NULL */
	const char *policy;   /* its kind: policy/<policy>.policy ("blk", "vcpu") */
	int ctl_fd;         /* a device's control channel (dev_ctl.h, SOCK_SEQPACKET,
			     * non-blocking); -1 for the worker */
	/* A device process cellvm started, as vm_restart_device starts it
	 * again; kind NULL for the worker. */
	const struct device_kind *kind;
	char args[1024];    /* its argv, NUL-separated (nargs of them) */
	size_t nargs;
	int resource;       /* a dup of what it serves (disk, tap, stream); -1 */
	int held;           /* its disk's slot in vm->held; -1 */
	int swap_fd;        /* the disk it serves from its next start (a swapped
			     * image, opened and locked: vm_swap_disk); -1 */
	int extra[DEVICE_EXTRA_MAX]; /* dups of its extra fds (a NIC's other tap queues) */
	size_t nextra;
	struct restart_policy restart;
	struct restart_history restarts;
	uint64_t died_ms;   /* restarted at, waiting for the worker's RESUMED; 0 */
	uint64_t blackout_last_ms, blackout_max_ms;
};

/* The binaries vm_build() may start: the worker, then each device binary in
 * device_dir ("cellvm-blk", ...), each with its policy's kind (paths in
 * path[], which bins[] points into). The spawner is told to start these and
 * nothing else. */
#define VM_BINARIES (1 + DEVICE_KINDS)
#define VM_PATH_MAX 4096
void vm_binaries(const char *worker, const char *device_dir, char path[VM_BINARIES][VM_PATH_MAX],
		 struct spawner_binary bins[VM_BINARIES]);

/* What the controller's process provides to every VM. */
struct vm_env {
	const char *device_dir; /* where cellvm-blk, cellvm-net, ... live */
	const char *worker;     /* the vcpu-worker binary (cellvm-vcpu) */
	int kvm_fd;           /* /dev/kvm, opened before privileges were dropped; -1: the worker opens it */
	int spawner_fd;       /* cellvm-spawner, which starts the children (spawner.h) */
	enum log_level log_level;
	const struct gate *gate; /* opens what a config names (gate.h) */
	enum sandbox_mode sandbox; /* the controller's own, and its spawner's */
	enum worker_kvm_check kvm_check; /* the operator's --kvm-check, for each worker */
	struct cgroup_host *cgroup; /* --cgroup: each VM in a cgroup of its own (cgroup.h); NULL */
	uint32_t max_restarts; /* --max-restarts: the cap on every device's; UINT32_MAX: none */
	const char *name;     /* the VM's name in its metrics (the `vm` label) */
};

struct vm {
	size_t nchildren;
	struct vm_child child[VM_MAX_CHILDREN]; /* the worker (VM_WORKER_NAME), then the devices */
	int ctl_fd;     /* the worker's control channel (SOCK_SEQPACKET); -1 */
	int serial_fd;  /* the guest's serial port (stream); -1 */
	int console_fd; /* the virtio console's host side (stream); -1 without a console */
	size_t nheld;   /* fds kept until vm_release(): the disks, whose locks live on them */
	int held[VM_CONFIG_MAX_DEVICES];
	/* Its cgroup's owner while the VM has one (each child in the leaf of
	 * its name beneath it); NULL. */
	struct cgroup_host *cgroup;
};

/* Builds the VM for cfg. 0, or a GuestError (LC_ERR_*, positive) with a
 * one-line reason in err for the user: what failed and what to do. */
int vm_build(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env, char *err,
	     size_t errlen);

/* Starts device c again (a process cellvm started, which has ended and
 * whose pidfd and stderr the caller no longer watches): the same binary,
 * arguments and resource, a new vhost-user socket and control channel.
 * 0 with *worker_end the worker's end of the new socket, or -errno. */
int vm_restart_device(struct vm *vm, const struct vm_env *env, struct vm_child *c,
		      int *worker_end);

/* Device c (a disk of cellvm's) serves fd, an image opened and locked as
 * Create opens disks, from its next start on: vm_restart_device then lets
 * go of the old image's lock and file. Takes fd; -EINVAL (fd closed) if c
 * serves no held disk. fd -1 forgets a swap not started yet. */
int vm_swap_disk(struct vm_child *c, int fd);

/* Children not reaped yet. */
size_t vm_alive(const struct vm *vm);
/* Sends sig to every child not reaped yet. */
void vm_signal_all(struct vm *vm, int sig);
/* Closes every fd the VM holds (call once no child is left; the children's
 * stderr pipes too), removes its cgroup and empties it. */
void vm_release(struct vm *vm);

#endif
