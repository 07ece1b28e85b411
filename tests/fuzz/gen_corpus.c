/* Writes the seed corpora under tests/fuzz/corpus/ (committed; rerun after a
 * format change):
 *   cc -std=gnu11 -D_GNU_SOURCE -Icommon -Ivcpu-worker -Idevice-procs -Ifc \
 *      tests/fuzz/gen_corpus.c tests/fuzz/gen_corpus_procs.c tests/fuzz/gen_corpus_fc.c \
 *      common/vhost_user.c \
 *      device-procs/vsock_pkt.c common/vhu_inflight.c \
 *      common/msg.c common/machine.c common/worker_ctl.c common/dev_ctl.c common/log.c -lfdt \
 *      -o /tmp/gen_corpus && /tmp/gen_corpus tests/fuzz/corpus
 * Each seed is a valid input of the harness's own layout (see its header). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blk_req.h"
#include "bus.h"
#include "bytes.h"
#include "gen_corpus.h"
#include "log.h"
#include "machine.h"
#include "vhost_user.h"
#include "vhu_inflight.h"
#include "virtq.h"

static const char *root;

void put_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

size_t enc(const struct vhu_msg *m, uint8_t *buf, size_t cap)
{
	size_t len;
	if (vhu_encode(m, buf, cap, &len) != 0) {
		fprintf(stderr, "encode %s failed\n", vhu_request_name(m->request));
		exit(1);
	}
	return len;
}

/* ---- vhost-user: byte 0 is the fd count, then the message. */
static void vhu_seed(const char *name, const struct vhu_msg *m, uint8_t nfds)
{
	uint8_t buf[1 + VHU_HDR_SIZE + VHU_MAX_PAYLOAD];
	buf[0] = nfds;
	size_t len = enc(m, buf + 1, sizeof(buf) - 1);
	put_file("fuzz_vhost_user", name, buf, 1 + len);
}

static void gen_vhost_user(void)
{
	vhu_seed("get_features", &(struct vhu_msg){ .request = VHU_GET_FEATURES }, 0);
	vhu_seed("get_features_reply",
		 &(struct vhu_msg){ .request = VHU_GET_FEATURES, .flags = VHU_FLAG_REPLY,
				    .kind = VHU_P_U64, .u.u64 = 0x170000000ull },
		 0);
	vhu_seed("set_features",
		 &(struct vhu_msg){ .request = VHU_SET_FEATURES, .kind = VHU_P_U64,
				    .u.u64 = (1ull << 32) | (1ull << 30) },
		 0);
	vhu_seed("set_vring_num",
		 &(struct vhu_msg){ .request = VHU_SET_VRING_NUM, .kind = VHU_P_VRING_STATE,
				    .u.state = { 0, 256 } },
		 0);
	vhu_seed("set_vring_addr",
		 &(struct vhu_msg){ .request = VHU_SET_VRING_ADDR, .kind = VHU_P_VRING_ADDR,
				    .flags = VHU_FLAG_NEED_REPLY,
				    .u.addr = { .desc = 0x7f0000000000, .avail = 0x7f0000001000,
						.used = 0x7f0000002000 } },
		 0);
	vhu_seed("get_vring_base_reply",
		 &(struct vhu_msg){ .request = VHU_GET_VRING_BASE, .flags = VHU_FLAG_REPLY,
				    .kind = VHU_P_VRING_STATE, .u.state = { 0, 7 } },
		 0);
	vhu_seed("set_vring_kick",
		 &(struct vhu_msg){ .request = VHU_SET_VRING_KICK, .kind = VHU_P_U64,
				    .u.u64 = 0 },
		 1);
	struct vhu_msg mt = { .request = VHU_SET_MEM_TABLE, .kind = VHU_P_MEM_TABLE };
	mt.u.mem.nregions = 2;
	mt.u.mem.regions[0] = (struct vhu_mem_region){ 0, 0x40000000, 0x7f0000000000, 0 };
	mt.u.mem.regions[1] = (struct vhu_mem_region){ 0x100000000, 0x40000000,
						       0x7f0040000000, 0x40000000 };
	vhu_seed("set_mem_table", &mt, 2);
	vhu_seed("add_mem_reg",
		 &(struct vhu_msg){ .request = VHU_ADD_MEM_REG, .kind = VHU_P_MEM_REG,
				    .u.mem_reg = { 0, 0x10000, 0x7f0000000000, 0 } },
		 1);
	struct vhu_msg gc = { .request = VHU_GET_CONFIG, .kind = VHU_P_CONFIG };
	gc.u.config.size = 16;
	vhu_seed("get_config", &gc, 0);
	gc.flags = VHU_FLAG_REPLY;
	memset(gc.u.config.data, 0x11, 16);
	vhu_seed("get_config_reply", &gc, 0);
}

