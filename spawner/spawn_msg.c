/* The cellvmd <-> cellvm-spawner messages: encoding and checked decoding. */
#include "spawn_msg.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>

#include "bytes.h"

#define SPAWN_HDR 20 /* type, nfds, flags, argc, mode */
#define FLAG_STDERR 1u
#define FLAG_CGROUP 2u
_Static_assert(SANDBOX_ON == 0 && SANDBOX_OFF == 1 && SANDBOX_LOG == 2,
	       "the wire's mode numbers are enum sandbox_mode's");

static bool mode_ok(uint32_t mode)
{
	return mode <= SANDBOX_LOG;
}
#define ERRNO_MAX 4095

static bool target_ok(const int *targets, size_t i, int t)
{
	if (t < 3 || t > SPAWN_MSG_MAX_TARGET)
		return false;
	for (size_t j = 0; j < i; j++)
		if (targets[j] == t)
			return false;
	return true;
}

/* Appends s with its NUL at *off; false if it does not fit. */
static bool put_str(uint8_t *buf, size_t len, size_t *off, const char *s)
{
	size_t n = strlen(s) + 1;
	if (n > len - *off)
		return false;
	memcpy(buf + *off, s, n);
	*off += n;
	return true;
}

ssize_t spawn_msg_encode_spawn(const struct spawn_req *req, enum sandbox_mode mode, uint8_t *buf,
			       size_t len)
{
	if (!req->path || req->path[0] != '/' || !req->argv || !req->argv[0] || !mode_ok(mode) ||
	    req->nfds > SPAWN_MSG_MAX_FDS || (req->nfds && !req->fds))
		return -EINVAL;
	size_t argc = 0;
	while (req->argv[argc])
		if (++argc > SPAWN_MSG_MAX_ARGS)
			return -EINVAL;
	int targets[SPAWN_MSG_MAX_FDS];
	for (size_t i = 0; i < req->nfds; i++) {
		if (!target_ok(targets, i, req->fds[i].target))
			return -EINVAL;
		targets[i] = req->fds[i].target;
	}
	if (len > SPAWN_MSG_MAX_SIZE)
		len = SPAWN_MSG_MAX_SIZE;
	size_t off = SPAWN_HDR + 4 * req->nfds;
	if (off > len)
		return -E2BIG;
	put_le32(buf, SPAWN_MSG_SPAWN);
	put_le32(buf + 4, (uint32_t)req->nfds);
	put_le32(buf + 8, (req->stderr_fd >= 0 ? FLAG_STDERR : 0) |
				  (req->in_cgroup ? FLAG_CGROUP : 0));
	put_le32(buf + 12, (uint32_t)argc);
	put_le32(buf + 16, (uint32_t)mode);
	for (size_t i = 0; i < req->nfds; i++)
		put_le32(buf + SPAWN_HDR + 4 * i, (uint32_t)targets[i]);
	if (!put_str(buf, len, &off, req->path))
		return -E2BIG;
	for (size_t i = 0; i < argc; i++)
		if (!put_str(buf, len, &off, req->argv[i]))
			return -E2BIG;
	return (ssize_t)off;
}

/* The NUL-terminated string at *off, which must end inside len. */
static char *take_str(uint8_t *buf, size_t len, size_t *off)
{
	if (*off >= len)
		return NULL;
	uint8_t *nul = memchr(buf + *off, '\0', len - *off);
	if (!nul)
		return NULL;
	char *s = (char *)buf + *off;
	*off = (size_t)(nul - buf) + 1;
	return s;
}

