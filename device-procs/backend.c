#include "backend.h"
#include "backend_inflight.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bytes.h"
#include "fds.h"
#include "log.h"
#ifdef CELLVM_TEST_HOOKS
#include "test_hooks.h"
#endif


/* Transport features every device gets: the core's virtq implements them. */
#define CORE_FEATURES                                                            \
	(BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_F_INDIRECT_DESC) |          \
	 BIT_ULL(VIRTIO_F_EVENT_IDX) | BIT_ULL(VHU_F_PROTOCOL_FEATURES))
#define CORE_PROTOCOL_FEATURES                                                   \
	(BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK) | BIT_ULL(VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS) | \
	 BIT_ULL(VHU_PROTOCOL_F_RESET_DEVICE) | BIT_ULL(VHU_PROTOCOL_F_STATUS) |     \
	 BIT_ULL(VHU_PROTOCOL_F_INFLIGHT_SHMFD))

uint64_t vub_offered_features(const struct vub_ops *ops)
{
	return ops->features | CORE_FEATURES;
}

uint64_t vub_offered_protocol_features(const struct vub_ops *ops)
{
	uint64_t pf = ops->protocol_features | CORE_PROTOCOL_FEATURES;
	if (ops->num_queues > 1)
		pf |= BIT_ULL(VHU_PROTOCOL_F_MQ);
	if (ops->get_config)
		pf |= BIT_ULL(VHU_PROTOCOL_F_CONFIG);
	return pf;
}

static void vring_reset(struct vub *b, struct vub_vring *vr, uint16_t index)
{
	void *priv = vr->dev_priv;
	memset(vr, 0, sizeof(*vr));
	vr->b = b;
	vr->index = index;
	vr->kick_fd = vr->call_fd = vr->err_fd = -1;
	vr->dev_priv = priv;
}

void vub_init(struct vub *b, const struct vub_ops *ops, void *dev, struct evloop *loop)
{
	memset(b, 0, sizeof(*b));
	b->ops = ops;
	b->dev = dev;
	b->loop = loop;
	b->sock = -1;
	b->inflight_fd = -1;
	gm_init(&b->mem);
	for (uint16_t i = 0; i < VUB_MAX_QUEUES; i++)
		vring_reset(b, &b->vrings[i], i);
}

static bool enabled(const struct vub_vring *vr)
{
	/* Without protocol features a ring is enabled from the start. */
	return vr->enabled || !(vr->b->features & BIT_ULL(VHU_F_PROTOCOL_FEATURES));
}

bool vub_vring_running(const struct vub_vring *vr)
{
	return vr->started && vr->mapped && enabled(vr);
}

/* Tells the device when a ring starts or stops running, and handles buffers
 * that became available while it was not (their kicks were not watched). */
static void set_running(struct vub_vring *vr, bool was_running)
{
	struct vub *b = vr->b;
	bool now = vub_vring_running(vr);
	if (now == was_running)
		return;
	log_debug("%s: ring %u %s", b->ops->name, vr->index, now ? "running" : "stopped");
	if (b->ops->ring_running)
		b->ops->ring_running(b, vr, now);
	if (now)
		b->ops->process(b, vr);
}

/* Before a running ring stops or changes: the device answers what it has in
 * flight while the ring and guest memory are still there. */
static void vring_quiesce(struct vub_vring *vr)
{
	if (vub_vring_running(vr) && vr->b->ops->quiesce)
		vr->b->ops->quiesce(vr->b, vr);
}

/* Takes the ring off guest memory, keeping its position (and a broken queue
 * broken) for the next vring_map. */
static void vring_unmap(struct vub_vring *vr)
{
	if (!vr->mapped)
		return;
	vr->base = vr->vq.last_avail_idx;
	vr->saved_used_idx = vr->vq.used_idx;
	vr->saved_broken = vr->vq.broken;
	vr->positioned = true;
	vr->mapped = false;
	/* Nothing may reach the old mapping through the queue any more. */
	vr->vq.desc = NULL;
	vr->vq.avail = NULL;
	vr->vq.used = NULL;
}

