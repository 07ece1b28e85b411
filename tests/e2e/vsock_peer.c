/* vsock_peer: both ends of the vsock end-to-end checks (the e2e scenario
 * vsock, tests/qemu/test-qemu-interop.sh). Linked statically: the guest's
 * initramfs has no libraries, and level 1 needs none for it either.
 *
 *   vsock_peer listen PORT [COUNT]
 *       (the guest) an AF_VSOCK listener on PORT: echoes each connection's
 *       bytes back until its EOF, one connection at a time; exits after
 *       COUNT of them (default: never).
 *   vsock_peer connect CID PORT BYTES
 *       (the guest) connects to CID:PORT over AF_VSOCK and checks an echo
 *       of BYTES bytes of a fixed pattern.
 *   vsock_peer hybrid-connect UDS PORT BYTES
 *       (the host) Firecracker's hybrid vsock: connects to the Unix socket
 *       UDS, writes "CONNECT PORT\n", wants "OK <host port>\n", then checks
 *       an echo of BYTES bytes as connect does.
 *   vsock_peer listen-unix PATH [COUNT]
 *       (the host) an echo server on the Unix socket PATH (mode 0666: the
 *       device process runs as another user) for COUNT connections
 *       (default 1), as a guest's connection to CID 2 reaches it.
 *
 * The checker writes and reads at once (poll), so an echo larger than every
 * buffer on the way cannot deadlock; it compares every byte. It prints
 * "ok BYTES bytes echoed in SECS s ..." and exits 0, or prints why and
 * exits 1; VSOCK_PEER_TIMEOUT_S without progress (or in all for a server)
 * is a failure. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define VSOCK_PEER_TIMEOUT_S 60
#define CHUNK (64u * 1024u)
#define LINE_MAX_LEN 64u

static uint8_t buf[CHUNK];

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)(i >> 16);
}

static int fail(const char *what)
{
	fprintf(stderr, "vsock_peer: %s: %s\n", what, strerror(errno));
	return 1;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max) {
		fprintf(stderr, "vsock_peer: '%s' is not a number up to %llu\n", s,
			(unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Sends total bytes of the pattern and checks that the same come back. */
static int check_echo(int fd, uint64_t total, const char *what)
{
	uint64_t sent = 0, got = 0;
	double t0 = now_s();
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return fail("fcntl");
	while (got < total) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		int n = poll(&p, 1, VSOCK_PEER_TIMEOUT_S * 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("poll");
		if (n == 0) {
			fprintf(stderr, "vsock_peer: %s: no progress for %d s (sent %llu, got %llu)\n",
				what, VSOCK_PEER_TIMEOUT_S, (unsigned long long)sent,
				(unsigned long long)got);
			return 1;
		}
		if ((p.revents & POLLOUT) && sent < total) {
			size_t len = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
			uint8_t out[CHUNK];
			for (size_t i = 0; i < len; i++)
				out[i] = pattern(sent + i);
			ssize_t w = write(fd, out, len);
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				return fail("write");
			if (w > 0)
				sent += (uint64_t)w;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r < 0)
				return fail("read");
			if (r == 0) {
				fprintf(stderr, "vsock_peer: %s: EOF after %llu of %llu bytes\n", what,
					(unsigned long long)got, (unsigned long long)total);
				return 1;
			}
			if ((uint64_t)r > sent - got) {
				fprintf(stderr, "vsock_peer: %s: more back than sent (%llu)\n", what,
					(unsigned long long)sent);
				return 1;
			}
			for (ssize_t i = 0; i < r; i++)
				if (buf[i] != pattern(got + (uint64_t)i)) {
					fprintf(stderr, "vsock_peer: %s: byte %llu differs\n", what,
						(unsigned long long)(got + (uint64_t)i));
					return 1;
				}
			got += (uint64_t)r;
		}
	}
	printf("ok %llu bytes echoed in %.2f s %s\n", (unsigned long long)total, now_s() - t0,
	       what);
	return 0;
}

/* Echoes what fd sends until its EOF; the count, or -1. */
static long long echo(int fd)
{
	long long total = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fail("echo: read");
			return -1;
		}
		if (r == 0)
			return total;
		if (write_all(fd, buf, (size_t)r) < 0) {
			fail("echo: write");
			return -1;
		}
		total += r;
	}
}

/* Accepts count connections on fd (0: forever), echoing each. */
static int serve(int fd, uint64_t count, const char *what)
{
	printf("listening %s\n", what);
	fflush(stdout);
	for (uint64_t i = 0; !count || i < count; i++) {
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			return fail("accept");
		long long n = echo(c);
		close(c);
		if (n < 0)
			return 1;
		printf("echoed %lld bytes on %s\n", n, what);
		fflush(stdout);
	}
	return 0;
}

