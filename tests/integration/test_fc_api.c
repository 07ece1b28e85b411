/* cellvm-fc driven over its API socket as Kata's Firecracker driver and
 * curl drive it: the pre-boot calls (no KVM needed), their 400s with
 * Firecracker's fault messages, GET / and GET /machine-config, several
 * requests on one connection, a failed InstanceStart that leaves the VM
 * not started, --version's form, the exit on SIGTERM, and --no-seccomp
 * refused below the owner's --min-sandbox; then with fake_vcpu as the
 * worker (no KVM), the calls of a running VM and its end. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unix_sock.h"

#define FC TFE_BUILDDIR "/fc/cellvm-fc"

#define FAKE_VCPU TFE_BUILDDIR "/tests/integration/fake_vcpu"

static char dir[64], sock[96], out[96];
static pid_t pid;

/* cellvm-fc on dir/api.sock, its stdout in dir/out; worker: cellvmd's
 * --worker (NULL: the real one). */
static void start_with(const char *worker)
{
	snprintf(dir, sizeof(dir), "/tmp/test_fc_api.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (!freopen(out, "w", stdout))
			_exit(126);
		if (worker)
			execl(FC, "cellvm-fc", "--api-sock", sock, "--id", "vm7", "--worker", worker,
			      (char *)NULL);
		else
			execl(FC, "cellvm-fc", "--api-sock", sock, "--id", "vm7", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(sock, F_OK) < 0; i++)
		usleep(10000);
	cr_assert_eq(access(sock, F_OK), 0, "cellvm-fc made its socket");
}

static void start(void)
{
	start_with(NULL);
}

static void stop(void)
{
	int ws;
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, &ws, 0);
	}
	unlink(out);
	rmdir(dir);
}

TestSuite(fc_api, .init = start, .fini = stop, .timeout = 30);

static int conn(void)
{
	int fd = unix_connect(sock, 0);
	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	return fd;
}

/* Sends one request on fd and reads its answer: the status, the body in body. */
static int call(int fd, const char *method, const char *path, const char *req_body, char *body,
		size_t cap)
{
	char req[2048], buf[8192];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 method, path, req_body ? strlen(req_body) : 0, req_body ? req_body : "");
	cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
	size_t len = 0;
	char *end = NULL;
	while (!end) {
		ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		cr_assert_gt(r, 0, "an answer to %s %s", method, path);
		len += (size_t)r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	int status = 0;
	cr_assert_eq(sscanf(buf, "HTTP/1.1 %d", &status), 1);
	const char *cl = strstr(buf, "Content-Length: ");
	size_t blen = cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0, head = (size_t)(end + 4 - buf);
	while (len < head + blen) {
		ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		cr_assert_gt(r, 0);
		len += (size_t)r;
	}
	cr_assert_eq(len, head + blen, "nothing after the answer");
	cr_assert_lt(blen, cap);
	memcpy(body, buf + head, blen);
	body[blen] = '\0';
	return status;
}

Test(fc_api, katas_calls_before_boot)
{
	int fd = conn();
	char b[4096];
	cr_expect_eq(call(fd, "GET", "/", NULL, b, sizeof(b)), 200);
	cr_expect_str_eq(b, "{\"id\":\"vm7\",\"state\":\"Not started\",\"vmm_version\":\"1.7.0\","
			    "\"app_name\":\"cellvm-fc\"}");
	cr_expect_eq(call(fd, "PUT", "/boot-source",
			  "{\"kernel_image_path\":\"/nonexistent/vmlinux\",\"boot_args\":\"console=ttyS0\"}",
			  b, sizeof(b)), 204);
	cr_expect_str_eq(b, "");
	cr_expect_eq(call(fd, "PUT", "/machine-config", "{\"mem_size_mib\":256,\"vcpu_count\":2}", b,
			  sizeof(b)), 204);
	cr_expect_eq(call(fd, "GET", "/machine-config", NULL, b, sizeof(b)), 200);
	cr_expect_str_eq(b, "{\"mem_size_mib\":256,\"vcpu_count\":2}");
	cr_expect_eq(call(fd, "PUT", "/drives/rootfs",
			  "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/nonexistent/rootfs\","
			  "\"is_root_device\":false,\"is_read_only\":true}", b, sizeof(b)), 204);
	cr_expect_eq(call(fd, "PUT", "/vsock",
			  "{\"guest_cid\":3,\"uds_path\":\"/nonexistent/kata.hvsock\",\"vsock_id\":\"root\"}",
			  b, sizeof(b)), 204);
	cr_expect_eq(call(fd, "GET", "/version", NULL, b, sizeof(b)), 200);
	cr_expect_str_eq(b, "{\"firecracker_version\":\"1.7.0\"}");
	close(fd);
}

