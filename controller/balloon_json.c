#include "balloon_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "errf.h"
#include "json_strict.h"
#include "json_words.h"
#include "rpc.h"

int balloon_params_parse(const char *text, size_t len, uint32_t *mib, char *err, size_t errlen)
{
	struct json_strict_error e;
	json_object *top, *v;
	if (json_strict_parse(text, len, RPC_MAX_BODY, 2, &top, NULL, NULL, &e) < 0)
		return errf(err, errlen, -EINVAL, "params %s%s%s", e.where, e.where[0] ? ": " : "",
			    e.what);
	int r = 0;
	json_object_object_foreach(top, key, val) {
		(void)val;
		if (strcmp(key, "amount_mib") != 0) {
			struct json_shown q;
			r = errf(err, errlen, -EINVAL, "params: unknown key %s (SetBalloon takes "
						       "amount_mib)", json_show(&q, key, strlen(key), true));
			goto out;
		}
	}
	if (!json_object_object_get_ex(top, "amount_mib", &v)) {
		r = errf(err, errlen, -EINVAL, "params.amount_mib is missing: the balloon's target in MiB");
		goto out;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    json_object_get_int64(v) > (int64_t)BALLOON_JSON_MAX_MIB) {
		r = errf(err, errlen, -EINVAL, "params.amount_mib: want an integer 0..%u, not %s",
			 BALLOON_JSON_MAX_MIB,
			 json_object_is_type(v, json_type_int) ? "that" : json_type_words(v));
		goto out;
	}
	*mib = (uint32_t)json_object_get_int64(v);
out:
	json_object_put(top);
	return r;
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

char *balloon_stats_json(const struct dev_ctl_balloon *b)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	add_u64(o, "target_pages", b->target_pages);
	add_u64(o, "actual_pages", b->actual_pages);
	add_u64(o, "target_mib", b->target_pages / BALLOON_JSON_PAGES_PER_MIB);
	add_u64(o, "actual_mib", b->actual_pages / BALLOON_JSON_PAGES_PER_MIB);
	for (unsigned t = 0; t < DEV_CTL_BALLOON_NSTATS; t++)
		if (b->present & (1u << t))
			add_u64(o, dev_ctl_balloon_stat_name(t), b->stat[t]);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	char *text = s ? strdup(s) : NULL;
	json_object_put(o);
	return text;
}
