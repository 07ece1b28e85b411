#include "fc_vm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "config.h"
#include "errf.h"
#include "json_strict.h"
#include "json_words.h"

struct fc_vm {
	json_object *doc; /* FullVmConfiguration */
};

/* ------------------------------------------------------------ the schema */

enum ftype { F_STR, F_BOOL, F_INT, F_RL, F_OBJ };

struct field {
	const char *key;
	enum ftype type;
	bool required;
	int64_t min, max;            /* F_INT */
	const char *const *choices;  /* F_STR: the values allowed, NULL-ended; NULL: any */
};

#define INT(k, req, lo, hi) { k, F_INT, req, lo, hi, NULL }
#define STR(k, req) { k, F_STR, req, 0, 0, NULL }
#define ENUM(k, c) { k, F_STR, false, 0, 0, c }
#define BOOL(k, req) { k, F_BOOL, req, 0, 0, NULL }
#define RL(k) { k, F_RL, false, 0, 0, NULL }
#define OBJ(k) { k, F_OBJ, false, 0, 0, NULL }
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const cache_types[] = { "Unsafe", "Writeback", NULL };
static const char *const io_engines[] = { "Sync", "Async", NULL };
static const char *const log_levels[] = { "Error", "Warning", "Info", "Debug", "Trace", "Off",
					  "error", "warning", "info", "debug", "trace", "off",
					  "ERROR", "WARNING", "INFO", "DEBUG", "TRACE", "OFF", NULL };
static const char *const sandboxes[] = { "on", "off", "log", NULL };

static const struct field boot_fields[] = {
	STR("kernel_image_path", true), STR("initrd_path", false), STR("boot_args", false),
};
/* Memory as cellvm can back it: 2 MiB multiples from 16 MiB (VM_CONFIG_MEM_*). */
static const struct field machine_fields[] = {
	INT("vcpu_count", true, 1, VM_CONFIG_MAX_CPUS),
	INT("mem_size_mib", true, VM_CONFIG_MEM_MIN >> 20, VM_CONFIG_MEM_MAX >> 20),
	BOOL("smt", false), BOOL("track_dirty_pages", false), STR("cpu_template", false),
	STR("huge_pages", false),
};
static const struct field drive_fields[] = {
	STR("drive_id", true), BOOL("is_root_device", true), STR("partuuid", false),
	ENUM("cache_type", cache_types), BOOL("is_read_only", false), STR("path_on_host", false),
	RL("rate_limiter"), ENUM("io_engine", io_engines), STR("socket", false),
};
static const struct field drive_patch_fields[] = {
	STR("drive_id", true), STR("path_on_host", false), RL("rate_limiter"),
};
static const struct field net_fields[] = {
	STR("iface_id", true), STR("host_dev_name", true), STR("guest_mac", false),
	INT("mtu", false, 68, 65535), RL("rx_rate_limiter"), RL("tx_rate_limiter"),
};
static const struct field net_patch_fields[] = {
	STR("iface_id", true), RL("rx_rate_limiter"), RL("tx_rate_limiter"),
};
static const struct field vsock_fields[] = {
	INT("guest_cid", true, VM_CONFIG_VSOCK_CID_MIN, VM_CONFIG_VSOCK_CID_MAX),
	STR("uds_path", true), STR("vsock_id", false),
};
static const struct field balloon_fields[] = {
	INT("amount_mib", true, 0, VM_CONFIG_MEM_MAX >> 20), BOOL("deflate_on_oom", true),
	INT("stats_polling_interval_s", false, 0, VM_CONFIG_BALLOON_STATS_MAX),
	BOOL("free_page_hinting", false), BOOL("free_page_reporting", false),
};
static const struct field balloon_patch_fields[] = {
	INT("amount_mib", true, 0, VM_CONFIG_MEM_MAX >> 20),
};
static const struct field entropy_fields[] = { RL("rate_limiter") };
static const struct field logger_fields[] = {
	ENUM("level", log_levels), STR("log_path", false), BOOL("show_level", false),
	BOOL("show_log_origin", false), STR("module", false),
};
static const struct field metrics_fields[] = {
	STR("metrics_path", true), BOOL("emit_id", false), OBJ("properties"),
};
static const struct field xcellvm_fields[] = {
	ENUM("sandbox", sandboxes), BOOL("console", false), BOOL("rng", false),
};
static const struct field bucket_fields[] = {
	INT("size", true, 0, INT64_MAX), INT("refill_time", true, 0, INT64_MAX),
	INT("one_time_burst", false, 0, INT64_MAX),
};

