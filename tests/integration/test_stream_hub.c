/* The console hub driven through socketpairs in the test's own event loop:
 * the test plays the vcpu-worker on the device socket and every client. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream_hub.h"
#include "event_loop.h"
#include "log.h"
#include "testutil.h"

/* An impossible allocation returns NULL under ASan too, as it does without
 * it, so the -ENOMEM path can be tested. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static void init_log(void)
{
	log_init("test_stream_hub", LOG_LVL_INFO);
}

/* A hub that blocks on a socket would hang the test: fail it instead. */
TestSuite(stream_hub, .init = init_log, .timeout = 30);

#define MAX_ROUNDS 20000 /* loop rounds that move data before a test gives up */
#define READ_ROUNDS 300  /* 10 ms waits for an expected byte: 3 s */

struct fx {
	struct evloop *loop;
	struct stream_hub *h;
	int dev;  /* the test's end of the device socket; -1 once closed */
	int fds0; /* fds open before the fixture */
};

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	cr_assert_geq(fl, 0);
	cr_assert_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void sndbuf(int fd, int bytes)
{
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)), 0);
}

/* dev_sndbuf: the send buffer of the hub's device end, 0 for the default. */
static void fx_init(struct fx *f, size_t backlog, int dev_sndbuf)
{
	f->fds0 = tu_count_fds();
	cr_assert_eq(evloop_create(&f->loop), 0);
	int sv[2];
	tu_sockpair(sv);
	nonblock(sv[0]);
	if (dev_sndbuf)
		sndbuf(sv[1], dev_sndbuf);
	f->dev = sv[0];
	cr_assert_eq(stream_hub_create(&f->h, f->loop, sv[1], "serial", backlog), 0);
}

static void fx_fini(struct fx *f)
{
	stream_hub_destroy(f->h);
	if (f->dev >= 0)
		close(f->dev);
	evloop_destroy(f->loop);
	cr_assert_eq(tu_count_fds(), f->fds0, "every fd closed");
}

/* Attaches a new client; returns the test's end (non-blocking). hub_sndbuf:
 * the send buffer of the hub's end, 0 for the default. */
static int fx_client(struct fx *f, int hub_sndbuf)
{
	int sv[2];
	tu_sockpair(sv);
	nonblock(sv[0]);
	if (hub_sndbuf)
		sndbuf(sv[1], hub_sndbuf);
	cr_assert_eq(stream_hub_attach(f->h, sv[1]), 0);
	return sv[0];
}

/* Runs the loop until nothing is ready. */
static void pump_loop(struct evloop *loop)
{
	for (int i = 0; i < MAX_ROUNDS; i++) {
		int r = evloop_run_once(loop, 0);
		cr_assert_geq(r, 0);
		if (r == 0)
			return;
	}
	cr_assert_fail("the loop never went idle");
}

static void pump(struct fx *f)
{
	pump_loop(f->loop);
}

static void send_str(int fd, const char *s)
{
	cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads exactly n bytes from fd, running the loop while it has none. */
static void read_exact(struct fx *f, int fd, void *buf, size_t n)
{
	size_t got = 0;
	for (int i = 0; got < n; i++) {
		cr_assert_lt(i, READ_ROUNDS, "got %zu of %zu bytes", got, n);
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		cr_assert(r < 0 && errno == EAGAIN, "read: %zd (%s)", r, strerror(errno));
		cr_assert_geq(evloop_run_once(f->loop, 10), 0);
	}
}

static void expect_str(struct fx *f, int fd, const char *want)
{
	char got[256];
	size_t n = strlen(want);
	cr_assert_lt(n, sizeof(got));
	read_exact(f, fd, got, n);
	got[n] = '\0';
	cr_assert_str_eq(got, want);
}

static void expect_nothing(int fd)
{
	char c;
	cr_assert_eq(read(fd, &c, 1), -1, "nothing more to read");
	cr_assert_eq(errno, EAGAIN);
}

static void expect_eof(struct fx *f, int fd)
{
	char c;
	pump(f);
	cr_assert_eq(read(fd, &c, 1), 0, "EOF");
}

/* A stream of letters that differ with the offset, never '\r', so a drop note
 * stands out and every byte says where in the stream it belongs. */
static uint8_t pat(uint64_t off)
{
	return (uint8_t)('a' + ((off * 2654435761u) >> 13) % 26);
}

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n);
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = pat(i);
	return p;
}

