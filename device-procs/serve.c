#include "serve.h"

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
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dev_ctl.h"
#include "fds.h"
#include "log.h"
#include "rate_limiter.h"
#include "throttle.h"
#include "unix_sock.h"
#ifdef CELLVM_TEST_HOOKS
#include "test_hooks.h"
#endif

static void serve_opts_init(struct serve_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->control_fd = -1;
	confine_opts_init(&o->confine);
}

/* Handles option c if it is one of SERVE_LONG_OPTIONS: 1 if handled, 0 if it
 * is the device's own, -EINVAL (logged) for a bad argument. */
int serve_fd_number(const char *opt, const char *arg, int *out)
{
	unsigned long v;
	if (cli_parse_uint(arg, 0, INT_MAX, &v) < 0) {
		log_err("%s %s: not a file descriptor number", opt, arg);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static int serve_opt(struct serve_opts *o, int c, const char *arg)
{
	int r = confine_opt(&o->confine, c, arg);
	if (r != 0)
		return r;
	switch (c) {
	case SERVE_OPT_SOCKET_PATH:
		o->socket_path = arg;
		return 1;
	case SERVE_OPT_FD:
		/* serve_opts_check says what is wrong with the fd itself. */
		return serve_fd_number("--fd", arg, &o->fd) < 0 ? -EINVAL : 1;
	case SERVE_OPT_CONTROL_FD:
		return serve_fd_number("--control-fd", arg, &o->control_fd) < 0 ? -EINVAL : 1;
	case SERVE_OPT_PRINT_CAPS:
		o->print_caps = true;
		return 1;
	case SERVE_OPT_LOG_LEVEL:
		return log_set_level_arg(arg) < 0 ? -EINVAL : 1;
	case SERVE_OPT_HELP:
		o->help = true;
		return 1;
	default:
		return 0;
	}
}

/* Checks that exactly one of --socket-path/--fd was given (logged). */
static int serve_opts_check(const struct serve_opts *o)
{
	if (!o->socket_path == (o->fd < 0)) {
		log_err("give exactly one of --socket-path PATH and --fd N");
		return -EINVAL;
	}
	if (o->fd >= 0) {
		int type;
		socklen_t len = sizeof(type);
		if (getsockopt(o->fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
		    type != SOCK_STREAM) {
			log_err("--fd %d: not a stream socket", o->fd);
			return -EINVAL;
		}
	}
	if (o->control_fd >= 0) {
		int type;
		socklen_t len = sizeof(type);
		if (o->control_fd == o->fd ||
		    getsockopt(o->control_fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
		    type != SOCK_SEQPACKET) {
			log_err("--control-fd %d: not a SOCK_SEQPACKET socket of its own",
				o->control_fd);
			return -EINVAL;
		}
	}
	return 0;
}

/* Prints {"type": type, "features": [features...]} on stdout. */
static void serve_print_capabilities(const char *type, const char *const *features)
{
	printf("{\n  \"type\": \"%s\"", type);
	if (features && features[0]) {
		printf(",\n  \"features\": [");
		for (size_t i = 0; features[i]; i++)
			printf("%s\n    \"%s\"", i ? "," : "", features[i]);
		printf("\n  ]");
	}
	printf("\n}\n");
}

int serve_parse(int argc, char **argv, const struct serve_program *prog,
		struct serve_opts *o)
{
	int c;
	serve_opts_init(o);
	while ((c = getopt_long(argc, argv, "", prog->longopts, NULL)) != -1) {
		int r = serve_opt(o, c, optarg);
		if (r == 1)
			continue;
		if (r == 0)
			r = prog->opt ? prog->opt(prog->ctx, c, optarg) : -ENOENT;
		if (r == -ENOENT) {
			/* getopt_long has said what it did not know. */
			fputs(prog->usage, stderr);
			return -EINVAL;
		}
		if (r < 0)
			return -EINVAL;
	}
	if (optind < argc) {
		log_err("unexpected argument: %s", argv[optind]);
		return -EINVAL;
	}
	if (o->help) {
		fputs(prog->usage, stdout);
		return 1;
	}
	if (o->print_caps) {
		serve_print_capabilities(prog->caps_type, prog->caps_features);
		return 1;
	}
	return serve_opts_check(o) < 0 ? -EINVAL : 0;
}

int serve_one_source(const struct serve_opts *o, const char *name_opt, bool named,
		     const char *fd_opt, int fd)
{
	if (named == (fd >= 0)) {
		log_err("give exactly one of %s and %s N", name_opt, fd_opt);
		return -EINVAL;
	}
	if (fd >= 0 && fd == o->fd) {
		log_err("%s and --fd name the same fd", fd_opt);
		return -EINVAL;
	}
	return 0;
}

struct server {
	struct vub *b;
	int listen_fd; /* -1 with --fd */
	int sig_fd;
	int control_fd; /* --control-fd; -1 without, or once cellvmd hung up */
	struct throttle *limiters; /* serve_device's */
	size_t nlimiters;
	void (*control)(struct vub *b, const struct dev_ctl_req *rq, struct dev_ctl_reply *rp);
	int status;
};

static void on_signal(void *opaque, uint32_t events)
{
	struct server *s = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		log_info("%s: signal %u, exiting", s->b->ops->name, si.ssi_signo);
	s->status = 0;
	evloop_stop(s->b->loop);
}

static void on_accept(void *opaque, uint32_t events)
{
	struct server *s = opaque;
	(void)events;
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		log_ratelimited(LOG_LVL_WARN, "accept: %m");
		return;
	}
	/* One frontend at a time: stop listening until it hangs up. */
	if (vub_attach(s->b, fd) == 0) {
		log_info("%s: frontend connected", s->b->ops->name);
		evloop_mod(s->b->loop, s->listen_fd, 0);
	}
}

/* The device's limiter named name (its config key), or NULL. */
static struct throttle *limiter_named(const struct server *s, const char *name)
{
	for (size_t i = 0; i < s->nlimiters; i++)
		if (strcmp(s->limiters[i].name, name) == 0)
			return &s->limiters[i];
	return NULL;
}

/* A bucket of a SET_RATE_LIMIT as the limiter's: DISABLE is size 0. */
static struct rl_bucket_cfg bucket_cfg(const struct dev_ctl_bucket *b)
{
	if (b->mode != DEV_CTL_BUCKET_SET)
		return (struct rl_bucket_cfg){ 0 };
	return (struct rl_bucket_cfg){ .size = b->size, .one_time_burst = b->one_time_burst,
				       .refill_ms = b->refill_time_ms };
}

/* A SET_RATE_LIMIT: limiter[DEV_CTL_RX] is blk's "rate_limiter" or net's
 * "rx_rate_limiter", limiter[DEV_CTL_TX] net's "tx_rate_limiter"; only the
 * buckets not KEEP change. Everything is checked before anything changes:
 * 0, -EINVAL (a limiter the device lacks, a value past the bounds), or
 * -EOPNOTSUPP for a device with no limiter at all. */
static int set_rate_limit(const struct server *s, const struct dev_ctl_rate_limit *rq)
{
	if (s->nlimiters == 0)
		return -EOPNOTSUPP;
	struct throttle *t[2] = { limiter_named(s, "rate_limiter"),
				  limiter_named(s, "tx_rate_limiter") };
	if (!t[DEV_CTL_RX])
		t[DEV_CTL_RX] = limiter_named(s, "rx_rate_limiter");
	struct rl_cfg cfg[2];
	unsigned which[2];
	for (int j = 0; j < 2; j++) {
		const struct dev_ctl_limiter *l = &rq->limiter[j];
		which[j] = (l->bandwidth.mode != DEV_CTL_BUCKET_KEEP ? RL_BANDWIDTH : 0) |
			   (l->ops.mode != DEV_CTL_BUCKET_KEEP ? RL_OPS : 0);
		cfg[j] = (struct rl_cfg){ .bandwidth = bucket_cfg(&l->bandwidth),
					  .ops = bucket_cfg(&l->ops) };
		if (which[j] && (!t[j] || !rl_bucket_cfg_ok(&cfg[j].bandwidth) ||
				 !rl_bucket_cfg_ok(&cfg[j].ops)))
			return -EINVAL;
	}
	for (int j = 0; j < 2; j++) {
		int err = which[j] ? throttle_set(t[j], which[j], &cfg[j]) : 0;
		if (err)
			return err;
	}
	return 0;
}

/* cellvmd's requests (dev_ctl.h), a few per wake-up so that it cannot
 * starve the rings. A malformed one is dropped (cellvmd times out on it);
 * when cellvmd hangs up the device serves on, for its frontend decides. */
static void on_control(void *opaque, uint32_t events)
{
	struct server *s = opaque;
	(void)events;
	for (int i = 0; i < 8 && s->control_fd >= 0; i++) {
		struct dev_ctl_req rq;
		int err = dev_ctl_recv_req(s->control_fd, &rq);
		if (err == -EAGAIN)
			return;
		if (err == -EBADMSG) {
			log_ratelimited(LOG_LVL_WARN, "%s: malformed control request dropped",
					s->b->ops->name);
			continue;
		}
		if (err < 0) {
			if (err != -ECONNRESET)
				log_warn("%s: control channel: %s", s->b->ops->name, strerror(-err));
			evloop_del(s->b->loop, s->control_fd);
			close_fd(&s->control_fd);
			return;
		}
		struct dev_ctl_reply rp = { .type = rq.type, .seq = rq.seq };
		if (rq.type == DEV_CTL_GET_METRICS) {
			rp.counters = s->b->counters;
			for (size_t j = 0; j < s->nlimiters; j++)
				rp.counters.throttled_us += throttle_us(&s->limiters[j]);
		} else if (rq.type == DEV_CTL_SET_RATE_LIMIT) {
			rp.status = set_rate_limit(s, &rq.rl);
		} else if (s->control) {
			s->control(s->b, &rq, &rp);
		} else {
			rp.status = -EOPNOTSUPP;
		}
		/* Out of range would make cellvmd drop the whole reply. */
		if (rp.status > 0 || rp.status < -4095)
			rp.status = -EIO;
		if ((err = dev_ctl_send_reply(s->control_fd, &rp)) < 0)
			log_ratelimited(LOG_LVL_WARN, "%s: control reply: %s", s->b->ops->name,
					strerror(-err));
	}
}

/* One server per process. */
static struct server the_server;

static void on_disconnect(struct vub *b)
{
	struct server *s = &the_server;
	if (s->listen_fd >= 0) {
		evloop_mod(b->loop, s->listen_fd, EPOLLIN);
		return;
	}
	s->status = 0;
	evloop_stop(b->loop);
}

static int listen_on(const char *path)
{
	/* A stale socket file from an earlier run would make bind fail. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	int fd = unix_listen(path, 1, 0);
	if (fd == -ENAMETOOLONG)
		log_err("--socket-path %s: longer than %zu bytes", path, UNIX_SOCK_PATH_MAX);
	else if (fd < 0)
		log_err("--socket-path %s: %s", path, strerror(-fd));
	return fd;
}

/* Confined from here: the fds the loop watches, the device's own, 0-2. */
static int serve_confine(struct vub *b, const struct serve_opts *o, const struct serve_confine *c)
{
	int keep[64];
	size_t n = evloop_fds(b->loop, keep, 64);
	if (n + c->nfds + 1 > 64)
		return -EMFILE;
	for (size_t i = 0; i < c->nfds; i++)
		keep[n++] = c->fds[i];
	if (b->inflight_fd >= 0)
		keep[n++] = b->inflight_fd;
	char process[32];
	snprintf(process, sizeof(process), "cellvm-%s", b->ops->name);
	return confine(&o->confine, &(struct confine_req){
					    .process = process, .kind = b->ops->name, .keep_fds = keep,
					    .nkeep = n, .namespaces = true,
					    .max_fds = c->max_fds ? c->max_fds : 256,
					    .new_tasks = c->new_tasks,
					    .writes_files = c->writes_files,
					    .root_dir = c->root_dir });
}

/* Serves frontends on the options' socket with b (vub_init already called
 * with b->loop == NULL: this creates the loop) and d's hooks, and cellvmd
 * on --control-fd, until the frontend of --fd hangs up or SIGTERM/SIGINT
 * arrives. Returns a process exit status. */
static int serve_run(struct vub *b, const struct serve_opts *o, const struct serve_device *d)
{
	static const int stop[] = { SIGTERM, SIGINT };
	struct server *s = &the_server;
	int err;
	*s = (struct server){ .b = b, .listen_fd = -1, .sig_fd = -1, .control_fd = o->control_fd,
			      .limiters = d->limiters, .nlimiters = d->nlimiters,
			      .control = d->control, .status = 1 };

	/* A frontend that hangs up must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if ((s->sig_fd = new_signalfd(stop, 2, SFD_NONBLOCK)) < 0) {
		log_err("signalfd: %s", strerror(-s->sig_fd));
		return 1;
	}
	if ((err = evloop_create(&b->loop)) < 0) {
		log_err("event loop: %s", strerror(-err));
		close(s->sig_fd);
		return 1;
	}
	b->on_disconnect = on_disconnect;
	if ((err = evloop_add(b->loop, s->sig_fd, EPOLLIN, on_signal, s)) < 0)
		goto out;
	if (d->setup && (err = d->setup(b)) < 0)
		goto out;
	if (s->control_fd >= 0 &&
	    ((fcntl(s->control_fd, F_SETFD, FD_CLOEXEC) < 0 && (err = -errno)) ||
	     (err = evloop_add(b->loop, s->control_fd, EPOLLIN, on_control, s)) < 0)) {
		log_err("--control-fd: %s", strerror(-err));
		goto out;
	}
	if (o->socket_path) {
		if ((s->listen_fd = listen_on(o->socket_path)) < 0) {
			err = s->listen_fd;
			goto out;
		}
		if ((err = evloop_add(b->loop, s->listen_fd, EPOLLIN, on_accept, s)) < 0)
			goto out;
		log_info("%s: listening on %s", b->ops->name, o->socket_path);
	} else {
		if (fcntl(o->fd, F_SETFD, FD_CLOEXEC) < 0 || (err = vub_attach(b, o->fd)) < 0) {
			err = err ? err : -errno;
			goto out;
		}
	}
#ifdef CELLVM_TEST_HOOKS
	test_hooks_init();
#endif
	/* Confined, the device can make no memfd: the in-flight region's is
	 * made now. Without it the device still serves, without resuming. */
	if (vub_inflight_prepare(b) < 0)
		log_warn("%s: no in-flight region: a restart will lose requests in flight",
			 b->ops->name);
	if ((err = serve_confine(b, o, &d->confine)) < 0)
		goto out;
	/* Confinement forked (the process is now a pid namespace's first):
	 * a signalfd wakes epoll through the waiters of the process that
	 * watched it, so watch it again from this one. */
	if ((err = evloop_del(b->loop, s->sig_fd)) < 0 ||
	    (err = evloop_add(b->loop, s->sig_fd, EPOLLIN, on_signal, s)) < 0)
		goto out;
	if ((err = evloop_run(b->loop)) < 0)
		log_err("event loop: %s", strerror(-err));
out:
	if (err < 0)
		s->status = 1;
	vub_detach(b);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		/* Confined, the process sees no file system: the socket file
		 * stays, and the next start replaces it (listen_on). */
		if (o->confine.mode == SANDBOX_OFF)
			unlink(o->socket_path);
	}
	evloop_destroy(b->loop);
	b->loop = NULL;
	close_fd(&b->inflight_fd);
	close(s->sig_fd);
	close_fd(&s->control_fd);
	return s->status;
}

int serve_main(int argc, char **argv, const struct serve_program *prog)
{
	struct serve_opts o;
	log_init(prog->process, LOG_LVL_INFO);
	int r = serve_parse(argc, argv, prog, &o);
	if (r != 0)
		return r > 0 ? 0 : 1;

	/* Zero pages the kernel fills in as they are first touched: a
	 * virtq_elem is 2 x 1024 iovecs (32 KiB), of which a request uses a
	 * few, and calloc() would write every byte of a heap chunk. */
	void *dev = mmap(NULL, prog->dev_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dev == MAP_FAILED) {
		log_err("the device's state: %m");
		return 1;
	}
	int status = 1;
	struct serve_device d = { 0 };
	if (prog->start(prog->ctx, &o, dev, &d) == 0) {
		struct vub b;
		vub_init(&b, d.ops, dev, NULL);
		status = serve_run(&b, &o, &d);
		for (size_t i = 0; i < d.confine.nfds; i++)
			close(d.confine.fds[i]);
	}
	munmap(dev, prog->dev_size);
	return status;
}
