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
#include "private_ctl.h"
#include "run_options.h"
#include "term.h"

enum { ID_CREATE = 1, ID_RUN, ID_STOP };

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
	int sig_fd, status = 1;
	char err[300];
	if ((sig_fd = new_signalfd(stop, 2, SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "cellvm: %s\n", strerror(-sig_fd));
		return 1;
	}
	/* The vsock socket's directory, and no other, for sockets. */
	const char *socket_args[] = { "--allow-socket-dir", o.socket_dir };
	struct private_ctl ctl;
	const struct private_ctl_opts po = { .prog = "cellvm", .level = o.log_level,
					     .sandbox = o.sandbox, .policy_dir = o.policy_dir,
					     .allow_degraded = o.allow_degraded,
					     .kvm_check = o.kvm_check,
					     .operator_args = socket_args,
					     .noperator_args = o.socket_dir[0] ? 2 : 0 };
	if (private_ctl_start(&po, &ctl) < 0)
		return 1;
	int serial = private_ctl_boot(&ctl, config, ID_CREATE, ID_RUN, err, sizeof(err));
	if (serial < 0) {
		fprintf(stderr, "cellvm: %s\n", err);
		goto out;
	}
	status = run_attached(ctl.sock, serial, sig_fd);
out:
	/* The controller stops what is left and exits once we hang up. */
	private_ctl_end(&ctl);
	free(config);
	return status;
}
