#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "device_kind.h"
#include "errf.h"
#include "fds.h"
#include "guest_mem.h"
#include "lifecycle.h"
#include "spawn_msg.h"
#include "tap.h"
#include "worker_args.h"

/* The control channel's fd number as the devices' argument spells it. */
#define CONTROL_FD "5"
_Static_assert(DEVICE_FD_CONTROL == 5, "CONTROL_FD spells DEVICE_FD_CONTROL");

/* Every fd of the worker goes to the spawner in one request. */
_Static_assert(WORKER_MAX_FDS <= SPAWN_MSG_MAX_FDS,
	       "the worker's fds do not fit one spawn request");

#define FDT_MAX 65536

/* The fds being handed to the children, closed once they are spawned. */
struct handoff {
	int machine_fd, mem_fd, kernel_fd, initrd_fd, worker_serial, worker_ctl;
	int backend[MACHINE_MAX_VIRTIO]; /* the worker's ends */
};

/* The machine description as a sealed memfd the worker reads. */
static int machine_memfd(const struct machine *m)
{
	static uint8_t fdt[FDT_MAX];
	int len = machine_to_fdt(m, fdt, sizeof(fdt));
	if (len < 0)
		return len;
	int fd = memfd_create("cellvm-machine", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (write(fd, fdt, (size_t)len) != len || lseek(fd, 0, SEEK_SET) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		int err = errno ? -errno : -EIO;
		close(fd);
		return err;
	}
	return fd;
}

/* Spawns a child into slot c with its stderr on a pipe the controller
 * reads (name is not c's own). */
static int spawn_into(struct vm *vm, const struct vm_env *env, struct vm_child *c,
		      const char *name, const char *policy, enum sandbox_mode mode,
		      const char *path, char *const *argv, const struct spawn_fd *fds, size_t nfds)
{
	int logp[2];
	if (pipe2(logp, O_CLOEXEC) < 0)
		return -errno;
	/* Only our end is non-blocking: the child's writes wait for us. */
	if (fcntl(logp[0], F_SETFL, O_NONBLOCK) < 0) {
		int err = -errno;
		close(logp[0]);
		close(logp[1]);
		return err;
	}
	/* It moves itself into its leaf before its exec (spawn.h). */
	int procs = vm->cgroup ? cgroup_vm_leaf(vm->cgroup, name) : -1;
	int err = vm->cgroup && procs < 0
			  ? procs
			  : spawner_spawn(env->spawner_fd,
					  &(struct spawn_req){ .path = path, .argv = argv, .fds = fds,
							       .nfds = nfds, .stderr_fd = logp[1],
							       .in_cgroup = procs >= 0,
							       .cgroup_procs_fd = procs },
					  mode, &c->pid, &c->pidfd);
	close_fd(&procs);
	close(logp[1]);
	if (err < 0) {
		close(logp[0]);
		return err;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->ctl_fd = -1;
	c->exited = false;
	c->oom_killed = false;
	c->killed_for = NULL;
	c->sandbox = mode;
	c->policy = policy;
	child_log_init(&c->log, logp[0]);
	log_info("%s: started %s (pid %d)", name, path, (int)c->pid);
	return 0;
}

static int spawn_named(struct vm *vm, const struct vm_env *env, const char *name,
		       const char *policy, enum sandbox_mode mode, const char *path,
		       char *const *argv, const struct spawn_fd *fds, size_t nfds)
{
	struct vm_child *c = &vm->child[vm->nchildren];
	*c = (struct vm_child){ .resource = -1, .held = -1, .swap_fd = -1 };
	int err = spawn_into(vm, env, c, name, policy, mode, path, argv, fds, nfds);
	if (err == 0)
		vm->nchildren++;
	return err;
}

/* Keeps argv[0..n) in c for a restart; -E2BIG if they do not fit. */
static int keep_args(struct vm_child *c, const char *const *argv, size_t n)
{
	size_t off = 0;
	for (size_t k = 0; k < n; k++) {
		size_t len = strlen(argv[k]) + 1;
		if (off + len > sizeof(c->args))
			return -E2BIG;
		memcpy(c->args + off, argv[k], len);
		off += len;
	}
	c->nargs = n;
	return 0;
}

/* Closes the dups a child keeps for its restarts. */
static void close_child_fds(struct vm_child *c)
{
	close_fd(&c->resource);
	close_fd(&c->swap_fd);
	for (size_t k = 0; k < c->nextra; k++)
		close_fd(&c->extra[k]);
	c->nextra = 0;
}

/* The socket pair of a device's control channel; cellvmd's end (cv[0])
 * does not block: cellvmd never waits on a device. */
static int control_pair(int cv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cv) < 0)
		return -errno;
	if (fcntl(cv[0], F_SETFL, O_NONBLOCK) < 0) {
		int err = -errno;
		close(cv[0]);
		close(cv[1]);
		return err;
	}
	return 0;
}

