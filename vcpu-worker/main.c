/* cellvm-vcpu: holds the KVM fds and runs the guest.
 *
 * It is given everything by its parent (the controller): the machine
 * description, the guest-memory memfd, the kernel and initrd, the serial
 * fd and one connected vhost-user socket per virtio device. It sets up KVM
 * and the guest's boot and ACPI tables from the description, connects the
 * devices, runs one thread per vCPU, and exits with a status that says why
 * the VM ended (exit_status.h).
 *
 * Under the controller (--control-fd, common/worker_ctl.h) it reports READY
 * once the VM is built, starts the vCPUs only on RUN, answers PINGs, and
 * sends EXIT with its status and reason just before it exits. Without it,
 * the vCPUs start at once. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpi.h"
#include "acpi_pm.h"
#include "backend_watch.h"
#include "device_restart.h"
#include "boot_linux.h"
#include "bus.h"
#include "cli.h"
#include "confine.h"
#include "event_loop.h"
#include "exit_status.h"
#include "fds.h"
#include "i8042.h"
#include "kvm_probe.h"
#include "kvm_vm.h"
#include "layout.h"
#include "log.h"
#include "machine.h"
#include "serial.h"
#include "thread.h"
#include "vcpu.h"
#include "virtio_mmio.h"
#include "worker_args.h"
#include "worker_ctl.h"

#define MAX_MACHINE_BLOB (1u << 20)
#define MAX_KERNEL (256u << 20)

struct worker {
	struct machine m;
	struct kvm_vm vm;
	struct bus pio, mmio;
	struct serial serial;
	struct i8042 kbd;
	struct acpi_pm pm;
	size_t nvirtio;
	struct virtio_mmio virtio[MACHINE_MAX_VIRTIO];
	struct backend_watch watch;
	struct device_restart restart;
	uint32_t nvcpus;
	struct vcpu vcpus[MACHINE_MAX_CPUS];
	struct vcpu_host host;
	struct evloop *loop;
	int serial_fd;
	int ctl_fd; /* -1 without a controller */
	bool started;
	bool serial_out_failed;
	int rx_efd, end_efd, sig_fd;
	uint8_t pending[4096]; /* serial input the UART had no room for yet */
	size_t pending_off, pending_len;
	pthread_mutex_t end_lock;
	bool ended;
	enum vcpu_exit_status status;
	char why[WCTL_TEXT_MAX];
	bool reported; /* EXIT was sent */
};

/* Reads all of fd (at most max bytes) into a malloc'd buffer. */
static int read_all(int fd, size_t max, uint8_t **out, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				free(buf);
				return -EFBIG;
			}
			cap = cap * 2 > max ? max : cap * 2;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;
			free(buf);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* ---------------------------------------------------------------- ending */

static void end_vm(struct worker *w, enum vcpu_exit_status st, const char *why)
{
	pthread_mutex_lock(&w->end_lock);
	bool first = !w->ended;
	if (first) {
		w->ended = true;
		w->status = st;
		snprintf(w->why, sizeof(w->why), "%s", why);
	}
	pthread_mutex_unlock(&w->end_lock);
	if (!first)
		return;
	bool clean = st == VCPU_EXIT_POWEROFF || st == VCPU_EXIT_REBOOT || st == VCPU_EXIT_STOPPED;
	log_msg(clean ? LOG_LVL_INFO : LOG_LVL_ERROR, __func__, "VM ends: %s", why);
	atomic_store(&w->host.stopping, true);
	uint64_t one = 1;
	if (write(w->end_efd, &one, sizeof(one)) < 0)
		log_err("end eventfd: %m");
}

static void host_end(void *opaque, enum vcpu_exit_status st, const char *why)
{
	end_vm(opaque, st, why);
}

static void on_backend_failed(void *opaque, const char *name, uint32_t generation, int err)
{
	struct worker *w = opaque;
	/* Once the VM runs, cellvmd restarts the device or gives up and ends
	 * the VM; a device that fails while the VM is built fails the Create. */
	if (w->ctl_fd >= 0 && __atomic_load_n(&w->started, __ATOMIC_ACQUIRE) &&
	    device_restart_report(w->ctl_fd, name, generation, err) == 0)
		return;
	char why[WCTL_TEXT_MAX];
	if (err == -ETIMEDOUT)
		snprintf(why, sizeof(why), "device %s does not answer its frontend (hung)", name);
	else
		snprintf(why, sizeof(why), "device %s: backend connection failed: %s", name,
			 strerror(-err));
	end_vm(opaque, VCPU_EXIT_DEVICE, why);
}

