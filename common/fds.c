#include "fds.h"

#include <errno.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

int new_signalfd(const int *sigs, size_t n, int flags)
{
	sigset_t mask, old;
	sigemptyset(&mask);
	for (size_t i = 0; i < n; i++)
		if (sigaddset(&mask, sigs[i]) < 0)
			return -errno;
	if (sigprocmask(SIG_BLOCK, &mask, &old) < 0)
		return -errno;
	int fd = signalfd(-1, &mask, flags | SFD_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		return err;
	}
	return fd;
}
