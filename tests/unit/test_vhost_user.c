#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "vhost_user.h"
#include "testutil.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_MSG (VHU_HDR_SIZE + VHU_MAX_PAYLOAD)

static void quiet(void)
{
	log_init("test_vhost_user", LOG_LVL_ERROR);
}

TestSuite(vhu, .init = quiet);

/* The spec, written out independently of the codec's own tables. */
static const struct {
	uint32_t req;
	const char *name;
	enum vhu_payload_kind kind;
} requests[] = {
	{ VHU_GET_FEATURES, "GET_FEATURES", VHU_P_NONE },
	{ VHU_SET_FEATURES, "SET_FEATURES", VHU_P_U64 },
	{ VHU_SET_OWNER, "SET_OWNER", VHU_P_NONE },
	{ VHU_RESET_OWNER, "RESET_OWNER", VHU_P_NONE },
	{ VHU_SET_MEM_TABLE, "SET_MEM_TABLE", VHU_P_MEM_TABLE },
	{ VHU_SET_VRING_NUM, "SET_VRING_NUM", VHU_P_VRING_STATE },
	{ VHU_SET_VRING_ADDR, "SET_VRING_ADDR", VHU_P_VRING_ADDR },
	{ VHU_SET_VRING_BASE, "SET_VRING_BASE", VHU_P_VRING_STATE },
	{ VHU_GET_VRING_BASE, "GET_VRING_BASE", VHU_P_VRING_STATE },
	{ VHU_SET_VRING_KICK, "SET_VRING_KICK", VHU_P_U64 },
	{ VHU_SET_VRING_CALL, "SET_VRING_CALL", VHU_P_U64 },
	{ VHU_SET_VRING_ERR, "SET_VRING_ERR", VHU_P_U64 },
	{ VHU_GET_PROTOCOL_FEATURES, "GET_PROTOCOL_FEATURES", VHU_P_NONE },
	{ VHU_SET_PROTOCOL_FEATURES, "SET_PROTOCOL_FEATURES", VHU_P_U64 },
	{ VHU_GET_QUEUE_NUM, "GET_QUEUE_NUM", VHU_P_NONE },
	{ VHU_SET_VRING_ENABLE, "SET_VRING_ENABLE", VHU_P_VRING_STATE },
	{ VHU_SEND_RARP, "SEND_RARP", VHU_P_U64 },
	{ VHU_NET_SET_MTU, "NET_SET_MTU", VHU_P_U64 },
	{ VHU_SET_BACKEND_REQ_FD, "SET_BACKEND_REQ_FD", VHU_P_NONE },
	{ VHU_GET_CONFIG, "GET_CONFIG", VHU_P_CONFIG },
	{ VHU_SET_CONFIG, "SET_CONFIG", VHU_P_CONFIG },
	{ VHU_GET_INFLIGHT_FD, "GET_INFLIGHT_FD", VHU_P_INFLIGHT },
	{ VHU_SET_INFLIGHT_FD, "SET_INFLIGHT_FD", VHU_P_INFLIGHT },
	{ VHU_RESET_DEVICE, "RESET_DEVICE", VHU_P_NONE },
	{ VHU_GET_MAX_MEM_SLOTS, "GET_MAX_MEM_SLOTS", VHU_P_NONE },
	{ VHU_ADD_MEM_REG, "ADD_MEM_REG", VHU_P_MEM_REG },
	{ VHU_REM_MEM_REG, "REM_MEM_REG", VHU_P_MEM_REG },
	{ VHU_SET_STATUS, "SET_STATUS", VHU_P_U64 },
	{ VHU_GET_STATUS, "GET_STATUS", VHU_P_NONE },
};

static enum vhu_payload_kind reply_kind(uint32_t req)
{
	if (req == VHU_GET_VRING_BASE)
		return VHU_P_VRING_STATE;
	if (req == VHU_GET_CONFIG)
		return VHU_P_CONFIG;
	if (req == VHU_GET_INFLIGHT_FD)
		return VHU_P_INFLIGHT;
	return VHU_P_U64;
}

static bool is_vring_fd(uint32_t req)
{
	return req == VHU_SET_VRING_KICK || req == VHU_SET_VRING_CALL ||
	       req == VHU_SET_VRING_ERR;
}

/* The fd counts the spec allows for m. */
static void allowed_fds(const struct vhu_msg *m, size_t *lo, size_t *hi)
{
	*lo = *hi = 0;
	if (m->flags & VHU_FLAG_REPLY) {
		if (m->request == VHU_GET_INFLIGHT_FD)
			*hi = 1; /* the region, unless the backend has none */
		return;
	}
	if (m->request == VHU_SET_MEM_TABLE)
		*lo = *hi = m->u.mem.nregions;
	else if (m->request == VHU_ADD_MEM_REG || m->request == VHU_SET_BACKEND_REQ_FD ||
		 m->request == VHU_SET_INFLIGHT_FD)
		*lo = *hi = 1;
	else if (m->request == VHU_REM_MEM_REG)
		*hi = 1;
	else if (is_vring_fd(m->request))
		*lo = *hi = (m->u.u64 & VHU_VRING_NOFD) ? 0 : 1;
}

