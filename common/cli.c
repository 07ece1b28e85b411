#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>

int cli_parse_uint(const char *arg, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	/* strtoul alone would take blanks, a sign, and "-1" as ULONG_MAX. */
	if (arg[0] < '0' || arg[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_fd(const char *arg, int *out)
{
	unsigned long v;
	if (cli_parse_uint(arg, 0, INT_MAX, &v) < 0 || fcntl((int)v, F_GETFD) < 0)
		return -EINVAL;
	*out = (int)v;
	return 0;
}
