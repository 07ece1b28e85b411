/* cellvm-vsock: virtio-vsock (device id 19) as a vhost-user backend, with
 * Firecracker's hybrid vsock on the host side.
 *
 * Host to guest: a host program connects to the Unix socket at --uds-path
 * (or the listening socket --uds-fd), writes "CONNECT <port>\n", and once
 * the guest answers our REQUEST with a RESPONSE reads "OK <host port>\n";
 * then the socket is a byte stream to the guest's listener on <port>.
 * Guest to host: a REQUEST to CID 2 port P connects to "<uds_path>_P" (a
 * host program listens there), or is answered with an RST.
 *
 * Confined, the process stands in the socket's directory, which is also
 * its whole file system (a read-only copy of that directory alone,
 * common/sandbox.h's root_dir): it connects to "<name>_P" relative to it
 * and reaches no socket elsewhere.
 *
 * Each connection's protocol and credit are vsock_csm.c's. Host data is
 * read only as far as the guest's credit and the rx buffer allow, straight
 * into the buffer. Guest data the host socket does not take at once is
 * held (at most our buf_alloc per connection, which the guest's credit
 * bounds) and written when the socket is writable again: nothing is
 * dropped, and one slow host program stalls only its own connection. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend.h"
#include "bytes.h"
#include "cli.h"
#include "iov.h"
#include "log.h"
#include "serve.h"
#include "unix_sock.h"
#include "virtio_ids.h"
#include "vsock_csm.h"
#include "vsock_hybrid.h"
#include "vsock_pkt.h"

#define VSOCK_RXQ 0
#define VSOCK_TXQ 1
#define VSOCK_EVQ 2
#define VSOCK_QUEUE_SIZE 256u
#define VSOCK_MAX_CONNS 256u
/* RSTs owed to packets of no connection; the tx ring waits when full. */
#define VSOCK_MAX_RSTS 64u
#define VSOCK_BUF_ALLOC_DEFAULT (256u * 1024)
/* How long a host client may take to send its CONNECT line, and the guest
 * to answer our REQUEST: a place is not held for good by either. */
#define VSOCK_HANDSHAKE_MS 5000u
#define VSOCK_REQUEST_MS 2000u
/* Host ports for host-initiated connections start here, as Firecracker's. */
#define VSOCK_LOCAL_PORT_FIRST (1u << 30)

_Static_assert(VIRTQ_ELEM_MAX_IOV <= IOV_MAX, "chains need more iovecs than IOV_MAX");

enum { OPT_GUEST_CID = 0x200, OPT_UDS_PATH, OPT_UDS_FD, OPT_BUF_ALLOC };

struct vconn {
	struct vsock *v;
	int fd;             /* the host socket; -1 once closed */
	bool used;
	bool handshake;     /* host-initiated, its CONNECT line not read yet */
	bool readable;      /* EPOLLIN seen, not read to EAGAIN since */
	bool hup;           /* the socket hung up: no longer watched */
	bool shut_wanted;   /* shutdown(SHUT_WR) once nothing is held */
	uint32_t watched;   /* events asked of the loop */
	uint8_t line[VSOCK_CONNECT_MAX];
	size_t line_len;
	struct evloop_timer timer; /* the handshake's or the REQUEST's */
	uint8_t *held;      /* buf_alloc bytes once needed */
	uint32_t held_off, held_len;
	struct vsock_conn c;
};

