#include "tfe.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "fds.h"
#include "guest_mem.h"
#include "unix_sock.h"

#ifndef TFE_BUILDDIR
#error "TFE_BUILDDIR must name the build tree"
#endif

#define TFE_REPLY_TIMEOUT_MS 5000

const char *tfe_bin(const char *relpath)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/%s", TFE_BUILDDIR, relpath);
	return path;
}

int tfe_capabilities(const char *relpath, char *out, size_t cap)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "%s --print-capabilities", tfe_bin(relpath));
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	return pclose(p);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int map_memory(struct tfe *f, uint64_t mem_size)
{
	uint64_t half = mem_size / 2;
	void *base = mmap(NULL, mem_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	f->mem = base;
	f->mem_size = mem_size;
	for (int i = 0; i < 2; i++) {
		f->memfd[i] = gm_memfd_create("tfe-guest-ram", half);
		if (f->memfd[i] < 0)
			return f->memfd[i];
		/* Both halves side by side, so tests can address all of memory
		 * through one pointer while the backend sees two regions. */
		if (mmap(f->mem + i * half, half, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 f->memfd[i], 0) == MAP_FAILED)
			return -errno;
	}
	return 0;
}

static void tfe_reset(struct tfe *f)
{
	memset(f, 0, sizeof(*f));
	f->pid = -1;
	f->status = -ECHILD;
	f->sock = -1;
	f->memfd[0] = f->memfd[1] = -1;
	for (int i = 0; i < TFE_MAX_QUEUES; i++)
		f->q[i].kick_fd = f->q[i].call_fd = f->q[i].err_fd = -1;
}

/* Starts argv[0] with argv[1..] and then opt and val; keep_fd (or -1)
 * survives the exec. */
static int spawn(struct tfe *f, const char *const *argv, const char *opt, const char *val,
		 int keep_fd)
{
	size_t argc = 0;
	while (argv[argc])
		argc++;
	const char **args = calloc(argc + 3, sizeof(*args));
	if (!args)
		return -ENOMEM;
	memcpy(args, argv, argc * sizeof(*args));
	args[argc] = opt;
	args[argc + 1] = val;

	pid_t pid = fork();
	if (pid < 0) {
		int err = -errno;
		free(args);
		return err;
	}
	if (pid == 0) {
		if (keep_fd >= 0 && fcntl(keep_fd, F_SETFD, 0) < 0)
			_exit(127);
		execv(args[0], (char *const *)args);
		fprintf(stderr, "tfe: exec %s: %m\n", args[0]);
		_exit(127);
	}
	free(args);
	f->pid = pid;
	return 0;
}

static int start_common(struct tfe *f, uint64_t mem_size)
{
	tfe_reset(f);
	if (mem_size == 0 || mem_size % (2u << 20))
		return -EINVAL;
	f->heap = 0x1000; /* GPA 0 stays unused: a zero address is a bug */
	return map_memory(f, mem_size);
}

/* Starts argv with "--fd" on a new socketpair whose other end is f->sock. */
static int spawn_fd(struct tfe *f, const char *const *argv)
{
	int sv[2];
	int err;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
	err = spawn(f, argv, "--fd", fdarg, sv[1]);
	close(sv[1]);
	if (err) {
		close(sv[0]);
		return err;
	}
	f->sock = sv[0];
	return 0;
}

int tfe_start(struct tfe *f, const char *const *argv, uint64_t mem_size)
{
	int err = start_common(f, mem_size);
	return err ? err : spawn_fd(f, argv);
}

int tfe_respawn(struct tfe *f, const char *const *argv)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, &f->status, 0);
		f->pid = -1;
	}
	close_fd(&f->sock);
	f->features = f->protocol_features = 0;
	for (int i = 0; i < TFE_MAX_QUEUES; i++)
		f->q[i].set_up = false;
	return spawn_fd(f, argv);
}

/* Until the backend listens, or timeout_ms have passed. */
static int connect_path(const char *path, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int fd = unix_connect(path, 0);
		if ((fd != -ENOENT && fd != -ECONNREFUSED) || now_ms() >= deadline)
			return fd;
		usleep(10000);
	}
}

int tfe_start_path(struct tfe *f, const char *const *argv, uint64_t mem_size,
		   const char *path)
{
	int err = start_common(f, mem_size);
	if (err || (err = spawn(f, argv, "--socket-path", path, -1)))
		return err;
	f->sock = connect_path(path, 5000);
	return f->sock < 0 ? f->sock : 0;
}

