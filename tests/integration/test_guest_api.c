/* The Guest interface's vsock endpoint and balloon controller through
 * cellvmd (docs/rpc.md), with fake_vcpu as the worker (ctl_harness.h).
 *
 * HostVsockConnect: cellvmd makes the hybrid handshake on the VM's vsock
 * socket and passes the client the connected stream. No guest runs here,
 * so once the VM is created the test takes the socket's place at uds_path
 * (in the directory cellvmd was allowed) and plays cellvm-vsock and the
 * guest behind it: it reads the CONNECT line, answers, and then is the
 * guest's end of the stream. Hostile answers (another line, a hang-up,
 * silence) fail the call and nothing else. The balloon controller's calls
 * reach the real cellvm-balloon. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "ctl_harness.h"
#include "host_vsock.h"
#include "lifecycle.h"
#include "rpc.h"
#include "unix_sock.h"

TestSuite(guest_api, .init = ctl_init, .fini = ctl_fini);

#define SCRIPT "ready\nwait-run\nserve\n"

static char sock_dir[64], uds[96];

/* cellvmd allowed a socket directory of the test's own. */
static int start(void)
{
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/cellvm-guestapi.XXXXXX");
	cr_assert_not_null(mkdtemp(sock_dir));
	snprintf(uds, sizeof(uds), "%s/v.sock", sock_dir);
	const char *const args[] = { "--allow-socket-dir", sock_dir, NULL };
	return ctl_start_with(args);
}

static void finish(void)
{
	ctl_finish();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", sock_dir);
	cr_assert_eq(system(cmd), 0);
}

static void create(int c, const char *extra)
{
	char cfg[1024];
	ctl_config(cfg, sizeof(cfg), SCRIPT, extra);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
}

static int bind_guest(int c)
{
	char err[256];
	int g = client_bind(c, err, sizeof(err));
	cr_assert_geq(g, 0, "Bind: %s", err);
	return g;
}

/* HostVsockConnect's reply within ms: the stream, or -1 with *r the error. */
static int vsock_reply(int g, uint32_t id, int ms, struct rpc_reply *r)
{
	char err[256];
	int fd;
	cr_assert(ctl_readable(g, ms), "no reply to HostVsockConnect within %d ms", ms);
	cr_assert_eq(client_recv(g, r, &fd, err, sizeof(err)), 0, "%s", err);
	cr_assert(!r->epitaph && r->id == id);
	cr_assert_eq(r->ok, fd >= 0, "ok %d with fd %d", r->ok, fd);
	return fd;
}

static uint32_t vsock_call(int g, uint32_t port)
{
	char params[48];
	snprintf(params, sizeof(params), "{\"guest_port\": %u}", port);
	return ctl_send_call(g, RPC_HOST_VSOCK_CONNECT, params);
}

/* The test in the device's place: cellvmd's next connection, and the
 * CONNECT line it sends. */
static int device_accept(int lfd, uint32_t want_port)
{
	cr_assert(ctl_readable(lfd, CTL_WAIT_MS), "cellvmd did not connect to the vsock socket");
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(fd, 0);
	char want[32], got[32] = "";
	int n = snprintf(want, sizeof(want), "CONNECT %u\n", want_port);
	size_t len = 0;
	while (len < (size_t)n) {
		cr_assert(ctl_readable(fd, CTL_WAIT_MS), "no CONNECT line: \"%s\"", got);
		ssize_t k = read(fd, got + len, (size_t)n - len);
		cr_assert_gt(k, 0);
		len += (size_t)k;
	}
	cr_assert_str_eq(got, want);
	return fd;
}

static void put(int fd, const char *s)
{
	cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads exactly strlen(want) bytes from fd and compares them. */
static void expect_bytes(int fd, const char *want)
{
	char got[128] = "";
	size_t n = strlen(want), len = 0;
	cr_assert_lt(n, sizeof(got));
	while (len < n) {
		cr_assert(ctl_readable(fd, CTL_WAIT_MS), "waiting for \"%s\", got \"%s\"", want, got);
		ssize_t k = read(fd, got + len, n - len);
		cr_assert_gt(k, 0, "EOF or error waiting for \"%s\"", want);
		len += (size_t)k;
	}
	cr_assert_str_eq(got, want);
}

/* Swaps the device's socket for the test's listener. */
static int take_the_devices_place(void)
{
	cr_assert_eq(unlink(uds), 0);
	int lfd = unix_listen(uds, 8, SOCK_CLOEXEC);
	cr_assert_geq(lfd, 0, "%s", strerror(-lfd));
	return lfd;
}

/* Runs `cellvmctl --socket SOCK ARGS` through sh (stdin and stdout as
 * `redirects` says), without waiting. */
static pid_t cellvmctl(const char *args, const char *redirects)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s --socket %s %s %s", ctl_build_path("client/cellvmctl"),
		 ctl.sock, args, redirects);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Its exit status, within ms. */
