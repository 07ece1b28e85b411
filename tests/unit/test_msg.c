#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <linux/sockios.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"
#include "testutil.h"

static void quiet(void)
{
	log_init("test_msg", LOG_LVL_ERROR);
}

TestSuite(msg, .init = quiet);

static void make_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fds[i] = tu_memfd();
}

static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* Waits until the peer has read everything sent on sock, so the next send
 * cannot be merged into the same recvmsg. */
static void wait_drained(int sock)
{
	for (int i = 0; i < 5000; i++) {
		int q = -1;
		cr_assert_eq(ioctl(sock, SIOCOUTQ, &q), 0);
		if (q == 0)
			return;
		usleep(1000);
	}
	cr_assert_fail("peer never read");
}

static void msleep(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void roundtrip(size_t nfds)
{
	int sv[2], fds[MSG_MAX_FDS];
	tu_sockpair(sv);
	make_fds(fds, nfds);
	const char hdr[12] = "header-bytes";
	const char payload[] = "the payload";
	int before = tu_count_fds();

	cr_assert_eq(msg_send(sv[0], hdr, sizeof(hdr), payload, sizeof(payload), fds, nfds), 0);
	char rhdr[12], rpayload[sizeof(payload)];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], rhdr, sizeof(rhdr), &got, MSG_MAX_FDS), 0);
	cr_assert_eq(msg_recv_payload(sv[1], rpayload, sizeof(rpayload)), 0);
	cr_assert_arr_eq(rhdr, hdr, sizeof(hdr));
	cr_assert_arr_eq(rpayload, payload, sizeof(payload));
	cr_assert_eq(got.n, nfds);
	for (size_t i = 0; i < nfds; i++) {
		cr_assert(tu_same_file(got.fd[i], fds[i]), "fd %zu in order", i);
		cr_assert_eq(fcntl(got.fd[i], F_GETFD), FD_CLOEXEC, "MSG_CMSG_CLOEXEC");
	}
	cr_assert_eq(tu_count_fds(), before + (int)nfds);
	msg_fds_close(&got);
	cr_assert_eq(got.n, 0);
	msg_fds_close(&got);
	cr_assert_eq(tu_count_fds(), before);
	close_fds(fds, nfds);
	close(sv[0]);
	close(sv[1]);
}

Test(msg, roundtrip_no_fds)
{
	roundtrip(0);
}

Test(msg, roundtrip_one_fd)
{
	roundtrip(1);
}

Test(msg, roundtrip_max_fds)
{
	roundtrip(MSG_MAX_FDS);
}

Test(msg, header_only_message)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	cr_assert_eq(msg_send(sv[0], "abcd", 4, NULL, 0, &fd, 1), 0);
	char h[4];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, 4, &got, 1), 0);
	cr_assert_eq(got.n, 1);
	cr_assert(tu_same_file(got.fd[0], fd));
	cr_assert_eq(msg_recv_payload(sv[1], NULL, 0), 0);
	msg_fds_close(&got);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(msg, take_moves_ownership)
{
	int sv[2], fds[2];
	tu_sockpair(sv);
	make_fds(fds, 2);
	cr_assert_eq(msg_send(sv[0], "h", 1, NULL, 0, fds, 2), 0);
	char h;
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], &h, 1, &got, 2), 0);
	int t = msg_fds_take(&got, 1);
	cr_assert(tu_same_file(t, fds[1]));
	cr_assert_eq(msg_fds_take(&got, 1), -1, "already taken");
	cr_assert_eq(msg_fds_take(&got, 2), -1, "out of range");
	int other = got.fd[0];
	msg_fds_close(&got);
	cr_assert_eq(fcntl(other, F_GETFD), -1, "closed by msg_fds_close");
	cr_assert_geq(fcntl(t, F_GETFD), 0, "the taken fd stays open");
	close(t);
	close_fds(fds, 2);
	close(sv[0]);
	close(sv[1]);
}

