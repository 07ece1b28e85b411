/* The controller <-> vcpu-worker control channel: the codec refuses every
 * malformed packet, and the socket helpers keep packets whole and refuse
 * fds but BACKEND's one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "testutil.h"
#include "worker_ctl.h"

static void encode(enum wctl_type t, uint32_t status, const char *text, uint8_t *buf)
{
	struct wctl_msg m = { .type = t, .status = status };
	snprintf(m.text, sizeof(m.text), "%s", text);
	wctl_encode(&m, buf);
}

Test(worker_ctl, round_trip)
{
	uint8_t buf[WCTL_WIRE_SIZE];
	struct wctl_msg m;
	encode(WCTL_EXIT, 12, "triple fault", buf);
	cr_assert_eq(wctl_decode(buf, sizeof(buf), &m), 0);
	cr_expect_eq(m.type, WCTL_EXIT);
	cr_expect_eq(m.status, 12);
	cr_expect_str_eq(m.text, "triple fault");
	for (enum wctl_type t = WCTL_READY; t <= WCTL_PONG; t++) {
		if (t == WCTL_EXIT)
			continue;
		encode(t, 0, "", buf);
		cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), 0, "%s", wctl_type_name(t));
		cr_expect_eq(m.type, t);
	}
}

Test(worker_ctl, wrong_sizes)
{
	uint8_t buf[WCTL_WIRE_SIZE + 1] = { 0 };
	struct wctl_msg m = { .status = 77 };
	encode(WCTL_READY, 0, "", buf);
	cr_expect_eq(wctl_decode(buf, WCTL_WIRE_SIZE - 1, &m), -EBADMSG);
	cr_expect_eq(wctl_decode(buf, WCTL_WIRE_SIZE + 1, &m), -EBADMSG);
	cr_expect_eq(wctl_decode(buf, 0, &m), -EBADMSG);
	cr_expect_eq(m.status, 77, "untouched on failure");
}

Test(worker_ctl, unknown_types)
{
	uint8_t buf[WCTL_WIRE_SIZE];
	struct wctl_msg m;
	encode(WCTL_READY, 0, "", buf);
	put_le32(buf, 0);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG);
	put_le32(buf, WCTL_HUNG + 1);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG);
	put_le32(buf, 0x80000001u);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG);
	cr_expect_str_eq(wctl_type_name((enum wctl_type)99), "UNKNOWN");
}

Test(worker_ctl, status_and_text_only_on_exit)
{
	uint8_t buf[WCTL_WIRE_SIZE];
	struct wctl_msg m;
	encode(WCTL_READY, 1, "", buf);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG);
	encode(WCTL_PONG, 0, "x", buf);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG);
	encode(WCTL_EXIT, 0, "", buf);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), 0, "EXIT 0 without words is fine");
}

/* CONFIG_CHANGED names its device, and has no status. */
Test(worker_ctl, config_changed_names_a_device)
{
	uint8_t buf[WCTL_WIRE_SIZE];
	struct wctl_msg m;
	encode(WCTL_CONFIG_CHANGED, 0, "balloon0", buf);
	cr_assert_eq(wctl_decode(buf, sizeof(buf), &m), 0);
	cr_expect_eq(m.type, WCTL_CONFIG_CHANGED);
	cr_expect_str_eq(m.text, "balloon0");
	cr_expect_str_eq(wctl_type_name(WCTL_CONFIG_CHANGED), "CONFIG_CHANGED");
	encode(WCTL_CONFIG_CHANGED, 0, "", buf);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG, "no device named");
	encode(WCTL_CONFIG_CHANGED, 1, "balloon0", buf);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG, "a status");
}

Test(worker_ctl, text_must_end_in_nul)
{
	uint8_t buf[WCTL_WIRE_SIZE];
	struct wctl_msg m;
	encode(WCTL_EXIT, 1, "", buf);
	memset(buf + 8, 'a', WCTL_TEXT_MAX);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG);
	buf[sizeof(buf) - 1] = '\0';
	cr_assert_eq(wctl_decode(buf, sizeof(buf), &m), 0);
	cr_expect_eq(strlen(m.text), WCTL_TEXT_MAX - 1);
}

Test(worker_ctl, control_bytes_replaced)
{
	uint8_t buf[WCTL_WIRE_SIZE];
	struct wctl_msg m;
	encode(WCTL_EXIT, 12, "bad\nline\x1b[2J\x7f!", buf);
	cr_assert_eq(wctl_decode(buf, sizeof(buf), &m), 0);
	cr_expect_str_eq(m.text, "bad?line?[2J?!");
}

Test(worker_ctl, long_text_is_cut_on_encode)
{
	char big[400];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(wctl_send(sv[0], WCTL_EXIT, 10, big), 0);
	struct wctl_msg m;
	cr_assert_eq(wctl_recv(sv[1], &m), 0);
	cr_expect_eq(m.status, 10);
	cr_expect_eq(strlen(m.text), WCTL_TEXT_MAX - 1);
	close(sv[0]);
	close(sv[1]);
}

