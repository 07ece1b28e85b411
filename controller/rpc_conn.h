/* Framed RPC I/O on a connected AF_UNIX SOCK_STREAM socket (docs/rpc.md,
 * "Wire format"): a u32 little-endian body length, the body, and at most
 * RPC_MAX_FDS fds by SCM_RIGHTS on the prefix's first byte.
 *
 * For the server, a non-blocking reader and a bounded writer that never
 * block, so one slow or hostile client cannot stall the controller; for
 * clients (cellvmctl, cellvm run, tests), blocking send and receive of one
 * whole frame (through common/msg.c). The reader and writer log nothing:
 * the server decides what an error means (drop that client). Errors are
 * -errno values; on an error no fd received is left open. */
#ifndef CELLVM_RPC_CONN_H
#define CELLVM_RPC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.h"

/* ------------------------------------------------------------ reading */

/* An incremental reader: reads the 4-byte prefix exactly, then exactly the
 * body, never past the current message, so the next message's fds stay in
 * the socket until its own prefix is read. About 64 KiB: allocate it. */
struct rpc_reader {
	uint8_t hdr[4];
	size_t hdr_have;
	uint32_t body_len;
	size_t body_have;
	char body[RPC_MAX_BODY + 1];
	int fds[RPC_MAX_FDS];
	size_t nfds;
};

void rpc_reader_init(struct rpc_reader *r);

/* Reads what the socket has, without blocking (MSG_DONTWAIT, fds received
 * close-on-exec). Returns
 *   1  a whole message: r->body[0..r->body_len), NUL-terminated, with its fds
 *      in r->fds[0..r->nfds); the reader holds it (further calls return 1 and
 *      read nothing) until rpc_reader_next()
 *   0  more bytes are needed (the socket would block)
 *   -ECONNRESET  EOF, between messages too
 *   -EMSGSIZE    a prefix of 0 or more than RPC_MAX_BODY
 *   -EBADMSG     fds after a prefix's first read, more than RPC_MAX_FDS fds,
 *                or control data truncated
 *   other -errno from recvmsg.
 * On an error every fd the reader holds is closed; the connection is then
 * out of step and should be closed. */
int rpc_reader_feed(struct rpc_reader *r, int sock);

/* Forgets the delivered message. It does not close r->fds: the caller must
 * have taken or closed each of them; r->fds is cleared. */
void rpc_reader_next(struct rpc_reader *r);

/* Closes every fd the reader holds and goes back to the initial state. */
void rpc_reader_reset(struct rpc_reader *r);

/* ------------------------------------------------------------ writing */

/* The most queued frames that carry fds: the fds are duplicates the writer
 * holds until sent, and a client that does not read must not make the
 * server hold many. */
#define RPC_WRITER_MAX_FD_FRAMES 4

/* A bounded queue of outgoing frames for a non-blocking server socket. Each
 * frame's fds go out with that frame's first byte, never with another's. */
struct rpc_writer {
	uint8_t *buf;  /* queued frames; buf[off..len) not yet sent */
	size_t off, len, cap;
	size_t limit;  /* the most unsent bytes queued at once */
	struct rpc_writer_fds {
		size_t at; /* offset in buf of the frame's first byte */
		size_t n;
		int fd[RPC_MAX_FDS];
	} fds[RPC_WRITER_MAX_FD_FRAMES]; /* in buffer order */
	size_t nfds;   /* entries of fds[] in use */
};

/* An empty writer that queues at most `limit` unsent bytes (a frame longer
 * than limit never fits). */
void rpc_writer_init(struct rpc_writer *w, size_t limit);

/* Queues one whole frame (from an rpc_encode_*()) with nfds fds, which the
 * writer duplicates (the caller keeps its own). Sends nothing: call
 * rpc_writer_flush() next. Returns 0; -ENOBUFS when the frame would take the
 * queue past its limit or past RPC_WRITER_MAX_FD_FRAMES frames with fds
 * (nothing queued: a client that does not read is dropped); -EINVAL for a
 * frame whose prefix does not match len or nfds > RPC_MAX_FDS; -ENOMEM, or
 * -errno from dup (nothing queued). */
int rpc_writer_queue(struct rpc_writer *w, const uint8_t *frame, size_t len, const int *fds,
		     size_t nfds);

/* Sends what the socket takes, without blocking. Returns 0 when the queue is
 * empty, 1 when bytes remain (wait for EPOLLOUT and call again), -ECONNRESET
 * when the peer is gone, or another -errno from sendmsg. */
int rpc_writer_flush(struct rpc_writer *w, int sock);

/* True while queued bytes wait to be sent. */
bool rpc_writer_pending(const struct rpc_writer *w);

/* Frees the queue and closes the fds not yet sent. Safe twice. */
void rpc_writer_free(struct rpc_writer *w);

/* ------------------------------------------------------------ blocking clients */

/* Sends one whole frame (from an rpc_encode_*()) with nfds <= RPC_MAX_FDS
 * fds on the prefix's first byte, by msg_send(). Does not take the fds.
 * -EINVAL for a frame whose prefix does not match len. */
int rpc_send_frame(int sock, const uint8_t *frame, size_t len, const int *fds, size_t nfds);

/* Receives one whole message: the body malloc'd into *body (NUL-terminated,
 * the caller frees it) and its length in *len; the fds that came with the
 * prefix into fds[0..*nfds) (the caller owns them). Errors: -ECONNRESET on
 * EOF; -EMSGSIZE for a bad prefix or truncated control data; -EBADMSG for
 * fds after the prefix or more than max_fds of them; -EINVAL for max_fds >
 * RPC_MAX_FDS; -EAGAIN on a non-blocking socket with nothing to read;
 * -ENOMEM; other -errno. On error nothing is allocated and no fd is open. */
int rpc_recv_frame(int sock, char **body, size_t *len, int *fds, size_t max_fds, size_t *nfds);

#endif