/* ---- virtq: see fuzz_virtq.c for the layout. */
#define VQ_HDR 68u
#define VQ_DESC 0x000u
#define VQ_AVAIL 0x100u
#define VQ_USED 0x200u
#define VQ_GPA 0x10000ull

void desc(uint8_t *m, unsigned int off, unsigned int i, uint64_t addr, uint32_t len,
	  uint16_t flags, uint16_t next)
{
	uint8_t *d = m + off + 16 * i;
	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

static void gen_virtq(void)
{
	uint8_t buf[VQ_HDR + 0x800];
	uint8_t *m = buf + VQ_HDR;

	/* A 2-descriptor chain (16 readable, 512 writable) on a queue of 8. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 0;
	for (unsigned int i = 0; i < 16; i++)
		put_le32(buf + 4 + 4 * i, 512);
	desc(m, VQ_DESC, 0, VQ_GPA + 0x400, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(m, VQ_DESC, 1, VQ_GPA + 0x500, 512, VIRTQ_DESC_F_WRITE, 0);
	put_le16(m + VQ_AVAIL + 2, 1);    /* avail idx */
	put_le16(m + VQ_AVAIL + 4, 0);    /* ring[0] = head 0 */
	put_file("fuzz_virtq", "chain2", buf, sizeof(buf));

	/* The same with EVENT_IDX on a queue of 16, two chains. */
	buf[0] = 1 | 2;
	desc(m, VQ_DESC, 2, VQ_GPA + 0x410, 8, VIRTQ_DESC_F_NEXT, 3);
	desc(m, VQ_DESC, 3, VQ_GPA + 0x700, 64, VIRTQ_DESC_F_WRITE, 0);
	put_le16(m + VQ_AVAIL + 2, 2);
	put_le16(m + VQ_AVAIL + 6, 2);
	put_file("fuzz_virtq", "event_idx", buf, sizeof(buf));

	/* An indirect table of 3 descriptors at +0x300. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 4;
	desc(m, VQ_DESC, 0, VQ_GPA + 0x300, 48, VIRTQ_DESC_F_INDIRECT, 0);
	desc(m, 0x300, 0, VQ_GPA + 0x400, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(m, 0x300, 1, VQ_GPA + 0x500, 256, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc(m, 0x300, 2, VQ_GPA + 0x600, 1, VIRTQ_DESC_F_WRITE, 0);
	put_le16(m + VQ_AVAIL + 2, 1);
	put_file("fuzz_virtq", "indirect", buf, sizeof(buf));
}

/* ---- vhu_inflight: see fuzz_vhu_inflight.c for the layout. A ring of 8
 * with chains 5 and 2 in flight, and the same after a death that published
 * a batch (head 3) without clearing it. */
static void gen_vhu_inflight(void)
{
	uint8_t buf[3 + 192];
	uint8_t *r = buf + 3;
	vhu_inflight_format(r, 192, 1, 8);
	struct vhu_inflight_q q = { .base = r, .num = 8 };
	buf[0] = 3;
	buf[1] = 0;
	buf[2] = 0;
	vhu_inflight_mark(&q, 5);
	vhu_inflight_mark(&q, 2);
	put_file("fuzz_vhu_inflight", "two", buf, sizeof(buf));
	vhu_inflight_mark(&q, 3);
	vhu_inflight_batch_add(&q, 3);
	buf[1] = 1;
	put_file("fuzz_vhu_inflight", "batch", buf, sizeof(buf));
}

/* ---- machine: a blob from machine_layout + machine_to_fdt. */
static void gen_machine(void)
{
	struct machine m;
	static uint8_t blob[4096];
	if (machine_layout(&m, 2, 256ull << 20, "console=ttyS0 panic=-1") != 0 ||
	    machine_add_virtio(&m, "blk0", VIRTIO_ID_BLOCK) != 0 ||
	    machine_add_virtio(&m, "rng0", VIRTIO_ID_RNG) != 0)
		exit(1);
	int n = machine_to_fdt(&m, blob, sizeof(blob));
	if (n < 0)
		exit(1);
	put_file("fuzz_machine", "two_devices", blob, (size_t)n);
	if (machine_layout(&m, 1, 4ull << 30, "") != 0) /* RAM above the hole too */
		exit(1);
	n = machine_to_fdt(&m, blob, sizeof(blob));
	if (n < 0)
		exit(1);
	put_file("fuzz_machine", "high_ram", blob, (size_t)n);
}

/* ---- bzImage: the synthetic header of tests/unit/test_boot_linux.c. */
static void gen_bzimage(void)
{
	enum { SETUP_SECTS = 3, PM_OFFSET = (SETUP_SECTS + 1) * 512, PAYLOAD = 1024 };
	uint8_t img[PM_OFFSET + PAYLOAD];
	memset(img, 0, sizeof(img));
	img[0x1f1] = SETUP_SECTS;
	put_le16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x26c - 0x202;
	memcpy(img + 0x202, "HdrS", 4);
	put_le16(img + 0x206, 0x020f);
	img[0x211] = 0x01;                 /* LOADED_HIGH */
	put_le32(img + 0x214, 0x100000);
	put_le32(img + 0x22c, 0x7fffffff);
	put_le32(img + 0x230, 0x200000);
	img[0x234] = 1;                    /* relocatable */
	img[0x235] = 21;
	put_le16(img + 0x236, 0x1 | 0x2);  /* XLF_KERNEL_64 | above 4G */
	put_le32(img + 0x238, 2047);
	put_le64(img + 0x258, 0x1000000);
	put_le32(img + 0x260, 0x800000);
	for (size_t i = 0; i < PAYLOAD; i++)
		img[PM_OFFSET + i] = (uint8_t)(i * 7 + 3);
	img[sizeof(img) - 1] = 4;          /* a 64-byte initrd from the tail */
	put_file("fuzz_bzimage", "relocatable", img, sizeof(img));
	img[0x234] = 0;
	img[sizeof(img) - 1] = 0;
	put_file("fuzz_bzimage", "fixed", img, sizeof(img));
}

/* ---- rate_limiter: see fuzz_rate_limiter.c for the layout. */
struct rl_step {
	uint8_t action;
	uint64_t dt, bytes;
	uint8_t ops;
};

static void rl_seed(const char *name, const char *text, const struct rl_step *s, size_t n)
{
	uint8_t buf[1024];
	size_t len = strlen(text), p = 1 + len;
	buf[0] = (uint8_t)len;
	memcpy(buf + 1, text, len);
	for (size_t i = 0; i < n && p + 18 <= sizeof(buf); i++, p += 18) {
		buf[p] = s[i].action;
		put_le64(buf + p + 1, s[i].dt);
		buf[p + 9] = s[i].ops;
		put_le64(buf + p + 10, s[i].bytes);
	}
	put_file("fuzz_rate_limiter", name, buf, p);
}

static void gen_rate_limiter(void)
{
	/* The disk: 128 KiB writes at 8 MiB/s. */
	struct rl_step w[12];
	for (size_t i = 0; i < 12; i++)
		w[i] = (struct rl_step){ 0, i < 8 ? 0 : 15625000, 128 << 10, 1 };
	rl_seed("disk_8mib", "bandwidth.size=1048576,bandwidth.refill_time=125", w, 12);
	rl_seed("oversize", "bandwidth.size=1048576,bandwidth.refill_time=125",
		(const struct rl_step[]){ { 0, 0, 4 << 20, 1 }, { 0, 1000000, 4 << 20, 1 },
					  { 0, 375000000, 4 << 20, 1 }, { 2, 0, 1 << 20, 1 } }, 4);
	rl_seed("both_burst", "bandwidth.size=1000,bandwidth.one_time_burst=50,"
		"bandwidth.refill_time=1000,ops.size=10,ops.one_time_burst=2,ops.refill_time=100",
		(const struct rl_step[]){ { 0, 0, 1040, 12 }, { 1, 1, 1, 1 }, { 2, 0, 5, 1 },
					  { 0, 333333, 3, 1 }, { 15, 0, 0, 0 }, { 0, 0, 1050, 1 } }, 6);
	rl_seed("largest", "bandwidth.size=9223372036854775807,bandwidth.refill_time=86400000,"
		"ops.size=1,ops.one_time_burst=9223372036854775807,ops.refill_time=1",
		(const struct rl_step[]){ { 0, UINT64_MAX - 5, UINT64_MAX, 255 },
					  { 0, 3, UINT64_MAX, 255 }, { 2, 1, UINT64_MAX, 255 } }, 3);
	rl_seed("bad_text", "ops.size=1,ops.refill_time", NULL, 0);
}

/* ---- blk_req: see fuzz_blk_req.c for the layout. */
static void blk_seed(const char *name, uint8_t dev, uint32_t type, uint64_t sector,
		     const uint16_t *cuts, unsigned int nout, unsigned int nin,
		     const uint8_t *extra, size_t extra_len, size_t total)
{
	uint8_t buf[2048];
	memset(buf, 0, sizeof(buf));
	buf[0] = (uint8_t)nout;
	buf[1] = (uint8_t)nin;
	buf[2] = dev;
	put_le64(buf + 3, 2048); /* 1 MiB disk */
	size_t p = 11;
	for (unsigned int i = 0; i < nout + nin; i++, p += 2)
		put_le16(buf + p, cuts[i]);
	put_le32(buf + p, type);
	put_le64(buf + p + 8, sector);
	if (extra_len)
		memcpy(buf + p + 16, extra, extra_len);
	put_file("fuzz_blk_req", name, buf, p + total);
}

static void gen_blk_req(void)
{
	/* read 1 sector: header | 512 data | status */
	blk_seed("read", 0, 0, 8, (const uint16_t[]){ 16, 512, 1 }, 1, 2, NULL, 0, 529);
	/* write 2 sectors, header and data in one iovec */
	blk_seed("write", 0, 1, 100, (const uint16_t[]){ 16 + 1024, 1 }, 1, 1, NULL, 0, 1041);
	/* flush */
	blk_seed("flush", 0, 4, 0, (const uint16_t[]){ 16, 1 }, 1, 1, NULL, 0, 17);
	/* discard one segment: 8 sectors at 64 */
	uint8_t seg[16] = { 0 };
	put_le64(seg, 64);
	put_le32(seg + 8, 8);
	blk_seed("discard", 2, 11, 0, (const uint16_t[]){ 16, 16, 1 }, 2, 1, seg, 16, 33);
	put_le32(seg + 12, 1); /* unmap */
	blk_seed("write_zeroes", 4, 13, 0, (const uint16_t[]){ 32, 1 }, 1, 1, seg, 16, 33);
}

/* ---- backend: chunks, see fuzz_backend.c. */
uint8_t bbuf[4096];
size_t blen;

void chunk_msg(const struct vhu_msg *m, bool with_fds)
{
	size_t len = enc(m, bbuf + blen + 2, sizeof(bbuf) - blen - 2);
	put_le16(bbuf + blen, (uint16_t)(len | (with_fds ? 0x4000 : 0)));
	blen += 2 + len;
}

void chunk_mem(uint16_t off, const void *p, size_t len)
{
	put_le16(bbuf + blen, (uint16_t)(0x8000 | (len + 2)));
	put_le16(bbuf + blen + 2, off);
	memcpy(bbuf + blen + 4, p, len);
	blen += 4 + len;
}

static void gen_backend(void)
{
	const uint64_t uva = 0x7f0000000000ull;
	const uint64_t feats = BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VHU_F_PROTOCOL_FEATURES) |
			       BIT_ULL(VIRTIO_F_EVENT_IDX) | BIT_ULL(VIRTIO_F_INDIRECT_DESC);
	/* The rings for a queue of 8 at GPA 0: desc 0x0, avail 0x100, used 0x200;
	 * one chain of a readable and a writable buffer. */
	uint8_t ring[0x300] = { 0 };
	desc(ring, 0, 0, 0x1000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(ring, 0, 1, 0x2000, 64, VIRTQ_DESC_F_WRITE, 0);
	put_le16(ring + 0x100 + 2, 1);

	blen = 0;
	chunk_msg(&(struct vhu_msg){ .request = VHU_GET_FEATURES }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_FEATURES, .kind = VHU_P_U64,
				     .u.u64 = feats }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_GET_PROTOCOL_FEATURES }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_PROTOCOL_FEATURES, .kind = VHU_P_U64,
				     .u.u64 = BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK) |
					      BIT_ULL(VHU_PROTOCOL_F_CONFIG) }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_OWNER }, false);
	chunk_mem(0, ring, sizeof(ring));
	struct vhu_msg mt = { .request = VHU_SET_MEM_TABLE, .kind = VHU_P_MEM_TABLE,
			      .flags = VHU_FLAG_NEED_REPLY };
	mt.u.mem.nregions = 1;
	mt.u.mem.regions[0] = (struct vhu_mem_region){ 0, 0x10000, uva, 0 };
	chunk_msg(&mt, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_NUM, .kind = VHU_P_VRING_STATE,
				     .u.state = { 0, 8 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_BASE, .kind = VHU_P_VRING_STATE,
				     .u.state = { 0, 0 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_ADDR, .kind = VHU_P_VRING_ADDR,
				     .flags = VHU_FLAG_NEED_REPLY,
				     .u.addr = { .desc = uva, .avail = uva + 0x100,
						 .used = uva + 0x200 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_CALL, .kind = VHU_P_U64,
				     .u.u64 = 0 }, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_ERR, .kind = VHU_P_U64,
				     .u.u64 = 0 }, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_KICK, .kind = VHU_P_U64,
				     .u.u64 = 0 }, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_ENABLE, .kind = VHU_P_VRING_STATE,
				     .u.state = { 0, 1 } }, false);
	struct vhu_msg gc = { .request = VHU_GET_CONFIG, .kind = VHU_P_CONFIG };
	gc.u.config.size = 8;
	chunk_msg(&gc, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_GET_VRING_BASE, .kind = VHU_P_VRING_STATE,
				     .u.state = { 0, 0 } }, false);
	put_file("fuzz_backend", "session", bbuf, blen);

	/* The same ring resumed by a successor: the in-flight region (guest
	 * memory at 0x4000) says head 0 was taken and not answered. */
	uint8_t region[192];
	vhu_inflight_format(region, sizeof(region), 1, 8);
	vhu_inflight_mark(&(struct vhu_inflight_q){ .base = region, .num = 8 }, 0);
	blen = 0;
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_FEATURES, .kind = VHU_P_U64,
				     .u.u64 = feats }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_PROTOCOL_FEATURES, .kind = VHU_P_U64,
				     .u.u64 = BIT_ULL(VHU_PROTOCOL_F_INFLIGHT_SHMFD) }, false);
	chunk_mem(0, ring, sizeof(ring));
	chunk_mem(0x4000, region, sizeof(region));
	chunk_msg(&mt, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_INFLIGHT_FD, .kind = VHU_P_INFLIGHT,
				     .u.inflight = { .mmap_size = sizeof(region),
						     .mmap_offset = 0x4000, .num_queues = 1,
						     .queue_size = 8 } }, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_NUM, .kind = VHU_P_VRING_STATE,
				     .u.state = { 0, 8 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_ADDR, .kind = VHU_P_VRING_ADDR,
				     .u.addr = { .desc = uva, .avail = uva + 0x100,
						 .used = uva + 0x200 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_KICK, .kind = VHU_P_U64,
				     .u.u64 = 0 }, true);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_ENABLE, .kind = VHU_P_VRING_STATE,
				     .u.state = { 0, 1 } }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_GET_INFLIGHT_FD, .kind = VHU_P_INFLIGHT,
				     .u.inflight = { .num_queues = 1, .queue_size = 8 } }, false);
	put_file("fuzz_backend", "inflight", bbuf, blen);

	/* Without fds: negotiation, vring setup, config, resets. */
	blen = 0;
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_FEATURES, .kind = VHU_P_U64,
				     .u.u64 = feats }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_NUM, .kind = VHU_P_VRING_STATE,
				     .u.state = { 0, 256 } }, false);
	gc.request = VHU_SET_CONFIG;
	gc.flags = VHU_FLAG_NEED_REPLY;
	chunk_msg(&gc, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_VRING_KICK, .kind = VHU_P_U64,
				     .u.u64 = VHU_VRING_NOFD }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_SET_STATUS, .kind = VHU_P_U64,
				     .u.u64 = 0xf }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_GET_STATUS }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_RESET_DEVICE }, false);
	chunk_msg(&(struct vhu_msg){ .request = VHU_GET_QUEUE_NUM }, false);
	put_file("fuzz_backend", "no_fds", bbuf, blen);
}

