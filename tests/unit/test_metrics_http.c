/* --metrics-listen's request parser (controller/http_request.h): the one
 * request it answers, and what a hostile local client may send instead. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http_request.h"

static int parse(const char *s)
{
	return http_metrics_request(s, strlen(s));
}

Test(metrics_http, the_request_it_answers)
{
	cr_expect_eq(parse("GET /metrics HTTP/1.0\r\n\r\n"), 200);
	cr_expect_eq(parse("GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\n"
			   "User-Agent: Prometheus/2.45\r\nAccept: text/plain;version=0.0.4\r\n\r\n"),
		     200);
	cr_expect_eq(parse("GET /metrics?name[]=x HTTP/1.1\nHost: a\n\n"), 200, "bare LF");
	/* Bytes after the head are not looked at. */
	cr_expect_eq(http_metrics_request("GET /metrics HTTP/1.0\r\n\r\n\0\xff", 27), 400,
		     "a NUL anywhere in what came");
}

Test(metrics_http, not_yet_whole)
{
	cr_expect_eq(parse(""), 0);
	cr_expect_eq(parse("GET /metr"), 0);
	cr_expect_eq(parse("GET /metrics HTTP/1.0\r\n"), 0);
	cr_expect_eq(parse("GET /metrics HTTP/1.0\r\nHost: x\r\n"), 0);
	cr_expect_eq(parse("GET /metrics HTTP/1.0\r\nHost: x\r\n\r"), 0);
}

Test(metrics_http, refused)
{
	static const struct { const char *req; int status; } rows[] = {
		{ "POST /metrics HTTP/1.0\r\n\r\n", 405 },
		{ "HEAD /metrics HTTP/1.0\r\n\r\n", 405 },
		{ "GET /metrics/x HTTP/1.0\r\n\r\n", 404 },
		{ "GET /metricsx HTTP/1.0\r\n\r\n", 404 },
		{ "GET / HTTP/1.0\r\n\r\n", 404 },
		{ "GET /metrics HTTP/2.0\r\n\r\n", 400 },
		{ "GET /metrics\r\n\r\n", 400 },          /* HTTP/0.9 */
		{ "GET  /metrics HTTP/1.0\r\n\r\n", 400 },
		{ "GET metrics HTTP/1.0\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.0 \r\n\r\n", 400 },
		{ "GET /met\x1b[2Jrics HTTP/1.0\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.0\r\nHost x\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.0\r\n: x\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.0\r\n folded: x\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.0\r\nX: \x7f\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.0\r\nX: caf\xc3\xa9\r\n\r\n", 400 },
		{ "\r\n\r\n", 400 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_expect_eq(parse(rows[i].req), rows[i].status, "row %zu: %s", i, rows[i].req);
}

/* A head that never ends is cut off at HTTP_REQ_MAX, never read past. */
Test(metrics_http, bounded)
{
	static char buf[HTTP_REQ_MAX + 100];
	memset(buf, 'a', sizeof(buf));
	cr_expect_eq(http_metrics_request(buf, HTTP_REQ_MAX - 1), 0);
	cr_expect_eq(http_metrics_request(buf, HTTP_REQ_MAX), 431);
	cr_expect_eq(http_metrics_request(buf, sizeof(buf)), 431);
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET /metrics HTTP/1.0\r\n");
	while (n + 8 < HTTP_REQ_MAX)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X: y\r\n");
	cr_expect_eq(http_metrics_request(buf, n), 0);
	memset(buf + n, 'z', sizeof(buf) - n);
	cr_expect_eq(http_metrics_request(buf, sizeof(buf)), 431);
	/* The end past the limit does not count. */
	memcpy(buf + HTTP_REQ_MAX + 10, "\r\n\r\n", 4);
	cr_expect_eq(http_metrics_request(buf, HTTP_REQ_MAX + 14), 431);
}
