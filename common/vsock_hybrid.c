#include "vsock_hybrid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CONNECT "CONNECT "
#define OK "OK "

/* prefix, then the port and '\n' (vsock_hybrid.h). */
static int parse_line(const char *prefix, const uint8_t *buf, size_t n, uint32_t *port)
{
	size_t i, plen = strlen(prefix);
	/* Every byte seen so far must fit the grammar, so that a wrong line
	 * is refused at once rather than waited on. */
	for (i = 0; i < n && i < plen; i++)
		if (buf[i] != (uint8_t)prefix[i])
			return -EINVAL;
	uint64_t v = 0;
	size_t digits = 0;
	for (; i < n; i++) {
		uint8_t ch = buf[i];
		if (ch == '\n') {
			if (!digits)
				return -EINVAL;
			*port = (uint32_t)v;
			return (int)(i + 1);
		}
		if (ch < '0' || ch > '9' || (digits == 1 && v == 0))
			return -EINVAL;
		v = v * 10 + (uint64_t)(ch - '0');
		if (++digits > 10 || v > UINT32_MAX)
			return -EINVAL;
	}
	return 0;
}

int vsock_connect_parse(const uint8_t *buf, size_t n, uint32_t *port)
{
	return parse_line(CONNECT, buf, n, port);
}

int vsock_ok_parse(const uint8_t *buf, size_t n, uint32_t *port)
{
	return parse_line(OK, buf, n, port);
}

size_t vsock_connect_format(uint32_t port, char out[VSOCK_CONNECT_MAX + 1])
{
	return (size_t)snprintf(out, VSOCK_CONNECT_MAX + 1, CONNECT "%u\n", port);
}

size_t vsock_ok_format(uint32_t port, char out[VSOCK_OK_MAX])
{
	return (size_t)snprintf(out, VSOCK_OK_MAX, OK "%u\n", port);
}
