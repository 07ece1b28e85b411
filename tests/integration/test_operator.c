/* The operator's floor through cellvmd (docs/deploy.md, "Operator policy";
 * ctl_harness.h): what a tenant's Create may ask is bounded by cellvmd's
 * command line, the files it names are opened beneath the operator's
 * directories as regular files only, disks are locked between VMs, and
 * Status shows the floor and each process's confinement. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client.h"
#include "ctl_harness.h"
#include "lifecycle.h"
#include "spawn.h"

TestSuite(operator, .init = ctl_init_allow_dir, .fini = ctl_fini_allow_dir, .timeout = 30);

/* ctl.allow_dir/name with content; returns its path (valid until the next call). */
static const char *put(const char *name, const char *content)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", ctl.allow_dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

/* A disk image of 1 MiB in ctl.allow_dir. */
static const char *disk(const char *name)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", ctl.allow_dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	return path;
}

/* A config booting the fake from ctl.allow_dir/kernel with `extra` keys. */
static void config(char *cfg, size_t len, const char *extra)
{
	const char *k = put("kernel", CTL_SCRIPT_SERVE);
	snprintf(cfg, len, "{\"kernel\": \"%s\", \"memory\": \"16M\"%s}", k, extra);
}

static json_object *status_raw(int c)
{
	struct rpc_reply r = ctl_rpc(c, RPC_STATUS, NULL);
	cr_assert(r.ok, "Status: %s", r.message);
	json_object *o = json_tokener_parse(r.result);
	cr_assert_not_null(o, "%s", r.result);
	rpc_reply_free(&r);
	return o;
}

static json_object *at(json_object *o, const char *key)
{
	json_object *v = NULL;
	cr_assert(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
		  json_object_to_json_string(o));
	return v;
}

static const char *str_at(json_object *o, const char *key)
{
	json_object *v = at(o, key);
	return v ? json_object_get_string(v) : "null";
}

/* ---------------------------------------------------------------- sandbox */

Test(operator, sandbox_off_or_log_is_refused_under_the_default_floor)
{
	int c = ctl_start();
	char cfg[1024];
	config(cfg, sizeof(cfg), CTL_WITH_RNG ", \"sandbox\": \"off\"");
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG,
			 "sandbox \"off\" is below the operator's floor (--min-sandbox on)");
	config(cfg, sizeof(cfg), CTL_WITH_RNG ", \"sandbox\": \"log\"");
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG,
			 "sandbox \"log\" is below the operator's floor (--min-sandbox on)");
	char extra[512];
	snprintf(extra, sizeof(extra),
		 ", \"block_devices\": [{\"path\": \"%s\", \"sandbox\": \"off\"}]", disk("d.img"));
	config(cfg, sizeof(cfg), extra);
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG,
			 "block_devices[0].sandbox \"off\" is below the operator's floor "
			 "(--min-sandbox on)");
	cr_expect_not(ctl_status(c).have_last, "refused before anything started");
	close(c);
	ctl_finish();
}

Test(operator, log_is_allowed_only_with_min_sandbox_log)
{
	static const char *const args[] = { "--sandbox", "log", "--min-sandbox", "log", NULL };
	int c = ctl_start_with(args);
	char cfg[1024];
	config(cfg, sizeof(cfg), CTL_WITH_RNG ", \"sandbox\": \"off\"");
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG, "(--min-sandbox log)");
	config(cfg, sizeof(cfg), CTL_WITH_RNG ", \"sandbox\": \"log\"");
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	json_object *o = status_raw(c);
	json_object *conf = at(o, "confinement");
	cr_expect_str_eq(str_at(at(conf, "rng0"), "sandbox"), "log");
	cr_expect_str_eq(str_at(at(conf, "vcpu-worker"), "sandbox"), "log");
	cr_expect_str_eq(str_at(at(conf, "cellvmd"), "sandbox"), "log");
	cr_expect_str_eq(str_at(at(o, "operator"), "min_sandbox"), "log");
	json_object_put(o);
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	close(c);
	ctl_finish();
}

/* ---------------------------------------------------------------- paths */

/* "<field> "<path>": <rest>": the rest. */
static const char *after_path(const char *msg, const char *path)
{
	const char *p = strstr(msg, path);
	cr_assert_not_null(p, "\"%s\" does not name %s", msg, path);
	return p + strlen(path);
}

