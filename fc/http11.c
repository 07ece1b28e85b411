#include "http11.h"

#include <string.h>
#include <strings.h>

/* The head's fields this parser acts on, gathered while reading it. */
struct head {
	bool has_length, chunked, close, keep_alive;
	size_t length;
};

/* Visible ASCII and tabs only: no control byte, NUL or DEL in a head. */
static bool clean(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 ? p[i] != '\t' : (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

static bool token_is(const char *p, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(p, word, n) == 0;
}

/* "METHOD SP TARGET SP HTTP/1.x": 0, or a negative status. */
static int request_line(const char *p, size_t n, struct http11_req *out, bool *v10)
{
	const char *end = p + n, *sp1 = memchr(p, ' ', n);
	if (!sp1 || sp1 == p)
		return -400;
	const char *target = sp1 + 1;
	const char *sp2 = memchr(target, ' ', (size_t)(end - target));
	if (!sp2 || sp2 == target || target[0] != '/')
		return -400;
	size_t vlen = (size_t)(end - sp2 - 1);
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return -400;
	if (sp2[8] != '0' && sp2[8] != '1')
		return sp2[8] >= '0' && sp2[8] <= '9' ? -505 : -400;
	*v10 = sp2[8] == '0';
	size_t mlen = (size_t)(sp1 - p);
	out->method = mlen == 3 && !memcmp(p, "GET", 3)     ? HTTP11_GET
		      : mlen == 3 && !memcmp(p, "PUT", 3)   ? HTTP11_PUT
		      : mlen == 5 && !memcmp(p, "PATCH", 5) ? HTTP11_PATCH
							    : HTTP11_OTHER;
	out->path = target;
	out->path_len = (size_t)(sp2 - target);
	return 0;
}

/* Content-Length: decimal digits only, at most HTTP11_BODY_MAX (-413 past). */
static int content_length(const char *v, size_t n, struct head *h)
{
	size_t len = 0;
	if (n == 0)
		return -400;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -400;
		if (len <= HTTP11_BODY_MAX)
			len = len * 10 + (size_t)(v[i] - '0');
	}
	if (h->has_length && h->length != len)
		return -400;
	h->has_length = true;
	h->length = len;
	return len > HTTP11_BODY_MAX ? -413 : 0;
}

/* Connection: a comma-separated list of tokens. */
static void connection(const char *v, size_t n, struct head *h)
{
	while (n) {
		const char *comma = memchr(v, ',', n);
		size_t t = comma ? (size_t)(comma - v) : n, s = 0, e = t;
		while (s < e && (v[s] == ' ' || v[s] == '\t'))
			s++;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		h->close |= token_is(v + s, e - s, "close");
		h->keep_alive |= token_is(v + s, e - s, "keep-alive");
		if (!comma)
			break;
		n -= t + 1;
		v = comma + 1;
	}
}

/* One "Name: value" line (without its line end). */
static int header(const char *p, size_t n, struct head *h)
{
	const char *colon = memchr(p, ':', n);
	if (!colon || colon == p)
		return -400;
	size_t nlen = (size_t)(colon - p);
	for (size_t i = 0; i < nlen; i++)
		if (p[i] == ' ' || p[i] == '\t')
			return -400; /* no blank in or before a name (RFC 9112 5.1) */
	const char *v = colon + 1, *end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vlen = (size_t)(end - v);
	if (token_is(p, nlen, "Content-Length"))
		return content_length(v, vlen, h);
	if (token_is(p, nlen, "Transfer-Encoding"))
		h->chunked = true;
	else if (token_is(p, nlen, "Connection"))
		connection(v, vlen, h);
	return 0;
}

int http11_parse(const char *buf, size_t len, struct http11_req *out)
{
	size_t lim = len < HTTP11_HEAD_MAX ? len : HTTP11_HEAD_MAX;
	struct head h = { 0 };
	bool v10 = false;
	const char *p = buf, *end = buf + lim;
	for (int line = 0;; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			if (memchr(p, '\0', (size_t)(end - p)))
				return -400;
			return len >= HTTP11_HEAD_MAX ? -431 : 0;
		}
		size_t n = (size_t)(nl - p) - (nl > p && nl[-1] == '\r');
		if (!clean(p, n))
			return -400;
		int r = 0;
		if (line == 0)
			r = request_line(p, n, out, &v10);
		else if (n == 0) {
			p = nl + 1;
			break;
		} else
			r = header(p, n, &h);
		if (r < 0)
			return r;
		p = nl + 1;
	}
	if (h.chunked)
		return -501;
	size_t head = (size_t)(p - buf), body = h.has_length ? h.length : 0;
	if (len - head < body)
		return 0;
	out->body = buf + head;
	out->body_len = body;
	out->close = h.close || (v10 && !h.keep_alive);
	out->total = head + body;
	return 1;
}

const char *http11_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}
