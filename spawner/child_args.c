/* A child's command line with the spawner's confinement options (child_args.h). */
#include "child_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "confine.h"

static const struct option confining[] = { CONFINE_LONG_OPTIONS };

bool child_args_confines(const char *arg)
{
	if (strncmp(arg, "--", 2) != 0)
		return false;
	const char *name = arg + 2;
	size_t n = strcspn(name, "=");
	/* "--" itself, or "--=...": what follows is not read as an option. */
	if (n == 0)
		return true;
	/* getopt_long takes a unique prefix of a long name: any prefix of one
	 * of these may be it, in a child whose other options do not share it. */
	for (size_t i = 0; i < sizeof(confining) / sizeof(confining[0]); i++)
		if (n <= strlen(confining[i].name) && strncmp(name, confining[i].name, n) == 0)
			return true;
	return false;
}

int child_args_build(char *const *argv, enum sandbox_mode mode, int policy_fd,
		     bool allow_degraded, bool given_ns, struct child_args *out)
{
	size_t a = 0;
	out->refused = NULL;
	for (; argv[a]; a++) {
		if (a + 6 >= CHILD_ARGS_MAX)
			return -E2BIG;
		if (a > 0 && child_args_confines(argv[a])) {
			out->refused = argv[a];
			return -EPERM;
		}
		out->argv[a] = argv[a];
	}
	out->argv[a++] = "--sandbox";
	out->argv[a++] = (char *)sandbox_mode_name(mode);
	if (mode != SANDBOX_OFF && policy_fd >= 0) {
		snprintf(out->fd_arg, sizeof(out->fd_arg), "%d", policy_fd);
		out->argv[a++] = "--policy-fd";
		out->argv[a++] = out->fd_arg;
	}
	if (allow_degraded)
		out->argv[a++] = "--allow-degraded";
	if (mode != SANDBOX_OFF && given_ns)
		out->argv[a++] = "--given-ns";
	out->argv[a] = NULL;
	return 0;
}
