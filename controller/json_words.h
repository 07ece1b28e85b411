/* Small pieces the controller's two strict JSON readers share (the config,
 * controller/config.c, and the RPC codec, controller/rpc.c): how an error
 * names a value's type, and what counts as JSON whitespace. Pure. */
#ifndef CELLVM_JSON_WORDS_H
#define CELLVM_JSON_WORDS_H

#include <stdbool.h>

#include <json-c/json.h>

/* "null", "a boolean", "an integer", "a string", ... for "want X, got Y". */
const char *json_type_words(struct json_object *v);

/* JSON's whitespace (RFC 8259): space, tab, line feed, carriage return. */
static inline bool json_is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

#endif
