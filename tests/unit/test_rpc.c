/* The RPC codec (every rule of controller/rpc.h, both directions) and the
 * framed I/O over socketpairs: the server's incremental reader and bounded
 * writer, and the clients' blocking helpers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "lifecycle.h"
#include "log.h"
#include "rpc.h"
#include "rpc_conn.h"
#include "testutil.h"

static void quiet(void)
{
	log_init("test_rpc", LOG_LVL_ERROR);
}

TestSuite(rpc, .init = quiet);
TestSuite(rpc_reader, .init = quiet);
TestSuite(rpc_writer, .init = quiet);
TestSuite(rpc_blocking, .init = quiet);

/* ---------------------------------------------------------------- helpers */

static char err[512];
static char text[1 << 18];

/* Templates write JSON's double quotes as single ones. */
static const char *J(const char *tmpl)
{
	size_t n = strlen(tmpl);
	cr_assert_lt(n, sizeof(text));
	for (size_t i = 0; i <= n; i++)
		text[i] = tmpl[i] == '\'' ? '"' : tmpl[i];
	return text;
}

/* Every parse runs on a malloc'd copy of exactly the body's bytes, with no
 * NUL after it, so ASan catches any read past len. */
static int parse_req_bytes(const char *s, size_t n, struct rpc_request *r)
{
	char *copy = malloc(n ? n : 1);
	cr_assert(copy);
	memcpy(copy, s, n);
	memset(err, 0, sizeof(err));
	int ret = rpc_parse_request(copy, n, r, err, sizeof(err));
	free(copy);
	return ret;
}

static int parse_rep_bytes(const char *s, size_t n, struct rpc_reply *r)
{
	char *copy = malloc(n ? n : 1);
	cr_assert(copy);
	memcpy(copy, s, n);
	memset(err, 0, sizeof(err));
	int ret = rpc_parse_reply(copy, n, r, err, sizeof(err));
	free(copy);
	return ret;
}

static void req_ok(const char *body, struct rpc_request *r)
{
	int ret = parse_req_bytes(body, strlen(body), r);
	cr_assert_eq(ret, 0, "refused (%d): %s\n  error: %s", ret, body, err);
}

static void rep_ok(const char *body, struct rpc_reply *r)
{
	int ret = parse_rep_bytes(body, strlen(body), r);
	cr_assert_eq(ret, 0, "refused (%d): %s\n  error: %s", ret, body, err);
}

/* Refused with -EINVAL, the message starts with want, and *out untouched. */
static void req_err_bytes(const char *body, size_t n, const char *want)
{
	struct rpc_request r, before;
	memset(&r, 0xa5, sizeof(r));
	before = r;
	int ret = parse_req_bytes(body, n, &r);
	cr_assert_eq(ret, -EINVAL, "accepted (%d): %.*s", ret, (int)n, body);
	cr_assert(!strncmp(err, want, strlen(want)), "%.*s\n  got:  %s\n  want: %s...", (int)n,
		  body, err, want);
	cr_assert_arr_eq(&r, &before, sizeof(r), "*out touched on error");
}

static void req_err(const char *body, const char *want)
{
	req_err_bytes(body, strlen(body), want);
}

static void rep_err(const char *body, const char *want)
{
	struct rpc_reply r, before;
	memset(&r, 0xa5, sizeof(r));
	before = r;
	int ret = parse_rep_bytes(body, strlen(body), &r);
	cr_assert_eq(ret, -EINVAL, "accepted (%d): %s", ret, body);
	cr_assert(!strncmp(err, want, strlen(want)), "%s\n  got:  %s\n  want: %s...", body, err,
		  want);
	cr_assert_arr_eq(&r, &before, sizeof(r), "*out touched on error");
}

/* {"a":{"a":...{}...}}: an object nested `depth` deep. */
static const char *nested(size_t depth)
{
	size_t o = 0;
	for (size_t i = 0; i < depth; i++)
		o += (size_t)sprintf(text + o, i + 1 < depth ? "{\"a\":" : "{");
	for (size_t i = 0; i < depth; i++)
		text[o++] = '}';
	text[o] = '\0';
	return text;
}

/* {"id":1,"method":"Create","params":<params>} */
static const char *create_with(const char *params)
{
	static char body[sizeof(text) + 64];
	snprintf(body, sizeof(body), "{\"id\":1,\"method\":\"Create\",\"params\":%s}", params);
	return body;
}

static uint8_t frame[RPC_FRAME_MAX + 64];

/* The body of the frame just encoded, which must be len bytes. */
static const char *body_of(int len)
{
	cr_assert_gt(len, 4, "encode failed: %d", len);
	uint32_t n;
	cr_assert_eq(rpc_frame_length(frame, &n), 0);
	cr_assert_eq(n, (uint32_t)len - 4, "the prefix says the body's length");
	static char body[RPC_MAX_BODY + 1];
	memcpy(body, frame + 4, n);
	body[n] = '\0';
	return body;
}

/* --------------------------------------------------------- names, frames */

Test(rpc, method_names_and_fds)
{
	static const char *const want[] = { "Create", "Bind", "Run", "Stop", "Status",
					    "GetSerial", "GetConsole", "Metrics", "SetRateLimiter",
					    "SetBalloon", "BalloonStats", "HostVsockConnect",
					    "BalloonGetSize", "BalloonRequestNumPages",
					    "BalloonGetMemStats" };
	cr_assert_eq(sizeof(want) / sizeof(want[0]), RPC_METHOD_COUNT);
	for (int m = 0; m < RPC_METHOD_COUNT; m++) {
		cr_expect_str_eq(rpc_method_name((enum rpc_method)m), want[m]);
		cr_expect_eq(rpc_method_fds((enum rpc_method)m), m == RPC_BIND ? 1u : 0u,
			     "%s", want[m]);
	}
	cr_expect_str_eq(rpc_method_name((enum rpc_method)RPC_METHOD_COUNT), "UNKNOWN");
	cr_expect_str_eq(rpc_method_name((enum rpc_method)-1), "UNKNOWN");
}

Test(rpc, frame_length_is_little_endian_and_bounded)
{
	uint32_t len = 77;
	cr_assert_eq(rpc_frame_length((const uint8_t[]){ 1, 2, 0, 0 }, &len), 0);
	cr_assert_eq(len, 0x201);
	cr_assert_eq(rpc_frame_length((const uint8_t[]){ 1, 0, 0, 0 }, &len), 0);
	cr_assert_eq(len, 1);
	cr_assert_eq(rpc_frame_length((const uint8_t[]){ 0, 0, 1, 0 }, &len), 0);
	cr_assert_eq(len, RPC_MAX_BODY);

	len = 77;
	cr_assert_eq(rpc_frame_length((const uint8_t[]){ 0, 0, 0, 0 }, &len), -EMSGSIZE);
	cr_assert_eq(rpc_frame_length((const uint8_t[]){ 1, 0, 1, 0 }, &len), -EMSGSIZE);
	cr_assert_eq(rpc_frame_length((const uint8_t[]){ 0xff, 0xff, 0xff, 0xff }, &len),
		     -EMSGSIZE);
	cr_assert_eq(len, 77, "untouched on error");
}

/* ---------------------------------------------------------- requests */