int tfe_connect(struct tfe *f, uint64_t mem_size, const char *path)
{
	int err = start_common(f, mem_size);
	if (err)
		return err;
	f->sock = connect_path(path, 5000);
	return f->sock < 0 ? f->sock : 0;
}

int tfe_reconnect(struct tfe *f, const char *path)
{
	close(f->sock);
	f->features = f->protocol_features = 0;
	for (int i = 0; i < TFE_MAX_QUEUES; i++)
		f->q[i].set_up = false;
	f->sock = connect_path(path, 5000);
	return f->sock < 0 ? f->sock : 0;
}

int tfe_call(struct tfe *f, struct vhu_msg *m, const int *fds, size_t nfds,
	     struct vhu_msg *reply)
{
	bool own = vhu_request_has_reply(m->request);
	bool ack = !own && (f->protocol_features & BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK));
	if (ack)
		m->flags |= VHU_FLAG_NEED_REPLY;
	int err = vhu_send(f->sock, m, fds, nfds);
	if (err || (!own && !ack))
		return err;

	struct pollfd p = { .fd = f->sock, .events = POLLIN };
	int n = poll(&p, 1, TFE_REPLY_TIMEOUT_MS);
	if (n <= 0)
		return n == 0 ? -ETIMEDOUT : -errno;
	struct vhu_msg r;
	struct msg_fds rfds = { .n = 0 };
	err = vhu_recv(f->sock, &r, &rfds);
	if (err)
		return err;
	msg_fds_close(&rfds);
	if (!(r.flags & VHU_FLAG_REPLY) || r.request != m->request)
		return -EPROTO;
	if (reply)
		*reply = r;
	if (ack && r.u.u64 != 0)
		return -EIO;
	return 0;
}

static int call_u64(struct tfe *f, uint32_t request, uint64_t v)
{
	struct vhu_msg m = { .request = request, .kind = VHU_P_U64, .u.u64 = v };
	return tfe_call(f, &m, NULL, 0, NULL);
}

static int get_u64(struct tfe *f, uint32_t request, uint64_t *v)
{
	struct vhu_msg m = { .request = request, .kind = VHU_P_NONE }, r;
	int err = tfe_call(f, &m, NULL, 0, &r);
	if (!err)
		*v = r.u.u64;
	return err;
}

static int call_state(struct tfe *f, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhu_msg m = { .request = request, .kind = VHU_P_VRING_STATE,
			     .u.state = { .index = index, .num = num } };
	return tfe_call(f, &m, NULL, 0, NULL);
}

int tfe_negotiate(struct tfe *f, uint64_t want_features)
{
	uint64_t offered, pf;
	int err;
	if ((err = get_u64(f, VHU_GET_FEATURES, &offered)))
		return err;
	if (!(offered & BIT_ULL(VHU_F_PROTOCOL_FEATURES)))
		return -EPROTO;
	if ((err = get_u64(f, VHU_GET_PROTOCOL_FEATURES, &pf)))
		return err;
	pf &= BIT_ULL(VHU_PROTOCOL_F_REPLY_ACK) | BIT_ULL(VHU_PROTOCOL_F_CONFIG) |
	      BIT_ULL(VHU_PROTOCOL_F_MQ) | BIT_ULL(VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
	      BIT_ULL(VHU_PROTOCOL_F_INFLIGHT_SHMFD);
	if ((err = call_u64(f, VHU_SET_PROTOCOL_FEATURES, pf)))
		return err;
	f->protocol_features = pf;
	struct vhu_msg owner = { .request = VHU_SET_OWNER, .kind = VHU_P_NONE };
	if ((err = tfe_call(f, &owner, NULL, 0, NULL)))
		return err;
	uint64_t features = (offered & want_features) | BIT_ULL(VIRTIO_F_VERSION_1) |
			    BIT_ULL(VHU_F_PROTOCOL_FEATURES);
	if ((err = call_u64(f, VHU_SET_FEATURES, features)))
		return err;
	f->features = features;

	uint64_t half = f->mem_size / 2;
	struct vhu_msg mt = { .request = VHU_SET_MEM_TABLE, .kind = VHU_P_MEM_TABLE };
	mt.u.mem.nregions = 2;
	for (int i = 0; i < 2; i++)
		mt.u.mem.regions[i] = (struct vhu_mem_region){
			.gpa = i * half,
			.size = half,
			.uaddr = (uint64_t)(uintptr_t)(f->mem + i * half),
			.mmap_offset = 0,
		};
	return tfe_call(f, &mt, f->memfd, 2, NULL);
}

uint64_t tfe_alloc(struct tfe *f, uint64_t len)
{
	uint64_t gpa = (f->heap + 15) & ~15ull;
	cr_assert_leq(gpa + len, f->mem_size, "tfe: guest memory exhausted");
	f->heap = gpa + len;
	memset(f->mem + gpa, 0, len);
	return gpa;
}

void *tfe_ptr(struct tfe *f, uint64_t gpa)
{
	return f->mem + gpa;
}

static uint64_t uva(struct tfe *f, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)(f->mem + gpa);
}

