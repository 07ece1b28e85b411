/* cellvm-spawner: the process that starts cellvmd's children (spawner.h). */
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

#include "event_loop.h"
#include "fds.h"
#include "log.h"
#include "msg.h"
#include "spawn_msg.h"

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

/* kids[i]'s pidfd is readable: reaps it and tells cellvmd how it ended.
 * false once cellvmd is gone. */
static bool report_end(int sock, size_t i)
{
	struct child_end end;
	int r = spawn_reap(kids[i].pidfd, &end);
	if (r == 0)
		return true;
	bool ok = true;
	if (r < 0) {
		/* Not ours to wait for after all: cellvmd counts it gone when
		 * no ENDED comes. */
		log_err("pid %d: waitid: %s; no longer tracked", (int)kids[i].pid, strerror(-r));
	} else {
		uint8_t out[SPAWN_MSG_ENDED_SIZE];
		spawn_msg_encode_ended(kids[i].pid, &end, out);
		int err = msg_send(sock, out, sizeof(out), NULL, 0, NULL, 0);
		if (err && err != -ECONNRESET)
			log_err("reporting the end of pid %d: %s", (int)kids[i].pid, strerror(-err));
		ok = err == 0;
	}
	close(kids[i].pidfd);
	kids[i] = kids[--nkids];
	return ok;
}

/* Answers one request. false once cellvmd is gone. */
static bool serve_one(int sock)
{
	/* One byte more than the largest request: a longer packet reads as too long. */
	static uint8_t buf[SPAWN_MSG_MAX_SIZE + 1];
	int fds[MSG_RX_MAX_FDS];
	size_t nfds;
	ssize_t n = msg_recv_some(sock, buf, sizeof(buf), 0, fds, &nfds);
	struct spawn_msg_req m;
	pid_t pid = 0;
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
	int result = n < 0 ? -EBADMSG : spawn_msg_decode_req(buf, (size_t)n, nfds, &m);
	if (result && n >= 0)
		log_ratelimited(LOG_LVL_WARN, "refused a malformed request (%zd bytes, %zu fds)", n,
				nfds);
	if (!result)
		result = start(&m, fds, &pid, &pidfd);
	/* The child has its copies; a refused request's fds go here too. */
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	uint8_t out[SPAWN_MSG_REPLY_SIZE];
	spawn_msg_encode_reply(result, pid, out);
	int err = msg_send(sock, out, sizeof(out), NULL, 0, &pidfd, pidfd >= 0);
	if (err && err != -ECONNRESET)
		log_err("replying: %s", strerror(-err));
	return err == 0;
}

/* Waits for a request or a child's end and handles what came. false once
 * cellvmd is gone. */
static bool serve(int sock)
{
	struct pollfd p[1 + SPAWNER_MAX_CHILDREN];
	size_t n = nkids;
	p[0] = (struct pollfd){ .fd = sock, .events = POLLIN };
	for (size_t i = 0; i < n; i++)
		p[1 + i] = (struct pollfd){ .fd = kids[i].pidfd, .events = POLLIN };
	if (poll(p, 1 + n, -1) < 0) {
		if (errno == EINTR)
			return true;
		log_err("poll: %m");
		return false;
	}
	/* Backwards: report_end() moves the last kid into the slot it empties,
	 * one whose pollfd was looked at already. */
	for (size_t i = n; i-- > 0;)
		if (p[1 + i].revents && !report_end(sock, i))
			return false;
	return !p[0].revents || serve_one(sock);
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

_Noreturn void spawner_run(const struct confine_opts *o, int sock, pid_t parent,
			    const char *const *allowed_paths, size_t n)
{
	allowed = allowed_paths;
	nallowed = n;
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
	while (serve(sock))
		;
	kill_all();
	_exit(0);
}
