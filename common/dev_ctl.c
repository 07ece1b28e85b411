#include "dev_ctl.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "msg.h"

#define INFO(n, u, h) { #n, u, h, offsetof(struct dev_ctl_counters, n) }
const struct dev_ctl_counter_info dev_ctl_counter_info[DEV_CTL_NCOUNTERS] = {
	INFO(requests, "", "Requests completed"),
	INFO(read_bytes, "bytes", "Bytes read for the guest"),
	INFO(write_bytes, "bytes", "Bytes written for the guest"),
	INFO(errors, "", "Requests answered with an error"),
	INFO(throttled_us, "us", "Time queues waited on the rate limiter"),
	INFO(rx_frames, "", "Frames delivered to the guest"),
	INFO(rx_bytes, "bytes", "Bytes delivered to the guest"),
	INFO(tx_frames, "", "Frames sent by the guest"),
	INFO(tx_bytes, "bytes", "Bytes sent by the guest"),
	INFO(rx_dropped, "", "Frames for the guest dropped"),
	INFO(tx_dropped, "", "Frames from the guest dropped"),
};
_Static_assert(sizeof(struct dev_ctl_counters) == 8 * DEV_CTL_NCOUNTERS,
	       "every counter is in the table");

#define BIT(name) (1u << (offsetof(struct dev_ctl_counters, name) / 8))

uint32_t dev_ctl_kind_counters(const char *kind)
{
	if (strcmp(kind, "blk") == 0)
		return BIT(requests) | BIT(read_bytes) | BIT(write_bytes) | BIT(errors) |
		       BIT(throttled_us);
	if (strcmp(kind, "net") == 0)
		return BIT(rx_frames) | BIT(rx_bytes) | BIT(tx_frames) | BIT(tx_bytes) |
		       BIT(rx_dropped) | BIT(tx_dropped) | BIT(errors) | BIT(throttled_us);
	if (strcmp(kind, "console") == 0)
		return BIT(rx_bytes) | BIT(tx_bytes);
	if (strcmp(kind, "rng") == 0)
		return BIT(requests) | BIT(read_bytes);
	if (strcmp(kind, "balloon") == 0)
		return BIT(requests) | BIT(errors);
	return 0;
}

