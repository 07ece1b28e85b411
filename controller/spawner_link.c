/* cellvmd's side of cellvm-spawner (spawner_link.h). */
#include "spawner_link.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "event_loop.h"
#include "fds.h"
#include "log.h"
#include "msg.h"
#include "spawn_msg.h"

int spawner_start(const struct spawner_cfg *c, struct spawner *sp)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err("spawner: socketpair: %m");
		return -errno;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		spawner_run(c, sv[1], parent);
	}
	int err = pid < 0 ? -errno : 0;
	close(sv[1]);
	int pidfd = pid < 0 ? -1 : pidfd_open(pid, 0);
	if (pid > 0 && pidfd < 0) {
		err = -errno;
		(void)kill(pid, SIGKILL); /* our unreaped child: cannot fail */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (err) {
		log_err("spawner: %s: %s", pid < 0 ? "fork" : "pidfd_open", strerror(-err));
		close(sv[0]);
		return err;
	}
	*sp = (struct spawner){ .pid = pid, .pidfd = pidfd, .sock = sv[0] };
	return 0;
}

int spawner_reaped(struct spawner *sp, struct child_end *end)
{
	int r = spawn_reap(sp->pidfd, end);
	if (r == 1)
		close_fd(&sp->pidfd);
	return r;
}

void spawner_stop(struct spawner *sp)
{
	close_fd(&sp->sock);
	if (sp->pidfd < 0)
		return;
	/* It exits at the EOF, unless it is stuck (stopped, say). */
	if (msg_wait(sp->pidfd, POLLIN, SPAWNER_EXIT_MS) <= 0 &&
	    pidfd_send_signal(sp->pidfd, SIGKILL, NULL, 0) < 0)
		log_err("spawner: SIGKILL: %m");
	(void)msg_wait(sp->pidfd, POLLIN, -1); /* our child, which ends now */
	struct child_end end;
	(void)spawner_reaped(sp, &end); /* our own child: it cannot fail */
}

/* The ENDEDs that came while spawner_spawn() waited for its reply, until
 * spawner_next_ended() hands them out. cellvmd has one spawner, which
 * tracks at most SPAWNER_MAX_CHILDREN: an honest one never sends more
 * before cellvmd's event loop takes them. */
static struct {
	pid_t pid;
	struct child_end end;
} kept[SPAWNER_MAX_CHILDREN];
static size_t nkept;

int spawner_shut(int sock)
{
	if (shutdown(sock, SHUT_RDWR) < 0)
		return -errno;
	/* What it sent is not believed: dropped, kept or queued. It cannot
	 * send more (the shutdown reaches its end too), so this ends; a
	 * zero-length packet ends it early, as it reads like EOF. */
	nkept = 0;
	uint8_t buf[SPAWN_MSG_ENDED_SIZE];
	int rx[MSG_RX_MAX_FDS];
	size_t nrx;
	while (msg_recv_some(sock, buf, sizeof(buf), MSG_DONTWAIT, rx, &nrx) > 0)
		for (size_t i = 0; i < nrx; i++)
			close(rx[i]);
	return 0;
}

/* Receives one message without waiting: 1 with *m (and the pidfd of a
 * started child in *fd), 0 if none is there, -EPIPE once the spawner is gone,
 * -EBADMSG for a malformed one, -errno. The channel is shut for good at
 * -EPIPE and -EBADMSG: a spawner that breaks the protocol is not believed
 * again, and a zero-length packet reads as its end. */
