/* cellvm-fc: cellvm behind Firecracker's API, for Firecracker's clients
 * (Kata Containers' Firecracker driver, the SDKs).
 *
 *   cellvm-fc --api-sock PATH [--config-file FILE] [--id ID] [--no-seccomp]
 *             [operator options] [--log-level L] [--policy-dir DIR]
 *   cellvm-fc --config-file FILE [--no-api] ...
 *   cellvm-fc --version
 *
 * Serves HTTP/1.1 with JSON on the Unix socket PATH (fc/http11.h, whose
 * owner is who started us), one VM (fc/fc_api.h): on InstanceStart, or at
 * once with --config-file, a private cellvmd creates and runs it with every
 * process split and confined as `cellvm run` has it. The guest's serial goes
 * to stdout; the program exits when the guest powers off or reboots (0),
 * when the VM fails (1), or on SIGINT/SIGTERM (the VM stopped first). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "confine.h"
#include "fc_api.h"
#include "fds.h"
#include "http11.h"
#include "log.h"
#include "operator.h"
#include "unix_sock.h"

#define MAX_CONNS 8
#define CONN_BUF (HTTP11_HEAD_MAX + HTTP11_BODY_MAX)
#define SEND_TIMEOUT_S 2

enum { TAG_LISTEN = MAX_CONNS, TAG_SIGNAL, TAG_CTL, TAG_SERIAL };

struct conn {
	int fd;
	size_t len;
	char buf[CONN_BUF];
};

static struct conn conns[MAX_CONNS];
static struct fc_api api;
static int ep = -1;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cellvm-fc --api-sock PATH [--config-file FILE] [options]\n"
		"       cellvm-fc --config-file FILE [--no-api] [options]\n"
		"  --api-sock PATH         serve Firecracker's API on this Unix socket\n"
		"  --config-file FILE      start the VM at once from Firecracker's JSON config\n"
		"  --no-api                with --config-file: no API socket\n"
		"  --id ID                 the instance's id (GET /)\n"
		"  --no-seccomp            the VM's processes unconfined (within --min-sandbox)\n"
		"  --sandbox on|off|log    cellvm's form of it (default on)\n"
		"  --log-level LEVEL       error, warn (default), info or debug\n"
		"  --policy-dir DIR        where the seccomp policies are (debugging)\n"
		"  --allow-degraded        run where the kernel refuses a namespace (warned)\n"
		"  --worker PATH           the vcpu-worker binary (tests: a fake one)\n"
		"  --version               the Firecracker API version served\n"
		"%s"
		"The guest's serial console is on stdout. Docs: docs/firecracker-api.md.\n",
		OPERATOR_USAGE);
}

static void unwatch(int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
}

static int watch(int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_err("epoll: %m");
		return -errno;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	unwatch(c->fd);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int respond(struct conn *c, const struct fc_answer *ans, bool close_after)
{
	char head[256];
	size_t blen = ans->body ? strlen(ans->body) : 0;
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nServer: cellvm-fc\r\n", ans->status,
			 http11_reason(ans->status));
	if (ans->status != 204)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "%s\r\n",
		      close_after ? "Connection: close\r\n" : "");
	if (send_all(c->fd, head, (size_t)n) < 0 || (blen && send_all(c->fd, ans->body, blen) < 0))
		return -1;
	return 0;
}

/* Answers each whole request that came; closes on a bad one or when asked. */
static void conn_readable(struct conn *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			conn_close(c);
		return;
	}
	c->len += (size_t)n;
	for (;;) {
		struct http11_req rq;
		struct fc_answer ans = { 0 };
		int r = http11_parse(c->buf, c->len, &rq);
		if (r == 0)
			return;
		if (r < 0) {
			ans.status = -r;
			ans.body = fc_fault(r == -413   ? "the body is larger than 51200 bytes"
					    : r == -431 ? "the request's head is larger than 8 KiB"
					    : r == -501 ? "only Content-Length bodies are read"
							: "not an HTTP/1.1 request as cellvm-fc reads it");
			respond(c, &ans, true);
			free(ans.body);
			conn_close(c);
			return;
		}
		fc_api_handle(&api, &rq, &ans);
		int e = respond(c, &ans, rq.close);
		free(ans.body);
		if (e < 0 || rq.close) {
			conn_close(c);
			return;
		}
		memmove(c->buf, c->buf + rq.total, c->len - rq.total);
		c->len -= rq.total;
	}
}

static void accept_conn(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd < 0) {
			if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
			    watch(fd, (uint32_t)i) < 0)
				break;
			conns[i].fd = fd;
			conns[i].len = 0;
			return;
		}
	close(fd); /* more clients than MAX_CONNS at once */
}

