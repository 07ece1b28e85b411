#include "blk_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/* Every operation the device submits (device-procs/blk_io.c). */
static const unsigned char allowed_ops[] = { IORING_OP_READV, IORING_OP_WRITEV,
					     IORING_OP_FSYNC };

/* liburing 2.3 (Debian 12) declares io_uring_register_restrictions and
 * io_uring_enable_rings but does not export them: the system call itself. */
static int ring_register(struct io_uring *ring, unsigned int op, void *arg, unsigned int n)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, n) < 0 ? -errno : 0;
}

static int restrict_ring(struct io_uring *ring)
{
	struct io_uring_restriction res[sizeof(allowed_ops) + 2];
	unsigned int n = 0;
	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < sizeof(allowed_ops); i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = allowed_ops[i];
	}
	/* Registered files only: the disk, nothing the process could open or
	 * be sent later. No other SQE flag (links, buffer selection). */
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = 0;
	/* No IORING_RESTRICTION_REGISTER_OP: no io_uring_register operation
	 * is allowed once the ring is enabled. */
	return ring_register(ring, IORING_REGISTER_RESTRICTIONS, res, n);
}

bool blk_ring_refused(int err)
{
	return err == -EPERM || err == -ENOSYS || err == -EACCES;
}

int blk_ring_init(struct blk_ring *r, int disk_fd, unsigned int entries)
{
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
	const char *step = "io_uring_setup";
	int err;
	r->efd = -1;
	if ((err = io_uring_queue_init_params(entries, &r->ring, &p)) < 0) {
		/* The caller decides what a refusal means. */
		if (!blk_ring_refused(err))
			log_err("blk: io_uring_setup: %s", strerror(-err));
		return err;
	}
	/* blk_io.c reuses its iovec arrays once a submission returns. */
	if (!(p.features & IORING_FEAT_SUBMIT_STABLE)) {
		log_err("blk: io_uring without IORING_FEAT_SUBMIT_STABLE (Linux 5.5)");
		err = -ENOSYS;
		goto fail;
	}
	unsigned int workers[2] = { BLK_RING_WORKERS, BLK_RING_WORKERS };
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		err = -errno;
		step = "eventfd";
	} else if ((err = io_uring_register_files(&r->ring, &disk_fd, 1)) < 0) {
		step = "IORING_REGISTER_FILES";
	} else if ((err = io_uring_register_eventfd(&r->ring, r->efd)) < 0) {
		step = "IORING_REGISTER_EVENTFD";
	} else if ((err = io_uring_register_iowq_max_workers(&r->ring, workers)) < 0) {
		step = "IORING_REGISTER_IOWQ_MAX_WORKERS";
	} else if ((err = restrict_ring(&r->ring)) < 0) {
		step = "IORING_REGISTER_RESTRICTIONS";
	} else if ((err = ring_register(&r->ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0)) < 0) {
		step = "IORING_REGISTER_ENABLE_RINGS";
	}
	if (err == 0)
		return 0;
	log_err("blk: %s: %s", step, strerror(-err));
fail:
	if (r->efd >= 0)
		close(r->efd);
	r->efd = -1;
	io_uring_queue_exit(&r->ring);
	return err;
}

struct io_uring_sqe *blk_ring_sqe(struct blk_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (!sqe && io_uring_submit(&r->ring) >= 0)
		sqe = io_uring_get_sqe(&r->ring);
	return sqe;
}

#ifdef CELLVM_TEST_HOOKS
#include <netinet/in.h>

/* Not a request's slot (blk_io.c ignores it). */
#define ESCAPE_TAG 0xe5ca9eull

int blk_ring_escape(struct blk_ring *r, int disk_fd, enum test_escape kind)
{
	static char buf[512];
	static struct iovec iov = { buf, sizeof(buf) };
	static struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = 0x5000 };
	if (r->efd < 0)
		return -ENXIO; /* no ring: the synchronous data path */
	struct io_uring_sqe *sqe = blk_ring_sqe(r);
	if (!sqe)
		return -EBUSY;
	switch (kind) {
	case TEST_ESCAPE_URING_READ:
		io_uring_prep_readv(sqe, BLK_RING_DISK, &iov, 1, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		break;
	case TEST_ESCAPE_URING_OPENAT:
		io_uring_prep_openat(sqe, AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
		break;
	case TEST_ESCAPE_URING_CONNECT:
		io_uring_prep_connect(sqe, 0, (struct sockaddr *)&sin, sizeof(sin));
		break;
	case TEST_ESCAPE_URING_UNFIXED:
		io_uring_prep_readv(sqe, disk_fd, &iov, 1, 0);
		break;
	default:
		return -EINVAL;
	}
	sqe->user_data = ESCAPE_TAG;
	struct io_uring_cqe *cqe;
	int err = io_uring_submit_and_wait(&r->ring, 1);
	if (err < 0 || (err = io_uring_peek_cqe(&r->ring, &cqe)) < 0)
		return err;
	if (cqe->user_data != ESCAPE_TAG)
		return -EBUSY; /* the ring was not idle: a request's completion */
	int res = cqe->res;
	io_uring_cqe_seen(&r->ring, cqe);
	return res;
}
#endif