/* ---------------------------------------------------------------- output */

Test(stream_hub, late_client_gets_the_backlog_then_live_output)
{
	struct fx f;
	fx_init(&f, 64 * 1024, 0);
	send_str(f.dev, "boot log\r\n");
	pump(&f);
	int a = fx_client(&f, 0);
	expect_str(&f, a, "boot log\r\n");
	send_str(f.dev, "login: ");
	expect_str(&f, a, "login: ");
	pump(&f);
	expect_nothing(a);
	close(a);
	fx_fini(&f);
}

Test(stream_hub, backlog_keeps_the_newest_bytes_without_a_note)
{
	struct fx f;
	fx_init(&f, 16, 0);
	send_str(f.dev, "0123456789abcdefghijklmnopqrstuvwxyz");
	pump(&f);
	/* What was overwritten before it attached is not its loss. */
	int a = fx_client(&f, 0);
	expect_str(&f, a, "klmnopqrstuvwxyz");
	pump(&f);
	expect_nothing(a);
	close(a);
	fx_fini(&f);
}

Test(stream_hub, two_clients_both_get_live_output)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int a = fx_client(&f, 0), b = fx_client(&f, 0);
	pump(&f);
	send_str(f.dev, "hello");
	expect_str(&f, a, "hello");
	expect_str(&f, b, "hello");
	close(a);
	close(b);
	fx_fini(&f);
}

/* Walks what a client received: pattern bytes at their stream offsets, and
 * drop notes that skip ahead. Returns the bytes of buf consumed (a note cut
 * short waits for more); advances *off and counts *notes. */
static size_t walk(const uint8_t *buf, size_t len, uint64_t *off, unsigned *notes)
{
	static const char head[] = "\r\n[cellvm: ", tail[] = " bytes dropped]\r\n";
	size_t i = 0;
	while (i < len) {
		if (buf[i] != '\r') {
			cr_assert_eq(buf[i], pat(*off), "byte at stream offset %llu",
				     (unsigned long long)*off);
			(*off)++;
			i++;
			continue;
		}
		const uint8_t *end = memmem(buf + i, len - i, "]\r\n", 3);
		if (!end)
			break;
		size_t note_len = (size_t)(end + 3 - (buf + i));
		char note[64];
		cr_assert_lt(note_len, sizeof(note));
		memcpy(note, buf + i, note_len);
		note[note_len] = '\0';
		cr_assert_eq(strncmp(note, head, strlen(head)), 0, "note: %s", note);
		char *rest;
		unsigned long long n = strtoull(note + strlen(head), &rest, 10);
		cr_assert_str_eq(rest, tail, "note: %s", note);
		cr_assert_gt(n, 0);
		*off += n;
		(*notes)++;
		i += note_len;
	}
	return i;
}

