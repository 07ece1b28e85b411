/* libFuzzer harness: cellvm-vsock (device-procs/vsock.c) with its real ops
 * and options, driven as a guest and its frontend would
 * (tests/fuzz/dev_drive.h says how an input reads and what is checked),
 * with host programs on its sockets: a host client connected to its hybrid
 * socket from the start, which HOST records write to (a CONNECT line
 * first, to get anywhere), and a listener at "<uds_path>_1024" that takes
 * the guest's connections and reads them. On top of the driver's checks,
 * every packet the device puts on the rx ring is a header that parses,
 * from CID 2 to the guest's CID 3, with exactly the payload its used
 * length says.
 *
 * Boundary: guest (rings) and host sockets -> cellvm-vsock, its real code
 * Links: tests/fuzz/dev_drive.c device-procs/vsock.c device-procs/vsock_pkt.c
 *   device-procs/vsock_csm.c common/vsock_hybrid.c device-procs/backend.c
 *   device-procs/backend_inflight.c device-procs/serve.c tests/fuzz/confine_stub.c
 *   common/vhost_user.c common/msg.c common/guest_mem.c common/virtq.c common/vhu_inflight.c
 *   common/event_loop.c common/log.c common/fds.c common/cli.c common/unix_sock.c common/iov.c
 *   device-procs/throttle.c common/rate_limiter.c common/rate_limit_arg.c common/dev_ctl.c */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dev_drive.h"
#include "unix_sock.h"
#include "vsock_pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RXQ 0u
#define MAX_PEERS 8

static char dir[64], uds[96];
static int listener = -1, client = -1, peers[MAX_PEERS], npeers;
static bool shut;

#define FAIL(...) (fprintf(stderr, "fuzz_dev_vsock: " __VA_ARGS__), fputc('\n', stderr), abort())

static void vsock_used(struct dd *d, unsigned int q, const struct dd_chain *c, uint32_t len)
{
	if (q != RXQ || len == 0 || d->loose)
		return;
	uint8_t raw[VSOCK_HDR_SIZE];
	size_t got = 0;
	for (unsigned int i = 0; i < c->nseg && got < sizeof(raw); i++) {
		if (!c->seg[i].w)
			continue;
		size_t k = c->seg[i].len < sizeof(raw) - got ? c->seg[i].len : sizeof(raw) - got;
		dd_read(d, c->seg[i].gpa, raw + got, k);
		got += k;
	}
	struct vsock_hdr h;
	const char *why = got == sizeof(raw) ? vsock_hdr_parse(raw, got, &h) : "short";
	if (why)
		FAIL("rx packet of %u bytes: %s", len, why);
	if (h.src_cid != VSOCK_HOST_CID || h.dst_cid != 3 || len != VSOCK_HDR_SIZE + h.len)
		FAIL("rx packet %llu -> %llu, len %u, used %u", (unsigned long long)h.src_cid,
		     (unsigned long long)h.dst_cid, h.len, len);
}

/* The host programs read what reaches them, and take new connections. */
static void vsock_check(struct dd *d)
{
	(void)d;
	static uint8_t sink[65536];
	int fd;
	while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (npeers == MAX_PEERS) {
			close(peers[0]);
			memmove(peers, peers + 1, sizeof(peers[0]) * (MAX_PEERS - 1));
			npeers--;
		}
		peers[npeers++] = fd;
	}
	for (int i = 0; i < npeers; i++)
		while (read(peers[i], sink, sizeof(sink)) > 0)
			;
	if (client >= 0)
		while (read(client, sink, sizeof(sink)) > 0)
			;
}

static void vsock_feed(struct dd *d, const uint8_t *p, size_t n)
{
	(void)d;
	if (client >= 0 && !shut) {
		ssize_t r = send(client, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)r; /* a full socket: the host would retry */
	}
}

static void vsock_close(struct dd *d)
{
	(void)d;
	if (client < 0)
		return;
	if (!shut) {
		shutdown(client, SHUT_WR);
		shut = true;
		return;
	}
	close(client);
	client = -1;
}

static const struct dd_hooks vsock_hooks = {
	.host_feed = vsock_feed, .host_close = vsock_close, .used = vsock_used,
	.check = vsock_check,
};

/* Once: a directory of its own, the process standing in it as the
 * confined device would, with the guest's listener on port 1024. */
static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fuzz-vsock-XXXXXX");
	if (!mkdtemp(dir) || chdir(dir) < 0)
		abort();
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	char path[128];
	snprintf(path, sizeof(path), "%s_1024", uds);
	if ((listener = unix_listen(path, 64, SOCK_NONBLOCK)) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (listener < 0)
		setup();
	unlink(uds);
	int lfd = unix_listen(uds, 8, 0);
	if (lfd < 0 || fcntl(lfd, F_SETFD, 0) < 0)
		abort();
	char fd[16];
	snprintf(fd, sizeof(fd), "%d", lfd);
	const char *const argv[] = { "--uds-fd", fd, "--guest-cid", "3", "--uds-path", uds,
				     "--buf-alloc", "4096" };
	struct dd d;
	shut = false;
	dd_start(&d, &serve_program, 8, argv);
	if ((client = unix_connect(uds, SOCK_NONBLOCK)) < 0)
		abort();
	dd_run(&d, &vsock_hooks, data, size);
	dd_stop(&d);
	if (client >= 0)
		close(client);
	client = -1;
	for (int i = 0; i < npeers; i++)
		close(peers[i]);
	npeers = 0;
	return 0;
}
