/* cellvmd driven over its socket, without KVM (ctl_harness.h): fake_vcpu is
 * the vcpu-worker and plays each worker behaviour from a script given as the
 * kernel; cellvm-rng, -console and -blk are the real devices.
 *
 * Each test starts its own cellvmd in a fresh directory and ends it with
 * SIGTERM: it must exit 0 and leave none of the processes it started. When a
 * test fails, cellvmd's log (with its children's, which share its stderr) is
 * printed. Every wait has a deadline, so a broken controller fails a test
 * instead of hanging it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "ctl_harness.h"
#include "lifecycle.h"
#include "msg.h"
#include "rpc.h"
#include "spawn.h"
#include "spawner_link.h"
#include "testutil.h"
#include "unix_sock.h"
#include "vhost_user.h"

TestSuite(controller, .init = ctl_init, .fini = ctl_fini, .timeout = 30);

/* ---------------------------------------------------------------- a whole VM */

Test(controller, create_serial_run_stop_and_again)
{
	int c1 = ctl_start(), c2 = ctl_conn();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create");
	struct ctl_status st = ctl_status(c2);
	cr_assert_str_eq(st.state, "CREATED");
	cr_assert_eq(st.npids, 3);
	cr_assert(ctl_pid_of(&st, "vcpu-worker") && ctl_pid_of(&st, "rng0") &&
		  ctl_pid_of(&st, "console0"));

	/* Attached after Create: the boot line comes from the backlog. */
	struct ctl_stream serial, console;
	ctl_open_stream(c1, false, &serial);
	ctl_read_until(&serial, "boot-line\r\n", CTL_WAIT_MS);
	ctl_open_stream(c1, true, &console);

	uint32_t run = ctl_send_call(c1, RPC_RUN, NULL);
	ctl_read_until(&serial, "running\r\n", CTL_WAIT_MS);
	cr_assert_eq(write(serial.fd, "hello\n", 6), 6);
	ctl_read_until(&serial, "echo: hello\r\n", CTL_WAIT_MS);
	ctl_expect_state(c2, "RUNNING");

	ctl_expect_ok(ctl_rpc(c2, RPC_STOP, NULL), "Stop");
	ctl_expect_error(ctl_reply_to(c1, run, CTL_WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
			 "Run after Stop");
	ctl_expect_eof(serial.fd, CTL_WAIT_MS, "serial");
	ctl_expect_eof(console.fd, CTL_WAIT_MS, "console");
	close(serial.fd);
	close(console.fd);
	ctl_expect_no_children();
	st = ctl_status(c2);
	cr_assert_str_eq(st.state, "NOT_CREATED");
	cr_assert(st.have_last && st.last_code == LC_ERR_CONTROLLER_FORCED_HALT, "%d %s",
		  st.last_code, st.reason);

	/* The same again: nothing of the first VM is in the way. */
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create again");
	run = ctl_send_call(c1, RPC_RUN, NULL);
	ctl_await_state(c2, "RUNNING", CTL_WAIT_MS);
	cr_assert_eq(ctl_status(c2).npids, 3);
	ctl_expect_ok(ctl_rpc(c2, RPC_STOP, NULL), "Stop again");
	ctl_expect_error(ctl_reply_to(c1, run, CTL_WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
			 "Run again");
	ctl_expect_no_children();
	close(c1);
	close(c2);
	ctl_finish();
}

Test(controller, guest_poweroff_is_a_successful_run)
{
	int c = ctl_start();
	char cfg[512];
	for (int i = 0; i < 2; i++) {
		ctl_config(cfg, sizeof(cfg), "ready\nwait-run\nexit 0 guest powered off\n",
			   CTL_WITH_RNG);
		ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
		cr_assert_eq(ctl_status(c).npids, 2);
		ctl_expect_ok(ctl_rpc(c, RPC_RUN, NULL), "Run");
		struct ctl_status st = ctl_status(c);
		cr_assert_str_eq(st.state, "NOT_CREATED");
		cr_assert(st.have_last && st.last_code == 0, "last error %d: %s", st.last_code,
			  st.reason);
		cr_assert(strstr(st.reason, "powered off"), "%s", st.reason);
		ctl_expect_no_children();
	}
	close(c);
	ctl_finish();
}

/* Create with the fake worker (CTL_SCRIPT_FULL), rng0 and console0, then
 * Run on c1 until c2 sees RUNNING: the Run call's id, and the status with
 * rng0's pid in *st. */
static uint32_t run_with_devices(int c1, int c2, struct ctl_status *st)
{
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create");
	uint32_t run = ctl_send_call(c1, RPC_RUN, NULL);
	ctl_await_state(c2, "RUNNING", CTL_WAIT_MS);
	*st = ctl_status(c2);
	cr_assert_gt(ctl_pid_of(st, "rng0"), 0);
	return run;
}

Test(controller, device_killed_while_running_ends_run)
{
	int c1 = ctl_start(), c2 = ctl_conn();
	struct ctl_status st;
	uint32_t run = run_with_devices(c1, c2, &st);
	pid_t rng = ctl_pid_of(&st, "rng0");

	cr_assert_eq(kill(rng, SIGKILL), 0);
	uint64_t t0 = ctl_now_ms();
	struct rpc_reply r = ctl_reply_to(c1, run, 1000);
	cr_assert_leq(ctl_now_ms() - t0, 1000);
	cr_assert(strstr(r.message, "SIGKILL"), "%s", r.message);
	ctl_expect_error(r, LC_ERR_VCPU_RUNTIME_FAILURE, "rng0", "Run");
	ctl_expect_no_children();
	st = ctl_status(c2);
	cr_assert_str_eq(st.state, "NOT_CREATED");
	cr_assert_eq(st.last_code, LC_ERR_VCPU_RUNTIME_FAILURE);
	cr_assert(strstr(st.reason, "rng0"), "%s", st.reason);
	close(c1);
	close(c2);
	ctl_finish();
}

/* A device that exits cleanly (its connection closed) while its worker
 * lives on: after a short grace for the worker's own end, which does not
 * come, the device is the reason. */
Test(controller, a_device_that_exits_while_the_worker_lives_ends_run)
{
	int c1 = ctl_start();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), "ready\nwait-run\nhangup rng0\nserve\n", CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create");
	uint32_t run = ctl_send_call(c1, RPC_RUN, NULL);
	struct rpc_reply r = ctl_reply_to(c1, run, CTL_WAIT_MS);
	ctl_expect_error(r, LC_ERR_VCPU_RUNTIME_FAILURE, "rng0 exited with status 0", "Run");
	ctl_expect_no_children();
	close(c1);
	ctl_finish();
}

/* A device process killed while the VM runs is started again, its new
 * socket sent to the worker (the fake says "restarted rng0"), as often as
 * its policy allows (2 in 60 s here); the next end is the VM's, named. A
 * HUNG about the process already replaced (generation 0) kills nothing. */
Test(controller, a_killed_device_is_restarted_until_its_policy_is_spent)
{
	int c1 = ctl_start(), c2 = ctl_conn();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL,
		   CTL_WITH_DEVICES ", \"restart\": {\"max\": 2, \"window_s\": 60}");
	ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create");
	uint32_t run = ctl_send_call(c1, RPC_RUN, NULL);
	ctl_await_state(c2, "RUNNING", CTL_WAIT_MS);
	struct ctl_status st = ctl_status(c2);
	pid_t pid = ctl_pid_of(&st, "rng0");
	cr_assert_gt(pid, 0);
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(kill(pid, SIGKILL), 0);
		pid_t next = 0;
		uint64_t t0 = ctl_now_ms();
		while (ctl_now_ms() - t0 < CTL_WAIT_MS) {
			st = ctl_status(c2);
			next = ctl_pid_of(&st, "rng0");
			if (next > 0 && next != pid)
				break;
			usleep(10000);
		}
		cr_assert(next > 0 && next != pid, "rng0 not restarted (kill %d)", k + 1);
		cr_assert_str_eq(st.state, "RUNNING");
		pid = next;
	}
	cr_assert_eq(kill(pid, SIGKILL), 0);
	struct rpc_reply r = ctl_reply_to(c1, run, CTL_WAIT_MS);
	ctl_expect_error(r, LC_ERR_VCPU_RUNTIME_FAILURE, "rng0", "Run");
	cr_assert(strstr(r.message, "SIGKILL"), "%s", r.message);
	ctl_expect_no_children();
	close(c1);
	close(c2);
	ctl_finish();
}