Test(msg, send_refuses_bad_arguments)
{
	int sv[2], fds[MSG_MAX_FDS + 1];
	tu_sockpair(sv);
	make_fds(fds, MSG_MAX_FDS + 1);
	cr_assert_eq(msg_send(sv[0], "h", 1, NULL, 0, fds, MSG_MAX_FDS + 1), -EINVAL);
	cr_assert_eq(msg_send(sv[0], NULL, 0, "p", 1, fds, 1), -EINVAL);
	char c;
	cr_assert_eq(recv(sv[1], &c, 1, MSG_DONTWAIT), -1, "nothing was sent");
	cr_assert_eq(errno, EAGAIN);
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], &c, 1, &got, MSG_MAX_FDS + 1), -EINVAL);
	close_fds(fds, MSG_MAX_FDS + 1);
	close(sv[0]);
	close(sv[1]);
}

static volatile sig_atomic_t signals;

static void on_signal(int sig)
{
	(void)sig;
	signals++;
}

/* No SA_RESTART: a blocked recvmsg/sendmsg fails with EINTR. */
static void install_handler(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	signals = 0;
}

/* Receives one big message on another thread, after a pause (and signals to
 * the sender, if asked) that leave the sender stuck on a full buffer. */
struct big_reader {
	int sock;
	pthread_t sender;
	int nsignals;
	char *buf;
	size_t len;
	struct msg_fds fds;
	int ret_hdr, ret_payload;
};

static void *big_read(void *arg)
{
	struct big_reader *r = arg;
	msleep(50);
	for (int i = 0; i < r->nsignals; i++) {
		pthread_kill(r->sender, SIGUSR1);
		msleep(20);
	}
	r->ret_hdr = msg_recv_header(r->sock, r->buf, 16, &r->fds, MSG_MAX_FDS);
	r->ret_payload = msg_recv_payload(r->sock, r->buf + 16, r->len - 16);
	if (r->ret_hdr || r->ret_payload)
		shutdown(r->sock, SHUT_RDWR); /* so a failing test does not hang */
	return NULL;
}

/* Many times the socket buffer, with fds: sendmsg writes short, and the fds
 * must go with the first chunk only (a resend would attach them to the
 * payload, which the receiver refuses). */
static void big_message(bool nonblocking, int nsignals)
{
	int sv[2], fds[3];
	tu_sockpair(sv);
	int small = 4096;
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	if (nonblocking)
		cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	make_fds(fds, 3);
	size_t len = 4u << 20;
	char *buf = malloc(len), *in = malloc(len);
	cr_assert(buf && in);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 7 + (i >> 12));

	struct big_reader r = { sv[1], pthread_self(), nsignals, in, len, { .n = 0 }, 1, 1 };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, big_read, &r), 0);
	int ret = msg_send(sv[0], buf, 16, buf + 16, len - 16, fds, 3);
	if (ret)
		shutdown(sv[0], SHUT_RDWR);
	pthread_join(t, NULL);
	cr_assert_eq(ret, 0);
	cr_assert_eq(r.ret_hdr, 0);
	cr_assert_eq(r.ret_payload, 0, "no fds with the later chunks");
	cr_assert_eq(memcmp(buf, in, len), 0);
	cr_assert_eq(r.fds.n, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert(tu_same_file(r.fds.fd[i], fds[i]));
	msg_fds_close(&r.fds);
	close_fds(fds, 3);
	free(buf);
	free(in);
	close(sv[0]);
	close(sv[1]);
}

/* A non-blocking sender writes short, and finishes the message it started. */
Test(msg, payload_larger_than_socket_buffer)
{
	big_message(true, 0);
}

/* A blocked sender is interrupted: partial writes and EINTR. */
Test(msg, eintr_in_send)
{
	install_handler();
	big_message(false, 5);
	cr_assert_gt(signals, 0);
}

