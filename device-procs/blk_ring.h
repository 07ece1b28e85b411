/* cellvm-blk's io_uring, one per queue, made so that a process its guest
 * took over can use it for nothing but I/O on its disk. seccomp does not see
 * what a ring does, so the ring itself is confined, before the process is:
 * created disabled (IORING_SETUP_R_DISABLED), the disk registered as its
 * only file, then restricted (IORING_REGISTER_RESTRICTIONS) to readv,
 * writev and fsync on registered files only (IOSQE_FIXED_FILE required) and
 * to no io_uring_register operation, and only then enabled. Any other SQE
 * completes with -EACCES. Once confined, the process may call io_uring_enter
 * but neither io_uring_setup nor io_uring_register (policy/blk.policy).
 *
 * Completions signal an eventfd registered with the ring, which the device
 * watches in its event loop. */
#ifndef CELLVM_BLK_RING_H
#define CELLVM_BLK_RING_H

#include <liburing.h>
#include <stdbool.h>

/* The disk is fixed file 0 of every ring. */
#define BLK_RING_DISK 0

/* io-wq workers (writes, fsync) per ring's process: the sandbox's
 * RLIMIT_NPROC must leave room for them. */
#define BLK_RING_WORKERS 4u

struct blk_ring {
	struct io_uring ring;
	int efd; /* signalled on completions */
};

/* Whether io_uring_setup's error says the host keeps io_uring from this
 * process (the kernel.io_uring_disabled sysctl, a container's seccomp
 * profile such as Docker's default). */
bool blk_ring_refused(int err);

/* Sets up r with entries SQEs for disk_fd as above. 0, or -errno after one
 * log line; none when io_uring_setup is refused (blk_ring_refused): the
 * caller decides what that means. */
int blk_ring_init(struct blk_ring *r, int disk_fd, unsigned int entries);

/* The next SQE, prepared for nothing yet; submits what is queued to make
 * room if needed. NULL if the ring stays full. */
struct io_uring_sqe *blk_ring_sqe(struct blk_ring *r);

#ifdef CELLVM_TEST_HOOKS
#include "test_hooks.h"
/* Submits the SQE of a TEST_ESCAPE_URING_* kind on the (idle) ring r, whose
 * disk is disk_fd, and returns its CQE's result; -ENXIO if r was never set
 * up (efd -1: an image in memory has no ring). */
int blk_ring_escape(struct blk_ring *r, int disk_fd, enum test_escape kind);
#endif

#endif
