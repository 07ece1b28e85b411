/* libFuzzer harness: the split-virtqueue walker (common/virtq.c), which every
 * device process runs on rings the guest writes.
 *
 * Guest memory is one 64 KiB memfd region at GPA 0x10000, mapped once per
 * process. Input layout:
 *   byte 0      bit 0: queue size 16 (else 8); bit 1: EVENT_IDX;
 *               bit 2: INDIRECT_DESC; bit 3: disable notifications first
 *   bytes 1-2   the avail index to start from (SET_VRING_BASE), LE
 *   byte 3      unused
 *   bytes 4-67  16 LE u32 lengths, used in turn for the pushes
 *   bytes 68-   guest memory from GPA 0x10000 (the rest is zero): the
 *               descriptor table at +0, the avail ring at +0x100, the used
 *               ring at +0x200; buffers and indirect tables anywhere.
 * Pops until the ring is empty or broken (bounded), pushing each chain, and
 * checks that every iovec lies inside the region and the lengths add up.
 *
 * Links: common/virtq.c common/vhu_inflight.c common/guest_mem.c common/log.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include "bytes.h"
#include "guest_mem.h"
#include "log.h"
#include "virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REGION_GPA 0x10000ull
#define REGION_SIZE 0x10000ull
#define DESC_OFF 0x000u
#define AVAIL_OFF 0x100u
#define USED_OFF 0x200u
#define HDR 68u
#define NLENS 16u
#define MAX_POPS 64

static struct guest_mem gm;
static uint8_t *hva;
static struct virtq_elem elem; /* 32 KiB: not on the stack */

static void setup(void)
{
	log_init("fuzz_virtq", LOG_LVL_ERROR);
	gm_init(&gm);
	int fd = gm_memfd_create("fuzz-virtq", REGION_SIZE);
	if (fd < 0 || gm_add_region(&gm, REGION_GPA, REGION_SIZE, REGION_GPA, fd, 0) != 0)
		abort();
	close(fd);
	hva = gm.r[0].hva;
}

static void check_iov(const struct iovec *iov, unsigned int n, uint64_t want)
{
	uint64_t sum = 0;
	for (unsigned int i = 0; i < n; i++) {
		uintptr_t b = (uintptr_t)iov[i].iov_base;
		if (b < (uintptr_t)hva || iov[i].iov_len > REGION_SIZE ||
		    b - (uintptr_t)hva > REGION_SIZE - iov[i].iov_len)
			abort();
		sum += iov[i].iov_len;
	}
	if (sum != want)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!hva)
		setup();
	if (size < HDR)
		return 0;
	uint8_t cfg = data[0];
	uint16_t base = get_le16(data + 1);
	uint32_t lens[NLENS];
	for (unsigned int i = 0; i < NLENS; i++)
		lens[i] = get_le32(data + 4 + 4 * i);
	size_t mem_len = size - HDR;
	if (mem_len > REGION_SIZE)
		mem_len = REGION_SIZE;
	memcpy(hva, data + HDR, mem_len);
	memset(hva + mem_len, 0, REGION_SIZE - mem_len);

	uint16_t num = (cfg & 1) ? 16 : 8;
	uint64_t features = BIT_ULL(VIRTIO_F_VERSION_1);
	if (cfg & 2)
		features |= BIT_ULL(VIRTIO_F_EVENT_IDX);
	if (cfg & 4)
		features |= BIT_ULL(VIRTIO_F_INDIRECT_DESC);

	struct virtq vq;
	if (virtq_init(&vq, &gm, num, features) != 0)
		abort();
	if (virtq_map(&vq, REGION_GPA + DESC_OFF, REGION_GPA + AVAIL_OFF,
		      REGION_GPA + USED_OFF) != 0)
		abort();
	virtq_set_base(&vq, base);
	if (cfg & 8)
		virtq_disable_notify(&vq);

	for (int k = 0; k < MAX_POPS; k++) {
		int r = virtq_pop(&vq, &elem);
		if (r == 0) {
			if (cfg & 8)
				virtq_enable_notify(&vq);
			break;
		}
		if (r == -EIO)
			break;
		if (r != 1)
			abort();
		if (elem.head >= num || elem.out_num > VIRTQ_ELEM_MAX_IOV ||
		    elem.in_num > VIRTQ_ELEM_MAX_IOV)
			abort();
		check_iov(elem.out, elem.out_num, elem.out_len);
		check_iov(elem.in, elem.in_num, elem.in_len);
		if (elem.out_len + elem.in_len > UINT32_MAX)
			abort();
		virtq_push(&vq, elem.head, lens[k % NLENS]);
		virtq_should_notify(&vq);
	}
	return 0;
}