/* Translates the ring addresses for the current memory table. A ring that
 * was mapped before since it started continues where it was; a ring that
 * starts anew begins at `base` with the used index the used ring holds. */
static void vring_map(struct vub_vring *vr)
{
	struct vub *b = vr->b;
	uint64_t desc, avail, used;

	vring_unmap(vr);
	if (!vr->num || !vr->addr_set)
		return;
	if (gm_uva_to_gpa(&b->mem, vr->addr.desc, virtq_desc_size(vr->num), &desc) ||
	    gm_uva_to_gpa(&b->mem, vr->addr.avail, virtq_avail_size(vr->num), &avail) ||
	    gm_uva_to_gpa(&b->mem, vr->addr.used, virtq_used_size(vr->num), &used)) {
		log_err("%s: ring %u: ring addresses outside guest memory", b->ops->name,
			vr->index);
		return;
	}
	if (virtq_init(&vr->vq, &b->mem, vr->num, b->features) < 0 ||
	    virtq_map(&vr->vq, desc, avail, used) < 0) {
		log_err("%s: ring %u: rings misaligned or outside guest memory",
			b->ops->name, vr->index);
		return;
	}
	virtq_set_base(&vr->vq, vr->base);
	if (vr->positioned) {
		vr->vq.used_idx = vr->saved_used_idx;
		vr->vq.broken = vr->saved_broken;
		vub_inflight_ring_attach(vr);
	} else {
		vr->err_signalled = false;
		vub_inflight_ring_start(vr);
	}
	vr->mapped = true;
}

/* Guest memory is about to change: every running ring stops first, so the
 * device lets go of the buffers it holds while they are still mapped. */
static void unmap_all(struct vub *b)
{
	for (uint32_t i = 0; i < b->ops->num_queues; i++) {
		struct vub_vring *vr = &b->vrings[i];
		bool was = vub_vring_running(vr);
		vring_quiesce(vr);
		vring_unmap(vr);
		set_running(vr, was);
	}
}

static void remap_all(struct vub *b)
{
	for (uint32_t i = 0; i < b->ops->num_queues; i++) {
		struct vub_vring *vr = &b->vrings[i];
		if (!vr->started)
			continue;
		bool was = vub_vring_running(vr);
		vring_map(vr);
		set_running(vr, was);
	}
}