/* The guest's serial to stdout; false once it ended. */
static bool pump_serial(void)
{
	char buf[4096];
	ssize_t n = read(api.serial, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		unwatch(api.serial);
		close(api.serial);
		api.serial = -1;
		return false;
	}
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* stdout gone: the guest's output is dropped, the VM goes on */
		off += w;
	}
	return true;
}

/* Once the VM runs: its controller and serial join the loop. */
static int watch_vm(void)
{
	int fl = fcntl(api.serial, F_GETFL);
	if (fl < 0 || fcntl(api.serial, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	int r = watch(api.ctl.sock, TAG_CTL);
	return r < 0 ? r : watch(api.serial, TAG_SERIAL);
}

static int read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "cellvm-fc: --config-file %s: %s\n", path, strerror(errno));
		return -errno;
	}
	*text = malloc(FC_FILE_MAX + 1);
	*len = *text ? fread(*text, 1, FC_FILE_MAX + 1, f) : 0;
	int bad = !*text || ferror(f) || *len > FC_FILE_MAX;
	fclose(f);
	if (bad) {
		fprintf(stderr, "cellvm-fc: --config-file %s: %s\n", path,
			*len > FC_FILE_MAX ? "larger than 1 MiB" : "cannot be read");
		free(*text);
		return -EINVAL;
	}
	return 0;
}

static int start_from_file(const char *path)
{
	char *text = NULL, err[512];
	size_t len = 0;
	int r = read_file(path, &text, &len);
	if (r < 0)
		return r;
	r = fc_api_start_file(&api, text, len, err, sizeof(err));
	free(text);
	if (r < 0)
		fprintf(stderr, "cellvm-fc: --config-file %s: %s\n", path, err);
	return r;
}

