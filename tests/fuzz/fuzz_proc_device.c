/* libFuzzer harness, process level: the build tree's device binaries
 * (cellvm-rng, -console, -blk, -net, -balloon) each run as in production and are fed
 * vhost-user messages over their socket, so that what shows only in the
 * real process under its real seccomp filter is found too.
 *
 * Each input gets a fresh backend, started as cellvmd and cellvm-spawner
 * start one: spawn_child() (spawner/spawn.c) as PID 1 of its own user and
 * pid namespaces, with the argv child_args_build() writes for --sandbox on
 * (--given-ns), the socket at fd 3 and the resource at fd 4 (an
 * unlinked 1 MiB disk, a tap, a console socketpair), "--log-level warn";
 * the balloon with every queue it can have (stats, free page reporting).
 * The policy comes from the source tree (the device's default from the build
 * tree) rather than a --policy-fd bundle: the same files.
 *
 * Input: byte 0 picks the device (% 5: rng, console, blk, net, balloon); then chunks
 * as in fuzz_backend.c, each a LE u16 header and that many bytes:
 *   bit 15 clear: a vhost-user message, sent as it is but for its size
 *                 field, clipped to the bytes that follow (every message is
 *                 whole: a backend waiting for more is no finding); bit 14
 *                 set: with the fds vhu_decode takes for it (a dup of the
 *                 64 KiB guest-memory memfd for memory messages, else an
 *                 eventfd already signalled, so a kick fd kicks at once);
 *   bit 15 set, 14 clear: a guest-memory write: LE u16 offset, then bytes;
 *   bits 15 and 14: a message built by vhu_encode, so always well formed:
 *                 u8 request, u8 flags (bit 0: NEED_REPLY), then its
 *                 payload's fields in order, LE, from the bytes that follow
 *                 (zero past them); with the fds vhu_decode takes for it.
 * The length is the header's low 14 bits (13 with bit 15 set).
 * Replies are drained after each message; then GET_FEATURES must be answered
 * within 2 s (or the connection closed), and after we hang up the backend
 * must end within 2 s. Ending with any exit status is fine (it refused a
 * protocol violation); being killed by a signal (SIGSEGV, SIGABRT, SIGSYS
 * from its filter), not answering or not ending is a finding: abort() after
 * naming the device, what happened and the backend's log.
 *
 * Needs CELLVM_BUILDDIR (run-fuzz.sh sets it); without it, or where a device
 * does not start confined, its inputs are skipped after one line saying so.
 * cellvm-net needs a tap, which only CAP_NET_ADMIN creates: without it net
 * is skipped. libFuzzer sees only this file's coverage, not the backend's.
 *
 * Boundary: frontend (cellvm-vcpu) -> device process, the real process
 * Links: common/vhost_user.c common/msg.c common/guest_mem.c tests/fuzz/msg_fds.c common/log.c common/fds.c
 *   spawner/spawn.c spawner/spawn_ns.c spawner/child_args.c common/sandbox_mode.c */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "child_args.h"
#include "fds.h"
#include "guest_mem.h"
#include "log.h"
#include "msg.h"
#include "msg_fds.h"
#include "spawn.h"
#include "vhost_user.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM_SIZE 0x10000u
#define DISK_SIZE (1u << 20)
#define DEADLINE_MS 2000
#define SOCK_FD 3     /* cellvmd's DEVICE_FD_SOCKET */
#define RESOURCE_FD 4 /* and DEVICE_FD_RESOURCE */

enum { DEV_RNG, DEV_CONSOLE, DEV_BLK, DEV_NET, DEV_BALLOON, NDEV };
static const char *const dev_name[NDEV] = { "cellvm-rng", "cellvm-console", "cellvm-blk",
					    "cellvm-net", "cellvm-balloon" };
/* The option that names fd 4, as controller/device_kind.c gives it. */
static const char *const dev_opt[NDEV] = { NULL, "--host-fd", "--disk-fd", "--tap-fd", NULL };

static struct {
	char path[NDEV][PATH_MAX];
	bool usable[NDEV];
	int report;   /* our stderr before libFuzzer's -close_fd_mask closes it */
	int log[2];   /* the backend's stderr: a non-blocking pipe (a file would
		       * cost it RLIMIT_FSIZE), shown with a finding */
	char logbuf[4096];
	size_t loglen;
	int mem_fd;
	uint8_t *mem; /* our view of the guest memory */
	int disk, tap;
	/* The backend running now. */
	int dev;
	pid_t pid;
	int pidfd, sock, host;
	unsigned int get_features; /* sent, each to be answered in order */
} h = { .report = -1, .log = { -1, -1 }, .mem_fd = -1, .disk = -1, .tap = -1, .pid = -1,
	.pidfd = -1, .sock = -1, .host = -1 };

