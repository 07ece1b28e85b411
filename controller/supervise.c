#include "supervise.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "cause.h"
#include "fds.h"
#include "log.h"
#include "msg.h"
#include "spawner_link.h"
#include "worker_ctl.h"

#define CREATE_TIMEOUT_MS 60000 /* the worker reports READY within this */
#define PING_INTERVAL_MS 250    /* how often a running worker is asked */
#define HANG_MS 1000            /* no PONG for this long: the worker hangs */
#define KILL_GRACE_MS 3000      /* SIGTERM, then SIGKILL after this */
#define RESUME_MS 10000         /* a worker resuming a restarted device may not answer */
#define CONTROL_READS_PER_ROUND 8
#define ENDS_PER_ROUND 16

/* The event-loop handle of one child's pidfd or stderr. */
struct child_watch {
	struct supervisor *sv;
	size_t idx;
};

struct supervisor {
	struct evloop *loop;
	struct vm *vm;
	int spawner_fd;
	bool spawner_lost; /* gone, stuck or not believed: no ENDED comes any more */
	const struct supervise_ops *ops;
	void *opaque;
	struct child_watch watch[VM_MAX_CHILDREN];
	struct child_watch log_watch[VM_MAX_CHILDREN];
	/* Armed while a child's pidfd said it ended and its ENDED has not come. */
	struct evloop_timer ended_timer[VM_MAX_CHILDREN];
	/* Armed while a device waits out its restart's backoff. */
	struct evloop_timer restart_timer[VM_MAX_CHILDREN];
	/* A deliberate restart's caller (supervise_swap), from the kill to
	 * the worker's RESUMED; done NULL when none. */
	struct {
		supervise_swap_done done;
		void *opaque;
	} swap[VM_MAX_CHILDREN];
	bool running; /* READY came: a device's end may be a restart */

	/* The worker's own report: its EXIT message, if one came. */
	bool ctl_eof; /* the control channel ended (and left the loop) */
	bool have_exit_msg;
	struct wctl_msg exit_msg;
	const char *kill_reason; /* why the controller killed the worker, if it did */

	struct evloop_timer create_timer, ping_timer, kill_timer, grace_timer;
	bool ping_outstanding;
	uint64_t ping_sent_ns;

	bool stopping, all_exited_told;
	/* Devices whose end waits for the worker's (CAUSE_WAIT), reported once
	 * the worker's end is, or when grace_timer fires. */
	struct vm_child *deferred[VM_MAX_CHILDREN];
	size_t ndeferred;
};

static struct vm_child *worker(struct supervisor *sv)
{
	for (size_t i = 0; i < sv->vm->nchildren; i++)
		if (strcmp(sv->vm->child[i].name, VM_WORKER_NAME) == 0)
			return &sv->vm->child[i];
	return NULL;
}

static void kill_worker(struct supervisor *sv, const char *why)
{
	struct vm_child *w = worker(sv);
	if (!w || w->exited)
		return;
	log_err("vcpu-worker (pid %d): %s; killing it", (int)w->pid, why);
	sv->kill_reason = why;
	if (pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0) < 0)
		log_err("kill vcpu-worker: %m");
}

/* The worker finds the device named name failing (HUNG): it is killed,
 * and its end is then the news, as any device's. A name that is no live
 * device of the VM (the worker is not trusted) is logged and ignored. */
