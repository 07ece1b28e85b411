/* cellvm-vsock driven by the test frontend playing the guest's driver, with
 * host programs on its Unix sockets (Firecracker's hybrid vsock): a host
 * client that CONNECTs to a guest port, a guest that connects to a host
 * listener at <uds_path>_P, 1 MiB each way under small credit windows, and
 * RSTs where nobody listens. The device runs confined (the default). */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tfe.h"
#include "unix_sock.h"
#include "vsock_pkt.h"

#define MEM (16u << 20)
#define RXQ 0
#define TXQ 1
#define EVQ 2
#define QSIZE 64
#define RX_POSTED 32
#define RX_PAYLOAD 4096u
#define GUEST_CID 3u
#define DEV_BUF_ALLOC 16384u   /* the device's window: --buf-alloc */
#define GUEST_BUF_ALLOC 16384u /* ours */
#define BIG (1u << 20)

struct guest {
	struct tfe f;
	char dir[64], uds[96];
	uint64_t rx_gpa[QSIZE]; /* the buffer behind each rx descriptor */
	uint64_t tx_hdr, tx_payload;
	unsigned credit_updates; /* CREDIT_UPDATEs the device sent */
};

static void rx_post(struct guest *g)
{
	uint16_t d = g->f.q[RXQ].next_desc;
	struct tfe_buf b = { g->rx_gpa[d], VSOCK_HDR_SIZE + RX_PAYLOAD, true };
	cr_assert_eq(tfe_post(&g->f, RXQ, &b, 1, false), d);
}

static void start(struct guest *g)
{
	memset(g, 0, sizeof(*g));
	strcpy(g->dir, "/tmp/cellvm-vsock-XXXXXX");
	cr_assert_not_null(mkdtemp(g->dir));
	snprintf(g->uds, sizeof(g->uds), "%s/v.sock", g->dir);
	char buf_alloc[16];
	snprintf(buf_alloc, sizeof(buf_alloc), "%u", DEV_BUF_ALLOC);
	const char *argv[] = { tfe_bin("device-procs/cellvm-vsock"), "--guest-cid", "3",
			       "--uds-path", g->uds, "--buf-alloc", buf_alloc, NULL };
	cr_assert_eq(tfe_start(&g->f, argv, MEM), 0);
	cr_assert_eq(tfe_negotiate(&g->f, 0), 0);
	uint8_t cfg[8];
	cr_assert_eq(tfe_get_config(&g->f, 0, cfg, 8), 0);
	cr_assert_eq(cfg[0], GUEST_CID);
	for (unsigned q = 0; q < 3; q++)
		cr_assert_eq(tfe_setup_queue(&g->f, q, QSIZE), 0);
	for (unsigned i = 0; i < QSIZE; i++)
		g->rx_gpa[i] = tfe_alloc(&g->f, VSOCK_HDR_SIZE + RX_PAYLOAD);
	g->tx_hdr = tfe_alloc(&g->f, VSOCK_HDR_SIZE);
	g->tx_payload = tfe_alloc(&g->f, VSOCK_MAX_PAYLOAD);
	for (unsigned i = 0; i < RX_POSTED; i++)
		rx_post(g);
	/* The host socket exists before the device reads a frontend byte. */
	struct sockaddr_un sa;
	cr_assert_lt(strlen(g->uds), sizeof(sa.sun_path));
}

static void finish(struct guest *g)
{
	int status = tfe_finish(&g->f);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g->dir);
	cr_assert_eq(system(cmd), 0);
}

/* Sends one packet as the guest: h (cids filled in) and len payload bytes. */
static void guest_send(struct guest *g, struct vsock_hdr h, const void *payload, uint32_t len)
{
	h.src_cid = GUEST_CID;
	h.dst_cid = VSOCK_HOST_CID;
	h.type = VSOCK_TYPE_STREAM;
	h.len = len;
	vsock_hdr_build(&h, tfe_ptr(&g->f, g->tx_hdr));
	if (len)
		memcpy(tfe_ptr(&g->f, g->tx_payload), payload, len);
	struct tfe_buf b[2] = { { g->tx_hdr, VSOCK_HDR_SIZE, false }, { g->tx_payload, len, false } };
	cr_assert_geq(tfe_post(&g->f, TXQ, b, len ? 2 : 1, false), 0);
	uint32_t id, used;
	cr_assert_eq(tfe_wait_used(&g->f, TXQ, 5000, &id, &used), 0);
}

