/* cellvm-net: virtio-net (device id 1) over a tap device as a vhost-user
 * backend, with 1 to NET_MAX_PAIRS rx/tx queue pairs (VIRTIO_NET_F_MQ when
 * more than one): queues 2k and 2k+1 are pair k's, served with tap queue k
 * (an fd of an IFF_MULTI_QUEUE tap), all from the one event loop, each pair
 * with its own bounded rounds and kick suppression. There is no control
 * queue: as with QEMU's vhost-user-net, the frontend emulates it and turns
 * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET into SET_VRING_ENABLE of the pairs' rings
 * (vcpu-worker/net_ctrlq.h), so GET_QUEUE_NUM answers the data queues alone
 * and QEMU can drive this backend as it is. A pair none of whose rings runs
 * has its tap queue detached (TUNSETQUEUE), so the kernel steers no flow to
 * a queue nobody reads; pair 0's stays attached.
 *
 * Frames keep their 12-byte virtio-net header on both sides: tap is set to
 * the same header (TUNSETVNETHDRSZ), so transmit writes the guest's chain to
 * tap as it is once net_tx_check passed its header (a copy, read once), and
 * receive reads tap straight into the guest's buffers and sets num_buffers.
 * A received packet larger than the buffers popped for it, or that finds
 * too few guest buffers, waits in a bounce buffer, and tap is not read until
 * the guest posts more; tap's own queue absorbs (and finally drops) the rest,
 * as a NIC would. Each direction works in bounded rounds, so neither starves
 * the other or the frontend. The offloads tap may use on received packets
 * follow what the driver accepted (TUNSETOFFLOAD).
 *
 * Rate limiters (throttle.h), one each way: a transmit chain costs an op
 * and its bytes, virtio-net header included (as Firecracker counts), before
 * it goes to tap; one over the limit stays in the ring. A received packet
 * costs the same before it goes to the guest: while receiving is limited,
 * packets are read into the bounce buffer first (not straight into the
 * guest's buffers), one over the limit waits there, and tap is not read
 * meanwhile. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend.h"
#include "bytes.h"
#include "cli.h"
#include "iov.h"
#include "log.h"
#include "net_ctrl.h"
#include "net_hdr.h"
#include "net_tap.h"
#include "serve.h"
#include "tap.h"
#include "throttle.h"

/* A chain's iovecs go to writev in one call. */
_Static_assert(VIRTQ_ELEM_MAX_IOV <= IOV_MAX, "chains need more iovecs than IOV_MAX");

#define NET_QUEUE_SIZE 1024u
/* Packets and bytes taken from tap per round, so a flood cannot starve the
 * rest (the frontend's liveness probe among it). */
#define NET_RX_BUDGET 64
#define NET_RX_BUDGET_BYTES (512u * 1024u)
/* Frames and bytes sent per round, frames between used-ring notifications. */
#define NET_TX_BUDGET 256
#define NET_TX_BUDGET_BYTES (512u * 1024u)
#define NET_TX_BATCH 64

enum {
	OPT_TAP = 0x200,
	OPT_TAP_FD,
	OPT_MAC,
	OPT_RX_RATE_LIMIT,
	OPT_TX_RATE_LIMIT,
	OPT_NUM_QUEUES,
};

/* Its limiters, in serve_device's order. */
enum { NET_RL_RX, NET_RL_TX, NET_NRL };

/* One rx/tx queue pair and its tap queue. */
struct net_pair {
	struct net *n;
	unsigned int idx;   /* pair k: queues 2k (rx) and 2k+1 (tx) */
	int tap_fd;
	bool attached;      /* its tap queue is attached (pair 0's always is) */
	bool tap_watched;   /* tap_fd is watched for EPOLLIN */
	bool tap_failed;    /* tap reads fail: it is no longer read */
	size_t pending_len; /* bytes of pkt waiting for rx buffers; 0: none */
	bool pending_paid;  /* the rx limiter let pkt through */
	uint8_t pkt[NET_HDR_SIZE + NET_MAX_FRAME];
	struct virtq_elem first; /* first rx chain of a packet: holds its header */
	struct virtq_elem elem;  /* later rx chains; tx chains */
	/* A tx chain as tap gets it: the header copied, then the frame. */
	struct iovec tx_iov[1 + VIRTQ_ELEM_MAX_IOV];
	/* The rx chains a packet fills, to publish once it is complete. */
	uint16_t heads[NET_QUEUE_SIZE];
	uint32_t lens[NET_QUEUE_SIZE];
	/* rx_direct: the popped chains' buffers, then the bounce buffer. */
	struct iovec rx_iov[IOV_MAX];
	uint32_t room[NET_QUEUE_SIZE]; /* each popped chain's bytes */
	unsigned int first_niov;       /* rx_iov entries of the first chain */
	size_t rx_expect;              /* packet size to pop buffers for */
	size_t rx_len;                 /* the packet rx_direct/rx_deliver handled */
	bool rx_starved;               /* the ring had no buffer: wait for a kick */
};