const char *dev_ctl_balloon_stat_name(unsigned t)
{
	static const char *const names[DEV_CTL_BALLOON_NSTATS] = {
		"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory",
		"total_memory", "available_memory", "disk_caches", "hugetlb_allocations",
		"hugetlb_failures", "oom_kill", "alloc_stall", "async_scan", "direct_scan",
		"async_reclaim", "direct_reclaim",
	};
	return t < DEV_CTL_BALLOON_NSTATS ? names[t] : NULL;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int dev_ctl_bucket_check(const struct dev_ctl_bucket *b)
{
	switch (b->mode) {
	case DEV_CTL_BUCKET_KEEP:
	case DEV_CTL_BUCKET_DISABLE:
		return b->size || b->one_time_burst || b->refill_time_ms ? -EINVAL : 0;
	case DEV_CTL_BUCKET_SET:
		return b->size && b->refill_time_ms ? 0 : -EINVAL;
	}
	return -EINVAL;
}

static struct dev_ctl_bucket *bucket(struct dev_ctl_rate_limit *rl, size_t i)
{
	struct dev_ctl_limiter *l = &rl->limiter[i / 2];
	return i % 2 ? &l->ops : &l->bandwidth;
}

void dev_ctl_encode_req(const struct dev_ctl_req *m, uint8_t out[DEV_CTL_REQ_SIZE])
{
	memset(out, 0, DEV_CTL_REQ_SIZE);
	put_le32(out, (uint32_t)m->type);
	put_le32(out + 4, m->seq);
	if (m->type == DEV_CTL_SET_BALLOON_TARGET)
		put_le32(out + 8, m->balloon_pages);
	if (m->type != DEV_CTL_SET_RATE_LIMIT)
		return;
	struct dev_ctl_rate_limit rl = m->rl;
	for (size_t i = 0; i < 4; i++) {
		const struct dev_ctl_bucket *b = bucket(&rl, i);
		uint8_t *p = out + 8 + i * DEV_CTL_BUCKET_WIRE;
		put_le32(p, (uint32_t)b->mode);
		put_le64(p + 8, b->size);
		put_le64(p + 16, b->one_time_burst);
		put_le64(p + 24, b->refill_time_ms);
	}
}

int dev_ctl_decode_req(const uint8_t *buf, size_t len, struct dev_ctl_req *out)
{
	if (len != DEV_CTL_REQ_SIZE)
		return -EBADMSG;
	struct dev_ctl_req m = { .type = (enum dev_ctl_type)get_le32(buf), .seq = get_le32(buf + 4) };
	if (m.type == DEV_CTL_SET_BALLOON_TARGET || m.type == DEV_CTL_GET_BALLOON_STATS) {
		/* Pages travel only in a SET; everything else is zero. */
		size_t from = m.type == DEV_CTL_SET_BALLOON_TARGET ? 12 : 8;
		if (!all_zero(buf + from, DEV_CTL_REQ_SIZE - from))
			return -EBADMSG;
		if (m.type == DEV_CTL_SET_BALLOON_TARGET)
			m.balloon_pages = get_le32(buf + 8);
		*out = m;
		return 0;
	}
	if (m.type != DEV_CTL_GET_METRICS && m.type != DEV_CTL_SET_RATE_LIMIT)
		return -EBADMSG;
	for (size_t i = 0; i < 4; i++) {
		const uint8_t *p = buf + 8 + i * DEV_CTL_BUCKET_WIRE;
		struct dev_ctl_bucket *b = bucket(&m.rl, i);
		uint32_t mode = get_le32(p);
		if (mode > DEV_CTL_BUCKET_SET || get_le32(p + 4) != 0)
			return -EBADMSG;
		*b = (struct dev_ctl_bucket){ .mode = (enum dev_ctl_bucket_mode)mode,
					      .size = get_le64(p + 8),
					      .one_time_burst = get_le64(p + 16),
					      .refill_time_ms = get_le64(p + 24) };
		/* GET_METRICS carries no buckets. */
		if (dev_ctl_bucket_check(b) < 0 ||
		    (m.type == DEV_CTL_GET_METRICS && b->mode != DEV_CTL_BUCKET_KEEP))
			return -EBADMSG;
	}
	*out = m;
	return 0;
}

void dev_ctl_encode_reply(const struct dev_ctl_reply *m, uint8_t out[DEV_CTL_REPLY_SIZE])
{
	memset(out, 0, DEV_CTL_REPLY_SIZE);
	put_le32(out, (uint32_t)m->type | DEV_CTL_REPLY);
	put_le32(out + 4, m->seq);
	put_le32(out + 8, (uint32_t)m->status);
	if (m->type == DEV_CTL_GET_BALLOON_STATS && m->status == 0) {
		const struct dev_ctl_balloon *b = &m->balloon;
		put_le32(out + 16, b->target_pages);
		put_le32(out + 20, b->actual_pages);
		put_le32(out + 24, b->present);
		for (size_t i = 0; i < DEV_CTL_BALLOON_NSTATS; i++)
			put_le64(out + 32 + 8 * i, b->stat[i]);
	}
	if (m->type != DEV_CTL_GET_METRICS)
		return;
	for (size_t i = 0; i < DEV_CTL_NCOUNTERS; i++)
		put_le64(out + 16 + 8 * i, dev_ctl_counter(&m->counters, i));
}

/* A GET_BALLOON_STATS reply's payload: 0, or -EBADMSG if a stat not
 * present has a value, or a reserved word or a bit past the tags is set. */
static int decode_balloon(const uint8_t *p, struct dev_ctl_balloon *b)
{
	*b = (struct dev_ctl_balloon){ .target_pages = get_le32(p),
				       .actual_pages = get_le32(p + 4),
				       .present = get_le32(p + 8) };
	if (get_le32(p + 12) != 0 || b->present >> DEV_CTL_BALLOON_NSTATS)
		return -EBADMSG;
	for (size_t i = 0; i < DEV_CTL_BALLOON_NSTATS; i++) {
		b->stat[i] = get_le64(p + 16 + 8 * i);
		if (b->stat[i] && !(b->present & (1u << i)))
			return -EBADMSG;
	}
	return 0;
}

int dev_ctl_decode_reply(const uint8_t *buf, size_t len, struct dev_ctl_reply *out)
{
	if (len != DEV_CTL_REPLY_SIZE)
		return -EBADMSG;
	uint32_t type = get_le32(buf);
	struct dev_ctl_reply m = { .type = (enum dev_ctl_type)(type & ~DEV_CTL_REPLY),
				   .seq = get_le32(buf + 4),
				   .status = (int32_t)get_le32(buf + 8) };
	if (!(type & DEV_CTL_REPLY) || get_le32(buf + 12) != 0)
		return -EBADMSG;
	bool metrics = m.type == DEV_CTL_GET_METRICS;
	if (metrics ? m.status != 0
		    : (m.type != DEV_CTL_SET_RATE_LIMIT && m.type != DEV_CTL_SET_BALLOON_TARGET &&
		       m.type != DEV_CTL_GET_BALLOON_STATS) ||
			      m.status > 0 || m.status < -4095)
		return -EBADMSG;
	size_t used = 0; /* payload bytes this reply carries */
	if (metrics) {
		for (size_t i = 0; i < DEV_CTL_NCOUNTERS; i++) {
			uint64_t v = get_le64(buf + 16 + 8 * i);
			memcpy((uint8_t *)&m.counters + dev_ctl_counter_info[i].offset, &v,
			       sizeof(v));
		}
		used = 8 * DEV_CTL_NCOUNTERS;
	} else if (m.type == DEV_CTL_GET_BALLOON_STATS && m.status == 0) {
		if (decode_balloon(buf + 16, &m.balloon) < 0)
			return -EBADMSG;
		used = DEV_CTL_BALLOON_WIRE;
	}
	if (!all_zero(buf + 16 + used, DEV_CTL_REPLY_PAYLOAD - used))
		return -EBADMSG;
	*out = m;
	return 0;
}

/* sendmsg, not send: device policies allow the one the vhost-user socket uses. */
static int send_packet(int sock, const uint8_t *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;
	do
		r = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == (ssize_t)len ? 0 : -EIO;
}

/* One packet of exactly len bytes into buf (room for len + 1): its length,
 * or -errno as dev_ctl.h says for recv. */
static ssize_t recv_packet(int sock, uint8_t *buf, size_t len)
{
	int fds[MSG_RX_MAX_FDS];
	size_t nfds;
	/* One byte more than a message: a longer packet reads as too long. */
	ssize_t r = msg_recv_some(sock, buf, len + 1, MSG_DONTWAIT, fds, &nfds);
	if (r == -EMSGSIZE)
		return -EBADMSG;
	if (r < 0)
		return r;
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	if (nfds)
		return -EBADMSG;
	return r == 0 ? -ECONNRESET : r;
}

int dev_ctl_send_req(int sock, const struct dev_ctl_req *m)
{
	uint8_t buf[DEV_CTL_REQ_SIZE];
	dev_ctl_encode_req(m, buf);
	return send_packet(sock, buf, sizeof(buf));
}

int dev_ctl_send_reply(int sock, const struct dev_ctl_reply *m)
{
	uint8_t buf[DEV_CTL_REPLY_SIZE];
	dev_ctl_encode_reply(m, buf);
	return send_packet(sock, buf, sizeof(buf));
}

int dev_ctl_recv_req(int sock, struct dev_ctl_req *out)
{
	uint8_t buf[DEV_CTL_REQ_SIZE + 1];
	ssize_t r = recv_packet(sock, buf, DEV_CTL_REQ_SIZE);
	return r < 0 ? (int)r : dev_ctl_decode_req(buf, (size_t)r, out);
}

int dev_ctl_recv_reply(int sock, struct dev_ctl_reply *out)
{
	uint8_t buf[DEV_CTL_REPLY_SIZE + 1];
	ssize_t r = recv_packet(sock, buf, DEV_CTL_REPLY_SIZE);
	return r < 0 ? (int)r : dev_ctl_decode_reply(buf, (size_t)r, out);
}
