/* cellvm-console driven by the test frontend across a process boundary, with
 * the test holding the host side of the port. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "tfe.h"
#include "unix_sock.h"

#define MEM (16u << 20)
#define RXQ 0
#define TXQ 1
#define F_EMERG_WRITE (1ull << 2)

static const char *console_bin(void)
{
	return tfe_bin("device-procs/cellvm-console");
}

/* Starts the backend with the other end of a socketpair as its host side;
 * returns the test's end (non-blocking). */
static int start(struct tfe *f, uint64_t features, uint16_t num)
{
	int sv[2];
	char fdarg[16];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* The backend's end must survive tfe_start's exec. */
	cr_assert_eq(fcntl(sv[1], F_SETFD, 0), 0);
	snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
	const char *argv[] = { console_bin(), "--host-fd", fdarg, NULL };
	cr_assert_eq(tfe_start(f, argv, MEM), 0);
	close(sv[1]);
	cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(tfe_negotiate(f, features), 0);
	cr_assert_eq(tfe_setup_queue(f, RXQ, num), 0);
	cr_assert_eq(tfe_setup_queue(f, TXQ, num), 0);
	return sv[0];
}

static void finish_clean(struct tfe *f)
{
	int status = tfe_finish(f);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "backend must exit 0 when the frontend hangs up (status 0x%x)", status);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads exactly len bytes from the non-blocking host end within timeout_ms. */
static void host_read(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	size_t got = 0;
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		cr_assert(n < 0 && errno == EAGAIN, "host read: %zd (%s)", n, strerror(errno));
		cr_assert_lt(now_ms(), deadline, "host got %zu of %zu bytes", got, len);
		struct pollfd p1 = { .fd = fd, .events = POLLIN };
		poll(&p1, 1, 10);
	}
}

static void host_write(int fd, const void *buf, size_t len)
{
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
}

static void wait_used(struct tfe *f, unsigned int q, int head, uint32_t want_len)
{
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(f, q, 5000, &id, &len), 0, "queue %u: no used buffer", q);
	cr_assert_eq(id, (uint32_t)head);
	cr_assert_eq(len, want_len);
}

/* Posts bytes as a transmit chain split into two buffers. */
static int post_tx(struct tfe *f, const void *data, uint32_t len)
{
	uint64_t gpa = tfe_alloc(f, len);
	memcpy(tfe_ptr(f, gpa), data, len);
	uint32_t half = len / 2;
	struct tfe_buf b[2] = { { gpa, half, false }, { gpa + half, len - half, false } };
	int head = tfe_post(f, TXQ, b, 2, false);
	cr_assert_geq(head, 0);
	return head;
}

Test(console, guest_output_reaches_host)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	static const char msg[] = "hello from the guest\n";
	int head = post_tx(&f, msg, sizeof(msg) - 1);
	wait_used(&f, TXQ, head, 0);
	char got[sizeof(msg)] = "";
	host_read(host, got, sizeof(msg) - 1, 5000);
	cr_assert_str_eq(got, msg);
	close(host);
	finish_clean(&f);
}

Test(console, host_input_reaches_guest)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	uint64_t buf = tfe_alloc(&f, 64);
	struct tfe_buf b = { buf, 64, true };
	int head = tfe_post(&f, RXQ, &b, 1, false);
	cr_assert_geq(head, 0);
	/* The buffer waits for input: nothing comes back before it. */
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, RXQ, 200, &id, &len), -ETIMEDOUT);
	host_write(host, "typed", 5);
	wait_used(&f, RXQ, head, 5);
	cr_assert_arr_eq(tfe_ptr(&f, buf), "typed", 5);
	close(host);
	finish_clean(&f);
}

