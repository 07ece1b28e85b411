/* idle-clients: a tenant that takes connections to cellvmd's socket and
 * sends nothing, for the e2e scenario `tenants` (tests/e2e/scenarios.sh).
 *
 *   idle-clients SOCKET N SECONDS [UID]
 *
 * As UID (when given; it starts as root), connects N times and holds every
 * connection it got for SECONDS, then exits. Prints "connected K" (K: how
 * many connects succeeded) and, at the end, "closed K" (how many of them the
 * server had closed by then). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unix_sock.h"

#define MAX_CONNS 256

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: idle-clients SOCKET N SECONDS [UID]\n");
		return 2;
	}
	int n = atoi(argv[2]), secs = atoi(argv[3]);
	if (n < 1 || n > MAX_CONNS || secs < 0) {
		fprintf(stderr, "idle-clients: N from 1 to %d, SECONDS from 0\n", MAX_CONNS);
		return 2;
	}
	if (argc == 5) {
		uid_t uid = (uid_t)atoi(argv[4]);
		if (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0) {
			perror("idle-clients: setresuid");
			return 1;
		}
	}
	int fds[MAX_CONNS], got = 0;
	for (int i = 0; i < n; i++) {
		int fd = unix_connect(argv[1], 0);
		if (fd >= 0)
			fds[got++] = fd;
	}
	printf("connected %d\n", got);
	fflush(stdout);
	sleep((unsigned)secs);
	int closed = 0;
	for (int i = 0; i < got; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		char c;
		/* EOF or a reset: the server hung up on it. */
		if (poll(&p, 1, 0) == 1 && recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0)
			closed++;
	}
	printf("closed %d\n", closed);
	return 0;
}
