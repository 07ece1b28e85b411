/* cellvm-fc's pending VM and its translation into cellvm's config
 * (fc/fc_vm.h): Firecracker's bodies in, cellvm's keys out, and every
 * translation accepted by cellvm's own config parser. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fc_vm.h"

static struct fc_vm *vm;
static char err[512];

static void setup(void)
{
	vm = fc_vm_new();
	cr_assert_not_null(vm);
}

static void teardown(void)
{
	fc_vm_free(vm);
}

TestSuite(fc_vm, .init = setup, .fini = teardown);

static int put(enum fc_op op, const char *id, const char *body)
{
	err[0] = '\0';
	return fc_vm_apply(vm, op, id, id ? strlen(id) : 0, body, strlen(body), err, sizeof(err));
}

/* The translation, checked by cellvm's config parser too. */
static char *translated(const char *sandbox)
{
	char *out = NULL;
	cr_assert_eq(fc_vm_translate(vm, "/run/vm1", sandbox, &out, err, sizeof(err)), 0, "%s", err);
	struct vm_config cfg;
	char why[512];
	cr_expect_eq(vm_config_parse(out, strlen(out), &cfg, why, sizeof(why)), 0,
		     "cellvm refuses %s: %s", out, why);
	return out;
}

static void expect_translation(const char *want, const char *sandbox)
{
	char *out = translated(sandbox);
	cr_expect_str_eq(out, want);
	free(out);
}

/* What Kata's runtime-rs driver sends before InstanceStart (fc_api.rs). */
Test(fc_vm, katas_sequence)
{
	cr_assert_eq(put(FC_OP_PUT_BOOT, NULL, "{\"kernel_image_path\": \"/k/vmlinux\", "
			 "\"boot_args\": \"console=ttyS0 pci=off root=/dev/vda1\"}"), 0, "%s", err);
	cr_assert_eq(put(FC_OP_PUT_MACHINE, NULL, "{\"mem_size_mib\": 2048, \"vcpu_count\": 1}"), 0,
		     "%s", err);
	cr_assert_eq(put(FC_OP_PUT_DRIVE, "rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": "
			 "\"/k/rootfs.img\", \"is_root_device\": false, \"is_read_only\": true}"), 0,
		     "%s", err);
	cr_assert_eq(put(FC_OP_PUT_DRIVE, "drive1", "{\"drive_id\": \"drive1\", \"path_on_host\": "
			 "\"/k/root/drive1\", \"is_root_device\": false, \"is_read_only\": false}"), 0,
		     "%s", err);
	cr_assert_eq(put(FC_OP_PUT_VSOCK, NULL, "{\"guest_cid\": 3, \"uds_path\": \"kata.hvsock\", "
			 "\"vsock_id\": \"root\"}"), 0, "%s", err);
	expect_translation(
		"{\"kernel\":\"/k/vmlinux\",\"cmdline\":\"console=ttyS0 pci=off root=/dev/vda1\","
		"\"cpus\":1,\"memory\":\"2048M\",\"block_devices\":[{\"path\":\"/k/rootfs.img\","
		"\"read_only\":true,\"serial\":\"rootfs\"},{\"path\":\"/k/root/drive1\",\"serial\":"
		"\"drive1\"}],\"net_devices\":[],\"vsock\":{\"guest_cid\":3,\"uds_path\":"
		"\"/run/vm1/kata.hvsock\"}}",
		NULL);
}

/* Go clients send optional strings empty: the same as left out. */
Test(fc_vm, empty_strings_are_absent)
{
	cr_assert_eq(put(FC_OP_PUT_BOOT, NULL, "{\"kernel_image_path\": \"/k\", \"initrd_path\": \"\", "
			 "\"boot_args\": \"console=ttyS0\"}"), 0, "%s", err);
	cr_assert_eq(put(FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": 1, \"mem_size_mib\": 128, "
			 "\"cpu_template\": \"\", \"huge_pages\": \"\"}"), 0, "%s", err);
	cr_assert_eq(put(FC_OP_PUT_DRIVE, "r", "{\"drive_id\": \"r\", \"path_on_host\": \"/r\", "
			 "\"is_root_device\": true, \"partuuid\": \"\"}"), 0, "%s", err);
	cr_assert_eq(put(FC_OP_PUT_NET, "e", "{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\", "
			 "\"guest_mac\": \"\"}"), 0, "%s", err);
	expect_translation(
		"{\"kernel\":\"/k\",\"cmdline\":\"console=ttyS0 root=/dev/vda rw\",\"cpus\":1,"
		"\"memory\":\"128M\",\"block_devices\":[{\"path\":\"/r\",\"serial\":\"r\"}],"
		"\"net_devices\":[{\"tap\":\"tap0\"}]}",
		NULL);
}

