/* The RPC codec: every rule of controller/rpc.h, both directions. The
 * framed I/O over socketpairs is test_rpc_io.c's. */
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
					    "BalloonGetMemStats", "UpdateBlockDevice" };
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
		"BalloonGetSize, BalloonRequestNumPages, BalloonGetMemStats, UpdateBlockDevice)");
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
	len = rpc_encode_request(1, RPC_CREATE, tu_padded_object(plen), frame, sizeof(frame));
	cr_assert_eq(len, (int)RPC_FRAME_MAX);
	struct rpc_request r;
	req_ok(body_of(len), &r);
	rpc_request_free(&r);
	len = rpc_encode_request(1, RPC_CREATE, tu_padded_object(plen + 1), frame, sizeof(frame));
	cr_assert_eq(len, -EMSGSIZE, "a body of RPC_MAX_BODY + 1 bytes");
	/* params longer than any body is refused before it is parsed. */
	cr_assert_eq(rpc_encode_request(1, RPC_CREATE, tu_padded_object(RPC_MAX_BODY + 1), frame,
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
