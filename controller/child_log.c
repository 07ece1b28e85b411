#include "child_log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fds.h"

#define NAME_SHOWN_MAX 32 /* of a child's name in its lines' mark */

void child_log_init(struct child_log *l, int fd)
{
	l->fd = fd;
	l->plen = 0;
	l->seccomp[0] = l->error[0] = '\0';
}

/* Copies src[0..n) to dst with each control as '?': C0 bytes and DEL, and
 * C1 controls in UTF-8 (0xc2 0x80-0x9f, CSI among them: a UTF-8 terminal
 * acts on those too). Returns the bytes written, at most n. */
static size_t clean(char *dst, const char *src, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == 0xc2 && i + 1 < n && ((unsigned char)src[i + 1] & 0xe0) == 0x80) {
			dst[k++] = '?';
			i++;
		} else {
			dst[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	return k;
}

static void keep(char *dst, const char *src, size_t n)
{
	if (n > CHILD_LOG_KEPT_MAX - 1)
		n = CHILD_LOG_KEPT_MAX - 1;
	dst[clean(dst, src, n)] = '\0';
}

/* Finds needle in line[0..n); returns the offset after it, or 0. */
static size_t after(const char *line, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(line + i, needle, k) == 0)
			return i + k;
	return 0;
}

static void write_all(int fd, const char *buf, size_t n)
{
	while (fd >= 0 && n > 0) {
		ssize_t r = write(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return; /* our own stderr is gone: nothing to tell */
		buf += r;
		n -= (size_t)r;
	}
}

/* One line without its newline, from the child called name. */
static void line_done(struct child_log *l, const char *name, const char *line, size_t n,
		      int out_fd)
{
	size_t at;
	if ((at = after(line, n, ": seccomp: ")))
		keep(l->seccomp, line + at, n - at);
	else if ((at = after(line, n, ": error: "))) {
		/* "name[pid]: error: func: message": keep the message. */
		size_t m = after(line + at, n - at, ": ");
		at += m;
		keep(l->error, line + at, n - at);
	}
	/* One write per line: the children share cellvmd's stderr. */
	char out[NAME_SHOWN_MAX + 3 + CHILD_LOG_LINE_MAX + 1];
	size_t k = (size_t)snprintf(out, sizeof(out), "[%.*s] ", NAME_SHOWN_MAX, name);
	k += clean(out + k, line, n);
	out[k++] = '\n';
	write_all(out_fd, out, k);
}

void child_log_feed(struct child_log *l, const char *name, const char *buf, size_t n,
		    int out_fd)
{
	while (n > 0) {
		const char *nl = memchr(buf, '\n', n);
		size_t take = nl ? (size_t)(nl - buf) : n;
		size_t room = sizeof(l->partial) - l->plen;
		if (take > room)
			take = room;
		memcpy(l->partial + l->plen, buf, take);
		l->plen += take;
		buf += take;
		n -= take;
		bool end = n > 0 && *buf == '\n';
		if (end) {
			buf++;
			n--;
		}
		if (end || l->plen == sizeof(l->partial)) {
			line_done(l, name, l->partial, l->plen, out_fd);
			l->plen = 0;
		}
	}
}

int child_log_read(struct child_log *l, const char *name, int out_fd, unsigned rounds)
{
	char buf[4096];
	for (unsigned i = 0; l->fd >= 0 && i < rounds; i++) {
		ssize_t r = read(l->fd, buf, sizeof(buf));
		if (r > 0) {
			child_log_feed(l, name, buf, (size_t)r, out_fd);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		int err = r < 0 ? -errno : 1;
		if (l->plen) {
			line_done(l, name, l->partial, l->plen, out_fd);
			l->plen = 0;
		}
		return err;
	}
	return 0;
}

void child_log_close(struct child_log *l)
{
	close_fd(&l->fd);
}
