#include "private_ctl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "lifecycle.h"
#include "spawn.h"

/* cellvmd's path: beside us when installed, in controller/ in the build tree. */
static int controller_path(const char *prog, char *path, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "%s: /proc/self/exe: %s\n", prog, strerror(errno));
		return -EIO;
	}
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(path, len, "%s/cellvmd", self);
	if (access(path, X_OK) < 0)
		snprintf(path, len, "%s/../controller/cellvmd", self);
	return 0;
}

int private_ctl_start(const struct private_ctl_opts *o, struct private_ctl *c)
{
	char path[PATH_MAX + 32];
	int sv[2], err = controller_path(o->prog, path, sizeof(path));
	if (err < 0)
		return err;
	if (o->noperator_args > PRIVATE_CTL_MAX_OPERATOR_ARGS) {
		fprintf(stderr, "%s: too many operator options\n", o->prog);
		return -E2BIG;
	}
	const char *argv[PRIVATE_CTL_MAX_ARGS] = { "cellvmd", "--client-fd", "3", "--log-level",
						   log_level_name(o->level), "--sandbox",
						   o->sandbox };
	size_t a = 7;
	bool floor = false;
	for (size_t i = 0; i < o->noperator_args; i++) {
		floor |= strcmp(o->operator_args[i], "--min-sandbox") == 0;
		argv[a++] = o->operator_args[i];
	}
	if (!floor) {
		/* Its user is the operator too: what it asks is its floor. */
		argv[a++] = "--min-sandbox";
		argv[a++] = o->sandbox;
	}
	if (o->policy_dir) {
		argv[a++] = "--policy-dir";
		argv[a++] = o->policy_dir;
	}
	if (o->allow_degraded)
		argv[a++] = "--allow-degraded";
	if (o->kvm_check) {
		argv[a++] = "--kvm-check";
		argv[a++] = o->kvm_check;
	}
	if (o->worker) {
		argv[a++] = "--worker";
		argv[a++] = o->worker;
	}
	argv[a] = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "%s: socketpair: %s\n", o->prog, strerror(errno));
		return -errno;
	}
	struct spawn_fd fd = { sv[1], 3 };
	err = spawn_child(&(struct spawn_req){ .path = path, .argv = (char **)argv, .fds = &fd,
					       .nfds = 1, .stderr_fd = -1 },
			  &c->pid, &c->pidfd);
	close(sv[1]);
	if (err < 0) {
		fprintf(stderr, "%s: starting %s: %s\n", o->prog, path, strerror(-err));
		close(sv[0]);
		return err;
	}
	c->sock = sv[0];
	return 0;
}

int private_ctl_boot(struct private_ctl *c, const char *config, uint32_t create_id,
		     uint32_t run_id, char *err, size_t errlen)
{
	struct rpc_reply r = { 0 };
	int fd, code;
	if (client_call(c->sock, create_id, RPC_CREATE, config, NULL, 0, &r, &fd, err, errlen) < 0)
		return -EIO;
	if (fd >= 0)
		close(fd);
	if (!r.ok) {
		snprintf(err, errlen, "%s: %s", lifecycle_error_name(r.code), r.message);
		rpc_reply_free(&r);
		return -EINVAL;
	}
	rpc_reply_free(&r);
	int serial = client_open_stream(c->sock, 0, &code, err, errlen);
	if (serial < 0)
		return serial;
	int e = client_send(c->sock, run_id, RPC_RUN, NULL, NULL, 0, err, errlen);
	if (e < 0) {
		close(serial);
		return e;
	}
	return serial;
}

void private_ctl_end(struct private_ctl *c)
{
	int ws;
	close(c->sock);
	while (waitpid(c->pid, &ws, 0) < 0 && errno == EINTR)
		;
	close(c->pidfd);
}