static int vring_fd(struct tfe *f, uint32_t request, unsigned int qidx, int fd)
{
	struct vhu_msg m = { .request = request, .kind = VHU_P_U64, .u.u64 = qidx };
	return tfe_call(f, &m, &fd, 1, NULL);
}

int tfe_setup_queue(struct tfe *f, unsigned int qidx, uint16_t num)
{
	if (qidx >= TFE_MAX_QUEUES)
		return -EINVAL;
	struct tfe_queue *q = &f->q[qidx];
	int err;
	q->num = num;
	q->desc_gpa = tfe_alloc(f, virtq_desc_size(num));
	q->avail_gpa = tfe_alloc(f, virtq_avail_size(num));
	q->used_gpa = tfe_alloc(f, virtq_used_size(num));
	q->avail_idx = q->last_used = q->next_desc = q->kick_checked = 0;
	int *efds[] = { &q->kick_fd, &q->call_fd, &q->err_fd };
	for (int i = 0; i < 3; i++) {
		if (*efds[i] < 0 && (*efds[i] = new_eventfd()) < 0)
			return *efds[i];
	}
	if ((err = call_state(f, VHU_SET_VRING_NUM, qidx, num)) ||
	    (err = call_state(f, VHU_SET_VRING_BASE, qidx, 0)))
		return err;
	struct vhu_msg a = { .request = VHU_SET_VRING_ADDR, .kind = VHU_P_VRING_ADDR,
			     .u.addr = { .index = qidx,
					 .desc = uva(f, q->desc_gpa),
					 .used = uva(f, q->used_gpa),
					 .avail = uva(f, q->avail_gpa) } };
	if ((err = tfe_call(f, &a, NULL, 0, NULL)) ||
	    (err = vring_fd(f, VHU_SET_VRING_KICK, qidx, q->kick_fd)) ||
	    (err = vring_fd(f, VHU_SET_VRING_CALL, qidx, q->call_fd)) ||
	    (err = vring_fd(f, VHU_SET_VRING_ERR, qidx, q->err_fd)) ||
	    (err = call_state(f, VHU_SET_VRING_ENABLE, qidx, 1)))
		return err;
	q->set_up = true;
	return 0;
}

int tfe_resume_queue(struct tfe *f, unsigned int qidx, uint16_t base)
{
	if (qidx >= TFE_MAX_QUEUES || !f->q[qidx].num)
		return -EINVAL;
	struct tfe_queue *q = &f->q[qidx];
	int err;
	struct vhu_msg a = { .request = VHU_SET_VRING_ADDR, .kind = VHU_P_VRING_ADDR,
			     .u.addr = { .index = qidx,
					 .desc = uva(f, q->desc_gpa),
					 .used = uva(f, q->used_gpa),
					 .avail = uva(f, q->avail_gpa) } };
	if ((err = call_state(f, VHU_SET_VRING_NUM, qidx, q->num)) ||
	    (err = call_state(f, VHU_SET_VRING_BASE, qidx, base)) ||
	    (err = tfe_call(f, &a, NULL, 0, NULL)) ||
	    (err = vring_fd(f, VHU_SET_VRING_KICK, qidx, q->kick_fd)) ||
	    (err = vring_fd(f, VHU_SET_VRING_CALL, qidx, q->call_fd)) ||
	    (err = vring_fd(f, VHU_SET_VRING_ERR, qidx, q->err_fd)) ||
	    (err = call_state(f, VHU_SET_VRING_ENABLE, qidx, 1)))
		return err;
	q->set_up = true;
	return 0;
}

