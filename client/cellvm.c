/* cellvm run: one VM from the command line, like `crosvm run`.
 *
 *   cellvm run --kernel K [--initrd I] [--cmdline C] [--cpus N] [--memory 512M]
 *              [--disk FILE[,ro]]... [--net tap=NAME[,mac=M]]... [--rng]
 *              [--console] [--sandbox=on|off|log] [--allow-degraded] [--policy-dir DIR]
 *              [--kvm-check full|api] [--log-level L]
 *
 * Starts a private cellvmd on a socketpair, sends it the config these
 * options make (the same keys as docs/config.md), attaches the terminal to
 * the guest's serial port and runs the VM until it stops. Ctrl-] (or
 * SIGINT/SIGTERM) stops the VM. Exit status: 0 when the guest powered off or
 * rebooted, 1 when the VM failed or was stopped, 2 for bad usage. */
#include <errno.h>
#include <getopt.h>
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

#include <json-c/json.h>

#include "cli.h"
#include "client.h"
#include "config.h"
#include "fds.h"
#include "lifecycle.h"
#include "log.h"
#include "private_ctl.h"
#include "term.h"
#include "worker_args.h"

enum { ID_CREATE = 1, ID_RUN, ID_STOP };

/* --sandbox: the VM's processes and the private controller's. */
static const char *sandbox_arg = "on";
static const char *policy_dir; /* --policy-dir, for the controller and every child */
static bool allow_degraded;     /* --allow-degraded, likewise */
static const char *kvm_check;   /* --kvm-check, for the controller */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cellvm run --kernel FILE [options]\n"
		"  --kernel FILE            the Linux bzImage to boot\n"
		"  --initrd FILE            its initramfs\n"
		"  --cmdline TEXT           the kernel command line (default: console=ttyS0)\n"
		"  --cpus N                 vCPUs (default 1)\n"
		"  --memory SIZE            guest memory, e.g. 512M or 2G (default 256M)\n"
		"  --disk FILE[,ro]         a virtio-blk disk (repeatable; ,ro: read-only)\n"
		"  --net tap=NAME[,mac=M]   a virtio-net device on an existing tap (repeatable)\n"
		"  --rng                    a virtio-rng device\n"
		"  --console                a virtio-console device (hvc0)\n"
		"  --sandbox=on|off|log     confine every process (default on; log: allow and\n"
		"                           log what a policy lacks)\n"
		"  --policy-dir DIR         where the seccomp policies are (debugging)\n"
		"  --allow-degraded         run even where the kernel refuses a namespace or\n"
		"                           the empty root (warned); without it, do not run\n"
		"  --kvm-check full|api     what is checked of /dev/kvm first: full (default)\n"
		"                           runs a test vCPU; api only the API and capabilities\n"
		"  --log-level LEVEL        error, warn, info (default: warn) or debug\n"
		"The terminal is the guest's serial console; Ctrl-] stops the VM.\n");
}

static int bad(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "cellvm: %s %s: %s\n", opt, arg, want);
	return -EINVAL;
}

/* "FILE" or "FILE,ro". */
static int add_disk(json_object *disks, const char *arg)
{
	size_t n = strlen(arg);
	bool ro = n > 3 && strcmp(arg + n - 3, ",ro") == 0;
	if (ro)
		n -= 3;
	if (n == 0)
		return bad("--disk", arg, "want FILE or FILE,ro");
	json_object *d = json_object_new_object();
	json_object_object_add(d, "path", json_object_new_string_len(arg, (int)n));
	if (ro)
		json_object_object_add(d, "read_only", json_object_new_boolean(true));
	json_object_array_add(disks, d);
	return 0;
}

/* "tap=NAME" or "tap=NAME,mac=MAC". */
static int add_net(json_object *nets, const char *arg)
{
	if (strncmp(arg, "tap=", 4) != 0)
		return bad("--net", arg, "want tap=NAME[,mac=52:54:00:12:34:56]");
	const char *name = arg + 4, *comma = strchr(name, ',');
	size_t len = comma ? (size_t)(comma - name) : strlen(name);
	if (len == 0 || (comma && strncmp(comma, ",mac=", 5) != 0))
		return bad("--net", arg, "want tap=NAME[,mac=52:54:00:12:34:56]");
	json_object *d = json_object_new_object();
	json_object_object_add(d, "tap", json_object_new_string_len(name, (int)len));
	if (comma)
		json_object_object_add(d, "mac", json_object_new_string(comma + 5));
	json_object_array_add(nets, d);
	return 0;
}

