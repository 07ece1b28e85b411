/* createbench: one timed start of a VM, for bench/create.sh.
 *
 *   createbench cellvm --socket PATH --config FILE
 *       Connects to a running cellvmd, sends Create with FILE's config and
 *       times it from the request's send to its reply; then Stop, timed the
 *       same way. Prints "create_us=N stop_us=N".
 *   createbench qemu -- QEMU [ARG]...
 *       Runs QEMU with a connected QMP socket as its fd 3 (give it
 *       `-chardev socket,id=qmp,fd=3 -mon chardev=qmp,mode=control`) and
 *       times from the fork to QMP's greeting and to the answer of
 *       query-status (after qmp_capabilities); then `quit` and reap.
 *       Prints "greeting_us=N ready_us=N cpu_us=N", the last QEMU's CPU
 *       time (user and system, all its threads, start to exit).
 *
 * Timing in-process leaves out the client's own start (cellvmctl's exec,
 * its dynamic linking), which is not the VMM's. Exit status 0, or 1 with
 * one line on stderr saying what failed: such a run posts no figure. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "msg.h"
#include "rpc.h"
#include "spawn.h"

#define CONFIG_MAX 65536
#define QMP_WAIT_MS 10000
#define QMP_LINE_MAX 4096
#define QMP_FD 3

static uint64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static int usage(void)
{
	fprintf(stderr, "usage: createbench cellvm --socket PATH --config FILE\n"
			"       createbench qemu -- QEMU [ARG]...\n");
	return 1;
}

static int read_config(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "createbench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	ssize_t n = read(fd, buf, len - 1);
	int err = errno;
	close(fd);
	if (n < 0 || (size_t)n == len - 1) {
		fprintf(stderr, "createbench: %s: %s\n", path, n < 0 ? strerror(err) : "too long");
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

/* One call on sock, timed from its send to its reply; 0 if it succeeded. */
static int timed_call(int sock, uint32_t id, enum rpc_method m, const char *params,
		      const char *name, uint64_t *us)
{
	char err[256];
	struct rpc_reply r;
	int fd;
	uint64_t t0 = now_us();
	int e = client_call(sock, id, m, params, NULL, 0, &r, &fd, err, sizeof(err));
	*us = now_us() - t0;
	if (e < 0) {
		fprintf(stderr, "createbench: %s: %s\n", name, err);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	int ok = r.ok;
	if (!ok)
		fprintf(stderr, "createbench: %s: error %d: %s\n", name, r.code, r.message);
	rpc_reply_free(&r);
	return ok ? 0 : -1;
}

static int bench_cellvm(int argc, char **argv)
{
	static char config[CONFIG_MAX];
	const char *sock_path = NULL, *config_path = NULL;
	for (int i = 0; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--socket") == 0)
			sock_path = argv[i + 1];
		else if (strcmp(argv[i], "--config") == 0)
			config_path = argv[i + 1];
		else
			return usage();
	}
	if (!sock_path || !config_path || argc % 2)
		return usage();
	if (read_config(config_path, config, sizeof(config)) < 0)
		return 1;
	char err[256];
	int sock = client_connect(sock_path, err, sizeof(err));
	if (sock < 0) {
		fprintf(stderr, "createbench: %s\n", err);
		return 1;
	}
	uint64_t create_us = 0, stop_us = 0;
	int created = timed_call(sock, 1, RPC_CREATE, config, "Create", &create_us);
	/* Stopped even after a failed Create: nothing may be left for the next run. */
	int stopped = timed_call(sock, 2, RPC_STOP, NULL, "Stop", &stop_us);
	close(sock);
	if (created < 0 || stopped < 0)
		return 1;
	printf("create_us=%llu stop_us=%llu\n", (unsigned long long)create_us,
	       (unsigned long long)stop_us);
	return 0;
}

/* Reads QMP lines until one holds `want` (or an "error"); 0 when it came. */
static int qmp_until(int fd, const char *want, uint64_t deadline)
{
	static char line[QMP_LINE_MAX];
	static size_t len;
	for (;;) {
		char *nl = memchr(line, '\n', len);
		if (nl) {
			*nl = '\0';
			int found = strstr(line, want) != NULL, error = strstr(line, "\"error\"") != NULL;
			if (error)
				fprintf(stderr, "createbench: QMP: %s\n", line);
			len -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, len);
			if (found || error)
				return found ? 0 : -1;
			continue;
		}
		uint64_t now = now_us();
		if (len == sizeof(line) || now >= deadline ||
		    msg_wait(fd, POLLIN, (int)((deadline - now) / 1000)) <= 0) {
			fprintf(stderr, "createbench: QMP: no %s within %d ms\n", want, QMP_WAIT_MS);
			return -1;
		}
		ssize_t n = read(fd, line + len, sizeof(line) - len);
		if (n <= 0) {
			fprintf(stderr, "createbench: QMP: %s before %s\n",
				n < 0 ? strerror(errno) : "QEMU closed it", want);
			return -1;
		}
		len += (size_t)n;
	}
}

