/* The command line cellvm-spawner gives a child: cellvmd's argv with the
 * child's confinement options written by the spawner, never by cellvmd.
 *
 * cellvmd faces tenants and is trusted less than the spawner, so an argv of
 * its that carries any confinement option (CONFINE_LONG_OPTIONS:
 * --sandbox, --policy-dir, --policy-fd, --allow-degraded), in any spelling
 * getopt_long would take (`--sandbox=off`, a prefix such as `--sand`), or
 * the `--` after which the spawner's own options would be no options, is
 * refused whole (-EPERM). Otherwise the spawner's options go after cellvmd's:
 * --sandbox MODE, --policy-fd N (the sealed bundle it read at its start;
 * not with mode off), --allow-degraded when the operator gave it, and
 * --given-ns when it starts the child in namespaces of its own (not with
 * mode off).
 * Pure: no I/O, nothing logged. */
#ifndef CELLVM_CHILD_ARGS_H
#define CELLVM_CHILD_ARGS_H

#include <stdbool.h>

#include "sandbox_mode.h"
#include "spawn_msg.h"

/* cellvmd's argv, NULL-terminated, and at most 6 of the spawner's. */
#define CHILD_ARGS_MAX (SPAWN_MSG_MAX_ARGS + 6)

struct child_args {
	char *argv[CHILD_ARGS_MAX + 1];
	const char *refused; /* after -EPERM: the argument that was */
	char fd_arg[16];
};

/* Whether getopt_long could read arg as a confinement option, or it is "--". */
bool child_args_confines(const char *arg);

/* Builds out from cellvmd's argv (argv[0] is not looked at). 0; -EPERM with
 * out->refused; -E2BIG past CHILD_ARGS_MAX. */
int child_args_build(char *const *argv, enum sandbox_mode mode, int policy_fd,
		     bool allow_degraded, bool given_ns, struct child_args *out);

#endif
