/* tfe: a test vhost-user frontend that also plays the guest driver.
 *
 * It creates guest memory as a memfd, starts a backend binary as a separate
 * process connected by a socketpair (--fd), negotiates, sets up rings in that
 * memory and posts descriptor chains the way a virtio driver would. Tests and
 * benchmarks use it to drive the device processes across a real process
 * boundary. Raw access to the rings (tfe_desc, tfe_avail_publish) lets
 * hostile-guest tests write anything a guest could.
 *
 * Guest memory is [0, mem_size) in two memfd regions split at mem_size/2, so
 * buffers can straddle a region boundary. All functions return 0 or -errno. */
#ifndef CELLVM_TFE_H
#define CELLVM_TFE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vhost_user.h"
#include "virtq.h"

#define TFE_MAX_QUEUES 8

struct tfe_queue {
	uint16_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	int kick_fd, call_fd, err_fd; /* our ends (eventfds) */
	uint16_t avail_idx;           /* next avail slot we publish */
	uint16_t last_used;           /* next used entry we consume */
	uint16_t next_desc;           /* next free descriptor (round robin) */
	uint16_t kick_checked;        /* avail_idx when we last kicked or chose not to */
	bool set_up;
};

struct tfe {
	pid_t pid;                     /* -1 once reaped */
	int status;                    /* wait status once reaped */
	int sock;
	int memfd[2];
	uint8_t *mem;                  /* both regions, mapped contiguously */
	uint64_t mem_size;
	uint64_t heap;                 /* bump allocator for buffers (GPA) */
	uint64_t features;             /* negotiated */
	uint64_t protocol_features;    /* negotiated */
	struct tfe_queue q[TFE_MAX_QUEUES];
};

/* One buffer of a chain: device-writable if `write`. */
struct tfe_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Path of a binary built in this tree ("device-procs/cellvm-rng"). */
const char *tfe_bin(const char *relpath);

/* Runs the binary with --print-capabilities and puts what it printed (up to
 * cap - 1 bytes, NUL-terminated) in out. Returns its exit status. */
int tfe_capabilities(const char *relpath, char *out, size_t cap);

/* Creates guest memory of mem_size bytes (a multiple of 2 MiB) and starts
 * argv[0] with argv[1..] plus "--fd N". argv is NULL-terminated. */
int tfe_start(struct tfe *f, const char *const *argv, uint64_t mem_size);

/* Like tfe_start, but the backend gets "--socket-path path" and we connect
 * to it (waiting up to 5 s for it to listen). */
int tfe_start_path(struct tfe *f, const char *const *argv, uint64_t mem_size,
		   const char *path);

/* Creates guest memory of mem_size bytes and connects to a backend someone
 * else started, listening on path (waiting up to 5 s). tfe_finish then only
 * hangs up (and returns -ECHILD): there is no process of ours to wait for. */
int tfe_connect(struct tfe *f, uint64_t mem_size, const char *path);

/* Hangs up and connects again to path as a new frontend: negotiation and
 * queues start over; guest memory is kept. */
int tfe_reconnect(struct tfe *f, const char *path);

/* Kills the backend (SIGKILL) if it still runs, reaps it, and starts argv
 * on a new socket as tfe_start does; guest memory and the queues' layout
 * and eventfds are kept, negotiation starts over. */
int tfe_respawn(struct tfe *f, const char *const *argv);

/* GET_FEATURES; SET_FEATURES(offered & want, always with VERSION_1 and
 * PROTOCOL_FEATURES); GET/SET_PROTOCOL_FEATURES (REPLY_ACK, CONFIG, MQ,
 * CONFIGURE_MEM_SLOTS, INFLIGHT_SHMFD where offered); SET_OWNER; SET_MEM_TABLE. */
int tfe_negotiate(struct tfe *f, uint64_t want_features);

/* Lays out a queue of num entries in guest memory and sends SET_VRING_NUM,
 * BASE(0), ADDR, KICK, CALL, ERR and ENABLE(1). */