struct net {
	struct vub *b;
	struct vub_ops ops;       /* net_ops with this device's queues */
	unsigned int npairs;
	uint8_t mac[NET_MAC_LEN];
	struct throttle rl[NET_NRL]; /* one each way, shared by the pairs */
	int tap_fds[NET_MAX_PAIRS];  /* pair k's tap_fd, for confinement */
	struct net_pair p[NET_MAX_PAIRS];
};

static struct vub_vring *rx_ring(struct net_pair *p)
{
	return &p->n->b->vrings[2 * p->idx];
}

static struct vub_vring *tx_ring(struct net_pair *p)
{
	return &p->n->b->vrings[2 * p->idx + 1];
}

static int net_get_config(struct vub *b, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct net *n = b->dev;
	uint8_t cfg[NET_CONFIG_SIZE];
	if ((uint64_t)offset + len > sizeof(cfg))
		return -EINVAL;
	net_config_build(cfg, n->mac, VIRTIO_NET_S_LINK_UP, (uint16_t)n->npairs);
	memcpy(buf, cfg + offset, len);
	return 0;
}

static int net_set_features(struct vub *b, uint64_t features)
{
	const char *why = net_features_check(features);
	if (why) {
		log_ratelimited(LOG_LVL_WARN, "net: driver features refused: %s", why);
		return -EINVAL;
	}
	struct net *n = b->dev;
	int err = 0;
	for (unsigned int i = 0; i < n->npairs && !err; i++)
		err = net_tap_set_offload(n->p[i].tap_fd, net_tun_offload(features));
	return err;
}

/* Reads tap only while a packet can go somewhere. */
static void tap_watch(struct net_pair *p)
{
	struct vub_vring *vr = rx_ring(p);
	/* While the limiter waits no pair reads: its callback goes on. */
	bool want = vub_vring_running(vr) && p->attached && !p->pending_len &&
		    !p->rx_starved && !p->tap_failed && !vr->vq.broken &&
		    !throttle_waiting(&p->n->rl[NET_RL_RX]);
	if (want == p->tap_watched)
		return;
	int err = evloop_mod(p->n->b->loop, p->tap_fd, want ? EPOLLIN : 0);
	if (err)
		log_err("net: watching tap queue %u: %s", p->idx, strerror(-err));
	else
		p->tap_watched = want;
}

/* Pair k > 0 has its tap queue attached while one of its rings runs: the
 * driver uses the pair (VQ_PAIRS_SET enabled it). */
static void tap_attach(struct net_pair *p)
{
	bool want = p->idx == 0 || vub_vring_running(rx_ring(p)) ||
		    vub_vring_running(tx_ring(p));
	if (want != p->attached && net_tap_set_queue(p->tap_fd, want) == 0)
		p->attached = want;
}

/* Pops the next receive chain. On an empty ring it first asks the driver to
 * kick for the next buffer, with the barrier that makes the request visible
 * before the ring is read again (virtq_enable_notify), and looks once more:
 * without that, a driver on another CPU could add a buffer, miss the request
 * and never kick, while the device waits for that kick. */
static int rx_pop(struct vub_vring *vr, struct virtq_elem *e)
{
	int r = virtq_pop(&vr->vq, e);
	if (r == 0 && virtq_enable_notify(&vr->vq))
		r = virtq_pop(&vr->vq, e);
	return r;
}

/* Gives back the k chains popped for a packet that is not delivered now. */
static void rx_unpop(struct vub_vring *vr, unsigned int k)
{
	/* Undone newest first, each the most recent pop left. */
	while (k--)
		virtq_unpop(&vr->vq);
}

/* Copies the pending packet into rx chains: with MRG_RXBUF as many as it
 * takes, otherwise exactly one. Returns 1 when the packet is gone (delivered
 * or dropped), 0 when the ring ran out of buffers first (nothing is used
 * then), -EIO when the ring broke. *pushed tells whether anything was used. */
