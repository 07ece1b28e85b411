/* cellvmd driven over its socket, without KVM: fake_vcpu (built next to this
 * test) is the vcpu-worker and plays each worker behaviour from a script
 * given as the kernel; cellvm-rng, -console and -blk are the real devices.
 *
 * Each test starts its own cellvmd in a fresh directory and ends it with
 * SIGTERM: it must exit 0 and leave none of the processes it started. When a
 * test fails, cellvmd's log (with its children's, which share its stderr) is
 * printed. Every wait has a deadline, so a broken controller fails a test
 * instead of hanging it. */
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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client.h"
#include "lifecycle.h"
#include "log.h"
#include "msg.h"
#include "rpc.h"
#include "spawn.h"
#include "testutil.h"
#include "vhost_user.h"

#define WAIT_MS 5000 /* for what should come at once: generous on a loaded machine */
#define MAX_SEEN 64

/* Scripts for fake_vcpu (see fake_vcpu.c). */
#define SCRIPT_FULL "serial boot-line\nbackends\nready\nwait-run\nserial running\nserve\n"
#define SCRIPT_SERVE "ready\nwait-run\nserve\n"
#define WITH_DEVICES ", \"rng\": true, \"console\": true"
#define WITH_RNG ", \"rng\": true"

static char cellvmd_bin[PATH_MAX], fake_bin[PATH_MAX];

/* The cellvmd of the running test (each test is a process of its own). */
static struct {
	pid_t pid;
	int pidfd;
	char dir[64];
	char sock[128];
	char log[128];
	unsigned nfiles;        /* scripts written so far */
	bool ended;             /* finish() stopped it and checked */
	pid_t seen[MAX_SEEN];   /* every child pid a Status showed */
	size_t nseen;
	uint32_t next_id;
} d = { .pid = -1, .pidfd = -1 };

/* ---------------------------------------------------------------- set-up */

