/* What the seed writers share (gen_corpus.c, the codecs' and device
 * models' seeds; gen_corpus_procs.c, the processes' request paths, their
 * sockets and the lifecycle): where seeds go, the vhost-user encoding, a
 * descriptor, and fuzz_backend's chunk layout, which fuzz_proc_device's
 * seeds reuse. Everything exits on an error: this is a tool, run by hand. */
#ifndef CELLVM_GEN_CORPUS_H
#define CELLVM_GEN_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_user.h"

/* Writes ROOT/dir/name. */
void put_file(const char *dir, const char *name, const void *buf, size_t len);
/* Encodes m into buf; its length. */
size_t enc(const struct vhu_msg *m, uint8_t *buf, size_t cap);
/* Descriptor i of the table at m + off. */
void desc(uint8_t *m, unsigned int off, unsigned int i, uint64_t addr, uint32_t len,
	  uint16_t flags, uint16_t next);

/* fuzz_backend's chunks, appended to bbuf (blen bytes so far). */
extern uint8_t bbuf[4096];
extern size_t blen;
void chunk_msg(const struct vhu_msg *m, bool with_fds);
void chunk_mem(uint16_t off, const void *p, size_t len);

/* gen_corpus_procs.c's writers. */
void gen_dev(void);
void gen_proc_device(void);
void gen_recv(void);
void gen_lifecycle(void);
void gen_dev_ctl(void);
void gen_balloon(void);
void gen_http_request(void);
void gen_rate_params(void);
void gen_vsock(void);
/* gen_corpus_fc.c's: cellvm-fc's. */
void gen_fc(void);

#endif
