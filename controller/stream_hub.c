/* The console hub of stream_hub.h: one device socket, a ring of its recent
 * output, and up to STREAM_HUB_MAX_CLIENTS client sockets, each sent from its
 * own offset into the ring. */
#include "stream_hub.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "byte_ring.h"
#include "log.h"

#define HUB_CHUNK 4096   /* one read from the device or a client */
#define HUB_DEV_READS 16 /* device reads per wake-up, so clients get their turn */
#define HUB_NOTE_MAX 64  /* "\r\n[cellvm: <u64> bytes dropped]\r\n" */

struct hub_client {
	struct stream_hub *hub;
	int fd;                  /* -1: a free slot */
	unsigned id;             /* names the client in logs */
	uint32_t watched;        /* events fd is watched for */
	uint64_t pos;            /* stream offset of the next output byte to send */
	uint64_t dropped;        /* output bytes skipped, not announced yet */
	char note[HUB_NOTE_MAX]; /* the "bytes dropped" line being sent */
	size_t note_len, note_off;
	/* Output waits for EPOLLOUT: its socket was full, or it has just been
	 * attached and the backlog goes out from the loop, not from attach. */
	bool wait_out;
	bool out_done; /* the device is gone and all output sent: write side shut */
	bool in_eof;   /* it shut its sending side */
};

struct stream_hub {
	struct evloop *loop;
	char name[16];
	int dev_fd;          /* -1 once the device closed its output */
	uint32_t dev_watched;
	bool dev_no_input;   /* the device takes no more input */
	struct byte_ring ring;
	/* Client input the device has not taken yet. Clients are read only
	 * while it is empty, so input waits in their sockets instead. */
	uint8_t in[HUB_CHUNK];
	size_t in_off, in_len;
	unsigned nclients;
	unsigned next_id;
	struct hub_client client[STREAM_HUB_MAX_CLIENTS];
};

static void dev_gone(struct stream_hub *h, const char *what, int err);

/* ---------------------------------------------------------------- fds */

/* A connected stream socket the hub may own: made non-blocking and
 * close-on-exec. */
