#include "vhu_frontend.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "log.h"
#include "virtq.h"

/* What this frontend uses of what a backend may offer. */
#define WANTED_PROTOCOL_FEATURES                                                  \
	(BIT_ULL(VHU_PROTOCOL_F_MQ) | BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK) |          \
	 BIT_ULL(VHU_PROTOCOL_F_CONFIG) | BIT_ULL(VHU_PROTOCOL_F_INFLIGHT_SHMFD))

/* One request and its reply within timeout_ms, under the lock. A reply's
 * fd goes to *reply_fd when the caller wants one (else it is closed). */
static int call_locked(struct vhu_fe *fe, struct vhu_msg *m, const int *fds, size_t nfds,
		       struct vhu_msg *reply, int timeout_ms, int *reply_fd)
{
	if (fe->broken)
		return -EPIPE;
	bool own = vhu_request_has_reply(m->request);
	bool ack = !own && (fe->protocol_features & BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK));
	if (ack)
		m->flags |= VHU_FLAG_NEED_REPLY;
	int err = vhu_send(fe->sock, m, fds, nfds);
	if (err)
		goto broken;
	if (!own && !ack)
		return 0;

	int n = msg_wait(fe->sock, POLLIN, timeout_ms);
	if (n <= 0) {
		err = n == 0 ? -ETIMEDOUT : n;
		goto broken;
	}
	struct vhu_msg r;
	struct msg_fds rfds = { .n = 0 };
	if ((err = vhu_recv(fe->sock, &r, &rfds)))
		goto broken;
	if (reply_fd && rfds.n == 1)
		*reply_fd = msg_fds_take(&rfds, 0);
	msg_fds_close(&rfds);
	if (!(r.flags & VHU_FLAG_REPLY) || r.request != m->request) {
		err = -EPROTO;
		goto broken;
	}
	if (ack)
		return r.u.u64 == 0 ? 0 : -EIO;
	*reply = r;
	return 0;
broken:
	log_err("%s: %s: %s; backend connection unusable", fe->name,
		vhu_request_name(m->request), strerror(-err));
	fe->broken = true;
	return err;
}

static int call(struct vhu_fe *fe, struct vhu_msg *m, const int *fds, size_t nfds,
		struct vhu_msg *reply)
{
	pthread_mutex_lock(&fe->lock);
	int err = call_locked(fe, m, fds, nfds, reply, VHU_FE_TIMEOUT_MS, NULL);
	pthread_mutex_unlock(&fe->lock);
	if (err == -EIO)
		log_err("%s: backend refused %s", fe->name, vhu_request_name(m->request));
	return err;
}

static int get_u64(struct vhu_fe *fe, uint32_t request, uint64_t *v)
{
	struct vhu_msg m = { .request = request, .kind = VHU_P_NONE }, r;
	int err = call(fe, &m, NULL, 0, &r);
	if (!err)
		*v = r.u.u64;
	return err;
}

static int set_u64(struct vhu_fe *fe, uint32_t request, uint64_t v)
{
	struct vhu_msg m = { .request = request, .kind = VHU_P_U64, .u.u64 = v };
	return call(fe, &m, NULL, 0, NULL);
}

static int set_state(struct vhu_fe *fe, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhu_msg m = { .request = request, .kind = VHU_P_VRING_STATE,
			     .u.state = { .index = index, .num = num } };
	return call(fe, &m, NULL, 0, NULL);
}

/* Features, protocol features, owner and queue count from the backend on
 * fe->sock. */
static int handshake(struct vhu_fe *fe)
{
	int err;
	uint64_t pf;
	fe->protocol_features = 0;
	fe->num_queues = 1;
	if ((err = get_u64(fe, VHU_GET_FEATURES, &fe->features)))
		return err;
	if (!(fe->features & BIT_ULL(VIRTIO_F_VERSION_1))) {
		log_err("%s: backend does not offer VIRTIO_F_VERSION_1", fe->name);
		return -ENOTSUP;
	}
	if (fe->features & BIT_ULL(VHU_F_PROTOCOL_FEATURES)) {
		if ((err = get_u64(fe, VHU_GET_PROTOCOL_FEATURES, &pf)) ||
		    (err = set_u64(fe, VHU_SET_PROTOCOL_FEATURES, pf & WANTED_PROTOCOL_FEATURES)))
			return err;
		/* From here on every request without a reply gets an ACK. */
		fe->protocol_features = pf & WANTED_PROTOCOL_FEATURES;
	}
	struct vhu_msg owner = { .request = VHU_SET_OWNER, .kind = VHU_P_NONE };
	if ((err = call(fe, &owner, NULL, 0, NULL)))
		return err;
	if (fe->protocol_features & BIT_ULL(VHU_PROTOCOL_F_MQ)) {
		uint64_t nq;
		if ((err = get_u64(fe, VHU_GET_QUEUE_NUM, &nq)))
			return err;
		if (nq == 0 || nq > VHU_VRING_IDX_MASK) {
			log_err("%s: backend reports %llu queues", fe->name, (unsigned long long)nq);
			return -EPROTO;
		}
		fe->num_queues = (uint32_t)nq;
	}
	return 0;
}

