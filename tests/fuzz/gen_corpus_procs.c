/* The seeds of the harnesses of the processes' request paths (fuzz_dev_*),
 * of a device process fed over its socket (fuzz_proc_device), of the
 * socket readers (fuzz_recv) and of the lifecycle (fuzz_lifecycle); part of
 * gen_corpus (see gen_corpus.c for how it is built and run). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk_req.h"
#include "bytes.h"
#include "dev_ctl.h"
#include "gen_corpus.h"
#include "net_hdr.h"
#include "vhost_user.h"
#include "virtq.h"
#include "vsock_pkt.h"
#include "worker_ctl.h"

/* ---- fuzz_dev_*: the records of tests/fuzz/dev_drive.h. */
static uint8_t dbuf[4096];
static size_t dlen;

static void dput(const void *p, size_t n)
{
	if (dlen + n > sizeof(dbuf)) {
		fprintf(stderr, "dev seed too long\n");
		exit(1);
	}
	memcpy(dbuf + dlen, p, n);
	dlen += n;
}

static void dbyte(unsigned int b)
{
	uint8_t v = (uint8_t)b;
	dput(&v, 1);
}

static void d16(unsigned int v)
{
	uint8_t b[2];
	put_le16(b, (uint16_t)v);
	dput(b, 2);
}

/* The input's header: queue size 4 << qsel, the harness's variant, mask. */
static void dev_begin(unsigned int qsel, unsigned int variant, uint32_t mask)
{
	uint8_t b[4];
	dlen = 0;
	dbyte(qsel);
	dbyte(variant);
	put_le32(b, mask);
	dput(b, 4);
}

/* A chain of n segments: lens[i] with bit 15 for device-writable; the
 * readable ones' bytes from data, one after the other. */
static void dev_add(unsigned int q, bool indirect, unsigned int n, const uint16_t *lens,
		    const uint8_t *data)
{
	dbyte(0);
	dbyte(q);
	dbyte(n - 1);
	dbyte(indirect);
	for (unsigned int i = 0; i < n; i++) {
		d16(lens[i]);
		size_t n = lens[i] & 0x4000 ? 1 : lens[i]; /* bit 14: one byte, repeated */
		if (!(lens[i] & 0x8000)) {
			dput(data, n);
			data += n;
		}
	}
}

static void dev_kick(unsigned int q)
{
	dbyte(1);
	dbyte(q);
}

static void dev_host(const void *p, size_t n)
{
	dbyte(2);
	d16((unsigned int)n);
	dput(p, n);
}

static void dev_stop(unsigned int q, bool restart)
{
	dbyte(4);
	dbyte(q);
	dbyte(restart);
}

static void dev_reneg(unsigned int qsel, uint32_t mask)
{
	uint8_t b[4];
	dbyte(5);
	dbyte(qsel);
	put_le32(b, mask);
	dput(b, 4);
}

static void dev_config(bool set, unsigned int off, unsigned int len, const void *p)
{
	dbyte(6);
	dbyte(set);
	dbyte(off);
	dbyte(len);
	if (set)
		dput(p, len);
}

#define W 0x8000u
#define ALL 0xffffffffu
#define NO_RING_FEATURES 0x8fffffffu /* no INDIRECT, EVENT_IDX, PROTOCOL_FEATURES */

/* A blk request on queue q: header (type, sector), data out (n bytes) or
 * in, status. */
static void blk_dev_req_q(unsigned int q, uint32_t type, uint64_t sector, unsigned int out,
			  unsigned int in, bool indirect)
{
	uint8_t d[BLK_HDR_SIZE + 1024];
	put_le32(d, type);
	put_le32(d + 4, 0);
	put_le64(d + 8, sector);
	memset(d + BLK_HDR_SIZE, 0x5a, sizeof(d) - BLK_HDR_SIZE);
	uint16_t lens[4];
	unsigned int n = 0;
	lens[n++] = BLK_HDR_SIZE;
	if (out)
		lens[n++] = (uint16_t)out;
	if (in)
		lens[n++] = (uint16_t)(W | in);
	lens[n++] = W | 1;
	dev_add(q, indirect, n, lens, d);
}

static void blk_dev_req(uint32_t type, uint64_t sector, unsigned int out, unsigned int in,
			bool indirect)
{
	blk_dev_req_q(0, type, sector, out, in, indirect);
}

