/* cellvm-fc's HTTP/1.1 request parser (fc/http11.h): what Firecracker's
 * clients send, split anywhere, and what a hostile client may send instead. */
#include <criterion/criterion.h>
#include <string.h>

#include "http11.h"

static int parse(const char *s, struct http11_req *rq)
{
	return http11_parse(s, strlen(s), rq);
}

Test(http11, a_put_with_its_body)
{
	struct http11_req rq;
	const char *s = "PUT /boot-source HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
			"Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"a\":\"bcde\"}X";
	cr_assert_eq(parse(s, &rq), 1);
	cr_expect_eq(rq.method, HTTP11_PUT);
	cr_expect_eq(rq.path_len, 12);
	cr_expect_eq(memcmp(rq.path, "/boot-source", 12), 0);
	cr_expect_eq(rq.body_len, 13);
	cr_expect_eq(memcmp(rq.body, "{\"a\":\"bcde\"}X", 13), 0);
	cr_expect_eq(rq.total, strlen(s));
	cr_expect_not(rq.close);
}

Test(http11, every_prefix_wants_more)
{
	const char *s = "PATCH /drives/rootfs HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
	struct http11_req rq;
	for (size_t n = 0; n < strlen(s); n++)
		cr_expect_eq(http11_parse(s, n, &rq), 0, "prefix of %zu bytes", n);
	cr_expect_eq(http11_parse(s, strlen(s), &rq), 1);
	cr_expect_eq(rq.method, HTTP11_PATCH);
}

Test(http11, pipelined_requests_one_at_a_time)
{
	const char *s = "GET / HTTP/1.1\r\n\r\nGET /machine-config HTTP/1.1\nConnection: close\n\n";
	struct http11_req rq;
	cr_assert_eq(parse(s, &rq), 1);
	cr_expect_eq(rq.path_len, 1);
	cr_expect_eq(rq.body_len, 0);
	cr_assert_eq(http11_parse(s + rq.total, strlen(s) - rq.total, &rq), 1);
	cr_expect_eq(rq.path_len, 15);
	cr_expect(rq.close, "Connection: close");
}

Test(http11, connection_and_versions)
{
	struct http11_req rq;
	cr_assert_eq(parse("GET / HTTP/1.0\r\n\r\n", &rq), 1);
	cr_expect(rq.close, "HTTP/1.0 closes by default");
	cr_assert_eq(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &rq), 1);
	cr_expect_not(rq.close);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nConnection: foo, CLOSE \r\n\r\n", &rq), 1);
	cr_expect(rq.close);
	cr_expect_eq(parse("GET / HTTP/2.0\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("GET / HTTP/1.2\r\n\r\n", &rq), -505);
	cr_expect_eq(parse("DELETE /x HTTP/1.1\r\n\r\n", &rq), 1);
	cr_expect_eq(rq.method, HTTP11_OTHER);
}

Test(http11, bad_requests)
{
	struct http11_req rq;
	cr_expect_eq(parse("\r\n", &rq), -400, "an empty request line");
	cr_expect_eq(parse("GET\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("GET x HTTP/1.1\r\n\r\n", &rq), -400, "a target not starting with /");
	cr_expect_eq(parse("GET  / HTTP/1.1\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("GET / HTTP/1.1\r\n: empty name\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("GET / HTTP/1.1\r\n folded\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", &rq), -400);
	cr_expect_eq(http11_parse("GET / HT\0", 9, &rq), -400, "a NUL before the line's end");
	cr_expect_eq(http11_parse("GET /\0 HTTP/1.1\r\n\r\n", 19, &rq), -400);
	cr_expect_eq(parse("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n", &rq), -400);
	cr_expect_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", &rq),
		     -400, "two lengths that differ");
	cr_expect_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", &rq), 1,
		     "the same length twice");
	cr_expect_eq(parse("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &rq), -501);
}

Test(http11, bounds)
{
	static char big[HTTP11_HEAD_MAX + 16];
	struct http11_req rq;
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	cr_expect_eq(http11_parse(big, HTTP11_HEAD_MAX - 1, &rq), 0);
	cr_expect_eq(http11_parse(big, HTTP11_HEAD_MAX, &rq), -431);
	cr_expect_eq(http11_parse(big, sizeof(big), &rq), -431);
	cr_expect_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 51200\r\n\r\n", &rq), 0,
		     "the largest body: waits for it");
	cr_expect_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 51201\r\n\r\n", &rq), -413);
	cr_expect_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", &rq),
		     -413, "no overflow");
}

Test(http11, reasons)
{
	cr_expect_str_eq(http11_reason(204), "No Content");
	cr_expect_str_eq(http11_reason(400), "Bad Request");
	cr_expect_str_eq(http11_reason(999), "");
}
