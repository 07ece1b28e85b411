#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "policy_bundle.h"
#include "seccomp_policy.h"

void confine_opts_init(struct confine_opts *o)
{
	*o = (struct confine_opts){ .mode = SANDBOX_ON, .policy_fd = -1 };
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
	case CONFINE_OPT_GIVEN_NS:
		o->given_ns = true;
		return 1;
	case CONFINE_OPT_POLICY_FD:
		if (cli_parse_fd(arg, &o->policy_fd) < 0) {
			log_err("--policy-fd %s: not an open file descriptor", arg);
			return -EINVAL;
		}
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

/* Where the policy files come from: a directory or a bundle. */
struct source {
	sp_reader read;
	void *opaque;
};

#ifdef CELLVM_SANITIZERS
/* In a sanitizer build, the policy of a kind is its file plus what the
 * sanitizers need (policy/sanitizers.policy), read through this top file. */
#define SANITIZED_TOP "sanitized-build.policy"

struct sanitized {
	const struct source *src;
	const char *kind_file;
};

static int read_sanitized(void *opaque, const char *name, char **text, size_t *len)
{
	const struct sanitized *s = opaque;
	if (strcmp(name, SANITIZED_TOP) != 0)
		return s->src->read(s->src->opaque, name, text, len);
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

static int parse_policy(const struct source *src, const char *file, struct sp_policy **p,
			char *err, size_t errlen)
{
#ifdef CELLVM_SANITIZERS
	struct sanitized s = { src, file };
	return sp_parse(SANITIZED_TOP, read_sanitized, &s, p, err, errlen);
#else
	return sp_parse(file, src->read, src->opaque, p, err, errlen);
#endif
}

/* A reader of the directory that also adds every file it reads to a bundle. */
struct recording {
	const char *dir;
	char *bundle;
	size_t len;
};

static int read_recorded(void *opaque, const char *name, char **text, size_t *len)
{
	struct recording *rec = opaque;
	int r = sp_read_file((void *)rec->dir, name, text, len);
	if (r < 0)
		return r;
	r = policy_bundle_add(&rec->bundle, &rec->len, name, *text, *len);
	if (r < 0)
		free(*text);
	return r;
}

int confine_policy_memfd(const char *dir, const char *kind)
{
	struct recording rec = { .dir = dir };
	struct source src = { read_recorded, &rec };
	char file[SP_NAME_MAX + 16], err[512];
	snprintf(file, sizeof(file), "%s.policy", kind);
	struct sp_policy *p;
	int fd = -1;
	int e = parse_policy(&src, file, &p, err, sizeof(err));
	if (e < 0) {
		log_err("policy %s/%s: %s", dir, file, err);
		goto out;
	}
	sp_free(p);
	fd = memfd_create(file, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || write(fd, rec.bundle, rec.len) != (ssize_t)rec.len ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		e = errno ? -errno : -EIO;
		log_err("policy %s/%s: its memfd: %s", dir, file, strerror(-e));
	}
out:
	free(rec.bundle);
	if (e < 0 && fd >= 0)
		close(fd);
	return e < 0 ? e : fd;
}

/* The bundle at fd (read whole, from offset 0: its copies in other children
 * share the file offset) into *b. 0 or -errno. */
static int read_bundle(int fd, char **b, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size > POLICY_BUNDLE_MAX)
		return -EINVAL;
	size_t n = (size_t)st.st_size, got = 0;
	if (!(*b = malloc(n ? n : 1)))
		return -ENOMEM;
	while (got < n) {
		ssize_t k = pread(fd, *b + got, n - got, (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int e = k < 0 ? -errno : -EIO;
			free(*b);
			return e;
		}
		got += (size_t)k;
	}
	*len = n;
	return 0;
}

int confine(const struct confine_opts *o, const struct confine_req *r)
{
	struct sandbox_cfg cfg = {
		.name = r->process, .mode = o->mode, .keep_fds = r->keep_fds, .nkeep = r->nkeep,
		.namespaces = r->namespaces, .new_tasks = r->new_tasks, .max_fds = r->max_fds,
		.writes_files = r->writes_files, .root_dir = r->root_dir, .before_filter = r->before_filter,
		.before_filter_arg = r->before_filter_arg, .allow_degraded = o->allow_degraded,
		.given_ns = o->given_ns,
	};
	char file[SP_NAME_MAX + 16];
	snprintf(file, sizeof(file), "%s.policy", r->kind);
	cfg.policy_name = file;
	/* The bundle is read below or not needed; nothing else reads it. */
	int bundle_fd = o->policy_fd;
	if (o->mode != SANDBOX_OFF) {
		const char *dir = o->policy_dir ? o->policy_dir : confine_default_policy_dir();
		struct policy_bundle pb = { 0 };
		struct source src = { sp_read_file, (void *)dir };
		struct sp_policy *p;
		char err[512] = "";
		int e = 0;
		if (bundle_fd >= 0) {
			char *b = NULL;
			dir = "(--policy-fd)";
			if ((e = read_bundle(bundle_fd, &b, &pb.len)) < 0)
				snprintf(err, sizeof(err), "reading it: %s", strerror(-e));
			pb.b = b;
			src = (struct source){ policy_bundle_read, &pb };
		}
		if (bundle_fd >= 0)
			close(bundle_fd);
		if (e == 0)
			e = parse_policy(&src, file, &p, err, sizeof(err));
		free((char *)pb.b);
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
	} else if (bundle_fd >= 0) {
		close(bundle_fd);
	}
	return sandbox_enter(&cfg);
}
