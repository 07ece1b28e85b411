/* The config parser (controller/config.h): defaults, the VM's own keys,
 * unknown and duplicate keys, syntax and bytes. Devices, their rate limiters
 * and restarts: test_config_devices.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "config_expect.h"

/* ------------------------------------------------------------ defaults */

Test(config, minimal_document_gets_defaults)
{
	memset(&cfg, 0xa5, sizeof(cfg));
	expect_ok(J("{'kernel':'/boot/vmlinuz'}"));
	cr_assert_str_eq(cfg.kernel, "/boot/vmlinuz");
	cr_assert_str_eq(cfg.initrd, "");
	cr_assert_str_eq(cfg.cmdline, "");
	cr_assert_eq(cfg.cpus, 1);
	cr_assert_eq(cfg.memory, 256ull << 20);
	cr_assert_eq(cfg.nblock, 0);
	cr_assert_eq(cfg.nnet, 0);
	cr_assert_eq(cfg.console, false);
	cr_assert_eq(cfg.rng, false);
	cr_assert_eq(cfg.sandbox, SANDBOX_ON);
}

Test(config, full_document)
{
	/* The full example of docs/config.md. */
	expect_ok(J("{\n"
		    "  'kernel': '/var/lib/cellvm/vmlinuz',\n"
		    "  'initrd': '/var/lib/cellvm/initrd.img',\n"
		    "  'cmdline': 'console=ttyS0 root=/dev/vda rw',\n"
		    "  'cpus': 2,\n"
		    "  'memory': '1G',\n"
		    "  'block_devices': [\n"
		    "    { 'path': '/var/lib/cellvm/root.img', 'serial': 'root',\n"
		    "      'rate_limiter': { 'bandwidth': { 'size': 1048576, 'refill_time': 125 } } },\n"
		    "    { 'path': '/var/lib/cellvm/data.img', 'read_only': true, 'sandbox': 'log' },\n"
		    "    { 'vhost_user_socket': '/run/disk0.sock' }\n"
		    "  ],\n"
		    "  'net_devices': [\n"
		    "    { 'tap': 'tap0', 'mac': '52:54:00:12:34:56' }\n"
		    "  ],\n"
		    "  'console': true,\n"
		    "  'rng': true,\n"
		    "  'sandbox': 'on'\n"
		    "}\n"));
	cr_assert_str_eq(cfg.kernel, "/var/lib/cellvm/vmlinuz");
	cr_assert_str_eq(cfg.initrd, "/var/lib/cellvm/initrd.img");
	cr_assert_str_eq(cfg.cmdline, "console=ttyS0 root=/dev/vda rw");
	cr_assert_eq(cfg.cpus, 2);
	cr_assert_eq(cfg.memory, 1ull << 30);
	cr_assert_eq(cfg.nblock, 3);
	cr_assert_eq(cfg.block[0].backend, VM_BACKEND_CELLVM);
	cr_assert_str_eq(cfg.block[0].path, "/var/lib/cellvm/root.img");
	cr_assert_str_eq(cfg.block[0].serial, "root");
	cr_assert_eq(cfg.block[0].read_only, false);
	cr_assert_eq(cfg.block[0].sandbox, SANDBOX_ON);
	cr_assert_eq(cfg.block[0].rate_limiter.bandwidth.size, 1048576);
	cr_assert_eq(cfg.block[0].rate_limiter.bandwidth.refill_ms, 125);
	cr_assert_str_eq(cfg.block[0].vhost_user_socket, "");
	cr_assert_eq(cfg.block[1].read_only, true);
	cr_assert_str_eq(cfg.block[1].serial, "");
	cr_assert_eq(cfg.block[1].sandbox, SANDBOX_LOG);
	cr_assert_eq(cfg.block[2].backend, VM_BACKEND_VHOST_USER);
	cr_assert_str_eq(cfg.block[2].vhost_user_socket, "/run/disk0.sock");
	cr_assert_str_eq(cfg.block[2].path, "");
	cr_assert_eq(cfg.nnet, 1);
	cr_assert_eq(cfg.net[0].backend, VM_BACKEND_CELLVM);
	cr_assert_str_eq(cfg.net[0].tap, "tap0");
	cr_assert_eq(cfg.net[0].has_mac, true);
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	cr_assert_arr_eq(cfg.net[0].mac, mac, 6);
	cr_assert_eq(cfg.console, true);
	cr_assert_eq(cfg.rng, true);
}

Test(config, qemu_storage_daemon_example)
{
	/* The vhost-user example of docs/config.md. */
	expect_ok(J("{ 'kernel': '/var/lib/cellvm/vmlinuz', 'cmdline': 'console=ttyS0 root=/dev/vda',"
		    "  'block_devices': [ { 'vhost_user_socket': '/run/disk0.sock' } ] }"));
	cr_assert_eq(cfg.nblock, 1);
	cr_assert_eq(cfg.block[0].backend, VM_BACKEND_VHOST_USER);
	cr_assert_str_eq(cfg.block[0].vhost_user_socket, "/run/disk0.sock");
}

