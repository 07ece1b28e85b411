/* cellvm-console: virtio-console (device id 3) with one port and no
 * MULTIPORT as a vhost-user backend. The port is a host-side stream fd.
 *
 * Guest output (transmitq) reaches the host fd in order and nothing is lost:
 * when the host side is slow, the rest of the current chain waits and the
 * device takes no more, so the guest waits instead of its bytes being
 * dropped. Host input (receiveq) is read straight into the guest's buffers,
 * and read only while the guest has buffers to take it. Once the host side
 * has hung up, guest output is consumed and discarded so the guest never
 * stalls on it. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend.h"
#include "bytes.h"
#include "cli.h"
#include "iov.h"
#include "log.h"
#include "serve.h"
#include "unix_sock.h"

/* A chain's iovecs go to readv/writev in one call. */
_Static_assert(VIRTQ_ELEM_MAX_IOV <= IOV_MAX, "chains need more iovecs than IOV_MAX");

#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* struct virtio_console_config: le16 cols, le16 rows, le32 max_nr_ports,
 * le32 emerg_wr. */
#define CONSOLE_CONFIG_SIZE 12u
#define CONSOLE_CONFIG_MAX_PORTS 4u
#define CONSOLE_CONFIG_EMERG_WR 8u

enum {
	OPT_HOST_FD = 0x200,
	OPT_HOST_SOCKET,
};

struct console {
	struct vub *b;
	int host_fd;
	uint32_t watched;     /* events host_fd is watched for */
	bool host_hup;        /* hung up: host_fd is out of the event loop */
	bool host_gone;       /* output fails: guest output is discarded */
	bool host_eof;        /* no more input will come */
	bool rx_want;         /* the receiveq has buffers waiting for input */
	bool tx_held;         /* tx_elem is popped and partly written */
	struct iovec *tx_iov; /* its unwritten rest */
	unsigned int tx_iovcnt;
	struct virtq_elem rx_elem;
	struct virtq_elem tx_elem;
};

static int console_get_config(struct vub *b, uint32_t offset, uint8_t *buf, uint32_t len)
{
	uint8_t cfg[CONSOLE_CONFIG_SIZE] = { 0 };
	uint32_t ports = htole32(1);
	(void)b;
	if ((uint64_t)offset + len > sizeof(cfg))
		return -EINVAL;
	/* No VIRTIO_CONSOLE_F_SIZE: cols and rows stay 0. */
	memcpy(cfg + CONSOLE_CONFIG_MAX_PORTS, &ports, sizeof(ports));
	memcpy(buf, cfg + offset, len);
	return 0;
}

/* The host side is gone for output: say so once, then discard. */
static void host_gone(struct console *c, const char *why)
{
	if (c->host_gone)
		return;
	c->host_gone = true;
	log_warn("console: host side %s; discarding guest output from now on", why);
}

/* Watches host_fd for what the device can use right now. Even with no
 * events, epoll reports a hang-up, which on_host handles. */
static void host_watch(struct console *c)
{
	uint32_t ev = 0;
	if (c->host_hup)
		return;
	if (c->rx_want && !c->host_eof)
		ev |= EPOLLIN;
	if (c->tx_held && !c->host_gone)
		ev |= EPOLLOUT;
	if (ev == c->watched)
		return;
	int err = evloop_mod(c->b->loop, c->host_fd, ev);
	if (err)
		log_err("console: watching the host side: %s", strerror(-err));
	else
		c->watched = ev;
}

/* Fills receiveq buffers from host_fd until either runs dry. */
static void rx_fill(struct console *c)
{
	struct vub_vring *vr = &c->b->vrings[CONSOLE_RXQ];
	struct virtq_elem *e = &c->rx_elem;
	bool pushed = false;
	int r;

	c->rx_want = false;
	while (!c->host_eof && (r = virtq_pop(&vr->vq, e)) != 0) {
		if (r < 0) {
			vub_vring_error(vr);
			break;
		}
		if (!e->in_num) {
			log_ratelimited(LOG_LVL_WARN, "console: receive buffer not writable");
			virtq_push(&vr->vq, e->head, 0);
			pushed = true;
			continue;
		}
		ssize_t n = readv(c->host_fd, e->in, (int)e->in_num);
		if (n > 0) {
			c->b->counters.rx_bytes += (uint64_t)n;
			virtq_push(&vr->vq, e->head, (uint32_t)n);
			pushed = true;
			continue;
		}
		virtq_unpop(&vr->vq);
		if (n < 0 && errno == EINTR)
			continue;
		/* After a hang-up nothing more arrives: what was there is read. */
		if (n < 0 && errno == EAGAIN && !c->host_hup) {
			c->rx_want = true;
			break;
		}
		if (n < 0 && errno != EAGAIN)
			log_warn("console: reading the host side: %m; no more input");
		else if (!c->host_gone)
			log_info("console: host side closed its input");
		c->host_eof = true;
	}
	if (pushed)
		vub_vring_notify(vr);
	host_watch(c);
}