static char *create_error(int c, const char *cfg, int code)
{
	struct rpc_reply r = ctl_rpc(c, RPC_CREATE, cfg);
	cr_assert(!r.ok && r.code == code, "%s: %s: %s, want %s", cfg,
		  r.ok ? "OK" : lifecycle_error_name(r.code), r.message, lifecycle_error_name(code));
	char *m = strdup(r.message);
	rpc_reply_free(&r);
	return m;
}

Test(operator, a_path_outside_allow_dir_is_refused_alike_whether_it_exists_or_not)
{
	const char *const args[] = { "--allow-dir", ctl.allow_dir, NULL };
	int c = ctl_start_with(args);
	char cfg[1024], extra[512];
	static const char *const outside[] = { "/etc/passwd", "/etc/no-such-file-here" };
	char *said[2];
	for (int i = 0; i < 2; i++) {
		snprintf(extra, sizeof(extra), ", \"initrd\": \"%s\"", outside[i]);
		config(cfg, sizeof(cfg), extra);
		said[i] = create_error(c, cfg, LC_ERR_BAD_CONFIG);
		cr_expect(strstr(said[i], "initrd"), "%s", said[i]);
	}
	cr_expect_str_eq(after_path(said[0], outside[0]), after_path(said[1], outside[1]));
	cr_expect(strstr(said[0], "not beneath a directory the operator allows (--allow-dir)"),
		  "%s", said[0]);
	free(said[0]);
	free(said[1]);
	/* Disks too, and ".." out of the directory is refused by its text. */
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"path\": \"%s/../x.img\"}]", ctl.allow_dir);
	config(cfg, sizeof(cfg), extra);
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG, "block_devices[0].path");
	/* Inside, it works. */
	config(cfg, sizeof(cfg), CTL_WITH_RNG);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	close(c);
	ctl_finish();
}

Test(operator, a_symlink_inside_allow_dir_is_not_followed)
{
	const char *const args[] = { "--allow-dir", ctl.allow_dir, NULL };
	int c = ctl_start_with(args);
	char cfg[1024], extra[512], link[128];
	snprintf(link, sizeof(link), "%s/out", ctl.allow_dir);
	cr_assert_eq(symlink("/etc/passwd", link), 0);
	snprintf(extra, sizeof(extra), ", \"initrd\": \"%s\"", link);
	config(cfg, sizeof(cfg), extra);
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG, "symbolic link");
	/* Nor one that stays inside, nor a directory link on the way. */
	snprintf(link, sizeof(link), "%s/in", ctl.allow_dir);
	cr_assert_eq(symlink("kernel", link), 0);
	snprintf(extra, sizeof(extra), ", \"initrd\": \"%s\"", link);
	config(cfg, sizeof(cfg), extra);
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG, "symbolic link");
	snprintf(link, sizeof(link), "%s/etc", ctl.allow_dir);
	cr_assert_eq(symlink("/etc", link), 0);
	snprintf(extra, sizeof(extra), ", \"initrd\": \"%s/passwd\"", link);
	config(cfg, sizeof(cfg), extra);
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG, "symbolic link");
	close(c);
	ctl_finish();
}

/* Whatever the options: no FIFO, device or procfs file, and no wait. */
static void refused_quickly(int c, const char *key, const char *path, const char *word)
{
	char cfg[1024], extra[512];
	if (!strcmp(key, "disk"))
		snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"path\": \"%s\"}]", path);
	else
		snprintf(extra, sizeof(extra), ", \"%s\": \"%s\"", key, path);
	config(cfg, sizeof(cfg), extra);
	if (!strcmp(key, "kernel"))
		snprintf(cfg, sizeof(cfg), "{\"kernel\": \"%s\", \"memory\": \"16M\"}", path);
	uint64_t t0 = ctl_now_ms();
	uint32_t id = ctl_send_call(c, RPC_CREATE, cfg);
	ctl_expect_error(ctl_reply_to(c, id, 1000), LC_ERR_BAD_CONFIG, word, cfg);
	cr_expect_lt(ctl_now_ms() - t0, 1000, "%s: %s took %llu ms", key, path,
		     (unsigned long long)(ctl_now_ms() - t0));
	ctl_expect_state(c, "NOT_CREATED");
	ctl_expect_no_children();
}