Test(stream_hub, client_that_never_reads_blocks_nobody)
{
	enum { TOTAL = 512 * 1024, BACKLOG = 4096 };
	struct fx f;
	fx_init(&f, BACKLOG, 0);
	uint8_t *out = pattern(TOTAL);
	int slow = fx_client(&f, 4096), fast = fx_client(&f, 0);

	/* The device side is drained and the fast client served while the slow
	 * one reads nothing. */
	static uint8_t buf[64 * 1024];
	size_t sent = 0, fast_got = 0;
	for (int round = 0; sent < TOTAL || fast_got < TOTAL; round++) {
		cr_assert_lt(round, MAX_ROUNDS, "sent %zu, fast client got %zu", sent, fast_got);
		if (sent < TOTAL) {
			size_t n = TOTAL - sent < 8192 ? TOTAL - sent : 8192;
			ssize_t w = write(f.dev, out + sent, n);
			cr_assert(w > 0 || errno == EAGAIN);
			sent += w > 0 ? (size_t)w : 0;
		}
		cr_assert_geq(evloop_run_once(f.loop, 0), 0);
		ssize_t r = read(fast, buf, sizeof(buf));
		cr_assert(r > 0 || errno == EAGAIN);
		if (r > 0) {
			cr_assert_arr_eq(buf, out + fast_got, (size_t)r, "fast client at %zu",
					 fast_got);
			fast_got += (size_t)r;
		}
	}

	/* The slow client now reads: it lost what it fell behind by, each
	 * loss announced with its size, and gets the rest up to the end. */
	static uint8_t got[TOTAL + 1];
	size_t have = 0, done = 0;
	uint64_t off = 0;
	unsigned notes = 0;
	for (int round = 0; off < TOTAL; round++) {
		cr_assert_lt(round, MAX_ROUNDS, "slow client at offset %llu",
			     (unsigned long long)off);
		ssize_t r = read(slow, got + have, TOTAL - have);
		cr_assert(r > 0 || errno == EAGAIN);
		if (r > 0) {
			have += (size_t)r;
			done += walk(got + done, have - done, &off, &notes);
		}
		cr_assert_geq(evloop_run_once(f.loop, 0), 0);
	}
	cr_assert_eq(off, TOTAL);
	cr_assert_eq(done, have, "nothing after the end");
	cr_assert_geq(notes, 1, "the slow client must have lost bytes");
	cr_assert_lt(have, TOTAL);
	pump(&f);
	expect_nothing(slow);
	expect_nothing(fast);
	free(out);
	close(slow);
	close(fast);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- clients */

Test(stream_hub, client_that_closes_is_dropped_and_the_others_go_on)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int a = fx_client(&f, 0), b = fx_client(&f, 0);
	pump(&f);
	int before = tu_count_fds();
	tu_log_begin();
	close(a);
	pump(&f);
	const char *log = tu_log_end();
	cr_assert_eq(tu_count_fds(), before - 2, "the hub closed its end too");
	cr_assert(strstr(log, "client 1 hung up"), "log: %s", log);
	send_str(f.dev, "still here");
	expect_str(&f, b, "still here");
	close(b);
	fx_fini(&f);
}

Test(stream_hub, slots_of_dropped_clients_are_reused)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int c[STREAM_HUB_MAX_CLIENTS];
	for (int i = 0; i < STREAM_HUB_MAX_CLIENTS; i++)
		c[i] = fx_client(&f, 0);
	tu_log_begin();
	close(c[3]);
	pump(&f);
	tu_log_end();
	c[3] = fx_client(&f, 0);
	int sv[2];
	tu_sockpair(sv);
	cr_assert_eq(stream_hub_attach(f.h, sv[1]), -EMFILE);
	close(sv[0]);
	close(sv[1]);
	for (int i = 0; i < STREAM_HUB_MAX_CLIENTS; i++)
		close(c[i]);
	fx_fini(&f);
}