static int rx_deliver(struct net_pair *p, struct vub_vring *vr, bool *pushed)
{
	bool mrg = p->n->b->features & BIT_ULL(VIRTIO_NET_F_MRG_RXBUF);
	size_t len = p->pending_len, done = 0;
	unsigned int k = 0;

	while (done < len) {
		struct virtq_elem *e = k ? &p->elem : &p->first;
		int r = rx_pop(vr, e);
		if (r < 0)
			return r;
		if (r == 0) {
			rx_unpop(vr, k);
			return 0;
		}
		if (k == 0 && e->in_len < NET_HDR_SIZE) {
			/* Not even a header fits: the chain is useless. */
			log_ratelimited(LOG_LVL_WARN, "net: receive buffer of %llu bytes is "
				       "shorter than the header", (unsigned long long)e->in_len);
			virtq_push(&vr->vq, e->head, 0);
			*pushed = true;
			continue;
		}
		if (!mrg && e->in_len < len) {
			virtq_unpop(&vr->vq);
			p->n->b->counters.rx_dropped++;
			log_ratelimited(LOG_LVL_WARN, "net: %zu-byte packet does not fit a %llu-byte "
				       "receive buffer (no MRG_RXBUF); dropped", len,
				       (unsigned long long)e->in_len);
			return 1;
		}
		size_t chunk = e->in_len < len - done ? (size_t)e->in_len : len - done;
		iov_from_buf(e->in, e->in_num, 0, p->pkt + done, chunk);
		p->heads[k] = e->head;
		p->lens[k] = (uint32_t)chunk;
		k++;
		done += chunk;
		if (done < len && k == vr->vq.num) {
			/* The ring cannot hold more chains at once: it never fits. */
			rx_unpop(vr, k);
			p->n->b->counters.rx_dropped++;
			log_ratelimited(LOG_LVL_WARN, "net: %zu-byte packet needs more receive "
				       "buffers than the ring holds; dropped", len);
			return 1;
		}
	}
	net_hdr_set_num_buffers(p->first.in, p->first.in_num, (uint16_t)k);
	/* All buffers of the packet become visible at once: a driver that saw
	 * the first alone would find num_buffers - 1 of them missing. */
	for (unsigned int i = 0; i < k; i++)
		virtq_fill(&vr->vq, i, p->heads[i], p->lens[i]);
	virtq_flush(&vr->vq, k);
	*pushed = true;
	p->n->b->counters.rx_frames++;
	p->n->b->counters.rx_bytes += len - NET_HDR_SIZE;
	return 1;
}

/* Pops rx chains for the next packet into rx_iov: with MRG_RXBUF until they
 * hold p->rx_expect bytes, otherwise one. Returns how many (0: the ring is
 * empty), -E2BIG if the first has more parts than readv takes (it is given
 * back), or -EIO. A first chain too short for a header is used up empty. */
static int rx_pop_for(struct net_pair *p, struct vub_vring *vr, unsigned int *niov, bool *pushed)
{
	bool mrg = p->n->b->features & BIT_ULL(VIRTIO_NET_F_MRG_RXBUF);
	size_t have = 0;
	unsigned int k = 0;
	*niov = 0;
	while (k == 0 || (mrg && have < p->rx_expect && k < vr->vq.num)) {
		struct virtq_elem *e = &p->elem;
		int r = rx_pop(vr, e);
		if (r <= 0)
			return r < 0 ? r : (int)k;
		if (k == 0 && e->in_len < NET_HDR_SIZE) {
			log_ratelimited(LOG_LVL_WARN, "net: receive buffer of %llu bytes is "
				       "shorter than the header", (unsigned long long)e->in_len);
			virtq_push(&vr->vq, e->head, 0);
			*pushed = true;
			continue;
		}
		/* One entry stays for the bounce buffer. */
		if (*niov + e->in_num > IOV_MAX - 1) {
			virtq_unpop(&vr->vq);
			return k ? (int)k : -E2BIG;
		}
		memcpy(p->rx_iov + *niov, e->in, e->in_num * sizeof(*e->in));
		*niov += e->in_num;
		if (k == 0)
			p->first_niov = e->in_num;
		p->heads[k] = e->head;
		p->room[k] = (uint32_t)e->in_len;
		have += e->in_len;
		k++;
	}
	return (int)k;
}

/* What a read of tap returned (r, with errno as it left it): 1 a frame, 0
 * none (tap empty; or failed, and p->tap_failed: no more receiving), -1 a
 * packet too short to be a frame, dropped. */
