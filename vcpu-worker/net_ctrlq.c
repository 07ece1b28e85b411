#include "net_ctrlq.h"

#include <errno.h>
#include <string.h>

#include "iov.h"
#include "log.h"
#include "net_ctrl.h"

int net_ctrlq_init(struct net_ctrlq *c, const struct kvm_vm *vm, uint16_t max_pairs)
{
	memset(c, 0, sizeof(*c));
	gm_init(&c->mem);
	c->max_pairs = max_pairs;
	c->pairs = 1;
	const struct machine *m = vm->m;
	for (size_t i = 0; i < m->nram; i++) {
		int err = gm_add_region(&c->mem, m->ram[i].gpa, m->ram[i].size,
					(uint64_t)(uintptr_t)(vm->ram + m->ram[i].offset),
					vm->mem_fd, m->ram[i].offset);
		if (err) {
			log_err("net control queue: mapping guest RAM: %s", strerror(-err));
			gm_clear(&c->mem);
			return err;
		}
	}
	return 0;
}

void net_ctrlq_destroy(struct net_ctrlq *c)
{
	gm_clear(&c->mem);
}

int net_ctrlq_start(struct net_ctrlq *c, uint16_t num, uint64_t desc, uint64_t avail,
		    uint64_t used, uint64_t features)
{
	int err = virtq_init(&c->vq, &c->mem, num, features);
	if (!err)
		err = virtq_map(&c->vq, desc, avail, used);
	c->started = err == 0;
	return err;
}

void net_ctrlq_reset(struct net_ctrlq *c)
{
	c->started = false;
	c->pairs = 1;
}

/* One chain's answer: VIRTIO_NET_OK or VIRTIO_NET_ERR. */
static uint8_t serve(struct net_ctrlq *c, const struct virtq_elem *e,
		     net_ctrlq_set_pairs *set_pairs, void *opaque)
{
	uint8_t cmd[NET_CTRL_CMD_MAX];
	struct net_ctrl_cmd nc;
	const char *why = "longer than any command served";
	uint8_t ack = VIRTIO_NET_ERR;
	/* Read once into our copy: another vCPU may rewrite the guest's. */
	if (e->out_len <= sizeof(cmd)) {
		size_t len = iov_to_buf(e->out, e->out_num, 0, cmd, (size_t)e->out_len);
		ack = net_ctrl_parse(cmd, len, c->max_pairs, &nc, &why);
	}
	if (ack == VIRTIO_NET_OK) {
		int err = set_pairs(opaque, nc.pairs);
		if (err) {
			why = "the backend refused the rings' change";
			ack = VIRTIO_NET_ERR;
		} else {
			c->pairs = nc.pairs;
		}
	}
	if (ack != VIRTIO_NET_OK)
		log_ratelimited(LOG_LVL_WARN, "net control queue: command refused: %s", why);
	return ack;
}

int net_ctrlq_process(struct net_ctrlq *c, net_ctrlq_set_pairs *set_pairs, void *opaque)
{
	bool pushed = false;
	if (!c->started)
		return 0;
	/* Bounded by the ring: each chain is popped once per kick round. */
	for (unsigned int n = 0; n < c->vq.num && virtq_pop(&c->vq, &c->elem) > 0; n++) {
		uint32_t written = 0;
		if (c->elem.in_len < 1) {
			log_ratelimited(LOG_LVL_WARN, "net control queue: a chain without room "
				       "for the ack");
		} else {
			uint8_t ack = serve(c, &c->elem, set_pairs, opaque);
			iov_from_buf(c->elem.in, c->elem.in_num, 0, &ack, 1);
			written = 1;
		}
		virtq_push(&c->vq, c->elem.head, written);
		pushed = true;
	}
	if (c->vq.broken)
		return -EIO;
	return pushed && virtq_should_notify(&c->vq);
}
