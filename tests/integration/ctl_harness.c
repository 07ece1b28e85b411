/* cellvmd driven over its socket for criterion tests: see ctl_harness.h. */
#include "ctl_harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client.h"
#include "lifecycle.h"
#include "log.h"
#include "testutil.h"

#define MAX_EXTRA_ARGS 16

struct ctl_state ctl = { .pid = -1, .pidfd = -1 };

/* The build tree's top, and what the harness runs from it. */
static char top[PATH_MAX], cellvmd_bin[PATH_MAX + 32], fake_bin[PATH_MAX + 32];

/* ---------------------------------------------------------------- suite */

const char *ctl_build_path(const char *rel)
{
	static char path[2 * PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", top, rel);
	cr_assert(n > 0 && (size_t)n < sizeof(path), "%s/%s: too long", top, rel);
	return path;
}

/* Everything from this test's own path in the build tree. */
void ctl_init(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert_gt(n, 0);
	self[n] = '\0';
	snprintf(top, sizeof(top), "%s/../..", dirname(self));
	snprintf(cellvmd_bin, sizeof(cellvmd_bin), "%s", ctl_build_path("controller/cellvmd"));
	snprintf(fake_bin, sizeof(fake_bin), "%s", ctl_build_path("tests/integration/fake_vcpu"));
	cr_assert_eq(access(cellvmd_bin, X_OK), 0, "%s: build it first", cellvmd_bin);
	cr_assert_eq(access(fake_bin, X_OK), 0, "%s: build it first (check_PROGRAMS)", fake_bin);
	static const char *const devs[] = { "device-procs/cellvm-rng",
					    "device-procs/cellvm-console",
					    "device-procs/cellvm-blk" };
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		const char *dev = ctl_build_path(devs[i]);
		cr_assert_eq(access(dev, X_OK), 0, "%s: build it first", dev);
	}
	log_init(program_invocation_short_name, LOG_LVL_ERROR);
}

static void dump_log(void)
{
	static char buf[32768];
	int fd = open(ctl.log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	fprintf(stderr, "---- cellvmd's log (%s%s) ----\n%s---- end of log ----\n",
		from ? "the end of " : "", ctl.log, buf);
}

static void remove_dir(void)
{
	DIR *dir = opendir(ctl.dir);
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
	rmdir(ctl.dir);
}

/* After a failed test: show what cellvmd said, then kill it (its children
 * get SIGKILL with it: spawn's parent-death signal). */
void ctl_fini(void)
{
	if (ctl.dir[0] && !ctl.ended)
		dump_log();
	if (ctl.pid > 0) {
		kill(ctl.pid, SIGKILL);
		struct pollfd p = { .fd = ctl.pidfd, .events = POLLIN };
		struct child_end end;
		if (poll(&p, 1, CTL_WAIT_MS) == 1)
			spawn_reap(ctl.pidfd, &end);
	}
	if (ctl.pidfd >= 0)
		close(ctl.pidfd);
	if (ctl.dir[0])
		remove_dir();
}

void ctl_init_allow_dir(void)
{
	ctl_init();
	snprintf(ctl.allow_dir, sizeof(ctl.allow_dir), "/tmp/cellvm-allowdir.XXXXXX");
	cr_assert_not_null(mkdtemp(ctl.allow_dir));
}

void ctl_fini_allow_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ctl.allow_dir);
	ctl_fini();
	cr_expect_eq(system(cmd), 0);
}

/* ---------------------------------------------------------------- time */

uint64_t ctl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void ctl_msleep(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool ctl_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;
	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	cr_assert_geq(r, 0, "poll: %s", strerror(errno));
	return r == 1;
}

/* ---------------------------------------------------------------- cellvmd */

