/* The RPC codec. Each JSON text must pass the one strict-JSON check
 * (json_strict.h) with the RPC's limits. Then the members of each object the
 * codec reads are walked in the text (json-c's tree has no offsets): each key
 * known, and params/result handed out as the sender's own bytes. Values are
 * read from json-c's tree. */
#include "rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "json_strict.h"
#include "json_words.h"
#include "lifecycle.h"

static const char *const method_names[RPC_METHOD_COUNT] = {
	[RPC_CREATE] = "Create",     [RPC_BIND] = "Bind",
	[RPC_RUN] = "Run",           [RPC_STOP] = "Stop",
	[RPC_STATUS] = "Status",     [RPC_GET_SERIAL] = "GetSerial",
	[RPC_GET_CONSOLE] = "GetConsole", [RPC_METRICS] = "Metrics",
	[RPC_SET_RATE_LIMITER] = "SetRateLimiter",
	[RPC_SET_BALLOON] = "SetBalloon", [RPC_BALLOON_STATS] = "BalloonStats",
	[RPC_HOST_VSOCK_CONNECT] = "HostVsockConnect",
	[RPC_BALLOON_GET_SIZE] = "BalloonGetSize",
	[RPC_BALLOON_REQUEST_NUM_PAGES] = "BalloonRequestNumPages",
	[RPC_BALLOON_GET_MEM_STATS] = "BalloonGetMemStats",
	[RPC_UPDATE_BLOCK_DEVICE] = "UpdateBlockDevice",
};

const char *rpc_method_name(enum rpc_method m)
{
	return (unsigned)m < RPC_METHOD_COUNT ? method_names[m] : "UNKNOWN";
}

unsigned rpc_method_fds(enum rpc_method m)
{
	return m == RPC_BIND ? 1 : 0;
}

bool rpc_method_params(enum rpc_method m)
{
	return m == RPC_CREATE || m == RPC_SET_RATE_LIMITER || m == RPC_SET_BALLOON ||
	       m == RPC_HOST_VSOCK_CONNECT || m == RPC_BALLOON_REQUEST_NUM_PAGES ||
	       m == RPC_UPDATE_BLOCK_DEVICE;
}

bool rpc_method_guest(enum rpc_method m)
{
	return m == RPC_GET_SERIAL || m == RPC_GET_CONSOLE || m == RPC_HOST_VSOCK_CONNECT ||
	       m == RPC_BALLOON_GET_SIZE || m == RPC_BALLOON_REQUEST_NUM_PAGES ||
	       m == RPC_BALLOON_GET_MEM_STATS;
}

int rpc_frame_length(const uint8_t hdr[4], uint32_t *len)
{
	uint32_t n = get_le32(hdr);
	if (n == 0 || n > RPC_MAX_BODY)
		return -EMSGSIZE;
	*len = n;
	return 0;
}

/* ------------------------------------------------------------ messages */

struct ctx {
	char *err;
	size_t errlen;
};

/* Writes one line to err; returns -EINVAL. */
__attribute__((format(printf, 2, 3))) static int fail(struct ctx *c, const char *fmt, ...)
{
	if (c->err && c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int no_memory(struct ctx *c)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "out of memory");
	return -ENOMEM;
}

/* ------------------------------------------------------------ the text */

/* text[off..off+len) */
struct span {
	size_t off, len;
};

static size_t skip_ws(const char *s, size_t i, size_t end)
{
	while (i < end && json_is_ws(s[i]))
		i++;
	return i;
}