static int cellvmctl_status(pid_t pid, int ms)
{
	int ws;
	for (uint64_t end = ctl_now_ms() + (uint64_t)ms; waitpid(pid, &ws, WNOHANG) == 0;) {
		cr_assert_lt(ctl_now_ms(), end, "cellvmctl did not end within %d ms", ms);
		ctl_msleep(10);
	}
	cr_assert(WIFEXITED(ws), "status 0x%x", ws);
	return WEXITSTATUS(ws);
}

/* The whole of a small file, NUL-terminated, in buf. */
static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

Test(guest_api, host_vsock_connect_passes_a_stream_to_the_guest)
{
	int c = start();
	char extra[256];
	snprintf(extra, sizeof(extra), ", \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"%s\"}", uds);
	create(c, extra);
	int g = bind_guest(c);

	/* The real device with no guest behind it: the call fails, in time. */
	struct rpc_reply r;
	uint64_t t0 = ctl_now_ms();
	cr_assert_lt(vsock_reply(g, vsock_call(g, 52), HOST_VSOCK_ANSWER_MS + CTL_WAIT_MS, &r), 0);
	cr_expect_eq(r.code, LC_ERR_FAILED_SERVICE_CONNECT, "%s", r.message);
	cr_expect_leq(ctl_now_ms() - t0, HOST_VSOCK_ANSWER_MS + 1000);
	rpc_reply_free(&r);

	int lfd = take_the_devices_place();
	uint32_t id = vsock_call(g, 1024);
	int dev = device_accept(lfd, 1024);
	/* The guest's first bytes in the same write as the OK line: they are
	 * the client's, not cellvmd's. */
	put(dev, "OK 1073741824\nhello from the guest");
	int s = vsock_reply(g, id, CTL_WAIT_MS, &r);
	cr_assert_geq(s, 0, "HostVsockConnect: %s", r.message);
	cr_expect_str_eq(r.result, "{\"host_port\":1073741824}");
	rpc_reply_free(&r);
	expect_bytes(s, "hello from the guest");
	put(s, "and from the host");
	expect_bytes(dev, "and from the host");
	close(dev);
	char b;
	cr_expect(ctl_readable(s, CTL_WAIT_MS) && read(s, &b, 1) == 0, "EOF after the guest's");
	close(s);

	/* An OK line in pieces, and two handshakes at once answered out of
	 * order. */
	uint32_t id1 = vsock_call(g, 1), id2 = vsock_call(g, 2);
	int d1 = device_accept(lfd, 1), d2 = device_accept(lfd, 2);
	put(d2, "OK 7");
	ctl_msleep(50);
	put(d2, "7\n");
	int s2 = vsock_reply(g, id2, CTL_WAIT_MS, &r);
	cr_assert_geq(s2, 0, "%s", r.message);
	cr_expect_str_eq(r.result, "{\"host_port\":77}");
	rpc_reply_free(&r);
	put(d1, "OK 1\n");
	int s1 = vsock_reply(g, id1, CTL_WAIT_MS, &r);
	cr_assert_geq(s1, 0, "%s", r.message);
	rpc_reply_free(&r);
	put(s1, "one");
	put(s2, "two");
	expect_bytes(d1, "one");
	expect_bytes(d2, "two");
	close(s1);
	close(s2);
	close(d1);
	close(d2);

	/* cellvmctl vsock connect: stdin to the guest, the guest to stdout. */
	char out[128], got[256];
	snprintf(out, sizeof(out), "%s/out", sock_dir);
	char redirects[160];
	snprintf(redirects, sizeof(redirects), "<<EOF >%s\nping\nEOF", out);
	pid_t pid = cellvmctl("vsock connect 22", redirects);
	dev = device_accept(lfd, 22);
	put(dev, "OK 9\npong\n");
	expect_bytes(dev, "ping\n");
	close(dev);
	cr_expect_eq(cellvmctl_status(pid, CTL_WAIT_MS), 0);
	slurp(out, got, sizeof(got));
	cr_expect_str_eq(got, "pong\n");

	close(lfd);
	close(g);
	close(c);
	finish();
}

/* What a compromised device can answer: another line, a hang-up, nothing,
 * or bytes with no end. Each fails its call; the Guest channel and cellvmd
 * go on. */