int vhu_fe_init(struct vhu_fe *fe, const char *name, int sock)
{
	memset(fe, 0, sizeof(*fe));
	snprintf(fe->name, sizeof(fe->name), "%s", name);
	fe->sock = sock;
	fe->inflight_fd = -1;
	pthread_mutex_init(&fe->lock, NULL);
	return handshake(fe);
}

int vhu_fe_reconnect(struct vhu_fe *fe, int sock)
{
	uint64_t features = fe->features;
	uint32_t nq = fe->num_queues;
	pthread_mutex_lock(&fe->lock);
	if (fe->sock >= 0)
		close(fe->sock);
	fe->sock = sock;
	fe->broken = false;
	__atomic_store_n(&fe->reconnecting, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&fe->lock);
	int err = handshake(fe);
	__atomic_store_n(&fe->reconnecting, false, __ATOMIC_RELEASE);
	if (err)
		return err;
	fe->generation++;
	if (fe->features != features || fe->num_queues != nq) {
		log_err("%s: the new backend offers features %#llx and %u queues, not %#llx "
			"and %u", fe->name, (unsigned long long)fe->features, fe->num_queues,
			(unsigned long long)features, nq);
		fe->broken = true;
		return -EPROTO;
	}
	return 0;
}

int vhu_fe_get_inflight(struct vhu_fe *fe, uint16_t nq, uint16_t qsize)
{
	if (!(fe->protocol_features & BIT_ULL(VHU_PROTOCOL_F_INFLIGHT_SHMFD)))
		return 0;
	struct vhu_msg m = { .request = VHU_GET_INFLIGHT_FD, .kind = VHU_P_INFLIGHT,
			     .u.inflight = { .num_queues = nq, .queue_size = qsize } }, r;
	int fd = -1;
	pthread_mutex_lock(&fe->lock);
	int err = call_locked(fe, &m, NULL, 0, &r, VHU_FE_TIMEOUT_MS, &fd);
	pthread_mutex_unlock(&fe->lock);
	if (err)
		return err;
	if (fe->inflight_fd >= 0)
		close(fe->inflight_fd);
	fe->inflight_fd = -1;
	if (fd < 0 || !r.u.inflight.mmap_size) {
		if (fd >= 0)
			close(fd);
		log_warn("%s: the backend keeps no in-flight region: a restart of it would "
			 "lose requests", fe->name);
		return 0;
	}
	fe->inflight_fd = fd;
	fe->inflight_size = r.u.inflight.mmap_size;
	fe->inflight_queues = nq;
	fe->inflight_qsize = qsize;
	return 0;
}

int vhu_fe_set_inflight(struct vhu_fe *fe)
{
	if (fe->inflight_fd < 0)
		return 0;
	struct vhu_msg m = { .request = VHU_SET_INFLIGHT_FD, .kind = VHU_P_INFLIGHT,
			     .u.inflight = { .mmap_size = fe->inflight_size,
					     .num_queues = fe->inflight_queues,
					     .queue_size = fe->inflight_qsize } };
	return call(fe, &m, &fe->inflight_fd, 1, NULL);
}