static void gen_dev_blk(void)
{
	static const struct { const char *name; unsigned int variant; uint32_t type;
			      uint64_t sector; unsigned int out, in; } reqs[] = {
		{ "read", 0, VIRTIO_BLK_T_IN, 1, 0, 1024 },
		{ "write", 0, VIRTIO_BLK_T_OUT, 2, 512, 0 },
		{ "flush", 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0 },
		{ "get_id", 0, VIRTIO_BLK_T_GET_ID, 0, 0, BLK_ID_BYTES },
		{ "read_last", 0, VIRTIO_BLK_T_IN, 127, 0, 512 },
		{ "read_past_end", 0, VIRTIO_BLK_T_IN, 127, 0, 1024 },
		{ "direct_read", 1, VIRTIO_BLK_T_IN, 5, 0, 1024 },
		{ "direct_write", 1, VIRTIO_BLK_T_OUT, 6, 512, 0 },
		{ "ro_read", 2, VIRTIO_BLK_T_IN, 3, 0, 512 },
		{ "ro_write", 2, VIRTIO_BLK_T_OUT, 3, 512, 0 },
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		dev_begin(2, reqs[i].variant, ALL);
		blk_dev_req(reqs[i].type, reqs[i].sector, reqs[i].out, reqs[i].in, false);
		dev_kick(0);
		put_file("fuzz_dev_blk", reqs[i].name, dbuf, dlen);
	}
	/* DISCARD and WRITE_ZEROES: one segment {le64 sector, le32 n, le32 flags}. */
	static const struct { const char *name; uint32_t type, flags; } dwz[] = {
		{ "discard", VIRTIO_BLK_T_DISCARD, 0 },
		{ "write_zeroes", VIRTIO_BLK_T_WRITE_ZEROES, 0 },
		{ "write_zeroes_unmap", VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP },
	};
	for (size_t i = 0; i < sizeof(dwz) / sizeof(dwz[0]); i++) {
		uint8_t d[BLK_HDR_SIZE + BLK_SEG_SIZE] = { 0 };
		put_le32(d, dwz[i].type);
		put_le64(d + BLK_HDR_SIZE, 8);
		put_le32(d + BLK_HDR_SIZE + 8, 16);
		put_le32(d + BLK_HDR_SIZE + 12, dwz[i].flags);
		dev_begin(2, 0, ALL);
		dev_add(0, false, 3, (const uint16_t[]){ BLK_HDR_SIZE, BLK_SEG_SIZE, W | 1 }, d);
		dev_kick(0);
		put_file("fuzz_dev_blk", dwz[i].name, dbuf, dlen);
	}
	/* A batch through indirect tables, then a ring stop and restart, a new
	 * negotiation without the ring features, and the cache mode. */
	dev_begin(3, 0, ALL);
	blk_dev_req(VIRTIO_BLK_T_OUT, 4, 1024, 0, true);
	blk_dev_req(VIRTIO_BLK_T_IN, 4, 0, 1024, true);
	blk_dev_req(VIRTIO_BLK_T_FLUSH, 0, 0, 0, true);
	dev_kick(0);
	dev_stop(0, true);
	blk_dev_req(VIRTIO_BLK_T_IN, 0, 0, 512, false);
	dev_kick(0);
	dev_reneg(1, NO_RING_FEATURES);
	blk_dev_req(VIRTIO_BLK_T_IN, 0, 0, 512, false);
	dev_kick(0);
	dev_config(false, 0, 60, NULL);
	dev_config(true, BLK_CONFIG_WRITEBACK, 1, (const uint8_t[]){ 0 });
	put_file("fuzz_dev_blk", "batch_stop_reneg_config", dbuf, dlen);
	/* --direct with two queues: a bounced write and read on the second. */
	dev_begin(2, 1, ALL);
	blk_dev_req_q(1, VIRTIO_BLK_T_OUT, 7, 1024, 0, false);
	blk_dev_req_q(1, VIRTIO_BLK_T_IN, 7, 0, 1024, false);
	dev_kick(1);
	put_file("fuzz_dev_blk", "direct_queue1", dbuf, dlen);
}

/* A 60-byte Ethernet frame after a virtio-net header. */
static void net_frame(uint8_t *p, uint8_t flags, uint8_t gso, uint16_t gso_size,
		      uint16_t csum_start, uint16_t csum_off)
{
	memset(p, 0, NET_HDR_SIZE + 60);
	p[0] = flags;
	p[1] = gso;
	put_le16(p + 2, 54);
	put_le16(p + 4, gso_size);
	put_le16(p + 6, csum_start);
	put_le16(p + 8, csum_off);
	memset(p + NET_HDR_SIZE, 0xff, 6);
	memcpy(p + NET_HDR_SIZE + 6, "\x52\x54\x00\x12\x34\x56\x08\x00\x45", 9);
}

static void gen_dev_net(void)
{
	uint8_t f[NET_HDR_SIZE + 60];
	const uint16_t len = sizeof(f);
	static const struct { const char *name; uint8_t flags, gso; uint16_t size; } tx[] = {
		{ "tx", 0, VIRTIO_NET_HDR_GSO_NONE, 0 },
		{ "tx_csum", VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 0 },
		{ "tx_tso4", VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 1448 },
		{ "tx_tso6_ecn", VIRTIO_NET_HDR_F_NEEDS_CSUM,
		  VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN, 1428 },
	};
	for (size_t i = 0; i < sizeof(tx) / sizeof(tx[0]); i++) {
		net_frame(f, tx[i].flags, tx[i].gso, tx[i].size, 34, 16);
		dev_begin(2, 0, ALL);
		dev_add(1, false, 1, &len, f);
		dev_kick(1);
		put_file("fuzz_dev_net", tx[i].name, dbuf, dlen);
	}
	/* The header in a descriptor of its own, through an indirect table. */
	net_frame(f, 0, 0, 0, 0, 0);
	dev_begin(2, 0, ALL);
	dev_add(1, true, 2, (const uint16_t[]){ NET_HDR_SIZE, 60 }, f);
	dev_kick(1);
	put_file("fuzz_dev_net", "tx_split", dbuf, dlen);
	/* Receive: one buffer; with MRG_RXBUF across three small ones; without
	 * it into one too small. */
	net_frame(f, 0, 0, 0, 0, 0);
	dev_begin(2, 0, ALL);
	dev_host(f, sizeof(f));
	dev_add(0, false, 1, (const uint16_t[]){ W | 1526 }, NULL);
	dev_kick(0);
	put_file("fuzz_dev_net", "rx", dbuf, dlen);
	dev_begin(2, 0, ALL);
	for (int i = 0; i < 3; i++)
		dev_add(0, false, 1, (const uint16_t[]){ W | 32 }, NULL);
	dev_kick(0);
	dev_host(f, sizeof(f));
	put_file("fuzz_dev_net", "rx_mrg", dbuf, dlen);
	dev_begin(2, 0, ALL & ~(1u << 15));
	dev_add(0, false, 1, (const uint16_t[]){ W | 32 }, NULL);
	dev_kick(0);
	dev_host(f, sizeof(f));
	dev_add(0, false, 1, (const uint16_t[]){ W | 1526 }, NULL);
	dev_kick(0);
	dev_config(false, 0, 24, NULL);
	put_file("fuzz_dev_net", "rx_no_mrg", dbuf, dlen);
}