/* The worker's watch finds a device not answering and says so (HUNG):
 * cellvmd kills it, and it is the reason the VM ends, in words. A HUNG
 * naming no device of the VM is ignored. */
Test(controller, a_device_the_worker_finds_hung_is_killed_and_named)
{
	int c1 = ctl_start();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), "ready\nwait-run\nhung nosuch0\nhung vcpu-worker\nhung rng0\n"
		   "serve\n", CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create");
	uint32_t run = ctl_send_call(c1, RPC_RUN, NULL);
	struct rpc_reply r = ctl_reply_to(c1, run, CTL_WAIT_MS);
	ctl_expect_error(r, LC_ERR_VCPU_RUNTIME_FAILURE, "rng0 killed by signal 9", "Run");
	cr_assert(strstr(r.message, "hung"), "%s", r.message);
	ctl_expect_no_children();
	close(c1);
	ctl_finish();
}

/* The worker notices a dead backend too and says so, maybe before cellvmd
 * has seen the device die: the device's signal stays the reason. */
Test(controller, a_device_killed_is_the_reason_though_the_worker_said_exit_first)
{
	int c1 = ctl_start(), c2 = ctl_conn();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg),
		   "ready\nwait-run\nsay-exit 13 device rng0: backend connection failed\n"
		   "serial said\nserve\n", CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create");
	struct ctl_stream serial;
	ctl_open_stream(c1, false, &serial);
	uint32_t run = ctl_send_call(c1, RPC_RUN, NULL);
	ctl_read_until(&serial, "said\r\n", CTL_WAIT_MS);
	struct ctl_status st = ctl_status(c2);
	pid_t rng = ctl_pid_of(&st, "rng0");
	cr_assert_gt(rng, 0);
	cr_assert_eq(kill(rng, SIGKILL), 0);
	struct rpc_reply r = ctl_reply_to(c1, run, CTL_WAIT_MS);
	ctl_expect_error(r, LC_ERR_VCPU_RUNTIME_FAILURE, "SIGKILL", "Run");
	cr_expect(strstr(r.message, "rng0"), "%s", r.message);
	ctl_expect_no_children();
	close(c1);
	close(c2);
	ctl_finish();
}

