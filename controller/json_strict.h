/* The one strict-JSON check for what the controller reads from people and
 * peers: the VM config (controller/config.c) and RPC bodies (controller/rpc.c).
 * Pure: bytes with an explicit length in, json-c's tree or a reason out; no
 * logging.
 *
 * text[0..len) must be exactly one JSON object (RFC 8259) with only
 * whitespace around it. Refused, each with a reason and where:
 *  - more than max_bytes, a NUL byte, bytes that are not UTF-8 (overlong
 *    forms and surrogates too, which json-c lets through), a byte-order mark;
 *  - anything but an object at the top, anything after it;
 *  - what is not JSON: comments, trailing commas, leading zeros, bad escapes
 *    (json-c's strict mode), and what that mode still lets through: NaN,
 *    Infinity, single-quoted strings, raw control characters in strings;
 *  - containers (the top object included) nested more than max_depth deep;
 *  - a key given twice in one object, compared after its escapes are decoded
 *    (json-c keeps the last silently), and a key with \u0000 in it (json-c
 *    cuts it there). */
#ifndef CELLVM_JSON_STRICT_H
#define CELLVM_JSON_STRICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define JSON_STRICT_MAX_DEPTH 16   /* the deepest max_depth a caller may ask for */
#define JSON_STRICT_WHOLE SIZE_MAX /* error.off: the fault is the text as a whole */

struct json_strict_error {
	size_t off;      /* the byte at fault, or JSON_STRICT_WHOLE */
	bool key;        /* a key's fault: `where` names the object holding it */
	char where[128]; /* "block_devices[1].x", printable ASCII; "" at the top */
	char what[192];  /* the reason, e.g. "NaN and Infinity are not JSON";
			  * with JSON_STRICT_WHOLE it reads after "the config "
			  * or "the body ": "is empty: want a JSON object ({...})" */
};

/* Checks text[0..len) (need not be NUL-terminated). 0 with *out json-c's tree
 * (the caller puts it) and *obj_off, *obj_len the object's own bytes, from
 * '{' to '}' (either may be NULL); -EINVAL with *e filled; -ENOMEM. max_bytes <= INT_MAX;
 * max_depth 1..JSON_STRICT_MAX_DEPTH. */
int json_strict_parse(const char *text, size_t len, size_t max_bytes, int max_depth,
		      struct json_object **out, size_t *obj_off, size_t *obj_len,
		      struct json_strict_error *e);

/* The offset of the first byte of s[0..len) that does not start a
 * well-formed UTF-8 sequence (Unicode table 3-7), or len. */
size_t json_utf8_bad_offset(const char *s, size_t len);

#endif