/* ---- the emulated hardware: records of op, offset/delta byte and value
 * bytes; the layout is in each harness's header. */
#define SEED(dir, name, ...)                                                  \
	do {                                                                  \
		static const uint8_t b_[] = { __VA_ARGS__ };                  \
		put_file(dir, name, b_, sizeof(b_));                          \
	} while (0)

static void gen_serial(void)
{
	/* Offsets are register + 4; op 1 writes a byte, 0 reads one. */
	SEED("fuzz_serial", "linux_probe",
	     0x01, 7, 0x80, 0x01, 4, 0x01, 0x01, 5, 0x00, 0x01, 7, 0x03, /* 115200 8N1 */
	     0x01, 6, 0x07, 0x01, 5, 0x02, 0x00, 6, 0x00, 6,             /* FIFO, THRI, IIR x2 */
	     0x01, 4, 'h', 0x01, 4, 'i', 0x00, 9, 0x00, 10, 0x01, 5, 0x00);
	SEED("fuzz_serial", "loopback",
	     0x01, 8, 0x1f, 0x01, 5, 0x01, 0x01, 4, 'x', 0x00, 9, 0x00, 4, 0x00, 10,
	     0x01, 8, 0x08, 0x00, 10);
	/* 64 bytes offered 16 times fill the buffer; 4 more do not fit, so
	 * reading one byte owes rx_ready; then the FIFO is cleared. */
	uint8_t b[2 + 2 + 64 + 2 + 4 + 2 + 1 + 3];
	size_t n = 0;
	b[n++] = 0x01, b[n++] = 5, b[n++] = 0x01;
	b[n++] = 0x3e, b[n++] = 64;
	for (int i = 0; i < 64; i++)
		b[n++] = (uint8_t)('a' + i % 26);
	b[n++] = 0x02, b[n++] = 4;
	memcpy(b + n, "more", 4), n += 4;
	b[n++] = 0x00, b[n++] = 4, b[n++] = 0x03;
	b[n++] = 0x01, b[n++] = 6, b[n++] = 0x02;
	put_file("fuzz_serial", "input_full", b, n);
	/* 8-byte read of the window, a 2-byte write of LCR/MCR, overhangs. */
	SEED("fuzz_serial", "wide", 0x0c, 4, 0x05, 7, 0x80, 0x10, 0x04, 4, 0x08, 11,
	     0x09, 3, 1, 2, 3, 4, 5, 6, 7, 8);
}

