/* The frontend's virtio-net control queue (vcpu-worker/net_ctrlq.h) over a
 * ring built in guest RAM (a memfd) as a driver would. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bytes.h"
#include "kvm_vm.h"
#include "log.h"
#include "net_ctrl.h"
#include "net_ctrlq.h"

#define MEM (16u << 20)
#define NUM 8u
#define DESC 0x100000u
#define AVAIL 0x101000u
#define USED 0x102000u
#define CMD 0x103000u
#define ACK 0x103100u

static struct machine m;
static struct kvm_vm vm;
static struct net_ctrlq q;
static uint16_t avail_idx;
static int calls, refuse;
static uint16_t last_pairs;

static uint8_t *gpa(uint64_t a)
{
	return vm.ram + a; /* RAM starts at gpa 0, offset 0 */
}

static int record(void *opaque, uint16_t pairs)
{
	cr_assert_eq(opaque, &q);
	calls++;
	last_pairs = pairs;
	return refuse;
}

static void setup(void)
{
	log_init("test_net_ctrlq", LOG_LVL_ERROR);
	cr_assert_eq(machine_layout(&m, 1, MEM, ""), 0);
	vm.mem_fd = gm_memfd_create("guest", MEM);
	cr_assert_geq(vm.mem_fd, 0);
	vm.ram = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, vm.mem_fd, 0);
	cr_assert_neq(vm.ram, MAP_FAILED);
	vm.ram_size = MEM;
	vm.m = &m;
	cr_assert_eq(m.ram[0].gpa, 0);
	cr_assert_eq(net_ctrlq_init(&q, &vm, 4), 0);
	cr_assert_eq(net_ctrlq_start(&q, NUM, DESC, AVAIL, USED, 1ull << VIRTIO_F_VERSION_1), 0);
	avail_idx = 0;
	calls = refuse = 0;
}

static void teardown(void)
{
	net_ctrlq_destroy(&q);
	munmap(vm.ram, MEM);
	close(vm.mem_fd);
}

static void put_desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = gpa(DESC + 16 * i);
	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

/* Posts a command split as Linux does: header, data, then the ack byte. */
static void post(const uint8_t *cmd, uint32_t len, uint32_t ack_len)
{
	memcpy(gpa(CMD), cmd, len);
	*gpa(ACK) = 0xee;
	put_desc(0, CMD, 2, VIRTQ_DESC_F_NEXT, 1);
	put_desc(1, CMD + 2, len - 2, VIRTQ_DESC_F_NEXT, 2);
	put_desc(2, ACK, ack_len, VIRTQ_DESC_F_WRITE, 0);
	put_le16(gpa(AVAIL + 4 + 2 * (avail_idx % NUM)), 0);
	avail_idx++;
	put_le16(gpa(AVAIL + 2), avail_idx);
}

static uint16_t used_idx(void)
{
	return get_le16(gpa(USED + 2));
}

static uint32_t used_len(uint16_t idx)
{
	return get_le32(gpa(USED + 4 + 8 * (idx % NUM) + 4));
}

TestSuite(net_ctrlq, .init = setup, .fini = teardown);

Test(net_ctrlq, vq_pairs_set_applies_and_acks)
{
	const uint8_t cmd[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 };
	cr_assert_eq(q.pairs, 1);
	post(cmd, sizeof(cmd), 1);
	cr_assert_eq(net_ctrlq_process(&q, record, &q), 1, "the driver wants an interrupt");
	cr_assert_eq(calls, 1);
	cr_assert_eq(last_pairs, 2);
	cr_assert_eq(q.pairs, 2);
	cr_assert_eq(*gpa(ACK), VIRTIO_NET_OK);
	cr_assert_eq(used_idx(), 1);
	cr_assert_eq(used_len(0), 1);
	cr_assert_eq(net_ctrlq_process(&q, record, &q), 0, "nothing more queued");
}

Test(net_ctrlq, refused_commands_are_acked_err)
{
	const uint8_t five[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 5, 0 };
	const uint8_t rx[] = { VIRTIO_NET_CTRL_RX, 0, 1, 0 };
	post(five, sizeof(five), 1);
	net_ctrlq_process(&q, record, &q);
	cr_assert_eq(*gpa(ACK), VIRTIO_NET_ERR);
	post(rx, sizeof(rx), 1);
	net_ctrlq_process(&q, record, &q);
	cr_assert_eq(*gpa(ACK), VIRTIO_NET_ERR);
	cr_assert_eq(calls, 0);
	cr_assert_eq(q.pairs, 1);
	cr_assert_eq(used_idx(), 2);
}

Test(net_ctrlq, backend_refusal_keeps_the_pairs)
{
	const uint8_t cmd[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3, 0 };
	refuse = -EIO;
	post(cmd, sizeof(cmd), 1);
	net_ctrlq_process(&q, record, &q);
	cr_assert_eq(calls, 1);
	cr_assert_eq(*gpa(ACK), VIRTIO_NET_ERR);
	cr_assert_eq(q.pairs, 1);
}

Test(net_ctrlq, chain_without_ack_room_is_used_empty)
{
	const uint8_t cmd[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 };
	memcpy(gpa(CMD), cmd, sizeof(cmd));
	put_desc(0, CMD, sizeof(cmd), 0, 0);
	put_le16(gpa(AVAIL + 4), 0);
	put_le16(gpa(AVAIL + 2), 1);
	net_ctrlq_process(&q, record, &q);
	cr_assert_eq(calls, 0, "not applied when it cannot be acked");
	cr_assert_eq(used_idx(), 1);
	cr_assert_eq(used_len(0), 0);
}

Test(net_ctrlq, broken_ring_and_reset)
{
	put_desc(0, MEM + 0x1000, 4, VIRTQ_DESC_F_NEXT, 0); /* outside RAM, and a loop */
	put_le16(gpa(AVAIL + 4), 0);
	put_le16(gpa(AVAIL + 2), 1);
	cr_assert_eq(net_ctrlq_process(&q, record, &q), -EIO);
	q.pairs = 3;
	net_ctrlq_reset(&q);
	cr_assert_eq(q.pairs, 1);
	cr_assert_eq(net_ctrlq_process(&q, record, &q), 0, "a stopped queue is not read");
}

/* With EVENT_IDX the driver kicks only when told to (avail_event): each
 * command served moves it on, or a second command would never be kicked. */
Test(net_ctrlq, event_idx_asks_for_every_kick)
{
	cr_assert_eq(net_ctrlq_start(&q, NUM, DESC, AVAIL, USED,
				     (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX)), 0);
	for (uint16_t n = 1; n <= 3; n++) {
		const uint8_t cmd[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					(uint8_t)(n % 4 + 1), 0 };
		/* The driver wants an interrupt for this one (used_event). */
		put_le16(gpa(AVAIL + 4 + 2 * NUM), (uint16_t)(n - 1));
		post(cmd, sizeof(cmd), 1);
		cr_assert_eq(net_ctrlq_process(&q, record, &q), 1, "command %u", n);
		cr_assert_eq(get_le16(gpa(USED + 4 + 8 * NUM)), n, "avail_event after %u", n);
	}
	cr_assert_eq(calls, 3);
}
