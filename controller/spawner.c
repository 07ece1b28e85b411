/* cellvm-spawner: the broker process and cellvmd's calls to it. */
#include "spawner.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"
#include "spawn_msg.h"

/* ---------------------------------------------------------------- the spawner */

struct kid {
	pid_t pid;
	int pidfd;
};

static struct kid kids[SPAWNER_MAX_CHILDREN];
static size_t nkids;
/* What it may start: the spawner's copy of cellvmd's list, made by fork. */
static const char *const *allowed;
static size_t nallowed;
/* Their environment: our policy's name while our filter kills, so that a
 * child it kills before the child's own filter is loaded still names it. */
static char *child_env[2];

static bool may_start(const char *path)
{
	for (size_t i = 0; i < nallowed; i++)
		if (strcmp(path, allowed[i]) == 0)
			return true;
	log_ratelimited(LOG_LVL_WARN, "refused to start %s: not one of the VM's binaries", path);
	return false;
}

static int start(const struct spawn_msg_req *m, const int *fds, pid_t *pid, int *pidfd)
{
	if (!may_start(m->path))
		return -EPERM;
	if (nkids == SPAWNER_MAX_CHILDREN)
		return -EAGAIN;
	struct spawn_fd sf[SPAWN_MSG_MAX_FDS];
	for (size_t i = 0; i < m->nfds; i++)
		sf[i] = (struct spawn_fd){ fds[i], m->target[i] };
	struct spawn_req req = { .path = m->path, .argv = m->argv, .fds = sf, .nfds = m->nfds,
				 .stderr_fd = m->has_stderr ? fds[m->nfds] : -1, .envp = child_env };
	int err = spawn_child(&req, pid, pidfd);
	if (err == 0)
		kids[nkids++] = (struct kid){ *pid, *pidfd };
	return err;
}

/* Only our own children, and each only until it was reaped. */
static int reap(pid_t pid, struct child_end *end)
{
	for (size_t i = 0; i < nkids; i++) {
		if (kids[i].pid != pid)
			continue;
		int r = spawn_reap(kids[i].pidfd, end);
		if (r == 1) {
			close(kids[i].pidfd);
			kids[i] = kids[--nkids];
		}
		return r;
	}
	return -ECHILD;
}

/* Answers one request. false once cellvmd is gone. */
static bool serve_one(int sock)
{
	/* One byte more than the largest request: a longer packet reads as too long. */
	static uint8_t buf[SPAWN_MSG_MAX_SIZE + 1];
	int fds[MSG_RX_MAX_FDS];
	size_t nfds;
	ssize_t n = msg_recv_some(sock, buf, sizeof(buf), 0, fds, &nfds);
	struct spawn_msg_reply reply = { 0 };
	struct spawn_msg_req m;
	int pidfd = -1;
	if (n == 0 || n == -ECONNRESET) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		return false;
	}
	if (n < 0 && n != -EMSGSIZE) {
		log_err("receiving a request: %s", strerror((int)-n));
		return false;
	}
	/* -EMSGSIZE: more fds than fit, all closed (msg_recv_some said so). */
	int err = n < 0 ? -EBADMSG : spawn_msg_decode_req(buf, (size_t)n, nfds, &m);
	if (err) {
		if (n >= 0)
			log_ratelimited(LOG_LVL_WARN, "refused a malformed request (%zd bytes, %zu fds)",
					n, nfds);
		reply.result = err;
	} else if (m.type == SPAWN_MSG_SPAWN) {
		reply.result = start(&m, fds, &reply.pid, &pidfd);
	} else {
		reply.result = reap(m.pid, &reply.end);
	}
	/* The child has its copies; a refused request's fds go here too. */
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	uint8_t out[SPAWN_MSG_REPLY_SIZE];
	spawn_msg_encode_reply(&reply, out);
	err = msg_send(sock, out, sizeof(out), NULL, 0, &pidfd, pidfd >= 0);
	if (err && err != -ECONNRESET)
		log_err("replying: %s", strerror(-err));
	return err == 0;
}

