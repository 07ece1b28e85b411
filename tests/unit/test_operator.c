/* The operator's floor (controller/operator.h): each option's parser, and
 * "is this request within the floor" as a table: one row per rule, with the
 * words the tenant reads. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "operator.h"

static struct operator_policy with(const char *const *args)
{
	struct operator_policy p;
	char err[256];
	operator_policy_init(&p);
	for (size_t i = 0; args[i]; i += 2) {
		static const struct { const char *name; int c; } opts[] = {
			{ "--min-sandbox", OPERATOR_OPT_MIN_SANDBOX },
			{ "--allow-dir", OPERATOR_OPT_ALLOW_DIR },
			{ "--allow-socket-dir", OPERATOR_OPT_ALLOW_SOCKET_DIR },
			{ "--max-memory", OPERATOR_OPT_MAX_MEMORY },
			{ "--max-cpus", OPERATOR_OPT_MAX_CPUS },
			{ "--max-devices", OPERATOR_OPT_MAX_DEVICES },
			{ "--kvm-check", OPERATOR_OPT_KVM_CHECK },
		};
		size_t k = 0;
		while (strcmp(opts[k].name, args[i]))
			k++;
		cr_assert_eq(operator_opt(&p, opts[k].c, args[i + 1], err, sizeof(err)), 1,
			     "%s %s: %s", args[i], args[i + 1], err);
	}
	return p;
}

Test(operator, defaults)
{
	struct operator_policy p;
	operator_policy_init(&p);
	cr_expect_eq(p.min_sandbox, SANDBOX_ON);
	cr_expect_eq(p.ndirs, 0);
	cr_expect_eq(p.nsocket_dirs, 0);
	cr_expect_eq(operator_memory_cap(&p), 0);
	cr_expect_eq(p.max_cpus, 0);
	cr_expect_eq(p.max_devices, 0);
	cr_expect_eq(p.max_restarts, UINT32_MAX, "the config's restart policy as it says");
	cr_expect_eq(p.kvm_check, WORKER_KVM_CHECK_FULL, "a vCPU runs unless the operator says");
	cr_expect_eq(operator_opt(&p, 'h', "x", NULL, 0), 0, "not an operator option");
}

Test(operator, options_parse_or_say_why)
{
	static const struct {
		int c;
		const char *arg;
		const char *words; /* NULL: accepted */
	} rows[] = {
		{ OPERATOR_OPT_MIN_SANDBOX, "log", NULL },
		{ OPERATOR_OPT_MIN_SANDBOX, "off", NULL },
		{ OPERATOR_OPT_MIN_SANDBOX, "strict", "--min-sandbox strict: want on, log or off" },
		{ OPERATOR_OPT_ALLOW_DIR, "/var/lib/cellvm", NULL },
		{ OPERATOR_OPT_ALLOW_DIR, "/", NULL },
		{ OPERATOR_OPT_ALLOW_DIR, "var/lib", "--allow-dir var/lib: want an absolute path" },
		{ OPERATOR_OPT_ALLOW_DIR, "/var/lib/", "want an absolute path" },
		{ OPERATOR_OPT_ALLOW_DIR, "/var//lib", "want an absolute path" },
		{ OPERATOR_OPT_ALLOW_DIR, "/var/../etc", "want an absolute path" },
		{ OPERATOR_OPT_ALLOW_DIR, "/var/./lib", "want an absolute path" },
		{ OPERATOR_OPT_ALLOW_DIR, "", "want an absolute path" },
		{ OPERATOR_OPT_ALLOW_SOCKET_DIR, "/run/cellvm", NULL },
		{ OPERATOR_OPT_MAX_MEMORY, "2G", NULL },
		{ OPERATOR_OPT_MAX_MEMORY, "8M", "--max-memory 8M: want a size such as 512M or 2G, at least 16M" },
		{ OPERATOR_OPT_MAX_MEMORY, "2GiB", "want a size" },
		{ OPERATOR_OPT_MAX_CPUS, "4", NULL },
		{ OPERATOR_OPT_MAX_CPUS, "0", "--max-cpus 0: want 1 to 32" },
		{ OPERATOR_OPT_MAX_CPUS, "33", "want 1 to 32" },
		{ OPERATOR_OPT_MAX_CPUS, "-1", "want 1 to 32" },
		{ OPERATOR_OPT_MAX_CPUS, "4x", "want 1 to 32" },
		{ OPERATOR_OPT_MAX_DEVICES, "8", NULL },
		{ OPERATOR_OPT_MAX_DEVICES, "9", "--max-devices 9: want 1 to 8" },
		{ OPERATOR_OPT_MAX_RESTARTS, "0", NULL },
		{ OPERATOR_OPT_MAX_RESTARTS, "100", NULL },
		{ OPERATOR_OPT_MAX_RESTARTS, "101", "--max-restarts 101: want 0 to 100" },
		{ OPERATOR_OPT_MAX_RESTARTS, "-1", "want 0 to 100" },
		{ OPERATOR_OPT_MAX_RESTARTS, "00", "want 0 to 100" },
		{ OPERATOR_OPT_KVM_CHECK, "full", NULL },
		{ OPERATOR_OPT_KVM_CHECK, "api", NULL },
		{ OPERATOR_OPT_KVM_CHECK, "none", "--kvm-check none: want full or api" },
		{ OPERATOR_OPT_KVM_CHECK, "API", "want full or api" },
		{ OPERATOR_OPT_KVM_CHECK, "", "want full or api" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct operator_policy p;
		char err[256] = "";
		operator_policy_init(&p);
		int r = operator_opt(&p, rows[i].c, rows[i].arg, err, sizeof(err));
		if (!rows[i].words) {
			cr_expect_eq(r, 1, "%s: %s", rows[i].arg, err);
			continue;
		}
		cr_expect_eq(r, -EINVAL, "%s accepted", rows[i].arg);
		cr_expect(strstr(err, rows[i].words), "%s: \"%s\" lacks \"%s\"", rows[i].arg, err,
			  rows[i].words);
	}
	struct operator_policy p = with((const char *const[]){ "--max-memory", "2G", "--max-cpus", "4",
							       "--min-sandbox", "log", NULL });
	cr_expect_eq(p.max_memory, 2ull << 30);
	cr_expect_eq(p.max_cpus, 4);
	cr_expect_eq(p.min_sandbox, SANDBOX_LOG);
	p = with((const char *const[]){ "--kvm-check", "api", NULL });
	cr_expect_eq(p.kvm_check, WORKER_KVM_CHECK_API);
	p = with((const char *const[]){ "--kvm-check", "api", "--kvm-check", "full", NULL });
	cr_expect_eq(p.kvm_check, WORKER_KVM_CHECK_FULL, "the last one counts");
}