/* A valid message of request/direction with distinct field values. */
static void sample(struct vhu_msg *m, uint32_t req, bool reply, uint32_t count)
{
	memset(m, 0, sizeof(*m));
	m->request = req;
	m->flags = reply ? VHU_FLAG_REPLY : 0;
	m->kind = reply ? reply_kind(req) : VHU_P_NONE;
	for (size_t i = 0; !reply && i < ARRAY_SIZE(requests); i++) {
		if (requests[i].req == req)
			m->kind = requests[i].kind;
	}
	uint64_t seed = 0x0102030405060708ull * (req + 1);
	switch (m->kind) {
	case VHU_P_NONE:
		break;
	case VHU_P_U64:
		m->u.u64 = is_vring_fd(req) && !reply ? 5 : seed;
		break;
	case VHU_P_VRING_STATE:
		m->u.state.index = 3;
		m->u.state.num = 0x8000 + req;
		break;
	case VHU_P_VRING_ADDR:
		m->u.addr = (struct vhu_vring_addr){ 1, 1, seed, seed + 1, seed + 2, seed + 3 };
		break;
	case VHU_P_MEM_TABLE:
		m->u.mem.nregions = count;
		for (uint32_t i = 0; i < count; i++)
			m->u.mem.regions[i] = (struct vhu_mem_region){
				seed + i, 0x1000 * (i + 1), seed << 1, 0x200 * i
			};
		break;
	case VHU_P_MEM_REG:
		m->u.mem_reg = (struct vhu_mem_region){ seed, 0x10000, seed + 7, 0x42 };
		break;
	case VHU_P_CONFIG:
		m->u.config.offset = 0x10;
		m->u.config.size = count;
		m->u.config.flags = 1;
		for (uint32_t i = 0; i < count; i++)
			m->u.config.data[i] = (uint8_t)(i * 13 + req);
		break;
	case VHU_P_INFLIGHT:
		m->u.inflight.mmap_size = seed;
		m->u.inflight.mmap_offset = seed >> 3;
		m->u.inflight.num_queues = (uint16_t)(count + 1);
		m->u.inflight.queue_size = 256;
		break;
	}
}

static size_t encode(const struct vhu_msg *m, uint8_t *buf)
{
	size_t len = 0;
	cr_assert_eq(vhu_encode(m, buf, MAX_MSG, &len), 0, "%s", vhu_request_name(m->request));
	return len;
}

static void set32(uint8_t *buf, size_t off, uint32_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

/* Decodes from a heap copy of exactly len bytes, so ASan sees any overread. */
static int decode(const uint8_t *buf, size_t len, size_t nfds, struct vhu_msg *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	cr_assert_not_null(copy);
	memcpy(copy, buf, len);
	int ret = vhu_decode(copy, len, nfds, out);
	free(copy);
	return ret;
}

static void assert_msg_eq(const struct vhu_msg *a, const struct vhu_msg *b)
{
	cr_assert_eq(a->request, b->request);
	cr_assert_eq(a->flags, b->flags, "%s", vhu_request_name(a->request));
	cr_assert_eq(a->kind, b->kind, "%s", vhu_request_name(a->request));
	cr_assert_eq(memcmp(&a->u, &b->u, sizeof(a->u)), 0, "%s payload",
		     vhu_request_name(a->request));
}

static void assert_nothing_to_read(int sock)
{
	char c;
	cr_assert_eq(recv(sock, &c, 1, MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
}

/* Every sample message: each request and reply, plus the variants whose
 * size or fd count differ. `count` is nregions or config size. */
struct variant {
	uint32_t req;
	bool reply;
	uint32_t count;
	uint64_t u64;	/* for vring-fd requests, 0 = the sample's */
	size_t nfds;	/* REM_MEM_REG only: 0 or 1 */
	uint32_t flags; /* extra flags such as NEED_REPLY */
};

static size_t all_variants(struct variant *v, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(requests); i++) {
		for (int reply = 0; reply < 2; reply++) {
			cr_assert_lt(n, cap);
			v[n++] = (struct variant){ requests[i].req, reply, 3, 0, 1, 0 };
		}
	}
	static const uint32_t counts[] = { 0, 1, VHU_MAX_MEM_REGIONS };
	for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
		v[n++] = (struct variant){ VHU_SET_MEM_TABLE, false, counts[i], 0, 0, 0 };
	static const uint32_t sizes[] = { 0, 1, VHU_MAX_CONFIG_SIZE };
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		v[n++] = (struct variant){ VHU_GET_CONFIG, false, sizes[i], 0, 0, 0 };
		v[n++] = (struct variant){ VHU_GET_CONFIG, true, sizes[i], 0, 0, 0 };
		v[n++] = (struct variant){ VHU_SET_CONFIG, false, sizes[i], 0, 0, 0 };
	}
	static const uint32_t vring_fd[] = { VHU_SET_VRING_KICK, VHU_SET_VRING_CALL,
					     VHU_SET_VRING_ERR };
	for (size_t i = 0; i < ARRAY_SIZE(vring_fd); i++) {
		v[n++] = (struct variant){ vring_fd[i], false, 0, VHU_VRING_NOFD | 0xff, 0, 0 };
		v[n++] = (struct variant){ vring_fd[i], false, 0, 0xff, 0, 0 };
	}
	v[n++] = (struct variant){ VHU_REM_MEM_REG, false, 0, 0, 0, 0 };
	v[n++] = (struct variant){ VHU_GET_INFLIGHT_FD, true, 0, 0, 0, 0 };
	v[n++] = (struct variant){ VHU_SET_MEM_TABLE, false, 2, 0, 0, VHU_FLAG_NEED_REPLY };
	v[n++] = (struct variant){ VHU_SET_FEATURES, false, 0, 0, 0, VHU_FLAG_NEED_REPLY };
	cr_assert_leq(n, cap);
	return n;
}

static size_t make_variant(const struct variant *v, struct vhu_msg *m)
{
	sample(m, v->req, v->reply, v->count);
	m->flags |= v->flags;
	if (v->u64)
		m->u.u64 = v->u64;
	size_t lo, hi;
	allowed_fds(m, &lo, &hi);
	bool either = (v->req == VHU_REM_MEM_REG && !v->reply) ||
		      (v->req == VHU_GET_INFLIGHT_FD && v->reply);
	return either ? v->nfds : lo;
}

Test(vhu, request_names)
{
	for (size_t i = 0; i < ARRAY_SIZE(requests); i++)
		cr_assert_str_eq(vhu_request_name(requests[i].req), requests[i].name);
	static const uint32_t unknown[] = { 0, 6, 7, 22, 23, 26, 33, 35, 41, 0xffffffffu };
	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++)
		cr_assert_str_eq(vhu_request_name(unknown[i]), "UNKNOWN");
}

