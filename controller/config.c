/* The VM config: JSON bytes to struct vm_config, in three passes.
 *
 * 1. Raw bytes: size cap, no NUL byte, strict UTF-8 (no overlong forms or
 *    surrogates, which json-c lets through), a '{' first.
 * 2. json-c with an explicit length and a depth limit, in strict mode.
 * 3. The text again, now known to be JSON, for what json-c's tree cannot
 *    show: a repeated key (json-c keeps the last one silently), a key with
 *    \u0000 (json-c cuts it there), and json-c's leniencies (single quotes,
 *    raw control characters in strings).
 * Then the tree against the schema: every key known, every type right, every
 * value in range. Each error is one line naming the field and what to do. */
#include "config.h"
#include "cli.h"
#include "json_words.h"

#include <errno.h>
#include <json-c/json.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

_Static_assert(VM_CONFIG_TAP_MAX == IFNAMSIZ, "tap names are interface names");
_Static_assert(VM_CONFIG_SOCKET_MAX == sizeof(((struct sockaddr_un *)0)->sun_path),
	       "vhost-user sockets are Unix socket addresses");
_Static_assert(VM_CONFIG_MEM_DEFAULT % VM_CONFIG_MEM_ALIGN == 0, "default memory aligned");

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* ------------------------------------------------------------ messages */

struct ctx {
	char *err;
	size_t errlen;
	char where[128]; /* "" at the top level, "block_devices[1]" in a device */
};

__attribute__((format(printf, 3, 0))) static int failv(struct ctx *c, const char *field,
							 const char *fmt, va_list ap)
{
	if (!c->err || !c->errlen)
		return -EINVAL;
	int n;
	if (c->where[0] && field)
		n = snprintf(c->err, c->errlen, "%s.%s: ", c->where, field);
	else if (c->where[0] || field)
		n = snprintf(c->err, c->errlen, "%s: ", c->where[0] ? c->where : field);
	else
		n = 0;
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	return -EINVAL;
}

/* Writes "<where>.<field>: <message>" to err; returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, const char *field,
							const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	failv(c, field, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A user's string in a message: quoted and cut (json_words.h). */
static const char *quote(struct json_shown *b, const char *s, size_t len)
{
	return json_show(b, s, len, true);
}

static const char *quote_str(struct json_shown *b, const char *s)
{
	return quote(b, s, strlen(s));
}