/* cellvmd and the fake from this test's own path in the build tree. */
static void find_binaries(void)
{
	char self[PATH_MAX], devices[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert_gt(n, 0);
	self[n] = '\0';
	const char *dir = dirname(self);
	snprintf(cellvmd_bin, sizeof(cellvmd_bin), "%s/../../controller/cellvmd", dir);
	snprintf(fake_bin, sizeof(fake_bin), "%s/fake_vcpu", dir);
	cr_assert_eq(access(cellvmd_bin, X_OK), 0, "%s: build it first", cellvmd_bin);
	cr_assert_eq(access(fake_bin, X_OK), 0, "%s: build it first (check_PROGRAMS)", fake_bin);
	static const char *const devs[] = { "cellvm-rng", "cellvm-console", "cellvm-blk" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(devices, sizeof(devices), "%s/../../device-procs/%s", dir, devs[i]);
		cr_assert_eq(access(devices, X_OK), 0, "%s: build it first", devices);
	}
	log_init("test_controller", LOG_LVL_ERROR);
}

static void dump_log(void)
{
	static char buf[32768];
	int fd = open(d.log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	fprintf(stderr, "---- cellvmd's log (%s%s) ----\n%s---- end of log ----\n",
		from ? "the end of " : "", d.log, buf);
}

static void remove_dir(void)
{
	DIR *dir = opendir(d.dir);
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
	rmdir(d.dir);
}

/* After a failed test: show what cellvmd said, then kill it (its children
 * get SIGKILL with it: spawn's parent-death signal). */
static void cleanup(void)
{
	if (d.pid > 0 && !d.ended) {
		dump_log();
		kill(d.pid, SIGKILL);
		struct pollfd p = { .fd = d.pidfd, .events = POLLIN };
		struct child_end end;
		if (poll(&p, 1, WAIT_MS) == 1)
			spawn_reap(d.pidfd, &end);
	}
	if (d.pidfd >= 0)
		close(d.pidfd);
	if (d.dir[0])
		remove_dir();
}

TestSuite(controller, .init = find_binaries, .fini = cleanup, .timeout = 30);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void msleep(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Whether fd becomes readable (or hung up) within ms. */
static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;
	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	cr_assert_geq(r, 0, "poll: %s", strerror(errno));
	return r == 1;
}

/* A connection to cellvmd. Reads time out (client_call's blocking ones
 * too), so a missing reply fails the test. */
static int conn(void)
{
	char err[256];
	int s = client_connect(d.sock, err, sizeof(err));
	cr_assert_geq(s, 0, "%s", err);
	struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
	cr_assert_eq(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return s;
}

/* Starts cellvmd in a fresh directory with fake_vcpu as its worker; returns
 * the first connection once it serves. */
static int start(void)
{
	snprintf(d.dir, sizeof(d.dir), "/tmp/cellvm-ctltest.XXXXXX");
	cr_assert_not_null(mkdtemp(d.dir));
	snprintf(d.sock, sizeof(d.sock), "%s/sock", d.dir);
	snprintf(d.log, sizeof(d.log), "%s/cellvmd.log", d.dir);
	int log_fd = open(d.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(log_fd, 0);
	char *argv[] = { "cellvmd", "--socket", d.sock, "--worker", fake_bin,
			 "--log-level", "debug", NULL };
	struct spawn_req req = { .path = cellvmd_bin, .argv = argv, .stderr_fd = log_fd };
	cr_assert_eq(spawn_child(&req, &d.pid, &d.pidfd), 0);
	close(log_fd);
	d.next_id = 1;
	/* The socket is there once cellvmd listens. */
	for (uint64_t end = now_ms() + WAIT_MS;;) {
		char err[256];
		int s = client_connect(d.sock, err, sizeof(err));
		if (s >= 0) {
			close(s);
			break;
		}
		cr_assert_lt(now_ms(), end, "cellvmd does not listen: %s", err);
		msleep(10);
	}
	return conn();
}

/* How cellvmd ended, within ms. */
static struct child_end wait_end(int ms)
{
	cr_assert(readable(d.pidfd, ms), "cellvmd did not exit within %d ms", ms);
	struct child_end end;
	cr_assert_eq(spawn_reap(d.pidfd, &end), 1);
	return end;
}

static void expect_gone(pid_t pid)
{
	errno = 0;
	cr_expect(kill(pid, 0) < 0 && errno == ESRCH, "pid %d is still there", (int)pid);
}

/* cellvmd has no child, and no pid Status ever showed is left. */
static void expect_no_children(void)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)d.pid, (int)d.pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	cr_expect_eq(strspn(buf, " \n"), (size_t)n, "cellvmd still has children: %s", buf);
	for (size_t i = 0; i < d.nseen; i++)
		expect_gone(d.seen[i]);
}

/* SIGTERM: cellvmd stops what runs, exits 0 and leaves nothing behind. */
static void finish(void)
{
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	struct child_end end = wait_end(WAIT_MS);
	char how[96];
	child_end_describe(&end, how, sizeof(how));
	cr_assert(!end.signaled && end.status == 0, "cellvmd %s", how);
	for (size_t i = 0; i < d.nseen; i++)
		expect_gone(d.seen[i]);
	d.ended = true;
}

static int count_fds(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d.pid);
	DIR *dir = opendir(path);
	cr_assert_not_null(dir, "%s: %s", path, strerror(errno));
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* cellvmd's fd count comes back to `want` within ms. */
static void expect_fds(int want, int ms, const char *after)
{
	int n = count_fds();
	for (uint64_t end = now_ms() + (uint64_t)ms; n != want && now_ms() < end; n = count_fds())
		msleep(20);
	cr_assert_eq(n, want, "after %s: cellvmd has %d fds, had %d", after, n, want);
}

/* ---------------------------------------------------------------- configs */

/* Writes a script for fake_vcpu into the test's directory; the config
 * (into cfg) boots it with 16 MiB and `extra` keys (", \"rng\": true"). */
static void config(char *cfg, size_t len, const char *script, const char *extra)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/script%u", d.dir, d.nfiles++);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, script, strlen(script)), (ssize_t)strlen(script));
	close(fd);
	snprintf(cfg, len, "{\"kernel\": \"%s\", \"memory\": \"16M\"%s}", path, extra);
}

/* ---------------------------------------------------------------- calls */

static uint32_t send_call(int sock, enum rpc_method m, const char *params)
{
	char err[256];
	uint32_t id = d.next_id++;
	cr_assert_eq(client_send(sock, id, m, params, NULL, 0, err, sizeof(err)), 0, "%s", err);
	return id;
}

/* The reply to request id, which must come within ms. */
static struct rpc_reply reply_to(int sock, uint32_t id, int ms)
{
	char err[256];
	struct rpc_reply r = { 0 };
	int fd;
	cr_assert(readable(sock, ms), "no reply to request %u within %d ms", id, ms);
	cr_assert_eq(client_recv(sock, &r, &fd, err, sizeof(err)), 0, "%s", err);
	if (fd >= 0)
		close(fd);
	cr_assert(!r.epitaph && r.id == id, "want the reply to %u, got %s %u", id,
		  r.epitaph ? "an epitaph" : "the reply to", r.id);
	cr_assert_eq(fd, -1, "a reply with an fd");
	return r;
}

/* The replies to ids[0] and ids[1], in whichever order they come. */
static void replies(int sock, const uint32_t ids[2], struct rpc_reply out[2])
{
	char err[256];
	bool got[2] = { false, false };
	for (int n = 0; n < 2; n++) {
		struct rpc_reply r = { 0 };
		int fd;
		cr_assert(readable(sock, WAIT_MS), "no reply within %d ms", WAIT_MS);
		cr_assert_eq(client_recv(sock, &r, &fd, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(fd, -1, "a reply with an fd");
		int i = !r.epitaph && r.id == ids[0] ? 0 : !r.epitaph && r.id == ids[1] ? 1 : -1;
		cr_assert(i >= 0 && !got[i], "an unexpected reply (to %u)", r.id);
		got[i] = true;
		out[i] = r;
	}
}

static struct rpc_reply rpc(int sock, enum rpc_method m, const char *params)
{
	return reply_to(sock, send_call(sock, m, params), WAIT_MS);
}

static void expect_ok(struct rpc_reply r, const char *what)
{
	cr_assert(r.ok, "%s: %s: %s", what, lifecycle_error_name(r.code), r.message);
	rpc_reply_free(&r);
}

/* An error reply with this code whose message has `word` in it (NULL: any). */
static void expect_error(struct rpc_reply r, int code, const char *word, const char *what)
{
	cr_assert(!r.ok, "%s: succeeded, want %s", what, lifecycle_error_name(code));
	cr_assert_eq(r.code, code, "%s: %s (%s), want %s", what, lifecycle_error_name(r.code),
		     r.message, lifecycle_error_name(code));
	cr_assert(!word || strstr(r.message, word), "%s: \"%s\" does not say \"%s\"", what,
		  r.message, word);
	rpc_reply_free(&r);
}

struct status {
	char state[32];
	bool have_last;
	int last_code;
	char reason[256];
	size_t npids;
	struct {
		char name[32];
		pid_t pid;
	} pids[16];
};

static void remember(pid_t pid)
{
	for (size_t i = 0; i < d.nseen; i++)
		if (d.seen[i] == pid)
			return;
	cr_assert_lt(d.nseen, MAX_SEEN);
	d.seen[d.nseen++] = pid;
}

/* Status, by client_call; every pid it shows is remembered for the final
 * check that none is left. */
static struct status status(int sock)
{
	struct rpc_reply r;
	int fd;
	char err[256];
	cr_assert_eq(client_call(sock, d.next_id++, RPC_STATUS, NULL, NULL, 0, &r, &fd, err,
				 sizeof(err)),
		     0, "Status: %s", err);
	cr_assert(r.ok && fd < 0, "Status: %s", r.message);
	struct status st = { 0 };
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

static pid_t pid_of(const struct status *st, const char *name)
{
	for (size_t i = 0; i < st->npids; i++)
		if (strcmp(st->pids[i].name, name) == 0)
			return st->pids[i].pid;
	return 0;
}

static void expect_state(int sock, const char *state)
{
	struct status st = status(sock);
	cr_assert_str_eq(st.state, state);
}

/* Status shows `state` within ms (for what a client did without an answer). */
static void await_state(int sock, const char *state, int ms)
{
	struct status st = status(sock);
	for (uint64_t end = now_ms() + (uint64_t)ms;
	     strcmp(st.state, state) != 0 && now_ms() < end; st = status(sock))
		msleep(20);
	cr_assert_str_eq(st.state, state);
}

/* ---------------------------------------------------------------- streams */

struct stream {
	int fd;
	size_t len;
	char buf[16384]; /* what came and was not matched yet */
};

static void open_stream(int sock, bool console, struct stream *s)
{
	char err[256];
	int code;
	s->len = 0;
	s->fd = client_open_stream(sock, console, &code, err, sizeof(err));
	cr_assert_geq(s->fd, 0, "%s: %s", console ? "GetConsole" : "GetSerial", err);
}

/* Reads until `want` came (what came up to its end is consumed). */
static void read_until(struct stream *s, const char *want, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	for (;;) {
		s->buf[s->len] = '\0';
		char *at = strstr(s->buf, want);
		if (at) {
			size_t used = (size_t)(at - s->buf) + strlen(want);
			memmove(s->buf, s->buf + used, s->len - used);
			s->len -= used;
			return;
		}
		uint64_t now = now_ms();
		cr_assert(now < end && readable(s->fd, (int)(end - now)),
			  "\"%s\" did not come within %d ms; got \"%s\"", want, ms, s->buf);
		cr_assert_lt(s->len, sizeof(s->buf) - 1, "too much output: \"%s\"", s->buf);
		ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
		cr_assert_gt(n, 0, "the stream ended before \"%s\" (got \"%s\")", want, s->buf);
		s->len += (size_t)n;
	}
}

/* The stream reaches EOF within ms (output before it is skipped). */
static void expect_eof(int fd, int ms, const char *what)
{
	char buf[4096];
	for (uint64_t end = now_ms() + (uint64_t)ms;;) {
		uint64_t now = now_ms();
		cr_assert(now < end && readable(fd, (int)(end - now)),
			  "%s: no EOF within %d ms", what, ms);
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return;
		cr_assert_gt(n, 0, "%s: %s", what, strerror(errno));
	}
}

/* ---------------------------------------------------------------- a whole VM */

Test(controller, create_serial_run_stop_and_again)
{
	int c1 = start(), c2 = conn();
	char cfg[512];
	config(cfg, sizeof(cfg), SCRIPT_FULL, WITH_DEVICES);
	expect_ok(rpc(c1, RPC_CREATE, cfg), "Create");
	struct status st = status(c2);
	cr_assert_str_eq(st.state, "CREATED");
	cr_assert_eq(st.npids, 3);
	cr_assert(pid_of(&st, "vcpu-worker") && pid_of(&st, "rng0") && pid_of(&st, "console0"));

	/* Attached after Create: the boot line comes from the backlog. */
	struct stream serial, console;
	open_stream(c1, false, &serial);
	read_until(&serial, "boot-line\r\n", WAIT_MS);
	open_stream(c1, true, &console);

	uint32_t run = send_call(c1, RPC_RUN, NULL);
	read_until(&serial, "running\r\n", WAIT_MS);
	cr_assert_eq(write(serial.fd, "hello\n", 6), 6);
	read_until(&serial, "echo: hello\r\n", WAIT_MS);
	expect_state(c2, "RUNNING");

	expect_ok(rpc(c2, RPC_STOP, NULL), "Stop");
	expect_error(reply_to(c1, run, WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
		     "Run after Stop");
	expect_eof(serial.fd, WAIT_MS, "serial");
	expect_eof(console.fd, WAIT_MS, "console");
	close(serial.fd);
	close(console.fd);
	expect_no_children();
	st = status(c2);
	cr_assert_str_eq(st.state, "NOT_CREATED");
	cr_assert(st.have_last && st.last_code == LC_ERR_CONTROLLER_FORCED_HALT, "%d %s",
		  st.last_code, st.reason);

	/* The same again: nothing of the first VM is in the way. */
	config(cfg, sizeof(cfg), SCRIPT_FULL, WITH_DEVICES);
	expect_ok(rpc(c1, RPC_CREATE, cfg), "Create again");
	run = send_call(c1, RPC_RUN, NULL);
	await_state(c2, "RUNNING", WAIT_MS);
	cr_assert_eq(status(c2).npids, 3);
	expect_ok(rpc(c2, RPC_STOP, NULL), "Stop again");
	expect_error(reply_to(c1, run, WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
		     "Run again");
	expect_no_children();
	close(c1);
	close(c2);
	finish();
}

Test(controller, guest_poweroff_is_a_successful_run)
{
	int c = start();
	char cfg[512];
	for (int i = 0; i < 2; i++) {
		config(cfg, sizeof(cfg), "ready\nwait-run\nexit 0 guest powered off\n", WITH_RNG);
		expect_ok(rpc(c, RPC_CREATE, cfg), "Create");
		cr_assert_eq(status(c).npids, 2);
		expect_ok(rpc(c, RPC_RUN, NULL), "Run");
		struct status st = status(c);
		cr_assert_str_eq(st.state, "NOT_CREATED");
		cr_assert(st.have_last && st.last_code == 0, "last error %d: %s", st.last_code,
			  st.reason);
		cr_assert(strstr(st.reason, "powered off"), "%s", st.reason);
		expect_no_children();
	}
	close(c);
	finish();
}

Test(controller, device_killed_while_running_ends_run)
{
	int c1 = start(), c2 = conn();
	char cfg[512];
	config(cfg, sizeof(cfg), SCRIPT_FULL, WITH_DEVICES);
	expect_ok(rpc(c1, RPC_CREATE, cfg), "Create");
	uint32_t run = send_call(c1, RPC_RUN, NULL);
	await_state(c2, "RUNNING", WAIT_MS);
	struct status st = status(c2);
	pid_t rng = pid_of(&st, "rng0");
	cr_assert_gt(rng, 0);

	cr_assert_eq(kill(rng, SIGKILL), 0);
	uint64_t t0 = now_ms();
	struct rpc_reply r = reply_to(c1, run, 1000);
	cr_assert_leq(now_ms() - t0, 1000);
	cr_assert(strstr(r.message, "SIGKILL"), "%s", r.message);
	expect_error(r, LC_ERR_VCPU_RUNTIME_FAILURE, "rng0", "Run");
	expect_no_children();
	st = status(c2);
	cr_assert_str_eq(st.state, "NOT_CREATED");
	cr_assert_eq(st.last_code, LC_ERR_VCPU_RUNTIME_FAILURE);
	cr_assert(strstr(st.reason, "rng0"), "%s", st.reason);
	close(c1);
	close(c2);
	finish();
}

Test(controller, hung_worker_ends_run)
{
	int c = start();
	char cfg[512];
	config(cfg, sizeof(cfg), "ready\nwait-run\nhang\n", WITH_RNG);
	expect_ok(rpc(c, RPC_CREATE, cfg), "Create");
	cr_assert_eq(status(c).npids, 2);
	expect_error(reply_to(c, send_call(c, RPC_RUN, NULL), 3000), LC_ERR_VCPU_RUNTIME_FAILURE,
		     "hung", "Run");
	expect_no_children();
	close(c);
	finish();
}

Test(controller, sigterm_stops_a_running_vm)
{
	int c = start();
	char cfg[512];
	config(cfg, sizeof(cfg), SCRIPT_FULL, WITH_DEVICES);
	expect_ok(rpc(c, RPC_CREATE, cfg), "Create");
	uint32_t run = send_call(c, RPC_RUN, NULL);
	await_state(c, "RUNNING", WAIT_MS);
	cr_assert_eq(status(c).npids, 3);
	finish();
	expect_error(reply_to(c, run, WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL, "Run");
	close(c);
}

/* ---------------------------------------------------------------- Create failures */

/* Create fails with code, naming `word`; afterwards no VM and no child. */
static void create_fails(int sock, const char *cfg, int code, const char *word)
{
	expect_error(rpc(sock, RPC_CREATE, cfg), code, word, cfg);
	struct status st = status(sock);
	cr_assert_str_eq(st.state, "NOT_CREATED");
	cr_assert_eq(st.npids, 0);
	expect_no_children();
}

Test(controller, create_fails_as_the_worker_says)
{
	int c = start();
	char cfg[512];
	config(cfg, sizeof(cfg), "serial booting\nexit 10 bad kernel image\n", WITH_RNG);
	create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, "bad kernel image");
	struct status st = status(c);
	cr_assert(st.have_last && st.last_code == LC_ERR_KERNEL_LOAD_FAILURE);
	cr_assert(strstr(st.reason, "bad kernel image"), "%s", st.reason);

	config(cfg, sizeof(cfg), "crash\n", WITH_RNG);
	create_fails(c, cfg, LC_ERR_GUEST_INITIALIZATION_FAILURE, "SIGSEGV");
	config(cfg, sizeof(cfg), "exit 13 backend rng0: gone\n", WITH_DEVICES);
	create_fails(c, cfg, LC_ERR_DEVICE_INITIALIZATION_FAILURE, "backend rng0: gone");
	close(c);
	finish();
}

/* The fake's own failures: what it cannot run is a kernel it cannot load. */
Test(controller, create_fails_on_a_script_the_fake_cannot_run)
{
	int c = start();
	char cfg[512];
	config(cfg, sizeof(cfg), "serial booting\nfrobnicate now\n", WITH_RNG);
	create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, "line 2: unknown command \"frobnicate\"");

	config(cfg, sizeof(cfg), "exit 256 too big\n", "");
	create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, "want 0..255");
	config(cfg, sizeof(cfg), "serial no exit\n", "");
	create_fails(c, cfg, LC_ERR_GUEST_INITIALIZATION_FAILURE, "ended without exit");

	static char big[(64u << 10) + 2];
	memset(big, '\n', sizeof(big) - 1);
	config(cfg, sizeof(cfg), big, "");
	create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, "larger than");
	close(c);
	finish();
}

Test(controller, create_fails_on_a_missing_file)
{
	int c = start();
	char cfg[1024], path[128];
	snprintf(path, sizeof(path), "%s/no-such-kernel", d.dir);
	snprintf(cfg, sizeof(cfg), "{\"kernel\": \"%s\", \"rng\": true}", path);
	create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, path);

	snprintf(path, sizeof(path), "%s/no-such-disk", d.dir);
	char extra[512];
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"path\": \"%s\"}], \"rng\": true",
		 path);
	config(cfg, sizeof(cfg), SCRIPT_SERVE, extra);
	create_fails(c, cfg, LC_ERR_DEVICE_START_FAILURE, "blk0");

	/* blk0's process is started before blk1 fails: it must be gone too. */
	char disk[128];
	snprintf(disk, sizeof(disk), "%s/disk.img", d.dir);
	int fd = open(disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	snprintf(extra, sizeof(extra),
		 ", \"block_devices\": [{\"path\": \"%s\"}, {\"path\": \"%s\"}]", disk, path);
	config(cfg, sizeof(cfg), SCRIPT_SERVE, extra);
	create_fails(c, cfg, LC_ERR_DEVICE_START_FAILURE, "blk1");
	close(c);
	finish();
}

Test(controller, create_fails_on_a_bad_config)
{
	int c = start();
	create_fails(c, "{\"kernel\": \"/k\", \"memory\": \"12X\"}", LC_ERR_BAD_CONFIG,
		     "memory: \"12X\"");
	create_fails(c, "{\"kernel\": \"/k\", \"cpu\": 2}", LC_ERR_BAD_CONFIG, "\"cpu\"");
	/* Refused before anything started: Status has no last error. */
	cr_assert_not(status(c).have_last);
	close(c);
	finish();
}

/* A block device served by an external vhost-user backend (this test)
 * that does not answer as one: the fake's `backends` check fails. */
enum bad_backend { HANGS_UP, SILENT, WRONG_REPLY };

static void backend_fails(int c, enum bad_backend how, const char *word)
{
	char extra[512], cfg[1024];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = sa.sun_path;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vhu%d.sock", d.dir, (int)how);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(l, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(l, 1), 0);
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"vhost_user_socket\": \"%s\"}]",
		 path);
	config(cfg, sizeof(cfg), "backends\nready\nwait-run\nserve\n", extra);
	uint32_t id = send_call(c, RPC_CREATE, cfg);

	cr_assert(readable(l, WAIT_MS), "the controller did not connect to %s", path);
	int b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(b, 0);
	if (how == WRONG_REPLY) {
		struct vhu_msg m;
		struct msg_fds fds;
		cr_assert(readable(b, WAIT_MS));
		cr_assert_eq(vhu_recv(b, &m, &fds), 0);
		msg_fds_close(&fds);
		cr_assert_eq(m.request, VHU_GET_FEATURES);
		m = (struct vhu_msg){ .request = VHU_GET_PROTOCOL_FEATURES, .flags = VHU_FLAG_REPLY,
				      .kind = VHU_P_U64 };
		cr_assert_eq(vhu_send(b, &m, NULL, 0), 0);
	}
	if (how == HANGS_UP)
		close(b);
	struct rpc_reply r = reply_to(c, id, WAIT_MS);
	cr_assert(strstr(r.message, word), "%s", r.message);
	expect_error(r, LC_ERR_DEVICE_INITIALIZATION_FAILURE, "backend blk0", "Create");
	expect_state(c, "NOT_CREATED");
	expect_no_children();
	if (how != HANGS_UP)
		close(b);
	close(l);
}

Test(controller, create_fails_on_a_dead_backend)
{
	int c = start();
	backend_fails(c, HANGS_UP, "hung up");
	backend_fails(c, SILENT, "no reply");
	backend_fails(c, WRONG_REPLY, "GET_PROTOCOL_FEATURES");
	close(c);
	finish();
}

/* ---------------------------------------------------------------- calls in the wrong state */

Test(controller, calls_in_the_wrong_state)
{
	int c = start();
	char cfg[512], err[256];
	int code;
	expect_error(rpc(c, RPC_RUN, NULL), LC_ERR_NOT_CREATED, "Create first",
		     "Run before Create");
	expect_ok(rpc(c, RPC_STOP, NULL), "Stop with no VM");
	cr_assert_lt(client_open_stream(c, 0, &code, err, sizeof(err)), 0,
		     "Bind before Create must close the Guest channel");
	cr_assert_eq(code, 0);
	cr_assert_not(status(c).have_last, "refused calls do not touch Status");

	config(cfg, sizeof(cfg), SCRIPT_SERVE, WITH_RNG);
	expect_ok(rpc(c, RPC_CREATE, cfg), "Create");
	config(cfg, sizeof(cfg), SCRIPT_SERVE, WITH_RNG);
	expect_error(rpc(c, RPC_CREATE, cfg), LC_ERR_ALREADY_RUNNING, "Stop it first",
		     "Create while created");
	cr_assert_eq(client_open_stream(c, 1, &code, err, sizeof(err)), -ENODEV);
	cr_assert_eq(code, LC_ERR_DEVICE_NOT_PRESENT, "%s", err);

	/* The second Run is answered while the first is pending, on one
	 * connection: replies come by id. */
	uint32_t run = send_call(c, RPC_RUN, NULL);
	expect_error(rpc(c, RPC_RUN, NULL), LC_ERR_ALREADY_RUNNING, "already running",
		     "Run twice");
	cr_assert_eq(status(c).npids, 2);
	uint32_t stop = send_call(c, RPC_STOP, NULL);
	struct rpc_reply r[2];
	replies(c, (uint32_t[]){ run, stop }, r);
	expect_error(r[0], LC_ERR_CONTROLLER_FORCED_HALT, NULL, "Run");
	expect_ok(r[1], "Stop");
	expect_no_children();
	close(c);
	finish();
}

Test(controller, calls_while_creating)
{
	int c1 = start(), c2 = conn();
	char cfg[512], err[256];
	int code;
	/* A worker that never reports READY: Create stays pending. */
	config(cfg, sizeof(cfg), "serial building\nwait-run\n", WITH_RNG);
	uint32_t create = send_call(c1, RPC_CREATE, cfg);
	await_state(c2, "CREATING", WAIT_MS);
	expect_error(rpc(c2, RPC_RUN, NULL), LC_ERR_NOT_CREATED, "Create first",
		     "Run while creating");
	config(cfg, sizeof(cfg), SCRIPT_SERVE, "");
	expect_error(rpc(c2, RPC_CREATE, cfg), LC_ERR_ALREADY_RUNNING, "Stop it first",
		     "Create while creating");
	cr_assert_lt(client_open_stream(c2, 0, &code, err, sizeof(err)), 0,
		     "Bind while creating must close the Guest channel");
	cr_assert_eq(status(c2).npids, 2);

	expect_ok(rpc(c2, RPC_STOP, NULL), "Stop while creating");
	expect_error(reply_to(c1, create, WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
		     "Create");
	expect_no_children();
	struct status st = status(c2);
	cr_assert_str_eq(st.state, "NOT_CREATED");
	cr_assert_eq(st.last_code, LC_ERR_CONTROLLER_FORCED_HALT);
	cr_assert(strstr(st.reason, "during Create"), "%s", st.reason);
	close(c1);
	close(c2);
	finish();
}

/* ---------------------------------------------------------------- hostile clients */

/* A frame: the little-endian length, then body. Returns the frame length. */
static size_t frame(uint8_t *out, const char *body)
{
	uint32_t n = (uint32_t)strlen(body);
	uint8_t hdr[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
	memcpy(out, hdr, 4);
	memcpy(out + 4, body, n);
	return 4 + n;
}

struct hostile {
	const char *what;
	uint8_t bytes[64];
	size_t len;   /* 0: bytes is a frame body for frame() */
	bool with_fd; /* a memfd rides on the first byte */
	bool stalls;  /* a partial frame: the connection stays until we close it */
};

static const struct hostile hostiles[] = {
	{ "binary garbage", { 8, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0xff, 0, 1, 0x80 }, 12, false,
	  false },
	{ "a zero length", { 0, 0, 0, 0, '{', '}' }, 6, false, false },
	{ "a length over 64 KiB", { 0x01, 0x00, 0x01, 0x00, '{' }, 5, false, false },
	{ "a frame that is not JSON", "not json!", 0, false, false },
	{ "an unknown method", "{\"id\": 1, \"method\": \"Frob\"}", 0, false, false },
	{ "an fd with Status", "{\"id\": 1, \"method\": \"Status\"}", 0, true, false },
	{ "a Guest call on a lifecycle connection", "{\"id\": 1, \"method\": \"GetSerial\"}", 0,
	  false, false },
	{ "half a frame", { 30, 0, 0, 0, '{', '"', 'i', 'd' }, 8, false, true },
	{ "half a length", { 30, 0 }, 2, false, true },
};

Test(controller, hostile_clients_lose_only_their_own_connection)
{
	int c1 = start(), c2 = conn();
	char cfg[512];
	config(cfg, sizeof(cfg), SCRIPT_FULL, WITH_DEVICES);
	expect_ok(rpc(c1, RPC_CREATE, cfg), "Create");
	uint32_t run = send_call(c1, RPC_RUN, NULL);
	await_state(c2, "RUNNING", WAIT_MS);
	const int fds = count_fds();

	for (size_t i = 0; i < sizeof(hostiles) / sizeof(hostiles[0]); i++) {
		const struct hostile *h = &hostiles[i];
		uint8_t buf[128];
		size_t len = h->len ? h->len : frame(buf, (const char *)h->bytes);
		if (h->len)
			memcpy(buf, h->bytes, h->len);
		int s = conn();
		int memfd = h->with_fd ? tu_memfd() : -1;
		tu_raw_send(s, buf, len, &memfd, h->with_fd);
		if (memfd >= 0)
			close(memfd);
		if (h->stalls) {
			/* Others are served meanwhile; the staller keeps its place. */
			expect_state(c2, "RUNNING");
			cr_assert_not(readable(s, 200), "%s: disconnected", h->what);
		} else {
			expect_eof(s, WAIT_MS, h->what);
		}
		close(s);
		expect_state(c2, "RUNNING");
		expect_fds(fds, WAIT_MS, h->what);
	}
	cr_assert_eq(status(c2).npids, 3);
	expect_ok(rpc(c2, RPC_STOP, NULL), "Stop");
	expect_error(reply_to(c1, run, WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL, "Run");
	expect_no_children();
	close(c1);
	close(c2);
	finish();
}

Test(controller, client_gone_with_run_pending_does_not_stop_the_vm)
{
	int c1 = start();
	char cfg[512];
	config(cfg, sizeof(cfg), SCRIPT_FULL, WITH_DEVICES);
	expect_ok(rpc(c1, RPC_CREATE, cfg), "Create");
	const int fds = count_fds();

	int h = conn();
	send_call(h, RPC_RUN, NULL);
	close(h);
	await_state(c1, "RUNNING", WAIT_MS);
	expect_fds(fds, WAIT_MS, "a client left with Run pending");
	/* The guest runs on and still talks. */
	struct stream serial;
	open_stream(c1, false, &serial);
	read_until(&serial, "running\r\n", WAIT_MS);
	cr_assert_eq(write(serial.fd, "still there\n", 12), 12);
	read_until(&serial, "echo: still there\r\n", WAIT_MS);

	expect_ok(rpc(c1, RPC_STOP, NULL), "Stop");
	expect_eof(serial.fd, WAIT_MS, "serial");
	close(serial.fd);
	expect_no_children();
	close(c1);
	finish();
}

/* ---------------------------------------------------------------- resources */

Test(controller, a_whole_vm_cycle_leaks_no_fd)
{
	int c1 = start(), c2 = conn();
	expect_state(c2, "NOT_CREATED"); /* c2 is accepted: it counts in both */
	const int fds = count_fds();
	char cfg[512];
	for (int i = 0; i < 2; i++) {
		config(cfg, sizeof(cfg), SCRIPT_FULL, WITH_DEVICES);
		expect_ok(rpc(c1, RPC_CREATE, cfg), "Create");
		struct stream serial, console;
		open_stream(c1, false, &serial);
		open_stream(c1, true, &console);
		uint32_t run = send_call(c1, RPC_RUN, NULL);
		read_until(&serial, "running\r\n", WAIT_MS);
		expect_ok(rpc(c2, RPC_STOP, NULL), "Stop");
		expect_error(reply_to(c1, run, WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
			     "Run");
		close(serial.fd);
		close(console.fd);
		expect_fds(fds, WAIT_MS, "Create, Run and Stop");
	}
	expect_no_children();
	close(c1);
	close(c2);
	finish();
}

/* ---------------------------------------------------------------- the fake itself */

/* Usage errors end it with status 1 before it reads anything. */
Test(controller, fake_refuses_a_bad_command_line)
{
	static char *const bad[][6] = {
		{ "fake_vcpu", NULL },
		{ "fake_vcpu", "--kernel-fd", "0", "--serial-fd", "1", NULL },
		{ "fake_vcpu", "--backend", "junk", NULL },
		{ "fake_vcpu", "--control-fd", "99", NULL },
		{ "fake_vcpu", "--frob", NULL },
	};
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	cr_assert_geq(null, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spawn_req req = { .path = fake_bin, .argv = bad[i], .stderr_fd = null };
		pid_t pid;
		int pidfd;
		cr_assert_eq(spawn_child(&req, &pid, &pidfd), 0);
		cr_assert(readable(pidfd, WAIT_MS), "case %zu did not exit", i);
		struct child_end end;
		cr_assert_eq(spawn_reap(pidfd, &end), 1);
		close(pidfd);
		cr_expect(!end.signaled && end.status == 1, "case %zu: signaled %d status %d", i,
			  end.signaled, end.status);
	}
	close(null);
}
