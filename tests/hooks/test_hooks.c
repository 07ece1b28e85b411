#include "test_hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static pid_t controller;
static int (*device_attempt)(void *ctx, enum test_escape kind);
static void *device_ctx;

void test_hooks_device(int (*attempt)(void *ctx, enum test_escape kind), void *ctx)
{
	device_attempt = attempt;
	device_ctx = ctx;
}

void test_hooks_init(void)
{
	controller = getppid();
#ifdef CELLVM_TEST_EARLY_CHROOT
	/* What the sandbox's old fallback for an initramfs root did: a call
	 * that only the filter inherited from cellvm-spawner sees. */
	int r = chroot("/");
	log_info("test hook: chroot before confinement returned %d", r);
#endif
}

static int attempt(enum test_escape kind)
{
	static char page[8192] __attribute__((aligned(4096)));
	char *const argv[] = { "sh", "-c", "true", NULL };
	int fd;
	switch (kind) {
	case TEST_ESCAPE_OPEN:
		fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
		return fd;
	case TEST_ESCAPE_SOCKET:
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			close(fd);
		return fd;
	case TEST_ESCAPE_EXECVE:
		return execve("/bin/sh", argv, NULL);
	case TEST_ESCAPE_PTRACE:
		return (int)ptrace(PTRACE_ATTACH, controller, NULL, NULL);
	case TEST_ESCAPE_MPROTECT:
		return mprotect(page, 4096, PROT_READ | PROT_EXEC);
	case TEST_ESCAPE_KILL:
		return kill(controller, SIGKILL);
	default:
		return device_attempt ? device_attempt(device_ctx, kind) : -ENOSYS;
	}
}

bool test_hooks_escape(uint32_t request)
{
	if (request <= TEST_HOOK_ESCAPE || request > TEST_HOOK_ESCAPE + TEST_ESCAPE_URING_MAX)
		return false;
	enum test_escape kind = (enum test_escape)(request - TEST_HOOK_ESCAPE);
	if (kind > TEST_ESCAPE_MAX && kind < TEST_ESCAPE_URING_READ)
		return false;
	errno = 0;
	int r = attempt(kind);
	log_warn("test hook: escape %d returned %d (%m)", (int)kind, r);
	return true;
}
