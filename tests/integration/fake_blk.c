#include "fake_blk.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "vhost_user.h"
#include "virtq.h"

#define QSIZE 8
#define BLOCK 4096
#define VIRTIO_F_VERSION_1 32

/* Where things are, from the middle of guest memory on (the fake runs no
 * guest: nothing else uses it). */
enum { DESC = 0, AVAIL = 0x1000, USED = 0x2000, HDR = 0x3000, DATA = 0x4000, STATUS = 0x6000 };

struct blk {
	int sock, kick, call;
	uint8_t *mem;
	uint64_t base; /* GPA of the area above */
	uint16_t avail;
};

static int send_msg(struct blk *b, const struct vhu_msg *m, int fd)
{
	return vhu_send(b->sock, m, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
}

static int negotiate(struct blk *b, char *why, size_t len)
{
	struct vhu_msg m = { .request = VHU_SET_OWNER, .kind = VHU_P_NONE };
	int err = send_msg(b, &m, -1);
	m = (struct vhu_msg){ .request = VHU_GET_FEATURES, .kind = VHU_P_NONE };
	if (!err)
		err = send_msg(b, &m, -1);
	struct pollfd p = { .fd = b->sock, .events = POLLIN };
	struct msg_fds fds;
	if (!err && poll(&p, 1, 1000) != 1)
		err = -ETIMEDOUT;
	if (!err && !(err = vhu_recv(b->sock, &m, &fds)))
		msg_fds_close(&fds);
	if (err) {
		snprintf(why, len, "GET_FEATURES: %s", strerror(-err));
		return err;
	}
	/* No PROTOCOL_FEATURES: the ring runs as soon as it has its kick fd. */
	uint64_t want = m.u.u64 & BIT_ULL(VIRTIO_F_VERSION_1);
	m = (struct vhu_msg){ .request = VHU_SET_FEATURES, .kind = VHU_P_U64, .u.u64 = want };
	if ((err = send_msg(b, &m, -1)))
		snprintf(why, len, "SET_FEATURES: %s", strerror(-err));
	return err;
}

/* The memory table and queue 0, which starts with its kick fd. */
static int setup_queue(struct blk *b, int mem_fd, uint64_t size)
{
	struct vhu_msg mt = { .request = VHU_SET_MEM_TABLE, .kind = VHU_P_MEM_TABLE };
	mt.u.mem.nregions = 1;
	mt.u.mem.regions[0] = (struct vhu_mem_region){ .gpa = 0, .size = size,
						       .uaddr = (uint64_t)(uintptr_t)b->mem };
	uint64_t ua = (uint64_t)(uintptr_t)(b->mem + b->base);
	struct vhu_msg msgs[] = {
		{ .request = VHU_SET_VRING_NUM, .kind = VHU_P_VRING_STATE, .u.state = { 0, QSIZE } },
		{ .request = VHU_SET_VRING_ADDR, .kind = VHU_P_VRING_ADDR,
		  .u.addr = { .index = 0, .desc = ua + DESC, .avail = ua + AVAIL, .used = ua + USED } },
		{ .request = VHU_SET_VRING_BASE, .kind = VHU_P_VRING_STATE, .u.state = { 0, 0 } },
	};
	int err = send_msg(b, &mt, mem_fd);
	for (size_t i = 0; !err && i < sizeof(msgs) / sizeof(msgs[0]); i++)
		err = send_msg(b, &msgs[i], -1);
	struct vhu_msg call = { .request = VHU_SET_VRING_CALL, .kind = VHU_P_U64, .u.u64 = 0 };
	struct vhu_msg kick = { .request = VHU_SET_VRING_KICK, .kind = VHU_P_U64, .u.u64 = 0 };
	if (!err)
		err = send_msg(b, &call, b->call);
	if (!err)
		err = send_msg(b, &kick, b->kick);
	return err;
}

static void desc(struct blk *b, unsigned i, uint64_t off, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	uint8_t *d = b->mem + b->base + DESC + 16 * i;
	put_le64(d, b->base + off);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

/* One request of type (0 IN, 1 OUT) at sector; its status byte or -errno. */
static int request(struct blk *b, uint32_t type, uint64_t sector)
{
	uint8_t *m = b->mem + b->base;
	put_le32(m + HDR, type);
	put_le32(m + HDR + 4, 0);
	put_le64(m + HDR + 8, sector);
	m[STATUS] = 0xee;
	desc(b, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(b, 1, DATA, BLOCK, VIRTQ_DESC_F_NEXT | (type == 0 ? VIRTQ_DESC_F_WRITE : 0), 2);
	desc(b, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	put_le16(m + AVAIL + 4 + 2 * (b->avail % QSIZE), 0);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	put_le16(m + AVAIL + 2, ++b->avail);
	uint64_t one = 1;
	if (write(b->kick, &one, sizeof(one)) != sizeof(one))
		return -errno;
	for (int tries = 0; tries < 100; tries++) {
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (get_le16(m + USED + 2) == b->avail)
			return m[STATUS];
		struct pollfd p = { .fd = b->call, .events = POLLIN };
		if (poll(&p, 1, 10) == 1 && read(b->call, &one, sizeof(one)) < 0)
			return -errno;
	}
	return -ETIMEDOUT;
}

int fake_blk_io(int sock, int mem_fd, unsigned writes, unsigned reads, char *why, size_t len)
{
	struct stat st;
	struct blk b = { .sock = sock, .kick = -1, .call = -1 };
	if (fstat(mem_fd, &st) < 0 || st.st_size < 2 * 0x10000) {
		snprintf(why, len, "guest memory: too small or unknown");
		return -EINVAL;
	}
	uint64_t size = (uint64_t)st.st_size;
	b.base = size / 2;
	b.mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mem_fd, 0);
	if (b.mem == MAP_FAILED) {
		snprintf(why, len, "mapping guest memory: %m");
		return -errno;
	}
	int err = 0;
	b.kick = eventfd(0, EFD_CLOEXEC);
	b.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b.kick < 0 || b.call < 0)
		err = -errno;
	if (!err && !(err = negotiate(&b, why, len)) && (err = setup_queue(&b, mem_fd, size)))
		snprintf(why, len, "setting up the queue: %s", strerror(-err));
	for (unsigned i = 0; !err && i < writes + reads; i++) {
		if (i < writes)
			memset(b.mem + b.base + DATA, 'a' + (int)i % 26, BLOCK);
		int r = request(&b, i < writes ? 1 : 0, (uint64_t)(i % (writes ? writes : 1)) * 8);
		if (r != 0) {
			err = r < 0 ? r : -EIO;
			snprintf(why, len, "request %u: %s", i,
				 r < 0 ? strerror(-r) : "status not OK");
		}
	}
	if (b.kick >= 0)
		close(b.kick);
	if (b.call >= 0)
		close(b.call);
	munmap(b.mem, size);
	return err;
}
