/* The pure parts of cellvm-vsock: packet headers, the connection state
 * machine with its credit, and the hybrid CONNECT line. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "vsock_csm.h"
#include "vsock_hybrid.h"
#include "vsock_pkt.h"

/* ---------------------------------------------------------------- headers */

static struct vsock_hdr hdr(uint16_t op, uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = 3, .dst_cid = 2, .src_port = 1234, .dst_port = 52,
				   .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
				   .buf_alloc = 4096, .fwd_cnt = 0 };
}

Test(vsock_pkt, round_trips_little_endian)
{
	struct vsock_hdr h = { 0x0102030405060708ull, 2, 0xa1a2a3a4, 0xb1b2b3b4, 7,
			       VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0xc1c2c3c4, 0xd1d2d3d4 };
	uint8_t raw[VSOCK_HDR_SIZE], again[VSOCK_HDR_SIZE];
	vsock_hdr_build(&h, raw);
	cr_assert_eq(raw[0], 0x08);
	cr_assert_eq(raw[7], 0x01);
	cr_assert_eq(raw[16], 0xa4);
	cr_assert_eq(raw[24], 7);
	cr_assert_eq(raw[28], 1);
	cr_assert_eq(raw[30], VSOCK_OP_RW);
	cr_assert_eq(raw[43], 0xd1);
	struct vsock_hdr got;
	cr_assert_null(vsock_hdr_parse(raw, sizeof(raw), &got));
	vsock_hdr_build(&got, again);
	cr_assert_arr_eq(raw, again, sizeof(raw));
}

static const char *parse(struct vsock_hdr h, size_t n)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr got;
	vsock_hdr_build(&h, raw);
	return vsock_hdr_parse(raw, n, &got);
}

Test(vsock_pkt, refuses_what_the_device_cannot_act_on)
{
	cr_assert_not_null(parse(hdr(VSOCK_OP_RW, 0), VSOCK_HDR_SIZE - 1));
	cr_assert_not_null(parse(hdr(VSOCK_OP_INVALID, 0), VSOCK_HDR_SIZE));
	cr_assert_not_null(parse(hdr(8, 0), VSOCK_HDR_SIZE));
	struct vsock_hdr h = hdr(VSOCK_OP_RW, 0);
	h.type = 2; /* seqpacket: not offered */
	cr_assert_not_null(parse(h, VSOCK_HDR_SIZE));
	cr_assert_null(parse(hdr(VSOCK_OP_RW, VSOCK_MAX_PAYLOAD), VSOCK_HDR_SIZE));
	cr_assert_not_null(parse(hdr(VSOCK_OP_RW, VSOCK_MAX_PAYLOAD + 1), VSOCK_HDR_SIZE));
	cr_assert_not_null(parse(hdr(VSOCK_OP_REQUEST, 1), VSOCK_HDR_SIZE));
	h = hdr(VSOCK_OP_SHUTDOWN, 0);
	h.flags = 3;
	cr_assert_null(parse(h, VSOCK_HDR_SIZE));
	h.flags = 4;
	cr_assert_not_null(parse(h, VSOCK_HDR_SIZE));
	h = hdr(VSOCK_OP_RW, 0);
	h.flags = 1;
	cr_assert_not_null(parse(h, VSOCK_HDR_SIZE));
}

/* ---------------------------------------------------------------- CONNECT line */

static int line(const char *s, uint32_t *port)
{
	return vsock_connect_parse((const uint8_t *)s, strlen(s), port);
}

Test(vsock_hybrid, parses_a_line_and_says_where_it_ends)
{
	uint32_t port = 0;
	cr_assert_eq(line("CONNECT 52\n", &port), 11);
	cr_assert_eq(port, 52);
	cr_assert_eq(line("CONNECT 0\nabc", &port), 10);
	cr_assert_eq(port, 0);
	cr_assert_eq(line("CONNECT 4294967295\n", &port), 19);
	cr_assert_eq(port, 4294967295u);
}

Test(vsock_hybrid, waits_for_a_line_that_can_still_come)
{
	uint32_t port;
	cr_assert_eq(line("", &port), 0);
	cr_assert_eq(line("CONN", &port), 0);
	cr_assert_eq(line("CONNECT ", &port), 0);
	cr_assert_eq(line("CONNECT 429496729", &port), 0);
}

