/* The VM config: JSON bytes to struct vm_config. The text must pass the
 * one strict-JSON check (json_strict.h) with the config's limits; then the
 * tree is checked against the schema: every key known, every type right,
 * every value in range. Each error is one line naming the field (or the line
 * and column) and what to do. */
#include "config.h"
#include "cli.h"
#include "json_strict.h"
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
_Static_assert(VM_CONFIG_MAX_DEPTH <= JSON_STRICT_MAX_DEPTH, "the strict check goes this deep");

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

const char *config_format_size(struct config_size_text *b, uint64_t v)
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
					"balloon", "vsock", "sandbox", "restart", NULL };
static const char *const balloon_keys[] = { "amount_mib", "deflate_on_oom",
					    "stats_polling_interval_s", "free_page_reporting",
					    NULL };
static const char *const vsock_keys[] = { "guest_cid", "uds_path", NULL };
static const char *const block_keys[] = { "path", "vhost_user_socket", "read_only", "serial",
					  "sandbox", "rate_limiter", "restart", NULL };
static const char *const net_keys[] = { "tap", "vhost_user_socket", "mac", "sandbox",
					"rx_rate_limiter", "tx_rate_limiter", "num_queues", "restart",
					NULL };
static const char *const restart_keys[] = { "max", "window_s", NULL };
static const char *const limiter_keys[] = { "bandwidth", "ops", NULL };
static const char *const bucket_keys[] = { "size", "one_time_burst", "refill_time", NULL };

/* An integer member `key` of obj in [min, max] into *dst, if present. */
static int get_u64(struct ctx *c, struct json_object *obj, const char *key, uint64_t min,
		   uint64_t max, uint64_t *dst, bool *present)
{
	struct json_object *v;
	*present = json_object_object_get_ex(obj, key, &v);
	if (!*present)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(c, key, "want an integer from %llu to %llu, not %s",
			    (unsigned long long)min, (unsigned long long)max, json_type_words(v));
	/* json-c saturates int64 past its range; a uint64 it keeps as is. */
	int64_t i = json_object_get_int64(v);
	uint64_t u = json_object_get_uint64(v);
	if (i < 0 || u < min || u > max)
		return fail(c, key, "%s is out of range: want %llu to %llu",
			    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
			    (unsigned long long)min, (unsigned long long)max);
	*dst = u;
	return 0;
}

/* One token bucket, {"size": N, "one_time_burst": N, "refill_time": MS},
 * where c->where names it. */
static int parse_bucket(struct ctx *c, struct json_object *obj, struct rl_bucket_cfg *b)
{
	bool present;
	int ret;
	if (!json_object_is_type(obj, json_type_object))
		return fail(c, NULL, "want a token bucket such as {\"size\": 1048576, "
				     "\"refill_time\": 125}, not %s", json_type_words(obj));
	if ((ret = check_keys(c, obj, bucket_keys)) ||
	    (ret = get_u64(c, obj, "size", 1, RL_SIZE_MAX, &b->size, &present)))
		return ret;
	if (!present)
		return fail(c, "size", "required: the bucket's tokens (bytes for bandwidth, "
				       "operations for ops); leave the bucket out for no limit");
	if ((ret = get_u64(c, obj, "refill_time", 1, RL_REFILL_MS_MAX, &b->refill_ms, &present)))
		return ret;
	if (!present)
		return fail(c, "refill_time", "required: the ms it takes to refill the bucket");
	return get_u64(c, obj, "one_time_burst", 0, RL_SIZE_MAX, &b->one_time_burst, &present);
}

/* c->where += "." + name (a schema key: short); name alone at the top. */
static void append_where(struct ctx *c, const char *name)
{
	size_t len = strlen(c->where), n = strlen(name);
	if (len + 1 + n >= sizeof(c->where))
		return;
	if (len) /* at the top: no dot */
		c->where[len++] = '.';
	memcpy(c->where + len, name, n + 1);
}

/* The rate limiter member `key` of a device, {"bandwidth": {...}, "ops":
 * {...}}, if present. */