Test(fc_vm, root_device_first_and_on_the_cmdline)
{
	cr_assert_eq(put(FC_OP_PUT_BOOT, NULL, "{\"kernel_image_path\": \"k\", \"initrd_path\": "
			 "\"./i\"}"), 0, "%s", err);
	cr_assert_eq(put(FC_OP_PUT_DRIVE, "data", "{\"drive_id\": \"data\", \"path_on_host\": "
			 "\"/d.img\", \"is_root_device\": false}"), 0, "%s", err);
	cr_assert_eq(put(FC_OP_PUT_DRIVE, "root", "{\"drive_id\": \"root\", \"path_on_host\": "
			 "\"/r.img\", \"is_root_device\": true, \"is_read_only\": true, "
			 "\"cache_type\": \"Writeback\", \"io_engine\": \"Async\"}"), 0, "%s", err);
	expect_translation(
		"{\"kernel\":\"/run/vm1/k\",\"initrd\":\"/run/vm1/i\",\"cmdline\":\"console=ttyS0 "
		"reboot=k panic=1 pci=off root=/dev/vda ro\",\"cpus\":1,\"memory\":\"128M\","
		"\"block_devices\":[{\"path\":\"/r.img\",\"read_only\":true,\"serial\":\"root\"},"
		"{\"path\":\"/d.img\",\"serial\":\"data\"}],\"net_devices\":[]}",
		NULL);
	char name[16];
	cr_expect_eq(fc_vm_device(vm, true, "root", 4, name, sizeof(name), err, sizeof(err)), 0);
	cr_expect_str_eq(name, "blk0");
	cr_expect_eq(fc_vm_device(vm, true, "data", 4, name, sizeof(name), err, sizeof(err)), 0);
	cr_expect_str_eq(name, "blk1");
	cr_expect_eq(fc_vm_device(vm, true, "nope", 4, name, sizeof(name), err, sizeof(err)),
		     -ENOENT);
	/* A partuuid names the root instead; a second root device is refused. */
	cr_assert_eq(put(FC_OP_PUT_DRIVE, "root", "{\"drive_id\": \"root\", \"path_on_host\": "
			 "\"/r.img\", \"is_root_device\": true, \"partuuid\": \"abcd-01\"}"), 0, "%s", err);
	cr_expect_eq(put(FC_OP_PUT_DRIVE, "data", "{\"drive_id\": \"data\", \"path_on_host\": "
			 "\"/d.img\", \"is_root_device\": true}"), -EINVAL);
	cr_expect_str_eq(err, "drive: a root block device already exists (root)");
	char *out = translated(NULL);
	cr_expect(strstr(out, "root=PARTUUID=abcd-01 rw\""), "%s", out);
	free(out);
}

