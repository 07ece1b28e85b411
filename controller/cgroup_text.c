/* Parsers of cgroup v2 interface files (cgroup_text.h). */
#include "cgroup_text.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cgroup_policy.h"

static bool word_is(const char *w, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(w, s, n) == 0;
}

int cgroup_parse_controllers(const char *buf, size_t len, unsigned *mask)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = { { "memory", CGROUP_CTL_MEMORY }, { "pids", CGROUP_CTL_PIDS },
		      { "cpu", CGROUP_CTL_CPU } };
	unsigned m = 0;
	size_t i = 0;
	while (i < len) {
		if (buf[i] == ' ' || buf[i] == '\n') {
			i++;
			continue;
		}
		size_t start = i;
		while (i < len && buf[i] != ' ' && buf[i] != '\n') {
			if (buf[i] < '!' || buf[i] > '~')
				return -EINVAL;
			i++;
		}
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (word_is(buf + start, i - start, known[k].name))
				m |= known[k].bit;
	}
	*mask = m;
	return 0;
}

/* Decimal digits, all of buf[0..n), no overflow. */
static int parse_u64(const char *buf, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	if (n == 0 || n > 20)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(buf[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int cgroup_parse_value(const char *buf, size_t len, uint64_t *v)
{
	if (len && buf[len - 1] == '\n')
		len--;
	if (word_is(buf, len, "max")) {
		*v = CGROUP_MAX;
		return 0;
	}
	return parse_u64(buf, len, v);
}

int cgroup_parse_keyed(const char *buf, size_t len, const char *key, uint64_t *v)
{
	int found = -ENOENT;
	uint64_t val = 0;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len;
		const char *sp = memchr(buf + i, ' ', end - i);
		if (!sp || sp == buf + i)
			return -EINVAL;
		size_t klen = (size_t)(sp - (buf + i));
		uint64_t x;
		if (parse_u64(sp + 1, end - (size_t)(sp + 1 - buf), &x) < 0)
			return -EINVAL;
		if (found < 0 && word_is(buf + i, klen, key)) {
			val = x;
			found = 0;
		}
		i = end + 1;
	}
	if (found == 0)
		*v = val;
	return found;
}

struct key {
	const char *name;
	size_t off;     /* of the field in struct cgroup_stats */
	bool optional;  /* not in every kernel, or not without a controller */
};

#define K(name, field, opt) { name, offsetof(struct cgroup_stats, field), opt }

static const struct key memory_stat[] = {
	K("anon", anon, false), K("file", file, false), K("shmem", shmem, false),
	K("kernel", kernel, true), { NULL, 0, false },
};
static const struct key memory_events[] = {
	K("oom", oom, false), K("oom_kill", oom_kill, false), { NULL, 0, false },
};
static const struct key cpu_stat[] = {
	K("usage_usec", cpu_usage_usec, false), K("user_usec", cpu_user_usec, false),
	K("system_usec", cpu_system_usec, false), K("nr_throttled", nr_throttled, true),
	K("throttled_usec", throttled_usec, true), { NULL, 0, false },
};

/* Every key of keys into a copy of *out, which is only written when all
 * came out right. */
static int parse_keys(const struct key *keys, const char *buf, size_t len,
		      struct cgroup_stats *out)
{
	struct cgroup_stats s = *out;
	for (const struct key *k = keys; k->name; k++) {
		uint64_t v = 0;
		int r = cgroup_parse_keyed(buf, len, k->name, &v);
		if (r == -ENOENT && k->optional)
			v = 0;
		else if (r < 0)
			return -EINVAL;
		memcpy((char *)&s + k->off, &v, sizeof(v));
	}
	*out = s;
	return 0;
}

int cgroup_stats_parse(enum cgroup_stat_file which, const char *buf, size_t len,
		       struct cgroup_stats *out)
{
	int r;
	uint64_t v;
	switch (which) {
	case CGROUP_FILE_MEMORY_CURRENT:
		if ((r = cgroup_parse_value(buf, len, &v)) == 0)
			out->memory_current = v;
		break;
	case CGROUP_FILE_PIDS_CURRENT:
		if ((r = cgroup_parse_value(buf, len, &v)) == 0)
			out->pids_current = v;
		break;
	case CGROUP_FILE_MEMORY_STAT: r = parse_keys(memory_stat, buf, len, out); break;
	case CGROUP_FILE_MEMORY_EVENTS: r = parse_keys(memory_events, buf, len, out); break;
	case CGROUP_FILE_CPU_STAT: r = parse_keys(cpu_stat, buf, len, out); break;
	default: return -EINVAL;
	}
	if (r < 0)
		return -EINVAL;
	out->have |= which;
	return 0;
}