/* Skips n written bytes of the held chain. */
static void tx_advance(struct console *c, size_t n)
{
	while (n > 0) {
		struct iovec *v = c->tx_iov;
		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		c->tx_iov++;
		c->tx_iovcnt--;
	}
}

/* Writes the rest of the held chain: true when it is all out (or
 * discarded), false when the host side would block. */
static bool tx_flush(struct console *c)
{
	while (c->tx_iovcnt && !c->host_gone) {
		ssize_t n = writev(c->host_fd, c->tx_iov, (int)c->tx_iovcnt);
		if (n >= 0) {
			c->b->counters.tx_bytes += (uint64_t)n;
			tx_advance(c, (size_t)n);
		} else if (errno == EAGAIN) {
			return false;
		} else if (errno != EINTR) {
			char why[96];
			snprintf(why, sizeof(why), "failed a write (%s)", strerror(errno));
			host_gone(c, why);
		}
	}
	c->tx_iovcnt = 0;
	return true;
}

/* Moves guest output to the host side until the transmitq is empty or the
 * host side would block. */
static void tx_run(struct console *c)
{
	struct vub_vring *vr = &c->b->vrings[CONSOLE_TXQ];
	struct virtq_elem *e = &c->tx_elem;
	bool pushed = false;
	int r;

	for (;;) {
		if (c->tx_held) {
			if (!tx_flush(c)) {
				/* Kicks would only wake us to wait again. */
				virtq_disable_notify(&vr->vq);
				break;
			}
			virtq_push(&vr->vq, e->head, 0);
			c->tx_held = false;
			pushed = true;
		}
		/* Nothing is held (also when a ring stop dropped it): kicks are
		 * wanted again, and the pop below sees what came meanwhile. */
		if (vr->vq.notify_disabled)
			virtq_enable_notify(&vr->vq);
		r = virtq_pop(&vr->vq, e);
		if (r <= 0) {
			if (r < 0)
				vub_vring_error(vr);
			break;
		}
		if (e->in_num)
			log_ratelimited(LOG_LVL_WARN,
					"console: transmit buffer with writable parts; ignoring them");
		c->tx_iov = e->out;
		c->tx_iovcnt = e->out_num;
		c->tx_held = true;
	}
	if (pushed)
		vub_vring_notify(vr);
	host_watch(c);
}

static void on_host(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	struct vub *b = c->b;

	if ((events & (EPOLLHUP | EPOLLERR)) && !c->host_hup) {
		/* epoll would report the hang-up forever: stop watching. Input
		 * still unread is taken by rx_fill without the loop's help. */
		evloop_del(b->loop, c->host_fd);
		c->host_hup = true;
		host_gone(c, "hung up");
	}
	if (vub_vring_running(&b->vrings[CONSOLE_RXQ]) && (c->rx_want || c->host_hup))
		rx_fill(c);
	if (vub_vring_running(&b->vrings[CONSOLE_TXQ]) && c->tx_held)
		tx_run(c);
}

static void console_process(struct vub *b, struct vub_vring *vr)
{
	struct console *c = b->dev;
	if (vr->index == CONSOLE_RXQ)
		rx_fill(c);
	else
		tx_run(c);
}

static void console_ring_running(struct vub *b, struct vub_vring *vr, bool running)
{
	struct console *c = b->dev;
	if (running)
		return; /* process() follows */
	if (vr->index == CONSOLE_RXQ) {
		c->rx_want = false;
	} else if (c->tx_held) {
		/* The frontend took the ring back; guest memory may be gone
		 * already, so the rest of the chain cannot be kept. */
		log_warn("console: transmitq stopped with %llu bytes of guest output unwritten",
			 (unsigned long long)iov_size(c->tx_iov, c->tx_iovcnt));
		c->tx_held = false;
		c->tx_iovcnt = 0;
	}
	host_watch(c);
}