Test(fc_api, bad_requests_get_400_with_a_fault_message)
{
	int fd = conn();
	char b[4096];
	cr_expect_eq(call(fd, "PUT", "/machine-config", "{\"mem_size_mib\":256,\"vcpu_count\":0}", b,
			  sizeof(b)), 400);
	cr_expect_str_eq(b, "{\"fault_message\":\"machine-config.vcpu_count: want 1 to 32, got 0\"}");
	cr_expect_eq(call(fd, "PUT", "/machine-config", "{\"mem_size_mib\":", b, sizeof(b)), 400);
	cr_expect(strstr(b, "\"fault_message\":\"the body"), "%s", b);
	cr_expect_eq(call(fd, "GET", "/machine-config", NULL, b, sizeof(b)), 200);
	cr_expect(strstr(b, "\"vcpu_count\":1"), "a refused PUT changed nothing: %s", b);
	cr_expect_eq(call(fd, "DELETE", "/drives/x", NULL, b, sizeof(b)), 400);
	cr_expect_str_eq(b, "{\"fault_message\":\"Invalid request method and/or path: /drives/x\"}");
	cr_expect_eq(call(fd, "GET", "/balloon/statistics", NULL, b, sizeof(b)), 400);
	cr_expect_str_eq(b, "{\"fault_message\":\"The requested operation is not supported before "
			    "starting the microVM.\"}");
	cr_expect_eq(call(fd, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", b, sizeof(b)),
		     400, "no boot source");
	cr_expect(strstr(b, "boot source"), "%s", b);
	close(fd);

	/* Not HTTP: 400 and the connection closed. */
	fd = conn();
	const char junk[] = "HELLO\r\n\r\n";
	cr_assert_eq(send(fd, junk, sizeof(junk) - 1, 0), (ssize_t)sizeof(junk) - 1);
	ssize_t n = recv(fd, b, sizeof(b) - 1, 0);
	cr_assert_gt(n, 0);
	b[n] = '\0';
	cr_expect(strncmp(b, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", b);
	cr_expect(strstr(b, "Connection: close"), "%s", b);
	while ((n = recv(fd, b, sizeof(b), 0)) > 0)
		;
	cr_expect_eq(n, 0, "closed");
	close(fd);
}

/* InstanceStart whose Create fails (the kernel is not there): 400 with the
 * controller's reason, and the VM is still not started. */
Test(fc_api, failed_instance_start)
{
	int fd = conn();
	char b[4096];
	cr_assert_eq(call(fd, "PUT", "/boot-source", "{\"kernel_image_path\":\"/nonexistent/vmlinux\"}",
			  b, sizeof(b)), 204);
	cr_expect_eq(call(fd, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", b, sizeof(b)),
		     400);
	cr_expect(strstr(b, "/nonexistent/vmlinux"), "the reason names the kernel: %s", b);
	cr_expect_eq(call(fd, "GET", "/", NULL, b, sizeof(b)), 200);
	cr_expect(strstr(b, "\"state\":\"Not started\""), "%s", b);
	close(fd);
}

Test(fc_api, sigterm_before_boot_exits_and_removes_the_socket)
{
	int ws;
	cr_assert_eq(kill(pid, SIGTERM), 0);
	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	pid = 0;
	cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	cr_expect_neq(access(sock, F_OK), 0, "the socket is gone");
}

/* Kata's Go driver reads the version as the second word of the first line. */
Test(fc_api, version_line)
{
	FILE *p = popen(FC " --version", "r");
	char line[128] = "";
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(line, sizeof(line), p));
	cr_expect_str_eq(line, "cellvm-fc v1.7.0\n");
	cr_expect_null(fgets(line, sizeof(line), p), "one line only");
	cr_expect_eq(pclose(p), 0);
}

/* --no-seccomp is the owner's choice unless the owner also set a floor. */
Test(fc_api, no_seccomp_below_the_floor_is_refused)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), FC " --api-sock %s/other.sock --no-seccomp --min-sandbox on 2>&1",
		 dir);
	FILE *p = popen(cmd, "r");
	char line[256] = "";
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(line, sizeof(line), p));
	cr_expect_str_eq(line, "cellvm-fc: sandbox off is below --min-sandbox on\n");
	int st = pclose(p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

/* --config-file alone: its logger and metrics files are opened before the
 * VM starts, so the reason a Create failed goes to the logger's file. */
Test(fc_api, config_file_with_logger_and_a_failed_create)
{
	char path[160], log[160], metrics[160], cmd[512];
	snprintf(path, sizeof(path), "%s/vm.json", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(metrics, sizeof(metrics), "%s/metrics", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "{\"boot-source\": {\"kernel_image_path\": \"/nonexistent/vmlinux\"},\n"
		   " \"logger\": {\"log_path\": \"%s\", \"level\": \"Info\"},\n"
		   " \"metrics\": {\"metrics_path\": \"%s\"}}\n", log, metrics);
	cr_assert_eq(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), FC " --config-file %s --no-api", path);
	int st = system(cmd);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	char text[4096] = "";
	f = fopen(log, "r");
	cr_assert_not_null(f, "the logger's file was made");
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	cr_expect(strstr(text, "KERNEL_LOAD_FAILURE"), "%s", text);
	cr_expect_eq(access(metrics, F_OK), 0, "the metrics file was made");
	unlink(path);
	unlink(log);
	unlink(metrics);
}

/* ---- With a running VM: fake_vcpu as the worker plays its "kernel". */

static char kernel[128], disk[128], disk2[128];

static void make_disk(const char *path)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
}