Test(rpc, request_roundtrip_every_method)
{
	const char *params = "{\n  \"kernel\": \"/boot/vmlinuz\",\n  \"cpus\": 2\n}";
	for (int m = 0; m < RPC_METHOD_COUNT; m++) {
		uint32_t id = m == 0 ? UINT32_MAX : (uint32_t)m * 1000;
		const char *p = rpc_method_params((enum rpc_method)m) ? params : NULL;
		int len = rpc_encode_request(id, (enum rpc_method)m, p, frame, sizeof(frame));
		const char *body = body_of(len);
		struct rpc_request r;
		req_ok(body, &r);
		cr_expect_eq(r.id, id);
		cr_expect_eq(r.method, (enum rpc_method)m);
		if (rpc_method_params((enum rpc_method)m))
			cr_expect_str_eq(r.params, params, "params travel verbatim");
		else
			cr_expect_null(r.params);
		rpc_request_free(&r);
	}
}

Test(rpc, request_encoding_is_compact_json)
{
	int len = rpc_encode_request(7, RPC_RUN, NULL, frame, sizeof(frame));
	cr_assert_str_eq(body_of(len), "{\"id\":7,\"method\":\"Run\"}");
	cr_assert_eq(len, 4 + 23);
	cr_assert_arr_eq(frame, ((uint8_t[]){ 23, 0, 0, 0 }), 4);

	len = rpc_encode_request(0, RPC_CREATE, "  {\"kernel\":\"k\"}\n", frame, sizeof(frame));
	cr_assert_str_eq(body_of(len),
			 "{\"id\":0,\"method\":\"Create\",\"params\":{\"kernel\":\"k\"}}",
			 "whitespace around params is dropped");
}

Test(rpc, request_parse_accepts_json_spellings)
{
	struct rpc_request r;
	req_ok(J(" \r\n\t{ 'method' : 'Stop' , 'id' : 0 }\n "), &r);
	cr_expect_eq(r.id, 0);
	cr_expect_eq(r.method, RPC_STOP);
	req_ok(J("{'\\u0069d':4294967295,'method':'St\\u0061tus'}"), &r);
	cr_expect_eq(r.id, UINT32_MAX);
	cr_expect_eq(r.method, RPC_STATUS, "escapes are decoded in keys and values");
	req_ok(J("{'id':-0,'method':'GetSerial'}"), &r);
	cr_expect_eq(r.id, 0);
	req_ok(J("{'id':1,'method':'Create','params':{ 'a' : [1, {'b':'}'}] } }"), &r);
	cr_expect_str_eq(r.params, J("{ 'a' : [1, {'b':'}'}] }"), "the object's own bytes");
	rpc_request_free(&r);
	cr_expect_null(r.params);
	rpc_request_free(&r);
	struct rpc_request zero = { 0 };
	rpc_request_free(&zero);
}

Test(rpc, request_bytes_that_are_not_one_object)
{
	req_err_bytes("{\"id\":1,\0\"method\":\"Run\"}", 25, "byte 8: a NUL byte");
	req_err_bytes("{\"id\":1,\"method\":\"Run\"}\0", 24, "byte 23: a NUL byte");
	req_err("", "the body is empty: want a JSON object");
	req_err(" \n\t", "the body is empty: want a JSON object");
	req_err("[{\"id\":1,\"method\":\"Run\"}]", "byte 0: want a JSON object");
	req_err("  1", "byte 2: want a JSON object");
	req_err("\"x\"", "byte 0: want a JSON object");
	req_err("null", "byte 0: want a JSON object");
	req_err("\xef\xbb\xbf{}", "the body starts with a byte-order mark");
	req_err(J("{'id':1,'method':'Run'"), "byte 22: the JSON ends early");
	req_err(J("{'id':1,"), "byte 8: the JSON ends early");
	req_err(J("{'id' 1}"), "byte 6: object property name separator");
	req_err(J("{'id':1,}"), "byte 8: unexpected character: not valid JSON");
	req_err(J("{'id':01}"), "byte 8: number expected: not valid JSON");
	req_err(J("{'id':1,'method':'Run'} x"), "byte 24: more after the JSON object");
	req_err(J("{'id':1,'method':'Run'}{}"), "byte 23: more after the JSON object");
	req_err(J("{'id':1,'method':'Run'}\n\f"), "byte 24: more after the JSON object");
}

Test(rpc, request_leniencies_of_json_c_are_refused)
{
	req_err("{'id':1,\"method\":\"Run\"}", "byte 1: strings take double quotes");
	req_err(J("{'id':1,'method':'Create','params':{'a':NaN}}"),
		"byte 40: NaN and Infinity are not JSON");
	req_err(J("{'id':1,'method':'Create','params':{'a':Infinity}}"),
		"byte 40: NaN and Infinity are not JSON");
	req_err(J("{'id':1,'method':'Create','params':{'a':-Infinity}}"),
		"byte 41: NaN and Infinity are not JSON");
	req_err(J("{'id':1,'method':'R\tun'}"), "byte 19: a control character in a string");
	req_err(J("{'id':1,'method':'Run','x\x01':1}"), "byte 25: a control character in a string");
	struct rpc_request r;
	req_ok(J("{'id':1,'method':'Create','params':{'a':'NaN \\'I\\' \\t'}}"), &r);
	rpc_request_free(&r);
}

Test(rpc, request_nesting_limit)
{
	/* The body's object and params count: params may nest 15 deep. */
	struct rpc_request r;
	req_ok(create_with(nested(15)), &r);
	rpc_request_free(&r);
	req_err(create_with(nested(16)), "byte 110: nested more than 16 levels deep");

	/* A scalar at the bottom: json-c's own limit speaks first, alike. */
	char deep[128] = "";
	for (int i = 0; i < 16; i++)
		strcat(deep, "{\"a\":");
	strcat(deep, "1");
	for (int i = 0; i < 16; i++)
		strcat(deep, "}");
	req_err(create_with(deep), "byte ");
	cr_assert(strstr(err, ": nested more than 16 levels deep"), "%s", err);

	/* Arrays count too: body, params and 14 arrays fit, 15 do not. */
	req_ok(create_with("{\"a\":[[[[[[[[[[[[[[]]]]]]]]]]]]]]}"), &r);
	rpc_request_free(&r);
	req_err(create_with("{\"a\":[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]}"),
		"byte 54: nested more than 16 levels deep");
}

Test(rpc, request_size_limit)
{
	static char big[RPC_MAX_BODY + 2];
	int o = sprintf(big, "{\"id\":1,\"method\":\"Create\",\"params\":{\"a\":\"");
	memset(big + o, 'x', sizeof(big) - (size_t)o);
	memcpy(big + RPC_MAX_BODY - 3, "\"}}", 3);
	struct rpc_request r;
	cr_assert_eq(parse_req_bytes(big, RPC_MAX_BODY, &r), 0, "%s", err);
	rpc_request_free(&r);
	memcpy(big + RPC_MAX_BODY - 2, "\"}}", 3);
	req_err_bytes(big, RPC_MAX_BODY + 1, "the body is 65537 bytes: at most 65536");
}