static void on_resume_failed(void *opaque, const char *why)
{
	end_vm(opaque, VCPU_EXIT_DEVICE, why);
}

static void on_poweroff(void *opaque)
{
	end_vm(opaque, VCPU_EXIT_POWEROFF, "guest powered off");
}

static void on_reset(void *opaque)
{
	end_vm(opaque, VCPU_EXIT_REBOOT, "guest rebooted");
}

/* ---------------------------------------------------------------- serial */

static void serial_out(void *opaque, const uint8_t *buf, size_t n)
{
	struct worker *w = opaque;
	while (n > 0 && !w->serial_out_failed) {
		ssize_t r = write(w->serial_fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* The guest goes on without a console rather than stop. */
			log_warn("serial output: %m; further output dropped");
			w->serial_out_failed = true;
			return;
		}
		buf += r;
		n -= (size_t)r;
	}
}

static void serial_irq(void *opaque, bool level)
{
	struct worker *w = opaque;
	kvm_vm_irq_line(&w->vm, w->m.serial_irq, level);
}

static void serial_rx_ready(void *opaque)
{
	struct worker *w = opaque;
	uint64_t one = 1;
	if (write(w->rx_efd, &one, sizeof(one)) < 0)
		log_ratelimited(LOG_LVL_ERROR, "serial rx eventfd: %m");
}

/* Offers pending input to the UART; watches the fd again once all is in. */
static void feed_serial(struct worker *w)
{
	size_t took = serial_input(&w->serial, w->pending + w->pending_off, w->pending_len);
	w->pending_off += took;
	w->pending_len -= took;
	evloop_mod(w->loop, w->serial_fd, w->pending_len ? 0 : EPOLLIN);
}

static void on_serial_in(void *opaque, uint32_t events)
{
	struct worker *w = opaque;
	ssize_t r = read(w->serial_fd, w->pending, sizeof(w->pending));
	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		(void)events;
		log_info("serial input closed");
		evloop_del(w->loop, w->serial_fd);
		return;
	}
	w->pending_off = 0;
	w->pending_len = (size_t)r;
	feed_serial(w);
}

static void on_rx_ready(void *opaque, uint32_t events)
{
	struct worker *w = opaque;
	uint64_t v;
	(void)events;
	if (read(w->rx_efd, &v, sizeof(v)) == (ssize_t)sizeof(v) && w->pending_len)
		feed_serial(w);
}

static void on_end(void *opaque, uint32_t events)
{
	struct worker *w = opaque;
	(void)events;
	evloop_stop(w->loop);
}

static void start_vcpus(struct worker *w)
{
	/* Read by the backend watch's thread too. */
	__atomic_store_n(&w->started, true, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < w->nvcpus; i++) {
		if (vcpu_start(&w->vcpus[i]) < 0) {
			end_vm(w, VCPU_EXIT_START, "a vCPU thread could not start");
			return;
		}
	}
}

/* The backend of the device named name changed its config space. */
static void config_changed(struct worker *w, const char *name)
{
	for (size_t i = 0; i < w->nvirtio; i++)
		if (strcmp(w->virtio[i].desc->name, name) == 0) {
			virtio_mmio_config_changed(&w->virtio[i]);
			return;
		}
	log_warn("control: CONFIG_CHANGED for %s, which is no device here", name);
}

static void on_control(void *opaque, uint32_t events)
{
	struct worker *w = opaque;
	struct wctl_msg m;
	int fd;
	(void)events;
	int err = wctl_recv_fd(w->ctl_fd, &m, &fd);
	if (err == -EAGAIN)
		return;
	if (err) {
		evloop_del(w->loop, w->ctl_fd);
		end_vm(w, VCPU_EXIT_STOPPED,
		       err == -ECONNRESET ? "the controller closed the control channel"
					  : "malformed message on the control channel");
		return;
	}
	switch (m.type) {
	case WCTL_RUN:
		if (w->started)
			log_warn("control: RUN while running, ignored");
		else
			start_vcpus(w);
		break;
	case WCTL_PING:
		if ((err = wctl_send(w->ctl_fd, WCTL_PONG, 0, NULL)) < 0)
			log_warn("control: PONG: %s", strerror(-err));
		break;
	case WCTL_CONFIG_CHANGED:
		config_changed(w, m.text);
		break;
	case WCTL_BACKEND:
		if (device_restart_resume(&w->restart, m.text, fd) < 0)
			end_vm(w, VCPU_EXIT_DEVICE, "a device cannot be resumed on its restarted "
						    "backend");
		break;
	default:
		log_warn("control: unexpected %s, ignored", wctl_type_name(m.type));
		break;
	}
}

