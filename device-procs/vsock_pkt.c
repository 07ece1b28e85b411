#include "vsock_pkt.h"

#include "bytes.h"

const char *vsock_hdr_parse(const uint8_t *buf, size_t n, struct vsock_hdr *h)
{
	if (n < VSOCK_HDR_SIZE)
		return "shorter than a header";
	*h = (struct vsock_hdr){
		.src_cid = get_le64(buf),
		.dst_cid = get_le64(buf + 8),
		.src_port = get_le32(buf + 16),
		.dst_port = get_le32(buf + 20),
		.len = get_le32(buf + 24),
		.type = get_le16(buf + 28),
		.op = get_le16(buf + 30),
		.flags = get_le32(buf + 32),
		.buf_alloc = get_le32(buf + 36),
		.fwd_cnt = get_le32(buf + 40),
	};
	if (h->op == VSOCK_OP_INVALID || h->op > VSOCK_OP_CREDIT_REQUEST)
		return "unknown op";
	if (h->type != VSOCK_TYPE_STREAM)
		return "not a stream packet";
	if (h->len > VSOCK_MAX_PAYLOAD)
		return "payload too long";
	if (h->len && h->op != VSOCK_OP_RW)
		return "payload on a packet other than RW";
	if (h->op == VSOCK_OP_SHUTDOWN ? (h->flags & ~(VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
				       : h->flags)
		return "unknown flags";
	return NULL;
}

void vsock_hdr_build(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_SIZE])
{
	put_le64(out, h->src_cid);
	put_le64(out + 8, h->dst_cid);
	put_le32(out + 16, h->src_port);
	put_le32(out + 20, h->dst_port);
	put_le32(out + 24, h->len);
	put_le16(out + 28, h->type);
	put_le16(out + 30, h->op);
	put_le32(out + 32, h->flags);
	put_le32(out + 36, h->buf_alloc);
	put_le32(out + 40, h->fwd_cnt);
}