/* The next packet the device sends the guest: 0 with its header and up to
 * RX_PAYLOAD bytes of payload, or -ETIMEDOUT. The buffer goes back. */
static int guest_recv(struct guest *g, struct vsock_hdr *h, uint8_t *payload, int timeout_ms)
{
	uint32_t id, len;
	int r = tfe_wait_used(&g->f, RXQ, timeout_ms, &id, &len);
	if (r)
		return r;
	cr_assert_lt(id, QSIZE);
	uint8_t *p = tfe_ptr(&g->f, g->rx_gpa[id]);
	cr_assert_geq(len, VSOCK_HDR_SIZE);
	cr_assert_null(vsock_hdr_parse(p, len, h));
	cr_assert_eq(h->src_cid, VSOCK_HOST_CID);
	cr_assert_eq(h->dst_cid, GUEST_CID);
	cr_assert_eq(len, VSOCK_HDR_SIZE + h->len);
	cr_assert_leq(h->len, RX_PAYLOAD);
	if (payload)
		memcpy(payload, p + VSOCK_HDR_SIZE, h->len);
	if (h->op == VSOCK_OP_CREDIT_UPDATE)
		g->credit_updates++;
	rx_post(g);
	return 0;
}

static struct vsock_hdr hdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t fwd_cnt)
{
	return (struct vsock_hdr){ .src_port = src_port, .dst_port = dst_port, .op = op,
				   .buf_alloc = GUEST_BUF_ALLOC, .fwd_cnt = fwd_cnt };
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

struct host_io {
	int fd;
	size_t n;
	bool ok;
	unsigned delay_ms; /* a reader that starts late: the socket fills up */
};

static void *host_writer(void *arg)
{
	struct host_io *io = arg;
	static uint8_t buf[8192];
	size_t done = 0;
	io->ok = true;
	while (done < io->n) {
		size_t k = io->n - done < sizeof(buf) ? io->n - done : sizeof(buf);
		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(done + i);
		ssize_t w = write(io->fd, buf, k);
		if (w <= 0) {
			io->ok = false;
			break;
		}
		done += (size_t)w;
	}
	return NULL;
}

static void *host_reader(void *arg)
{
	struct host_io *io = arg;
	static uint8_t buf[8192];
	size_t done = 0;
	io->ok = true;
	usleep(io->delay_ms * 1000u);
	while (done < io->n) {
		ssize_t r = read(io->fd, buf, sizeof(buf));
		if (r <= 0) {
			io->ok = false;
			break;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(done + (size_t)i))
				io->ok = false;
		done += (size_t)r;
	}
	return NULL;
}

/* Host to guest: BIG bytes from fd arrive intact on the guest's side of
 * (host_port, guest_port), within the window we advertise. */
static void host_to_guest(struct guest *g, int fd, uint32_t host_port, uint32_t guest_port,
			  uint32_t *dev_fwd_cnt)
{
	struct host_io io = { fd, BIG, false, 0 };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, host_writer, &io), 0);
	static uint8_t payload[RX_PAYLOAD];
	uint32_t got = 0, told = 0;
	while (got < BIG) {
		struct vsock_hdr h;
		cr_assert_eq(guest_recv(g, &h, payload, 5000), 0, "after %u bytes", got);
		cr_assert_eq(h.src_port, host_port);
		cr_assert_eq(h.dst_port, guest_port);
		*dev_fwd_cnt = h.fwd_cnt;
		if (h.op != VSOCK_OP_RW)
			continue;
		cr_assert_leq(got + h.len - told, GUEST_BUF_ALLOC, "past our credit");
		for (uint32_t i = 0; i < h.len; i++)
			cr_assert_eq(payload[i], pattern(got + i), "byte %u", got + i);
		got += h.len;
		/* The application read it: tell the device once half is free. */
		if (got - told >= GUEST_BUF_ALLOC / 2) {
			guest_send(g, hdr(VSOCK_OP_CREDIT_UPDATE, guest_port, host_port, got), NULL, 0);
			told = got;
		}
	}
	pthread_join(t, NULL);
	cr_assert(io.ok);
}

