#include "virtio_mmio.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bytes.h"
#include "fds.h"
#include "log.h"
#include "net_ctrl.h"
#include "net_ctrlq.h"
#include "virtio_ids.h"
#include "virtq.h"

/* Register offsets (virtio 1.2 §4.2.2). */
enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_VENDOR_ID = 0x00c,
	REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = 0x050,
	REG_INTERRUPT_STATUS = 0x060,
	REG_INTERRUPT_ACK = 0x064,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080,
	REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
	REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_SHM_SEL = 0x0ac,
	REG_SHM_LEN_LOW = 0x0b0,
	REG_SHM_LEN_HIGH = 0x0b4,
	REG_SHM_BASE_LOW = 0x0b8,
	REG_SHM_BASE_HIGH = 0x0bc,
	REG_CONFIG_GENERATION = 0x0fc,
	REG_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x4d564c43u /* "CLVM" */

#define STATUS_ACKNOWLEDGE 1u
#define STATUS_DRIVER 2u
#define STATUS_DRIVER_OK 4u
#define STATUS_FEATURES_OK 8u
#define STATUS_NEEDS_RESET 0x40u
#define STATUS_FAILED 0x80u

#define ISR_USED 1u
#define ISR_CONFIG 2u

/* Transport features the guest may see: the device-specific bits (0-23)
 * and what the backend's virtqueue code implements. */
#define TRANSPORT_FEATURES                                                          \
	(((1ull << 24) - 1) | BIT_ULL(VIRTIO_F_INDIRECT_DESC) |                    \
	 BIT_ULL(VIRTIO_F_EVENT_IDX) | BIT_ULL(VIRTIO_F_VERSION_1))

static void raise_irq(struct virtio_mmio *d, unsigned int why)
{
	/* InterruptStatus first: the guest's handler reads it before the rings. */
	atomic_fetch_or(&d->isr, why);
	uint64_t one = 1;
	if (write(d->irq_fd, &one, sizeof(one)) < 0)
		log_ratelimited(LOG_LVL_ERROR, "%s: raising interrupt: %m", d->desc->name);
}

static void needs_reset(struct virtio_mmio *d, const char *why)
{
	log_err("%s: %s; device needs reset", d->desc->name, why);
	d->status |= STATUS_NEEDS_RESET;
	raise_irq(d, ISR_CONFIG);
}

/* virtio-net: the control queue and what goes through it are this
 * transport's, never the backend's (net_ctrlq.h). With a backend of 2 to 8
 * pairs that can enable them one by one the queue is offered, one past the
 * backend's; else neither it nor MQ is. */
static int setup_net_ctrl(struct virtio_mmio *d, const struct kvm_vm *vm)
{
	uint32_t nq = d->fe.num_queues;
	d->device_features &= ~NET_CTRL_VQ_FEATURES;
	d->backend_mask &= ~NET_CTRL_VQ_FEATURES;
	if (!(d->device_features & BIT_ULL(VIRTIO_NET_F_MQ)))
		return 0;
	if (nq < 4 || nq % 2 || nq >= VIRTIO_MMIO_MAX_QUEUES ||
	    !(d->fe.features & BIT_ULL(VHU_F_PROTOCOL_FEATURES))) {
		log_warn("%s: backend offers MQ with %u queues; offered without", d->desc->name, nq);
		d->device_features &= ~BIT_ULL(VIRTIO_NET_F_MQ);
		return 0;
	}
	if (!(d->ctrl = malloc(sizeof(*d->ctrl))))
		return -ENOMEM;
	int err = net_ctrlq_init(d->ctrl, vm, (uint16_t)(nq / 2));
	if (err) {
		free(d->ctrl);
		d->ctrl = NULL;
		return err;
	}
	d->device_features |= BIT_ULL(VIRTIO_NET_F_CTRL_VQ);
	return 0;
}

