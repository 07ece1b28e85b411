/* The wire between cellvmd and cellvm-spawner (spawner/spawner.h): one
 * SOCK_SEQPACKET packet per message, integers le32, one request at a time.
 *
 *   SPAWN  (cellvmd) type 1, nfds, flags (bit 0: a stderr fd comes, bit 1:
 *          a cgroup.procs fd comes), argc, mode (the sandbox mode asked for
 *          the child: 0 on, 1 off, 2 log), then nfds fd targets, then path
 *          and argv[0] .. argv[argc - 1] as NUL-terminated strings and
 *          nothing after them. SCM_RIGHTS: the nfds sources in target
 *          order, then the stderr fd, then the cgroup.procs fd (the leaf the
 *          child moves itself into before its exec: spawn.h), each if its
 *          flag is set.
 *          mode is only asked: the spawner holds it against the operator's
 *          floor and writes the child's confinement options itself
 *          (spawner/child_args.h).
 *   REPLY  (spawner) type 2, result (as int32), pid: the answer to SPAWN,
 *          0 with the pid and the child's pidfd (SCM_RIGHTS), or -errno with
 *          pid 0 and no fd.
 *   ENDED  (spawner, unrequested) type 3, pid, signaled, status, core: it
 *          reaped that child, which ended so; once per child, and maybe
 *          between a SPAWN and its REPLY.
 *
 * Each side trusts the other less than itself (cellvmd faces clients, the
 * spawner runs under the broadest filter), so both decoders check everything:
 * spawn_msg_decode_req() the exact length, every count against its cap,
 * known flags, a known mode, targets >= 3, below SPAWN_MSG_MAX_TARGET and distinct, every string
 * NUL-terminated inside the packet, an absolute path, and the number of fds
 * that came against the number declared; spawn_msg_decode_from_spawner()
 * the exact length, the fd count, the pid's range and an end that can be
 * (an exit status 0-255, or a signal 1 to NSIG - 1 with maybe a core).
 * Pure: nothing here logs, opens or closes; the caller closes fds a
 * rejected message brought. */
#ifndef CELLVM_SPAWN_MSG_H
#define CELLVM_SPAWN_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msg.h"
#include "sandbox_mode.h"
#include "spawn.h"

#define SPAWN_MSG_MAX_SIZE 8192 /* bytes in one request */
#define SPAWN_MSG_MAX_ARGS 64   /* argv entries, argv[0] included */
/* fd targets in one request; they, the stderr fd and the cgroup.procs fd
 * go in one SCM_RIGHTS (SPAWN_MSG_MAX_RIGHTS). */
#define SPAWN_MSG_MAX_FDS (MSG_MAX_FDS - 1)
#define SPAWN_MSG_MAX_RIGHTS (SPAWN_MSG_MAX_FDS + 2)
#define SPAWN_MSG_MAX_TARGET 1023
#define SPAWN_MSG_REPLY_SIZE 12
#define SPAWN_MSG_ENDED_SIZE 20

_Static_assert(SPAWN_MSG_MAX_FDS <= SPAWN_MAX_FDS, "the spawner passes on at most SPAWN_MAX_FDS");
_Static_assert(SPAWN_MSG_MAX_RIGHTS <= MSG_RX_MAX_FDS, "the spawner receives them all");

enum spawn_msg_type {
	SPAWN_MSG_SPAWN = 1,
	SPAWN_MSG_REPLY = 2,
	SPAWN_MSG_ENDED = 3,
};

/* A decoded SPAWN; path and argv point into the decoded buffer. */
struct spawn_msg_req {
	const char *path;
	char *argv[SPAWN_MSG_MAX_ARGS + 1]; /* NULL-terminated */
	int target[SPAWN_MSG_MAX_FDS];
	size_t nfds;
	bool has_stderr;
	bool has_cgroup; /* the fd after the stderr fd is a cgroup.procs */
	enum sandbox_mode mode;
};

/* A decoded REPLY or ENDED. */
struct spawn_msg_from_spawner {
	enum spawn_msg_type type;
	int result;           /* REPLY */
	pid_t pid;            /* REPLY with result 0; ENDED */
	struct child_end end; /* ENDED */
};

/* SPAWN for req, asking for mode (its fd sources, stderr_fd and
 * cgroup_procs_fd are not encoded: they go in SCM_RIGHTS). Returns the packet's length, -EINVAL for
 * what the spawner would refuse (a relative path, no argv[0], an unknown
 * mode, a target out of range or twice,
 * more than SPAWN_MSG_MAX_FDS fds or SPAWN_MSG_MAX_ARGS args), -E2BIG when it
 * does not fit len (or SPAWN_MSG_MAX_SIZE). */
ssize_t spawn_msg_encode_spawn(const struct spawn_req *req, enum sandbox_mode mode, uint8_t *buf,
			       size_t len);

/* Decodes the len bytes of buf, with which nfds fds came. 0 with *out
 * filled, or -EBADMSG. buf must outlive *out (argv points into it). */
int spawn_msg_decode_req(uint8_t *buf, size_t len, size_t nfds, struct spawn_msg_req *out);

/* A REPLY: result 0 with the started child's pid, or -errno and pid 0. */
void spawn_msg_encode_reply(int result, pid_t pid, uint8_t out[SPAWN_MSG_REPLY_SIZE]);
void spawn_msg_encode_ended(pid_t pid, const struct child_end *end,
			    uint8_t out[SPAWN_MSG_ENDED_SIZE]);

/* Decodes the len bytes of buf the spawner sent, with which nfds fds came:
 * exactly one with a successful REPLY, none otherwise. 0 with *out filled,
 * or -EBADMSG. */
int spawn_msg_decode_from_spawner(const uint8_t *buf, size_t len, size_t nfds,
				  struct spawn_msg_from_spawner *out);

#endif