/* Dups of what a device serves (its resource and extra fds: a NIC's tap
 * queues), for vm_restart_device; -errno with none kept. */
static int keep_fds(struct vm_child *c, const struct device_plan *p)
{
	if (p->resource >= 0 && (c->resource = fcntl(p->resource, F_DUPFD_CLOEXEC, 3)) < 0)
		return -errno;
	for (; c->nextra < p->nextra; c->nextra++) {
		c->extra[c->nextra] = fcntl(p->extra[c->nextra], F_DUPFD_CLOEXEC, 3);
		if (c->extra[c->nextra] < 0) {
			int err = -errno;
			close_child_fds(c);
			return err;
		}
	}
	return 0;
}

int vm_swap_disk(struct vm_child *c, int fd)
{
	if (fd >= 0 && (c->held < 0 || c->resource < 0)) {
		close(fd);
		return -EINVAL;
	}
	close_fd(&c->swap_fd);
	c->swap_fd = fd;
	return 0;
}

/* The swapped image takes the old one's place, in c and among the held
 * disks: the old process is gone, so its lock may go too. */
static int take_swap(struct vm *vm, struct vm_child *c)
{
	int dup = fcntl(c->swap_fd, F_DUPFD_CLOEXEC, 3);
	if (dup < 0)
		return -errno;
	int *held = &vm->held[c->held];
	gate_unlock(*held);
	close(*held);
	*held = c->swap_fd;
	c->swap_fd = -1;
	close(c->resource);
	c->resource = dup;
	return 0;
}

