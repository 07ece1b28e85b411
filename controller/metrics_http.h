/* cellvmd's --metrics-listen: the VM's metrics in Prometheus's text format
 * (metrics_text.h) over minimal HTTP/1.0, for an existing monitoring system
 * to scrape. The operator turns it on; it is off by default.
 *
 * One request per connection (http_request.h: `GET /metrics`, HTTP/1.0 or
 * 1.1, any headers, at most HTTP_REQ_MAX bytes), read and answered within
 * HTTP_TIMEOUT_MS of the connection, then the close. Anything else gets
 * 400, 404, 405 or 431 and the close; at most HTTP_MAX_CONNS at once (more
 * are closed at once).
 * Its readers are not authenticated: a Unix socket is mode 0600 for
 * cellvmd's user, and TCP listens on the loopback only (127.0.0.1:PORT). */
#ifndef CELLVM_METRICS_HTTP_H
#define CELLVM_METRICS_HTTP_H

#include <stddef.h>

#include "event_loop.h"
#include "http_request.h"
#include "server.h"

#define HTTP_TIMEOUT_MS 5000
#define HTTP_MAX_CONNS 8

/* The listening socket for addr: a Unix socket path (mode 0600; a stale
 * socket file is replaced) or "127.0.0.1:PORT". The fd (non-blocking,
 * close-on-exec) or -errno, logged. Call before cellvmd confines itself. */
int metrics_http_listen(const char *addr);

struct metrics_http;
/* Serves listen_fd (taken) from loop with s's metrics. */
int metrics_http_create(struct metrics_http **out, struct evloop *loop, int listen_fd,
			struct server *s);
/* Closes everything; call before the server is destroyed. */
void metrics_http_destroy(struct metrics_http *h);

#endif