static void gen_i8042(void)
{
	/* Offset 2 is the data port, 6 command/status. */
	SEED("fuzz_i8042", "reboot", 0x00, 6, 0x01, 6, 0xfe);
	SEED("fuzz_i8042", "driver_init",
	     0x01, 6, 0xaa, 0x00, 6, 0x00, 2, 0x01, 6, 0x20, 0x00, 2,
	     0x01, 6, 0x60, 0x01, 2, 0x45, 0x01, 6, 0x20, 0x00, 6, 0x00, 2);
	SEED("fuzz_i8042", "wide", 0x03, 2, 0x12, 0x34, 0x06, 0, 0x00, 1, 0x01, 7, 0xfe);
}

static void gen_acpi_pm(void)
{
	/* Offset 4 is sleep control, 5 sleep status, 6 reset. */
	SEED("fuzz_acpi_pm", "poweroff", 0x01, 4, 0x34);
	SEED("fuzz_acpi_pm", "sleep_s3", 0x01, 4, 0x2c, 0x00, 5, 0x01, 5, 0x80, 0x00, 5);
	SEED("fuzz_acpi_pm", "reset", 0x01, 6, 0x01);
	SEED("fuzz_acpi_pm", "wide", 0x03, 4, 0x2c, 0x80, 0x04, 4, 0x05, 4, 1, 2, 3, 4,
	     0x00, 3, 0x00, 7);
}

