#include "worker_ctl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "msg.h"

void wctl_encode(const struct wctl_msg *m, uint8_t out[WCTL_WIRE_SIZE])
{
	memset(out, 0, WCTL_WIRE_SIZE);
	put_le32(out, (uint32_t)m->type);
	put_le32(out + 4, m->status);
	size_t n = strnlen(m->text, WCTL_TEXT_MAX - 1);
	memcpy(out + 8, m->text, n);
}

int wctl_decode(const uint8_t *buf, size_t len, struct wctl_msg *out)
{
	if (len != WCTL_WIRE_SIZE)
		return -EBADMSG;
	uint32_t type = get_le32(buf), status = get_le32(buf + 4);
	if (type < WCTL_READY || type > WCTL_HUNG)
		return -EBADMSG;
	const char *text = (const char *)buf + 8;
	size_t n = strnlen(text, WCTL_TEXT_MAX);
	if (n == WCTL_TEXT_MAX)
		return -EBADMSG;
	/* Only EXIT, RESUMED and HUNG carry a status, and only EXIT words but for the
	 * messages naming a device; anything else in them is a malformed
	 * message, not something to ignore. */
	bool names = type == WCTL_CONFIG_CHANGED || type == WCTL_BACKEND ||
		     type == WCTL_RESUMED || type == WCTL_HUNG;
	if ((type != WCTL_EXIT && type != WCTL_RESUMED && type != WCTL_HUNG && status != 0) ||
	    (names ? n == 0 : type != WCTL_EXIT && n != 0))
		return -EBADMSG;
	out->type = (enum wctl_type)type;
	out->status = status;
	memset(out->text, 0, sizeof(out->text));
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		out->text[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	return 0;
}

static int send_msg(int sock, enum wctl_type type, uint32_t status, const char *text,
		    const int *fd)
{
	struct wctl_msg m = { .type = type, .status = status };
	if (text)
		snprintf(m.text, sizeof(m.text), "%s", text);
	uint8_t buf[WCTL_WIRE_SIZE];
	wctl_encode(&m, buf);
	if (fd)
		return msg_send(sock, buf, sizeof(buf), NULL, 0, fd, 1);
	ssize_t r;
	do
		r = send(sock, buf, sizeof(buf), MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == (ssize_t)sizeof(buf) ? 0 : -EIO;
}

int wctl_send(int sock, enum wctl_type type, uint32_t status, const char *text)
{
	return send_msg(sock, type, status, text, NULL);
}

int wctl_send_backend(int sock, const char *device, int fd)
{
	return send_msg(sock, WCTL_BACKEND, 0, device, &fd);
}

/* One message; with fd, a BACKEND's one fd goes there. */
static int recv_msg(int sock, struct wctl_msg *out, int *fd)
{
	/* One byte more than a message: a longer packet reads as too long. */
	uint8_t buf[WCTL_WIRE_SIZE + 1];
	int fds[MSG_RX_MAX_FDS];
	size_t nfds;
	if (fd)
		*fd = -1;
	ssize_t r = msg_recv_some(sock, buf, sizeof(buf), 0, fds, &nfds);
	if (r == -EMSGSIZE)
		return -EBADMSG;
	if (r < 0)
		return (int)r;
	struct wctl_msg m;
	int err = r == 0 && !nfds ? -ECONNRESET : wctl_decode(buf, (size_t)r, &m);
	if (!err && nfds != (fd && m.type == WCTL_BACKEND ? 1u : 0u))
		err = -EBADMSG;
	if (!err && nfds) {
		*fd = fds[0];
		nfds = 0;
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	if (!err)
		*out = m;
	return err;
}

int wctl_recv(int sock, struct wctl_msg *out)
{
	return recv_msg(sock, out, NULL);
}

int wctl_recv_fd(int sock, struct wctl_msg *out, int *fd)
{
	return recv_msg(sock, out, fd);
}

const char *wctl_type_name(enum wctl_type type)
{
	switch (type) {
	case WCTL_READY: return "READY";
	case WCTL_RUN: return "RUN";
	case WCTL_EXIT: return "EXIT";
	case WCTL_PING: return "PING";
	case WCTL_PONG: return "PONG";
	case WCTL_CONFIG_CHANGED: return "CONFIG_CHANGED";
	case WCTL_BACKEND: return "BACKEND";
	case WCTL_RESUMED: return "RESUMED";
	case WCTL_HUNG: return "HUNG";
	}
	return "UNKNOWN";
}