Test(vhu, payload_kinds)
{
	enum vhu_payload_kind k;
	for (size_t i = 0; i < ARRAY_SIZE(requests); i++) {
		cr_assert_eq(vhu_payload_kind(requests[i].req, false, &k), 0);
		cr_assert_eq(k, requests[i].kind, "%s", requests[i].name);
		cr_assert_eq(vhu_payload_kind(requests[i].req, true, &k), 0);
		cr_assert_eq(k, reply_kind(requests[i].req), "%s reply", requests[i].name);
	}
	cr_assert_eq(vhu_payload_kind(6, false, &k), -ENOTSUP);
	cr_assert_eq(vhu_payload_kind(41, true, &k), -ENOTSUP);
}

/* Known wire bytes for a few messages, so encode and decode cannot agree on a
 * wrong layout. */
Test(vhu, wire_layout)
{
	uint8_t buf[MAX_MSG];
	struct vhu_msg m;
	sample(&m, VHU_SET_VRING_ADDR, false, 0);
	m.u.addr = (struct vhu_vring_addr){ 2, 1, 0x1111, 0x2222, 0x3333, 0x4444 };
	size_t len = encode(&m, buf);
	cr_assert_eq(len, 12 + 40);
	uint32_t w32[3];
	memcpy(w32, buf, 12);
	cr_assert_eq(w32[0], VHU_SET_VRING_ADDR);
	cr_assert_eq(w32[1], VHU_VERSION);
	cr_assert_eq(w32[2], 40);
	uint32_t idx, fl;
	uint64_t addrs[4];
	memcpy(&idx, buf + 12, 4);
	memcpy(&fl, buf + 16, 4);
	memcpy(addrs, buf + 20, 32);
	cr_assert_eq(idx, 2);
	cr_assert_eq(fl, 1);
	cr_assert_eq(addrs[0], 0x1111, "desc");
	cr_assert_eq(addrs[1], 0x2222, "used");
	cr_assert_eq(addrs[2], 0x3333, "avail");
	cr_assert_eq(addrs[3], 0x4444, "log");

	sample(&m, VHU_ADD_MEM_REG, false, 0);
	m.u.mem_reg = (struct vhu_mem_region){ 0xa, 0xb, 0xc, 0xd };
	len = encode(&m, buf);
	uint64_t w64[5];
	cr_assert_eq(len, 12 + 40);
	memcpy(w64, buf + 12, 40);
	cr_assert_eq(w64[0], 0, "padding");
	cr_assert_eq(w64[1], 0xa);
	cr_assert_eq(w64[4], 0xd);

	sample(&m, VHU_SET_MEM_TABLE, false, 2);
	len = encode(&m, buf);
	cr_assert_eq(len, 12 + 8 + 2 * 32);
	memcpy(w32, buf + 12, 8);
	cr_assert_eq(w32[0], 2);
	cr_assert_eq(w32[1], 0, "padding");
	memcpy(w64, buf + 12 + 8 + 32, 8);
	cr_assert_eq(w64[0], m.u.mem.regions[1].gpa);

	sample(&m, VHU_SET_CONFIG, false, 4);
	len = encode(&m, buf);
	cr_assert_eq(len, 12 + 12 + 4);
	memcpy(w32, buf + 12, 12);
	cr_assert_eq(w32[0], 0x10);
	cr_assert_eq(w32[1], 4);
	cr_assert_eq(w32[2], 1);
	cr_assert_arr_eq(buf + 24, m.u.config.data, 4);

	/* QEMU's VhostUserInflight, padded to 24 bytes. */
	sample(&m, VHU_SET_INFLIGHT_FD, false, 0);
	m.u.inflight.mmap_size = 0x1234;
	m.u.inflight.mmap_offset = 0x40;
	m.u.inflight.num_queues = 2;
	m.u.inflight.queue_size = 128;
	len = encode(&m, buf);
	cr_assert_eq(len, 12 + 24);
	memcpy(w64, buf + 12, 24);
	cr_assert_eq(w64[0], 0x1234);
	cr_assert_eq(w64[1], 0x40);
	cr_assert_eq(w64[2], 2 | 128u << 16, "num_queues, queue_size, padding");
}

