#include "http_request.h"

#include <stdbool.h>
#include <string.h>

/* The end of the line starting at p (its '\n'), or NULL if not there yet. */
static const char *line_end(const char *p, const char *end)
{
	return memchr(p, '\n', (size_t)(end - p));
}

/* A line without its CR LF (or LF): printable ASCII and tabs only. */
static bool clean(const char *p, const char *nl)
{
	if (nl > p && nl[-1] == '\r')
		nl--;
	for (; p < nl; p++)
		if ((unsigned char)*p < 0x20 ? *p != '\t' : (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static size_t text_len(const char *p, const char *nl)
{
	return (size_t)(nl - p) - (nl > p && nl[-1] == '\r');
}

static int request_line(const char *p, size_t n)
{
	const char *sp1 = memchr(p, ' ', n);
	if (!sp1)
		return 400;
	const char *target = sp1 + 1, *end = p + n;
	const char *sp2 = memchr(target, ' ', (size_t)(end - target));
	if (!sp2 || sp2 == target || target[0] != '/')
		return 400;
	size_t vlen = (size_t)(end - sp2 - 1);
	if (vlen != 8 || (memcmp(sp2 + 1, "HTTP/1.0", 8) && memcmp(sp2 + 1, "HTTP/1.1", 8)))
		return 400;
	size_t tlen = (size_t)(sp2 - target);
	bool metrics = tlen >= 8 && memcmp(target, "/metrics", 8) == 0 &&
		       (tlen == 8 || target[8] == '?');
	if ((size_t)(sp1 - p) != 3 || memcmp(p, "GET", 3) != 0)
		return 405;
	return metrics ? 200 : 404;
}

int http_metrics_request(const char *buf, size_t len)
{
	const char *end = buf + (len < HTTP_REQ_MAX ? len : HTTP_REQ_MAX);
	if (memchr(buf, '\0', (size_t)(end - buf)))
		return 400;
	const char *nl = line_end(buf, end);
	if (!nl)
		return len >= HTTP_REQ_MAX ? 431 : 0;
	if (!clean(buf, nl))
		return 400;
	int status = request_line(buf, text_len(buf, nl));
	if (status == 400)
		return 400;
	/* The headers: each "name: value", to an empty line. */
	for (const char *p = nl + 1;; p = nl + 1) {
		if (!(nl = line_end(p, end)))
			return len >= HTTP_REQ_MAX ? 431 : 0;
		size_t n = text_len(p, nl);
		if (n == 0)
			return status;
		const char *colon = memchr(p, ':', n);
		if (!clean(p, nl) || !colon || colon == p || *p == ' ' || *p == '\t')
			return 400;
	}
}