static uint8_t buf[0x4000];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdprintf(h.report >= 0 ? h.report : STDERR_FILENO, fmt, ap);
	va_end(ap);
}

/* Kills and reaps the backend, if one runs; closes our ends. */
static void backend_kill(void)
{
	if (h.pidfd >= 0) {
		struct child_end end;
		(void)kill(h.pid, SIGKILL);
		struct pollfd p = { .fd = h.pidfd, .events = POLLIN };
		(void)poll(&p, 1, -1);
		(void)spawn_reap(h.pidfd, &end);
	}
	close_fd(&h.pidfd);
	close_fd(&h.sock);
	close_fd(&h.host);
	h.pid = -1;
}

static void at_exit(void)
{
	backend_kill();
}

static int backend_start(int dev)
{
	int sv[2], cv[2] = { -1, -1 }, res = -1, err;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (dev == DEV_CONSOLE) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cv) < 0) {
			err = -errno;
			close(sv[0]);
			close(sv[1]);
			return err;
		}
		res = cv[1];
	}
	if (dev == DEV_BLK)
		res = h.disk;
	if (dev == DEV_NET)
		res = h.tap;
	char *argv[12] = { (char *)dev_name[dev], "--fd", "3" };
	size_t a = 3;
	if (dev_opt[dev]) {
		argv[a++] = (char *)dev_opt[dev];
		argv[a++] = "4";
	}
	if (dev == DEV_BALLOON) {
		argv[a++] = "--stats-interval";
		argv[a++] = "1";
		argv[a++] = "--free-page-reporting";
		argv[a++] = "--deflate-on-oom";
	}
	argv[a++] = "--log-level";
	argv[a++] = "warn";
	struct child_args ca;
	struct spawn_fd fds[2] = { { sv[1], SOCK_FD }, { res, RESOURCE_FD } };
	struct spawn_req req = { .path = h.path[dev], .fds = fds, .nfds = res >= 0 ? 2 : 1,
				 .stderr_fd = h.log[1], .own_ns = true };
	h.loglen = 0;
	h.get_features = 0;
	if ((err = child_args_build(argv, SANDBOX_ON, -1, false, true, &ca)) == 0) {
		req.argv = ca.argv;
		err = spawn_child(&req, &h.pid, &h.pidfd);
	}
	close(sv[1]);
	close_fd(&cv[1]);
	if (err < 0) {
		close(sv[0]);
		close_fd(&cv[0]);
		return err;
	}
	/* Something for the console's receiveq to take. */
	if (cv[0] >= 0 && send(cv[0], "fuzz\n", 5, MSG_DONTWAIT) < 0)
		say("fuzz_proc_device: console host side: %m\n");
	h.dev = dev;
	h.sock = sv[0];
	h.host = cv[0];
	return 0;
}

/* What the backend logged since it started: the first 4 KiB. */
static void read_log(void)
{
	char tmp[512];
	ssize_t n;
	while ((n = read(h.log[0], tmp, sizeof(tmp))) > 0) {
		size_t k = (size_t)n < sizeof(h.logbuf) - h.loglen ? (size_t)n
								   : sizeof(h.logbuf) - h.loglen;
		memcpy(h.logbuf + h.loglen, tmp, k);
		h.loglen += k;
	}
}

/* The console's output, so that it never waits for us. Replies stay queued
 * for probe(): 4 KiB of input cannot fill a socket buffer with them. */
static void drain(void)
{
	char tmp[512];
	while (h.host >= 0 && recv(h.host, tmp, sizeof(tmp), MSG_DONTWAIT) > 0)
		;
	read_log();
}

/* Decodes the len bytes at buf as the backend will, with the fd count
 * vhu_decode takes for them (that also shows libFuzzer, which sees none of
 * the backend's code, which messages are well formed); with_fds: makes
 * those fds, fresh. 0 or -errno. */
static int decode(size_t len, bool with_fds, struct msg_fds *fds)
{
	struct vhu_msg m;
	int err = fuzz_msg_fds(buf, len, h.mem_fd, 1, &m, fds);
	if (err == -EBADMSG)
		return 0; /* sent as it is, with no fds */
	if (err == 0 && !with_fds)
		msg_fds_close(fds);
	return err;
}

/* The next n (<= 8) bytes at *p as a LE number, zero past end. */
static uint64_t take(const uint8_t **p, const uint8_t *end, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && *p < end; i++)
		v |= (uint64_t)*(*p)++ << (8 * i);
	return v;
}

