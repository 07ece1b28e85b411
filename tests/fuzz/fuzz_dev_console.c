/* libFuzzer harness: cellvm-console's two directions (device-procs/console.c)
 * with its real ops and options, driven as a guest and its frontend would
 * (tests/fuzz/dev_drive.h says how an input reads and what is checked). Its
 * host side is a stream socketpair with a small send buffer, so guest output
 * also meets a host side that would block: HOST records are bytes the host
 * side writes, the first HOST_CLOSE shuts its writing side, a second closes
 * it. On top of the driver's checks, what reaches the host side is exactly
 * the readable bytes of the transmit chains, in order, as long as no chain
 * was dropped (a ring stop) and no emergency write was asked for.
 *
 * Boundary: guest (rings) and host stream -> cellvm-console, its real code
 * Links: tests/fuzz/dev_drive.c device-procs/console.c device-procs/backend.c
 *   device-procs/backend_inflight.c device-procs/serve.c tests/fuzz/confine_stub.c
 *   common/vhost_user.c common/msg.c common/guest_mem.c common/virtq.c common/vhu_inflight.c
 *   common/event_loop.c common/log.c common/fds.c common/cli.c common/unix_sock.c common/iov.c
 *   device-procs/throttle.c common/rate_limiter.c common/rate_limit_arg.c common/dev_ctl.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dev_drive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TXQ 1u
#define STREAM_MAX (1u << 20)

static int host_peer = -1;
static bool shut;
/* Guest output: what the used transmit chains held, and what arrived. */
static uint8_t *want, got[4096];
static size_t nwant, narrived;

#define FAIL(...) (fprintf(stderr, "fuzz_dev_console: " __VA_ARGS__), fputc('\n', stderr), abort())

static void console_used(struct dd *d, unsigned int q, const struct dd_chain *c, uint32_t len)
{
	(void)len;
	if (q != TXQ)
		return;
	for (unsigned int i = 0; i < c->nseg; i++)
		if (!c->seg[i].w && nwant + c->seg[i].len <= STREAM_MAX) {
			dd_read(d, c->seg[i].gpa, want + nwant, c->seg[i].len);
			nwant += c->seg[i].len;
		}
}

static void console_check(struct dd *d)
{
	ssize_t n;
	/* A bounded read per record leaves the device facing a full host side. */
	if (host_peer < 0 || (n = recv(host_peer, got, sizeof(got), MSG_DONTWAIT)) <= 0)
		return;
	if (d->dropped || d->config_written || d->loose)
		return;
	/* Bytes of a chain still held may come before its used element. */
	for (ssize_t i = 0; i < n; i++, narrived++)
		if (narrived < nwant && got[i] != want[narrived])
			FAIL("host side byte %zu is 0x%02x, the guest sent 0x%02x", narrived,
			     got[i], want[narrived]);
}

static void console_feed(struct dd *d, const uint8_t *p, size_t n)
{
	(void)d;
	if (host_peer < 0 || shut)
		return;
	ssize_t r = send(host_peer, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)r; /* a full guest side: the rest is the host's to retry */
}

static void console_close(struct dd *d)
{
	(void)d;
	if (host_peer < 0)
		return;
	if (!shut) {
		shutdown(host_peer, SHUT_WR);
		shut = true;
		return;
	}
	close(host_peer);
	host_peer = -1;
}

static const struct dd_hooks console_hooks = {
	.host_feed = console_feed, .host_close = console_close, .used = console_used,
	.check = console_check,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2], small = 1;
	if (!want && !(want = malloc(STREAM_MAX)))
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) < 0)
		abort();
	char fd[16];
	snprintf(fd, sizeof(fd), "%d", sv[0]);
	const char *const argv[] = { "--host-fd", fd };
	struct dd d;
	host_peer = sv[1];
	shut = false;
	nwant = narrived = 0;
	dd_start(&d, &serve_program, 2, argv);
	dd_run(&d, &console_hooks, data, size);
	dd_stop(&d);
	if (host_peer >= 0)
		close(host_peer);
	host_peer = -1;
	return 0;
}