Test(console, host_input_waits_for_buffers)
{
	struct tfe f;
	int host = start(&f, BIT_ULL(VIRTIO_F_EVENT_IDX) | BIT_ULL(VIRTIO_F_INDIRECT_DESC), 16);
	uint8_t data[100];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 3 + 1);
	host_write(host, data, sizeof(data));
	usleep(100 * 1000);
	/* Input that came with no buffer posted lands in the next one, which
	 * may be split and indirect. */
	uint64_t buf = tfe_alloc(&f, 128);
	struct tfe_buf b[2] = { { buf, 40, true }, { buf + 40, 88, true } };
	int head = tfe_post(&f, RXQ, b, 2, true);
	cr_assert_geq(head, 0);
	wait_used(&f, RXQ, head, sizeof(data));
	cr_assert_arr_eq(tfe_ptr(&f, buf), data, sizeof(data));
	close(host);
	finish_clean(&f);
}

/* The byte at offset i of the burst: not periodic in any chain size. */
static uint8_t burst_byte(uint64_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

Test(console, burst_with_slow_host_arrives_in_order_and_whole, .timeout = 60)
{
	enum { CHAINS = 64, SEG = 4096, SEGS = 4, CHAIN = SEG * SEGS };
	const size_t total = (size_t)CHAINS * CHAIN; /* 1 MiB */
	struct tfe f;
	int host = start(&f, BIT_ULL(VIRTIO_F_EVENT_IDX) | BIT_ULL(VIRTIO_F_INDIRECT_DESC), 256);
	int heads[CHAINS];
	for (int c = 0; c < CHAINS; c++) {
		uint64_t gpa = tfe_alloc(&f, CHAIN);
		uint8_t *p = tfe_ptr(&f, gpa);
		for (size_t i = 0; i < CHAIN; i++)
			p[i] = burst_byte((uint64_t)c * CHAIN + i);
		struct tfe_buf b[SEGS];
		for (int s = 0; s < SEGS; s++)
			b[s] = (struct tfe_buf){ gpa + (uint64_t)s * SEG, SEG, false };
		heads[c] = tfe_post(&f, TXQ, b, SEGS, c % 2);
		cr_assert_geq(heads[c], 0);
	}

	/* The host has read nothing: the device must hold back, not drop. */
	usleep(300 * 1000);
	uint32_t id, len;
	int used = 0;
	while (tfe_wait_used(&f, TXQ, 0, &id, &len) == 0) {
		cr_assert_eq(id, (uint32_t)heads[used]);
		used++;
	}
	cr_assert_lt(used, CHAINS, "all chains used while the host read nothing");

	/* Now read slowly, in small pieces. */
	uint8_t *got = malloc(total);
	cr_assert_not_null(got);
	size_t n = 0;
	uint64_t deadline = now_ms() + 30000;
	while (n < total) {
		size_t want = total - n < 3000 ? total - n : 3000;
		ssize_t r = read(host, got + n, want);
		if (r > 0) {
			n += (size_t)r;
			if ((n / 3000) % 16 == 0)
				usleep(1000);
			continue;
		}
		cr_assert(r < 0 && errno == EAGAIN);
		cr_assert_lt(now_ms(), deadline, "host got %zu of %zu bytes", n, total);
		struct pollfd p = { .fd = host, .events = POLLIN };
		poll(&p, 1, 10);
	}
	for (size_t i = 0; i < total; i++)
		if (got[i] != burst_byte(i))
			cr_assert_fail("byte %zu: got 0x%02x, want 0x%02x", i, got[i],
				       burst_byte(i));
	free(got);
	while (used < CHAINS) {
		cr_assert_eq(tfe_wait_used(&f, TXQ, 5000, &id, &len), 0, "used %d", used);
		cr_assert_eq(id, (uint32_t)heads[used]);
		cr_assert_eq(len, 0);
		used++;
	}
	/* Nothing more than the burst. */
	uint8_t extra;
	cr_assert_eq(read(host, &extra, 1), -1);
	close(host);
	finish_clean(&f);
}

Test(console, host_hang_up_keeps_the_guest_going)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	uint64_t buf = tfe_alloc(&f, 64);
	struct tfe_buf rb = { buf, 64, true };
	int rhead = tfe_post(&f, RXQ, &rb, 1, false);
	host_write(host, "last", 4);
	close(host);
	wait_used(&f, RXQ, rhead, 4);
	/* Output after the hang-up is consumed (and discarded). */
	for (int i = 0; i < 5; i++) {
		int head = post_tx(&f, "into the void", 13);
		wait_used(&f, TXQ, head, 0);
	}
	/* Nothing more comes in: a new receive buffer stays posted. */
	tfe_post(&f, RXQ, &rb, 1, false);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, RXQ, 200, &id, &len), -ETIMEDOUT);
	cr_assert(tfe_alive(&f));
	finish_clean(&f);
}

