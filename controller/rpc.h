/* The controller's RPC wire codec (docs/rpc.md, "Wire format"): frames and
 * the JSON requests, replies and epitaphs in them. Pure: no I/O, no logging.
 *
 * A frame is a u32 little-endian body length N (1..RPC_MAX_BODY) and N bytes
 * of exactly one JSON object. Parsers are strict, in both directions (each
 * side treats the other as less trusted): the body must pass the one
 * strict-JSON check (json_strict.h: standard JSON in UTF-8 only, no NUL byte,
 * no NaN or Infinity, no key given twice in any object), containers nested at
 * most RPC_MAX_DEPTH deep, every key the codec reads known, every type and
 * range checked. Errors are -EINVAL with one line in err naming the key and
 * the problem; err may be NULL.
 *
 * Create's params and a reply's result travel verbatim: the parser hands out
 * the object's own bytes, so the config parser sees what the client wrote
 * (its line numbers apply), and the
 * encoders embed the text they are given once it is one JSON object. */
#ifndef CELLVM_RPC_H
#define CELLVM_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RPC_MAX_BODY 65536u
#define RPC_MAX_FDS 4
#define RPC_MAX_DEPTH 16      /* objects and arrays, the body's own object included */
#define RPC_MESSAGE_MAX 256   /* error message bytes incl. NUL */
#define RPC_FRAME_MAX (4 + RPC_MAX_BODY)

enum rpc_method {
	RPC_CREATE,
	RPC_BIND,
	RPC_RUN,
	RPC_STOP,
	RPC_STATUS,
	RPC_GET_SERIAL,
	RPC_GET_CONSOLE,
	RPC_METRICS,
	RPC_SET_RATE_LIMITER,
	RPC_SET_BALLOON,
	RPC_BALLOON_STATS,
	/* The Guest channel's (Bind), after GetSerial and GetConsole:
	 * Fuchsia's HostVsockEndpoint.Connect and BalloonController. */
	RPC_HOST_VSOCK_CONNECT,
	RPC_BALLOON_GET_SIZE,
	RPC_BALLOON_REQUEST_NUM_PAGES,
	RPC_BALLOON_GET_MEM_STATS,
	RPC_UPDATE_BLOCK_DEVICE,
};
#define RPC_METHOD_COUNT 16

/* "Create", "Bind", ... "UpdateBlockDevice"; "UNKNOWN" out of range. */
const char *rpc_method_name(enum rpc_method m);
/* How many fds a request of this method carries: Bind 1, others 0. */
unsigned rpc_method_fds(enum rpc_method m);
/* Whether it takes params (an object): Create (the config),
 * SetRateLimiter, SetBalloon, HostVsockConnect, BalloonRequestNumPages and
 * UpdateBlockDevice;
 * the others take none. */
bool rpc_method_params(enum rpc_method m);
/* Whether it is a Guest channel's method (GetSerial, GetConsole,
 * HostVsockConnect, Balloon*), not a lifecycle connection's. */
bool rpc_method_guest(enum rpc_method m);

/* The 4-byte little-endian prefix: 0 and *len set, or -EMSGSIZE for 0 or
 * more than RPC_MAX_BODY (*len untouched). */
int rpc_frame_length(const uint8_t hdr[4], uint32_t *len);

struct rpc_request {
	uint32_t id;
	enum rpc_method method;
	char *params; /* the methods that take params: the "params" object's text,
		       * malloc'd, NUL-terminated; else NULL */
};

/* Parses one request body (not the prefix), len <= RPC_MAX_BODY, need not be
 * NUL-terminated. {"id": 0..UINT32_MAX, "method": "<a method>", "params":
 * {...}}: id and method required, params required for Create and refused for
 * the others. Returns 0, -EINVAL with the reason in err (e.g. `"method":
 * "Frob" is not a method (Create, Bind, ...)`), or -ENOMEM. On error *out is
 * untouched and nothing is allocated. */
int rpc_parse_request(const char *body, size_t len, struct rpc_request *out, char *err,
		      size_t errlen);
/* Frees params; safe on a zeroed struct and twice. */
void rpc_request_free(struct rpc_request *r);

/* Encoders write a whole frame (prefix + body) into out[0..cap) and return
 * its length, or -EMSGSIZE when it does not fit in cap or the body would
 * exceed RPC_MAX_BODY. Strings are escaped by json-c; the JSON text given
 * (params_json, result_json) must be one JSON object, as strict as the
 * parsers, nested at most RPC_MAX_DEPTH - 1 deep (-EINVAL otherwise); it is
 * embedded as it is. */

/* params_json: the params object, required for the methods that take one
 * (rpc_method_params) and NULL for the others (-EINVAL otherwise, and for a
 * method out of range). */
int rpc_encode_request(uint32_t id, enum rpc_method m, const char *params_json, uint8_t *out,
		       size_t cap);
/* result_json: an object, or NULL for {}. */
int rpc_encode_ok(uint32_t id, const char *result_json, uint8_t *out, size_t cap);
/* code: 1..LC_ERR_MAX (-EINVAL otherwise), named by lifecycle_error_name();
 * message: any bytes, NUL-terminated (NULL is -EINVAL); each byte that is not
 * part of UTF-8 is sent as '?'. */
int rpc_encode_error(uint32_t id, int code, const char *message, uint8_t *out, size_t cap);
/* {"epitaph": "ok"} or {"epitaph": "internal"}. */
int rpc_encode_epitaph(bool ok, uint8_t *out, size_t cap);

struct rpc_reply {
	bool epitaph;    /* an epitaph, not a reply: then only epitaph_ok is set */
	bool epitaph_ok;
	uint32_t id;
	bool ok;
	int code;        /* !ok: the error code, 1..LC_ERR_MAX (authoritative) */
	char message[RPC_MESSAGE_MAX]; /* !ok: cut to fit (at a UTF-8 character
					* boundary), control bytes replaced by '?' */
	char *result;    /* ok: the "result" object's text, malloc'd ("{}" when absent) */
};

/* Parses a reply or an epitaph body, as strictly as a request:
 * {"id", "ok": true, "result"?: {...}} or {"id", "ok": false, "error":
 * {"code", "name", "message"}} where name must be the code's; or
 * {"epitaph": "ok"|"internal"} alone. Returns 0, -EINVAL with the reason in
 * err, or -ENOMEM; on error *out is untouched and nothing is allocated. */
int rpc_parse_reply(const char *body, size_t len, struct rpc_reply *out, char *err,
		    size_t errlen);
/* Frees result; safe on a zeroed struct and twice. */
void rpc_reply_free(struct rpc_reply *r);

#endif