static void start_fake(void)
{
	start_with(FAKE_VCPU);
	snprintf(kernel, sizeof(kernel), "%s/kernel", dir);
	snprintf(disk, sizeof(disk), "%s/disk", dir);
	snprintf(disk2, sizeof(disk2), "%s/disk2", dir);
	make_disk(disk);
	make_disk(disk2);
}

static void stop_fake(void)
{
	unlink(kernel);
	unlink(disk);
	unlink(disk2);
	stop();
}

TestSuite(fc_api_running, .init = start_fake, .fini = stop_fake, .timeout = 60);

static void boot(int fd, const char *script)
{
	char b[4096], body[512];
	FILE *f = fopen(kernel, "w");
	cr_assert_not_null(f);
	fputs(script, f);
	fclose(f);
	snprintf(body, sizeof(body), "{\"kernel_image_path\":\"%s\"}", kernel);
	cr_assert_eq(call(fd, "PUT", "/boot-source", body, b, sizeof(b)), 204, "%s", b);
	snprintf(body, sizeof(body), "{\"drive_id\":\"rootfs\",\"path_on_host\":\"%s\","
		 "\"is_root_device\":false,\"is_read_only\":false}", disk);
	cr_assert_eq(call(fd, "PUT", "/drives/rootfs", body, b, sizeof(b)), 204, "%s", b);
	cr_assert_eq(call(fd, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", b,
			  sizeof(b)), 204, "%s", b);
	cr_expect_eq(call(fd, "GET", "/", NULL, b, sizeof(b)), 200);
	cr_expect(strstr(b, "\"state\":\"Running\""), "%s", b);
}