Test(rpc, request_id_rules)
{
	req_err(J("{'method':'Run'}"), "\"id\" is missing: want an integer 0..4294967295");
	req_err(J("{'id':'1','method':'Run'}"),
		"\"id\": want an integer 0..4294967295, not a string");
	req_err(J("{'id':1.0,'method':'Run'}"),
		"\"id\": want an integer 0..4294967295, not a number with a fraction");
	req_err(J("{'id':1e2,'method':'Run'}"),
		"\"id\": want an integer 0..4294967295, not a number");
	req_err(J("{'id':true,'method':'Run'}"),
		"\"id\": want an integer 0..4294967295, not a boolean");
	req_err(J("{'id':null,'method':'Run'}"), "\"id\": want an integer 0..4294967295, not null");
	req_err(J("{'id':[1],'method':'Run'}"),
		"\"id\": want an integer 0..4294967295, not an array");
	req_err(J("{'id':-1,'method':'Run'}"), "\"id\": -1 is out of range 0..4294967295");
	req_err(J("{'id':4294967296,'method':'Run'}"),
		"\"id\": 4294967296 is out of range 0..4294967295");
	req_err(J("{'id':99999999999999999999,'method':'Run'}"),
		"\"id\": 99999999999999999999 is out of range");
	req_err(J("{'id':-9223372036854775809,'method':'Run'}"),
		"\"id\": -9223372036854775809 is out of range");
}

Test(rpc, request_method_rules)
{
	req_err(J("{'id':1}"), "\"method\" is missing: want a method name");
	req_err(J("{'id':1,'method':3}"), "\"method\": want a method name, not an integer");
	req_err(J("{'id':1,'method':'Frob'}"),
		"\"method\": \"Frob\" is not a method (Create, Bind, Run, Stop, Status, GetSerial, "
		"GetConsole, Metrics, SetRateLimiter, SetBalloon, BalloonStats, HostVsockConnect, "
		"BalloonGetSize, BalloonRequestNumPages, BalloonGetMemStats)");
	req_err(J("{'id':1,'method':'run'}"), "\"method\": \"run\" is not a method");
	req_err(J("{'id':1,'method':'Run\\u0000'}"), "\"method\": \"Run\\x00\" is not a method");
	req_err(J("{'id':1,'method':'Ru'}"), "\"method\": \"Ru\" is not a method");
	req_err(J("{'id':1,'method':'\\u001b[2J'}"), "\"method\": \"\\x1b[2J\" is not a method");
}

Test(rpc, request_params_rules)
{
	req_err(J("{'id':1,'method':'Create'}"),
		"\"params\" is missing: Create takes the config as an object");
	req_err(J("{'id':1,'method':'Run','params':{}}"), "\"params\": Run takes none");
	req_err(J("{'id':1,'method':'Bind','params':{}}"), "\"params\": Bind takes none");
	req_err(J("{'id':1,'method':'Status','params':null}"), "\"params\": Status takes none");
	req_err(J("{'id':1,'method':'Metrics','params':{}}"), "\"params\": Metrics takes none");
	req_err(J("{'id':1,'method':'SetRateLimiter'}"),
		"\"params\" is missing: SetRateLimiter takes an object");
	req_err(J("{'id':1,'method':'Create','params':[]}"),
		"\"params\": want an object, not an array");
	req_err(J("{'id':1,'method':'Create','params':'{}'}"),
		"\"params\": want an object, not a string");
	req_err(J("{'id':1,'method':'Create','params':null}"),
		"\"params\": want an object, not null");
	struct rpc_request r;
	req_ok(J("{'params':{},'method':'Create','id':1}"), &r);
	cr_assert_str_eq(r.params, "{}");
	rpc_request_free(&r);
}

Test(rpc, request_keys_known_and_once)
{
	req_err(J("{'id':1,'method':'Run','foo':1}"),
		"unknown key \"foo\": a request has id, method and params");
	req_err(J("{'id':1,'method':'Run','Id':1}"), "unknown key \"Id\"");
	req_err(J("{'id':1,'method':'Run','id\\u0000':2}"), "byte 23: key \"id\\x00\" contains a NUL character");
	req_err(J("{'id':1,'method':'Run','\\u0000':2}"), "byte 23: key \"\\x00\" contains a NUL character");
	req_err(J("{'id':1,'method':'Run','id':2}"), "byte 23: duplicate key \"id\": give each key once");
	req_err(J("{'id':1,'method':'Run','method':'Stop'}"), "byte 23: duplicate key \"method\"");
	req_err(J("{'id':1,'method':'Run','\\u0069d':1}"), "byte 23: duplicate key \"id\"");
	req_err(J("{'id':1,'method':'Create','params':{},'params':{}}"),
		"byte 38: duplicate key \"params\"");
	/* Inside params too, and at any depth: the one strict check (before it,
	 * the codec let the config parser find these). */
	req_err(J("{'id':1,'method':'Create','params':{'a':1,'a':2}}"),
		"byte 42: params: duplicate key \"a\": give each key once");
	req_err(J("{'id':1,'method':'Create','params':{'b':[{'a\\u0000':1}]}}"),
		"byte 42: params.b[0]: key \"a\\x00\" contains a NUL character");
}