static int parse_rate_limiter(struct ctx *c, struct json_object *dev, const char *key,
			      struct rl_cfg *out)
{
	struct json_object *v, *b;
	char saved[sizeof(c->where)];
	int ret = 0;
	if (!json_object_object_get_ex(dev, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return fail(c, key, "want an object such as {\"bandwidth\": {\"size\": 1048576, "
				    "\"refill_time\": 125}}, not %s%s", json_type_words(v),
			    v ? "" : " (leave the key out instead)");
	/* "net_devices[7].rx_rate_limiter.bandwidth" fits where[] with room. */
	memcpy(saved, c->where, sizeof(saved));
	append_where(c, key);
	size_t len = strlen(c->where);
	if ((ret = check_keys(c, v, limiter_keys)))
		goto out;
	for (int i = 0; i < 2 && !ret; i++) {
		const char *name = limiter_keys[i];
		if (!json_object_object_get_ex(v, name, &b))
			continue;
		append_where(c, name);
		ret = parse_bucket(c, b, i ? &out->ops : &out->bandwidth);
		c->where[len] = '\0';
	}
out:
	memcpy(c->where, saved, sizeof(saved));
	return ret;
}

/* "restart": {"max": N, "window_s": S} of obj, if present; each member
 * has its default when left out. */
static int parse_restart(struct ctx *c, struct json_object *obj, struct restart_cfg *out)
{
	struct json_object *v;
	char saved[sizeof(c->where)];
	bool present;
	uint64_t max = RESTART_DEFAULT_MAX, window = RESTART_DEFAULT_WINDOW_S;
	if (!json_object_object_get_ex(obj, "restart", &v))
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return fail(c, "restart", "want an object such as {\"max\": 5, \"window_s\": 60} "
					  "({\"max\": 0} for none), not %s", json_type_words(v));
	memcpy(saved, c->where, sizeof(saved));
	append_where(c, "restart");
	int ret = check_keys(c, v, restart_keys) ?:
		  get_u64(c, v, "max", 0, RESTART_MAX_MAX, &max, &present) ?:
		  get_u64(c, v, "window_s", 1, RESTART_WINDOW_MAX_S, &window, &present);
	memcpy(c->where, saved, sizeof(saved));
	if (!ret)
		*out = (struct restart_cfg){ true, (uint32_t)max, (uint32_t)window };
	return ret;
}

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
						 "cellvm does not start that backend")) ||
		    (ret = refuse_for_vhost_user(c, d, "rate_limiter",
						 "limit the disk in that backend")) ||
		    (ret = refuse_for_vhost_user(c, d, "restart",
						 "cellvm does not start that backend")))
			return ret;
		return 0;
	}
	b->backend = VM_BACKEND_CELLVM;
	if ((ret = get_bool(c, d, "read_only", &b->read_only)) ||
	    (ret = get_string(c, d, "serial", b->serial, sizeof(b->serial),
			      "a string of at most 20 bytes", &has_serial)) ||
	    (ret = get_sandbox(c, d, &b->sandbox)) ||
	    (ret = parse_rate_limiter(c, d, "rate_limiter", &b->rate_limiter)) ||
	    (ret = parse_restart(c, d, &b->restart)))
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

/* "num_queues": Cloud Hypervisor's count of virtqueues, rx and tx of each
 * pair, so even. */
