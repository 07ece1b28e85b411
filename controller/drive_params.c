#include "drive_params.h"

#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "errf.h"
#include "json_strict.h"
#include "json_words.h"
#include "rpc.h"

/* params.KEY as a string of 1..cap-1 bytes into out. */
static int string_key(json_object *top, const char *key, const char *what, char *out,
		      size_t cap, char *err, size_t errlen)
{
	json_object *v;
	if (!json_object_object_get_ex(top, key, &v))
		return errf(err, errlen, -EINVAL, "params.%s is missing: %s", key, what);
	if (!json_object_is_type(v, json_type_string))
		return errf(err, errlen, -EINVAL, "params.%s: want a string, not %s", key,
			    json_type_words(v));
	size_t n = (size_t)json_object_get_string_len(v);
	const char *s = json_object_get_string(v);
	if (n == 0 || n >= cap || memchr(s, '\0', n))
		return errf(err, errlen, -EINVAL,
			    "params.%s: want 1..%zu bytes without a NUL (%s), not %zu", key,
			    cap - 1, what, n);
	memcpy(out, s, n + 1);
	return 0;
}

int drive_params_parse(const char *text, size_t len, char *device, size_t devlen, char *path,
		       size_t pathlen, char *err, size_t errlen)
{
	struct json_strict_error e;
	json_object *top;
	if (json_strict_parse(text, len, RPC_MAX_BODY, 2, &top, NULL, NULL, &e) < 0)
		return errf(err, errlen, -EINVAL, "params %s%s%s", e.where, e.where[0] ? ": " : "",
			    e.what);
	int r = 0;
	json_object_object_foreach(top, key, val) {
		(void)val;
		if (strcmp(key, "device") && strcmp(key, "path")) {
			struct json_shown q;
			r = errf(err, errlen, -EINVAL,
				 "params: unknown key %s (UpdateBlockDevice takes device, path)",
				 json_show(&q, key, strlen(key), true));
			goto out;
		}
	}
	if ((r = string_key(top, "device", "the disk's name, blk0..", device, devlen, err,
			    errlen)) == 0)
		r = string_key(top, "path", "the image to serve from now on", path, pathlen, err,
			       errlen);
out:
	json_object_put(top);
	return r;
}
