#include "term.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"

static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		buf += r;
		n -= (size_t)r;
	}
	return 0;
}

enum term_end term_attach(int stream_fd, int watch_fd)
{
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
			tty = false;
	}
	bool stdin_open = true;
	enum term_end end;
	char buf[4096];
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = stream_fd, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = watch_fd, .events = POLLIN },
		};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll: %m");
			end = TERM_ERROR;
			break;
		}
		if (p[0].revents) {
			ssize_t r = read(stream_fd, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				end = TERM_EOF;
				break;
			}
			if (write_all(STDOUT_FILENO, buf, (size_t)r) < 0) {
				end = TERM_ERROR;
				break;
			}
			continue; /* output first: the guest's last words before watch_fd */
		}
		if (p[1].revents) {
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				/* No more input; the output goes on. */
				stdin_open = false;
				shutdown(stream_fd, SHUT_WR);
				continue;
			}
			char *key = tty ? memchr(buf, TERM_DETACH_KEY, (size_t)r) : NULL;
			size_t n = key ? (size_t)(key - buf) : (size_t)r;
			if (n && write_all(stream_fd, buf, n) < 0) {
				end = TERM_EOF;
				break;
			}
			if (key) {
				end = TERM_DETACHED;
				break;
			}
		}
		if (p[2].revents) {
			end = TERM_WATCHED;
			break;
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return end;
}