/* Guest to host: BIG bytes sent within the device's credit reach fd, read
 * by a host program that starts delay_ms late. */
static void guest_to_host_late(struct guest *g, int fd, uint32_t host_port, uint32_t guest_port,
			       uint32_t dev_fwd_cnt, uint32_t got_so_far, unsigned delay_ms)
{
	struct host_io io = { fd, BIG, false, delay_ms };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, host_reader, &io), 0);
	static uint8_t chunk[8192];
	uint32_t sent = 0, updates = g->credit_updates;
	while (sent < BIG) {
		uint32_t credit = DEV_BUF_ALLOC - (sent - dev_fwd_cnt);
		if (credit == 0) {
			struct vsock_hdr h;
			cr_assert_eq(guest_recv(g, &h, NULL, 5000), 0, "no credit after %u bytes",
				     sent);
			cr_assert_eq(h.src_port, host_port);
			dev_fwd_cnt = h.fwd_cnt;
			continue;
		}
		uint32_t k = credit < sizeof(chunk) ? credit : sizeof(chunk);
		if (k > BIG - sent)
			k = BIG - sent;
		for (uint32_t i = 0; i < k; i++)
			chunk[i] = pattern(sent + i);
		guest_send(g, hdr(VSOCK_OP_RW, guest_port, host_port, got_so_far), chunk, k);
		sent += k;
	}
	pthread_join(t, NULL);
	cr_assert(io.ok, "the host read what the guest sent, in order");
	cr_assert_geq(g->credit_updates - updates, 4, "%u CREDIT_UPDATEs",
		      g->credit_updates - updates);
}

static void guest_to_host(struct guest *g, int fd, uint32_t host_port, uint32_t guest_port,
			  uint32_t dev_fwd_cnt, uint32_t got_so_far)
{
	guest_to_host_late(g, fd, host_port, guest_port, dev_fwd_cnt, got_so_far, 0);
}

static int host_connect(const char *path)
{
	int fd = unix_connect(path, 0);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(-fd));
	return fd;
}

static void read_line(int fd, char *out, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		struct pollfd p = { fd, POLLIN, 0 };
		cr_assert_eq(poll(&p, 1, 5000), 1, "no reply line");
		cr_assert_eq(read(fd, out + n, 1), 1);
		if (out[n++] == '\n')
			break;
	}
	out[n] = '\0';
}

Test(vsock, host_connects_to_a_guest_port_and_streams_both_ways, .timeout = 60)
{
	struct guest g;
	start(&g);
	int fd = host_connect(g.uds);
	cr_assert_eq(write(fd, "CONNECT 52\n", 11), 11);
	struct vsock_hdr h;
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_REQUEST);
	cr_assert_eq(h.dst_port, 52);
	uint32_t host_port = h.src_port;
	cr_assert_geq(host_port, 1u << 30);
	guest_send(&g, hdr(VSOCK_OP_RESPONSE, 52, host_port, 0), NULL, 0);
	char line[32], want[32];
	read_line(fd, line, sizeof(line));
	snprintf(want, sizeof(want), "OK %u\n", host_port);
	cr_assert_str_eq(line, want);

	uint32_t dev_fwd_cnt = 0;
	host_to_guest(&g, fd, host_port, 52, &dev_fwd_cnt);
	guest_to_host(&g, fd, host_port, 52, dev_fwd_cnt, BIG);

	/* The host closes: the guest hears SHUTDOWN, answers with its own,
	 * and gets the RST that completes the close. */
	close(fd);
	do
		cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	while (h.op == VSOCK_OP_CREDIT_UPDATE);
	cr_assert_eq(h.op, VSOCK_OP_SHUTDOWN);
	struct vsock_hdr sd = hdr(VSOCK_OP_SHUTDOWN, 52, host_port, BIG);
	sd.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	guest_send(&g, sd, NULL, 0);
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	finish(&g);
}

