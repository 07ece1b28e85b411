#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

Test(cli, uint_in_range)
{
	unsigned long v = 99;
	cr_assert_eq(cli_parse_uint("0", 0, 10, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(cli_parse_uint("10", 0, 10, &v), 0);
	cr_assert_eq(v, 10);
	cr_assert_eq(cli_parse_uint("007", 1, 16, &v), 0);
	cr_assert_eq(v, 7);
	char max[32];
	snprintf(max, sizeof(max), "%lu", ULONG_MAX);
	cr_assert_eq(cli_parse_uint(max, 0, ULONG_MAX, &v), 0);
	cr_assert_eq(v, ULONG_MAX);
}

Test(cli, uint_out_of_range)
{
	unsigned long v = 99;
	cr_assert_eq(cli_parse_uint("0", 1, 16, &v), -EINVAL);
	cr_assert_eq(cli_parse_uint("17", 1, 16, &v), -EINVAL);
	cr_assert_eq(cli_parse_uint("2147483648", 0, INT_MAX, &v), -EINVAL);
	cr_assert_eq(v, 99, "untouched on failure");
}

Test(cli, uint_refuses_bad_forms)
{
	unsigned long v = 99;
	const char *bad[] = { "", "-1", "-0", "+1", " 1", "1 ", "1x", "0x10", "x", "1.0",
			      "18446744073709551616", "99999999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cli_parse_uint(bad[i], 0, ULONG_MAX, &v), -EINVAL, "\"%s\"",
			     bad[i]);
	cr_assert_eq(v, 99, "untouched on failure");
}

Test(cli, fd_open)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	char arg[16];
	snprintf(arg, sizeof(arg), "%d", p[1]);
	int fd = -1;
	cr_assert_eq(cli_parse_fd(arg, &fd), 0);
	cr_assert_eq(fd, p[1]);
	close(p[1]);
	fd = -7;
	cr_assert_eq(cli_parse_fd(arg, &fd), -EINVAL, "closed now");
	cr_assert_eq(fd, -7, "untouched on failure");
	close(p[0]);
}

Test(cli, fd_refuses_bad_numbers)
{
	int fd = -7;
	const char *bad[] = { "", "-1", "+0", " 0", "0x", "2147483648", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cli_parse_fd(bad[i], &fd), -EINVAL, "\"%s\"", bad[i]);
	cr_assert_eq(fd, -7);
	/* The largest fd number is still a number, but not open. */
	cr_assert_eq(cli_parse_fd("2147483647", &fd), -EINVAL);
}