Test(controller, hung_worker_ends_run)
{
	int c = ctl_start();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), "ready\nwait-run\nhang\n", CTL_WITH_RNG);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	cr_assert_eq(ctl_status(c).npids, 2);
	ctl_expect_error(ctl_reply_to(c, ctl_send_call(c, RPC_RUN, NULL), 3000),
			 LC_ERR_VCPU_RUNTIME_FAILURE, "hung", "Run");
	ctl_expect_no_children();
	close(c);
	ctl_finish();
}

Test(controller, sigterm_stops_a_running_vm)
{
	int c = ctl_start();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	uint32_t run = ctl_send_call(c, RPC_RUN, NULL);
	ctl_await_state(c, "RUNNING", CTL_WAIT_MS);
	cr_assert_eq(ctl_status(c).npids, 3);
	ctl_finish();
	ctl_expect_error(ctl_reply_to(c, run, CTL_WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
			 "Run");
	close(c);
}

/* ---------------------------------------------------------------- Create failures */

Test(controller, create_fails_as_the_worker_says)
{
	int c = ctl_start();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), "serial booting\nexit 10 bad kernel image\n", CTL_WITH_RNG);
	ctl_create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, "bad kernel image");
	struct ctl_status st = ctl_status(c);
	cr_assert(st.have_last && st.last_code == LC_ERR_KERNEL_LOAD_FAILURE);
	cr_assert(strstr(st.reason, "bad kernel image"), "%s", st.reason);

	ctl_config(cfg, sizeof(cfg), "crash\n", CTL_WITH_RNG);
	ctl_create_fails(c, cfg, LC_ERR_GUEST_INITIALIZATION_FAILURE, "SIGSEGV");
	ctl_config(cfg, sizeof(cfg), "exit 13 backend rng0: gone\n", CTL_WITH_DEVICES);
	ctl_create_fails(c, cfg, LC_ERR_DEVICE_INITIALIZATION_FAILURE, "backend rng0: gone");
	close(c);
	ctl_finish();
}

