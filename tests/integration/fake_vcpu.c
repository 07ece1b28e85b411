/* fake_vcpu: a stand-in for cellvm-vcpu that needs no KVM, so the
 * controller's integration tests (test_controller.c) can play every way a
 * worker behaves.
 *
 * It takes the real worker's options (what it does not use is accepted and
 * ignored) and runs its "kernel" (--kernel-fd) as a script, one command per
 * line, in order:
 *   serial TEXT   write TEXT and "\r\n" to the serial fd
 *   ready         send READY on the control channel
 *   wait-run      wait for RUN, answering PINGs meanwhile
 *   escape N K    ask backend N to try test-hook escape K (tests/hooks/test_hooks.h)
 *   hangup N      close backend N's socket (the device exits, as when its frontend goes)
 *   hung NAME     send HUNG for device NAME, as the worker's backend watch does
 *   blk-io N W R  drive blk backend N as a guest would: W 4 KiB writes from
 *                 sector 0 on, then R 4 KiB reads (fake_blk.h); else exit 1
 *   backends      send VHOST_USER_GET_FEATURES on every --backend fd and read
 *                 the reply; else EXIT 13 "backend NAME: ..." and exit 13
 *   serve         answer PINGs and echo each serial input line back as
 *                 "echo: LINE\r\n" until the control channel closes
 *   exit N TEXT   send EXIT (status N, TEXT) and exit N
 *   say-exit N TEXT  send EXIT (status N, TEXT) and go on: a worker about to end
 *   hang          stop answering anything (SIGTERM too: SIGKILL ends it)
 *   crash         die of SIGSEGV
 * SIGUSR2, at any time, crashes it the same way: a crash caused from
 * outside (started as PID 1 of its own pid namespace, as the spawner starts
 * it, it would ignore a SIGUSR2 that kills by default).
 * A CONFIG_CHANGED from the controller is told on the serial fd as
 * "config-changed NAME\r\n" (the real worker interrupts the guest), a
 * BACKEND as "restarted NAME\r\n", answered RESUMED after RESUME_MS, as
 * long as a real worker may take to resume it (its socket kept open, and
 * nothing sent on it); a CONFIG_CHANGED for NAME meanwhile would reach a
 * device without a backend, and is told as "config-changed-early NAME\r\n".
 * As the real worker does, SIGTERM/SIGINT while waiting for the controller
 * (wait-run, serve) send EXIT 4 "stopped by signal" and exit 4, and a closed
 * control channel ends it with status 4. A script it cannot read or a line it
 * does not understand is a kernel it cannot load (exit 10); a script that
 * ends without `exit` is an error (exit 1). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "exit_status.h"
#include "fake_blk.h"
#include "fds.h"
#include "log.h"
#include "machine.h"
#include "msg.h"
#include "vhost_user.h"
#include "worker_args.h"
#include "worker_ctl.h"

#define SCRIPT_MAX (64u << 10)
#define BACKEND_REPLY_MS 1000 /* a live backend answers GET_FEATURES at once */
#define LINE_MAX_IN 512       /* serial input echoed per line, at most */
#define RESUME_MS 100         /* a restarted backend resumed */

struct fake {
	int kernel_fd, serial_fd, ctl_fd, sig_fd, mem_fd;
	size_t nbackends;
	struct worker_backend_arg backends[MACHINE_MAX_VIRTIO];
	char line[LINE_MAX_IN]; /* serial input not echoed yet */
	size_t line_len;
};

/* Ends the process as the real worker does: the reason goes to the log and,
 * with the status, to the controller in an EXIT message. */