Test(console, hang_up_while_output_is_held)
{
	struct tfe f;
	int host = start(&f, 0, 64);
	/* Fill the host side's socket buffer, then hang up without reading. */
	enum { CHAIN = 65536, CHAINS = 16 };
	int heads[CHAINS];
	for (int c = 0; c < CHAINS; c++) {
		uint64_t gpa = tfe_alloc(&f, CHAIN);
		struct tfe_buf b = { gpa, CHAIN, false };
		heads[c] = tfe_post(&f, TXQ, &b, 1, false);
	}
	usleep(100 * 1000);
	close(host);
	for (int c = 0; c < CHAINS; c++)
		wait_used(&f, TXQ, heads[c], 0);
	cr_assert(tfe_alive(&f));
	finish_clean(&f);
}

Test(console, buffers_the_wrong_way_round)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	/* A receive buffer the device cannot write is handed back empty. */
	uint64_t rgpa = tfe_alloc(&f, 16);
	struct tfe_buf rb = { rgpa, 16, false };
	host_write(host, "input", 5);
	wait_used(&f, RXQ, tfe_post(&f, RXQ, &rb, 1, false), 0);
	cr_assert_arr_eq(tfe_ptr(&f, rgpa), "\0\0\0\0\0", 5);
	/* A transmit chain's writable tail is ignored, its readable part sent. */
	uint64_t tgpa = tfe_alloc(&f, 32);
	memcpy(tfe_ptr(&f, tgpa), "out", 3);
	struct tfe_buf tb[2] = { { tgpa, 3, false }, { tgpa + 16, 16, true } };
	wait_used(&f, TXQ, tfe_post(&f, TXQ, tb, 2, false), 0);
	char got[4] = "";
	host_read(host, got, 3, 5000);
	cr_assert_str_eq(got, "out");
	/* The input still reaches a proper buffer. */
	struct tfe_buf ok = { rgpa, 16, true };
	wait_used(&f, RXQ, tfe_post(&f, RXQ, &ok, 1, false), 5);
	cr_assert_arr_eq(tfe_ptr(&f, rgpa), "input", 5);
	close(host);
	finish_clean(&f);
}

Test(console, ring_stop_while_output_is_held)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	enum { CHAIN = 1 << 20 };
	uint64_t gpa = tfe_alloc(&f, CHAIN);
	memset(tfe_ptr(&f, gpa), 'z', CHAIN);
	struct tfe_buf b = { gpa, CHAIN, false };
	cr_assert_geq(tfe_post(&f, TXQ, &b, 1, false), 0);
	usleep(100 * 1000);
	/* The frontend takes the ring back while the chain is half written. */
	uint16_t base;
	cr_assert_eq(tfe_stop_queue(&f, TXQ, &base), 0);
	cr_assert_eq(base, 1);
	cr_assert(tfe_alive(&f));
	/* What was written arrives; the device writes no more of it. */
	static char sink[CHAIN];
	ssize_t n, total = 0;
	usleep(100 * 1000);
	while ((n = read(host, sink, sizeof(sink))) > 0)
		total += n;
	cr_assert_gt(total, 0);
	cr_assert_lt(total, CHAIN);
	usleep(100 * 1000);
	cr_assert_eq(read(host, sink, 1), -1);
	close(host);
	finish_clean(&f);
}

static uint16_t used_flags(struct tfe *f, unsigned int q)
{
	struct virtq_used *u = tfe_ptr(f, f->q[q].used_gpa);
	return __atomic_load_n(&u->flags, __ATOMIC_ACQUIRE);
}