static int get_net_queues(struct ctx *c, struct json_object *d, uint32_t *out)
{
	uint64_t v;
	bool present;
	int ret = get_u64(c, d, "num_queues", 2, VM_CONFIG_NET_QUEUES_MAX, &v, &present);
	if (ret || !present)
		return ret;
	if (v % 2)
		return fail(c, "num_queues", "%llu is odd: want an even number from 2 to %d "
					     "(2 per rx/tx queue pair)",
			    (unsigned long long)v, VM_CONFIG_NET_QUEUES_MAX);
	*out = (uint32_t)v;
	return 0;
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
	n->num_queues = VM_CONFIG_NET_QUEUES_DEFAULT;
	if (has_sock)
		return refuse_for_vhost_user(c, d, "sandbox", "cellvm does not start that backend") ?:
		       refuse_for_vhost_user(c, d, "rx_rate_limiter", "limit it in that backend") ?:
		       refuse_for_vhost_user(c, d, "tx_rate_limiter", "limit it in that backend") ?:
		       refuse_for_vhost_user(c, d, "num_queues", "that backend says how many "
							      "it serves") ?:
		       refuse_for_vhost_user(c, d, "restart", "cellvm does not start that backend");
	return get_net_queues(c, d, &n->num_queues) ?:
	       get_sandbox(c, d, &n->sandbox) ?:
	       parse_rate_limiter(c, d, "rx_rate_limiter", &n->rx_rate_limiter) ?:
	       parse_rate_limiter(c, d, "tx_rate_limiter", &n->tx_rate_limiter) ?:
	       parse_restart(c, d, &n->restart);
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
	struct config_size_text s1, s2;
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
		return fail(c, "memory", "%s is above the maximum of %s", config_format_size(&s1, bytes),
			    config_format_size(&s2, VM_CONFIG_MEM_MAX));
	if (bytes % VM_CONFIG_MEM_ALIGN) {
		uint64_t up = (bytes | (VM_CONFIG_MEM_ALIGN - 1)) + 1;
		return fail(c, "memory", "%s is not a multiple of 2M: round it, e.g. to %s",
			    config_format_size(&s1, bytes),
			    config_format_size(&s2, up < VM_CONFIG_MEM_MIN ? VM_CONFIG_MEM_MIN : up));
	}
	if (bytes < VM_CONFIG_MEM_MIN)
		return fail(c, "memory", "%s is below the minimum of %s", config_format_size(&s1, bytes),
			    config_format_size(&s2, VM_CONFIG_MEM_MIN));
	*memory = bytes;
	return 0;
}

/* "vsock": {"guest_cid": N, "uds_path": "/abs/path"}, if present. */
static int parse_vsock(struct ctx *c, struct json_object *top, struct vm_config *cfg)
{
	struct json_object *d;
	uint64_t cid;
	bool present;
	int ret;
	if (!json_object_object_get_ex(top, "vsock", &d))
		return 0;
	if (!json_object_is_type(d, json_type_object))
		return fail(c, "vsock", "want an object such as {\"guest_cid\": 3, \"uds_path\": "
					"\"/run/vm1/v.sock\"}, not %s", json_type_words(d));
	snprintf(c->where, sizeof(c->where), "vsock");
	struct vm_vsock *v = &cfg->vsock_dev;
	if ((ret = check_keys(c, d, vsock_keys)) ||
	    (ret = get_u64(c, d, "guest_cid", VM_CONFIG_VSOCK_CID_MIN, VM_CONFIG_VSOCK_CID_MAX,
			   &cid, &present)))
		return ret;
	if (!present)
		return fail(c, "guest_cid", "required: the guest's CID, from %u to %u",
			    VM_CONFIG_VSOCK_CID_MIN, VM_CONFIG_VSOCK_CID_MAX);
	v->guest_cid = (uint32_t)cid;
	if ((ret = get_path(c, d, "uds_path", v->uds_path, sizeof(v->uds_path),
			    "the host's Unix socket", &present)))
		return ret;
	if (!present)
		return fail(c, "uds_path", "required: the path of the host's Unix socket, e.g. "
					   "\"/run/vm1/v.sock\"");
	const char *slash = strrchr(v->uds_path, '/');
	if (v->uds_path[0] != '/' || !slash[1])
		return fail(c, "uds_path", "want an absolute path of a socket, not a directory");
	/* Its directory is all the device can see (docs/security.md). */
	if (slash == v->uds_path)
		return fail(c, "uds_path", "want it in a directory of its own, not in /");
	/* The device connects to "<name>_<port>" in the directory: "_4294967295"
	 * must fit after the name in a Unix socket's address. */
	if (strlen(slash + 1) + 11 >= VM_CONFIG_SOCKET_MAX)
		return fail(c, "uds_path", "its file name is too long: at most %d bytes, so that "
					   "\"_<port>\" fits after it", VM_CONFIG_SOCKET_MAX - 12);
	c->where[0] = '\0';
	cfg->vsock = true;
	return 0;
}

