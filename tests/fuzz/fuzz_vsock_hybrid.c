/* libFuzzer harness: vsock_connect_parse (common/vsock_hybrid.c),
 * which cellvm-vsock runs on what a host client sends before its stream
 * starts. A line it accepts is exactly "CONNECT <port>\n" with the port as
 * vsock_ok_format would print it, within VSOCK_CONNECT_MAX bytes; every
 * shorter prefix of it asks for more; an input it refuses is refused at
 * every longer length too (the device reads a byte at a time).
 *
 * Boundary: host client -> cellvm-vsock: the hybrid CONNECT line
 * Links: common/vsock_hybrid.c */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsock_hybrid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t port = 0;
	int r = vsock_connect_parse(data, size, &port);
	CHECK(r == -EINVAL || (r >= 0 && (size_t)r <= size && r <= (int)VSOCK_CONNECT_MAX));
	if (r == 0) {
		CHECK(size < VSOCK_CONNECT_MAX);
		return 0;
	}
	/* The byte-at-a-time reader sees every prefix first. */
	size_t end = r > 0 ? (size_t)r : size;
	for (size_t n = 0; n < end; n++) {
		uint32_t p;
		int k = vsock_connect_parse(data, n, &p);
		CHECK(k == 0 || (r < 0 && k == -EINVAL));
		if (k < 0) {
			for (size_t m = n; m <= size; m++)
				CHECK(vsock_connect_parse(data, m, &p) == -EINVAL);
			break;
		}
	}
	if (r > 0) {
		char want[32];
		int len = snprintf(want, sizeof(want), "CONNECT %u\n", port);
		CHECK(len == r && memcmp(want, data, (size_t)r) == 0);
		char ok[VSOCK_OK_MAX];
		size_t n = vsock_ok_format(port, ok);
		CHECK(n < VSOCK_OK_MAX && ok[n - 1] == '\n');
	}
	return 0;
}