Test(rpc, error_messages_are_cut_and_optional)
{
	char small[16];
	const char *body = J("{'id':1,'method':'Frob'}");
	struct rpc_request r;
	cr_assert_eq(rpc_parse_request(body, strlen(body), &r, small, sizeof(small)), -EINVAL);
	cr_assert_str_eq(small, "\"method\": \"Frob");
	cr_assert_eq(rpc_parse_request(body, strlen(body), &r, NULL, 0), -EINVAL);
	cr_assert_eq(rpc_parse_reply(body, strlen(body), &(struct rpc_reply){ 0 }, NULL, 0),
		     -EINVAL);
	/* A long peer string is cut in the message. */
	static char longkey[400];
	int o = sprintf(longkey, "{\"id\":1,\"method\":\"Run\",\"");
	memset(longkey + o, 'k', 100);
	strcpy(longkey + o + 100, "\":1}");
	req_err(longkey, "unknown key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"...:");
}

/* ---------------------------------------------------------- request encoding */

Test(rpc, encode_request_refuses_bad_arguments)
{
	cr_assert_eq(rpc_encode_request(1, RPC_CREATE, NULL, frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_request(1, RPC_RUN, "{}", frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_request(1, RPC_BIND, "{}", frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_request(1, (enum rpc_method)RPC_METHOD_COUNT, NULL, frame,
					sizeof(frame)),
		     -EINVAL);
	static const char *const bad[] = {
		"", " ", "[]", "1", "\"{}\"", "{", "{} {}", "{}x", "{\"a\":1,}",
		"{'a':1}", "{\"a\":NaN}", "{\"a\":\"\t\"}", "null",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(rpc_encode_request(1, RPC_CREATE, bad[i], frame, sizeof(frame)),
			     -EINVAL, "params %s", bad[i]);
	/* Inside the body params sit one level down. */
	cr_assert_gt(rpc_encode_request(1, RPC_CREATE, nested(15), frame, sizeof(frame)), 0);
	cr_assert_eq(rpc_encode_request(1, RPC_CREATE, nested(16), frame, sizeof(frame)), -EINVAL);
}

/* {"a":"xx...x"}, plen bytes in all. */
static const char *padded_object(size_t plen)
{
	static char params[2 * RPC_MAX_BODY];
	cr_assert_lt(plen, sizeof(params));
	memcpy(params, "{\"a\":\"", 6);
	memset(params + 6, 'x', plen - 8);
	memcpy(params + plen - 2, "\"}", 3);
	return params;
}

Test(rpc, encode_request_size_limits)
{
	int len = rpc_encode_request(42, RPC_STATUS, NULL, frame, sizeof(frame));
	cr_assert_gt(len, 0);
	for (int cap = 0; cap < len; cap++)
		cr_expect_eq(rpc_encode_request(42, RPC_STATUS, NULL, frame, (size_t)cap),
			     -EMSGSIZE, "cap %d", cap);
	cr_assert_eq(rpc_encode_request(42, RPC_STATUS, NULL, frame, (size_t)len), len);

	/* A body of exactly RPC_MAX_BODY bytes, and one more. */
	size_t plen = RPC_MAX_BODY - strlen("{\"id\":1,\"method\":\"Create\",\"params\":}");
	len = rpc_encode_request(1, RPC_CREATE, padded_object(plen), frame, sizeof(frame));
	cr_assert_eq(len, (int)RPC_FRAME_MAX);
	struct rpc_request r;
	req_ok(body_of(len), &r);
	rpc_request_free(&r);
	len = rpc_encode_request(1, RPC_CREATE, padded_object(plen + 1), frame, sizeof(frame));
	cr_assert_eq(len, -EMSGSIZE, "a body of RPC_MAX_BODY + 1 bytes");
	/* params longer than any body is refused before it is parsed. */
	cr_assert_eq(rpc_encode_request(1, RPC_CREATE, padded_object(RPC_MAX_BODY + 1), frame,
					sizeof(frame)),
		     -EMSGSIZE);
}

/* ---------------------------------------------------------- replies */

Test(rpc, reply_roundtrip_ok)
{
	struct rpc_reply r;
	int len = rpc_encode_ok(9, NULL, frame, sizeof(frame));
	cr_assert_str_eq(body_of(len), "{\"id\":9,\"ok\":true,\"result\":{}}");
	rep_ok(body_of(len), &r);
	cr_expect(!r.epitaph);
	cr_expect_eq(r.id, 9);
	cr_expect(r.ok);
	cr_expect_str_eq(r.result, "{}");
	rpc_reply_free(&r);

	const char *status = "{\"state\": \"RUNNING\", \"uptime_ns\": 1234, \"last_error\": null}";
	len = rpc_encode_ok(UINT32_MAX, status, frame, sizeof(frame));
	rep_ok(body_of(len), &r);
	cr_expect_eq(r.id, UINT32_MAX);
	cr_expect_str_eq(r.result, status);
	rpc_reply_free(&r);
	cr_expect_null(r.result);
	rpc_reply_free(&r);
	struct rpc_reply zero = { 0 };
	rpc_reply_free(&zero);

	rep_ok(J("{'ok':true,'id':3}"), &r);
	cr_expect_str_eq(r.result, "{}", "a missing result is {}");
	rpc_reply_free(&r);
}

Test(rpc, reply_roundtrip_every_error)
{
	for (int code = 1; code <= LC_ERR_MAX; code++) {
		struct rpc_reply r;
		int len = rpc_encode_error((uint32_t)code, code, "it failed", frame, sizeof(frame));
		const char *body = body_of(len);
		char name[80];
		snprintf(name, sizeof(name), "\"name\":\"%s\"", lifecycle_error_name(code));
		cr_expect(strstr(body, name), "%s", body);
		rep_ok(body, &r);
		cr_expect(!r.epitaph);
		cr_expect_eq(r.id, (uint32_t)code);
		cr_expect(!r.ok);
		cr_expect_eq(r.code, code);
		cr_expect_str_eq(r.message, "it failed");
		cr_expect_null(r.result);
		rpc_reply_free(&r);
	}
	int len = rpc_encode_error(5, LC_ERR_NOT_CREATED, "no VM: call Create first", frame,
				   sizeof(frame));
	cr_assert_str_eq(body_of(len), "{\"id\":5,\"ok\":false,\"error\":{\"code\":13,"
				       "\"name\":\"NOT_CREATED\","
				       "\"message\":\"no VM: call Create first\"}}");
}

Test(rpc, error_message_escaping_and_sanitizing)
{
	struct rpc_reply r;
	const char *msg = "a \"quoted\" \\path/ and\nlines\t\x1b[2J\x7f caf\xc3\xa9";
	int len = rpc_encode_error(1, LC_ERR_BAD_CONFIG, msg, frame, sizeof(frame));
	const char *body = body_of(len);
	cr_expect(strstr(body, "\\\"quoted\\\" \\\\path/ and\\nlines\\t\\u001b[2J"), "%s", body);
	rep_ok(body, &r);
	cr_expect_str_eq(r.message, "a \"quoted\" \\path/ and?lines??[2J? caf\xc3\xa9");
	rpc_reply_free(&r);

	rep_ok(J("{'id':1,'ok':false,'error':{'code':1,'name':'INTERNAL_ERROR','message':"
		 "'nul\\u0000here'}}"),
	       &r);
	cr_expect_str_eq(r.message, "nul?here", "a NUL inside is a control byte too");
	rpc_reply_free(&r);
	rep_ok(J("{'id':1,'ok':false,'error':{'code':1,'name':'INTERNAL_ERROR','message':''}}"),
	       &r);
	cr_expect_str_eq(r.message, "");
}

Test(rpc, error_message_is_cut_at_a_character)
{
	char msg[400];
	struct rpc_reply r;
	memset(msg, 'a', 300);
	msg[300] = '\0';
	rep_ok(body_of(rpc_encode_error(1, 1, msg, frame, sizeof(frame))), &r);
	cr_assert_eq(strlen(r.message), RPC_MESSAGE_MAX - 1);

	/* 254 bytes, then a 2-byte character that does not fit whole. */
	memset(msg, 'a', 254);
	strcpy(msg + 254, "\xc3\xa9tail");
	rep_ok(body_of(rpc_encode_error(1, 1, msg, frame, sizeof(frame))), &r);
	cr_assert_eq(strlen(r.message), 254);
	/* 253 bytes, then a 4-byte character: cut before it. */
	memset(msg, 'a', 253);
	strcpy(msg + 253, "\xf0\x9f\x98\x80tail");
	rep_ok(body_of(rpc_encode_error(1, 1, msg, frame, sizeof(frame))), &r);
	cr_assert_eq(strlen(r.message), 253);
	/* 252 bytes, then a 3-byte character that ends at byte 255: kept. */
	memset(msg, 'a', 252);
	strcpy(msg + 252, "\xe2\x82\xactail");
	rep_ok(body_of(rpc_encode_error(1, 1, msg, frame, sizeof(frame))), &r);
	cr_assert_eq(strlen(r.message), 255);
	cr_assert_str_eq(r.message + 252, "\xe2\x82\xac");
	/* Not UTF-8: each stray byte is sent as '?' (the peer would refuse the
	 * body otherwise), so nothing is stepped back over. */
	memset(msg, 0x80, 300);
	msg[300] = '\0';
	rep_ok(body_of(rpc_encode_error(1, 1, msg, frame, sizeof(frame))), &r);
	cr_assert_eq(strlen(r.message), RPC_MESSAGE_MAX - 1);
	cr_assert_eq(strspn(r.message, "?"), RPC_MESSAGE_MAX - 1);
}

Test(rpc, epitaph_roundtrip)
{
	struct rpc_reply r;
	int len = rpc_encode_epitaph(true, frame, sizeof(frame));
	cr_assert_str_eq(body_of(len), "{\"epitaph\":\"ok\"}");
	memset(&r, 0, sizeof(r));
	rep_ok(body_of(len), &r);
	cr_expect(r.epitaph);
	cr_expect(r.epitaph_ok);
	cr_expect_null(r.result);
	len = rpc_encode_epitaph(false, frame, sizeof(frame));
	cr_assert_str_eq(body_of(len), "{\"epitaph\":\"internal\"}");
	rep_ok(body_of(len), &r);
	cr_expect(r.epitaph);
	cr_expect(!r.epitaph_ok);
	cr_assert_eq(rpc_encode_epitaph(true, frame, 19), -EMSGSIZE);
	cr_assert_eq(rpc_encode_epitaph(true, frame, 20), 20);
}

Test(rpc, encode_reply_refuses_bad_arguments)
{
	cr_assert_eq(rpc_encode_error(1, 0, "x", frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_error(1, -1, "x", frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_error(1, LC_ERR_MAX + 1, "x", frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_error(1, 1, NULL, frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_ok(1, "[]", frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_ok(1, "{} x", frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_ok(1, "", frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_ok(1, nested(16), frame, sizeof(frame)), -EINVAL);

	int len = rpc_encode_error(1, 1, "message", frame, sizeof(frame));
	cr_assert_gt(len, 0);
	for (int cap = 0; cap < len; cap++)
		cr_expect_eq(rpc_encode_error(1, 1, "message", frame, (size_t)cap), -EMSGSIZE);
	len = rpc_encode_ok(1, "{\"a\":1}", frame, sizeof(frame));
	for (int cap = 0; cap < len; cap++)
		cr_expect_eq(rpc_encode_ok(1, "{\"a\":1}", frame, (size_t)cap), -EMSGSIZE);

	static char msg[RPC_MAX_BODY + 2];
	memset(msg, 'm', RPC_MAX_BODY + 1);
	cr_assert_eq(rpc_encode_error(1, 1, msg, frame, sizeof(frame)), -EMSGSIZE);
	msg[RPC_MAX_BODY - 60] = '\0';
	cr_assert_eq(rpc_encode_error(1, 1, msg, frame, sizeof(frame)), -EMSGSIZE,
		     "the body would pass RPC_MAX_BODY");
	msg[RPC_MAX_BODY - 80] = '\0';
	cr_assert_gt(rpc_encode_error(1, 1, msg, frame, sizeof(frame)), 0);
}

/* What the RPC let through before it shared the config's strict check
 * (json_strict.h): each was accepted by rpc_parse_reply. */
Test(rpc, reply_text_is_as_strict_as_a_config)
{
	rep_err(J("{'id':1,'ok':true,'result':{'a':1,'a':2}}"), "byte 34: result: duplicate key \"a\": give each key once");
	rep_err(J("{'id':1,'ok':true,'result':{'a\\u0000':1}}"),
		"byte 28: result: key \"a\\x00\" contains a NUL character");
	rep_err(J("{'id':1,'ok':true,'result':{'a':'\xc0\x80'}}"), "byte 33: not valid UTF-8");
	rep_err(J("{'id':1,'ok':true,'result':{'a':'\xed\xa0\x80'}}"), "byte 33: not valid UTF-8");
	rep_err(J("{'id':1,'ok':false,'error':{'code':1,'name':'INTERNAL_ERROR','message':'\xff'}}"),
		"byte 72: not valid UTF-8");
	rep_err("\xef\xbb\xbf{\"epitaph\":\"ok\"}", "the body starts with a byte-order mark");
	/* And the encoders embed only what the parsers take. */
	cr_assert_eq(rpc_encode_ok(1, J("{'a':1,'a':2}"), frame, sizeof(frame)), -EINVAL);
	cr_assert_eq(rpc_encode_ok(1, "{\"a\":\"\xff\"}", frame, sizeof(frame)), -EINVAL);
}

Test(rpc, reply_shape_rules)
{
	rep_err(J("{'ok':true}"), "\"id\" is missing: want an integer 0..4294967295");
	rep_err(J("{'id':'1','ok':true}"), "\"id\": want an integer 0..4294967295, not a string");
	rep_err(J("{'id':4294967296,'ok':true}"), "\"id\": 4294967296 is out of range");
	rep_err(J("{'id':1}"), "\"ok\" is missing: want true or false");
	rep_err(J("{'id':1,'ok':1}"), "\"ok\": want true or false, not an integer");
	rep_err(J("{'id':1,'ok':'true'}"), "\"ok\": want true or false, not a string");
	rep_err(J("{'id':1,'ok':true,'error':{}}"),
		"\"error\": a reply with \"ok\": true has none");
	rep_err(J("{'id':1,'ok':false,'result':{}}"),
		"\"result\": a reply with \"ok\": false has none");
	rep_err(J("{'id':1,'ok':false}"),
		"\"error\" is missing: a reply with \"ok\": false needs one");
	rep_err(J("{'id':1,'ok':false,'error':'NOT_CREATED'}"),
		"\"error\": want an object, not a string");
	rep_err(J("{'id':1,'ok':true,'result':[]}"), "\"result\": want an object, not an array");
	rep_err(J("{'id':1,'ok':true,'result':null}"), "\"result\": want an object, not null");
	rep_err(J("{'id':1,'ok':true,'method':'Run'}"),
		"unknown key \"method\": a reply has id, ok, result and error; an epitaph has "
		"epitaph alone");
	rep_err(J("{'id':1,'ok':true,'ok':false}"), "byte 18: duplicate key \"ok\"");
	rep_err(J("{'id':1,'ok':true,'result':{},'result':{}}"), "byte 30: duplicate key \"result\"");
	rep_err(J("{'id':1,'ok':true,'id':1}"), "byte 18: duplicate key \"id\"");
	rep_err(J("{'id':1,'ok':true} 1"), "byte 19: more after the JSON object");
	rep_err(J("{'id':1,'ok':true,'result':{'a':NaN}}"), "byte 32: NaN and Infinity");
	rep_err("[]", "byte 0: want a JSON object");
}

Test(rpc, reply_error_object_rules)
{
#define E(members) J("{'id':1,'ok':false,'error':{" members "}}")
	rep_err(E("'name':'NOT_CREATED','message':'m'"),
		"\"error.code\" is missing: want an integer 1..15");
	rep_err(E("'code':'13','name':'NOT_CREATED','message':'m'"),
		"\"error.code\": want an integer 1..15, not a string");
	rep_err(E("'code':0,'name':'OK','message':'m'"), "\"error.code\": 0 is out of range 1..15");
	rep_err(E("'code':16,'name':'UNKNOWN','message':'m'"),
		"\"error.code\": 16 is out of range 1..15");
	rep_err(E("'code':13,'message':'m'"), "\"error.name\" is missing: want the code's name");
	rep_err(E("'code':13,'name':13,'message':'m'"),
		"\"error.name\": want the code's name such as \"NOT_CREATED\", not an integer");
	rep_err(E("'code':13,'name':'ALREADY_RUNNING','message':'m'"),
		"\"error.name\": \"ALREADY_RUNNING\" does not match \"code\": 13 (NOT_CREATED)");
	rep_err(E("'code':13,'name':'FROB','message':'m'"),
		"\"error.name\": \"FROB\" does not match \"code\": 13 (NOT_CREATED)");
	rep_err(E("'code':13,'name':'NOT_CREATED\\u0000x','message':'m'"),
		"\"error.name\": \"NOT_CREATED\\x00x\" does not match");
	rep_err(E("'code':13,'name':'NOT_CREATED'"), "\"error.message\" is missing: want a string");
	rep_err(E("'code':13,'name':'NOT_CREATED','message':null"),
		"\"error.message\": want a string, not null");
	rep_err(E("'code':13,'name':'NOT_CREATED','message':'m','reason':'r'"),
		"\"error\": unknown key \"reason\": it has code, name and message");
	rep_err(E("'code':13,'name':'NOT_CREATED','message':'m','code':13"),
		"byte 73: error: duplicate key \"code\"");
#undef E
}

Test(rpc, epitaph_rules)
{
	rep_err(J("{'epitaph':'ok','id':1}"), "\"epitaph\" comes alone, not with \"id\"");
	rep_err(J("{'ok':true,'epitaph':'ok'}"), "\"epitaph\" comes alone, not with \"ok\"");
	rep_err(J("{'epitaph':'ok','result':{}}"), "\"epitaph\" comes alone, not with \"result\"");
	rep_err(J("{'epitaph':'ok','error':{}}"), "\"epitaph\" comes alone, not with \"error\"");
	rep_err(J("{'epitaph':'fine'}"), "\"epitaph\": want \"ok\" or \"internal\", not \"fine\"");
	rep_err(J("{'epitaph':'ok\\u0000'}"),
		"\"epitaph\": want \"ok\" or \"internal\", not \"ok\\x00\"");
	rep_err(J("{'epitaph':'internal\\u0000'}"), "\"epitaph\": want \"ok\" or \"internal\"");
	rep_err(J("{'epitaph':true}"), "\"epitaph\": want \"ok\" or \"internal\", not a boolean");
	rep_err(J("{'epitaph':'ok','epitaph':'ok'}"), "byte 16: duplicate key \"epitaph\"");
}

/* ---------------------------------------------------------- the reader */

static struct rpc_reader *reader_new(void)
{
	struct rpc_reader *r = malloc(sizeof(*r));
	cr_assert(r);
	rpc_reader_init(r);
	return r;
}

static size_t encode_run(uint32_t id)
{
	int len = rpc_encode_request(id, RPC_RUN, NULL, frame, sizeof(frame));
	cr_assert_gt(len, 0);
	return (size_t)len;
}

/* Expects the reader to deliver request `id` with nfds fds. */
static void expect_request(struct rpc_reader *r, int sock, uint32_t id, size_t nfds)
{
	cr_assert_eq(rpc_reader_feed(r, sock), 1);
	cr_assert_eq(strlen(r->body), r->body_len, "NUL-terminated");
	struct rpc_request req;
	cr_assert_eq(rpc_parse_request(r->body, r->body_len, &req, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(req.id, id);
	cr_assert_eq(r->nfds, nfds, "message %u: %zu fds, want %zu", id, r->nfds, nfds);
	rpc_request_free(&req);
}

Test(rpc_reader, one_byte_at_a_time)
{
	int sv[2];
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(77);
	for (size_t i = 0; i < len; i++) {
		cr_assert_eq(rpc_reader_feed(r, sv[1]), 0, "byte %zu: nothing whole yet", i);
		tu_raw_send(sv[0], frame + i, 1, NULL, 0);
	}
	expect_request(r, sv[1], 77, 0);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 1, "held until next");
	rpc_reader_next(r);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, two_messages_in_one_write_come_one_at_a_time)
{
	int sv[2];
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	uint8_t both[128];
	size_t a = encode_run(1);
	memcpy(both, frame, a);
	size_t b = encode_run(2);
	memcpy(both + a, frame, b);
	tu_raw_send(sv[0], both, a + b, NULL, 0);

	expect_request(r, sv[1], 1, 0);
	expect_request(r, sv[1], 1, 0); /* not consumed by a second feed */
	rpc_reader_next(r);
	expect_request(r, sv[1], 2, 0);
	rpc_reader_next(r);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, fds_on_the_prefix_are_delivered_with_their_message)
{
	int sv[2], fds[RPC_MAX_FDS];
	tu_sockpair(sv);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		fds[i] = tu_memfd();
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, fds, 1), 0);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, NULL, 0), 0);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, fds, RPC_MAX_FDS), 0);

	expect_request(r, sv[1], 1, 1);
	cr_assert(tu_same_file(r->fds[0], fds[0]));
	cr_assert_eq(fcntl(r->fds[0], F_GETFD), FD_CLOEXEC);
	int taken = r->fds[0];
	rpc_reader_next(r);
	cr_assert_eq(r->nfds, 0);
	cr_assert_eq(r->fds[0], -1, "fds[] is cleared");
	cr_assert_geq(fcntl(taken, F_GETFD), 0, "next does not close the fds");
	close(taken);
	expect_request(r, sv[1], 1, 0);
	rpc_reader_next(r);
	expect_request(r, sv[1], 1, RPC_MAX_FDS);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		cr_assert(tu_same_file(r->fds[i], fds[i]), "fd %d in order", i);
	int before = tu_count_fds();
	rpc_reader_reset(r);
	cr_assert_eq(tu_count_fds(), before - RPC_MAX_FDS, "reset closes what it holds");
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		close(fds[i]);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

/* Feeds until the reader fails; returns the error. */
static int feed_until_error(struct rpc_reader *r, int sock)
{
	int ret;
	for (int i = 0; i < 100; i++) {
		ret = rpc_reader_feed(r, sock);
		if (ret < 0)
			return ret;
		if (ret == 1)
			rpc_reader_next(r);
	}
	cr_assert_fail("the reader never failed");
	return 0;
}

Test(rpc_reader, fds_with_the_body_are_refused_and_closed)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	int before = tu_count_fds();
	tu_raw_send(sv[0], frame, 4, &fd, 1);
	tu_raw_send(sv[0], frame + 4, len - 4, &fd, 1);
	cr_assert_eq(feed_until_error(r, sv[1]), -EBADMSG);
	cr_assert_eq(tu_count_fds(), before, "both received fds closed");
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, fds_after_the_first_prefix_read_are_refused)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	int before = tu_count_fds();
	tu_raw_send(sv[0], frame, 1, NULL, 0);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	tu_raw_send(sv[0], frame + 1, len - 1, &fd, 1);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), -EBADMSG);
	cr_assert_eq(tu_count_fds(), before);
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

static void too_many_fds(size_t n, bool passcred)
{
	int sv[2], fds[64];
	tu_sockpair(sv);
	int on = 1;
	if (passcred)
		cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	for (size_t i = 0; i < n; i++)
		fds[i] = tu_memfd();
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	int before = tu_count_fds();
	tu_raw_send(sv[0], frame, len, fds, n);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), -EBADMSG, "%zu fds", n);
	cr_assert_eq(tu_count_fds(), before, "%zu fds: all closed", n);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, more_than_four_fds_are_refused)
{
	too_many_fds(RPC_MAX_FDS + 1, false);
}

/* With credentials in the control data, a fifth fd does not fit. */
Test(rpc_reader, truncated_control_data_is_refused)
{
	too_many_fds(RPC_MAX_FDS + 1, true);
	too_many_fds(64, false);
}

Test(rpc_reader, four_fds_fit_beside_credentials)
{
	int sv[2], fds[RPC_MAX_FDS];
	tu_sockpair(sv);
	int on = 1;
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		fds[i] = tu_memfd();
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, fds, RPC_MAX_FDS), 0);
	expect_request(r, sv[1], 1, RPC_MAX_FDS);
	rpc_reader_reset(r);
	for (int i = 0; i < RPC_MAX_FDS; i++)
		close(fds[i]);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

static void bad_prefix(uint32_t n)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	uint8_t hdr[4];
	put_le32(hdr, n);
	int before = tu_count_fds();
	tu_raw_send(sv[0], hdr, 4, &fd, 1);
	tu_raw_send(sv[0], "{}", 2, NULL, 0);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), -EMSGSIZE, "prefix %u", n);
	cr_assert_eq(tu_count_fds(), before, "the prefix's fd closed");
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_reader, zero_prefix_is_refused)
{
	bad_prefix(0);
}