/* A byte offset as "line L, column C" (columns count bytes, from 1). */
static int fail_at(struct ctx *c, const char *json, size_t off, const char *what)
{
	size_t line = 1, col = 1;
	for (size_t i = 0; i < off; i++) {
		if (json[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return fail(c, NULL, "line %zu, column %zu: %s", line, col, what);
}

/* A size for messages: the largest binary unit that divides it. */
struct sbuf {
	char s[32];
};

static const char *fmt_size(struct sbuf *b, uint64_t v)
{
	static const struct {
		uint64_t unit;
		char suffix;
	} units[] = { { GIB, 'G' }, { MIB, 'M' }, { KIB, 'K' } };
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (v && v % units[i].unit == 0) {
			snprintf(b->s, sizeof(b->s), "%llu%c",
				 (unsigned long long)(v / units[i].unit), units[i].suffix);
			return b->s;
		}
	}
	snprintf(b->s, sizeof(b->s), "%llu bytes", (unsigned long long)v);
	return b->s;
}

/* ------------------------------------------------------- small parsers */

int config_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	unsigned shift = 0;
	switch (s[i]) {
	case '\0': break;
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	case 'T': case 't': shift = 40; break;
	default: return -EINVAL;
	}
	if (shift) {
		if (s[i + 1] != '\0' || v > (UINT64_MAX >> shift))
			return -EINVAL;
		v <<= shift;
	}
	*out = v;
	return 0;
}


/* ------------------------------------------------------ pass 1: bytes */

/* The offset of the first byte that does not start a well-formed UTF-8
 * sequence (Unicode table 3-7), or len. */
static size_t utf8_bad_offset(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c0 = s[i];
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
		if (c0 < 0x80) {
			i++;
			continue;
		} else if (c0 >= 0xc2 && c0 <= 0xdf) {
			n = 2;
		} else if (c0 >= 0xe0 && c0 <= 0xef) {
			n = 3;
			if (c0 == 0xe0)
				lo = 0xa0; /* overlong */
			if (c0 == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c0 >= 0xf0 && c0 <= 0xf4) {
			n = 4;
			if (c0 == 0xf0)
				lo = 0x90; /* overlong */
			if (c0 == 0xf4)
				hi = 0x8f; /* past U+10FFFF */
		} else {
			return i;
		}
		if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k < n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		i += n;
	}
	return len;
}

static int check_bytes(struct ctx *c, const char *json, size_t len)
{
	if (len > VM_CONFIG_MAX_BYTES)
		return fail(c, NULL, "the config is %zu bytes: at most %u; is this the right file?",
			    len, VM_CONFIG_MAX_BYTES);
	const char *nul = memchr(json, '\0', len);
	if (nul)
		return fail_at(c, json, (size_t)(nul - json),
			       "a NUL byte: the config must be JSON text");
	size_t bad = utf8_bad_offset((const unsigned char *)json, len);
	if (bad < len)
		return fail_at(c, json, bad, "not valid UTF-8: save the config as UTF-8");
	if (len >= 3 && !memcmp(json, "\xef\xbb\xbf", 3))
		return fail(c, NULL, "the config starts with a byte-order mark: save it without one");
	size_t i = 0;
	while (i < len && json_is_ws(json[i]))
		i++;
	if (i == len)
		return fail(c, NULL, "the config is empty: want a JSON object such as "
				     "{\"kernel\": \"/boot/vmlinuz\"}");
	if (json[i] != '{')
		return fail_at(c, json, i, "want a JSON object ({...}) at the top level");
	return 0;
}

/* ------------------------------------------------------- pass 3: text */

struct level {
	bool is_object;
	bool want_key;             /* objects: the next string is a key */
	size_t index;              /* arrays: the current element */
	char key[40];              /* objects: the current key, for messages */
	struct json_object *seen;  /* objects: the keys so far, as a set */
};

/* c->where = the path of levels[0..n) ("block_devices[1]"), printable only. */
static void set_where(struct ctx *c, const struct level *lv, size_t n)
{
	size_t o = 0;
	c->where[0] = '\0';
	for (size_t i = 0; i < n && o < sizeof(c->where); i++) {
		int w;
		if (lv[i].is_object)
			w = snprintf(c->where + o, sizeof(c->where) - o, "%s%s", o ? "." : "",
				     lv[i].key);
		else
			w = snprintf(c->where + o, sizeof(c->where) - o, "[%zu]", lv[i].index);
		if (w < 0)
			break;
		o += (size_t)w;
	}
	for (char *p = c->where; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
}

/* A key's text json[0..n) (with its quotes): decode it, refuse \u0000 in it,
 * and refuse it if the object at lv[depth - 1] has it already. */
static int check_key(struct ctx *c, struct json_tokener *ktok, const char *text, size_t n,
		     struct level *lv, size_t depth)
{
	struct level *obj = &lv[depth - 1];
	json_tokener_reset(ktok);
	struct json_object *k = json_tokener_parse_ex(ktok, text, (int)n);
	if (!k || !json_object_is_type(k, json_type_string)) {
		json_object_put(k);
		return fail(c, NULL, "internal error: json-c accepted a key it cannot read again");
	}
	const char *s = json_object_get_string(k);
	size_t len = (size_t)json_object_get_string_len(k);
	struct json_shown q;
	int ret = 0;
	snprintf(obj->key, sizeof(obj->key), "%s", s);
	if (strlen(s) != len) {
		set_where(c, lv, depth - 1);
		ret = fail(c, NULL, "key %s contains a NUL character (\\u0000): remove it",
			   quote(&q, s, len));
	} else if (json_object_object_get_ex(obj->seen, s, NULL)) {
		set_where(c, lv, depth - 1);
		ret = fail(c, NULL, "duplicate key %s: give each key once", quote(&q, s, len));
	} else if (json_object_object_add(obj->seen, s, NULL) < 0) {
		ret = -ENOMEM;
	}
	json_object_put(k);
	return ret;
}

static int check_text(struct ctx *c, const char *json, size_t end)
{
	struct level lv[VM_CONFIG_MAX_DEPTH];
	size_t depth = 0;
	int ret = 0;
	struct json_tokener *ktok = json_tokener_new();
	if (!ktok)
		return -ENOMEM;
	for (size_t i = 0; i < end && !ret; i++) {
		switch (json[i]) {
		case '{':
		case '[':
			/* json-c's limit bounds its own work; it counts a scalar at
			 * the bottom as a level, an empty container not. This is
			 * the exact limit: containers nest at most this deep. */
			if (depth == VM_CONFIG_MAX_DEPTH) {
				char what[64];
				snprintf(what, sizeof(what), "nested more than %d levels deep",
					 VM_CONFIG_MAX_DEPTH);
				ret = fail_at(c, json, i, what);
				break;
			}
			lv[depth] = (struct level){ .is_object = json[i] == '{',
						    .want_key = json[i] == '{' };
			if (lv[depth].is_object && !(lv[depth].seen = json_object_new_object())) {
				ret = -ENOMEM;
				break;
			}
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0) {
				ret = fail_at(c, json, i, "internal error: unbalanced brackets");
				break;
			}
			depth--;
			json_object_put(lv[depth].seen);
			break;
		case ':':
			if (depth)
				lv[depth - 1].want_key = false;
			break;
		case ',':
			if (depth && lv[depth - 1].is_object)
				lv[depth - 1].want_key = true;
			else if (depth)
				lv[depth - 1].index++;
			break;
		case '\'':
			ret = fail_at(c, json, i, "strings take double quotes (\"), not single ones");
			break;
		case '"': {
			size_t start = i;
			for (i++; i < end && json[i] != '"' && !ret; i++) {
				if (json[i] == '\\')
					i++; /* json-c checked the escape; skip what it escapes */
				else if ((unsigned char)json[i] < 0x20)
					ret = fail_at(c, json, i,
						      "a control character in a string: write it "
						      "as an escape such as \\n or \\t");
			}
			if (ret || i >= end)
				break;
			if (depth && lv[depth - 1].is_object && lv[depth - 1].want_key)
				ret = check_key(c, ktok, json + start, i + 1 - start, lv, depth);
			break;
		}
		default:
			break; /* whitespace, numbers, true/false/null */
		}
	}
	while (depth)
		json_object_put(lv[--depth].seen);
	json_tokener_free(ktok);
	return ret;
}

/* ------------------------------------------------------ schema helpers */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[33];
	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Refuses any key of obj not in known (NULL-terminated), suggesting the
 * nearest known one when it is close. */
static int check_keys(struct ctx *c, struct json_object *obj, const char *const *known)
{
	struct json_object_iter it;
	json_object_object_foreachC(obj, it)
	{
		size_t i;
		for (i = 0; known[i] && strcmp(it.key, known[i]); i++)
			;
		if (known[i])
			continue;
		const char *best = NULL;
		size_t best_d = SIZE_MAX;
		for (i = 0; known[i]; i++) {
			size_t d = edit_distance(it.key, known[i]);
			size_t limit = strlen(known[i]) >= 4 ? 2 : 1;
			if (d <= limit && d < best_d) {
				best = known[i];
				best_d = d;
			}
		}
		struct json_shown q;
		if (best)
			return fail(c, NULL, "unknown key %s (did you mean \"%s\"?)",
				    quote_str(&q, it.key), best);
		char list[256];
		size_t o = 0;
		for (i = 0; known[i] && o < sizeof(list); i++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
					      known[i]);
		return fail(c, NULL, "unknown key %s: the keys here are %s", quote_str(&q, it.key),
			    list);
	}
	return 0;
}

/* Copies the string member `key` of obj into dst[size]. *present says
 * whether it was there (dst is untouched when not). `want` names the
 * expected value in a type error. */
static int get_string(struct ctx *c, struct json_object *obj, const char *key, char *dst,
		      size_t size, const char *want, bool *present)
{
	struct json_object *v;
	*present = json_object_object_get_ex(obj, key, &v);
	if (!*present)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(c, key, "want %s, not %s%s", want, json_type_words(v),
			    v ? "" : " (leave the key out instead)");
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (strlen(s) != n)
		return fail(c, key, "contains a NUL character (\\u0000): remove it");
	if (n >= size)
		return fail(c, key, "%zu bytes long: at most %zu", n, size - 1);
	memcpy(dst, s, n + 1);
	return 0;
}

/* A path: a non-empty string shorter than `size`. */
static int get_path(struct ctx *c, struct json_object *obj, const char *key, char *dst,
		    size_t size, const char *what, bool *present)
{
	char want[96];
	snprintf(want, sizeof(want), "the path of %s (a string)", what);
	int ret = get_string(c, obj, key, dst, size, want, present);
	if (ret == 0 && *present && !dst[0])
		return fail(c, key, "empty: want the path of %s", what);
	return ret;
}

static int get_bool(struct ctx *c, struct json_object *obj, const char *key, bool *dst)
{
	struct json_object *v;
	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return fail(c, key, "want true or false, not %s", json_type_words(v));
	*dst = json_object_get_boolean(v);
	return 0;
}

static int get_sandbox(struct ctx *c, struct json_object *obj, enum sandbox_mode *dst)
{
	struct json_object *v;
	struct json_shown q;
	if (!json_object_object_get_ex(obj, "sandbox", &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(c, "sandbox", "want \"on\", \"off\" or \"log\", not %s", json_type_words(v));
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len || sandbox_parse_mode(s, dst) < 0)
		return fail(c, "sandbox", "%s: want \"on\", \"off\" or \"log\"", quote(&q, s, len));
	return 0;
}

/* The key `key` must be absent from a device an external backend serves. */
static int refuse_for_vhost_user(struct ctx *c, struct json_object *obj, const char *key,
				 const char *instead)
{
	if (!json_object_object_get_ex(obj, key, NULL))
		return 0;
	return fail(c, key, "does not apply to an external vhost-user backend "
			    "(\"vhost_user_socket\"): %s", instead);
}

static int get_socket(struct ctx *c, struct json_object *obj, char *dst, bool *present)
{
	return get_path(c, obj, "vhost_user_socket", dst, VM_CONFIG_SOCKET_MAX,
			"the vhost-user backend's Unix socket", present);
}

/* ------------------------------------------------------ schema */

static const char *const top_keys[] = { "kernel", "initrd", "cmdline", "cpus", "memory",
					"block_devices", "net_devices", "console", "rng",
					"sandbox", NULL };
static const char *const block_keys[] = { "path", "vhost_user_socket", "read_only", "serial",
					  "sandbox", NULL };
static const char *const net_keys[] = { "tap", "vhost_user_socket", "mac", "sandbox", NULL };

static int parse_block(struct ctx *c, struct json_object *d, struct vm_block_device *b,
		       enum sandbox_mode vm_sandbox)
{
	bool has_path, has_sock, has_serial;
	int ret;
	if (!json_object_is_type(d, json_type_object))
		return fail(c, NULL, "want an object such as {\"path\": \"/var/lib/disk.img\"}, not %s",
			    json_type_words(d));
	if ((ret = check_keys(c, d, block_keys)) ||
	    (ret = get_path(c, d, "path", b->path, sizeof(b->path), "a disk image", &has_path)) ||
	    (ret = get_socket(c, d, b->vhost_user_socket, &has_sock)))
		return ret;
	if (has_path && has_sock)
		return fail(c, NULL, "\"path\" and \"vhost_user_socket\" exclude each other: "
				     "set one");
	if (!has_path && !has_sock)
		return fail(c, "path", "required (or \"vhost_user_socket\" for a disk an external "
				       "vhost-user backend serves)");
	b->sandbox = vm_sandbox;
	if (has_sock) {
		b->backend = VM_BACKEND_VHOST_USER;
		if ((ret = refuse_for_vhost_user(c, d, "read_only",
						 "make the export read-only in the backend "
						 "(qemu-storage-daemon: writable=off)")) ||
		    (ret = refuse_for_vhost_user(c, d, "serial",
						 "the backend reports the disk's serial")) ||
		    (ret = refuse_for_vhost_user(c, d, "sandbox",
						 "cellvm does not start that backend")))
			return ret;
		return 0;
	}
	b->backend = VM_BACKEND_CELLVM;
	if ((ret = get_bool(c, d, "read_only", &b->read_only)) ||
	    (ret = get_string(c, d, "serial", b->serial, sizeof(b->serial),
			      "a string of at most 20 bytes", &has_serial)) ||
	    (ret = get_sandbox(c, d, &b->sandbox)))
		return ret;
	for (const char *p = b->serial; *p; p++) {
		struct json_shown q;
		if (*p < 0x20 || *p > 0x7e)
			return fail(c, "serial", "%s: want printable ASCII characters only",
				    quote_str(&q, b->serial));
	}
	return 0;
}

static bool tap_name_ok(const char *s)
{
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++) {
		char ch = *s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return false;
	}
	return true;
}

static int parse_net(struct ctx *c, struct json_object *d, struct vm_net_device *n,
		     enum sandbox_mode vm_sandbox)
{
	bool has_tap, has_sock;
	struct json_shown q;
	int ret;
	if (!json_object_is_type(d, json_type_object))
		return fail(c, NULL, "want an object such as {\"tap\": \"tap0\"}, not %s",
			    json_type_words(d));
	if ((ret = check_keys(c, d, net_keys)) ||
	    (ret = get_string(c, d, "tap", n->tap, sizeof(n->tap), "an interface name (a string)",
			      &has_tap)) ||
	    (ret = get_socket(c, d, n->vhost_user_socket, &has_sock)))
		return ret;
	if (has_tap && has_sock)
		return fail(c, NULL, "\"tap\" and \"vhost_user_socket\" exclude each other: set one");
	if (!has_tap && !has_sock)
		return fail(c, "tap", "required: the name of a tap interface, e.g. \"tap0\" (or "
				      "\"vhost_user_socket\" for an external vhost-user backend)");
	if (has_tap && (!n->tap[0] || !tap_name_ok(n->tap)))
		return fail(c, "tap", "%s: want an interface name of 1 to 15 letters, digits, "
				      "'_', '.' or '-'", quote_str(&q, n->tap));
	n->backend = has_sock ? VM_BACKEND_VHOST_USER : VM_BACKEND_CELLVM;
	n->sandbox = vm_sandbox;
	struct json_object *v;
	if (json_object_object_get_ex(d, "mac", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return fail(c, "mac", "want a string such as \"52:54:00:12:34:56\", not %s",
				    json_type_words(v));
		const char *s = json_object_get_string(v);
		size_t len = (size_t)json_object_get_string_len(v);
		if (strlen(s) != len || cli_parse_mac(s, n->mac) < 0)
			return fail(c, "mac", "%s: want a unicast address such as "
					      "\"52:54:00:12:34:56\" (first byte even, not all zero)",
				    quote(&q, s, len));
		n->has_mac = true;
	}
	if (has_sock)
		return refuse_for_vhost_user(c, d, "sandbox", "cellvm does not start that backend");
	return get_sandbox(c, d, &n->sandbox);
}

static int get_devices(struct ctx *c, struct json_object *top, const char *key,
		       struct json_object **arr, size_t *n)
{
	*n = 0;
	if (!json_object_object_get_ex(top, key, arr))
		return 0;
	if (!json_object_is_type(*arr, json_type_array))
		return fail(c, key, "want an array of devices [{...}, ...], not %s",
			    json_type_words(*arr));
	*n = json_object_array_length(*arr);
	if (*n > VM_CONFIG_MAX_DEVICES)
		return fail(c, key, "%zu devices: at most %d virtio devices fit", *n,
			    VM_CONFIG_MAX_DEVICES);
	return 0;
}

static int parse_cpus(struct ctx *c, struct json_object *top, uint32_t *cpus)
{
	struct json_object *v;
	if (!json_object_object_get_ex(top, "cpus", &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(c, "cpus", "want an integer from 1 to %d, not %s", VM_CONFIG_MAX_CPUS,
			    json_type_words(v));
	int64_t n = json_object_get_int64(v); /* json-c saturates past int64 */
	if (n < 1 || n > VM_CONFIG_MAX_CPUS)
		return fail(c, "cpus", "%s is out of range: want 1 to %d",
			    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
			    VM_CONFIG_MAX_CPUS);
	*cpus = (uint32_t)n;
	return 0;
}

static int parse_memory(struct ctx *c, struct json_object *top, uint64_t *memory)
{
	struct json_object *v;
	struct json_shown q;
	struct sbuf s1, s2;
	uint64_t bytes;
	if (!json_object_object_get_ex(top, "memory", &v))
		return 0;
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		size_t len = (size_t)json_object_get_string_len(v);
		if (strlen(s) != len || config_parse_size(s, &bytes) < 0)
			return fail(c, "memory", "%s: want a size such as 512M or 2G",
				    quote(&q, s, len));
	} else if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v); /* json-c saturates past int64 */
		if (n < 0)
			return fail(c, "memory", "%s: want a size such as 512M or 2G",
				    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		bytes = (uint64_t)n;
	} else {
		return fail(c, "memory", "want a size such as \"512M\" or a number of bytes, not %s",
			    json_type_words(v));
	}
	if (bytes > VM_CONFIG_MEM_MAX)
		return fail(c, "memory", "%s is above the maximum of %s", fmt_size(&s1, bytes),
			    fmt_size(&s2, VM_CONFIG_MEM_MAX));
	if (bytes % VM_CONFIG_MEM_ALIGN) {
		uint64_t up = (bytes | (VM_CONFIG_MEM_ALIGN - 1)) + 1;
		return fail(c, "memory", "%s is not a multiple of 2M: round it, e.g. to %s",
			    fmt_size(&s1, bytes),
			    fmt_size(&s2, up < VM_CONFIG_MEM_MIN ? VM_CONFIG_MEM_MIN : up));
	}
	if (bytes < VM_CONFIG_MEM_MIN)
		return fail(c, "memory", "%s is below the minimum of %s", fmt_size(&s1, bytes),
			    fmt_size(&s2, VM_CONFIG_MEM_MIN));
	*memory = bytes;
	return 0;
}

/* Two devices cannot share a tap or an external backend's socket. */
static int check_unique(struct ctx *c, const struct vm_config *cfg)
{
	struct json_shown q;
	for (size_t i = 0; i < cfg->nnet; i++)
		for (size_t j = 0; j < i; j++)
			if (cfg->net[i].tap[0] && !strcmp(cfg->net[i].tap, cfg->net[j].tap)) {
				snprintf(c->where, sizeof(c->where), "net_devices[%zu]", i);
				return fail(c, "tap", "%s is already used by net_devices[%zu]",
					    quote_str(&q, cfg->net[i].tap), j);
			}
	/* Sockets in one list: block devices first, then net devices. */
	size_t n = cfg->nblock + cfg->nnet;
	for (size_t i = 0; i < n; i++) {
		const char *si = i < cfg->nblock ? cfg->block[i].vhost_user_socket
						 : cfg->net[i - cfg->nblock].vhost_user_socket;
		for (size_t j = 0; si[0] && j < i; j++) {
			const char *sj = j < cfg->nblock ? cfg->block[j].vhost_user_socket
							 : cfg->net[j - cfg->nblock].vhost_user_socket;
			if (strcmp(si, sj))
				continue;
			snprintf(c->where, sizeof(c->where), "%s[%zu]",
				 i < cfg->nblock ? "block_devices" : "net_devices",
				 i < cfg->nblock ? i : i - cfg->nblock);
			return fail(c, "vhost_user_socket", "%s is already used by %s[%zu]: one "
							    "backend socket serves one device",
				    quote_str(&q, si), j < cfg->nblock ? "block_devices" : "net_devices",
				    j < cfg->nblock ? j : j - cfg->nblock);
		}
	}
	return 0;
}

static int parse_top(struct ctx *c, struct json_object *top, struct vm_config *cfg)
{
	struct json_object *blocks, *nets;
	bool present;
	int ret;

	cfg->cpus = 1;
	cfg->memory = VM_CONFIG_MEM_DEFAULT;
	cfg->sandbox = SANDBOX_ON;
	if ((ret = check_keys(c, top, top_keys)) || (ret = get_sandbox(c, top, &cfg->sandbox)) ||
	    (ret = get_path(c, top, "kernel", cfg->kernel, sizeof(cfg->kernel),
			    "the guest kernel (bzImage)", &present)))
		return ret;
	if (!present)
		return fail(c, "kernel", "required: the path of the guest kernel (bzImage), e.g. "
					 "\"/boot/vmlinuz\"");
	if ((ret = get_path(c, top, "initrd", cfg->initrd, sizeof(cfg->initrd),
			    "an initramfs", &present)) ||
	    (ret = get_string(c, top, "cmdline", cfg->cmdline, sizeof(cfg->cmdline),
			      "the kernel command line (a string)", &present)) ||
	    (ret = parse_cpus(c, top, &cfg->cpus)) || (ret = parse_memory(c, top, &cfg->memory)) ||
	    (ret = get_bool(c, top, "console", &cfg->console)) ||
	    (ret = get_bool(c, top, "rng", &cfg->rng)) ||
	    (ret = get_devices(c, top, "block_devices", &blocks, &cfg->nblock)) ||
	    (ret = get_devices(c, top, "net_devices", &nets, &cfg->nnet)))
		return ret;

	size_t total = cfg->nblock + cfg->nnet + cfg->console + cfg->rng;
	if (total > VM_CONFIG_MAX_DEVICES)
		return fail(c, "block_devices + net_devices + console + rng",
			    "%zu virtio devices (%zu block, %zu net%s%s): at most %d fit; remove %zu",
			    total, cfg->nblock, cfg->nnet, cfg->console ? ", console" : "",
			    cfg->rng ? ", rng" : "", VM_CONFIG_MAX_DEVICES,
			    total - VM_CONFIG_MAX_DEVICES);
	for (size_t i = 0; i < cfg->nblock; i++) {
		snprintf(c->where, sizeof(c->where), "block_devices[%zu]", i);
		if ((ret = parse_block(c, json_object_array_get_idx(blocks, i), &cfg->block[i],
				       cfg->sandbox)))
			return ret;
	}
	for (size_t i = 0; i < cfg->nnet; i++) {
		snprintf(c->where, sizeof(c->where), "net_devices[%zu]", i);
		if ((ret = parse_net(c, json_object_array_get_idx(nets, i), &cfg->net[i],
				     cfg->sandbox)))
			return ret;
	}
	c->where[0] = '\0';
	return check_unique(c, cfg);
}

/* ------------------------------------------------------ entry */

int vm_config_parse(const char *json, size_t len, struct vm_config *out, char *err,
		    size_t errlen)
{
	struct ctx c = { .err = err, .errlen = errlen };
	struct json_tokener *tok = NULL;
	struct json_object *top = NULL;
	struct vm_config *cfg = NULL;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!json) {
		if (len)
			return fail(&c, NULL, "no config given");
		json = "";
	}
	if ((ret = check_bytes(&c, json, len)))
		return ret;

	/* json-c counts one level more than there are brackets. */
	tok = json_tokener_new_ex(VM_CONFIG_MAX_DEPTH + 1);
	if (!tok) {
		ret = -ENOMEM;
		goto out;
	}
	/* Trailing characters are allowed here only to be refused below with a
	 * clearer message than json-c's. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
					    JSON_TOKENER_VALIDATE_UTF8);
	top = json_tokener_parse_ex(tok, json, (int)len); /* len <= VM_CONFIG_MAX_BYTES */
	size_t end = json_tokener_get_parse_end(tok);
	if (!top) {
		enum json_tokener_error jerr = json_tokener_get_error(tok);
		char what[128];
		if (jerr == json_tokener_continue)
			snprintf(what, sizeof(what), "the JSON ends early: complete or close it");
		else if (jerr == json_tokener_error_depth)
			snprintf(what, sizeof(what), "nested more than %d levels deep",
				 VM_CONFIG_MAX_DEPTH);
		else
			snprintf(what, sizeof(what), "%s: not valid JSON",
				 json_tokener_error_desc(jerr));
		ret = fail_at(&c, json, end < len ? end : len, what);
		goto out;
	}
	for (size_t i = end; i < len; i++) {
		if (!json_is_ws(json[i])) {
			ret = fail_at(&c, json, i, "more after the JSON object: remove it");
			goto out;
		}
	}
	if ((ret = check_text(&c, json, end)))
		goto out;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = parse_top(&c, top, cfg)))
		goto out;
	memcpy(out, cfg, sizeof(*cfg));
out:
	if (ret == -ENOMEM)
		fail(&c, NULL, "out of memory");
	free(cfg);
	json_object_put(top);
	if (tok)
		json_tokener_free(tok);
	return ret;
}