Test(guest_api, host_vsock_connect_survives_hostile_answers)
{
	int c = start();
	char extra[256];
	snprintf(extra, sizeof(extra), ", \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"%s\"}", uds);
	create(c, extra);
	int g = bind_guest(c);
	int lfd = take_the_devices_place();
	struct rpc_reply r;
	static const char *const answers[] = { "NO 5\n", "OK 05\n", "OK 4294967296\n", "OK 5 \n",
					       "\n", "OK\n" };
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		uint32_t id = vsock_call(g, 80);
		int dev = device_accept(lfd, 80);
		put(dev, answers[i]);
		cr_assert_lt(vsock_reply(g, id, CTL_WAIT_MS, &r), 0, "%s", answers[i]);
		cr_expect_eq(r.code, LC_ERR_FAILED_SERVICE_CONNECT);
		cr_expect(strstr(r.message, "answered with something else"), "%s", r.message);
		rpc_reply_free(&r);
		close(dev);
	}
	/* 64 KiB with no newline: refused at the first byte that cannot
	 * be an OK line, not read to the end. */
	uint32_t id = vsock_call(g, 81);
	int dev = device_accept(lfd, 81);
	static char junk[65536];
	memset(junk, '9', sizeof(junk));
	junk[0] = 'O', junk[1] = 'K', junk[2] = ' ';
	cr_assert_gt(send(dev, junk, sizeof(junk), MSG_DONTWAIT), 0);
	cr_assert_lt(vsock_reply(g, id, CTL_WAIT_MS, &r), 0);
	cr_expect_eq(r.code, LC_ERR_FAILED_SERVICE_CONNECT);
	rpc_reply_free(&r);
	close(dev);

	/* A hang-up: nobody listens in the guest. */
	id = vsock_call(g, 82);
	close(device_accept(lfd, 82));
	cr_assert_lt(vsock_reply(g, id, CTL_WAIT_MS, &r), 0);
	cr_expect_eq(r.code, LC_ERR_FAILED_SERVICE_CONNECT);
	cr_expect(strstr(r.message, "refused"), "%s", r.message);
	rpc_reply_free(&r);

	/* Silence: the call ends after HOST_VSOCK_ANSWER_MS. */
	uint64_t t0 = ctl_now_ms();
	id = vsock_call(g, 83);
	dev = device_accept(lfd, 83);
	cr_assert_lt(vsock_reply(g, id, HOST_VSOCK_ANSWER_MS + CTL_WAIT_MS, &r), 0);
	uint64_t took = ctl_now_ms() - t0;
	cr_expect_eq(r.code, LC_ERR_FAILED_SERVICE_CONNECT);
	cr_expect(strstr(r.message, "no answer"), "%s", r.message);
	cr_expect(took >= HOST_VSOCK_ANSWER_MS - 100 && took < HOST_VSOCK_ANSWER_MS + 2000,
		  "%llu ms", (unsigned long long)took);
	rpc_reply_free(&r);
	close(dev);

	/* Nobody at the socket at all. */
	close(lfd);
	cr_assert_eq(unlink(uds), 0);
	id = vsock_call(g, 84);
	cr_assert_lt(vsock_reply(g, id, CTL_WAIT_MS, &r), 0);
	cr_expect_eq(r.code, LC_ERR_FAILED_SERVICE_CONNECT, "%s", r.message);
	rpc_reply_free(&r);

	ctl_expect_state(c, "CREATED");
	close(g);
	close(c);
	finish();
}

Test(guest_api, host_vsock_connect_refusals)
{
	int c = start();
	create(c, CTL_WITH_RNG);
	int g = bind_guest(c);
	ctl_expect_error(ctl_rpc(g, RPC_HOST_VSOCK_CONNECT, "{\"guest_port\": 1}"),
			 LC_ERR_DEVICE_NOT_PRESENT, "no vsock", "a VM without vsock");
	ctl_expect_error(ctl_rpc(g, RPC_HOST_VSOCK_CONNECT, "{\"port\": 1}"), LC_ERR_BAD_CONFIG,
			 "unknown key", "a key it does not take");
	ctl_expect_error(ctl_rpc(g, RPC_HOST_VSOCK_CONNECT, "{\"guest_port\": 4294967296}"),
			 LC_ERR_BAD_CONFIG, "guest_port", "a port past 32 bits");
	close(g);
	/* A Guest method on the lifecycle connection breaks the protocol:
	 * that connection is closed, nothing else. */
	int other = ctl_conn();
	ctl_send_call(other, RPC_BALLOON_GET_SIZE, NULL);
	char b;
	cr_expect(ctl_readable(other, CTL_WAIT_MS) && read(other, &b, 1) == 0,
		  "the lifecycle connection is closed");
	close(other);
	ctl_expect_state(c, "CREATED");
	close(c);
	finish();
}