/* client_call's blocking reads time out too, so a missing reply fails. */
int ctl_conn(void)
{
	char err[256];
	int s = client_connect(ctl.sock, err, sizeof(err));
	cr_assert_geq(s, 0, "%s", err);
	struct timeval tv = { .tv_sec = CTL_WAIT_MS / 1000 };
	cr_assert_eq(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return s;
}

int ctl_start(void)
{
	static const char *const none[] = { NULL };
	return ctl_start_with(none);
}

int ctl_start_with(const char *const *extra_args)
{
	snprintf(ctl.dir, sizeof(ctl.dir), "/tmp/cellvm-ctltest.XXXXXX");
	cr_assert_not_null(mkdtemp(ctl.dir));
	snprintf(ctl.sock, sizeof(ctl.sock), "%s/sock", ctl.dir);
	snprintf(ctl.log, sizeof(ctl.log), "%s/cellvmd.log", ctl.dir);

	char *argv[7 + MAX_EXTRA_ARGS + 1] = { "cellvmd", "--socket", ctl.sock, "--worker",
					       fake_bin, "--log-level", "debug" };
	size_t argc = 7;
	for (size_t i = 0; extra_args[i]; i++) {
		cr_assert_lt(i, MAX_EXTRA_ARGS, "more than %d extra arguments", MAX_EXTRA_ARGS);
		argv[argc++] = (char *)extra_args[i]; /* spawn_child only reads them */
	}
	argv[argc] = NULL;

	int log_fd = open(ctl.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(log_fd, 0);
	struct spawn_req req = { .path = cellvmd_bin, .argv = argv, .stderr_fd = log_fd };
	cr_assert_eq(spawn_child(&req, &ctl.pid, &ctl.pidfd), 0);
	close(log_fd);
	ctl.next_id = 1;
	/* The socket is there once cellvmd listens. Left unreaped if it ended
	 * first (a refused argument): ctl_fini prints its log and reaps it. */
	for (uint64_t end = ctl_now_ms() + CTL_WAIT_MS;;) {
		char err[256];
		int s = client_connect(ctl.sock, err, sizeof(err));
		if (s >= 0) {
			close(s);
			break;
		}
		cr_assert(!ctl_readable(ctl.pidfd, 0), "cellvmd ended before it listened");
		cr_assert_lt(ctl_now_ms(), end, "cellvmd does not listen: %s", err);
		ctl_msleep(10);
	}
	/* Its only child, forked (and named) just after it listens. */
	char comm[32] = "";
	for (uint64_t end = ctl_now_ms() + CTL_WAIT_MS; strcmp(comm, "cellvm-spawner") != 0;) {
		cr_assert_lt(ctl_now_ms(), end, "cellvmd has no cellvm-spawner (a child \"%s\")",
			     comm);
		if (ctl_children(ctl.pid, &ctl.spawner, 1) == 1)
			ctl_comm(ctl.spawner, comm, sizeof(comm));
		else
			ctl_msleep(10);
	}
	return ctl_conn();
}

struct child_end ctl_wait_end(int ms)
{
	cr_assert(ctl_readable(ctl.pidfd, ms), "cellvmd did not exit within %d ms", ms);
	struct child_end end;
	cr_assert_eq(spawn_reap(ctl.pidfd, &end), 1);
	ctl.pid = -1; /* its number may be reused from now on */
	return end;
}

void ctl_expect_gone(pid_t pid)
{
	errno = 0;
	cr_expect(kill(pid, 0) < 0 && errno == ESRCH, "pid %d is still there", (int)pid);
}

size_t ctl_children(pid_t pid, pid_t *out, size_t max)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	size_t k = 0;
	for (char *p = buf, *end; k < max && (out[k] = (pid_t)strtol(p, &end, 10)) > 0; p = end)
		k++;
	return k;
}

void ctl_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

void ctl_expect_no_children(void)
{
	pid_t kids[8];
	size_t n = ctl_children(ctl.pid, kids, 8);
	cr_expect(n == 1 && kids[0] == ctl.spawner,
		  "cellvmd has %zu children (the first %d), not only its spawner %d", n,
		  n ? (int)kids[0] : 0, (int)ctl.spawner);
	n = ctl_children(ctl.spawner, kids, 8);
	cr_expect_eq(n, 0, "cellvm-spawner still has children (the first %d)",
		     n ? (int)kids[0] : 0);
	for (size_t i = 0; i < ctl.nseen; i++)
		ctl_expect_gone(ctl.seen[i]);
}

void ctl_finish(void)
{
	cr_assert_eq(kill(ctl.pid, SIGTERM), 0);
	struct child_end end = ctl_wait_end(CTL_WAIT_MS);
	char how[96];
	child_end_describe(&end, how, sizeof(how));
	cr_assert(!end.signaled && end.status == 0, "cellvmd %s", how);
	for (size_t i = 0; i < ctl.nseen; i++)
		ctl_expect_gone(ctl.seen[i]);
	ctl_expect_gone(ctl.spawner);
	ctl.ended = true;
}

int ctl_count_fds(void)
{
	return tu_count_fds_of(ctl.pid);
}

void ctl_expect_fds(int want, int ms, const char *after)
{
	int n = ctl_count_fds();
	for (uint64_t end = ctl_now_ms() + (uint64_t)ms; n != want && ctl_now_ms() < end;
	     n = ctl_count_fds())
		ctl_msleep(20);
	cr_assert_eq(n, want, "after %s: cellvmd has %d fds, had %d", after, n, want);
}

void ctl_config(char *cfg, size_t len, const char *script, const char *extra)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/script%u", ctl.dir, ctl.nfiles++);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, script, strlen(script)), (ssize_t)strlen(script));
	close(fd);
	/* A device's end ends the VM, as the tests of it expect, unless a test
	 * asks for restarts. */
	const char *restart = strstr(extra, "\"restart\"") ? "" : ", \"restart\": {\"max\": 0}";
	snprintf(cfg, len, "{\"kernel\": \"%s\", \"memory\": \"16M\"%s%s}", path, extra,
		 restart);
}

