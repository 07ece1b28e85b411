/* cellvm-vcpu's command line: built by the controller, parsed by the worker
 * (common/worker_args.h). */
#include "worker_args.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"

int worker_kvm_check_parse(const char *s, enum worker_kvm_check *out)
{
	if (strcmp(s, "full") == 0)
		*out = WORKER_KVM_CHECK_FULL;
	else if (strcmp(s, "api") == 0)
		*out = WORKER_KVM_CHECK_API;
	else
		return -EINVAL;
	return 0;
}

const char *worker_kvm_check_name(enum worker_kvm_check c)
{
	return c == WORKER_KVM_CHECK_API ? "api" : "full";
}

/* ---------------------------------------------------------------- building */

int worker_cmdline_build(const struct worker_given *g, const char *const *extra,
			 struct worker_cmdline *out)
{
	static const char *const num[] = { "3", "4", "5", "6", "7", "8", "9" };
	_Static_assert(sizeof(num) / sizeof(num[0]) == WORKER_FD_BACKEND0 - 3, "one per role");
	const struct {
		const char *opt;
		int fd, target;
	} roles[] = {
		{ "--machine-fd", g->machine, WORKER_FD_MACHINE },
		{ "--mem-fd", g->mem, WORKER_FD_MEM },
		{ "--kernel-fd", g->kernel, WORKER_FD_KERNEL },
		{ "--initrd-fd", g->initrd, WORKER_FD_INITRD },
		{ "--serial-fd", g->serial, WORKER_FD_SERIAL },
		{ "--control-fd", g->control, WORKER_FD_CONTROL },
		{ "--kvm-fd", g->kvm, WORKER_FD_KVM },
	};
	size_t nextra = 0, nroles = 0;
	bool check = g->kvm_check != WORKER_KVM_CHECK_FULL;
	while (extra && extra[nextra])
		nextra++;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		nroles += roles[i].fd >= 0;
	/* argv[0], an option and its value per fd and for the check, the
	 * extra ones, NULL */
	if (g->nbackends > MACHINE_MAX_VIRTIO ||
	    1 + 2 * (nroles + g->nbackends + check) + nextra + 1 > WORKER_ARGV_MAX)
		return -E2BIG;
	size_t a = 0;
	out->nfds = 0;
	out->argv[a++] = "cellvm-vcpu";
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (roles[i].fd < 0)
			continue;
		out->argv[a++] = roles[i].opt;
		out->argv[a++] = num[roles[i].target - 3];
		out->fds[out->nfds++] = (struct worker_fd_place){ roles[i].fd, roles[i].target };
	}
	for (size_t i = 0; i < g->nbackends; i++) {
		int target = WORKER_FD_BACKEND0 + (int)i;
		snprintf(out->backend_arg[i], sizeof(out->backend_arg[i]), "%s=%d",
			 g->backend_name[i], target);
		out->argv[a++] = "--backend";
		out->argv[a++] = out->backend_arg[i];
		out->fds[out->nfds++] = (struct worker_fd_place){ g->backend[i], target };
	}
	if (check) {
		out->argv[a++] = "--kvm-check";
		out->argv[a++] = worker_kvm_check_name(g->kvm_check);
	}
	for (size_t i = 0; i < nextra; i++)
		out->argv[a++] = extra[i];
	out->argv[a] = NULL;
	return 0;
}

/* ---------------------------------------------------------------- parsing */

void worker_args_usage(FILE *f)
{
	fprintf(f,
		"usage: cellvm-vcpu --machine-fd N --mem-fd N (--kernel PATH | --kernel-fd N)\n"
		"                   [--initrd PATH | --initrd-fd N] [--serial-fd N]\n"
		"                   [--backend NAME=FD]... [--kvm-fd N] [--control-fd N]\n"
		"                   [--kvm-check full|api] [--log-level LEVEL]\n"
		"                   [--sandbox on|off|log] [--policy-dir DIR]\n"
		"       cellvm-vcpu --check-kvm [--kvm-check full|api] [--kvm-fd N]\n"
		"Runs the guest described by the machine device tree on KVM. Exit status:\n"
		"0 poweroff, 3 reboot, 4 stopped, 10 kernel load failure, 11 vCPU start\n"
		"failure (also: this KVM cannot run a guest), 12 vCPU runtime failure,\n"
		"13 device failure, 1 other errors.\n"
		"--check-kvm only checks whether /dev/kvm can run a stock kernel (what Create\n"
		"checks first) and prints why not: exit status 0 if it can, 1 if not.\n"
		"--kvm-check api checks the KVM API and capabilities only, with no vCPU run:\n"
		"a KVM that cannot run a stock kernel then passes, and its guest hangs.\n");
}