Test(rpc_reader, oversize_prefix_is_refused)
{
	bad_prefix(RPC_MAX_BODY + 1);
	bad_prefix(UINT32_MAX);
}

Test(rpc_reader, largest_message)
{
	int sv[2];
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t plen = RPC_MAX_BODY - strlen("{\"id\":1,\"method\":\"Create\",\"params\":}");
	int len = rpc_encode_request(1, RPC_CREATE, padded_object(plen), frame, sizeof(frame));
	cr_assert_eq(len, (int)RPC_FRAME_MAX);
	int sndbuf = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	cr_assert_eq(rpc_send_frame(sv[0], frame, (size_t)len, NULL, 0), 0);
	expect_request(r, sv[1], 1, 0);
	cr_assert_eq(r->body_len, RPC_MAX_BODY);
	free(r);
	close(sv[0]);
	close(sv[1]);
}

static void eof_after(size_t sent, bool with_fd)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	size_t len = encode_run(1);
	cr_assert_leq(sent, len);
	int before = tu_count_fds();
	if (sent)
		tu_raw_send(sv[0], frame, sent, &fd, with_fd ? 1 : 0);
	close(sv[0]);
	int ret = rpc_reader_feed(r, sv[1]);
	if (sent == len) {
		cr_assert_eq(ret, 1);
		cr_assert_eq(r->nfds, with_fd ? 1u : 0u);
		rpc_reader_reset(r);
		ret = rpc_reader_feed(r, sv[1]);
	}
	cr_assert_eq(ret, -ECONNRESET, "EOF after %zu bytes", sent);
	cr_assert_eq(tu_count_fds(), before - 1, "after %zu bytes: no fd held", sent);
	free(r);
	close(fd);
	close(sv[1]);
}

