#include "dev_drive.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "guest_mem.h"
#include "log.h"
#include "vhost_user.h"
#include "virtq.h"

#define MEM_SIZE 0x40000u
#define UADDR_BASE 0x7f0000000000ull /* the frontend's address of guest memory */
#define RING_AREA(q) ((uint32_t)(q) * 0x4000u)
#define DESC_OFF 0u
#define AVAIL_OFF 0x1000u
#define USED_OFF 0x2000u
#define RINGS_END RING_AREA(DD_MAX_QUEUES + 2)
#define DATA_START 0x10000u
#define MAX_QSIZE 256u

#define FAIL(...) (fprintf(stderr, "dev_drive: " __VA_ARGS__), fputc('\n', stderr), abort())

struct queue {
	uint16_t num;
	uint16_t avail_idx, used_seen;
	uint16_t nfree;
	uint16_t free[MAX_QSIZE];
	struct dd_chain chain[MAX_QSIZE];
	int kick, call, err;
};

/* One input's state: a single harness thread, so one of it. */
static struct {
	int mem_fd;
	uint8_t *mem, *shadow; /* guest memory and what it must hold */
	int sock;              /* the frontend's end */
	struct evloop *loop;
	struct dd *d;
	unsigned int nq;
	uint32_t brk;          /* data area allocator */
	struct queue q[DD_MAX_QUEUES];
	const uint8_t *p;
	size_t left;
} S;

