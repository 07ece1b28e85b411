/* The Guest channel's methods beyond GetSerial and GetConsole (docs/rpc.md,
 * "The Guest interface"): their names, params and channel in the codec
 * (controller/rpc.h), their params (controller/params_uint.h,
 * balloon_json.h) and their results (balloon_json.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balloon_json.h"
#include "params_uint.h"
#include "rpc.h"

static uint8_t frame[RPC_FRAME_MAX];
static char err[256];

static const enum rpc_method guest_methods[] = {
	RPC_GET_SERIAL, RPC_GET_CONSOLE, RPC_HOST_VSOCK_CONNECT, RPC_BALLOON_GET_SIZE,
	RPC_BALLOON_REQUEST_NUM_PAGES, RPC_BALLOON_GET_MEM_STATS,
};
#define NGUEST (sizeof(guest_methods) / sizeof(guest_methods[0]))

static int parse_body(const char *body, struct rpc_request *r)
{
	/* A copy of exactly the body's bytes: ASan catches a read past it. */
	size_t n = strlen(body);
	char *copy = malloc(n);
	cr_assert_not_null(copy);
	memcpy(copy, body, n);
	int ret = rpc_parse_request(copy, n, r, err, sizeof(err));
	free(copy);
	return ret;
}

Test(rpc_guest, names_and_channels)
{
	cr_expect_str_eq(rpc_method_name(RPC_HOST_VSOCK_CONNECT), "HostVsockConnect");
	cr_expect_str_eq(rpc_method_name(RPC_BALLOON_GET_SIZE), "BalloonGetSize");
	cr_expect_str_eq(rpc_method_name(RPC_BALLOON_REQUEST_NUM_PAGES), "BalloonRequestNumPages");
	cr_expect_str_eq(rpc_method_name(RPC_BALLOON_GET_MEM_STATS), "BalloonGetMemStats");
	for (int m = 0; m < RPC_METHOD_COUNT; m++) {
		bool guest = false;
		for (size_t i = 0; i < NGUEST; i++)
			guest |= guest_methods[i] == (enum rpc_method)m;
		cr_expect_eq(rpc_method_guest((enum rpc_method)m), guest, "%s",
			     rpc_method_name((enum rpc_method)m));
		cr_expect_eq(rpc_method_fds((enum rpc_method)m), m == RPC_BIND ? 1u : 0u);
	}
	/* SetBalloon and BalloonStats stay the lifecycle connection's. */
	cr_expect(!rpc_method_guest(RPC_SET_BALLOON));
	cr_expect(!rpc_method_guest(RPC_BALLOON_STATS));
}

Test(rpc_guest, which_take_params)
{
	cr_expect(rpc_method_params(RPC_HOST_VSOCK_CONNECT));
	cr_expect(rpc_method_params(RPC_BALLOON_REQUEST_NUM_PAGES));
	cr_expect(!rpc_method_params(RPC_BALLOON_GET_SIZE));
	cr_expect(!rpc_method_params(RPC_BALLOON_GET_MEM_STATS));
}

Test(rpc_guest, requests_roundtrip)
{
	static const struct {
		enum rpc_method m;
		const char *params;
	} calls[] = {
		{ RPC_HOST_VSOCK_CONNECT, "{\"guest_port\": 1024}" },
		{ RPC_BALLOON_REQUEST_NUM_PAGES, "{\"requested_num_pages\": 38400}" },
		{ RPC_BALLOON_GET_SIZE, NULL },
		{ RPC_BALLOON_GET_MEM_STATS, NULL },
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		int len = rpc_encode_request(7, calls[i].m, calls[i].params, frame, sizeof(frame));
		cr_assert_gt(len, 4);
		char body[256];
		cr_assert_lt((size_t)len - 4, sizeof(body));
		memcpy(body, frame + 4, (size_t)len - 4);
		body[len - 4] = '\0';
		struct rpc_request r;
		cr_assert_eq(parse_body(body, &r), 0, "%s", err);
		cr_expect_eq(r.method, calls[i].m);
		if (calls[i].params)
			cr_expect_str_eq(r.params, calls[i].params);
		else
			cr_expect_null(r.params);
		rpc_request_free(&r);
	}
	/* Encoding refuses a params mismatch. */
	cr_expect_eq(rpc_encode_request(1, RPC_HOST_VSOCK_CONNECT, NULL, frame, sizeof(frame)),
		     -EINVAL);
	cr_expect_eq(rpc_encode_request(1, RPC_BALLOON_GET_SIZE, "{}", frame, sizeof(frame)),
		     -EINVAL);
}

Test(rpc_guest, params_present_or_absent_as_the_method_takes)
{
	struct rpc_request r;
	cr_expect_eq(parse_body("{\"id\":1,\"method\":\"HostVsockConnect\"}", &r), -EINVAL);
	cr_expect_str_eq(err, "\"params\" is missing: HostVsockConnect takes an object");
	cr_expect_eq(parse_body("{\"id\":1,\"method\":\"BalloonRequestNumPages\",\"params\":5}",
				&r), -EINVAL);
	cr_expect_eq(parse_body("{\"id\":1,\"method\":\"BalloonGetSize\",\"params\":{}}", &r),
		     -EINVAL);
	cr_expect_str_eq(err, "\"params\": BalloonGetSize takes none");
	cr_expect_eq(parse_body("{\"id\":1,\"method\":\"BalloonGetMemStats\",\"params\":{}}", &r),
		     -EINVAL);
}