/* Every message type, request and reply, through encode, send, receive and
 * decode, with its fds. */
Test(vhu, roundtrip_every_message)
{
	struct variant vs[128];
	size_t nv = all_variants(vs, ARRAY_SIZE(vs));
	int sv[2];
	tu_sockpair(sv);
	int before = tu_count_fds();
	for (size_t i = 0; i < nv; i++) {
		struct vhu_msg m, got;
		size_t nfds = make_variant(&vs[i], &m);
		int fds[VHU_MAX_MEM_REGIONS];
		for (size_t k = 0; k < nfds; k++)
			fds[k] = tu_memfd();
		cr_assert_eq(vhu_send(sv[0], &m, fds, nfds), 0, "%s", vhu_request_name(m.request));
		struct msg_fds rfds;
		cr_assert_eq(vhu_recv(sv[1], &got, &rfds), 0, "%s%s", vhu_request_name(m.request),
			     vs[i].reply ? " reply" : "");
		assert_msg_eq(&got, &m);
		cr_assert_eq(rfds.n, nfds, "%s", vhu_request_name(m.request));
		for (size_t k = 0; k < nfds; k++)
			cr_assert(tu_same_file(rfds.fd[k], fds[k]), "%s fd %zu",
				  vhu_request_name(m.request), k);
		msg_fds_close(&rfds);
		for (size_t k = 0; k < nfds; k++)
			close(fds[k]);
	}
	cr_assert_eq(tu_count_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

Test(vhu, decode_keeps_only_reply_flags)
{
	uint8_t buf[MAX_MSG];
	struct vhu_msg m, got;
	sample(&m, VHU_SET_FEATURES, false, 0);
	size_t len = encode(&m, buf);
	set32(buf, 4, VHU_VERSION | VHU_FLAG_NEED_REPLY | 0x80000000u);
	cr_assert_eq(decode(buf, len, 0, &got), 0, "reserved bits are ignored");
	cr_assert_eq(got.flags, VHU_FLAG_NEED_REPLY);
}

Test(vhu, decode_wrong_version)
{
	struct variant vs[128];
	size_t nv = all_variants(vs, ARRAY_SIZE(vs));
	for (size_t i = 0; i < nv; i++) {
		uint8_t buf[MAX_MSG];
		struct vhu_msg m, got;
		size_t nfds = make_variant(&vs[i], &m);
		size_t len = encode(&m, buf);
		cr_assert_eq(decode(buf, len, nfds, &got), 0);
		uint32_t flags;
		memcpy(&flags, buf + 4, 4);
		for (uint32_t ver = 0; ver <= 3; ver++) {
			if (ver == VHU_VERSION)
				continue;
			set32(buf, 4, (flags & ~VHU_FLAG_VERSION_MASK) | ver);
			cr_assert_eq(decode(buf, len, nfds, &got), -EBADMSG, "%s version %u",
				     vhu_request_name(m.request), ver);
		}
	}
}

Test(vhu, decode_short_header)
{
	uint8_t buf[MAX_MSG];
	struct vhu_msg m, got;
	sample(&m, VHU_GET_FEATURES, false, 0);
	encode(&m, buf);
	for (size_t len = 0; len < VHU_HDR_SIZE; len++)
		cr_assert_eq(decode(buf, len, 0, &got), -EBADMSG);
}

/* The size field disagrees with the bytes given, while itself being a valid
 * size for the request. */
Test(vhu, decode_size_field_mismatch)
{
	struct variant vs[128];
	size_t nv = all_variants(vs, ARRAY_SIZE(vs));
	for (size_t i = 0; i < nv; i++) {
		uint8_t buf[MAX_MSG + 1] = { 0 };
		struct vhu_msg m, got;
		size_t nfds = make_variant(&vs[i], &m);
		size_t len = encode(&m, buf);
		cr_assert_eq(decode(buf, len + 1, nfds, &got), -EBADMSG, "%s: one extra byte",
			     vhu_request_name(m.request));
		if (len > VHU_HDR_SIZE)
			cr_assert_eq(decode(buf, len - 1, nfds, &got), -EBADMSG,
				     "%s: one byte missing", vhu_request_name(m.request));
	}
}

/* Payload one byte short or long, with the size field telling the truth. */
Test(vhu, decode_payload_off_by_one)
{
	struct variant vs[128];
	size_t nv = all_variants(vs, ARRAY_SIZE(vs));
	for (size_t i = 0; i < nv; i++) {
		uint8_t buf[MAX_MSG + 1] = { 0 };
		struct vhu_msg m, got;
		size_t nfds = make_variant(&vs[i], &m);
		size_t len = encode(&m, buf);
		uint32_t size = (uint32_t)(len - VHU_HDR_SIZE);
		set32(buf, 8, size + 1);
		cr_assert_eq(decode(buf, len + 1, nfds, &got), -EBADMSG, "%s%s long",
			     vhu_request_name(m.request), vs[i].reply ? " reply" : "");
		if (size > 0) {
			set32(buf, 8, size - 1);
			cr_assert_eq(decode(buf, len - 1, nfds, &got), -EBADMSG, "%s%s short",
				     vhu_request_name(m.request), vs[i].reply ? " reply" : "");
		}
	}
}

Test(vhu, decode_mem_table_nregions_9)
{
	uint8_t buf[VHU_HDR_SIZE + 8 + 9 * 32] = { 0 };
	struct vhu_msg got;
	set32(buf, 0, VHU_SET_MEM_TABLE);
	set32(buf, 4, VHU_VERSION);
	set32(buf, 8, 8 + 9 * 32);
	set32(buf, 12, 9);
	cr_assert_eq(decode(buf, sizeof(buf), 9, &got), -EBADMSG);
	/* and 8 regions with the same layout is fine */
	set32(buf, 8, 8 + 8 * 32);
	set32(buf, 12, 8);
	cr_assert_eq(decode(buf, sizeof(buf) - 32, 8, &got), 0);
	cr_assert_eq(got.u.mem.nregions, 8);
}

Test(vhu, decode_mem_table_size_not_matching_nregions)
{
	uint8_t buf[MAX_MSG];
	struct vhu_msg m, got;
	sample(&m, VHU_SET_MEM_TABLE, false, 2);
	size_t len = encode(&m, buf);
	cr_assert_eq(decode(buf, len, 2, &got), 0);
	set32(buf, 12, 1);
	cr_assert_eq(decode(buf, len, 1, &got), -EBADMSG, "1 region in 2 regions' bytes");
	set32(buf, 12, 3);
	cr_assert_eq(decode(buf, len, 3, &got), -EBADMSG, "3 regions in 2 regions' bytes");
	set32(buf, 12, 0);
	cr_assert_eq(decode(buf, len, 0, &got), -EBADMSG);
}

Test(vhu, decode_config_size_257)
{
	uint8_t buf[VHU_HDR_SIZE + VHU_CONFIG_HDR_SIZE + 257] = { 0 };
	struct vhu_msg got;
	set32(buf, 0, VHU_SET_CONFIG);
	set32(buf, 4, VHU_VERSION);
	set32(buf, 8, VHU_CONFIG_HDR_SIZE + 257);
	set32(buf, 16, 257);
	cr_assert_eq(decode(buf, sizeof(buf), 0, &got), -EBADMSG);
	set32(buf, 8, VHU_CONFIG_HDR_SIZE + 256);
	set32(buf, 16, 256);
	cr_assert_eq(decode(buf, sizeof(buf) - 1, 0, &got), 0);
}

Test(vhu, decode_config_size_not_matching_payload)
{
	uint8_t buf[MAX_MSG];
	struct vhu_msg m, got;
	sample(&m, VHU_GET_CONFIG, true, 8);
	size_t len = encode(&m, buf);
	set32(buf, 16, 7);
	cr_assert_eq(decode(buf, len, 0, &got), -EBADMSG);
	set32(buf, 16, 9);
	cr_assert_eq(decode(buf, len, 0, &got), -EBADMSG);
}

/* One fd more or fewer than the request takes, for every request and reply. */
Test(vhu, decode_fd_count_mismatch)
{
	struct variant vs[128];
	size_t nv = all_variants(vs, ARRAY_SIZE(vs));
	for (size_t i = 0; i < nv; i++) {
		uint8_t buf[MAX_MSG];
		struct vhu_msg m, got;
		make_variant(&vs[i], &m);
		size_t len = encode(&m, buf);
		size_t lo, hi;
		allowed_fds(&m, &lo, &hi);
		for (size_t n = lo; n <= hi; n++)
			cr_assert_eq(decode(buf, len, n, &got), 0, "%s with %zu fds",
				     vhu_request_name(m.request), n);
		cr_assert_eq(decode(buf, len, hi + 1, &got), -EBADMSG, "%s%s with %zu fds",
			     vhu_request_name(m.request), vs[i].reply ? " reply" : "", hi + 1);
		if (lo > 0)
			cr_assert_eq(decode(buf, len, lo - 1, &got), -EBADMSG, "%s with %zu fds",
				     vhu_request_name(m.request), lo - 1);
	}
}

Test(vhu, decode_nofd_with_an_fd)
{
	uint8_t buf[MAX_MSG];
	struct vhu_msg m, got;
	static const uint32_t reqs[] = { VHU_SET_VRING_KICK, VHU_SET_VRING_CALL,
					 VHU_SET_VRING_ERR };
	for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
		sample(&m, reqs[i], false, 0);
		m.u.u64 = VHU_VRING_NOFD | 2;
		size_t len = encode(&m, buf);
		cr_assert_eq(decode(buf, len, 0, &got), 0);
		cr_assert_eq(got.u.u64, VHU_VRING_NOFD | 2);
		cr_assert_eq(decode(buf, len, 1, &got), -EBADMSG, "%s", vhu_request_name(reqs[i]));
	}
}

Test(vhu, decode_vring_fd_unknown_bits)
{
	static const uint32_t reqs[] = { VHU_SET_VRING_KICK, VHU_SET_VRING_CALL,
					 VHU_SET_VRING_ERR };
	static const uint64_t bad[] = { 1u << 9, 1ull << 31, 1ull << 32, 1ull << 63 };
	for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
		for (size_t b = 0; b < ARRAY_SIZE(bad); b++) {
			uint8_t buf[VHU_HDR_SIZE + 8];
			struct vhu_msg got;
			set32(buf, 0, reqs[i]);
			set32(buf, 4, VHU_VERSION);
			set32(buf, 8, 8);
			uint64_t v = bad[b] | 1;
			memcpy(buf + 12, &v, 8);
			cr_assert_eq(decode(buf, sizeof(buf), 1, &got), -EBADMSG);
			v |= VHU_VRING_NOFD;
			memcpy(buf + 12, &v, 8);
			cr_assert_eq(decode(buf, sizeof(buf), 0, &got), -EBADMSG);
		}
	}
}

