#include "backend_inflight.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"
#include "log.h"

/* A region larger than every ring of the largest device could need is not
 * one this backend made. */
#define INFLIGHT_MAX_LEN (VUB_MAX_QUEUES * (16ull + 16ull * VIRTQ_MAX_SIZE + 64))

int vub_inflight_prepare(struct vub *b)
{
	uint64_t size = vhu_inflight_size((uint16_t)b->ops->num_queues, b->ops->max_queue_size);
	/* Pages are only touched when a ring is tracked: a large region costs
	 * nothing until then. */
	int fd = gm_memfd_create("cellvm-inflight", size);
	if (fd < 0)
		return fd;
	b->inflight_fd = fd;
	b->inflight_fd_size = size;
	return 0;
}

static int reply(struct vub *b, uint64_t size, int fd)
{
	struct vhu_msg r = { .request = VHU_GET_INFLIGHT_FD, .flags = VHU_FLAG_REPLY,
			     .kind = VHU_P_INFLIGHT, .u.inflight = { .mmap_size = size } };
	int err = vhu_send(b->sock, &r, fd >= 0 ? &fd : NULL, fd >= 0);
	if (err < 0)
		log_err("%s: reply to GET_INFLIGHT_FD: %s", b->ops->name, strerror(-err));
	return err;
}

int vub_inflight_get(struct vub *b, const struct vhu_inflight *req)
{
	uint64_t size = vhu_inflight_size(req->num_queues, req->queue_size);
	if (b->inflight_fd < 0 || !req->num_queues || req->num_queues > b->ops->num_queues ||
	    !req->queue_size || req->queue_size > b->ops->max_queue_size ||
	    size > b->inflight_fd_size) {
		log_err("%s: GET_INFLIGHT_FD for %u queues of %u: no region", b->ops->name,
			req->num_queues, req->queue_size);
		return reply(b, 0, -1);
	}
	/* A new frontend starts from a clean region. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b->inflight_fd, 0);
	if (p == MAP_FAILED) {
		log_err("%s: mapping the in-flight region: %m", b->ops->name);
		return reply(b, 0, -1);
	}
	vhu_inflight_format(p, size, req->num_queues, req->queue_size);
	munmap(p, size);
	return reply(b, size, b->inflight_fd);
}

int vub_inflight_set(struct vub *b, const struct vhu_inflight *in, int fd)
{
	for (uint32_t i = 0; i < b->ops->num_queues; i++) {
		if (b->vrings[i].started) {
			log_err("%s: SET_INFLIGHT_FD while ring %u is started", b->ops->name, i);
			return -EBUSY;
		}
	}
	uint64_t need = vhu_inflight_size(in->num_queues, in->queue_size);
	long page = sysconf(_SC_PAGESIZE);
	if (!in->num_queues || !in->queue_size || in->mmap_size < need ||
	    in->mmap_size > INFLIGHT_MAX_LEN || in->mmap_offset % (uint64_t)page ||
	    in->mmap_offset > INFLIGHT_MAX_LEN) {
		log_err("%s: SET_INFLIGHT_FD: %u queues of %u in %#" PRIx64 " bytes at %#" PRIx64
			": refused", b->ops->name, in->num_queues, in->queue_size, in->mmap_size,
			in->mmap_offset);
		return -EINVAL;
	}
	/* A region that could shrink under us would fault the next touch. */
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) < 0 || seals < 0 || !(seals & F_SEAL_SHRINK) ||
	    (uint64_t)st.st_size < in->mmap_offset + in->mmap_size) {
		log_err("%s: SET_INFLIGHT_FD: not a sealed memfd of %#" PRIx64 " bytes",
			b->ops->name, in->mmap_offset + in->mmap_size);
		return -EINVAL;
	}
	void *p = mmap(NULL, in->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       (off_t)in->mmap_offset);
	if (p == MAP_FAILED) {
		int err = -errno;
		log_err("%s: SET_INFLIGHT_FD: mmap: %s", b->ops->name, strerror(-err));
		return err;
	}
	vub_inflight_unmap(b);
	b->inflight = p;
	b->inflight_len = in->mmap_size;
	b->inflight_queues = in->num_queues;
	b->inflight_qsize = in->queue_size;
	return 0;
}

void vub_inflight_unmap(struct vub *b)
{
	for (uint32_t i = 0; i < VUB_MAX_QUEUES; i++)
		vub_inflight_ring_stop(&b->vrings[i]);
	if (b->inflight)
		munmap(b->inflight, b->inflight_len);
	b->inflight = NULL;
	b->inflight_len = 0;
}

void vub_inflight_ring_stop(struct vub_vring *vr)
{
	free(vr->resubmit.e);
	vr->resubmit = (struct virtq_resubmit){ 0 };
	vr->inflight = (struct vhu_inflight_q){ 0 };
	vr->vq.inflight = NULL;
	vr->vq.resubmit = NULL;
}

void vub_inflight_ring_attach(struct vub_vring *vr)
{
	vr->vq.inflight = vr->inflight.base ? &vr->inflight : NULL;
	vr->vq.resubmit = vr->resubmit.e ? &vr->resubmit : NULL;
}

void vub_inflight_ring_start(struct vub_vring *vr)
{
	struct vub *b = vr->b;
	vub_inflight_ring_stop(vr);
	if (!b->inflight)
		return;
	if (vr->index >= b->inflight_queues || vr->num > b->inflight_qsize) {
		log_warn("%s: ring %u of %u: not in the in-flight region (%u rings of %u); "
			 "not tracked", b->ops->name, vr->index, vr->num, b->inflight_queues,
			 b->inflight_qsize);
		return;
	}
	uint64_t stride = vhu_inflight_queue_size(b->inflight_qsize);
	uint8_t *q = b->inflight + vr->index * stride;
	struct vhu_inflight_entry *e = calloc(vr->num, sizeof(*e));
	if (!e) {
		log_err("%s: ring %u: no memory to recover in-flight requests", b->ops->name,
			vr->index);
		vr->vq.broken = true;
		return;
	}
	size_t n;
	uint64_t next;
	uint16_t used = vr->vq.used_idx;
	int err = vhu_inflight_recover(q, stride, vr->num, used, e, vr->num, &n, &next);
	if (err) {
		/* What was in flight is lost: the guest must reset the device. */
		log_err("%s: ring %u: in-flight region unusable (%s)", b->ops->name, vr->index,
			strerror(-err));
		free(e);
		vr->vq.broken = true;
		return;
	}
	vr->inflight = (struct vhu_inflight_q){ .base = q, .num = vr->num, .counter = next };
	/* Each chain taken from the avail ring was answered or is in flight. */
	virtq_set_base(&vr->vq, (uint16_t)(used + n));
	if (n) {
		log_info("%s: ring %u: resubmitting %zu in-flight requests", b->ops->name,
			 vr->index, n);
		vr->resubmit = (struct virtq_resubmit){ .e = e, .n = (uint16_t)n,
							.mark = (uint16_t)(used + n) };
	} else {
		free(e);
	}
	vub_inflight_ring_attach(vr);
}
