#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int saved_stderr = -1, log_fd = -1;
static char logged[8192];

void tu_log_begin(void)
{
	log_fd = memfd_create("log", 0);
	saved_stderr = dup(STDERR_FILENO);
	cr_assert(log_fd >= 0 && saved_stderr >= 0);
	cr_assert_geq(dup2(log_fd, STDERR_FILENO), 0);
}

const char *tu_log_end(void)
{
	cr_assert_geq(dup2(saved_stderr, STDERR_FILENO), 0);
	ssize_t n = pread(log_fd, logged, sizeof(logged) - 1, 0);
	logged[n > 0 ? n : 0] = '\0';
	close(log_fd);
	close(saved_stderr);
	return logged;
}

int tu_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

void tu_sockpair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

int tu_memfd(void)
{
	int fd = memfd_create("testutil", MFD_CLOEXEC);
	cr_assert_geq(fd, 0);
	return fd;
}

bool tu_same_file(int a, int b)
{
	struct stat sa, sb;
	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void tu_raw_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	cr_assert_leq(nfds, 64);
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	cr_assert_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}