Test(guest_api, balloon_controller)
{
	int c = start();
	create(c, ", \"balloon\": {\"amount_mib\": 4, \"stats_polling_interval_s\": 1}");
	struct ctl_stream serial;
	ctl_open_stream(c, false, &serial);
	int g = bind_guest(c);

	struct rpc_reply r = ctl_rpc(g, RPC_BALLOON_GET_SIZE, NULL);
	cr_assert(r.ok, "BalloonGetSize: %s", r.message);
	cr_expect_str_eq(r.result, "{\"current_num_pages\":0,\"requested_num_pages\":1024}");
	rpc_reply_free(&r);

	ctl_expect_ok(ctl_rpc(g, RPC_BALLOON_REQUEST_NUM_PAGES, "{\"requested_num_pages\": 2048}"),
		      "BalloonRequestNumPages");
	ctl_read_until(&serial, "config-changed balloon0\r\n", CTL_WAIT_MS);
	r = ctl_rpc(g, RPC_BALLOON_GET_SIZE, NULL);
	cr_assert(r.ok, "BalloonGetSize: %s", r.message);
	cr_expect_str_eq(r.result, "{\"current_num_pages\":0,\"requested_num_pages\":2048}");
	rpc_reply_free(&r);
	/* The lifecycle connection's view is the same balloon. */
	r = ctl_rpc(c, RPC_BALLOON_STATS, NULL);
	cr_assert(r.ok);
	cr_expect(strstr(r.result, "\"target_mib\":8"), "%s", r.result);
	rpc_reply_free(&r);

	/* 16 MiB are 4096 pages. */
	ctl_expect_ok(ctl_rpc(g, RPC_BALLOON_REQUEST_NUM_PAGES, "{\"requested_num_pages\": 4096}"),
		      "all of it");
	ctl_expect_error(ctl_rpc(g, RPC_BALLOON_REQUEST_NUM_PAGES,
				 "{\"requested_num_pages\": 4097}"),
			 LC_ERR_BAD_CONFIG, "4096 pages", "past the VM's memory");

	/* No guest reports statistics here: none yet, but polling is on. */
	r = ctl_rpc(g, RPC_BALLOON_GET_MEM_STATS, NULL);
	cr_assert(r.ok, "BalloonGetMemStats: %s", r.message);
	cr_expect_str_eq(r.result, "{\"status\":0,\"mem_stats\":[]}");
	rpc_reply_free(&r);

	/* cellvmctl's commands for them. */
	char out[128], redirects[160], got[512];
	snprintf(out, sizeof(out), "%s/out", sock_dir);
	snprintf(redirects, sizeof(redirects), ">%s 2>&1", out);
	cr_expect_eq(cellvmctl_status(cellvmctl("balloon pages 1536", redirects), CTL_WAIT_MS), 0);
	cr_expect_eq(cellvmctl_status(cellvmctl("balloon size", redirects), CTL_WAIT_MS), 0);
	slurp(out, got, sizeof(got));
	cr_expect_str_eq(got, "current_num_pages: 0\nrequested_num_pages: 1536\n");
	cr_expect_eq(cellvmctl_status(cellvmctl("balloon mem-stats", redirects), CTL_WAIT_MS), 0);
	slurp(out, got, sizeof(got));
	cr_expect_str_eq(got, "");
	cr_expect_eq(cellvmctl_status(cellvmctl("balloon pages 4097", redirects), CTL_WAIT_MS), 1);
	slurp(out, got, sizeof(got));
	cr_expect(strstr(got, "BAD_CONFIG"), "%s", got);
	cr_expect_eq(cellvmctl_status(cellvmctl("vsock connect 1", redirects), CTL_WAIT_MS), 1);
	slurp(out, got, sizeof(got));
	cr_expect(strstr(got, "DEVICE_NOT_PRESENT"), "%s", got);

	close(g);
	close(serial.fd);
	close(c);
	finish();
}

Test(guest_api, balloon_controller_without_stats_or_balloon)
{
	int c = start();
	create(c, ", \"balloon\": {\"amount_mib\": 0}");
	int g = bind_guest(c);
	struct rpc_reply r = ctl_rpc(g, RPC_BALLOON_GET_MEM_STATS, NULL);
	cr_assert(r.ok, "BalloonGetMemStats: %s", r.message);
	cr_expect_str_eq(r.result, "{\"status\":-2,\"mem_stats\":null}");
	rpc_reply_free(&r);
	close(g);
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");

	create(c, CTL_WITH_RNG);
	g = bind_guest(c);
	ctl_expect_error(ctl_rpc(g, RPC_BALLOON_GET_SIZE, NULL), LC_ERR_DEVICE_NOT_PRESENT,
			 "no balloon", "BalloonGetSize");
	ctl_expect_error(ctl_rpc(g, RPC_BALLOON_REQUEST_NUM_PAGES, "{\"requested_num_pages\": 1}"),
			 LC_ERR_DEVICE_NOT_PRESENT, "no balloon", "BalloonRequestNumPages");
	ctl_expect_error(ctl_rpc(g, RPC_BALLOON_GET_MEM_STATS, NULL), LC_ERR_DEVICE_NOT_PRESENT,
			 "no balloon", "BalloonGetMemStats");
	close(g);
	close(c);
	finish();
}