static void setup_once(void)
{
	if (S.mem)
		return;
	log_init("fuzz_dev", getenv("DD_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	S.mem_fd = gm_memfd_create("fuzz-dev", MEM_SIZE);
	if (S.mem_fd < 0)
		FAIL("memfd");
	S.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, S.mem_fd, 0);
	S.shadow = malloc(MEM_SIZE);
	if (S.mem == MAP_FAILED || !S.shadow)
		FAIL("guest memory");
}

void dd_start(struct dd *d, const struct serve_program *prog, int argc, const char *const *argv)
{
	setup_once();
	/* --fd must name a stream socket; the device keeps no reference. */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		FAIL("socketpair");
	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", sv[0]);
	char *args[24] = { "fuzz", "--fd", fdarg };
	int n = 3;
	for (int i = 0; i < argc && n < 23; i++)
		args[n++] = (char *)argv[i];
	struct serve_opts o;
	optind = 0; /* getopt starts over for each device */
	memset(d, 0, sizeof(*d));
	d->dev = calloc(1, prog->dev_size);
	if (!d->dev || serve_parse(n, args, prog, &o) != 0 ||
	    prog->start(prog->ctx, &o, d->dev, &d->sd) != 0)
		FAIL("starting the device");
	close(sv[0]);
	close(sv[1]);
}

void dd_stop(struct dd *d)
{
	for (size_t i = 0; i < d->sd.confine.nfds; i++)
		close(d->sd.confine.fds[i]);
	free(d->dev);
	d->dev = NULL;
}

void dd_read(const struct dd *d, uint32_t gpa, void *out, size_t n)
{
	(void)d;
	if (gpa > MEM_SIZE || n > MEM_SIZE - gpa)
		FAIL("read outside guest memory");
	memcpy(out, S.mem + gpa, n);
}

/* The driver's writes: guest memory and its shadow alike. */
static void wr(uint32_t off, const void *p, size_t n)
{
	memcpy(S.mem + off, p, n);
	memcpy(S.shadow + off, p, n);
}

static void wr16(uint32_t off, uint16_t v)
{
	uint8_t b[2];
	put_le16(b, v);
	wr(off, b, 2);
}

static bool take(void *out, size_t n)
{
	if (S.left < n) {
		S.left = 0;
		return false;
	}
	memcpy(out, S.p, n);
	S.p += n;
	S.left -= n;
	return true;
}

static unsigned int take_u8(void)
{
	uint8_t v = 0;
	take(&v, 1);
	return v;
}

static unsigned int take_u16(void)
{
	uint8_t v[2] = { 0 };
	take(v, 2);
	return get_le16(v);
}

static uint32_t take_u32(void)
{
	uint8_t v[4] = { 0 };
	take(v, 4);
	return get_le32(v);
}

static bool running(unsigned int q)
{
	return S.d->b.sock >= 0 && vub_vring_running(&S.d->b.vrings[q]);
}

/* Chains the device popped and has not answered, on running rings. */
static unsigned int popped(void)
{
	unsigned int n = 0;
	for (unsigned int qi = 0; qi < S.nq; qi++) {
		const struct virtq *vq = &S.d->b.vrings[qi].vq;
		if (running(qi) && !vq->broken)
			n += (uint16_t)(vq->last_avail_idx - vq->used_idx);
	}
	return n;
}

static void run_loop(void)
{
	int r, rounds = 0;
	while ((r = evloop_run_once(S.loop, 0)) > 0)
		if (++rounds == 10000)
			FAIL("the device keeps the event loop busy"); /* a guest's DoS */
	if (r < 0)
		FAIL("event loop: %s", strerror(-r));
	/* io_uring completes on its own time: wait for what was popped. */
	for (int tries = 0; S.d->h->async && tries < 100 && popped(); tries++)
		while (evloop_run_once(S.loop, 5) > 0)
			;
}

static void chain_free(struct queue *q, uint16_t head)
{
	struct dd_chain *c = &q->chain[head];
	for (unsigned int i = 0; i < c->ndesc; i++)
		q->free[q->nfree++] = c->desc[i];
	c->busy = false;
}

static void accept_writes(const struct dd_chain *c)
{
	for (unsigned int i = 0; i < c->nseg; i++)
		if (c->seg[i].w)
			memcpy(S.shadow + c->seg[i].gpa, S.mem + c->seg[i].gpa, c->seg[i].len);
}

/* Takes in what the device used and checks it, and all of guest memory. */
static void check(void)
{
	for (unsigned int qi = 0; qi < S.nq; qi++) {
		struct queue *q = &S.q[qi];
		uint32_t used = RING_AREA(qi) + USED_OFF;
		if (!q->num)
			continue;
		uint16_t idx = get_le16(S.mem + used + 2);
		if (!S.d->loose && (uint16_t)(idx - q->used_seen) > q->num)
			FAIL("queue %u: used idx %u jumps from %u", qi, idx, q->used_seen);
		for (; q->used_seen != idx; q->used_seen++) {
			const uint8_t *e = S.mem + used + 4 + 8u * (q->used_seen % q->num);
			uint32_t id = get_le32(e), len = get_le32(e + 4);
			if (id >= q->num || !q->chain[id].busy) {
				if (S.d->loose)
					continue;
				FAIL("queue %u: used id %u is no chain in flight", qi, id);
			}
			struct dd_chain *c = &q->chain[id];
			if (!S.d->loose && len > c->wbytes)
				FAIL("queue %u: used len %u > %llu writable bytes", qi, len,
				     (unsigned long long)c->wbytes);
			accept_writes(c);
			if (S.d->h->used)
				S.d->h->used(S.d, qi, c, len);
			chain_free(q, (uint16_t)id);
		}
		memcpy(S.shadow + used, S.mem + used, 6 + 8u * q->num);
		for (unsigned int h = 0; h < q->num; h++)
			if (q->chain[h].busy)
				accept_writes(&q->chain[h]);
	}
	if (!S.d->loose && memcmp(S.mem, S.shadow, MEM_SIZE) != 0)
		for (uint32_t i = 0; i < MEM_SIZE; i++)
			if (S.mem[i] != S.shadow[i])
				FAIL("guest memory at 0x%x changed (0x%02x, driver wrote 0x%02x)",
				     i, S.mem[i], S.shadow[i]);
	if (S.d->h->check)
		S.d->h->check(S.d);
}

/* Sends m (with fds, which stay ours) and lets the device handle it; the
 * reply if one comes. false once the device has hung up. */
static bool send_msg(struct vhu_msg *m, const int *fds, size_t nfds, struct vhu_msg *reply)
{
	if (S.d->b.sock < 0)
		return false;
	m->flags = VHU_VERSION;
	if (vhu_payload_kind(m->request, false, &m->kind) < 0 ||
	    vhu_send(S.sock, m, fds, nfds) < 0)
		FAIL("sending %s", vhu_request_name(m->request));
	run_loop();
	if (!vhu_request_has_reply(m->request) || S.d->b.sock < 0)
		return S.d->b.sock >= 0;
	struct msg_fds rfds = { .n = 0 };
	struct vhu_msg r;
	int err = vhu_recv(S.sock, &r, &rfds);
	msg_fds_close(&rfds);
	if (err < 0)
		FAIL("no reply to %s: %s", vhu_request_name(m->request), strerror(-err));
	if (reply)
		*reply = r;
	return true;
}

static void send_u64(uint32_t request, uint64_t v)
{
	struct vhu_msg m = { .request = request, .u.u64 = v };
	send_msg(&m, NULL, 0, NULL);
}

static void send_state(uint32_t request, unsigned int index, unsigned int num)
{
	struct vhu_msg m = { .request = request, .u.state = { .index = index, .num = num } };
	send_msg(&m, NULL, 0, NULL);
}

static int new_eventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		FAIL("eventfd");
	return fd;
}