static int wait_exit(void)
{
	int ws;
	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	pid = 0;
	cr_assert(WIFEXITED(ws));
	return WEXITSTATUS(ws);
}

/* The guest's serial reaches stdout; its poweroff ends cellvm-fc with 0. */
Test(fc_api_running, guest_poweroff_ends_it)
{
	int fd = conn();
	boot(fd, "ready\nwait-run\nserial hello from the guest\nexit 0 powered off\n");
	cr_expect_eq(wait_exit(), 0);
	char text[512] = "";
	FILE *f = fopen(out, "r");
	cr_assert_not_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	cr_expect(strstr(text, "hello from the guest\r\n"), "stdout: %s", text);
	cr_expect_neq(access(sock, F_OK), 0, "the socket is gone");
	close(fd);
}

/* The calls of a running VM: pre-boot ones refused, a disk's limiter
 * changed live, its image swapped (the fake worker says on the serial port
 * that blk0 was restarted and the guest told; a missing image is refused),
 * SendCtrlAltDel ends it. */
Test(fc_api_running, calls_after_instance_start)
{
	int fd = conn();
	char b[4096], body[512];
	boot(fd, "ready\nwait-run\nserve\n");
	cr_expect_eq(call(fd, "PUT", "/machine-config", "{\"mem_size_mib\":256,\"vcpu_count\":2}",
			  b, sizeof(b)), 400);
	cr_expect_str_eq(b, "{\"fault_message\":\"The requested operation is not supported after "
			    "starting the microVM.\"}");
	cr_expect_eq(call(fd, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", b,
			  sizeof(b)), 400);
	snprintf(body, sizeof(body), "{\"drive_id\":\"rootfs\",\"path_on_host\":\"%s\","
		 "\"rate_limiter\":{\"bandwidth\":{\"size\":1048576,\"refill_time\":100}}}", disk);
	cr_expect_eq(call(fd, "PATCH", "/drives/rootfs", body, b, sizeof(b)), 204, "%s", b);
	cr_expect_eq(call(fd, "GET", "/vm/config", NULL, b, sizeof(b)), 200);
	cr_expect(strstr(b, "\"refill_time\":100"), "the config shows the new limiter: %s", b);
	cr_expect_eq(call(fd, "PATCH", "/drives/rootfs",
			  "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/nonexistent/other.img\"}",
			  b, sizeof(b)), 400);
	cr_expect(strstr(b, "fault_message") && strstr(b, "other.img"), "%s", b);
	snprintf(body, sizeof(body), "{\"drive_id\":\"rootfs\",\"path_on_host\":\"%s\"}", disk2);
	cr_expect_eq(call(fd, "PATCH", "/drives/rootfs", body, b, sizeof(b)), 204, "%s", b);
	cr_expect_eq(call(fd, "GET", "/vm/config", NULL, b, sizeof(b)), 200);
	cr_expect(strstr(b, disk2), "the config shows the new image: %s", b);
	/* The serial port reaches stdout on its own time. */
	const char *said = "restarted blk0\r\nconfig-changed blk0\r\n";
	char text[4096] = "";
	for (int i = 0; i < 500 && !strstr(text, said); i++) {
		usleep(10000);
		FILE *f = fopen(out, "r");
		cr_assert_not_null(f);
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		text[n] = '\0';
		fclose(f);
	}
	cr_expect(strstr(text, said), "stdout: %s", text);
	cr_expect_eq(call(fd, "GET", "/balloon/statistics", NULL, b, sizeof(b)), 400);
	cr_expect(strstr(b, "fault_message"), "no balloon: %s", b);
	cr_expect_eq(call(fd, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", b,
			  sizeof(b)), 204);
	cr_expect_eq(wait_exit(), 0);
	close(fd);
}
