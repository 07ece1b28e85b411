/* The wire between cellvmd and cellvm-spawner (controller/spawner.h): one
 * SOCK_SEQPACKET packet per message, integers le32, one request at a time,
 * each answered by one reply.
 *
 *   SPAWN  type 1, nfds, has_stderr (0 or 1), argc, then nfds fd targets,
 *          then path and argv[0] .. argv[argc - 1] as NUL-terminated strings
 *          and nothing after them. SCM_RIGHTS: the nfds sources in target
 *          order, then the stderr fd if has_stderr.
 *   REAP   type 2, pid: has this child ended?
 *   reply  result (as int32), pid, signaled, status, core.
 *          SPAWN: 0 with the pid and the child's pidfd (SCM_RIGHTS), or -errno.
 *          REAP: 1 ended (signaled, status, core say how), 0 running, -errno.
 *
 * The spawner trusts cellvmd less than itself (cellvmd faces clients), so
 * spawn_msg_decode_req() checks everything: the exact length, every count
 * against its cap, targets >= 3, below SPAWN_MSG_MAX_TARGET and distinct,
 * every string NUL-terminated inside the packet, an absolute path, and the
 * number of fds that came against the number declared. Pure: nothing here
 * logs, opens or closes; the caller closes fds a rejected message brought. */
#ifndef CELLVM_SPAWN_MSG_H
#define CELLVM_SPAWN_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msg.h"
#include "spawn.h"

#define SPAWN_MSG_MAX_SIZE 8192 /* bytes in one request */
#define SPAWN_MSG_MAX_ARGS 64   /* argv entries, argv[0] included */
/* fd targets in one request: they and the stderr fd go in one SCM_RIGHTS. */
#define SPAWN_MSG_MAX_FDS (MSG_MAX_FDS - 1)
#define SPAWN_MSG_MAX_TARGET 1023
#define SPAWN_MSG_REAP_SIZE 8
#define SPAWN_MSG_REPLY_SIZE 20

_Static_assert(SPAWN_MSG_MAX_FDS <= SPAWN_MAX_FDS, "the spawner passes on at most SPAWN_MAX_FDS");

enum spawn_msg_type {
	SPAWN_MSG_SPAWN = 1,
	SPAWN_MSG_REAP = 2,
};

/* A decoded request. For SPAWN, path and argv point into the decoded buffer. */
struct spawn_msg_req {
	enum spawn_msg_type type;
	pid_t pid; /* REAP */
	const char *path;
	char *argv[SPAWN_MSG_MAX_ARGS + 1]; /* NULL-terminated */
	int target[SPAWN_MSG_MAX_FDS];
	size_t nfds;
	bool has_stderr;
};

struct spawn_msg_reply {
	int result;
	pid_t pid;             /* SPAWN with result 0 */
	struct child_end end;  /* REAP with result 1 */
};

/* SPAWN for req (its fd sources and stderr_fd are not encoded: they go in
 * SCM_RIGHTS). Returns the packet's length, -EINVAL for what the spawner
 * would refuse (a relative path, no argv[0], a target out of range or twice,
 * more than SPAWN_MSG_MAX_FDS fds or SPAWN_MSG_MAX_ARGS args), -E2BIG when it
 * does not fit len (or SPAWN_MSG_MAX_SIZE). */
ssize_t spawn_msg_encode_spawn(const struct spawn_req *req, uint8_t *buf, size_t len);
void spawn_msg_encode_reap(pid_t pid, uint8_t out[SPAWN_MSG_REAP_SIZE]);

/* Decodes the len bytes of buf, with which nfds fds came. 0 with *out
 * filled, or -EBADMSG. buf must outlive *out (argv points into it). */
int spawn_msg_decode_req(uint8_t *buf, size_t len, size_t nfds, struct spawn_msg_req *out);

void spawn_msg_encode_reply(const struct spawn_msg_reply *r, uint8_t out[SPAWN_MSG_REPLY_SIZE]);

/* Decodes the reply to a request of type `to`, with which nfds fds came:
 * exactly one for a successful SPAWN, none otherwise. 0 with *out filled,
 * or -EBADMSG. */
int spawn_msg_decode_reply(const uint8_t *buf, size_t len, enum spawn_msg_type to, size_t nfds,
			   struct spawn_msg_reply *out);

#endif
