/* netbench: TCP bulk throughput between a guest and its host, for
 * bench/net.sh (the e2e scenario bench-net). Linked statically: the guest's
 * initramfs has no libraries.
 *
 *   netbench serve PORT
 *       (the guest) Serves connections one at a time, forever. Each starts
 *       with a 9-byte request: 'S' and a little-endian u64 N (send N bytes,
 *       then close) or 'R' (read to EOF, answer the count as a u64, close).
 *   netbench send ADDR PORT MIB
 *       (the host) host to guest: connects, asks 'R', sends MIB MiB, shuts
 *       its side down and waits for the guest's count, so the time covers
 *       every byte arriving.
 *   netbench recv ADDR PORT MIB
 *       (the host) guest to host: connects, asks 'S' for MIB MiB and reads
 *       them to EOF.
 *
 * The host side times from before connect to the last byte (CLOCK_MONOTONIC)
 * and prints "bytes=N secs=S mib_s=R"; it gives up after NETBENCH_TIMEOUT_S
 * without progress. Exit status 0, or 1 with one line on stderr: such a run
 * posts no figure. ADDR is numeric IPv4 (no resolver in a static binary). */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NETBENCH_BUF (256u * 1024u)
#define NETBENCH_TIMEOUT_S 30
#define REQ_LEN 9u

static uint8_t buf[NETBENCH_BUF];

static int write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len) {
		ssize_t w = write(fd, b, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads exactly len bytes; -1 on an error or an early EOF. */
static int read_all(int fd, void *p, size_t len)
{
	uint8_t *b = p;
	while (len) {
		ssize_t r = read(fd, b, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Sends n bytes of buf. */
static int send_bytes(int fd, uint64_t n)
{
	while (n) {
		size_t chunk = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		if (write_all(fd, buf, chunk) < 0)
			return -1;
		n -= chunk;
	}
	return 0;
}

/* Reads to EOF; the count, or -1 on an error. */
static int64_t drain(int fd)
{
	int64_t total = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return total;
		total += r;
	}
}

static void serve_one(int c)
{
	uint8_t req[REQ_LEN];
	uint64_t n;
	if (read_all(c, req, sizeof(req)) < 0) {
		perror("netbench: request");
		return;
	}
	memcpy(&n, req + 1, sizeof(n));
	n = le64toh(n);
	if (req[0] == 'S') {
		if (send_bytes(c, n) < 0)
			perror("netbench: send");
	} else if (req[0] == 'R') {
		int64_t got = drain(c);
		uint64_t le = htole64((uint64_t)got);
		if (got < 0 || write_all(c, &le, sizeof(le)) < 0)
			perror("netbench: receive");
	} else {
		fprintf(stderr, "netbench: unknown request 0x%02x\n", req[0]);
	}
}

static int serve(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 4) < 0) {
		perror("netbench: listen");
		return 1;
	}
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("netbench: accept");
			return 1;
		}
		serve_one(c);
		close(c);
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The host side: one timed transfer, send (host to guest) or not. */
static int client(const char *addr, uint16_t port, uint64_t bytes, int sending)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = NETBENCH_TIMEOUT_S };
	uint8_t req[REQ_LEN] = { sending ? 'R' : 'S' };
	uint64_t le = htole64(sending ? 0 : bytes), got = 0;
	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr, "netbench: %s: not a numeric IPv4 address\n", addr);
		return 1;
	}
	memcpy(req + 1, &le, sizeof(le));
	double t0 = now();
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 || write_all(s, req, sizeof(req)) < 0) {
		perror("netbench: connect");
		return 1;
	}
	if (sending) {
		if (send_bytes(s, bytes) < 0 || shutdown(s, SHUT_WR) < 0 ||
		    read_all(s, &le, sizeof(le)) < 0) {
			perror("netbench: send");
			return 1;
		}
		got = le64toh(le);
	} else {
		int64_t r = drain(s);
		if (r < 0) {
			perror("netbench: receive");
			return 1;
		}
		got = (uint64_t)r;
	}
	double secs = now() - t0;
	close(s);
	if (got != bytes) {
		fprintf(stderr, "netbench: %llu bytes arrived of %llu\n", (unsigned long long)got,
			(unsigned long long)bytes);
		return 1;
	}
	printf("bytes=%llu secs=%.3f mib_s=%.1f\n", (unsigned long long)bytes, secs,
	       (double)bytes / 1048576.0 / secs);
	return 0;
}

static int number(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long port, mib;
	/* A peer that goes away must end a write with EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	memset(buf, 0x5a, sizeof(buf));
	if (argc == 3 && !strcmp(argv[1], "serve") && !number(argv[2], 65535, &port))
		return serve((uint16_t)port);
	if (argc == 5 && (!strcmp(argv[1], "send") || !strcmp(argv[1], "recv")) &&
	    !number(argv[3], 65535, &port) && !number(argv[4], 1u << 20, &mib))
		return client(argv[2], (uint16_t)port, (uint64_t)mib << 20, argv[1][0] == 's');
	fprintf(stderr, "usage: netbench serve PORT | netbench send|recv ADDR PORT MIB\n");
	return 2;
}