Test(stream_hub, attach_beyond_the_maximum_is_emfile_and_leaves_the_fd)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int c[STREAM_HUB_MAX_CLIENTS];
	for (int i = 0; i < STREAM_HUB_MAX_CLIENTS; i++)
		c[i] = fx_client(&f, 0);
	int sv[2];
	tu_sockpair(sv);
	cr_assert_eq(stream_hub_attach(f.h, sv[1]), -EMFILE);
	cr_assert_eq(fcntl(sv[1], F_GETFL) & O_NONBLOCK, 0, "the caller's fd is untouched");
	/* Still open and still the caller's: the hub does not serve it. */
	send_str(f.dev, "x");
	pump(&f);
	expect_str(&f, c[0], "x");
	char ch;
	cr_assert_eq(recv(sv[0], &ch, 1, MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	close(sv[0]);
	close(sv[1]);
	for (int i = 0; i < STREAM_HUB_MAX_CLIENTS; i++)
		close(c[i]);
	fx_fini(&f);
}

Test(stream_hub, client_that_only_shuts_its_input_keeps_receiving)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int a = fx_client(&f, 0);
	pump(&f);
	int before = tu_count_fds();
	cr_assert_eq(shutdown(a, SHUT_WR), 0);
	pump(&f);
	cr_assert_eq(evloop_run_once(f.loop, 50), 0, "no busy loop on its EOF");
	cr_assert_eq(tu_count_fds(), before, "not dropped");
	send_str(f.dev, "more");
	expect_str(&f, a, "more");
	close(a);
	fx_fini(&f);
}

Test(stream_hub, client_whose_socket_fails_is_dropped)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int a = fx_client(&f, 0), b = fx_client(&f, 0);
	pump(&f);
	int before = tu_count_fds();
	cr_assert_eq(shutdown(a, SHUT_RD), 0); /* the hub's writes now fail: EPIPE */
	tu_log_begin();
	send_str(f.dev, "out");
	pump(&f);
	const char *log = tu_log_end();
	cr_assert(strstr(log, "client 1 write failed"), "log: %s", log);
	cr_assert_eq(tu_count_fds(), before - 1);
	expect_str(&f, b, "out");
	close(a);
	close(b);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- input */

Test(stream_hub, input_from_two_clients_reaches_the_device)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int a = fx_client(&f, 0), b = fx_client(&f, 0);
	send_str(a, "from-a");
	send_str(b, "from-b");
	char got[13] = { 0 };
	read_exact(&f, f.dev, got, 12);
	cr_assert(strcmp(got, "from-afrom-b") == 0 || strcmp(got, "from-bfrom-a") == 0,
		  "device got %s", got);
	close(a);
	close(b);
	fx_fini(&f);
}

/* Fills the device's input and the client's socket: returns the bytes the
 * client could write before the hub stopped taking more. */
static size_t stall_input(struct fx *f, int client, const uint8_t *in, size_t max)
{
	size_t wrote = 0;
	for (int round = 0;; round++) {
		cr_assert_lt(round, MAX_ROUNDS, "input never stalled");
		cr_assert_lt(wrote, max, "the hub took %zu bytes the device did not", wrote);
		ssize_t w = write(client, in + wrote, max - wrote < 4096 ? max - wrote : 4096);
		cr_assert(w > 0 || errno == EAGAIN);
		wrote += w > 0 ? (size_t)w : 0;
		int r = evloop_run_once(f->loop, 0);
		cr_assert_geq(r, 0);
		if (w < 0 && r == 0)
			return wrote;
	}
}

Test(stream_hub, device_that_does_not_read_input_blocks_nobody)
{
	enum { MAX = 1 << 20 };
	struct fx f;
	fx_init(&f, 1024, 4096);
	int a = fx_client(&f, 0);
	sndbuf(a, 4096);
	uint8_t *in = pattern(MAX);
	size_t wrote = stall_input(&f, a, in, MAX);

	/* Input waits in the client's socket; the hub does not spin on it. */
	cr_assert_eq(evloop_run_once(f.loop, 50), 0, "the hub must stop reading clients");
	/* Output still flows. */
	send_str(f.dev, "alive");
	expect_str(&f, a, "alive");

	/* Once the device reads, every byte arrives, in order. */
	uint8_t *got = malloc(wrote);
	cr_assert_not_null(got);
	read_exact(&f, f.dev, got, wrote);
	cr_assert_arr_eq(got, in, wrote);
	pump(&f);
	expect_nothing(f.dev);
	free(got);
	free(in);
	close(a);
	fx_fini(&f);
}