Test(vhu, decode_unknown_request)
{
	static const uint32_t unknown[] = { 0, 6, 7, 41, 0xffffffffu };
	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
		uint8_t buf[VHU_HDR_SIZE + 16] = { 0 };
		struct vhu_msg got;
		set32(buf, 0, unknown[i]);
		set32(buf, 4, VHU_VERSION | VHU_FLAG_NEED_REPLY);
		set32(buf, 8, 16);
		cr_assert_eq(decode(buf, sizeof(buf), 1, &got), -ENOTSUP);
		cr_assert_eq(got.request, unknown[i]);
		cr_assert_eq(got.flags, VHU_FLAG_NEED_REPLY);
		/* Not well framed: malformed first. */
		set32(buf, 4, 2);
		cr_assert_eq(decode(buf, sizeof(buf), 0, &got), -EBADMSG);
		set32(buf, 4, VHU_VERSION);
		set32(buf, 8, 15);
		cr_assert_eq(decode(buf, sizeof(buf), 0, &got), -EBADMSG);
	}
}

Test(vhu, encode_errors)
{
	uint8_t buf[MAX_MSG];
	struct vhu_msg m;
	size_t len;

	sample(&m, VHU_SET_MEM_TABLE, false, 2);
	cr_assert_eq(vhu_encode(&m, buf, 12 + 8 + 64 - 1, &len), -ENOBUFS);
	cr_assert_eq(vhu_encode(&m, buf, 12 + 8 + 64, &len), 0);
	cr_assert_eq(len, 12 + 8 + 64);

	m.u.mem.nregions = VHU_MAX_MEM_REGIONS + 1;
	cr_assert_eq(vhu_encode(&m, buf, sizeof(buf), &len), -EBADMSG);

	sample(&m, VHU_SET_CONFIG, false, 0);
	m.u.config.size = VHU_MAX_CONFIG_SIZE + 1;
	cr_assert_eq(vhu_encode(&m, buf, sizeof(buf), &len), -EBADMSG);

	sample(&m, VHU_SET_FEATURES, false, 0);
	m.kind = VHU_P_VRING_STATE;
	cr_assert_eq(vhu_encode(&m, buf, sizeof(buf), &len), -EBADMSG, "kind mismatch");
	sample(&m, VHU_GET_VRING_BASE, true, 0);
	m.kind = VHU_P_U64;
	cr_assert_eq(vhu_encode(&m, buf, sizeof(buf), &len), -EBADMSG, "reply kind mismatch");

	sample(&m, VHU_SET_VRING_CALL, false, 0);
	m.u.u64 = 1u << 9;
	cr_assert_eq(vhu_encode(&m, buf, sizeof(buf), &len), -EBADMSG);

	sample(&m, VHU_SET_FEATURES, false, 0);
	m.flags = 1u << 4;
	cr_assert_eq(vhu_encode(&m, buf, sizeof(buf), &len), -EBADMSG, "unknown flag bits");

	sample(&m, VHU_SET_FEATURES, false, 0);
	m.request = 6;
	cr_assert_eq(vhu_encode(&m, buf, sizeof(buf), &len), -ENOTSUP);
}

