/* libFuzzer harness: cellvm-fc's HTTP/1.1 request parser (fc/http11.c), fed
 * by whoever connects to the API socket. The input is what came on one
 * connection. Checked: the answer is one http11.h lists; a whole request's
 * path and body lie inside what came, the body right after the head and
 * within HTTP11_BODY_MAX; the same request parses again from exactly its
 * own bytes; and what follows it is parsed as the next one, as cellvm-fc
 * does with pipelined requests.
 *
 * Links: fc/http11.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http11.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	size_t off = 0;
	for (int n = 0; n < 64; n++) {
		struct http11_req rq;
		const char *p = buf + off;
		size_t len = size - off;
		int r = http11_parse(p, len, &rq);
		CHECK(r == 1 || r == 0 || r == -400 || r == -413 || r == -431 || r == -501 ||
		      r == -505);
		CHECK(r != -431 || len >= HTTP11_HEAD_MAX);
		if (r != 1)
			break;
		CHECK(rq.total >= 1 && rq.total <= len);
		CHECK(rq.path > p && rq.path_len >= 1 && rq.path[0] == '/' &&
		      rq.path + rq.path_len <= p + rq.total);
		CHECK(rq.body_len <= HTTP11_BODY_MAX && rq.body + rq.body_len == p + rq.total);
		CHECK((size_t)(rq.body - p) <= HTTP11_HEAD_MAX);
		struct http11_req again;
		CHECK(http11_parse(p, rq.total, &again) == 1 && again.total == rq.total &&
		      again.body_len == rq.body_len && again.method == rq.method);
		off += rq.total;
	}
	free(buf);
	return 0;
}