Test(msg, eof_before_header)
{
	int sv[2];
	tu_sockpair(sv);
	close(sv[0]);
	char h[12];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), -ECONNRESET);
	cr_assert_eq(got.n, 0);
	close(sv[1]);
}

/* The fds that came with the first header bytes are closed on the EOF. */
Test(msg, eof_mid_header_closes_fds)
{
	int sv[2], fds[2];
	tu_sockpair(sv);
	make_fds(fds, 2);
	int before = tu_count_fds();
	tu_raw_send(sv[0], "12345", 5, fds, 2);
	close_fds(fds, 2);
	close(sv[0]);
	char h[12];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), -ECONNRESET);
	cr_assert_eq(got.n, 0);
	cr_assert_eq(tu_count_fds(), before - 3, "the two fds and sv[0] are gone");
	close(sv[1]);
}

Test(msg, eof_mid_payload)
{
	int sv[2];
	tu_sockpair(sv);
	tu_raw_send(sv[0], "hdr" "pay", 6, NULL, 0);
	close(sv[0]);
	char h[3], p[10];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), 0);
	cr_assert_eq(msg_recv_payload(sv[1], p, sizeof(p)), -ECONNRESET);
	close(sv[1]);
}

Test(msg, send_to_closed_peer)
{
	int sv[2];
	tu_sockpair(sv);
	close(sv[1]);
	cr_assert_eq(msg_send(sv[0], "h", 1, "p", 1, NULL, 0), -ECONNRESET, "EPIPE, no SIGPIPE");
	close(sv[0]);
}

Test(msg, fds_with_payload_are_refused_and_closed)
{
	int sv[2], fds[2];
	tu_sockpair(sv);
	make_fds(fds, 2);
	int before = tu_count_fds();
	tu_raw_send(sv[0], "hdr", 3, NULL, 0);
	char h[3], p[4];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), 0);
	cr_assert_eq(got.n, 0);
	tu_raw_send(sv[0], "pay!", 4, fds, 2);
	cr_assert_eq(msg_recv_payload(sv[1], p, sizeof(p)), -EBADMSG);
	cr_assert_eq(tu_count_fds(), before, "the payload's fds were closed");
	close_fds(fds, 2);
	close(sv[0]);
	close(sv[1]);
}

struct split_send {
	int sock;
	int fd;
};

static void *send_rest_of_header(void *arg)
{
	struct split_send *s = arg;
	wait_drained(s->sock);
	tu_raw_send(s->sock, "5678abcd", 8, &s->fd, 1);
	return NULL;
}

/* fds belong on the first header byte; on a later chunk they are an error. */
Test(msg, fds_on_later_header_chunk_are_refused)
{
	int sv[2];
	tu_sockpair(sv);
	struct split_send s = { sv[0], tu_memfd() };
	int before = tu_count_fds();
	tu_raw_send(sv[0], "1234", 4, NULL, 0);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, send_rest_of_header, &s), 0);
	char h[12];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), -EBADMSG);
	pthread_join(t, NULL);
	cr_assert_eq(got.n, 0);
	cr_assert_eq(tu_count_fds(), before);
	close(s.fd);
	close(sv[0]);
	close(sv[1]);
}

/* A header in two chunks with its fds on the first is fine. */
static void *send_header_tail(void *arg)
{
	struct split_send *s = arg;
	wait_drained(s->sock);
	tu_raw_send(s->sock, "5678abcd", 8, NULL, 0);
	return NULL;
}

Test(msg, header_in_chunks_with_fds_first)
{
	int sv[2];
	tu_sockpair(sv);
	struct split_send s = { sv[0], tu_memfd() };
	tu_raw_send(sv[0], "1234", 4, &s.fd, 1);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, send_header_tail, &s), 0);
	char h[12];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), 0);
	pthread_join(t, NULL);
	cr_assert_arr_eq(h, "12345678abcd", 12);
	cr_assert_eq(got.n, 1);
	cr_assert(tu_same_file(got.fd[0], s.fd));
	msg_fds_close(&got);
	close(s.fd);
	close(sv[0]);
	close(sv[1]);
}

