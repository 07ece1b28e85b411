/* cellvm-launch: a stand-in for the controller until it exists (issue 5),
 * used by the end-to-end tests. It creates the sealed guest-memory memfd and
 * the machine description, starts one device process per device and
 * cellvm-vcpu with the fds they need, copies the guest's serial output to
 * stdout and exits with cellvm-vcpu's exit status.
 *
 *   cellvm-launch --kernel K [--initrd I] [--cmdline C] [--cpus N]
 *                 [--memory SIZE] [--disk FILE] [--rng] [--log-level L]
 * The binaries are found next to this one (or in the build tree layout). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest_mem.h"
#include "log.h"
#include "machine.h"

#define MAX_CHILDREN 8

static char bindir[PATH_MAX];
static volatile pid_t vcpu_pid;

/* A stop request reaches the worker, which then ends the VM cleanly. */
static void forward_signal(int sig)
{
	if (vcpu_pid > 0)
		kill(vcpu_pid, sig);
}

/* A binary next to us, or in the build tree's layout when run from there. */
static const char *bin(const char *name, const char *subdir)
{
	static char paths[MAX_CHILDREN][PATH_MAX + 64];
	static int next;
	char *p = paths[next++ % MAX_CHILDREN];
	snprintf(p, sizeof(paths[0]), "%s/%s", bindir, name);
	if (access(p, X_OK) == 0)
		return p;
	snprintf(p, sizeof(paths[0]), "%s/../../%s/%s", bindir, subdir, name);
	return p;
}