static int console_set_config(struct vub *b, uint32_t offset, const uint8_t *buf,
			      uint32_t len)
{
	struct console *c = b->dev;
	/* Only emerg_wr is writable; its low byte is the character. */
	if (!(b->features & BIT_ULL(VIRTIO_CONSOLE_F_EMERG_WRITE)) ||
	    offset != CONSOLE_CONFIG_EMERG_WR || len == 0 || len > 4) {
		log_ratelimited(LOG_LVL_WARN, "console: config write at %u+%u refused", offset,
				len);
		return -EINVAL;
	}
	if (c->host_gone)
		return 0;
	if (write(c->host_fd, buf, 1) < 0) {
		if (errno == EAGAIN)
			log_ratelimited(LOG_LVL_WARN,
					"console: host side busy; emergency write dropped");
		else
			host_gone(c, "failed an emergency write");
	}
	return 0;
}

static void console_reset(struct vub *b)
{
	struct console *c = b->dev;
	/* Rings are stopped by now; the host side stays as it is. */
	c->rx_want = false;
	c->tx_held = false;
	c->tx_iovcnt = 0;
	host_watch(c);
}

static int console_setup(struct vub *b)
{
	struct console *c = b->dev;
	c->b = b;
	int err = evloop_add(b->loop, c->host_fd, 0, on_host, c);
	if (err)
		log_err("console: watching the host side: %s", strerror(-err));
	return err;
}

static const struct vub_ops console_ops = {
	.name = "console",
	.num_queues = 2,
	.max_queue_size = 1024,
	.features = BIT_ULL(VIRTIO_CONSOLE_F_EMERG_WRITE),
	.get_config = console_get_config,
	.set_config = console_set_config,
	.process = console_process,
	.ring_running = console_ring_running,
	.reset = console_reset,
};

static int connect_host(const char *path)
{
	int fd = unix_connect(path, 0);
	if (fd == -ENAMETOOLONG)
		log_err("--host-socket %s: longer than %zu bytes", path, UNIX_SOCK_PATH_MAX);
	else if (fd < 0)
		log_err("--host-socket %s: %s", path, strerror(-fd));
	return fd;
}

/* Makes fd the non-blocking, close-on-exec host side. */
static int host_fd_prepare(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_err("host side fd %d: %m", fd);
		return -errno;
	}
	return 0;
}

/* The console's own options. */
struct console_args {
	const char *host_socket;
	int host_fd;
};

static int console_opt(void *ctx, int c, const char *arg)
{
	struct console_args *a = ctx;
	switch (c) {
	case OPT_HOST_FD:
		if (cli_parse_fd(arg, &a->host_fd) < 0) {
			log_err("--host-fd %s: not an open file descriptor", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_HOST_SOCKET:
		a->host_socket = arg;
		return 0;
	default:
		return -ENOENT;
	}
}

static int console_start(void *ctx, const struct serve_opts *o, void *dev,
			 struct serve_device *d)
{
	const struct console_args *a = ctx;
	struct console *c = dev;
	int fd = a->host_fd, err;
	if ((err = serve_one_source(o, "--host-socket PATH", a->host_socket, "--host-fd", fd)))
		return err;
	if (a->host_socket && (fd = connect_host(a->host_socket)) < 0)
		return fd;
	if ((err = host_fd_prepare(fd)) < 0) {
		close(fd);
		return err;
	}
	c->host_fd = fd;
	*d = (struct serve_device){ .ops = &console_ops, .setup = console_setup,
				    .confine = { .fds = &c->host_fd, .nfds = 1 } };
	return 0;
}

static const struct option console_longopts[] = {
	SERVE_LONG_OPTIONS,
	{ "host-fd", required_argument, NULL, OPT_HOST_FD },
	{ "host-socket", required_argument, NULL, OPT_HOST_SOCKET },
	{ 0 },
};
static struct console_args console_args = { .host_fd = -1 };

const struct serve_program serve_program = {
	.process = "cellvm-console",
	.usage = "usage: cellvm-console (--socket-path PATH | --fd N)\n"
		 "                      (--host-fd N | --host-socket PATH) [options]\n"
		 "virtio-console vhost-user backend with one port on a host-side stream.\n\n"
		 "  --host-fd N             the host side: a connected stream socket or tty\n"
		 "  --host-socket PATH      the host side: connect to a Unix stream socket\n"
		 SERVE_USAGE,
	.caps_type = "console",
	.longopts = console_longopts,
	.opt = console_opt,
	.start = console_start,
	.dev_size = sizeof(struct console),
	.ctx = &console_args,
};
