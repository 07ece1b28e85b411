/* A child's command line (spawner/child_args.c): every spelling of a
 * confinement option getopt_long would take is refused, others pass, and the
 * spawner's own options go last. */
#include <criterion/criterion.h>
#include <errno.h>

#include "child_args.h"

Test(child_args, confinement_options_in_any_spelling)
{
	static const char *const refused[] = {
		"--sandbox", "--sandbox=off", "--sand", "--s", "--sand=log", "--policy-dir",
		"--policy-dir=/tmp", "--pol", "--p", "--policy-fd=3", "--policy-f",
		"--allow-degraded", "--allow", "--a", "--given-ns", "--given", "--g", "--",
		"--=x",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_expect(child_args_confines(refused[i]), "%s", refused[i]);
	static const char *const passed[] = {
		"--serial", "--fd", "--log-level", "sandbox", "-s", "--sandboxes", "--sandbox-x",
		"--policy-dirs", "--allow-degradedx", "--given-nsx", "x--sandbox", "-", "",
	};
	for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
		cr_expect(!child_args_confines(passed[i]), "%s", passed[i]);
}

Test(child_args, refused_whole_or_built_with_the_spawners_options)
{
	struct child_args ca;
	char *bad[] = { "cellvm-rng", "--fd", "3", "--sandbox=off", NULL };
	cr_expect_eq(child_args_build(bad, SANDBOX_ON, 4, false, false, &ca), -EPERM);
	cr_expect_str_eq(ca.refused, "--sandbox=off");
	/* argv[0] is a name, not an option. */
	char *good[] = { "--sandbox", "--fd", "3", NULL };
	cr_assert_eq(child_args_build(good, SANDBOX_LOG, 4, true, true, &ca), 0);
	const char *want[] = { "--sandbox", "--fd", "3", "--sandbox", "log", "--policy-fd", "4",
			       "--allow-degraded", "--given-ns", NULL };
	for (size_t i = 0; want[i]; i++)
		cr_expect_str_eq(ca.argv[i], want[i], "argv[%zu]", i);
	cr_expect_null(ca.argv[9]);
	/* Unconfined: no policy to read, and no namespaces from the spawner. */
	cr_assert_eq(child_args_build(good, SANDBOX_OFF, 4, false, true, &ca), 0);
	cr_expect_str_eq(ca.argv[4], "off");
	cr_expect_null(ca.argv[5]);
}

Test(child_args, too_many)
{
	static char *argv[SPAWN_MSG_MAX_ARGS + 2];
	for (size_t i = 0; i <= SPAWN_MSG_MAX_ARGS; i++)
		argv[i] = "x";
	struct child_args ca;
	cr_expect_eq(child_args_build(argv, SANDBOX_ON, 4, true, true, &ca), -E2BIG);
	argv[SPAWN_MSG_MAX_ARGS] = NULL;
	cr_expect_eq(child_args_build(argv, SANDBOX_ON, 4, true, true, &ca), 0,
		     "the most cellvmd sends");
	cr_expect_null(ca.argv[SPAWN_MSG_MAX_ARGS + 6]);
}
