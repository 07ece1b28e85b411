/* The vhost-user "backend program conventions" shared by every device
 * binary: --socket-path PATH (listen, serve one frontend at a time, accept
 * the next after a hang-up), --fd N (serve an already-connected socket, exit
 * when it hangs up), --print-capabilities, no daemonizing, clean exit on
 * SIGTERM/SIGINT; and cellvm's confinement (--sandbox, --policy-dir,
 * common/confine.h): the device is confined once its socket is ready,
 * before it reads a frontend's first byte. */
#ifndef CELLVM_SERVE_H
#define CELLVM_SERVE_H

#include <getopt.h>
#include <stdbool.h>

#include "backend.h"
#include "confine.h"

enum {
	SERVE_OPT_SOCKET_PATH = 0x100,
	SERVE_OPT_FD,
	SERVE_OPT_PRINT_CAPS,
	SERVE_OPT_LOG_LEVEL,
	SERVE_OPT_HELP,
};

/* Entries for a device's getopt_long table. */
#define SERVE_LONG_OPTIONS                                                        \
	{ "socket-path", required_argument, NULL, SERVE_OPT_SOCKET_PATH },        \
	{ "fd", required_argument, NULL, SERVE_OPT_FD },                          \
	{ "print-capabilities", no_argument, NULL, SERVE_OPT_PRINT_CAPS },        \
	{ "log-level", required_argument, NULL, SERVE_OPT_LOG_LEVEL },            \
	{ "help", no_argument, NULL, SERVE_OPT_HELP },                             \
	CONFINE_LONG_OPTIONS

#define SERVE_USAGE                                                                \
	"  --socket-path PATH      listen on PATH and serve one frontend at a time\n"  \
	"  --fd N                  serve the connected socket N; exit when it closes\n" \
	"  --print-capabilities    print the backend's capabilities as JSON and exit\n" \
	"  --log-level LEVEL       error, warn, info (default) or debug\n"             \
	"  --help                  show this help\n"                                  \
	CONFINE_USAGE

struct serve_opts {
	const char *socket_path;
	int fd;
	bool print_caps;
	bool help;
	struct confine_opts confine;
};

/* What serve_parse needs to know about a device binary. */
struct serve_program {
	const char *usage;                 /* the full usage text */
	const char *caps_type;             /* for --print-capabilities */
	const char *const *caps_features;  /* NULL-terminated, or NULL */
	/* The device's own options: 0 handled, -EINVAL (logged) for a bad
	 * argument, -ENOENT if c is not one of them. NULL: it has none. */
	int (*opt)(void *ctx, int c, const char *arg);
	void *ctx;
};

/* Parses a device binary's command line with longopts (SERVE_LONG_OPTIONS
 * and the device's own) into o and prog->opt: an unknown option prints the
 * usage on stderr, a bad argument or an operand is logged, --help prints the
 * usage on stdout, --print-capabilities the capabilities, and last it checks
 * that exactly one of --socket-path and --fd (a stream socket) was given,
 * logged. Returns 1 if the process should now exit 0 (help or
 * capabilities printed), 0 to go on, -EINVAL to exit 1. */
int serve_parse(int argc, char **argv, const struct option *longopts,
		const struct serve_program *prog, struct serve_opts *o);

/* What a device keeps once confined, besides its socket and event loop. */
struct serve_confine {
	const int *fds;    /* its own fds: the disk, tap or host stream */
	size_t nfds;
	bool writes_files; /* else RLIMIT_FSIZE is 0 */
};

/* Serves frontends on the options' socket with b (vub_init already called
 * with b->loop == NULL: serve creates the loop) until the frontend of --fd
 * hangs up or SIGTERM/SIGINT arrives. `setup`, if not NULL, runs once the
 * loop exists (devices add their own fds there); the process is confined
 * right after, with the policy named after b->ops->name. Returns a process
 * exit status. */
int serve_run(struct vub *b, const struct serve_opts *o, int (*setup)(struct vub *b),
	      const struct serve_confine *c);

#endif