int virtio_mmio_init(struct virtio_mmio *d, struct kvm_vm *vm,
		     const struct machine_virtio *desc, int sock)
{
	int err;
	memset(d, 0, sizeof(*d));
	d->desc = desc;
	d->vm = vm;
	d->irq_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	for (int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		d->q[i].kick_fd = d->q[i].call_fd = d->q[i].err_fd = -1;
		d->q[i].dev = d;
	}
	if ((err = vhu_fe_init(&d->fe, desc->name, sock)) ||
	    (err = vhu_fe_set_mem_table(&d->fe, vm->m, vm->ram, vm->mem_fd)))
		return err;
	d->device_features = d->fe.features & TRANSPORT_FEATURES;
	d->backend_mask = d->fe.features;
	d->nbackend = d->fe.num_queues < VIRTIO_MMIO_MAX_QUEUES ? d->fe.num_queues
								: VIRTIO_MMIO_MAX_QUEUES;
	if (desc->device_id == VIRTIO_ID_NET && (err = setup_net_ctrl(d, vm)))
		return err;
	d->nqueues = d->nbackend + (d->ctrl != NULL);
	if ((d->irq_fd = new_eventfd()) < 0)
		return d->irq_fd;
	if ((err = kvm_vm_irqfd(vm, d->irq_fd, desc->gsi, true)))
		return err;
	for (uint32_t i = 0; i < d->nbackend; i++) {
		struct virtio_mmio_queue *q = &d->q[i];
		if ((q->kick_fd = new_eventfd()) < 0 || (q->call_fd = new_eventfd()) < 0 ||
		    (q->err_fd = new_eventfd()) < 0)
			return -errno;
	}
	log_info("%s: virtio device %u at 0x%llx gsi %u, %u queue(s)%s, backend features 0x%llx",
		 desc->name, desc->device_id, (unsigned long long)desc->base, desc->gsi,
		 d->nqueues, d->ctrl ? " (the last the control queue with MQ)" : "",
		 (unsigned long long)d->fe.features);
	return 0;
}

/* The control queue's index (virtio 1.2 §5.1.2): after max_virtqueue_pairs
 * pairs with MQ negotiated, else after the first pair; none (UINT32_MAX)
 * but for a net device of several pairs. Its other queues are the
 * backend's. */
static uint32_t ctrl_index(const struct virtio_mmio *d)
{
	if (!d->ctrl)
		return UINT32_MAX;
	return d->driver_features & BIT_ULL(VIRTIO_NET_F_MQ) ? d->nbackend : 2;
}

/* Stops every started ring; the backend returns to its unstarted state. */
static void stop_queues(struct virtio_mmio *d)
{
	for (uint32_t i = 0; i < d->nqueues; i++) {
		struct virtio_mmio_queue *q = &d->q[i];
		if (!q->started)
			continue;
		if (i == ctrl_index(d)) {
			q->started = false;
			continue;
		}
		uint16_t base;
		kvm_vm_ioeventfd(d->vm, q->kick_fd, d->desc->base + REG_QUEUE_NOTIFY, i, false);
		if (vhu_fe_stop_ring(&d->fe, i, &base) < 0)
			log_warn("%s: stopping queue %u failed", d->desc->name, i);
		q->started = false;
	}
}

static void reset(struct virtio_mmio *d)
{
	stop_queues(d);
	if (d->ctrl)
		net_ctrlq_reset(d->ctrl);
	for (uint32_t i = 0; i < d->nqueues; i++) {
		struct virtio_mmio_queue *q = &d->q[i];
		q->num = 0;
		q->ready = false;
		q->desc = q->driver = q->device = 0;
	}
	d->driver_features = 0;
	d->device_features_sel = d->driver_features_sel = d->queue_sel = 0;
	d->status = 0;
	atomic_store(&d->isr, 0);
}

/* Queue i's rings as the backend is given them, from base (not the control
 * queue: the backend never sees it). */
static int ring_of(struct virtio_mmio *d, uint32_t i, uint16_t base, struct vhu_fe_ring *r)
{
	struct virtio_mmio_queue *q = &d->q[i];
	void *desc = kvm_vm_gpa(d->vm, q->desc, virtq_desc_size(q->num));
	void *avail = kvm_vm_gpa(d->vm, q->driver, virtq_avail_size(q->num));
	void *used = kvm_vm_gpa(d->vm, q->device, virtq_used_size(q->num));
	if (!desc || !avail || !used) {
		log_err("%s: queue %u rings outside guest RAM", d->desc->name, i);
		return -EFAULT;
	}
	*r = (struct vhu_fe_ring){
		.num = q->num,
		.base = base,
		.desc = (uint64_t)(uintptr_t)desc,
		.avail = (uint64_t)(uintptr_t)avail,
		.used = (uint64_t)(uintptr_t)used,
		.kick_fd = q->kick_fd,
		.call_fd = q->call_fd,
		.err_fd = q->err_fd,
		/* Pairs after the first wait for the driver's VQ_PAIRS_SET. */
		.disabled = d->ctrl && i / 2 >= d->ctrl->pairs,
	};
	return 0;
}

