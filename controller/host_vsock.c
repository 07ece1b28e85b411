#include "host_vsock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errf.h"
#include "lifecycle.h"
#include "log.h"
#include "vsock_hybrid.h"

struct shake {
	struct host_vsock *h;
	int fd; /* -1: a free slot */
	uint32_t guest_port;
	uint8_t line[VSOCK_OK_MAX];
	size_t len;
	struct evloop_timer timer;
	host_vsock_done done;
	void *opaque;
};

struct host_vsock {
	struct evloop *loop;
	const struct gate *gate;
	struct shake shakes[HOST_VSOCK_MAX];
};

int host_vsock_create(struct host_vsock **out, struct evloop *loop, const struct gate *gate)
{
	struct host_vsock *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->gate = gate;
	for (size_t i = 0; i < HOST_VSOCK_MAX; i++)
		h->shakes[i].fd = -1;
	*out = h;
	return 0;
}

static void drop(struct shake *k)
{
	evloop_timer_cancel(&k->timer);
	evloop_del(k->h->loop, k->fd);
	close(k->fd);
	k->fd = -1;
}

void host_vsock_destroy(struct host_vsock *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < HOST_VSOCK_MAX; i++)
		if (h->shakes[i].fd >= 0)
			drop(&h->shakes[i]);
	free(h);
}

/* Ends k with its answer; the slot is free before done runs, so done may
 * start another handshake. */
static void finish(struct shake *k, int code, const char *message, uint32_t host_port)
{
	host_vsock_done done = k->done;
	void *opaque = k->opaque;
	int fd = -1;
	evloop_timer_cancel(&k->timer);
	evloop_del(k->h->loop, k->fd);
	if (code)
		close(k->fd);
	else
		fd = k->fd;
	k->fd = -1;
	done(opaque, code, message, fd, host_port);
}

static void fail(struct shake *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct shake *k, const char *fmt, ...)
{
	char msg[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	finish(k, LC_ERR_FAILED_SERVICE_CONNECT, msg, 0);
}

static void on_timeout(void *opaque)
{
	struct shake *k = opaque;
	fail(k, "guest port %u: no answer within %u ms", k->guest_port, HOST_VSOCK_ANSWER_MS);
}

/* A byte at a time: what follows the OK line is the client's stream. */
static void on_readable(void *opaque, uint32_t events)
{
	struct shake *k = opaque;
	(void)events;
	for (;;) {
		ssize_t n = read(k->fd, k->line + k->len, 1);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* The device hangs up when nobody listens in the guest,
			 * or the guest does not answer. */
			fail(k, "guest port %u: %s", k->guest_port,
			     n == 0 ? "refused (nobody listens there, or the guest did not answer)"
				    : strerror(errno));
			return;
		}
		k->len++;
		uint32_t host_port;
		int r = vsock_ok_parse(k->line, k->len, &host_port);
		if (r < 0) {
			log_ratelimited(LOG_LVL_WARN,
					"guest port %u: the vsock device's answer is not an OK line",
					k->guest_port);
			fail(k, "guest port %u: the device answered with something else",
			     k->guest_port);
			return;
		}
		if (r > 0) {
			finish(k, 0, NULL, host_port);
			return;
		}
	}
}

int host_vsock_connect(struct host_vsock *h, const char *uds_path, uint32_t guest_port,
		       host_vsock_done done, void *opaque, char *message, size_t len)
{
	struct shake *k = NULL;
	for (size_t i = 0; i < HOST_VSOCK_MAX && !k; i++)
		if (h->shakes[i].fd < 0)
			k = &h->shakes[i];
	if (!k)
		return errf(message, len, LC_ERR_INTERNAL_ERROR,
			    "%u vsock connections are being made: try again", HOST_VSOCK_MAX);
	int fd, code = gate_connect_now(h->gate, "vsock.uds_path", uds_path,
					LC_ERR_FAILED_SERVICE_CONNECT, &fd, message, len);
	if (code)
		return code;
	char line[VSOCK_CONNECT_MAX + 1];
	size_t n = vsock_connect_format(guest_port, line);
	/* A fresh connection's buffer takes these few bytes whole. */
	ssize_t w = send(fd, line, n, MSG_NOSIGNAL);
	if (w != (ssize_t)n) {
		code = errf(message, len, LC_ERR_FAILED_SERVICE_CONNECT,
			    "vsock.uds_path: the device did not take the CONNECT line: %s",
			    w < 0 ? strerror(errno) : "short write");
		close(fd);
		return code;
	}
	*k = (struct shake){ .h = h, .fd = fd, .guest_port = guest_port, .done = done,
			     .opaque = opaque };
	int err = evloop_add(h->loop, fd, EPOLLIN, on_readable, k);
	if (err < 0) {
		close(fd);
		k->fd = -1;
		return errf(message, len, LC_ERR_INTERNAL_ERROR, "event loop: %s", strerror(-err));
	}
	evloop_timer_init(&k->timer, on_timeout, k);
	evloop_timer_arm(h->loop, &k->timer, HOST_VSOCK_ANSWER_MS);
	return 0;
}
