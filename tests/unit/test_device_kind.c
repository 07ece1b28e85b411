/* The table of device kinds: what a new row must keep true, and the plans
 * that need no privilege (rng, console, an external backend). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device_kind.h"
#include "machine.h"
#include "unix_sock.h"

Test(device_kind, rows_are_distinct_and_names_fit)
{
	for (size_t k = 0; k < DEVICE_KINDS; k++) {
		const struct device_kind *a = &device_kinds[k];
		char name[64];
		/* The highest index a config can ask for still makes a machine name. */
		snprintf(name, sizeof(name), "%s%d", a->prefix, MACHINE_MAX_VIRTIO - 1);
		cr_expect_lt(strlen(name), MACHINE_NAME_MAX, "%s", name);
		cr_expect(a->virtio_id && a->count && a->plan && a->binary[0], "row %zu", k);
		for (size_t j = 0; j < k; j++) {
			const struct device_kind *b = &device_kinds[j];
			cr_expect_neq(a->virtio_id, b->virtio_id, "rows %zu and %zu", j, k);
			cr_expect_str_neq(a->prefix, b->prefix);
			cr_expect_str_neq(a->binary, b->binary);
		}
	}
}

/* The order the machine and the docs promise. */
Test(device_kind, machine_order)
{
	static const uint32_t want[] = { VIRTIO_ID_BLOCK, VIRTIO_ID_NET, VIRTIO_ID_CONSOLE,
					 VIRTIO_ID_RNG, VIRTIO_ID_BALLOON, VIRTIO_ID_VSOCK };
	cr_assert_eq(DEVICE_KINDS, sizeof(want) / sizeof(want[0]));
	for (size_t k = 0; k < DEVICE_KINDS; k++)
		cr_expect_eq(device_kinds[k].virtio_id, want[k], "row %zu", k);
}

static const struct device_kind *kind(uint32_t id)
{
	for (size_t k = 0; k < DEVICE_KINDS; k++)
		if (device_kinds[k].virtio_id == id)
			return &device_kinds[k];
	cr_assert_fail("no row for id %u", id);
	return NULL;
}

static struct device_plan fresh(void)
{
	return (struct device_plan){ .sandbox = SANDBOX_ON, .resource = -1, .host = -1 };
}

Test(device_kind, counts_follow_the_config)
{
	static struct vm_config cfg = { .nblock = 3, .nnet = 2, .console = true };
	cr_expect_eq(kind(VIRTIO_ID_BLOCK)->count(&cfg), 3);
	cr_expect_eq(kind(VIRTIO_ID_NET)->count(&cfg), 2);
	cr_expect_eq(kind(VIRTIO_ID_CONSOLE)->count(&cfg), 1);
	cr_expect_eq(kind(VIRTIO_ID_RNG)->count(&cfg), 0);
	cr_expect_eq(kind(VIRTIO_ID_BALLOON)->count(&cfg), 0);
	cr_expect_eq(kind(VIRTIO_ID_VSOCK)->count(&cfg), 0);
}

/* The balloon object as the device's options. */
Test(device_kind, balloon_plan)
{
	static struct vm_config cfg = { .balloon = { .present = true, .amount_mib = 150,
						     .stats_polling_interval_s = 5,
						     .deflate_on_oom = true } };
	char err[64];
	struct device_plan p = fresh();
	cr_expect_eq(kind(VIRTIO_ID_BALLOON)->count(&cfg), 1);
	cr_assert_eq(kind(VIRTIO_ID_BALLOON)->plan(&cfg, 0, NULL, "balloon0", &p, err, sizeof(err)), 0);
	const char *want[] = { "--amount-mib", "150", "--stats-interval", "5", "--deflate-on-oom",
			       NULL };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!want[i])
			cr_expect_null(p.args[i]);
		else
			cr_expect_str_eq(p.args[i], want[i]);
	}
	cr_expect(p.resource < 0 && p.host < 0 && !p.socket);
}

/* cellvm-vsock gets the listening socket cellvmd bound at uds_path, the
 * CID and the path; a stale socket there is replaced, a file is not. */