static int rx_got(struct net_pair *p, ssize_t r)
{
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			log_err("net: reading tap: %m; no more receiving");
			p->tap_failed = true;
		}
		return 0;
	}
	/* A tap never reads 0; a socket given as one that hung up would, forever. */
	if (r == 0) {
		log_err("net: the tap fd reached its end; no more receiving");
		p->tap_failed = true;
		return 0;
	}
	if ((size_t)r < NET_HDR_SIZE + NET_ETH_HLEN) {
		p->n->b->counters.rx_dropped++;
		log_ratelimited(LOG_LVL_WARN, "net: %zd-byte packet from tap dropped", r);
		return -1;
	}
	return 1;
}

/* Reads the next packet from tap straight into the guest's buffers: the
 * chains popped for the expected size, then the bounce buffer for the rest,
 * so that a packet of the expected size is copied once, by the kernel. What
 * spills over goes the slow way: the packet is gathered in the bounce buffer
 * and rx_deliver places it. The guest may see its buffers change before they
 * are used; nothing is read back from them but data bound for it anyway.
 * Returns rx_deliver's values; 0 also when tap is empty or the ring has no
 * buffer (rx_starved). */
static int rx_direct(struct net_pair *p, struct vub_vring *vr, bool *pushed)
{
	unsigned int niov;
	int k = rx_pop_for(p, vr, &niov, pushed);
	if (k == -E2BIG) {
		/* A first chain of more parts than readv takes: the packet goes
		 * into the bounce buffer whole, and rx_deliver places it. */
		k = 0;
		niov = 0;
	} else if (k <= 0) {
		p->rx_starved = k == 0;
		return k;
	}
	size_t have = 0;
	for (int i = 0; i < k; i++)
		have += p->room[i];
	size_t skip = have < sizeof(p->pkt) ? have : sizeof(p->pkt);
	p->rx_iov[niov] = (struct iovec){ p->pkt + skip, sizeof(p->pkt) - skip };
	ssize_t r = readv(p->tap_fd, p->rx_iov, (int)niov + 1);
	if (r <= 0 || (size_t)r < NET_HDR_SIZE + NET_ETH_HLEN || (size_t)r > have) {
		/* Given back before anything else: the bounce path pops them again. */
		rx_unpop(vr, (unsigned int)k);
	}
	int got = rx_got(p, r);
	if (got <= 0)
		return got < 0 ? 1 : 0;
	size_t len = (size_t)r;
	p->rx_len = len;
	/* Quick to follow larger packets, slow to forget them. */
	p->rx_expect = len > p->rx_expect ? len : p->rx_expect - (p->rx_expect - len) / 8;
	if (len > have) {
		iov_to_buf(p->rx_iov, niov, 0, p->pkt, skip);
		p->pending_len = len;
		return rx_deliver(p, vr, pushed);
	}
	unsigned int used = 0;
	for (size_t left = len; left; used++) {
		p->lens[used] = p->room[used] < left ? p->room[used] : (uint32_t)left;
		left -= p->lens[used];
	}
	rx_unpop(vr, (unsigned int)k - used);
	net_hdr_set_num_buffers(p->rx_iov, p->first_niov, (uint16_t)used);
	for (unsigned int i = 0; i < used; i++)
		virtq_fill(&vr->vq, i, p->heads[i], p->lens[i]);
	virtq_flush(&vr->vq, used);
	*pushed = true;
	p->n->b->counters.rx_frames++;
	p->n->b->counters.rx_bytes += len - NET_HDR_SIZE;
	return 1;
}

/* Reads the next packet from tap into the bounce buffer (p->pending_len):
 * 1 if one is there, 0 if tap has none (or failed: no more receiving), -1
 * if it was too short to be a frame and was dropped. */
static int rx_read(struct net_pair *p)
{
	ssize_t r = read(p->tap_fd, p->pkt, sizeof(p->pkt));
	int got = rx_got(p, r);
	if (got > 0)
		p->pending_len = (size_t)r;
	return got;
}

/* Moves packets from tap into the guest until tap is empty, the guest has
 * no buffers left, the limiter holds one back, or the round's budget
 * (NET_RX_BUDGET packets, NET_RX_BUDGET_BYTES) is spent; one notification.
 * tap stays watched (unless the limiter waits), so a round cut short goes
 * on after the loop has served the rest. */