static void kill_device(struct supervisor *sv, const char *name, uint32_t generation)
{
	for (size_t i = 0; i < sv->vm->nchildren; i++) {
		struct vm_child *c = &sv->vm->child[i];
		if (c == worker(sv) || c->exited || strcmp(c->name, name))
			continue;
		/* About a process already replaced: the new one is news to come. */
		if (generation != c->restarts.total)
			return;
		/* Dead already (the worker saw its connection go): its end
		 * says why, and is on its way. */
		if (msg_wait(c->pidfd, POLLIN, 0) == 1)
			return;
		log_err("%s (pid %d): the vcpu-worker finds it not answering; killing it", c->name,
			(int)c->pid);
		c->killed_for = "it stopped answering its frontend (hung), and was killed";
		if (pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
			log_err("kill %s: %m", c->name);
		return;
	}
	log_ratelimited(LOG_LVL_WARN, "vcpu-worker: HUNG for %s, which is no live device", name);
}

/* What cause.h needs to know of the worker now. */
static struct cause_worker worker_state(struct supervisor *sv)
{
	const struct vm_child *w = worker(sv);
	return (struct cause_worker){ .alive = w && !w->exited,
				      .said_exit = sv->have_exit_msg,
				      .exit_status = (int)sv->exit_msg.status,
				      .exit_text = sv->exit_msg.text,
				      .kill_reason = sv->kill_reason };
}

bool supervise_all_exited(struct supervisor *sv)
{
	if (!sv->stopping || sv->all_exited_told || vm_alive(sv->vm) > 0 || sv->ndeferred)
		return false;
	sv->all_exited_told = true;
	return true;
}

/* ---------------------------------------------------------------- worker control */

static uint64_t now_ms(void)
{
	return evloop_now_ns() / 1000000;
}

/* Device c's deliberate restart is over: done with err (0: it runs). */
static void swap_end(struct supervisor *sv, struct vm_child *c, int err)
{
	size_t idx = (size_t)(c - sv->vm->child);
	supervise_swap_done done = sv->swap[idx].done;
	if (!done)
		return;
	sv->swap[idx].done = NULL;
	done(sv->swap[idx].opaque, err);
}

/* The worker runs the device named name on its restarted process: the I/O
 * blackout since its end is over. */
static void resumed(struct supervisor *sv, const char *name, uint32_t worker_us)
{
	for (size_t i = 0; i < sv->vm->nchildren; i++) {
		struct vm_child *c = &sv->vm->child[i];
		if (!c->kind || strcmp(c->name, name) || !c->died_ms)
			continue;
		uint64_t ms = now_ms() - c->died_ms;
		c->died_ms = 0;
		c->blackout_last_ms = ms;
		if (ms > c->blackout_max_ms)
			c->blackout_max_ms = ms;
		/* A warning: a device that had to be restarted is news at any
		 * level; a swap the tenant asked for is not. */
		log_msg(sv->swap[i].done ? LOG_LVL_INFO : LOG_LVL_WARN, __func__,
			"%s: restart %llu: I/O blackout %llu ms (the worker resumed it in %u us)",
			name, (unsigned long long)c->restarts.total, (unsigned long long)ms,
			worker_us);
		swap_end(sv, c, 0);
		return;
	}
	log_ratelimited(LOG_LVL_WARN, "vcpu-worker: RESUMED for %s, which was not restarted",
			name);
}

/* Handles one message from the worker: 1 if there was one, else 0 (none
 * yet, or the channel ended). */
static int control_read_one(struct supervisor *sv)
{
	struct wctl_msg m;
	if (sv->vm->ctl_fd < 0 || sv->ctl_eof)
		return 0;
	int err = wctl_recv(sv->vm->ctl_fd, &m);
	if (err == -EAGAIN)
		return 0;
	if (err) {
		/* EOF: the worker is exiting; its pidfd tells how. */
		evloop_del(sv->loop, sv->vm->ctl_fd);
		sv->ctl_eof = true;
		if (err != -ECONNRESET)
			kill_worker(sv, "malformed message on the control channel");
		return 0;
	}
	switch (m.type) {
	case WCTL_READY:
		sv->running = true;
		evloop_timer_cancel(&sv->create_timer);
		evloop_timer_arm(sv->loop, &sv->ping_timer, PING_INTERVAL_MS);
		sv->ping_outstanding = false;
		sv->ops->ready(sv->opaque);
		break;
	case WCTL_PONG:
		sv->ping_outstanding = false;
		break;
	case WCTL_EXIT:
		sv->have_exit_msg = true;
		sv->exit_msg = m;
		break;
	case WCTL_HUNG:
		kill_device(sv, m.text, m.status);
		break;
	case WCTL_RESUMED:
		/* Alive: the PINGs it did not answer while it resumed are moot. */
		sv->ping_outstanding = false;
		resumed(sv, m.text, m.status);
		break;
	default:
		kill_worker(sv, "it sent a controller's message on the control channel");
		break;
	}
	return 1;
}

static void on_control(void *opaque, uint32_t events)
{
	struct supervisor *sv = opaque;
	(void)events;
	for (int i = 0; i < CONTROL_READS_PER_ROUND && control_read_one(sv); i++)
		;
}

/* The worker waits for a restarted device process to start and answer,
 * its loop held meanwhile: for up to RESUME_MS since the device's end, a
 * PING without PONG is that, not a hang. */
static bool resuming(struct supervisor *sv)
{
	uint64_t now = now_ms();
	for (size_t i = 0; i < sv->vm->nchildren; i++) {
		const struct vm_child *c = &sv->vm->child[i];
		if (c->died_ms && now - c->died_ms < RESUME_MS)
			return true;
	}
	return false;
}

/* Every PING_INTERVAL_MS while the worker runs, until it hangs or ends. */
static void on_ping_timer(void *opaque)
{
	struct supervisor *sv = opaque;
	uint64_t now = evloop_now_ns();
	if (sv->ping_outstanding && now - sv->ping_sent_ns >= HANG_MS * 1000000ull &&
	    !resuming(sv)) {
		kill_worker(sv, "it stopped answering (hung for 1 s)");
		return;
	}
	evloop_timer_arm(sv->loop, &sv->ping_timer, PING_INTERVAL_MS);
	if (sv->ping_outstanding)
		return;
	int err = wctl_send(sv->vm->ctl_fd, WCTL_PING, 0, NULL);
	if (err < 0) {
		log_debug("PING: %s", strerror(-err)); /* it is exiting: the pidfd follows */
		return;
	}
	sv->ping_outstanding = true;
	sv->ping_sent_ns = now;
}

static void on_create_timer(void *opaque)
{
	kill_worker(opaque, "not ready within 60 s of Create");
}

/* ---------------------------------------------------------------- children's ends */

static void report(struct supervisor *sv, const struct lifecycle_exit *x)
{
	sv->ops->child_exited(sv->opaque, x);
}

/* The deferred devices' own ends, first come first; each leaves the list
 * before it is reported, so the last report is what lets all-exited be. */
static void report_deferred(struct supervisor *sv)
{
	evloop_timer_cancel(&sv->grace_timer);
	while (sv->ndeferred > 0) {
		struct vm_child *c = sv->deferred[0];
		sv->ndeferred--;
		memmove(sv->deferred, sv->deferred + 1, sv->ndeferred * sizeof(sv->deferred[0]));
		struct cause_worker w = worker_state(sv);
		struct lifecycle_exit x = cause_exit(c, &w);
		report(sv, &x);
	}
}

/* The worker lives on: the devices' ends are the news. */
static void on_grace_timer(void *opaque)
{
	report_deferred(opaque);
}

static void report_end(struct supervisor *sv, struct vm_child *c, bool is_worker);
static void on_pidfd(void *opaque, uint32_t events);
static void on_child_log(void *opaque, uint32_t events);

/* Starts device c again and hands its new socket to the worker. */
static int restart_now(struct supervisor *sv, struct vm_child *c)
{
	size_t idx = (size_t)(c - sv->vm->child);
	int fd, err;
	if (c->log.fd >= 0)
		evloop_del(sv->loop, c->log.fd);
	if ((err = sv->ops->restart(sv->opaque, c, &fd)) < 0) {
		log_err("%s: restarting it: %s", c->name, strerror(-err));
		return err;
	}
	bool swap = sv->swap[idx].done != NULL;
	/* A swap is the tenant's doing, not a failure: it counts as a restart
	 * (the worker's generation of the device) but not in the policy's
	 * window. */
	if (swap)
		c->restarts.total++;
	else
		restart_record(&c->restarts, now_ms());
	if ((err = evloop_add(sv->loop, c->pidfd, EPOLLIN, on_pidfd, &sv->watch[idx])) < 0 ||
	    (err = evloop_add(sv->loop, c->log.fd, EPOLLIN, on_child_log, &sv->log_watch[idx])) < 0)
		log_err("%s: watching its restarted process: %s", c->name, strerror(-err));
	err = wctl_send_backend(sv->vm->ctl_fd, c->name, fd);
	close(fd);
	if (err < 0)
		kill_worker(sv, "the control channel is broken");
	if (swap)
		log_info("%s: restarted on its swapped image (pid %d)", c->name, (int)c->pid);
	else
		log_warn("%s: restarted (pid %d): restart %llu of at most %u in %u s", c->name,
			 (int)c->pid, (unsigned long long)c->restarts.total, c->restart.max,
			 c->restart.window_s);
	return 0;
}

static void on_restart_timer(void *opaque)
{
	struct child_watch *w = opaque;
	struct supervisor *sv = w->sv;
	struct vm_child *c = &sv->vm->child[w->idx];
	/* The worker may have gone meanwhile: then this end is news again. */
	if (!worker_state(sv).alive || restart_now(sv, c) < 0)
		report_end(sv, c, false);
}

/* Device c ended: true if it is being restarted (now, or after its
 * backoff), false if its end is the VM's news (the VM is not running, or
 * the device cannot be restarted, or its policy is spent). */
static bool restart_or_not(struct supervisor *sv, struct vm_child *c)
{
	struct cause_worker w = worker_state(sv);
	bool swap = sv->swap[c - sv->vm->child].done != NULL;
	if (sv->stopping || !sv->running || !w.alive || w.said_exit || !c->kind ||
	    !sv->ops->restart) {
		swap_end(sv, c, -ECANCELED);
		return false;
	}
	uint64_t now = now_ms(), delay;
	switch (swap ? RESTART_NOW : restart_decide(&c->restart, &c->restarts, now, &delay)) {
	case RESTART_GIVE_UP:
		if (c->restart.max)
			log_err("%s: restarted %u times in %u s, its policy's most: giving up",
				c->name, c->restart.max, c->restart.window_s);
		return false;
	case RESTART_LATER:
		c->died_ms = now;
		log_warn("%s: restarting it in %llu ms (backoff)", c->name,
			 (unsigned long long)delay);
		evloop_timer_arm(sv->loop, &sv->restart_timer[c - sv->vm->child], (unsigned)delay);
		return true;
	case RESTART_NOW:
		break;
	}
	c->died_ms = now;
	int err = restart_now(sv, c);
	if (err)
		swap_end(sv, c, err); /* a swap's success is the worker's RESUMED */
	return err == 0;
}

static void on_child_end(struct supervisor *sv, struct vm_child *c)
{
	char how[96];
	child_end_describe(&c->end, how, sizeof(how));
	bool clean = !c->end.signaled && c->end.status == 0;
	bool swap = sv->swap[c - sv->vm->child].done != NULL;
	log_msg(clean || sv->stopping || swap ? LOG_LVL_INFO : LOG_LVL_ERROR, __func__,
		"%s (pid %d) %s", c->name, (int)c->pid, how);
	/* The worker's EXIT, sent before it exits, says why it ends. */
	while (!sv->have_exit_msg && control_read_one(sv))
		;
	bool is_worker = c == worker(sv);
	if (is_worker) {
		evloop_timer_cancel(&sv->ping_timer);
		evloop_timer_cancel(&sv->create_timer);
	} else if (restart_or_not(sv, c)) {
		return;
	}
	report_end(sv, c, is_worker);
}

/* c's end, as cause.h decides it: now, or once the worker's is known. */
static void report_end(struct supervisor *sv, struct vm_child *c, bool is_worker)
{
	struct cause_worker w = worker_state(sv);
	struct cause k = cause_decide(c, &w, sv->stopping);
	if (k.verdict == CAUSE_WAIT) {
		/* Without holding up the loop. */
		if (sv->ndeferred == 0)
			evloop_timer_arm(sv->loop, &sv->grace_timer, CAUSE_WORKER_GRACE_MS);
		sv->deferred[sv->ndeferred++] = c;
		return;
	}
	report(sv, &k.exit);
	if (is_worker)
		report_deferred(sv);
}

/* Passes a child's stderr on; stops watching it at EOF. */
static void read_child_log(struct supervisor *sv, struct vm_child *c, unsigned rounds)
{
	if (c->log.fd < 0)
		return;
	int r = child_log_read(&c->log, c->name, STDERR_FILENO, rounds);
	if (r != 0) {
		evloop_del(sv->loop, c->log.fd);
		child_log_close(&c->log);
	}
}

static void on_child_log(void *opaque, uint32_t events)
{
	struct child_watch *w = opaque;
	(void)events;
	read_child_log(w->sv, &w->sv->vm->child[w->idx], 16);
}

/* c's end is known: it is counted gone and reported. */
static void child_gone(struct supervisor *sv, struct vm_child *c, const struct child_end *end)
{
	c->end = *end;
	c->exited = true;
	/* A SIGKILL may be its cgroup's OOM killer's: then that is the news. */
	if (end->signaled && end->status == SIGKILL && sv->vm->cgroup)
		c->oom_killed = cgroup_vm_oom_killed(sv->vm->cgroup, c->name);
	evloop_timer_cancel(&sv->ended_timer[c - sv->vm->child]);
	/* Its last words (a seccomp report) are in the pipe by now. */
	read_child_log(sv, c, 64);
	evloop_del(sv->loop, c->pidfd); /* unless on_pidfd did */
	close_fd(&c->pidfd);
	on_child_end(sv, c);
}

/* No ENDED will come for c: the spawner is gone, and its children were
 * SIGKILLed with it (cellvmd says so once), or it is stuck or not believed.
 * Make sure c is gone and count it so, rather than wait forever. */
static void child_gone_unreported(struct supervisor *sv, struct vm_child *c)
{
	if (pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		log_err("%s: SIGKILL: %m", c->name);
	child_gone(sv, c, &(struct child_end){ .signaled = true, .status = SIGKILL });
}

/* The children waiting for their ENDED are counted gone now, the others as
 * their pidfds say they ended. */
static void lose_spawner(struct supervisor *sv)
{
	if (sv->spawner_lost)
		return;
	sv->spawner_lost = true;
	evloop_del(sv->loop, sv->spawner_fd);
	/* A report may release the VM: nchildren is read again each time. */
	for (size_t i = 0; i < sv->vm->nchildren; i++)
		if (evloop_timer_armed(&sv->ended_timer[i]))
			child_gone_unreported(sv, &sv->vm->child[i]);
}

static struct vm_child *running_child(struct supervisor *sv, pid_t pid)
{
	for (size_t i = 0; i < sv->vm->nchildren; i++)
		if (sv->vm->child[i].pid == pid && !sv->vm->child[i].exited)
			return &sv->vm->child[i];
	return NULL;
}

/* The ends the spawner reported. It is believed only about a child of the
 * VM whose pidfd says it has ended. */
static void take_ends(struct supervisor *sv)
{
	for (int n = 0; n < ENDS_PER_ROUND && !sv->spawner_lost; n++) {
		pid_t pid;
		struct child_end end;
		int r = spawner_next_ended(sv->spawner_fd, &pid, &end);
		if (r == 0)
			return;
		if (r < 0) {
			/* Gone: cellvmd's on_spawner says so. Else the channel is shut. */
			if (r != -EPIPE)
				log_err("cellvm-spawner: %s; no longer believed",
					r == -EBADMSG ? "a malformed message" : strerror(-r));
			lose_spawner(sv);
			return;
		}
		struct vm_child *c = running_child(sv, pid);
		if (!c)
			log_ratelimited(LOG_LVL_WARN,
					"cellvm-spawner reported the end of pid %d, which is no "
					"process of the VM: ignored", (int)pid);
		else if (msg_wait(c->pidfd, POLLIN, 0) != 1)
			log_ratelimited(LOG_LVL_WARN,
					"cellvm-spawner reported the end of %s (pid %d), which "
					"still runs: ignored", c->name, (int)pid);
		else
			child_gone(sv, c, &end);
	}
}

static void on_spawner(void *opaque, uint32_t events)
{
	(void)events;
	take_ends(opaque);
}

/* The child has ended: the spawner reaps it and reports how (ENDED), maybe
 * already. */
static void on_pidfd(void *opaque, uint32_t events)
{
	struct child_watch *w = opaque;
	struct supervisor *sv = w->sv;
	struct vm_child *c = &sv->vm->child[w->idx];
	(void)events;
	evloop_del(sv->loop, c->pidfd); /* it stays readable */
	if (sv->spawner_lost) {
		child_gone_unreported(sv, c);
		return;
	}
	evloop_timer_arm(sv->loop, &sv->ended_timer[w->idx], SPAWNER_REPLY_MS);
	take_ends(sv);
}

/* The spawner holds an ended child and says nothing: it is stuck. */
static void on_ended_timer(void *opaque)
{
	struct child_watch *w = opaque;
	struct supervisor *sv = w->sv;
	struct vm_child *c = &sv->vm->child[w->idx];
	log_err("cellvm-spawner did not report the end of %s (pid %d) within %u ms: stuck; "
		"its channel is shut", c->name, (int)c->pid, SPAWNER_REPLY_MS);
	(void)spawner_shut(sv->spawner_fd); /* only a bad fd makes it fail */
	child_gone_unreported(sv, c);
	lose_spawner(sv);
}

static void on_kill_timer(void *opaque)
{
	struct supervisor *sv = opaque;
	for (size_t i = 0; i < sv->vm->nchildren; i++)
		if (!sv->vm->child[i].exited)
			log_warn("%s (pid %d) did not exit within %u ms of SIGTERM; SIGKILL",
				 sv->vm->child[i].name, (int)sv->vm->child[i].pid, KILL_GRACE_MS);
	vm_signal_all(sv->vm, SIGKILL);
}

/* ---------------------------------------------------------------- the owner's calls */

int supervise_start(struct supervisor *sv, const char **what)
{
	sv->have_exit_msg = sv->ctl_eof = false;
	sv->kill_reason = NULL;
	sv->stopping = sv->all_exited_told = false;
	sv->ping_outstanding = false;
	sv->running = false;
	int err = 0;
	for (size_t i = 0; i < sv->vm->nchildren; i++) {
		struct vm_child *c = &sv->vm->child[i];
		sv->watch[i] = (struct child_watch){ sv, i };
		sv->log_watch[i] = (struct child_watch){ sv, i };
		int r = evloop_add(sv->loop, c->pidfd, EPOLLIN, on_pidfd, &sv->watch[i]);
		if (!r)
			r = evloop_add(sv->loop, c->log.fd, EPOLLIN, on_child_log, &sv->log_watch[i]);
		if (r < 0 && !err) {
			err = r;
			*what = "watching a child";
		}
	}
	if (err)
		return err;
	if ((err = evloop_add(sv->loop, sv->vm->ctl_fd, EPOLLIN, on_control, sv)) < 0) {
		*what = "watching the control channel";
		return err;
	}
	evloop_timer_arm(sv->loop, &sv->create_timer, CREATE_TIMEOUT_MS);
	return 0;
}

void supervise_run(struct supervisor *sv)
{
	if (wctl_send(sv->vm->ctl_fd, WCTL_RUN, 0, NULL) < 0)
		kill_worker(sv, "the control channel is broken");
}

void supervise_stop(struct supervisor *sv)
{
	sv->stopping = true;
	/* A device waiting out its backoff stays ended. */
	for (size_t i = 0; i < VM_MAX_CHILDREN; i++)
		evloop_timer_cancel(&sv->restart_timer[i]);
	evloop_timer_cancel(&sv->create_timer);
	evloop_timer_cancel(&sv->ping_timer);
	vm_signal_all(sv->vm, SIGTERM);
	if (vm_alive(sv->vm))
		evloop_timer_arm(sv->loop, &sv->kill_timer, KILL_GRACE_MS);
}

int supervise_swap(struct supervisor *sv, struct vm_child *c, supervise_swap_done done,
		   void *opaque)
{
	size_t idx = (size_t)(c - sv->vm->child);
	struct cause_worker w = worker_state(sv);
	if (sv->stopping || !sv->running || !w.alive || w.said_exit)
		return -ESRCH;
	if (!c->kind || c->exited || c->pidfd < 0 || c->died_ms || sv->swap[idx].done)
		return -EBUSY;
	if (pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		return -errno;
	/* Its end, should the restart fail, says why. */
	c->killed_for = "its image was being swapped (UpdateBlockDevice), and its restart failed";
	sv->swap[idx].done = done;
	sv->swap[idx].opaque = opaque;
	log_info("%s (pid %d): killed to serve its swapped image", c->name, (int)c->pid);
	return 0;
}

void supervise_release(struct supervisor *sv)
{
	for (size_t i = 0; i < sv->vm->nchildren; i++)
		swap_end(sv, &sv->vm->child[i], -ECANCELED);
	if (sv->vm->ctl_fd >= 0 && !sv->ctl_eof)
		evloop_del(sv->loop, sv->vm->ctl_fd);
	for (size_t i = 0; i < sv->vm->nchildren; i++)
		if (sv->vm->child[i].log.fd >= 0)
			evloop_del(sv->loop, sv->vm->child[i].log.fd);
	evloop_timer_cancel(&sv->kill_timer);
	evloop_timer_cancel(&sv->grace_timer);
	for (size_t i = 0; i < VM_MAX_CHILDREN; i++) {
		evloop_timer_cancel(&sv->ended_timer[i]);
		evloop_timer_cancel(&sv->restart_timer[i]);
	}
	sv->ndeferred = 0;
	sv->stopping = false;
	sv->running = false;
}

int supervise_create(struct supervisor **out, struct evloop *loop, struct vm *vm,
		     int spawner_fd, const struct supervise_ops *ops, void *opaque)
{
	struct supervisor *sv = calloc(1, sizeof(*sv));
	if (!sv)
		return -ENOMEM;
	*sv = (struct supervisor){ .loop = loop, .vm = vm, .spawner_fd = spawner_fd, .ops = ops,
				   .opaque = opaque };
	evloop_timer_init(&sv->create_timer, on_create_timer, sv);
	evloop_timer_init(&sv->ping_timer, on_ping_timer, sv);
	evloop_timer_init(&sv->kill_timer, on_kill_timer, sv);
	evloop_timer_init(&sv->grace_timer, on_grace_timer, sv);
	for (size_t i = 0; i < VM_MAX_CHILDREN; i++) {
		evloop_timer_init(&sv->ended_timer[i], on_ended_timer, &sv->watch[i]);
		evloop_timer_init(&sv->restart_timer[i], on_restart_timer, &sv->watch[i]);
	}
	/* Its ENDEDs, for as long as it is believed. */
	int err = evloop_add(loop, spawner_fd, EPOLLIN, on_spawner, sv);
	if (err) {
		free(sv);
		return err;
	}
	*out = sv;
	return 0;
}

void supervise_destroy(struct supervisor *sv)
{
	if (!sv)
		return;
	evloop_timer_cancel(&sv->create_timer);
	evloop_timer_cancel(&sv->ping_timer);
	evloop_timer_cancel(&sv->kill_timer);
	evloop_timer_cancel(&sv->grace_timer);
	if (!sv->spawner_lost)
		evloop_del(sv->loop, sv->spawner_fd);
	free(sv);
}