static void not_regular_files(const char *const *args)
{
	int c = ctl_start_with(args);
	char fifo[128];
	snprintf(fifo, sizeof(fifo), "%s/fifo", ctl.allow_dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	refused_quickly(c, "kernel", fifo, "a FIFO: want a regular file");
	refused_quickly(c, "initrd", fifo, "a FIFO");
	refused_quickly(c, "disk", fifo, "block_devices[0].path");
	refused_quickly(c, "disk", fifo, "a FIFO");
	if (!args[0]) { /* outside any --allow-dir otherwise */
		refused_quickly(c, "initrd", "/dev/zero", "a character device");
		refused_quickly(c, "initrd", "/proc/self/maps", "procfs");
		refused_quickly(c, "disk", "/proc/self/maps", "procfs");
	}
	close(c);
	ctl_finish();
}

Test(operator, fifo_dev_zero_and_proc_files_are_refused_at_once)
{
	static const char *const none[] = { NULL };
	not_regular_files(none);
}

Test(operator, a_fifo_beneath_allow_dir_is_refused_at_once)
{
	const char *const args[] = { "--allow-dir", ctl.allow_dir, NULL };
	not_regular_files(args);
}

Test(operator, an_initrd_larger_than_the_guest_ram_is_refused_at_create)
{
	int c = ctl_start();
	char cfg[1024], extra[512], path[128];
	snprintf(path, sizeof(path), "%s/big-initrd", ctl.allow_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 17 << 20), 0); /* sparse: costs nothing */
	close(fd);
	snprintf(extra, sizeof(extra), ", \"initrd\": \"%s\"", path);
	config(cfg, sizeof(cfg), extra);
	ctl_create_fails(c, cfg, LC_ERR_KERNEL_LOAD_FAILURE, "do not fit the guest's RAM");
	close(c);
	ctl_finish();
}

/* ---------------------------------------------------------------- caps */

Test(operator, memory_cpus_and_devices_over_the_caps_are_refused)
{
	static const char *const args[] = { "--max-memory", "32M", "--max-cpus", "1",
					     "--max-devices", "1", NULL };
	int c = ctl_start_with(args);
	char cfg[1024];
	config(cfg, sizeof(cfg), ", \"cpus\": 2");
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG,
			 "cpus: 2 is above the operator's cap (--max-cpus 1)");
	config(cfg, sizeof(cfg), ", \"rng\": true, \"console\": true");
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG, "2 devices is above the operator's cap "
						    "(--max-devices 1)");
	char k[128];
	snprintf(k, sizeof(k), "%s", put("kernel", CTL_SCRIPT_SERVE));
	snprintf(cfg, sizeof(cfg), "{\"kernel\": \"%s\", \"memory\": \"64M\"}", k);
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG,
			 "memory: 64M is above the operator's cap (--max-memory 32M)");
	/* Without --max-memory, the host's RAM is the cap. */
	uint64_t host = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	if (host < (64ull << 30)) {
		close(c);
		ctl_finish();
		c = ctl_start();
		snprintf(cfg, sizeof(cfg), "{\"kernel\": \"%s\", \"memory\": \"64G\", \"cpus\": 32}",
			 k);
		ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG, "above the operator's cap (the host's RAM");
	}
	close(c);
	ctl_finish();
}

/* ---------------------------------------------------------------- disk locks */

/* A second cellvmd, as another tenant's VM would have. */
struct other {
	pid_t pid;
	int pidfd, sock;
	char path[128];
};

static struct other other_start(void)
{
	struct other o;
	snprintf(o.path, sizeof(o.path), "%s/other.sock", ctl.allow_dir);
	char fake[4096];
	snprintf(fake, sizeof(fake), "%s", ctl_build_path("tests/integration/fake_vcpu"));
	char *argv[] = { "cellvmd", "--socket", o.path, "--worker", fake, NULL };
	struct spawn_req req = { .path = ctl_build_path("controller/cellvmd"), .argv = argv,
				 .stderr_fd = -1 };
	cr_assert_eq(spawn_child(&req, &o.pid, &o.pidfd), 0);
	char err[256];
	for (uint64_t end = ctl_now_ms() + CTL_WAIT_MS;
	     (o.sock = client_connect(o.path, err, sizeof(err))) < 0;) {
		cr_assert_lt(ctl_now_ms(), end, "the other cellvmd does not listen: %s", err);
		ctl_msleep(10);
	}
	return o;
}