Test(config, out_untouched_on_failure)
{
	static struct vm_config before;
	memset(&cfg, 0x5a, sizeof(cfg));
	memcpy(&before, &cfg, sizeof(cfg));
	cr_assert_eq(parse_str(with("'cpus':2,'memory':'12X'")), -EINVAL);
	cr_assert_eq(memcmp(&cfg, &before, sizeof(cfg)), 0);
}

/* ------------------------------------------------------------ kernel, initrd, cmdline */

Test(config, kernel)
{
	expect_err(J("{}"), "kernel: required");
	expect_err(J("{'cpus':2}"), "kernel: required");
	expect_err(J("{'kernel':''}"), "kernel: empty: want the path of the guest kernel");
	expect_err(J("{'kernel':7}"), "kernel: want the path of the guest kernel (bzImage) (a string), not an integer");
	expect_err(J("{'kernel':['/k']}"), "kernel: want the path of the guest kernel (bzImage) (a string), not an array");
	expect_err(J("{'kernel':null}"), "kernel: want the path of the guest kernel (bzImage) (a string), not null (leave the key out instead)");
}

Test(config, path_length_limit)
{
	static char path[VM_CONFIG_PATH_MAX + 1];
	static char json[VM_CONFIG_PATH_MAX + 64];
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[VM_CONFIG_PATH_MAX - 1] = '\0'; /* 4095 bytes: fits */
	snprintf(json, sizeof(json), "{\"kernel\":\"%s\"}", path);
	expect_ok(json);
	cr_assert_eq(strlen(cfg.kernel), VM_CONFIG_PATH_MAX - 1);
	path[VM_CONFIG_PATH_MAX - 1] = 'a'; /* 4096 bytes: no room for the NUL */
	snprintf(json, sizeof(json), "{\"kernel\":\"%s\"}", path);
	expect_err(json, "kernel: 4096 bytes long: at most 4095");
	snprintf(json, sizeof(json), "{\"kernel\":\"/k\",\"initrd\":\"%s\"}", path);
	expect_err(json, "initrd: 4096 bytes long: at most 4095");
	snprintf(json, sizeof(json),
		 "{\"kernel\":\"/k\",\"block_devices\":[{\"path\":\"%s\"}]}", path);
	expect_err(json, "block_devices[0].path: 4096 bytes long: at most 4095");
}

Test(config, initrd)
{
	expect_ok(with("'initrd':'/boot/initrd.img'"));
	cr_assert_str_eq(cfg.initrd, "/boot/initrd.img");
	expect_err(with("'initrd':''"), "initrd: empty: want the path of an initramfs");
	expect_err(with("'initrd':true"), "initrd: want the path of an initramfs (a string), not a boolean");
}

Test(config, cmdline)
{
	expect_ok(with("'cmdline':''"));
	cr_assert_str_eq(cfg.cmdline, "");
	expect_ok(with("'cmdline':'console=ttyS0 quiet'"));
	cr_assert_str_eq(cfg.cmdline, "console=ttyS0 quiet");
	expect_err(with("'cmdline':['console=ttyS0']"), "cmdline: want the kernel command line (a string), not an array");

	static char json[4096];
	char line[VM_CONFIG_CMDLINE_MAX + 1];
	memset(line, 'x', VM_CONFIG_CMDLINE_MAX - 1);
	line[VM_CONFIG_CMDLINE_MAX - 1] = '\0'; /* 2047 bytes */
	snprintf(json, sizeof(json), "{\"kernel\":\"/k\",\"cmdline\":\"%s\"}", line);
	expect_ok(json);
	cr_assert_eq(strlen(cfg.cmdline), VM_CONFIG_CMDLINE_MAX - 1);
	strcat(line, "x"); /* 2048 bytes */
	snprintf(json, sizeof(json), "{\"kernel\":\"/k\",\"cmdline\":\"%s\"}", line);
	expect_err(json, "cmdline: 2048 bytes long: at most 2047");
}

Test(config, long_string)
{
	/* A string of most of the size limit: refused for its length, not a crash. */
	size_t n = VM_CONFIG_MAX_BYTES - 64;
	char *json = malloc(n + 64);
	cr_assert(json);
	int o = sprintf(json, "{\"kernel\":\"/k\",\"cmdline\":\"");
	memset(json + o, 'y', n);
	strcpy(json + o + n, "\"}");
	cr_assert_lt(strlen(json), VM_CONFIG_MAX_BYTES);
	expect_err(json, "cmdline: 1048512 bytes long: at most 2047");
	free(json);
}

Test(config, document_size_limit)
{
	size_t n = VM_CONFIG_MAX_BYTES + 1;
	char *json = malloc(n);
	cr_assert(json);
	memset(json, ' ', n);
	memcpy(json, "{\"kernel\":\"/k\"}", 15);
	cr_assert_eq(parse_bytes(json, n), -EINVAL);
	cr_assert_str_eq(err, "the config is 1048577 bytes: at most 1048576");
	cr_assert_eq(parse_bytes(json, n - 1), 0, "%s", err); /* exactly at the limit */
	free(json);
}

