#include "vhost_user.h"

#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define VRING_STATE_SIZE 8u
#define VRING_ADDR_SIZE 40u
#define MEM_TABLE_HDR_SIZE 8u
#define MEM_REGION_SIZE 32u
#define MEM_REG_SIZE (8u + MEM_REGION_SIZE)
#define INFLIGHT_SIZE 24u /* two u64, two u16, padded as QEMU's struct */

/* The flag bits a decoded message keeps. */
#define VHU_FLAGS_KEPT (VHU_FLAG_REPLY | VHU_FLAG_NEED_REPLY)

struct vhu_request_info {
	const char *name;
	enum vhu_payload_kind kind; /* of the request; replies are decided below */
};

static const struct vhu_request_info requests[] = {
	[VHU_GET_FEATURES] = { "GET_FEATURES", VHU_P_NONE },
	[VHU_SET_FEATURES] = { "SET_FEATURES", VHU_P_U64 },
	[VHU_SET_OWNER] = { "SET_OWNER", VHU_P_NONE },
	[VHU_RESET_OWNER] = { "RESET_OWNER", VHU_P_NONE },
	[VHU_SET_MEM_TABLE] = { "SET_MEM_TABLE", VHU_P_MEM_TABLE },
	[VHU_SET_VRING_NUM] = { "SET_VRING_NUM", VHU_P_VRING_STATE },
	[VHU_SET_VRING_ADDR] = { "SET_VRING_ADDR", VHU_P_VRING_ADDR },
	[VHU_SET_VRING_BASE] = { "SET_VRING_BASE", VHU_P_VRING_STATE },
	[VHU_GET_VRING_BASE] = { "GET_VRING_BASE", VHU_P_VRING_STATE },
	[VHU_SET_VRING_KICK] = { "SET_VRING_KICK", VHU_P_U64 },
	[VHU_SET_VRING_CALL] = { "SET_VRING_CALL", VHU_P_U64 },
	[VHU_SET_VRING_ERR] = { "SET_VRING_ERR", VHU_P_U64 },
	[VHU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", VHU_P_NONE },
	[VHU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", VHU_P_U64 },
	[VHU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", VHU_P_NONE },
	[VHU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", VHU_P_VRING_STATE },
	[VHU_SEND_RARP] = { "SEND_RARP", VHU_P_U64 },
	[VHU_NET_SET_MTU] = { "NET_SET_MTU", VHU_P_U64 },
	[VHU_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD", VHU_P_NONE },
	[VHU_GET_CONFIG] = { "GET_CONFIG", VHU_P_CONFIG },
	[VHU_SET_CONFIG] = { "SET_CONFIG", VHU_P_CONFIG },
	[VHU_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", VHU_P_INFLIGHT },
	[VHU_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", VHU_P_INFLIGHT },
	[VHU_RESET_DEVICE] = { "RESET_DEVICE", VHU_P_NONE },
	[VHU_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS", VHU_P_NONE },
	[VHU_ADD_MEM_REG] = { "ADD_MEM_REG", VHU_P_MEM_REG },
	[VHU_REM_MEM_REG] = { "REM_MEM_REG", VHU_P_MEM_REG },
	[VHU_SET_STATUS] = { "SET_STATUS", VHU_P_U64 },
	[VHU_GET_STATUS] = { "GET_STATUS", VHU_P_NONE },
};

static const struct vhu_request_info *request_info(uint32_t request)
{
	if (request >= ARRAY_SIZE(requests) || !requests[request].name)
		return NULL;
	return &requests[request];
}

const char *vhu_request_name(uint32_t request)
{
	const struct vhu_request_info *info = request_info(request);
	return info ? info->name : "UNKNOWN";
}

int vhu_payload_kind(uint32_t request, bool is_reply, enum vhu_payload_kind *kind)
{
	const struct vhu_request_info *info = request_info(request);
	if (!info)
		return -ENOTSUP;
	if (!is_reply)
		*kind = info->kind;
	else if (request == VHU_GET_VRING_BASE)
		*kind = VHU_P_VRING_STATE;
	else if (request == VHU_GET_CONFIG)
		*kind = VHU_P_CONFIG;
	else if (request == VHU_GET_INFLIGHT_FD)
		*kind = VHU_P_INFLIGHT;
	else
		*kind = VHU_P_U64; /* the value asked for, or the REPLY_ACK status */
	return 0;
}

/* Wire size of m's payload, from its kind and counts; -EBADMSG if a count is
 * out of range. */
static int payload_size(const struct vhu_msg *m, size_t *size)
{
	switch (m->kind) {
	case VHU_P_NONE:
		*size = 0;
		return 0;
	case VHU_P_U64:
		*size = sizeof(uint64_t);
		return 0;
	case VHU_P_VRING_STATE:
		*size = VRING_STATE_SIZE;
		return 0;
	case VHU_P_VRING_ADDR:
		*size = VRING_ADDR_SIZE;
		return 0;
	case VHU_P_MEM_TABLE:
		if (m->u.mem.nregions > VHU_MAX_MEM_REGIONS)
			return -EBADMSG;
		*size = MEM_TABLE_HDR_SIZE + MEM_REGION_SIZE * (size_t)m->u.mem.nregions;
		return 0;
	case VHU_P_MEM_REG:
		*size = MEM_REG_SIZE;
		return 0;
	case VHU_P_CONFIG:
		if (m->u.config.size > VHU_MAX_CONFIG_SIZE)
			return -EBADMSG;
		*size = VHU_CONFIG_HDR_SIZE + (size_t)m->u.config.size;
		return 0;
	case VHU_P_INFLIGHT:
		*size = INFLIGHT_SIZE;
		return 0;
	}
	return -EBADMSG; /* not a kind at all */
}

/* How many fds m travels with: [*lo, *hi]. -EBADMSG for unknown bits in a
 * vring-fd payload. */
static int fd_range(const struct vhu_msg *m, size_t *lo, size_t *hi)
{
	*lo = *hi = 0;
	if (m->flags & VHU_FLAG_REPLY) {
		/* The region's fd; none when the backend could not make one. */
		if (m->request == VHU_GET_INFLIGHT_FD)
			*hi = 1;
		return 0;
	}
	switch (m->request) {
	case VHU_SET_MEM_TABLE:
		*lo = *hi = m->u.mem.nregions;
		break;
	case VHU_ADD_MEM_REG:
	case VHU_SET_BACKEND_REQ_FD:
	case VHU_SET_INFLIGHT_FD:
		*lo = *hi = 1;
		break;
	case VHU_REM_MEM_REG:
		/* QEMU sends the region's fd; the spec allows none. */
		*hi = 1;
		break;
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR:
		if (m->u.u64 & ~(uint64_t)(VHU_VRING_IDX_MASK | VHU_VRING_NOFD))
			return -EBADMSG;
		*lo = *hi = (m->u.u64 & VHU_VRING_NOFD) ? 0 : 1;
		break;
	}
	return 0;
}

static void get_region(const uint8_t *p, struct vhu_mem_region *r)
{
	r->gpa = get_le64(p);
	r->size = get_le64(p + 8);
	r->uaddr = get_le64(p + 16);
	r->mmap_offset = get_le64(p + 24);
}

static void put_region(uint8_t *p, const struct vhu_mem_region *r)
{
	put_le64(p, r->gpa);
	put_le64(p + 8, r->size);
	put_le64(p + 16, r->uaddr);
	put_le64(p + 24, r->mmap_offset);
}

int vhu_decode(const void *buf, size_t len, size_t nfds, struct vhu_msg *out)
{
	const uint8_t *b = buf;
	const uint8_t *p = b + VHU_HDR_SIZE;
	const char *why;

	memset(out, 0, sizeof(*out));
	if (len < VHU_HDR_SIZE) {
		log_ratelimited(LOG_LVL_WARN, "%zu bytes is shorter than a header", len);
		return -EBADMSG;
	}
	uint32_t flags = get_le32(b + 4);
	uint32_t size = get_le32(b + 8);
	out->request = get_le32(b);
	/* Bits beyond these are reserved; like QEMU, ignore them. */
	out->flags = flags & VHU_FLAGS_KEPT;
	if ((flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION) {
		why = "bad version";
		goto bad;
	}
	if (size != len - VHU_HDR_SIZE) {
		why = "size field does not match the bytes given";
		goto bad;
	}
	if (vhu_payload_kind(out->request, flags & VHU_FLAG_REPLY, &out->kind) < 0) {
		log_ratelimited(LOG_LVL_WARN, "unknown request %u", out->request);
		return -ENOTSUP;
	}

	/* The counts that size the payload come first in it. */
	if (out->kind == VHU_P_MEM_TABLE && size >= 4)
		out->u.mem.nregions = get_le32(p);
	if (out->kind == VHU_P_CONFIG && size >= 8)
		out->u.config.size = get_le32(p + 4);
	size_t want;
	if (payload_size(out, &want) < 0 || want != size) {
		why = "wrong payload size";
		goto bad;
	}

	switch (out->kind) {
	case VHU_P_NONE:
		break;
	case VHU_P_U64:
		out->u.u64 = get_le64(p);
		break;
	case VHU_P_VRING_STATE:
		out->u.state.index = get_le32(p);
		out->u.state.num = get_le32(p + 4);
		break;
	case VHU_P_VRING_ADDR:
		out->u.addr.index = get_le32(p);
		out->u.addr.flags = get_le32(p + 4);
		out->u.addr.desc = get_le64(p + 8);
		out->u.addr.used = get_le64(p + 16);
		out->u.addr.avail = get_le64(p + 24);
		out->u.addr.log = get_le64(p + 32);
		break;
	case VHU_P_MEM_TABLE:
		for (uint32_t i = 0; i < out->u.mem.nregions; i++)
			get_region(p + MEM_TABLE_HDR_SIZE + MEM_REGION_SIZE * i,
				   &out->u.mem.regions[i]);
		break;
	case VHU_P_MEM_REG:
		get_region(p + 8, &out->u.mem_reg);
		break;
	case VHU_P_CONFIG:
		out->u.config.offset = get_le32(p);
		out->u.config.flags = get_le32(p + 8);
		memcpy(out->u.config.data, p + VHU_CONFIG_HDR_SIZE, out->u.config.size);
		break;
	case VHU_P_INFLIGHT:
		out->u.inflight.mmap_size = get_le64(p);
		out->u.inflight.mmap_offset = get_le64(p + 8);
		out->u.inflight.num_queues = get_le16(p + 16);
		out->u.inflight.queue_size = get_le16(p + 18);
		break;
	}

	size_t lo, hi;
	if (fd_range(out, &lo, &hi) < 0) {
		why = "unknown bits in a vring-fd payload";
		goto bad;
	}
	if (nfds < lo || nfds > hi) {
		why = "wrong fd count";
		goto bad;
	}
	return 0;

bad:
	log_ratelimited(LOG_LVL_WARN, "%s%s: %s", vhu_request_name(out->request),
			(flags & VHU_FLAG_REPLY) ? " reply" : "", why);
	return -EBADMSG;
}

int vhu_encode(const struct vhu_msg *m, void *buf, size_t cap, size_t *out_len)
{
	enum vhu_payload_kind kind;
	size_t size, lo, hi;
	int ret;

	ret = vhu_payload_kind(m->request, m->flags & VHU_FLAG_REPLY, &kind);
	if (ret < 0)
		return ret;
	if (m->kind != kind || (m->flags & ~(VHU_FLAGS_KEPT | VHU_FLAG_VERSION_MASK)))
		return -EBADMSG;
	ret = payload_size(m, &size);
	if (ret < 0)
		return ret;
	ret = fd_range(m, &lo, &hi);
	if (ret < 0)
		return ret;
	if (cap < VHU_HDR_SIZE + size)
		return -ENOBUFS;

	uint8_t *b = buf;
	uint8_t *p = b + VHU_HDR_SIZE;
	put_le32(b, m->request);
	put_le32(b + 4, (m->flags & VHU_FLAGS_KEPT) | VHU_VERSION);
	put_le32(b + 8, (uint32_t)size);
	switch (m->kind) {
	case VHU_P_NONE:
		break;
	case VHU_P_U64:
		put_le64(p, m->u.u64);
		break;
	case VHU_P_VRING_STATE:
		put_le32(p, m->u.state.index);
		put_le32(p + 4, m->u.state.num);
		break;
	case VHU_P_VRING_ADDR:
		put_le32(p, m->u.addr.index);
		put_le32(p + 4, m->u.addr.flags);
		put_le64(p + 8, m->u.addr.desc);
		put_le64(p + 16, m->u.addr.used);
		put_le64(p + 24, m->u.addr.avail);
		put_le64(p + 32, m->u.addr.log);
		break;
	case VHU_P_MEM_TABLE:
		put_le32(p, m->u.mem.nregions);
		put_le32(p + 4, 0);
		for (uint32_t i = 0; i < m->u.mem.nregions; i++)
			put_region(p + MEM_TABLE_HDR_SIZE + MEM_REGION_SIZE * i,
				   &m->u.mem.regions[i]);
		break;
	case VHU_P_MEM_REG:
		put_le64(p, 0);
		put_region(p + 8, &m->u.mem_reg);
		break;
	case VHU_P_CONFIG:
		put_le32(p, m->u.config.offset);
		put_le32(p + 4, m->u.config.size);
		put_le32(p + 8, m->u.config.flags);
		memcpy(p + VHU_CONFIG_HDR_SIZE, m->u.config.data, m->u.config.size);
		break;
	case VHU_P_INFLIGHT:
		put_le64(p, m->u.inflight.mmap_size);
		put_le64(p + 8, m->u.inflight.mmap_offset);
		put_le16(p + 16, m->u.inflight.num_queues);
		put_le16(p + 18, m->u.inflight.queue_size);
		put_le32(p + 20, 0);
		break;
	}
	*out_len = VHU_HDR_SIZE + size;
	return 0;
}

int vhu_send(int sock, const struct vhu_msg *m, const int *fds, size_t nfds)
{
	uint8_t buf[VHU_HDR_SIZE + VHU_MAX_PAYLOAD];
	size_t len, lo, hi;
	int ret;

	if (nfds > MSG_MAX_FDS)
		return -EINVAL;
	ret = vhu_encode(m, buf, sizeof(buf), &len);
	if (ret < 0)
		return ret;
	/* encode has checked the payload bits fd_range looks at */
	fd_range(m, &lo, &hi);
	if (nfds < lo || nfds > hi)
		return -EBADMSG;
	return msg_send(sock, buf, VHU_HDR_SIZE, buf + VHU_HDR_SIZE, len - VHU_HDR_SIZE, fds,
			nfds);
}

int vhu_recv(int sock, struct vhu_msg *m, struct msg_fds *fds)
{
	uint8_t buf[VHU_HDR_SIZE + VHU_MAX_PAYLOAD];
	int ret;

	ret = msg_recv_header(sock, buf, VHU_HDR_SIZE, fds, MSG_MAX_FDS);
	if (ret < 0)
		return ret;
	uint32_t flags = get_le32(buf + 4);
	uint32_t size = get_le32(buf + 8);
	if ((flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION || size > VHU_MAX_PAYLOAD) {
		log_ratelimited(LOG_LVL_WARN, "%s: bad header (flags 0x%x, size %u)",
				vhu_request_name(get_le32(buf)), flags, size);
		ret = -EBADMSG;
		goto fail;
	}
	ret = msg_recv_payload(sock, buf + VHU_HDR_SIZE, size);
	if (ret < 0)
		goto fail;
	ret = vhu_decode(buf, VHU_HDR_SIZE + size, fds->n, m);
	if (ret < 0)
		goto fail;
	return 0;

fail:
	msg_fds_close(fds);
	return ret;
}

bool vhu_request_has_reply(uint32_t request)
{
	switch (request) {
	case VHU_GET_FEATURES:
	case VHU_GET_PROTOCOL_FEATURES:
	case VHU_GET_VRING_BASE:
	case VHU_GET_QUEUE_NUM:
	case VHU_GET_CONFIG:
	case VHU_GET_INFLIGHT_FD:
	case VHU_GET_MAX_MEM_SLOTS:
	case VHU_GET_STATUS:
		return true;
	default:
		return false;
	}
}