static void other_finish(struct other *o)
{
	close(o->sock);
	cr_assert_eq(kill(o->pid, SIGTERM), 0);
	cr_assert(ctl_readable(o->pidfd, CTL_WAIT_MS), "the other cellvmd did not exit");
	struct child_end end;
	cr_assert_eq(spawn_reap(o->pidfd, &end), 1);
	cr_expect(!end.signaled && end.status == 0);
}

static struct rpc_reply other_create(struct other *o, const char *cfg)
{
	struct rpc_reply r = { 0 };
	int fd;
	char err[256];
	cr_assert_eq(client_call(o->sock, 1, RPC_CREATE, cfg, NULL, 0, &r, &fd, err, sizeof(err)),
		     0, "%s", err);
	return r;
}

static void disk_config(char *cfg, size_t len, const char *path, bool ro)
{
	char extra[512];
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"path\": \"%s\"%s}]", path,
		 ro ? ", \"read_only\": true" : "");
	config(cfg, len, extra);
}

Test(operator, a_disk_one_vm_writes_is_in_use_for_another)
{
	int c = ctl_start();
	char cfg[1024], other_cfg[1024], d[128];
	snprintf(d, sizeof(d), "%s", disk("shared.img"));
	disk_config(cfg, sizeof(cfg), d, false);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");

	struct other o = other_start();
	disk_config(other_cfg, sizeof(other_cfg), d, false);
	ctl_expect_error(other_create(&o, other_cfg), LC_ERR_DEVICE_START_FAILURE, "in use",
			 "the other's Create, read-write");
	disk_config(other_cfg, sizeof(other_cfg), d, true);
	ctl_expect_error(other_create(&o, other_cfg), LC_ERR_DEVICE_START_FAILURE, "in use",
			 "the other's Create, read-only");
	/* Once the first VM has ended, the disk is free. */
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	disk_config(other_cfg, sizeof(other_cfg), d, false);
	ctl_expect_ok(other_create(&o, other_cfg), "the other's Create after Stop");
	other_finish(&o);

	/* Readers share. */
	disk_config(cfg, sizeof(cfg), d, true);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create read-only");
	o = other_start();
	disk_config(other_cfg, sizeof(other_cfg), d, true);
	ctl_expect_ok(other_create(&o, other_cfg), "the other's Create, read-only too");
	other_finish(&o);
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	close(c);
	ctl_finish();
}

Test(operator, one_vm_cannot_write_one_disk_twice)
{
	int c = ctl_start();
	char cfg[1024], extra[512], d[128];
	snprintf(d, sizeof(d), "%s", disk("twice.img"));
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"path\": \"%s\"}, {\"path\": \"%s\"}]",
		 d, d);
	config(cfg, sizeof(cfg), extra);
	ctl_create_fails(c, cfg, LC_ERR_DEVICE_START_FAILURE, "blk1");
	close(c);
	ctl_finish();
}

/* ---------------------------------------------------------------- sockets */

static int listener(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(l, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(l, backlog), 0);
	return l;
}

Test(operator, vhost_user_sockets_only_beneath_allow_socket_dir)
{
	char sdir[128], sock[160], outside[160];
	snprintf(sdir, sizeof(sdir), "%s/run", ctl.allow_dir);
	cr_assert_eq(mkdir(sdir, 0700), 0);
	const char *const args[] = { "--allow-socket-dir", sdir, NULL };
	int c = ctl_start_with(args);
	snprintf(outside, sizeof(outside), "%s/outside.sock", ctl.allow_dir);
	int lo = listener(outside, 4);
	char cfg[1024], extra[512];
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"vhost_user_socket\": \"%s\"}]",
		 outside);
	config(cfg, sizeof(cfg), extra);
	ctl_create_fails(c, cfg, LC_ERR_BAD_CONFIG,
			 "not beneath a directory the operator allows (--allow-socket-dir)");
	cr_expect_not(ctl_readable(lo, 0), "cellvmd connected to a socket outside");
	close(lo);

	/* Inside: connected, through the directory cellvmd opened. */
	snprintf(sock, sizeof(sock), "%s/in.sock", sdir);
	int l = listener(sock, 4);
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"vhost_user_socket\": \"%s\"}]",
		 sock);
	put("kernel", "backends\nready\nwait-run\nserve\n");
	snprintf(cfg, sizeof(cfg), "{\"kernel\": \"%s/kernel\", \"memory\": \"16M\"%s}", ctl.allow_dir,
		 extra);
	uint32_t id = ctl_send_call(c, RPC_CREATE, cfg);
	cr_assert(ctl_readable(l, CTL_WAIT_MS), "cellvmd did not connect to %s", sock);
	int b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(b, 0);
	close(b); /* hung up: Create fails, as a dead backend does */
	ctl_expect_error(ctl_reply_to(c, id, CTL_WAIT_MS), LC_ERR_DEVICE_INITIALIZATION_FAILURE,
			 "blk0", "Create");
	close(l);
	close(c);
	ctl_finish();
}