Test(vsock, guest_connects_to_a_host_listener, .timeout = 60)
{
	struct guest g;
	start(&g);
	char path[128];
	snprintf(path, sizeof(path), "%s_1024", g.uds);
	int l = unix_listen(path, 4, 0);
	cr_assert_geq(l, 0);
	guest_send(&g, hdr(VSOCK_OP_REQUEST, 40000, 1024, 0), NULL, 0);
	struct vsock_hdr h;
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_RESPONSE, "op %u", h.op);
	cr_assert_eq(h.src_port, 1024);
	cr_assert_eq(h.dst_port, 40000);
	int fd = accept(l, NULL, NULL);
	cr_assert_geq(fd, 0);

	guest_to_host(&g, fd, 1024, 40000, 0, 0);
	uint32_t dev_fwd_cnt = 0;
	host_to_guest(&g, fd, 1024, 40000, &dev_fwd_cnt);

	/* The guest closes: the host reads the end, the guest gets its RST. */
	struct vsock_hdr sd = hdr(VSOCK_OP_SHUTDOWN, 40000, 1024, BIG);
	sd.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	guest_send(&g, sd, NULL, 0);
	do
		cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	while (h.op == VSOCK_OP_CREDIT_UPDATE);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	char c;
	cr_assert_eq(read(fd, &c, 1), 0, "the host sees the end of the stream");
	close(fd);
	close(l);
	finish(&g);
}

Test(vsock, rst_where_nobody_listens, .timeout = 30)
{
	struct guest g;
	start(&g);
	/* No listener at <uds>_7. */
	guest_send(&g, hdr(VSOCK_OP_REQUEST, 40001, 7, 0), NULL, 0);
	struct vsock_hdr h;
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	cr_assert_eq(h.src_port, 7);
	cr_assert_eq(h.dst_port, 40001);
	/* Data on a connection the device does not know. */
	guest_send(&g, hdr(VSOCK_OP_RW, 40002, 8, 0), "x", 1);
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	cr_assert_eq(h.dst_port, 40002);
	/* A host client whose guest port nobody listens on: the guest's RST
	 * closes the host side without an OK. */
	int fd = host_connect(g.uds);
	cr_assert_eq(write(fd, "CONNECT 99\n", 11), 11);
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_REQUEST);
	guest_send(&g, hdr(VSOCK_OP_RST, 99, h.src_port, 0), NULL, 0);
	char c;
	cr_assert_eq(read(fd, &c, 1), 0);
	close(fd);
	/* A malformed CONNECT line is hung up on. */
	fd = host_connect(g.uds);
	cr_assert_eq(write(fd, "CONNECT x\n", 10), 10);
	ssize_t rr = read(fd, &c, 1);
	cr_assert_leq(rr, 0, "hung up (EOF or reset: the rest of the line is unread)");
	close(fd);
	finish(&g);
}

Test(vsock, many_connections_at_once, .timeout = 60)
{
	struct guest g;
	start(&g);
	enum { N = 20 };
	int fds[N];
	uint32_t ports[N];
	for (int i = 0; i < N; i++) {
		fds[i] = host_connect(g.uds);
		char line[32];
		int n = snprintf(line, sizeof(line), "CONNECT %d\n", 100 + i);
		cr_assert_eq(write(fds[i], line, (size_t)n), n);
		struct vsock_hdr h;
		cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
		cr_assert_eq(h.op, VSOCK_OP_REQUEST);
		cr_assert_eq(h.dst_port, (uint32_t)(100 + i));
		ports[i] = h.src_port;
		guest_send(&g, hdr(VSOCK_OP_RESPONSE, h.dst_port, h.src_port, 0), NULL, 0);
		read_line(fds[i], line, sizeof(line));
		cr_assert_eq(strncmp(line, "OK ", 3), 0);
	}
	/* Each host client's bytes arrive on its own connection. */
	for (int i = 0; i < N; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "hello %d", i);
		cr_assert_eq(write(fds[i], msg, (size_t)n), n);
	}
	bool seen[N] = { false };
	for (int k = 0; k < N; k++) {
		struct vsock_hdr h;
		uint8_t payload[RX_PAYLOAD];
		cr_assert_eq(guest_recv(&g, &h, payload, 5000), 0);
		cr_assert_eq(h.op, VSOCK_OP_RW);
		int i = (int)h.dst_port - 100;
		cr_assert(i >= 0 && i < N && !seen[i]);
		cr_assert_eq(h.src_port, ports[i]);
		char want[16];
		int n = snprintf(want, sizeof(want), "hello %d", i);
		cr_assert_eq(h.len, (uint32_t)n);
		cr_assert_arr_eq(payload, want, (size_t)n);
		seen[i] = true;
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	finish(&g);
}