static int decode_spawn(uint8_t *buf, size_t len, size_t nfds, struct spawn_msg_req *out)
{
	if (len < SPAWN_HDR)
		return -EBADMSG;
	uint32_t n = get_le32(buf + 4), flags = get_le32(buf + 8), argc = get_le32(buf + 12),
		 mode = get_le32(buf + 16);
	if (n > SPAWN_MSG_MAX_FDS || (flags & ~(FLAG_STDERR | FLAG_CGROUP)) || argc < 1 ||
	    argc > SPAWN_MSG_MAX_ARGS || !mode_ok(mode))
		return -EBADMSG;
	bool has_stderr = flags & FLAG_STDERR, has_cgroup = flags & FLAG_CGROUP;
	/* Every fd that came is one the request declared, and the other way. */
	if (nfds != n + has_stderr + has_cgroup)
		return -EBADMSG;
	size_t off = SPAWN_HDR + 4 * (size_t)n;
	if (off > len)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		uint32_t t = get_le32(buf + SPAWN_HDR + 4 * i);
		if (t > INT_MAX || !target_ok(out->target, i, (int)t))
			return -EBADMSG;
		out->target[i] = (int)t;
	}
	const char *path = take_str(buf, len, &off);
	if (!path || path[0] != '/')
		return -EBADMSG;
	for (size_t i = 0; i < argc; i++)
		if (!(out->argv[i] = take_str(buf, len, &off)))
			return -EBADMSG;
	if (off != len)
		return -EBADMSG;
	out->argv[argc] = NULL;
	out->path = path;
	out->nfds = n;
	out->has_stderr = has_stderr;
	out->has_cgroup = has_cgroup;
	out->mode = (enum sandbox_mode)mode;
	return 0;
}

int spawn_msg_decode_req(uint8_t *buf, size_t len, size_t nfds, struct spawn_msg_req *out)
{
	if (len < 4 || len > SPAWN_MSG_MAX_SIZE || get_le32(buf) != SPAWN_MSG_SPAWN)
		return -EBADMSG;
	return decode_spawn(buf, len, nfds, out);
}

void spawn_msg_encode_reply(int result, pid_t pid, uint8_t out[SPAWN_MSG_REPLY_SIZE])
{
	put_le32(out, SPAWN_MSG_REPLY);
	put_le32(out + 4, (uint32_t)result);
	put_le32(out + 8, (uint32_t)pid);
}

void spawn_msg_encode_ended(pid_t pid, const struct child_end *end,
			    uint8_t out[SPAWN_MSG_ENDED_SIZE])
{
	put_le32(out, SPAWN_MSG_ENDED);
	put_le32(out + 4, (uint32_t)pid);
	put_le32(out + 8, end->signaled);
	put_le32(out + 12, (uint32_t)end->status);
	put_le32(out + 16, end->core);
}

static bool pid_ok(uint32_t pid)
{
	return pid > 0 && pid <= INT_MAX;
}

static int decode_reply(const uint8_t *buf, size_t len, size_t nfds,
			struct spawn_msg_from_spawner *out)
{
	if (len != SPAWN_MSG_REPLY_SIZE)
		return -EBADMSG;
	int32_t result = (int32_t)get_le32(buf + 4);
	uint32_t pid = get_le32(buf + 8);
	/* Only a started child comes with a pid and its pidfd. */
	bool ok = result == 0 ? nfds == 1 && pid_ok(pid)
			      : result < 0 && result >= -ERRNO_MAX && nfds == 0 && pid == 0;
	if (!ok)
		return -EBADMSG;
	*out = (struct spawn_msg_from_spawner){ .type = SPAWN_MSG_REPLY, .result = result,
						.pid = (pid_t)pid };
	return 0;
}

static int decode_ended(const uint8_t *buf, size_t len, size_t nfds,
			struct spawn_msg_from_spawner *out)
{
	if (len != SPAWN_MSG_ENDED_SIZE || nfds != 0)
		return -EBADMSG;
	uint32_t pid = get_le32(buf + 4), signaled = get_le32(buf + 8),
		 status = get_le32(buf + 12), core = get_le32(buf + 16);
	/* An exit status, or a signal (with a core, maybe). */
	if (!pid_ok(pid) || signaled > 1 || core > signaled ||
	    (signaled ? status == 0 || status >= NSIG : status > 255))
		return -EBADMSG;
	*out = (struct spawn_msg_from_spawner){
		.type = SPAWN_MSG_ENDED,
		.pid = (pid_t)pid,
		.end = { .signaled = signaled, .status = (int)status, .core = core },
	};
	return 0;
}

int spawn_msg_decode_from_spawner(const uint8_t *buf, size_t len, size_t nfds,
				  struct spawn_msg_from_spawner *out)
{
	if (len < 4)
		return -EBADMSG;
	switch (get_le32(buf)) {
	case SPAWN_MSG_REPLY:
		return decode_reply(buf, len, nfds, out);
	case SPAWN_MSG_ENDED:
		return decode_ended(buf, len, nfds, out);
	default:
		return -EBADMSG;
	}
}
