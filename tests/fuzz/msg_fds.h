/* The fuzz harnesses' fds for a vhost-user message they send or hand over:
 * as many as vhost_user.c's decoder takes for the message's bytes, a dup of
 * the guest-memory memfd for a memory message (SET_MEM_TABLE, ADD_MEM_REG,
 * REM_MEM_REG) and a fresh eventfd (holding efd_value) for the rest, so
 * that memory maps and rings run. */
#ifndef CELLVM_FUZZ_MSG_FDS_H
#define CELLVM_FUZZ_MSG_FDS_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "vhost_user.h"

/* Decodes buf with the fd count it asks for into *m and fills *fds. 0, or
 * -EBADMSG if no count up to VHU_MAX_MEM_REGIONS decodes (nothing made),
 * or -errno if an fd cannot be made (none left open). */
int fuzz_msg_fds(const uint8_t *buf, size_t len, int mem_fd, unsigned int efd_value,
		 struct vhu_msg *m, struct msg_fds *fds);

#endif