Test(vhu, encode_sets_version)
{
	uint8_t buf[MAX_MSG];
	struct vhu_msg m;
	sample(&m, VHU_GET_FEATURES, false, 0);
	m.flags = VHU_FLAG_NEED_REPLY | 2;
	size_t len = encode(&m, buf);
	uint32_t flags;
	memcpy(&flags, buf + 4, 4);
	cr_assert_eq(flags, VHU_FLAG_NEED_REPLY | VHU_VERSION);
	cr_assert_eq(len, VHU_HDR_SIZE);
}

/* A wrong fd count is refused before anything reaches the socket. */
Test(vhu, send_refuses_wrong_fd_count)
{
	int sv[2], fds[MSG_MAX_FDS + 1];
	tu_sockpair(sv);
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		fds[i] = tu_memfd();
	struct variant vs[128];
	size_t nv = all_variants(vs, ARRAY_SIZE(vs));
	for (size_t i = 0; i < nv; i++) {
		struct vhu_msg m;
		make_variant(&vs[i], &m);
		size_t lo, hi;
		allowed_fds(&m, &lo, &hi);
		cr_assert_eq(vhu_send(sv[0], &m, fds, hi + 1), -EBADMSG, "%s",
			     vhu_request_name(m.request));
		if (lo > 0)
			cr_assert_eq(vhu_send(sv[0], &m, fds, lo - 1), -EBADMSG);
	}
	struct vhu_msg m;
	sample(&m, VHU_SET_MEM_TABLE, false, 2);
	cr_assert_eq(vhu_send(sv[0], &m, fds, MSG_MAX_FDS + 1), -EINVAL);
	m.u.mem.nregions = 9;
	cr_assert_eq(vhu_send(sv[0], &m, fds, 9), -EBADMSG);
	assert_nothing_to_read(sv[1]);
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	close(sv[0]);
	close(sv[1]);
}