/* ---- virtio-mmio: see fuzz_virtio_mmio.c for the layout. */
struct mmio_seed {
	uint8_t b[2048];
	size_t n;
};

static void mm_w32(struct mmio_seed *s, uint8_t reg, uint32_t v)
{
	s->b[s->n++] = 0x05; /* 4-byte write */
	s->b[s->n++] = reg;
	put_le32(s->b + s->n, v);
	s->n += 4;
}

static void mm_r32(struct mmio_seed *s, uint8_t reg)
{
	s->b[s->n++] = 0x04;
	s->b[s->n++] = reg;
}

/* An event record (a read with op bits 3-7 = kind). */
static void mm_event(struct mmio_seed *s, uint8_t kind, uint8_t off)
{
	s->b[s->n++] = (uint8_t)(kind << 3);
	s->b[s->n++] = off;
}

static void mm_start(struct mmio_seed *s, uint8_t queues)
{
	s->n = 0;
	s->b[s->n++] = queues;
	put_le64(s->b + s->n, BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_F_EVENT_IDX) | 0x21);
	s->n += 8;
}

/* Queue q at ring addresses from gpa, as Linux's virtio_mmio sets it up. */
static void mm_queue(struct mmio_seed *s, uint32_t q, uint32_t num, uint64_t gpa)
{
	mm_w32(s, 0x30, q);  /* QueueSel */
	mm_r32(s, 0x44);     /* QueueReady: 0 */
	mm_r32(s, 0x34);     /* QueueNumMax */
	mm_w32(s, 0x38, num);
	mm_w32(s, 0x80, (uint32_t)gpa);
	mm_w32(s, 0x84, (uint32_t)(gpa >> 32));
	mm_w32(s, 0x90, (uint32_t)(gpa + 0x1000));
	mm_w32(s, 0x94, (uint32_t)((gpa + 0x1000) >> 32));
	mm_w32(s, 0xa0, (uint32_t)(gpa + 0x2000));
	mm_w32(s, 0xa4, (uint32_t)((gpa + 0x2000) >> 32));
	mm_w32(s, 0x44, 1);
	mm_r32(s, 0x44);
}

