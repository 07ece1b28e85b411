/* virtio-vsock packet headers (virtio 1.2, 5.10.6): struct virtio_vsock_hdr
 * as 44 little-endian bytes, and the checks a header from the guest must
 * pass before the device acts on it. Pure: no I/O, explicit lengths. */
#ifndef CELLVM_VSOCK_PKT_H
#define CELLVM_VSOCK_PKT_H

#include <stddef.h>
#include <stdint.h>

#define VSOCK_HDR_SIZE 44u
#define VSOCK_HOST_CID 2u
/* A guest's CID: 0-2 are reserved, 0xffffffff is VMADDR_CID_ANY. */
#define VSOCK_MIN_GUEST_CID 3u
#define VSOCK_MAX_GUEST_CID 0xfffffffeu
/* The largest payload one packet may carry (Linux sends at most 64 KiB). */
#define VSOCK_MAX_PAYLOAD 65536u

#define VSOCK_TYPE_STREAM 1u

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

/* SHUTDOWN's flags. */
#define VSOCK_SHUTDOWN_RCV 1u  /* the sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2u /* the sender will send no more */

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags;
	uint32_t buf_alloc, fwd_cnt;
};

/* Decodes the first VSOCK_HDR_SIZE bytes of buf (n bytes) into *h. NULL if
 * the header is one the device may act on, else why not: too short, an
 * unknown op or type, a payload past VSOCK_MAX_PAYLOAD or on an op other
 * than RW, flags on an op other than SHUTDOWN, or unknown SHUTDOWN flags. */
const char *vsock_hdr_parse(const uint8_t *buf, size_t n, struct vsock_hdr *h);

/* Encodes h into out. */
void vsock_hdr_build(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_SIZE]);

#endif