Test(rpc_reader, eof_between_messages)
{
	eof_after(0, false);
	eof_after(encode_run(1), true);
}

Test(rpc_reader, eof_mid_prefix)
{
	eof_after(2, true);
}

Test(rpc_reader, eof_mid_body)
{
	eof_after(9, true);
}

Test(rpc_reader, other_errors_close_held_fds)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_reader *r = reader_new();
	encode_run(1);
	int before = tu_count_fds();
	tu_raw_send(sv[0], frame, 6, &fd, 1);
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0);
	cr_assert_eq(r->nfds, 1);
	cr_assert_eq(tu_count_fds(), before + 1);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(rpc_reader_feed(r, p[0]), -ENOTSOCK);
	cr_assert_eq(tu_count_fds(), before + 2, "the fd from the socket closed");
	close(p[0]);
	close(p[1]);
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/* ---------------------------------------------------------- the writer */

/* Requests of about 1 KiB: Create with a padded config. */
static size_t encode_padded(uint32_t id, size_t pad)
{
	char params[2048];
	cr_assert_lt(pad, sizeof(params) - 16);
	size_t o = (size_t)sprintf(params, "{\"pad\":\"");
	memset(params + o, 'p', pad);
	strcpy(params + o + pad, "\"}");
	int len = rpc_encode_request(id, RPC_CREATE, params, frame, sizeof(frame));
	cr_assert_gt(len, 0);
	return (size_t)len;
}

