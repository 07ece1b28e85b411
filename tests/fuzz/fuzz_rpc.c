/* libFuzzer harness: the controller's RPC codec (controller/rpc.c), which the
 * controller runs on every client's bytes and clients on the controller's.
 * Input: byte 0 picks the parser (even: request, odd: reply or epitaph), the
 * rest is one body. A body that parses must survive encode + parse
 * unchanged; one that does not gets a NUL-terminated reason.
 *
 * Links: controller/rpc.c controller/lifecycle.c controller/json_words.c
 *   controller/json_strict.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t enc[RPC_FRAME_MAX];

/* The body of the frame just encoded, which must be len bytes. */
static size_t body_len(int len)
{
	uint32_t n;
	if (len < 5 || rpc_frame_length(enc, &n) != 0 || n != (uint32_t)len - 4)
		abort(); /* what parses, encode must take: it is never longer */
	return n;
}

static void request(const char *body, size_t len)
{
	struct rpc_request r1, r2;
	/* cellvmd asks for the reason, which goes back to the client. */
	char err[128];
	if (rpc_parse_request(body, len, &r1, err, sizeof(err)) != 0) {
		if (!memchr(err, '\0', sizeof(err)))
			abort();
		return;
	}
	int n = rpc_encode_request(r1.id, r1.method, r1.params, enc, sizeof(enc));
	if (rpc_parse_request((const char *)enc + 4, body_len(n), &r2, NULL, 0) != 0)
		abort();
	if (r1.id != r2.id || r1.method != r2.method || !r1.params != !r2.params ||
	    (r1.params && strcmp(r1.params, r2.params)))
		abort();
	rpc_request_free(&r1);
	rpc_request_free(&r2);
}

static void reply(const char *body, size_t len)
{
	struct rpc_reply r1, r2;
	char err[128];
	if (rpc_parse_reply(body, len, &r1, err, sizeof(err)) != 0) {
		if (!memchr(err, '\0', sizeof(err)))
			abort();
		return;
	}
	int n;
	if (r1.epitaph)
		n = rpc_encode_epitaph(r1.epitaph_ok, enc, sizeof(enc));
	else if (r1.ok)
		n = rpc_encode_ok(r1.id, r1.result, enc, sizeof(enc));
	else
		n = rpc_encode_error(r1.id, r1.code, r1.message, enc, sizeof(enc));
	if (rpc_parse_reply((const char *)enc + 4, body_len(n), &r2, NULL, 0) != 0)
		abort();
	if (r1.epitaph != r2.epitaph || r1.epitaph_ok != r2.epitaph_ok)
		abort();
	if (!r1.epitaph && (r1.id != r2.id || r1.ok != r2.ok))
		abort();
	if (!r1.epitaph && r1.ok && strcmp(r1.result, r2.result))
		abort();
	if (!r1.epitaph && !r1.ok && (r1.code != r2.code || strcmp(r1.message, r2.message)))
		abort();
	rpc_reply_free(&r1);
	rpc_reply_free(&r2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t len = size - 1;
	/* An exact-size heap copy, so ASan sees any read past the body. */
	char *buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	if (data[0] & 1)
		reply(buf, len);
	else
		request(buf, len);
	free(buf);
	return 0;
}