static int take_socket(int fd)
{
	int type;
	socklen_t len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (type != SOCK_STREAM)
		return -EPROTOTYPE;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	int fdfl = fcntl(fd, F_GETFD);
	if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* ---------------------------------------------------------------- clients */

static void client_close(struct stream_hub *h, struct hub_client *c)
{
	/* Cannot fail: the fd is in the loop from attach until here. */
	evloop_del(h->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	h->nclients--;
}

static void client_drop(struct stream_hub *h, struct hub_client *c, const char *why, int err)
{
	if (err)
		log_ratelimited(LOG_LVL_INFO, "%s: client %u %s: %s; detached", h->name, c->id,
				why, strerror(-err));
	else
		log_ratelimited(LOG_LVL_INFO, "%s: client %u %s; detached", h->name, c->id, why);
	client_close(h, c);
}

static uint32_t client_events(const struct stream_hub *h, const struct hub_client *c)
{
	uint32_t ev = 0;
	if (!c->in_eof && h->in_len == 0)
		ev |= EPOLLIN;
	if (c->wait_out)
		ev |= EPOLLOUT;
	return ev;
}

/* Returns false if the client was dropped. */
static bool client_watch(struct stream_hub *h, struct hub_client *c)
{
	uint32_t ev = client_events(h, c);
	if (ev == c->watched)
		return true;
	int err = evloop_mod(h->loop, c->fd, ev);
	if (err < 0) {
		client_drop(h, c, "cannot be watched", err);
		return false;
	}
	c->watched = ev;
	return true;
}

static void clients_watch(struct stream_hub *h)
{
	for (size_t i = 0; i < STREAM_HUB_MAX_CLIENTS; i++)
		if (h->client[i].fd >= 0)
			client_watch(h, &h->client[i]);
}

/* Catches the client up with the ring: lost bytes become a note, which goes
 * out before the rest. Returns the number of iovecs to send. */
static int client_pending(struct stream_hub *h, struct hub_client *c, struct iovec iov[3])
{
	uint64_t oldest = byte_ring_oldest(&h->ring);
	if (c->pos < oldest) {
		c->dropped += oldest - c->pos;
		c->pos = oldest;
	}
	/* A loss while a note is still on its way gets a note of its own. */
	if (c->dropped && c->note_off == c->note_len) {
		int n = snprintf(c->note, sizeof(c->note),
				 "\r\n[cellvm: %" PRIu64 " bytes dropped]\r\n", c->dropped);
		c->note_len = (size_t)n;
		c->note_off = 0;
		c->dropped = 0;
	}
	int cnt = 0;
	if (c->note_off < c->note_len)
		iov[cnt++] = (struct iovec){ .iov_base = c->note + c->note_off,
					     .iov_len = c->note_len - c->note_off };
	return cnt + byte_ring_peek(&h->ring, c->pos, iov + cnt);
}

/* Sends the client everything it has not had, as far as its socket takes it;
 * once the device is gone and all is sent, shuts the client's write side.
 * Returns false if the client was dropped. */
static bool client_flush(struct stream_hub *h, struct hub_client *c)
{
	struct iovec iov[3];
	int cnt;
	c->wait_out = false;
	while (!c->out_done && (cnt = client_pending(h, c, iov)) > 0) {
		size_t want = 0;
		for (int i = 0; i < cnt; i++)
			want += iov[i].iov_len;
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			client_drop(h, c, "write failed", -errno);
			return false;
		}
		size_t sent = n > 0 ? (size_t)n : 0;
		size_t note = c->note_len - c->note_off;
		size_t from_note = sent < note ? sent : note;
		c->note_off += from_note;
		c->pos += sent - from_note;
		if (sent < want) {
			c->wait_out = true;
			break;
		}
	}
	if (!c->wait_out && !c->out_done && h->dev_fd < 0) {
		if (shutdown(c->fd, SHUT_WR) < 0) {
			client_drop(h, c, "shutdown failed", -errno);
			return false;
		}
		c->out_done = true;
	}
	return client_watch(h, c);
}

/* New device output: clients whose sockets are not known to be full. */
static void clients_flush(struct stream_hub *h)
{
	for (size_t i = 0; i < STREAM_HUB_MAX_CLIENTS; i++) {
		struct hub_client *c = &h->client[i];
		if (c->fd >= 0 && !c->wait_out)
			client_flush(h, c);
	}
}

/* ---------------------------------------------------------------- device */

static uint32_t dev_events(const struct stream_hub *h)
{
	return EPOLLIN | (h->in_len ? EPOLLOUT : 0);
}

static void dev_watch(struct stream_hub *h)
{
	uint32_t ev = dev_events(h);
	if (ev == h->dev_watched)
		return;
	int err = evloop_mod(h->loop, h->dev_fd, ev);
	if (err < 0) {
		dev_gone(h, "cannot be watched", err);
		return;
	}
	h->dev_watched = ev;
}

static void discard_input(struct stream_hub *h)
{
	size_t left = h->in_len - h->in_off;
	if (left)
		log_warn("%s: %zu bytes of client input not delivered", h->name, left);
	h->in_off = h->in_len = 0;
}

/* The device closed its output, or failed: the guest side is over. */
static void dev_gone(struct stream_hub *h, const char *what, int err)
{
	if (err)
		log_warn("%s: guest side %s: %s; clients get the output so far, then EOF", h->name,
			 what, strerror(-err));
	else
		log_info("%s: guest side %s; clients get the output so far, then EOF", h->name,
			 what);
	discard_input(h);
	h->dev_no_input = true;
	evloop_del(h->loop, h->dev_fd);
	close(h->dev_fd);
	h->dev_fd = -1;
	for (size_t i = 0; i < STREAM_HUB_MAX_CLIENTS; i++)
		if (h->client[i].fd >= 0)
			client_flush(h, &h->client[i]);
}

/* Passes pending input on; while the device cannot take it all, clients are
 * not read. */
static void dev_write(struct stream_hub *h)
{
	while (h->in_off < h->in_len) {
		ssize_t n = send(h->dev_fd, h->in + h->in_off, h->in_len - h->in_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			/* Its output may still be coming: keep reading that. */
			log_warn("%s: writing to the guest side: %m; input discarded from now on",
				 h->name);
			h->dev_no_input = true;
			discard_input(h);
			break;
		}
		h->in_off += (size_t)n;
	}
	if (h->in_off == h->in_len)
		h->in_off = h->in_len = 0;
	dev_watch(h);
	clients_watch(h);
}

static void dev_read(struct stream_hub *h)
{
	uint8_t buf[HUB_CHUNK];
	for (int i = 0; i < HUB_DEV_READS; i++) {
		ssize_t n = read(h->dev_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			dev_gone(h, n == 0 ? "closed" : "read failed", n == 0 ? 0 : -errno);
			return;
		}
		byte_ring_write(&h->ring, buf, (size_t)n);
		clients_flush(h);
	}
}

static void on_dev(void *opaque, uint32_t events)
{
	struct stream_hub *h = opaque;
	/* Output first: a device that hung up may have left its last words. */
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		dev_read(h);
		if (h->dev_fd < 0)
			return;
	}
	if (events & EPOLLOUT)
		dev_write(h);
}