static void on_signal(void *opaque, uint32_t events)
{
	struct worker *w = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(w->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		end_vm(w, VCPU_EXIT_STOPPED, "stopped by signal");
}

/* ---------------------------------------------------------------- setup */

/* A kernel or initrd to load: a regular file mapped read-only, so that
 * linux_load() copies from the page cache straight into guest RAM (no
 * buffer of ours to fault in, zero and fill first: about a third of the
 * worker's CPU time in a Create went there); anything else read whole. */
struct image {
	uint8_t *data;
	size_t len;
	bool mapped;
};

static int image_open(int fd, size_t max, struct image *im)
{
	struct stat st;
	*im = (struct image){ 0 };
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return read_all(fd, max, &im->data, &im->len);
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	/* The file is the tenant's: one it truncates meanwhile kills this
	 * worker by SIGBUS, which fails its own Create and nothing else. */
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) /* a file system that cannot map it */
		return read_all(fd, max, &im->data, &im->len);
	*im = (struct image){ p, (size_t)st.st_size, true };
	return 0;
}

static void image_close(struct image *im)
{
	if (im->mapped)
		munmap(im->data, im->len);
	else
		free(im->data);
}

static int load_guest(struct worker *w, const struct worker_args *o, struct linux_entry *entry)
{
	struct image kernel = { 0 }, initrd = { 0 };
	int err = image_open(o->kernel_fd, MAX_KERNEL, &kernel);
	if (!err && o->initrd_fd >= 0)
		err = image_open(o->initrd_fd, (size_t)w->m.ram[0].size, &initrd);
	if (err)
		log_err("reading the kernel or initrd: %s", strerror(-err));
	else
		err = linux_load(w->vm.ram, &w->m, kernel.data, kernel.len, initrd.data, initrd.len,
				 entry);
	image_close(&kernel);
	image_close(&initrd);
	return err;
}

/* The kernel's load, on a thread of its own: copying it into guest RAM is
 * the longest step of a Create, and needs neither the VM's memory slots
 * nor the devices, which the worker sets up meanwhile. */
struct loader {
	struct worker *w;
	const struct worker_args *o;
	struct linux_entry entry;
	int err;
};

static void *load_thread(void *arg)
{
	struct loader *l = arg;
	l->err = load_guest(l->w, l->o, &l->entry);
	return NULL;
}

static int setup_platform(struct worker *w)
{
	int err;
	size_t len;
	uint8_t *acpi = kvm_vm_gpa(&w->vm, LAYOUT_ACPI, LAYOUT_ACPI_END - LAYOUT_ACPI);
	uint8_t *reset = kvm_vm_gpa(&w->vm, LAYOUT_RESET_VECTOR, ACPI_PM_RESET_STUB_SIZE);
	if (!acpi || !reset ||
	    (err = acpi_build(&w->m, acpi, LAYOUT_ACPI_END - LAYOUT_ACPI, LAYOUT_ACPI, &len)))
		return -EINVAL;
	acpi_pm_reset_stub(reset);
	const struct serial_ops sops = { .out = serial_out, .set_irq = serial_irq,
					 .rx_ready = serial_rx_ready };
	const struct acpi_pm_ops pops = { .poweroff = on_poweroff, .reset = on_reset };
	acpi_pm_init(&w->pm, &pops, w);
	if ((err = serial_init(&w->serial, &sops, w)) ||
	    (err = serial_register(&w->serial, &w->pio, w->m.serial_port)) ||
	    (err = i8042_init(&w->kbd, on_reset, w)) || (err = i8042_register(&w->kbd, &w->pio)) ||
	    (err = acpi_pm_register(&w->pm, &w->pio))) {
		log_err("platform devices: %s", strerror(-err));
		return err;
	}
	return 0;
}