static json_object *member(const json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static const char *str_of(const json_object *o, const char *key)
{
	json_object *v = member(o, key);
	return v ? json_object_get_string(v) : NULL;
}

/* An optional string, "" counting as absent as Firecracker's clients send it
 * (Go's zero value: an initrd_path or guest_mac left empty). */
static const char *given(const json_object *o, const char *key)
{
	const char *s = str_of(o, key);
	return s && s[0] ? s : NULL;
}

static bool bool_of(const json_object *o, const char *key)
{
	json_object *v = member(o, key);
	return v && json_object_get_boolean(v);
}

static int check(json_object *o, const struct field *f, size_t n, const char *where, char *err,
		 size_t errlen);

static int check_rl(json_object *rl, const char *where, char *err, size_t errlen)
{
	if (!json_object_is_type(rl, json_type_object))
		return errf(err, errlen, -EINVAL, "%s: want an object, got %s", where,
			    json_type_words(rl));
	char w[160];
	json_object_object_foreach(rl, k, v) {
		snprintf(w, sizeof(w), "%.100s.%.40s", where, k);
		if (strcmp(k, "bandwidth") && strcmp(k, "ops"))
			return errf(err, errlen, -EINVAL, "%s: unknown field", w);
		if (!json_object_is_type(v, json_type_null) &&
		    check(v, bucket_fields, N(bucket_fields), w, err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}

/* o is an object with only the fields listed, each of its type; null counts
 * as absent. */
static int check(json_object *o, const struct field *f, size_t n, const char *where, char *err,
		 size_t errlen)
{
	if (!json_object_is_type(o, json_type_object))
		return errf(err, errlen, -EINVAL, "%s: want an object, got %s", where,
			    json_type_words(o));
	json_object_object_foreach(o, k, v) {
		size_t i = 0;
		while (i < n && strcmp(f[i].key, k))
			i++;
		struct json_shown sh;
		if (i == n)
			return errf(err, errlen, -EINVAL, "%s: unknown field %s", where,
				    json_show(&sh, k, strlen(k), true));
		if (json_object_is_type(v, json_type_null))
			continue;
		char w[160];
		snprintf(w, sizeof(w), "%.100s.%.40s", where, k);
		static const json_type want[] = { [F_STR] = json_type_string,
						  [F_BOOL] = json_type_boolean,
						  [F_INT] = json_type_int,
						  [F_RL] = json_type_object,
						  [F_OBJ] = json_type_object };
		static const char *const words[] = { [F_STR] = "a string", [F_BOOL] = "a boolean",
						     [F_INT] = "an integer", [F_RL] = "an object",
						     [F_OBJ] = "an object" };
		if (!json_object_is_type(v, want[f[i].type]))
			return errf(err, errlen, -EINVAL, "%s: want %s, got %s", w,
				    words[f[i].type], json_type_words(v));
		if (f[i].type == F_INT) {
			int64_t x = json_object_get_int64(v);
			if (x < f[i].min || x > f[i].max)
				return errf(err, errlen, -EINVAL,
					    "%s: want %" PRId64 " to %" PRId64 ", got %" PRId64, w,
					    f[i].min, f[i].max, x);
		} else if (f[i].type == F_RL && check_rl(v, w, err, errlen) < 0)
			return -EINVAL;
		else if (f[i].type == F_STR && f[i].choices) {
			const char *s = json_object_get_string(v);
			size_t c = 0;
			while (f[i].choices[c] && strcmp(f[i].choices[c], s))
				c++;
			if (!f[i].choices[c])
				return errf(err, errlen, -EINVAL, "%s: %s is not one of its values", w,
					    json_show(&sh, s, strlen(s), true));
		}
	}
	for (size_t i = 0; i < n; i++)
		if (f[i].required && !member(o, f[i].key))
			return errf(err, errlen, -EINVAL, "%s: %s is required", where, f[i].key);
	return 0;
}

/* ------------------------------------------------------------ applying calls */

/* What cellvm cannot serve of a section that passed the schema. */
static int unsupported(const char *what, char *err, size_t errlen)
{
	return errf(err, errlen, -EINVAL, "%s: not supported by cellvm", what);
}

static bool named(json_object *o, const char *key, const char *id, size_t id_len)
{
	const char *s = str_of(o, key);
	return s && strlen(s) == id_len && memcmp(s, id, id_len) == 0;
}

/* The element of doc's array `list` whose `key` is id, and its index. */
static json_object *find(const json_object *doc, const char *list, const char *key, const char *id,
			 size_t id_len, size_t *at)
{
	json_object *a = member(doc, list);
	size_t n = a ? json_object_array_length(a) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		if (named(e, key, id, id_len)) {
			if (at)
				*at = i;
			return e;
		}
	}
	return NULL;
}

/* Puts o (a reference is taken) as doc's array `list` element with this id. */
static int store_in(json_object *doc, const char *list, const char *key, const char *id,
		    size_t id_len, json_object *o)
{
	json_object *a = member(doc, list);
	if (!a) {
		if (!(a = json_object_new_array()))
			return -ENOMEM;
		json_object_object_add(doc, list, a);
	}
	size_t at;
	if (find(doc, list, key, id, id_len, &at))
		return json_object_array_put_idx(a, at, json_object_get(o)) < 0 ? -ENOMEM : 0;
	if (json_object_array_length(a) >= VM_CONFIG_MAX_DEVICES)
		return -ENOSPC;
	return json_object_array_add(a, json_object_get(o)) < 0 ? -ENOMEM : 0;
}

static int stored(int r, char *err, size_t errlen)
{
	if (r == -ENOSPC)
		return errf(err, errlen, -EINVAL, "at most %d devices: cellvm's virtio-mmio slots",
			    VM_CONFIG_MAX_DEVICES);
	return r < 0 ? errf(err, errlen, r, "out of memory") : 0;
}

static int id_matches(json_object *o, const char *key, const char *id, size_t id_len,
		      const char *where, char *err, size_t errlen)
{
	if (named(o, key, id, id_len))
		return 0;
	return errf(err, errlen, -EINVAL, "%s: %s does not match the path's id", where, key);
}

static int put_machine(json_object *doc, json_object *o, char *err, size_t errlen)
{
	if (check(o, machine_fields, N(machine_fields), "machine-config", err, errlen) < 0)
		return -EINVAL;
	const char *tmpl = given(o, "cpu_template"), *huge = given(o, "huge_pages");
	if (bool_of(o, "smt"))
		return unsupported("machine-config.smt", err, errlen);
	if (tmpl && strcmp(tmpl, "None"))
		return unsupported("machine-config.cpu_template other than None", err, errlen);
	if (huge && strcmp(huge, "None"))
		return unsupported("machine-config.huge_pages other than None", err, errlen);
	if (json_object_get_int64(member(o, "mem_size_mib")) % 2)
		return errf(err, errlen, -EINVAL,
			    "machine-config.mem_size_mib: want a multiple of 2 (cellvm maps guest "
			    "memory in 2 MiB pages)");
	json_object_object_add(doc, "machine-config", json_object_get(o));
	return 0;
}

/* PATCH /machine-config: the fields given over the ones there, checked whole. */
static int patch_machine(json_object *doc, json_object *o, char *err, size_t errlen)
{
	if (!json_object_is_type(o, json_type_object))
		return check(o, machine_fields, 0, "machine-config", err, errlen);
	json_object *m = json_object_new_object(), *old = member(doc, "machine-config");
	if (!m)
		return -ENOMEM;
	json_object_object_add(m, "vcpu_count", json_object_new_int(1));
	json_object_object_add(m, "mem_size_mib", json_object_new_int(128));
	if (old) {
		json_object_object_foreach(old, k, v)
			json_object_object_add(m, k, json_object_get(v));
	}
	json_object_object_foreach(o, k, v)
		json_object_object_add(m, k, json_object_get(v));
	int r = put_machine(doc, m, err, errlen);
	json_object_put(m);
	return r;
}

static int put_drive(json_object *doc, json_object *o, const char *id, size_t id_len, char *err,
		     size_t errlen)
{
	if (check(o, drive_fields, N(drive_fields), "drive", err, errlen) < 0 ||
	    id_matches(o, "drive_id", id, id_len, "drive", err, errlen) < 0)
		return -EINVAL;
	if (!member(o, "path_on_host") == !member(o, "socket"))
		return errf(err, errlen, -EINVAL,
			    "drive: give path_on_host (a disk image) or socket (a vhost-user backend)");
	if (member(o, "socket") && (member(o, "is_read_only") || member(o, "rate_limiter")))
		return errf(err, errlen, -EINVAL,
			    "drive: is_read_only and rate_limiter are for path_on_host only");
	json_object *a = member(doc, "drives");
	for (size_t i = 0, n = a ? json_object_array_length(a) : 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		if (bool_of(o, "is_root_device") && bool_of(e, "is_root_device") &&
		    !named(e, "drive_id", id, id_len))
			return errf(err, errlen, -EINVAL,
				    "drive: a root block device already exists (%s)",
				    str_of(e, "drive_id"));
	}
	return stored(store_in(doc, "drives", "drive_id", id, id_len, o), err, errlen);
}

/* PATCH of a drive or NIC before boot: its fields replaced by the ones given. */
static int patch_into(json_object *doc, const char *list, const char *key, json_object *o,
		      const char *id, size_t id_len, const char *where, char *err, size_t errlen)
{
	json_object *old = find(doc, list, key, id, id_len, NULL);
	if (!old)
		return errf(err, errlen, -EINVAL, "%s: no such id; PUT it first", where);
	json_object_object_foreach(o, k, v) {
		if (!json_object_is_type(v, json_type_null))
			json_object_object_add(old, k, json_object_get(v));
	}
	return 0;
}

static int put_net(json_object *doc, json_object *o, const char *id, size_t id_len, char *err,
		   size_t errlen)
{
	if (check(o, net_fields, N(net_fields), "network-interface", err, errlen) < 0 ||
	    id_matches(o, "iface_id", id, id_len, "network-interface", err, errlen) < 0)
		return -EINVAL;
	if (member(o, "mtu"))
		return unsupported("network-interface.mtu", err, errlen);
	return stored(store_in(doc, "network-interfaces", "iface_id", id, id_len, o), err, errlen);
}

/* A section checked against its fields and stored whole under `key`. */
static int put_section(json_object *doc, const char *key, json_object *o, const struct field *f,
		       size_t n, char *err, size_t errlen)
{
	if (check(o, f, n, key, err, errlen) < 0)
		return -EINVAL;
	json_object_object_add(doc, key, json_object_get(o));
	return 0;
}

static int apply_obj(json_object *doc, enum fc_op op, const char *id, size_t id_len,
		     json_object *o, char *err, size_t errlen)
{
	switch (op) {
	case FC_OP_PUT_BOOT:
		return put_section(doc, "boot-source", o, boot_fields, N(boot_fields), err, errlen);
	case FC_OP_PUT_MACHINE: return put_machine(doc, o, err, errlen);
	case FC_OP_PATCH_MACHINE: return patch_machine(doc, o, err, errlen);
	case FC_OP_PUT_DRIVE: return put_drive(doc, o, id, id_len, err, errlen);
	case FC_OP_PATCH_DRIVE:
		if (check(o, drive_patch_fields, N(drive_patch_fields), "drive", err, errlen) < 0 ||
		    id_matches(o, "drive_id", id, id_len, "drive", err, errlen) < 0)
			return -EINVAL;
		return patch_into(doc, "drives", "drive_id", o, id, id_len, "drive", err, errlen);
	case FC_OP_PUT_NET: return put_net(doc, o, id, id_len, err, errlen);
	case FC_OP_PATCH_NET:
		if (check(o, net_patch_fields, N(net_patch_fields), "network-interface", err,
			  errlen) < 0 ||
		    id_matches(o, "iface_id", id, id_len, "network-interface", err, errlen) < 0)
			return -EINVAL;
		return patch_into(doc, "network-interfaces", "iface_id", o, id, id_len,
				  "network-interface", err, errlen);
	case FC_OP_PUT_VSOCK:
		return put_section(doc, "vsock", o, vsock_fields, N(vsock_fields), err, errlen);
	case FC_OP_PUT_ENTROPY:
		if (check(o, entropy_fields, N(entropy_fields), "entropy", err, errlen) < 0)
			return -EINVAL;
		if (member(o, "rate_limiter"))
			return unsupported("entropy.rate_limiter", err, errlen);
		json_object_object_add(doc, "entropy", json_object_get(o));
		return 0;
	case FC_OP_PUT_BALLOON:
		if (check(o, balloon_fields, N(balloon_fields), "balloon", err, errlen) < 0)
			return -EINVAL;
		if (bool_of(o, "free_page_hinting"))
			return unsupported("balloon.free_page_hinting", err, errlen);
		json_object_object_add(doc, "balloon", json_object_get(o));
		return 0;
	case FC_OP_PATCH_BALLOON: {
		json_object *b = member(doc, "balloon");
		if (check(o, balloon_patch_fields, N(balloon_patch_fields), "balloon", err, errlen) < 0)
			return -EINVAL;
		if (!b)
			return errf(err, errlen, -EINVAL, "balloon: no balloon device; PUT one first");
		json_object_object_add(b, "amount_mib", json_object_get(member(o, "amount_mib")));
		return 0;
	}
	case FC_OP_PUT_LOGGER:
		return put_section(doc, "logger", o, logger_fields, N(logger_fields), err, errlen);
	case FC_OP_PUT_METRICS:
		return put_section(doc, "metrics", o, metrics_fields, N(metrics_fields), err, errlen);
	default: return errf(err, errlen, -EINVAL, "this call has no body to apply");
	}
}

struct fc_vm *fc_vm_new(void)
{
	struct fc_vm *vm = calloc(1, sizeof(*vm));
	if (vm && !(vm->doc = json_object_new_object())) {
		free(vm);
		return NULL;
	}
	return vm;
}

void fc_vm_free(struct fc_vm *vm)
{
	if (!vm)
		return;
	json_object_put(vm->doc);
	free(vm);
}

static int parse(const char *text, size_t len, size_t max, const char *what, json_object **o,
		 char *err, size_t errlen)
{
	struct json_strict_error e;
	int r = json_strict_parse(text, len, max, FC_BODY_DEPTH, o, NULL, NULL, &e);
	if (r == -ENOMEM)
		return errf(err, errlen, r, "out of memory");
	if (r < 0) {
		if (e.off == JSON_STRICT_WHOLE)
			return errf(err, errlen, r, "the %s %s", what, e.what);
		return errf(err, errlen, r, "the %s: %s%sbyte %zu: %s", what, e.where,
			    e.where[0] ? ", " : "", e.off, e.what);
	}
	return 0;
}

/* Every change goes to a copy first, so that a refused one leaves no trace. */
static int apply_copy(struct fc_vm *vm, enum fc_op op, const char *id, size_t id_len,
		      json_object *o, char *err, size_t errlen)
{
	json_object *copy = NULL;
	if (json_object_deep_copy(vm->doc, &copy, NULL) < 0)
		return errf(err, errlen, -ENOMEM, "out of memory");
	int r = apply_obj(copy, op, id, id_len, o, err, errlen);
	if (r < 0) {
		json_object_put(copy);
		return r;
	}
	json_object_put(vm->doc);
	vm->doc = copy;
	return 0;
}

int fc_vm_apply(struct fc_vm *vm, enum fc_op op, const char *id, size_t id_len, const char *body,
		size_t len, char *err, size_t errlen)
{
	json_object *o;
	int r = parse(body, len, HTTP11_BODY_MAX, "body", &o, err, errlen);
	if (r < 0)
		return r;
	r = apply_copy(vm, op, id, id_len, o, err, errlen);
	json_object_put(o);
	return r;
}

/* A config file's array section: each element applied with its own id. */
static int load_list(json_object *doc, enum fc_op op, const char *key, json_object *a,
		     const char *section, char *err, size_t errlen)
{
	if (!json_object_is_type(a, json_type_array))
		return errf(err, errlen, -EINVAL, "%s: want an array, got %s", section,
			    json_type_words(a));
	for (size_t i = 0, n = json_object_array_length(a); i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		const char *id = str_of(e, key);
		if (!id || !json_object_is_type(member(e, key), json_type_string))
			return errf(err, errlen, -EINVAL, "%s[%zu]: %s is required", section, i, key);
		int r = apply_obj(doc, op, id, strlen(id), e, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

int fc_vm_load(struct fc_vm *vm, const char *text, size_t len, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		enum fc_op op;
		const char *id_key; /* the sections that are arrays */
	} sections[] = {
		{ "boot-source", FC_OP_PUT_BOOT, NULL },
		{ "machine-config", FC_OP_PUT_MACHINE, NULL },
		{ "drives", FC_OP_PUT_DRIVE, "drive_id" },
		{ "network-interfaces", FC_OP_PUT_NET, "iface_id" },
		{ "vsock", FC_OP_PUT_VSOCK, NULL },
		{ "entropy", FC_OP_PUT_ENTROPY, NULL },
		{ "balloon", FC_OP_PUT_BALLOON, NULL },
		{ "logger", FC_OP_PUT_LOGGER, NULL },
		{ "metrics", FC_OP_PUT_METRICS, NULL },
	};
	json_object *o, *doc = NULL;
	int r = parse(text, len, FC_FILE_MAX, "config file", &o, err, errlen);
	if (r < 0)
		return r;
	if (json_object_deep_copy(vm->doc, &doc, NULL) < 0) {
		r = errf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	json_object_object_foreach(o, k, v) {
		size_t i = 0;
		while (i < N(sections) && strcmp(sections[i].key, k))
			i++;
		if (strcmp(k, "x-cellvm") == 0)
			r = put_section(doc, k, v, xcellvm_fields, N(xcellvm_fields), err, errlen);
		else if (i == N(sections)) {
			struct json_shown sh;
			r = errf(err, errlen, -EINVAL, "config file: unknown or unsupported section %s",
				 json_show(&sh, k, strlen(k), true));
		} else if (sections[i].id_key)
			r = load_list(doc, sections[i].op, sections[i].id_key, v, k, err, errlen);
		else
			r = apply_obj(doc, sections[i].op, NULL, 0, v, err, errlen);
		if (r < 0)
			goto out;
	}
	json_object_put(vm->doc);
	vm->doc = doc;
	doc = NULL;
out:
	json_object_put(doc);
	json_object_put(o);
	return r;
}

/* ------------------------------------------------------------ translating */

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1 pci=off"
#define DEFAULT_MEM_MIB 128 /* Firecracker's default */

/* path made absolute against cwd, as a new JSON string. */
static json_object *path_of(const char *p, const char *cwd)
{
	if (p[0] == '/' || !cwd)
		return json_object_new_string(p);
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	char *s;
	if (asprintf(&s, "%s%s%s", cwd, cwd[strlen(cwd) - 1] == '/' ? "" : "/", p) < 0)
		return NULL;
	json_object *j = json_object_new_string(s);
	free(s);
	return j;
}

/* Firecracker's limiter as cellvm's: a bucket with size or refill_time 0
 * limits nothing in Firecracker, and is left out (cellvm refuses it). NULL
 * when no bucket limits anything. */
static json_object *limiter(json_object *rl)
{
	json_object *out = NULL;
	static const char *const buckets[] = { "bandwidth", "ops" };
	for (size_t i = 0; rl && i < N(buckets); i++) {
		json_object *b = member(rl, buckets[i]);
		if (!b || json_object_get_int64(member(b, "size")) == 0 ||
		    json_object_get_int64(member(b, "refill_time")) == 0)
			continue;
		json_object *nb = json_object_new_object();
		json_object_object_foreach(b, k, v) {
			if (!json_object_is_type(v, json_type_null))
				json_object_object_add(nb, k, json_object_get(v));
		}
		if (!out)
			out = json_object_new_object();
		json_object_object_add(out, buckets[i], nb);
	}
	return out;
}

static void add_limiter(json_object *dev, const char *key, json_object *rl)
{
	json_object *l = limiter(rl);
	if (l)
		json_object_object_add(dev, key, l);
}

/* Drives in the translation's order: the root device first (the guest's
 * /dev/vda, as Firecracker has it), then the others in the order they came. */
static size_t drive_order(json_object *drives, json_object **out, size_t max)
{
	size_t n = drives ? json_object_array_length(drives) : 0, k = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n && k < max; i++) {
			json_object *d = json_object_array_get_idx(drives, i);
			if (bool_of(d, "is_root_device") == (pass == 0))
				out[k++] = d;
		}
	return k;
}

#define MAX_DRIVES 64

static json_object *block_device(json_object *d, const char *cwd)
{
	json_object *b = json_object_new_object();
	const char *id = str_of(d, "drive_id");
	if (member(d, "socket")) {
		json_object_object_add(b, "vhost_user_socket", path_of(str_of(d, "socket"), cwd));
		return b;
	}
	json_object_object_add(b, "path", path_of(str_of(d, "path_on_host"), cwd));
	if (bool_of(d, "is_read_only"))
		json_object_object_add(b, "read_only", json_object_new_boolean(true));
	/* Firecracker gives the guest the drive's id as its virtio-blk serial. */
	if (strlen(id) <= VM_CONFIG_SERIAL_MAX)
		json_object_object_add(b, "serial", json_object_new_string(id));
	add_limiter(b, "rate_limiter", member(d, "rate_limiter"));
	return b;
}

static json_object *net_device(json_object *n)
{
	json_object *d = json_object_new_object();
	json_object_object_add(d, "tap", json_object_new_string(str_of(n, "host_dev_name")));
	if (given(n, "guest_mac"))
		json_object_object_add(d, "mac", json_object_new_string(given(n, "guest_mac")));
	add_limiter(d, "rx_rate_limiter", member(n, "rx_rate_limiter"));
	add_limiter(d, "tx_rate_limiter", member(n, "tx_rate_limiter"));
	return d;
}

/* boot_args, and the root device as Firecracker names it on the command line. */
static json_object *cmdline(json_object *boot, json_object *root)
{
	const char *args = str_of(boot, "boot_args");
	char *s;
	if (!root)
		return json_object_new_string(args ? args : DEFAULT_CMDLINE);
	const char *part = given(root, "partuuid");
	if (asprintf(&s, "%s root=%s%s %s", args ? args : DEFAULT_CMDLINE, part ? "PARTUUID=" : "",
		     part ? part : "/dev/vda", bool_of(root, "is_read_only") ? "ro" : "rw") < 0)
		return NULL;
	json_object *j = json_object_new_string(s);
	free(s);
	return j;
}

int fc_vm_translate(const struct fc_vm *vm, const char *cwd, const char *sandbox, char **out,
		    char *err, size_t errlen)
{
	json_object *boot = member(vm->doc, "boot-source");
	if (!boot)
		return errf(err, errlen, -EINVAL,
			    "Cannot start the microVM without a boot source: PUT /boot-source first");
	json_object *cfg = json_object_new_object(), *m = member(vm->doc, "machine-config");
	json_object *drives[MAX_DRIVES], *blk = json_object_new_array(), *net = json_object_new_array();
	size_t nd = drive_order(member(vm->doc, "drives"), drives, MAX_DRIVES);
	json_object_object_add(cfg, "kernel", path_of(str_of(boot, "kernel_image_path"), cwd));
	if (given(boot, "initrd_path"))
		json_object_object_add(cfg, "initrd", path_of(given(boot, "initrd_path"), cwd));
	json_object_object_add(cfg, "cmdline",
			       cmdline(boot, nd && bool_of(drives[0], "is_root_device") ? drives[0] : NULL));
	json_object_object_add(cfg, "cpus",
			       json_object_new_int(m ? json_object_get_int(member(m, "vcpu_count")) : 1));
	char mem[32];
	snprintf(mem, sizeof(mem), "%" PRId64 "M",
		 m ? json_object_get_int64(member(m, "mem_size_mib")) : DEFAULT_MEM_MIB);
	json_object_object_add(cfg, "memory", json_object_new_string(mem));
	for (size_t i = 0; i < nd; i++)
		json_object_array_add(blk, block_device(drives[i], cwd));
	json_object_object_add(cfg, "block_devices", blk);
	json_object *nics = member(vm->doc, "network-interfaces");
	for (size_t i = 0, n = nics ? json_object_array_length(nics) : 0; i < n; i++)
		json_object_array_add(net, net_device(json_object_array_get_idx(nics, i)));
	json_object_object_add(cfg, "net_devices", net);
	json_object *vs = member(vm->doc, "vsock");
	if (vs) {
		json_object *v = json_object_new_object();
		json_object_object_add(v, "guest_cid", json_object_get(member(vs, "guest_cid")));
		json_object_object_add(v, "uds_path", path_of(str_of(vs, "uds_path"), cwd));
		json_object_object_add(cfg, "vsock", v);
	}
	json_object *bal = member(vm->doc, "balloon");
	if (bal) {
		json_object *b = json_object_new_object();
		static const char *const keys[] = { "amount_mib", "deflate_on_oom",
						    "stats_polling_interval_s", "free_page_reporting" };
		for (size_t i = 0; i < N(keys); i++)
			if (member(bal, keys[i]))
				json_object_object_add(b, keys[i], json_object_get(member(bal, keys[i])));
		json_object_object_add(cfg, "balloon", b);
	}
	json_object *x = member(vm->doc, "x-cellvm");
	if (x) {
		json_object_object_foreach(x, k, v) {
			if (!json_object_is_type(v, json_type_null))
				json_object_object_add(cfg, k, json_object_get(v));
		}
	}
	if (member(vm->doc, "entropy"))
		json_object_object_add(cfg, "rng", json_object_new_boolean(true));
	if (sandbox)
		json_object_object_add(cfg, "sandbox", json_object_new_string(sandbox));
	const char *text = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	*out = text ? strdup(text) : NULL;
	json_object_put(cfg);
	return *out ? 0 : errf(err, errlen, -ENOMEM, "out of memory");
}

/* ------------------------------------------------------------ reading back */

char *fc_vm_get(const struct fc_vm *vm, enum fc_op op, char *err, size_t errlen)
{
	json_object *o = NULL;
	char *s = NULL;
	if (op == FC_OP_GET_MACHINE) {
		json_object *m = member(vm->doc, "machine-config");
		if (m)
			o = json_object_get(m);
		else if ((o = json_object_new_object())) {
			json_object_object_add(o, "vcpu_count", json_object_new_int(1));
			json_object_object_add(o, "mem_size_mib", json_object_new_int(DEFAULT_MEM_MIB));
			json_object_object_add(o, "smt", json_object_new_boolean(false));
			json_object_object_add(o, "track_dirty_pages", json_object_new_boolean(false));
			json_object_object_add(o, "huge_pages", json_object_new_string("None"));
		}
	} else if (op == FC_OP_GET_BALLOON) {
		if (!(o = json_object_get(member(vm->doc, "balloon")))) {
			errf(err, errlen, 0, "No balloon device configured.");
			return NULL;
		}
	} else if (op == FC_OP_GET_VM_CONFIG)
		o = json_object_get(vm->doc);
	const char *t = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
	if (t)
		s = strdup(t);
	json_object_put(o);
	if (!s)
		errf(err, errlen, 0, "out of memory");
	return s;
}

int fc_vm_device(const struct fc_vm *vm, bool drive, const char *id, size_t id_len, char *name,
		 size_t len, char *err, size_t errlen)
{
	if (drive) {
		json_object *drives[MAX_DRIVES];
		size_t n = drive_order(member(vm->doc, "drives"), drives, MAX_DRIVES);
		for (size_t i = 0; i < n; i++)
			if (named(drives[i], "drive_id", id, id_len)) {
				snprintf(name, len, "blk%zu", i);
				return 0;
			}
		return errf(err, errlen, -ENOENT, "drive: no such id");
	}
	size_t at;
	if (!find(vm->doc, "network-interfaces", "iface_id", id, id_len, &at))
		return errf(err, errlen, -ENOENT, "network-interface: no such id");
	snprintf(name, len, "net%zu", at);
	return 0;
}

bool fc_vm_has(const struct fc_vm *vm, const char *section)
{
	return member(vm->doc, section) != NULL;
}

const char *fc_vm_string(const struct fc_vm *vm, const char *section, const char *key)
{
	return str_of(member(vm->doc, section), key);
}

/* o's JSON text, malloc'd, into *out (o NULL: *out NULL); 0 or -ENOMEM. */
static int text_of(json_object *o, char **out, char *err, size_t errlen)
{
	if (!o)
		return 0;
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!t || !(*out = strdup(t)))
		return errf(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

int fc_vm_patch_params(const struct fc_vm *vm, enum fc_op op, const char *id, size_t id_len,
		       const char *body, size_t len, const char *cwd, char **params, char **swap,
		       char *err, size_t errlen)
{
	json_object *o, *copy = NULL, *p = NULL, *sw = NULL;
	char name[16];
	*params = *swap = NULL;
	int r = parse(body, len, HTTP11_BODY_MAX, "body", &o, err, errlen);
	if (r < 0)
		return r;
	if (json_object_deep_copy(vm->doc, &copy, NULL) < 0) {
		r = errf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = apply_obj(copy, op, id, id_len, o, err, errlen)) < 0)
		goto out;
	if (op == FC_OP_PATCH_BALLOON) {
		p = json_object_new_object();
		json_object_object_add(p, "amount_mib", json_object_get(member(o, "amount_mib")));
		goto out;
	}
	bool drive = op == FC_OP_PATCH_DRIVE;
	if ((r = fc_vm_device(vm, drive, id, id_len, name, sizeof(name), err, errlen)) < 0)
		goto out;
	if (drive) {
		/* A new image: the same path again is no change. */
		json_object *d = find(vm->doc, "drives", "drive_id", id, id_len, NULL);
		const char *now = str_of(d, "path_on_host"), *want = str_of(o, "path_on_host");
		if (want && (!now || strcmp(now, want))) {
			sw = json_object_new_object();
			json_object_object_add(sw, "device", json_object_new_string(name));
			json_object_object_add(sw, "path", path_of(want, cwd));
		}
	}
	static const char *const keys[] = { "rate_limiter", "rx_rate_limiter", "tx_rate_limiter" };
	for (size_t i = 0; i < N(keys); i++) {
		json_object *rl = member(o, keys[i]);
		if (!rl)
			continue;
		if (!p) {
			p = json_object_new_object();
			json_object_object_add(p, "device", json_object_new_string(name));
		}
		json_object_object_add(p, keys[i], json_object_get(rl));
	}
out:
	if (r == 0 && (r = text_of(p, params, err, errlen)) == 0 &&
	    (r = text_of(sw, swap, err, errlen)) < 0) {
		free(*params);
		*params = NULL;
	}
	json_object_put(sw);
	json_object_put(p);
	json_object_put(copy);
	json_object_put(o);
	return r;
}

int fc_vm_action(const char *body, size_t len, enum fc_op *op, char *err, size_t errlen)
{
	static const struct field action_fields[] = { STR("action_type", true) };
	json_object *o;
	int r = parse(body, len, HTTP11_BODY_MAX, "body", &o, err, errlen);
	if (r < 0)
		return r;
	if ((r = check(o, action_fields, N(action_fields), "action", err, errlen)) == 0) {
		const char *t = str_of(o, "action_type");
		struct json_shown sh;
		if ((*op = fc_action(t)) == FC_OP_COUNT)
			r = errf(err, errlen, -EINVAL, "action: action_type %s is not one of "
				 "InstanceStart, SendCtrlAltDel, FlushMetrics",
				 json_show(&sh, t, strlen(t), true));
	}
	json_object_put(o);
	return r;
}
