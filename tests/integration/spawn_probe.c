/* The child test_spawn starts: reports what it was given, then ends as told.
 *
 *   spawn_probe [--report FD] [--await FD] (--exit N | --raise SIG | --pause)
 *
 * --report writes, one per line: "env N" (the number of environment
 * entries), "fd N PATH" for each open fd (PATH as /proc/self/fd shows it),
 * and the SigBlk, SigIgn, NSpid and CapEff lines of /proc/self/status. --await reads FD
 * until EOF before ending. --raise leaves no core file behind. */
#include <dirent.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

extern char **environ;

#ifdef CELLVM_SANITIZERS
/* test_spawner starts it under cellvm-spawner's filter, which refuses what
 * LeakSanitizer's check at exit needs (ptrace, /proc), as every confined
 * process's does. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

static char report[16384];
static size_t used;

static void add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void add(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(report + used, sizeof(report) - used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(report) - used)
		exit(120);
	used += (size_t)n;
}

static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		exit(121);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		char target[256];
		ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (n < 0)
			exit(122);
		target[n] = '\0';
		add("fd %s %s\n", e->d_name, target);
	}
	closedir(d);
}

static void signal_lines(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		exit(123);
	char line[256];
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "SigBlk:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0 ||
		    strncmp(line, "NSpid:", 6) == 0 || strncmp(line, "CapEff:", 7) == 0)
			add("%s", line);
	fclose(f);
}

static void write_report(int fd)
{
	size_t nenv = 0;
	while (environ && environ[nenv])
		nenv++;
	add("env %zu\n", nenv);
	list_fds();
	signal_lines();
	for (size_t off = 0; off < used;) {
		ssize_t n = write(fd, report + off, used - off);
		if (n <= 0)
			exit(124);
		off += (size_t)n;
	}
}

static void await_eof(int fd)
{
	char buf[64];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) != 0)
		if (n < 0)
			exit(125);
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *opt = argv[i];
		int val = atoi(argv[i + 1]);
		if (strcmp(opt, "--report") == 0) {
			write_report(val);
		} else if (strcmp(opt, "--await") == 0) {
			await_eof(val);
		} else if (strcmp(opt, "--exit") == 0) {
			exit(val);
		} else if (strcmp(opt, "--raise") == 0) {
			struct rlimit none = { 0, 0 };
			if (setrlimit(RLIMIT_CORE, &none) < 0)
				exit(126);
			raise(val);
			exit(127);
		}
	}
	if (argc > 1 && strcmp(argv[argc - 1], "--pause") == 0)
		for (;;)
			pause();
	return 119; /* no ending asked for */
}