Test(device_kind, vsock_plan)
{
	static struct vm_config cfg = { .vsock = true, .vsock_dev = { .guest_cid = 4294967294u } };
	static struct operator_policy pol;
	static struct gate g;
	operator_policy_init(&pol);
	cr_assert_eq(gate_start(&g, &pol), 0);
	char dir[] = "/tmp/cellvm-kind-XXXXXX", err[256] = "";
	cr_assert_not_null(mkdtemp(dir));
	snprintf(cfg.vsock_dev.uds_path, sizeof(cfg.vsock_dev.uds_path), "%s/v.sock", dir);
	for (int round = 0; round < 2; round++) {
		struct device_plan p = fresh();
		cr_assert_eq(kind(VIRTIO_ID_VSOCK)->count(&cfg), 1);
		cr_assert_eq(kind(VIRTIO_ID_VSOCK)->plan(&cfg, 0, &g, "vsock0", &p, err,
							 sizeof(err)), 0, "%s", err);
		const char *want[] = { "--uds-fd", "4", "--guest-cid", "4294967294", "--uds-path",
				       cfg.vsock_dev.uds_path };
		for (size_t i = 0; i < 6; i++)
			cr_expect_str_eq(p.args[i], want[i]);
		cr_expect_null(p.args[6]);
		cr_expect(p.host < 0 && !p.socket);
		int c = unix_connect(cfg.vsock_dev.uds_path, 0);
		cr_assert_geq(c, 0, "the socket listens");
		close(c);
		close(p.resource);
	}
	unlink(cfg.vsock_dev.uds_path);

	/* Beneath --allow-socket-dir: bound through the directory's fd. */
	static struct operator_policy allow;
	static struct gate ga;
	operator_policy_init(&allow);
	snprintf(allow.socket_dir[0], sizeof(allow.socket_dir[0]), "%s", dir);
	allow.nsocket_dirs = 1;
	cr_assert_eq(gate_start(&ga, &allow), 0);
	struct device_plan pa = fresh();
	cr_assert_eq(kind(VIRTIO_ID_VSOCK)->plan(&cfg, 0, &ga, "vsock0", &pa, err, sizeof(err)), 0,
		     "%s", err);
	int c = unix_connect(cfg.vsock_dev.uds_path, 0);
	cr_assert_geq(c, 0, "the socket listens at its path");
	close(c);
	close(pa.resource);
	unlink(cfg.vsock_dev.uds_path);
	strcpy(cfg.vsock_dev.uds_path, "/tmp/elsewhere.sock");
	pa = fresh();
	cr_expect_gt(kind(VIRTIO_ID_VSOCK)->plan(&cfg, 0, &ga, "vsock0", &pa, err, sizeof(err)), 0);
	cr_expect(strstr(err, "not beneath"), "%s", err);
	snprintf(cfg.vsock_dev.uds_path, sizeof(cfg.vsock_dev.uds_path), "%s/v.sock", dir);

	cr_assert_eq(mkdir(cfg.vsock_dev.uds_path, 0700), 0);
	struct device_plan p = fresh();
	cr_expect_gt(kind(VIRTIO_ID_VSOCK)->plan(&cfg, 0, &g, "vsock0", &p, err, sizeof(err)), 0);
	cr_expect(strstr(err, "vsock0: vsock.uds_path"), "%s", err);
	cr_expect_eq(p.resource, -1);
	rmdir(cfg.vsock_dev.uds_path);
	rmdir(dir);
}

Test(device_kind, plans)
{
	static struct vm_config cfg;
	static struct operator_policy pol;
	static struct gate g;
	operator_policy_init(&pol);
	cr_assert_eq(gate_start(&g, &pol), 0);
	char err[256] = "";
	struct device_plan p = fresh();
	cr_assert_eq(kind(VIRTIO_ID_RNG)->plan(&cfg, 0, &g, "rng0", &p, err, sizeof(err)), 0);
	cr_expect(!p.args[0] && p.resource < 0 && p.host < 0 && !p.socket);

	p = fresh();
	cr_assert_eq(kind(VIRTIO_ID_CONSOLE)->plan(&cfg, 0, &g, "console0", &p, err, sizeof(err)), 0);
	cr_expect_str_eq(p.args[0], "--host-fd");
	cr_expect_str_eq(p.args[1], "4");
	/* The two ends are connected: what the controller writes, the device reads. */
	char c = 0;
	cr_assert_eq(write(p.host, "x", 1), 1);
	cr_assert_eq(read(p.resource, &c, 1), 1);
	cr_expect_eq(c, 'x');
	close(p.host);
	close(p.resource);

	/* An external backend: a socket to connect to, nothing opened. */
	cfg.nblock = 1;
	cfg.block[0].backend = VM_BACKEND_VHOST_USER;
	strcpy(cfg.block[0].vhost_user_socket, "/run/qsd.sock");
	p = fresh();
	cr_assert_eq(kind(VIRTIO_ID_BLOCK)->plan(&cfg, 0, &g, "blk0", &p, err, sizeof(err)), 0);
	cr_expect_str_eq(p.socket, "/run/qsd.sock");
	cr_expect(p.resource < 0 && !p.args[0]);

	/* A disk that cannot be opened: the user's line names the device. */
	cfg.block[0] = (struct vm_block_device){ .backend = VM_BACKEND_CELLVM,
						 .path = "/nonexistent/disk.img" };
	p = fresh();
	cr_expect_gt(kind(VIRTIO_ID_BLOCK)->plan(&cfg, 0, &g, "blk0", &p, err, sizeof(err)), 0);
	cr_expect_eq(p.resource, -1);
	cr_expect(strstr(err, "blk0: block_devices[0].path \"/nonexistent/disk.img\": No such file"),
		  "%s", err);
}

