/* The vhost-user "backend program conventions" shared by every device
 * binary: --socket-path PATH (listen, serve one frontend at a time, accept
 * the next after a hang-up), --fd N (serve an already-connected socket, exit
 * when it hangs up), --print-capabilities, no daemonizing, clean exit on
 * SIGTERM/SIGINT; and cellvm's confinement (--sandbox, --policy-dir,
 * common/confine.h): the device is confined once its socket is ready,
 * before it reads a frontend's first byte. With --control-fd N (a
 * SOCK_SEQPACKET socket; cellvmd gives one to each device it starts) the
 * device also answers cellvmd's requests on it (common/dev_ctl.h): its
 * counters (struct vub's), and rate-limit changes to its limiters.
 * Without it the device is a plain vhost-user backend.
 * Each device file defines its serve_program (its own options, ops and
 * start); device_main.c, linked
 * into every device binary, is the one main(): serve_main on it. */
#ifndef CELLVM_SERVE_H
#define CELLVM_SERVE_H

#include <getopt.h>
#include <stdbool.h>

#include "backend.h"
#include "confine.h"
#include "throttle.h"

enum {
	SERVE_OPT_SOCKET_PATH = 0x100,
	SERVE_OPT_FD,
	SERVE_OPT_PRINT_CAPS,
	SERVE_OPT_LOG_LEVEL,
	SERVE_OPT_HELP,
	SERVE_OPT_CONTROL_FD,
};

/* Entries for a device's getopt_long table. */
#define SERVE_LONG_OPTIONS                                                        \
	{ "socket-path", required_argument, NULL, SERVE_OPT_SOCKET_PATH },        \
	{ "fd", required_argument, NULL, SERVE_OPT_FD },                          \
	{ "print-capabilities", no_argument, NULL, SERVE_OPT_PRINT_CAPS },        \
	{ "log-level", required_argument, NULL, SERVE_OPT_LOG_LEVEL },            \
	{ "help", no_argument, NULL, SERVE_OPT_HELP },                             \
	{ "control-fd", required_argument, NULL, SERVE_OPT_CONTROL_FD },          \
	CONFINE_LONG_OPTIONS

#define SERVE_USAGE                                                                \
	"  --socket-path PATH      listen on PATH and serve one frontend at a time\n"  \
	"  --fd N                  serve the connected socket N; exit when it closes\n" \
	"  --print-capabilities    print the backend's capabilities as JSON and exit\n" \
	"  --log-level LEVEL       error, warn, info (default) or debug\n"             \
	"  --control-fd N          answer cellvmd's requests (metrics, rate limits)\n" \
	"                          on the SOCK_SEQPACKET socket N\n"                 \
	"  --help                  show this help\n"                                  \
	CONFINE_USAGE

struct serve_opts {
	const char *socket_path;
	int fd;
	int control_fd; /* -1: none */
	bool print_caps;
	bool help;
	struct confine_opts confine;
};

/* What a device keeps once confined, besides its socket and event loop. */
struct serve_confine {
	const int *fds;    /* its own fds: the disk, tap or host stream */
	size_t nfds;
	unsigned new_tasks; /* threads it may start once confined (io-wq's) */
	bool writes_files; /* else RLIMIT_FSIZE is 0 */
	const char *root_dir; /* confine_req's: its cwd, and its root; NULL: empty */
	unsigned max_fds;     /* RLIMIT_NOFILE once confined; 0: 256 */
};

/* What a device's start gives back to be served. */
struct serve_device {
	const struct vub_ops *ops;
	/* If not NULL, runs once the event loop exists (devices add their own
	 * fds there), before the process is confined. */
	int (*setup)(struct vub *b);
	/* Its fds are closed when serving ends. */
	struct serve_confine confine;
	/* Its rate limiters (throttle.h), named by their config keys: the
	 * control channel's SET_RATE_LIMIT changes them (throttle_set) and its
	 * GET_METRICS adds up their throttle_us, on the event loop's thread. blk has one
	 * ("rate_limiter"), net two ("rx_rate_limiter", "tx_rate_limiter"),
	 * the others none (NULL, 0). Each lives as long as the device. */
	struct throttle *limiters;
	size_t nlimiters;
	/* The device's own control requests (the balloon's SET_BALLOON_TARGET
	 * and GET_BALLOON_STATS), on the event loop's thread: fills rp (status
	 * 0 or -errno). NULL: they are answered -EOPNOTSUPP. */
	void (*control)(struct vub *b, const struct dev_ctl_req *rq, struct dev_ctl_reply *rp);
};

/* A device binary. */
struct serve_program {
	const char *process;               /* the log's process name */
	const char *usage;                 /* the full usage text */
	const char *caps_type;             /* for --print-capabilities */
	const char *const *caps_features;  /* NULL-terminated, or NULL */
	const struct option *longopts;     /* SERVE_LONG_OPTIONS and its own */
	/* The device's own options: 0 handled, -EINVAL (logged) for a bad
	 * argument, -ENOENT if c is not one of them. NULL: it has none. */
	int (*opt)(void *ctx, int c, const char *arg);
	/* Once the options are parsed: opens what the device serves and fills
	 * in dev (dev_size bytes, zeroed: the vub's device) and d. 0, or
	 * -errno (logged) having closed what it opened. */
	int (*start)(void *ctx, const struct serve_opts *o, void *dev, struct serve_device *d);
	size_t dev_size;
	void *ctx;                         /* for opt and start */
};

/* The device linked into this binary (each device file defines it). */
extern const struct serve_program serve_program;

/* Parses the command line with prog->longopts into o and prog->opt, from
 * argv[optind] on: an unknown option prints the usage on stderr, a bad
 * argument or an operand is logged, --help prints the usage on stdout,
 * --print-capabilities the capabilities, and it checks that exactly one of
 * --socket-path and --fd (a stream socket) was given. Returns 1 if the
 * process should now exit 0 (help or capabilities printed), 0 to go on,
 * -EINVAL to exit 1. */
int serve_parse(int argc, char **argv, const struct serve_program *prog,
		struct serve_opts *o);

/* Logs as prog->process and parses the command line (serve_parse). Then
 * it starts the device and serves frontends on the options' socket
 * until the frontend of --fd hangs up or SIGTERM/SIGINT arrives; the
 * process is confined once the socket is ready, with the policy named
 * after the ops' name. Returns the process exit status. */
int serve_main(int argc, char **argv, const struct serve_program *prog);

/* An fd option's argument as a number (0 to INT_MAX): 0, or -EINVAL after
 * a log line naming opt. Whether it is open is checked where it is used. */
int serve_fd_number(const char *opt, const char *arg, int *out);

/* For a start: checks that exactly one of a device's own sources was given,
 * by name (name_opt "--tap NAME", named) or as an inherited fd (fd_opt
 * "--tap-fd", fd or -1), and that the fd is not --fd's. 0 or -EINVAL,
 * logged. */
int serve_one_source(const struct serve_opts *o, const char *name_opt, bool named,
		     const char *fd_opt, int fd);

#endif