/* cellvmd is gone: so is every process it had us start. */
static void kill_all(void)
{
	for (size_t i = 0; i < nkids; i++)
		if (pidfd_send_signal(kids[i].pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
			log_err("pid %d: SIGKILL: %m", (int)kids[i].pid);
	for (size_t i = 0; i < nkids; i++) {
		struct child_end end;
		/* Our children: their pidfds are valid, and they do end. */
		(void)msg_wait(kids[i].pidfd, POLLIN, -1);
		(void)spawn_reap(kids[i].pidfd, &end);
		close(kids[i].pidfd);
	}
	nkids = 0;
}

static _Noreturn void run(const struct confine_opts *o, int sock, pid_t parent)
{
	log_init("cellvm-spawner", log_get_level());
	/* It lives exactly as long as cellvmd: killed with it, and not by the
	 * terminal's signals, which cellvmd handles by stopping the VM. */
	if (prctl(PR_SET_NAME, "cellvm-spawner") < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
		log_err("prctl: %m");
		_exit(1);
	}
	if (getppid() != parent)
		_exit(1);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	/* cellvmd's fds (/dev/kvm, its socket, a client) are none of ours,
	 * whether or not the sandbox closes them. */
	if ((sock > 3 && close_range(3, (unsigned)sock - 1, 0) < 0) ||
	    close_range((unsigned)sock + 1, ~0u, 0) < 0) {
		log_err("close_range: %m");
		_exit(1);
	}
	static char inherited[] = SANDBOX_INHERITED_ENV "=spawner.policy";
	child_env[0] = o->mode == SANDBOX_ON ? inherited : NULL;
	if (confine(o, &(struct confine_req){ .process = "cellvm-spawner", .kind = "spawner",
					      .keep_fds = &sock, .nkeep = 1,
					      /* every process of the VM, with what they
					       * start themselves and write */
					      .new_tasks = 4096, .spawns_confined = true,
					      .max_fds = 4096, .writes_files = true }) < 0)
		_exit(1);
	while (serve_one(sock))
		;
	kill_all();
	_exit(0);
}

/* ---------------------------------------------------------------- cellvmd's side */

int spawner_start(const struct confine_opts *o, const char *const *allowed_paths, size_t n,
		  struct spawner *sp)
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
		allowed = allowed_paths;
		nallowed = n;
		run(o, sv[1], parent);
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
	if (r == 1) {
		close(sp->pidfd);
		sp->pidfd = -1;
	}
	return r;
}

void spawner_stop(struct spawner *sp)
{
	if (sp->sock >= 0)
		close(sp->sock);
	sp->sock = -1;
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

/* Sends one request and reads its reply; the pidfd of a started child in *fd. */
static int call(int sock, const uint8_t *req, size_t len, const int *fds, size_t nfds,
		enum spawn_msg_type type, struct spawn_msg_reply *r, int *fd)
{
	int err = msg_send(sock, req, len, NULL, 0, fds, nfds);
	if (err)
		return err == -ECONNRESET ? -EPIPE : err;
	int ready = msg_wait(sock, POLLIN, SPAWNER_REPLY_MS);
	if (ready <= 0) {
		/* A late reply would answer the next request: this channel is
		 * done, and the spawner sees EOF. */
		if (shutdown(sock, SHUT_RDWR) < 0)
			return -errno;
		return ready < 0 ? ready : -ETIMEDOUT;
	}
	uint8_t buf[SPAWN_MSG_REPLY_SIZE + 1];
	int rx[MSG_RX_MAX_FDS];
	size_t nrx;
	ssize_t n = msg_recv_some(sock, buf, sizeof(buf), 0, rx, &nrx);
	if (n == 0 || n == -ECONNRESET)
		err = -EPIPE;
	else if (n < 0)
		return (int)n;
	else
		err = spawn_msg_decode_reply(buf, (size_t)n, type, nrx, r);
	if (err) {
		for (size_t i = 0; i < nrx; i++)
			close(rx[i]);
		return err;
	}
	*fd = nrx ? rx[0] : -1;
	return 0;
}

int spawner_spawn(int sock, const struct spawn_req *req, pid_t *pid, int *pidfd)
{
	static uint8_t buf[SPAWN_MSG_MAX_SIZE];
	ssize_t len = spawn_msg_encode_spawn(req, buf, sizeof(buf));
	if (len < 0)
		return (int)len;
	if (req->stderr_fd < -1)
		return -EINVAL;
	int fds[MSG_MAX_FDS];
	size_t n = 0;
	for (size_t i = 0; i < req->nfds; i++) {
		if (req->fds[i].fd < 0)
			return -EINVAL;
		fds[n++] = req->fds[i].fd;
	}
	if (req->stderr_fd >= 0)
		fds[n++] = req->stderr_fd;
	struct spawn_msg_reply r;
	int fd;
	int err = call(sock, buf, (size_t)len, fds, n, SPAWN_MSG_SPAWN, &r, &fd);
	if (err)
		return err;
	if (r.result < 0)
		return r.result;
	*pid = r.pid;
	*pidfd = fd;
	return 0;
}

int spawner_reap(int sock, pid_t pid, struct child_end *end)
{
	uint8_t req[SPAWN_MSG_REAP_SIZE];
	spawn_msg_encode_reap(pid, req);
	struct spawn_msg_reply r;
	int fd;
	int err = call(sock, req, sizeof(req), NULL, 0, SPAWN_MSG_REAP, &r, &fd);
	if (err)
		return err;
	if (r.result == 1)
		*end = r.end;
	return r.result;
}