static void finish(const struct fake *f, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
static void finish(const struct fake *f, int status, const char *fmt, ...)
{
	char why[WCTL_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	bool clean = status == VCPU_EXIT_POWEROFF || status == VCPU_EXIT_REBOOT ||
		     status == VCPU_EXIT_STOPPED;
	log_msg(clean ? LOG_LVL_INFO : LOG_LVL_ERROR, __func__, "exit %d: %s", status, why);
	int err = wctl_send(f->ctl_fd, WCTL_EXIT, (uint32_t)status, why);
	if (err < 0)
		log_debug("EXIT not sent: %s", strerror(-err));
	/* _exit: under cellvmd's inherited seccomp filter, a sanitizer build's
	 * leak check at exit (ptrace, /proc) cannot run. */
	_exit(status);
}

static void write_all(const struct fake *f, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(f->serial_fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			finish(f, VCPU_EXIT_ERROR, "serial output: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

static void serial_line(const struct fake *f, const char *prefix, const char *text,
			size_t len)
{
	write_all(f, prefix, strlen(prefix));
	write_all(f, text, len);
	write_all(f, "\r\n", 2);
}

/* ---------------------------------------------------------------- the controller */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Device name resumes on its new backend for RESUME_MS, its control
 * channel served meanwhile (PINGs answered), then RESUMED. */
static void resume(const struct fake *f, const char *name)
{
	uint64_t end = now_ms() + RESUME_MS, now;
	while ((now = now_ms()) < end) {
		struct wctl_msg m;
		int fd, err = msg_wait(f->ctl_fd, POLLIN, (int)(end - now));
		if (err <= 0)
			continue;
		if ((err = wctl_recv_fd(f->ctl_fd, &m, &fd)) < 0)
			finish(f, VCPU_EXIT_STOPPED, "the control channel ended while resuming");
		if (m.type == WCTL_PING && (err = wctl_send(f->ctl_fd, WCTL_PONG, 0, NULL)) < 0)
			log_warn("PONG: %s", strerror(-err));
		if (m.type == WCTL_CONFIG_CHANGED && strcmp(m.text, name) == 0)
			serial_line(f, "config-changed-early ", m.text, strlen(m.text));
		else if (m.type == WCTL_CONFIG_CHANGED)
			serial_line(f, "config-changed ", m.text, strlen(m.text));
	}
	int err = wctl_send(f->ctl_fd, WCTL_RESUMED, 1, name);
	if (err < 0)
		log_warn("RESUMED: %s", strerror(-err));
}

/* One message from the controller, answering a PING at once. Returns the
 * message type, or ends the process when the channel is gone. */
static enum wctl_type control_one(const struct fake *f)
{
	struct wctl_msg m;
	int fd;
	int err = wctl_recv_fd(f->ctl_fd, &m, &fd);
	if (err < 0)
		finish(f, VCPU_EXIT_STOPPED, "%s",
		       err == -ECONNRESET ? "the controller closed the control channel"
					  : "malformed message on the control channel");
	if (m.type == WCTL_PING && (err = wctl_send(f->ctl_fd, WCTL_PONG, 0, NULL)) < 0)
		log_warn("PONG: %s", strerror(-err));
	if (m.type == WCTL_CONFIG_CHANGED)
		serial_line(f, "config-changed ", m.text, strlen(m.text));
	if (m.type == WCTL_BACKEND) {
		/* As if the device resumed at once on its new process. Its
		 * socket stays open until the fake exits: closed, it would end
		 * the device. */
		(void)fd;
		serial_line(f, "restarted ", m.text, strlen(m.text));
		resume(f, m.text);
	}
	return m.type;
}

static void on_signal(const struct fake *f)
{
	struct signalfd_siginfo si;
	if (read(f->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		finish(f, VCPU_EXIT_STOPPED, "stopped by signal");
}

static void wait_run(const struct fake *f)
{
	struct pollfd p[2] = { { .fd = f->ctl_fd, .events = POLLIN },
			       { .fd = f->sig_fd, .events = POLLIN } };
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			finish(f, VCPU_EXIT_ERROR, "poll: %s", strerror(errno));
		}
		if (p[1].revents)
			on_signal(f);
		if (p[0].revents && control_one(f) == WCTL_RUN)
			return;
	}
}

/* Echoes each complete line of serial input (a full buffer counts as one). */
static void serial_input(struct fake *f, int *fd)
{
	char buf[256];
	ssize_t n = read(f->serial_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		log_info("serial input closed");
		*fd = -1;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n' && buf[i] != '\r')
			f->line[f->line_len++] = buf[i];
		if (buf[i] == '\n' || f->line_len == sizeof(f->line)) {
			serial_line(f, "echo: ", f->line, f->line_len);
			f->line_len = 0;
		}
	}
}

static void serve(struct fake *f)
{
	struct pollfd p[3] = { { .fd = f->ctl_fd, .events = POLLIN },
			       { .fd = f->sig_fd, .events = POLLIN },
			       { .fd = f->serial_fd, .events = POLLIN } };
	for (;;) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			finish(f, VCPU_EXIT_ERROR, "poll: %s", strerror(errno));
		}
		if (p[1].revents)
			on_signal(f);
		if (p[0].revents)
			control_one(f);
		if (p[2].revents)
			serial_input(f, &p[2].fd);
	}
}

/* ---------------------------------------------------------------- backends */

static const char *describe(int err)
{
	return err == -ECONNRESET ? "the backend hung up" : strerror(-err);
}

/* GET_FEATURES on one backend: 0, or -errno with what went wrong in why. */
static int probe_backend(int fd, char *why, size_t len)
{
	struct vhu_msg m = { .request = VHU_GET_FEATURES, .kind = VHU_P_NONE };
	int err = vhu_send(fd, &m, NULL, 0);
	if (err < 0) {
		snprintf(why, len, "sending GET_FEATURES: %s", describe(err));
		return err;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, BACKEND_REPLY_MS);
	if (r <= 0) {
		snprintf(why, len, "no reply to GET_FEATURES within %d ms", BACKEND_REPLY_MS);
		return r < 0 ? -errno : -ETIMEDOUT;
	}
	struct msg_fds fds;
	if ((err = vhu_recv(fd, &m, &fds)) < 0) {
		snprintf(why, len, "reading the reply to GET_FEATURES: %s", describe(err));
		return err;
	}
	msg_fds_close(&fds);
	if (m.request != VHU_GET_FEATURES || !(m.flags & VHU_FLAG_REPLY)) {
		snprintf(why, len, "answered GET_FEATURES with %s", vhu_request_name(m.request));
		return -EPROTO;
	}
	log_debug("features 0x%llx", (unsigned long long)m.u.u64);
	return 0;
}

static void check_backends(const struct fake *f)
{
	char why[WCTL_TEXT_MAX];
	for (size_t i = 0; i < f->nbackends; i++) {
		if (probe_backend(f->backends[i].fd, why, sizeof(why)) < 0)
			finish(f, VCPU_EXIT_DEVICE, "backend %s: %s", f->backends[i].name, why);
		log_info("backend %s answers", f->backends[i].name);
	}
}

/* "NAME KIND": asks device NAME (built with the test hooks) to try escape
 * KIND (tests/hooks/test_hooks.h), as a compromised device would. */
static struct worker_backend_arg *backend_named(struct fake *f, const char *name, const char *cmd)
{
	for (size_t i = 0; i < f->nbackends; i++)
		if (strcmp(f->backends[i].name, name) == 0)
			return &f->backends[i];
	finish(f, VCPU_EXIT_ERROR, "%s %s: no such backend", cmd, name);
}

static void escape(struct fake *f, const char *arg)
{
	char name[MACHINE_NAME_MAX];
	unsigned kind;
	if (sscanf(arg, "%15s %u", name, &kind) != 2)
		finish(f, VCPU_EXIT_ERROR, "escape %s: want NAME KIND", arg);
	uint32_t hdr[3] = { 0x7e50u + kind, VHU_VERSION, 0 };
	int err = msg_send(backend_named(f, name, "escape")->fd, hdr, sizeof(hdr), NULL, 0, NULL,
			   0);
	if (err < 0)
		log_warn("escape %s: %s", arg, strerror(-err));
}

static void blk_io(struct fake *f, const char *arg)
{
	char name[MACHINE_NAME_MAX], why[WCTL_TEXT_MAX - 32];
	unsigned writes, reads;
	if (sscanf(arg, "%15s %u %u", name, &writes, &reads) != 3)
		finish(f, VCPU_EXIT_ERROR, "blk-io %s: want NAME WRITES READS", arg);
	if (fake_blk_io(backend_named(f, name, "blk-io")->fd, f->mem_fd, writes, reads, why,
			sizeof(why)) < 0)
		finish(f, VCPU_EXIT_ERROR, "blk-io %s: %s", name, why);
	log_info("blk-io %s: %u writes, %u reads", name, writes, reads);
}

static void hangup(struct fake *f, const char *name)
{
	struct worker_backend_arg *b = backend_named(f, name, "hangup");
	close(b->fd);
	b->fd = -1;
}

/* ---------------------------------------------------------------- the script */

static void crash(void)
{
	/* No core file in the controller's directory. */
	struct rlimit none = { 0, 0 };
	(void)setrlimit(RLIMIT_CORE, &none);
	signal(SIGSEGV, SIG_DFL);
	/* A fault, not raise(): PID 1 of a pid namespace ignores the signals
	 * it sends itself that have the default action, a fault's it cannot. */
	char *volatile nowhere = (char *)1; /* not NULL: UBSan would stop at that */
	*nowhere = 0;
}

static void on_sigusr2(int sig)
{
	(void)sig;
	crash();
}

/* Runs one line of the script (NUL-terminated, no newline). */
static void run_line(struct fake *f, char *line, unsigned lineno)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	char *text = arg ? arg : line + strlen(line);
	unsigned long status;
	if (strcmp(line, "serial") == 0) {
		serial_line(f, "", text, strlen(text));
	} else if (strcmp(line, "ready") == 0) {
		int err = wctl_send(f->ctl_fd, WCTL_READY, 0, NULL);
		if (err < 0)
			finish(f, VCPU_EXIT_STOPPED, "READY not sent: %s", strerror(-err));
	} else if (strcmp(line, "wait-run") == 0) {
		wait_run(f);
	} else if (strcmp(line, "backends") == 0) {
		check_backends(f);
	} else if (strcmp(line, "escape") == 0) {
		escape(f, text);
	} else if (strcmp(line, "hangup") == 0) {
		hangup(f, text);
	} else if (strcmp(line, "hung") == 0) {
		int err = wctl_send(f->ctl_fd, WCTL_HUNG, 0, text);
		if (err < 0)
			finish(f, VCPU_EXIT_STOPPED, "HUNG not sent: %s", strerror(-err));
	} else if (strcmp(line, "blk-io") == 0) {
		blk_io(f, text);
	} else if (strcmp(line, "serve") == 0) {
		serve(f);
	} else if (strcmp(line, "exit") == 0 || strcmp(line, "say-exit") == 0) {
		char *words = strchr(text, ' ');
		if (words)
			*words++ = '\0';
		if (cli_parse_uint(text, 0, 255, &status) < 0)
			finish(f, VCPU_EXIT_KERNEL_LOAD, "script line %u: %s \"%s\": want 0..255",
			       lineno, line, text);
		if (strcmp(line, "exit") == 0)
			finish(f, (int)status, "%s", words ? words : "");
		int err = wctl_send(f->ctl_fd, WCTL_EXIT, (uint32_t)status, words ? words : "");
		if (err < 0)
			finish(f, VCPU_EXIT_STOPPED, "EXIT not sent: %s", strerror(-err));
	} else if (strcmp(line, "hang") == 0) {
		for (;;)
			/* poll, not pause: cellvmd's seccomp filter, which the fake
			 * inherits, allows it. */
			poll(NULL, 0, -1);
	} else if (strcmp(line, "crash") == 0) {
		crash();
	} else {
		finish(f, VCPU_EXIT_KERNEL_LOAD, "script line %u: unknown command \"%s\"", lineno,
		       line);
	}
}

static void run_script(struct fake *f) __attribute__((noreturn));
static void run_script(struct fake *f)
{
	static char script[SCRIPT_MAX + 1];
	size_t len = 0;
	ssize_t n;
	while ((n = read(f->kernel_fd, script + len, sizeof(script) - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			finish(f, VCPU_EXIT_KERNEL_LOAD, "reading the script: %s", strerror(errno));
		len += (size_t)n;
		if (len > SCRIPT_MAX)
			finish(f, VCPU_EXIT_KERNEL_LOAD, "the script is larger than %u bytes",
			       SCRIPT_MAX);
	}
	script[len] = '\0';
	unsigned lineno = 0;
	for (char *save = NULL, *line = strtok_r(script, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		run_line(f, line, ++lineno);
	finish(f, VCPU_EXIT_ERROR, "the script ended without exit");
}

/* ---------------------------------------------------------------- setup */

/* The real worker's command line (common/worker_args.h); a test program,
 * it confines nothing and needs no KVM. */
static int parse_opts(int argc, char **argv, struct fake *f)
{
	struct worker_args w;
	int err = worker_args_parse(argc, argv, &w);
	if (err)
		return err;
	if (w.serial_fd < 0 || w.control_fd < 0) {
		log_err("fake_vcpu needs --serial-fd and --control-fd besides the worker's options");
		return -EINVAL;
	}
	f->kernel_fd = w.kernel_fd;
	f->serial_fd = w.serial_fd;
	f->ctl_fd = w.control_fd;
	f->mem_fd = w.mem_fd;
	f->nbackends = w.nbackends;
	memcpy(f->backends, w.backends, sizeof(f->backends));
	return 0;
}

int main(int argc, char **argv)
{
	static struct fake f = { .kernel_fd = -1, .serial_fd = -1, .ctl_fd = -1, .sig_fd = -1,
				 .mem_fd = -1 };

	log_init("fake-vcpu", LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR2, on_sigusr2);
	if (parse_opts(argc, argv, &f) < 0)
		return VCPU_EXIT_ERROR;
	/* Signals wait in the signalfd until a command listens (wait-run,
	 * serve); `hang` never does. */
	static const int stop[] = { SIGTERM, SIGINT };
	if ((f.sig_fd = new_signalfd(stop, 2, 0)) < 0) {
		log_err("signalfd: %s", strerror(-f.sig_fd));
		return VCPU_EXIT_ERROR;
	}
	run_script(&f);
}