static void take_region(const uint8_t **p, const uint8_t *end, struct vhu_mem_region *r)
{
	r->gpa = take(p, end, 8);
	r->size = take(p, end, 8);
	r->uaddr = take(p, end, 8);
	r->mmap_offset = take(p, end, 8);
}

/* Builds a message from fields (see the header) into buf: its length, or 0
 * if the encoder refuses the fields. */
static size_t build(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	struct vhu_msg m = { .request = (uint32_t)take(&p, end, 1) };
	m.flags = (take(&p, end, 1) & 1) ? VHU_FLAG_NEED_REPLY : 0;
	if (vhu_payload_kind(m.request, false, &m.kind) < 0)
		return 0;
	switch (m.kind) {
	case VHU_P_NONE:
		break;
	case VHU_P_U64:
		m.u.u64 = take(&p, end, 8);
		break;
	case VHU_P_VRING_STATE:
		m.u.state.index = (uint32_t)take(&p, end, 4);
		m.u.state.num = (uint32_t)take(&p, end, 4);
		break;
	case VHU_P_VRING_ADDR:
		m.u.addr.index = (uint32_t)take(&p, end, 4);
		m.u.addr.flags = (uint32_t)take(&p, end, 4);
		m.u.addr.desc = take(&p, end, 8);
		m.u.addr.used = take(&p, end, 8);
		m.u.addr.avail = take(&p, end, 8);
		m.u.addr.log = take(&p, end, 8);
		break;
	case VHU_P_MEM_TABLE:
		m.u.mem.nregions = (uint32_t)(take(&p, end, 1) % (VHU_MAX_MEM_REGIONS + 1));
		for (uint32_t i = 0; i < m.u.mem.nregions; i++)
			take_region(&p, end, &m.u.mem.regions[i]);
		break;
	case VHU_P_MEM_REG:
		take_region(&p, end, &m.u.mem_reg);
		break;
	case VHU_P_CONFIG:
		m.u.config.offset = (uint32_t)take(&p, end, 4);
		m.u.config.size = (uint32_t)(take(&p, end, 2) % (VHU_MAX_CONFIG_SIZE + 1));
		m.u.config.flags = (uint32_t)take(&p, end, 4);
		for (uint32_t i = 0; i < m.u.config.size; i++)
			m.u.config.data[i] = (uint8_t)take(&p, end, 1);
		break;
	}
	size_t n;
	return vhu_encode(&m, buf, sizeof(buf), &n) == 0 ? n : 0;
}

