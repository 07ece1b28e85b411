/* cellvmd started as root with --user makes its socket for that user. The
 * socket's directory is the user's (cellvmd, once it is that user, removes
 * the socket at exit), so a process of the user can swap the socket's
 * temporary name for a link to any file between cellvmd's bind and what it
 * does next: whatever root then does by that name must not reach the file.
 * The attacker here renames a symlink to a root-owned file over every name
 * cellvmd creates, as soon as inotify reports it, while cellvmd starts again
 * and again. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl_harness.h"
#include "spawn.h"
#include "unix_sock.h"

#define NOBODY 65534
#define STARTS 25

TestSuite(socket_race, .init = ctl_init, .timeout = 120);

/* As the user: a link to victim renamed over each new name in dir. */
static _Noreturn void attack(const char *dir, const char *victim, int ready)
{
	char link[PATH_MAX], target[PATH_MAX + NAME_MAX + 2];
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(2);
	int in = inotify_init1(IN_CLOEXEC);
	if (in < 0 || inotify_add_watch(in, dir, IN_CREATE) < 0)
		_exit(2);
	snprintf(link, sizeof(link), "%s/.link", dir);
	if (symlink(victim, link) < 0)
		_exit(2);
	if (write(ready, "r", 1) != 1)
		_exit(2);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n <= 0)
			continue;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (e->len && strncmp(e->name, "sock", 4) == 0) {
				snprintf(target, sizeof(target), "%s/%s", dir, e->name);
				if (rename(link, target) == 0)
					(void)symlink(victim, link);
			}
			p += sizeof(*e) + e->len;
		}
	}
}

static void start_and_stop(const char *sock, int *started)
{
	char *argv[] = { "cellvmd", "--socket", (char *)sock, "--user", "65534:65534",
			 "--log-level", "error", NULL };
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	cr_assert_geq(null, 0);
	struct spawn_req req = { .path = ctl_build_path("controller/cellvmd"), .argv = argv,
				 .stderr_fd = null };
	pid_t pid;
	int pidfd;
	cr_assert_eq(spawn_child(&req, &pid, &pidfd), 0);
	close(null);
	struct stat st;
	struct child_end e;
	bool reaped = false;
	/* Until the name is there (a socket, or the attacker's link it was
	 * renamed from) or cellvmd gave up. */
	for (uint64_t end = ctl_now_ms() + CTL_WAIT_MS; ctl_now_ms() < end;) {
		if (lstat(sock, &st) == 0) {
			*started += S_ISSOCK(st.st_mode);
			break;
		}
		if ((reaped = spawn_reap(pidfd, &e) == 1))
			break;
		ctl_msleep(5);
	}
	/* By its pidfd: a reaped pid may be another process's by now. */
	if (!reaped)
		pidfd_send_signal(pidfd, SIGTERM, NULL, 0);
	for (uint64_t end = ctl_now_ms() + CTL_WAIT_MS; !reaped && ctl_now_ms() < end;) {
		reaped = spawn_reap(pidfd, &e) != 0;
		ctl_msleep(5);
	}
	close(pidfd);
}

Test(socket_race, a_swapped_name_never_makes_a_root_file_the_users)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: cellvmd takes --user only as root");
	char dir[] = "/tmp/cellvm-race-XXXXXX", victim[] = "/tmp/cellvm-victim-XXXXXX";
	char sock[sizeof(dir) + 8];
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chown(dir, NOBODY, NOBODY), 0);
	cr_assert_eq(chmod(dir, 0755), 0);
	int v = mkstemp(victim);
	cr_assert_geq(v, 0);
	close(v);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	pid_t attacker = fork();
	cr_assert_geq(attacker, 0);
	if (attacker == 0)
		attack(dir, victim, ready[1]);
	char r;
	cr_assert_eq(read(ready[0], &r, 1), 1, "the attacker did not start");
	int started = 0;
	struct stat st;
	for (int i = 0; i < STARTS; i++) {
		start_and_stop(sock, &started);
		cr_assert_eq(stat(victim, &st), 0);
		if (st.st_uid != 0)
			break;
		unlink(sock);
	}
	kill(attacker, SIGKILL);
	waitpid(attacker, NULL, 0);
	cr_expect_eq(st.st_uid, 0, "a root-owned file became uid %u's", (unsigned)st.st_uid);
	cr_expect_gt(started, 0, "cellvmd never got its socket up");
	char cmd[sizeof(dir) + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
	unlink(victim);
}

/* The socket is the user's from the start, in the user's directory as in
 * one only root may change, and cellvmd still serves on it. */
Test(socket_race, the_socket_is_the_users_in_either_kind_of_directory)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: cellvmd takes --user only as root");
	char user_dir[] = "/tmp/cellvm-sock-XXXXXX", root_dir[] = "/tmp/cellvm-sock-XXXXXX";
	cr_assert_not_null(mkdtemp(user_dir));
	cr_assert_not_null(mkdtemp(root_dir));
	cr_assert_eq(chown(user_dir, NOBODY, NOBODY), 0);
	cr_assert_eq(chmod(user_dir, 0755), 0);
	cr_assert_eq(chmod(root_dir, 0755), 0);
	const char *dirs[] = { user_dir, root_dir };
	for (size_t i = 0; i < 2; i++) {
		char sock[64];
		snprintf(sock, sizeof(sock), "%s/sock", dirs[i]);
		char *argv[] = { "cellvmd", "--socket", sock, "--user", "65534:65534", NULL };
		struct spawn_req req = { .path = ctl_build_path("controller/cellvmd"),
					 .argv = argv, .stderr_fd = -1 };
		pid_t pid;
		int pidfd;
		cr_assert_eq(spawn_child(&req, &pid, &pidfd), 0);
		struct stat st;
		int fd = -1;
		for (uint64_t end = ctl_now_ms() + CTL_WAIT_MS; fd < 0 && ctl_now_ms() < end;) {
			if (lstat(sock, &st) == 0 && (fd = unix_connect(sock, 0)) >= 0)
				break;
			ctl_msleep(10);
		}
		cr_expect_geq(fd, 0, "%s: cellvmd does not serve", sock);
		cr_expect(S_ISSOCK(st.st_mode) && st.st_uid == NOBODY && st.st_gid == NOBODY &&
				  (st.st_mode & 0777) == 0700,
			  "%s: uid %u gid %u mode %o", sock, (unsigned)st.st_uid,
			  (unsigned)st.st_gid, (unsigned)(st.st_mode & 0777));
		if (fd >= 0)
			close(fd);
		pidfd_send_signal(pidfd, SIGTERM, NULL, 0);
		struct child_end e;
		while (spawn_reap(pidfd, &e) == 0)
			ctl_msleep(5);
		close(pidfd);
		unlink(sock);
		rmdir(dirs[i]);
	}
}
