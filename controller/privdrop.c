/* Switching to an unprivileged uid/gid and dropping every capability. */
#include "privdrop.h"

#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

#define ID_MAX 4294967294ul   /* (uid_t)-1 means "unchanged" to set*id() */
#define ID_DIGITS 10          /* of ID_MAX */
#define PW_BUF_MAX (1u << 20) /* getpwnam_r's buffer, at most */

static int parse_ids(const char *s, const char *colon, uid_t *uid, gid_t *gid)
{
	char num[ID_DIGITS + 1];
	size_t n = (size_t)(colon - s);
	unsigned long u, g;
	if (n == 0 || n > ID_DIGITS)
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	if (cli_parse_uint(num, 0, ID_MAX, &u) < 0 || cli_parse_uint(colon + 1, 0, ID_MAX, &g) < 0)
		return -EINVAL;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

static int lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
	for (size_t len = 1024;; len *= 2) {
		char *buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		struct passwd pw, *found = NULL;
		int err = getpwnam_r(name, &pw, buf, len, &found);
		if (err == 0 && found) {
			*uid = pw.pw_uid;
			*gid = pw.pw_gid;
		}
		free(buf);
		if (err == ERANGE && len < PW_BUF_MAX)
			continue;
		/* Not found is 0 with no entry, or one of these, depending on NSS. */
		if ((err == 0 && !found) || err == ENOENT || err == ESRCH)
			return -ENOENT;
		return -err;
	}
}

int privdrop_parse_user(const char *s, uid_t *uid, gid_t *gid)
{
	if (s[0] == '\0')
		return -EINVAL;
	const char *colon = strchr(s, ':');
	if (colon)
		return parse_ids(s, colon, uid, gid);
	return lookup_user(s, uid, gid);
}

/* Any bit of one capability set, as last read by capng_get_caps_process(). */
static bool holds_any(capng_type_t set)
{
	for (unsigned int cap = 0; cap < 64; cap++)
		if (capng_have_capability(set, cap) != 0)
			return true; /* CAPNG_FAIL counts as held */
	return false;
}

static bool in_groups_only(gid_t gid)
{
	gid_t g;
	return getgroups(0, NULL) == 1 && getgroups(1, &g) == 1 && g == gid;
}

/* Reads everything back from the kernel; the name of what did not take, or
 * NULL. libcap-ng's own summary is not enough: capng_have_capabilities()
 * reports its cached copy (empty after capng_clear) and only the effective
 * set, and capng_apply(CAPNG_SELECT_BOUNDS) returns 0 without CAP_SETPCAP
 * (0.8.3). */
static const char *verify(uid_t uid, gid_t gid, bool groups, bool bounds)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid || su != uid)
		return "the uid did not change";
	if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid)
		return "the gid did not change";
	if (groups && !in_groups_only(gid))
		return "supplementary groups are left";
	if (capng_get_caps_process() < 0)
		return "the capabilities cannot be read";
	if (holds_any(CAPNG_EFFECTIVE) || holds_any(CAPNG_PERMITTED) ||
	    holds_any(CAPNG_INHERITABLE))
		return "capabilities are left";
	if (bounds && holds_any(CAPNG_BOUNDING_SET))
		return "the bounding set is not empty";
	if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0)
		return "PR_SET_KEEPCAPS is still set";
	return NULL;
}

int privdrop_to(uid_t uid, gid_t gid)
{
	const char *step = "reading the capabilities";
	if (capng_get_caps_process() < 0)
		goto fail;
	bool groups = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETGID) == 1;
	bool bounds = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) == 1;

	/* Every set, bounding set included (CAPNG_SELECT_BOTH is caps + bounds;
	 * ambient follows permitted in the kernel). */
	capng_clear(CAPNG_SELECT_BOTH);
	step = "clearing the bounding set";
	if (bounds && capng_apply(CAPNG_SELECT_BOUNDS) < 0)
		goto fail;
	step = "setgroups";
	if (groups && setgroups(1, &gid) < 0)
		goto fail;
	/* So that leaving uid 0 empties the permitted set, as it should. */
	step = "PR_SET_KEEPCAPS";
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		goto fail;
	step = "setresgid";
	if (setresgid(gid, gid, gid) < 0)
		goto fail;
	step = "setresuid";
	if (setresuid(uid, uid, uid) < 0)
		goto fail;
	/* Leaving uid 0 emptied them already; this is for uid 0 kept, and for a
	 * non-root process given capabilities. */
	step = "clearing the capabilities";
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		goto fail;

	const char *wrong = verify(uid, gid, groups, bounds);
	if (wrong) {
		log_err("dropping privileges to %u:%u: %s", (unsigned)uid, (unsigned)gid, wrong);
		return -EPERM;
	}
	return 0;
fail:
	log_err("dropping privileges to %u:%u: %s: %s", (unsigned)uid, (unsigned)gid, step,
		strerror(errno));
	return -EPERM;
}