/* fork+exec argv with keep[] surviving the exec; everything else is CLOEXEC. */
static pid_t spawn(const char *const *argv, const int *keep, size_t nkeep)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	for (size_t i = 0; i < nkeep; i++)
		if (fcntl(keep[i], F_SETFD, 0) < 0)
			_exit(127);
	execv(argv[0], (char *const *)argv);
	fprintf(stderr, "cellvm-launch: exec %s: %m\n", argv[0]);
	_exit(127);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'G': v <<= 30; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'K': v <<= 10; end++; break;
	default: break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: cellvm-launch --kernel K [--initrd I] [--cmdline C] [--cpus N] "
			"[--memory SIZE] [--disk FILE] [--rng] [--log-level L]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' }, { "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' }, { "cpus", required_argument, NULL, 'n' },
		{ "memory", required_argument, NULL, 'm' }, { "disk", required_argument, NULL, 'd' },
		{ "rng", no_argument, NULL, 'r' }, { "log-level", required_argument, NULL, 'l' },
		{ 0 },
	};
	const char *kernel = NULL, *initrd = NULL, *cmdline = "console=ttyS0", *disk = NULL;
	const char *log_level = "info";
	unsigned long cpus = 1;
	uint64_t mem = 256ull << 20;
	bool rng = false;
	int c;

	log_init("cellvm-launch", LOG_LVL_INFO);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': kernel = optarg; break;
		case 'i': initrd = optarg; break;
		case 'c': cmdline = optarg; break;
		case 'n': cpus = strtoul(optarg, NULL, 10); break;
		case 'm':
			if (parse_size(optarg, &mem) < 0) {
				log_err("--memory %s: not a size", optarg);
				return 1;
			}
			break;
		case 'd': disk = optarg; break;
		case 'r': rng = true; break;
		case 'l': log_level = optarg; break;
		default: usage(); return 1;
		}
	}
	if (!kernel) {
		usage();
		return 1;
	}
	ssize_t n = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);
	if (n <= 0) {
		log_err("/proc/self/exe: %m");
		return 1;
	}
	bindir[n] = '\0';
	*strrchr(bindir, '/') = '\0';

	struct machine m;
	if (machine_layout(&m, (uint32_t)cpus, mem, cmdline) < 0 ||
	    (disk && machine_add_virtio(&m, "blk0", 2) < 0) ||
	    (rng && machine_add_virtio(&m, "rng0", 4) < 0))
		return 1;
	static uint8_t fdt[65536];
	int fdt_len = machine_to_fdt(&m, fdt, sizeof(fdt));
	int mem_fd = gm_memfd_create("cellvm-ram", machine_ram_size(&m));
	int machine_fd = memfd_create("cellvm-machine", MFD_CLOEXEC);
	if (fdt_len < 0 || mem_fd < 0 || machine_fd < 0 ||
	    write(machine_fd, fdt, (size_t)fdt_len) != fdt_len || lseek(machine_fd, 0, SEEK_SET) < 0) {
		log_err("machine setup failed");
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	pid_t children[MAX_CHILDREN];
	size_t nchildren = 0;
	char backend_args[MAX_CHILDREN][64];
	const char *vargv[32];
	size_t va = 0;
	int serial[2];
	char sfd[16], mfd[16], gfd[16];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, serial) < 0) {
		log_err("socketpair: %m");
		return 1;
	}
	snprintf(sfd, sizeof(sfd), "%d", serial[1]);
	snprintf(mfd, sizeof(mfd), "%d", machine_fd);
	snprintf(gfd, sizeof(gfd), "%d", mem_fd);
	vargv[va++] = bin("cellvm-vcpu", "vcpu-worker");
	vargv[va++] = "--machine-fd"; vargv[va++] = mfd;
	vargv[va++] = "--mem-fd"; vargv[va++] = gfd;
	vargv[va++] = "--serial-fd"; vargv[va++] = sfd;
	vargv[va++] = "--kernel"; vargv[va++] = kernel;
	vargv[va++] = "--log-level"; vargv[va++] = log_level;
	if (initrd) {
		vargv[va++] = "--initrd";
		vargv[va++] = initrd;
	}
	int keep[MAX_CHILDREN + 3] = { machine_fd, mem_fd, serial[1] };
	size_t nkeep = 3;
	for (size_t i = 0; i < m.nvirtio; i++) {
		int sv[2];
		char fdarg[16];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			log_err("socketpair: %m");
			return 1;
		}
		snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
		const char *dargv[8] = { NULL };
		if (m.virtio[i].device_id == 2) {
			const char *a[] = { bin("cellvm-blk", "device-procs"), "--fd", fdarg,
					    "--disk", disk, "--log-level", log_level, NULL };
			memcpy(dargv, a, sizeof(a));
		} else {
			const char *a[] = { bin("cellvm-rng", "device-procs"), "--fd", fdarg,
					    "--log-level", log_level, NULL };
			memcpy(dargv, a, sizeof(a));
		}
		children[nchildren++] = spawn(dargv, &sv[1], 1);
		close(sv[1]);
		snprintf(backend_args[i], sizeof(backend_args[i]), "%s=%d", m.virtio[i].name, sv[0]);
		vargv[va++] = "--backend";
		vargv[va++] = backend_args[i];
		keep[nkeep++] = sv[0];
	}
	vargv[va] = NULL;
	struct sigaction sa = { .sa_handler = forward_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pid_t vcpu = spawn(vargv, keep, nkeep);
	vcpu_pid = vcpu;
	for (size_t i = 3; i < nkeep; i++)
		close(keep[i]);
	close(serial[1]);

	/* Serial output until the worker is gone. */
	char buf[4096];
	ssize_t r;
	while ((r = read(serial[0], buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (write(STDOUT_FILENO, buf, (size_t)r) < 0)
			break;
	}
	int status = 0;
	if (vcpu < 0 || waitpid(vcpu, &status, 0) < 0)
		return 1;
	for (size_t i = 0; i < nchildren; i++) {
		int st;
		kill(children[i], SIGTERM);
		waitpid(children[i], &st, 0);
	}
	if (WIFSIGNALED(status)) {
		log_err("cellvm-vcpu killed by signal %d", WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}
