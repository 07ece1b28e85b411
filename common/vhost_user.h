/* The vhost-user protocol (QEMU docs/interop/vhost-user.rst): constants,
 * message payloads, and one codec used by both sides — the frontend in
 * cellvm-vcpu and the backends in device-procs.
 *
 * Wire format: a 12-byte header (u32 request, u32 flags, u32 size; native
 * byte order) followed by `size` payload bytes; fds travel with the header.
 *
 * vhu_decode/vhu_encode are pure functions over bytes with explicit lengths.
 * vhu_decode accepts a message only if the version is 1, the size field equals
 * the bytes given, the payload size is exactly what the request (or, with the
 * REPLY flag, the reply to it) carries, and the fd count is what the request
 * allows. Errors:
 *   -ENOTSUP  the request number is not one this codec knows (the message is
 *             well framed; out->request and out->flags are filled so a
 *             backend can refuse it and carry on)
 *   -EBADMSG  anything else malformed: bad version, size mismatch, bad fd
 *             count, a field out of range (nregions > 8, config size > 256,
 *             unknown bits in a vring-fd payload) */
#ifndef CELLVM_VHOST_USER_H
#define CELLVM_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define VHU_HDR_SIZE 12u
#define VHU_VERSION 1u
#define VHU_FLAG_VERSION_MASK 0x3u
#define VHU_FLAG_REPLY (1u << 2)
#define VHU_FLAG_NEED_REPLY (1u << 3)

#define VHU_MAX_MEM_REGIONS 8u /* regions (and fds) in one SET_MEM_TABLE */
#define VHU_MAX_CONFIG_SIZE 256u
#define VHU_CONFIG_HDR_SIZE 12u
/* The largest payload of any message this codec knows (GET/SET_CONFIG). */
#define VHU_MAX_PAYLOAD (VHU_CONFIG_HDR_SIZE + VHU_MAX_CONFIG_SIZE)

/* SET_VRING_KICK/CALL/ERR u64 payload. */
#define VHU_VRING_IDX_MASK 0xffu
#define VHU_VRING_NOFD (1u << 8)

/* Virtio feature bit that says the backend speaks protocol features. */
#define VHU_F_PROTOCOL_FEATURES 30

enum vhu_protocol_feature {
	VHU_PROTOCOL_F_MQ = 0,
	VHU_PROTOCOL_F_LOG_SHMFD = 1,
	VHU_PROTOCOL_F_RARP = 2,
	VHU_PROTOCOL_F_REPLY_ACK = 3,
	VHU_PROTOCOL_F_NET_MTU = 4,
	VHU_PROTOCOL_F_BACKEND_REQ = 5,
	VHU_PROTOCOL_F_CROSS_ENDIAN = 6,
	VHU_PROTOCOL_F_CRYPTO_SESSION = 7,
	VHU_PROTOCOL_F_PAGEFAULT = 8,
	VHU_PROTOCOL_F_CONFIG = 9,
	VHU_PROTOCOL_F_BACKEND_SEND_FD = 10,
	VHU_PROTOCOL_F_HOST_NOTIFIER = 11,
	VHU_PROTOCOL_F_INFLIGHT_SHMFD = 12,
	VHU_PROTOCOL_F_RESET_DEVICE = 13,
	VHU_PROTOCOL_F_INBAND_NOTIFICATIONS = 14,
	VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15,
	VHU_PROTOCOL_F_STATUS = 16,
};

enum vhu_request {
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
	VHU_SEND_RARP = 19,
	VHU_NET_SET_MTU = 20,
	VHU_SET_BACKEND_REQ_FD = 21,
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
	VHU_GET_INFLIGHT_FD = 31,
	VHU_SET_INFLIGHT_FD = 32,
	VHU_RESET_DEVICE = 34,
	VHU_GET_MAX_MEM_SLOTS = 36,
	VHU_ADD_MEM_REG = 37,
	VHU_REM_MEM_REG = 38,
	VHU_SET_STATUS = 39,
	VHU_GET_STATUS = 40,
};

/* What a message's payload is; decided by the request and the REPLY flag. */
enum vhu_payload_kind {
	VHU_P_NONE,
	VHU_P_U64,
	VHU_P_VRING_STATE,
	VHU_P_VRING_ADDR,
	VHU_P_MEM_TABLE,
	VHU_P_MEM_REG,
	VHU_P_CONFIG,
	VHU_P_INFLIGHT,
};

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags; /* bit 0: VHOST_VRING_F_LOG */
	uint64_t desc;  /* addresses in the frontend's virtual address space */
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vhu_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr; /* frontend virtual address of the region */
	uint64_t mmap_offset;
};

struct vhu_mem_table {
	uint32_t nregions;
	struct vhu_mem_region regions[VHU_MAX_MEM_REGIONS];
};

struct vhu_config {
	uint32_t offset;
	uint32_t size; /* bytes of data, <= VHU_MAX_CONFIG_SIZE */
	uint32_t flags;
	uint8_t data[VHU_MAX_CONFIG_SIZE];
};

/* GET_INFLIGHT_FD asks with num_queues and queue_size, its reply (with the
 * region's fd) gives mmap_size and mmap_offset; SET_INFLIGHT_FD (with the
 * fd) gives all four. 24 bytes on the wire, as QEMU sends them. */
struct vhu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

/* A decoded message. `flags` keeps the REPLY and NEED_REPLY bits. */
struct vhu_msg {
	uint32_t request;
	uint32_t flags;
	enum vhu_payload_kind kind;
	union {
		uint64_t u64;
		struct vhu_vring_state state;
		struct vhu_vring_addr addr;
		struct vhu_mem_table mem;
		struct vhu_mem_region mem_reg;
		struct vhu_config config;
		struct vhu_inflight inflight;
	} u;
};

/* "GET_FEATURES", ...; "UNKNOWN" for numbers the codec does not know. */
const char *vhu_request_name(uint32_t request);

/* Whether `request` always gets a reply of its own (GET_FEATURES, GET_VRING_BASE,
 * ...), as opposed to a REPLY_ACK that only NEED_REPLY asks for. */
bool vhu_request_has_reply(uint32_t request);

/* The payload kind of `request` (is_reply: of its reply). -ENOTSUP if unknown. */
int vhu_payload_kind(uint32_t request, bool is_reply, enum vhu_payload_kind *kind);

/* Decodes one whole message (header + payload, len bytes) that arrived with
 * nfds fds. */
int vhu_decode(const void *buf, size_t len, size_t nfds, struct vhu_msg *out);

/* Encodes m (the version bits are set here) into buf; *out_len gets the
 * total length. -ENOBUFS if cap is too small, -EBADMSG if m is not a valid
 * message (wrong kind for its request, a field out of range), -ENOTSUP for an
 * unknown request. */
int vhu_encode(const struct vhu_msg *m, void *buf, size_t cap, size_t *out_len);

/* Sends m with nfds fds; the fd count must be the one vhu_decode would accept. */
int vhu_send(int sock, const struct vhu_msg *m, const int *fds, size_t nfds);

/* Receives and decodes one message. On success the caller owns *fds. On
 * -ENOTSUP the message was consumed (m->request/flags filled) and its fds
 * closed; on any other error the stream is unusable and no fd is left open.
 * A size field above VHU_MAX_PAYLOAD is -EBADMSG. */
int vhu_recv(int sock, struct vhu_msg *m, struct msg_fds *fds);

#endif
