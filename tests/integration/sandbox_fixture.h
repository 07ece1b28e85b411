/* What test_sandbox and test_sandbox_reaper share: sandbox_probe (built
 * next to them, tests/integration/sandbox_probe.c) started as the test's
 * arguments say, read and reaped, and what /proc shows of a process. Every
 * helper asserts (criterion) rather than return an error. */
#ifndef CELLVM_TESTS_SANDBOX_FIXTURE_H
#define CELLVM_TESTS_SANDBOX_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define WAIT_MS 5000
#define KEPT_FD 5  /* the probe gets a memfd here; kept when the test says --keep 5 */
#define STRAY_FD 6 /* and another one here, never kept */

extern char probe_path[PATH_MAX];

/* The suites' .init: finds the probe. */
void init(void);

struct probe {
	pid_t pid; /* as started: with namespaces and no given_ns, the reaper */
	int in;    /* its stdin: closing it ends "wait" */
	int out;   /* its stdout */
	int err;   /* its stderr: a pipe, or the file given to start_opts */
};

/* err_fd: the probe's stderr, or -1 for a pipe. The probe starts with
 * RLIMIT_CORE as high as allowed, so that 0 there is the sandbox's doing,
 * and with SIGCHLD ignored if asked (which would reap the reaper's child
 * before it could see how it ended). given_ns: as cellvm-spawner starts a
 * confined child, PID 1 of its own user and pid namespaces
 * (spawner/spawn_ns.h), with --given-ns first in its arguments. */
void start_opts(struct probe *p, const char *const *args, int err_fd, bool sigchld_ign,
		bool given_ns);
void start(struct probe *p, const char *const *args);
/* Starts the probe with a "wait" action and returns once it said "ready". */
void start_waiting(struct probe *p, const char *const *args);
/* Lets a waiting probe go and reaps it; its wait status. */
int release(struct probe *p);
/* Runs the probe to its end: its stdout and stderr, and its wait status. */
int run_opts(const char *const *args, bool sigchld_ign, bool given_ns, char *out,
	     size_t outlen, char *err, size_t errlen);
int run(const char *const *args, char *out, size_t outlen, char *err, size_t errlen);
/* The probe's wait status, reaped within WAIT_MS. */
int end_of(pid_t pid);

/* Up to EOF (or len - 1 bytes), at most WAIT_MS in all; one line (without '\n'). */
void read_all(int fd, char *buf, size_t len);
void read_line(int fd, char *buf, size_t len);

/* The (one) child of parent: a reaper's confined process. */
pid_t child_of(pid_t parent);
/* How many children pid has. */
int count_children(pid_t pid);
/* The value of one /proc/PID/status field ("Seccomp" -> "2"). */
const char *status_of(pid_t pid, const char *field, char *buf, size_t len);
void expect_status(pid_t pid, const char *field, const char *want);
/* Seccomp in filter mode, no_new_privs, no capability in any set. */
void expect_confined(pid_t pid, int filters, bool bounding_empty);
bool same_ns(pid_t pid, const char *ns);
/* "0 1 2 5": the open fds of pid, in order. */
const char *fds_of(pid_t pid, char *buf, size_t len);
/* The soft value of one /proc/PID/limits line ("Max processes" -> "0"). */
const char *limit_of(pid_t pid, const char *name, char *buf, size_t len);
void expect_limit(pid_t pid, const char *name, const char *want);
/* A small file's words, one space apart ("0   1000   1\n" -> "0 1000 1"). */
const char *file_words(const char *path, char *buf, size_t len);
/* How often what occurs in text. */
int count(const char *text, const char *what);
bool root(void);

#endif