static int qmp_send(int fd, const char *cmd)
{
	size_t n = strlen(cmd);
	if (write(fd, cmd, n) != (ssize_t)n) {
		fprintf(stderr, "createbench: QMP: sending %s: %s\n", cmd, strerror(errno));
		return -1;
	}
	return 0;
}

static int bench_qemu(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[0], "--") != 0 || argv[1][0] != '/')
		return usage(); /* spawn_child takes an absolute path */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("createbench: socketpair");
		return 1;
	}
	struct spawn_fd qmp = { sv[1], QMP_FD };
	struct spawn_req req = { .path = argv[1], .argv = argv + 1, .fds = &qmp, .nfds = 1,
				 .stderr_fd = -1 };
	pid_t pid;
	int pidfd;
	uint64_t t0 = now_us();
	int err = spawn_child(&req, &pid, &pidfd);
	close(sv[1]);
	if (err < 0) {
		fprintf(stderr, "createbench: %s: %s\n", argv[1], strerror(-err));
		close(sv[0]);
		return 1;
	}
	uint64_t deadline = t0 + QMP_WAIT_MS * 1000ull, greeting_us = 0, ready_us = 0;
	int ok = qmp_until(sv[0], "\"QMP\"", deadline) == 0;
	greeting_us = now_us() - t0;
	ok = ok && qmp_send(sv[0], "{\"execute\": \"qmp_capabilities\"}\n"
				   "{\"execute\": \"query-status\"}\n") == 0 &&
	     qmp_until(sv[0], "\"status\"", deadline) == 0;
	ready_us = now_us() - t0;
	/* Closed only once quit is answered: QEMU drops what the EOF overtakes,
	 * and a monitor's EOF alone does not end it. */
	if (qmp_send(sv[0], "{\"execute\": \"quit\"}\n") == 0)
		(void)qmp_until(sv[0], "\"return\"", now_us() + QMP_WAIT_MS * 1000ull);
	close(sv[0]);
	struct child_end end = { 0 };
	if (msg_wait(pidfd, POLLIN, QMP_WAIT_MS) <= 0) {
		fprintf(stderr, "createbench: QEMU did not exit: killed\n");
		(void)kill(pid, SIGKILL);
		(void)msg_wait(pidfd, POLLIN, -1);
		ok = 0;
	}
	(void)spawn_reap(pidfd, &end);
	close(pidfd);
	/* Our only child, reaped: its CPU time is what RUSAGE_CHILDREN holds. */
	struct rusage ru;
	if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
		ok = 0;
	if (!ok)
		return 1;
	uint64_t cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
			  (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	printf("greeting_us=%llu ready_us=%llu cpu_us=%llu\n", (unsigned long long)greeting_us,
	       (unsigned long long)ready_us, (unsigned long long)cpu_us);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "cellvm") == 0)
		return bench_cellvm(argc - 2, argv + 2);
	if (strcmp(argv[1], "qemu") == 0)
		return bench_qemu(argc - 2, argv + 2);
	return usage();
}