Test(operator, at_most_16_dirs)
{
	struct operator_policy p;
	char err[128], dir[32];
	operator_policy_init(&p);
	for (int i = 0; i < OPERATOR_MAX_DIRS; i++) {
		snprintf(dir, sizeof(dir), "/d%d", i);
		cr_assert_eq(operator_opt(&p, OPERATOR_OPT_ALLOW_DIR, dir, err, sizeof(err)), 1);
	}
	cr_expect_eq(operator_opt(&p, OPERATOR_OPT_ALLOW_DIR, "/one-more", err, sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "at most 16"), "%s", err);
}

Test(operator, sandbox_order_is_on_log_off)
{
	static const struct {
		enum sandbox_mode floor, asked;
		bool ok;
	} rows[] = {
		{ SANDBOX_ON, SANDBOX_ON, true },   { SANDBOX_ON, SANDBOX_LOG, false },
		{ SANDBOX_ON, SANDBOX_OFF, false }, { SANDBOX_LOG, SANDBOX_ON, true },
		{ SANDBOX_LOG, SANDBOX_LOG, true }, { SANDBOX_LOG, SANDBOX_OFF, false },
		{ SANDBOX_OFF, SANDBOX_ON, true },  { SANDBOX_OFF, SANDBOX_LOG, true },
		{ SANDBOX_OFF, SANDBOX_OFF, true },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct operator_policy p;
		operator_policy_init(&p);
		p.min_sandbox = rows[i].floor;
		cr_expect_eq(operator_sandbox_ok(&p, rows[i].asked), rows[i].ok, "floor %s, asked %s",
			     sandbox_mode_name(rows[i].floor), sandbox_mode_name(rows[i].asked));
	}
}

Test(operator, memory_cap_is_the_smaller_of_option_and_host)
{
	struct operator_policy p;
	operator_policy_init(&p);
	p.host_memory = 24ull << 30;
	cr_expect_eq(operator_memory_cap(&p), 24ull << 30, "no option: the host's RAM");
	p.max_memory = 4ull << 30;
	cr_expect_eq(operator_memory_cap(&p), 4ull << 30);
	p.max_memory = 32ull << 30;
	cr_expect_eq(operator_memory_cap(&p), 24ull << 30, "never above the host's RAM");
	p.host_memory = 0;
	cr_expect_eq(operator_memory_cap(&p), 32ull << 30, "host unknown: the option");
}