static int recv_one(int sock, struct spawn_msg_from_spawner *m, int *fd)
{
	uint8_t buf[SPAWN_MSG_ENDED_SIZE + 1];
	int rx[MSG_RX_MAX_FDS];
	size_t nrx;
	ssize_t n = msg_recv_some(sock, buf, sizeof(buf), MSG_DONTWAIT, rx, &nrx);
	if (n == -EAGAIN)
		return 0;
	int err = n == 0 || n == -ECONNRESET ? -EPIPE
		  : n == -EMSGSIZE	     ? -EBADMSG /* more fds than fit: all closed */
		  : n < 0		     ? (int)n
					     : spawn_msg_decode_from_spawner(buf, (size_t)n, nrx, m);
	if (err) {
		for (size_t i = 0; i < nrx; i++)
			close(rx[i]);
		if (err == -EPIPE || err == -EBADMSG)
			(void)spawner_shut(sock);
		return err;
	}
	*fd = nrx ? rx[0] : -1;
	return 1;
}

/* Sends a SPAWN and waits for its REPLY, keeping the ENDEDs that come first. */
static int call(int sock, const uint8_t *req, size_t len, const int *fds, size_t nfds,
		struct spawn_msg_from_spawner *r, int *fd)
{
	int err = msg_send(sock, req, len, NULL, 0, fds, nfds);
	if (err)
		return err == -ECONNRESET ? -EPIPE : err;
	uint64_t deadline = evloop_now_ns() + SPAWNER_REPLY_MS * 1000000ull;
	for (;;) {
		uint64_t now = evloop_now_ns();
		int ready = now < deadline ? msg_wait(sock, POLLIN, (int)((deadline - now) / 1000000))
					   : 0;
		if (ready <= 0) {
			/* A late reply would answer the next request: this
			 * channel is done, and the spawner sees EOF. */
			err = spawner_shut(sock);
			return err ? err : ready < 0 ? ready : -ETIMEDOUT;
		}
		int got = recv_one(sock, r, fd);
		if (got < 0)
			return got;
		if (got == 0)
			continue; /* woken for nothing */
		if (r->type == SPAWN_MSG_REPLY)
			return 0;
		if (nkept == SPAWNER_MAX_CHILDREN) {
			(void)spawner_shut(sock);
			return -EBADMSG;
		}
		kept[nkept].pid = r->pid;
		kept[nkept++].end = r->end;
	}
}

int spawner_spawn(int sock, const struct spawn_req *req, enum sandbox_mode mode, pid_t *pid,
		  int *pidfd)
{
	static uint8_t buf[SPAWN_MSG_MAX_SIZE];
	ssize_t len = spawn_msg_encode_spawn(req, mode, buf, sizeof(buf));
	if (len < 0)
		return (int)len;
	if (req->stderr_fd < -1 || (req->in_cgroup && req->cgroup_procs_fd < 0))
		return -EINVAL;
	int fds[SPAWN_MSG_MAX_RIGHTS];
	size_t n = 0;
	for (size_t i = 0; i < req->nfds; i++) {
		if (req->fds[i].fd < 0)
			return -EINVAL;
		fds[n++] = req->fds[i].fd;
	}
	if (req->stderr_fd >= 0)
		fds[n++] = req->stderr_fd;
	if (req->in_cgroup)
		fds[n++] = req->cgroup_procs_fd;
	struct spawn_msg_from_spawner r;
	int fd;
	int err = call(sock, buf, (size_t)len, fds, n, &r, &fd);
	if (err)
		return err;
	if (r.result < 0)
		return r.result;
	*pid = r.pid;
	*pidfd = fd;
	return 0;
}

int spawner_next_ended(int sock, pid_t *pid, struct child_end *end)
{
	if (nkept > 0) {
		*pid = kept[0].pid;
		*end = kept[0].end;
		nkept--;
		memmove(kept, kept + 1, nkept * sizeof(kept[0]));
		return 1;
	}
	struct spawn_msg_from_spawner m;
	int fd;
	int r = recv_one(sock, &m, &fd);
	if (r <= 0)
		return r;
	if (m.type != SPAWN_MSG_ENDED) {
		/* A reply when nothing was asked. */
		if (fd >= 0)
			close(fd);
		(void)spawner_shut(sock);
		return -EBADMSG;
	}
	*pid = m.pid;
	*end = m.end;
	return 1;
}