/* The fake's own failures: what it cannot run is a kernel it cannot load. */
Test(controller, create_fails_on_a_script_the_fake_cannot_run)
{
	int c = ctl_start();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), "serial booting\nfrobnicate now\n", CTL_WITH_RNG);
	ctl_create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE,
			 "line 2: unknown command \"frobnicate\"");

	ctl_config(cfg, sizeof(cfg), "exit 256 too big\n", "");
	ctl_create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, "want 0..255");
	ctl_config(cfg, sizeof(cfg), "serial no exit\n", "");
	ctl_create_fails(c, cfg, LC_ERR_GUEST_INITIALIZATION_FAILURE, "ended without exit");

	static char big[(64u << 10) + 2];
	memset(big, '\n', sizeof(big) - 1);
	ctl_config(cfg, sizeof(cfg), big, "");
	ctl_create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, "larger than");
	close(c);
	ctl_finish();
}

Test(controller, create_fails_on_a_missing_file)
{
	int c = ctl_start();
	char cfg[1024], path[128];
	snprintf(path, sizeof(path), "%s/no-such-kernel", ctl.dir);
	snprintf(cfg, sizeof(cfg), "{\"kernel\": \"%s\", \"rng\": true}", path);
	ctl_create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, path);

	snprintf(path, sizeof(path), "%s/no-such-disk", ctl.dir);
	char extra[512];
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"path\": \"%s\"}], \"rng\": true",
		 path);
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, extra);
	ctl_create_fails(c, cfg, LC_ERR_DEVICE_START_FAILURE, "blk0");

	/* blk0's process is started before blk1 fails: it must be gone too. */
	char disk[128];
	snprintf(disk, sizeof(disk), "%s/disk.img", ctl.dir);
	int fd = open(disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	snprintf(extra, sizeof(extra),
		 ", \"block_devices\": [{\"path\": \"%s\"}, {\"path\": \"%s\"}]", disk, path);
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, extra);
	ctl_create_fails(c, cfg, LC_ERR_DEVICE_START_FAILURE, "blk1");
	close(c);
	ctl_finish();
}

Test(controller, create_fails_on_a_bad_config)
{
	int c = ctl_start();
	ctl_create_fails(c, "{\"kernel\": \"/k\", \"memory\": \"12X\"}", LC_ERR_BAD_CONFIG,
			 "memory: \"12X\"");
	ctl_create_fails(c, "{\"kernel\": \"/k\", \"cpu\": 2}", LC_ERR_BAD_CONFIG, "\"cpu\"");
	/* Refused before anything started: Status has no last error. */
	cr_assert_not(ctl_status(c).have_last);
	close(c);
	ctl_finish();
}

/* A block device served by an external vhost-user backend (this test)
 * that does not answer as one: the fake's `backends` check fails. */
enum bad_backend { HANGS_UP, SILENT, WRONG_REPLY };

static void backend_fails(int c, enum bad_backend how, const char *word)
{
	char extra[512], cfg[1024];
	char path[UNIX_SOCK_PATH_MAX + 1];
	snprintf(path, sizeof(path), "%s/vhu%d.sock", ctl.dir, (int)how);
	int l = unix_listen(path, 1, 0);
	cr_assert_geq(l, 0);
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"vhost_user_socket\": \"%s\"}]",
		 path);
	ctl_config(cfg, sizeof(cfg), "backends\nready\nwait-run\nserve\n", extra);
	uint32_t id = ctl_send_call(c, RPC_CREATE, cfg);

	cr_assert(ctl_readable(l, CTL_WAIT_MS), "the controller did not connect to %s", path);
	int b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(b, 0);
	if (how == WRONG_REPLY) {
		struct vhu_msg m;
		struct msg_fds fds;
		cr_assert(ctl_readable(b, CTL_WAIT_MS));
		cr_assert_eq(vhu_recv(b, &m, &fds), 0);
		msg_fds_close(&fds);
		cr_assert_eq(m.request, VHU_GET_FEATURES);
		m = (struct vhu_msg){ .request = VHU_GET_PROTOCOL_FEATURES, .flags = VHU_FLAG_REPLY,
				      .kind = VHU_P_U64 };
		cr_assert_eq(vhu_send(b, &m, NULL, 0), 0);
	}
	if (how == HANGS_UP)
		close(b);
	struct rpc_reply r = ctl_reply_to(c, id, CTL_WAIT_MS);
	cr_assert(strstr(r.message, word), "%s", r.message);
	ctl_expect_error(r, LC_ERR_DEVICE_INITIALIZATION_FAILURE, "backend blk0", "Create");
	ctl_expect_state(c, "NOT_CREATED");
	ctl_expect_no_children();
	if (how != HANGS_UP)
		close(b);
	close(l);
}

