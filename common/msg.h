/* Message framing over a connected AF_UNIX SOCK_STREAM socket, with fds
 * passed by SCM_RIGHTS.
 *
 * A message is a fixed-size header, then a payload whose length the caller
 * learns from the header, then nothing else. The sender attaches all fds to
 * the first byte of the header (one sendmsg), so on the receiving side fds
 * may arrive only with the header; fds that arrive with the payload belong to
 * the wrong message and are an error.
 *
 * Every function retries on EINTR and on short reads/writes. On any error
 * every fd received so far has been closed: the caller never owns fds after a
 * failed receive. Errors:
 *   -ECONNRESET  the peer hung up (EOF) — before or in the middle of a message
 *   -EBADMSG     fds arrived with the payload, or more fds than the caller allows
 *   -EMSGSIZE    control data was truncated (MSG_CTRUNC)
 *   -EAGAIN      non-blocking socket with nothing to read before the first byte
 *   other -errno from the socket calls */
#ifndef CELLVM_MSG_H
#define CELLVM_MSG_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The most fds one message may carry (vhost-user's SET_MEM_TABLE needs 8). */
#define MSG_MAX_FDS 16

struct msg_fds {
	int fd[MSG_MAX_FDS];
	size_t n;
};

/* Sends header, payload (may be NULL when payload_len is 0) and nfds fds
 * (nfds <= MSG_MAX_FDS) as one message. Does not take ownership of the fds. */
int msg_send(int sock, const void *hdr, size_t hdr_len, const void *payload,
	     size_t payload_len, const int *fds, size_t nfds);

/* The most fds msg_send_some() attaches: more than any reader here takes,
 * so that a test can send too many. */
#define MSG_TX_MAX_FDS 64

/* One sendmsg of the iovecs with flags (e.g. MSG_DONTWAIT), nfds fds
 * (<= MSG_TX_MAX_FDS) attached to its first byte, never SIGPIPE; retries on
 * EINTR. Returns the bytes sent (perhaps fewer) or -errno. */
ssize_t msg_send_some(int sock, const struct iovec *iov, size_t iovcnt, int flags,
		      const int *fds, size_t nfds);

/* Receives exactly hdr_len bytes and any fds attached to them (at most
 * max_fds <= MSG_MAX_FDS; more is -EBADMSG). On success the caller owns the
 * fds in *fds. */
int msg_recv_header(int sock, void *hdr, size_t hdr_len, struct msg_fds *fds,
		    size_t max_fds);

/* Receives exactly len bytes of payload; any fd arriving here is closed and
 * the call fails with -EBADMSG. */
int msg_recv_payload(int sock, void *buf, size_t len);

/* The most fds msg_recv_some() can hand over from one recvmsg. */
#define MSG_RX_MAX_FDS 32

/* One recvmsg of up to len bytes with flags (e.g. MSG_DONTWAIT), for
 * readers that keep their own framing state. Every SCM_RIGHTS fd that came
 * (close-on-exec) is stored in fds[0..*nfds), room for MSG_RX_MAX_FDS;
 * other control messages are skipped. Returns the byte count (0 on EOF) or
 * -errno; -EMSGSIZE when control data was truncated, after closing the fds
 * that did arrive. Retries on EINTR. */
ssize_t msg_recv_some(int sock, void *buf, size_t len, int flags, int *fds, size_t *nfds);

/* Waits until fd is ready for events (POLLIN, POLLOUT; a hang-up or error
 * counts as ready) or ms pass (-1: no limit), retrying on EINTR. Returns 1
 * ready, 0 timed out, or -errno. */
int msg_wait(int fd, short events, int ms);

/* Closes every fd in *fds and empties it. Safe to call twice. */
void msg_fds_close(struct msg_fds *fds);

/* Moves fd i out of *fds: the caller owns the returned fd, msg_fds_close()
 * will no longer close it. Returns -1 if i is out of range. */
int msg_fds_take(struct msg_fds *fds, size_t i);

#endif