/* ------------------------------------------------------------ cpus */

Test(config, cpus)
{
	expect_ok(with("'cpus':1"));
	cr_assert_eq(cfg.cpus, 1);
	expect_ok(with("'cpus':32"));
	cr_assert_eq(cfg.cpus, 32);
	expect_err(with("'cpus':33"), "cpus: 33 is out of range: want 1 to 32");
	expect_err(with("'cpus':0"), "cpus: 0 is out of range: want 1 to 32");
	expect_err(with("'cpus':-1"), "cpus: -1 is out of range: want 1 to 32");
	expect_err(with("'cpus':-9223372036854775809"), "cpus: ");
	expect_err(with("'cpus':99999999999999999999999"), "cpus: ");
	expect_err(with("'cpus':4294967297"), "cpus: 4294967297 is out of range"); /* 2^32 + 1 */
	expect_err(with("'cpus':'2'"), "cpus: want an integer from 1 to 32, not a string");
	expect_err(with("'cpus':2.0"), "cpus: want an integer from 1 to 32, not a number with a fraction or exponent");
	expect_err(with("'cpus':2e0"), "cpus: want an integer from 1 to 32, not a number");
	expect_err(with("'cpus':true"), "cpus: want an integer from 1 to 32, not a boolean");
	expect_err(with("'cpus':null"), "cpus: want an integer from 1 to 32, not null");
}

/* ------------------------------------------------------------ memory */

Test(config, memory_sizes)
{
	expect_ok(with("'memory':'16M'"));
	cr_assert_eq(cfg.memory, 16ull << 20);
	expect_ok(with("'memory':'512M'"));
	cr_assert_eq(cfg.memory, 512ull << 20);
	expect_ok(with("'memory':'2g'"));
	cr_assert_eq(cfg.memory, 2ull << 30);
	expect_ok(with("'memory':'64G'"));
	cr_assert_eq(cfg.memory, 64ull << 30);
	expect_ok(with("'memory':'32768K'"));
	cr_assert_eq(cfg.memory, 32ull << 20);
	expect_ok(with("'memory':'33554432'"));
	cr_assert_eq(cfg.memory, 32ull << 20);
	expect_ok(with("'memory':536870912"));
	cr_assert_eq(cfg.memory, 512ull << 20);
}

Test(config, memory_limits)
{
	expect_err(with("'memory':'14M'"), "memory: 14M is below the minimum of 16M");
	expect_err(with("'memory':'3M'"), "memory: 3M is not a multiple of 2M: round it, e.g. to 16M");
	expect_err(with("'memory':'17M'"), "memory: 17M is not a multiple of 2M: round it, e.g. to 18M");
	expect_err(with("'memory':16777217"), "memory: 16777217 bytes is not a multiple of 2M");
	expect_err(with("'memory':'0'"), "memory: 0 bytes is below the minimum of 16M");
	expect_err(with("'memory':'66G'"), "memory: 66G is above the maximum of 64G");
	expect_err(with("'memory':68721573888"), "memory: 65538M is above the maximum of 64G");
	expect_err(with("'memory':'1T'"), "memory: 1024G is above the maximum of 64G");
	expect_err(with("'memory':99999999999999999999999"), "memory: ");
	expect_err(with("'memory':'99999999999999999999999'"), "memory: \"99999999999999999999999\": want a size");
}

Test(config, memory_forms)
{
	cr_assert_eq(parse_str(with("'memory':'12X'")), -EINVAL);
	cr_assert_str_eq(err, "memory: \"12X\": want a size such as 512M or 2G");
	expect_err(with("'memory':''"), "memory: \"\": want a size such as 512M or 2G");
	expect_err(with("'memory':' 512M'"), "memory: \" 512M\": want a size");
	expect_err(with("'memory':'512MiB'"), "memory: \"512MiB\": want a size");
	expect_err(with("'memory':'1.5G'"), "memory: \"1.5G\": want a size");
	expect_err(with("'memory':'-512M'"), "memory: \"-512M\": want a size");
	expect_err(with("'memory':-536870912"), "memory: -536870912: want a size such as 512M or 2G");
	expect_err(with("'memory':1.5"), "memory: want a size such as \"512M\" or a number of bytes, not a number");
	expect_err(with("'memory':true"), "memory: want a size such as \"512M\" or a number of bytes, not a boolean");
	expect_err(with("'memory':{}"), "memory: want a size such as \"512M\" or a number of bytes, not an object");
	expect_err(with("'memory':'512M\\u0000'"), "memory: \"512M\\x00\": want a size");
}