Test(controller, create_fails_on_a_dead_backend)
{
	int c = ctl_start();
	backend_fails(c, HANGS_UP, "hung up");
	backend_fails(c, SILENT, "no reply");
	backend_fails(c, WRONG_REPLY, "GET_PROTOCOL_FEATURES");
	close(c);
	ctl_finish();
}

/* ---------------------------------------------------------------- calls in the wrong state */

Test(controller, calls_in_the_wrong_state)
{
	int c = ctl_start();
	char cfg[512], err[256];
	int code;
	ctl_expect_error(ctl_rpc(c, RPC_RUN, NULL), LC_ERR_NOT_CREATED, "Create first",
			 "Run before Create");
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop with no VM");
	cr_assert_lt(client_open_stream(c, 0, &code, err, sizeof(err)), 0,
		     "Bind before Create must close the Guest channel");
	cr_assert_eq(code, 0);
	cr_assert_not(ctl_status(c).have_last, "refused calls do not touch Status");

	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, CTL_WITH_RNG);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, CTL_WITH_RNG);
	ctl_expect_error(ctl_rpc(c, RPC_CREATE, cfg), LC_ERR_ALREADY_RUNNING, "Stop it first",
			 "Create while created");
	cr_assert_eq(client_open_stream(c, 1, &code, err, sizeof(err)), -ENODEV);
	cr_assert_eq(code, LC_ERR_DEVICE_NOT_PRESENT, "%s", err);

	/* The second Run is answered while the first is pending, on one
	 * connection: replies come by id. */
	uint32_t run = ctl_send_call(c, RPC_RUN, NULL);
	ctl_expect_error(ctl_rpc(c, RPC_RUN, NULL), LC_ERR_ALREADY_RUNNING, "already running",
			 "Run twice");
	cr_assert_eq(ctl_status(c).npids, 2);
	uint32_t stop = ctl_send_call(c, RPC_STOP, NULL);
	struct rpc_reply r[2];
	ctl_replies(c, (uint32_t[]){ run, stop }, r);
	ctl_expect_error(r[0], LC_ERR_CONTROLLER_FORCED_HALT, NULL, "Run");
	ctl_expect_ok(r[1], "Stop");
	ctl_expect_no_children();
	close(c);
	ctl_finish();
}

