/* The HTTP/1.1 requests cellvm-fc's API socket reads (Firecracker's API:
 * JSON bodies over a Unix socket). A pure parser over the bytes that came on
 * one connection: the request line, the headers it needs (Content-Length,
 * Connection, Transfer-Encoding), then a body of exactly Content-Length
 * bytes. Bounded: a head of at most HTTP11_HEAD_MAX bytes, a body of at most
 * HTTP11_BODY_MAX (Firecracker's default payload limit). The client is who
 * started cellvm-fc (its owner), but it is parsed as if it were anyone. */
#ifndef CELLVM_HTTP11_H
#define CELLVM_HTTP11_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP11_HEAD_MAX 8192
#define HTTP11_BODY_MAX 51200

enum http11_method { HTTP11_GET, HTTP11_PUT, HTTP11_PATCH, HTTP11_OTHER };

struct http11_req {
	enum http11_method method;
	const char *path; /* into the buffer: the request target, not NUL-ended */
	size_t path_len;
	const char *body; /* into the buffer; body_len 0 when there is none */
	size_t body_len;
	bool close;   /* the client asked to close after the answer (or HTTP/1.0) */
	size_t total; /* bytes of this request: head and body */
};

/* One request from buf[0..len): 1 when it is whole (*out set; the next
 * request starts at buf + out->total), 0 when more bytes are needed, or a
 * negative HTTP status to answer before closing: -400 (not a request as
 * this reads it: a bad request line, a control byte or NUL in the head, a
 * header without a colon, a bad or repeated Content-Length), -413 (a body
 * over HTTP11_BODY_MAX), -431 (no head's end in HTTP11_HEAD_MAX bytes),
 * -501 (a Transfer-Encoding: only Content-Length bodies are read), -505
 * (not HTTP/1.0 or 1.1). */
int http11_parse(const char *buf, size_t len, struct http11_req *out);

/* The reason phrase of a status this program answers ("" if unknown). */
const char *http11_reason(int status);

#endif
