/* Seeds for cellvm-fc's harnesses (gen_corpus.c builds and runs this):
 * the requests Kata's Firecracker driver sends, and the same calls as
 * fuzz_fc_vm's records. */
#include <stdint.h>
#include <string.h>

#include "fc_route.h"
#include "gen_corpus.h"

/* ---- fuzz_http11: one connection's bytes. */
static void gen_http11(void)
{
	static const char *const seeds[][2] = {
		{ "kata_boot_source",
		  "PUT /boot-source HTTP/1.1\r\nhost: localhost\r\naccept: application/json\r\n"
		  "content-type: application/json\r\ncontent-length: 54\r\n\r\n"
		  "{\"kernel_image_path\":\"/k\",\"boot_args\":\"console=ttyS0\"}" },
		{ "curl_get", "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\n"
			      "Accept: */*\r\n\r\n" },
		{ "pipelined", "GET /machine-config HTTP/1.1\r\n\r\nPUT /actions HTTP/1.1\r\n"
			       "Content-Length: 31\r\nConnection: close\r\n\r\n"
			       "{\"action_type\":\"InstanceStart\"}" },
		{ "http10", "PATCH /drives/rootfs HTTP/1.0\nContent-Length: 2\n\n{}" },
		{ "chunked", "PUT /vsock HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
	};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		put_file("fuzz_http11", seeds[i][0], seeds[i][1], strlen(seeds[i][1]));
}

/* ---- fuzz_fc_vm: records of op, id and body. */
static size_t record(uint8_t *buf, size_t at, enum fc_op op, const char *id, const char *body)
{
	size_t n = id ? strlen(id) : 0, b = strlen(body);
	buf[at++] = (uint8_t)op;
	buf[at++] = (uint8_t)n;
	memcpy(buf + at, id, n);
	at += n;
	buf[at++] = (uint8_t)b;
	buf[at++] = (uint8_t)(b >> 8);
	memcpy(buf + at, body, b);
	return at + b;
}

static void gen_fc_vm(void)
{
	static uint8_t buf[4096];
	size_t n = 0;
	n = record(buf, n, FC_OP_PUT_BOOT, NULL,
		   "{\"kernel_image_path\":\"/k/vmlinux\",\"boot_args\":\"console=ttyS0\"}");
	n = record(buf, n, FC_OP_PUT_MACHINE, NULL, "{\"mem_size_mib\":2048,\"vcpu_count\":1}");
	n = record(buf, n, FC_OP_PUT_DRIVE, "rootfs",
		   "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/r\",\"is_root_device\":false,"
		   "\"is_read_only\":true}");
	n = record(buf, n, FC_OP_PUT_VSOCK, NULL,
		   "{\"guest_cid\":3,\"uds_path\":\"kata.hvsock\",\"vsock_id\":\"root\"}");
	put_file("fuzz_fc_vm", "kata", buf, n);
	n = 0;
	n = record(buf, n, FC_OP_PUT_DRIVE, "root",
		   "{\"drive_id\":\"root\",\"path_on_host\":\"r\",\"is_root_device\":true,"
		   "\"rate_limiter\":{\"bandwidth\":{\"size\":1,\"refill_time\":0}}}");
	n = record(buf, n, FC_OP_PATCH_DRIVE, "root",
		   "{\"drive_id\":\"root\",\"rate_limiter\":{\"ops\":{\"size\":5,\"refill_time\":9}}}");
	n = record(buf, n, FC_OP_PUT_NET, "eth0",
		   "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"guest_mac\":\"52:54:00:00:00:01\"}");
	n = record(buf, n, FC_OP_PATCH_NET, "eth0", "{\"iface_id\":\"eth0\",\"rx_rate_limiter\":{}}");
	n = record(buf, n, FC_OP_PUT_BALLOON, NULL, "{\"amount_mib\":0,\"deflate_on_oom\":true}");
	n = record(buf, n, FC_OP_PATCH_BALLOON, NULL, "{\"amount_mib\":8}");
	n = record(buf, n, FC_OP_PATCH_MACHINE, NULL, "{\"vcpu_count\":2}");
	n = record(buf, n, FC_OP_INSTANCE_START, NULL, "{\"action_type\":\"InstanceStart\"}");
	put_file("fuzz_fc_vm", "devices", buf, n);
	static const char file[] =
		"{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"machine-config\":{\"vcpu_count\":1,"
		"\"mem_size_mib\":128},\"drives\":[{\"drive_id\":\"d\",\"path_on_host\":\"/d\","
		"\"is_root_device\":true}],\"network-interfaces\":[],\"entropy\":{},"
		"\"x-cellvm\":{\"console\":true}}";
	put_file("fuzz_fc_vm", "config_file", file, strlen(file));
}

void gen_fc(void)
{
	gen_http11();
	gen_fc_vm();
}
