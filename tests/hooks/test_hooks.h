/* Test-only escape attempts, built into tests/hooks/cellvm-* (with
 * CELLVM_TEST_HOOKS) and never into the installed binaries: a frontend
 * sends request TEST_HOOK_ESCAPE + kind and the device tries what a
 * compromised device would. The tests check each is refused or kills only
 * the device, and that the controller names the syscall. */
#ifndef CELLVM_TEST_HOOKS_H
#define CELLVM_TEST_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#define TEST_HOOK_ESCAPE 0x7e50u

enum test_escape {
	TEST_ESCAPE_OPEN = 1,     /* open("/etc/passwd") */
	TEST_ESCAPE_SOCKET,       /* socket(AF_INET) */
	TEST_ESCAPE_EXECVE,       /* execve("/bin/sh") */
	TEST_ESCAPE_PTRACE,       /* ptrace(PTRACE_ATTACH, the controller) */
	TEST_ESCAPE_MPROTECT,     /* mprotect(PROT_EXEC) */
	TEST_ESCAPE_KILL,         /* kill(the controller, SIGKILL) */
	TEST_ESCAPE_MAX = TEST_ESCAPE_KILL,
	/* Through cellvm-blk's io_uring (device-procs/blk_ring.h); the result
	 * is the CQE's. */
	TEST_ESCAPE_URING_READ = 16, /* readv of the disk as fixed file 0: allowed */
	TEST_ESCAPE_URING_OPENAT,    /* IORING_OP_OPENAT of /etc/passwd */
	TEST_ESCAPE_URING_CONNECT,   /* IORING_OP_CONNECT */
	TEST_ESCAPE_URING_UNFIXED,   /* readv of the disk by its fd number */
	TEST_ESCAPE_URING_MAX = TEST_ESCAPE_URING_UNFIXED,
};

/* Remembers the controller (our parent) while we still can see it. Built
 * with CELLVM_TEST_EARLY_CHROOT (tests/hooks/early/), it then calls chroot,
 * which the filter inherited from cellvm-spawner refuses. */
void test_hooks_init(void);

/* The device's own attempts, for the kinds past TEST_ESCAPE_MAX. */
void test_hooks_device(int (*attempt)(void *ctx, enum test_escape kind), void *ctx);

/* If request is an escape request, tries it, logs what happened (if the
 * process is still alive) and returns true. */
bool test_hooks_escape(uint32_t request);

#endif
