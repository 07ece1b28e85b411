#include "rpc_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "msg.h"

static void close_fds(int *fds, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		close(fds[i]);
		fds[i] = -1;
	}
	*n = 0;
}

/* A frame an rpc_encode_*() made: a valid prefix that matches len. */
static bool frame_ok(const uint8_t *frame, size_t len)
{
	uint32_t body;
	return len > 4 && rpc_frame_length(frame, &body) == 0 && body == len - 4;
}

/* ------------------------------------------------------------ reading */

void rpc_reader_init(struct rpc_reader *r)
{
	r->hdr_have = 0;
	r->body_len = 0;
	r->body_have = 0;
	for (size_t i = 0; i < RPC_MAX_FDS; i++)
		r->fds[i] = -1;
	r->nfds = 0;
}

int rpc_reader_feed(struct rpc_reader *r, int sock)
{
	int ret;
	for (;;) {
		if (r->hdr_have == 4 && r->body_have == r->body_len)
			return 1; /* delivered, not yet taken */
		bool in_hdr = r->hdr_have < 4;
		/* Exactly the rest of the prefix, or of the body: never the next
		 * message's bytes, so never its fds. */
		void *dst = in_hdr ? (void *)(r->hdr + r->hdr_have) : r->body + r->body_have;
		size_t want = in_hdr ? 4 - r->hdr_have : r->body_len - r->body_have;
		struct {
			int fd[MSG_RX_MAX_FDS];
			size_t n;
		} rx;
		ssize_t n = msg_recv_some(sock, dst, want, MSG_DONTWAIT, rx.fd, &rx.n);
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return 0;
		if (n < 0) {
			/* Truncated control data: more fds than any message takes. */
			ret = n == -EMSGSIZE ? -EBADMSG : (int)n;
			goto fail;
		}
		if (rx.n > 0) {
			if (!in_hdr || r->hdr_have > 0 || rx.n > RPC_MAX_FDS) {
				close_fds(rx.fd, &rx.n);
				ret = -EBADMSG;
				goto fail;
			}
			memcpy(r->fds, rx.fd, rx.n * sizeof(int));
			r->nfds = rx.n;
		}
		if (n == 0) {
			ret = -ECONNRESET;
			goto fail;
		}
		if (in_hdr) {
			r->hdr_have += (size_t)n;
			if (r->hdr_have == 4 && (ret = rpc_frame_length(r->hdr, &r->body_len)))
				goto fail;
		} else {
			r->body_have += (size_t)n;
			if (r->body_have == r->body_len)
				r->body[r->body_len] = '\0';
		}
	}
fail:
	rpc_reader_reset(r);
	return ret;
}

void rpc_reader_next(struct rpc_reader *r)
{
	rpc_reader_init(r);
}

void rpc_reader_reset(struct rpc_reader *r)
{
	close_fds(r->fds, &r->nfds);
	rpc_reader_init(r);
}

/* ------------------------------------------------------------ writing */

void rpc_writer_init(struct rpc_writer *w, size_t limit)
{
	*w = (struct rpc_writer){ .limit = limit };
}

/* Moves the unsent bytes to the front of the buffer. */
static void compact(struct rpc_writer *w)
{
	memmove(w->buf, w->buf + w->off, w->len - w->off);
	for (size_t i = 0; i < w->nfds; i++)
		w->fds[i].at -= w->off;
	w->len -= w->off;
	w->off = 0;
}

int rpc_writer_queue(struct rpc_writer *w, const uint8_t *frame, size_t len, const int *fds,
		     size_t nfds)
{
	if (!frame_ok(frame, len) || nfds > RPC_MAX_FDS)
		return -EINVAL;
	size_t queued = w->len - w->off;
	if (len > w->limit - queued || (nfds && w->nfds == RPC_WRITER_MAX_FD_FRAMES))
		return -ENOBUFS;
	if (len > w->cap - w->len && w->off)
		compact(w);
	if (len > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap < w->len + len)
			cap *= 2;
		if (cap > w->limit)
			cap = w->limit; /* >= w->len + len, checked above */
		uint8_t *buf = realloc(w->buf, cap);
		if (!buf)
			return -ENOMEM;
		w->buf = buf;
		w->cap = cap;
	}
	if (nfds) {
		struct rpc_writer_fds *f = &w->fds[w->nfds];
		for (f->n = 0; f->n < nfds; f->n++) {
			f->fd[f->n] = fcntl(fds[f->n], F_DUPFD_CLOEXEC, 0);
			if (f->fd[f->n] < 0) {
				int ret = -errno;
				close_fds(f->fd, &f->n);
				return ret;
			}
		}
		f->at = w->len;
		w->nfds++;
	}
	memcpy(w->buf + w->len, frame, len);
	w->len += len;
	return 0;
}

int rpc_writer_flush(struct rpc_writer *w, int sock)
{
	while (w->off < w->len) {
		/* One sendmsg carries at most one frame's fds, starting at that
		 * frame's first byte, and stops before the next frame with fds. */
		struct rpc_writer_fds *f = w->nfds ? &w->fds[0] : NULL;
		bool attach = f && f->at == w->off;
		size_t end = w->len;
		if (attach && w->nfds > 1)
			end = w->fds[1].at;
		else if (f && !attach)
			end = f->at;

		union {
			char buf[CMSG_SPACE(sizeof(int) * RPC_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = w->buf + w->off, .iov_len = end - w->off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (attach) {
			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * f->n);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * f->n);
			memcpy(CMSG_DATA(c), f->fd, sizeof(int) * f->n);
		}
		ssize_t n;
		do {
			n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		if (attach) {
			/* They went with the first byte; the peer has its own copies. */
			close_fds(f->fd, &f->n);
			memmove(&w->fds[0], &w->fds[1], (w->nfds - 1) * sizeof(w->fds[0]));
			w->nfds--;
		}
		w->off += (size_t)n;
	}
	w->off = w->len = 0;
	return 0;
}

bool rpc_writer_pending(const struct rpc_writer *w)
{
	return w->off < w->len;
}

void rpc_writer_free(struct rpc_writer *w)
{
	for (size_t i = 0; i < w->nfds; i++)
		close_fds(w->fds[i].fd, &w->fds[i].n);
	free(w->buf);
	rpc_writer_init(w, w->limit);
}

/* ------------------------------------------------------------ blocking clients */

int rpc_send_frame(int sock, const uint8_t *frame, size_t len, const int *fds, size_t nfds)
{
	if (!frame_ok(frame, len) || nfds > RPC_MAX_FDS)
		return -EINVAL;
	return msg_send(sock, frame, 4, frame + 4, len - 4, fds, nfds);
}

int rpc_recv_frame(int sock, char **body, size_t *len, int *fds, size_t max_fds, size_t *nfds)
{
	if (max_fds > RPC_MAX_FDS)
		return -EINVAL;
	uint8_t hdr[4];
	struct msg_fds got;
	uint32_t n;
	char *b = NULL;
	int ret = msg_recv_header(sock, hdr, sizeof(hdr), &got, max_fds);
	if (ret)
		return ret;
	if ((ret = rpc_frame_length(hdr, &n)))
		goto fail;
	if (!(b = malloc(n + 1))) {
		ret = -ENOMEM;
		goto fail;
	}
	if ((ret = msg_recv_payload(sock, b, n)))
		goto fail;
	b[n] = '\0';
	memcpy(fds, got.fd, got.n * sizeof(int));
	*nfds = got.n;
	*body = b;
	*len = n;
	return 0;

fail:
	free(b);
	msg_fds_close(&got);
	return ret;
}
