#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"

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

int tu_count_fds_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	cr_assert_not_null(dir, "%s: %s", path, strerror(errno));
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* Its state letter and parent; false if it is gone. */
static bool proc_stat(pid_t pid, char *state, pid_t *ppid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	char *line = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* The name in parentheses may hold anything: read after the last ')'. */
	const char *after = line ? strrchr(buf, ')') : NULL;
	int p;
	if (!after || sscanf(after, ") %c %d", state, &p) != 2)
		return false;
	*ppid = (pid_t)p;
	return true;
}

pid_t tu_parent_of(pid_t pid)
{
	char state;
	pid_t ppid;
	cr_assert(proc_stat(pid, &state, &ppid), "pid %d is gone", (int)pid);
	return ppid;
}

bool tu_ended(pid_t pid)
{
	char state;
	pid_t ppid;
	return !proc_stat(pid, &state, &ppid) || state == 'Z' || state == 'X';
}

void tu_beside_self(const char *name, char *path, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert_gt(n, 0);
	self[n] = '\0';
	snprintf(path, len, "%s/%s", dirname(self), name);
	cr_assert_eq(access(path, X_OK), 0, "%s: build it first (check_PROGRAMS)", path);
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
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	cr_assert_eq(msg_send_some(sock, &iov, 1, 0, fds, nfds), (ssize_t)len);
}

const char *tu_padded_object(size_t len)
{
	static char text[128 << 10];
	cr_assert(len >= 8 && len < sizeof(text), "tu_padded_object(%zu)", len);
	memcpy(text, "{\"a\":\"", 6);
	memset(text + 6, 'x', len - 8);
	memcpy(text + len - 2, "\"}", 3);
	return text;
}