static void small_sndbuf(int sock)
{
	int small = 4096;
	cr_assert_eq(setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
}

Test(rpc_writer, queues_while_the_peer_does_not_read_then_delivers_in_order)
{
	int sv[2], fd1 = tu_memfd(), fd2[2] = { tu_memfd(), tu_memfd() };
	tu_sockpair(sv);
	small_sndbuf(sv[0]);
	struct rpc_writer w;
	const size_t limit = 64 * 1024;
	rpc_writer_init(&w, limit);
	cr_assert(!rpc_writer_pending(&w));

	/* Fill the socket until the writer has to keep bytes. */
	uint32_t id = 0;
	int ret = 0;
	while (ret == 0) {
		size_t len = encode_padded(id++, 1000);
		cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0);
		ret = rpc_writer_flush(&w, sv[0]);
		cr_assert_geq(ret, 0);
		cr_assert_lt(id, 1000, "the socket never filled");
	}
	cr_assert_eq(ret, 1);
	cr_assert(rpc_writer_pending(&w));
	uint32_t sent_plain = id;

	/* Frames with fds queue behind, each with its own. */
	size_t len = encode_padded(id++, 10);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, &fd1, 1), 0);
	len = encode_padded(id++, 10);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0);
	len = encode_padded(id++, 10);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, fd2, 2), 0);
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), 1, "the peer still does not read");

	/* Up to the limit, then -ENOBUFS with nothing queued. */
	for (;;) {
		len = encode_padded(id, 1000);
		int q = rpc_writer_queue(&w, frame, len, NULL, 0);
		if (q == -ENOBUFS)
			break;
		cr_assert_eq(q, 0);
		id++;
	}
	cr_assert_leq(w.len - w.off, limit);
	cr_assert_gt(w.len - w.off + len, limit, "-ENOBUFS only past the limit");
	size_t queued = w.len - w.off;
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), -ENOBUFS);
	cr_assert_eq(w.len - w.off, queued, "nothing queued");

	/* The peer reads: every frame in order, the fds with theirs only. */
	struct rpc_reader *r = reader_new();
	uint32_t next = 0;
	for (int spins = 0; next < id; spins++) {
		cr_assert_lt(spins, 100000);
		ret = rpc_writer_flush(&w, sv[0]);
		cr_assert_geq(ret, 0);
		int f = rpc_reader_feed(r, sv[1]);
		cr_assert_geq(f, 0);
		if (f == 0)
			continue;
		size_t want = next == sent_plain ? 1 : next == sent_plain + 2 ? 2 : 0;
		expect_request(r, sv[1], next, want);
		if (want == 1)
			cr_assert(tu_same_file(r->fds[0], fd1));
		if (want == 2) {
			cr_assert(tu_same_file(r->fds[0], fd2[0]));
			cr_assert(tu_same_file(r->fds[1], fd2[1]));
		}
		rpc_reader_reset(r);
		next++;
	}
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), 0);
	cr_assert(!rpc_writer_pending(&w));
	cr_assert_eq(rpc_reader_feed(r, sv[1]), 0, "nothing more");
	cr_assert_geq(fcntl(fd1, F_GETFD), 0, "the caller's fds stay open");
	rpc_writer_free(&w);
	rpc_writer_free(&w);
	free(r);
	close(fd1);
	close(fd2[0]);
	close(fd2[1]);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_writer, fds_go_with_their_frame_when_frames_share_a_flush)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_writer w;
	rpc_writer_init(&w, 4096);
	int before = tu_count_fds();
	/* plain, fd, plain, fd, plain: all queued, then one flush. */
	for (uint32_t id = 0; id < 5; id++) {
		size_t len = encode_run(id);
		cr_assert_eq(rpc_writer_queue(&w, frame, len, &fd, id % 2), 0);
	}
	cr_assert_eq(tu_count_fds(), before + 2, "the writer holds duplicates");
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), 0);
	cr_assert_eq(tu_count_fds(), before, "and closes them once sent");
	struct rpc_reader *r = reader_new();
	for (uint32_t id = 0; id < 5; id++) {
		expect_request(r, sv[1], id, id % 2);
		if (id % 2)
			cr_assert(tu_same_file(r->fds[0], fd));
		rpc_reader_reset(r);
	}
	rpc_writer_free(&w);
	free(r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_writer, limits_on_fd_frames_and_frame_size)
{
	int sv[2], fd = tu_memfd();
	tu_sockpair(sv);
	struct rpc_writer w;
	rpc_writer_init(&w, 1 << 16);
	int before = tu_count_fds();
	size_t len = encode_run(1);
	for (int i = 0; i < RPC_WRITER_MAX_FD_FRAMES; i++)
		cr_assert_eq(rpc_writer_queue(&w, frame, len, &fd, 1), 0);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, &fd, 1), -ENOBUFS);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0, "frames without fds still fit");
	cr_assert_eq(tu_count_fds(), before + RPC_WRITER_MAX_FD_FRAMES);
	rpc_writer_free(&w);
	cr_assert_eq(tu_count_fds(), before, "free closes the fds not sent");
	cr_assert(!rpc_writer_pending(&w));

	rpc_writer_init(&w, len - 1);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), -ENOBUFS, "larger than the limit");
	rpc_writer_init(&w, len);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), -ENOBUFS);
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), 0);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0, "room again once sent");
	rpc_writer_free(&w);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(rpc_writer, refuses_bad_frames_and_fds)
{
	int fds[RPC_MAX_FDS + 1];
	for (int i = 0; i <= RPC_MAX_FDS; i++)
		fds[i] = tu_memfd();
	struct rpc_writer w;
	rpc_writer_init(&w, 1 << 16);
	size_t len = encode_run(1);
	int before = tu_count_fds();
	cr_assert_eq(rpc_writer_queue(&w, frame, len - 1, NULL, 0), -EINVAL);
	cr_assert_eq(rpc_writer_queue(&w, frame, len + 1, NULL, 0), -EINVAL);
	cr_assert_eq(rpc_writer_queue(&w, frame, 4, NULL, 0), -EINVAL);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, fds, RPC_MAX_FDS + 1), -EINVAL);
	/* A bad fd after a good one: the good one's duplicate is closed. */
	int bad[2] = { fds[0], 1000000 };
	cr_assert_eq(rpc_writer_queue(&w, frame, len, bad, 2), -EBADF);
	cr_assert(!rpc_writer_pending(&w), "nothing queued");
	cr_assert_eq(w.nfds, 0);
	cr_assert_eq(tu_count_fds(), before);
	rpc_writer_free(&w);
	for (int i = 0; i <= RPC_MAX_FDS; i++)
		close(fds[i]);
}