Test(config, size_parser)
{
	uint64_t v = 7;
	cr_assert_eq(config_parse_size("0", &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(config_parse_size("1048576", &v), 0);
	cr_assert_eq(v, 1048576);
	cr_assert_eq(config_parse_size("4k", &v), 0);
	cr_assert_eq(v, 4096);
	cr_assert_eq(config_parse_size("512M", &v), 0);
	cr_assert_eq(v, 512ull << 20);
	cr_assert_eq(config_parse_size("2G", &v), 0);
	cr_assert_eq(v, 2ull << 30);
	cr_assert_eq(config_parse_size("3t", &v), 0);
	cr_assert_eq(v, 3ull << 40);
	cr_assert_eq(config_parse_size("18446744073709551615", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(config_parse_size("17179869183G", &v), 0);
	cr_assert_eq(v, 17179869183ull << 30);

	v = 7;
	const char *bad[] = { "", "M", "-1", "+1", " 1", "1 ", "1MB", "1MiB", "1.5G", "0x10",
			      "1P", "1KK", "12X", "18446744073709551616",
			      "99999999999999999999999", "17179869184G", "16777216T" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(config_parse_size(bad[i], &v), -EINVAL, "\"%s\"", bad[i]);
	cr_assert_eq(v, 7, "untouched on failure");
}

/* ------------------------------------------------------------ console, rng, sandbox */

Test(config, console_and_rng)
{
	expect_ok(with("'console':true,'rng':false"));
	cr_assert_eq(cfg.console, true);
	cr_assert_eq(cfg.rng, false);
	expect_ok(with("'console':false,'rng':true"));
	cr_assert_eq(cfg.console, false);
	cr_assert_eq(cfg.rng, true);
	expect_err(with("'console':'yes'"), "console: want true or false, not a string");
	expect_err(with("'rng':1"), "rng: want true or false, not an integer");
	expect_err(with("'rng':null"), "rng: want true or false, not null");
}

/* Firecracker's "balloon" object. */
Test(config, balloon)
{
	expect_ok(with(""));
	cr_assert_not(cfg.balloon.present);
	expect_ok(with("'memory':'512M','balloon':{'amount_mib':128,'deflate_on_oom':true,"
		       "'stats_polling_interval_s':5,'free_page_reporting':true}"));
	cr_assert(cfg.balloon.present);
	cr_assert_eq(cfg.balloon.amount_mib, 128);
	cr_assert(cfg.balloon.deflate_on_oom);
	cr_assert_eq(cfg.balloon.stats_polling_interval_s, 5);
	cr_assert(cfg.balloon.free_page_reporting);
	expect_ok(with("'memory':'512M','balloon':{'amount_mib':512}"));
	cr_assert_not(cfg.balloon.deflate_on_oom);
	cr_assert_eq(cfg.balloon.stats_polling_interval_s, 0);
	expect_err(with("'memory':'512M','balloon':{'amount_mib':513}"),
		   "balloon.amount_mib: 513 is out of range: want 0 to 512");
	expect_err(with("'balloon':{}"), "balloon.amount_mib: required");
	expect_err(with("'balloon':true"), "balloon: want an object");
	expect_err(with("'balloon':{'amount_mib':0,'stats_polling_interval_s':-1}"),
		   "balloon.stats_polling_interval_s: -1 is out of range");
	expect_err(with("'balloon':{'amount_mib':0,'deflate_on_oom':1}"),
		   "balloon.deflate_on_oom: want true or false");
	expect_err(with("'balloon':{'amount_mib':0,'amount':1}"), "balloon: unknown key");
}

Test(config, vsock)
{
	expect_ok(with(""));
	cr_assert_eq(cfg.vsock, false);
	expect_ok(with("'vsock':{'guest_cid':3,'uds_path':'/run/vm1/v.sock'}"));
	cr_assert_eq(cfg.vsock, true);
	cr_assert_eq(cfg.vsock_dev.guest_cid, 3);
	cr_assert_str_eq(cfg.vsock_dev.uds_path, "/run/vm1/v.sock");
	expect_ok(with("'vsock':{'guest_cid':4294967294,'uds_path':'/run/v.sock'}"));
	cr_assert_eq(cfg.vsock_dev.guest_cid, 4294967294u);
	expect_err(with("'vsock':{'guest_cid':2,'uds_path':'/run/v.sock'}"),
		   "vsock.guest_cid: 2 is out of range: want 3 to 4294967294");
	expect_err(with("'vsock':{'guest_cid':4294967295,'uds_path':'/run/v.sock'}"),
		   "vsock.guest_cid: 4294967295 is out of range");
	expect_err(with("'vsock':{'uds_path':'/run/v.sock'}"), "vsock.guest_cid: required");
	expect_err(with("'vsock':{'guest_cid':3}"), "vsock.uds_path: required");
	expect_err(with("'vsock':{'guest_cid':3,'uds_path':'v.sock'}"),
		   "vsock.uds_path: want an absolute path");
	expect_err(with("'vsock':{'guest_cid':3,'uds_path':'/run/'}"),
		   "vsock.uds_path: want an absolute path");
	expect_err(with("'vsock':{'guest_cid':3,'uds_path':'/v.sock'}"),
		   "vsock.uds_path: want it in a directory of its own");
	expect_err(with("'vsock':{'guest_cid':3,'uds_path':'/run/v.sock','cid':3}"),
		   "vsock: unknown key \"cid\"");
	expect_err(with("'vsock':true"), "vsock: want an object");
	/* "_4294967295" after the file name must fit a socket address. */
	char name[200], json[300];
	memset(name, 'a', 96);
	name[96] = '\0';
	snprintf(json, sizeof(json), "'vsock':{'guest_cid':3,'uds_path':'/r/%s'}", name);
	expect_ok(with(json));
	name[96] = 'a';
	name[97] = '\0';
	snprintf(json, sizeof(json), "'vsock':{'guest_cid':3,'uds_path':'/r/%s'}", name);
	expect_err(with(json), "vsock.uds_path: its file name is too long");
}

Test(config, sandbox)
{
	expect_ok(with("'sandbox':'off'"));
	cr_assert_eq(cfg.sandbox, SANDBOX_OFF);
	expect_ok(with("'sandbox':'log'"));
	cr_assert_eq(cfg.sandbox, SANDBOX_LOG);
	expect_ok(with("'sandbox':'on'"));
	cr_assert_eq(cfg.sandbox, SANDBOX_ON);
	expect_err(with("'sandbox':'ON'"), "sandbox: \"ON\": want \"on\", \"off\" or \"log\"");
	expect_err(with("'sandbox':'enforce'"), "sandbox: \"enforce\": want \"on\", \"off\" or \"log\"");
	expect_err(with("'sandbox':'on\\u0000x'"), "sandbox: \"on\\x00x\": want");
	expect_err(with("'sandbox':true"), "sandbox: want \"on\", \"off\" or \"log\", not a boolean");
}

Test(config, device_sandbox_defaults_to_vm_wide)
{
	/* The VM-wide key comes after the devices: order in the text does not matter. */
	expect_ok(with("'block_devices':[{'path':'/a'},{'path':'/b','sandbox':'on'}],"
		       "'net_devices':[{'tap':'tap0'},{'tap':'tap1','sandbox':'off'}],"
		       "'sandbox':'log'"));
	cr_assert_eq(cfg.block[0].sandbox, SANDBOX_LOG);
	cr_assert_eq(cfg.block[1].sandbox, SANDBOX_ON);
	cr_assert_eq(cfg.net[0].sandbox, SANDBOX_LOG);
	cr_assert_eq(cfg.net[1].sandbox, SANDBOX_OFF);
	expect_err(with("'block_devices':[{'path':'/a','sandbox':'no'}]"),
		   "block_devices[0].sandbox: \"no\": want \"on\", \"off\" or \"log\"");
	expect_err(with("'net_devices':[{'tap':'t','sandbox':0}]"),
		   "net_devices[0].sandbox: want \"on\", \"off\" or \"log\", not an integer");
}

Test(config, sandbox_parser)
{
	enum sandbox_mode s = SANDBOX_LOG;
	cr_assert_eq(sandbox_parse_mode("off", &s), 0);
	cr_assert_eq(s, SANDBOX_OFF);
	cr_assert_eq(sandbox_parse_mode("on", &s), 0);
	cr_assert_eq(s, SANDBOX_ON);
	cr_assert_eq(sandbox_parse_mode("log", &s), 0);
	cr_assert_eq(s, SANDBOX_LOG);
	cr_assert_eq(sandbox_parse_mode("", &s), -EINVAL);
	cr_assert_eq(sandbox_parse_mode("o", &s), -EINVAL);
	cr_assert_eq(sandbox_parse_mode("onn", &s), -EINVAL);
	cr_assert_eq(s, SANDBOX_LOG, "untouched on failure");
	cr_assert_str_eq(sandbox_mode_name(SANDBOX_ON), "on");
	cr_assert_str_eq(sandbox_mode_name(SANDBOX_OFF), "off");
	cr_assert_str_eq(sandbox_mode_name(SANDBOX_LOG), "log");
	cr_assert_str_eq(sandbox_mode_name((enum sandbox_mode)7), "?");
}

/* ------------------------------------------------------------ unknown keys */

Test(config, unknown_keys)
{
	cr_assert_eq(parse_str(with("'cpu':2")), -EINVAL);
	cr_assert_str_eq(err, "unknown key \"cpu\" (did you mean \"cpus\"?)");
	expect_err(with("'Memory':'1G'"), "unknown key \"Memory\" (did you mean \"memory\"?)");
	expect_err(with("'block_device':[]"), "unknown key \"block_device\" (did you mean \"block_devices\"?)");
	cr_assert_eq(parse_str(with("'frobnicate':1")), -EINVAL);
	cr_assert_str_eq(err, "unknown key \"frobnicate\": the keys here are kernel, initrd, cmdline, "
			      "cpus, memory, block_devices, net_devices, console, rng, balloon, vsock, sandbox, "
			 "restart");
	expect_err(with("'':1"), "unknown key \"\": the keys here are");
	expect_err(with("'block_devices':[{'path':'/a','readonly':true}]"),
		   "block_devices[0]: unknown key \"readonly\" (did you mean \"read_only\"?)");
	expect_err(with("'block_devices':[{'path':'/a'},{'path':'/b','format':'raw'}]"),
		   "block_devices[1]: unknown key \"format\": the keys here are path, vhost_user_socket, read_only, serial, sandbox");
	expect_err(with("'net_devices':[{'tap':'t','vhost-user-socket':'/s'}]"),
		   "net_devices[0]: unknown key \"vhost-user-socket\" (did you mean \"vhost_user_socket\"?)");
	expect_err(with("'net_devices':[{'tap':'t','tag':'x'}]"),
		   "net_devices[0]: unknown key \"tag\" (did you mean \"tap\"?)");
	/* Unknown keys are refused even inside a value of the wrong type. */
	expect_err(with("'cpus':2,'x':{'y':1}"), "unknown key \"x\"");
}

Test(config, unknown_key_is_quoted_safely)
{
	/* An ESC sequence in a key must not reach a terminal through the message. */
	expect_err(with("'\\u001b[31mred':1,'cpus':1"), "unknown key \"\\x1b[31mred\"");
	cr_assert_null(strchr(err, 0x1b));
	expect_err(with("'a\\'\\\\b':1"), "unknown key \"a\\\"\\\\b\": the keys here are");
	char long_key[200], members[300];
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	snprintf(members, sizeof(members), "'%s':1", long_key);
	expect_err(with(members), "unknown key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"...:");
}

/* ------------------------------------------------------------ duplicate keys */

Test(config, duplicate_keys)
{
	cr_assert_eq(parse_str(with("'cpus':1,'cpus':2")), -EINVAL);
	cr_assert_str_eq(err, "duplicate key \"cpus\": give each key once");
	expect_err(J("{'kernel':'/a','kernel':'/b'}"), "duplicate key \"kernel\"");
	/* The same key spelled with an escape is the same key. */
	expect_err(with("'cpus':1,'cp\\u0075s':2"), "duplicate key \"cpus\"");
	expect_err(with("'block_devices':[{'path':'/a'},{'path':'/b','read_only':true,'path':'/c'}]"),
		   "block_devices[1]: duplicate key \"path\": give each key once");
	expect_err(with("'net_devices':[{'tap':'t','mac':'52:54:00:12:34:56','mac':'52:54:00:12:34:57'}]"),
		   "net_devices[0]: duplicate key \"mac\"");
	/* Before the schema: inside an unknown key's value, found and named. */
	expect_err(with("'extra':{'a':[1,{'b':1,'b':2}]}"), "extra.a[1]: duplicate key \"b\"");
	/* The same key in two different objects is fine. */
	expect_ok(with("'block_devices':[{'path':'/a'},{'path':'/b'}]"));
}

Test(config, nul_in_key)
{
	/* json-c would cut the key at the NUL and take it for "cpus". */
	expect_err(with("'cpus\\u0000junk':2"), "key \"cpus\\x00junk\" contains a NUL character (\\u0000): remove it");
	expect_err(with("'block_devices':[{'path\\u0000':'/a'}]"), "block_devices[0]: key \"path\\x00\" contains a NUL");
}

/* ------------------------------------------------------------ syntax and bytes */

static const char *const valid_doc =
	"{\"kernel\": \"/k\", \"initrd\": \"/i\", \"cmdline\": \"console=ttyS0 \\u00e9\", "
	"\"cpus\": 4, \"memory\": \"512M\", \"console\": true, \"rng\": false, "
	"\"sandbox\": \"log\", \"block_devices\": [{\"path\": \"/d\", \"read_only\": true, "
	"\"serial\": \"s1\"}, {\"vhost_user_socket\": \"/run/s\"}], "
	"\"net_devices\": [{\"tap\": \"tap0\", \"mac\": \"52:54:00:12:34:56\"}]}";

Test(config, truncated_at_every_length)
{
	size_t n = strlen(valid_doc);
	cr_assert_eq(parse_bytes(valid_doc, n), 0, "%s", err);
	for (size_t len = 0; len < n; len++) {
		cr_assert_eq(parse_bytes(valid_doc, len), -EINVAL, "prefix of %zu bytes accepted",
			     len);
		cr_assert_neq(err[0], '\0', "prefix of %zu bytes: no message", len);
	}
	char want[128];
	snprintf(want, sizeof(want), "line 1, column %zu: the JSON ends early: complete or close it", n);
	cr_assert_eq(parse_bytes(valid_doc, n - 1), -EINVAL);
	cr_assert_str_eq(err, want);
}

Test(config, length_is_explicit)
{
	/* Bytes past len are not part of the document. */
	char buf[64];
	strcpy(buf, "{\"kernel\":\"/k\"}garbage");
	cr_assert_eq(vm_config_parse(buf, 15, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg.kernel, "/k");
	cr_assert_eq(vm_config_parse(buf, 14, &cfg, err, sizeof(err)), -EINVAL);
}

Test(config, trailing_bytes)
{
	expect_ok(J("{'kernel':'/k'} \n\t\r\n"));
	expect_err(J("{'kernel':'/k'} x"), "line 1, column 17: more after the JSON object: remove it");
	expect_err(J("{'kernel':'/k'}{}"), "line 1, column 16: more after the JSON object");
	expect_err(J("{'kernel':'/k'}\n,"), "line 2, column 1: more after the JSON object");
	expect_err(J("{'kernel':'/k'}}"), "line 1, column 16: more after the JSON object");
}

Test(config, embedded_nul)
{
	const char nul_mid[] = "{\"kernel\":\"/k\0x\"}";
	cr_assert_eq(parse_bytes(nul_mid, sizeof(nul_mid) - 1), -EINVAL);
	cr_assert_str_eq(err, "line 1, column 14: a NUL byte: want JSON text");
	const char nul_end[] = "{\"kernel\":\"/k\"}\0";
	cr_assert_eq(parse_bytes(nul_end, sizeof(nul_end) - 1), -EINVAL);
	cr_assert_str_eq(err, "line 1, column 16: a NUL byte: want JSON text");
	const char nul_ws[] = "\n\0{\"kernel\":\"/k\"}";
	cr_assert_eq(parse_bytes(nul_ws, sizeof(nul_ws) - 1), -EINVAL);
	cr_assert_str_eq(err, "line 2, column 1: a NUL byte: want JSON text");
	/* \u0000 in a value: the path would end there. */
	expect_err(J("{'kernel':'/k\\u0000/x'}"), "kernel: contains a NUL character (\\u0000): remove it");
	expect_err(with("'cmdline':'a\\u0000'"), "cmdline: contains a NUL character");
}

Test(config, utf8)
{
	expect_ok(J("{'kernel':'/boot/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'}"));
	cr_assert_str_eq(cfg.kernel, "/boot/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	expect_ok(J("{'kernel':'/\\ud83d\\ude00'}"));
	cr_assert_str_eq(cfg.kernel, "/\xf0\x9f\x98\x80");
	const char *bad[] = {
		"{'kernel':'/\xff'}",         /* never in UTF-8 */
		"{'kernel':'/\xc0\x80'}",     /* overlong NUL */
		"{'kernel':'/\xc1\xbf'}",     /* overlong */
		"{'kernel':'/\xe0\x80\xaf'}", /* overlong '/' */
		"{'kernel':'/\xed\xa0\x80'}", /* a surrogate */
		"{'kernel':'/\xf0\x8f\xbf\xbf'}", /* overlong U+FFFF */
		"{'kernel':'/\xf4\x90\x80\x80'}", /* past U+10FFFF */
		"{'kernel':'/\xf8\x88\x80\x80\x80'}",
		"{'kernel':'/\x80'}",         /* a lone continuation byte */
		"{'kernel':'/\xc3'}",         /* cut short */
		"{'kernel':'/\xe2\x82'}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_err(J(bad[i]), "line 1, column 13: not valid UTF-8");
	const char cut[] = "{\"kernel\":\"/k\"}\xf0\x9f\x98";
	cr_assert_eq(parse_bytes(cut, sizeof(cut) - 1), -EINVAL);
	cr_assert_str_eq(err, "line 1, column 16: not valid UTF-8");
	expect_err("\xef\xbb\xbf{\"kernel\":\"/k\"}", "the config starts with a byte-order mark: save it without one");
}

Test(config, depth_limit)
{
	/* 8 levels: parsed, then refused by the schema. */
	expect_err(J("{'kernel':[[[[[[['/k']]]]]]]}"), "kernel: want the path of the guest kernel (bzImage) (a string), not an array");
	/* 9 levels: refused by the parser. */
	expect_err(J("{'kernel':[[[[[[[['/k']]]]]]]]}"), "line 1, column 19: nested more than 8 levels deep");
	/* 9 levels with an empty one at the bottom (json-c would take it). */
	expect_err(J("{'x':{'x':{'x':{'x':{'x':{'x':{'x':{'x':{}}}}}}}}}"), "line 1, column 41: nested more than 8 levels deep");
	expect_err(J("{'x':[[[[[[[[]]]]]]]]}"), "line 1, column 13: nested more than 8 levels deep");
	expect_err(J("{'x':[[[[[[[]]]]]]]}"), "unknown key \"x\"");
	/* Very deep: still one message, no stack blown. */
	size_t n = 200000;
	char *deep = malloc(2 * n + 16);
	cr_assert(deep);
	size_t o = (size_t)sprintf(deep, "{\"k\":");
	memset(deep + o, '[', n);
	memset(deep + o + n, ']', n);
	strcpy(deep + o + 2 * n, "}");
	expect_err(deep, "line 1, column 14: nested more than 8 levels deep");
	free(deep);
}

Test(config, not_json)
{
	cr_assert_eq(parse_bytes("", 0), -EINVAL);
	cr_assert_str_eq(err, "the config is empty: want a JSON object ({...})");
	cr_assert_eq(vm_config_parse(NULL, 0, &cfg, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "the config is empty: want a JSON object ({...})");
	expect_err(" \n\t ", "the config is empty");
	expect_err("[{\"kernel\":\"/k\"}]", "line 1, column 1: want a JSON object ({...}) at the top level");
	expect_err("\n  1", "line 2, column 3: want a JSON object ({...}) at the top level");
	expect_err("\"kernel\"", "line 1, column 1: want a JSON object");
	expect_err("kernel=/k", "line 1, column 1: want a JSON object");
	expect_err(J("{'kernel':'/k',}"), "line 1, column 16: unexpected character: not valid JSON");
	expect_err(J("{'kernel':'/k'\n 'cpus':1}"), "line 2, column 2: ");
	expect_err(J("{kernel:'/k'}"), "line 1, column 2: ");
	expect_err(J("{'kernel':'/k','cpus':01}"), "line 1, column 25: number expected: not valid JSON");
	expect_err(J("{'kernel':'/k','cpus':0x1}"), "line 1, column 24: ");
	expect_err(J("{'kernel':'/k' /* c */}"), "line 1, column 16: ");
	expect_err(J("{'kernel':'/k','rng':True}"), "line 1, column 22: ");
	expect_err(J("{'kernel':'/\\x41'}"), "line 1, column 14: invalid string sequence: not valid JSON");
}

Test(config, json_c_leniencies_refused)
{
	/* json-c takes these in strict mode; JSON does not. */
	expect_err("{'kernel':\"/k\"}", "line 1, column 2: strings take double quotes (\"), not single ones");
	expect_err("{\"kernel\":\"/k\",'cpus':2}", "line 1, column 16: strings take double quotes");
	expect_err("{\"kernel\":\"/k\tx\"}", "line 1, column 14: a control character in a string: write it as an escape such as \\n or \\t");
	expect_err("{\"kernel\":\"/k\",\"cmdline\":\"a\nb\"}", "line 1, column 28: a control character in a string");
	/* Before the one strict check (json_strict.h) the config took these to
	 * the schema, which refused them only as a wrong type. */
	expect_err(with("'cpus':NaN"), "line 1, column 34: NaN and Infinity are not JSON");
	expect_err(with("'cpus':Infinity"), "line 1, column 34: NaN and Infinity are not JSON");
	expect_err(with("'cpus':-Infinity"), "line 1, column 35: NaN and Infinity are not JSON");
	expect_ok(with("'cmdline':'NaN Infinity'"));
	/* Escaped, they are fine. */
	expect_ok(J("{'kernel':'/k','cmdline':'a\\tb\\n\\'\\\\'}"));
	cr_assert_str_eq(cfg.cmdline, "a\tb\n\"\\");
}

Test(config, error_buffer)
{
	const char *bad = with("'memory':'12X'");
	cr_assert_eq(vm_config_parse(bad, strlen(bad), &cfg, NULL, 0), -EINVAL);
	char small[8];
	memset(small, 'z', sizeof(small));
	cr_assert_eq(vm_config_parse(bad, strlen(bad), &cfg, small, sizeof(small)), -EINVAL);
	cr_assert_str_eq(small, "memory:");
	small[0] = 'z';
	cr_assert_eq(vm_config_parse(bad, strlen(bad), &cfg, small, 1), -EINVAL);
	cr_assert_eq(small[0], '\0');
	/* Success clears a stale message. */
	strcpy(err, "stale");
	const char *good = with("");
	cr_assert_eq(vm_config_parse(good, strlen(good), &cfg, err, sizeof(err)), 0);
	cr_assert_str_eq(err, "");
}

/* Every error a field can cause starts with the field's name. */
Test(config, every_error_names_its_field)
{
	static const struct {
		const char *members;
		const char *field;
	} cases[] = {
		{ "'initrd':1", "initrd: " },
		{ "'cmdline':1", "cmdline: " },
		{ "'cpus':'x'", "cpus: " },
		{ "'memory':[]", "memory: " },
		{ "'console':0", "console: " },
		{ "'rng':'true'", "rng: " },
		{ "'sandbox':''", "sandbox: " },
		{ "'block_devices':0", "block_devices: " },
		{ "'block_devices':[0]", "block_devices[0]: " },
		{ "'block_devices':[{'path':0}]", "block_devices[0].path: " },
		{ "'block_devices':[{'vhost_user_socket':0}]", "block_devices[0].vhost_user_socket: " },
		{ "'block_devices':[{'path':'/a','read_only':0}]", "block_devices[0].read_only: " },
		{ "'block_devices':[{'path':'/a','serial':0}]", "block_devices[0].serial: " },
		{ "'block_devices':[{'path':'/a','sandbox':0}]", "block_devices[0].sandbox: " },
		{ "'net_devices':0", "net_devices: " },
		{ "'net_devices':[0]", "net_devices[0]: " },
		{ "'net_devices':[{'tap':0}]", "net_devices[0].tap: " },
		{ "'net_devices':[{'vhost_user_socket':0}]", "net_devices[0].vhost_user_socket: " },
		{ "'net_devices':[{'tap':'t','mac':0}]", "net_devices[0].mac: " },
		{ "'net_devices':[{'tap':'t','sandbox':0}]", "net_devices[0].sandbox: " },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_err(with(cases[i].members), cases[i].field);
}
