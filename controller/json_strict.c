/* In three passes:
 * 1. the raw bytes: size, NUL, UTF-8, byte-order mark, a '{' first;
 * 2. json-c with an explicit length and a depth limit, in strict mode, then
 *    only whitespace after the object;
 * 3. the text again, now known to be JSON to json-c, for what its strict mode
 *    lets through and what its tree cannot show (repeated keys, keys cut at
 *    \u0000), and for the exact depth (json-c counts a scalar at the bottom
 *    as a level, an empty container not). */
#include "json_strict.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json_words.h"

__attribute__((format(printf, 3, 4))) static int fail(struct json_strict_error *e, size_t off,
						      const char *fmt, ...)
{
	va_list ap;
	e->off = off;
	va_start(ap, fmt);
	vsnprintf(e->what, sizeof(e->what), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ------------------------------------------------------ pass 1: bytes */

size_t json_utf8_bad_offset(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
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

/* On success *start is the offset of the '{'. */
static int check_bytes(struct json_strict_error *e, const char *text, size_t len,
		       size_t max_bytes, size_t *start)
{
	if (len > max_bytes)
		return fail(e, JSON_STRICT_WHOLE, "is %zu bytes: at most %zu", len, max_bytes);
	const char *nul = memchr(text, '\0', len);
	if (nul)
		return fail(e, (size_t)(nul - text), "a NUL byte: want JSON text");
	size_t bad = json_utf8_bad_offset(text, len);
	if (bad < len)
		return fail(e, bad, "not valid UTF-8");
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		return fail(e, JSON_STRICT_WHOLE, "starts with a byte-order mark: save it without one");
	size_t i = 0;
	while (i < len && json_is_ws(text[i]))
		i++;
	if (i == len)
		return fail(e, JSON_STRICT_WHOLE, "is empty: want a JSON object ({...})");
	if (text[i] != '{')
		return fail(e, i, "want a JSON object ({...}) at the top level");
	*start = i;
	return 0;
}

/* ------------------------------------------------------- pass 3: text */

struct level {
	bool is_object;
	bool want_key;            /* objects: the next string is a key */
	size_t index;             /* arrays: the current element */
	char key[40];             /* objects: the current key, for messages */
	struct json_object *seen; /* objects: the keys so far, as a set */
};

/* e->where = the path of lv[0..n) ("block_devices[1]"), printable only. */
static void set_where(struct json_strict_error *e, const struct level *lv, size_t n)
{
	size_t o = 0;
	e->where[0] = '\0';
	for (size_t i = 0; i < n && o < sizeof(e->where); i++) {
		int w;
		if (lv[i].is_object)
			w = snprintf(e->where + o, sizeof(e->where) - o, "%s%s", o ? "." : "",
				     lv[i].key);
		else
			w = snprintf(e->where + o, sizeof(e->where) - o, "[%zu]", lv[i].index);
		if (w < 0)
			break;
		o += (size_t)w;
	}
	for (char *p = e->where; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
}

/* A key's text s[off..off+n) (with its quotes): decode it, refuse \u0000 in
 * it, and refuse it if the object at lv[depth - 1] has it already. */
static int check_key(struct json_strict_error *e, struct json_tokener *ktok, const char *s,
		     size_t off, size_t n, struct level *lv, size_t depth)
{
	struct level *obj = &lv[depth - 1];
	json_tokener_reset(ktok);
	struct json_object *k = json_tokener_parse_ex(ktok, s + off, (int)n);
	if (!k || !json_object_is_type(k, json_type_string)) {
		json_object_put(k);
		return fail(e, off, "internal error: json-c accepted a key it cannot read again");
	}
	const char *name = json_object_get_string(k);
	size_t len = (size_t)json_object_get_string_len(k);
	struct json_shown q;
	int ret = 0;
	snprintf(obj->key, sizeof(obj->key), "%s", name);
	if (strlen(name) != len || json_object_object_get_ex(obj->seen, name, NULL)) {
		e->key = true;
		set_where(e, lv, depth - 1);
		ret = strlen(name) != len
			      ? fail(e, off, "key %s contains a NUL character (\\u0000): remove it",
				     json_show(&q, name, len, true))
			      : fail(e, off, "duplicate key %s: give each key once",
				     json_show(&q, name, len, true));
	} else if (json_object_object_add(obj->seen, name, NULL) < 0) {
		ret = -ENOMEM;
	}
	json_object_put(k);
	return ret;
}

/* s[start..end) is the object json-c parsed; *close is set to its '}'. */
static int check_text(struct json_strict_error *e, const char *s, size_t start, size_t end,
		      int max_depth, size_t *close)
{
	struct level lv[JSON_STRICT_MAX_DEPTH];
	size_t depth = 0;
	int ret = 0;
	struct json_tokener *ktok = json_tokener_new();
	if (!ktok)
		return -ENOMEM;
	size_t i;
	for (i = start; i < end && !ret; i++) {
		switch (s[i]) {
		case '{':
		case '[':
			if (depth == (size_t)max_depth) {
				ret = fail(e, i, "nested more than %d levels deep", max_depth);
				break;
			}
			lv[depth] = (struct level){ .is_object = s[i] == '{', .want_key = s[i] == '{' };
			if (lv[depth].is_object && !(lv[depth].seen = json_object_new_object())) {
				ret = -ENOMEM;
				break;
			}
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0) {
				ret = fail(e, i, "internal error: unbalanced brackets");
				break;
			}
			json_object_put(lv[--depth].seen);
			if (depth == 0) {
				*close = i;
				goto out;
			}
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
			ret = fail(e, i, "strings take double quotes (\"), not single ones");
			break;
		case 'N': /* outside strings: NaN */
		case 'I': /* Infinity, -Infinity */
			ret = fail(e, i, "NaN and Infinity are not JSON");
			break;
		case '"': {
			size_t key = i;
			for (i++; i < end && s[i] != '"' && !ret; i++) {
				if (s[i] == '\\')
					i++; /* json-c checked the escape; skip what it escapes */
				else if ((unsigned char)s[i] < 0x20)
					ret = fail(e, i, "a control character in a string: write it "
							 "as an escape such as \\n or \\t");
			}
			if (ret || i >= end)
				break;
			if (depth && lv[depth - 1].is_object && lv[depth - 1].want_key)
				ret = check_key(e, ktok, s, key, i + 1 - key, lv, depth);
			break;
		}
		default:
			break; /* whitespace, numbers, true/false/null */
		}
	}
	if (!ret)
		ret = fail(e, i, "internal error: json-c accepted an object it did not close");
out:
	while (depth)
		json_object_put(lv[--depth].seen);
	json_tokener_free(ktok);
	return ret;
}

/* ------------------------------------------------------ entry */

int json_strict_parse(const char *text, size_t len, size_t max_bytes, int max_depth,
		      struct json_object **out, size_t *obj_off, size_t *obj_len,
		      struct json_strict_error *e)
{
	*e = (struct json_strict_error){ .off = JSON_STRICT_WHOLE };
	if (max_depth < 1 || max_depth > JSON_STRICT_MAX_DEPTH || max_bytes > INT_MAX)
		return fail(e, JSON_STRICT_WHOLE, "internal error: limits out of range");
	size_t start = 0, close = 0;
	int ret = check_bytes(e, text, len, max_bytes, &start);
	if (ret)
		return ret;

	/* json-c counts one level more than there are brackets. */
	struct json_tokener *tok = json_tokener_new_ex(max_depth + 1);
	if (!tok)
		return -ENOMEM;
	/* Trailing bytes are refused below, with a clearer message than json-c's.
	 * Pass 1 checked UTF-8 more strictly than json-c does; json-c checks too. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
					    JSON_TOKENER_VALIDATE_UTF8);
	struct json_object *top = json_tokener_parse_ex(tok, text, (int)len);
	size_t end = json_tokener_get_parse_end(tok);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!top) {
		if (end > len)
			end = len;
		if (jerr == json_tokener_continue)
			return fail(e, len, "the JSON ends early: complete or close it");
		if (jerr == json_tokener_error_depth)
			return fail(e, end, "nested more than %d levels deep", max_depth);
		return fail(e, end, "%s: not valid JSON", json_tokener_error_desc(jerr));
	}
	for (size_t i = end; i < len && !ret; i++)
		if (!json_is_ws(text[i]))
			ret = fail(e, i, "more after the JSON object: remove it");
	if (!ret)
		ret = check_text(e, text, start, end, max_depth, &close);
	if (ret) {
		json_object_put(top);
		return ret;
	}
	*out = top;
	if (obj_off)
		*obj_off = start;
	if (obj_len)
		*obj_len = close + 1 - start;
	return 0;
}
