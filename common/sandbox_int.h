/* What the files of sandbox_enter() (common/sandbox.h) share, for them
 * alone: sandbox.c runs the ordered steps, sandbox_ns.c makes the
 * namespaces, the empty root and (run by hand) the reaper, sandbox_report.c reports a
 * violation of the filter. */
#ifndef CELLVM_SANDBOX_INT_H
#define CELLVM_SANDBOX_INT_H

#include <stdbool.h>
#include <stddef.h>

/* What the kernel refused, for the one warning line. */
/* The root a confined process stands on. */
enum { SANDBOX_ROOT_HOST, SANDBOX_ROOT_EMPTY, SANDBOX_ROOT_DIR };

struct sandbox_missing {
	char what[512];
	size_t len;
};

void sandbox_miss(struct sandbox_missing *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* sandbox.c: drops every capability set, bounding and ambient included;
 * *bounding_left: the bounding set could not be emptied (no CAP_SETPCAP).
 * 0, or -EPERM after a log line. */
int sandbox_drop_caps(bool *bounding_left);

/* sandbox_ns.c: a user namespace first (the caller's ids mapped to root),
 * then pid, mount, ipc, uts and, unless keep_net, net namespaces, with the
 * empty root (root_dir alone instead when given and the kernel lets it be:
 * *root says which root the process has); then the fork. Only the child
 * returns, as PID 1 of the new pid namespace; the original process stays as
 * its reaper (*reaper). With given_ns the user and pid namespaces are there
 * already and the process PID 1 of the latter: no fork. What the kernel
 * refuses goes into *m; -errno only where the process must not go on.
 * *own_userns: it has a user namespace of its own. The caller must be
 * single-threaded. */
int sandbox_namespaces(bool keep_net, bool given_ns, const char *root_dir,
		       struct sandbox_missing *m, bool *own_userns, bool *reaper, int *root);

/* sandbox_report.c: the report lines of common/sandbox.h. */
/* What they name: the process and its policy; every syscall's name is
 * looked up now, since the reporters may not allocate. */
void sandbox_report_prepare(const char *name, const char *policy);
/* ON mode: the SIGSYS handler that writes the line and dies. 0 or -errno. */
int sandbox_report_sigsys(void);
/* LOG mode: starts the notifier thread before the filter is loaded. 0 or
 * -errno after a log line. */
int sandbox_report_notifier_start(void);
/* Gives it the loaded filter's notification fd, or -1 to end it. */
void sandbox_report_notifier_hand_over(int fd);

#endif
