/* A private cellvmd for one program's one VM (`cellvm run`, cellvm-fc):
 * started on a socketpair (its --client-fd), found beside the program's
 * binary (installed) or in the build tree, and driven through Create and Run
 * with the guest's serial attached. Its user is its owner, so the sandbox it
 * is asked for is its floor unless the owner gives operator options
 * (docs/deploy.md) of their own. */
#ifndef CELLVM_PRIVATE_CTL_H
#define CELLVM_PRIVATE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "log.h"

#define PRIVATE_CTL_MAX_ARGS 48
/* The operator options' words, at most: the rest is for cellvmd's own. */
#define PRIVATE_CTL_MAX_OPERATOR_ARGS (PRIVATE_CTL_MAX_ARGS - 20)

struct private_ctl_opts {
	const char *prog;        /* for messages: "cellvm", "cellvm-fc" */
	enum log_level level;
	const char *sandbox;     /* cellvmd's own --sandbox: on, off, log */
	const char *policy_dir;  /* NULL: the default */
	bool allow_degraded;
	const char *kvm_check;   /* NULL: the default */
	const char *worker;      /* cellvmd's --worker (tests: a fake); NULL: the default */
	/* The owner's operator options, as given (e.g. "--allow-dir", "/srv");
	 * without --min-sandbox among them, the floor is `sandbox`. */
	const char *const *operator_args;
	size_t noperator_args;
};

struct private_ctl {
	int sock;   /* our end of the socketpair */
	pid_t pid;
	int pidfd;
};

/* Starts the controller: 0, or -errno with a line on stderr. */
int private_ctl_start(const struct private_ctl_opts *o, struct private_ctl *c);

/* Create with config (JSON text), then the serial stream, then Run sent
 * (its reply, with id run_id, comes when the VM ends): the serial's fd, or
 * -errno with the reason in err ("BAD_CONFIG: ..." for the controller's). */
int private_ctl_boot(struct private_ctl *c, const char *config, uint32_t create_id,
		     uint32_t run_id, char *err, size_t errlen);

/* Hangs up (the controller stops what is left and exits) and reaps it. */
void private_ctl_end(struct private_ctl *c);

#endif
