#include "blk_req.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "iov.h"

int blk_req_parse(struct blk_req *r, const struct iovec *out, unsigned int out_num,
		  const struct iovec *in, unsigned int in_num)
{
	memset(r, 0, sizeof(*r));
	/* The status is the chain's last writable byte, wherever the guest
	 * split the writable part. */
	for (unsigned int i = in_num; i-- > 0;) {
		if (in[i].iov_len) {
			r->status = (uint8_t *)in[i].iov_base + in[i].iov_len - 1;
			break;
		}
	}
	if (!r->status)
		return -ENOMSG;
	r->in_len = iov_size(in, in_num) - 1;

	uint64_t out_total = iov_size(out, out_num);
	if (out_total < BLK_HDR_SIZE)
		return -EBADMSG;
	/* Copied once: the guest can change its memory while we look. */
	uint8_t hdr[BLK_HDR_SIZE];
	iov_to_buf(out, out_num, 0, hdr, sizeof(hdr));
	r->type = get_le32(hdr);
	r->sector = get_le64(hdr + 8);
	r->out_len = out_total - BLK_HDR_SIZE;
	return 0;
}

bool blk_range_ok(uint64_t sector, uint64_t bytes, uint64_t capacity)
{
	if (bytes % BLK_SECTOR_SIZE)
		return false;
	uint64_t n = bytes >> BLK_SECTOR_SHIFT;
	return sector <= capacity && n <= capacity - sector;
}

uint8_t blk_req_check(const struct blk_req *r, const struct blk_dev *d)
{
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		if (r->out_len || !blk_range_ok(r->sector, r->in_len, d->capacity))
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		/* The spec: a write to a read-only device is an I/O error. */
		if (d->read_only || r->in_len ||
		    !blk_range_ok(r->sector, r->out_len, d->capacity))
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return r->out_len || r->in_len ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		return r->out_len ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (!(r->type == VIRTIO_BLK_T_DISCARD ? d->discard : d->write_zeroes))
			return VIRTIO_BLK_S_UNSUPP;
		if (d->read_only || r->in_len)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

uint8_t blk_req_segs(const struct blk_req *r, const struct iovec *out, unsigned int out_num,
		     uint64_t capacity, struct blk_seg *segs, unsigned int *n)
{
	*n = 0;
	if (r->out_len == 0 || r->out_len % BLK_SEG_SIZE ||
	    r->out_len / BLK_SEG_SIZE > BLK_MAX_DWZ_SEG)
		return VIRTIO_BLK_S_IOERR;
	unsigned int count = (unsigned int)(r->out_len / BLK_SEG_SIZE);
	/* Every segment is checked before any runs, so a bad one fails the
	 * request without half of it done. */
	for (unsigned int i = 0; i < count; i++) {
		uint8_t raw[BLK_SEG_SIZE];
		if (iov_to_buf(out, out_num, BLK_HDR_SIZE + (uint64_t)i * BLK_SEG_SIZE, raw,
			       sizeof(raw)) != sizeof(raw))
			return VIRTIO_BLK_S_IOERR;
		struct blk_seg *s = &segs[i];
		s->sector = get_le64(raw);
		s->num_sectors = get_le32(raw + 8);
		s->flags = get_le32(raw + 12);
		/* The spec: unknown flags, or unmap on a discard, are UNSUPP. */
		if ((s->flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
		    (r->type == VIRTIO_BLK_T_DISCARD && s->flags))
			return VIRTIO_BLK_S_UNSUPP;
		if (s->num_sectors > BLK_MAX_DWZ_SECTORS ||
		    !blk_range_ok(s->sector, (uint64_t)s->num_sectors << BLK_SECTOR_SHIFT,
				  capacity))
			return VIRTIO_BLK_S_IOERR;
	}
	*n = count;
	return VIRTIO_BLK_S_OK;
}

int blk_id_make(uint8_t id[BLK_ID_BYTES], const char *serial)
{
	size_t len = strlen(serial);
	if (len > BLK_ID_BYTES)
		return -EINVAL;
	memset(id, 0, BLK_ID_BYTES);
	memcpy(id, serial, len);
	return 0;
}

void blk_config_build(const struct blk_config_info *c, uint8_t out[BLK_CONFIG_SIZE])
{
	/* Geometry (16) and topology (24..31) stay zero: not offered. */
	memset(out, 0, BLK_CONFIG_SIZE);
	put_le64(out + 0, c->capacity);
	put_le32(out + 8, BLK_SIZE_MAX);
	put_le32(out + 12, BLK_SEG_MAX);
	put_le32(out + 20, c->blk_size ? c->blk_size : BLK_SECTOR_SIZE);
	out[BLK_CONFIG_WRITEBACK] = c->writeback;
	put_le16(out + 34, c->num_queues);
	put_le32(out + 36, BLK_MAX_DWZ_SECTORS);
	put_le32(out + 40, BLK_MAX_DWZ_SEG);
	put_le32(out + 44, BLK_DISCARD_ALIGN_SECTORS);
	put_le32(out + 48, BLK_MAX_DWZ_SECTORS);
	put_le32(out + 52, BLK_MAX_DWZ_SEG);
	out[56] = 1; /* write_zeroes_may_unmap */
}

bool blk_config_range_ok(uint32_t off, uint32_t len)
{
	return len <= BLK_CONFIG_SIZE && off <= BLK_CONFIG_SIZE - len;
}

int blk_config_write(uint32_t off, const uint8_t *buf, uint32_t len, uint8_t *writeback)
{
	if (off != BLK_CONFIG_WRITEBACK || len != 1 || buf[0] > 1)
		return -EINVAL;
	*writeback = buf[0];
	return 0;
}
