/* Small pieces the controller's strict JSON check (controller/json_strict.c)
 * and its two readers (the config, controller/config.c, and the RPC codec,
 * controller/rpc.c) share: how an error
 * shows a peer's bytes and names a value's type, and what counts as JSON
 * whitespace. Pure. */
#ifndef CELLVM_JSON_WORDS_H
#define CELLVM_JSON_WORDS_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/* A peer's bytes in a message: cut after JSON_SHOW_MAX bytes (then "..."),
 * every byte that is not printable ASCII as \xNN (a message must not drive a
 * terminal), in double quotes with " and \ escaped when `quoted` (strings;
 * numbers go without). Returns b->s. */
#define JSON_SHOW_MAX 48
struct json_shown {
	char s[2 + JSON_SHOW_MAX * 4 + 4];
};
const char *json_show(struct json_shown *b, const char *s, size_t len, bool quoted);

/* "null", "a boolean", "an integer", "a string", ... for "want X, got Y". */
const char *json_type_words(struct json_object *v);

/* JSON's whitespace (RFC 8259): space, tab, line feed, carriage return. */
static inline bool json_is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

#endif
