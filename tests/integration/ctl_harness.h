/* A harness for criterion tests that drive cellvmd over its socket without
 * KVM: tests/integration/fake_vcpu is the vcpu-worker and plays a script
 * given as the kernel; the devices are the real ones from the build tree.
 *
 * A suite declares .init = ctl_init, .fini = ctl_fini. Each test (a process of
 * its own) starts one cellvmd in a fresh directory (ctl_start) and ends it with
 * ctl_finish: SIGTERM, exit 0, none of its processes left. A test that fails
 * before that gets cellvmd's log (with its children's) printed and cellvmd
 * killed by ctl_fini. Every wait has a deadline and every helper asserts, so
 * a broken controller fails the test instead of hanging it. */
#ifndef CELLVM_CTL_HARNESS_H
#define CELLVM_CTL_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc.h"
#include "spawn.h"

#define CTL_WAIT_MS 5000 /* for what should come at once: generous on a loaded machine */
#define CTL_MAX_SEEN 64

/* Scripts for fake_vcpu (see fake_vcpu.c), and config keys for ctl_config. */
#define CTL_SCRIPT_FULL "serial boot-line\nbackends\nready\nwait-run\nserial running\nserve\n"
#define CTL_SCRIPT_SERVE "ready\nwait-run\nserve\n"
#define CTL_WITH_DEVICES ", \"rng\": true, \"console\": true"
#define CTL_WITH_RNG ", \"rng\": true"

/* The cellvmd of the running test. */
struct ctl_state {
	pid_t pid;                /* -1 once reaped */
	int pidfd;
	pid_t spawner;            /* cellvm-spawner, its only child */
	char dir[64];             /* socket, log and scripts; removed at the end */
	char allow_dir[64];       /* ctl_init_allow_dir's: the operator's files */
	char sock[128];
	char log[128];            /* cellvmd's stderr, which its children share */
	unsigned nfiles;          /* scripts written so far */
	bool ended;               /* ctl_finish stopped it and checked */
	pid_t seen[CTL_MAX_SEEN]; /* every child pid a Status showed */
	size_t nseen;
	uint32_t next_id;
};
extern struct ctl_state ctl;

/* ---------------------------------------------------------------- suite */

/* Checks that cellvmd, fake_vcpu and the devices are built. */
void ctl_init(void);
/* Kills a cellvmd the test did not finish (printing its log); removes the
 * test's directory. */
void ctl_fini(void);

/* ctl_init, and ctl.allow_dir made, for a suite whose cellvmd is given an
 * operator's directory (--allow-dir) on its command line; ctl_fini_allow_dir
 * removes it as well. */
void ctl_init_allow_dir(void);
void ctl_fini_allow_dir(void);

/* "<dir of the test binary>/../../<rel>": a file of the build tree (e.g.
 * "device-procs", "tests/hooks/cellvm-rng"). Valid until the next call. */
const char *ctl_build_path(const char *rel);

/* ---------------------------------------------------------------- cellvmd */

/* Starts cellvmd with fake_vcpu as its worker, at debug level; returns the
 * first connection once it serves. ctl_start_with appends extra_args
 * (NULL-terminated, up to 16) to its command line; a cellvmd that ends
 * before it listens (refusing one) fails the test at once. */
int ctl_start(void);
int ctl_start_with(const char *const *extra_args);

/* Another connection. Reads on it time out, so a missing reply fails. */
int ctl_conn(void);

/* How cellvmd ended, within ms; it is reaped (ctl.pid becomes -1). */
struct child_end ctl_wait_end(int ms);

/* SIGTERM: cellvmd stops what runs, exits 0 and leaves no pid Status showed,
 * nor its spawner. */
void ctl_finish(void);

/* cellvmd's only child is its spawner, which has none, and no pid Status
 * ever showed is left. */
void ctl_expect_no_children(void);
/* The children of pid (of its main thread), up to max. */
size_t ctl_children(pid_t pid, pid_t *out, size_t max);
/* Its name (/proc/PID/comm); "" once gone. */
void ctl_comm(pid_t pid, char *buf, size_t len);
void ctl_expect_gone(pid_t pid);

/* cellvmd's open fds; ctl_expect_fds: the count comes back to want within ms. */
int ctl_count_fds(void);
void ctl_expect_fds(int want, int ms, const char *after);

/* Writes script for fake_vcpu into the test's directory; the config (into
 * cfg) boots it with 16 MiB and `extra` keys (CTL_WITH_RNG, or ""), and no
 * device restarts ({"restart": {"max": 0}}) unless extra names "restart". */
void ctl_config(char *cfg, size_t len, const char *script, const char *extra);

/* ---------------------------------------------------------------- calls */

uint32_t ctl_send_call(int sock, enum rpc_method m, const char *params);
/* The reply to request id, which must come within ms. */
struct rpc_reply ctl_reply_to(int sock, uint32_t id, int ms);
/* The replies to ids[0] and ids[1], in whichever order they come. */
void ctl_replies(int sock, const uint32_t ids[2], struct rpc_reply out[2]);
struct rpc_reply ctl_rpc(int sock, enum rpc_method m, const char *params);

/* Both free r. ctl_expect_error: an error with this code whose message has
 * `word` in it (NULL: any). */
void ctl_expect_ok(struct rpc_reply r, const char *what);
void ctl_expect_error(struct rpc_reply r, int code, const char *word, const char *what);

/* Create fails with code, naming word; afterwards no VM and no child. */
void ctl_create_fails(int sock, const char *cfg, int code, const char *word);

/* ---------------------------------------------------------------- Status */

struct ctl_status {
	char state[32];
	bool have_last;
	int last_code;
	char reason[256];
	size_t npids;
	struct {
		char name[32];
		pid_t pid;
	} pids[16];
};

/* Every pid Status shows is remembered for the checks that none is left. */
struct ctl_status ctl_status(int sock);
pid_t ctl_pid_of(const struct ctl_status *st, const char *name); /* 0: none */
void ctl_expect_state(int sock, const char *state);
/* Status shows state within ms (for what a client did without an answer). */
void ctl_await_state(int sock, const char *state, int ms);

/* ---------------------------------------------------------------- streams */

struct ctl_stream {
	int fd;
	size_t len;
	char buf[16384]; /* what came and was not matched yet */
};

/* GetConsole (console) or GetSerial on sock. */
void ctl_open_stream(int sock, bool console, struct ctl_stream *s);
/* Reads until want came within ms (what came up to its end is consumed). */
void ctl_read_until(struct ctl_stream *s, const char *want, int ms);
/* fd reaches EOF within ms (output before it is skipped). */
void ctl_expect_eof(int fd, int ms, const char *what);

/* ---------------------------------------------------------------- time */

uint64_t ctl_now_ms(void);
void ctl_msleep(long ms);
/* Whether fd becomes readable (or hung up) within ms. */
bool ctl_readable(int fd, int ms);

#endif