/* HostVsockConnect's params, as server.c reads them. */
static const struct params_uint vsock_params = { "HostVsockConnect", "guest_port",
						 "the port the guest listens on", UINT32_MAX };

static int port_of(const char *text, uint64_t *port)
{
	return params_uint_parse(&vsock_params, text, strlen(text), port, err, sizeof(err));
}

Test(rpc_guest, guest_port)
{
	uint64_t p = 9;
	cr_assert_eq(port_of("{\"guest_port\": 0}", &p), 0, "%s", err);
	cr_expect_eq(p, 0);
	cr_assert_eq(port_of("{\"guest_port\": 4294967295}", &p), 0, "%s", err);
	cr_expect_eq(p, UINT32_MAX);
	static const char *const bad[][2] = {
		{ "{}", "params.guest_port is missing: the port the guest listens on" },
		{ "{\"guest_port\": 4294967296}", "params.guest_port: want an integer 0..4294967295" },
		{ "{\"guest_port\": 99999999999999999999}", "params.guest_port: want an integer" },
		{ "{\"guest_port\": -1}", "params.guest_port: want an integer" },
		{ "{\"guest_port\": \"22\"}", "params.guest_port: want an integer 0..4294967295, "
					     "not a string" },
		{ "{\"guest_port\": 2.0}", "params.guest_port: want an integer" },
		{ "{\"guest_port\": 1, \"port\": 1}",
		  "params: unknown key \"port\" (HostVsockConnect takes guest_port)" },
		{ "{\"guest_port\": 1, \"guest_port\": 2}", "params" },
		{ "[22]", "params" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = 9;
		cr_expect_eq(port_of(bad[i][0], &p), -EINVAL, "%s", bad[i][0]);
		cr_expect_eq(p, 9, "untouched: %s", bad[i][0]);
		cr_expect(!strncmp(err, bad[i][1], strlen(bad[i][1])), "%s: got %s", bad[i][0], err);
	}
}

Test(rpc_guest, requested_num_pages)
{
	uint32_t n = 9;
	const char *ok = "{\"requested_num_pages\": 4294967295}";
	cr_assert_eq(balloon_pages_parse(ok, strlen(ok), &n, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(n, UINT32_MAX);
	const char *big = "{\"requested_num_pages\": 4294967296}";
	cr_expect_eq(balloon_pages_parse(big, strlen(big), &n, err, sizeof(err)), -EINVAL);
	const char *mib = "{\"amount_mib\": 1}";
	cr_expect_eq(balloon_pages_parse(mib, strlen(mib), &n, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "params: unknown key \"amount_mib\" (BalloonRequestNumPages takes "
			      "requested_num_pages)");
	cr_expect_eq(n, UINT32_MAX);
}

Test(rpc_guest, balloon_size)
{
	struct dev_ctl_balloon b = { .target_pages = 38400, .actual_pages = 512 };
	char *t = balloon_size_json(&b);
	cr_assert_not_null(t);
	cr_expect_str_eq(t, "{\"current_num_pages\":512,\"requested_num_pages\":38400}");
	free(t);
}

Test(rpc_guest, balloon_mem_stats_by_virtio_tag)
{
	struct dev_ctl_balloon b = { .present = 1u << 0 | 1u << 4 | 1u << 15 };
	b.stat[0] = 3;
	b.stat[4] = 123456789;
	b.stat[15] = UINT64_MAX;
	char *t = balloon_mem_stats_json(&b, true);
	cr_assert_not_null(t);
	cr_expect_str_eq(t, "{\"status\":0,\"mem_stats\":[{\"tag\":0,\"val\":3},"
			    "{\"tag\":4,\"val\":123456789},"
			    "{\"tag\":15,\"val\":18446744073709551615}]}");
	free(t);
	/* Nothing reported yet. */
	b.present = 0;
	t = balloon_mem_stats_json(&b, true);
	cr_expect_str_eq(t, "{\"status\":0,\"mem_stats\":[]}");
	free(t);
	/* A VM that polls no statistics: ZX_ERR_NOT_SUPPORTED. */
	t = balloon_mem_stats_json(&b, false);
	cr_expect_str_eq(t, "{\"status\":-2,\"mem_stats\":null}");
	free(t);
}

Test(rpc_guest, the_connect_reply_carries_the_host_port)
{
	int len = rpc_encode_ok(3, "{\"host_port\":1073741824}", frame, sizeof(frame));
	cr_assert_gt(len, 4);
	struct rpc_reply r;
	cr_assert_eq(rpc_parse_reply((const char *)frame + 4, (size_t)len - 4, &r, err,
				     sizeof(err)), 0, "%s", err);
	cr_expect(r.ok);
	cr_expect_str_eq(r.result, "{\"host_port\":1073741824}");
	rpc_reply_free(&r);
}
