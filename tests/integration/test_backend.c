/* The vhost-user backend core's protocol behaviour, seen from a frontend:
 * ring start/stop, REPLY_ACK refusals, memory table updates, bad messages,
 * reconnection, SIGTERM. cellvm-rng is the device under the core. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msg.h"
#include "tfe.h"

#define MEM (8u << 20)

static const char *rng_bin(void)
{
	return tfe_bin("device-procs/cellvm-rng");
}

static void start(struct tfe *f)
{
	const char *argv[] = { rng_bin(), NULL };
	cr_assert_eq(tfe_start(f, argv, MEM), 0);
	cr_assert_eq(tfe_negotiate(f, 0), 0);
}

static void post_one(struct tfe *f, uint64_t *gpa)
{
	*gpa = tfe_alloc(f, 16);
	struct tfe_buf b = { *gpa, 16, true };
	cr_assert_geq(tfe_post(f, 0, &b, 1, false), 0);
}

static int call_state(struct tfe *f, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhu_msg m = { .request = req, .kind = VHU_P_VRING_STATE,
			     .u.state = { .index = index, .num = num } };
	return tfe_call(f, &m, NULL, 0, NULL);
}

static int call_u64(struct tfe *f, uint32_t req, uint64_t v)
{
	struct vhu_msg m = { .request = req, .kind = VHU_P_U64, .u.u64 = v };
	return tfe_call(f, &m, NULL, 0, NULL);
}

static void expect_exit_ok(struct tfe *f)
{
	int status = tfe_finish(f);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
}

Test(backend, get_vring_base_stops_the_ring_and_returns_next_index)
{
	struct tfe f;
	uint64_t gpa;
	uint32_t id, len;
	start(&f);
	cr_assert_eq(tfe_setup_queue(&f, 0, 8), 0);
	for (int i = 0; i < 3; i++) {
		post_one(&f, &gpa);
		cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
	}
	uint16_t base;
	cr_assert_eq(tfe_stop_queue(&f, 0, &base), 0);
	cr_assert_eq(base, 3);

	/* A stopped ring must not touch guest memory. */
	post_one(&f, &gpa);
	cr_assert_eq(tfe_wait_used(&f, 0, 300, &id, &len), -ETIMEDOUT);

	/* Restart where it stopped: the pending request is served. */
	struct tfe_queue *q = &f.q[0];
	cr_assert_eq(call_state(&f, VHU_SET_VRING_BASE, 0, base), 0);
	struct vhu_msg k = { .request = VHU_SET_VRING_KICK, .kind = VHU_P_U64, .u.u64 = 0 };
	cr_assert_eq(tfe_call(&f, &k, &q->kick_fd, 1, NULL), 0);
	cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
	cr_assert_eq(len, 16);
	expect_exit_ok(&f);
}

Test(backend, ring_waits_for_enable_when_protocol_features_negotiated)
{
	struct tfe f;
	uint64_t gpa;
	uint32_t id, len;
	start(&f);
	cr_assert_eq(tfe_setup_queue(&f, 0, 8), 0);
	cr_assert_eq(call_state(&f, VHU_SET_VRING_ENABLE, 0, 0), 0);
	post_one(&f, &gpa);
	cr_assert_eq(tfe_wait_used(&f, 0, 300, &id, &len), -ETIMEDOUT, "disabled ring ran");
	cr_assert_eq(call_state(&f, VHU_SET_VRING_ENABLE, 0, 1), 0);
	cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0,
		     "enabling must serve what was posted meanwhile");
	expect_exit_ok(&f);
}