static void rx_run(struct net_pair *p)
{
	struct vub_vring *vr = rx_ring(p);
	struct throttle *t = &p->n->rl[NET_RL_RX];
	bool pushed = false;
	size_t bytes = 0;

	for (int budget = NET_RX_BUDGET; budget > 0 && bytes < NET_RX_BUDGET_BYTES; budget--) {
		if (throttle_waiting(t))
			break;
		/* A limited packet is paid for before the guest sees it. */
		if (!p->pending_len && t->limited) {
			int got = rx_read(p);
			if (got == 0)
				break;
			if (got < 0)
				continue;
		}
		int d;
		if (p->pending_len) {
			if (!p->pending_paid && !throttle_take(t, 1, p->pending_len))
				break;
			p->pending_paid = true;
			p->rx_len = p->pending_len;
			d = rx_deliver(p, vr, &pushed);
		} else {
			d = rx_direct(p, vr, &pushed);
		}
		if (d < 0)
			vub_vring_error(vr);
		if (d <= 0)
			break;
		p->pending_len = 0;
		p->pending_paid = false;
		bytes += p->rx_len;
	}
	if (pushed)
		vub_vring_notify(vr);
	tap_watch(p);
}

static void on_tap(void *opaque, uint32_t events)
{
	struct net_pair *p = opaque;
	(void)events;
	if (vub_vring_running(rx_ring(p)))
		rx_run(p);
}

/* Hands one transmit chain to tap, or drops it with a reason. The header
 * is read from guest memory once, and that copy is both checked and sent:
 * another vCPU may rewrite the guest's copy meanwhile. */
static void tx_send(struct net_pair *p, const struct virtq_elem *e)
{
	uint8_t hdr[NET_HDR_SIZE];
	const char *why = NULL;
	int k = 0;
	if (e->in_num)
		why = "writable buffers in a transmit chain";
	else if (e->out_len < NET_HDR_SIZE ||
		 iov_to_buf(e->out, e->out_num, 0, hdr, sizeof(hdr)) != sizeof(hdr) ||
		 (k = iov_slice(e->out, e->out_num, NET_HDR_SIZE, e->out_len - NET_HDR_SIZE,
				p->tx_iov + 1, VIRTQ_ELEM_MAX_IOV)) < 0)
		why = "shorter than a header and an Ethernet header";
	p->tx_iov[0] = (struct iovec){ hdr, sizeof(hdr) };
	if (!why)
		why = net_tx_check(p->tx_iov, (unsigned int)k + 1, e->out_len, p->n->b->features);
	if (why) {
		p->n->b->counters.tx_dropped++;
		log_ratelimited(LOG_LVL_WARN, "net: transmit packet dropped: %s", why);
		return;
	}
	/* tap takes a whole packet per write or none of it. */
	if (writev(p->tap_fd, p->tx_iov, k + 1) < 0) {
		p->n->b->counters.tx_dropped++;
		p->n->b->counters.errors++;
		log_ratelimited(LOG_LVL_WARN, "net: tap write: %m; packet dropped");
		return;
	}
	p->n->b->counters.tx_frames++;
	p->n->b->counters.tx_bytes += e->out_len - NET_HDR_SIZE;
}

/* Sends what the guest queued. Its kicks are off meanwhile (each is an exit
 * of a vCPU) and go back on, with a last look at the ring, only before the
 * device sleeps. The driver hears of sent frames every NET_TX_BATCH (it may
 * be waiting for room); after NET_TX_BUDGET frames or NET_TX_BUDGET_BYTES
 * the loop serves the rest first: receive, and the frontend, whose liveness
 * probe must be answered within 800 ms (vcpu-worker/backend_watch.h). A
 * chain over the tx limit stays in the ring until the limiter calls back. */
static void tx_run(struct net_pair *p)
{
	struct vub_vring *vr = tx_ring(p);
	unsigned int sent = 0;
	uint64_t bytes = 0;
	bool spent = false;
	struct throttle *t = &p->n->rl[NET_RL_TX];
	int r = 0;
	virtq_disable_notify(&vr->vq);
	for (;;) {
		while (!spent && !throttle_waiting(t) && (r = virtq_pop(&vr->vq, &p->elem)) > 0) {
			if (!throttle_take(t, 1, p->elem.out_len)) {
				virtq_unpop(&vr->vq);
				break;
			}
			tx_send(p, &p->elem);
			virtq_push(&vr->vq, p->elem.head, 0);
			bytes += p->elem.out_len;
			spent = ++sent >= NET_TX_BUDGET || bytes >= NET_TX_BUDGET_BYTES;
			if (sent % NET_TX_BATCH == 0)
				vub_vring_notify(vr);
		}
		/* Held back by the limiter: kicks stay off, its callback goes on. */
		if (r < 0 || spent || throttle_waiting(t) || !virtq_enable_notify(&vr->vq))
			break;
		virtq_disable_notify(&vr->vq);
	}
	if (r < 0)
		vub_vring_error(vr);
	else if (spent)
		vub_vring_rekick(vr);
	if (sent % NET_TX_BATCH)
		vub_vring_notify(vr);
}