struct vsock {
	struct vub *b;
	uint64_t guest_cid;
	uint32_t buf_alloc;
	int listen_fd;
	bool listen_paused; /* out of fds: accept waits for a connection to end */
	char name[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* uds_path's last part */
	uint32_t next_port;
	unsigned rr; /* where the next rx round starts */
	struct vsock_hdr rsts[VSOCK_MAX_RSTS];
	unsigned nrst;
	struct virtq_elem elem;
	struct iovec iov[VIRTQ_ELEM_MAX_IOV];
	struct vconn conns[VSOCK_MAX_CONNS];
};

static void rx_run(struct vsock *v);
static void tx_run(struct vsock *v);

static void watch(struct vconn *k)
{
	if (k->fd < 0 || k->hup)
		return;
	uint32_t want = 0;
	if (k->handshake)
		want = EPOLLIN;
	else if (!k->readable && vsock_conn_rx_room(&k->c))
		want = EPOLLIN;
	if (k->held_len)
		want |= EPOLLOUT;
	if (want == k->watched)
		return;
	int err = evloop_mod(k->v->b->loop, k->fd, want);
	if (err)
		log_ratelimited(LOG_LVL_WARN, "vsock: watching a host socket: %s", strerror(-err));
	else
		k->watched = want;
}

static void close_host(struct vconn *k)
{
	if (k->fd < 0)
		return;
	if (!k->hup)
		evloop_del(k->v->b->loop, k->fd);
	close(k->fd);
	k->fd = -1;
	free(k->held);
	k->held = NULL;
	k->held_len = k->held_off = 0;
}

static void conn_free(struct vconn *k)
{
	struct vsock *v = k->v;
	evloop_timer_cancel(&k->timer);
	close_host(k);
	k->used = false;
	if (v->listen_paused && evloop_mod(v->b->loop, v->listen_fd, EPOLLIN) == 0)
		v->listen_paused = false;
}

/* Forgets a finished connection. */
static void conn_check(struct vconn *k)
{
	if (!k->handshake && vsock_conn_finished(&k->c))
		conn_free(k);
	else
		watch(k);
}

static void host_gone(struct vconn *k)
{
	close_host(k);
	vsock_conn_host_gone(&k->c);
}

/* Writes what is held to the host socket. */
static void flush_held(struct vconn *k)
{
	while (k->held_len && k->fd >= 0) {
		ssize_t n = write(k->fd, k->held + k->held_off, k->held_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			host_gone(k);
			return;
		}
		k->held_off += (uint32_t)n;
		k->held_len -= (uint32_t)n;
		vsock_conn_forwarded(&k->c, (uint32_t)n);
	}
	if (!k->held_len && k->shut_wanted && k->fd >= 0) {
		k->shut_wanted = false;
		shutdown(k->fd, SHUT_WR);
	}
}

/* Passes len payload bytes at iov (n iovecs) to the host: written now as far
 * as the socket takes them, the rest held. */
static void deliver(struct vconn *k, const struct iovec *iov, int n, uint32_t len)
{
	uint32_t done = 0;
	if (!k->held_len && k->fd >= 0) {
		ssize_t w;
		do
			w = writev(k->fd, iov, n);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			host_gone(k);
			return;
		}
		if (w > 0) {
			done = (uint32_t)w;
			vsock_conn_forwarded(&k->c, done);
		}
	}
	if (done == len || k->fd < 0)
		return;
	if (!k->held && !(k->held = malloc(k->v->buf_alloc))) {
		log_ratelimited(LOG_LVL_ERROR, "vsock: out of memory for a connection");
		host_gone(k);
		return;
	}
	/* The credit keeps held + new within buf_alloc. */
	if (k->held_off + k->held_len + (len - done) > k->v->buf_alloc) {
		memmove(k->held, k->held + k->held_off, k->held_len);
		k->held_off = 0;
	}
	iov_to_buf(iov, (unsigned)n, done, k->held + k->held_off + k->held_len, len - done);
	k->held_len += len - done;
}

static struct vconn *conn_find(struct vsock *v, uint32_t host_port, uint32_t guest_port)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vconn *k = &v->conns[i];
		if (k->used && !k->handshake && k->c.host_port == host_port &&
		    k->c.guest_port == guest_port)
			return k;
	}
	return NULL;
}

static struct vconn *conn_slot(struct vsock *v)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (!v->conns[i].used)
			return &v->conns[i];
	return NULL;
}

