#include "json_words.h"

#include <stdio.h>
#include <string.h>

const char *json_show(struct json_shown *b, const char *s, size_t len, bool quoted)
{
	size_t o = 0;
	if (quoted)
		b->s[o++] = '"';
	for (size_t i = 0; i < len && i < JSON_SHOW_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (quoted && (ch == '"' || ch == '\\')) {
			b->s[o++] = '\\';
			b->s[o++] = (char)ch;
		} else if (ch >= 0x20 && ch < 0x7f) {
			b->s[o++] = (char)ch;
		} else {
			o += (size_t)snprintf(b->s + o, sizeof(b->s) - o, "\\x%02x", ch);
		}
	}
	if (quoted)
		b->s[o++] = '"';
	if (len > JSON_SHOW_MAX) {
		memcpy(b->s + o, "...", 3);
		o += 3;
	}
	b->s[o] = '\0';
	return b->s;
}

const char *json_type_words(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double: return "a number with a fraction or exponent";
	case json_type_int: return "an integer";
	case json_type_object: return "an object";
	case json_type_array: return "an array";
	case json_type_string: return "a string";
	}
	return "an unknown type";
}