Test(fc_vm, devices_limiters_balloon_entropy_and_x_cellvm)
{
	const char *file =
		"{\"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": \"console=ttyS0\"},"
		" \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": false,"
		"  \"track_dirty_pages\": false, \"cpu_template\": \"None\", \"huge_pages\": \"None\"},"
		" \"drives\": [{\"drive_id\": \"d\", \"path_on_host\": \"/d\", \"is_root_device\": false,"
		"  \"rate_limiter\": {\"bandwidth\": {\"size\": 1048576, \"refill_time\": 100},"
		"   \"ops\": {\"size\": 0, \"refill_time\": 100}}}],"
		" \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\","
		"  \"guest_mac\": \"52:54:00:12:34:56\", \"rx_rate_limiter\": {\"ops\": {\"size\": 10,"
		"  \"one_time_burst\": 5, \"refill_time\": 1000}}, \"tx_rate_limiter\": null}],"
		" \"balloon\": {\"amount_mib\": 0, \"deflate_on_oom\": true, \"stats_polling_interval_s\": 1},"
		" \"entropy\": {},"
		" \"logger\": {\"level\": \"Debug\", \"log_path\": \"/tmp/l\"},"
		" \"metrics\": {\"metrics_path\": \"/tmp/m\"},"
		" \"x-cellvm\": {\"console\": true, \"sandbox\": \"log\"}}";
	cr_assert_eq(fc_vm_load(vm, file, strlen(file), err, sizeof(err)), 0, "%s", err);
	expect_translation(
		"{\"kernel\":\"/k\",\"cmdline\":\"console=ttyS0\",\"cpus\":2,\"memory\":\"256M\","
		"\"block_devices\":[{\"path\":\"/d\",\"serial\":\"d\",\"rate_limiter\":{\"bandwidth\":"
		"{\"size\":1048576,\"refill_time\":100}}}],\"net_devices\":[{\"tap\":\"tap0\",\"mac\":"
		"\"52:54:00:12:34:56\",\"rx_rate_limiter\":{\"ops\":{\"size\":10,\"one_time_burst\":5,"
		"\"refill_time\":1000}}}],\"balloon\":{\"amount_mib\":0,\"deflate_on_oom\":true,"
		"\"stats_polling_interval_s\":1},\"console\":true,\"sandbox\":\"off\",\"rng\":true}",
		"off");
	cr_expect(fc_vm_has(vm, "metrics"));
	cr_expect_str_eq(fc_vm_string(vm, "logger", "log_path"), "/tmp/l");
	char name[16];
	cr_expect_eq(fc_vm_device(vm, false, "eth0", 4, name, sizeof(name), err, sizeof(err)), 0);
	cr_expect_str_eq(name, "net0");
}

/* A bad body gets Firecracker's 400 with a message naming the field, and
 * changes nothing. */
