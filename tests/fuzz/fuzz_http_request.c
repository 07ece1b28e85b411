/* libFuzzer harness: the request parser of cellvmd's --metrics-listen
 * (controller/http_request.c), which any local process that may connect
 * feeds. The input is what came on the connection so far. Checked: the
 * answer is one of the statuses http_request.h lists; 0 (more needed) only
 * below HTTP_REQ_MAX bytes; 200 only for a request line that starts
 * "GET /metrics"; the answer depends on the first HTTP_REQ_MAX bytes only.
 *
 * Links: controller/http_request.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of its own size, so that reading past it is caught. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	int st = http_metrics_request(buf, size);
	CHECK(st == 0 || st == 200 || st == 400 || st == 404 || st == 405 || st == 431);
	CHECK(st != 0 || size < HTTP_REQ_MAX);
	CHECK(st != 431 || size >= HTTP_REQ_MAX);
	CHECK(st != 200 || (size >= 12 && memcmp(buf, "GET /metrics", 12) == 0));
	if (size > HTTP_REQ_MAX)
		CHECK(http_metrics_request(buf, HTTP_REQ_MAX) == st);
	free(buf);
	return 0;
}