static int enable_ring(struct tfe *f, unsigned int q, uint32_t on)
{
	struct vhu_msg m = { .request = VHU_SET_VRING_ENABLE, .kind = VHU_P_VRING_STATE,
			     .u.state = { .index = q, .num = on } };
	return tfe_call(f, &m, NULL, 0, NULL);
}

Test(console, kicks_are_wanted_again_after_a_disable_while_held)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	enum { CHAIN = 1 << 20 };
	uint64_t gpa = tfe_alloc(&f, CHAIN);
	struct tfe_buf b = { gpa, CHAIN, false };
	cr_assert_geq(tfe_post(&f, TXQ, &b, 1, false), 0);
	usleep(100 * 1000);
	cr_assert_eq(used_flags(&f, TXQ), VIRTQ_USED_F_NO_NOTIFY,
		     "no kicks wanted while the host side is full");
	cr_assert_eq(enable_ring(&f, TXQ, 0), 0);
	cr_assert_eq(enable_ring(&f, TXQ, 1), 0);
	cr_assert_eq(used_flags(&f, TXQ), 0, "the driver must kick again");
	static char sink[CHAIN];
	usleep(50 * 1000);
	while (read(host, sink, sizeof(sink)) > 0)
		;
	int head = post_tx(&f, "again", 5);
	wait_used(&f, TXQ, head, 0);
	char got[6] = "";
	host_read(host, got, 5, 5000);
	cr_assert_str_eq(got, "again");
	close(host);
	finish_clean(&f);
}

Test(console, config)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	uint8_t cfg[12];
	memset(cfg, 0xaa, sizeof(cfg));
	cr_assert_eq(tfe_get_config(&f, 0, cfg, sizeof(cfg)), 0);
	static const uint8_t want[12] = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
	cr_assert_arr_eq(cfg, want, sizeof(want));
	uint8_t ports[4];
	cr_assert_eq(tfe_get_config(&f, 4, ports, 4), 0);
	cr_assert_eq(ports[0], 1);
	/* Past the end: refused. */
	cr_assert_neq(tfe_get_config(&f, 10, ports, 4), 0);
	cr_assert_neq(tfe_get_config(&f, 0xfffffffe, ports, 4), 0);
	cr_assert(tfe_alive(&f));
	close(host);
	finish_clean(&f);
}

static int set_config(struct tfe *f, uint32_t off, const void *data, uint32_t len)
{
	struct vhu_msg m = { .request = VHU_SET_CONFIG, .kind = VHU_P_CONFIG,
			     .u.config = { .offset = off, .size = len } };
	memcpy(m.u.config.data, data, len);
	return tfe_call(f, &m, NULL, 0, NULL);
}

Test(console, emergency_write)
{
	struct tfe f;
	int host = start(&f, F_EMERG_WRITE, 16);
	cr_assert(f.features & F_EMERG_WRITE, "EMERG_WRITE must be offered");
	uint8_t le[4] = { 'E', 0, 0, 0 };
	cr_assert_eq(set_config(&f, 8, le, 4), 0);
	le[0] = '!';
	cr_assert_eq(set_config(&f, 8, le, 4), 0);
	char got[3] = "";
	host_read(host, got, 2, 5000);
	cr_assert_str_eq(got, "E!");
	/* Nothing else in config space is writable. */
	cr_assert_eq(set_config(&f, 0, le, 4), -EIO);
	cr_assert_eq(set_config(&f, 8, le, 0), -EIO);
	cr_assert(tfe_alive(&f));
	close(host);
	finish_clean(&f);
}

Test(console, emergency_write_needs_the_feature)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	uint8_t le[4] = { 'E', 0, 0, 0 };
	cr_assert_eq(set_config(&f, 8, le, 4), -EIO);
	char c;
	usleep(50 * 1000);
	cr_assert_eq(read(host, &c, 1), -1);
	close(host);
	finish_clean(&f);
}

