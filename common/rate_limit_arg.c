#include "rate_limit_arg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The fields, in the order rl_arg_format writes them. */
enum { F_SIZE, F_BURST, F_REFILL, NFIELDS };
static const char *const field_names[NFIELDS] = { "size", "one_time_burst", "refill_time" };
static const char *const bucket_names[2] = { "bandwidth", "ops" };

static uint64_t *field(struct rl_bucket_cfg *b, int f)
{
	return f == F_SIZE ? &b->size : f == F_BURST ? &b->one_time_burst : &b->refill_ms;
}

/* Whether s[0..len) is exactly word. */
static bool is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* Decimal digits only, no overflow. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* One KEY=VALUE into c; seen marks the fields given so far. */
static int parse_pair(const char *s, size_t len, struct rl_cfg *c, bool seen[2][NFIELDS],
		      const char **why)
{
	const char *eq = memchr(s, '=', len);
	const char *dot = memchr(s, '.', eq ? (size_t)(eq - s) : len);
	if (!eq || !dot) {
		*why = "want KEY=VALUE pairs separated by commas";
		return -EINVAL;
	}
	int b = -1, f = -1;
	for (int i = 0; i < 2; i++)
		if (is(s, (size_t)(dot - s), bucket_names[i]))
			b = i;
	for (int i = 0; i < NFIELDS; i++)
		if (is(dot + 1, (size_t)(eq - dot - 1), field_names[i]))
			f = i;
	if (b < 0 || f < 0) {
		*why = "unknown key: want bandwidth. or ops. followed by size, one_time_burst "
		       "or refill_time";
		return -EINVAL;
	}
	if (seen[b][f]) {
		*why = "a key is given twice";
		return -EINVAL;
	}
	seen[b][f] = true;
	if (parse_u64(eq + 1, len - (size_t)(eq + 1 - s), field(b ? &c->ops : &c->bandwidth, f))) {
		*why = "a value is not a decimal number of at most 20 digits";
		return -EINVAL;
	}
	return 0;
}

int rl_arg_parse(const char *s, size_t len, struct rl_cfg *out, const char **why)
{
	struct rl_cfg c = { 0 };
	bool seen[2][NFIELDS] = { { false } };
	if (len == 0) {
		*why = "empty: name a bucket, e.g. bandwidth.size=1048576,bandwidth.refill_time=125";
		return -EINVAL;
	}
	for (size_t start = 0; start <= len;) {
		const char *comma = memchr(s + start, ',', len - start);
		size_t end = comma ? (size_t)(comma - s) : len;
		if (parse_pair(s + start, end - start, &c, seen, why))
			return -EINVAL;
		start = end + 1;
	}
	for (int b = 0; b < 2; b++) {
		bool any = seen[b][F_SIZE] || seen[b][F_BURST] || seen[b][F_REFILL];
		if (any && !(seen[b][F_SIZE] && seen[b][F_REFILL])) {
			*why = "a bucket needs its size and its refill_time";
			return -EINVAL;
		}
	}
	if (!rl_bucket_cfg_ok(&c.bandwidth) || !rl_bucket_cfg_ok(&c.ops)) {
		*why = "out of range: sizes at most 9223372036854775807, refill_time at most "
		       "86400000 ms";
		return -EINVAL;
	}
	*out = c;
	return 0;
}

void rl_arg_format(const struct rl_cfg *c, char out[RL_ARG_MAX])
{
	size_t o = 0;
	out[0] = '\0';
	for (int b = 0; b < 2; b++) {
		struct rl_bucket_cfg bc = b ? c->ops : c->bandwidth;
		if (rl_bucket_unlimited(&bc))
			continue;
		for (int f = 0; f < NFIELDS; f++) {
			if (f == F_BURST && !bc.one_time_burst)
				continue;
			o += (size_t)snprintf(out + o, RL_ARG_MAX - o, "%s%s.%s=%llu", o ? "," : "",
					      bucket_names[b], field_names[f],
					      (unsigned long long)*field(&bc, f));
		}
	}
}