static int parse_fd(const char *opt, const char *arg, int *out)
{
	if (cli_parse_fd(arg, out) < 0) {
		log_err("%s %s: not an open file descriptor", opt, arg);
		return -EINVAL;
	}
	return 0;
}

static int open_file(const char *opt, const char *path, int *out)
{
	*out = open(path, O_RDONLY | O_CLOEXEC);
	if (*out < 0) {
		int err = -errno;
		log_err("%s %s: %s", opt, path, strerror(-err));
		return err;
	}
	return 0;
}

static int parse_backend(struct worker_args *w, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || (size_t)(eq - arg) >= MACHINE_NAME_MAX ||
	    w->nbackends == MACHINE_MAX_VIRTIO) {
		log_err("--backend %s: want NAME=FD (at most %u)", arg, MACHINE_MAX_VIRTIO);
		return -EINVAL;
	}
	struct worker_backend_arg *b = &w->backends[w->nbackends];
	memcpy(b->name, arg, (size_t)(eq - arg));
	b->name[eq - arg] = '\0';
	if (parse_fd("--backend", eq + 1, &b->fd) < 0)
		return -EINVAL;
	w->nbackends++;
	return 0;
}

int worker_args_parse(int argc, char **argv, struct worker_args *w)
{
	static const struct option longopts[] = {
		{ "machine-fd", required_argument, NULL, 'M' },
		{ "mem-fd", required_argument, NULL, 'm' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "kernel-fd", required_argument, NULL, 'K' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "initrd-fd", required_argument, NULL, 'I' },
		{ "serial-fd", required_argument, NULL, 's' },
		{ "backend", required_argument, NULL, 'b' },
		{ "kvm-fd", required_argument, NULL, 'v' },
		{ "control-fd", required_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check-kvm", no_argument, NULL, 'c' },
		{ "kvm-check", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		CONFINE_LONG_OPTIONS,
		{ 0 },
	};
	int c, err = 0;
	*w = (struct worker_args){ .machine_fd = -1, .mem_fd = -1, .kernel_fd = -1,
				   .initrd_fd = -1, .serial_fd = -1, .kvm_fd = -1,
				   .control_fd = -1 };
	confine_opts_init(&w->confine);
	optind = 1;
	while (!err && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int r = confine_opt(&w->confine, c, optarg);
		if (r) {
			err = r < 0 ? r : 0;
			continue;
		}
		switch (c) {
		case 'M': err = parse_fd("--machine-fd", optarg, &w->machine_fd); break;
		case 'm': err = parse_fd("--mem-fd", optarg, &w->mem_fd); break;
		case 'k': err = open_file("--kernel", optarg, &w->kernel_fd); break;
		case 'K': err = parse_fd("--kernel-fd", optarg, &w->kernel_fd); break;
		case 'i': err = open_file("--initrd", optarg, &w->initrd_fd); break;
		case 'I': err = parse_fd("--initrd-fd", optarg, &w->initrd_fd); break;
		case 's': err = parse_fd("--serial-fd", optarg, &w->serial_fd); break;
		case 'b': err = parse_backend(w, optarg); break;
		case 'v': err = parse_fd("--kvm-fd", optarg, &w->kvm_fd); break;
		case 'C': err = parse_fd("--control-fd", optarg, &w->control_fd); break;
		case 'c': w->check_kvm = true; break;
		case 'x':
			if ((err = worker_kvm_check_parse(optarg, &w->kvm_check)) < 0)
				log_err("--kvm-check %s: want full or api", optarg);
			break;
		case 'l': err = log_set_level_arg(optarg); break;
		case 'h': w->help = true; return 0;
		default:
			log_err("unknown option or missing argument (--help lists them)");
			return -EINVAL;
		}
	}
	if (err)
		return err;
	if (optind < argc) {
		log_err("%s: not an option (--help lists them)", argv[optind]);
		return -EINVAL;
	}
	if (!w->check_kvm && (w->machine_fd < 0 || w->mem_fd < 0 || w->kernel_fd < 0)) {
		log_err("--machine-fd, --mem-fd and a kernel are needed (--help)");
		return -EINVAL;
	}
	return 0;
}
