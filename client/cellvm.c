/* cellvm run: one VM from the command line, like `crosvm run`.
 *
 *   cellvm run --kernel K [--initrd I] [--cmdline C] [--cpus N] [--memory 512M]
 *              [--disk FILE[,ro]]... [--net tap=NAME[,mac=M][,queues=N]]... [--rng]
 *              [--console] [--vsock cid=N,uds=PATH] [--balloon MIB[,...]]
 *              [--sandbox=on|off|log] [--allow-degraded] [--policy-dir DIR]
 *              [--kvm-check full|api] [--log-level L]
 *
 * Starts a private cellvmd on a socketpair, sends it the config these
 * options make (run_options.h: the same keys as docs/config.md), attaches
 * the terminal to the guest's serial port and runs the VM until it stops. Ctrl-] (or
 * SIGINT/SIGTERM) stops the VM. Exit status: 0 when the guest powered off or
 * rebooted, 1 when the VM failed or was stopped, 2 for bad usage. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "fds.h"
#include "lifecycle.h"
#include "log.h"
#include "run_options.h"
#include "spawn.h"
#include "term.h"

enum { ID_CREATE = 1, ID_RUN, ID_STOP };

/* The private controller, serving sv on fd 3 of its own. */
static int start_controller(int sv, const struct run_options *o, pid_t *pid, int *pidfd)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "cellvm: /proc/self/exe: %s\n", strerror(errno));
		return -EIO;
	}
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	/* Installed, cellvmd is beside us; in the build tree, in controller/. */
	snprintf(path, sizeof(path), "%s/cellvmd", self);
	if (access(path, X_OK) < 0)
		snprintf(path, sizeof(path), "%s/../controller/cellvmd", self);
	char *argv[] = { "cellvmd", "--client-fd", "3", "--log-level",
			 (char *)log_level_name(o->log_level), "--sandbox", (char *)o->sandbox,
			 /* Its user is the operator too: what it asks is its floor. */
			 "--min-sandbox", (char *)o->sandbox, NULL, NULL, NULL, NULL, NULL, NULL,
			 NULL, NULL, NULL };
	size_t a = 9;
	if (o->policy_dir) {
		argv[a++] = "--policy-dir";
		argv[a++] = (char *)o->policy_dir;
	}
	if (o->allow_degraded)
		argv[a++] = "--allow-degraded";
	if (o->kvm_check) {
		argv[a++] = "--kvm-check";
		argv[a++] = (char *)o->kvm_check;
	}
	/* The vsock socket's directory, and no other, for sockets. */
	if (o->socket_dir[0]) {
		argv[a++] = "--allow-socket-dir";
		argv[a++] = (char *)o->socket_dir;
	}
	struct spawn_fd fd = { sv, 3 };
	int err = spawn_child(&(struct spawn_req){ .path = path, .argv = argv, .fds = &fd,
						   .nfds = 1, .stderr_fd = -1 },
			      pid, pidfd);
	if (err < 0)
		fprintf(stderr, "cellvm: starting %s: %s\n", path, strerror(-err));
	return err;
}

/* Waits for the Run reply, attached to the serial stream; returns the exit
 * status. Ctrl-] and SIGINT/SIGTERM send Stop (once). */
static int run_attached(int sock, int serial, int sig_fd)
{
	char err[300];
	int ep = epoll_create1(EPOLL_CLOEXEC), status = -1;
	struct epoll_event ev = { .events = EPOLLIN };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, sig_fd, &ev) < 0) {
		fprintf(stderr, "cellvm: epoll: %s\n", strerror(errno));
		status = 1;
	}
	bool stop_sent = false;
	while (status < 0) {
		enum term_end end = TERM_WATCHED;
		struct epoll_event got;
		if (serial >= 0)
			end = term_attach(serial, ep);
		else if (epoll_wait(ep, &got, 1, -1) < 0 && errno != EINTR)
			break;
		if (end == TERM_EOF || end == TERM_ERROR) {
			/* The guest's output is over; the reply follows. */
			close(serial);
			serial = -1;
			continue;
		}
		bool stop = end == TERM_DETACHED;
		struct signalfd_siginfo si;
		while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			stop = true;
		if (stop && !stop_sent) {
			fprintf(stderr, "\r\n[cellvm: stopping the VM]\r\n");
			if (client_send(sock, ID_STOP, RPC_STOP, NULL, NULL, 0, err, sizeof(err)) < 0)
				break;
			stop_sent = true;
		}
		struct pollfd p = { .fd = sock, .events = POLLIN };
		if (poll(&p, 1, 0) <= 0)
			continue;
		struct rpc_reply r = { 0 };
		int fd;
		if (client_recv(sock, &r, &fd, err, sizeof(err)) < 0) {
			fprintf(stderr, "\r\ncellvm: %s\r\n", err);
			break;
		}
		if (fd >= 0)
			close(fd);
		if (!r.epitaph && r.id == ID_RUN) {
			if (!r.ok)
				fprintf(stderr, "\r\ncellvm: the VM ended: %s: %s\r\n",
					lifecycle_error_name(r.code), r.message);
			status = r.ok ? 0 : 1;
		}
		rpc_reply_free(&r);
	}
	if (serial >= 0)
		close(serial);
	if (ep >= 0)
		close(ep);
	return status < 0 ? 1 : status;
}

int main(int argc, char **argv)
{
	log_init("cellvm", LOG_LVL_WARN);
	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			run_options_usage(stdout);
			return 0;
		}
		run_options_usage(stderr);
		return 2;
	}
	struct run_options o;
	if (run_options_parse(argc - 1, argv + 1, &o) < 0) {
		run_options_usage(stderr);
		return 2;
	}
	if (o.help) {
		run_options_usage(stdout);
		return 0;
	}
	char *config = o.config;

	static const int stop[] = { SIGINT, SIGTERM };
	signal(SIGPIPE, SIG_IGN);
	int sig_fd, sv[2];
	pid_t pid;
	int pidfd, status = 1;
	char err[300];
	if ((sig_fd = new_signalfd(stop, 2, SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "cellvm: %s\n", strerror(-sig_fd));
		return 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "cellvm: %s\n", strerror(errno));
		return 1;
	}
	if (start_controller(sv[1], &o, &pid, &pidfd) < 0)
		return 1;
	close(sv[1]);
	int sock = sv[0];

	struct rpc_reply r = { 0 };
	int fd, code;
	if (client_call(sock, ID_CREATE, RPC_CREATE, config, NULL, 0, &r, &fd, err, sizeof(err)) < 0) {
		fprintf(stderr, "cellvm: Create: %s\n", err);
		goto out;
	}
	if (!r.ok) {
		fprintf(stderr, "cellvm: %s: %s\n", lifecycle_error_name(r.code), r.message);
		rpc_reply_free(&r);
		goto out;
	}
	rpc_reply_free(&r);
	int serial = client_open_stream(sock, 0, &code, err, sizeof(err));
	if (serial < 0) {
		fprintf(stderr, "cellvm: serial: %s\n", err);
		goto out;
	}
	if (client_send(sock, ID_RUN, RPC_RUN, NULL, NULL, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "cellvm: %s\n", err);
		close(serial);
		goto out;
	}
	status = run_attached(sock, serial, sig_fd);
out:
	/* The controller stops what is left and exits once we hang up. */
	close(sock);
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	close(pidfd);
	free(config);
	return status;
}
