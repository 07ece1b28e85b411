/* The config parser's devices (controller/config.h): block and net devices,
 * their rate limiters, how many there may be, and restart policies. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "config_expect.h"

/* ------------------------------------------------------------ block devices */

Test(config, block_device_fields)
{
	expect_ok(with("'block_devices':[]"));
	cr_assert_eq(cfg.nblock, 0);
	expect_ok(with("'block_devices':[{'path':'disk.img'},"
		       "{'path':'/b','read_only':true,'serial':'12345678901234567890'}]"));
	cr_assert_eq(cfg.nblock, 2);
	cr_assert_str_eq(cfg.block[0].path, "disk.img");
	cr_assert_eq(cfg.block[0].read_only, false);
	cr_assert_str_eq(cfg.block[0].serial, "");
	cr_assert_eq(cfg.block[1].read_only, true);
	cr_assert_str_eq(cfg.block[1].serial, "12345678901234567890");
}

Test(config, block_device_errors)
{
	cr_assert_eq(parse_str(with("'block_devices':[{'path':'/a'},{'read_only':true}]")), -EINVAL);
	cr_assert_str_eq(err, "block_devices[1].path: required (or \"vhost_user_socket\" for a disk an external vhost-user backend serves)");
	expect_err(with("'block_devices':[{}]"), "block_devices[0].path: required");
	expect_err(with("'block_devices':[{'path':''}]"), "block_devices[0].path: empty: want the path of a disk image");
	expect_err(with("'block_devices':[{'path':5}]"), "block_devices[0].path: want the path of a disk image (a string), not an integer");
	expect_err(with("'block_devices':[{'path':'/a','read_only':'yes'}]"), "block_devices[0].read_only: want true or false, not a string");
	expect_err(with("'block_devices':[{'path':'/a','serial':'123456789012345678901'}]"), "block_devices[0].serial: 21 bytes long: at most 20");
	expect_err(with("'block_devices':[{'path':'/a','serial':7}]"), "block_devices[0].serial: want a string of at most 20 bytes, not an integer");
	expect_err(with("'block_devices':[{'path':'/a','serial':'a\\tb'}]"), "block_devices[0].serial: \"a\\x09b\": want printable ASCII characters only");
	expect_err(with("'block_devices':[{'path':'/a','serial':'\xc3\xa9'}]"), "block_devices[0].serial: \"\\xc3\\xa9\": want printable ASCII");
	expect_err(with("'block_devices':['/a']"), "block_devices[0]: want an object such as {\"path\": \"/var/lib/disk.img\"}, not a string");
	expect_err(with("'block_devices':[{'path':'/a'},null]"), "block_devices[1]: want an object such as {\"path\": \"/var/lib/disk.img\"}, not null");
	expect_err(with("'block_devices':{'path':'/a'}"), "block_devices: want an array of devices [{...}, ...], not an object");
	expect_err(with("'block_devices':'/a'"), "block_devices: want an array of devices [{...}, ...], not a string");
}

Test(config, block_device_vhost_user)
{
	expect_ok(with("'block_devices':[{'vhost_user_socket':'/run/disk0.sock'}]"));
	cr_assert_eq(cfg.block[0].backend, VM_BACKEND_VHOST_USER);
	cr_assert_str_eq(cfg.block[0].vhost_user_socket, "/run/disk0.sock");
	cr_assert_eq(cfg.block[0].read_only, false);
	expect_err(with("'block_devices':[{'path':'/a','vhost_user_socket':'/s'}]"),
		   "block_devices[0]: \"path\" and \"vhost_user_socket\" exclude each other: set one");
	expect_err(with("'block_devices':[{'vhost_user_socket':''}]"),
		   "block_devices[0].vhost_user_socket: empty: want the path of the vhost-user backend's Unix socket");
	expect_err(with("'block_devices':[{'vhost_user_socket':1}]"),
		   "block_devices[0].vhost_user_socket: want the path of the vhost-user backend's Unix socket (a string), not an integer");
	expect_err(with("'block_devices':[{'vhost_user_socket':'/s','read_only':true}]"),
		   "block_devices[0].read_only: does not apply to an external vhost-user backend (\"vhost_user_socket\"): make the export read-only in the backend (qemu-storage-daemon: writable=off)");
	expect_err(with("'block_devices':[{'vhost_user_socket':'/s','serial':'x'}]"),
		   "block_devices[0].serial: does not apply to an external vhost-user backend");
	expect_err(with("'block_devices':[{'vhost_user_socket':'/s','sandbox':'on'}]"),
		   "block_devices[0].sandbox: does not apply to an external vhost-user backend");
}

