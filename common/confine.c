#include "confine.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "seccomp_policy.h"

void confine_opts_init(struct confine_opts *o)
{
	*o = (struct confine_opts){ .mode = SANDBOX_ON };
}

int confine_opt(struct confine_opts *o, int c, const char *arg)
{
	switch (c) {
	case CONFINE_OPT_SANDBOX:
		if (sandbox_parse_mode(arg, &o->mode) < 0) {
			log_err("--sandbox %s: use on, off or log", arg);
			return -EINVAL;
		}
		return 1;
	case CONFINE_OPT_POLICY_DIR:
		o->policy_dir = arg;
		return 1;
	case CONFINE_OPT_ALLOW_DEGRADED:
		o->allow_degraded = true;
		return 1;
	default:
		return 0;
	}
}

const char *confine_default_policy_dir(void)
{
	/* A binary under the build tree uses the policies next to its sources,
	 * so a build works before `make install`. */
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t blen = strlen(CELLVM_BUILD_DIR);
	if (n > 0) {
		self[n] = '\0';
		if (strncmp(self, CELLVM_BUILD_DIR, blen) == 0 && self[blen] == '/')
			return CELLVM_SRC_POLICY_DIR;
	}
	return CELLVM_POLICY_DIR;
}

#ifdef CELLVM_SANITIZERS
/* In a sanitizer build, the policy of a kind is its file plus what the
 * sanitizers need (policy/sanitizers.policy), read through this top file. */
#define SANITIZED_TOP "sanitized-build.policy"

struct sanitized {
	const char *dir;
	const char *kind_file;
};

static int read_sanitized(void *opaque, const char *name, char **text, size_t *len)
{
	const struct sanitized *s = opaque;
	if (strcmp(name, SANITIZED_TOP) != 0)
		return sp_read_file((void *)s->dir, name, text, len);
	char buf[SP_NAME_MAX + 64];
	int n = snprintf(buf, sizeof(buf), "@include %s\n@include sanitizers.policy\n",
			 s->kind_file);
	if (!(*text = strdup(buf)))
		return -ENOMEM;
	*len = (size_t)n;
	return 0;
}

/* LeakSanitizer's check at exit needs ptrace and /proc, which no confined
 * process has. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

static int parse_policy(const char *dir, const char *file, struct sp_policy **p, char *err,
			size_t errlen)
{
#ifdef CELLVM_SANITIZERS
	struct sanitized s = { dir, file };
	return sp_parse(SANITIZED_TOP, read_sanitized, &s, p, err, errlen);
#else
	return sp_parse(file, sp_read_file, (void *)dir, p, err, errlen);
#endif
}

int confine(const struct confine_opts *o, const struct confine_req *r)
{
	struct sandbox_cfg cfg = {
		.name = r->process, .mode = o->mode, .keep_fds = r->keep_fds, .nkeep = r->nkeep,
		.namespaces = r->namespaces, .new_tasks = r->new_tasks, .max_fds = r->max_fds,
		.writes_files = r->writes_files, .before_filter = r->before_filter,
		.before_filter_arg = r->before_filter_arg, .allow_degraded = o->allow_degraded,
	};
	char file[SP_NAME_MAX + 16];
	snprintf(file, sizeof(file), "%s.policy", r->kind);
	cfg.policy_name = file;
	if (o->mode != SANDBOX_OFF) {
		const char *dir = o->policy_dir ? o->policy_dir : confine_default_policy_dir();
		struct sp_policy *p;
		char err[512];
		int e = parse_policy(dir, file, &p, err, sizeof(err));
		if (e == 0) {
			enum sp_default def = o->mode == SANDBOX_ON ? SP_DEFAULT_TRAP
					      : r->spawns_confined  ? SP_DEFAULT_LOG
								    : SP_DEFAULT_NOTIFY;
			e = sp_compile(p, def, &cfg.filter, err, sizeof(err));
			sp_free(p);
		}
		if (e < 0) {
			log_err("policy %s/%s: %s", dir, file, err);
			return e;
		}
	}
	return sandbox_enter(&cfg);
}