static void gen_dev_console(void)
{
	dev_begin(2, 0, ALL);
	dev_add(1, false, 2, (const uint16_t[]){ 6, 3 }, (const uint8_t *)"hello\nabc");
	dev_kick(1);
	put_file("fuzz_dev_console", "tx", dbuf, dlen);
	dev_begin(2, 0, ALL);
	dev_add(0, false, 1, (const uint16_t[]){ W | 64 }, NULL);
	dev_kick(0);
	dev_host("typed\n", 6);
	put_file("fuzz_dev_console", "rx", dbuf, dlen);
	/* Both ways, then the host side closes: input ends, output discarded. */
	dev_begin(2, 0, NO_RING_FEATURES);
	dev_host("early", 5);
	dev_add(0, true, 1, (const uint16_t[]){ W | 8 }, NULL);
	dev_add(0, false, 1, (const uint16_t[]){ W | 8 }, NULL);
	dev_kick(0);
	dev_add(1, false, 1, (const uint16_t[]){ 4 }, (const uint8_t *)"out\n");
	dev_kick(1);
	dbyte(7);
	dev_add(1, false, 1, (const uint16_t[]){ 4 }, (const uint8_t *)"more");
	dev_kick(1);
	dbyte(7);
	put_file("fuzz_dev_console", "both_close", dbuf, dlen);
	/* Output beyond the host side's buffer (8000 bytes of 'x'): the chain
	 * is held, then the ring stops with it. */
	dev_begin(2, 0, ALL);
	dev_add(1, false, 1, (const uint16_t[]){ 0x4000 | 8000 }, (const uint8_t *)"x");
	dev_kick(1);
	dev_stop(1, true);
	dev_config(true, 8, 1, "!");
	put_file("fuzz_dev_console", "held_stop_emerg", dbuf, dlen);
}

static void gen_dev_rng(void)
{
	dev_begin(2, 0, ALL);
	dev_add(0, false, 1, (const uint16_t[]){ W | 64 }, NULL);
	dev_kick(0);
	put_file("fuzz_dev_rng", "request", dbuf, dlen);
	dev_begin(0, 0, ALL);
	dev_add(0, true, 3, (const uint16_t[]){ W | 16, W | 4000, W | 1 }, NULL);
	dev_add(0, false, 2, (const uint16_t[]){ 4, W | 16 }, (const uint8_t *)"read");
	dev_kick(0);
	dev_stop(0, true);
	dev_add(0, false, 1, (const uint16_t[]){ W | 8 }, NULL);
	dev_kick(0);
	put_file("fuzz_dev_rng", "indirect_readable_stop", dbuf, dlen);
}

/* cellvm-vsock: rx buffers on queue 0, packets on queue 1 (the harness's
 * listener is port 1024; its host client writes what HOST records say). */
static void vsock_pkt(uint16_t op, uint32_t src_port, uint32_t dst_port, const char *payload)
{
	uint8_t p[VSOCK_HDR_SIZE + 64];
	uint32_t n = payload ? (uint32_t)strlen(payload) : 0;
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .src_port = src_port,
			       .dst_port = dst_port, .len = n, .type = VSOCK_TYPE_STREAM,
			       .op = op, .buf_alloc = 65536 };
	vsock_hdr_build(&h, p);
	memcpy(p + VSOCK_HDR_SIZE, payload ? payload : "", n);
	uint16_t lens[2] = { VSOCK_HDR_SIZE, (uint16_t)n };
	dev_add(1, false, n ? 2 : 1, lens, p);
	dev_kick(1);
}

static void vsock_rx_buffers(void)
{
	static const uint16_t len = 0x8000 | (VSOCK_HDR_SIZE + 1024);
	for (int i = 0; i < 4; i++)
		dev_add(0, false, 1, &len, NULL);
	dev_kick(0);
}