int tfe_setup_queue(struct tfe *f, unsigned int qidx, uint16_t num);

/* Sends one message and, when it has a reply (GET_* or REPLY_ACK via
 * NEED_REPLY), receives it into *reply (may be NULL). A NACK is -EIO. */
int tfe_call(struct tfe *f, struct vhu_msg *m, const int *fds, size_t nfds,
	     struct vhu_msg *reply);

/* GET_CONFIG of [off, off+len) into buf. */
int tfe_get_config(struct tfe *f, uint32_t off, void *buf, uint32_t len);

/* Allocates len bytes of guest memory (16-byte aligned, zeroed); returns
 * its GPA. Aborts the test if memory runs out. */
uint64_t tfe_alloc(struct tfe *f, uint64_t len);
/* Host pointer to guest memory at gpa (the caller keeps within bounds). */
void *tfe_ptr(struct tfe *f, uint64_t gpa);

/* Writes a chain of n buffers into the descriptor table (indirect: as one
 * indirect table), publishes it in the avail ring and kicks. Returns the
 * head index (>= 0). */
int tfe_post(struct tfe *f, unsigned int qidx, const struct tfe_buf *bufs, unsigned int n,
	     bool indirect);

/* As tfe_post, without the kick: a driver that asks tfe_kick_needed. */
int tfe_post_nokick(struct tfe *f, unsigned int qidx, const struct tfe_buf *bufs,
		    unsigned int n, bool indirect);

/* What a driver asks once it has published buffers: does the device want a
 * kick for those published since the last kick or the last time this was
 * asked (avail_event with EVENT_IDX, else the used ring's NO_NOTIFY)? A
 * device that says no must find them without one. */
bool tfe_kick_needed(struct tfe *f, unsigned int qidx);
void tfe_kick(struct tfe *f, unsigned int qidx);

/* Raw access for hostile tests: descriptor i of queue qidx, and publishing
 * `head` in the next avail slot with avail->idx advanced by `advance`
 * (normally 1), then a kick. */
struct virtq_desc *tfe_desc(struct tfe *f, unsigned int qidx, uint16_t i);
void tfe_avail_publish(struct tfe *f, unsigned int qidx, uint16_t head, uint16_t advance);

/* Waits up to timeout_ms for the next used element of qidx: 0 and the element
 * in *id and *len, or -ETIMEDOUT. */
int tfe_wait_used(struct tfe *f, unsigned int qidx, int timeout_ms, uint32_t *id,
		  uint32_t *len);

/* True if the backend signalled the queue's err eventfd (a broken ring)
 * within timeout_ms. */
bool tfe_wait_err(struct tfe *f, unsigned int qidx, int timeout_ms);

/* GET_VRING_BASE for qidx: stops the ring, returns the next avail index. */
int tfe_stop_queue(struct tfe *f, unsigned int qidx, uint16_t *base);

/* True if the backend process is still running (reaps it otherwise; its
 * status is kept for tfe_finish). */
bool tfe_alive(struct tfe *f);

/* Closes our socket end (the backend should exit), waits for it and frees
 * everything. Returns the backend's wait status, or -errno. Kills it with
 * SIGKILL if it has not exited within 5 s. */
int tfe_finish(struct tfe *f);

/* In-flight tracking. GET_INFLIGHT_FD for
 * nq queues of qsize: the region's fd (ours) and size; -ENODATA if the
 * backend gave none. */
int tfe_get_inflight(struct tfe *f, uint16_t nq, uint16_t qsize, int *fd, uint64_t *size);
/* SET_INFLIGHT_FD with that region. */
int tfe_set_inflight(struct tfe *f, int fd, uint64_t size, uint16_t nq, uint16_t qsize);
/* A queue laid out before (tfe_setup_queue) started again on the current
 * backend with the same rings and eventfds, from base: NUM, BASE, ADDR,
 * KICK, CALL, ERR, ENABLE(1). */
int tfe_resume_queue(struct tfe *f, unsigned int qidx, uint16_t base);

#endif