Test(config, socket_path_limit)
{
	char sock[VM_CONFIG_SOCKET_MAX + 1];
	char json[512];
	memset(sock, 's', sizeof(sock));
	sock[0] = '/';
	sock[VM_CONFIG_SOCKET_MAX - 1] = '\0'; /* 107 bytes: fits sun_path */
	snprintf(json, sizeof(json), "{\"kernel\":\"/k\",\"block_devices\":[{\"vhost_user_socket\":\"%s\"}]}", sock);
	expect_ok(json);
	cr_assert_eq(strlen(cfg.block[0].vhost_user_socket), 107);
	sock[VM_CONFIG_SOCKET_MAX - 1] = 's'; /* 108 bytes */
	sock[VM_CONFIG_SOCKET_MAX] = '\0';
	snprintf(json, sizeof(json), "{\"kernel\":\"/k\",\"net_devices\":[{\"vhost_user_socket\":\"%s\"}]}", sock);
	expect_err(json, "net_devices[0].vhost_user_socket: 108 bytes long: at most 107");
}

Test(config, sockets_are_not_shared)
{
	expect_err(with("'block_devices':[{'vhost_user_socket':'/s0'},{'vhost_user_socket':'/s0'}]"),
		   "block_devices[1].vhost_user_socket: \"/s0\" is already used by block_devices[0]: one backend socket serves one device");
	expect_err(with("'block_devices':[{'path':'/a'},{'vhost_user_socket':'/s0'}],"
			"'net_devices':[{'tap':'t0'},{'vhost_user_socket':'/s0'}]"),
		   "net_devices[1].vhost_user_socket: \"/s0\" is already used by block_devices[1]");
	expect_ok(with("'block_devices':[{'vhost_user_socket':'/s0'},{'vhost_user_socket':'/s1'}],"
		       "'net_devices':[{'vhost_user_socket':'/s2'}]"));
}

/* ------------------------------------------------------------ rate limiters */

Test(config, rate_limiters)
{
	expect_ok(with("'block_devices':[{'path':'/a','rate_limiter':{'bandwidth':{'size':1048576,"
		       "'refill_time':125},'ops':{'size':100,'one_time_burst':50,'refill_time':1000}}},"
		       "{'path':'/b'},{'path':'/c','rate_limiter':{}}],"
		       "'net_devices':[{'tap':'t0','rx_rate_limiter':{'ops':{'size':1,'refill_time':1,"
		       "'one_time_burst':0}},'tx_rate_limiter':{'bandwidth':{'size':9223372036854775807,"
		       "'refill_time':86400000,'one_time_burst':9223372036854775807}}}]"));
	const struct rl_cfg *r = &cfg.block[0].rate_limiter;
	cr_assert_eq(r->bandwidth.size, 1048576);
	cr_assert_eq(r->bandwidth.one_time_burst, 0);
	cr_assert_eq(r->bandwidth.refill_ms, 125);
	cr_assert_eq(r->ops.size, 100);
	cr_assert_eq(r->ops.one_time_burst, 50);
	cr_assert_eq(r->ops.refill_ms, 1000);
	static const struct rl_cfg none;
	cr_assert_eq(memcmp(&cfg.block[1].rate_limiter, &none, sizeof(none)), 0, "absent: unlimited");
	cr_assert_eq(memcmp(&cfg.block[2].rate_limiter, &none, sizeof(none)), 0, "{}: unlimited");
	cr_assert_eq(memcmp(&cfg.net[0].rx_rate_limiter.bandwidth, &none.bandwidth,
			    sizeof(none.bandwidth)), 0);
	cr_assert_eq(cfg.net[0].rx_rate_limiter.ops.size, 1);
	cr_assert_eq(cfg.net[0].rx_rate_limiter.ops.refill_ms, 1);
	cr_assert_eq(cfg.net[0].tx_rate_limiter.bandwidth.size, RL_SIZE_MAX);
	cr_assert_eq(cfg.net[0].tx_rate_limiter.bandwidth.one_time_burst, RL_SIZE_MAX);
	cr_assert_eq(cfg.net[0].tx_rate_limiter.bandwidth.refill_ms, RL_REFILL_MS_MAX);
}

