/* libFuzzer harness: vsock_ok_parse (common/vsock_hybrid.c), which cellvmd
 * runs on what cellvm-vsock answers a HostVsockConnect's CONNECT line with:
 * a device is less trusted than cellvmd. A line it accepts is exactly
 * "OK <port>\n" as vsock_ok_format prints it; every shorter prefix asks for
 * more; an input it refuses is refused at every longer length too (cellvmd
 * reads a byte at a time, so nothing past the line is taken from the
 * stream); it asks for more only while the line can still fit
 * VSOCK_OK_MAX - 1 bytes. The CONNECT line cellvmd writes parses back to
 * the same port.
 *
 * Boundary: cellvm-vsock -> cellvmd: the hybrid OK line
 * Links: common/vsock_hybrid.c */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vsock_hybrid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t port = 0;
	int r = vsock_ok_parse(data, size, &port);
	CHECK(r == -EINVAL || (r >= 0 && (size_t)r <= size && r < (int)VSOCK_OK_MAX));
	if (r == 0) {
		CHECK(size < VSOCK_OK_MAX - 1);
		return 0;
	}
	size_t end = r > 0 ? (size_t)r : size;
	for (size_t n = 0; n < end; n++) {
		uint32_t p;
		int k = vsock_ok_parse(data, n, &p);
		CHECK(k == 0 || (r < 0 && k == -EINVAL));
		if (k < 0) {
			for (size_t m = n; m <= size; m++)
				CHECK(vsock_ok_parse(data, m, &p) == -EINVAL);
			break;
		}
	}
	if (r > 0) {
		char want[VSOCK_OK_MAX];
		size_t len = vsock_ok_format(port, want);
		CHECK(len == (size_t)r && memcmp(want, data, len) == 0);
		char line[VSOCK_CONNECT_MAX + 1];
		uint32_t back = 0;
		size_t n = vsock_connect_format(port, line);
		CHECK(vsock_connect_parse((const uint8_t *)line, n, &back) == (int)n && back == port);
	}
	return 0;
}
