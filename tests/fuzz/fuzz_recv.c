/* libFuzzer harness: the socket readers in front of the decoders, which run
 * on a peer's bytes and fds as they arrive: vhu_recv (common/vhost_user.c
 * over common/msg.c's framing: every device process reads its frontend with
 * it, cellvm-vcpu its backends' replies) on a SOCK_STREAM socket, and
 * wctl_recv (common/worker_ctl.c: cellvmd reads cellvm-vcpu with it) on a
 * SOCK_SEQPACKET one.
 *
 * Input: byte 0 (bit 0) picks the reader; then chunks, each a byte (bits
 * 0-1: how many fds go with it, fresh eventfds; bit 2: none) and a LE u16
 * length, then that many bytes (clipped to what is left). Each chunk is one
 * sendmsg (one packet on SOCK_SEQPACKET), its fds on its first byte, none
 * waiting: what the socket buffer cannot take is dropped, and a stream cut
 * in a chunk carries no more. Then the sending side shuts down, and the
 * reader runs until it fails:
 * -ECONNRESET at the end, or an error the stream does not survive.
 * Asserted: the reader's contract on fds — after each call the fds it hands
 * over are the only new ones, and after a failure none is left (the count of
 * open fds is what it was before the input); a message vhu_recv accepts has
 * a known payload kind; wctl_recv's text is NUL-terminated.
 *
 * Boundary: a peer's socket -> every process
 * Links: common/vhost_user.c common/msg.c common/worker_ctl.c common/log.c
 *   common/fds.c */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "log.h"
#include "msg.h"
#include "vhost_user.h"
#include "worker_ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

static unsigned int open_fds(void)
{
	unsigned int n = 0;
	DIR *d = opendir("/proc/self/fd");
	CHECK(d != NULL);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* One chunk, fds on its first byte, without blocking: what the socket
 * buffer cannot take is the peer's loss. false once the stream is cut. */
static bool send_chunk(int sock, const uint8_t *p, size_t len, const int *fds, unsigned int nfds)
{
	struct iovec iov = { (void *)p, len };
	ssize_t n = msg_send_some(sock, &iov, 1, MSG_DONTWAIT, fds, nfds);
	/* A stream cut in the middle of a chunk carries nothing more. */
	return n == (ssize_t)len || (n < 0 && n != -EAGAIN);
}

static void send_chunks(int sock, const uint8_t *p, size_t left)
{
	while (left >= 3) {
		unsigned int nfds = p[0] & 3;
		bool plain = p[0] & 4;
		size_t len = get_le16(p + 1);
		p += 3;
		left -= 3;
		if (len > left)
			len = left;
		int fds[3];
		if (plain)
			nfds = 0;
		for (unsigned int i = 0; i < nfds; i++)
			CHECK((fds[i] = eventfd(0, EFD_CLOEXEC)) >= 0);
		bool go_on = len == 0 || send_chunk(sock, p, len, fds, nfds);
		for (unsigned int i = 0; i < nfds; i++)
			close(fds[i]);
		if (!go_on)
			return;
		p += len;
		left -= len;
	}
}

static void read_vhost_user(int sock)
{
	for (;;) {
		struct vhu_msg m;
		struct msg_fds fds = { .n = 0 };
		int err = vhu_recv(sock, &m, &fds);
		if (err == -ENOTSUP)
			CHECK(fds.n == 0);
		if (err < 0 && err != -ENOTSUP) {
			CHECK(fds.n == 0);
			return;
		}
		if (err == 0)
			CHECK(m.kind <= VHU_P_CONFIG);
		CHECK(fds.n <= MSG_MAX_FDS);
		msg_fds_close(&fds);
	}
}

static void read_worker_ctl(int sock)
{
	struct wctl_msg m;
	int err;
	while ((err = wctl_recv(sock, &m)) == 0 || err == -EBADMSG)
		if (err == 0)
			CHECK(memchr(m.text, '\0', sizeof(m.text)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		log_init("fuzz", LOG_LVL_ERROR);
		quiet = true;
	}
	if (size < 1)
		return 0;
	bool vhu = !(data[0] & 1);
	unsigned int before = open_fds();
	int sv[2];
	CHECK(socketpair(AF_UNIX, (vhu ? SOCK_STREAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0, sv) == 0);
	send_chunks(sv[1], data + 1, size - 1);
	CHECK(shutdown(sv[1], SHUT_WR) == 0);
	if (vhu)
		read_vhost_user(sv[0]);
	else
		read_worker_ctl(sv[0]);
	close(sv[0]);
	close(sv[1]);
	CHECK(open_fds() == before);
	return 0;
}
