#include "proc_usage.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int proc_stat_parse(const char *buf, size_t len, struct proc_stat *out)
{
	/* "pid (comm) state ppid ...": comm ends at the last ')'. */
	size_t i = len;
	while (i > 0 && buf[i - 1] != ')')
		i--;
	if (i == 0)
		return -EINVAL;
	/* Fields from 3 (state) on; utime 14, stime 15, rss 24. */
	uint64_t f[25] = { 0 };
	unsigned field = 2;
	while (i < len && field < 24) {
		while (i < len && buf[i] == ' ')
			i++;
		if (i == len)
			break;
		field++;
		uint64_t v = 0;
		bool digits = false, neg = buf[i] == '-';
		if (neg)
			i++;
		for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
			if (v > (UINT64_MAX - 9) / 10)
				return -EINVAL;
			v = v * 10 + (uint64_t)(buf[i] - '0');
			digits = true;
		}
		/* The state is a letter; a negative field (priority) counts as 0. */
		while (i < len && buf[i] != ' ' && buf[i] != '\n')
			i++;
		f[field] = digits && !neg ? v : 0;
	}
	if (field < 24)
		return -EINVAL;
	*out = (struct proc_stat){ .utime = f[14], .stime = f[15], .rss_pages = f[24] };
	return 0;
}

/* Reads a small /proc file into buf (NUL-terminated); its length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	ssize_t n;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	int err = -errno;
	close(fd);
	if (n < 0)
		return err;
	buf[n] = '\0';
	return n;
}

static int add_stat(pid_t pid, struct proc_usage *u)
{
	char path[64], buf[1024];
	struct proc_stat st;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	ssize_t n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (proc_stat_parse(buf, (size_t)n, &st) < 0)
		return -EINVAL;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	if (tick <= 0 || page <= 0)
		return -EINVAL;
	u->cpu_ns += (st.utime + st.stime) * (1000000000ull / (uint64_t)tick);
	u->memory_bytes += st.rss_pages * (uint64_t)page;
	return 0;
}

int proc_usage_read(pid_t pid, struct proc_usage *out)
{
	struct proc_usage u = { 0 };
	int err = add_stat(pid, &u);
	if (err < 0)
		return err;
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	ssize_t n = read_small(path, buf, sizeof(buf));
	unsigned long child;
	/* Its first child only: a sandbox's reaper has one. No children file
	 * (a kernel without CONFIG_PROC_CHILDREN) leaves the process's own. */
	if (n > 0 && sscanf(buf, "%lu", &child) == 1 && child > 0 && child <= INT32_MAX)
		(void)add_stat((pid_t)child, &u); /* it may be gone meanwhile */
	*out = u;
	return 0;
}
