/* What fuzz_backend and fuzz_proc_device share: the layout of their input,
 * a sequence of chunks (fuzz_backend.c's header says what each means), and
 * the fds a vhost-user message gets: as many as vhost_user.c's decoder takes
 * for the message's bytes, a dup of the guest-memory memfd for a memory
 * message (SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG) and for SET_INFLIGHT_FD
 * (the in-flight region is then guest memory), and a fresh eventfd
 * (holding efd_value) for the rest, so that memory maps and rings run. */
#ifndef CELLVM_FUZZ_MSG_FDS_H
#define CELLVM_FUZZ_MSG_FDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "vhost_user.h"

/* Decodes buf with the fd count it asks for into *m and fills *fds. 0, or
 * -EBADMSG if no count up to VHU_MAX_MEM_REGIONS decodes (nothing made),
 * or -errno if an fd cannot be made (none left open). */
int fuzz_msg_fds(const uint8_t *buf, size_t len, int mem_fd, unsigned int efd_value,
		 struct vhu_msg *m, struct msg_fds *fds);

/* The chunk at *pos of data: its LE u16 header in *hdr, its bytes in *p and
 * *len (the header's low 14 bits, 13 for a guest-memory write, clipped to
 * what is left); *pos moves past it. false when no header is left. */
bool fuzz_chunk_next(const uint8_t *data, size_t size, size_t *pos, uint16_t *hdr,
		     const uint8_t **p, size_t *len);

/* A guest-memory write chunk (header bit 15): LE u16 offset (mod mem_size),
 * then bytes, copied into mem up to its end; shorter than 2 bytes: nothing. */
void fuzz_chunk_mem(const uint8_t *p, size_t len, uint8_t *mem, size_t mem_size);

#endif
