#include "cli.h"

#include <errno.h>
#include <string.h>
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

int cli_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cli_parse_mac(const char *arg, uint8_t out[6])
{
	uint8_t m[6];
	if (strlen(arg) != 17)
		return -EINVAL;
	for (unsigned int i = 0; i < 6; i++) {
		const char *p = arg + 3 * i;
		int hi = cli_hex_digit(p[0]), lo = cli_hex_digit(p[1]);
		if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
			return -EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	static const uint8_t zero[6];
	if ((m[0] & 1) || memcmp(m, zero, sizeof(m)) == 0)
		return -EINVAL; /* multicast/broadcast, or no address at all */
	memcpy(out, m, sizeof(m));
	return 0;
}