Test(worker_ctl, socket_packets)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(wctl_send(sv[0], WCTL_READY, 0, NULL), 0);
	cr_assert_eq(wctl_send(sv[0], WCTL_PONG, 0, NULL), 0);
	struct wctl_msg m;
	cr_assert_eq(wctl_recv(sv[1], &m), 0);
	cr_expect_eq(m.type, WCTL_READY);
	cr_assert_eq(wctl_recv(sv[1], &m), 0);
	cr_expect_eq(m.type, WCTL_PONG);
	/* A short packet and an oversized one are refused whole. */
	uint8_t junk[WCTL_WIRE_SIZE + 40] = { 0 };
	put_le32(junk, WCTL_READY);
	cr_assert_eq(send(sv[0], junk, 10, 0), 10);
	cr_expect_eq(wctl_recv(sv[1], &m), -EBADMSG);
	cr_assert_eq(send(sv[0], junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	cr_expect_eq(wctl_recv(sv[1], &m), -EBADMSG);
	close(sv[0]);
	cr_expect_eq(wctl_recv(sv[1], &m), -ECONNRESET);
	close(sv[1]);
}

Test(worker_ctl, fds_are_refused_and_closed)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	uint8_t buf[WCTL_WIRE_SIZE];
	encode(WCTL_READY, 0, "", buf);
	int fds[2] = { tu_memfd(), tu_memfd() };
	int before = tu_count_fds();
	tu_raw_send(sv[0], buf, sizeof(buf), fds, 2);
	struct wctl_msg m;
	cr_expect_eq(wctl_recv(sv[1], &m), -EBADMSG);
	cr_expect_eq(tu_count_fds(), before, "the received fds were closed");
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);
}

Test(worker_ctl, nonblocking_empty)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	struct wctl_msg m;
	cr_expect_eq(wctl_recv(sv[1], &m), -EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

/* BACKEND, RESUMED and HUNG name a device; BACKEND has no status. */
Test(worker_ctl, restart_messages)
{
	uint8_t buf[WCTL_WIRE_SIZE];
	struct wctl_msg m;
	const enum wctl_type named[] = { WCTL_BACKEND, WCTL_RESUMED, WCTL_HUNG };
	for (size_t i = 0; i < 3; i++) {
		encode(named[i], 0, "blk0", buf);
		cr_assert_eq(wctl_decode(buf, sizeof(buf), &m), 0, "%s", wctl_type_name(named[i]));
		cr_expect_str_eq(m.text, "blk0");
		encode(named[i], 0, "", buf);
		cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG, "no device named");
	}
	encode(WCTL_RESUMED, 4321, "net0", buf);
	cr_assert_eq(wctl_decode(buf, sizeof(buf), &m), 0);
	cr_expect_eq(m.status, 4321);
	encode(WCTL_BACKEND, 1, "blk0", buf);
	cr_expect_eq(wctl_decode(buf, sizeof(buf), &m), -EBADMSG);
	encode(WCTL_HUNG, 3, "blk0", buf);
	cr_assert_eq(wctl_decode(buf, sizeof(buf), &m), 0);
	cr_expect_eq(m.status, 3, "the worker's count of BACKENDs for it");
	cr_expect_str_eq(wctl_type_name(WCTL_BACKEND), "BACKEND");
	cr_expect_str_eq(wctl_type_name(WCTL_RESUMED), "RESUMED");
	cr_expect_str_eq(wctl_type_name(WCTL_HUNG), "HUNG");
}

Test(worker_ctl, backend_carries_one_fd)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	int mfd = tu_memfd();
	cr_assert_eq(wctl_send_backend(sv[0], "blk0", mfd), 0);
	struct wctl_msg m;
	int fd = -2;
	cr_assert_eq(wctl_recv_fd(sv[1], &m, &fd), 0);
	cr_expect_eq(m.type, WCTL_BACKEND);
	cr_expect_str_eq(m.text, "blk0");
	cr_assert_geq(fd, 0);
	cr_expect(tu_same_file(fd, mfd));
	close(fd);
	/* Others carry none, and get -1. */
	cr_assert_eq(wctl_send(sv[0], WCTL_PING, 0, NULL), 0);
	cr_assert_eq(wctl_recv_fd(sv[1], &m, &fd), 0);
	cr_expect_eq(fd, -1);
	int before = tu_count_fds();
	/* BACKEND without its fd, a PING with one, BACKEND with two: refused,
	 * and what came closed. */
	uint8_t buf[WCTL_WIRE_SIZE];
	encode(WCTL_BACKEND, 0, "blk0", buf);
	tu_raw_send(sv[0], buf, sizeof(buf), NULL, 0);
	cr_expect_eq(wctl_recv_fd(sv[1], &m, &fd), -EBADMSG);
	encode(WCTL_PING, 0, "", buf);
	tu_raw_send(sv[0], buf, sizeof(buf), &mfd, 1);
	cr_expect_eq(wctl_recv_fd(sv[1], &m, &fd), -EBADMSG);
	int two[2] = { mfd, mfd };
	encode(WCTL_BACKEND, 0, "blk0", buf);
	tu_raw_send(sv[0], buf, sizeof(buf), two, 2);
	cr_expect_eq(wctl_recv_fd(sv[1], &m, &fd), -EBADMSG);
	cr_expect_eq(fd, -1);
	/* wctl_recv takes no fd at all. */
	cr_assert_eq(wctl_send_backend(sv[0], "blk0", mfd), 0);
	cr_expect_eq(wctl_recv(sv[1], &m), -EBADMSG);
	cr_expect_eq(tu_count_fds(), before, "the received fds were closed");
	close(mfd);
	close(sv[0]);
	close(sv[1]);
}