/* The limiters' callbacks: what they held back goes on, on every pair. A
 * ring stopped meanwhile goes on when it runs again. */
static void rx_resume(void *opaque)
{
	struct net *n = opaque;
	for (unsigned int i = 0; i < n->npairs; i++) {
		if (vub_vring_running(rx_ring(&n->p[i])))
			rx_run(&n->p[i]);
	}
}

static void tx_resume(void *opaque)
{
	struct net *n = opaque;
	for (unsigned int i = 0; i < n->npairs; i++) {
		if (vub_vring_running(tx_ring(&n->p[i])))
			tx_run(&n->p[i]);
	}
}

static void net_process(struct vub *b, struct vub_vring *vr)
{
	struct net *n = b->dev;
	struct net_pair *p = &n->p[vr->index / 2];
	if (vr->index % 2 == 0) {
		/* A kick, or the ring started: there may be buffers now. */
		p->rx_starved = false;
		rx_run(p);
	} else
		tx_run(p);
}

static void net_ring_running(struct vub *b, struct vub_vring *vr, bool running)
{
	struct net *n = b->dev;
	struct net_pair *p = &n->p[vr->index / 2];
	(void)running;
	tap_attach(p);
	/* A pending packet lives in our own buffer and survives a stop. */
	tap_watch(p);
}

static void net_reset(struct vub *b)
{
	struct net *n = b->dev;
	for (int i = 0; i < NET_NRL; i++)
		throttle_cancel(&n->rl[i]);
	for (unsigned int i = 0; i < n->npairs; i++) {
		struct net_pair *p = &n->p[i];
		p->pending_len = 0;
		p->pending_paid = false;
		p->rx_starved = false;
		tap_attach(p);
		tap_watch(p);
		/* Until a driver accepts offloads again, tap must not use them. */
		net_tap_set_offload(p->tap_fd, 0);
	}
}

static int net_setup(struct vub *b)
{
	struct net *n = b->dev;
	n->b = b;
	for (int i = 0; i < NET_NRL; i++)
		throttle_attach(&n->rl[i], b->loop);
	for (unsigned int i = 0; i < n->npairs; i++) {
		struct net_pair *p = &n->p[i];
		int err = evloop_add(b->loop, p->tap_fd, 0, on_tap, p);
		if (err) {
			log_err("net: watching tap queue %u: %s", i, strerror(-err));
			return err;
		}
		/* No ring runs yet: the kernel steers nothing to pairs > 0. */
		tap_attach(p);
	}
	return 0;
}

static const struct vub_ops net_ops = {
	.name = "net",
	.num_queues = 2,
	.max_queue_size = NET_QUEUE_SIZE,
	.features = BIT_ULL(VIRTIO_NET_F_MAC) | BIT_ULL(VIRTIO_NET_F_STATUS) |
		    BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) | BIT_ULL(VIRTIO_NET_F_CSUM) |
		    BIT_ULL(VIRTIO_NET_F_GUEST_CSUM) | BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) |
		    BIT_ULL(VIRTIO_NET_F_GUEST_TSO6) | BIT_ULL(VIRTIO_NET_F_GUEST_ECN) |
		    BIT_ULL(VIRTIO_NET_F_HOST_TSO4) | BIT_ULL(VIRTIO_NET_F_HOST_TSO6) |
		    BIT_ULL(VIRTIO_NET_F_HOST_ECN),
	.get_config = net_get_config,
	.set_features = net_set_features,
	.process = net_process,
	.ring_running = net_ring_running,
	.reset = net_reset,
};

static int random_mac(uint8_t mac[NET_MAC_LEN])
{
	if (getrandom(mac, NET_MAC_LEN, 0) != NET_MAC_LEN) {
		log_err("getrandom: %m");
		return -EIO;
	}
	net_mac_make_local(mac);
	return 0;
}

