/* libFuzzer harness: the vsock connection state machine
 * (device-procs/vsock_csm.c) under any order of guest packets and host
 * events, as cellvm-vsock drives it. Byte 0 picks how the connection
 * starts (host- or guest-initiated) and its buf_alloc; then each step is
 * one byte naming the event, followed by what it needs: a guest packet is
 * 44 header bytes (dropped unless vsock_hdr_parse accepts it, as the
 * device does), forwarded and RW take 4 bytes of length. Throughout: the
 * held bytes are what was delivered and not yet forwarded and never exceed
 * buf_alloc; data goes to the guest only within its credit; nothing is
 * delivered once closing; a finished connection owes nothing.
 *
 * Links: device-procs/vsock_csm.c device-procs/vsock_pkt.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "vsock_csm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

enum { EV_GUEST, EV_FORWARDED, EV_SEND_OWED, EV_SEND_RW, EV_HOST_EOF, EV_HOST_GONE, EV_N };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct vsock_conn c;
	uint32_t buf_alloc = 4096u << (data[0] & 7);
	uint64_t held = 0; /* the model: delivered minus forwarded */
	if (data[0] & 0x80) {
		vsock_conn_init_host(&c, 1u << 30, 52, buf_alloc);
	} else {
		struct vsock_hdr req = { .src_port = 52, .dst_port = 1u << 30,
					 .op = VSOCK_OP_REQUEST, .type = VSOCK_TYPE_STREAM,
					 .buf_alloc = 65536 };
		vsock_conn_init_guest(&c, &req, buf_alloc);
	}
	size_t i = 1;
	while (i < size && !vsock_conn_finished(&c)) {
		uint8_t ev = data[i++] % EV_N;
		struct vsock_hdr h;
		uint32_t n = 0;
		if ((ev == EV_FORWARDED || ev == EV_SEND_RW) && i + 4 <= size) {
			n = get_le32(data + i);
			i += 4;
		}
		switch (ev) {
		case EV_GUEST: {
			if (size - i < VSOCK_HDR_SIZE)
				return 0;
			const char *why = vsock_hdr_parse(data + i, VSOCK_HDR_SIZE, &h);
			i += VSOCK_HDR_SIZE;
			if (why)
				break;
			bool closing = c.state == VSOCK_CLOSING;
			struct vsock_act a;
			vsock_conn_guest(&c, &h, &a);
			CHECK(a.deliver == 0 || (h.op == VSOCK_OP_RW && a.deliver == h.len && !closing));
			CHECK(!(a.deliver && a.discard));
			if (a.discard)
				held = 0;
			held += a.deliver;
			break;
		}
		case EV_FORWARDED:
			if (n > held)
				n = (uint32_t)held;
			vsock_conn_forwarded(&c, n);
			held -= n;
			break;
		case EV_SEND_OWED: {
			uint16_t op = vsock_conn_next_owed(&c);
			if (op) {
				vsock_conn_fill(&c, op, 0, &h);
				CHECK(h.op == op && h.len == 0 && h.buf_alloc == buf_alloc);
			}
			break;
		}
		case EV_SEND_RW: {
			uint32_t room = vsock_conn_rx_room(&c);
			if (!room)
				break;
			n = n % room + 1;
			vsock_conn_fill(&c, VSOCK_OP_RW, n, &h);
			CHECK(h.len == n && vsock_conn_rx_room(&c) == room - n);
			break;
		}
		case EV_HOST_EOF:
			vsock_conn_host_eof(&c);
			break;
		case EV_HOST_GONE:
			vsock_conn_host_gone(&c);
			held = 0;
			break;
		}
		CHECK(c.tx_held == held && held <= buf_alloc);
		CHECK(c.rx_cnt - c.peer_fwd_cnt <= c.peer_buf_alloc || !vsock_conn_rx_room(&c));
		if (vsock_conn_finished(&c))
			CHECK(vsock_conn_next_owed(&c) == 0);
	}
	return 0;
}