int tfe_get_inflight(struct tfe *f, uint16_t nq, uint16_t qsize, int *fd, uint64_t *size)
{
	struct vhu_msg m = { .request = VHU_GET_INFLIGHT_FD, .kind = VHU_P_INFLIGHT,
			     .u.inflight = { .num_queues = nq, .queue_size = qsize } }, r;
	int err = vhu_send(f->sock, &m, NULL, 0);
	if (err)
		return err;
	struct pollfd p = { .fd = f->sock, .events = POLLIN };
	if (poll(&p, 1, TFE_REPLY_TIMEOUT_MS) != 1)
		return -ETIMEDOUT;
	struct msg_fds fds;
	if ((err = vhu_recv(f->sock, &r, &fds)))
		return err;
	if (r.request != VHU_GET_INFLIGHT_FD || !(r.flags & VHU_FLAG_REPLY)) {
		msg_fds_close(&fds);
		return -EPROTO;
	}
	if (fds.n != 1 || !r.u.inflight.mmap_size) {
		msg_fds_close(&fds);
		return -ENODATA;
	}
	*fd = msg_fds_take(&fds, 0);
	*size = r.u.inflight.mmap_size;
	return 0;
}

int tfe_set_inflight(struct tfe *f, int fd, uint64_t size, uint16_t nq, uint16_t qsize)
{
	struct vhu_msg m = { .request = VHU_SET_INFLIGHT_FD, .kind = VHU_P_INFLIGHT,
			     .u.inflight = { .mmap_size = size, .num_queues = nq,
					     .queue_size = qsize } };
	return tfe_call(f, &m, &fd, 1, NULL);
}

int tfe_get_config(struct tfe *f, uint32_t off, void *buf, uint32_t len)
{
	struct vhu_msg m = { .request = VHU_GET_CONFIG, .kind = VHU_P_CONFIG,
			     .u.config = { .offset = off, .size = len } }, r;
	int err = tfe_call(f, &m, NULL, 0, &r);
	if (err)
		return err;
	if (r.u.config.size != len)
		return -EIO;
	memcpy(buf, r.u.config.data, len);
	return 0;
}

struct virtq_desc *tfe_desc(struct tfe *f, unsigned int qidx, uint16_t i)
{
	struct tfe_queue *q = &f->q[qidx];
	return (struct virtq_desc *)tfe_ptr(f, q->desc_gpa) + (i % q->num);
}