static int setup_virtio(struct worker *w, const struct worker_args *o)
{
	for (size_t i = 0; i < w->m.nvirtio; i++) {
		const struct machine_virtio *v = &w->m.virtio[i];
		int fd = -1;
		for (size_t j = 0; j < o->nbackends; j++)
			if (strcmp(o->backends[j].name, v->name) == 0)
				fd = o->backends[j].fd;
		if (fd < 0) {
			log_err("%s: no --backend %s=FD given", v->name, v->name);
			return -EINVAL;
		}
		int err = virtio_mmio_init(&w->virtio[i], &w->vm, v, fd);
		w->nvirtio = i + 1;
		if (err) {
			log_err("%s: device setup failed: %s", v->name, strerror(-err));
			return err;
		}
		struct bus_dev bd = virtio_mmio_bus_dev(&w->virtio[i]);
		if ((err = bus_add(&w->mmio, &bd)))
			return err;
	}
	return 0;
}

static int setup_vcpus(struct worker *w, const struct linux_entry *entry)
{
	int err = 0;
	for (uint32_t i = 0; i < w->m.cpus && !err; i++) {
		err = vcpu_create(&w->vcpus[i], &w->host, (int)i, w->m.cpus, w->vm.cpuid);
		w->nvcpus = i + 1;
	}
	/* The other vCPUs wait for the boot CPU's INIT/SIPI in KVM. */
	return err ? err : vcpu_set_boot_state(w->vcpus[0].fd, entry);
}

static int setup_loop(struct worker *w)
{
	static const int stop[] = { SIGTERM, SIGINT };
	int err;
	if ((w->sig_fd = new_signalfd(stop, 2, SFD_NONBLOCK)) < 0)
		return w->sig_fd;
	if ((w->end_efd = new_eventfd()) < 0)
		return w->end_efd;
	if ((w->rx_efd = new_eventfd()) < 0)
		return w->rx_efd;
	if ((err = evloop_create(&w->loop)) ||
	    (err = evloop_add(w->loop, w->sig_fd, EPOLLIN, on_signal, w)) ||
	    (err = evloop_add(w->loop, w->end_efd, EPOLLIN, on_end, w)) ||
	    (err = evloop_add(w->loop, w->rx_efd, EPOLLIN, on_rx_ready, w)))
		return err;
	/* A serial fd that cannot be polled (a file) is output only. */
	if (evloop_add(w->loop, w->serial_fd, EPOLLIN, on_serial_in, w) < 0)
		log_debug("serial fd %d takes no input", w->serial_fd);
	for (size_t i = 0; i < w->nvirtio; i++)
		if ((err = virtio_mmio_watch(&w->virtio[i], w->loop)))
			return err;
	device_restart_init(&w->restart, w->virtio, w->nvirtio, w->ctl_fd, on_resume_failed, w);
	if (w->ctl_fd >= 0 && (err = evloop_add(w->loop, w->ctl_fd, EPOLLIN, on_control, w)))
		return err;
	/* After SIGTERM/SIGINT are blocked: the watch thread inherits that. */
	struct vhu_fe *fe[MACHINE_MAX_VIRTIO];
	for (size_t i = 0; i < w->nvirtio; i++)
		fe[i] = &w->virtio[i].fe;
	return backend_watch_start(&w->watch, fe, w->nvirtio, BW_INTERVAL_MS, BW_TIMEOUT_MS,
				   on_backend_failed, w);
}

/* Runs the VM until it ends; returns the exit status. */
static enum vcpu_exit_status run(struct worker *w)
{
	int err;
	if (w->ctl_fd < 0)
		start_vcpus(w);
	else if ((err = wctl_send(w->ctl_fd, WCTL_READY, 0, NULL)) < 0)
		end_vm(w, VCPU_EXIT_STOPPED, "the control channel is gone");
	err = evloop_run(w->loop);
	if (err)
		end_vm(w, VCPU_EXIT_ERROR, "event loop failed");
	atomic_store(&w->host.stopping, true);
	for (uint32_t i = 0; i < w->nvcpus; i++)
		vcpu_kick(&w->vcpus[i]);
	for (uint32_t i = 0; i < w->nvcpus; i++)
		vcpu_join(&w->vcpus[i]);
	return w->status;
}