static void send_vring_fd(uint32_t request, unsigned int index, int fd)
{
	struct vhu_msg m = { .request = request, .u.u64 = index };
	send_msg(&m, &fd, 1, NULL);
}

static void close_queue_fds(struct queue *q)
{
	if (q->kick >= 0)
		close(q->kick);
	if (q->call >= 0)
		close(q->call);
	if (q->err >= 0)
		close(q->err);
	q->kick = q->call = q->err = -1;
}

/* A fresh ring of q->num at the queue's area; nothing in flight. */
static void ring_start(unsigned int qi)
{
	struct queue *q = &S.q[qi];
	uint32_t a = RING_AREA(qi);
	close_queue_fds(q);
	memset(S.mem + a, 0, 0x4000);
	memset(S.shadow + a, 0, 0x4000);
	memset(q->chain, 0, sizeof(q->chain));
	q->avail_idx = q->used_seen = 0;
	q->nfree = q->num;
	for (unsigned int i = 0; i < q->num; i++)
		q->free[i] = (uint16_t)(q->num - 1 - i);
	send_state(VHU_SET_VRING_NUM, qi, q->num);
	struct vhu_msg m = { .request = VHU_SET_VRING_ADDR,
			     .u.addr = { .index = qi, .desc = UADDR_BASE + a + DESC_OFF,
					 .avail = UADDR_BASE + a + AVAIL_OFF,
					 .used = UADDR_BASE + a + USED_OFF } };
	send_msg(&m, NULL, 0, NULL);
	send_state(VHU_SET_VRING_BASE, qi, 0);
	q->call = new_eventfd();
	q->err = new_eventfd();
	q->kick = new_eventfd();
	send_vring_fd(VHU_SET_VRING_CALL, qi, q->call);
	send_vring_fd(VHU_SET_VRING_ERR, qi, q->err);
	send_vring_fd(VHU_SET_VRING_KICK, qi, q->kick);
	if (S.d->b.features & BIT_ULL(VHU_F_PROTOCOL_FEATURES))
		send_state(VHU_SET_VRING_ENABLE, qi, 1);
}

/* Negotiates features (the offered ones ANDed with mask) and starts every
 * ring with queue size 4 << (qsel % 7). */
static void negotiate(unsigned int qsel, uint32_t mask)
{
	struct vhu_msg m = { .request = VHU_GET_FEATURES }, r;
	if (!send_msg(&m, NULL, 0, &r))
		return;
	uint64_t want = (r.u.u64 & mask) | BIT_ULL(VIRTIO_F_VERSION_1);
	send_u64(VHU_SET_FEATURES, want & r.u.u64);
	if (want & BIT_ULL(VHU_F_PROTOCOL_FEATURES)) {
		m = (struct vhu_msg){ .request = VHU_GET_PROTOCOL_FEATURES };
		if (send_msg(&m, NULL, 0, &r))
			send_u64(VHU_SET_PROTOCOL_FEATURES,
				 r.u.u64 & ~BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK));
	}
	unsigned int num = 4u << (qsel % 7);
	if (num > S.d->b.ops->max_queue_size)
		num = S.d->b.ops->max_queue_size;
	for (unsigned int qi = 0; qi < S.nq; qi++) {
		S.q[qi].num = (uint16_t)num;
		ring_start(qi);
	}
	S.brk = DATA_START;
}

static void set_mem_table(void)
{
	struct vhu_msg m = { .request = VHU_SET_MEM_TABLE,
			     .u.mem = { .nregions = 1,
					.regions = { { .gpa = 0, .size = MEM_SIZE,
						       .uaddr = UADDR_BASE } } } };
	send_msg(&m, &S.mem_fd, 1, NULL);
}

static bool all_idle(void)
{
	for (unsigned int qi = 0; qi < S.nq; qi++)
		for (unsigned int h = 0; h < S.q[qi].num; h++)
			if (S.q[qi].chain[h].busy)
				return false;
	return true;
}

static uint32_t alloc_data(uint32_t len, uint32_t align)
{
	uint32_t at = (S.brk + align - 1) & ~(align - 1);
	if (at > MEM_SIZE || len > MEM_SIZE - at)
		return 0;
	S.brk = at + len;
	return at;
}

static void put_desc(uint32_t at, uint32_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];
	put_le64(d, gpa);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
	wr(at, d, 16);
}

