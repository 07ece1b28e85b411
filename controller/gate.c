/* Opening what the tenant names, within the operator's policy (gate.h). */
#include "gate.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "json_words.h"
#include "lifecycle.h"
#include "log.h"

#define BENEATH (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

__attribute__((format(printf, 6, 7))) static int fail(char *err, size_t errlen, int code,
							const char *field, const char *path,
							const char *fmt, ...)
{
	struct json_shown q;
	int n = snprintf(err, errlen, "%s %s: ", field, json_show(&q, path, strlen(path), true));
	if (n >= 0 && (size_t)n < errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int open_dirs(const char (*dirs)[VM_CONFIG_PATH_MAX], size_t n, int *fds,
		     const char *opt)
{
	for (size_t i = 0; i < n; i++) {
		fds[i] = open(dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0) {
			int err = -errno;
			log_err("%s %s: %s", opt, dirs[i], strerror(-err));
			return err;
		}
	}
	return 0;
}

int gate_start(struct gate *g, struct operator_policy *pol)
{
	g->pol = pol;
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	pol->host_memory = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
	int r;
	if ((r = open_dirs(pol->dir, pol->ndirs, g->dir_fd, "--allow-dir")) ||
	    (r = open_dirs(pol->socket_dir, pol->nsocket_dirs, g->socket_dir_fd,
			   "--allow-socket-dir")))
		return r;
	if (!pol->ndirs)
		log_warn("no --allow-dir: a config may name any kernel, initrd or disk this user "
			 "can open");
	if (!pol->nsocket_dirs)
		log_warn("no --allow-socket-dir: a config may name any vhost-user socket this user "
			 "can connect to");
	return 0;
}

size_t gate_fds(const struct gate *g, int *out, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < g->pol->ndirs && k < max; i++)
		out[k++] = g->dir_fd[i];
	for (size_t i = 0; i < g->pol->nsocket_dirs && k < max; i++)
		out[k++] = g->socket_dir_fd[i];
	return k;
}

/* openat2 beneath dirfd, or as open(2) does with AT_FDCWD. -errno. */
static int open_how(int dirfd, const char *rel, uint64_t flags)
{
	struct open_how how = { .flags = flags | O_CLOEXEC,
				.resolve = dirfd == AT_FDCWD ? 0 : BENEATH };
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/* Where path is to be resolved: 0 with *dirfd and *rel, or BAD_CONFIG. */
static int locate(const char (*dirs)[VM_CONFIG_PATH_MAX], size_t n, const int *dir_fds,
		  const char *field, const char *path, const char *opt, int *dirfd,
		  const char **rel, char *err, size_t errlen)
{
	char why[160];
	int i;
	if (operator_place(dirs, n, path, &i, rel, why, sizeof(why)) < 0)
		return fail(err, errlen, LC_ERR_BAD_CONFIG, field, path, "%s (%s)", why, opt);
	*dirfd = i < 0 ? AT_FDCWD : dir_fds[i];
	return 0;
}

/* What a failed resolution means: beneath a directory, ELOOP is a symlink
 * and EXDEV a way out (the text had none, so a magic link). */
static const char *open_words(int err, int dirfd)
{
	if (dirfd != AT_FDCWD && err == ELOOP)
		return "a symbolic link on the way: not followed beneath --allow-dir";
	if (dirfd != AT_FDCWD && err == EXDEV)
		return "leads out of its --allow-dir";
	return strerror(err);
}

/* The file systems whose "regular files" are made up on read by the kernel
 * (/proc/self/maps, sysfs attributes): never a guest's kernel or disk. */
static bool pseudo_fs(int fd)
{
	static const unsigned long magic[] = { PROC_SUPER_MAGIC,   SYSFS_MAGIC,
					       DEBUGFS_MAGIC,      TRACEFS_MAGIC,
					       SECURITYFS_MAGIC,   CGROUP_SUPER_MAGIC,
					       CGROUP2_SUPER_MAGIC, BPF_FS_MAGIC,
					       EFIVARFS_MAGIC };
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return true;
	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		if ((unsigned long)sf.f_type == magic[i])
			return true;
	return false;
}

static const char *file_type(mode_t m)
{
	return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" :
	       S_ISBLK(m) ? "a block device" : S_ISDIR(m) ? "a directory" :
	       S_ISSOCK(m) ? "a socket" : "not a regular file";
}

int gate_open(const struct gate *g, const char *field, const char *path, bool write,
	      int fail_code, int *fd, uint64_t *size, char *err, size_t errlen)
{
	const struct operator_policy *p = g->pol;
	const char *rel;
	int dirfd, code;
	if ((code = locate(p->dir, p->ndirs, g->dir_fd, field, path, "--allow-dir", &dirfd, &rel,
			   err, errlen)))
		return code;
	/* Looked at before it is opened: opening a device can act on it. */
	int pfd = open_how(dirfd, rel, O_PATH);
	if (pfd < 0) {
		int e = -pfd;
		return fail(err, errlen, e == ELOOP || e == EXDEV ? LC_ERR_BAD_CONFIG : fail_code,
			    field, path, "%s", open_words(e, dirfd));
	}
	struct stat before = { 0 }, st;
	if (fstat(pfd, &before) < 0 || !S_ISREG(before.st_mode) || pseudo_fs(pfd)) {
		code = fail(err, errlen, LC_ERR_BAD_CONFIG, field, path, "%s: want a regular file",
			    S_ISREG(before.st_mode) ? "a file the kernel makes up (procfs, sysfs)"
						    : file_type(before.st_mode));
		close(pfd);
		return code;
	}
	close(pfd);
	/* O_NONBLOCK: if it was swapped for a FIFO meanwhile, no wait. */
	int f = open_how(dirfd, rel, (write ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_NOCTTY);
	if (f < 0)
		return fail(err, errlen, -f == ELOOP || -f == EXDEV ? LC_ERR_BAD_CONFIG : fail_code,
			    field, path, "%s%s", open_words(-f, dirfd),
			    write && (-f == EACCES || -f == EROFS) ? " (read_only: true?)" : "");
	if (fstat(f, &st) < 0 || st.st_dev != before.st_dev || st.st_ino != before.st_ino) {
		close(f);
		return fail(err, errlen, LC_ERR_BAD_CONFIG, field, path,
			    "changed while it was opened: try again");
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

int gate_lock(int fd, bool write)
{
	struct flock fl = { .l_type = write ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EACCES ? -EAGAIN : -errno;
}

void gate_unlock(int fd)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		log_warn("unlocking a disk: %m");
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Connects non-blocking, retrying a full backlog for wait_ms; *fd stays
 * non-blocking. */
static int connect_beneath(const struct gate *g, const char *field, const char *path,
			   int fail_code, unsigned wait_ms, int *fd, char *err, size_t errlen)
{
	const struct operator_policy *p = g->pol;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *rel;
	int dirfd, code, pfd = -1;
	if ((code = locate(p->socket_dir, p->nsocket_dirs, g->socket_dir_fd, field, path,
			   "--allow-socket-dir", &dirfd, &rel, err, errlen)))
		return code;
	if (dirfd == AT_FDCWD) {
		if (strlen(path) >= sizeof(sa.sun_path))
			return fail(err, errlen, LC_ERR_BAD_CONFIG, field, path, "too long");
		strcpy(sa.sun_path, path);
	} else {
		/* Resolved beneath the directory, then connected through
		 * our own fd of it: connect(2) would follow symlinks. */
		struct stat st = { 0 };
		pfd = open_how(dirfd, rel, O_PATH);
		if (pfd < 0)
			return fail(err, errlen, -pfd == ELOOP || -pfd == EXDEV ? LC_ERR_BAD_CONFIG
										: fail_code,
				    field, path, "%s", open_words(-pfd, dirfd));
		if (fstat(pfd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
			close(pfd);
			return fail(err, errlen, LC_ERR_BAD_CONFIG, field, path,
				    "%s: want a Unix socket", file_type(st.st_mode));
		}
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
	}
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0) {
		code = fail(err, errlen, LC_ERR_INTERNAL_ERROR, field, path, "socket: %s",
			    strerror(errno));
		goto out;
	}
	/* A Unix socket connects at once or says EAGAIN (its backlog is
	 * full): retried for a short while, never waited on for good. */
	int r;
	for (uint64_t end = now_ms() + wait_ms;
	     (r = connect(s, (struct sockaddr *)&sa, sizeof(sa))) < 0 && errno == EAGAIN &&
	     now_ms() < end;)
		poll(NULL, 0, 20);
	if (r < 0) {
		int e = errno;
		close(s);
		code = fail(err, errlen, fail_code, field, path, "%s", e == EAGAIN ?
			    (wait_ms ? "its backlog stayed full for 1 s (the backend does not accept)"
				     : "its backlog is full (the device does not accept)") :
			    e == ECONNREFUSED ? "nothing listens there (is the backend running?)" :
			    strerror(e));
		goto out;
	}
	*fd = s;
out:
	if (pfd >= 0)
		close(pfd);
	return code;
}

int gate_connect(const struct gate *g, const char *field, const char *path, int fail_code,
		 int *fd, char *err, size_t errlen)
{
	int s, code = connect_beneath(g, field, path, fail_code, GATE_CONNECT_MS, &s, err, errlen);
	if (code)
		return code;
	int fl = fcntl(s, F_GETFL);
	if (fl < 0 || fcntl(s, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		code = fail(err, errlen, LC_ERR_INTERNAL_ERROR, field, path, "fcntl: %s",
			    strerror(errno));
		close(s);
		return code;
	}
	*fd = s;
	return 0;
}

int gate_connect_now(const struct gate *g, const char *field, const char *path, int fail_code,
		     int *fd, char *err, size_t errlen)
{
	return connect_beneath(g, field, path, fail_code, 0, fd, err, errlen);
}

int gate_listen(const struct gate *g, const char *field, const char *path, int fail_code,
		int *fd, char *err, size_t errlen)
{
	const struct operator_policy *p = g->pol;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *rel, *name;
	char parent[VM_CONFIG_PATH_MAX];
	int dirfd, code, pfd = -1, s = -1;
	if ((code = locate(p->socket_dir, p->nsocket_dirs, g->socket_dir_fd, field, path,
			   "--allow-socket-dir", &dirfd, &rel, err, errlen)))
		return code;
	name = strrchr(rel, '/');
	name = name ? name + 1 : rel;
	if (dirfd == AT_FDCWD) {
		if (strlen(path) >= sizeof(sa.sun_path))
			return fail(err, errlen, LC_ERR_BAD_CONFIG, field, path, "too long");
		strcpy(sa.sun_path, path);
	} else {
		/* Its directory resolved beneath the allowed one; bound through
		 * our own fd of it: bind(2) would follow symlinks. */
		snprintf(parent, sizeof(parent), "%.*s", (int)(name - rel), rel);
		pfd = open_how(dirfd, parent[0] ? parent : ".", O_PATH | O_DIRECTORY);
		if (pfd < 0)
			return fail(err, errlen, -pfd == ELOOP || -pfd == EXDEV ? LC_ERR_BAD_CONFIG
										: fail_code,
				    field, path, "its directory: %s", open_words(-pfd, dirfd));
		if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", pfd,
				     name) >= sizeof(sa.sun_path)) {
			code = fail(err, errlen, LC_ERR_BAD_CONFIG, field, path, "too long");
			goto out;
		}
	}
	struct stat st;
	if (lstat(sa.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			code = fail(err, errlen, LC_ERR_BAD_CONFIG, field, path,
				    "%s is there: want a free name or a stale socket",
				    file_type(st.st_mode));
			goto out;
		}
		unlink(sa.sun_path);
	}
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 64) < 0) {
		code = fail(err, errlen, fail_code, field, path, "%s", strerror(errno));
		if (s >= 0)
			close(s);
		goto out;
	}
	*fd = s;
out:
	if (pfd >= 0)
		close(pfd);
	return code;
}