/* A disk's rate limiter reaches cellvm-blk's command line in the form its
 * --rate-limit reads; no limiter, no option. */
Test(device_kind, block_plan_carries_the_rate_limiter)
{
	static struct vm_config cfg;
	static struct operator_policy pol;
	static struct gate g;
	operator_policy_init(&pol);
	cr_assert_eq(gate_start(&g, &pol), 0);
	char path[] = "/tmp/cellvm-kind-XXXXXX", err[256] = "";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	cfg.nblock = 1;
	cfg.block[0] = (struct vm_block_device){
		.backend = VM_BACKEND_CELLVM, .read_only = true,
		.rate_limiter = { .bandwidth = { 1048576, 0, 125 }, .ops = { 100, 5, 1000 } } };
	strcpy(cfg.block[0].path, path);
	struct device_plan p = fresh();
	cr_assert_eq(kind(VIRTIO_ID_BLOCK)->plan(&cfg, 0, &g, "blk0", &p, err, sizeof(err)), 0,
		     "%s", err);
	const char *want[] = { "--disk-fd", "4", "--read-only", "--rate-limit",
			       "bandwidth.size=1048576,bandwidth.refill_time=125,ops.size=100,"
			       "ops.one_time_burst=5,ops.refill_time=1000", NULL };
	for (size_t i = 0; want[i]; i++)
		cr_expect_str_eq(p.args[i], want[i]);
	cr_expect_null(p.args[5]);
	close(p.resource);

	cfg.block[0].rate_limiter = (struct rl_cfg){ 0 };
	p = fresh();
	cr_assert_eq(kind(VIRTIO_ID_BLOCK)->plan(&cfg, 0, &g, "blk0", &p, err, sizeof(err)), 0);
	cr_expect_null(p.args[3]);
	close(p.resource);
	unlink(path);
}

/* Both of a net device's limiters, after its MAC; needs a tap (root). */
Test(device_kind, net_plan_carries_both_rate_limiters)
{
	static struct vm_config cfg;
	char err[256] = "";
	cfg.nnet = 1;
	cfg.net[0] = (struct vm_net_device){
		.backend = VM_BACKEND_CELLVM, .has_mac = true, .mac = { 0x52, 0x54, 0, 0, 0, 1 },
		.rx_rate_limiter = { .ops = { 10, 0, 100 } },
		.tx_rate_limiter = { .bandwidth = { 4096, 0, 1 } } };
	snprintf(cfg.net[0].tap, sizeof(cfg.net[0].tap), "cvk%d", (int)getpid() % 1000000);
	struct device_plan p = fresh();
	if (kind(VIRTIO_ID_NET)->plan(&cfg, 0, NULL, "net0", &p, err, sizeof(err)))
		cr_skip_test("no tap here: %s", err);
	const char *want[] = { "--tap-fd", "4", "--mac", "52:54:00:00:00:01",
			       "--rx-rate-limit", "ops.size=10,ops.refill_time=100",
			       "--tx-rate-limit", "bandwidth.size=4096,bandwidth.refill_time=1", NULL };
	for (size_t i = 0; want[i]; i++)
		cr_expect_str_eq(p.args[i], want[i]);
	cr_expect_null(p.args[8]);
	close(p.resource);
}

/* A net device of num_queues 4: two queues of one multi-queue tap, the
 * second as the first extra fd, and the device told both. */
Test(device_kind, net_plan_multi_queue)
{
	static struct vm_config cfg = { .nnet = 1 };
	char err[256] = "";
	snprintf(cfg.net[0].tap, sizeof(cfg.net[0].tap), "cvk%d", (int)getpid() % 100000);
	cfg.net[0].num_queues = 4;
	struct device_plan p = fresh();
	int code = kind(VIRTIO_ID_NET)->plan(&cfg, 0, NULL, "net0", &p, err, sizeof(err));
	if (code && strstr(err, "ip tuntap add"))
		cr_skip_test("no tap here: %s", err);
	cr_assert_eq(code, 0, "%s", err);
	cr_expect_geq(p.resource, 0);
	cr_assert_eq(p.nextra, 1);
	cr_expect_geq(p.extra[0], 0);
	const char *want[] = { "--tap-fd", "4,6", "--num-queues", "4", NULL };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!want[i])
			cr_expect_null(p.args[i]);
		else
			cr_expect_str_eq(p.args[i], want[i]);
	}
	device_plan_close(&p);
	cr_expect(p.resource < 0 && p.nextra == 0);

	cfg.net[0].num_queues = 2; /* one pair: a plain tap, as before */
	p = fresh();
	cr_assert_eq(kind(VIRTIO_ID_NET)->plan(&cfg, 0, NULL, "net0", &p, err, sizeof(err)), 0,
		     "%s", err);
	cr_expect_eq(p.nextra, 0);
	cr_expect_str_eq(p.args[1], "4");
	cr_expect_null(p.args[2]);
	device_plan_close(&p);
}