static void on_host(void *opaque, uint32_t events);

/* A host client that sent no line in time is hung up on; a REQUEST the
 * guest did not answer in time is reset, and its client hung up on. */
static void on_timeout(void *opaque)
{
	struct vconn *k = opaque;
	if (k->handshake) {
		conn_free(k);
		return;
	}
	if (k->c.state != VSOCK_CONNECTING)
		return;
	host_gone(k);
	conn_check(k);
	rx_run(k->v);
}

/* Takes fd (non-blocking) into slot k, watched for events. */
static int conn_open(struct vsock *v, struct vconn *k, int fd, bool handshake, uint32_t events)
{
	*k = (struct vconn){ .v = v, .fd = fd, .used = true, .handshake = handshake,
			     .watched = events };
	evloop_timer_init(&k->timer, on_timeout, k);
	if (handshake)
		evloop_timer_arm(v->b->loop, &k->timer, VSOCK_HANDSHAKE_MS);
	int err = evloop_add(v->b->loop, fd, events, on_host, k);
	if (err) {
		log_ratelimited(LOG_LVL_WARN, "vsock: watching a host socket: %s", strerror(-err));
		close(fd);
		k->used = false;
	}
	return err;
}

static bool port_in_use(const struct vsock *v, uint32_t port)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].used && !v->conns[i].handshake && v->conns[i].c.host_port == port)
			return true;
	return false;
}

/* Reads the CONNECT line a byte at a time: what follows it is data, which
 * waits for the guest's credit. */
static void handshake(struct vconn *k)
{
	struct vsock *v = k->v;
	for (;;) {
		ssize_t n = read(k->fd, k->line + k->line_len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_free(k);
			return;
		}
		k->line_len++;
		uint32_t port;
		int r = vsock_connect_parse(k->line, k->line_len, &port);
		if (r == 0)
			continue;
		if (r < 0) {
			log_ratelimited(LOG_LVL_WARN, "vsock: a host client sent no CONNECT line");
			conn_free(k);
			return;
		}
		while (port_in_use(v, v->next_port))
			v->next_port = v->next_port == UINT32_MAX ? VSOCK_LOCAL_PORT_FIRST
								    : v->next_port + 1;
		vsock_conn_init_host(&k->c, v->next_port++, port, v->buf_alloc);
		evloop_timer_arm(v->b->loop, &k->timer, VSOCK_REQUEST_MS);
		if (v->next_port == 0)
			v->next_port = VSOCK_LOCAL_PORT_FIRST;
		k->handshake = false;
		watch(k);
		rx_run(v);
		return;
	}
}

static void on_host(void *opaque, uint32_t events)
{
	struct vconn *k = opaque;
	struct vsock *v = k->v;
	if (k->handshake) {
		handshake(k);
		return;
	}
	if (events & EPOLLERR) {
		host_gone(k);
	} else {
		if (events & (EPOLLIN | EPOLLHUP))
			k->readable = true;
		if (events & EPOLLHUP) {
			/* Level-triggered for good: read to the end, never watch again. */
			evloop_del(v->b->loop, k->fd);
			k->hup = true;
		}
		if (events & EPOLLOUT)
			flush_held(k);
	}
	conn_check(k);
	rx_run(v);
}

static void on_accept(void *opaque, uint32_t events)
{
	struct vsock *v = opaque;
	(void)events;
	int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		log_ratelimited(LOG_LVL_WARN, "vsock: accept: %s", strerror(e));
		/* The pending client would wake us forever: wait for an fd. */
		if ((e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) &&
		    evloop_mod(v->b->loop, v->listen_fd, 0) == 0)
			v->listen_paused = true;
		return;
	}
	struct vconn *k = conn_slot(v);
	if (!k) {
		log_ratelimited(LOG_LVL_WARN, "vsock: %u connections open: host client refused",
				VSOCK_MAX_CONNS);
		close(fd);
		return;
	}
	conn_open(v, k, fd, true, EPOLLIN);
}

