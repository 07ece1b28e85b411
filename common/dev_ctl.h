/* The control channel between cellvmd and a device process it started
 * (never an external vhost-user backend): a SOCK_SEQPACKET socketpair whose
 * device end the device inherits as `--control-fd N`. One fixed-size
 * message per packet, no fds. cellvmd asks, the device answers each request
 * in order, echoing its seq:
 *
 *   request (DEV_CTL_REQ_SIZE):   le32 type, le32 seq, then 4 buckets
 *                                 (limiter rx: bandwidth, ops; tx: bandwidth,
 *                                 ops), each le32 mode, le32 0, le64 size,
 *                                 le64 one_time_burst, le64 refill_time_ms
 *     GET_METRICS      every bucket all zero
 *     SET_RATE_LIMIT   the buckets to change (blk has one limiter: rx)
 *     SET_BALLOON_TARGET  le32 pages (the balloon's num_pages), then zeros
 *     GET_BALLOON_STATS   all zero
 *   reply (DEV_CTL_REPLY_SIZE):   le32 type | DEV_CTL_REPLY, le32 seq,
 *                                 le32 status (0 or -errno), le32 0, then
 *                                 DEV_CTL_REPLY_PAYLOAD bytes, zero but for:
 *     GET_METRICS      DEV_CTL_NCOUNTERS le64 counters
 *     GET_BALLOON_STATS (status 0)  le32 target pages, le32 actual pages,
 *                                 le32 present (bit t: stat t reported),
 *                                 le32 0, DEV_CTL_BALLOON_NSTATS le64 stats
 *                                 (zero where not present)
 *
 * The decoders are pure and check everything: exact size, a known type,
 * reserved bytes zero, a bucket's mode known and its values as the mode says
 * (dev_ctl_bucket_check), GET_METRICS's status 0, any other's status 0
 * or -1..-4095. A device is less trusted than cellvmd: cellvmd bounds what it
 * waits for and believes nothing of a reply but these checks (the counters
 * are whatever the device says). */
#ifndef CELLVM_DEV_CTL_H
#define CELLVM_DEV_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum dev_ctl_type {
	DEV_CTL_GET_METRICS = 1,
	DEV_CTL_SET_RATE_LIMIT = 2,
	DEV_CTL_SET_BALLOON_TARGET = 3,
	DEV_CTL_GET_BALLOON_STATS = 4,
};
#define DEV_CTL_REPLY 0x80000000u

/* What a SET_RATE_LIMIT does to one bucket (Firecracker's BucketUpdate). */
enum dev_ctl_bucket_mode {
	DEV_CTL_BUCKET_KEEP = 0,    /* leave it as it is */
	DEV_CTL_BUCKET_DISABLE = 1, /* no limit */
	DEV_CTL_BUCKET_SET = 2,     /* size and refill_time_ms > 0 */
};

/* Firecracker's TokenBucket: size tokens (bytes or operations), refilled
 * over refill_time_ms; one_time_burst extra tokens at the start. */
struct dev_ctl_bucket {
	enum dev_ctl_bucket_mode mode;
	uint64_t size;
	uint64_t one_time_burst;
	uint64_t refill_time_ms;
};

struct dev_ctl_limiter {
	struct dev_ctl_bucket bandwidth; /* bytes */
	struct dev_ctl_bucket ops;       /* requests or frames */
};

enum { DEV_CTL_RX = 0, DEV_CTL_TX = 1 }; /* blk: DEV_CTL_RX only */

struct dev_ctl_rate_limit {
	struct dev_ctl_limiter limiter[2];
};

/* A device's counters, kept in its data path (device-procs/backend.h's
 * struct vub has one). Which of them a device kind keeps:
 * dev_ctl_kind_counters(). */
struct dev_ctl_counters {
	uint64_t requests;    /* blk, rng: requests completed; console: buffers */
	uint64_t read_bytes;  /* blk: read from the disk; rng: random bytes given */
	uint64_t write_bytes; /* blk: written to the disk */
	uint64_t errors;      /* requests answered with an error (blk: IOERR/UNSUPP) */
	uint64_t throttled_us; /* time a queue waited on its rate limiter (the
				* rate limiter adds to it) */
	uint64_t rx_frames;   /* net: frames to the guest; console: - */
	uint64_t rx_bytes;    /* net, console: bytes to the guest */
	uint64_t tx_frames;   /* net: frames from the guest */
	uint64_t tx_bytes;    /* net, console: bytes from the guest */
	uint64_t rx_dropped;  /* net: frames for the guest dropped (no buffer, too big) */
	uint64_t tx_dropped;  /* net: frames from the guest dropped (malformed, tap full) */
};
#define DEV_CTL_NCOUNTERS 11

