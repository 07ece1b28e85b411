/* cellvmd: the controller of one VM, serving the lifecycle RPC on a Unix
 * socket (docs/rpc.md).
 *
 *   cellvmd (--socket PATH | --client-fd N) [--user USER] [--log-level L]
 *           [--idle-timeout SECONDS] [--name NAME] [--metrics-listen ADDR]
 *           [--sandbox on|off|log]
 *           [--policy-dir DIR] [operator policy]
 *
 * Started as root, it opens /dev/kvm and its socket, then becomes USER with
 * no capabilities; then it forks cellvm-spawner, which starts the VM's
 * processes for it (spawner/spawner.h), and confines itself
 * (policy/controller.policy: no fork, no exec) before it reads a client's
 * first byte. With --client-fd it serves that one connected client (how
 * `cellvm run` uses it) and exits once the client has gone and the VM is
 * stopped. The operator policy (--min-sandbox, --allow-dir, --max-memory,
 * ...: operator.h) bounds every Create; with --cgroup each VM runs in a
 * cgroup v2 of its own beneath the operator's (cgroup.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "cli.h"
#include "confine.h"
#include "event_loop.h"
#include "fds.h"
#include "gate.h"
#include "log.h"
#include "metrics_http.h"
#include "operator.h"
#include "privdrop.h"
#include "server.h"
#include "spawner_link.h"
#include "unix_sock.h"
#include "vm.h"

#define IDLE_TIMEOUT_S 60

struct daemon {
	struct evloop *loop;
	struct server *server;
	struct metrics_http *metrics; /* --metrics-listen; NULL without */
	struct spawner spawner;
	int listen_fd, sig_fd;
	bool quitting;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cellvmd (--socket PATH | --client-fd N) [--user USER|UID:GID]\n"
		   "               [--log-level error|warn|info|debug] [--worker PATH]\n"
		   "Serves the cellvm lifecycle RPC (Create, Bind, Run, Stop, Status) for one VM.\n"
		   "  --socket PATH     listen here (mode 0600)\n"
		   "  --client-fd N     serve this connected socket only; exit when it closes\n"
		   "  --user USER       when started as root: open /dev/kvm and the socket,\n"
		   "                    then run as USER with no capabilities\n"
		   "  --worker PATH     the vcpu-worker binary (default: cellvm-vcpu next to us)\n"
		   "  --device-dir DIR  where the device binaries are (default: next to us)\n"
		   "  --idle-timeout S  with --socket: disconnect a client idle for S seconds\n"
		   "                    (default %u; docs/rpc.md, \"Connections\")\n"
		   "  --name NAME       the VM's name in its metrics (default: the socket's file\n"
		   "                    name without .sock)\n"
		   "  --metrics-listen ADDR  serve GET /metrics (Prometheus text) on ADDR: a\n"
		   "                    socket path or 127.0.0.1:PORT (docs/rpc.md, \"Metrics\")\n"
		   CONFINE_USAGE OPERATOR_USAGE CGROUP_USAGE, IDLE_TIMEOUT_S);
}

/* The VM's name in its metrics: the socket's file name without ".sock"
 * (/run/cellvm/web1.sock: web1), or "cellvm" for --client-fd. */
static const char *vm_name(const char *socket_path)
{
	static char name[64];
	const char *base = socket_path ? strrchr(socket_path, '/') : NULL;
	base = base ? base + 1 : socket_path;
	if (!base || !*base)
		return "cellvm";
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".sock") == 0)
		n -= 5;
	snprintf(name, sizeof(name), "%.*s", (int)n, base);
	return name;
}

/* A --name: a label value any monitoring system takes as it is. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	return true;
}

/* The uid of the peer of a connected socket (SO_PEERCRED), or -errno. */
static int peer_uid(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	*uid = cred.uid;
	return 0;
}