Test(config, rate_limiter_example)
{
	/* The example of docs/config.md's "Rate limiters". */
	expect_ok(with("'block_devices':[{'path':'/a','rate_limiter': {\n"
		       "  'bandwidth': { 'size': 1048576, 'one_time_burst': 8388608, 'refill_time': 125 },\n"
		       "  'ops': { 'size': 1000, 'refill_time': 1000 }\n"
		       "}}]"));
	cr_assert_eq(cfg.block[0].rate_limiter.bandwidth.one_time_burst, 8u << 20);
	cr_assert_eq(cfg.block[0].rate_limiter.ops.size, 1000);
}

Test(config, rate_limiter_errors)
{
	static const struct {
		const char *members, *want;
	} t[] = {
		{ "'rate_limiter':{'bandwidth':{'size':0,'refill_time':1}}",
		  "block_devices[0].rate_limiter.bandwidth.size: 0 is out of range: want 1 to 9223372036854775807" },
		{ "'rate_limiter':{'bandwidth':{'size':9223372036854775808,'refill_time':1}}",
		  "block_devices[0].rate_limiter.bandwidth.size: 9223372036854775808 is out of range" },
		{ "'rate_limiter':{'bandwidth':{'size':-1,'refill_time':1}}",
		  "block_devices[0].rate_limiter.bandwidth.size: -1 is out of range" },
		{ "'rate_limiter':{'bandwidth':{'size':1.5,'refill_time':1}}",
		  "block_devices[0].rate_limiter.bandwidth.size: want an integer from 1 to 9223372036854775807, not a number with a fraction" },
		{ "'rate_limiter':{'bandwidth':{'size':'1M','refill_time':1}}",
		  "block_devices[0].rate_limiter.bandwidth.size: want an integer from 1 to" },
		{ "'rate_limiter':{'ops':{'refill_time':1}}",
		  "block_devices[0].rate_limiter.ops.size: required: the bucket's tokens" },
		{ "'rate_limiter':{'ops':{'size':1}}",
		  "block_devices[0].rate_limiter.ops.refill_time: required" },
		{ "'rate_limiter':{'ops':{'size':1,'refill_time':0}}",
		  "block_devices[0].rate_limiter.ops.refill_time: 0 is out of range: want 1 to 86400000" },
		{ "'rate_limiter':{'ops':{'size':1,'refill_time':86400001}}",
		  "block_devices[0].rate_limiter.ops.refill_time: 86400001 is out of range" },
		{ "'rate_limiter':{'ops':{'size':1,'refill_time':1,'one_time_burst':-5}}",
		  "block_devices[0].rate_limiter.ops.one_time_burst: -5 is out of range: want 0 to" },
		{ "'rate_limiter':{'ops':{'size':1,'refill_time':1,'burst':5}}",
		  "block_devices[0].rate_limiter.ops: unknown key \"burst\": the keys here are size, one_time_burst, refill_time" },
		{ "'rate_limiter':{'bandwith':{'size':1,'refill_time':1}}",
		  "block_devices[0].rate_limiter: unknown key \"bandwith\" (did you mean \"bandwidth\"?)" },
		{ "'rate_limiter':{'ops':[1,1]}",
		  "block_devices[0].rate_limiter.ops: want a token bucket such as {\"size\": 1048576, \"refill_time\": 125}, not an array" },
		{ "'rate_limiter':{'ops':null}",
		  "block_devices[0].rate_limiter.ops: want a token bucket" },
		{ "'rate_limiter':null",
		  "block_devices[0].rate_limiter: want an object such as {\"bandwidth\": {\"size\": 1048576, \"refill_time\": 125}}, not null (leave the key out instead)" },
		{ "'rate_limiter':true", "block_devices[0].rate_limiter: want an object" },
		{ "'rate_limit':{}", "block_devices[0]: unknown key \"rate_limit\" (did you mean" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char members[512];
		snprintf(members, sizeof(members), "'block_devices':[{'path':'/a',%s}]", t[i].members);
		expect_err(with(members), t[i].want);
	}
	expect_err(with("'block_devices':[{'vhost_user_socket':'/s','rate_limiter':{}}]"),
		   "block_devices[0].rate_limiter: does not apply to an external vhost-user backend");
	expect_err(with("'net_devices':[{'vhost_user_socket':'/s','tx_rate_limiter':{}}]"),
		   "net_devices[0].tx_rate_limiter: does not apply to an external vhost-user backend");
	expect_err(with("'net_devices':[{'tap':'t','rx_rate_limiter':{'ops':{'size':1}}}]"),
		   "net_devices[0].rx_rate_limiter.ops.refill_time: required");
	expect_err(with("'net_devices':[{'tap':'t','rate_limiter':{}}]"),
		   "net_devices[0]: unknown key \"rate_limiter\"");
}

/* ------------------------------------------------------------ net devices */

Test(config, net_device_fields)
{
	expect_ok(with("'net_devices':[{'tap':'tap0'},{'tap':'a.b-c_D9','mac':'02:AB:cd:EF:00:01'},"
		       "{'vhost_user_socket':'/run/net.sock','mac':'52:54:00:00:00:07'}]"));
	cr_assert_eq(cfg.nnet, 3);
	cr_assert_str_eq(cfg.net[0].tap, "tap0");
	cr_assert_eq(cfg.net[0].has_mac, false);
	cr_assert_eq(cfg.net[0].backend, VM_BACKEND_CELLVM);
	static const uint8_t mac1[6] = { 0x02, 0xab, 0xcd, 0xef, 0x00, 0x01 };
	cr_assert_eq(cfg.net[1].has_mac, true);
	cr_assert_arr_eq(cfg.net[1].mac, mac1, 6);
	cr_assert_eq(cfg.net[2].backend, VM_BACKEND_VHOST_USER);
	cr_assert_str_eq(cfg.net[2].vhost_user_socket, "/run/net.sock");
	cr_assert_str_eq(cfg.net[2].tap, "");
	cr_assert_eq(cfg.net[2].has_mac, true);
	cr_assert_eq(cfg.net[2].mac[5], 7);
}

Test(config, net_tap)
{
	expect_ok(with("'net_devices':[{'tap':'123456789012345'}]")); /* 15 */
	cr_assert_str_eq(cfg.net[0].tap, "123456789012345");
	expect_err(with("'net_devices':[{'tap':'1234567890123456'}]"), "net_devices[0].tap: 16 bytes long: at most 15");
	expect_err(with("'net_devices':[{'mac':'52:54:00:12:34:56'}]"), "net_devices[0].tap: required");
	expect_err(with("'net_devices':[{'tap':''}]"), "net_devices[0].tap: \"\": want an interface name of 1 to 15 letters");
	expect_err(with("'net_devices':[{'tap':'tap 0'}]"), "net_devices[0].tap: \"tap 0\": want an interface name");
	expect_err(with("'net_devices':[{'tap':'tap/0'}]"), "net_devices[0].tap: \"tap/0\": want an interface name");
	expect_err(with("'net_devices':[{'tap':'tap:0'}]"), "net_devices[0].tap: \"tap:0\": want an interface name");
	expect_err(with("'net_devices':[{'tap':'.'}]"), "net_devices[0].tap: \".\": want an interface name");
	expect_err(with("'net_devices':[{'tap':'..'}]"), "net_devices[0].tap: \"..\": want an interface name");
	expect_err(with("'net_devices':[{'tap':'t\\u0000'}]"), "net_devices[0].tap: contains a NUL character");
	expect_err(with("'net_devices':[{'tap':0}]"), "net_devices[0].tap: want an interface name (a string), not an integer");
	expect_err(with("'net_devices':[{'tap':'t0'},{'tap':'t0'}]"), "net_devices[1].tap: \"t0\" is already used by net_devices[0]");
	expect_err(with("'net_devices':[{'tap':'t0','vhost_user_socket':'/s'}]"), "net_devices[0]: \"tap\" and \"vhost_user_socket\" exclude each other: set one");
	expect_err(with("'net_devices':[{'vhost_user_socket':'/s','sandbox':'off'}]"), "net_devices[0].sandbox: does not apply to an external vhost-user backend");
	expect_err(with("'net_devices':[['tap0']]"), "net_devices[0]: want an object such as {\"tap\": \"tap0\"}, not an array");
	expect_err(with("'net_devices':true"), "net_devices: want an array of devices [{...}, ...], not a boolean");
}

/* Cloud Hypervisor's num_queues: rx and tx of each pair, so even. */
Test(config, net_num_queues)
{
	expect_ok(with("'net_devices':[{'tap':'t0'},{'tap':'t1','num_queues':4},"
		       "{'tap':'t2','num_queues':16},{'vhost_user_socket':'/s'}]"));
	cr_assert_eq(cfg.net[0].num_queues, 2, "default: one pair");
	cr_assert_eq(cfg.net[1].num_queues, 4);
	cr_assert_eq(cfg.net[2].num_queues, 16);
	cr_assert_eq(cfg.net[3].num_queues, 2);
	expect_err(with("'net_devices':[{'tap':'t','num_queues':3}]"),
		   "net_devices[0].num_queues: 3 is odd: want an even number from 2 to 16");
	expect_err(with("'net_devices':[{'tap':'t','num_queues':18}]"),
		   "net_devices[0].num_queues: 18 is out of range: want 2 to 16");
	expect_err(with("'net_devices':[{'tap':'t','num_queues':0}]"),
		   "net_devices[0].num_queues: 0 is out of range: want 2 to 16");
	expect_err(with("'net_devices':[{'tap':'t','num_queues':'4'}]"),
		   "net_devices[0].num_queues: want an integer from 2 to 16, not a string");
	expect_err(with("'net_devices':[{'vhost_user_socket':'/s','num_queues':4}]"),
		   "net_devices[0].num_queues: does not apply to an external vhost-user backend");
}

Test(config, net_mac)
{
	const char *bad[] = { "01:00:5e:00:00:01", /* multicast */
			      "ff:ff:ff:ff:ff:ff", /* broadcast */
			      "00:00:00:00:00:00", "52:54:00:12:34", "52:54:00:12:34:56:78",
			      "52-54-00-12-34-56", "525400123456", "52:54:00:12:34:5g",
			      "52:54:00:12:34:5", " 52:54:00:12:34:56", "52:54:00:12:34:56 ",
			      "52:54:00:12:3:456", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char members[128], want[160];
		snprintf(members, sizeof(members), "'net_devices':[{'tap':'t','mac':'%s'}]", bad[i]);
		snprintf(want, sizeof(want), "net_devices[0].mac: \"%s\": want a unicast address such as \"52:54:00:12:34:56\"", bad[i]);
		expect_err(with(members), want);
	}
	expect_err(with("'net_devices':[{'tap':'t','mac':525400123456}]"), "net_devices[0].mac: want a string such as \"52:54:00:12:34:56\", not an integer");
	expect_err(with("'net_devices':[{'tap':'t','mac':'52:54:00:12:34:56\\u0000'}]"), "net_devices[0].mac: \"52:54:00:12:34:56\\x00\": want a unicast");
}

Test(config, mac_parser)
{
	uint8_t m[6] = { 9, 9, 9, 9, 9, 9 };
	static const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xCD, 0xff };
	cr_assert_eq(cli_parse_mac("52:54:00:ab:CD:ff", m), 0);
	cr_assert_arr_eq(m, want, 6);
	cr_assert_eq(cli_parse_mac("fe:00:00:00:00:00", m), 0, "locally administered, even: fine");
	memset(m, 9, sizeof(m));
	cr_assert_eq(cli_parse_mac("03:00:00:00:00:01", m), -EINVAL);
	cr_assert_eq(cli_parse_mac("00:00:00:00:00:00", m), -EINVAL);
	cr_assert_eq(cli_parse_mac("52:54:00:12:34:56x", m), -EINVAL);
	cr_assert_eq(cli_parse_mac("52:54:00:12:34;56", m), -EINVAL);
	cr_assert_eq(m[0], 9, "untouched on failure");
}

