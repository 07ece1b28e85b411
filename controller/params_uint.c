#include "params_uint.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <json-c/json.h>

#include "errf.h"
#include "json_strict.h"
#include "json_words.h"
#include "rpc.h"

int params_uint_parse(const struct params_uint *p, const char *text, size_t len, uint64_t *out,
		      char *err, size_t errlen)
{
	struct json_strict_error e;
	json_object *top, *v;
	if (json_strict_parse(text, len, RPC_MAX_BODY, 2, &top, NULL, NULL, &e) < 0)
		return errf(err, errlen, -EINVAL, "params %s%s%s", e.where, e.where[0] ? ": " : "",
			    e.what);
	int r = 0;
	json_object_object_foreach(top, key, val) {
		(void)val;
		if (strcmp(key, p->key) != 0) {
			struct json_shown q;
			r = errf(err, errlen, -EINVAL, "params: unknown key %s (%s takes %s)",
				 json_show(&q, key, strlen(key), true), p->method, p->key);
			goto out;
		}
	}
	if (!json_object_object_get_ex(top, p->key, &v)) {
		r = errf(err, errlen, -EINVAL, "params.%s is missing: %s", p->key, p->what);
		goto out;
	}
	/* json-c saturates what int64 cannot hold: still out of range. */
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    (uint64_t)json_object_get_int64(v) > p->max) {
		r = errf(err, errlen, -EINVAL, "params.%s: want an integer 0..%" PRIu64 ", not %s",
			 p->key, p->max,
			 json_object_is_type(v, json_type_int) ? "that" : json_type_words(v));
		goto out;
	}
	*out = (uint64_t)json_object_get_int64(v);
out:
	json_object_put(top);
	return r;
}