/* Each counter's name ("read_bytes"), its unit ("bytes", "us" or "" for a
 * count) and a line of help, in wire order. */
struct dev_ctl_counter_info {
	const char *name;
	const char *unit;
	const char *help;
	size_t offset; /* in struct dev_ctl_counters */
};
extern const struct dev_ctl_counter_info dev_ctl_counter_info[DEV_CTL_NCOUNTERS];

static inline uint64_t dev_ctl_counter(const struct dev_ctl_counters *c, size_t i)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)c + dev_ctl_counter_info[i].offset, sizeof(v));
	return v;
}

/* Bit i set: counter i means something for devices of this kind ("blk",
 * "net", "console", "rng"); 0 for an unknown kind. */
uint32_t dev_ctl_kind_counters(const char *kind);

/* A balloon's state (virtio 1.2 5.5): the target the host set, what the
 * guest says it has given, and the guest's last memory statistics by
 * virtio tag (VIRTIO_BALLOON_S_SWAP_IN = 0 .. Linux's DIRECT_RECLAIM = 15). */
#define DEV_CTL_BALLOON_NSTATS 16
struct dev_ctl_balloon {
	uint32_t target_pages;
	uint32_t actual_pages;
	uint32_t present; /* bit t: stat[t] was reported */
	uint64_t stat[DEV_CTL_BALLOON_NSTATS];
};

/* Stat t's name as Firecracker's stats name it ("swap_in", "free_memory"),
 * or NULL past the table. */
const char *dev_ctl_balloon_stat_name(unsigned t);

struct dev_ctl_req {
	enum dev_ctl_type type;
	uint32_t seq;
	struct dev_ctl_rate_limit rl; /* SET_RATE_LIMIT */
	uint32_t balloon_pages;       /* SET_BALLOON_TARGET */
};

struct dev_ctl_reply {
	enum dev_ctl_type type; /* of the request answered */
	uint32_t seq;
	int32_t status;         /* 0 or -errno */
	struct dev_ctl_counters counters; /* GET_METRICS */
	struct dev_ctl_balloon balloon;   /* GET_BALLOON_STATS */
};

#define DEV_CTL_BUCKET_WIRE 32
#define DEV_CTL_REQ_SIZE (8 + 4 * DEV_CTL_BUCKET_WIRE)
#define DEV_CTL_BALLOON_WIRE (16 + 8 * DEV_CTL_BALLOON_NSTATS)
#define DEV_CTL_REPLY_PAYLOAD                                                     \
	(8 * DEV_CTL_NCOUNTERS > DEV_CTL_BALLOON_WIRE ? 8 * DEV_CTL_NCOUNTERS        \
						       : DEV_CTL_BALLOON_WIRE)
#define DEV_CTL_REPLY_SIZE (16 + DEV_CTL_REPLY_PAYLOAD)

/* 0 if b's values fit its mode: KEEP and DISABLE all zero, SET with size
 * and refill_time_ms above 0; else -EINVAL. */
int dev_ctl_bucket_check(const struct dev_ctl_bucket *b);

/* Encoders: m must be valid (what the decoders accept). */
void dev_ctl_encode_req(const struct dev_ctl_req *m, uint8_t out[DEV_CTL_REQ_SIZE]);
void dev_ctl_encode_reply(const struct dev_ctl_reply *m, uint8_t out[DEV_CTL_REPLY_SIZE]);
/* 0 with *out filled, or -EBADMSG (*out untouched). */
int dev_ctl_decode_req(const uint8_t *buf, size_t len, struct dev_ctl_req *out);
int dev_ctl_decode_reply(const uint8_t *buf, size_t len, struct dev_ctl_reply *out);

/* One message on a SOCK_SEQPACKET socket, never blocking when the socket
 * is non-blocking. send: 0 or -errno. recv: 0, -ECONNRESET on EOF, -EAGAIN
 * (nothing there), -EBADMSG for a malformed packet or one that carried fds
 * (closed), or -errno. Both retry on EINTR. */
int dev_ctl_send_req(int sock, const struct dev_ctl_req *m);
int dev_ctl_recv_req(int sock, struct dev_ctl_req *out);
int dev_ctl_send_reply(int sock, const struct dev_ctl_reply *m);
int dev_ctl_recv_reply(int sock, struct dev_ctl_reply *out);

#endif