/* A guest REQUEST to host port h->dst_port: connect to "<name>_<port>" in
 * the current directory (the socket's: see the top). */
static void guest_connect(struct vsock *v, const struct vsock_hdr *h)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 12];
	struct vconn *k = conn_slot(v);
	int fd = -ENOBUFS;
	if (k && (size_t)snprintf(path, sizeof(path), "%s_%u", v->name, h->dst_port) <
			 UNIX_SOCK_PATH_MAX)
		fd = unix_connect(path, SOCK_NONBLOCK);
	if (fd < 0 || conn_open(v, k, fd, false, 0) < 0) {
		if (!k)
			log_ratelimited(LOG_LVL_WARN, "vsock: %u connections open: guest refused",
					VSOCK_MAX_CONNS);
		if (v->nrst < VSOCK_MAX_RSTS)
			v->rsts[v->nrst++] = *h;
		return;
	}
	vsock_conn_init_guest(&k->c, h, v->buf_alloc);
	watch(k);
}

/* One packet the guest sent: its header h, payload at iov. */
static void tx_packet(struct vsock *v, const struct vsock_hdr *h, const struct iovec *iov, int n)
{
	struct vconn *k = conn_find(v, h->dst_port, h->src_port);
	if (!k) {
		if (h->op == VSOCK_OP_REQUEST)
			guest_connect(v, h);
		else if (h->op != VSOCK_OP_RST)
			v->rsts[v->nrst++] = *h;
		return;
	}
	struct vsock_act a;
	vsock_conn_guest(&k->c, h, &a);
	if (a.discard)
		close_host(k);
	if (a.deliver)
		deliver(k, iov, n, a.deliver);
	if (a.established)
		evloop_timer_cancel(&k->timer);
	if (a.established && k->fd >= 0) {
		char ok[VSOCK_OK_MAX];
		size_t len = vsock_ok_format(k->c.host_port, ok);
		/* Into an empty socket buffer: all of it, or the client is gone. */
		if (write(k->fd, ok, len) != (ssize_t)len)
			host_gone(k);
	}
	if (a.shut_host) {
		k->shut_wanted = true;
		flush_held(k);
	}
	conn_check(k);
}

/* Checks one tx chain and acts on it; a bad one is dropped with a reason. */
static void tx_one(struct vsock *v, const struct virtq_elem *e)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h;
	const char *why = NULL;
	int n = 0;
	if (e->in_num)
		why = "writable buffers in a transmit chain";
	else if (iov_to_buf(e->out, e->out_num, 0, raw, sizeof(raw)) != sizeof(raw))
		why = "shorter than a header";
	else if ((why = vsock_hdr_parse(raw, sizeof(raw), &h)))
		;
	else if (h.src_cid != v->guest_cid || h.dst_cid != VSOCK_HOST_CID)
		why = "not from the guest's CID to the host's";
	else if (e->out_len - VSOCK_HDR_SIZE < h.len ||
		 (n = iov_slice(e->out, e->out_num, VSOCK_HDR_SIZE, h.len, v->iov,
				VIRTQ_ELEM_MAX_IOV)) < 0)
		why = "payload shorter than its header says";
	if (why) {
		v->b->counters.tx_dropped++;
		log_ratelimited(LOG_LVL_WARN, "vsock: guest packet dropped: %s", why);
		return;
	}
	v->b->counters.tx_frames++;
	v->b->counters.tx_bytes += h.len;
	tx_packet(v, &h, v->iov, n);
}