static void too_many(size_t nsent, size_t max_fds)
{
	int sv[2], fds[24];
	cr_assert_leq(nsent, 24);
	tu_sockpair(sv);
	make_fds(fds, nsent);
	int before = tu_count_fds();
	tu_raw_send(sv[0], "hdr", 3, fds, nsent);
	char h[3];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, max_fds), -EBADMSG);
	cr_assert_eq(got.n, 0);
	cr_assert_eq(tu_count_fds(), before);
	close_fds(fds, nsent);
	close(sv[0]);
	close(sv[1]);
}

Test(msg, more_fds_than_caller_allows)
{
	too_many(3, 2);
}

Test(msg, no_fds_allowed)
{
	too_many(1, 0);
}

/* More than MSG_MAX_FDS but still within the receive buffer. */
Test(msg, more_than_msg_max_fds)
{
	too_many(MSG_MAX_FDS + 1, MSG_MAX_FDS);
}

/* So many fds that the kernel truncates the control data: every fd that did
 * arrive is closed. */
Test(msg, ctrunc_closes_what_arrived)
{
	enum { N = 64 };
	int sv[2], fds[N];
	tu_sockpair(sv);
	make_fds(fds, N);
	int before = tu_count_fds();
	tu_raw_send(sv[0], "hdr", 3, fds, N);
	char h[3];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), -EMSGSIZE);
	cr_assert_eq(got.n, 0);
	cr_assert_eq(tu_count_fds(), before);
	close_fds(fds, N);
	close(sv[0]);
	close(sv[1]);
}

Test(msg, ctrunc_in_payload)
{
	enum { N = 64 };
	int sv[2], fds[N];
	tu_sockpair(sv);
	make_fds(fds, N);
	int before = tu_count_fds();
	tu_raw_send(sv[0], "h", 1, NULL, 0);
	char h, p[3];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], &h, 1, &got, MSG_MAX_FDS), 0);
	tu_raw_send(sv[0], "pay", 3, fds, N);
	cr_assert_eq(msg_recv_payload(sv[1], p, sizeof(p)), -EMSGSIZE);
	cr_assert_eq(tu_count_fds(), before);
	close_fds(fds, N);
	close(sv[0]);
	close(sv[1]);
}

/* With SO_PASSCRED every recvmsg carries SCM_CREDENTIALS too: it is skipped,
 * and leaves room for a full set of fds. */
Test(msg, credentials_are_skipped)
{
	int sv[2], fds[MSG_MAX_FDS], on = 1;
	tu_sockpair(sv);
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	make_fds(fds, MSG_MAX_FDS);
	cr_assert_eq(msg_send(sv[0], "hdr", 3, "p", 1, fds, MSG_MAX_FDS), 0);
	char h[3], p;
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), 0);
	cr_assert_eq(got.n, MSG_MAX_FDS);
	for (size_t i = 0; i < MSG_MAX_FDS; i++)
		cr_assert(tu_same_file(got.fd[i], fds[i]));
	cr_assert_eq(msg_recv_payload(sv[1], &p, 1), 0);
	msg_fds_close(&got);
	close_fds(fds, MSG_MAX_FDS);
	close(sv[0]);
	close(sv[1]);
}

/* The sender puts SCM_CREDENTIALS before SCM_RIGHTS in one control buffer. */
Test(msg, credentials_before_rights)
{
	int sv[2], on = 1, fd = tu_memfd();
	tu_sockpair(sv);
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { .iov_base = "hdr", .iov_len = 3 };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	struct ucred cred = { getpid(), getuid(), getgid() };
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(cred));
	memcpy(CMSG_DATA(c), &cred, sizeof(cred));
	c = CMSG_NXTHDR(&mh, c);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	cr_assert_eq(sendmsg(sv[0], &mh, 0), 3);

	char h[3];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, 1), 0);
	cr_assert_eq(got.n, 1);
	cr_assert(tu_same_file(got.fd[0], fd));
	msg_fds_close(&got);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

