#include "balloon_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "params_uint.h"

int balloon_params_parse(const char *text, size_t len, uint32_t *mib, char *err, size_t errlen)
{
	static const struct params_uint p = { "SetBalloon", "amount_mib",
					      "the balloon's target in MiB", BALLOON_JSON_MAX_MIB };
	uint64_t v;
	int r = params_uint_parse(&p, text, len, &v, err, errlen);
	if (!r)
		*mib = (uint32_t)v;
	return r;
}

int balloon_pages_parse(const char *text, size_t len, uint32_t *pages, char *err,
			size_t errlen)
{
	static const struct params_uint p = { "BalloonRequestNumPages", "requested_num_pages",
					      "the balloon's target in 4 KiB pages", UINT32_MAX };
	uint64_t v;
	int r = params_uint_parse(&p, text, len, &v, err, errlen);
	if (!r)
		*pages = (uint32_t)v;
	return r;
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static char *text_of(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	char *text = s ? strdup(s) : NULL;
	json_object_put(o);
	return text;
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
	return text_of(o);
}

char *balloon_size_json(const struct dev_ctl_balloon *b)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	add_u64(o, "current_num_pages", b->actual_pages);
	add_u64(o, "requested_num_pages", b->target_pages);
	return text_of(o);
}

char *balloon_mem_stats_json(const struct dev_ctl_balloon *b, bool stats_on)
{
	json_object *o = json_object_new_object(), *a = NULL;
	if (!o)
		return NULL;
	json_object_object_add(o, "status",
			       json_object_new_int(stats_on ? 0 : BALLOON_JSON_NOT_SUPPORTED));
	if (stats_on && !(a = json_object_new_array())) {
		json_object_put(o);
		return NULL;
	}
	for (unsigned t = 0; a && t < DEV_CTL_BALLOON_NSTATS; t++) {
		if (!(b->present & (1u << t)))
			continue;
		json_object *m = json_object_new_object();
		json_object_object_add(m, "tag", json_object_new_int((int)t));
		add_u64(m, "val", b->stat[t]);
		json_object_array_add(a, m);
	}
	json_object_object_add(o, "mem_stats", a);
	return text_of(o);
}