/* ---------------------------------------------------------------- client I/O */

/* One read of client input, passed on to the device. Returns -1 if the client
 * was dropped, 0 at EOF or when nothing was there, 1 after taking bytes. */
static int client_read(struct stream_hub *h, struct hub_client *c)
{
	ssize_t n = read(c->fd, h->in, sizeof(h->in));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0) {
		client_drop(h, c, "read failed", -errno);
		return -1;
	}
	if (n == 0) {
		c->in_eof = true;
		return 0;
	}
	if (h->dev_no_input) {
		log_ratelimited(LOG_LVL_INFO,
				"%s: guest side takes no input; %zd bytes from client %u discarded",
				h->name, n, c->id);
		return 1;
	}
	h->in_off = 0;
	h->in_len = (size_t)n;
	dev_write(h);
	return c->fd >= 0 ? 1 : -1;
}

/* A client that hung up is dropped; say what it sent that the guest never
 * took. */
static void client_hangup(struct stream_hub *h, struct hub_client *c)
{
	int unread = 0;
	if (!c->in_eof && ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0)
		log_ratelimited(LOG_LVL_WARN,
				"%s: client %u hung up; %d bytes of its input the guest did not "
				"take are discarded",
				h->name, c->id, unread);
	client_drop(h, c, "hung up", 0);
}

static void on_client(void *opaque, uint32_t events)
{
	struct hub_client *c = opaque;
	struct stream_hub *h = c->hub;
	if (events & EPOLLERR) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		client_drop(h, c, "socket error", -err);
		return;
	}
	/* Input it sent before hanging up still counts: read it first. The
	 * hang-up keeps being reported, so the rest comes on the next round. */
	if ((events & (EPOLLIN | EPOLLHUP)) && !c->in_eof && h->in_len == 0) {
		int r = client_read(h, c);
		if (r < 0 || (r > 0 && (events & EPOLLHUP)))
			return;
	}
	if (events & EPOLLHUP) {
		client_hangup(h, c);
		return;
	}
	if ((events & EPOLLOUT) && !client_flush(h, c))
		return;
	client_watch(h, c);
}

/* ---------------------------------------------------------------- API */

int stream_hub_create(struct stream_hub **out, struct evloop *loop, int dev_fd,
		       const char *name, size_t backlog)
{
	int err = take_socket(dev_fd);
	if (err < 0)
		return err;
	struct stream_hub *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	err = byte_ring_init(&h->ring, backlog);
	if (err < 0)
		goto err_free;
	h->loop = loop;
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->dev_fd = dev_fd;
	h->dev_watched = dev_events(h);
	for (size_t i = 0; i < STREAM_HUB_MAX_CLIENTS; i++)
		h->client[i].fd = -1;
	err = evloop_add(loop, dev_fd, h->dev_watched, on_dev, h);
	if (err < 0)
		goto err_ring;
	*out = h;
	return 0;

err_ring:
	byte_ring_destroy(&h->ring);
err_free:
	free(h);
	return err;
}

int stream_hub_attach(struct stream_hub *h, int client_fd)
{
	if (h->nclients == STREAM_HUB_MAX_CLIENTS)
		return -EMFILE;
	int err = take_socket(client_fd);
	if (err < 0)
		return err;
	struct hub_client *c = h->client;
	while (c->fd >= 0)
		c++;
	*c = (struct hub_client){
		.hub = h,
		.fd = client_fd,
		.id = ++h->next_id,
		.pos = byte_ring_oldest(&h->ring),
		.wait_out = true,
	};
	c->watched = client_events(h, c);
	err = evloop_add(h->loop, client_fd, c->watched, on_client, c);
	if (err < 0) {
		c->fd = -1;
		return err;
	}
	h->nclients++;
	return 0;
}

void stream_hub_destroy(struct stream_hub *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < STREAM_HUB_MAX_CLIENTS; i++)
		if (h->client[i].fd >= 0)
			client_close(h, &h->client[i]);
	if (h->dev_fd >= 0) {
		evloop_del(h->loop, h->dev_fd);
		close(h->dev_fd);
	}
	byte_ring_destroy(&h->ring);
	free(h);
}