Test(backend, refusals_are_nacked_and_the_connection_goes_on)
{
	struct tfe f;
	start(&f);
	cr_assert_eq(call_state(&f, VHU_SET_VRING_NUM, 0, 3), -EIO, "not a power of 2");
	cr_assert_eq(call_state(&f, VHU_SET_VRING_NUM, 0, 4096), -EIO, "above the maximum");
	cr_assert_eq(call_state(&f, VHU_SET_VRING_NUM, 5, 8), -EIO, "no such ring");
	cr_assert_eq(call_state(&f, VHU_SET_VRING_BASE, 0, 70000), -EIO);
	cr_assert_eq(call_state(&f, VHU_SET_VRING_ENABLE, 0, 2), -EIO);
	cr_assert_eq(call_u64(&f, VHU_SET_FEATURES, 1ull << 40), -EIO, "bit not offered");
	cr_assert_eq(call_u64(&f, VHU_SET_FEATURES, 0), -EIO, "legacy virtio");
	cr_assert_eq(call_u64(&f, VHU_SET_PROTOCOL_FEATURES, 1ull << 40), -EIO);
	struct vhu_msg cfg = { .request = VHU_SET_CONFIG, .kind = VHU_P_CONFIG,
			       .u.config = { .offset = 0, .size = 4 } };
	cr_assert_eq(tfe_call(&f, &cfg, NULL, 0, NULL), -EIO, "rng config is read-only");
	uint8_t buf[4];
	cr_assert_eq(tfe_get_config(&f, 0, buf, 4), -EIO, "rng has no config space");
	/* Still serving. */
	cr_assert_eq(tfe_setup_queue(&f, 0, 8), 0);
	uint64_t gpa;
	uint32_t id, len;
	post_one(&f, &gpa);
	cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
	expect_exit_ok(&f);
}

Test(backend, unknown_request_is_refused_and_stream_stays_in_sync)
{
	struct tfe f;
	start(&f);
	uint32_t hdr[3] = { 99, VHU_VERSION | VHU_FLAG_NEED_REPLY, 8 };
	uint64_t payload = 0x1234;
	cr_assert_eq(msg_send(f.sock, hdr, sizeof(hdr), &payload, sizeof(payload), NULL, 0), 0);
	struct vhu_msg r;
	struct msg_fds fds = { .n = 0 };
	cr_assert_eq(vhu_recv(f.sock, &r, &fds), -ENOTSUP, "the NACK names request 99");
	cr_assert_eq(r.request, 99);
	struct vhu_msg g = { .request = VHU_GET_QUEUE_NUM, .kind = VHU_P_NONE };
	cr_assert_eq(tfe_call(&f, &g, NULL, 0, &r), 0);
	cr_assert_eq(r.u.u64, 1);
	expect_exit_ok(&f);
}

Test(backend, bad_framing_ends_the_connection_cleanly)
{
	struct tfe f;
	start(&f);
	uint32_t hdr[3] = { VHU_GET_FEATURES, 2 /* version 2 */, 0 };
	cr_assert_eq(msg_send(f.sock, hdr, sizeof(hdr), NULL, 0, NULL, 0), 0);
	/* With --fd the backend exits once the connection is gone. */
	char c;
	cr_assert_eq(read(f.sock, &c, 1), 0, "backend closes its end");
	expect_exit_ok(&f);
}

Test(backend, memory_regions_added_and_removed)
{
	struct tfe f;
	start(&f);
	uint64_t half = MEM / 2;
	struct vhu_msg rem = { .request = VHU_REM_MEM_REG, .kind = VHU_P_MEM_REG,
			       .u.mem_reg = { .gpa = half, .size = half,
					      .uaddr = (uint64_t)(uintptr_t)(f.mem + half) } };
	cr_assert_eq(tfe_call(&f, &rem, NULL, 0, NULL), 0);
	cr_assert_eq(tfe_call(&f, &rem, NULL, 0, NULL), -EIO, "already removed");

	/* Rings are in the low half: the queue works; a buffer in the removed
	 * half breaks it. */
	cr_assert_eq(tfe_setup_queue(&f, 0, 8), 0);
	struct tfe_buf b = { half + 4096, 16, true };
	cr_assert_geq(tfe_post(&f, 0, &b, 1, false), 0);
	cr_assert(tfe_wait_err(&f, 0, 5000), "buffer outside memory must break the ring");

	struct vhu_msg add = rem;
	add.request = VHU_ADD_MEM_REG;
	cr_assert_eq(tfe_call(&f, &add, &f.memfd[1], 1, NULL), 0);
	cr_assert_eq(tfe_call(&f, &add, &f.memfd[1], 1, NULL), -EIO, "overlap refused");
	struct vhu_msg slots = { .request = VHU_GET_MAX_MEM_SLOTS, .kind = VHU_P_NONE }, r;
	cr_assert_eq(tfe_call(&f, &slots, NULL, 0, &r), 0);
	cr_assert_geq(r.u.u64, 8);
	cr_assert(tfe_alive(&f));
	expect_exit_ok(&f);
}