static int start_queue(struct virtio_mmio *d, uint32_t i)
{
	struct virtio_mmio_queue *q = &d->q[i];
	if (i == ctrl_index(d)) {
		/* The control queue: no ioeventfd, its kicks exit to write_reg. */
		int err = net_ctrlq_start(d->ctrl, q->num, q->desc, q->driver, q->device,
					  d->driver_features);
		if (err)
			log_err("%s: control queue: %s", d->desc->name, strerror(-err));
		q->started = err == 0;
		return err;
	}
	struct vhu_fe_ring r;
	int err = ring_of(d, i, 0, &r);
	if (err)
		return err;
	err = kvm_vm_ioeventfd(d->vm, q->kick_fd, d->desc->base + REG_QUEUE_NOTIFY, i, true);
	if (err)
		return err;
	if ((err = vhu_fe_start_ring(&d->fe, i, &r))) {
		kvm_vm_ioeventfd(d->vm, q->kick_fd, d->desc->base + REG_QUEUE_NOTIFY, i, false);
		return err;
	}
	q->started = true;
	return 0;
}

static void driver_ok(struct virtio_mmio *d)
{
	if (vhu_fe_set_features(&d->fe, d->driver_features & d->backend_mask) < 0) {
		needs_reset(d, "backend refused the negotiated features");
		return;
	}
	/* A fresh in-flight region for this driver's session. */
	if (vhu_fe_get_inflight(&d->fe, (uint16_t)d->nbackend, VIRTIO_MMIO_QUEUE_MAX) < 0 ||
	    vhu_fe_set_inflight(&d->fe) < 0) {
		needs_reset(d, "backend refused the in-flight region");
		return;
	}
	for (uint32_t i = 0; i < d->nqueues; i++) {
		if (d->q[i].ready && start_queue(d, i) < 0) {
			needs_reset(d, "starting a queue failed");
			return;
		}
	}
}

/* The control queue's VQ_PAIRS_SET: pairs 0..pairs-1 on, the rest off.
 * Without MQ negotiated the driver may not send it. */
static int set_pairs(void *opaque, uint16_t pairs)
{
	struct virtio_mmio *d = opaque;
	if (!(d->driver_features & BIT_ULL(VIRTIO_NET_F_MQ)))
		return -EINVAL;
	for (uint32_t i = 0; i < d->nbackend; i++) {
		int err = d->q[i].started ? vhu_fe_enable_ring(&d->fe, i, i / 2 < pairs) : 0;
		if (err)
			return err;
	}
	log_ratelimited(LOG_LVL_INFO, "%s: the driver uses %u of %u queue pairs", d->desc->name,
			pairs, d->nbackend / 2);
	return 0;
}

static void ctrl_kick(struct virtio_mmio *d)
{
	if (!d->q[ctrl_index(d)].started)
		return;
	int r = net_ctrlq_process(d->ctrl, set_pairs, d);
	if (r < 0)
		needs_reset(d, "the control queue is broken");
	else if (r)
		raise_irq(d, ISR_USED);
}

static void write_status(struct virtio_mmio *d, uint32_t v)
{
	if (v == 0) {
		reset(d);
		return;
	}
	/* A driver may not clear a bit but by a reset (virtio 1.2 §2.1.2), nor
	 * set DEVICE_NEEDS_RESET: ignored, so that DRIVER_OK cannot be taken
	 * back and given again while the rings are live. */
	v = (v & ~STATUS_NEEDS_RESET) | d->status;
	uint32_t added = v & ~d->status;
	if (added & STATUS_FEATURES_OK) {
		uint64_t extra = d->driver_features & ~d->device_features;
		if (extra || !(d->driver_features & BIT_ULL(VIRTIO_F_VERSION_1))) {
			/* Not accepted: the driver reads FEATURES_OK back and gives up. */
			log_ratelimited(LOG_LVL_WARN, "%s: driver features 0x%llx refused",
					d->desc->name, (unsigned long long)d->driver_features);
			v &= ~STATUS_FEATURES_OK;
			added &= ~STATUS_FEATURES_OK;
		}
	}
	d->status = v;
	if ((added & STATUS_DRIVER_OK) && (d->status & STATUS_FEATURES_OK))
		driver_ok(d);
}