/* ------------------------------------------------------------ device count */

static const char *devices(int nblock, int nnet, bool console, bool rng)
{
	char members[4096];
	size_t o = 0;
	o += (size_t)snprintf(members + o, sizeof(members) - o, "'block_devices':[");
	for (int i = 0; i < nblock; i++)
		o += (size_t)snprintf(members + o, sizeof(members) - o, "%s{'path':'/d%d'}",
				      i ? "," : "", i);
	o += (size_t)snprintf(members + o, sizeof(members) - o, "],'net_devices':[");
	for (int i = 0; i < nnet; i++)
		o += (size_t)snprintf(members + o, sizeof(members) - o, "%s{'tap':'t%d'}",
				      i ? "," : "", i);
	snprintf(members + o, sizeof(members) - o, "],'console':%s,'rng':%s",
		 console ? "true" : "false", rng ? "true" : "false");
	return with(members);
}

Test(config, device_count)
{
	expect_ok(devices(8, 0, false, false));
	cr_assert_eq(cfg.nblock, 8);
	cr_assert_str_eq(cfg.block[7].path, "/d7");
	expect_ok(devices(0, 8, false, false));
	cr_assert_eq(cfg.nnet, 8);
	expect_ok(devices(3, 3, true, true));
	expect_ok(devices(7, 0, false, true));
	expect_err(devices(9, 0, false, false), "block_devices: 9 devices: at most 8 virtio devices fit");
	expect_err(devices(0, 9, false, false), "net_devices: 9 devices: at most 8 virtio devices fit");
	expect_err(devices(5, 4, false, false),
		   "block_devices + net_devices + console + rng + balloon + vsock: 9 virtio devices (5 block, 4 net): at most 8 fit; remove 1");
	expect_err(devices(7, 1, true, false),
		   "block_devices + net_devices + console + rng + balloon + vsock: 9 virtio devices (7 block, 1 net, console): at most 8 fit");
	expect_err(devices(8, 0, false, true),
		   "block_devices + net_devices + console + rng + balloon + vsock: 9 virtio devices (8 block, 0 net, rng): at most 8 fit");
	expect_err(devices(6, 2, true, true),
		   "block_devices + net_devices + console + rng + balloon + vsock: 10 virtio devices (6 block, 2 net, console, rng): at most 8 fit; remove 2");
}


