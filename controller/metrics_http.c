#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fds.h"
#include "log.h"
#include "metrics_text.h"
#include "unix_sock.h"

#define BODY_MAX (256u << 10)

/* ------------------------------------------------------------ listening */

static int listen_tcp(const char *addr)
{
	const char *port = addr + strlen("127.0.0.1:");
	unsigned long v;
	if (cli_parse_uint(port, 1, 65535, &v) < 0) {
		log_err("--metrics-listen %s: want a port 1..65535 after 127.0.0.1:", addr);
		return -EINVAL;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = -errno;
		log_err("--metrics-listen %s: socket: %m", addr);
		return err;
	}
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)v),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int err = -errno;
		log_err("--metrics-listen %s: %m", addr);
		close(fd);
		return err;
	}
	return fd;
}

int metrics_http_listen(const char *addr)
{
	if (strncmp(addr, "127.0.0.1:", 10) == 0)
		return listen_tcp(addr);
	if (addr[0] != '/') {
		log_err("--metrics-listen %s: want a socket path (/...) or 127.0.0.1:PORT", addr);
		return -EINVAL;
	}
	struct stat st;
	if (lstat(addr, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(addr);
	mode_t old = umask(0077);
	int fd = unix_listen(addr, 16, SOCK_NONBLOCK);
	umask(old);
	if (fd < 0)
		log_err("--metrics-listen %s: %s", addr, strerror(-fd));
	return fd;
}

/* ------------------------------------------------------------ serving */

struct hconn {
	struct metrics_http *h;
	int fd;                  /* -1: free, or closed while metrics come */
	bool used;
	bool waiting;            /* for server_metrics' done */
	char req[HTTP_REQ_MAX];
	size_t len;
	char *out;               /* the answer, out_len bytes, out_off written */
	size_t out_len, out_off;
	struct evloop_timer timer;
};

struct metrics_http {
	struct evloop *loop;
	int listen_fd;
	struct server *server;
	struct hconn conn[HTTP_MAX_CONNS];
};

static void conn_close(struct hconn *c)
{
	evloop_timer_cancel(&c->timer);
	if (c->fd >= 0) {
		evloop_del(c->h->loop, c->fd);
		close_fd(&c->fd);
	}
	free(c->out);
	c->out = NULL;
	/* Its snapshot may still come: the slot is free once it has. */
	c->used = c->waiting;
}

static void on_writable(void *opaque, uint32_t events)
{
	struct hconn *c = opaque;
	(void)events;
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	conn_close(c);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Bad Request";
	}
}

/* Answers with status and body (NULL: the reason as the body). */
static void respond(struct hconn *c, int status, const char *body, size_t blen)
{
	char head[256];
	if (!body) {
		body = reason(status);
		blen = strlen(body);
	}
	int hn = snprintf(head, sizeof(head),
			  "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Connection: close\r\n\r\n", status, reason(status),
			  status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
			  blen);
	free(c->out);
	c->out = malloc((size_t)hn + blen);
	if (!c->out) {
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)hn);
	memcpy(c->out + hn, body, blen);
	c->out_len = (size_t)hn + blen;
	c->out_off = 0;
	evloop_del(c->h->loop, c->fd);
	if (evloop_add(c->h->loop, c->fd, EPOLLOUT, on_writable, c) < 0) {
		close_fd(&c->fd); /* not in the loop any more */
		conn_close(c);
		return;
	}
	on_writable(c, EPOLLOUT);
}

static void on_snapshot(void *opaque, const struct metrics_snapshot *s)
{
	struct hconn *c = opaque;
	c->waiting = false;
	if (c->fd < 0) {
		c->used = false; /* it timed out meanwhile */
		return;
	}
	char *text = malloc(BODY_MAX);
	int n = text ? metrics_prometheus(s, text, BODY_MAX) : -ENOMEM;
	if (n < 0)
		respond(c, 503, NULL, 0);
	else
		respond(c, 200, text, (size_t)n);
	free(text);
}

static void on_readable(void *opaque, uint32_t events)
{
	struct hconn *c = opaque;
	(void)events;
	ssize_t n = read(c->fd, c->req + c->len, sizeof(c->req) - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	int status = http_metrics_request(c->req, c->len);
	if (status == 0)
		return;
	/* One request: nothing more is read. */
	if (evloop_mod(c->h->loop, c->fd, 0) < 0) {
		conn_close(c);
		return;
	}
	if (status != 200) {
		respond(c, status, NULL, 0);
		return;
	}
	c->waiting = true;
	if (server_metrics(c->h->server, on_snapshot, c) < 0) {
		c->waiting = false;
		respond(c, 503, NULL, 0);
	}
}

static void on_timeout(void *opaque)
{
	struct hconn *c = opaque;
	log_ratelimited(LOG_LVL_WARN, "--metrics-listen: a scrape took longer than %u ms: closed",
			HTTP_TIMEOUT_MS);
	conn_close(c);
}

/* A conn's own handlers, before its fd is set. */
static int conn_start(struct hconn *c, int fd)
{
	c->fd = fd;
	c->len = 0;
	c->out = NULL;
	c->used = true;
	int err = evloop_add(c->h->loop, fd, EPOLLIN, on_readable, c);
	if (err < 0) {
		c->fd = -1;
		c->used = false;
		return err;
	}
	evloop_timer_arm(c->h->loop, &c->timer, HTTP_TIMEOUT_MS);
	return 0;
}

static void on_accept(void *opaque, uint32_t events)
{
	struct metrics_http *h = opaque;
	(void)events;
	int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_ratelimited(LOG_LVL_WARN, "--metrics-listen: accept: %m");
		return;
	}
	for (size_t i = 0; i < HTTP_MAX_CONNS; i++)
		if (!h->conn[i].used && conn_start(&h->conn[i], fd) == 0)
			return;
	log_ratelimited(LOG_LVL_WARN, "--metrics-listen: %d scrapes at once: one more closed",
			HTTP_MAX_CONNS);
	close(fd);
}

int metrics_http_create(struct metrics_http **out, struct evloop *loop, int listen_fd,
			struct server *s)
{
	struct metrics_http *h = calloc(1, sizeof(*h));
	if (!h) {
		close(listen_fd);
		return -ENOMEM;
	}
	*h = (struct metrics_http){ .loop = loop, .listen_fd = listen_fd, .server = s };
	for (size_t i = 0; i < HTTP_MAX_CONNS; i++) {
		h->conn[i] = (struct hconn){ .h = h, .fd = -1 };
		evloop_timer_init(&h->conn[i].timer, on_timeout, &h->conn[i]);
	}
	int err = evloop_add(loop, listen_fd, EPOLLIN, on_accept, h);
	if (err < 0) {
		close(listen_fd);
		free(h);
		return err;
	}
	*out = h;
	return 0;
}

void metrics_http_destroy(struct metrics_http *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < HTTP_MAX_CONNS; i++)
		if (h->conn[i].fd >= 0)
			conn_close(&h->conn[i]);
	evloop_del(h->loop, h->listen_fd);
	close(h->listen_fd);
	free(h);
}
