#include "msg_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>

#include "bytes.h"

int fuzz_msg_fds(const uint8_t *buf, size_t len, int mem_fd, unsigned int efd_value,
		 struct vhu_msg *m, struct msg_fds *fds)
{
	size_t n;
	fds->n = 0;
	for (n = 0; n <= VHU_MAX_MEM_REGIONS; n++)
		if (vhu_decode(buf, len, n, m) == 0)
			break;
	if (n > VHU_MAX_MEM_REGIONS)
		return -EBADMSG;
	/* SET_INFLIGHT_FD maps guest memory too: the region's bytes are then
	 * the fuzzer's, written as guest memory. */
	bool memory = m->request == VHU_SET_MEM_TABLE || m->request == VHU_ADD_MEM_REG ||
		      m->request == VHU_REM_MEM_REG || m->request == VHU_SET_INFLIGHT_FD;
	for (size_t i = 0; i < n; i++) {
		int fd = memory ? fcntl(mem_fd, F_DUPFD_CLOEXEC, 0)
				: eventfd(efd_value, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0) {
			int err = -errno;
			msg_fds_close(fds);
			return err;
		}
		fds->fd[fds->n++] = fd;
	}
	return 0;
}

bool fuzz_chunk_next(const uint8_t *data, size_t size, size_t *pos, uint16_t *hdr,
		     const uint8_t **p, size_t *len)
{
	if (*pos + 2 > size)
		return false;
	*hdr = get_le16(data + *pos);
	*pos += 2;
	*len = *hdr & ((*hdr & 0x8000) ? 0x1fff : 0x3fff);
	if (*len > size - *pos)
		*len = size - *pos;
	*p = data + *pos;
	*pos += *len;
	return true;
}

void fuzz_chunk_mem(const uint8_t *p, size_t len, uint8_t *mem, size_t mem_size)
{
	if (len < 2)
		return;
	size_t off = get_le16(p) % mem_size, n = len - 2;
	memcpy(mem + off, p + 2, n < mem_size - off ? n : mem_size - off);
}