static void on_listen(void *opaque, uint32_t events)
{
	struct daemon *d = opaque;
	(void)events;
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_ratelimited(LOG_LVL_WARN, "accept: %m");
		return;
	}
	/* Only our own user (or root) may drive the VM. */
	uid_t uid = (uid_t)-1;
	if (peer_uid(fd, &uid) < 0 || (uid != geteuid() && uid != 0)) {
		log_ratelimited(LOG_LVL_WARN, "connection from another user refused");
		close(fd);
		return;
	}
	server_add_client(d->server, fd, uid);
}

static void on_signal(void *opaque, uint32_t events)
{
	struct daemon *d = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(d->sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	log_info("signal %u: stopping the VM and exiting", si.ssi_signo);
	d->quitting = true;
	server_stop_vm(d->server);
}

/* Without the spawner no VM can start: its children died with it. */
static void on_spawner(void *opaque, uint32_t events)
{
	struct daemon *d = opaque;
	struct child_end end;
	char how[96];
	(void)events;
	int fd = d->spawner.pidfd;
	int r = spawner_reaped(&d->spawner, &end);
	if (r == 0)
		return;
	evloop_del(d->loop, fd); /* closed by now if reaped: epoll dropped it */
	if (r < 0)
		snprintf(how, sizeof(how), "is gone (waitid: %s)", strerror(-r));
	else
		child_end_describe(&end, how, sizeof(how));
	log_err("cellvm-spawner (pid %d) %s: the VM's processes ended with it, and no VM can "
		"start any more", (int)d->spawner.pid, how);
}

/* The file system ids for what follows: the target user's, or back to ours
 * (-1: as they were). setfs[ug]id say nothing of failure: read them back. */
static bool use_fs_ids(uid_t uid, gid_t gid)
{
	setfsgid(gid);
	setfsuid(uid);
	return (uid_t)setfsuid((uid_t)-1) == uid && (gid_t)setfsgid((gid_t)-1) == gid;
}

/* The directory path names, split from its last component. */
static void split_dir(const char *path, char *dir, size_t len, const char **name)
{
	const char *slash = strrchr(path, '/');
	*name = slash ? slash + 1 : path;
	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* An fd of path's directory if only root may change it (nobody else can put
 * a name there, whatever happens to the path above it), else -1. */
static int root_only_dir(const char *path, const char **name)
{
	char dir[UNIX_SOCK_PATH_MAX + 1];
	split_dir(path, dir, sizeof(dir), name);
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == 0 &&
	    !(st.st_mode & (S_IWGRP | S_IWOTH)))
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Listens on path, a socket owned by uid:gid when own_it (cellvmd started as
 * root for --user). Nothing is done as root by path where another user could
 * swap a name for a link: the socket is made, the stale one removed and the
 * name changed with the target user's file system ids, so it is theirs from
 * the start; only in a directory nobody but root can change (where the
 * target user cannot create it) is it made by root, through that directory's
 * fd, and then chowned there without following a link. */
static int listen_on(const char *path, uid_t uid, gid_t gid, bool own_it)
{
	if (strlen(path) > UNIX_SOCK_PATH_MAX) {
		log_err("--socket %s: longer than %zu bytes", path, UNIX_SOCK_PATH_MAX);
		return -ENAMETOOLONG;
	}
	char tmp_name[NAME_MAX + 1], tmp[UNIX_SOCK_PATH_MAX + 1], bound[64 + NAME_MAX];
	const char *name;
	int dfd = own_it ? root_only_dir(path, &name) : -1;
	bool as_user = own_it && dfd < 0;
	if (as_user && !use_fs_ids(uid, gid)) {
		use_fs_ids(0, 0);
		log_err("--socket %s: cannot take the file system ids %u:%u", path, (unsigned)uid,
			(unsigned)gid);
		return -EPERM;
	}
	int fd = -1, err = 0;
	/* A socket file left by a dead cellvmd is replaced; a live one is not. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = unix_connect(path, 0);
		if (probe >= 0) {
			close(probe);
			log_err("--socket %s: another cellvmd serves it", path);
			err = -EADDRINUSE;
			goto out;
		}
		unlink(path);
	}
	/* Bound and listening under a temporary name, then renamed: once the
	 * path exists, a client can connect. */
	if (snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		log_err("--socket %s: too long for a temporary name next to it", path);
		err = -ENAMETOOLONG;
		goto out;
	}
	const char *at = tmp; /* where to bind: through the directory's fd if root-only */
	if (dfd >= 0) {
		snprintf(tmp_name, sizeof(tmp_name), "%s.%d", name, (int)getpid());
		snprintf(bound, sizeof(bound), "/proc/self/fd/%d/%s", dfd, tmp_name);
		at = bound;
		unlinkat(dfd, tmp_name, 0);
	} else {
		unlink(tmp);
	}
	/* Nobody else can connect under the temporary name. */
	mode_t old = umask(0077);
	fd = unix_listen(at, 16, SOCK_NONBLOCK);
	umask(old);
	if (fd < 0)
		err = fd;
	else if (dfd >= 0 && (fchownat(dfd, tmp_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
			      renameat(dfd, tmp_name, dfd, name) < 0))
		err = -errno;
	else if (dfd < 0 && rename(tmp, path) < 0)
		err = -errno;
	if (err && fd >= 0) {
		dfd >= 0 ? unlinkat(dfd, tmp_name, 0) : unlink(tmp);
		close(fd);
	}
	if (err)
		log_err("--socket %s: %s%s", path, strerror(-err),
			err == -EACCES && own_it ? " (the directory must be writable by --user, "
						   "or by root alone)" : "");
out:
	if (as_user)
		use_fs_ids(0, 0);
	if (dfd >= 0)
		close(dfd);
	return err ? err : fd;
}

/* The directory of our own binary, and whether we run from the build tree
 * (binaries in per-process directories) or an install (all in one). */
static int find_binaries(char *worker, char *device_dir, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		log_err("/proc/self/exe: %m");
		return -EIO;
	}
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(worker, len, "%s/cellvm-vcpu", self);
	snprintf(device_dir, len, "%s", self);
	if (access(worker, X_OK) == 0)
		return 0;
	snprintf(worker, len, "%s/../vcpu-worker/cellvm-vcpu", self);
	snprintf(device_dir, len, "%s/../device-procs", self);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "client-fd", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "worker", required_argument, NULL, 'w' },
		{ "device-dir", required_argument, NULL, 'D' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "metrics-listen", required_argument, NULL, 'M' },
		{ "name", required_argument, NULL, 'N' },
		CONFINE_LONG_OPTIONS,
		OPERATOR_LONG_OPTIONS,
		CGROUP_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *socket_path = NULL, *user = NULL, *worker_arg = NULL, *device_arg = NULL;
	const char *metrics_addr = NULL, *name = NULL;
	struct confine_opts copts;
	static struct operator_policy pol;
	static struct cgroup_policy cgpol;
	static struct cgroup_host cgroup;
	static struct gate gate;
	char why[VM_PATH_MAX + 128];
	int client_fd = -1, c;
	unsigned long idle_s = IDLE_TIMEOUT_S;
	static char worker[PATH_MAX + 64], device_dir[PATH_MAX + 64];

	log_init("cellvmd", LOG_LVL_INFO);
	confine_opts_init(&copts);
	operator_policy_init(&pol);
	cgroup_policy_init(&cgpol);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int r = confine_opt(&copts, c, optarg);
		if (r == 0 && (r = operator_opt(&pol, c, optarg, why, sizeof(why))) < 0)
			log_err("%s", why);
		if (r == 0 && (r = cgroup_opt(&cgpol, c, optarg, why, sizeof(why))) < 0)
			log_err("%s", why);
		if (r < 0)
			return 1;
		if (r > 0)
			continue;
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'c':
			if (cli_parse_fd(optarg, &client_fd) < 0) {
				log_err("--client-fd %s: not an open file descriptor", optarg);
				return 1;
			}
			break;
		case 'u': user = optarg; break;
		case 'w': worker_arg = optarg; break;
		case 'D': device_arg = optarg; break;
		case 'M': metrics_addr = optarg; break;
		case 'N':
			if (!name_ok(optarg)) {
				log_err("--name %s: want 1 to 63 letters, digits, '-', '_' or '.'",
					optarg);
				return 1;
			}
			name = optarg;
			break;
		case 'I':
			if (cli_parse_uint(optarg, 1, 86400, &idle_s) < 0) {
				log_err("--idle-timeout %s: want seconds, 1 to 86400", optarg);
				return 1;
			}
			break;
		case 'l':
			if (log_set_level_arg(optarg) < 0)
				return 1;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind < argc || !socket_path == (client_fd < 0)) {
		usage(stderr);
		return 1;
	}
	if (cgroup_policy_check(&cgpol, why, sizeof(why)) < 0) {
		log_err("%s", why);
		return 1;
	}
	if (find_binaries(worker, device_dir, sizeof(worker)) < 0)
		return 1;
	if (worker_arg)
		snprintf(worker, sizeof(worker), "%s", worker_arg);
	if (device_arg)
		snprintf(device_dir, sizeof(device_dir), "%s", device_arg);

	uid_t uid = 0;
	gid_t gid = 0;
	int err = user ? privdrop_parse_user(user, &uid, &gid) : 0;
	if (err < 0) {
		log_err("--user %s: %s", user,
			err == -ENOENT ? "no such user" : "want a user name or UID:GID");
		return 1;
	}
	if (!user && geteuid() == 0 && socket_path)
		log_warn("running as root: give --user to drop privileges after start-up");

	/* What needs privilege is opened first and passed down later. */
	int kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		log_warn("/dev/kvm: %m (the vcpu-worker will try again)");
	struct daemon d = { .listen_fd = -1, .sig_fd = -1 };
	/* A --cgroup that will not do is refused before anyone can connect. */
	if (cgroup_host_open(&cgroup, &cgpol, user != NULL, uid, gid) < 0)
		return 1;
	if (socket_path && (d.listen_fd = listen_on(socket_path, uid, gid, user != NULL)) < 0)
		return 1;
	if (user && privdrop_to(uid, gid) < 0)
		return 1;
	/* As the user who manages it from now on; the spawner, forked next,
	 * starts in the same cgroup as cellvmd. */
	if (cgroup_host_start(&cgroup) < 0)
		return 1;
	/* The operator's directories, as the service user can reach them. */
	if (gate_start(&gate, &pol) < 0)
		return 1;
	/* The service user's, like everything it serves. */
	int metrics_fd = metrics_addr ? metrics_http_listen(metrics_addr) : -1;
	if (metrics_addr && metrics_fd < 0)
		return 1;
	/* Unprivileged, and not yet confined: what it needs to start the VM's
	 * processes goes with it, with the operator's word on how they are
	 * confined (not a tenant's: no request can change it later). */
	static char paths[VM_BINARIES][VM_PATH_MAX];
	struct spawner_binary bins[VM_BINARIES];
	vm_binaries(worker, device_dir, paths, bins);
	struct spawner_cfg scfg = { .confine = copts, .bins = bins, .nbins = VM_BINARIES };
	for (int m = SANDBOX_ON; m <= SANDBOX_LOG; m++)
		scfg.may_ask[m] = operator_sandbox_ok(&pol, (enum sandbox_mode)m);
	if (spawner_start(&scfg, &d.spawner) < 0)
		return 1;
	int keep[8 + 2 * OPERATOR_MAX_DIRS] = { d.spawner.sock, d.spawner.pidfd };
	size_t nkeep = 2;
	nkeep += gate_fds(&gate, keep + nkeep, 2 * OPERATOR_MAX_DIRS);
	if (kvm_fd >= 0)
		keep[nkeep++] = kvm_fd;
	if (d.listen_fd >= 0)
		keep[nkeep++] = d.listen_fd;
	if (client_fd >= 0)
		keep[nkeep++] = client_fd;
	if (cgroup.dir_fd >= 0)
		keep[nkeep++] = cgroup.dir_fd;
	if (metrics_fd >= 0)
		keep[nkeep++] = metrics_fd;
	/* No process or thread of its own from here on; it writes memfds. */
	if (confine(&copts, &(struct confine_req){ .process = "cellvmd", .kind = "controller",
						   .keep_fds = keep, .nkeep = nkeep,
						   .max_fds = 4096, .writes_files = true }) < 0)
		return 1;

	signal(SIGPIPE, SIG_IGN);
	static const int stop[] = { SIGTERM, SIGINT };
	struct vm_env env = { .device_dir = device_dir, .worker = worker, .kvm_fd = kvm_fd,
			      .spawner_fd = d.spawner.sock, .log_level = log_get_level(),
			      .gate = &gate, .sandbox = copts.mode, .kvm_check = pol.kvm_check,
			      .max_restarts = pol.max_restarts,
			      .cgroup = cgroup.dir_fd >= 0 ? &cgroup : NULL,
			      .name = name ? name : vm_name(socket_path) };
	if ((d.sig_fd = new_signalfd(stop, 2, SFD_NONBLOCK)) < 0) {
		log_err("signalfd: %s", strerror(-d.sig_fd));
		return 1;
	}
	if ((err = evloop_create(&d.loop)) || (err = server_create(&d.server, d.loop, &env)) ||
	    (err = evloop_add(d.loop, d.sig_fd, EPOLLIN, on_signal, &d)) ||
	    (err = evloop_add(d.loop, d.spawner.pidfd, EPOLLIN, on_spawner, &d)) ||
	    (d.listen_fd >= 0 &&
	     (err = evloop_add(d.loop, d.listen_fd, EPOLLIN, on_listen, &d))) ||
	    (metrics_fd >= 0 &&
	     (err = metrics_http_create(&d.metrics, d.loop, metrics_fd, d.server)))) {
		log_err("setting up: %s", strerror(-err));
		return 1;
	}
	/* The one client of --client-fd is why we run: it is never idle. */
	if (d.listen_fd >= 0)
		server_set_idle_timeout(d.server, (unsigned)idle_s * 1000);
	if (client_fd >= 0) {
		int fl = fcntl(client_fd, F_GETFL);
		if (fl < 0 || fcntl(client_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(client_fd, F_SETFD, FD_CLOEXEC) < 0) {
			log_err("--client-fd %d: %m", client_fd);
			return 1;
		}
		uid_t peer = (uid_t)-1;
		if ((err = peer_uid(client_fd, &peer)) < 0) {
			log_err("--client-fd %d: %s", client_fd, strerror(-err));
			return 1;
		}
		if (server_add_client(d.server, client_fd, peer) < 0)
			return 1;
	}
	log_info("serving %s", socket_path ? socket_path : "one client");
	while (!(d.quitting && server_idle(d.server))) {
		if ((err = evloop_run_once(d.loop, -1)) < 0 && err != -EINTR) {
			log_err("event loop: %s", strerror(-err));
			break;
		}
		if (client_fd >= 0 && !d.quitting && server_clients(d.server) == 0) {
			d.quitting = true;
			server_stop_vm(d.server);
		}
	}
	metrics_http_destroy(d.metrics);
	server_destroy(d.server);
	evloop_destroy(d.loop);
	if (metrics_addr && metrics_addr[0] == '/')
		unlink(metrics_addr);
	spawner_stop(&d.spawner);
	cgroup_host_close(&cgroup);
	if (socket_path && unlink(socket_path) < 0)
		log_warn("--socket %s: not removed: %m (the next cellvmd replaces it)", socket_path);
	return err < 0 ? 1 : 0;
}
