/* `cellvm run`'s command line: the VM's config as JSON text with the keys
 * of docs/config.md, and what the private cellvmd is started with. A bad
 * option is one line on stderr and -EINVAL; nothing else is printed. */
#ifndef CELLVM_RUN_OPTIONS_H
#define CELLVM_RUN_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "log.h"

struct run_options {
	char *config;           /* malloc'd JSON object */
	const char *sandbox;    /* --sandbox: the VM's processes and the controller's */
	const char *policy_dir; /* --policy-dir, or NULL */
	bool allow_degraded;
	const char *kvm_check;  /* --kvm-check, or NULL */
	enum log_level log_level;
	/* --vsock's socket directory, which the controller must allow
	 * (--allow-socket-dir); "" without --vsock. */
	char socket_dir[VM_CONFIG_SOCKET_MAX];
	bool help;              /* --help: nothing else is set */
};

void run_options_usage(FILE *f);

/* argv[0] is "run". Resets getopt first. 0 with *o set (free o->config),
 * or -EINVAL after one line on stderr. */
int run_options_parse(int argc, char **argv, struct run_options *o);

#endif
