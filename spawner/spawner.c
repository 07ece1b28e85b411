/* cellvm-spawner: the process that starts cellvmd's children (spawner.h). */
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_args.h"
#include "event_loop.h"
#include "fds.h"
#include "log.h"
#include "msg.h"
#include "spawn_msg.h"
#include "spawn_ns.h"

struct kid {
	pid_t pid;
	int pidfd;
};

static struct kid kids[SPAWNER_MAX_CHILDREN];
static size_t nkids;
/* Its settings: the spawner's copy of cellvmd's, made by fork. */
static const struct spawner_cfg *cfg;
/* Each binary as it was at our start: an O_PATH fd (or -errno of its open),
 * and its kind's policy bundle, a sealed memfd. */
static int bin_fd[SPAWNER_MAX_BINARIES], policy_fd[SPAWNER_MAX_BINARIES];
/* Their environment: glibc's malloc without its per-thread cache, which
 * keeps freed chunks out of malloc_trim()'s reach: those the compilation of
 * a child's policy leaves behind, scattered over its heap, would hold on to
 * about 50 KiB a process. And our policy's name while our filter kills, so
 * that a child it kills before the child's own filter is loaded still
 * names it. */
static char *child_env[3];
/* Whether the kernel makes user and pid namespaces for a confined child at
 * its clone: then it starts as PID 1 there, with no reaper of its own.
 * Found out once, at the first confined child, as the children will be
 * started (confined). Where the kernel refuses, each confined child makes
 * its namespaces itself (with a reaper), or runs without them as
 * --allow-degraded says. */
static bool own_ns_works(void)
{
	static bool known, own_ns;
	if (!known) {
		own_ns = spawn_ns_works();
		known = true;
		if (!own_ns)
			log_info("no user and pid namespaces at a child's clone: each confined "
				 "child makes its own");
	}
	return own_ns;
}

/* Which of our binaries path is, or -EPERM. */
static int which(const char *path)
{
	for (size_t i = 0; i < cfg->nbins; i++)
		if (strcmp(path, cfg->bins[i].path) == 0)
			return (int)i;
	log_ratelimited(LOG_LVL_WARN, "refused to start %s: not one of the VM's binaries", path);
	return -EPERM;
}

/* The lowest fd number >= 3 that m does not place. */
static int free_target(const struct spawn_msg_req *m)
{
	for (int t = 3;; t++) {
		size_t i = 0;
		while (i < m->nfds && m->target[i] != t)
			i++;
		if (i == m->nfds)
			return t;
	}
}

_Static_assert(SPAWN_MSG_MAX_FDS + 1 <= SPAWN_MAX_FDS, "a request's fds and the policy's");

static int start(const struct spawn_msg_req *m, const int *fds, pid_t *pid, int *pidfd)
{
	int b = which(m->path);
	if (b < 0)
		return b;
	if (!cfg->may_ask[m->mode]) {
		log_ratelimited(LOG_LVL_WARN, "refused to start %s with --sandbox %s: below the "
				"operator's floor", m->path, sandbox_mode_name(m->mode));
		return -EPERM;
	}
	if (bin_fd[b] < 0)
		return bin_fd[b];
	int target = free_target(m);
	struct child_args ca;
	bool ns = m->mode != SANDBOX_OFF && own_ns_works();
	int err = child_args_build(m->argv, m->mode, target, cfg->confine.allow_degraded, ns, &ca);
	if (err == -EPERM)
		log_ratelimited(LOG_LVL_WARN, "refused to start %s: its arguments carry \"%s\", "
				"which only the spawner gives", m->path, ca.refused);
	if (err)
		return err;
	if (nkids == SPAWNER_MAX_CHILDREN)
		return -EAGAIN;
	struct spawn_fd sf[SPAWN_MSG_MAX_FDS + 1];
	for (size_t i = 0; i < m->nfds; i++)
		sf[i] = (struct spawn_fd){ fds[i], m->target[i] };
	/* An unconfined child reads no policy, and would keep an fd it is not told of. */
	bool policy = m->mode != SANDBOX_OFF;
	sf[m->nfds] = (struct spawn_fd){ policy_fd[b], target };
	struct spawn_req req = { .path = m->path, .by_fd = true, .exec_fd = bin_fd[b],
				 .argv = ca.argv, .fds = sf, .nfds = m->nfds + policy,
				 .stderr_fd = m->has_stderr ? fds[m->nfds] : -1, .envp = child_env,
				 .in_cgroup = m->has_cgroup,
				 .cgroup_procs_fd = m->has_cgroup ? fds[m->nfds + m->has_stderr] : -1,
				 .own_ns = ns };
	err = spawn_child(&req, pid, pidfd);
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

/* What cellvmd's later requests must not change: each binary, opened now,
 * and its policy, read now. Fills keep[] with them; exits at an error. */
static size_t take_binaries(int *keep)
{
	const struct confine_opts *o = &cfg->confine;
	const char *dir = o->policy_dir ? o->policy_dir : confine_default_policy_dir();
	size_t n = 0;
	if (cfg->nbins > SPAWNER_MAX_BINARIES)
		_exit(1);
	for (size_t i = 0; i < cfg->nbins; i++) {
		bin_fd[i] = open(cfg->bins[i].path, O_PATH | O_CLOEXEC);
		if (bin_fd[i] < 0) {
			bin_fd[i] = -errno;
			log_warn("%s: %s; it cannot be started", cfg->bins[i].path,
				 strerror(-bin_fd[i]));
		} else {
			keep[n++] = bin_fd[i];
		}
		if ((policy_fd[i] = confine_policy_memfd(dir, cfg->bins[i].kind)) < 0)
			_exit(1);
		keep[n++] = policy_fd[i];
	}
	return n;
}

_Noreturn void spawner_run(const struct spawner_cfg *c, int sock, pid_t parent)
{
	cfg = c;
	const struct confine_opts *o = &c->confine;
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
	int keep[1 + 2 * SPAWNER_MAX_BINARIES] = { sock };
	size_t nkeep = 1 + take_binaries(keep + 1);
	static char no_tcache[] = "GLIBC_TUNABLES=glibc.malloc.tcache_count=0";
	static char inherited[] = SANDBOX_INHERITED_ENV "=spawner.policy";
	child_env[0] = no_tcache;
	child_env[1] = o->mode == SANDBOX_ON ? inherited : NULL;
	if (confine(o, &(struct confine_req){ .process = "cellvm-spawner", .kind = "spawner",
					      .keep_fds = keep, .nkeep = nkeep,
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