Test(stream_hub, client_that_hangs_up_with_input_waiting_says_so)
{
	enum { MAX = 1 << 20 };
	struct fx f;
	fx_init(&f, 1024, 4096);
	int a = fx_client(&f, 0);
	sndbuf(a, 4096);
	uint8_t *in = pattern(MAX);
	stall_input(&f, a, in, MAX);
	int before = tu_count_fds();
	tu_log_begin();
	close(a);
	pump(&f);
	const char *log = tu_log_end();
	cr_assert(strstr(log, "client 1 hung up;") && strstr(log, "input the guest did not take"),
		  "log: %s", log);
	cr_assert_eq(tu_count_fds(), before - 2);
	free(in);
	fx_fini(&f);
}

Test(stream_hub, device_that_stops_taking_input_still_gives_output)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int a = fx_client(&f, 0);
	pump(&f);
	cr_assert_eq(shutdown(f.dev, SHUT_RD), 0); /* the hub's writes now fail: EPIPE */
	tu_log_begin();
	send_str(a, "typed");
	pump(&f);
	send_str(a, "more");
	pump(&f);
	const char *log = tu_log_end();
	cr_assert(strstr(log, "writing to the guest side"), "log: %s", log);
	cr_assert(strstr(log, "5 bytes of client input not delivered"), "log: %s", log);
	cr_assert(strstr(log, "4 bytes from client 1 discarded"), "log: %s", log);
	send_str(f.dev, "output");
	expect_str(&f, a, "output");
	cr_assert_eq(evloop_run_once(f.loop, 50), 0, "idle");
	close(a);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- device end */

Test(stream_hub, device_eof_ends_every_client_after_its_output)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int a = fx_client(&f, 0);
	pump(&f);
	tu_log_begin();
	int before = tu_count_fds();
	send_str(f.dev, "last words");
	close(f.dev);
	f.dev = -1;
	expect_str(&f, a, "last words");
	expect_eof(&f, a);
	cr_assert_eq(tu_count_fds(), before - 2, "the hub closed the device");

	/* A client attaching afterwards still gets the log, then EOF. */
	int b = fx_client(&f, 0);
	expect_str(&f, b, "last words");
	expect_eof(&f, b);

	/* Input has nowhere to go: discarded, and said so. */
	send_str(a, "hello?");
	pump(&f);
	const char *log = tu_log_end();
	cr_assert(strstr(log, "serial: guest side closed"), "log: %s", log);
	cr_assert(strstr(log, "6 bytes from client 1 discarded"), "log: %s", log);
	close(a);
	close(b);
	fx_fini(&f);
}

Test(stream_hub, destroy_closes_everything)
{
	int start = tu_count_fds();
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	int dev[2], c1[2], c2[2];
	tu_sockpair(dev);
	tu_sockpair(c1);
	tu_sockpair(c2);
	struct stream_hub *h;
	cr_assert_eq(stream_hub_create(&h, loop, dev[1], "console", 4096), 0);
	cr_assert_eq(stream_hub_attach(h, c1[1]), 0);
	cr_assert_eq(stream_hub_attach(h, c2[1]), 0);
	send_str(dev[0], "x");
	pump_loop(loop);
	stream_hub_destroy(h);
	/* Every hub end is closed: writes fail, reads end after what was sent. */
	cr_assert_eq(send(dev[0], "y", 1, MSG_NOSIGNAL), -1);
	cr_assert_eq(errno, EPIPE);
	int cl[2] = { c1[0], c2[0] };
	for (int i = 0; i < 2; i++) {
		char got[2];
		cr_assert_eq(recv(cl[i], got, sizeof(got), 0), 1, "client %d got the output", i);
		cr_assert_eq(got[0], 'x');
		cr_assert_eq(recv(cl[i], got, sizeof(got), 0), 0, "then EOF");
	}
	cr_assert_eq(evloop_run_once(loop, 10), 0, "nothing of the hub left in the loop");
	close(dev[0]);
	close(c1[0]);
	close(c2[0]);
	evloop_destroy(loop);
	cr_assert_eq(tu_count_fds(), start);
	stream_hub_destroy(NULL);
}