static void teardown(struct worker *w)
{
	backend_watch_stop(&w->watch);
	device_restart_join(&w->restart);
	for (uint32_t i = 0; i < w->nvcpus; i++)
		vcpu_destroy(&w->vcpus[i]);
	for (size_t i = 0; i < w->nvirtio; i++)
		virtio_mmio_destroy(&w->virtio[i]);
	evloop_destroy(w->loop);
	serial_destroy(&w->serial);
	i8042_destroy(&w->kbd);
	kvm_vm_destroy(&w->vm);
}

/* The controller learns the reason in words from EXIT; the status alone
 * also reaches it through the exit status. */
static void report_exit(struct worker *w, enum vcpu_exit_status st)
{
	if (w->ctl_fd < 0 || w->reported)
		return;
	w->reported = true;
	char why[WCTL_TEXT_MAX];
	if (w->ended)
		snprintf(why, sizeof(why), "%s", w->why);
	else
		log_last_error(why, sizeof(why));
	int err = wctl_send(w->ctl_fd, WCTL_EXIT, (uint32_t)st, why);
	if (err < 0)
		log_debug("control: EXIT not sent: %s", strerror(-err));
}

/* /dev/kvm, given or opened, and whether it can run a stock kernel at all:
 * one that cannot fails Create at once, saying why, where the guest would
 * hang without a word. Before confinement: the probe's watchdog thread is
 * gone by the time the sandbox counts tasks, and nothing it reads is
 * untrusted. 0 or -errno, with the reason in why. */
