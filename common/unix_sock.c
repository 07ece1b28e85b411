#include "unix_sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int unix_sock(const char *path, int flags, struct sockaddr_un *sa)
{
	size_t len = strlen(path);
	if (len > UNIX_SOCK_PATH_MAX)
		return -ENAMETOOLONG;
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sa->sun_path, path, len + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	return fd < 0 ? -errno : fd;
}

/* Closes fd keeping errno's value; returns it negated. */
static int fail(int fd)
{
	int err = -errno;
	close(fd);
	return err;
}

int unix_listen(const char *path, int backlog, int flags)
{
	struct sockaddr_un sa;
	int fd = unix_sock(path, flags, &sa);
	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail(fd);
	if (listen(fd, backlog) < 0) {
		int err = fail(fd);
		unlink(path);
		return err;
	}
	return fd;
}

int unix_connect(const char *path, int flags)
{
	struct sockaddr_un sa;
	int fd = unix_sock(path, flags, &sa);
	if (fd < 0)
		return fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail(fd);
	return fd;
}