/* "balloon": {"amount_mib": N, "deflate_on_oom": B, "stats_polling_interval_s":
 * N, "free_page_reporting": B} (Firecracker's); amount_mib is required and
 * at most the VM's memory. */
static int parse_balloon(struct ctx *c, struct json_object *top, uint64_t memory,
			 struct vm_balloon *b)
{
	struct json_object *obj;
	bool present;
	uint64_t v;
	int ret;
	if (!json_object_object_get_ex(top, "balloon", &obj))
		return 0;
	snprintf(c->where, sizeof(c->where), "balloon");
	if (!json_object_is_type(obj, json_type_object))
		return fail(c, NULL, "want an object such as {\"amount_mib\": 0, "
				     "\"deflate_on_oom\": true}, not %s", json_type_words(obj));
	uint64_t mib = memory >> 20;
	if ((ret = check_keys(c, obj, balloon_keys)) ||
	    (ret = get_u64(c, obj, "amount_mib", 0, mib, &v, &present)))
		return ret;
	if (!present)
		return fail(c, "amount_mib", "required: the MiB the balloon takes from the guest "
					     "at boot (0 for none)");
	b->amount_mib = (uint32_t)v;
	uint64_t secs = 0;
	if ((ret = get_u64(c, obj, "stats_polling_interval_s", 0, VM_CONFIG_BALLOON_STATS_MAX,
			   &secs, &present)))
		return ret;
	b->stats_polling_interval_s = (uint32_t)secs;
	if ((ret = get_bool(c, obj, "deflate_on_oom", &b->deflate_on_oom)) ||
	    (ret = get_bool(c, obj, "free_page_reporting", &b->free_page_reporting)))
		return ret;
	b->present = true;
	c->where[0] = '\0';
	return 0;
}

size_t vm_config_ndevices(const struct vm_config *cfg)
{
	return cfg->nblock + cfg->nnet + cfg->console + cfg->rng + cfg->balloon.present +
	       cfg->vsock;
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
	    (ret = parse_restart(c, top, &cfg->restart)) ||
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
	    (ret = parse_balloon(c, top, cfg->memory, &cfg->balloon)) ||
	    (ret = parse_vsock(c, top, cfg)) ||
	    (ret = get_devices(c, top, "block_devices", &blocks, &cfg->nblock)) ||
	    (ret = get_devices(c, top, "net_devices", &nets, &cfg->nnet)))
		return ret;

	size_t total = vm_config_ndevices(cfg);
	if (total > VM_CONFIG_MAX_DEVICES)
		return fail(c, "block_devices + net_devices + console + rng + balloon + vsock",
			    "%zu virtio devices (%zu block, %zu net%s%s%s%s): at most %d fit; remove %zu",
			    total, cfg->nblock, cfg->nnet, cfg->console ? ", console" : "",
			    cfg->rng ? ", rng" : "", cfg->balloon.present ? ", balloon" : "",
			    cfg->vsock ? ", vsock" : "", VM_CONFIG_MAX_DEVICES,
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
	struct json_strict_error je;
	ret = json_strict_parse(json, len, VM_CONFIG_MAX_BYTES, VM_CONFIG_MAX_DEPTH, &top, NULL,
				NULL, &je);
	if (ret == -EINVAL) {
		if (je.key) {
			snprintf(c.where, sizeof(c.where), "%s", je.where);
			fail(&c, NULL, "%s", je.what);
		} else if (je.off == JSON_STRICT_WHOLE) {
			fail(&c, NULL, "the config %s", je.what);
		} else {
			fail_at(&c, json, je.off, je.what);
		}
	}
	if (ret)
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
	return ret;
}