/* From the opening quote at s[i] to just past the closing one. */
static size_t skip_string(const char *s, size_t i, size_t end)
{
	for (i++; i < end && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i < end ? i + 1 : end;
}

/* From the value at s[i] to just past it. */
static size_t skip_value(const char *s, size_t i, size_t end)
{
	if (i < end && s[i] == '"')
		return skip_string(s, i, end);
	if (i < end && (s[i] == '{' || s[i] == '[')) {
		size_t depth = 0;
		while (i < end) {
			if (s[i] == '"') {
				i = skip_string(s, i, end);
				continue;
			}
			if (s[i] == '{' || s[i] == '[')
				depth++;
			else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
				return i + 1;
			i++;
		}
		return end;
	}
	while (i < end && !json_is_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']')
		i++;
	return i;
}

/* Checks that text[0..len) is one JSON object as rpc.h says, nested at most
 * max_depth deep. Returns json-c's tree of it and where it lies (from '{' to
 * '}', without the whitespace around it). */
static int parse_object(struct ctx *c, const char *text, size_t len, int max_depth,
			struct json_object **out, struct span *where)
{
	struct json_strict_error e;
	int ret = json_strict_parse(text, len, RPC_MAX_BODY, max_depth, out, &where->off,
				    &where->len, &e);
	if (ret == -ENOMEM)
		return no_memory(c);
	if (ret && e.off == JSON_STRICT_WHOLE)
		return fail(c, "the body %s", e.what);
	if (ret)
		return fail(c, "byte %zu: %s%s%s", e.off, e.where, e.where[0] ? ": " : "", e.what);
	return 0;
}

/* The next member of an object whose text json-c accepted: from *pos (just
 * past '{' or a ','), the key's span (with its quotes) and the value's.
 * Returns false at the closing brace, s[end]. */
static bool next_member(const char *s, size_t *pos, size_t end, struct span *key,
			struct span *val)
{
	size_t i = skip_ws(s, *pos, end);
	if (i >= end || s[i] != '"')
		return false;
	key->off = i;
	i = skip_string(s, i, end);
	key->len = i - key->off;
	i = skip_ws(s, i, end);
	if (i < end)
		i++; /* ':' */
	i = skip_ws(s, i, end);
	val->off = i;
	i = skip_value(s, i, end);
	val->len = i - val->off;
	i = skip_ws(s, i, end);
	if (i < end && s[i] == ',')
		i++;
	*pos = i;
	return true;
}

/* Walks the members of the object at obj (the strict check has refused a
 * repeated key): each key must be one of known[]; vals[k] is set to known[k]'s value (len 0: absent).
 * `where` prefixes messages ("" or "\"error\": "), `has` lists the keys. */
static int read_members(struct ctx *c, const char *s, struct span obj, const char *const *known,
			size_t nknown, const char *where, const char *has, struct span *vals)
{
	struct json_tokener *ktok = json_tokener_new();
	if (!ktok)
		return no_memory(c);
	for (size_t k = 0; k < nknown; k++)
		vals[k] = (struct span){ 0, 0 };
	size_t pos = obj.off + 1, end = obj.off + obj.len - 1;
	struct span key, val;
	int ret = 0;
	while (!ret && next_member(s, &pos, end, &key, &val)) {
		/* json-c decodes the key's escapes, as it did for the tree. */
		json_tokener_reset(ktok);
		struct json_object *kobj = json_tokener_parse_ex(ktok, s + key.off, (int)key.len);
		if (!kobj) {
			ret = no_memory(c);
			break;
		}
		const char *name = json_object_get_string(kobj);
		size_t n = (size_t)json_object_get_string_len(kobj);
		size_t k = 0;
		while (k < nknown && !(strlen(known[k]) == n && !memcmp(known[k], name, n)))
			k++;
		struct json_shown q;
		if (k == nknown)
			ret = fail(c, "%sunknown key %s: %s", where, json_show(&q, name, n, true), has);
		else
			vals[k] = val;
		json_object_put(kobj);
	}
	json_tokener_free(ktok);
	return ret;
}

/* The value of a member read_members() found. */
static struct json_object *member(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(obj, key, &v);
	return v;
}

/* An integer member in lo..hi. `name` is how messages call it. */
static int get_int(struct ctx *c, struct json_object *obj, const char *key, const char *name,
		   const char *text, struct span sp, int64_t lo, int64_t hi, int64_t *out)
{
	if (!sp.len)
		return fail(c, "\"%s\" is missing: want an integer %" PRId64 "..%" PRId64, name, lo,
			    hi);
	struct json_object *v = member(obj, key);
	if (!json_object_is_type(v, json_type_int))
		return fail(c, "\"%s\": want an integer %" PRId64 "..%" PRId64 ", not %s", name, lo,
			    hi, json_type_words(v));
	/* json-c saturates what int64 cannot hold: still out of range. */
	int64_t x = json_object_get_int64(v);
	struct json_shown q;
	if (x < lo || x > hi)
		return fail(c, "\"%s\": %s is out of range %" PRId64 "..%" PRId64, name,
			    json_show(&q, text + sp.off, sp.len, false), lo, hi);
	*out = x;
	return 0;
}

/* A string member: its bytes (may hold NULs) and length. */
static int get_string(struct ctx *c, struct json_object *obj, const char *key, const char *name,
		      struct span sp, const char *want, const char **s, size_t *n)
{
	if (!sp.len)
		return fail(c, "\"%s\" is missing: want %s", name, want);
	struct json_object *v = member(obj, key);
	if (!json_object_is_type(v, json_type_string))
		return fail(c, "\"%s\": want %s, not %s", name, want, json_type_words(v));
	*s = json_object_get_string(v);
	*n = (size_t)json_object_get_string_len(v);
	return 0;
}

/* An object member's own text, malloc'd and NUL-terminated. */
static int copy_object(struct ctx *c, struct json_object *obj, const char *key,
		       const char *text, struct span sp, char **out)
{
	struct json_object *v = member(obj, key);
	if (!json_object_is_type(v, json_type_object))
		return fail(c, "\"%s\": want an object, not %s", key, json_type_words(v));
	char *p = malloc(sp.len + 1);
	if (!p)
		return no_memory(c);
	memcpy(p, text + sp.off, sp.len);
	p[sp.len] = '\0';
	*out = p;
	return 0;
}

/* ------------------------------------------------------------ requests */

int rpc_parse_request(const char *body, size_t len, struct rpc_request *out, char *err,
		      size_t errlen)
{
	static const char *const keys[] = { "id", "method", "params" };
	enum { K_ID, K_METHOD, K_PARAMS, K_COUNT };
	struct ctx c = { err, errlen };
	struct json_object *top;
	struct span obj, vals[K_COUNT];
	int ret = parse_object(&c, body, len, RPC_MAX_DEPTH, &top, &obj);
	if (ret)
		return ret;

	struct rpc_request r = { 0 };
	int64_t id = 0;
	const char *m = NULL;
	size_t mlen = 0;
	ret = read_members(&c, body, obj, keys, K_COUNT, "", "a request has id, method and params",
			   vals);
	if (!ret)
		ret = get_int(&c, top, "id", "id", body, vals[K_ID], 0, UINT32_MAX, &id);
	if (!ret)
		ret = get_string(&c, top, "method", "method", vals[K_METHOD], "a method name",
				 &m, &mlen);
	if (ret)
		goto out;
	r.id = (uint32_t)id;
	size_t k = 0;
	while (k < RPC_METHOD_COUNT &&
	       !(strlen(method_names[k]) == mlen && !memcmp(method_names[k], m, mlen)))
		k++;
	if (k == RPC_METHOD_COUNT) {
		char list[320];
		size_t o = 0;
		for (size_t i = 0; i < RPC_METHOD_COUNT && o < sizeof(list); i++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
					      method_names[i]);
		struct json_shown q;
		ret = fail(&c, "\"method\": %s is not a method (%s)", json_show(&q, m, mlen, true),
			   list);
		goto out;
	}
	r.method = (enum rpc_method)k;
	if (r.method == RPC_CREATE && !vals[K_PARAMS].len)
		ret = fail(&c, "\"params\" is missing: Create takes the config as an object");
	else if (rpc_method_params(r.method) && !vals[K_PARAMS].len)
		ret = fail(&c, "\"params\" is missing: %s takes an object", method_names[k]);
	else if (!rpc_method_params(r.method) && vals[K_PARAMS].len)
		ret = fail(&c, "\"params\": %s takes none", method_names[k]);
	else if (rpc_method_params(r.method))
		ret = copy_object(&c, top, "params", body, vals[K_PARAMS], &r.params);
	if (!ret)
		*out = r;
out:
	json_object_put(top);
	return ret;
}

void rpc_request_free(struct rpc_request *r)
{
	free(r->params);
	r->params = NULL;
}

/* ------------------------------------------------------------ replies */

/* The message as rpc.h promises: cut to fit, not inside a UTF-8 character
 * (at most 3 continuation bytes to step back over), control bytes as '?'. */
static void copy_message(char dst[RPC_MESSAGE_MAX], const char *s, size_t n)
{
	size_t cut = n < RPC_MESSAGE_MAX - 1 ? n : RPC_MESSAGE_MAX - 1;
	for (int k = 0; k < 3 && cut < n && cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80; k++)
		cut--;
	for (size_t i = 0; i < cut; i++) {
		unsigned char ch = (unsigned char)s[i];
		dst[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	dst[cut] = '\0';
}

static int parse_error(struct ctx *c, const char *body, struct json_object *eobj,
		       struct span obj, struct rpc_reply *r)
{
	static const char *const keys[] = { "code", "name", "message" };
	enum { K_CODE, K_NAME, K_MESSAGE, K_COUNT };
	struct span vals[K_COUNT];
	int64_t code = 0;
	const char *name = NULL, *msg = NULL;
	size_t nlen = 0, mlen = 0;
	int ret = read_members(c, body, obj, keys, K_COUNT, "\"error\": ",
			       "it has code, name and message", vals);
	if (!ret)
		ret = get_int(c, eobj, "code", "error.code", body, vals[K_CODE], 1, LC_ERR_MAX,
			      &code);
	if (!ret)
		ret = get_string(c, eobj, "name", "error.name", vals[K_NAME],
				 "the code's name such as \"NOT_CREATED\"", &name, &nlen);
	if (!ret)
		ret = get_string(c, eobj, "message", "error.message", vals[K_MESSAGE],
				 "a string", &msg, &mlen);
	if (ret)
		return ret;
	/* A name with a NUL in it matches no name: its C string is shorter. */
	int named = strlen(name) == nlen ? lifecycle_error_from_name(name) : -1;
	if (named != code) {
		struct json_shown q;
		return fail(c, "\"error.name\": %s does not match \"code\": %d (%s)",
			    json_show(&q, name, nlen, true), (int)code, lifecycle_error_name((int)code));
	}
	r->code = (int)code;
	copy_message(r->message, msg, mlen);
	return 0;
}

static int parse_epitaph(struct ctx *c, struct json_object *top, struct rpc_reply *r)
{
	struct json_object *v = member(top, "epitaph");
	if (!json_object_is_type(v, json_type_string))
		return fail(c, "\"epitaph\": want \"ok\" or \"internal\", not %s", json_type_words(v));
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	bool ok = n == 2 && !memcmp(s, "ok", 2);
	if (!ok && !(n == 8 && !memcmp(s, "internal", 8))) {
		struct json_shown q;
		return fail(c, "\"epitaph\": want \"ok\" or \"internal\", not %s",
			    json_show(&q, s, n, true));
	}
	r->epitaph = true;
	r->epitaph_ok = ok;
	return 0;
}

int rpc_parse_reply(const char *body, size_t len, struct rpc_reply *out, char *err,
		    size_t errlen)
{
	static const char *const keys[] = { "id", "ok", "result", "error", "epitaph" };
	enum { K_ID, K_OK, K_RESULT, K_ERROR, K_EPITAPH, K_COUNT };
	struct ctx c = { err, errlen };
	struct json_object *top;
	struct span obj, vals[K_COUNT];
	int ret = parse_object(&c, body, len, RPC_MAX_DEPTH, &top, &obj);
	if (ret)
		return ret;

	struct rpc_reply r = { 0 };
	int64_t id = 0;
	ret = read_members(&c, body, obj, keys, K_COUNT, "",
			   "a reply has id, ok, result and error; an epitaph has epitaph alone",
			   vals);
	if (ret)
		goto out;
	if (vals[K_EPITAPH].len) {
		for (size_t k = 0; k < K_EPITAPH; k++)
			if (vals[k].len) {
				ret = fail(&c, "\"epitaph\" comes alone, not with \"%s\"", keys[k]);
				goto out;
			}
		ret = parse_epitaph(&c, top, &r);
		goto done;
	}
	if ((ret = get_int(&c, top, "id", "id", body, vals[K_ID], 0, UINT32_MAX, &id)))
		goto out;
	r.id = (uint32_t)id;
	struct json_object *ok = member(top, "ok");
	if (!vals[K_OK].len)
		ret = fail(&c, "\"ok\" is missing: want true or false");
	else if (!json_object_is_type(ok, json_type_boolean))
		ret = fail(&c, "\"ok\": want true or false, not %s", json_type_words(ok));
	if (ret)
		goto out;
	r.ok = json_object_get_boolean(ok);
	if (r.ok && vals[K_ERROR].len) {
		ret = fail(&c, "\"error\": a reply with \"ok\": true has none");
	} else if (!r.ok && vals[K_RESULT].len) {
		ret = fail(&c, "\"result\": a reply with \"ok\": false has none");
	} else if (r.ok && vals[K_RESULT].len) {
		ret = copy_object(&c, top, "result", body, vals[K_RESULT], &r.result);
	} else if (r.ok) {
		if (!(r.result = strdup("{}")))
			ret = no_memory(&c);
	} else if (!vals[K_ERROR].len) {
		ret = fail(&c, "\"error\" is missing: a reply with \"ok\": false needs one");
	} else {
		struct json_object *e = member(top, "error");
		if (!json_object_is_type(e, json_type_object))
			ret = fail(&c, "\"error\": want an object, not %s", json_type_words(e));
		else
			ret = parse_error(&c, body, e, vals[K_ERROR], &r);
	}
done:
	if (!ret)
		*out = r;
out:
	json_object_put(top);
	return ret;
}

void rpc_reply_free(struct rpc_reply *r)
{
	free(r->result);
	r->result = NULL;
}

/* ------------------------------------------------------------ encoders */

/* A frame being written into out[0..cap): the body after 4 bytes of prefix. */
struct frame {
	uint8_t *p;
	size_t cap, len;
	bool full;
};

static void put(struct frame *f, const char *s, size_t n)
{
	if (f->full || n > f->cap - f->len) {
		f->full = true;
		return;
	}
	memcpy(f->p + f->len, s, n);
	f->len += n;
}

static void put_str(struct frame *f, const char *s)
{
	put(f, s, strlen(s));
}

static void put_u32(struct frame *f, uint32_t v)
{
	char b[16];
	put(f, b, (size_t)snprintf(b, sizeof(b), "%" PRIu32, v));
}

static struct frame frame_begin(uint8_t *out, size_t cap)
{
	return (struct frame){ .p = out, .cap = cap, .len = 4, .full = cap < 4 };
}

static int frame_end(struct frame *f)
{
	if (f->full || f->len - 4 > RPC_MAX_BODY)
		return -EMSGSIZE;
	put_le32(f->p, (uint32_t)(f->len - 4));
	return (int)f->len;
}

/* text as one JSON object that can be embedded in a body: where it lies. */
static int embeddable(const char *text, struct span *where)
{
	size_t len = strnlen(text, RPC_MAX_BODY + 1);
	if (len > RPC_MAX_BODY)
		return -EMSGSIZE;
	struct ctx c = { NULL, 0 };
	struct json_object *o;
	int ret = parse_object(&c, text, len, RPC_MAX_DEPTH - 1, &o, where);
	if (!ret)
		json_object_put(o);
	return ret;
}

int rpc_encode_request(uint32_t id, enum rpc_method m, const char *params_json, uint8_t *out,
		       size_t cap)
{
	if ((unsigned)m >= RPC_METHOD_COUNT || rpc_method_params(m) != (params_json != NULL))
		return -EINVAL;
	struct span sp = { 0, 0 };
	int ret;
	if (params_json && (ret = embeddable(params_json, &sp)))
		return ret;
	struct frame f = frame_begin(out, cap);
	put_str(&f, "{\"id\":");
	put_u32(&f, id);
	put_str(&f, ",\"method\":\"");
	put_str(&f, method_names[m]);
	put_str(&f, "\"");
	if (params_json) {
		put_str(&f, ",\"params\":");
		put(&f, params_json + sp.off, sp.len);
	}
	put_str(&f, "}");
	return frame_end(&f);
}

int rpc_encode_ok(uint32_t id, const char *result_json, uint8_t *out, size_t cap)
{
	struct span sp = { 0, 2 };
	int ret;
	if (!result_json)
		result_json = "{}";
	else if ((ret = embeddable(result_json, &sp)))
		return ret;
	struct frame f = frame_begin(out, cap);
	put_str(&f, "{\"id\":");
	put_u32(&f, id);
	put_str(&f, ",\"ok\":true,\"result\":");
	put(&f, result_json + sp.off, sp.len);
	put_str(&f, "}");
	return frame_end(&f);
}

int rpc_encode_error(uint32_t id, int code, const char *message, uint8_t *out, size_t cap)
{
	if (code < 1 || code > LC_ERR_MAX || !message)
		return -EINVAL;
	size_t mlen = strnlen(message, RPC_MAX_BODY + 1);
	if (mlen > RPC_MAX_BODY)
		return -EMSGSIZE;
	/* The peer refuses a body that is not UTF-8: a stray byte goes as '?'. */
	char *utf8 = strndup(message, mlen);
	if (!utf8)
		return -ENOMEM;
	for (size_t i = 0; (i += json_utf8_bad_offset(utf8 + i, mlen - i)) < mlen; i++)
		utf8[i] = '?';
	struct json_object *js = json_object_new_string_len(utf8, (int)mlen);
	free(utf8);
	if (!js)
		return -ENOMEM;
	const char *escaped =
		json_object_to_json_string_ext(js, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!escaped) {
		json_object_put(js);
		return -ENOMEM;
	}
	struct frame f = frame_begin(out, cap);
	put_str(&f, "{\"id\":");
	put_u32(&f, id);
	put_str(&f, ",\"ok\":false,\"error\":{\"code\":");
	put_u32(&f, (uint32_t)code);
	put_str(&f, ",\"name\":\"");
	put_str(&f, lifecycle_error_name(code));
	put_str(&f, "\",\"message\":");
	put_str(&f, escaped);
	put_str(&f, "}}");
	json_object_put(js);
	return frame_end(&f);
}

int rpc_encode_epitaph(bool ok, uint8_t *out, size_t cap)
{
	struct frame f = frame_begin(out, cap);
	put_str(&f, ok ? "{\"epitaph\":\"ok\"}" : "{\"epitaph\":\"internal\"}");
	return frame_end(&f);
}