int virtio_mmio_reconnect(struct virtio_mmio *d, int sock)
{
	int err;
	pthread_mutex_lock(&d->lock);
	if ((err = vhu_fe_reconnect(&d->fe, sock)) ||
	    (err = vhu_fe_set_mem_table(&d->fe, d->vm->m, d->vm->ram, d->vm->mem_fd)))
		goto out;
	bool live = false;
	for (uint32_t i = 0; i < d->nqueues; i++)
		live |= d->q[i].started;
	if (!live)
		goto out;
	if ((err = vhu_fe_set_features(&d->fe, d->driver_features & d->backend_mask)) ||
	    (err = vhu_fe_set_inflight(&d->fe)))
		goto out;
	for (uint32_t i = 0; i < d->nqueues && !err; i++) {
		struct virtio_mmio_queue *q = &d->q[i];
		/* The backend's rings only: the control queue is ours and runs on. */
		if (!q->started || i == ctrl_index(d))
			continue;
		/* The base a frontend without the region's help would give: what
		 * the driver has seen answered (the region overrides it). */
		struct vhu_fe_ring r;
		if ((err = ring_of(d, i, 0, &r)))
			break;
		r.base = le16toh(__atomic_load_n(&((struct virtq_used *)(uintptr_t)r.used)->idx,
						 __ATOMIC_ACQUIRE));
		err = vhu_fe_start_ring(&d->fe, i, &r);
	}
out:
	if (err)
		log_err("%s: resuming on the new backend: %s", d->desc->name, strerror(-err));
	else
		log_info("%s: resumed on a new backend", d->desc->name);
	pthread_mutex_unlock(&d->lock);
	return err;
}

static uint32_t read_reg(struct virtio_mmio *d, uint64_t off)
{
	struct virtio_mmio_queue *q = d->queue_sel < d->nqueues ? &d->q[d->queue_sel] : NULL;
	switch (off) {
	case REG_MAGIC:
		return VIRTIO_MMIO_MAGIC;
	case REG_VERSION:
		return 2;
	case REG_DEVICE_ID:
		return d->desc->device_id;
	case REG_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case REG_DEVICE_FEATURES:
		return d->device_features_sel > 1
			       ? 0
			       : (uint32_t)(d->device_features >> (32 * d->device_features_sel));
	case REG_QUEUE_NUM_MAX:
		return q ? VIRTIO_MMIO_QUEUE_MAX : 0;
	case REG_QUEUE_READY:
		return q ? q->ready : 0;
	case REG_INTERRUPT_STATUS:
		return atomic_load(&d->isr);
	case REG_STATUS:
		return d->status;
	case REG_SHM_LEN_LOW:
	case REG_SHM_LEN_HIGH:
		return 0xffffffffu; /* no shared memory regions */
	case REG_CONFIG_GENERATION:
		return d->config_generation;
	default:
		log_ratelimited(LOG_LVL_WARN, "%s: read of register 0x%llx", d->desc->name,
				(unsigned long long)off);
		return 0;
	}
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	*v = high ? (*v & 0xffffffffull) | ((uint64_t)val << 32)
		  : (*v & ~0xffffffffull) | val;
}

static void write_reg(struct virtio_mmio *d, uint64_t off, uint32_t v)
{
	struct virtio_mmio_queue *q = d->queue_sel < d->nqueues ? &d->q[d->queue_sel] : NULL;
	/* Queue layout may change only while the queue is not live. */
	bool q_writable = q && !q->ready && !(d->status & STATUS_DRIVER_OK);
	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		d->device_features_sel = v;
		return;
	case REG_DRIVER_FEATURES:
		if (d->driver_features_sel <= 1 && !(d->status & STATUS_FEATURES_OK))
			set_half(&d->driver_features, d->driver_features_sel == 1, v);
		return;
	case REG_DRIVER_FEATURES_SEL:
		d->driver_features_sel = v;
		return;
	case REG_QUEUE_SEL:
		d->queue_sel = v;
		return;
	case REG_QUEUE_NUM:
		if (q_writable && v && v <= VIRTIO_MMIO_QUEUE_MAX && !(v & (v - 1)))
			q->num = (uint16_t)v;
		else
			log_ratelimited(LOG_LVL_WARN, "%s: bad QueueNum %u", d->desc->name, v);
		return;
	case REG_QUEUE_READY:
		if (q && (v == 0 || q->num))
			q->ready = v != 0;
		return;
	case REG_QUEUE_NOTIFY:
		if (d->ctrl && v == ctrl_index(d)) {
			ctrl_kick(d);
			return;
		}
		/* Normally caught by the ioeventfd; this is the slow path. */
		if (v < d->nbackend && d->q[v].started) {
			uint64_t one = 1;
			if (write(d->q[v].kick_fd, &one, sizeof(one)) < 0)
				log_ratelimited(LOG_LVL_ERROR, "%s: kick: %m", d->desc->name);
		}
		return;
	case REG_INTERRUPT_ACK:
		atomic_fetch_and(&d->isr, ~v);
		return;
	case REG_STATUS:
		write_status(d, v);
		return;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
		if (q_writable)
			set_half(&q->desc, off == REG_QUEUE_DESC_HIGH, v);
		return;
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
		if (q_writable)
			set_half(&q->driver, off == REG_QUEUE_DRIVER_HIGH, v);
		return;
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		if (q_writable)
			set_half(&q->device, off == REG_QUEUE_DEVICE_HIGH, v);
		return;
	case REG_SHM_SEL:
		return;
	default:
		log_ratelimited(LOG_LVL_WARN, "%s: write of register 0x%llx", d->desc->name,
				(unsigned long long)off);
	}
}