Test(vsock_hybrid, refuses_anything_else_at_once)
{
	static const char *const bad[] = {
		"connect 52\n", "CONNECT  52\n", "CONNECT\n", "CONNECT \n", "CONNECT +52\n",
		"CONNECT -1\n", "CONNECT 052\n", "CONNECT 4294967296\n", "CONNECT 12345678901",
		"CONNECT 52 \n", "CONNECT 52\r\n", "CONNECTX", "X",
	};
	uint32_t port;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(line(bad[i], &port), -EINVAL, "%s", bad[i]);
}

Test(vsock_hybrid, formats_ok)
{
	char ok[VSOCK_OK_MAX];
	cr_assert_eq(vsock_ok_format(4294967295u, ok), 14);
	cr_assert_str_eq(ok, "OK 4294967295\n");
}

Test(vsock_hybrid, formats_connect)
{
	char c[VSOCK_CONNECT_MAX + 1];
	cr_assert_eq(vsock_connect_format(4294967295u, c), VSOCK_CONNECT_MAX);
	cr_assert_str_eq(c, "CONNECT 4294967295\n");
	cr_assert_eq(vsock_connect_format(0, c), 10);
	cr_assert_str_eq(c, "CONNECT 0\n");
}

/* What cellvmd reads back from the device (HostVsockConnect). */
static int ok_line(const char *s, uint32_t *port)
{
	return vsock_ok_parse((const uint8_t *)s, strlen(s), port);
}

Test(vsock_hybrid, parses_the_ok_line_and_leaves_the_data_after_it)
{
	uint32_t port = 0;
	cr_assert_eq(ok_line("OK 1073741824\n", &port), 14);
	cr_assert_eq(port, 1073741824u);
	cr_assert_eq(ok_line("OK 0\nguest data", &port), 5);
	cr_assert_eq(port, 0);
	char ok[VSOCK_OK_MAX];
	size_t n = vsock_ok_format(4294967295u, ok);
	cr_assert_eq(vsock_ok_parse((const uint8_t *)ok, n, &port), (int)n);
	cr_assert_eq(port, 4294967295u);
	for (size_t k = 0; k < n; k++)
		cr_assert_eq(vsock_ok_parse((const uint8_t *)ok, k, &port), 0, "%zu bytes", k);
}

Test(vsock_hybrid, refuses_any_other_answer_at_once)
{
	static const char *const bad[] = {
		"ok 5\n", "OK  5\n", "OK\n", "OK \n", "OK +5\n", "OK 05\n", "OK 4294967296\n",
		"OK 12345678901", "OK 5 \n", "OK 5\r\n", "CONNECT 5\n", "ERR", "\n", "O\n",
	};
	uint32_t port;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(ok_line(bad[i], &port), -EINVAL, "%s", bad[i]);
}

/* ---------------------------------------------------------------- connections */

/* A guest-initiated connection, its RESPONSE sent. */
static void open_guest(struct vsock_conn *c, uint32_t buf_alloc, uint32_t peer_buf)
{
	struct vsock_hdr req = hdr(VSOCK_OP_REQUEST, 0), out;
	req.buf_alloc = peer_buf;
	vsock_conn_init_guest(c, &req, buf_alloc);
	cr_assert_eq(vsock_conn_rx_room(c), 0, "no data before the RESPONSE");
	cr_assert_eq(vsock_conn_next_owed(c), VSOCK_OP_RESPONSE);
	vsock_conn_fill(c, VSOCK_OP_RESPONSE, 0, &out);
	cr_assert_eq(out.src_port, 52);
	cr_assert_eq(out.dst_port, 1234);
	cr_assert_eq(out.buf_alloc, buf_alloc);
	cr_assert_eq(vsock_conn_next_owed(c), 0);
}

static struct vsock_act guest(struct vsock_conn *c, struct vsock_hdr h)
{
	struct vsock_act a;
	vsock_conn_guest(c, &h, &a);
	return a;
}