static void rec_add(void)
{
	unsigned int qi = take_u8() % S.nq, nseg = take_u8() % DD_MAX_SEG + 1;
	bool indirect = (take_u8() & 1) && (S.d->b.features & BIT_ULL(VIRTIO_F_INDIRECT_DESC));
	struct queue *q = &S.q[qi];
	struct dd_chain c = { .busy = true, .nseg = nseg };
	uint8_t buf[8192];

	if (all_idle())
		S.brk = DATA_START;
	for (unsigned int i = 0; i < nseg; i++) {
		unsigned int v = take_u16();
		struct dd_seg *s = &c.seg[i];
		s->w = v & 0x8000;
		s->len = v & 0x1fff;
		s->gpa = alloc_data(s->len ? s->len : 1, 8);
		if (!s->gpa)
			return;
		if (s->w) {
			c.wbytes += s->len;
			continue;
		}
		size_t n = s->len < S.left ? s->len : S.left;
		memset(buf, 0, s->len);
		if (v & 0x4000)
			memset(buf, (int)take_u8(), s->len);
		else
			take(buf, n);
		wr(s->gpa, buf, s->len);
	}
	c.ndesc = indirect ? 1 : nseg;
	if (!q->num || q->nfree < c.ndesc)
		return;
	for (unsigned int i = 0; i < c.ndesc; i++)
		c.desc[i] = q->free[--q->nfree];
	uint32_t table = RING_AREA(qi) + DESC_OFF;
	if (indirect) {
		uint32_t it = alloc_data(16 * nseg, 16);
		if (!it) {
			q->free[q->nfree++] = c.desc[0];
			return;
		}
		for (unsigned int i = 0; i < nseg; i++)
			put_desc(it + 16 * i, c.seg[i].gpa, c.seg[i].len,
				 (c.seg[i].w ? VIRTQ_DESC_F_WRITE : 0) |
					 (i + 1 < nseg ? VIRTQ_DESC_F_NEXT : 0),
				 (uint16_t)(i + 1));
		put_desc(table + 16 * c.desc[0], it, 16 * nseg, VIRTQ_DESC_F_INDIRECT, 0);
		c.table = it;
		c.table_len = 16 * nseg;
	} else {
		for (unsigned int i = 0; i < nseg; i++)
			put_desc(table + 16 * c.desc[i], c.seg[i].gpa, c.seg[i].len,
				 (c.seg[i].w ? VIRTQ_DESC_F_WRITE : 0) |
					 (i + 1 < nseg ? VIRTQ_DESC_F_NEXT : 0),
				 i + 1 < nseg ? c.desc[i + 1] : 0);
	}
	uint16_t head = c.desc[0];
	c.pos = q->avail_idx;
	q->chain[head] = c;
	uint32_t avail = RING_AREA(qi) + AVAIL_OFF;
	wr16(avail + 4 + 2u * (q->avail_idx % q->num), head);
	wr16(avail + 4 + 2u * q->num, q->used_seen); /* used_event */
	wr16(avail + 2, ++q->avail_idx);
}

static void rec_kick(void)
{
	unsigned int qi = take_u8() % S.nq;
	uint64_t one = 1;
	if (S.q[qi].kick >= 0 && write(S.q[qi].kick, &one, sizeof(one)) < 0)
		FAIL("kick");
	run_loop();
}

static void rec_host(void)
{
	uint8_t buf[65536 + 64];
	size_t n = take_u16();
	if (n > S.left)
		n = S.left;
	take(buf, n);
	if (S.d->h->host_feed)
		S.d->h->host_feed(S.d, buf, n);
	run_loop();
}

/* Whether [off, off+n) overlaps the indirect table of a chain in flight. */
static bool hits_table(uint32_t off, uint32_t n)
{
	for (unsigned int qi = 0; qi < S.nq; qi++)
		for (unsigned int h = 0; h < S.q[qi].num; h++) {
			const struct dd_chain *c = &S.q[qi].chain[h];
			if (c->busy && c->table_len && off < c->table + c->table_len &&
			    c->table < off + n)
				return true;
		}
	return false;
}

static void rec_raw(void)
{
	uint8_t buf[256];
	uint32_t off = take_u16() * 4u % MEM_SIZE;
	size_t n = take_u8();
	if (n > S.left)
		n = S.left;
	if (n > MEM_SIZE - off)
		n = MEM_SIZE - off;
	take(buf, n);
	if (off < RINGS_END || hits_table(off, (uint32_t)n))
		S.d->loose = true; /* the device may now rightly write anywhere */
	wr(off, buf, n);
}

