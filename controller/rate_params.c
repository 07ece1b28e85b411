#include "rate_params.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "errf.h"
#include "json_strict.h"
#include "json_words.h"
#include "rpc.h"

/* Every key of o is one of keys[0..n). */
static int known_keys(json_object *o, const char *where, const char *const *keys, size_t n,
		      const char *want, char *err, size_t errlen)
{
	json_object_object_foreach(o, key, v) {
		(void)v;
		size_t k = 0;
		while (k < n && strcmp(key, keys[k]) != 0)
			k++;
		if (k == n) {
			struct json_shown q;
			return errf(err, errlen, -EINVAL, "%s: unknown key %s (%s)", where,
				   json_show(&q, key, strlen(key), true), want);
		}
	}
	return 0;
}

static int number(json_object *o, const char *where, const char *key, bool required,
		  uint64_t max, const char *range, uint64_t *out, char *err, size_t errlen)
{
	json_object *v;
	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return required ? errf(err, errlen, -EINVAL, "%s.%s is missing", where, key) : 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    (uint64_t)json_object_get_int64(v) > max)
		return errf(err, errlen, -EINVAL, "%s.%s: want an integer %s, not %s", where, key, range,
			   json_object_is_type(v, json_type_int) ? "that" : json_type_words(v));
	*out = (uint64_t)json_object_get_int64(v);
	return 0;
}

static int bucket(json_object *o, const char *where, const char *key, struct dev_ctl_bucket *b,
		  char *err, size_t errlen)
{
	static const char *const keys[] = { "size", "one_time_burst", "refill_time" };
	char at[96];
	json_object *v;
	*b = (struct dev_ctl_bucket){ .mode = DEV_CTL_BUCKET_KEEP };
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	snprintf(at, sizeof(at), "%s.%s", where, key);
	if (!json_object_is_type(v, json_type_object))
		return errf(err, errlen, -EINVAL, "%s: want an object, not %s", at, json_type_words(v));
	int r = known_keys(v, at, keys, 3, "size, one_time_burst, refill_time", err, errlen);
	if (!r)
		r = number(v, at, "size", true, RATE_PARAMS_MAX_VALUE, "0..2^53", &b->size, err,
			   errlen);
	if (!r)
		r = number(v, at, "one_time_burst", false, RATE_PARAMS_MAX_VALUE, "0..2^53",
			   &b->one_time_burst, err, errlen);
	if (!r)
		r = number(v, at, "refill_time", true, RATE_PARAMS_MAX_REFILL_MS,
			   "0..86400000 (ms: a day)", &b->refill_time_ms, err, errlen);
	if (r)
		return r;
	if (b->size == 0 || b->refill_time_ms == 0)
		*b = (struct dev_ctl_bucket){ .mode = DEV_CTL_BUCKET_DISABLE };
	else
		b->mode = DEV_CTL_BUCKET_SET;
	return 0;
}

int rate_params_limiter(json_object *v, const char *where, struct dev_ctl_limiter *out, char *err,
		       size_t errlen)
{
	static const char *const keys[] = { "bandwidth", "ops" };
	if (!json_object_is_type(v, json_type_object))
		return errf(err, errlen, -EINVAL, "%s: want an object, not %s", where, json_type_words(v));
	int r = known_keys(v, where, keys, 2, "bandwidth, ops", err, errlen);
	if (!r)
		r = bucket(v, where, "bandwidth", &out->bandwidth, err, errlen);
	if (!r)
		r = bucket(v, where, "ops", &out->ops, err, errlen);
	return r;
}

int rate_params_parse(const char *text, size_t len, char *device, size_t devlen,
			struct dev_ctl_rate_limit *out, char *err, size_t errlen)
{
	static const char *const blk_keys[] = { "device", "rate_limiter" };
	static const char *const net_keys[] = { "device", "rx_rate_limiter", "tx_rate_limiter" };
	struct json_strict_error e;
	json_object *top, *v;
	if (json_strict_parse(text, len, RPC_MAX_BODY, 4, &top, NULL, NULL, &e) < 0)
		return errf(err, errlen, -EINVAL, "params %s%s%s", e.where, e.where[0] ? ": " : "", e.what);
	*out = (struct dev_ctl_rate_limit){ 0 };
	int r = 0;
	if (!json_object_object_get_ex(top, "device", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= devlen) {
		r = errf(err, errlen, -EINVAL, "\"device\": want the device's name as Status gives it (blk0)");
		goto out;
	}
	snprintf(device, devlen, "%s", json_object_get_string(v));
	if (strncmp(device, "blk", 3) == 0) {
		r = known_keys(top, "params", blk_keys, 2, "a disk takes device, rate_limiter",
			       err, errlen);
		if (!r && json_object_object_get_ex(top, "rate_limiter", &v))
			r = rate_params_limiter(v, "rate_limiter", &out->limiter[DEV_CTL_RX], err,
					       errlen);
	} else if (strncmp(device, "net", 3) == 0) {
		r = known_keys(top, "params", net_keys, 3,
			       "a NIC takes device, rx_rate_limiter, tx_rate_limiter", err, errlen);
		if (!r && json_object_object_get_ex(top, "rx_rate_limiter", &v))
			r = rate_params_limiter(v, "rx_rate_limiter", &out->limiter[DEV_CTL_RX], err,
					       errlen);
		if (!r && json_object_object_get_ex(top, "tx_rate_limiter", &v))
			r = rate_params_limiter(v, "tx_rate_limiter", &out->limiter[DEV_CTL_TX], err,
					       errlen);
	} else {
		struct json_shown q;
		r = errf(err, errlen, -EINVAL, "\"device\": %s has no rate limiter (disks blkN and NICs netN do)",
			json_show(&q, device, strlen(device), true));
	}
out:
	json_object_put(top);
	return r;
}