int vm_restart_device(struct vm *vm, const struct vm_env *env, struct vm_child *c,
		      int *worker_end)
{
	if (!c->kind || !c->nargs)
		return -EINVAL;
	int err;
	if (c->swap_fd >= 0 && (err = take_swap(vm, c)) < 0)
		return err;
	char path[VM_PATH_MAX], name[MACHINE_NAME_MAX];
	snprintf(path, sizeof(path), "%s/%s", env->device_dir, c->kind->binary);
	snprintf(name, sizeof(name), "%s", c->name);
	const char *argv[32];
	const char *a = c->args;
	size_t n = 0;
	for (; n < c->nargs && n < 31; n++, a += strlen(a) + 1)
		argv[n] = a;
	argv[n] = NULL;
	int sv[2], cv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if ((err = control_pair(cv)) < 0) {
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	struct spawn_fd fds[3 + DEVICE_EXTRA_MAX] = { { sv[1], DEVICE_FD_SOCKET },
						       { cv[1], DEVICE_FD_CONTROL } };
	size_t nfds = 2;
	if (c->resource >= 0)
		fds[nfds++] = (struct spawn_fd){ c->resource, DEVICE_FD_RESOURCE };
	for (size_t k = 0; k < c->nextra; k++)
		fds[nfds++] = (struct spawn_fd){ c->extra[k], DEVICE_FD_EXTRA + (int)k };
	close_fd(&c->ctl_fd);
	child_log_close(&c->log);
	close_fd(&c->pidfd);
	err = spawn_into(vm, env, c, name, c->kind->prefix, c->sandbox, path,
			 (char *const *)argv, fds, nfds);
	close(sv[1]);
	close(cv[1]);
	if (err < 0) {
		close(sv[0]);
		close(cv[0]);
		return err;
	}
	c->ctl_fd = cv[0];
	*worker_end = sv[0];
	return 0;
}

_Static_assert(1 + DEVICE_KINDS == VM_BINARIES, "the worker and every device binary");

void vm_binaries(const char *worker, const char *device_dir, char path[VM_BINARIES][VM_PATH_MAX],
		 struct spawner_binary bins[VM_BINARIES])
{
	snprintf(path[0], VM_PATH_MAX, "%s", worker);
	bins[0] = (struct spawner_binary){ path[0], "vcpu" };
	for (size_t i = 1; i < VM_BINARIES; i++) {
		snprintf(path[i], VM_PATH_MAX, "%s/%s", device_dir, device_kinds[i - 1].binary);
		bins[i] = (struct spawner_binary){ path[i], device_kinds[i - 1].prefix };
	}
}

/* What machine device i is: its row in device_kinds[] and which entry of
 * that kind in the config. */
struct planned {
	const struct device_kind *kind;
	size_t idx;
};

/* A device process to start: its plan and the device's end of its socket
 * (-1 once handed over, or for an external backend: nothing to start). */
struct pending {
	struct device_plan plan;
	int sock;
};

/* Plans the backend of machine device i as d says and connects it: an
 * external backend's socket, or a socketpair whose other end waits in
 * *pd for the device process. On success h->backend[i] is the worker's end. */
static int prepare_device(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env,
			  const struct machine *m, size_t i, struct planned d, struct handoff *h,
			  struct pending *pd, char *err, size_t errlen)
{
	const struct machine_virtio *v = &m->virtio[i];
	struct device_plan *p = &pd->plan;
	*p = (struct device_plan){ .sandbox = cfg->sandbox, .resource = -1, .host = -1 };
	int code = d.kind->plan(cfg, d.idx, env->gate, v->name, p, err, errlen);
	if (code)
		return code;
	if (p->host >= 0)
		vm->console_fd = p->host; /* only the console has one; vm_release() closes it */
	if (p->socket) {
		char why[LC_REASON_MAX];
		code = gate_connect(env->gate, p->socket_field, p->socket, LC_ERR_DEVICE_START_FAILURE,
				    &h->backend[i], why, sizeof(why));
		return code ? errf(err, errlen, code, "%s: vhost-user backend: %s", v->name, why)
			    : 0;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		device_plan_close(p);
		return errf(err, errlen, LC_ERR_INTERNAL_ERROR, "socketpair: %s", strerror(errno));
	}
	h->backend[i] = sv[0];
	pd->sock = sv[1];
	return 0;
}

/* Starts the process *pd waits for (none for an external backend); its
 * socket and resource are closed here either way, or the resource held. */
/* The restart config of device d, if its kind has one of its own. */
static const struct restart_cfg *device_restart_cfg(const struct vm_config *cfg,
						    struct planned d)
{
	if (d.kind->virtio_id == VIRTIO_ID_BLOCK)
		return &cfg->block[d.idx].restart;
	if (d.kind->virtio_id == VIRTIO_ID_NET)
		return &cfg->net[d.idx].restart;
	return NULL;
}

static int start_device(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env,
			const struct machine *m, size_t i, struct planned d, struct pending *pd,
			char *err, size_t errlen)
{
	struct device_plan *p = &pd->plan;
	if (pd->sock < 0)
		return 0;
	char path[VM_PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", env->device_dir, d.kind->binary);
	const char *argv[22] = { d.kind->binary, "--fd", "3", "--control-fd", CONTROL_FD };
	size_t a = 5;
	for (size_t k = 0; p->args[k]; k++)
		argv[a++] = p->args[k];
	argv[a++] = "--log-level";
	argv[a++] = log_level_name(env->log_level);
	argv[a] = NULL; /* the spawner adds how it is confined */
	int cv[2], r = control_pair(cv);
	struct spawn_fd fds[3 + DEVICE_EXTRA_MAX] = { { pd->sock, DEVICE_FD_SOCKET } };
	size_t nfds = 1;
	if (p->resource >= 0)
		fds[nfds++] = (struct spawn_fd){ p->resource, DEVICE_FD_RESOURCE };
	if (r == 0) {
		fds[nfds++] = (struct spawn_fd){ cv[1], DEVICE_FD_CONTROL };
		for (size_t k = 0; k < p->nextra; k++)
			fds[nfds++] = (struct spawn_fd){ p->extra[k], DEVICE_FD_EXTRA + (int)k };
		r = spawn_named(vm, env, m->virtio[i].name, d.kind->prefix, p->sandbox, path,
				(char *const *)argv, fds, nfds);
		close(cv[1]);
		if (r == 0) {
			struct vm_child *c = &vm->child[vm->nchildren - 1];
			c->ctl_fd = cv[0];
			/* What a restart needs: a failure here only means none. */
			c->restart = restart_policy_for(device_restart_cfg(cfg, d), &cfg->restart,
							env->max_restarts);
			if (keep_args(c, argv, a) == 0 && keep_fds(c, p) == 0)
				c->kind = d.kind;
			else
				log_warn("%s: cannot be restarted: %m", c->name);
		} else {
			close(cv[0]);
		}
	}
	close_fd(&pd->sock);
	if (r == 0 && p->hold) {
		vm->child[vm->nchildren - 1].held = (int)vm->nheld;
		vm->held[vm->nheld++] = p->resource;
		p->resource = -1;
	}
	device_plan_close(p);
	if (r < 0)
		return errf(err, errlen, LC_ERR_DEVICE_START_FAILURE, "%s: starting %s: %s",
			    m->virtio[i].name, path, strerror(-r));
	return 0;
}

static int start_worker(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env,
			const struct machine *m, const struct handoff *h, char *err, size_t errlen)
{
	struct worker_given g = { .machine = h->machine_fd, .mem = h->mem_fd,
				  .kernel = h->kernel_fd, .initrd = h->initrd_fd,
				  .serial = h->worker_serial, .control = h->worker_ctl,
				  .kvm = env->kvm_fd, .kvm_check = env->kvm_check,
				  .nbackends = m->nvirtio };
	for (size_t i = 0; i < m->nvirtio; i++) {
		g.backend_name[i] = m->virtio[i].name;
		g.backend[i] = h->backend[i];
	}
	/* The spawner adds how it is confined. */
	const char *extra[] = { "--log-level", log_level_name(env->log_level), NULL };
	struct worker_cmdline cl;
	int r = worker_cmdline_build(&g, extra, &cl);
	if (r < 0)
		return errf(err, errlen, LC_ERR_INTERNAL_ERROR, "vcpu-worker: its command line: %s",
			    strerror(-r));
	struct spawn_fd fds[WORKER_MAX_FDS];
	for (size_t i = 0; i < cl.nfds; i++)
		fds[i] = (struct spawn_fd){ cl.fds[i].fd, cl.fds[i].target };
	r = spawn_named(vm, env, VM_WORKER_NAME, "vcpu", cfg->sandbox, env->worker,
			(char *const *)cl.argv, fds, cl.nfds);
	if (r < 0)
		return errf(err, errlen, LC_ERR_GUEST_INITIALIZATION_FAILURE,
			    "vcpu-worker: starting %s: %s", env->worker, strerror(-r));
	return 0;
}

/* The machine for cfg: its layout, then every device, kind by kind in the
 * table's order; dev[i] says what machine device i is. */
static int plan_machine(const struct vm_config *cfg, struct machine *m,
			struct planned dev[MACHINE_MAX_VIRTIO], char *err, size_t errlen)
{
	char name[MACHINE_NAME_MAX + 24];
	int r = machine_layout(m, cfg->cpus, cfg->memory, cfg->cmdline);
	for (size_t k = 0; !r && k < DEVICE_KINDS; k++) {
		const struct device_kind *kind = &device_kinds[k];
		for (size_t idx = 0; !r && idx < kind->count(cfg); idx++) {
			snprintf(name, sizeof(name), "%s%zu", kind->prefix, idx);
			if (!(r = machine_add_virtio(m, name, kind->virtio_id)))
				dev[m->nvirtio - 1] = (struct planned){ kind, idx };
		}
	}
	if (r)
		return errf(err, errlen, LC_ERR_DEVICE_MEMORY_OVERLAP,
			    "the machine layout does not fit: %s", strerror(-r));
	return 0;
}

int vm_build(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env, char *err,
	     size_t errlen)
{
	static struct machine m;
	struct planned dev[MACHINE_MAX_VIRTIO];
	struct pending pend[MACHINE_MAX_VIRTIO];
	struct handoff h = { .machine_fd = -1, .mem_fd = -1, .kernel_fd = -1, .initrd_fd = -1,
			     .worker_serial = -1, .worker_ctl = -1 };
	int code = 0;

	*vm = (struct vm){ .ctl_fd = -1, .serial_fd = -1, .console_fd = -1 };
	for (size_t i = 0; i < MACHINE_MAX_VIRTIO; i++) {
		h.backend[i] = -1;
		pend[i] = (struct pending){ .plan = { .resource = -1, .host = -1 }, .sock = -1 };
	}
	if ((code = plan_machine(cfg, &m, dev, err, errlen)))
		return code;
	if (env->cgroup && env->cgroup->dir_fd >= 0) {
		if ((code = cgroup_vm_create(env->cgroup, cfg, err, errlen)))
			return code;
		vm->cgroup = env->cgroup;
	}
	uint64_t ksize, isize = 0;
	if ((code = gate_open(env->gate, "kernel", cfg->kernel, false, LC_ERR_KERNEL_LOAD_FAILURE,
			      &h.kernel_fd, &ksize, err, errlen)) ||
	    (cfg->initrd[0] &&
	     (code = gate_open(env->gate, "initrd", cfg->initrd, false, LC_ERR_KERNEL_LOAD_FAILURE,
			       &h.initrd_fd, &isize, err, errlen))))
		goto out;
	/* Checked here, not found by the worker reading it into RAM. */
	if (ksize > machine_ram_size(&m) || isize > machine_ram_size(&m) - ksize) {
		struct config_size_text t;
		code = errf(err, errlen, LC_ERR_KERNEL_LOAD_FAILURE,
			    "kernel and initrd: %llu + %llu bytes do not fit the guest's RAM "
			    "(memory: %s)", (unsigned long long)ksize, (unsigned long long)isize,
			    config_format_size(&t, cfg->memory));
		goto out;
	}
	if ((h.mem_fd = gm_memfd_create("cellvm-ram", machine_ram_size(&m))) < 0) {
		code = errf(err, errlen, LC_ERR_GUEST_INITIALIZATION_FAILURE,
			    "guest memory (%llu MiB): %s", (unsigned long long)(cfg->memory >> 20),
			    strerror(-h.mem_fd));
		goto out;
	}
	if ((h.machine_fd = machine_memfd(&m)) < 0) {
		code = errf(err, errlen, LC_ERR_INTERNAL_ERROR, "machine description: %s",
			    strerror(-h.machine_fd));
		goto out;
	}
	int sv[2], cv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cv) < 0) {
		code = errf(err, errlen, LC_ERR_INTERNAL_ERROR, "socketpair: %s", strerror(errno));
		goto out;
	}
	vm->serial_fd = sv[0];
	h.worker_serial = sv[1];
	vm->ctl_fd = cv[0];
	h.worker_ctl = cv[1];
	/* The controller never waits on its children. */
	if (fcntl(cv[0], F_SETFL, O_NONBLOCK) < 0) {
		code = errf(err, errlen, LC_ERR_INTERNAL_ERROR, "control channel: %s",
			    strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < m.nvirtio && !code; i++)
		code = prepare_device(vm, cfg, env, &m, i, dev[i], &h, &pend[i], err, errlen);
	/* The worker first: its start (confinement, the VM, the kernel's
	 * load) is the longest, and goes on while the spawner starts the
	 * devices; it waits for each only when it connects to it. */
	if (!code)
		code = start_worker(vm, cfg, env, &m, &h, err, errlen);
	for (size_t i = 0; i < m.nvirtio && !code; i++)
		code = start_device(vm, cfg, env, &m, i, dev[i], &pend[i], err, errlen);
out:
	for (size_t i = 0; i < MACHINE_MAX_VIRTIO; i++) {
		close_fd(&pend[i].sock);
		device_plan_close(&pend[i].plan);
	}
	close_fd(&h.machine_fd);
	close_fd(&h.mem_fd);
	close_fd(&h.kernel_fd);
	close_fd(&h.initrd_fd);
	close_fd(&h.worker_serial);
	close_fd(&h.worker_ctl);
	for (size_t i = 0; i < MACHINE_MAX_VIRTIO; i++)
		close_fd(&h.backend[i]);
	return code;
}

size_t vm_alive(const struct vm *vm)
{
	size_t n = 0;
	for (size_t i = 0; i < vm->nchildren; i++)
		n += !vm->child[i].exited;
	return n;
}

void vm_signal_all(struct vm *vm, int sig)
{
	for (size_t i = 0; i < vm->nchildren; i++)
		if (!vm->child[i].exited && vm->child[i].pidfd >= 0 &&
		    pidfd_send_signal(vm->child[i].pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
			log_warn("%s: signal %d: %m", vm->child[i].name, sig);
}

void vm_release(struct vm *vm)
{
	for (size_t i = 0; i < vm->nchildren; i++) {
		close_fd(&vm->child[i].pidfd);
		close_fd(&vm->child[i].ctl_fd);
		close_child_fds(&vm->child[i]);
		child_log_close(&vm->child[i].log);
	}
	close_fd(&vm->ctl_fd);
	close_fd(&vm->serial_fd);
	close_fd(&vm->console_fd);
	for (size_t i = 0; i < vm->nheld; i++) {
		gate_unlock(vm->held[i]);
		close_fd(&vm->held[i]);
	}
	vm->nheld = 0;
	vm->nchildren = 0;
	if (vm->cgroup)
		(void)cgroup_vm_remove(vm->cgroup); /* logged; tried again at the next Create */
	vm->cgroup = NULL;
}