static void tx_run(struct vsock *v)
{
	struct vub_vring *vr = &v->b->vrings[VSOCK_TXQ];
	if (!vub_vring_running(vr))
		return;
	bool pushed = false;
	int r = 0;
	/* A packet may owe an RST: it waits while none can be queued. */
	while (v->nrst < VSOCK_MAX_RSTS && (r = virtq_pop(&vr->vq, &v->elem)) > 0) {
		tx_one(v, &v->elem);
		virtq_push(&vr->vq, v->elem.head, 0);
		pushed = true;
	}
	if (r < 0)
		vub_vring_error(vr);
	if (pushed)
		vub_vring_notify(vr);
}

/* Fills rx chain e with the next thing owed to the guest from connection k:
 * a control packet, or data read from the host. Bytes used, 0 if nothing. */
static uint32_t rx_from(struct vsock *v, struct vconn *k, struct virtq_elem *e,
			struct vsock_hdr *h)
{
	uint16_t op = vsock_conn_next_owed(&k->c);
	if (op) {
		vsock_conn_fill(&k->c, op, 0, h);
		return VSOCK_HDR_SIZE;
	}
	uint32_t room = vsock_conn_rx_room(&k->c);
	if (!k->readable || !room || k->fd < 0)
		return 0;
	uint64_t space = e->in_len - VSOCK_HDR_SIZE;
	uint32_t want = room < VSOCK_MAX_PAYLOAD ? room : VSOCK_MAX_PAYLOAD;
	if (space < want)
		want = (uint32_t)space;
	int n = iov_slice(e->in, e->in_num, VSOCK_HDR_SIZE, want, v->iov, VIRTQ_ELEM_MAX_IOV);
	if (n <= 0 || want == 0)
		return 0;
	ssize_t got;
	do
		got = readv(k->fd, v->iov, n);
	while (got < 0 && errno == EINTR);
	if (got < 0 && errno == EAGAIN) {
		k->readable = false;
		return 0;
	}
	if (got < 0) {
		host_gone(k);
	} else if (got == 0) {
		k->readable = false;
		vsock_conn_host_eof(&k->c);
	} else {
		vsock_conn_fill(&k->c, VSOCK_OP_RW, (uint32_t)got, h);
		v->b->counters.rx_frames++;
		v->b->counters.rx_bytes += (uint64_t)got;
		return VSOCK_HDR_SIZE + (uint32_t)got;
	}
	/* What that changed is owed now (SHUTDOWN, RST). */
	op = vsock_conn_next_owed(&k->c);
	if (!op)
		return 0;
	vsock_conn_fill(&k->c, op, 0, h);
	return VSOCK_HDR_SIZE;
}

/* What goes into one rx chain: an owed RST first, then the connections in
 * turn. Bytes used, 0 if nothing is owed. */
static uint32_t rx_fill(struct vsock *v, struct virtq_elem *e, struct vsock_hdr *h)
{
	if (v->nrst) {
		const struct vsock_hdr *p = &v->rsts[--v->nrst];
		*h = (struct vsock_hdr){ .src_port = p->dst_port, .dst_port = p->src_port,
					 .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RST };
		return VSOCK_HDR_SIZE;
	}
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vconn *k = &v->conns[(v->rr + i) % VSOCK_MAX_CONNS];
		if (!k->used || k->handshake)
			continue;
		uint32_t len = rx_from(v, k, e, h);
		conn_check(k);
		if (len) {
			v->rr = (v->rr + i + 1) % VSOCK_MAX_CONNS;
			return len;
		}
	}
	return 0;
}