/* The device's own options. */
struct net_args {
	const char *tap_name, *mac;
	int tap_fd[NET_MAX_PAIRS];
	unsigned int ntap_fds;
	unsigned int num_queues;   /* 0: two per tap fd given, else 2 */
	struct rl_cfg rl[NET_NRL]; /* unlimited unless given */
};

/* --tap-fd N[,N...]: the fds, one per queue pair; the last such option
 * counts, as for the others. */
static int set_tap_fds(struct net_args *a, const char *arg)
{
	char buf[64];
	a->ntap_fds = 0;
	if (strlen(arg) >= sizeof(buf)) {
		log_err("--tap-fd %s: too long", arg);
		return -EINVAL;
	}
	strcpy(buf, arg);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (a->ntap_fds == NET_MAX_PAIRS) {
			log_err("--tap-fd %s: at most %u fds, one per queue pair", arg,
				NET_MAX_PAIRS);
			return -EINVAL;
		}
		int err = serve_fd_number("--tap-fd", t, &a->tap_fd[a->ntap_fds]);
		if (err)
			return err;
		a->ntap_fds++;
	}
	return 0;
}

static int net_opt(void *ctx, int c, const char *arg)
{
	struct net_args *a = ctx;
	unsigned long v;
	switch (c) {
	case OPT_TAP:
		a->tap_name = arg;
		return 0;
	case OPT_TAP_FD:
		/* tap_prepare says what is wrong with the fds themselves. */
		return set_tap_fds(a, arg);
	case OPT_MAC:
		a->mac = arg;
		return 0;
	case OPT_NUM_QUEUES:
		if (cli_parse_uint(arg, 2, 2 * NET_MAX_PAIRS, &v) < 0 || v % 2) {
			log_err("--num-queues %s: give an even number from 2 to %u (rx/tx pairs)",
				arg, 2 * NET_MAX_PAIRS);
			return -EINVAL;
		}
		a->num_queues = (unsigned int)v;
		return 0;
	case OPT_RX_RATE_LIMIT:
		return throttle_parse_opt("--rx-rate-limit", arg, &a->rl[NET_RL_RX]);
	case OPT_TX_RATE_LIMIT:
		return throttle_parse_opt("--tx-rate-limit", arg, &a->rl[NET_RL_TX]);
	default:
		return -ENOENT;
	}
}

static void close_taps(struct net *n, unsigned int k)
{
	while (k--)
		close(n->tap_fds[k]);
}

/* Takes the tap fds given, or opens one queue of --tap per pair; checks
 * that each is a queue of the same tap (its name in first) and puts it in
 * the device's mode. 0 or -errno, logged, with none left open. */
static int open_taps(const struct net_args *a, const struct serve_opts *o, struct net *n,
		     char first[IFNAMSIZ])
{
	char ifname[IFNAMSIZ];
	int err;
	if ((err = serve_one_source(o, "--tap NAME", a->tap_name, "--tap-fd",
				    a->ntap_fds ? a->tap_fd[0] : -1)))
		return err;
	n->npairs = a->num_queues ? a->num_queues / 2 : a->ntap_fds ? a->ntap_fds : 1;
	if (a->ntap_fds && a->ntap_fds != n->npairs) {
		log_err("--num-queues %u: wants %u tap fds (one per pair), --tap-fd gave %u",
			a->num_queues, n->npairs, a->ntap_fds);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n->npairs; i++) {
		int fd = a->ntap_fds ? a->tap_fd[i] : tap_open(a->tap_name, n->npairs > 1);
		if (fd < 0) {
			log_err("--tap %s: %s", a->tap_name,
				fd == -EINVAL ? "longer than 15 bytes, or not a tap made for "
						"this many queues (multi_queue)"
					      : strerror(-fd));
			close_taps(n, i);
			return fd;
		}
		for (unsigned int j = 0; j < i && a->ntap_fds; j++)
			err = err ?: (fd == n->tap_fds[j] ? -EINVAL : 0);
		if (!err && (fd == o->fd || fd == o->control_fd))
			err = -EINVAL;
		if (err)
			log_err("--tap-fd %d: given twice, or as another option's fd", fd);
		else
			err = net_tap_prepare(fd, ifname);
		if (!err && i && strcmp(ifname, first)) {
			log_err("--tap-fd %d: a queue of tap %s, not of %s", fd, ifname, first);
			err = -EINVAL;
		}
		if (err) {
			close(fd);
			close_taps(n, i);
			return err;
		}
		if (!i)
			strcpy(first, ifname);
		n->tap_fds[i] = fd;
	}
	return 0;
}

