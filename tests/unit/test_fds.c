#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "fds.h"
#include "testutil.h"

static bool blocked(int sig)
{
	sigset_t now;
	cr_assert_eq(sigprocmask(SIG_BLOCK, NULL, &now), 0);
	return sigismember(&now, sig);
}

Test(fds, close_fd_closes_once_and_marks_closed)
{
	int n = tu_count_fds();
	int fd = dup(STDERR_FILENO);
	cr_assert_geq(fd, 0);
	close_fd(&fd);
	cr_assert_eq(fd, -1);
	cr_assert_eq(tu_count_fds(), n);
	close_fd(&fd); /* closed already: nothing to do */
	cr_assert_eq(fd, -1);
}

Test(fds, eventfd_is_nonblocking_and_cloexec)
{
	int fd = new_eventfd();
	cr_assert_geq(fd, 0);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	uint64_t v;
	cr_assert_eq(read(fd, &v, sizeof(v)), -1);
	cr_assert_eq(errno, EAGAIN);
	v = 3;
	cr_assert_eq(write(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	cr_assert_eq(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	cr_assert_eq(v, 3);
	close(fd);
}

Test(fds, signalfd_blocks_and_reads_the_signals)
{
	const int sigs[] = { SIGTERM, SIGUSR1 };
	int fd = new_signalfd(sigs, 2, SFD_NONBLOCK);
	cr_assert_geq(fd, 0);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	cr_assert(blocked(SIGTERM) && blocked(SIGUSR1));
	cr_assert_not(blocked(SIGUSR2));
	struct signalfd_siginfo si;
	cr_assert_eq(read(fd, &si, sizeof(si)), -1);
	cr_assert_eq(errno, EAGAIN);
	/* Blocked, so it waits in the fd instead of ending the test. */
	cr_assert_eq(raise(SIGTERM), 0);
	cr_assert_eq(read(fd, &si, sizeof(si)), (ssize_t)sizeof(si));
	cr_assert_eq(si.ssi_signo, (uint32_t)SIGTERM);
	close(fd);
}

Test(fds, signalfd_blocking_without_flags)
{
	const int sigs[] = { SIGUSR2 };
	int fd = new_signalfd(sigs, 1, 0);
	cr_assert_geq(fd, 0);
	cr_assert_not(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
}

Test(fds, signalfd_failure_leaves_the_mask_alone)
{
	const int sigs[] = { SIGUSR1 };
	/* Flags signalfd refuses: the mask must not stay changed. */
	cr_assert_eq(new_signalfd(sigs, 1, 0x1), -EINVAL);
	cr_assert_not(blocked(SIGUSR1));
	const int bad[] = { SIGUSR1, 0 };
	cr_assert_eq(new_signalfd(bad, 2, 0), -EINVAL);
	cr_assert_not(blocked(SIGUSR1));
}
