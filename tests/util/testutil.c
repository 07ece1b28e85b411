#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/mman.h>
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