static int net_start(void *ctx, const struct serve_opts *o, void *dev, struct serve_device *d)
{
	const struct net_args *a = ctx;
	struct net *n = dev;
	int err;
	char ifname[IFNAMSIZ], macstr[NET_MAC_STRLEN];
	if (a->mac && cli_parse_mac(a->mac, n->mac) < 0) {
		log_err("--mac %s: not a unicast MAC like 52:54:00:12:34:56", a->mac);
		return -EINVAL;
	}
	if (!a->mac && (err = random_mac(n->mac)) < 0)
		return err;
	if ((err = open_taps(a, o, n, ifname)))
		return err;
	for (unsigned int i = 0; i < n->npairs; i++) {
		/* Each comes attached: a fresh queue, or the controller's. */
		n->p[i] = (struct net_pair){ .n = n, .idx = i, .tap_fd = n->tap_fds[i],
					     .attached = true };
	}
	n->ops = net_ops;
	n->ops.num_queues = 2 * n->npairs;
	if (n->npairs > 1)
		n->ops.features |= BIT_ULL(VIRTIO_NET_F_MQ);
	net_mac_format(n->mac, macstr);
	log_info("net: tap %s, %u queue pair%s, guest MAC %s", ifname, n->npairs,
		 n->npairs > 1 ? "s" : "", macstr);
	throttle_init(&n->rl[NET_RL_RX], "rx_rate_limiter", &a->rl[NET_RL_RX], rx_resume, n);
	throttle_init(&n->rl[NET_RL_TX], "tx_rate_limiter", &a->rl[NET_RL_TX], tx_resume, n);
	*d = (struct serve_device){ .ops = &n->ops, .setup = net_setup,
				    .confine = { .fds = n->tap_fds, .nfds = n->npairs },
				    .limiters = n->rl, .nlimiters = NET_NRL };
	return 0;
}

static const struct option net_longopts[] = {
	SERVE_LONG_OPTIONS,
	{ "tap", required_argument, NULL, OPT_TAP },
	{ "tap-fd", required_argument, NULL, OPT_TAP_FD },
	{ "num-queues", required_argument, NULL, OPT_NUM_QUEUES },
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "rx-rate-limit", required_argument, NULL, OPT_RX_RATE_LIMIT },
	{ "tx-rate-limit", required_argument, NULL, OPT_TX_RATE_LIMIT },
	{ 0 },
};
static struct net_args net_args;

const struct serve_program serve_program = {
	.process = "cellvm-net",
	.usage = "usage: cellvm-net (--socket-path PATH | --fd N) (--tap NAME | --tap-fd N[,N...])\n"
		 "                  [--num-queues N] [--mac MAC] [--rx-rate-limit SPEC]\n"
		 "                  [--tx-rate-limit SPEC] [options]\n"
		 "virtio-net vhost-user backend over a tap device.\n\n"
		 "  --tap NAME              open (or create) tap device NAME, one queue per\n"
		 "                          pair (IFF_MULTI_QUEUE when more than one)\n"
		 "  --tap-fd N[,N...]       use tap fds N (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR),\n"
		 "                          one queue of the same tap per queue pair\n"
		 "  --num-queues N          virtqueues: rx/tx pairs times 2, an even number\n"
		 "                          from 2 to 16 (default: 2 per --tap-fd, else 2);\n"
		 "                          more than 2 offers VIRTIO_NET_F_MQ, and the\n"
		 "                          frontend emulates the control queue (as QEMU's\n"
		 "                          vhost-user-net does: queues=N there is N pairs)\n"
		 "  --mac MAC               the guest's MAC (default: random, local)\n"
		 "  --rx-rate-limit SPEC    Firecracker's rate limiter on what the guest\n"
		 "                          receives: KEY=VALUE,... with KEY bandwidth.size\n"
		 "                          (bytes), bandwidth.one_time_burst,\n"
		 "                          bandwidth.refill_time (ms) and the same for ops\n"
		 "                          (packets), e.g.\n"
		 "                          bandwidth.size=1048576,bandwidth.refill_time=125\n"
		 "  --tx-rate-limit SPEC    the same on what the guest sends\n"
		 SERVE_USAGE,
	.caps_type = "net",
	.longopts = net_longopts,
	.opt = net_opt,
	.start = net_start,
	.dev_size = sizeof(struct net),
	.ctx = &net_args,
};
