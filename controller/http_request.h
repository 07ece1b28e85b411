/* The one HTTP request cellvmd's --metrics-listen answers (metrics_http.h):
 * `GET /metrics` (a query string allowed) with HTTP/1.0 or 1.1 and any
 * headers, read by a pure function over the bytes that came, bounded by
 * HTTP_REQ_MAX. Its client is any local process that may connect. */
#ifndef CELLVM_HTTP_REQUEST_H
#define CELLVM_HTTP_REQUEST_H

#include <stddef.h>

#define HTTP_REQ_MAX 4096

/* A request's head so far (buf[0..len)): 0 when more is needed, else the
 * status to answer: 200 (GET /metrics), 400 (not HTTP as this reads it:
 * a bad request line, a control byte, a header without a colon, a NUL
 * anywhere in what came), 404 (another path), 405 (another method), 431
 * (len reached HTTP_REQ_MAX without the head's end). Only the first
 * HTTP_REQ_MAX bytes are looked at; a body is not read. */
int http_metrics_request(const char *buf, size_t len);

#endif
