/* Confining a cellvm process with the policy of its kind: the options every
 * binary takes and the one call that applies them.
 *
 *   --sandbox on|off|log   on (default): the policy is enforced; log: every
 *                          syscall the policy lacks is allowed and logged by
 *                          name, once; off: unconfined (debugging)
 *   --policy-dir DIR       where <kind>.policy is (default: the installed
 *                          policies, or the source tree's when the binary
 *                          runs from its build tree)
 *   --policy-fd N          read it instead from this fd: a policy bundle
 *                          (common/policy_bundle.h), how cellvm-spawner
 *                          hands each child the policies it read at its start
 *   --given-ns             it was started as PID 1 of user and pid namespaces
 *                          of its own, as cellvm-spawner starts it
 *                          (spawner/spawn_ns.h): it makes the other
 *                          namespaces there and needs no reaper
 *
 * confine() reads and compiles the policy first (a bad policy stops the
 * process with the file and line before anything else happens), then
 * sandbox_enter() does the rest (common/sandbox.h). */
#ifndef CELLVM_CONFINE_H
#define CELLVM_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>

#include "sandbox.h"

enum {
	CONFINE_OPT_SANDBOX = 0x180,
	CONFINE_OPT_POLICY_DIR,
	CONFINE_OPT_ALLOW_DEGRADED,
	CONFINE_OPT_POLICY_FD,
	CONFINE_OPT_GIVEN_NS,
};

#define CONFINE_LONG_OPTIONS                                                  \
	{ "sandbox", required_argument, NULL, CONFINE_OPT_SANDBOX },          \
	{ "policy-dir", required_argument, NULL, CONFINE_OPT_POLICY_DIR },     \
	{ "allow-degraded", no_argument, NULL, CONFINE_OPT_ALLOW_DEGRADED }, \
	{ "policy-fd", required_argument, NULL, CONFINE_OPT_POLICY_FD },       \
	{ "given-ns", no_argument, NULL, CONFINE_OPT_GIVEN_NS }

#define CONFINE_USAGE                                                               \
	"  --sandbox on|off|log    confine this process (default on); log: allow and\n" \
	"                          log what the policy lacks\n"                         \
	"  --policy-dir DIR        where the seccomp policies are\n"                      \
	"  --policy-fd N           read the policy from this fd (a bundle)\n"            \
	"  --allow-degraded        run even where the kernel refuses a namespace or\n"   \
	"                          the empty root (warned); without it, do not run\n"   \
	"  --given-ns              started as PID 1 of its own user and pid\n"         \
	"                          namespaces (as cellvm-spawner starts it)\n"

struct confine_opts {
	enum sandbox_mode mode;
	const char *policy_dir; /* NULL: confine_default_policy_dir() */
	int policy_fd;          /* a bundle to read instead of policy_dir; -1: none */
	bool allow_degraded;    /* sandbox.h's allow_degraded */
	bool given_ns;          /* sandbox.h's given_ns */
};

void confine_opts_init(struct confine_opts *o);

/* Handles c if it is one of CONFINE_LONG_OPTIONS: 1 handled, -EINVAL (logged)
 * for a bad argument, 0 if c is not one of them. */
int confine_opt(struct confine_opts *o, int c, const char *arg);

/* The installed policy directory, or the source tree's when this binary
 * runs from the build tree. */
const char *confine_default_policy_dir(void);

/* What one process kind needs besides its policy. */
struct confine_req {
	const char *process;  /* "cellvm-blk" */
	const char *kind;     /* "blk": the policy is <dir>/blk.policy */
	const int *keep_fds;  /* besides 0, 1 and 2 */
	size_t nkeep;
	bool namespaces;
	unsigned new_tasks;  /* threads or processes it starts once confined */
	/* It starts processes that confine themselves: in log mode its own
	 * filter logs through the kernel's audit log, since a child cannot add
	 * a notifier under a filter that has one. */
	bool spawns_confined;
	rlim_t max_fds;
	bool writes_files;
	const char *root_dir; /* sandbox_cfg's: its cwd, and with namespaces its root */
	/* sandbox_cfg's: run in the confined process just before its filter. */
	int (*before_filter)(void *arg);
	void *before_filter_arg;
};

/* The policy of `kind` as confine() would read it from dir (in a sanitizer
 * build with sanitizers.policy), with everything it includes, checked, in a
 * sealed memfd holding a bundle for --policy-fd. The fd (close-on-exec), or
 * -errno after one log line. */
int confine_policy_memfd(const char *dir, const char *kind);

/* Confines the calling process as o says. 0 once confined (or with
 * --sandbox=off), -errno after one log line otherwise: the caller exits. */
int confine(const struct confine_opts *o, const struct confine_req *r);

#endif
