/* libFuzzer harness: the vhost-user backend core (device-procs/backend.c),
 * the protocol state machine every device process runs against its frontend.
 *
 * A struct vub with a minimal device (one queue of up to 256, a 16-byte
 * config space; process pops and pushes every chain) serves one end of a
 * socketpair; replies are drained from the other end after each message.
 * The input is a sequence of chunks, each a LE u16 header and that many
 * bytes (clipped to what is left):
 *   bit 15 clear: a vhost-user message, decoded with no fds and handled
 *                 (one that does not decode, e.g. a request that needs fds:
 *                 see below);
 *                 bit 14 set: decoded with the fd count it asks for instead,
 *                 and given fresh fds (a dup of the 64 KiB guest-memory memfd
 *                 for memory messages and SET_INFLIGHT_FD, whose region is
 *                 then guest memory, an eventfd for the rest), which lets
 *                 rings map and run;
 *   bit 15 set:   a guest-memory write: LE u16 offset, then bytes, into the
 *                 memfd (what the driver would put in its rings).
 * The length is the header's low 14 bits (13 for the memory write). A
 * handler error ends the connection, as on_socket does. A message the codec
 * refuses is sent on the socket as it is, the frontend's side is shut down,
 * and the backend's event loop runs until it ends the connection (its real
 * reader, on_socket: NACKs, framing errors, EOF); the input ends there.
 * vub_detach at the end releases everything.
 *
 * Links: device-procs/backend.c device-procs/backend_inflight.c common/vhost_user.c
 *   common/msg.c tests/fuzz/msg_fds.c common/guest_mem.c common/virtq.c common/vhu_inflight.c
 *   common/event_loop.c common/log.c common/fds.c */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "bytes.h"
#include "event_loop.h"
#include "guest_mem.h"
#include "log.h"
#include "msg.h"
#include "msg_fds.h"
#include "vhost_user.h"
#include "virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM_SIZE 0x10000u
#define CONFIG_SIZE 16u

static int mem_fd = -1;
static uint8_t *mem; /* the harness's own view of the guest-memory memfd */

struct fdev {
	struct virtq_elem elem;
	uint8_t config[CONFIG_SIZE];
	uint8_t drain[4096];
};
static struct fdev dev;

static void fdev_process(struct vub *b, struct vub_vring *vr)
{
	struct fdev *d = b->dev;
	int r;
	int budget = 64; /* a device may bound its work per kick */
	while (budget-- > 0 && (r = virtq_pop(&vr->vq, &d->elem)) > 0) {
		uint32_t len = (uint32_t)(d->elem.in_len < 512 ? d->elem.in_len : 512);
		uint32_t done = 0;
		for (unsigned int i = 0; i < d->elem.in_num && done < len; i++) {
			size_t n = d->elem.in[i].iov_len;
			if (n > len - done)
				n = len - done;
			memset(d->elem.in[i].iov_base, 0xa5, n);
			done += (uint32_t)n;
		}
		for (unsigned int i = 0; i < d->elem.out_num; i++) /* touch every byte */
			if (d->elem.out[i].iov_len)
				(void)*(volatile uint8_t *)((uint8_t *)d->elem.out[i].iov_base +
							    d->elem.out[i].iov_len - 1);
		virtq_push(&vr->vq, d->elem.head, len);
	}
	if (budget >= 0 && r < 0)
		vub_vring_error(vr);
	vub_vring_notify(vr);
}

static int fdev_get_config(struct vub *b, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct fdev *d = b->dev;
	if (off > CONFIG_SIZE || len > CONFIG_SIZE - off)
		return -EINVAL;
	memcpy(buf, d->config + off, len);
	return 0;
}

static int fdev_set_config(struct vub *b, uint32_t off, const uint8_t *buf, uint32_t len)
{
	struct fdev *d = b->dev;
	if (off > CONFIG_SIZE || len > CONFIG_SIZE - off)
		return -EINVAL;
	memcpy(d->config + off, buf, len);
	return 0;
}

static const struct vub_ops fdev_ops = {
	.name = "fuzz",
	.num_queues = 1,
	.max_queue_size = 256,
	.get_config = fdev_get_config,
	.set_config = fdev_set_config,
	.process = fdev_process,
};

static void setup(void)
{
	log_init("fuzz_backend", LOG_LVL_ERROR);
	mem_fd = gm_memfd_create("fuzz-backend", MEM_SIZE);
	if (mem_fd < 0)
		abort();
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mem_fd, 0);
	if (mem == MAP_FAILED)
		abort();
}

static void drain(int fd)
{
	while (recv(fd, dev.drain, sizeof(dev.drain), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!mem)
		setup();
	memset(mem, 0, MEM_SIZE);
	memset(dev.config, 0, sizeof(dev.config));

	/* One loop per input: destroying it frees the handlers vub_detach
	 * retired, which only a dispatch round would free otherwise. */
	struct evloop *loop;
	if (evloop_create(&loop) != 0)
		abort();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	struct vub b;
	vub_init(&b, &fdev_ops, &dev, loop);
	if (vub_attach(&b, sv[0]) != 0)
		abort();

	size_t pos = 0, len;
	uint16_t h;
	const uint8_t *p;
	while (b.sock >= 0 && fuzz_chunk_next(data, size, &pos, &h, &p, &len)) {
		if (h & 0x8000) {
			fuzz_chunk_mem(p, len, mem, MEM_SIZE);
			continue;
		}

		/* Exact-size heap copy: ASan sees any read past the message. */
		uint8_t *buf = malloc(len ? len : 1);
		if (!buf)
			break;
		memcpy(buf, p, len);
		struct vhu_msg m;
		struct msg_fds fds = { .n = 0 };
		int r = (h & 0x4000) ? fuzz_msg_fds(buf, len, mem_fd, 0, &m, &fds)
				     : vhu_decode(buf, len, 0, &m);
		if (r != 0) {
			/* What the codec refuses goes to the socket as it is, and
			 * the frontend's side ends there: the backend reads it
			 * as a process does (on_socket: an unknown request gets
			 * a NACK, bad framing ends the connection). */
			if (len)
				(void)send(sv[1], buf, len, MSG_NOSIGNAL);
			free(buf);
			if (shutdown(sv[1], SHUT_WR) < 0)
				abort();
			for (int i = 0; i < 64 && b.sock >= 0; i++) {
				if (evloop_run_once(loop, 0) < 0)
					break;
				drain(sv[1]);
			}
			break;
		}
		free(buf);
		if (vub_handle(&b, &m, &fds) < 0)
			vub_detach(&b);
		msg_fds_close(&fds); /* vub_handle consumed them; safe twice */
		drain(sv[1]);
	}
	vub_detach(&b);
	close(sv[1]);
	evloop_destroy(loop);
	return 0;
}