static int vsock_listen(uint64_t port, uint64_t count)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0)
		return fail("socket(AF_VSOCK)");
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				 .svm_port = (unsigned)port };
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0)
		return fail("bind/listen");
	char what[32];
	snprintf(what, sizeof(what), "vsock port %llu", (unsigned long long)port);
	return serve(fd, count, what);
}

static int vsock_connect(uint64_t cid, uint64_t port, uint64_t bytes)
{
	alarm(VSOCK_PEER_TIMEOUT_S * 2);
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0)
		return fail("socket(AF_VSOCK)");
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = (unsigned)cid,
				 .svm_port = (unsigned)port };
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return fail("connect");
	char what[48];
	snprintf(what, sizeof(what), "with cid %llu port %llu", (unsigned long long)cid,
		 (unsigned long long)port);
	int r = check_echo(fd, bytes, what);
	close(fd);
	return r;
}

static int unix_addr(const char *path, struct sockaddr_un *a)
{
	*a = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a->sun_path)) {
		fprintf(stderr, "vsock_peer: %s: path too long\n", path);
		return -1;
	}
	strcpy(a->sun_path, path);
	return 0;
}

/* The hybrid handshake's answer: "OK <port>\n", read a byte at a time so
 * that none of the stream behind it is taken. */
static int hybrid_answer(int fd, char *line)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, line + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail("reading the handshake's answer");
		if (r == 0) {
			fprintf(stderr, "vsock_peer: hung up after '%.*s' instead of OK\n", (int)n, line);
			return 1;
		}
		if (line[n] == '\n')
			break;
		if (++n == LINE_MAX_LEN - 1) {
			fprintf(stderr, "vsock_peer: no newline in the answer's first %zu bytes\n", n);
			return 1;
		}
	}
	line[n] = '\0';
	uint64_t port;
	if (strncmp(line, "OK ", 3) || parse_u64(line + 3, UINT32_MAX, &port) < 0) {
		fprintf(stderr, "vsock_peer: answer '%s', want OK <port>\n", line);
		return 1;
	}
	return 0;
}

static int hybrid_connect(const char *path, uint64_t port, uint64_t bytes)
{
	alarm(VSOCK_PEER_TIMEOUT_S * 2);
	struct sockaddr_un a;
	if (unix_addr(path, &a) < 0)
		return 1;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return fail("socket(AF_UNIX)");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return fail(path);
	char line[LINE_MAX_LEN];
	int len = snprintf(line, sizeof(line), "CONNECT %llu\n", (unsigned long long)port);
	if (write_all(fd, (const uint8_t *)line, (size_t)len) < 0)
		return fail("writing CONNECT");
	if (hybrid_answer(fd, line))
		return 1;
	char what[LINE_MAX_LEN + 32];
	snprintf(what, sizeof(what), "with guest port %llu (%s)", (unsigned long long)port, line);
	int r = check_echo(fd, bytes, what);
	close(fd);
	return r;
}

static int unix_listen(const char *path, uint64_t count)
{
	alarm(VSOCK_PEER_TIMEOUT_S * 5);
	struct sockaddr_un a;
	if (unix_addr(path, &a) < 0)
		return 1;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return fail("socket(AF_UNIX)");
	if (unlink(path) < 0 && errno != ENOENT)
		return fail(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, 8) < 0)
		return fail(path);
	return serve(fd, count, path);
}

int main(int argc, char **argv)
{
	uint64_t a = 0, b = 0, c = 1;
	/* A peer gone mid-write is an error return, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && !strcmp(argv[1], "listen") && argc <= 4 &&
	    !parse_u64(argv[2], UINT32_MAX, &a) && (argc == 3 || !parse_u64(argv[3], UINT32_MAX, &b)))
		return vsock_listen(a, b);
	if (argc == 5 && !strcmp(argv[1], "connect") && !parse_u64(argv[2], UINT32_MAX, &a) &&
	    !parse_u64(argv[3], UINT32_MAX, &b) && !parse_u64(argv[4], 1ull << 40, &c))
		return vsock_connect(a, b, c);
	if (argc == 5 && !strcmp(argv[1], "hybrid-connect") && !parse_u64(argv[3], UINT32_MAX, &b) &&
	    !parse_u64(argv[4], 1ull << 40, &c))
		return hybrid_connect(argv[2], b, c);
	if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "listen-unix") &&
	    (argc == 3 || !parse_u64(argv[3], UINT32_MAX, &c)))
		return unix_listen(argv[2], c);
	fprintf(stderr, "usage: vsock_peer listen PORT [COUNT] | connect CID PORT BYTES |\n"
			"       hybrid-connect UDS PORT BYTES | listen-unix PATH [COUNT]\n");
	return 2;
}