/* Reset, ACKNOWLEDGE, DRIVER, the features (VERSION_1 and bit 0),
 * FEATURES_OK read back, two queues, DRIVER_OK. */
static void mm_init(struct mmio_seed *s)
{
	mm_r32(s, 0x00);
	mm_r32(s, 0x04);
	mm_r32(s, 0x08);
	mm_w32(s, 0x70, 0);
	mm_w32(s, 0x70, 1);
	mm_w32(s, 0x70, 3);
	mm_w32(s, 0x14, 0);
	mm_r32(s, 0x10);
	mm_w32(s, 0x14, 1);
	mm_r32(s, 0x10);
	mm_w32(s, 0x24, 0);
	mm_w32(s, 0x20, 1);
	mm_w32(s, 0x24, 1);
	mm_w32(s, 0x20, 1);
	mm_w32(s, 0x70, 11);
	mm_r32(s, 0x70);
	mm_queue(s, 0, 256, 0x100000);
	mm_queue(s, 1, 64, 0x100000000ull);
	mm_w32(s, 0x70, 15);
	mm_r32(s, 0x70);
}

static void gen_virtio_mmio(void)
{
	struct mmio_seed s;
	const char *dir = "fuzz_virtio_mmio";
	mm_start(&s, 2);
	mm_init(&s);
	mm_w32(&s, 0x50, 0);   /* notify, the slow path */
	mm_event(&s, 26, 0);   /* the backend signals queue 0's call */
	mm_r32(&s, 0x60);
	mm_w32(&s, 0x64, 1);
	mm_w32(&s, 0x70, 0);
	mm_r32(&s, 0x70);
	put_file(dir, "driver_init", s.b, s.n);
	/* Found by the harness: a driver that clears DRIVER_OK and sets it
	 * again started the rings twice. */
	mm_start(&s, 2);
	mm_init(&s);
	mm_w32(&s, 0x70, 3);
	mm_w32(&s, 0x70, 15);
	put_file(dir, "status_clear", s.b, s.n);
	/* Found too: the backend's call or err eventfd after a reset
	 * interrupted (or marked DEVICE_NEEDS_RESET) a device in reset. */
	mm_start(&s, 2);
	mm_init(&s);
	mm_w32(&s, 0x70, 0);
	mm_event(&s, 26, 0);
	mm_event(&s, 29, 1);
	mm_r32(&s, 0x70);
	put_file(dir, "signal_after_reset", s.b, s.n);
	/* The backend breaks (a timeout) at DRIVER_OK; the err eventfd. */
	mm_start(&s, 2);
	mm_event(&s, 24, 1);
	mm_init(&s);
	mm_w32(&s, 0x70, 0);
	mm_init(&s);
	mm_event(&s, 29, 0);
	put_file(dir, "backend_fails", s.b, s.n);
	/* KVM refuses the ioeventfd. */
	mm_start(&s, 1);
	mm_event(&s, 24, 8);
	mm_init(&s);
	put_file(dir, "ioeventfd_fails", s.b, s.n);
	/* The backend refuses the ring, after SET_FEATURES. */
	mm_start(&s, 1);
	mm_event(&s, 24, 0x10);
	mm_init(&s);
	put_file(dir, "start_ring_fails", s.b, s.n);
	/* Bad sequences: DRIVER_OK without FEATURES_OK, a feature not offered,
	 * rings across the MMIO hole, QueueSel out of range, QueueNum 0/512. */
	mm_start(&s, 9);
	mm_w32(&s, 0x70, 0);
	mm_w32(&s, 0x70, 7);
	mm_w32(&s, 0x24, 0);
	mm_w32(&s, 0x20, 0x40000000);
	mm_w32(&s, 0x70, 11);
	mm_r32(&s, 0x70);
	mm_w32(&s, 0x30, 8);
	mm_r32(&s, 0x34);
	mm_w32(&s, 0x30, 0);
	mm_w32(&s, 0x38, 0);
	mm_w32(&s, 0x38, 512);
	mm_w32(&s, 0x44, 1);
	mm_r32(&s, 0x44);
	mm_w32(&s, 0x70, 0);
	mm_init(&s);
	mm_w32(&s, 0x70, 0);
	mm_w32(&s, 0x70, 3);
	mm_w32(&s, 0x24, 1);
	mm_w32(&s, 0x20, 1);
	mm_w32(&s, 0x70, 11);
	mm_queue(&s, 0, 256, 0xbffff000);
	mm_w32(&s, 0x70, 15);
	put_file(dir, "bad_sequences", s.b, s.n);
	/* Config space, narrow and unaligned registers, the window's edges. */
	static const uint8_t edges[] = { 0x80, 0x00, 0x86, 0x04, 0x82, 0x10, 0x83, 0x0a, 0x55,
					 0x02, 0x71, 0xa4, 0xf8, 0x02, 0xa4, 0xfc, 0xb4, 0x7c,
					 0xb6, 0x7c, 0x85, 0x00, 1, 2, 3, 4 };
	mm_start(&s, 1);
	memcpy(s.b + s.n, edges, sizeof(edges));
	s.n += sizeof(edges);
	put_file(dir, "edges", s.b, s.n);
}