Test(config, restart)
{
	expect_ok(with(""));
	cr_assert(!cfg.restart.set, "absent: the default, decided later");
	expect_ok(with("'restart':{'max':3,'window_s':10},"
		       "'block_devices':[{'path':'/a','restart':{'max':0}},{'path':'/b'}],"
		       "'net_devices':[{'tap':'t0','restart':{}}]"));
	cr_assert(cfg.restart.set);
	cr_assert_eq(cfg.restart.max, 3);
	cr_assert_eq(cfg.restart.window_s, 10);
	cr_assert(cfg.block[0].restart.set);
	cr_assert_eq(cfg.block[0].restart.max, 0, "off for this disk");
	cr_assert_eq(cfg.block[0].restart.window_s, RESTART_DEFAULT_WINDOW_S);
	cr_assert(!cfg.block[1].restart.set, "the VM's");
	cr_assert(cfg.net[0].restart.set);
	cr_assert_eq(cfg.net[0].restart.max, RESTART_DEFAULT_MAX, "{}: the defaults");
	expect_ok(with("'restart':{'max':100,'window_s':86400}"));

	expect_err(with("'restart':5"), "restart: want an object such as");
	expect_err(with("'restart':{'max':101}"), "restart.max:");
	expect_err(with("'restart':{'window_s':0}"), "restart.window_s:");
	expect_err(with("'restart':{'maximum':1}"), "restart: unknown key \"maximum\"");
	expect_err(with("'block_devices':[{'path':'/a','restart':{'max':-1}}]"),
		   "block_devices[0].restart.max:");
	expect_err(with("'block_devices':[{'vhost_user_socket':'/s','restart':{}}]"),
		   "block_devices[0].restart: does not apply to an external");
	expect_err(with("'net_devices':[{'vhost_user_socket':'/s','restart':{}}]"),
		   "net_devices[0].restart: does not apply to an external");
}
