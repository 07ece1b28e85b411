/* UpdateBlockDevice through cellvmd (ctl_harness.h, fake_vcpu as the
 * worker, the real cellvm-blk): a running VM's disk is swapped for another
 * image. cellvmd opens the new image beneath --allow-dir, kills blk0's
 * process and starts it again on the new image (not counted against a
 * restart policy of none), hands the worker its new socket ("restarted
 * blk0" on the fake's serial) and, once it resumed, asks for the guest's
 * config-change interrupt ("config-changed blk0"). The old image's lock
 * goes with the old process. What is refused leaves the old image served. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_harness.h"
#include "lifecycle.h"
#include "rpc.h"

TestSuite(drive_swap, .init = ctl_init_allow_dir, .fini = ctl_fini_allow_dir, .timeout = 30);

/* ctl.allow_dir/name, a file of size bytes (or content); its path in out. */
static void put(char *out, size_t len, const char *name, const char *content, off_t size)
{
	snprintf(out, len, "%s/%s", ctl.allow_dir, name);
	int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "%s: %s", out, strerror(errno));
	if (content)
		cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	else
		cr_assert_eq(ftruncate(fd, size), 0);
	close(fd);
}

/* Whether path can be locked for writing now (no VM holds it). */
static bool lockable(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	bool ok = fcntl(fd, F_OFD_SETLK, &fl) == 0;
	close(fd);
	return ok;
}

/* The file pid has open as fd (/proc/PID/fd/FD), or "" when it cannot be
 * read. */
static void fd_target(pid_t pid, int fd, char *out, size_t len)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
	ssize_t n = readlink(link, out, len - 1);
	out[n > 0 ? n : 0] = '\0';
}

static int listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(l, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(l, 4), 0);
	return l;
}

#define SWAP "{\"device\": \"%s\", \"path\": \"%s\"}"

Test(drive_swap, a_running_disk_serves_the_new_image_and_the_guest_is_told)
{
	char a[128], b[128], kernel[128], sock[128], params[512], cfg[1024];
	put(a, sizeof(a), "a.img", NULL, 1 << 20);
	put(b, sizeof(b), "b.img", NULL, 2 << 20);
	put(kernel, sizeof(kernel), "kernel", CTL_SCRIPT_SERVE, 0);
	snprintf(sock, sizeof(sock), "%s/ext.sock", ctl.allow_dir);
	int l = listener(sock);
	const char *const args[] = { "--allow-dir", ctl.allow_dir, "--allow-socket-dir", ctl.allow_dir, NULL };
	int c = ctl_start_with(args);

	snprintf(params, sizeof(params), SWAP, "blk0", b);
	ctl_expect_error(ctl_rpc(c, RPC_UPDATE_BLOCK_DEVICE, params), LC_ERR_NOT_CREATED, "state",
			 "before Create");
	/* No restarts allowed: a swap is none of the policy's. */
	snprintf(cfg, sizeof(cfg),
		 "{\"kernel\": \"%s\", \"memory\": \"16M\", \"rng\": true, "
		 "\"restart\": {\"max\": 0}, \"block_devices\": [{\"path\": \"%s\"}, "
		 "{\"vhost_user_socket\": \"%s\"}]}",
		 kernel, a, sock);
	uint32_t create = ctl_send_call(c, RPC_CREATE, cfg);
	cr_assert(ctl_readable(l, CTL_WAIT_MS), "cellvmd did not connect to %s", sock);
	int ext = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(ext, 0);
	ctl_expect_ok(ctl_reply_to(c, create, CTL_WAIT_MS), "Create");
	struct ctl_stream serial;
	ctl_open_stream(c, false, &serial);
	uint32_t run = ctl_send_call(c, RPC_RUN, NULL);
	ctl_await_state(c, "RUNNING", CTL_WAIT_MS);
	struct ctl_status st = ctl_status(c);
	pid_t old = ctl_pid_of(&st, "blk0");
	cr_assert_gt(old, 0);
	cr_expect_not(lockable(a), "a.img is blk0's");

	ctl_expect_ok(ctl_rpc(c, RPC_UPDATE_BLOCK_DEVICE, params), "UpdateBlockDevice");
	ctl_read_until(&serial, "restarted blk0\r\nconfig-changed blk0\r\n", CTL_WAIT_MS);
	st = ctl_status(c);
	cr_assert_str_eq(st.state, "RUNNING");
	pid_t now = ctl_pid_of(&st, "blk0");
	cr_assert(now > 0 && now != old, "blk0 not restarted (%d, %d)", (int)old, (int)now);
	char target[PATH_MAX];
	fd_target(now, 4, target, sizeof(target));
	cr_expect_str_eq(target, b, "the new cellvm-blk's disk (fd 4)");
	cr_expect(lockable(a), "a.img's lock went with the old process");
	cr_expect_not(lockable(b), "b.img is blk0's");

	/* Refused, and blk0 keeps b.img. */
	snprintf(params, sizeof(params), SWAP, "blk7", a);
	ctl_expect_error(ctl_rpc(c, RPC_UPDATE_BLOCK_DEVICE, params), LC_ERR_DEVICE_NOT_PRESENT,
			 "blk7", "no such disk");
	snprintf(params, sizeof(params), SWAP, "rng0", a);
	ctl_expect_error(ctl_rpc(c, RPC_UPDATE_BLOCK_DEVICE, params), LC_ERR_DEVICE_NOT_PRESENT,
			 "rng0", "not a disk");
	snprintf(params, sizeof(params), SWAP, "blk1", a);
	ctl_expect_error(ctl_rpc(c, RPC_UPDATE_BLOCK_DEVICE, params), LC_ERR_BAD_CONFIG,
			 "external vhost-user backend", "a disk cellvm does not serve");
	snprintf(params, sizeof(params), SWAP, "blk0", "/etc/hostname");
	ctl_expect_error(ctl_rpc(c, RPC_UPDATE_BLOCK_DEVICE, params), LC_ERR_BAD_CONFIG,
			 "--allow-dir", "a path outside --allow-dir");
	snprintf(params, sizeof(params), SWAP, "blk0", b);
	ctl_expect_error(ctl_rpc(c, RPC_UPDATE_BLOCK_DEVICE, params), LC_ERR_BAD_CONFIG, "in use",
			 "the image it serves");
	ctl_expect_error(ctl_rpc(c, RPC_UPDATE_BLOCK_DEVICE, "{\"device\": \"blk0\"}"),
			 LC_ERR_BAD_CONFIG, "params.path is missing", "no path");
	st = ctl_status(c);
	cr_assert_eq(ctl_pid_of(&st, "blk0"), now, "a refused swap restarted nothing");
	cr_expect_not(lockable(b), "b.img is still blk0's");

	uint32_t ids[2] = { run, ctl_send_call(c, RPC_STOP, NULL) };
	struct rpc_reply end[2];
	ctl_replies(c, ids, end);
	ctl_expect_error(end[0], LC_ERR_CONTROLLER_FORCED_HALT, NULL, "Run");
	ctl_expect_ok(end[1], "Stop");
	snprintf(params, sizeof(params), SWAP, "blk0", a);
	ctl_expect_error(ctl_rpc(c, RPC_UPDATE_BLOCK_DEVICE, params), LC_ERR_NOT_CREATED, "state",
			 "after Stop");
	close(serial.fd);
	close(ext);
	close(l);
	close(c);
	ctl_finish();
}