static void gen_dev_vsock(void)
{
	dev_begin(2, 0, ALL);
	vsock_rx_buffers();
	vsock_pkt(VSOCK_OP_REQUEST, 40000, 1024, NULL);
	vsock_pkt(VSOCK_OP_RW, 40000, 1024, "hello");
	vsock_pkt(VSOCK_OP_SHUTDOWN, 40000, 1024, NULL);
	put_file("fuzz_dev_vsock", "guest_connects", dbuf, dlen);

	dev_begin(2, 0, ALL);
	vsock_rx_buffers();
	dev_host("CONNECT 52\n", 11);
	vsock_pkt(VSOCK_OP_RESPONSE, 52, 1u << 30, NULL);
	dev_host("hello", 5);
	vsock_pkt(VSOCK_OP_RW, 52, 1u << 30, "back");
	dbyte(7); /* HOST_CLOSE */
	put_file("fuzz_dev_vsock", "host_connects", dbuf, dlen);

	dev_begin(2, 0, ALL);
	vsock_rx_buffers();
	vsock_pkt(VSOCK_OP_REQUEST, 40001, 7, NULL);
	vsock_pkt(VSOCK_OP_RW, 40002, 8, "x");
	put_file("fuzz_dev_vsock", "rsts", dbuf, dlen);
}

void gen_dev(void)
{
	gen_dev_blk();
	gen_dev_net();
	gen_dev_console();
	gen_dev_rng();
	gen_dev_vsock();
}

/* ---- fuzz_proc_device: a device byte, then fuzz_backend's chunks. A real
 * device refuses features it did not offer, so these ask only for what every
 * one offers. Rings of queue q of 8 at GPA 0 (desc 0x0, avail 0x100, used
 * 0x200) hold one chain; its buffers are at 0x1000 and up. */
static void proc_session(uint8_t dev, unsigned int q, const uint8_t *ring, size_t ring_len,
			 const void *data, size_t data_len)
{
	const uint64_t uva = 0x7f0000000000ull;
	bbuf[0] = dev;
	blen = 1;
	chunk_msg(&(struct vhu_msg){ .request = VHU_GET_FEATURES }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_FEATURES, .kind = VHU_P_U64,
				     .u.u64 = BIT_ULL(VIRTIO_F_VERSION_1) |
					      BIT_ULL(VHU_F_PROTOCOL_FEATURES) }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_PROTOCOL_FEATURES, .kind = VHU_P_U64,
				     .u.u64 = BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK) }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_OWNER }, false);
	chunk_mem(0, ring, ring_len);
	if (data_len)
		chunk_mem(0x1000, data, data_len);
	struct vhu_msg mt = { .request = VHU_SET_MEM_TABLE, .kind = VHU_P_MEM_TABLE,
			      .flags = VHU_FLAG_NEED_REPLY };
	mt.u.mem.nregions = 1;
	mt.u.mem.regions[0] = (struct vhu_mem_region){ 0, 0x10000, uva, 0 };
	chunk_msg(&mt, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_NUM, .kind = VHU_P_VRING_STATE,
				     .u.state = { q, 8 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_BASE, .kind = VHU_P_VRING_STATE,
				     .u.state = { q, 0 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_ADDR, .kind = VHU_P_VRING_ADDR,
				     .u.addr = { .index = q, .desc = uva, .avail = uva + 0x100,
						 .used = uva + 0x200 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_CALL, .kind = VHU_P_U64,
				     .u.u64 = q }, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_KICK, .kind = VHU_P_U64,
				     .u.u64 = q }, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_ENABLE, .kind = VHU_P_VRING_STATE,
				     .u.state = { q, 1 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_GET_VRING_BASE, .kind = VHU_P_VRING_STATE,
				     .u.state = { q, 0 } }, false);
}

/* A chunk of fields for vhu_encode: request, flags, then n LE fields of the
 * given widths. */
static void chunk_built(uint8_t req, const uint8_t *width, const uint64_t *field, size_t n)
{
	uint8_t *h = bbuf + blen;
	size_t len = 2;
	h[2] = req;
	h[3] = 0;
	for (size_t i = 0; i < n; i++)
		for (uint8_t k = 0; k < width[i]; k++)
			h[2 + len++] = (uint8_t)(field[i] >> (8 * k));
	put_le16(h, (uint16_t)(0xc000 | len));
	blen += 2 + len;
}

/* rng's session again, every message built from fields. */
static void proc_built_rng(const uint8_t *ring, size_t ring_len)
{
	const uint64_t uva = 0x7f0000000000ull;
	bbuf[0] = 0;
	blen = 1;
	chunk_built(VHU_SET_FEATURES, (const uint8_t[]){ 8 },
		    (const uint64_t[]){ BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VHU_F_PROTOCOL_FEATURES) },
		    1);
	chunk_mem(0, ring, ring_len);
	chunk_built(VHU_SET_MEM_TABLE, (const uint8_t[]){ 1, 8, 8, 8, 8 },
		    (const uint64_t[]){ 1, 0, 0x10000, uva, 0 }, 5);
	chunk_built(VHU_SET_VRING_NUM, (const uint8_t[]){ 4, 4 }, (const uint64_t[]){ 0, 8 }, 2);
	chunk_built(VHU_SET_VRING_ADDR, (const uint8_t[]){ 4, 4, 8, 8, 8 },
		    (const uint64_t[]){ 0, 0, uva, uva + 0x200, uva + 0x100 }, 5);
	chunk_built(VHU_SET_VRING_CALL, (const uint8_t[]){ 8 }, (const uint64_t[]){ 0 }, 1);
	chunk_built(VHU_SET_VRING_KICK, (const uint8_t[]){ 8 }, (const uint64_t[]){ 0 }, 1);
	chunk_built(VHU_SET_VRING_ENABLE, (const uint8_t[]){ 4, 4 }, (const uint64_t[]){ 0, 1 },
		    2);
	put_file("fuzz_proc_device", "rng_built", bbuf, blen);
}