/* The header says more than any known message carries: refused before the
 * payload is read (the peer then hangs up, so reading it would be
 * -ECONNRESET), fds closed. */
Test(vhu, recv_oversized_header)
{
	int sv[2], fds[2] = { tu_memfd(), tu_memfd() };
	tu_sockpair(sv);
	uint8_t hdr[VHU_HDR_SIZE];
	set32(hdr, 0, VHU_SET_CONFIG);
	set32(hdr, 4, VHU_VERSION);
	set32(hdr, 8, VHU_MAX_PAYLOAD + 1);
	int before = tu_count_fds();
	tu_raw_send(sv[0], hdr, sizeof(hdr), fds, 2);
	close(sv[0]);
	struct vhu_msg m;
	struct msg_fds rfds;
	cr_assert_eq(vhu_recv(sv[1], &m, &rfds), -EBADMSG);
	cr_assert_eq(rfds.n, 0);
	cr_assert_eq(tu_count_fds(), before - 1, "only sv[0] went");
	close(fds[0]);
	close(fds[1]);
	close(sv[1]);
}

/* Refused on the header alone, before reading a payload that never comes. */
Test(vhu, recv_wrong_version)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	uint8_t buf[VHU_HDR_SIZE] = { 0 };
	set32(buf, 0, VHU_SET_VRING_KICK);
	set32(buf, 4, 2);
	set32(buf, 8, 8);
	int before = tu_count_fds();
	tu_raw_send(sv[0], buf, sizeof(buf), &fd, 1);
	close(sv[0]);
	struct vhu_msg m;
	struct msg_fds rfds;
	cr_assert_eq(vhu_recv(sv[1], &m, &rfds), -EBADMSG);
	cr_assert_eq(tu_count_fds(), before - 1, "only sv[0] went");
	close(fd);
	close(sv[1]);
}

Test(vhu, recv_bad_fd_count_closes_fds)
{
	int sv[2], fds[2] = { tu_memfd(), tu_memfd() };
	tu_sockpair(sv);
	uint8_t buf[MAX_MSG];
	struct vhu_msg m;
	sample(&m, VHU_SET_VRING_CALL, false, 0);
	size_t len = encode(&m, buf);
	int before = tu_count_fds();
	tu_raw_send(sv[0], buf, len, fds, 2);
	struct msg_fds rfds;
	cr_assert_eq(vhu_recv(sv[1], &m, &rfds), -EBADMSG);
	cr_assert_eq(rfds.n, 0);
	cr_assert_eq(tu_count_fds(), before);
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);
}

/* The header's fd and the one wrongly on the payload are both closed. */
Test(vhu, recv_fd_on_payload_closes_all)
{
	int sv[2], fds[2] = { tu_memfd(), tu_memfd() };
	tu_sockpair(sv);
	uint8_t buf[MAX_MSG];
	struct vhu_msg m;
	sample(&m, VHU_SET_VRING_KICK, false, 0);
	size_t len = encode(&m, buf);
	int before = tu_count_fds();
	tu_raw_send(sv[0], buf, VHU_HDR_SIZE, &fds[0], 1);
	tu_raw_send(sv[0], buf + VHU_HDR_SIZE, len - VHU_HDR_SIZE, &fds[1], 1);
	struct msg_fds rfds;
	cr_assert_eq(vhu_recv(sv[1], &m, &rfds), -EBADMSG);
	cr_assert_eq(rfds.n, 0);
	cr_assert_eq(tu_count_fds(), before);
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);
}

Test(vhu, recv_eof_mid_payload_closes_fds)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	uint8_t buf[MAX_MSG];
	struct vhu_msg m;
	sample(&m, VHU_ADD_MEM_REG, false, 0);
	size_t len = encode(&m, buf);
	int before = tu_count_fds();
	tu_raw_send(sv[0], buf, len - 1, &fd, 1);
	close(sv[0]);
	struct msg_fds rfds;
	cr_assert_eq(vhu_recv(sv[1], &m, &rfds), -ECONNRESET);
	cr_assert_eq(tu_count_fds(), before - 1, "only sv[0] went");
	close(fd);
	close(sv[1]);
}