Test(controller, calls_while_creating)
{
	int c1 = ctl_start(), c2 = ctl_conn();
	char cfg[512], err[256];
	int code;
	/* A worker that never reports READY: Create stays pending. */
	ctl_config(cfg, sizeof(cfg), "serial building\nwait-run\n", CTL_WITH_RNG);
	uint32_t create = ctl_send_call(c1, RPC_CREATE, cfg);
	ctl_await_state(c2, "CREATING", CTL_WAIT_MS);
	ctl_expect_error(ctl_rpc(c2, RPC_RUN, NULL), LC_ERR_NOT_CREATED, "Create first",
			 "Run while creating");
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, "");
	ctl_expect_error(ctl_rpc(c2, RPC_CREATE, cfg), LC_ERR_ALREADY_RUNNING, "Stop it first",
			 "Create while creating");
	cr_assert_lt(client_open_stream(c2, 0, &code, err, sizeof(err)), 0,
		     "Bind while creating must close the Guest channel");
	cr_assert_eq(ctl_status(c2).npids, 2);

	ctl_expect_ok(ctl_rpc(c2, RPC_STOP, NULL), "Stop while creating");
	ctl_expect_error(ctl_reply_to(c1, create, CTL_WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
			 "Create");
	ctl_expect_no_children();
	struct ctl_status st = ctl_status(c2);
	cr_assert_str_eq(st.state, "NOT_CREATED");
	cr_assert_eq(st.last_code, LC_ERR_CONTROLLER_FORCED_HALT);
	cr_assert(strstr(st.reason, "during Create"), "%s", st.reason);
	close(c1);
	close(c2);
	ctl_finish();
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
	int c1 = ctl_start(), c2 = ctl_conn();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create");
	uint32_t run = ctl_send_call(c1, RPC_RUN, NULL);
	ctl_await_state(c2, "RUNNING", CTL_WAIT_MS);
	const int fds = ctl_count_fds();

	for (size_t i = 0; i < sizeof(hostiles) / sizeof(hostiles[0]); i++) {
		const struct hostile *h = &hostiles[i];
		uint8_t buf[128];
		size_t len = h->len ? h->len : frame(buf, (const char *)h->bytes);
		if (h->len)
			memcpy(buf, h->bytes, h->len);
		int s = ctl_conn();
		int memfd = h->with_fd ? tu_memfd() : -1;
		tu_raw_send(s, buf, len, &memfd, h->with_fd);
		if (memfd >= 0)
			close(memfd);
		if (h->stalls) {
			/* Others are served meanwhile; the staller keeps its place. */
			ctl_expect_state(c2, "RUNNING");
			cr_assert_not(ctl_readable(s, 200), "%s: disconnected", h->what);
		} else {
			ctl_expect_eof(s, CTL_WAIT_MS, h->what);
		}
		close(s);
		ctl_expect_state(c2, "RUNNING");
		ctl_expect_fds(fds, CTL_WAIT_MS, h->what);
	}
	cr_assert_eq(ctl_status(c2).npids, 3);
	ctl_expect_ok(ctl_rpc(c2, RPC_STOP, NULL), "Stop");
	ctl_expect_error(ctl_reply_to(c1, run, CTL_WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
			 "Run");
	ctl_expect_no_children();
	close(c1);
	close(c2);
	ctl_finish();
}

Test(controller, client_gone_with_run_pending_does_not_stop_the_vm)
{
	int c1 = ctl_start();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create");
	const int fds = ctl_count_fds();

	int h = ctl_conn();
	ctl_send_call(h, RPC_RUN, NULL);
	close(h);
	ctl_await_state(c1, "RUNNING", CTL_WAIT_MS);
	ctl_expect_fds(fds, CTL_WAIT_MS, "a client left with Run pending");
	/* The guest runs on and still talks. */
	struct ctl_stream serial;
	ctl_open_stream(c1, false, &serial);
	ctl_read_until(&serial, "running\r\n", CTL_WAIT_MS);
	cr_assert_eq(write(serial.fd, "still there\n", 12), 12);
	ctl_read_until(&serial, "echo: still there\r\n", CTL_WAIT_MS);

	ctl_expect_ok(ctl_rpc(c1, RPC_STOP, NULL), "Stop");
	ctl_expect_eof(serial.fd, CTL_WAIT_MS, "serial");
	close(serial.fd);
	ctl_expect_no_children();
	close(c1);
	ctl_finish();
}

/* ---------------------------------------------------------------- resources */

Test(controller, a_whole_vm_cycle_leaks_no_fd)
{
	int c1 = ctl_start(), c2 = ctl_conn();
	ctl_expect_state(c2, "NOT_CREATED"); /* c2 is accepted: it counts in both */
	const int fds = ctl_count_fds();
	char cfg[512];
	for (int i = 0; i < 2; i++) {
		ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL, CTL_WITH_DEVICES);
		ctl_expect_ok(ctl_rpc(c1, RPC_CREATE, cfg), "Create");
		struct ctl_stream serial, console;
		ctl_open_stream(c1, false, &serial);
		ctl_open_stream(c1, true, &console);
		uint32_t run = ctl_send_call(c1, RPC_RUN, NULL);
		ctl_read_until(&serial, "running\r\n", CTL_WAIT_MS);
		ctl_expect_ok(ctl_rpc(c2, RPC_STOP, NULL), "Stop");
		ctl_expect_error(ctl_reply_to(c1, run, CTL_WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT,
				 NULL, "Run");
		close(serial.fd);
		close(console.fd);
		ctl_expect_fds(fds, CTL_WAIT_MS, "Create, Run and Stop");
	}
	ctl_expect_no_children();
	close(c1);
	close(c2);
	ctl_finish();
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
	const char *fake = ctl_build_path("tests/integration/fake_vcpu");
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	cr_assert_geq(null, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spawn_req req = { .path = fake, .argv = bad[i], .stderr_fd = null };
		pid_t pid;
		int pidfd;
		cr_assert_eq(spawn_child(&req, &pid, &pidfd), 0);
		cr_assert(ctl_readable(pidfd, CTL_WAIT_MS), "case %zu did not exit", i);
		struct child_end end;
		cr_assert_eq(spawn_reap(pidfd, &end), 1);
		close(pidfd);
		cr_expect(!end.signaled && end.status == 1, "case %zu: signaled %d status %d", i,
			  end.signaled, end.status);
	}
	close(null);
}

/* ---------------------------------------------------------------- the spawner */

Test(controller, the_vms_processes_are_children_of_the_spawner_not_of_cellvmd)
{
	int c = ctl_start();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	struct ctl_status st = ctl_status(c);
	cr_assert_eq(st.npids, 3);
	for (size_t i = 0; i < st.npids; i++)
		cr_expect_eq(tu_parent_of(st.pids[i].pid), ctl.spawner, "%s (pid %d): parent %d",
			     st.pids[i].name, (int)st.pids[i].pid, (int)tu_parent_of(st.pids[i].pid));
	pid_t kids[8];
	cr_expect_eq(ctl_children(ctl.pid, kids, 8), 1, "cellvmd has children besides its spawner");
	cr_expect_eq(tu_parent_of(ctl.spawner), ctl.pid);
	ctl_finish();
}

Test(controller, sigkill_of_cellvmd_leaves_no_process_behind)
{
	int c = ctl_start(), c2 = ctl_conn();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	ctl_send_call(c, RPC_RUN, NULL);
	ctl_await_state(c2, "RUNNING", CTL_WAIT_MS);
	/* Every process: the spawner, what it started, and what those started
	 * (none: a device's confined process is the one the spawner started). */
	pid_t all[32] = { ctl.spawner };
	size_t n = 1;
	struct ctl_status st = ctl_status(c2);
	for (size_t i = 0; i < st.npids; i++) {
		all[n++] = st.pids[i].pid;
		n += ctl_children(st.pids[i].pid, all + n, 4);
	}
	cr_assert_eq(n, 4, "not the spawner and its 3 children");
	cr_assert_eq(kill(ctl.pid, SIGKILL), 0);
	struct child_end end = ctl_wait_end(CTL_WAIT_MS);
	cr_assert(end.signaled && end.status == SIGKILL);
	for (size_t i = 0; i < n; i++) {
		uint64_t until = ctl_now_ms() + CTL_WAIT_MS;
		while (!tu_ended(all[i]) && ctl_now_ms() < until)
			ctl_msleep(10);
		char comm[32];
		ctl_comm(all[i], comm, sizeof(comm));
		cr_expect(tu_ended(all[i]), "pid %d (%s) outlived cellvmd", (int)all[i], comm);
	}
	ctl.ended = true; /* no log to show: it was killed on purpose */
	close(c);
	close(c2);
}

Test(controller, a_dead_spawner_fails_create_cleanly)
{
	int c = ctl_start();
	cr_assert_eq(kill(ctl.spawner, SIGKILL), 0);
	/* cellvmd reaps it, says so once, and goes on serving. */
	pid_t kids[2];
	for (uint64_t end = ctl_now_ms() + CTL_WAIT_MS; ctl_children(ctl.pid, kids, 2) > 0;) {
		cr_assert_lt(ctl_now_ms(), end, "cellvmd did not reap its dead spawner");
		ctl_msleep(10);
	}
	/* Counted after the first refusal: the spawner's pidfd may still be
	 * closing when it is seen reaped. */
	int fds = -1;
	char cfg[512];
	for (int i = 0; i < 3; i++) {
		/* The worker is started first (vm.c), so its start is what fails. */
		ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, CTL_WITH_RNG);
		ctl_expect_error(ctl_rpc(c, RPC_CREATE, cfg), LC_ERR_GUEST_INITIALIZATION_FAILURE,
				 "vcpu-worker: starting", "Create without a spawner");
		ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, "");
		ctl_expect_error(ctl_rpc(c, RPC_CREATE, cfg), LC_ERR_GUEST_INITIALIZATION_FAILURE,
				 "Broken pipe", "Create without a spawner or devices");
		ctl_expect_state(c, "NOT_CREATED");
		if (fds < 0)
			fds = ctl_count_fds();
		else
			ctl_expect_fds(fds, CTL_WAIT_MS, "a Create without a spawner");
	}
	cr_expect_eq(ctl_children(ctl.pid, kids, 2), 0);
	close(c);
	ctl_finish();
}