void gen_proc_device(void)
{
	static const char *const names[] = { "rng", "console", "blk", "net", "balloon" };
	uint8_t ring[0x300];

	/* rng, console's receiveq: one writable buffer. */
	for (uint8_t dev = 0; dev < 2; dev++) {
		memset(ring, 0, sizeof(ring));
		desc(ring, 0, 0, 0x1000, 64, VIRTQ_DESC_F_WRITE, 0);
		put_le16(ring + 0x100 + 2, 1);
		proc_session(dev, 0, ring, sizeof(ring), NULL, 0);
		put_file("fuzz_proc_device", names[dev], bbuf, blen);
	}
	proc_built_rng(ring, sizeof(ring));
	/* console's transmitq: "hi\n" to the host side. */
	memset(ring, 0, sizeof(ring));
	desc(ring, 0, 0, 0x1000, 3, 0, 0);
	put_le16(ring + 0x100 + 2, 1);
	proc_session(1, 1, ring, sizeof(ring), "hi\n", 3);
	put_file("fuzz_proc_device", "console_tx", bbuf, blen);
	/* blk: a read (type 0, VIRTIO_BLK_T_IN) of sector 1: header, data, status. */
	uint8_t req[16] = { 0 };
	put_le64(req + 8, 1);
	memset(ring, 0, sizeof(ring));
	desc(ring, 0, 0, 0x1000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(ring, 0, 1, 0x2000, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	desc(ring, 0, 2, 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
	put_le16(ring + 0x100 + 2, 1);
	proc_session(2, 0, ring, sizeof(ring), req, sizeof(req));
	put_file("fuzz_proc_device", names[2], bbuf, blen);
	/* net's transmitq: a 12-byte virtio-net header and a 60-byte frame. */
	uint8_t pkt[72] = { 0 };
	memset(pkt + 12, 0xff, 6);
	memset(ring, 0, sizeof(ring));
	desc(ring, 0, 0, 0x1000, sizeof(pkt), 0, 0);
	put_le16(ring + 0x100 + 2, 1);
	proc_session(3, 1, ring, sizeof(ring), pkt, sizeof(pkt));
	put_file("fuzz_proc_device", names[3], bbuf, blen);
	/* balloon's inflateq: PFNs 4 and 5 (guest memory is 16 pages). */
	uint8_t pfns[8];
	put_le32(pfns, 4);
	put_le32(pfns + 4, 5);
	memset(ring, 0, sizeof(ring));
	desc(ring, 0, 0, 0x1000, sizeof(pfns), 0, 0);
	put_le16(ring + 0x100 + 2, 1);
	proc_session(4, 0, ring, sizeof(ring), pfns, sizeof(pfns));
	put_file("fuzz_proc_device", names[4], bbuf, blen);
}

/* ---- fuzz_recv: a reader byte, then chunks {u8 fds | 4 plain, le16 len,
 * bytes}, as the socket carries them. */
static uint8_t rbuf[1024];
static size_t rlen;

static void rchunk(uint8_t how, const void *p, size_t n)
{
	rbuf[rlen++] = how;
	put_le16(rbuf + rlen, (uint16_t)n);
	rlen += 2;
	memcpy(rbuf + rlen, p, n);
	rlen += n;
}

void gen_recv(void)
{
	uint8_t msg[VHU_HDR_SIZE + VHU_MAX_PAYLOAD];
	/* Two messages, the second with a memory region and its fd; then one
	 * split across two sends, as a stream may deliver it. */
	rlen = 0;
	rbuf[rlen++] = 0;
	size_t n = enc(&(struct vhu_msg){ .request = VHU_GET_FEATURES }, msg, sizeof(msg));
	rchunk(0, msg, n);
	struct vhu_msg mt = { .request = VHU_SET_MEM_TABLE, .kind = VHU_P_MEM_TABLE };
	mt.u.mem.nregions = 1;
	mt.u.mem.regions[0] = (struct vhu_mem_region){ .gpa = 0, .size = 0x10000,
						       .uaddr = 0x7f0000000000 };
	n = enc(&mt, msg, sizeof(msg));
	rchunk(1, msg, n);
	n = enc(&(struct vhu_msg){ .request = VHU_SET_FEATURES, .kind = VHU_P_U64, .u.u64 = 1ull << 32 },
		msg, sizeof(msg));
	rchunk(4, msg, 5);
	rchunk(4, msg + 5, n - 5);
	put_file("fuzz_recv", "vhost_user", rbuf, rlen);
	/* worker_ctl: READY, then an EXIT with its reason. */
	uint8_t w[WCTL_WIRE_SIZE];
	rlen = 0;
	rbuf[rlen++] = 1;
	wctl_encode(&(struct wctl_msg){ .type = WCTL_READY }, w);
	rchunk(0, w, sizeof(w));
	struct wctl_msg e = { .type = WCTL_EXIT, .status = 3 };
	strcpy(e.text, "kernel load failed");
	wctl_encode(&e, w);
	rchunk(0, w, sizeof(w));
	put_file("fuzz_recv", "worker_ctl", rbuf, rlen);
}

/* ---- fuzz_lifecycle: op bytes (event | client << 3 | clock step << 5), a
 * CreateDone's error and detail, a ChildExited's kind, status, signo, who and
 * detail; a string is a length byte (0xff: none) and its bytes. */
void gen_lifecycle(void)
{
	/* Create, CreateDone ok, Bind, Run, the guest powers off, all exited. */
	static const uint8_t run_poweroff[] = { 0x20, 0x21, 0, 0, 0x2a, 0x23, 0xe5, 0, 0, 0,
						0xff, 0xff, 0x26 };
	/* The create task fails (KERNEL_LOAD_FAILURE, a detail with control
	 * bytes); Run meanwhile is NOT_CREATED; then a second Create works. */
	static const uint8_t create_fail[] = { 0x20, 0x21, 10, 9, 'v', 'm', 'l', 'i', 'n',
					       'u', 'z', '\n', 0x1b, 0x2b, 0x26, 0x28, 0x21, 0,
					       0 };
	/* A device process is killed by SIGSYS mid-run; Stop then waits for the
	 * same end. */
	static const uint8_t child_crash[] = { 0x20, 0x21, 0, 0, 0x23, 0xe5, 9, 0, 31, 4,
					       'b', 'l', 'k', '0', 7, 's', 'e', 'c', 'c',
					       'o', 'm', 'p', 0x2c, 0x26 };
	/* Stop (two clients) after Create, before Run; Run and Bind refused,
	 * the late CreateDone ignored. */
	static const uint8_t stop_before_run[] = { 0x20, 0x21, 0, 0, 0x2a, 0x2c, 0x34, 0x2b,
						   0x22, 0x21, 0, 0, 0xe6, 0x2c };
	/* Create twice, Run twice, Create while stopping: ALREADY_RUNNING. */
	static const uint8_t double_create[] = { 0x20, 0x28, 0x21, 0, 0, 0x30, 0x23, 0x2b,
						 0x24, 0x38, 0x26, 0x20 };
	/* Stop during Create; the create task's success comes too late. */
	static const uint8_t stop_creating[] = { 0x20, 0x2c, 0x21, 0, 0, 0x26 };
	/* Every child gone without a report while running; then unknown
	 * events and an unknown exit kind. */
	static const uint8_t unreported[] = { 0x20, 0x21, 0, 0, 0x23, 0x26, 0x27, 0x3f,
					      0x20, 0x21, 0, 0, 0x25, 11, 0, 0, 0xff, 0xff };
	/* The worker fails to load the kernel while Create builds; the next VM
	 * ends by SIGKILL of the worker, the next by a worker exit status. */
	static const uint8_t exits[] = { 0x20, 0x25, 3, 0, 0, 0xff, 3, 'b', 'a', 'd', 0x26,
					 0x20, 0x21, 0, 0, 0x23, 0x25, 8, 0, 9, 0xff, 0xff, 0x26,
					 0x20, 0x21, 0, 0, 0x25, 7, 1, 0, 0xff, 0, 0x26 };
	put_file("fuzz_lifecycle", "child_exits", exits, sizeof(exits));
	/* Every exit kind (10 and 11 unknown) while creating and while running,
	 * a device's with a signal and with a status; AllExited with no VM. */
	uint8_t every[512], *p = every; /* 12 * 21 + 1 used */
	for (uint8_t kind = 0; kind < 12; kind++) {
		const uint8_t creating[] = { 0x20, 0x25, kind, 1, 0, 0xff, 0xff, 0x26 };
		const uint8_t running[] = { 0x20, 0x21, 0, 0, 0x23, 0x25, kind, 2, kind & 1 ? 31 : 0,
					    1, 'x', 0xff, 0x26 };
		memcpy(p, creating, sizeof(creating));
		p += sizeof(creating);
		memcpy(p, running, sizeof(running));
		p += sizeof(running);
	}
	*p++ = 0x26;
	put_file("fuzz_lifecycle", "every_exit_kind", every, (size_t)(p - every));
	put_file("fuzz_lifecycle", "run_poweroff", run_poweroff, sizeof(run_poweroff));
	put_file("fuzz_lifecycle", "create_failure", create_fail, sizeof(create_fail));
	put_file("fuzz_lifecycle", "child_crash_run", child_crash, sizeof(child_crash));
	put_file("fuzz_lifecycle", "stop_before_run", stop_before_run, sizeof(stop_before_run));
	put_file("fuzz_lifecycle", "double_create", double_create, sizeof(double_create));
	put_file("fuzz_lifecycle", "stop_during_create", stop_creating, sizeof(stop_creating));
	put_file("fuzz_lifecycle", "all_exited_unreported", unreported, sizeof(unreported));
}

/* ---- fuzz_dev_ctl: a direction byte (bit 0: a reply), then the packet. */
static void put_dev_ctl(const char *name, uint8_t dir, const uint8_t *pkt, size_t len)
{
	uint8_t buf[1 + DEV_CTL_REPLY_SIZE + DEV_CTL_REQ_SIZE];
	buf[0] = dir;
	memcpy(buf + 1, pkt, len);
	put_file("fuzz_dev_ctl", name, buf, 1 + len);
}

void gen_dev_ctl(void)
{
	uint8_t q[DEV_CTL_REQ_SIZE], r[DEV_CTL_REPLY_SIZE];
	dev_ctl_encode_req(&(struct dev_ctl_req){ .type = DEV_CTL_GET_METRICS, .seq = 1 }, q);
	put_dev_ctl("get_metrics", 0, q, sizeof(q));
	/* The disk: 8 MiB/s in 1 MiB buckets refilled every 125 ms;
	 * net's tx ops disabled. */
	struct dev_ctl_req set = { .type = DEV_CTL_SET_RATE_LIMIT, .seq = 2 };
	set.rl.limiter[DEV_CTL_RX].bandwidth =
		(struct dev_ctl_bucket){ DEV_CTL_BUCKET_SET, 1 << 20, 0, 125 };
	set.rl.limiter[DEV_CTL_RX].ops = (struct dev_ctl_bucket){ DEV_CTL_BUCKET_SET, 100, 10, 1000 };
	set.rl.limiter[DEV_CTL_TX].ops = (struct dev_ctl_bucket){ .mode = DEV_CTL_BUCKET_DISABLE };
	dev_ctl_encode_req(&set, q);
	put_dev_ctl("set_rate_limit", 0, q, sizeof(q));
	struct dev_ctl_reply m = { .type = DEV_CTL_GET_METRICS, .seq = 1 };
	m.counters = (struct dev_ctl_counters){ .requests = 9, .read_bytes = 32768,
						.write_bytes = 4096, .throttled_us = 125000 };
	dev_ctl_encode_reply(&m, r);
	put_dev_ctl("metrics_reply", 1, r, sizeof(r));
	dev_ctl_encode_reply(&(struct dev_ctl_reply){ .type = DEV_CTL_SET_RATE_LIMIT, .seq = 2,
						      .status = -EOPNOTSUPP }, r);
	put_dev_ctl("set_reply", 1, r, sizeof(r));
	dev_ctl_encode_req(&(struct dev_ctl_req){ .type = DEV_CTL_SET_BALLOON_TARGET, .seq = 3,
						  .balloon_pages = 150 * 256 }, q);
	put_dev_ctl("set_balloon_target", 0, q, sizeof(q));
	dev_ctl_encode_req(&(struct dev_ctl_req){ .type = DEV_CTL_GET_BALLOON_STATS, .seq = 4 }, q);
	put_dev_ctl("get_balloon_stats", 0, q, sizeof(q));
	m = (struct dev_ctl_reply){ .type = DEV_CTL_GET_BALLOON_STATS, .seq = 4 };
	m.balloon = (struct dev_ctl_balloon){ .target_pages = 38400, .actual_pages = 38400,
					      .present = 0x3f };
	for (int i = 0; i < 6; i++)
		m.balloon.stat[i] = 1000u * (unsigned)(i + 1);
	dev_ctl_encode_reply(&m, r);
	put_dev_ctl("balloon_stats_reply", 1, r, sizeof(r));
}

/* ---- fuzz_balloon: byte 0 the reader, then its bytes (fuzz_balloon.c);
 * fuzz_balloon_params's seeds too. */
void gen_balloon(void)
{
	uint8_t b[1 + 1 + 4 * 8];
	/* Two adjacent regions; a run across their boundary, a duplicate, one
	 * page past RAM. */
	static const uint32_t pfns[8] = { 511, 512, 513, 512, 1024, 7, 8, 100000 };
	b[0] = 0;
	b[1] = 2;
	for (int i = 0; i < 8; i++)
		put_le32(b + 2 + 4 * i, pfns[i]);
	put_file("fuzz_balloon", "pfns", b, sizeof(b));
	uint8_t st[1 + 3 * 10];
	st[0] = 1;
	for (int i = 0; i < 3; i++) {
		put_le16(st + 1 + 10 * i, (uint16_t)(i == 2 ? 300 : 4 + i));
		put_le64(st + 3 + 10 * i, 123456789ull * (unsigned)(i + 1));
	}
	put_file("fuzz_balloon", "stats", st, sizeof(st));
	uint8_t sp[17];
	sp[0] = 2;
	put_le64(sp + 1, 0x7f0000001001ull);
	put_le64(sp + 9, 3 * 4096);
	put_file("fuzz_balloon", "span", sp, sizeof(sp));
	/* fuzz_balloon_params: SetBalloon's params, as a client sends them. */
	static const char set[] = "{\"amount_mib\": 150}", max[] = "{\"amount_mib\": 16777215}";
	put_file("fuzz_balloon_params", "set", set, strlen(set));
	put_file("fuzz_balloon_params", "max", max, strlen(max));
}

/* ---- fuzz_http_request: what a scraper sends to --metrics-listen. */
void gen_http_request(void)
{
	static const char *const seeds[][2] = {
		{ "prometheus", "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: "
				"Prometheus/2.45.0\r\nAccept: text/plain;version=0.0.4;q=1\r\n"
				"X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n" },
		{ "curl", "GET /metrics HTTP/1.0\r\n\r\n" },
		{ "bare_lf", "GET /metrics?x=1 HTTP/1.1\nHost: a\n\n" },
		{ "post", "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" },
		{ "half", "GET /metrics HTTP/1.1\r\nHost: a\r\n" },
	};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		put_file("fuzz_http_request", seeds[i][0], seeds[i][1], strlen(seeds[i][1]));
}

/* ---- fuzz_rate_params: SetRateLimiter's params, as a client sends them. */
void gen_rate_params(void)
{
	static const char *const seeds[][2] = {
		{ "disk", "{\"device\": \"blk0\", \"rate_limiter\": {\"bandwidth\": {\"size\": "
			  "1048576, \"one_time_burst\": 0, \"refill_time\": 125}, \"ops\": "
			  "{\"size\": 1000, \"refill_time\": 1000}}}" },
		{ "nic", "{\"device\": \"net1\", \"rx_rate_limiter\": {\"bandwidth\": {\"size\": "
			 "0, \"refill_time\": 0}}, \"tx_rate_limiter\": {\"ops\": {\"size\": 5, "
			 "\"refill_time\": 100}}}" },
		{ "keep", "{\"device\": \"blk3\", \"rate_limiter\": {}}" },
	};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		put_file("fuzz_rate_params", seeds[i][0], seeds[i][1], strlen(seeds[i][1]));
}

/* ---- fuzz_vsock_pkt, fuzz_vsock_hybrid, fuzz_vsock_ok, fuzz_vsock_csm:
 * cellvm-vsock's guest headers, host clients' CONNECT lines, its OK lines,
 * and event scripts. */
static size_t vsock_hdr(uint8_t *p, uint16_t op, uint32_t len, uint32_t flags, uint32_t fwd)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .src_port = 52, .dst_port = 1u << 30,
			       .len = len, .type = VSOCK_TYPE_STREAM, .op = op, .flags = flags,
			       .buf_alloc = 65536, .fwd_cnt = fwd };
	vsock_hdr_build(&h, p);
	return VSOCK_HDR_SIZE;
}

void gen_vsock(void)
{
	uint8_t b[512];
	static const uint16_t ops[] = { VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE, VSOCK_OP_RST,
					VSOCK_OP_RW, VSOCK_OP_CREDIT_UPDATE };
	static const char *const names[] = { "request", "response", "rst", "rw", "credit" };
	for (size_t i = 0; i < 5; i++)
		put_file("fuzz_vsock_pkt", names[i], b,
			 vsock_hdr(b, ops[i], ops[i] == VSOCK_OP_RW ? 100 : 0, 0, 0));
	put_file("fuzz_vsock_pkt", "shutdown", b, vsock_hdr(b, VSOCK_OP_SHUTDOWN, 0, 3, 0));

	static const char *const lines[][2] = {
		{ "port", "CONNECT 52\n" }, { "max", "CONNECT 4294967295\n" },
		{ "data_after", "CONNECT 0\nhello" }, { "partial", "CONNECT 12" },
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		put_file("fuzz_vsock_hybrid", lines[i][0], lines[i][1], strlen(lines[i][1]));
	static const char *const oks[][2] = {
		{ "port", "OK 1073741824\n" }, { "max", "OK 4294967295\n" },
		{ "data_after", "OK 0\nhello" }, { "partial", "OK 12" },
	};
	for (size_t i = 0; i < sizeof(oks) / sizeof(oks[0]); i++)
		put_file("fuzz_vsock_ok", oks[i][0], oks[i][1], strlen(oks[i][1]));

	/* Scripts: byte 0 the start, then events (fuzz_vsock_csm.c's enum:
	 * 0 guest packet, 1 forwarded, 2 send owed, 3 send RW, 4 host EOF,
	 * 5 host gone). */
	size_t n = 0;
	b[n++] = 0x01; /* guest-initiated, buf_alloc 8 KiB */
	b[n++] = 2;    /* RESPONSE */
	b[n++] = 0;
	n += vsock_hdr(b + n, VSOCK_OP_RW, 4096, 0, 0);
	b[n++] = 1;
	put_le32(b + n, 4096);
	n += 4;
	b[n++] = 2; /* CREDIT_UPDATE */
	b[n++] = 3;
	put_le32(b + n, 1000);
	n += 4;
	b[n++] = 4;
	b[n++] = 2; /* SHUTDOWN */
	b[n++] = 0;
	n += vsock_hdr(b + n, VSOCK_OP_SHUTDOWN, 0, 3, 1000);
	b[n++] = 2; /* RST */
	put_file("fuzz_vsock_csm", "guest_initiated", b, n);
	n = 0;
	b[n++] = 0x80; /* host-initiated */
	b[n++] = 2;    /* REQUEST */
	b[n++] = 0;
	n += vsock_hdr(b + n, VSOCK_OP_RESPONSE, 0, 0, 0);
	b[n++] = 0;
	n += vsock_hdr(b + n, VSOCK_OP_CREDIT_REQUEST, 0, 0, 0);
	b[n++] = 2;
	b[n++] = 5;
	b[n++] = 2;
	put_file("fuzz_vsock_csm", "host_initiated", b, n);
}