static uint8_t *bus_win(uint8_t *p, uint64_t base, uint64_t len)
{
	put_le64(p, base);
	put_le64(p + 8, len);
	return p + 16;
}

static void gen_bus(void)
{
	uint8_t b[1 + (BUS_MAX_DEVS + 3) * 16 + 32];
	uint8_t *p = b;
	/* COM1, the i8042 ports, and a window overlapping COM1. */
	*p++ = 4;
	p = bus_win(p, 0x3f8, 8);
	p = bus_win(p, 0x60, 1);
	p = bus_win(p, 0x64, 1);
	p = bus_win(p, 0x3fc, 8);
	const uint8_t pio[] = { 0x01, 0, 'x', 0x0e, 0, 0x02, 7, 0x10, 0, 0x20, 4, 0x31, 0, 0xaa,
				0x30, (uint8_t)-1 };
	memcpy(p, pio, sizeof(pio));
	put_file("fuzz_bus", "pio", b, (size_t)(p - b) + sizeof(pio));
	/* The top of the address space, an empty and a wrapping window. */
	p = b;
	*p++ = 3;
	p = bus_win(p, UINT64_MAX - 7, 8);
	p = bus_win(p, 0x1000, 0);
	p = bus_win(p, UINT64_MAX, 2);
	const uint8_t top[] = { 0x02, 7, 0x0e, 6, 0x0f, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0x20, 0 };
	memcpy(p, top, sizeof(top));
	put_file("fuzz_bus", "edges", b, (size_t)(p - b) + sizeof(top));
	/* Two adjacent MMIO windows and an access straddling them. */
	p = b;
	*p++ = 2;
	p = bus_win(p, 0xd0000000, 0x1000);
	p = bus_win(p, 0xd0001000, 0x1000);
	const uint8_t mmio[] = { 0x16, (uint8_t)-2, 0x17, (uint8_t)-4, 1, 2, 3, 4, 0x10, 0, 0x06, 0 };
	memcpy(p, mmio, sizeof(mmio));
	put_file("fuzz_bus", "mmio", b, (size_t)(p - b) + sizeof(mmio));
	/* More windows than fit. */
	p = b;
	*p++ = BUS_MAX_DEVS + 3;
	for (unsigned int i = 0; i < BUS_MAX_DEVS + 3; i++)
		p = bus_win(p, 0x100 + 4 * i, 4);
	const uint8_t full[] = { 0x00, 0, 0xf6, 3 };
	memcpy(p, full, sizeof(full));
	put_file("fuzz_bus", "full", b, (size_t)(p - b) + sizeof(full));
}

