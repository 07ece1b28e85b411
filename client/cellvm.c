/* cellvm run: one VM from the command line, like `crosvm run`.
 *
 *   cellvm run --kernel K [--initrd I] [--cmdline C] [--cpus N] [--memory 512M]
 *              [--disk FILE[,ro]]... [--net tap=NAME[,mac=M][,queues=N]]... [--rng]
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
#include "spawn.h"
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
		"  --net tap=NAME[,mac=M][,queues=N]\n"
		"                           a virtio-net device on an existing tap (repeatable);\n"
		"                           queues: its virtqueues as num_queues counts them,\n"
		"                           2 per rx/tx pair (4 = two pairs; default 2), on a\n"
		"                           multi_queue tap when more than 2\n"
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

static const char net_want[] = "want tap=NAME[,mac=52:54:00:12:34:56][,queues=N]";

/* One KEY=VALUE of --net arg into d. queues is the config's num_queues (rx
 * and tx of each pair), checked here so that the error names the option's
 * own word. */
static int net_member(json_object *d, const char *arg, char *kv)
{
	char *v = strchr(kv, '=');
	if (!v || !v[1])
		return bad("--net", arg, net_want);
	*v++ = '\0';
	bool queues = !strcmp(kv, "queues");
	if (!queues && strcmp(kv, "tap") && strcmp(kv, "mac"))
		return bad("--net", arg, net_want);
	const char *key = queues ? "num_queues" : kv;
	if (json_object_object_get_ex(d, key, NULL))
		return bad("--net", arg, "each of tap, mac and queues once");
	if (!queues) {
		json_object_object_add(d, key, json_object_new_string(v));
		return 0;
	}
	unsigned long n;
	if (cli_parse_uint(v, 2, VM_CONFIG_NET_QUEUES_MAX, &n) < 0 || n % 2)
		return bad("--net", arg, "queues: an even number from 2 to 16 (2 per rx/tx pair)");
	json_object_object_add(d, key, json_object_new_int((int)n));
	return 0;
}

/* "tap=NAME", then ",mac=MAC" and ",queues=N" in either order. */
static int add_net(json_object *nets, const char *arg)
{
	char buf[256];
	size_t len = strlen(arg);
	if (strncmp(arg, "tap=", 4) != 0 || len >= sizeof(buf) || arg[len - 1] == ',' ||
	    strstr(arg, ",,"))
		return bad("--net", arg, net_want);
	memcpy(buf, arg, len + 1);
	json_object *d = json_object_new_object();
	int err = 0;
	char *save = NULL;
	for (char *kv = strtok_r(buf, ",", &save); kv && !err; kv = strtok_r(NULL, ",", &save))
		err = net_member(d, arg, kv);
	if (err) {
		json_object_put(d);
		return err;
	}
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

/* The private controller, serving sv on fd 3 of its own. */
static int start_controller(int sv, enum log_level lvl, pid_t *pid, int *pidfd)
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
	char *argv[] = { "cellvmd", "--client-fd", "3", "--log-level", (char *)log_level_name(lvl),
			 "--sandbox", (char *)sandbox_arg,
			 /* Its user is the operator too: what it asks is its floor. */
			 "--min-sandbox", (char *)sandbox_arg, NULL, NULL, NULL, NULL, NULL, NULL };
	size_t a = 9;
	if (policy_dir) {
		argv[a++] = "--policy-dir";
		argv[a++] = (char *)policy_dir;
	}
	if (allow_degraded)
		argv[a++] = "--allow-degraded";
	if (kvm_check) {
		argv[a++] = "--kvm-check";
		argv[a++] = (char *)kvm_check;
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
	if (start_controller(sv[1], lvl, &pid, &pidfd) < 0)
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