/* A spawner that stops answering (SIGSTOP) while the VM runs: the device's
 * end is still reported, and cellvmd makes sure every process of the VM is
 * gone rather than wait for the spawner (test_spawner shows cellvmd's exit
 * killing a stopped spawner). */
Test(controller, a_stuck_spawner_does_not_keep_the_vm_alive)
{
	int c1 = ctl_start(), c2 = ctl_conn();
	struct ctl_status st;
	uint32_t run = run_with_devices(c1, c2, &st);
	pid_t rng = ctl_pid_of(&st, "rng0");

	cr_assert_eq(kill(ctl.spawner, SIGSTOP), 0);
	cr_assert_eq(kill(rng, SIGKILL), 0);
	struct rpc_reply r = ctl_reply_to(c1, run, SPAWNER_REPLY_MS + 5000);
	ctl_expect_error(r, LC_ERR_VCPU_RUNTIME_FAILURE, "rng0", "Run");
	for (size_t i = 0; i < st.npids; i++)
		cr_expect(tu_ended(st.pids[i].pid), "%s (pid %d) outlived the VM", st.pids[i].name,
			  (int)st.pids[i].pid);
	close(c1);
	close(c2);
	/* Its channel was shut at the timeout: once it runs, it sees EOF. */
	cr_assert_eq(kill(ctl.spawner, SIGCONT), 0);
	ctl_finish();
}