int vhu_fe_probe(struct vhu_fe *fe, int timeout_ms)
{
	struct vhu_msg m = { .request = VHU_GET_FEATURES, .kind = VHU_P_NONE }, r;
	if (__atomic_load_n(&fe->reconnecting, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&fe->lock);
	int err = call_locked(fe, &m, NULL, 0, &r, timeout_ms, NULL);
	if (!err && r.u.u64 != fe->features) {
		/* A backend does not change what it offers: this one is not
		 * the process it was. */
		log_err("%s: backend now offers features %#llx, not %#llx", fe->name,
			(unsigned long long)r.u.u64, (unsigned long long)fe->features);
		fe->broken = true;
		err = -EPROTO;
	}
	pthread_mutex_unlock(&fe->lock);
	return err;
}

void vhu_fe_close(struct vhu_fe *fe)
{
	if (fe->sock >= 0)
		close(fe->sock);
	fe->sock = -1;
	if (fe->inflight_fd >= 0)
		close(fe->inflight_fd);
	fe->inflight_fd = -1;
	pthread_mutex_destroy(&fe->lock);
}

int vhu_fe_set_mem_table(struct vhu_fe *fe, const struct machine *m, const uint8_t *ram,
			 int mem_fd)
{
	struct vhu_msg msg = { .request = VHU_SET_MEM_TABLE, .kind = VHU_P_MEM_TABLE };
	int fds[MACHINE_MAX_RAM];
	msg.u.mem.nregions = (uint32_t)m->nram;
	for (size_t i = 0; i < m->nram; i++) {
		msg.u.mem.regions[i] = (struct vhu_mem_region){
			.gpa = m->ram[i].gpa,
			.size = m->ram[i].size,
			.uaddr = (uint64_t)(uintptr_t)(ram + m->ram[i].offset),
			.mmap_offset = m->ram[i].offset,
		};
		fds[i] = mem_fd;
	}
	return call(fe, &msg, fds, m->nram, NULL);
}

int vhu_fe_set_features(struct vhu_fe *fe, uint64_t features)
{
	if (fe->features & BIT_ULL(VHU_F_PROTOCOL_FEATURES))
		features |= BIT_ULL(VHU_F_PROTOCOL_FEATURES);
	return set_u64(fe, VHU_SET_FEATURES, features);
}

static int set_ring_fd(struct vhu_fe *fe, uint32_t request, uint32_t index, int fd)
{
	struct vhu_msg m = { .request = request, .kind = VHU_P_U64, .u.u64 = index };
	return call(fe, &m, &fd, 1, NULL);
}

int vhu_fe_start_ring(struct vhu_fe *fe, uint32_t index, const struct vhu_fe_ring *r)
{
	int err;
	struct vhu_msg a = { .request = VHU_SET_VRING_ADDR, .kind = VHU_P_VRING_ADDR,
			     .u.addr = { .index = index, .desc = r->desc, .used = r->used,
					 .avail = r->avail } };
	if ((err = set_state(fe, VHU_SET_VRING_NUM, index, r->num)) ||
	    (err = set_state(fe, VHU_SET_VRING_BASE, index, r->base)) ||
	    (err = call(fe, &a, NULL, 0, NULL)) ||
	    (err = set_ring_fd(fe, VHU_SET_VRING_CALL, index, r->call_fd)) ||
	    (err = set_ring_fd(fe, VHU_SET_VRING_ERR, index, r->err_fd)) ||
	    (err = set_ring_fd(fe, VHU_SET_VRING_KICK, index, r->kick_fd)))
		return err;
	if (fe->features & BIT_ULL(VHU_F_PROTOCOL_FEATURES))
		return set_state(fe, VHU_SET_VRING_ENABLE, index, !r->disabled);
	return r->disabled ? -ENOTSUP : 0;
}

int vhu_fe_enable_ring(struct vhu_fe *fe, uint32_t index, bool enable)
{
	if (!(fe->features & BIT_ULL(VHU_F_PROTOCOL_FEATURES)))
		return -ENOTSUP;
	return set_state(fe, VHU_SET_VRING_ENABLE, index, enable);
}

int vhu_fe_stop_ring(struct vhu_fe *fe, uint32_t index, uint16_t *base)
{
	struct vhu_msg m = { .request = VHU_GET_VRING_BASE, .kind = VHU_P_VRING_STATE,
			     .u.state = { .index = index } }, r;
	int err = call(fe, &m, NULL, 0, &r);
	if (!err)
		*base = (uint16_t)r.u.state.num;
	return err;
}

int vhu_fe_get_config(struct vhu_fe *fe, uint32_t offset, uint8_t *buf, uint32_t len)
{
	if (!(fe->protocol_features & BIT_ULL(VHU_PROTOCOL_F_CONFIG)) || len > VHU_MAX_CONFIG_SIZE)
		return -ENOTSUP;
	struct vhu_msg m = { .request = VHU_GET_CONFIG, .kind = VHU_P_CONFIG,
			     .u.config = { .offset = offset, .size = len } }, r;
	int err = call(fe, &m, NULL, 0, &r);
	if (err)
		return err;
	if (r.u.config.size != len)
		return -EIO; /* the backend refused: an empty reply */
	memcpy(buf, r.u.config.data, len);
	return 0;
}

int vhu_fe_set_config(struct vhu_fe *fe, uint32_t offset, const uint8_t *buf, uint32_t len)
{
	if (!(fe->protocol_features & BIT_ULL(VHU_PROTOCOL_F_CONFIG)) || len > VHU_MAX_CONFIG_SIZE)
		return -ENOTSUP;
	struct vhu_msg m = { .request = VHU_SET_CONFIG, .kind = VHU_P_CONFIG,
			     .u.config = { .offset = offset, .size = len } };
	memcpy(m.u.config.data, buf, len);
	return call(fe, &m, NULL, 0, NULL);
}
