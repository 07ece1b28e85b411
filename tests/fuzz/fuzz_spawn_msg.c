/* libFuzzer harness: spawn_msg_decode_req (spawner/spawn_msg.c), which
 * cellvm-spawner runs on every packet cellvmd sends it, and
 * spawn_msg_decode_from_spawner, which cellvmd runs on the spawner's REPLYs
 * and ENDEDs. The first byte is not packet: its low 5 bits are how many fds
 * came with it, bit 7 picks the spawner's decoder. A packet that decodes
 * must encode back to exactly itself, and a request's argv that the
 * spawner's child_args_build() (spawner/child_args.c) takes must come out
 * with no confinement option but the spawner's own, last.
 *
 * Links: spawner/spawn_msg.c spawner/child_args.c common/sandbox_mode.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "child_args.h"
#include "spawn_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void request(uint8_t *pkt, size_t size, size_t nfds)
{
	struct spawn_msg_req m;
	if (spawn_msg_decode_req(pkt, size, nfds, &m) != 0)
		return;
	if (m.nfds + m.has_stderr + m.has_cgroup != nfds || m.path[0] != '/' || !m.argv[0] || m.mode > SANDBOX_LOG)
		abort();
	struct spawn_fd fds[SPAWN_MSG_MAX_FDS];
	for (size_t i = 0; i < m.nfds; i++)
		fds[i] = (struct spawn_fd){ 100 + (int)i, m.target[i] };
	struct spawn_req req = { .path = m.path, .argv = m.argv, .fds = fds, .nfds = m.nfds,
				 .stderr_fd = m.has_stderr ? 99 : -1, .in_cgroup = m.has_cgroup,
				 .cgroup_procs_fd = 98 };
	static uint8_t out[SPAWN_MSG_MAX_SIZE];
	ssize_t len = spawn_msg_encode_spawn(&req, m.mode, out, sizeof(out));
	if (len < 0 || (size_t)len != size || memcmp(out, pkt, size) != 0)
		abort();
	static struct child_args ca;
	if (child_args_build(m.argv, m.mode, 4, true, true, &ca) != 0)
		return;
	size_t argc = 0;
	while (m.argv[argc])
		argc++;
	for (size_t i = 1; i < argc; i++)
		if (ca.argv[i] != m.argv[i] || child_args_confines(ca.argv[i]))
			abort();
	if (strcmp(ca.argv[argc], "--sandbox") != 0)
		abort();
}

static void from_spawner(const uint8_t *pkt, size_t size, size_t nfds)
{
	struct spawn_msg_from_spawner m;
	if (spawn_msg_decode_from_spawner(pkt, size, nfds, &m) != 0)
		return;
	uint8_t out[SPAWN_MSG_ENDED_SIZE];
	size_t len;
	if (m.type == SPAWN_MSG_REPLY) {
		if (nfds != (m.result == 0))
			abort();
		spawn_msg_encode_reply(m.result, m.pid, out);
		len = SPAWN_MSG_REPLY_SIZE;
	} else {
		if (m.type != SPAWN_MSG_ENDED || nfds != 0 || m.pid <= 0)
			abort();
		spawn_msg_encode_ended(m.pid, &m.end, out);
		len = SPAWN_MSG_ENDED_SIZE;
	}
	if (size != len || memcmp(out, pkt, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t nfds = data[0] & 0x1f;
	bool spawners = data[0] & 0x80;
	data++;
	size--;
	uint8_t *pkt = malloc(size ? size : 1);
	if (!pkt)
		return 0;
	memcpy(pkt, data, size);
	if (spawners)
		from_spawner(pkt, size, nfds);
	else
		request(pkt, size, nfds);
	free(pkt);
	return 0;
}