/* An unknown request is consumed whole, its fd closed, and the next message
 * decodes: the stream stays in sync. */
Test(vhu, recv_unknown_then_valid)
{
	int sv[2], fd = tu_memfd(), fd2 = tu_memfd();
	tu_sockpair(sv);
	uint8_t buf[VHU_HDR_SIZE + 16];
	memset(buf, 0xee, sizeof(buf));
	set32(buf, 0, 6); /* SET_LOG_BASE: not one this codec knows */
	set32(buf, 4, VHU_VERSION | VHU_FLAG_NEED_REPLY);
	set32(buf, 8, 16);
	int before = tu_count_fds();
	tu_raw_send(sv[0], buf, sizeof(buf), &fd, 1);
	struct vhu_msg m, got;
	sample(&m, VHU_SET_VRING_ERR, false, 0);
	cr_assert_eq(vhu_send(sv[0], &m, &fd2, 1), 0);

	struct msg_fds rfds;
	cr_assert_eq(vhu_recv(sv[1], &got, &rfds), -ENOTSUP);
	cr_assert_eq(got.request, 6);
	cr_assert_eq(got.flags, VHU_FLAG_NEED_REPLY);
	cr_assert_eq(rfds.n, 0);
	cr_assert_eq(tu_count_fds(), before, "the unknown request's fd was closed");
	cr_assert_eq(vhu_recv(sv[1], &got, &rfds), 0);
	assert_msg_eq(&got, &m);
	cr_assert_eq(rfds.n, 1);
	cr_assert(tu_same_file(rfds.fd[0], fd2));
	msg_fds_close(&rfds);
	close(fd);
	close(fd2);
	close(sv[0]);
	close(sv[1]);
}

Test(vhu, recv_eof)
{
	int sv[2];
	tu_sockpair(sv);
	close(sv[0]);
	struct vhu_msg m;
	struct msg_fds rfds;
	cr_assert_eq(vhu_recv(sv[1], &m, &rfds), -ECONNRESET);
	close(sv[1]);
}

static void check_decode(const uint8_t *buf, size_t len, size_t nfds)
{
	struct vhu_msg got, again;
	int ret = decode(buf, len, nfds, &got);
	cr_assert(ret == 0 || ret == -EBADMSG || ret == -ENOTSUP, "ret %d", ret);
	if (ret != 0)
		return;
	/* Whatever decodes re-encodes to a message that decodes the same. */
	uint8_t out[MAX_MSG];
	size_t olen;
	cr_assert_eq(vhu_encode(&got, out, sizeof(out), &olen), 0);
	cr_assert_eq(olen, len);
	cr_assert_eq(decode(out, olen, nfds, &again), 0);
	assert_msg_eq(&again, &got);
}

/* Systematic corruption of every valid encoding: single-bit and whole-byte
 * flips at every offset, every truncation (with and without the size field
 * following), and extension. Decode must only ever accept or refuse. */
Test(vhu, mutations_never_crash)
{
	struct variant vs[128];
	size_t nv = all_variants(vs, ARRAY_SIZE(vs));
	static const uint8_t masks[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff };
	for (size_t i = 0; i < nv; i++) {
		uint8_t orig[MAX_MSG + 8] = { 0 }, buf[MAX_MSG + 8];
		struct vhu_msg m;
		size_t nfds = make_variant(&vs[i], &m);
		size_t len = encode(&m, orig);
		for (size_t n = 0; n <= 2; n++) {
			for (size_t off = 0; off < len; off++) {
				for (size_t k = 0; k < ARRAY_SIZE(masks); k++) {
					memcpy(buf, orig, len);
					buf[off] ^= masks[k];
					check_decode(buf, len, n);
				}
			}
		}
		for (size_t cut = 0; cut <= len + 8; cut++) {
			memcpy(buf, orig, sizeof(buf));
			check_decode(buf, cut, nfds);
			if (cut >= VHU_HDR_SIZE) {
				set32(buf, 8, (uint32_t)(cut - VHU_HDR_SIZE));
				check_decode(buf, cut, nfds);
				check_decode(buf, cut, 9);
			}
		}
	}
}

/* The requests a frontend must wait on without NEED_REPLY: exactly the GETs. */
Test(vhost_user, requests_with_their_own_reply)
{
	const uint32_t own[] = { VHU_GET_FEATURES, VHU_GET_PROTOCOL_FEATURES, VHU_GET_VRING_BASE,
				 VHU_GET_QUEUE_NUM, VHU_GET_CONFIG, VHU_GET_INFLIGHT_FD,
				 VHU_GET_MAX_MEM_SLOTS,
				 VHU_GET_STATUS };
	for (uint32_t r = 0; r < 64; r++) {
		bool want = false;
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			want |= own[i] == r;
		cr_assert_eq(vhu_request_has_reply(r), want, "request %u", r);
	}
}