static void on_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *d = opaque;
	pthread_mutex_lock(&d->lock);
	if (off >= REG_CONFIG) {
		if (vhu_fe_get_config(&d->fe, (uint32_t)(off - REG_CONFIG), data, len) < 0)
			memset(data, 0xff, len);
	} else if (len == 4 && !(off & 3)) {
		uint32_t v = read_reg(d, off);
		memcpy(data, &v, 4);
	} else {
		log_ratelimited(LOG_LVL_WARN, "%s: %u-byte register read at 0x%llx",
				d->desc->name, len, (unsigned long long)off);
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&d->lock);
}

static void on_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *d = opaque;
	pthread_mutex_lock(&d->lock);
	if (off >= REG_CONFIG) {
		if (vhu_fe_set_config(&d->fe, (uint32_t)(off - REG_CONFIG), data, len) < 0)
			log_ratelimited(LOG_LVL_WARN, "%s: config write at 0x%llx refused",
					d->desc->name, (unsigned long long)(off - REG_CONFIG));
	} else if (len == 4 && !(off & 3)) {
		uint32_t v;
		memcpy(&v, data, 4);
		write_reg(d, off, v);
	} else {
		log_ratelimited(LOG_LVL_WARN, "%s: %u-byte register write at 0x%llx",
				d->desc->name, len, (unsigned long long)off);
	}
	pthread_mutex_unlock(&d->lock);
}

void virtio_mmio_config_changed(struct virtio_mmio *d)
{
	pthread_mutex_lock(&d->lock);
	d->config_generation++;
	/* Before DRIVER_OK the driver reads config space anyway. */
	if (d->status & STATUS_DRIVER_OK)
		raise_irq(d, ISR_CONFIG);
	pthread_mutex_unlock(&d->lock);
}

struct bus_dev virtio_mmio_bus_dev(struct virtio_mmio *d)
{
	return (struct bus_dev){
		.name = d->desc->name,
		.base = d->desc->base,
		.len = MACHINE_VIRTIO_SIZE,
		.read = on_read,
		.write = on_write,
		.opaque = d,
	};
}

static bool drain(int fd)
{
	uint64_t v;
	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

static void on_call(void *opaque, uint32_t events)
{
	struct virtio_mmio_queue *q = opaque;
	(void)events;
	if (!drain(q->call_fd))
		return;
	/* The backend keeps the eventfd after GET_VRING_BASE: a late signal
	 * must not interrupt a device that was reset. */
	pthread_mutex_lock(&q->dev->lock);
	if (q->started)
		raise_irq(q->dev, ISR_USED);
	pthread_mutex_unlock(&q->dev->lock);
}

static void on_err(void *opaque, uint32_t events)
{
	struct virtio_mmio_queue *q = opaque;
	(void)events;
	if (!drain(q->err_fd))
		return;
	/* Only for a live ring: DEVICE_NEEDS_RESET in a device being reset
	 * would keep a driver waiting for Status to read 0. */
	pthread_mutex_lock(&q->dev->lock);
	if (q->started)
		needs_reset(q->dev, "the backend reports a broken queue");
	pthread_mutex_unlock(&q->dev->lock);
}

int virtio_mmio_watch(struct virtio_mmio *d, struct evloop *loop)
{
	int err;
	for (uint32_t i = 0; i < d->nbackend; i++) {
		if ((err = evloop_add(loop, d->q[i].call_fd, EPOLLIN, on_call, &d->q[i])) ||
		    (err = evloop_add(loop, d->q[i].err_fd, EPOLLIN, on_err, &d->q[i])))
			return err;
	}
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *d)
{
	if (!d->fe.broken)
		stop_queues(d);
	for (uint32_t i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		int *fds[] = { &d->q[i].kick_fd, &d->q[i].call_fd, &d->q[i].err_fd };
		for (int j = 0; j < 3; j++)
			close_fd(fds[j]);
	}
	close_fd(&d->irq_fd);
	if (d->ctrl) {
		net_ctrlq_destroy(d->ctrl);
		free(d->ctrl);
		d->ctrl = NULL;
	}
	vhu_fe_close(&d->fe);
	pthread_mutex_destroy(&d->lock);
}