Test(vsock_csm, host_initiated_handshake)
{
	struct vsock_conn c;
	vsock_conn_init_host(&c, 1u << 30, 52, 4096);
	cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_REQUEST);
	/* A RESPONSE before our REQUEST went out is a violation. */
	struct vsock_conn early = c;
	struct vsock_hdr resp = hdr(VSOCK_OP_RESPONSE, 0);
	cr_assert(guest(&early, resp).discard);
	cr_assert_eq(vsock_conn_next_owed(&early), VSOCK_OP_RST);

	struct vsock_hdr out;
	vsock_conn_fill(&c, VSOCK_OP_REQUEST, 0, &out);
	cr_assert_eq(out.op, VSOCK_OP_REQUEST);
	cr_assert_eq(out.src_port, 1u << 30);
	cr_assert_eq(out.dst_port, 52);
	struct vsock_act a = guest(&c, resp);
	cr_assert(a.established);
	cr_assert_eq(c.state, VSOCK_ESTABLISHED);
	cr_assert_eq(vsock_conn_rx_room(&c), 4096);
}

Test(vsock_csm, host_initiated_refused_by_the_guest)
{
	struct vsock_conn c;
	struct vsock_hdr out;
	vsock_conn_init_host(&c, 1u << 30, 52, 4096);
	vsock_conn_fill(&c, VSOCK_OP_REQUEST, 0, &out);
	struct vsock_act a = guest(&c, hdr(VSOCK_OP_RST, 0));
	cr_assert(a.discard);
	cr_assert(vsock_conn_finished(&c), "an RST is not answered");
}

Test(vsock_csm, credit_to_the_guest_follows_its_counters)
{
	struct vsock_conn c;
	struct vsock_hdr out;
	open_guest(&c, 4096, 1000);
	cr_assert_eq(vsock_conn_rx_room(&c), 1000);
	vsock_conn_fill(&c, VSOCK_OP_RW, 600, &out);
	cr_assert_eq(out.len, 600);
	cr_assert_eq(vsock_conn_rx_room(&c), 400);
	vsock_conn_fill(&c, VSOCK_OP_RW, 400, &out);
	cr_assert_eq(vsock_conn_rx_room(&c), 0);
	struct vsock_hdr cu = hdr(VSOCK_OP_CREDIT_UPDATE, 0);
	cu.buf_alloc = 1000;
	cu.fwd_cnt = 700;
	guest(&c, cu);
	cr_assert_eq(vsock_conn_rx_room(&c), 700);
	/* A guest claiming more taken than sent gets no more than buf_alloc. */
	cu.fwd_cnt = 5000;
	guest(&c, cu);
	cr_assert_eq(vsock_conn_rx_room(&c), 0);
}

Test(vsock_csm, counters_wrap)
{
	struct vsock_conn c;
	open_guest(&c, 4096, 1000);
	c.rx_cnt = 0xffffff00u;
	struct vsock_hdr cu = hdr(VSOCK_OP_CREDIT_UPDATE, 0);
	cu.buf_alloc = 1000;
	cu.fwd_cnt = 0xffffff00u;
	guest(&c, cu);
	struct vsock_hdr out;
	vsock_conn_fill(&c, VSOCK_OP_RW, 0x200, &out);
	cr_assert_eq(c.rx_cnt, 0x100);
	cr_assert_eq(vsock_conn_rx_room(&c), 1000 - 0x200);
}

Test(vsock_csm, guest_data_is_held_within_its_credit)
{
	struct vsock_conn c;
	open_guest(&c, 4096, 1000);
	struct vsock_act a = guest(&c, hdr(VSOCK_OP_RW, 3000));
	cr_assert_eq(a.deliver, 3000);
	cr_assert_eq(c.tx_held, 3000);
	a = guest(&c, hdr(VSOCK_OP_RW, 1096));
	cr_assert_eq(a.deliver, 1096);
	vsock_conn_forwarded(&c, 1000);
	cr_assert_eq(vsock_conn_next_owed(&c), 0, "a quarter forwarded: no update yet");
	vsock_conn_forwarded(&c, 1048);
	cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_CREDIT_UPDATE);
	struct vsock_hdr out;
	vsock_conn_fill(&c, VSOCK_OP_CREDIT_UPDATE, 0, &out);
	cr_assert_eq(out.fwd_cnt, 2048);
	cr_assert_eq(out.buf_alloc, 4096);
	cr_assert_eq(vsock_conn_next_owed(&c), 0);
	/* 2048 held, 2048 free: one byte more is past the credit. */
	a = guest(&c, hdr(VSOCK_OP_RW, 2049));
	cr_assert(a.discard);
	cr_assert_eq(a.deliver, 0);
	cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_RST);
}