Test(operator, place_beneath_a_dir)
{
	static const char dirs[][VM_CONFIG_PATH_MAX] = { "/var/lib/cellvm", "/srv/images" };
	static const struct {
		const char *path;
		int dir;          /* -2: refused */
		const char *rel;
	} rows[] = {
		{ "/var/lib/cellvm/vmlinuz", 0, "vmlinuz" },
		{ "/var/lib/cellvm/a/b.img", 0, "a/b.img" },
		{ "/srv/images/root.img", 1, "root.img" },
		{ "/var/lib/cellvm", -2, NULL },           /* the dir itself */
		{ "/var/lib/cellvmX/k", -2, NULL },        /* a prefix is not a parent */
		{ "/var/lib/cellvm/../../etc/shadow", -2, NULL },
		{ "/var/lib/cellvm/./k", -2, NULL },
		{ "/var/lib/cellvm//k", -2, NULL },
		{ "/var/lib/cellvm/k/", -2, NULL },
		{ "var/lib/cellvm/k", -2, NULL },
		{ "/etc/shadow", -2, NULL },
		{ "/proc/self/maps", -2, NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int dir = 99;
		const char *rel = NULL;
		char err[256] = "";
		int r = operator_place(dirs, 2, rows[i].path, &dir, &rel, err, sizeof(err));
		if (rows[i].dir == -2) {
			cr_expect_eq(r, -EINVAL, "%s placed in %d", rows[i].path, dir);
			cr_expect(err[0], "%s: no reason", rows[i].path);
			continue;
		}
		cr_expect_eq(r, 0, "%s: %s", rows[i].path, err);
		cr_expect_eq(dir, rows[i].dir, "%s", rows[i].path);
		cr_expect_str_eq(rel, rows[i].rel, "%s", rows[i].path);
	}
	/* The root: everything absolute and normalised is beneath it. */
	static const char root[][VM_CONFIG_PATH_MAX] = { "/" };
	int dir;
	const char *rel;
	cr_expect_eq(operator_place(root, 1, "/etc/k", &dir, &rel, NULL, 0), 0);
	cr_expect_str_eq(rel, "etc/k");
	/* No dirs: any path, as given. */
	cr_expect_eq(operator_place(dirs, 0, "rel/../k", &dir, &rel, NULL, 0), 0);
	cr_expect_eq(dir, -1);
	cr_expect_str_eq(rel, "rel/../k");
}

/* A config within every default: one vCPU, 256M, a disk, a socket, tap. */
static struct vm_config base(void)
{
	struct vm_config c = { .cpus = 1, .memory = 256ull << 20, .nblock = 2, .nnet = 1,
			       .sandbox = SANDBOX_ON };
	strcpy(c.kernel, "/img/vmlinuz");
	strcpy(c.initrd, "/img/initrd");
	c.block[0] = (struct vm_block_device){ .backend = VM_BACKEND_CELLVM, .path = "/img/root.img",
					       .sandbox = SANDBOX_ON };
	c.block[1] = (struct vm_block_device){ .backend = VM_BACKEND_VHOST_USER,
					       .vhost_user_socket = "/run/vm/qsd.sock",
					       .sandbox = SANDBOX_ON };
	c.net[0] = (struct vm_net_device){ .backend = VM_BACKEND_CELLVM, .tap = "tap0",
					   .sandbox = SANDBOX_ON };
	return c;
}

Test(operator, a_request_within_the_floor_or_the_words_why_not)
{
	enum { DEFAULT, DIRS, CAPS, LOG_FLOOR };
	const char *const *const floors[] = {
		[DEFAULT] = (const char *const[]){ NULL },
		[DIRS] = (const char *const[]){ "--allow-dir", "/img", "--allow-socket-dir", "/run/vm", NULL },
		[CAPS] = (const char *const[]){ "--max-memory", "1G", "--max-cpus", "2",
						"--max-devices", "3", NULL },
		[LOG_FLOOR] = (const char *const[]){ "--min-sandbox", "log", NULL },
	};
	static const struct {
		int floor;
		const char *what; /* the change to base() */
		const char *words; /* NULL: within */
	} rows[] = {
		{ DEFAULT, "as is", NULL },
		{ DEFAULT, "sandbox off", "sandbox \"off\" is below the operator's floor (--min-sandbox on)" },
		{ DEFAULT, "sandbox log", "sandbox \"log\" is below the operator's floor (--min-sandbox on)" },
		{ DEFAULT, "blk0 off", "block_devices[0].sandbox \"off\" is below the operator's floor (--min-sandbox on)" },
		{ DEFAULT, "net0 log", "net_devices[0].sandbox \"log\" is below the operator's floor (--min-sandbox on)" },
		{ DEFAULT, "vhost-user blk1 says off", NULL }, /* no process of cellvm's */
		{ LOG_FLOOR, "sandbox log", NULL },
		{ LOG_FLOOR, "blk0 off", "block_devices[0].sandbox \"off\" is below the operator's floor (--min-sandbox log)" },
		{ LOG_FLOOR, "sandbox off", "sandbox \"off\" is below" },
		{ DEFAULT, "memory 64G on a 24G host", "memory: 64G is above the operator's cap (the host's RAM, 24G)" },
		{ CAPS, "memory 2G", "memory: 2G is above the operator's cap (--max-memory 1G)" },
		{ CAPS, "memory 1G", NULL },
		{ CAPS, "cpus 3", "cpus: 3 is above the operator's cap (--max-cpus 2)" },
		{ CAPS, "cpus 2", NULL },
		{ CAPS, "console and rng", "5 devices is above the operator's cap (--max-devices 3)" },
		{ DIRS, "as is", NULL },
		{ DIRS, "kernel /etc/passwd", "kernel \"/etc/passwd\": not beneath a directory the operator allows (--allow-dir)" },
		{ DIRS, "initrd /proc/self/maps", "initrd \"/proc/self/maps\": not beneath" },
		{ DIRS, "initrd /img/../proc/self/maps", "initrd \"/img/../proc/self/maps\": want an absolute path" },
		{ DIRS, "disk /img2/x", "block_devices[0].path \"/img2/x\": not beneath" },
		{ DIRS, "socket /tmp/s", "block_devices[1].vhost_user_socket \"/tmp/s\": not beneath a directory the operator allows (--allow-socket-dir)" },
		{ DIRS, "socket /img/s", "block_devices[1].vhost_user_socket \"/img/s\": not beneath" },
		{ DEFAULT, "kernel /etc/passwd", NULL }, /* no dirs: not limited */
		{ DIRS, "vsock /run/vm/v.sock", NULL },
		{ DIRS, "vsock /tmp/v.sock", "vsock.uds_path \"/tmp/v.sock\": not beneath a directory the operator allows (--allow-socket-dir)" },
		{ CAPS, "vsock, console and rng", "block_devices + net_devices + console + rng + balloon + vsock: 6 devices" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct operator_policy p = with(floors[rows[i].floor]);
		p.host_memory = 24ull << 30;
		struct vm_config c = base();
		const char *w = rows[i].what;
		if (!strcmp(w, "sandbox off")) c.sandbox = SANDBOX_OFF;
		if (!strcmp(w, "sandbox log")) c.sandbox = SANDBOX_LOG;
		if (!strcmp(w, "blk0 off")) c.block[0].sandbox = SANDBOX_OFF;
		if (!strcmp(w, "net0 log")) c.net[0].sandbox = SANDBOX_LOG;
		if (!strcmp(w, "vhost-user blk1 says off")) c.block[1].sandbox = SANDBOX_OFF;
		if (!strcmp(w, "memory 64G on a 24G host")) c.memory = 64ull << 30;
		if (!strcmp(w, "memory 2G")) c.memory = 2ull << 30;
		if (!strcmp(w, "memory 1G")) c.memory = 1ull << 30;
		if (!strcmp(w, "cpus 3")) c.cpus = 3;
		if (!strcmp(w, "cpus 2")) c.cpus = 2;
		if (!strcmp(w, "console and rng")) c.console = c.rng = true;
		if (!strncmp(w, "vsock ", 6)) {
			c.vsock = true;
			c.vsock_dev.guest_cid = 3;
			strcpy(c.vsock_dev.uds_path, strchr(w, ' ') + 1);
		}
		if (!strcmp(w, "vsock, console and rng")) {
			c.console = c.rng = c.vsock = true;
			strcpy(c.vsock_dev.uds_path, "/run/vm/v.sock");
		}
		if (!strcmp(w, "kernel /etc/passwd")) strcpy(c.kernel, "/etc/passwd");
		if (!strcmp(w, "initrd /proc/self/maps")) strcpy(c.initrd, "/proc/self/maps");
		if (!strcmp(w, "initrd /img/../proc/self/maps")) strcpy(c.initrd, "/img/../proc/self/maps");
		if (!strcmp(w, "disk /img2/x")) strcpy(c.block[0].path, "/img2/x");
		if (!strcmp(w, "socket /tmp/s")) strcpy(c.block[1].vhost_user_socket, "/tmp/s");
		if (!strcmp(w, "socket /img/s")) strcpy(c.block[1].vhost_user_socket, "/img/s");
		char err[256] = "";
		int r = operator_check(&p, &c, err, sizeof(err));
		if (!rows[i].words) {
			cr_expect_eq(r, 0, "row %zu (%s): %s", i, w, err);
			continue;
		}
		cr_expect_eq(r, -EINVAL, "row %zu (%s): accepted", i, w);
		cr_expect(strstr(err, rows[i].words), "row %zu (%s): \"%s\" lacks \"%s\"", i, w, err,
			  rows[i].words);
	}
}