Test(backend, ring_addresses_outside_memory_never_run)
{
	struct tfe f;
	start(&f);
	cr_assert_eq(call_state(&f, VHU_SET_VRING_NUM, 0, 8), 0);
	struct vhu_msg a = { .request = VHU_SET_VRING_ADDR, .kind = VHU_P_VRING_ADDR,
			     .u.addr = { .index = 0, .desc = 0x10, .used = 0x20, .avail = 0x30 } };
	cr_assert_eq(tfe_call(&f, &a, NULL, 0, NULL), 0);
	int kick = eventfd(0, 0);
	struct vhu_msg k = { .request = VHU_SET_VRING_KICK, .kind = VHU_P_U64, .u.u64 = 0 };
	cr_assert_eq(tfe_call(&f, &k, &kick, 1, NULL), 0);
	uint64_t one = 1;
	cr_assert_eq(write(kick, &one, 8), 8);
	struct vhu_msg g = { .request = VHU_GET_QUEUE_NUM, .kind = VHU_P_NONE }, r;
	cr_assert_eq(tfe_call(&f, &g, NULL, 0, &r), 0, "still serving");
	close(kick);
	expect_exit_ok(&f);
}

Test(backend, reconnects_on_socket_path)
{
	struct tfe f;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/cellvm-test-%d.sock", (int)getpid());
	const char *argv[] = { rng_bin(), NULL };
	cr_assert_eq(tfe_start_path(&f, argv, MEM, path), 0);
	for (int round = 0; round < 3; round++) {
		if (round)
			cr_assert_eq(tfe_reconnect(&f, path), 0);
		cr_assert_eq(tfe_negotiate(&f, 0), 0);
		cr_assert_eq(tfe_setup_queue(&f, 0, 8), 0);
		uint64_t gpa;
		uint32_t id, len;
		post_one(&f, &gpa);
		cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0, "round %d", round);
	}
	cr_assert_eq(kill(f.pid, SIGTERM), 0);
	int status;
	cr_assert_eq(waitpid(f.pid, &status, 0), f.pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM: clean exit");
	/* Confined, the device sees no file system: the socket file stays, and
	 * the next start on the path replaces it. */
	cr_assert_eq(access(path, F_OK), 0, "the socket file is left for the next start");
	cr_assert_eq(unlink(path), 0);
	f.pid = -1;
	tfe_finish(&f);
}

Test(backend, sigterm_exits_cleanly)
{
	struct tfe f;
	start(&f);
	cr_assert_eq(kill(f.pid, SIGTERM), 0);
	expect_exit_ok(&f);
}

Test(backend, usage_errors)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "%s 2>/dev/null", rng_bin());
	cr_assert_neq(system(cmd), 0, "neither --fd nor --socket-path");
	snprintf(cmd, sizeof(cmd), "%s --fd 0 --socket-path /tmp/x 2>/dev/null", rng_bin());
	cr_assert_neq(system(cmd), 0, "both");
	snprintf(cmd, sizeof(cmd), "%s --fd 2 2>/dev/null </dev/null", rng_bin());
	cr_assert_neq(system(cmd), 0, "not a socket");
	snprintf(cmd, sizeof(cmd), "%s --frobnicate 2>/dev/null", rng_bin());
	cr_assert_neq(system(cmd), 0, "unknown option");
	snprintf(cmd, sizeof(cmd), "%s --help >/dev/null", rng_bin());
	cr_assert_eq(system(cmd), 0);
}
