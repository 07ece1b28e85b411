#include "msg.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

/* Room for a full set of fds plus SCM_CREDENTIALS, so a socket with
 * SO_PASSCRED does not truncate a message that carries MSG_MAX_FDS fds. */
#define RX_CMSG_SPACE \
	(CMSG_SPACE(sizeof(int) * MSG_MAX_FDS) + CMSG_SPACE(sizeof(struct ucred)))
/* The most fds one recvmsg can hand us with that buffer. */
#define RX_MAX_FDS (RX_CMSG_SPACE / sizeof(int))

_Static_assert(RX_MAX_FDS <= MSG_RX_MAX_FDS, "msg_recv_some's fd array is too small");

static void close_all(int *fds, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		close(fds[i]);
	*n = 0;
}

/* Blocks until sock is ready: once part of a message has moved, a
 * non-blocking socket must not leave the stream half way through it. */
int msg_wait(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	for (;;) {
		int n = poll(&p, 1, ms);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

ssize_t msg_recv_some(int sock, void *buf, size_t len, int flags, int *fds, size_t *nfds)
{
	union {
		char buf[RX_CMSG_SPACE];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	*nfds = 0;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *data = CMSG_DATA(c);
		for (size_t i = 0; i < k && *nfds < RX_MAX_FDS; i++)
			memcpy(&fds[(*nfds)++], data + i * sizeof(int), sizeof(int));
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		log_ratelimited(LOG_LVL_WARN, "control data truncated; closing %zu fds", *nfds);
		close_all(fds, nfds);
		return -EMSGSIZE;
	}
	return n;
}

ssize_t msg_send_some(int sock, const struct iovec *iov, size_t iovcnt, int flags,
		      const int *fds, size_t nfds)
{
	if (nfds > MSG_TX_MAX_FDS)
		return -EINVAL;
	union {
		char buf[CMSG_SPACE(sizeof(int) * MSG_TX_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt };
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	while ((n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return n < 0 ? -errno : n;
}

int msg_send(int sock, const void *hdr, size_t hdr_len, const void *payload,
	     size_t payload_len, const int *fds, size_t nfds)
{
	/* fds ride on the header's first byte, so there must be one. */
	if (hdr_len == 0 || nfds > MSG_MAX_FDS)
		return -EINVAL;
	struct iovec iov[2] = {
		{ .iov_base = (void *)hdr, .iov_len = hdr_len },
		{ .iov_base = (void *)payload, .iov_len = payload_len },
	};
	struct iovec *left = iov;
	size_t nleft = payload_len ? 2 : 1;
	bool started = false;
	while (nleft > 0) {
		/* The fds go with the first bytes; the rest is plain bytes. */
		ssize_t n = msg_send_some(sock, left, nleft, 0, started ? NULL : fds,
					  started ? 0 : nfds);
		if (n < 0) {
			if (started && (n == -EAGAIN || n == -EWOULDBLOCK)) {
				int ret = msg_wait(sock, POLLOUT, -1);
				if (ret < 0)
					return ret;
				continue;
			}
			return n == -EPIPE ? -ECONNRESET : (int)n;
		}
		started = true;
		size_t done = (size_t)n;
		while (nleft > 0 && done >= left->iov_len) {
			done -= left->iov_len;
			left++;
			nleft--;
		}
		if (nleft > 0) {
			left->iov_base = (char *)left->iov_base + done;
			left->iov_len -= done;
		}
	}
	return 0;
}

int msg_recv_header(int sock, void *hdr, size_t hdr_len, struct msg_fds *fds,
		    size_t max_fds)
{
	fds->n = 0;
	if (hdr_len == 0 || max_fds > MSG_MAX_FDS)
		return -EINVAL;

	size_t got = 0;
	int ret;
	while (got < hdr_len) {
		struct {
			int fd[MSG_RX_MAX_FDS];
			size_t n;
		} rx;
		ssize_t n = msg_recv_some(sock, (char *)hdr + got, hdr_len - got, 0, rx.fd, &rx.n);
		if (n == -EAGAIN && got > 0) {
			ret = msg_wait(sock, POLLIN, -1);
			if (ret < 0)
				goto fail;
			continue;
		}
		if (n < 0) {
			ret = (int)n;
			goto fail;
		}
		if (rx.n > 0) {
			/* The sender puts every fd on the header's first byte. */
			if (got > 0 || rx.n > max_fds) {
				log_ratelimited(LOG_LVL_WARN, "%zu fds %s", rx.n,
						got > 0 ? "after the first header byte"
							: "over the limit");
				close_all(rx.fd, &rx.n);
				ret = -EBADMSG;
				goto fail;
			}
			memcpy(fds->fd, rx.fd, rx.n * sizeof(int));
			fds->n = rx.n;
		}
		if (n == 0) {
			ret = -ECONNRESET;
			goto fail;
		}
		got += (size_t)n;
	}
	return 0;

fail:
	msg_fds_close(fds);
	return ret;
}

int msg_recv_payload(int sock, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		struct {
			int fd[MSG_RX_MAX_FDS];
			size_t n;
		} rx;
		ssize_t n = msg_recv_some(sock, (char *)buf + got, len - got, 0, rx.fd, &rx.n);
		/* The header has arrived, so the message has started. */
		if (n == -EAGAIN) {
			int ret = msg_wait(sock, POLLIN, -1);
			if (ret < 0)
				return ret;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (rx.n > 0) {
			log_ratelimited(LOG_LVL_WARN, "%zu fds arrived with the payload", rx.n);
			close_all(rx.fd, &rx.n);
			return -EBADMSG;
		}
		if (n == 0)
			return -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

void msg_fds_close(struct msg_fds *fds)
{
	for (size_t i = 0; i < fds->n; i++) {
		if (fds->fd[i] >= 0)
			close(fds->fd[i]);
	}
	fds->n = 0;
}

int msg_fds_take(struct msg_fds *fds, size_t i)
{
	if (i >= fds->n)
		return -1;
	int fd = fds->fd[i];
	fds->fd[i] = -1;
	return fd;
}
