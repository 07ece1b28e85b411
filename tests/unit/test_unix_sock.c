#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "unix_sock.h"

static char dir[64], path[UNIX_SOCK_PATH_MAX + 2];

static void setup(void)
{
	strcpy(dir, "/tmp/cellvm-unix-sock-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(unix_sock, .init = setup, .fini = teardown);

static bool cloexec(int fd)
{
	return fcntl(fd, F_GETFD) & FD_CLOEXEC;
}

static bool nonblocking(int fd)
{
	return fcntl(fd, F_GETFL) & O_NONBLOCK;
}

Test(unix_sock, listen_connect_and_talk)
{
	int l = unix_listen(path, 1, 0);
	cr_assert_geq(l, 0, "%s", strerror(-l));
	struct stat st;
	cr_assert(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
	int c = unix_connect(path, 0);
	cr_assert_geq(c, 0, "%s", strerror(-c));
	int a = accept(l, NULL, NULL);
	cr_assert_geq(a, 0);
	cr_assert_eq(write(c, "hi", 2), 2);
	char buf[2];
	cr_assert_eq(read(a, buf, 2), 2);
	cr_assert_arr_eq(buf, "hi", 2);
	int type;
	socklen_t len = sizeof(type);
	cr_assert_eq(getsockopt(c, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	cr_assert_eq(type, SOCK_STREAM);
	cr_assert(cloexec(l) && cloexec(c));
	cr_assert(!nonblocking(l) && !nonblocking(c));
	close(a);
	close(c);
	close(l);
}

Test(unix_sock, nonblocking_when_asked)
{
	int l = unix_listen(path, 1, SOCK_NONBLOCK);
	cr_assert_geq(l, 0);
	cr_assert(nonblocking(l) && cloexec(l));
	/* Nobody has connected: accept would block. */
	cr_assert_eq(accept(l, NULL, NULL), -1);
	cr_assert_eq(errno, EAGAIN);
	int c = unix_connect(path, SOCK_NONBLOCK);
	cr_assert_geq(c, 0);
	cr_assert(nonblocking(c) && cloexec(c));
	close(c);
	close(l);
}

Test(unix_sock, longest_path_fits_and_one_more_does_not)
{
	int fds = tu_count_fds();
	char p[UNIX_SOCK_PATH_MAX + 2];
	int n = snprintf(p, sizeof(p), "%s/", dir);
	memset(p + n, 'x', UNIX_SOCK_PATH_MAX + 1 - (size_t)n);
	p[UNIX_SOCK_PATH_MAX + 1] = '\0';
	cr_assert_eq(unix_listen(p, 1, 0), -ENAMETOOLONG);
	cr_assert_eq(unix_connect(p, 0), -ENAMETOOLONG);
	cr_assert_eq(tu_count_fds(), fds);
	p[UNIX_SOCK_PATH_MAX] = '\0';
	int l = unix_listen(p, 1, 0);
	cr_assert_geq(l, 0, "%s", strerror(-l));
	int c = unix_connect(p, 0);
	cr_assert_geq(c, 0, "%s", strerror(-c));
	close(c);
	close(l);
	unlink(p);
}

Test(unix_sock, errors_leave_no_fd)
{
	int fds = tu_count_fds();
	cr_assert_eq(unix_connect(path, 0), -ENOENT);
	int l = unix_listen(path, 1, 0);
	cr_assert_geq(l, 0);
	/* The path is taken: the caller decides whether to replace it. */
	cr_assert_eq(unix_listen(path, 1, 0), -EADDRINUSE);
	close(l);
	/* The file stays, but nobody listens on it any more. */
	cr_assert_eq(unix_connect(path, 0), -ECONNREFUSED);
	cr_assert_eq(unix_listen("/nonexistent-dir/s", 1, 0), -ENOENT);
	cr_assert_eq(tu_count_fds(), fds);
}