static int open_kvm(struct worker_args *o, char *why, size_t len, uint64_t *cost_us)
{
	if (o->kvm_fd < 0 && (o->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0) {
		int err = -errno;
		snprintf(why, len, "/dev/kvm: %s", strerror(-err));
		log_err("%s", why);
		return err;
	}
	return kvm_probe(o->kvm_fd, o->kvm_check == WORKER_KVM_CHECK_FULL, why, len, cost_us);
}

/* --check-kvm: the verdict on stdout, for people and scripts. */
static int check_kvm_only(struct worker_args *o)
{
	char why[256];
	uint64_t us = 0;
	if (open_kvm(o, why, sizeof(why), &us) < 0) {
		printf("%s\n", why);
		return 1;
	}
	if (o->kvm_check == WORKER_KVM_CHECK_API)
		printf("/dev/kvm has the API and capabilities this guest needs; no vCPU was run "
		       "(--kvm-check api), so whether it can run a stock kernel is not known "
		       "(check: %llu.%03llu ms)\n",
		       (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
	else
		printf("/dev/kvm can run this guest: a 64-bit vCPU ran the probe "
		       "(check: %llu.%03llu ms)\n",
		       (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
	return 0;
}

struct vm_step {
	struct kvm_vm *vm;
	int *kvm_fd;
	int err; /* kvm_vm_create()'s; 1 until it runs */
};

/* In the confined process, just before its filter: the VM, and /dev/kvm
 * closed. Not earlier: KVM ties a VM to the memory of the process that
 * created it (any other gets EIO), and confinement forks the process that
 * runs the VM. Not later: the policy then allows no /dev/kvm ioctl, so a
 * worker taken over by its guest cannot create another VM. Nothing
 * untrusted is read yet: the VM needs no machine description. */
static int create_vm(void *arg)
{
	struct vm_step *s = arg;
	s->err = kvm_vm_create(s->vm, *s->kvm_fd);
	*s->kvm_fd = -1;
	return s->err;
}

/* Confined before the first byte from the controller's files or a device:
 * everything the worker will use is an fd by now; the VM is created in the
 * confined process just before its filter. 0, or -errno (logged) with the
 * exit status that says which failed in *st. */
static int confine_worker(struct worker *w, struct worker_args *o, enum vcpu_exit_status *st)
{
	const int given[] = { o->machine_fd, o->mem_fd,	 o->kernel_fd, o->initrd_fd,
			      o->serial_fd,  o->kvm_fd, o->control_fd };
	int keep[sizeof(given) / sizeof(given[0]) + MACHINE_MAX_VIRTIO];
	size_t n = 0;
	/* The initrd, serial and control fds are optional: -1 when absent. */
	for (size_t i = 0; i < sizeof(given) / sizeof(given[0]); i++)
		if (given[i] >= 0)
			keep[n++] = given[i];
	for (size_t i = 0; i < o->nbackends; i++)
		keep[n++] = o->backends[i].fd;
	struct vm_step step = { .vm = &w->vm, .kvm_fd = &o->kvm_fd, .err = 1 };
	int err = confine(&o->confine, &(struct confine_req){ .process = "cellvm-vcpu",
							      .kind = "vcpu", .keep_fds = keep,
							      .nkeep = n, .namespaces = true,
							      /* vCPUs, the backend watch */
							      .new_tasks = MACHINE_MAX_CPUS + 1,
							      .max_fds = 1024,
							      .before_filter = create_vm,
							      .before_filter_arg = &step });
	if (step.err <= 0 && err < 0)
		kvm_vm_destroy(&w->vm);
	if (step.err < 0) {
		*st = VCPU_EXIT_START;
		return step.err;
	}
	*st = VCPU_EXIT_ERROR;
	return err;
}

/* Builds the VM, runs it, and returns the exit status. */
static enum vcpu_exit_status build_and_run(struct worker *w, const struct worker_args *o)
{
	struct linux_entry entry;
	uint8_t *blob;
	size_t blob_len;
	int err;

	if ((err = read_all(o->machine_fd, MAX_MACHINE_BLOB, &blob, &blob_len))) {
		log_err("reading the machine description: %s", strerror(-err));
		kvm_vm_destroy(&w->vm);
		return VCPU_EXIT_ERROR;
	}
	err = machine_from_fdt(blob, blob_len, &w->m);
	free(blob);
	if (err) {
		kvm_vm_destroy(&w->vm);
		return VCPU_EXIT_ERROR;
	}
	if (kvm_vm_setup(&w->vm, &w->m, o->mem_fd) < 0 || vcpu_init_signals() < 0) {
		kvm_vm_destroy(&w->vm);
		return VCPU_EXIT_START;
	}
	struct loader ld = { .w = w, .o = o };
	pthread_t loader;
	if ((err = thread_start(&loader, load_thread, &ld))) {
		log_err("the kernel's loader thread: %s", strerror(-err));
		kvm_vm_destroy(&w->vm);
		return VCPU_EXIT_ERROR;
	}
	/* Meanwhile: the memory slots, then the devices (no guest RAM is
	 * written there). A failed load is reported before what failed here. */
	int slots = kvm_vm_add_ram(&w->vm);
	int virtio = slots < 0 ? 0 : setup_virtio(w, o);
	pthread_join(loader, NULL);
	entry = ld.entry;
	enum vcpu_exit_status st;
	if (ld.err < 0)
		st = VCPU_EXIT_KERNEL_LOAD;
	else if (slots < 0)
		st = VCPU_EXIT_START;
	else if (virtio < 0)
		st = VCPU_EXIT_DEVICE;
	else if (setup_platform(w) < 0)
		st = VCPU_EXIT_ERROR;
	else if (setup_loop(w) < 0)
		st = VCPU_EXIT_ERROR;
	else if (setup_vcpus(w, &entry) < 0)
		st = VCPU_EXIT_START;
	else
		st = run(w);
	/* Before teardown closes the device connections: a device process
	 * exits when its frontend hangs up, and the controller must already
	 * know why. */
	report_exit(w, st);
	teardown(w);
	return st;
}

int main(int argc, char **argv)
{
	static struct worker w;
	struct worker_args o;

	log_init("cellvm-vcpu", LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (worker_args_parse(argc, argv, &o) < 0) {
		worker_args_usage(stderr);
		return VCPU_EXIT_ERROR;
	}
	if (o.help) {
		worker_args_usage(stdout);
		return 0;
	}
	pthread_mutex_init(&w.end_lock, NULL);
	w.serial_fd = o.serial_fd >= 0 ? o.serial_fd : STDOUT_FILENO;
	w.ctl_fd = o.control_fd;
	w.sig_fd = w.end_efd = w.rx_efd = -1;
	w.host = (struct vcpu_host){ .vm = &w.vm, .pio = &w.pio, .mmio = &w.mmio,
				     .end = host_end, .opaque = &w };
	if (o.check_kvm)
		return check_kvm_only(&o);
	char why[WCTL_TEXT_MAX];
	uint64_t cost_us;
	/* A failed check's words reach the controller as the last error. */
	enum vcpu_exit_status st;
	if (open_kvm(&o, why, sizeof(why), &cost_us) < 0)
		st = VCPU_EXIT_START;
	else if (confine_worker(&w, &o, &st) == 0)
		st = build_and_run(&w, &o);
	report_exit(&w, st);
	return st;
}