static const struct option longopts[] = {
	{ "api-sock", required_argument, NULL, 'a' },
	{ "config-file", required_argument, NULL, 'c' },
	{ "no-api", no_argument, NULL, 'n' },
	{ "id", required_argument, NULL, 'i' },
	{ "no-seccomp", no_argument, NULL, 'S' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "worker", required_argument, NULL, 'w' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	/* What the jailer passes on to Firecracker: taken, nothing to do. */
	{ "start-time-us", required_argument, NULL, 'x' },
	{ "start-time-cpu-us", required_argument, NULL, 'x' },
	{ "parent-cpu-time-us", required_argument, NULL, 'x' },
	CONFINE_LONG_OPTIONS,
	OPERATOR_LONG_OPTIONS,
	{ 0 },
};

/* The run: the loop until the VM ended (or a signal before it started). */
static int serve(int lfd, int sig_fd)
{
	bool watching_vm = false;
	if ((lfd >= 0 && watch(lfd, TAG_LISTEN) < 0) || watch(sig_fd, TAG_SIGNAL) < 0)
		return 1;
	for (;;) {
		if (api.phase == FC_RUNNING && !watching_vm) {
			if (watch_vm() < 0)
				return 1;
			watching_vm = true;
		}
		if (api.ended) {
			while (api.serial >= 0 && pump_serial())
				;
			return api.ended_ok ? 0 : 1;
		}
		struct epoll_event ev[8];
		int n = epoll_wait(ep, ev, 8, -1);
		if (n < 0 && errno != EINTR) {
			log_err("epoll_wait: %m");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			uint32_t t = ev[i].data.u32;
			if (t < MAX_CONNS && conns[t].fd >= 0)
				conn_readable(&conns[t]);
			else if (t == TAG_LISTEN)
				accept_conn(lfd);
			else if (t == TAG_SERIAL && api.serial >= 0)
				pump_serial();
			else if (t == TAG_CTL && fc_api_ctl_readable(&api) < 0)
				return 1;
			else if (t == TAG_SIGNAL) {
				struct signalfd_siginfo si;
				while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					;
				if (api.phase != FC_RUNNING)
					return 0;
				fc_api_stop(&api);
			}
		}
	}
}

int main(int argc, char **argv)
{
	const char *sock_path = NULL, *config_file = NULL, *id = "anonymous-instance";
	const char *op_args[PRIVATE_CTL_MAX_OPERATOR_ARGS];
	static char op_names[PRIVATE_CTL_MAX_OPERATOR_ARGS][24];
	static struct operator_policy pol;
	size_t nop = 0;
	bool no_api = false, no_seccomp = false, floor_given = false;
	enum log_level lvl = LOG_LVL_WARN;
	int c, li;
	log_init("cellvm-fc", LOG_LVL_WARN);
	operator_policy_init(&pol);
	struct private_ctl_opts o = { .prog = "cellvm-fc", .sandbox = "on" };
	while ((c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		char why[VM_CONFIG_PATH_MAX + 128];
		int r = operator_opt(&pol, c, optarg, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "cellvm-fc: %s\n", why);
			return 2;
		}
		if (r > 0) {
			floor_given |= c == OPERATOR_OPT_MIN_SANDBOX;
			/* The owner's floor: checked here, enforced by the controller. */
			if (nop + 2 > sizeof(op_args) / sizeof(op_args[0])) {
				fprintf(stderr, "cellvm-fc: too many operator options\n");
				return 2;
			}
			snprintf(op_names[nop], sizeof(op_names[nop]), "--%s", longopts[li].name);
			op_args[nop] = op_names[nop];
			op_args[nop + 1] = optarg;
			nop += 2;
			continue;
		}
		switch (c) {
		case 'a': sock_path = optarg; break;
		case 'c': config_file = optarg; break;
		case 'n': no_api = true; break;
		case 'i': id = optarg; break;
		case 'S': no_seccomp = true; break;
		case 'x': break;
		case 'w': o.worker = optarg; break;
		case 'l':
			if (log_parse_level(optarg, &lvl) < 0) {
				fprintf(stderr, "cellvm-fc: --log-level %s: want error, warn, info or debug\n",
					optarg);
				return 2;
			}
			log_set_level(lvl);
			break;
		case 'V':
			/* One line: Kata reads the version as the second word of it. */
			printf("cellvm-fc v" FC_API_VERSION "\n");
			return 0;
		case 'h': usage(stdout); return 0;
		case CONFINE_OPT_POLICY_DIR: o.policy_dir = optarg; break;
		case CONFINE_OPT_ALLOW_DEGRADED: o.allow_degraded = true; break;
		case CONFINE_OPT_SANDBOX: {
			enum sandbox_mode m;
			if (sandbox_parse_mode(optarg, &m) < 0) {
				fprintf(stderr, "cellvm-fc: --sandbox %s: want on, off or log\n", optarg);
				return 2;
			}
			o.sandbox = optarg;
			break;
		}
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || (!sock_path && !config_file) || (no_api && !config_file) ||
	    (no_api && sock_path)) {
		usage(stderr);
		return 2;
	}
	enum sandbox_mode mode;
	if (no_seccomp)
		o.sandbox = "off"; /* Firecracker's flag, cellvm's --sandbox=off */
	/* Without --min-sandbox the owner's own choice is the floor. */
	if (sandbox_parse_mode(o.sandbox, &mode) < 0 || (floor_given && !operator_sandbox_ok(&pol, mode))) {
		fprintf(stderr, "cellvm-fc: sandbox %s is below --min-sandbox %s\n", o.sandbox,
			sandbox_mode_name(pol.min_sandbox));
		return 2;
	}
	o.level = lvl;
	o.operator_args = op_args;
	o.noperator_args = nop;

	/* Nothing this process or the controller it starts runs gains
	 * privilege by exec (a set-uid binary, file capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "cellvm-fc: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	static const int stop[] = { SIGINT, SIGTERM };
	int sig_fd = new_signalfd(stop, 2, SFD_NONBLOCK), lfd = -1, status = 1;
	if (sig_fd < 0) {
		fprintf(stderr, "cellvm-fc: signalfd: %s\n", strerror(-sig_fd));
		return 1;
	}
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	int r = fc_api_init(&api, id);
	if (r < 0) {
		fprintf(stderr, "cellvm-fc: %s\n", strerror(-r));
		return 1;
	}
	api.opts = o;
	/* What the owner asked on the command line is the VM's too. */
	api.vm_sandbox = strcmp(o.sandbox, "on") ? o.sandbox : NULL;
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		fprintf(stderr, "cellvm-fc: epoll: %s\n", strerror(errno));
		goto out;
	}
	if (sock_path) {
		/* The socket is its owner's: nobody else may connect. */
		mode_t old = umask(0077);
		lfd = unix_listen(sock_path, MAX_CONNS, SOCK_NONBLOCK);
		umask(old);
		if (lfd < 0) {
			fprintf(stderr, "cellvm-fc: --api-sock %s: %s\n", sock_path,
				lfd == -EADDRINUSE ? "exists: remove it first" : strerror(-lfd));
			goto out;
		}
	}
	if (config_file && start_from_file(config_file) < 0)
		goto out;
	status = serve(lfd, sig_fd);
out:
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	if (lfd >= 0) {
		close(lfd);
		unlink(sock_path);
	}
	fc_api_destroy(&api);
	if (ep >= 0)
		close(ep);
	close(sig_fd);
	return status;
}