/* The config the options describe, as JSON text (malloc'd). */
static char *parse_run_options(int argc, char **argv, enum log_level *lvl)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "cpus", required_argument, NULL, 'n' },
		{ "memory", required_argument, NULL, 'm' },
		{ "disk", required_argument, NULL, 'd' },
		{ "net", required_argument, NULL, 'N' },
		{ "rng", no_argument, NULL, 'r' },
		{ "console", no_argument, NULL, 'C' },
		{ "sandbox", required_argument, NULL, 's' },
		{ "policy-dir", required_argument, NULL, 'P' },
		{ "allow-degraded", no_argument, NULL, 'D' },
		{ "kvm-check", required_argument, NULL, 'K' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	json_object *cfg = json_object_new_object(), *disks = json_object_new_array(),
		    *nets = json_object_new_array();
	bool have_kernel = false, have_cmdline = false;
	unsigned long cpus;
	enum sandbox_mode sb;
	int c, err = 0;
	while (!err && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
		case 'i':
		case 'c':
			json_object_object_add(cfg, c == 'k' ? "kernel" : c == 'i' ? "initrd" : "cmdline",
					       json_object_new_string(optarg));
			have_kernel |= c == 'k';
			have_cmdline |= c == 'c';
			break;
		case 'n':
			if (cli_parse_uint(optarg, 1, VM_CONFIG_MAX_CPUS, &cpus) < 0)
				err = bad("--cpus", optarg, "want 1 to 32");
			else
				json_object_object_add(cfg, "cpus", json_object_new_int((int)cpus));
			break;
		case 'm':
			json_object_object_add(cfg, "memory", json_object_new_string(optarg));
			break;
		case 'd': err = add_disk(disks, optarg); break;
		case 'N': err = add_net(nets, optarg); break;
		case 'r': json_object_object_add(cfg, "rng", json_object_new_boolean(true)); break;
		case 'C': json_object_object_add(cfg, "console", json_object_new_boolean(true)); break;
		case 's':
			if (sandbox_parse_mode(optarg, &sb) < 0)
				err = bad("--sandbox", optarg, "want on, off or log");
			else
				json_object_object_add(cfg, "sandbox",
						       json_object_new_string(sandbox_arg = optarg));
			break;
		case 'P': policy_dir = optarg; break;
		case 'D': allow_degraded = true; break;
		case 'K': {
			enum worker_kvm_check kc;
			if (worker_kvm_check_parse(optarg, &kc) < 0)
				err = bad("--kvm-check", optarg, "want full or api");
			else
				kvm_check = optarg;
			break;
		}
		case 'l':
			if (log_parse_level(optarg, lvl) < 0)
				err = bad("--log-level", optarg, "want error, warn, info or debug");
			break;
		case 'h': usage(stdout); exit(0);
		default: err = -EINVAL; break;
		}
	}
	char *text = NULL;
	if (!err && (optind < argc || !have_kernel)) {
		fprintf(stderr, "cellvm: %s\n", optind < argc ? "unexpected arguments" : "--kernel is required");
		err = -EINVAL;
	}
	if (!err) {
		if (!have_cmdline)
			json_object_object_add(cfg, "cmdline", json_object_new_string("console=ttyS0"));
		json_object_object_add(cfg, "block_devices", json_object_get(disks));
		json_object_object_add(cfg, "net_devices", json_object_get(nets));
		text = strdup(json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN));
	}
	json_object_put(disks);
	json_object_put(nets);
	json_object_put(cfg);
	if (err)
		usage(stderr);
	return text;
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
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	enum log_level lvl = LOG_LVL_WARN;
	char *config = parse_run_options(argc - 1, argv + 1, &lvl);
	if (!config)
		return 2;

	static const int stop[] = { SIGINT, SIGTERM };
	signal(SIGPIPE, SIG_IGN);
	int sig_fd, status = 1;
	char err[300];
	if ((sig_fd = new_signalfd(stop, 2, SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "cellvm: %s\n", strerror(-sig_fd));
		return 1;
	}
	struct private_ctl ctl;
	const struct private_ctl_opts o = { .prog = "cellvm", .level = lvl, .sandbox = sandbox_arg,
					    .policy_dir = policy_dir,
					    .allow_degraded = allow_degraded,
					    .kvm_check = kvm_check };
	if (private_ctl_start(&o, &ctl) < 0)
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
