/* libFuzzer harness: virtio-blk request parsing (device-procs/blk_req.c),
 * which cellvm-blk runs on every chain the guest offers.
 *
 * Input layout:
 *   byte 0      number of device-readable iovecs (0..7), byte 1 of writable
 *               ones (0..7)
 *   byte 2      device: bit 0 read-only, bit 1 DISCARD, bit 2 WRITE_ZEROES
 *   bytes 3-10  capacity in sectors, LE
 *   bytes 11-   one LE u16 cut length per iovec (readable first), then the
 *               bytes the iovecs are cut from in turn (a cut longer than
 *               what is left is clipped).
 *
 * Links: device-procs/blk_req.c common/iov.c common/log.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/uio.h>

#include "blk_req.h"
#include "bytes.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IOV 7u
#define HDR 11u
#define SLICE_MAX 16u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		log_init("fuzz_blk_req", LOG_LVL_ERROR);
		inited = 1;
	}
	if (size < HDR)
		return 0;
	unsigned int out_num = data[0] % (MAX_IOV + 1);
	unsigned int in_num = data[1] % (MAX_IOV + 1);
	struct blk_dev dev = {
		.read_only = data[2] & 1,
		.discard = data[2] & 2,
		.write_zeroes = data[2] & 4,
		.capacity = get_le64(data + 3),
	};
	size_t cuts_len = 2u * (out_num + in_num);
	if (size < HDR + cuts_len)
		return 0;
	const uint8_t *cuts = data + HDR;
	size_t body_len = size - HDR - cuts_len;

	/* Exact-size heap copy: writable (the status byte), and ASan sees any
	 * access past the guest's buffers. */
	uint8_t *body = malloc(body_len ? body_len : 1);
	if (!body)
		return 0;
	memcpy(body, data + HDR + cuts_len, body_len);

	struct iovec out[MAX_IOV], in[MAX_IOV];
	size_t pos = 0;
	for (unsigned int i = 0; i < out_num + in_num; i++) {
		size_t l = get_le16(cuts + 2 * i);
		if (l > body_len - pos)
			l = body_len - pos;
		struct iovec *v = i < out_num ? &out[i] : &in[i - out_num];
		v->iov_base = body + pos;
		v->iov_len = l;
		pos += l;
	}

	struct blk_req r;
	int err = blk_req_parse(&r, out, out_num, in, in_num);
	if (err == 0) {
		uint8_t s = blk_req_check(&r, &dev);
		if (s == VIRTIO_BLK_S_OK) {
			struct iovec slice[SLICE_MAX];
			struct blk_seg segs[BLK_MAX_DWZ_SEG];
			unsigned int n = 0;
			switch (r.type) {
			case VIRTIO_BLK_T_IN:
				iov_slice(in, in_num, 0, r.in_len, slice, SLICE_MAX);
				break;
			case VIRTIO_BLK_T_OUT:
				iov_slice(out, out_num, BLK_HDR_SIZE, r.out_len, slice,
					      SLICE_MAX);
				break;
			case VIRTIO_BLK_T_DISCARD:
			case VIRTIO_BLK_T_WRITE_ZEROES:
				if (blk_req_segs(&r, out, out_num, dev.capacity, segs, &n) ==
					    VIRTIO_BLK_S_OK &&
				    n > BLK_MAX_DWZ_SEG)
					abort();
				for (unsigned int i = 0; i < n; i++)
					if (!blk_range_ok(segs[i].sector,
							  (uint64_t)segs[i].num_sectors
								  << BLK_SECTOR_SHIFT,
							  dev.capacity))
						abort();
				break;
			}
		}
		*r.status = s; /* inside the last writable iovec */
	} else if (err == -EBADMSG) {
		*r.status = VIRTIO_BLK_S_IOERR;
	}
	free(body);
	return 0;
}