Test(rpc_writer, peer_gone)
{
	int sv[2];
	tu_sockpair(sv);
	close(sv[1]);
	struct rpc_writer w;
	rpc_writer_init(&w, 1 << 16);
	size_t len = encode_run(1);
	cr_assert_eq(rpc_writer_queue(&w, frame, len, NULL, 0), 0);
	cr_assert_eq(rpc_writer_flush(&w, sv[0]), -ECONNRESET);
	cr_assert_eq(rpc_writer_flush(&w, -1), -EBADF, "other errors pass through");
	rpc_writer_free(&w);
	close(sv[0]);
}

/* ---------------------------------------------------------- blocking helpers */

Test(rpc_blocking, roundtrip_with_fds)
{
	int sv[2], fds[2] = { tu_memfd(), tu_memfd() };
	tu_sockpair(sv);
	int len = rpc_encode_request(3, RPC_BIND, NULL, frame, sizeof(frame));
	cr_assert_eq(rpc_send_frame(sv[0], frame, (size_t)len, fds, 1), 0);
	len = rpc_encode_ok(3, "{\"a\":1}", frame, sizeof(frame));
	cr_assert_eq(rpc_send_frame(sv[0], frame, (size_t)len, fds, 2), 0);

	char *body;
	size_t blen, n;
	int got[RPC_MAX_FDS];
	cr_assert_eq(rpc_recv_frame(sv[1], &body, &blen, got, RPC_MAX_FDS, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert(tu_same_file(got[0], fds[0]));
	close(got[0]);
	struct rpc_request req;
	cr_assert_eq(rpc_parse_request(body, blen, &req, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(req.method, RPC_BIND);
	cr_assert_eq(rpc_method_fds(req.method), n);
	free(body);

	cr_assert_eq(rpc_recv_frame(sv[1], &body, &blen, got, 2, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(strlen(body), blen);
	struct rpc_reply rep;
	cr_assert_eq(rpc_parse_reply(body, blen, &rep, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(rep.result, "{\"a\":1}");
	rpc_reply_free(&rep);
	free(body);
	close(got[0]);
	close(got[1]);
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);
}

/* A frame on a fresh socketpair, sent as `parts`; rpc_recv_frame() must
 * fail with want and leave no fd open. */
struct part {
	size_t off, len, nfds;
};

static void recv_fails(const uint8_t *f, const struct part *parts, size_t nparts, size_t max_fds,
		       bool close_peer, int want, const char *what)
{
	int sv[2], fds[2] = { tu_memfd(), tu_memfd() };
	tu_sockpair(sv);
	int before = tu_count_fds();
	for (size_t i = 0; i < nparts; i++)
		tu_raw_send(sv[0], f + parts[i].off, parts[i].len, fds, parts[i].nfds);
	if (close_peer)
		close(sv[0]);
	char *body = NULL;
	size_t blen, n;
	int got[RPC_MAX_FDS];
	cr_assert_eq(rpc_recv_frame(sv[1], &body, &blen, got, max_fds, &n), want, "%s", what);
	cr_assert_eq(tu_count_fds(), before - (close_peer ? 1 : 0), "%s: fds closed", what);
	cr_assert_null(body, "%s: nothing allocated", what);
	close(fds[0]);
	close(fds[1]);
	if (!close_peer)
		close(sv[0]);
	close(sv[1]);
}

Test(rpc_blocking, errors_leave_nothing_open)
{
	int sv[2], fds[RPC_MAX_FDS + 1] = { 0 };
	tu_sockpair(sv);
	char *body = NULL;
	size_t blen, n;
	int got[RPC_MAX_FDS];
	size_t len = encode_run(1);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len - 1, NULL, 0), -EINVAL);
	cr_assert_eq(rpc_send_frame(sv[0], frame, len, fds, RPC_MAX_FDS + 1), -EINVAL);
	cr_assert_eq(rpc_recv_frame(sv[1], &body, &blen, got, RPC_MAX_FDS + 1, &n), -EINVAL);
	close(sv[0]);
	close(sv[1]);

	recv_fails(frame, (struct part[]){ { 0, len, 2 } }, 1, 1, false, -EBADMSG, "over max_fds");
	recv_fails(frame, (struct part[]){ { 0, 4, 1 }, { 4, len - 4, 1 } }, 2, 1, false, -EBADMSG,
		   "fds with the body");
	recv_fails(frame, (struct part[]){ { 0, 6, 1 } }, 1, 1, true, -ECONNRESET, "EOF mid-body");
	uint8_t bad[8] = { 0 };
	put_le32(bad, RPC_MAX_BODY + 1);
	recv_fails(bad, (struct part[]){ { 0, 8, 1 } }, 1, 1, false, -EMSGSIZE, "oversize prefix");
	put_le32(bad, 0);
	recv_fails(bad, (struct part[]){ { 0, 8, 1 } }, 1, 1, false, -EMSGSIZE, "zero prefix");
}