static bool reaped(pid_t pid)
{
	errno = 0;
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* The spawner reports each end unasked: with cellvmd stopped, it reaps the
 * VM's processes as they end, and once it has it is stopped in turn.
 * cellvmd, resumed, learns every end at once and how (the worker killed by
 * SIGSEGV, which SIGUSR2 makes it crash with, not the SIGKILL it counts for
 * an end nobody reports), without
 * waiting SPAWNER_REPLY_MS for a spawner that answers nothing. */
Test(controller, the_spawner_reports_ends_unasked)
{
	int c1 = ctl_start(), c2 = ctl_conn();
	struct ctl_status st;
	uint32_t run = run_with_devices(c1, c2, &st);

	cr_assert_eq(kill(ctl.pid, SIGSTOP), 0);
	/* The devices exit once their frontend is gone. */
	cr_assert_eq(kill(ctl_pid_of(&st, "vcpu-worker"), SIGUSR2), 0);
	uint64_t until = ctl_now_ms() + CTL_WAIT_MS;
	for (size_t i = 0; i < st.npids; i++)
		while (!reaped(st.pids[i].pid)) {
			cr_assert_lt(ctl_now_ms(), until, "%s (pid %d) was not reaped by the spawner",
				     st.pids[i].name, (int)st.pids[i].pid);
			ctl_msleep(10);
		}
	ctl_msleep(100); /* each ENDED is sent as soon as its child is reaped */
	cr_assert_eq(kill(ctl.spawner, SIGSTOP), 0);
	cr_assert_eq(kill(ctl.pid, SIGCONT), 0);

	uint64_t t0 = ctl_now_ms();
	ctl_expect_error(ctl_reply_to(c1, run, SPAWNER_REPLY_MS / 2), LC_ERR_VCPU_RUNTIME_FAILURE,
			 "SIGSEGV", "Run");
	cr_expect_lt(ctl_now_ms() - t0, 1000, "cellvmd waited %llu ms for the spawner",
		     (unsigned long long)(ctl_now_ms() - t0));
	ctl_expect_state(c2, "NOT_CREATED");
	cr_assert_eq(kill(ctl.spawner, SIGCONT), 0);
	close(c1);
	close(c2);
	ctl_finish();
}