static void on_kick(void *opaque, uint32_t events)
{
	struct vub_vring *vr = opaque;
	uint64_t n;
	(void)events;
	/* Non-blocking eventfd: EAGAIN just means another round drained it. */
	if (read(vr->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LVL_WARN, "%s: ring %u: kick read: %m",
				vr->b->ops->name, vr->index);
	if (vub_vring_running(vr))
		vr->b->ops->process(vr->b, vr);
}

static void vring_stop(struct vub_vring *vr)
{
	bool was = vub_vring_running(vr);
	vring_quiesce(vr);
	if (vr->kick_fd >= 0) {
		evloop_del(vr->b->loop, vr->kick_fd);
		close_fd(&vr->kick_fd);
	}
	vring_unmap(vr);
	vub_inflight_ring_stop(vr);
	vr->started = false;
	/* A restart begins at the base the frontend gives (or this one). */
	vr->positioned = false;
	set_running(vr, was);
}

static void reset_rings(struct vub *b)
{
	for (uint16_t i = 0; i < VUB_MAX_QUEUES; i++) {
		struct vub_vring *vr = &b->vrings[i];
		vring_stop(vr);
		close_fd(&vr->call_fd);
		close_fd(&vr->err_fd);
		vring_reset(b, vr, i);
	}
	if (b->ops->reset)
		b->ops->reset(b);
}

void vub_vring_notify(struct vub_vring *vr)
{
	if (vr->call_fd < 0 || !virtq_should_notify(&vr->vq))
		return;
	uint64_t one = 1;
	if (write(vr->call_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LVL_WARN, "%s: ring %u: call write: %m", vr->b->ops->name,
				vr->index);
}

void vub_vring_rekick(struct vub_vring *vr)
{
	uint64_t one = 1;
	if (vr->kick_fd >= 0 && write(vr->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LVL_WARN, "%s: ring %u: kick write: %m", vr->b->ops->name,
				vr->index);
}

void vub_vring_error(struct vub_vring *vr)
{
	/* Once per break: a broken ring keeps failing on every later kick. */
	if (vr->err_signalled)
		return;
	vr->err_signalled = true;
	log_ratelimited(LOG_LVL_ERROR, "%s: ring %u broken by the driver; device needs reset",
			vr->b->ops->name, vr->index);
	if (vr->err_fd < 0)
		return;
	uint64_t one = 1;
	if (write(vr->err_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LVL_WARN, "%s: ring %u: err write: %m", vr->b->ops->name,
				vr->index);
}

static int send_reply(struct vub *b, uint32_t request, enum vhu_payload_kind kind,
		      struct vhu_msg *r)
{
	r->request = request;
	r->flags = VHU_FLAG_REPLY;
	r->kind = kind;
	int err = vhu_send(b->sock, r, NULL, 0);
	if (err < 0)
		log_err("%s: reply to %s: %s", b->ops->name, vhu_request_name(request),
			strerror(-err));
	return err;
}

static int reply_u64(struct vub *b, uint32_t request, uint64_t v)
{
	struct vhu_msg r = { .u.u64 = v };
	return send_reply(b, request, VHU_P_U64, &r);
}

/* The ring a vring message names, or NULL (logged) if the device has none. */
static struct vub_vring *vring_of(struct vub *b, uint32_t index, const char *what)
{
	if (index >= b->ops->num_queues) {
		log_err("%s: %s for ring %u, device has %u", b->ops->name, what, index,
			b->ops->num_queues);
		return NULL;
	}
	return &b->vrings[index];
}

static int set_features(struct vub *b, uint64_t features)
{
	uint64_t extra = features & ~vub_offered_features(b->ops);
	if (extra) {
		log_err("%s: SET_FEATURES with bits not offered: 0x%llx", b->ops->name,
			(unsigned long long)extra);
		return -EINVAL;
	}
	if (!(features & BIT_ULL(VIRTIO_F_VERSION_1))) {
		log_err("%s: driver did not accept VIRTIO_F_VERSION_1: legacy virtio is not "
			"supported (QEMU microvm: -global virtio-mmio.force-legacy=false)",
			b->ops->name);
		return -EINVAL;
	}
	int err = b->ops->set_features ? b->ops->set_features(b, features) : 0;
	if (err == 0)
		b->features = features;
	return err;
}

static int set_mem_table(struct vub *b, const struct vhu_mem_table *t, struct msg_fds *fds)
{
	int err = 0;
	unmap_all(b);
	gm_clear(&b->mem);
	for (uint32_t i = 0; i < t->nregions && !err; i++) {
		const struct vhu_mem_region *r = &t->regions[i];
		err = gm_add_region(&b->mem, r->gpa, r->size, r->uaddr, fds->fd[i],
				    r->mmap_offset);
	}
	if (err) {
		log_err("%s: SET_MEM_TABLE refused: %s", b->ops->name, strerror(-err));
		gm_clear(&b->mem);
	}
	remap_all(b);
	return err;
}

static int add_mem_reg(struct vub *b, const struct vhu_mem_region *r, int fd)
{
	/* Existing mappings stay where they are: running rings go on. */
	int err = gm_add_region(&b->mem, r->gpa, r->size, r->uaddr, fd, r->mmap_offset);
	if (err) {
		log_err("%s: ADD_MEM_REG refused: %s", b->ops->name, strerror(-err));
		return err;
	}
	remap_all(b);
	return 0;
}

static int rem_mem_reg(struct vub *b, const struct vhu_mem_region *r)
{
	unmap_all(b);
	int err = gm_remove_region(&b->mem, r->gpa, r->size, r->uaddr);
	if (err)
		log_err("%s: REM_MEM_REG of a region not mapped", b->ops->name);
	remap_all(b);
	return err;
}

static int set_vring_num(struct vub *b, const struct vhu_vring_state *s)
{
	struct vub_vring *vr = vring_of(b, s->index, "SET_VRING_NUM");
	if (!vr)
		return -EINVAL;
	uint32_t n = s->num;
	if (n == 0 || n > b->ops->max_queue_size || (n & (n - 1))) {
		log_err("%s: ring %u: size %u is not a power of 2 up to %u", b->ops->name,
			vr->index, n, b->ops->max_queue_size);
		return -EINVAL;
	}
	if (vr->started) {
		log_err("%s: ring %u: SET_VRING_NUM while started", b->ops->name, vr->index);
		return -EBUSY;
	}
	vr->num = (uint16_t)n;
	return 0;
}

static int set_vring_base(struct vub *b, const struct vhu_vring_state *s)
{
	struct vub_vring *vr = vring_of(b, s->index, "SET_VRING_BASE");
	if (!vr)
		return -EINVAL;
	if (s->num > UINT16_MAX || vr->started) {
		log_err("%s: ring %u: bad SET_VRING_BASE %u%s", b->ops->name, vr->index, s->num,
			vr->started ? " while started" : "");
		return -EINVAL;
	}
	vr->base = (uint16_t)s->num;
	return 0;
}

static int set_vring_addr(struct vub *b, const struct vhu_vring_addr *a)
{
	struct vub_vring *vr = vring_of(b, a->index, "SET_VRING_ADDR");
	if (!vr)
		return -EINVAL;
	vr->addr = *a;
	vr->addr_set = true;
	if (vr->started) {
		bool was = vub_vring_running(vr);
		vring_quiesce(vr);
		vring_map(vr);
		set_running(vr, was);
	}
	return 0;
}

static int get_vring_base(struct vub *b, const struct vhu_vring_state *s)
{
	struct vhu_msg r = { .u.state = { .index = s->index } };
	struct vub_vring *vr = vring_of(b, s->index, "GET_VRING_BASE");
	if (vr) {
		vring_stop(vr);
		r.u.state.num = vr->base;
	}
	/* Always answered: the frontend waits for this reply. */
	return send_reply(b, VHU_GET_VRING_BASE, VHU_P_VRING_STATE, &r);
}

/* SET_VRING_KICK/CALL/ERR: takes the fd from fds in every case. */
static int set_vring_fd(struct vub *b, uint32_t request, uint64_t payload, struct msg_fds *fds)
{
	int fd = (payload & VHU_VRING_NOFD) ? -1 : msg_fds_take(fds, 0);
	struct vub_vring *vr = vring_of(b, (uint32_t)(payload & VHU_VRING_IDX_MASK),
					vhu_request_name(request));
	if (!vr) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	if (request == VHU_SET_VRING_CALL) {
		close_fd(&vr->call_fd);
		vr->call_fd = fd;
		return 0;
	}
	if (request == VHU_SET_VRING_ERR) {
		close_fd(&vr->err_fd);
		vr->err_fd = fd;
		return 0;
	}
	if (fd < 0) {
		log_err("%s: ring %u: polling rings (kick without fd) not supported",
			b->ops->name, vr->index);
		return -ENOTSUP;
	}
	bool was = vub_vring_running(vr);
	vring_quiesce(vr);
	if (vr->kick_fd >= 0) {
		evloop_del(b->loop, vr->kick_fd);
		close(vr->kick_fd);
	}
	vr->kick_fd = fd;
	int err = evloop_add(b->loop, fd, EPOLLIN, on_kick, vr);
	if (err) {
		log_err("%s: ring %u: watching kick fd: %s", b->ops->name, vr->index,
			strerror(-err));
		close_fd(&vr->kick_fd);
		vr->started = false;
		return err;
	}
	if (!vr->started) {
		vr->started = true;
		vring_map(vr);
	}
	set_running(vr, was);
	return 0;
}

static int set_vring_enable(struct vub *b, const struct vhu_vring_state *s)
{
	struct vub_vring *vr = vring_of(b, s->index, "SET_VRING_ENABLE");
	if (!vr)
		return -EINVAL;
	if (s->num > 1 || !(b->features & BIT_ULL(VHU_F_PROTOCOL_FEATURES))) {
		log_err("%s: ring %u: bad SET_VRING_ENABLE %u", b->ops->name, vr->index, s->num);
		return -EINVAL;
	}
	bool was = vub_vring_running(vr);
	if (!s->num)
		vring_quiesce(vr);
	vr->enabled = s->num;
	set_running(vr, was);
	return 0;
}

static int get_config(struct vub *b, const struct vhu_config *c)
{
	struct vhu_msg r = { .u.config = { .offset = c->offset, .size = c->size,
					   .flags = c->flags } };
	int err = b->ops->get_config ? b->ops->get_config(b, c->offset, r.u.config.data, c->size)
				     : -ENOTSUP;
	if (err) {
		log_ratelimited(LOG_LVL_ERROR, "%s: GET_CONFIG offset %u size %u refused",
				b->ops->name, c->offset, c->size);
		/* An empty payload tells the frontend the read failed. */
		r.u.config.size = 0;
	}
	return send_reply(b, VHU_GET_CONFIG, VHU_P_CONFIG, &r);
}

static int set_config(struct vub *b, const struct vhu_config *c)
{
	if (!b->ops->set_config) {
		log_err("%s: SET_CONFIG: config space is read-only", b->ops->name);
		return -EPERM;
	}
	return b->ops->set_config(b, c->offset, c->data, c->size);
}

static void reset_device(struct vub *b)
{
	reset_rings(b);
	vub_inflight_unmap(b);
	b->features = 0;
	b->status = 0;
}

int vub_handle(struct vub *b, struct vhu_msg *m, struct msg_fds *fds)
{
	int r;
	log_debug("%s: %s (flags 0x%x)", b->ops->name, vhu_request_name(m->request), m->flags);
	switch (m->request) {
	case VHU_GET_FEATURES:
		r = reply_u64(b, m->request, vub_offered_features(b->ops));
		break;
	case VHU_SET_FEATURES:
		r = set_features(b, m->u.u64);
		break;
	case VHU_SET_OWNER:
		b->owner = true;
		r = 0;
		break;
	case VHU_RESET_OWNER:
	case VHU_RESET_DEVICE:
		reset_device(b);
		r = 0;
		break;
	case VHU_GET_PROTOCOL_FEATURES:
		r = reply_u64(b, m->request, vub_offered_protocol_features(b->ops));
		break;
	case VHU_SET_PROTOCOL_FEATURES:
		if (m->u.u64 & ~vub_offered_protocol_features(b->ops)) {
			log_err("%s: SET_PROTOCOL_FEATURES with bits not offered: 0x%llx",
				b->ops->name, (unsigned long long)m->u.u64);
			r = -EINVAL;
		} else {
			b->protocol_features = m->u.u64;
			r = 0;
		}
		break;
	case VHU_SET_MEM_TABLE:
		r = set_mem_table(b, &m->u.mem, fds);
		break;
	case VHU_GET_MAX_MEM_SLOTS:
		r = reply_u64(b, m->request, GM_MAX_REGIONS);
		break;
	case VHU_ADD_MEM_REG:
		r = add_mem_reg(b, &m->u.mem_reg, fds->fd[0]);
		break;
	case VHU_REM_MEM_REG:
		r = rem_mem_reg(b, &m->u.mem_reg);
		break;
	case VHU_SET_VRING_NUM:
		r = set_vring_num(b, &m->u.state);
		break;
	case VHU_SET_VRING_BASE:
		r = set_vring_base(b, &m->u.state);
		break;
	case VHU_SET_VRING_ADDR:
		r = set_vring_addr(b, &m->u.addr);
		break;
	case VHU_GET_VRING_BASE:
		r = get_vring_base(b, &m->u.state);
		break;
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR:
		r = set_vring_fd(b, m->request, m->u.u64, fds);
		break;
	case VHU_GET_QUEUE_NUM:
		r = reply_u64(b, m->request, b->ops->num_queues);
		break;
	case VHU_SET_VRING_ENABLE:
		r = set_vring_enable(b, &m->u.state);
		break;
	case VHU_GET_CONFIG:
		r = get_config(b, &m->u.config);
		break;
	case VHU_SET_CONFIG:
		r = set_config(b, &m->u.config);
		break;
	case VHU_GET_INFLIGHT_FD:
		r = vub_inflight_get(b, &m->u.inflight);
		break;
	case VHU_SET_INFLIGHT_FD:
		r = vub_inflight_set(b, &m->u.inflight, fds->fd[0]);
		break;
	case VHU_SET_STATUS:
		b->status = (uint8_t)m->u.u64;
		r = 0;
		break;
	case VHU_GET_STATUS:
		r = reply_u64(b, m->request, b->status);
		break;
	default:
		log_err("%s: %s not supported", b->ops->name, vhu_request_name(m->request));
		r = -ENOTSUP;
		break;
	}
	msg_fds_close(fds);

	if (vhu_request_has_reply(m->request))
		return r; /* a failed reply is a broken connection */
	if ((m->flags & VHU_FLAG_NEED_REPLY) &&
	    (b->protocol_features & BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK)))
		return reply_u64(b, m->request, r == 0 ? 0 : 1);
	return 0; /* refusals are logged above; the connection goes on */
}

/* Refuses a request the codec does not know. It cannot encode a reply to
 * such a request, so the frame is built here: a REPLY_ACK is always a u64. */
static int nack_unknown(struct vub *b, uint32_t request)
{
	uint32_t hdr[3] = { request, VHU_VERSION | VHU_FLAG_REPLY, sizeof(uint64_t) };
	uint64_t failed = 1;
	int err = msg_send(b->sock, hdr, sizeof(hdr), &failed, sizeof(failed), NULL, 0);
	if (err < 0)
		log_err("%s: NACK of request %u: %s", b->ops->name, request, strerror(-err));
	return err;
}

static void on_socket(void *opaque, uint32_t events)
{
	struct vub *b = opaque;
	struct vhu_msg m;
	struct msg_fds fds = { .n = 0 };
	(void)events;

	int err = vhu_recv(b->sock, &m, &fds);
#ifdef CELLVM_TEST_HOOKS
	if (err == -ENOTSUP && test_hooks_escape(m.request))
		return;
#endif
	if (err == -ENOTSUP) {
		log_err("%s: unknown request %u refused", b->ops->name, m.request);
		if ((m.flags & VHU_FLAG_NEED_REPLY) &&
		    (b->protocol_features & BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK)) &&
		    nack_unknown(b, m.request) < 0)
			vub_detach(b);
		return;
	}
	if (err == -EAGAIN)
		return;
	if (err < 0) {
		if (err == -ECONNRESET)
			log_info("%s: frontend hung up", b->ops->name);
		else
			log_err("%s: bad message from frontend: %s; closing the connection",
				b->ops->name, strerror(-err));
		vub_detach(b);
		return;
	}
	if (vub_handle(b, &m, &fds) < 0)
		vub_detach(b);
}

int vub_attach(struct vub *b, int sock)
{
	int err = evloop_add(b->loop, sock, EPOLLIN, on_socket, b);
	if (err) {
		log_err("%s: watching frontend socket: %s", b->ops->name, strerror(-err));
		close(sock);
		return err;
	}
	b->sock = sock;
	return 0;
}

void vub_detach(struct vub *b)
{
	if (b->sock < 0)
		return;
	reset_device(b);
	gm_clear(&b->mem);
	b->protocol_features = 0;
	b->owner = false;
	evloop_del(b->loop, b->sock);
	close_fd(&b->sock);
	if (b->on_disconnect)
		b->on_disconnect(b);
}