Test(operator, a_full_backlog_fails_create_within_its_timeout)
{
	int c = ctl_start();
	char sock[100];
	snprintf(sock, sizeof(sock), "%s/full.sock", ctl.allow_dir);
	int l = listener(sock, 0);
	/* Fill its backlog: connections nobody accepts, until one is refused. */
	int fill[8], n = 0;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	for (; n < 8; n++) {
		fill[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (connect(fill[n], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			cr_assert_eq(errno, EAGAIN, "%s", strerror(errno));
			close(fill[n]);
			break;
		}
	}
	cr_assert_lt(n, 8, "the backlog never filled");
	char cfg[1024], extra[512];
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"vhost_user_socket\": \"%s\"}]",
		 sock);
	config(cfg, sizeof(cfg), extra);
	uint64_t t0 = ctl_now_ms();
	uint32_t id = ctl_send_call(c, RPC_CREATE, cfg);
	ctl_expect_error(ctl_reply_to(c, id, 3000), LC_ERR_DEVICE_START_FAILURE, "backlog",
			 "Create");
	cr_expect_lt(ctl_now_ms() - t0, 2500);
	ctl_expect_state(c, "NOT_CREATED");
	for (int i = 0; i < n; i++)
		close(fill[i]);
	close(l);
	close(c);
	ctl_finish();
}

/* ---------------------------------------------------------------- Status */

Test(operator, status_shows_the_floor_and_each_process_confinement)
{
	const char *const args[] = { "--allow-dir", ctl.allow_dir, "--max-memory", "1G", "--max-cpus", "2",
				     "--max-devices", "4", "--min-sandbox", "log", "--kvm-check", "api",
				     NULL };
	int c = ctl_start_with(args);
	char cfg[1024];
	config(cfg, sizeof(cfg), CTL_WITH_RNG);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	json_object *o = status_raw(c);
	json_object *op = at(o, "operator");
	cr_expect_str_eq(str_at(op, "min_sandbox"), "log");
	json_object *dirs = at(op, "allow_dirs");
	cr_assert_eq(json_object_array_length(dirs), 1);
	cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(dirs, 0)), ctl.allow_dir);
	cr_expect_eq(json_object_array_length(at(op, "allow_socket_dirs")), 0);
	cr_expect_eq(json_object_get_int64(at(op, "max_memory")), 1ll << 30);
	cr_expect_eq(json_object_get_int(at(op, "max_cpus")), 2);
	cr_expect_eq(json_object_get_int(at(op, "max_devices")), 4);
	cr_expect_str_eq(str_at(op, "kvm_check"), "api");

	json_object *conf = at(o, "confinement");
	static const struct {
		const char *name, *policy;
		size_t nns;
	} rows[] = {
		{ "cellvmd", "controller.policy", 0 }, { "cellvm-spawner", "spawner.policy", 0 },
		{ "rng0", "rng.policy", 6 },           { "vcpu-worker", "vcpu.policy", 6 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_object *p = at(conf, rows[i].name);
		cr_expect_str_eq(str_at(p, "sandbox"), "on", "%s", rows[i].name);
		cr_expect_str_eq(str_at(p, "policy"), rows[i].policy, "%s", rows[i].name);
		cr_expect_eq(json_object_array_length(at(p, "namespaces")), rows[i].nns, "%s",
			     rows[i].name);
	}
	json_object_put(o);
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	close(c);
	ctl_finish();
}