static void rx_run(struct vsock *v)
{
	struct vub_vring *vr = &v->b->vrings[VSOCK_RXQ];
	if (!vub_vring_running(vr))
		return;
	bool pushed = false, had_rsts = v->nrst == VSOCK_MAX_RSTS;
	int r;
	while ((r = virtq_pop(&vr->vq, &v->elem)) > 0) {
		struct virtq_elem *e = &v->elem;
		if (e->out_num || e->in_len < VSOCK_HDR_SIZE) {
			log_ratelimited(LOG_LVL_WARN, "vsock: unusable receive buffer");
			virtq_push(&vr->vq, e->head, 0);
			pushed = true;
			continue;
		}
		struct vsock_hdr h;
		uint32_t len = rx_fill(v, e, &h);
		if (!len) {
			virtq_unpop(&vr->vq);
			break;
		}
		uint8_t raw[VSOCK_HDR_SIZE];
		h.src_cid = VSOCK_HOST_CID;
		h.dst_cid = v->guest_cid;
		vsock_hdr_build(&h, raw);
		iov_from_buf(e->in, e->in_num, 0, raw, sizeof(raw));
		virtq_push(&vr->vq, e->head, len);
		pushed = true;
	}
	if (r < 0)
		vub_vring_error(vr);
	if (pushed)
		vub_vring_notify(vr);
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].used)
			watch(&v->conns[i]);
	if (had_rsts && v->nrst < VSOCK_MAX_RSTS)
		tx_run(v);
}

static void vsock_process(struct vub *b, struct vub_vring *vr)
{
	struct vsock *v = b->dev;
	if (vr->index == VSOCK_TXQ) {
		tx_run(v);
		/* What the guest sent may owe it answers. */
		rx_run(v);
	} else if (vr->index == VSOCK_RXQ) {
		rx_run(v);
	}
	/* The event queue carries only TRANSPORT_RESET, which we never send:
	 * its buffers stay with us. */
}

static int vsock_get_config(struct vub *b, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct vsock *v = b->dev;
	uint8_t cfg[8];
	if ((uint64_t)offset + len > sizeof(cfg))
		return -EINVAL;
	put_le64(cfg, v->guest_cid);
	memcpy(buf, cfg + offset, len);
	return 0;
}

/* A new driver knows no connection: every host side of the old ones ends. */
static void vsock_reset(struct vub *b)
{
	struct vsock *v = b->dev;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].used)
			conn_free(&v->conns[i]);
	v->nrst = 0;
}

static int vsock_setup(struct vub *b)
{
	struct vsock *v = b->dev;
	v->b = b;
	int err = evloop_add(b->loop, v->listen_fd, EPOLLIN, on_accept, v);
	if (err)
		log_err("vsock: watching the host socket: %s", strerror(-err));
	return err;
}

static const struct vub_ops vsock_ops = {
	.name = "vsock",
	.num_queues = 3,
	.max_queue_size = VSOCK_QUEUE_SIZE,
	.get_config = vsock_get_config,
	.process = vsock_process,
	.reset = vsock_reset,
};