/* ---- fuzz_net_ctrl: bytes 0-1 max_pairs (LE), then a control command. */
static void gen_net_ctrl(void)
{
	static const struct {
		const char *name;
		uint8_t b[8];
		size_t len;
	} seeds[] = {
		{ "pairs_set", { 4, 0, 4, 0, 2, 0 }, 6 },
		{ "pairs_max", { 8, 0, 4, 0, 8, 0 }, 6 },
		{ "pairs_zero", { 2, 0, 4, 0, 0, 0 }, 6 },
		{ "rss_config", { 2, 0, 4, 1, 1, 0 }, 6 },
		{ "rx_promisc", { 2, 0, 0, 0, 1 }, 5 },
		{ "header_only", { 2, 0, 4, 0 }, 4 },
	};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		put_file("fuzz_net_ctrl", seeds[i].name, seeds[i].b, seeds[i].len);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	root = argv[1];
	mkdir(root, 0755);
	log_init("gen_corpus", LOG_LVL_ERROR);
	gen_vhost_user();
	gen_virtq();
	gen_vhu_inflight();
	gen_machine();
	gen_bzimage();
	gen_blk_req();
	gen_rate_limiter();
	gen_backend();
	gen_serial();
	gen_i8042();
	gen_acpi_pm();
	gen_bus();
	gen_virtio_mmio();
	gen_dev();
	gen_proc_device();
	gen_recv();
	gen_lifecycle();
	gen_dev_ctl();
	gen_balloon();
	gen_http_request();
	gen_rate_params();
	gen_vsock();
	gen_net_ctrl();
	gen_fc();
	return 0;
}
