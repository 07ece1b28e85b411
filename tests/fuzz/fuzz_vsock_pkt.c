/* libFuzzer harness: vsock_hdr_parse (device-procs/vsock_pkt.c), which
 * cellvm-vsock runs on every header the guest puts on its tx ring. A header
 * it accepts has a known op, the stream type, a payload only on RW and
 * within VSOCK_MAX_PAYLOAD, flags only on SHUTDOWN; and it builds back to
 * the same 44 bytes.
 *
 * Links: device-procs/vsock_pkt.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vsock_pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsock_hdr h;
	if (vsock_hdr_parse(data, size, &h))
		return 0;
	CHECK(size >= VSOCK_HDR_SIZE);
	CHECK(h.op >= VSOCK_OP_REQUEST && h.op <= VSOCK_OP_CREDIT_REQUEST);
	CHECK(h.type == VSOCK_TYPE_STREAM);
	CHECK(h.len <= VSOCK_MAX_PAYLOAD && (h.len == 0 || h.op == VSOCK_OP_RW));
	CHECK(h.op == VSOCK_OP_SHUTDOWN ? h.flags <= 3 : h.flags == 0);
	uint8_t again[VSOCK_HDR_SIZE];
	vsock_hdr_build(&h, again);
	CHECK(memcmp(again, data, VSOCK_HDR_SIZE) == 0);
	return 0;
}