/* ---------------------------------------------------------------- set-up */

Test(stream_hub, owned_fds_become_nonblocking_and_cloexec)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	int dev[2], cl[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, dev), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, cl), 0);
	struct stream_hub *h;
	cr_assert_eq(stream_hub_create(&h, loop, dev[1], "serial", 4096), 0);
	cr_assert_eq(stream_hub_attach(h, cl[1]), 0);
	for (int i = 0; i < 2; i++) {
		int fd = i ? cl[1] : dev[1];
		cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d close-on-exec", fd);
		cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK, "fd %d non-blocking", fd);
	}
	stream_hub_destroy(h);
	close(dev[0]);
	close(cl[0]);
	evloop_destroy(loop);
}

static void expect_create_refused(struct evloop *loop, int fd, size_t backlog, int err)
{
	int before = tu_count_fds();
	struct stream_hub *h = (struct stream_hub *)&before; /* must stay untouched */
	cr_assert_eq(stream_hub_create(&h, loop, fd, "serial", backlog), err, "want %s",
		     strerror(-err));
	cr_assert_eq(h, (struct stream_hub *)&before);
	cr_assert_eq(tu_count_fds(), before, "the fd stays the caller's, nothing leaked");
}

Test(stream_hub, create_refuses_bad_arguments)
{
	struct evloop *loop;
	cr_assert_eq(evloop_create(&loop), 0);
	int sv[2], dg[2];
	tu_sockpair(sv);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg), 0);
	int mfd = tu_memfd();

	expect_create_refused(loop, sv[1], 0, -EINVAL);
	expect_create_refused(loop, sv[1], SIZE_MAX, -ENOMEM);
	expect_create_refused(loop, mfd, 4096, -ENOTSOCK);
	expect_create_refused(loop, dg[1], 4096, -EPROTOTYPE);
	expect_create_refused(loop, -1, 4096, -EBADF);
	struct stream_hub *h;
	cr_assert_eq(stream_hub_create(&h, loop, sv[1], "serial", 4096), 0);
	expect_create_refused(loop, sv[1], 4096, -EEXIST);
	stream_hub_destroy(h);

	close(sv[0]);
	close(dg[0]);
	close(dg[1]);
	close(mfd);
	evloop_destroy(loop);
}

Test(stream_hub, attach_refuses_bad_fds_without_using_a_slot)
{
	struct fx f;
	fx_init(&f, 1024, 0);
	int dg[2], mfd = tu_memfd();
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg), 0);
	cr_assert_eq(stream_hub_attach(f.h, mfd), -ENOTSOCK);
	cr_assert_eq(stream_hub_attach(f.h, dg[1]), -EPROTOTYPE);
	cr_assert_eq(stream_hub_attach(f.h, -1), -EBADF);
	int c[STREAM_HUB_MAX_CLIENTS];
	c[0] = fx_client(&f, 0);
	int sv[2];
	tu_sockpair(sv);
	cr_assert_eq(stream_hub_attach(f.h, sv[1]), 0);
	cr_assert_eq(stream_hub_attach(f.h, sv[1]), -EEXIST, "already attached");
	for (int i = 1; i < STREAM_HUB_MAX_CLIENTS - 1; i++)
		c[i] = fx_client(&f, 0);
	/* 16 attached: the refusals above took no slot. */
	int extra[2];
	tu_sockpair(extra);
	cr_assert_eq(stream_hub_attach(f.h, extra[1]), -EMFILE);
	close(extra[0]);
	close(extra[1]);
	close(sv[0]);
	for (int i = 0; i < STREAM_HUB_MAX_CLIENTS - 1; i++)
		close(c[i]);
	close(mfd);
	close(dg[0]);
	close(dg[1]);
	fx_fini(&f);
}