struct vsock_args {
	const char *uds_path;
	int uds_fd;
	unsigned long guest_cid;
	unsigned long buf_alloc;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int vsock_opt(void *ctx, int c, const char *arg)
{
	struct vsock_args *a = ctx;
	switch (c) {
	case OPT_GUEST_CID:
		if (cli_parse_uint(arg, VSOCK_MIN_GUEST_CID, VSOCK_MAX_GUEST_CID, &a->guest_cid) < 0) {
			log_err("--guest-cid %s: not a CID from 3 to 4294967294", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_UDS_PATH:
		a->uds_path = arg;
		return 0;
	case OPT_UDS_FD:
		return serve_fd_number("--uds-fd", arg, &a->uds_fd);
	case OPT_BUF_ALLOC:
		if (cli_parse_uint(arg, 4096, 16u << 20, &a->buf_alloc) < 0) {
			log_err("--buf-alloc %s: not a size from 4096 to 16777216", arg);
			return -EINVAL;
		}
		return 0;
	default:
		return -ENOENT;
	}
}

static int vsock_start(void *ctx, const struct serve_opts *o, void *dev, struct serve_device *d)
{
	struct vsock_args *a = ctx;
	struct vsock *v = dev;
	if (!a->guest_cid || !a->uds_path) {
		log_err("--guest-cid N and --uds-path PATH are needed");
		return -EINVAL;
	}
	const char *slash = strrchr(a->uds_path, '/');
	size_t len = strlen(a->uds_path);
	/* Its directory becomes the root: never the host's own. */
	if (a->uds_path[0] != '/' || len >= UNIX_SOCK_PATH_MAX || !slash[1] ||
	    slash == a->uds_path) {
		log_err("--uds-path %s: not an absolute socket path under %zu bytes, in a "
			"directory other than /", a->uds_path, UNIX_SOCK_PATH_MAX);
		return -EINVAL;
	}
	if (a->uds_fd >= 0 && a->uds_fd == o->fd) {
		log_err("--uds-fd and --fd name the same fd");
		return -EINVAL;
	}
	snprintf(a->dir, sizeof(a->dir), "%.*s", (int)(slash - a->uds_path), a->uds_path);
	snprintf(v->name, sizeof(v->name), "%s", slash + 1);
	v->guest_cid = a->guest_cid;
	v->buf_alloc = a->buf_alloc ? (uint32_t)a->buf_alloc : VSOCK_BUF_ALLOC_DEFAULT;
	v->next_port = VSOCK_LOCAL_PORT_FIRST;
	if (a->uds_fd >= 0) {
		int fl = fcntl(a->uds_fd, F_GETFL);
		if (fl < 0 || fcntl(a->uds_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(a->uds_fd, F_SETFD, FD_CLOEXEC) < 0) {
			log_err("--uds-fd %d: %m", a->uds_fd);
			return -EINVAL;
		}
		v->listen_fd = a->uds_fd;
	} else {
		/* A stale socket of an earlier run would make bind fail. */
		struct stat st;
		if (lstat(a->uds_path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(a->uds_path);
		if ((v->listen_fd = unix_listen(a->uds_path, 64, SOCK_NONBLOCK)) < 0) {
			log_err("--uds-path %s: %s", a->uds_path, strerror(-v->listen_fd));
			return v->listen_fd;
		}
	}
	log_info("vsock: guest CID %llu, host socket %s", (unsigned long long)v->guest_cid,
		 a->uds_path);
	*d = (struct serve_device){ .ops = &vsock_ops, .setup = vsock_setup,
				    .confine = { .fds = &v->listen_fd, .nfds = 1,
						 .root_dir = a->dir,
						 /* a socket per connection, and its own */
						 .max_fds = VSOCK_MAX_CONNS + 64 } };
	return 0;
}

static const struct option vsock_longopts[] = {
	SERVE_LONG_OPTIONS,
	{ "guest-cid", required_argument, NULL, OPT_GUEST_CID },
	{ "uds-path", required_argument, NULL, OPT_UDS_PATH },
	{ "uds-fd", required_argument, NULL, OPT_UDS_FD },
	{ "buf-alloc", required_argument, NULL, OPT_BUF_ALLOC },
	{ 0 },
};
static struct vsock_args vsock_args = { .uds_fd = -1 };

const struct serve_program serve_program = {
	.process = "cellvm-vsock",
	.usage = "usage: cellvm-vsock (--socket-path PATH | --fd N) --guest-cid N --uds-path PATH\n"
		 "                    [--uds-fd N] [--buf-alloc BYTES] [options]\n"
		 "virtio-vsock vhost-user backend with Firecracker's hybrid vsock on the host.\n\n"
		 "  --guest-cid N           the guest's CID (3 to 4294967294)\n"
		 "  --uds-path PATH         host clients connect here and write CONNECT <port>;\n"
		 "                          the guest's connections to port P go to PATH_P\n"
		 "                          (an absolute path)\n"
		 "  --uds-fd N              listen on socket N (bound to PATH) instead\n"
		 "  --buf-alloc BYTES       the receive window per connection (default 262144)\n"
		 SERVE_USAGE,
	.caps_type = "vsock",
	.longopts = vsock_longopts,
	.opt = vsock_opt,
	.start = vsock_start,
	.dev_size = sizeof(struct vsock),
	.ctx = &vsock_args,
};