Test(fc_vm, refused_bodies)
{
	static const struct {
		enum fc_op op;
		const char *id, *body, *want;
	} t[] = {
		{ FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": 0, \"mem_size_mib\": 256}",
		  "machine-config.vcpu_count: want 1 to 32, got 0" },
		{ FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": 33, \"mem_size_mib\": 256}",
		  "machine-config.vcpu_count: want 1 to 32, got 33" },
		{ FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": 1}", "machine-config: mem_size_mib is required" },
		{ FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": 1, \"mem_size_mib\": 129}",
		  "machine-config.mem_size_mib: want a multiple of 2 (cellvm maps guest memory in 2 MiB pages)" },
		{ FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": 1, \"mem_size_mib\": 8}",
		  "machine-config.mem_size_mib: want 16 to 65536, got 8" },
		{ FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": \"2\", \"mem_size_mib\": 256}",
		  "machine-config.vcpu_count: want an integer, got a string" },
		{ FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": true}",
		  "machine-config.smt: not supported by cellvm" },
		{ FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"cpu_template\": \"T2\"}",
		  "machine-config.cpu_template other than None: not supported by cellvm" },
		{ FC_OP_PUT_MACHINE, NULL, "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"cpus\": 2}",
		  "machine-config: unknown field \"cpus\"" },
		{ FC_OP_PUT_MACHINE, NULL, "[]", "the body: byte 0: want a JSON object ({...}) at the top level" },
		{ FC_OP_PUT_MACHINE, NULL, "", "the body is empty: want a JSON object ({...})" },
		{ FC_OP_PUT_BOOT, NULL, "{}", "boot-source: kernel_image_path is required" },
		{ FC_OP_PUT_DRIVE, "a", "{\"drive_id\": \"b\", \"path_on_host\": \"/x\", \"is_root_device\": false}",
		  "drive: drive_id does not match the path's id" },
		{ FC_OP_PUT_DRIVE, "a", "{\"drive_id\": \"a\", \"is_root_device\": false}",
		  "drive: give path_on_host (a disk image) or socket (a vhost-user backend)" },
		{ FC_OP_PUT_DRIVE, "a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\"}",
		  "drive: is_root_device is required" },
		{ FC_OP_PUT_DRIVE, "a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\", \"is_root_device\": false, "
		  "\"rate_limiter\": {\"bandwidth\": {\"size\": -1, \"refill_time\": 1}}}",
		  "drive.rate_limiter.bandwidth.size: want 0 to 9223372036854775807, got -1" },
		{ FC_OP_PUT_DRIVE, "a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\", \"is_root_device\": false, "
		  "\"cache_type\": \"Fast\"}", "drive.cache_type: \"Fast\" is not one of its values" },
		{ FC_OP_PATCH_DRIVE, "a", "{\"drive_id\": \"a\", \"path_on_host\": \"/y\"}",
		  "drive: no such id; PUT it first" },
		{ FC_OP_PUT_NET, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"mtu\": 1400}",
		  "network-interface.mtu: not supported by cellvm" },
		{ FC_OP_PUT_VSOCK, NULL, "{\"guest_cid\": 2, \"uds_path\": \"/v\"}",
		  "vsock.guest_cid: want 3 to 4294967294, got 2" },
		{ FC_OP_PUT_BALLOON, NULL, "{\"amount_mib\": 1}", "balloon: deflate_on_oom is required" },
		{ FC_OP_PUT_BALLOON, NULL, "{\"amount_mib\": 1, \"deflate_on_oom\": false, \"free_page_hinting\": true}",
		  "balloon.free_page_hinting: not supported by cellvm" },
		{ FC_OP_PATCH_BALLOON, NULL, "{\"amount_mib\": 1}", "balloon: no balloon device; PUT one first" },
		{ FC_OP_PUT_ENTROPY, NULL, "{\"rate_limiter\": {}}", "entropy.rate_limiter: not supported by cellvm" },
		{ FC_OP_PUT_LOGGER, NULL, "{\"level\": \"Loud\"}", "logger.level: \"Loud\" is not one of its values" },
		{ FC_OP_PUT_METRICS, NULL, "{}", "metrics: metrics_path is required" },
		{ FC_OP_PUT_BOOT, NULL, "{\"kernel_image_path\": \"/k\", \"kernel_image_path\": \"/j\"}", NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_expect_eq(put(t[i].op, t[i].id, t[i].body), -EINVAL, "%s", t[i].body);
		if (t[i].want)
			cr_expect_str_eq(err, t[i].want, "%s", t[i].body);
		else
			cr_expect_neq(err[0], '\0', "%s", t[i].body);
	}
	char *cfg = fc_vm_get(vm, FC_OP_GET_VM_CONFIG, err, sizeof(err));
	cr_expect_str_eq(cfg, "{}", "nothing refused was kept");
	free(cfg);
	cr_expect_eq(fc_vm_translate(vm, NULL, NULL, &cfg, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "Cannot start the microVM without a boot source: PUT /boot-source first");
}

Test(fc_vm, machine_config_get_and_patch)
{
	char *m = fc_vm_get(vm, FC_OP_GET_MACHINE, err, sizeof(err));
	cr_expect_str_eq(m, "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false,"
			    "\"track_dirty_pages\":false,\"huge_pages\":\"None\"}");
	free(m);
	cr_assert_eq(put(FC_OP_PATCH_MACHINE, NULL, "{\"vcpu_count\": 4}"), 0, "%s", err);
	m = fc_vm_get(vm, FC_OP_GET_MACHINE, err, sizeof(err));
	cr_expect_str_eq(m, "{\"vcpu_count\":4,\"mem_size_mib\":128}");
	free(m);
	cr_expect_eq(put(FC_OP_PATCH_MACHINE, NULL, "{\"mem_size_mib\": 7}"), -EINVAL);
	cr_expect_null(fc_vm_get(vm, FC_OP_GET_BALLOON, err, sizeof(err)));
	cr_expect_str_eq(err, "No balloon device configured.");
}

Test(fc_vm, config_file_errors)
{
	static const struct {
		const char *text, *want;
	} t[] = {
		{ "{\"mmds-config\": {}}", "config file: unknown or unsupported section \"mmds-config\"" },
		{ "{\"drives\": {}}", "drives: want an array, got an object" },
		{ "{\"drives\": [{\"path_on_host\": \"/x\"}]}", "drives[0]: drive_id is required" },
		{ "{\"x-cellvm\": {\"sandbox\": \"maybe\"}}", "x-cellvm.sandbox: \"maybe\" is not one of its values" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"machine-config\": {\"vcpu_count\": 99, "
		  "\"mem_size_mib\": 128}}", "machine-config.vcpu_count: want 1 to 32, got 99" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_expect_eq(fc_vm_load(vm, t[i].text, strlen(t[i].text), err, sizeof(err)), -EINVAL);
		cr_expect_str_eq(err, t[i].want);
	}
	cr_expect_not(fc_vm_has(vm, "boot-source"), "a refused file leaves nothing");
}

Test(fc_vm, running_patches)
{
	char *p, *sw;
	cr_assert_eq(put(FC_OP_PUT_DRIVE, "a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\", "
			 "\"is_root_device\": false}"), 0);
	cr_assert_eq(put(FC_OP_PUT_NET, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"t\"}"), 0);
	cr_assert_eq(put(FC_OP_PUT_BALLOON, NULL, "{\"amount_mib\": 0, \"deflate_on_oom\": false}"), 0);
	const char *b = "{\"drive_id\": \"a\", \"path_on_host\": \"/x\", \"rate_limiter\": "
			"{\"ops\": {\"size\": 5, \"refill_time\": 10}}}";
	cr_assert_eq(fc_vm_patch_params(vm, FC_OP_PATCH_DRIVE, "a", 1, b, strlen(b), "/cwd", &p,
					&sw, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(p, "{\"device\":\"blk0\",\"rate_limiter\":{\"ops\":{\"size\":5,\"refill_time\":10}}}");
	free(p);
	cr_expect_null(sw, "the same path again is no swap");
	/* A new image: UpdateBlockDevice's params, the path made absolute. */
	b = "{\"drive_id\": \"a\", \"path_on_host\": \"/y\"}";
	cr_assert_eq(fc_vm_patch_params(vm, FC_OP_PATCH_DRIVE, "a", 1, b, strlen(b), "/cwd", &p,
					&sw, err, sizeof(err)), 0, "%s", err);
	cr_expect_null(p);
	cr_expect_str_eq(sw, "{\"device\":\"blk0\",\"path\":\"/y\"}");
	free(sw);
	b = "{\"drive_id\": \"a\", \"path_on_host\": \"img/z\", \"rate_limiter\": {}}";
	cr_assert_eq(fc_vm_patch_params(vm, FC_OP_PATCH_DRIVE, "a", 1, b, strlen(b), "/cwd", &p,
					&sw, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(sw, "{\"device\":\"blk0\",\"path\":\"/cwd/img/z\"}");
	cr_expect_str_eq(p, "{\"device\":\"blk0\",\"rate_limiter\":{}}");
	free(sw);
	free(p);
	b = "{\"iface_id\": \"eth0\", \"tx_rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": 1}}}";
	cr_assert_eq(fc_vm_patch_params(vm, FC_OP_PATCH_NET, "eth0", 4, b, strlen(b), "/cwd", &p,
					&sw, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(p, "{\"device\":\"net0\",\"tx_rate_limiter\":{\"bandwidth\":{\"size\":1,\"refill_time\":1}}}");
	free(p);
	b = "{\"amount_mib\": 64}";
	cr_assert_eq(fc_vm_patch_params(vm, FC_OP_PATCH_BALLOON, NULL, 0, b, strlen(b), "/cwd", &p,
					&sw, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(p, "{\"amount_mib\":64}");
	free(p);
	b = "{\"drive_id\": \"a\"}";
	cr_assert_eq(fc_vm_patch_params(vm, FC_OP_PATCH_DRIVE, "a", 1, b, strlen(b), "/cwd", &p,
					&sw, err, sizeof(err)), 0, "%s", err);
	cr_expect_null(p, "nothing to change");
}

Test(fc_vm, actions)
{
	enum fc_op op;
	const char *b = "{\"action_type\": \"InstanceStart\"}";
	cr_expect_eq(fc_vm_action(b, strlen(b), &op, err, sizeof(err)), 0);
	cr_expect_eq(op, FC_OP_INSTANCE_START);
	b = "{\"action_type\": \"Reboot\"}";
	cr_expect_eq(fc_vm_action(b, strlen(b), &op, err, sizeof(err)), -EINVAL);
	b = "{}";
	cr_expect_eq(fc_vm_action(b, strlen(b), &op, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "action: action_type is required");
}