/* Sends the input's chunks until it ends or the backend hangs up. */
static void feed(const uint8_t *data, size_t size)
{
	size_t pos = 0, len;
	uint16_t hd;
	const uint8_t *p;
	while (fuzz_chunk_next(data, size, &pos, &hd, &p, &len)) {
		bool with_fds = hd & 0x4000;
		if ((hd & 0xc000) == 0xc000) {
			if ((len = build(p, len)) == 0)
				continue;
		} else if (hd & 0x8000) {
			fuzz_chunk_mem(p, len, h.mem, MEM_SIZE);
			continue;
		} else {
			if (len < VHU_HDR_SIZE)
				continue;
			memcpy(buf, p, len);
			uint32_t sz = get_le32(buf + 8);
			if (sz > len - VHU_HDR_SIZE)
				put_le32(buf + 8, (uint32_t)(len - VHU_HDR_SIZE));
			else
				len = VHU_HDR_SIZE + sz;
		}
		if (get_le32(buf) == VHU_GET_FEATURES)
			h.get_features++;
		struct msg_fds fds = { .n = 0 };
		if (decode(len, with_fds, &fds) < 0)
			abort(); /* out of fds: a leak here */
		int r = msg_send(h.sock, buf, len, NULL, 0, fds.fd, fds.n);
		msg_fds_close(&fds);
		if (r < 0)
			return;
		drain();
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1: our GET_FEATURES, the last message, answered (after the input's own,
 * so everything before it was handled); 0: the backend hung up first;
 * -ETIMEDOUT. */
static int probe(void)
{
	struct vhu_msg m = { .request = VHU_GET_FEATURES };
	if (vhu_send(h.sock, &m, NULL, 0) < 0)
		return 0;
	h.get_features++;
	int64_t end = now_ms() + DEADLINE_MS;
	while (h.get_features > 0) {
		/* In slices: the console's output and the log keep flowing. */
		drain();
		int64_t left = end - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		int r = msg_wait(h.sock, POLLIN, left < 50 ? (int)left : 50);
		if (r < 0)
			return 0;
		if (r == 0)
			continue;
		struct msg_fds fds;
		r = vhu_recv(h.sock, &m, &fds);
		if (r == -ENOTSUP)
			continue;
		if (r < 0)
			return 0;
		msg_fds_close(&fds);
		if (m.request == VHU_GET_FEATURES && (m.flags & VHU_FLAG_REPLY))
			h.get_features--;
	}
	return 1;
}

/* Waits for the backend to end after we hung up: 1 with *end, or 0. */
static int await_end(struct child_end *end)
{
	struct pollfd p = { .fd = h.pidfd, .events = POLLIN };
	int64_t deadline = now_ms() + DEADLINE_MS, left;
	int r = 0;
	/* In slices, reading its log, which it may still be writing. */
	while (r <= 0 && (left = deadline - now_ms()) > 0) {
		read_log();
		r = poll(&p, 1, left < 50 ? (int)left : 50);
		if (r < 0 && errno != EINTR)
			return 0;
	}
	if (r <= 0)
		return 0;
	if (spawn_reap(h.pidfd, end) != 1)
		abort();
	close_fd(&h.pidfd);
	h.pid = -1;
	return 1;
}

static void show_log(void)
{
	read_log();
	if (h.loglen)
		say("%s's log:\n%.*s", dev_name[h.dev], (int)h.loglen, h.logbuf);
}

static _Noreturn void finding(const char *what)
{
	say("fuzz_proc_device: FINDING: %s %s\n", dev_name[h.dev], what);
	show_log();
	backend_kill();
	abort();
}

/* Runs one input against a fresh backend of dev: 1 alive to the end, 0 it
 * hung up early (a refusal), or a finding. */
static int run(int dev, const uint8_t *data, size_t size)
{
	int err = backend_start(dev);
	if (err < 0) {
		say("fuzz_proc_device: starting %s: %s\n", h.path[dev], strerror(-err));
		abort();
	}
	feed(data, size);
	int alive = probe();
	if (alive < 0)
		finding("gave no reply to GET_FEATURES within 2 s");
	close_fd(&h.sock);
	close_fd(&h.host);
	struct child_end end;
	if (!await_end(&end))
		finding("did not end within 2 s of the frontend's hang-up");
	if (end.signaled) {
		char why[96], what[128];
		child_end_describe(&end, why, sizeof(why));
		snprintf(what, sizeof(what), "was %s", why);
		finding(what);
	}
	return alive;
}

static int open_tap(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "cvfuzz%%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_proc_device", LOG_LVL_ERROR);
	h.report = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	const char *dir = getenv("CELLVM_BUILDDIR");
	if (!dir) {
		say("fuzz_proc_device: CELLVM_BUILDDIR is not set (tests/fuzz/run-fuzz.sh sets "
		    "it): every input skipped\n");
		return 0;
	}
	if (pipe2(h.log, O_NONBLOCK | O_CLOEXEC) < 0)
		abort();
	h.mem_fd = gm_memfd_create("fuzz-proc-device", MEM_SIZE);
	h.disk = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (h.mem_fd < 0 || h.disk < 0 || ftruncate(h.disk, DISK_SIZE) < 0)
		abort();
	h.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, h.mem_fd, 0);
	if (h.mem == MAP_FAILED)
		abort();
	if (atexit(at_exit) != 0)
		abort();
	h.tap = open_tap();
	if (h.tap < 0)
		say("fuzz_proc_device: cellvm-net skipped: no tap (%s; creating one needs "
		    "CAP_NET_ADMIN)\n", strerror(-h.tap));
	/* Each device once with no input: those that do not come up confined
	 * here (no namespaces, say) are skipped, not reported. */
	for (int d = 0; d < NDEV; d++) {
		snprintf(h.path[d], sizeof(h.path[d]), "%s/device-procs/%s", dir, dev_name[d]);
		if (access(h.path[d], X_OK) != 0) {
			say("fuzz_proc_device: %s skipped: %s: %m\n", dev_name[d], h.path[d]);
			continue;
		}
		if (d == DEV_NET && h.tap < 0)
			continue;
		if (run(d, NULL, 0) != 1) {
			say("fuzz_proc_device: %s skipped: it does not come up confined here\n",
			    dev_name[d]);
			show_log();
			continue;
		}
		h.usable[d] = true;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || !h.usable[data[0] % NDEV])
		return 0;
	memset(h.mem, 0, MEM_SIZE);
	run(data[0] % NDEV, data + 1, size - 1);
	return 0;
}