void tfe_kick(struct tfe *f, unsigned int qidx)
{
	struct tfe_queue *q = &f->q[qidx];
	uint64_t one = 1;
	q->kick_checked = q->avail_idx;
	cr_assert_eq(write(q->kick_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

bool tfe_kick_needed(struct tfe *f, unsigned int qidx)
{
	struct tfe_queue *q = &f->q[qidx];
	struct virtq_used *used = tfe_ptr(f, q->used_gpa);
	uint16_t old = q->kick_checked, new = q->avail_idx;
	q->kick_checked = new;
	/* Our avail->idx store must be visible before we read the device's
	 * suppression, or both sides may think the other one will look. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(f->features & BIT_ULL(VIRTIO_F_EVENT_IDX)))
		return !(__atomic_load_n(&used->flags, __ATOMIC_RELAXED) & VIRTQ_USED_F_NO_NOTIFY);
	uint16_t event = __atomic_load_n((uint16_t *)&used->ring[q->num], __ATOMIC_RELAXED);
	/* virtio 1.2 2.7.10.1: a kick if new passed avail_event since old. */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/* Writes head into the next avail slot and advances avail->idx. */
static void publish(struct tfe *f, struct tfe_queue *q, uint16_t head, uint16_t advance)
{
	struct virtq_avail *avail = tfe_ptr(f, q->avail_gpa);
	avail->ring[q->avail_idx % q->num] = head;
	q->avail_idx = (uint16_t)(q->avail_idx + advance);
	/* The ring entry must be visible before the index that publishes it. */
	__atomic_store_n(&avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

void tfe_avail_publish(struct tfe *f, unsigned int qidx, uint16_t head, uint16_t advance)
{
	publish(f, &f->q[qidx], head, advance);
	tfe_kick(f, qidx);
}

int tfe_post(struct tfe *f, unsigned int qidx, const struct tfe_buf *bufs, unsigned int n,
	     bool indirect)
{
	int head = tfe_post_nokick(f, qidx, bufs, n, indirect);
	if (head >= 0)
		tfe_kick(f, qidx);
	return head;
}

int tfe_post_nokick(struct tfe *f, unsigned int qidx, const struct tfe_buf *bufs,
		    unsigned int n, bool indirect)
{
	struct tfe_queue *q = &f->q[qidx];
	if (!q->set_up || n == 0 || (!indirect && n > q->num))
		return -EINVAL;
	struct virtq_desc *table;
	uint16_t first = q->next_desc;
	if (indirect) {
		uint64_t gpa = tfe_alloc(f, 16ull * n);
		table = tfe_ptr(f, gpa);
		*tfe_desc(f, qidx, first) = (struct virtq_desc){
			.addr = gpa, .len = 16 * n, .flags = VIRTQ_DESC_F_INDIRECT };
		q->next_desc = (uint16_t)((first + 1) % q->num);
	}
	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = indirect ? (uint16_t)i : (uint16_t)((first + i) % q->num);
		uint16_t next = indirect ? (uint16_t)(i + 1) : (uint16_t)((first + i + 1) % q->num);
		struct virtq_desc *d = indirect ? &table[idx] : tfe_desc(f, qidx, idx);
		*d = (struct virtq_desc){
			.addr = bufs[i].gpa,
			.len = bufs[i].len,
			.flags = (uint16_t)((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = i + 1 < n ? next : 0,
		};
	}
	if (!indirect)
		q->next_desc = (uint16_t)((first + n) % q->num);
	publish(f, q, first, 1);
	return first;
}

int tfe_wait_used(struct tfe *f, unsigned int qidx, int timeout_ms, uint32_t *id,
		  uint32_t *len)
{
	struct tfe_queue *q = &f->q[qidx];
	struct virtq_used *used = tfe_ptr(f, q->used_gpa);
	struct virtq_avail *avail = tfe_ptr(f, q->avail_gpa);
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		if (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) != q->last_used) {
			struct virtq_used_elem e = used->ring[q->last_used % q->num];
			q->last_used++;
			/* used_event: with EVENT_IDX, ask to hear of the next one. */
			avail->ring[q->num] = q->last_used;
			*id = e.id;
			*len = e.len;
			return 0;
		}
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		/* Short waits: the test must not depend on the interrupt policy. */
		struct pollfd p = { .fd = q->call_fd, .events = POLLIN };
		uint64_t left = deadline - now;
		if (poll(&p, 1, left < 10 ? (int)left : 10) > 0) {
			uint64_t v;
			if (read(q->call_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return -errno;
		}
	}
}

bool tfe_wait_err(struct tfe *f, unsigned int qidx, int timeout_ms)
{
	struct pollfd p = { .fd = f->q[qidx].err_fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	uint64_t v;
	return read(f->q[qidx].err_fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

int tfe_stop_queue(struct tfe *f, unsigned int qidx, uint16_t *base)
{
	struct vhu_msg m = { .request = VHU_GET_VRING_BASE, .kind = VHU_P_VRING_STATE,
			     .u.state = { .index = qidx } }, r;
	int err = tfe_call(f, &m, NULL, 0, &r);
	if (err)
		return err;
	if (r.u.state.index != qidx)
		return -EPROTO;
	*base = (uint16_t)r.u.state.num;
	return 0;
}

bool tfe_alive(struct tfe *f)
{
	if (f->pid <= 0)
		return false;
	if (waitpid(f->pid, &f->status, WNOHANG) == 0)
		return true;
	f->pid = -1;
	return false;
}

int tfe_finish(struct tfe *f)
{
	int status = f->status;
	close_fd(&f->sock);
	if (f->pid > 0) {
		uint64_t deadline = now_ms() + 5000;
		pid_t r;
		while ((r = waitpid(f->pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
			usleep(5000);
		if (r == 0) {
			kill(f->pid, SIGKILL);
			waitpid(f->pid, &status, 0);
		} else if (r < 0) {
			status = -errno;
		}
		f->pid = -1;
	}
	for (int i = 0; i < TFE_MAX_QUEUES; i++) {
		int *efds[] = { &f->q[i].kick_fd, &f->q[i].call_fd, &f->q[i].err_fd };
		for (int j = 0; j < 3; j++)
			close_fd(efds[j]);
	}
	for (int i = 0; i < 2; i++)
		if (f->memfd[i] >= 0)
			close(f->memfd[i]);
	if (f->mem)
		munmap(f->mem, f->mem_size);
	f->mem = NULL;
	return status;
}