/* A host program that does not read for a while: its socket fills, the
 * device holds what the guest sent within its credit, and the guest waits
 * for credit; once the program reads, everything arrives in order. */
Test(vsock, a_late_host_reader_loses_nothing, .timeout = 60)
{
	struct guest g;
	start(&g);
	char path[128];
	snprintf(path, sizeof(path), "%s_2000", g.uds);
	int l = unix_listen(path, 4, 0);
	cr_assert_geq(l, 0);
	guest_send(&g, hdr(VSOCK_OP_REQUEST, 40000, 2000, 0), NULL, 0);
	struct vsock_hdr h;
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_RESPONSE);
	int fd = accept(l, NULL, NULL);
	cr_assert_geq(fd, 0);
	guest_to_host_late(&g, fd, 2000, 40000, 0, 0, 1500);
	close(fd);
	close(l);
	finish(&g);
}

/* 256 connections at most: the next host client is closed at once, the
 * next guest connection gets an RST; one closing frees a place. */
Test(vsock, a_bound_on_connections, .timeout = 60)
{
	struct guest g;
	start(&g);
	enum { MAX = 256 };
	static int fds[MAX];
	/* Host clients that have not sent their line yet hold a place too. */
	for (int i = 0; i < MAX; i++)
		fds[i] = host_connect(g.uds);
	int extra = host_connect(g.uds);
	struct pollfd p = { extra, POLLIN, 0 };
	cr_assert_eq(poll(&p, 1, 5000), 1, "the client past the bound is not closed");
	char c;
	cr_assert_leq(read(extra, &c, 1), 0);
	close(extra);
	char path[128];
	snprintf(path, sizeof(path), "%s_3000", g.uds);
	int l = unix_listen(path, 4, 0);
	cr_assert_geq(l, 0);
	guest_send(&g, hdr(VSOCK_OP_REQUEST, 41000, 3000, 0), NULL, 0);
	struct vsock_hdr h;
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_RST, "a guest connection past the bound");
	close(fds[0]);
	/* The device sees the hang-up and frees the place. */
	for (int tries = 0; tries < 50; tries++) {
		guest_send(&g, hdr(VSOCK_OP_REQUEST, 41001 + (uint32_t)tries, 3000, 0), NULL, 0);
		cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
		if (h.op == VSOCK_OP_RESPONSE)
			break;
		cr_assert_eq(h.op, VSOCK_OP_RST);
		usleep(20000);
	}
	cr_assert_eq(h.op, VSOCK_OP_RESPONSE);
	for (int i = 1; i < MAX; i++)
		close(fds[i]);
	close(l);
	finish(&g);
}

/* A guest that never answers a REQUEST: after 2 s it gets an RST and the
 * host client is hung up on, which frees the place. */
Test(vsock, an_unanswered_request_times_out, .timeout = 30)
{
	struct guest g;
	start(&g);
	int fd = host_connect(g.uds);
	cr_assert_eq(write(fd, "CONNECT 52\n", 11), 11);
	struct vsock_hdr h;
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_REQUEST);
	uint32_t host_port = h.src_port;
	struct pollfd p = { fd, POLLIN, 0 };
	cr_assert_eq(poll(&p, 1, 1000), 0, "hung up before the guest had its time");
	cr_assert_eq(poll(&p, 1, 5000), 1, "never hung up");
	char c;
	cr_assert_leq(read(fd, &c, 1), 0);
	cr_assert_eq(guest_recv(&g, &h, NULL, 5000), 0);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	cr_assert_eq(h.src_port, host_port);
	cr_assert_eq(h.dst_port, 52);
	close(fd);
	finish(&g);
}