Test(vsock_csm, any_header_carries_the_credit)
{
	struct vsock_conn c;
	struct vsock_hdr out;
	open_guest(&c, 4096, 1000);
	guest(&c, hdr(VSOCK_OP_RW, 4096));
	vsock_conn_forwarded(&c, 4096);
	cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_CREDIT_UPDATE);
	vsock_conn_fill(&c, VSOCK_OP_RW, 10, &out);
	cr_assert_eq(out.fwd_cnt, 4096);
	cr_assert_eq(vsock_conn_next_owed(&c), 0);
}

Test(vsock_csm, credit_request_is_answered)
{
	struct vsock_conn c;
	open_guest(&c, 4096, 1000);
	guest(&c, hdr(VSOCK_OP_CREDIT_REQUEST, 0));
	cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_CREDIT_UPDATE);
}

Test(vsock_csm, guest_closes_and_gets_its_rst_after_the_held_bytes)
{
	struct vsock_conn c;
	struct vsock_hdr out;
	open_guest(&c, 4096, 1000);
	guest(&c, hdr(VSOCK_OP_RW, 100));
	struct vsock_hdr sd = hdr(VSOCK_OP_SHUTDOWN, 0);
	sd.flags = VSOCK_SHUTDOWN_SEND;
	struct vsock_act a = guest(&c, sd);
	cr_assert(a.shut_host);
	cr_assert_not(a.discard);
	cr_assert_eq(vsock_conn_rx_room(&c), 4096, "the guest still receives");
	cr_assert(guest(&c, hdr(VSOCK_OP_RW, 1)).discard, "data after SHUTDOWN(SEND)");

	open_guest(&c, 4096, 1000);
	guest(&c, hdr(VSOCK_OP_RW, 100));
	sd.flags = VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV;
	a = guest(&c, sd);
	cr_assert(a.shut_host);
	cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_RST);
	vsock_conn_fill(&c, VSOCK_OP_RST, 0, &out);
	cr_assert_not(vsock_conn_finished(&c), "100 bytes still go to the host");
	vsock_conn_forwarded(&c, 100);
	cr_assert(vsock_conn_finished(&c));
}

Test(vsock_csm, host_eof_then_guest_shutdown_ends_it)
{
	struct vsock_conn c;
	struct vsock_hdr out;
	open_guest(&c, 4096, 1000);
	vsock_conn_host_eof(&c);
	cr_assert_eq(vsock_conn_rx_room(&c), 0);
	cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_SHUTDOWN);
	vsock_conn_fill(&c, VSOCK_OP_SHUTDOWN, 0, &out);
	cr_assert_eq(out.flags, VSOCK_SHUTDOWN_SEND);
	struct vsock_hdr sd = hdr(VSOCK_OP_SHUTDOWN, 0);
	sd.flags = VSOCK_SHUTDOWN_SEND;
	guest(&c, sd);
	cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_RST);
	vsock_conn_fill(&c, VSOCK_OP_RST, 0, &out);
	cr_assert(vsock_conn_finished(&c));
}

Test(vsock_csm, host_gone_resets)
{
	struct vsock_conn c;
	open_guest(&c, 4096, 1000);
	guest(&c, hdr(VSOCK_OP_RW, 100));
	vsock_conn_host_gone(&c);
	cr_assert_eq(c.tx_held, 0);
	cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_RST);
	struct vsock_hdr out;
	vsock_conn_fill(&c, VSOCK_OP_RST, 0, &out);
	cr_assert(vsock_conn_finished(&c));
}

Test(vsock_csm, protocol_violations_reset)
{
	static const uint16_t ops[] = { VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE };
	for (size_t i = 0; i < 2; i++) {
		struct vsock_conn c;
		open_guest(&c, 4096, 1000);
		cr_assert(guest(&c, hdr(ops[i], 0)).discard);
		cr_assert_eq(vsock_conn_next_owed(&c), VSOCK_OP_RST);
		/* Closing: anything but an RST is ignored. */
		struct vsock_act a = guest(&c, hdr(VSOCK_OP_RW, 10));
		cr_assert_eq(a.deliver, 0);
	}
}
