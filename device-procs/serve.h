/* The vhost-user "backend program conventions" shared by every device
 * binary: --socket-path PATH (listen, serve one frontend at a time, accept
 * the next after a hang-up), --fd N (serve an already-connected socket, exit
 * when it hangs up), --print-capabilities, no daemonizing, clean exit on
 * SIGTERM/SIGINT. */
#ifndef CELLVM_SERVE_H
#define CELLVM_SERVE_H

#include <getopt.h>
#include <stdbool.h>

#include "backend.h"

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
	{ "help", no_argument, NULL, SERVE_OPT_HELP }

#define SERVE_USAGE                                                                \
	"  --socket-path PATH      listen on PATH and serve one frontend at a time\n"  \
	"  --fd N                  serve the connected socket N; exit when it closes\n" \
	"  --print-capabilities    print the backend's capabilities as JSON and exit\n" \
	"  --log-level LEVEL       error, warn, info (default) or debug\n"             \
	"  --help                  show this help\n"

struct serve_opts {
	const char *socket_path;
	int fd;
	bool print_caps;
	bool help;
};

void serve_opts_init(struct serve_opts *o);

/* Handles option c if it is one of SERVE_LONG_OPTIONS: 1 if handled, 0 if it
 * is the device's own, -EINVAL (logged) for a bad argument. */
int serve_opt(struct serve_opts *o, int c, const char *arg);

/* Checks that exactly one of --socket-path/--fd was given (logged). */
int serve_opts_check(const struct serve_opts *o);

/* Prints {"type": type, "features": [features...]} on stdout. */
void serve_print_capabilities(const char *type, const char *const *features);

/* Serves frontends on the options' socket with b (vub_init already called
 * with b->loop == NULL: serve creates the loop) until the frontend of --fd
 * hangs up or SIGTERM/SIGINT arrives. `setup`, if not NULL, runs once the
 * loop exists (devices add their own fds there). Returns a process exit
 * status. */
int serve_run(struct vub *b, const struct serve_opts *o, int (*setup)(struct vub *b));

#endif
