#include "msg_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/eventfd.h>

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
	bool memory = m->request == VHU_SET_MEM_TABLE || m->request == VHU_ADD_MEM_REG ||
		      m->request == VHU_REM_MEM_REG;
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