/* GET_VRING_BASE: the chains before the base the device returns are the
 * device's; those it did not answer are dropped. */
static void stop_ring(unsigned int qi, bool restart)
{
	struct queue *q = &S.q[qi];
	struct vhu_msg m = { .request = VHU_GET_VRING_BASE, .u.state = { .index = qi } }, r;
	if (!send_msg(&m, NULL, 0, &r))
		return;
	check();
	uint16_t base = (uint16_t)r.u.state.num;
	for (unsigned int h = 0; h < q->num; h++) {
		struct dd_chain *c = &q->chain[h];
		if (c->busy && (uint16_t)(q->avail_idx - c->pos) > (uint16_t)(q->avail_idx - base)) {
			chain_free(q, (uint16_t)h);
			S.d->dropped++;
		}
	}
	close(q->kick);
	q->kick = -1;
	if (!restart)
		return;
	send_state(VHU_SET_VRING_BASE, qi, base);
	q->kick = new_eventfd();
	send_vring_fd(VHU_SET_VRING_KICK, qi, q->kick);
}

static void rec_stop(void)
{
	unsigned int qi = take_u8() % S.nq;
	stop_ring(qi, take_u8() & 1);
}

static void rec_reneg(void)
{
	unsigned int qsel = take_u8();
	uint32_t mask = take_u32();
	for (unsigned int qi = 0; qi < S.nq; qi++)
		stop_ring(qi, false);
	struct vhu_msg m = { .request = VHU_RESET_OWNER };
	send_msg(&m, NULL, 0, NULL);
	check();
	negotiate(qsel, mask);
}

static void rec_config(void)
{
	unsigned int set = take_u8() & 1, off = take_u8(), len = take_u8() % 65;
	struct vhu_msg m = { .request = set ? VHU_SET_CONFIG : VHU_GET_CONFIG,
			     .u.config = { .offset = off, .size = len } };
	if (set) {
		S.d->config_written = true;
		size_t n = len < S.left ? len : S.left;
		take(m.u.config.data, n);
	}
	send_msg(&m, NULL, 0, NULL);
}

static void rec_enable(void)
{
	unsigned int qi = take_u8() % S.nq;
	send_state(VHU_SET_VRING_ENABLE, qi, take_u8() & 1);
}

void dd_run(struct dd *d, const struct dd_hooks *h, const uint8_t *data, size_t size)
{
	uint8_t hdr[6];
	int sv[2];
	S.p = data;
	S.left = size;
	if (!take(hdr, sizeof(hdr)))
		return;
	S.d = d;
	d->h = h;
	d->loose = false;
	d->dropped = 0;
	d->config_written = false;
	memset(S.mem, 0, MEM_SIZE);
	memset(S.shadow, 0, MEM_SIZE);
	S.nq = d->sd.ops->num_queues < DD_MAX_QUEUES ? d->sd.ops->num_queues : DD_MAX_QUEUES;
	for (unsigned int qi = 0; qi < DD_MAX_QUEUES; qi++) {
		S.q[qi].kick = S.q[qi].call = S.q[qi].err = -1;
		S.q[qi].num = 0;
	}
	if (evloop_create(&S.loop) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		FAIL("loop or socketpair");
	vub_init(&d->b, d->sd.ops, d->dev, S.loop);
	if ((d->sd.setup && d->sd.setup(&d->b) < 0) || vub_attach(&d->b, sv[0]) < 0)
		FAIL("device setup");
	S.sock = sv[1];

	send_u64(VHU_SET_OWNER, 0);
	set_mem_table();
	negotiate(hdr[0], get_le32(hdr + 2));
	check();
	while (S.left > 0 && d->b.sock >= 0) {
		switch (take_u8() & 0x0f) {
		case 0: rec_add(); break;
		case 1: rec_kick(); break;
		case 2: rec_host(); break;
		case 3: rec_raw(); break;
		case 4: rec_stop(); break;
		case 5: rec_reneg(); break;
		case 6: rec_config(); break;
		case 7:
			if (h->host_close)
				h->host_close(d);
			run_loop();
			break;
		case 8: rec_enable(); break;
		default: run_loop(); break;
		}
		check();
	}
	/* The frontend goes away: the device answers what it holds first. */
	vub_detach(&d->b);
	check();
	for (unsigned int qi = 0; qi < DD_MAX_QUEUES; qi++)
		close_queue_fds(&S.q[qi]);
	close(S.sock);
	evloop_destroy(S.loop);
	S.loop = NULL;
}