/* ---------------------------------------------------------------- calls */

uint32_t ctl_send_call(int sock, enum rpc_method m, const char *params)
{
	char err[256];
	uint32_t id = ctl.next_id++;
	cr_assert_eq(client_send(sock, id, m, params, NULL, 0, err, sizeof(err)), 0, "%s", err);
	return id;
}

struct rpc_reply ctl_reply_to(int sock, uint32_t id, int ms)
{
	char err[256];
	struct rpc_reply r = { 0 };
	int fd;
	cr_assert(ctl_readable(sock, ms), "no reply to request %u within %d ms", id, ms);
	cr_assert_eq(client_recv(sock, &r, &fd, err, sizeof(err)), 0, "%s", err);
	if (fd >= 0)
		close(fd);
	cr_assert(!r.epitaph && r.id == id, "want the reply to %u, got %s %u", id,
		  r.epitaph ? "an epitaph" : "the reply to", r.id);
	cr_assert_eq(fd, -1, "a reply with an fd");
	return r;
}

void ctl_replies(int sock, const uint32_t ids[2], struct rpc_reply out[2])
{
	char err[256];
	bool got[2] = { false, false };
	for (int n = 0; n < 2; n++) {
		struct rpc_reply r = { 0 };
		int fd;
		cr_assert(ctl_readable(sock, CTL_WAIT_MS), "no reply within %d ms", CTL_WAIT_MS);
		cr_assert_eq(client_recv(sock, &r, &fd, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(fd, -1, "a reply with an fd");
		int i = !r.epitaph && r.id == ids[0] ? 0 : !r.epitaph && r.id == ids[1] ? 1 : -1;
		cr_assert(i >= 0 && !got[i], "an unexpected reply (to %u)", r.id);
		got[i] = true;
		out[i] = r;
	}
}

struct rpc_reply ctl_rpc(int sock, enum rpc_method m, const char *params)
{
	return ctl_reply_to(sock, ctl_send_call(sock, m, params), CTL_WAIT_MS);
}

void ctl_expect_ok(struct rpc_reply r, const char *what)
{
	cr_assert(r.ok, "%s: %s: %s", what, lifecycle_error_name(r.code), r.message);
	rpc_reply_free(&r);
}

void ctl_expect_error(struct rpc_reply r, int code, const char *word, const char *what)
{
	cr_assert(!r.ok, "%s: succeeded, want %s", what, lifecycle_error_name(code));
	cr_assert_eq(r.code, code, "%s: %s (%s), want %s", what, lifecycle_error_name(r.code),
		     r.message, lifecycle_error_name(code));
	cr_assert(!word || strstr(r.message, word), "%s: \"%s\" does not say \"%s\"", what,
		  r.message, word);
	rpc_reply_free(&r);
}

void ctl_create_fails(int sock, const char *cfg, int code, const char *word)
{
	ctl_expect_error(ctl_rpc(sock, RPC_CREATE, cfg), code, word, cfg);
	struct ctl_status st = ctl_status(sock);
	cr_assert_str_eq(st.state, "NOT_CREATED");
	cr_assert_eq(st.npids, 0);
	ctl_expect_no_children();
}

/* ---------------------------------------------------------------- Status */

static void remember(pid_t pid)
{
	for (size_t i = 0; i < ctl.nseen; i++)
		if (ctl.seen[i] == pid)
			return;
	cr_assert_lt(ctl.nseen, CTL_MAX_SEEN);
	ctl.seen[ctl.nseen++] = pid;
}

/* By client_call, unlike the other calls. */
struct ctl_status ctl_status(int sock)
{
	struct rpc_reply r;
	int fd;
	char err[256];
	cr_assert_eq(client_call(sock, ctl.next_id++, RPC_STATUS, NULL, NULL, 0, &r, &fd, err,
				 sizeof(err)),
		     0, "Status: %s", err);
	cr_assert(r.ok && fd < 0, "Status: %s", r.message);
	struct ctl_status st = { 0 };
	json_object *o = json_tokener_parse(r.result), *v, *le;
	cr_assert_not_null(o, "Status: %s", r.result);
	cr_assert(json_object_object_get_ex(o, "state", &v));
	snprintf(st.state, sizeof(st.state), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "last_error", &le) && le) {
		st.have_last = true;
		cr_assert(json_object_object_get_ex(le, "code", &v));
		st.last_code = json_object_get_int(v);
		cr_assert(json_object_object_get_ex(le, "reason", &v));
		snprintf(st.reason, sizeof(st.reason), "%s", json_object_get_string(v));
	}
	cr_assert(json_object_object_get_ex(o, "pids", &v));
	json_object_object_foreach(v, name, pid) {
		cr_assert_lt(st.npids, 16);
		snprintf(st.pids[st.npids].name, sizeof(st.pids[0].name), "%s", name);
		st.pids[st.npids].pid = json_object_get_int(pid);
		cr_assert_gt(st.pids[st.npids].pid, 0, "%s: pid %d", name, st.pids[st.npids].pid);
		remember(st.pids[st.npids++].pid);
	}
	json_object_put(o);
	rpc_reply_free(&r);
	return st;
}

pid_t ctl_pid_of(const struct ctl_status *st, const char *name)
{
	for (size_t i = 0; i < st->npids; i++)
		if (strcmp(st->pids[i].name, name) == 0)
			return st->pids[i].pid;
	return 0;
}

void ctl_expect_state(int sock, const char *state)
{
	struct ctl_status st = ctl_status(sock);
	cr_assert_str_eq(st.state, state);
}

void ctl_await_state(int sock, const char *state, int ms)
{
	struct ctl_status st = ctl_status(sock);
	for (uint64_t end = ctl_now_ms() + (uint64_t)ms;
	     strcmp(st.state, state) != 0 && ctl_now_ms() < end; st = ctl_status(sock))
		ctl_msleep(20);
	cr_assert_str_eq(st.state, state);
}

/* ---------------------------------------------------------------- streams */

void ctl_open_stream(int sock, bool console, struct ctl_stream *s)
{
	char err[256];
	int code;
	s->len = 0;
	s->fd = client_open_stream(sock, console, &code, err, sizeof(err));
	cr_assert_geq(s->fd, 0, "%s: %s", console ? "GetConsole" : "GetSerial", err);
}

void ctl_read_until(struct ctl_stream *s, const char *want, int ms)
{
	uint64_t end = ctl_now_ms() + (uint64_t)ms;
	for (;;) {
		s->buf[s->len] = '\0';
		char *at = strstr(s->buf, want);
		if (at) {
			size_t used = (size_t)(at - s->buf) + strlen(want);
			memmove(s->buf, s->buf + used, s->len - used);
			s->len -= used;
			return;
		}
		uint64_t now = ctl_now_ms();
		cr_assert(now < end && ctl_readable(s->fd, (int)(end - now)),
			  "\"%s\" did not come within %d ms; got \"%s\"", want, ms, s->buf);
		cr_assert_lt(s->len, sizeof(s->buf) - 1, "too much output: \"%s\"", s->buf);
		ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
		cr_assert_gt(n, 0, "the stream ended before \"%s\" (got \"%s\")", want, s->buf);
		s->len += (size_t)n;
	}
}

void ctl_expect_eof(int fd, int ms, const char *what)
{
	char buf[4096];
	for (uint64_t end = ctl_now_ms() + (uint64_t)ms;;) {
		uint64_t now = ctl_now_ms();
		cr_assert(now < end && ctl_readable(fd, (int)(end - now)),
			  "%s: no EOF within %d ms", what, ms);
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return;
		cr_assert_gt(n, 0, "%s: %s", what, strerror(errno));
	}
}