struct interrupter {
	pthread_t target;
	int sock;
	bool header_sent; /* the header went before the signals */
};

static void *interrupt_then_send(void *arg)
{
	struct interrupter *it = arg;
	for (int i = 0; i < 5; i++) {
		msleep(20);
		pthread_kill(it->target, SIGUSR1);
	}
	if (it->header_sent)
		tu_raw_send(it->sock, "pay", 3, NULL, 0);
	else
		tu_raw_send(it->sock, "hdrpay", 6, NULL, 0);
	return NULL;
}

Test(msg, eintr_in_header)
{
	int sv[2];
	tu_sockpair(sv);
	install_handler();
	struct interrupter it = { pthread_self(), sv[0], false };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, interrupt_then_send, &it), 0);
	char h[3], p[3];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), 0);
	cr_assert_eq(msg_recv_payload(sv[1], p, sizeof(p)), 0);
	pthread_join(t, NULL);
	cr_assert_gt(signals, 0);
	cr_assert_arr_eq(p, "pay", 3);
	close(sv[0]);
	close(sv[1]);
}

Test(msg, eintr_in_payload)
{
	int sv[2];
	tu_sockpair(sv);
	install_handler();
	tu_raw_send(sv[0], "hdr", 3, NULL, 0);
	char h[3], p[3];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), 0);
	struct interrupter it = { pthread_self(), sv[0], true };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, interrupt_then_send, &it), 0);
	cr_assert_eq(msg_recv_payload(sv[1], p, sizeof(p)), 0);
	pthread_join(t, NULL);
	cr_assert_gt(signals, 0);
	cr_assert_arr_eq(p, "pay", 3);
	close(sv[0]);
	close(sv[1]);
}

Test(msg, nonblocking_empty_is_eagain)
{
	int sv[2];
	tu_sockpair(sv);
	cr_assert_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	char h[3];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), -EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

static void *send_tail_later(void *arg)
{
	int sock = *(int *)arg;
	msleep(50);
	tu_raw_send(sock, "45", 2, NULL, 0);
	msleep(50);
	tu_raw_send(sock, "678", 3, NULL, 0);
	return NULL;
}

/* Once the first byte is in, a non-blocking socket waits for the rest of the
 * header and for the payload. */
Test(msg, nonblocking_partial_message_waits)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	cr_assert_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	tu_raw_send(sv[0], "12", 2, &fd, 1);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, send_tail_later, &sv[0]), 0);
	char h[4], p[3];
	struct msg_fds got;
	cr_assert_eq(msg_recv_header(sv[1], h, sizeof(h), &got, MSG_MAX_FDS), 0);
	cr_assert_eq(got.n, 1);
	cr_assert_eq(msg_recv_payload(sv[1], p, sizeof(p)), 0);
	pthread_join(t, NULL);
	cr_assert_arr_eq(h, "1245", 4);
	cr_assert_arr_eq(p, "678", 3);
	msg_fds_close(&got);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(msg, wait_times_out_then_sees_data_and_eof)
{
	int sv[2];
	tu_sockpair(sv);
	cr_expect_eq(msg_wait(sv[0], POLLIN, 10), 0, "nothing to read yet");
	cr_expect_eq(msg_wait(sv[0], POLLOUT, 0), 1, "room to write");
	cr_assert_eq(write(sv[1], "x", 1), 1);
	cr_expect_eq(msg_wait(sv[0], POLLIN, -1), 1, "a byte to read");
	char c;
	cr_assert_eq(read(sv[0], &c, 1), 1);
	close(sv[1]);
	cr_expect_eq(msg_wait(sv[0], POLLIN, -1), 1, "a hang-up counts as ready");
	close(sv[0]);
}