Test(console, transmit_loop_breaks_the_ring_only)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	uint64_t gpa = tfe_alloc(&f, 16);
	*tfe_desc(&f, TXQ, 0) = (struct virtq_desc){ gpa, 8, VIRTQ_DESC_F_NEXT, 1 };
	*tfe_desc(&f, TXQ, 1) = (struct virtq_desc){ gpa + 8, 8, VIRTQ_DESC_F_NEXT, 0 };
	tfe_avail_publish(&f, TXQ, 0, 1);
	cr_assert(tfe_wait_err(&f, TXQ, 5000), "a descriptor loop must signal the err fd");
	cr_assert(tfe_alive(&f));
	char c;
	cr_assert_eq(read(host, &c, 1), -1, "nothing of a broken chain is written");
	/* The other direction still works. */
	uint64_t buf = tfe_alloc(&f, 16);
	struct tfe_buf b = { buf, 16, true };
	int head = tfe_post(&f, RXQ, &b, 1, false);
	host_write(host, "ok", 2);
	wait_used(&f, RXQ, head, 2);
	close(host);
	finish_clean(&f);
}

Test(console, receive_out_of_range_head_breaks_the_ring)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	tfe_avail_publish(&f, RXQ, 16, 1);
	cr_assert(tfe_wait_err(&f, RXQ, 5000), "a head out of range must signal the err fd");
	cr_assert(tfe_alive(&f));
	/* Host input is not read into a broken ring. */
	host_write(host, "x", 1);
	int head = post_tx(&f, "still here", 10);
	wait_used(&f, TXQ, head, 0);
	char got[11] = "";
	host_read(host, got, 10, 5000);
	cr_assert_str_eq(got, "still here");
	close(host);
	finish_clean(&f);
}

Test(console, receive_buffer_outside_memory_breaks_the_ring)
{
	struct tfe f;
	int host = start(&f, 0, 16);
	*tfe_desc(&f, RXQ, 0) = (struct virtq_desc){ MEM - 8, 16, VIRTQ_DESC_F_WRITE, 0 };
	tfe_avail_publish(&f, RXQ, 0, 1);
	cr_assert(tfe_wait_err(&f, RXQ, 5000));
	cr_assert(tfe_alive(&f));
	close(host);
	finish_clean(&f);
}

Test(console, host_socket_option)
{
	char path[108];
	snprintf(path, sizeof(path), "/tmp/cellvm-console-test-%d.sock", (int)getpid());
	unlink(path);
	int ls = unix_listen(path, 1, 0);
	cr_assert_geq(ls, 0);

	struct tfe f;
	const char *argv[] = { console_bin(), "--host-socket", path, NULL };
	cr_assert_eq(tfe_start(&f, argv, MEM), 0);
	int host = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	cr_assert_geq(host, 0);
	close(ls);
	unlink(path);
	cr_assert_eq(tfe_negotiate(&f, 0), 0);
	cr_assert_eq(tfe_setup_queue(&f, RXQ, 16), 0);
	cr_assert_eq(tfe_setup_queue(&f, TXQ, 16), 0);
	int head = post_tx(&f, "via socket", 10);
	wait_used(&f, TXQ, head, 0);
	char got[11] = "";
	host_read(host, got, 10, 5000);
	cr_assert_str_eq(got, "via socket");
	close(host);
	finish_clean(&f);
}

static int run_status(const char *args)
{
	char cmd[4300];
	snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", console_bin(), args);
	int status = system(cmd);
	cr_assert(WIFEXITED(status), "status 0x%x", status);
	return WEXITSTATUS(status);
}

Test(console, host_side_options_are_checked)
{
	cr_assert_eq(run_status("--socket-path /tmp/cellvm-console-unused.sock"), 1,
		     "no host side");
	cr_assert_eq(run_status("--socket-path /tmp/cellvm-console-unused.sock --host-fd 0 "
				"--host-socket /tmp/x"),
		     1, "two host sides");
	cr_assert_eq(run_status("--socket-path /tmp/cellvm-console-unused.sock --host-fd 999"),
		     1, "host fd not open");
	cr_assert_eq(run_status("--socket-path /tmp/cellvm-console-unused.sock "
				"--host-socket /nonexistent/sock"),
		     1, "nothing listening");
	cr_assert_eq(run_status("--print-capabilities >/dev/null"), 0);
}
