/* The Metrics, SetRateLimiter, SetBalloon and BalloonStats calls and
 * --metrics-listen, through a
 * cellvmd driven over its socket without KVM (ctl_harness.h): fake_vcpu
 * drives the real cellvm-blk as a guest would (blk-io), and the counters
 * cellvm-blk keeps come back through its control channel, as JSON, as
 * Prometheus text read back line by line, and over HTTP. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_harness.h"
#include "lifecycle.h"
#include "metrics.h"
#include "metrics_text.h"
#include "rpc.h"
#include "unix_sock.h"

TestSuite(metrics, .init = ctl_init, .fini = ctl_fini, .timeout = 30);

static struct metrics_snapshot snap;

static struct metrics_snapshot *metrics(int sock)
{
	struct rpc_reply r = ctl_rpc(sock, RPC_METRICS, NULL);
	cr_assert(r.ok, "Metrics: %s", r.message);
	char err[256];
	cr_assert_eq(metrics_from_json(r.result, strlen(r.result), &snap, err, sizeof(err)), 0,
		     "%s: %s", err, r.result);
	rpc_reply_free(&r);
	return &snap;
}

static const struct metrics_device *device(const struct metrics_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->ndevices; i++)
		if (strcmp(s->dev[i].name, name) == 0)
			return &s->dev[i];
	cr_assert_fail("no device %s in the metrics", name);
	return NULL;
}

/* The value of the sample `name{labels}` in Prometheus text, read back as
 * a scraper would: every sample's family has its # HELP and # TYPE
 * before it, every line is a comment or `name{labels} value`. -1: none. */
static double prom_value(const char *text, const char *series)
{
	double found = -1;
	char family[128] = "";
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		cr_assert_not_null(nl, "the text ends with a newline");
		char line[512];
		cr_assert_lt((size_t)(nl - p), sizeof(line));
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		p = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			sscanf(line + 7, "%127s", family);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[128], type[32];
			cr_assert_eq(sscanf(line + 7, "%127s %31s", name, type), 2, "%s", line);
			cr_assert_str_eq(name, family, "TYPE follows its HELP");
			cr_assert(!strcmp(type, "counter") || !strcmp(type, "gauge"), "%s", line);
			continue;
		}
		char *sp = strrchr(line, ' ');
		cr_assert_not_null(sp, "sample: %s", line);
		*sp = '\0';
		cr_assert_eq(strncmp(line, family, strlen(family)), 0, "%s outside its family %s",
			     line, family);
		cr_assert_eq(line[strlen(family)], '{', "%s", line);
		char *end;
		double v = strtod(sp + 1, &end);
		cr_assert(*end == '\0' && end != sp + 1, "value of %s: %s", line, sp + 1);
		if (strcmp(line, series) == 0)
			found = v;
	}
	return found;
}

/* One HTTP exchange on --metrics-listen: the whole answer. */
static char *http(const char *path, const char *request)
{
	int fd = unix_connect(path, 0);
	cr_assert_geq(fd, 0, "connect %s: %s", path, strerror(-fd));
	cr_assert_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	static char buf[1 << 16];
	size_t n = 0;
	ssize_t r;
	while (ctl_readable(fd, CTL_WAIT_MS) && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	return buf;
}

Test(metrics, a_disks_io_is_counted_and_scraped)
{
	char listen[64];
	snprintf(listen, sizeof(listen), "/tmp/cellvm-metrics-%d.sock", (int)getpid());
	int c = ctl_start_with(
		(const char *const[]){ "--metrics-listen", listen, "--name", "web-1", NULL });

	/* No VM: its state, and no device to ask. */
	struct metrics_snapshot *s = metrics(c);
	cr_expect_str_eq(s->state, "NOT_CREATED");
	cr_expect_str_eq(s->vm, "web-1");
	cr_expect_eq(s->ndevices, 0);

	char disk[128], extra[256], cfg[512];
	snprintf(disk, sizeof(disk), "%s/disk.img", ctl.dir);
	int fd = open(disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"path\": \"%s\"}], \"rng\": true",
		 disk);
	ctl_config(cfg, sizeof(cfg), "ready\nwait-run\nblk-io blk0 3 2\nserial io-done\nserve\n",
		   extra);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	s = metrics(c);
	cr_expect_str_eq(s->state, "CREATED");
	const struct metrics_device *d = device(s, "blk0");
	cr_assert(d->answered, "blk0: %s", d->error);
	cr_expect_str_eq(d->kind, "blk");
	cr_expect_eq(d->c.requests, 0);
	cr_expect(device(s, "rng0")->answered);

	struct ctl_stream serial;
	ctl_open_stream(c, false, &serial);
	uint32_t run = ctl_send_call(c, RPC_RUN, NULL);
	ctl_read_until(&serial, "io-done\r\n", CTL_WAIT_MS);
	s = metrics(c);
	cr_expect_str_eq(s->state, "RUNNING");
	d = device(s, "blk0");
	cr_assert(d->answered, "blk0: %s", d->error);
	cr_expect_eq(d->c.requests, 5);
	cr_expect_eq(d->c.write_bytes, 3 * 4096);
	cr_expect_eq(d->c.read_bytes, 2 * 4096);
	cr_expect_eq(d->c.errors, 0);
	bool blk_proc = false;
	for (size_t i = 0; i < s->nprocs; i++)
		if (strcmp(s->proc[i].name, "blk0") == 0)
			blk_proc = s->proc[i].have_cpu && s->proc[i].have_memory &&
				   s->proc[i].memory_bytes > 0 && s->proc[i].pid > 0;
	cr_expect(blk_proc, "blk0's process: its pid, CPU time and memory");

	/* The same as Prometheus text, from the snapshot and over HTTP. */
	static char text[1 << 16];
	cr_assert_gt(metrics_prometheus(s, text, sizeof(text)), 0);
	cr_expect_eq(prom_value(text, "cellvm_blk_write_bytes_total{vm=\"web-1\",device=\"blk0\"}"),
		     3 * 4096);
	const char *page = http(listen, "GET /metrics HTTP/1.0\r\nAccept: text/plain\r\n\r\n");
	cr_assert_eq(strncmp(page, "HTTP/1.0 200 OK\r\n", 17), 0, "%.80s", page);
	const char *body = strstr(page, "\r\n\r\n");
	cr_assert_not_null(body);
	body += 4;
	cr_expect_eq(prom_value(body, "cellvm_blk_read_bytes_total{vm=\"web-1\",device=\"blk0\"}"),
		     2 * 4096);
	cr_expect_eq(prom_value(body, "cellvm_blk_requests_total{vm=\"web-1\",device=\"blk0\"}"), 5);
	cr_expect_eq(prom_value(body, "cellvm_device_up{vm=\"web-1\",device=\"rng0\"}"), 1);
	cr_expect_gt(prom_value(body, "cellvm_process_resident_memory_bytes{vm=\"web-1\","
				      "process=\"blk0\"}"), 0);
	page = http(listen, "POST /metrics HTTP/1.0\r\n\r\n");
	cr_expect_eq(strncmp(page, "HTTP/1.0 405 ", 13), 0, "%.80s", page);
	page = http(listen, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_expect_eq(strncmp(page, "HTTP/1.0 404 ", 13), 0, "%.80s", page);

	/* Run's answer and Stop's come in either order. */
	uint32_t ids[2] = { run, ctl_send_call(c, RPC_STOP, NULL) };
	struct rpc_reply r[2];
	ctl_replies(c, ids, r);
	ctl_expect_error(r[0], LC_ERR_CONTROLLER_FORCED_HALT, NULL, "Run");
	ctl_expect_ok(r[1], "Stop");
	close(serial.fd);
	close(c);
	ctl_finish();
	cr_expect_neq(access(listen, F_OK), 0, "cellvmd removed %s", listen);
}

#define BLK_LIMIT "{\"device\": \"blk0\", \"rate_limiter\": {\"bandwidth\": " \
		  "{\"size\": 1048576, \"refill_time\": 125}}}"

/* SetRateLimiter's answers, state by state and device by device: a disk's
 * limit is changed while the VM runs. */
Test(metrics, set_rate_limiter_is_checked_and_reaches_the_device)
{
	int c = ctl_start();
	ctl_expect_error(ctl_rpc(c, RPC_SET_RATE_LIMITER, BLK_LIMIT), LC_ERR_NOT_CREATED, "state",
			 "before Create");
	char disk[128], extra[256], cfg[512];
	snprintf(disk, sizeof(disk), "%s/disk.img", ctl.dir);
	int fd = open(disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	snprintf(extra, sizeof(extra), ", \"block_devices\": [{\"path\": \"%s\"}], \"rng\": true",
		 disk);
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_SERVE, extra);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");

	ctl_expect_ok(ctl_rpc(c, RPC_SET_RATE_LIMITER, BLK_LIMIT), "blk0's limit");
	ctl_expect_error(ctl_rpc(c, RPC_SET_RATE_LIMITER,
				 "{\"device\": \"blk7\", \"rate_limiter\": {}}"),
			 LC_ERR_DEVICE_NOT_PRESENT, "blk7", "no such disk");
	ctl_expect_error(ctl_rpc(c, RPC_SET_RATE_LIMITER, "{\"device\": \"rng0\"}"),
			 LC_ERR_BAD_CONFIG, "has no rate limiter", "rng0");
	ctl_expect_error(ctl_rpc(c, RPC_SET_RATE_LIMITER,
				 "{\"device\": \"blk0\", \"rate_limiter\": {\"ops\": {\"size\": -1, "
				 "\"refill_time\": 1}}}"),
			 LC_ERR_BAD_CONFIG, "rate_limiter.ops.size", "a negative size");
	ctl_expect_error(ctl_rpc(c, RPC_SET_RATE_LIMITER,
				 "{\"device\": \"blk0\", \"tx_rate_limiter\": {}}"),
			 LC_ERR_BAD_CONFIG, "tx_rate_limiter", "a NIC's key on a disk");
	/* The devices still answer. */
	cr_expect(device(metrics(c), "blk0")->answered);
	ctl_expect_ok(ctl_rpc(c, RPC_STOP, NULL), "Stop");
	ctl_expect_error(ctl_rpc(c, RPC_SET_RATE_LIMITER, BLK_LIMIT), LC_ERR_NOT_CREATED, "state",
			 "after Stop");
	close(c);
	ctl_finish();
}

/* A balloon's target changes through cellvmd: the device takes it (its
 * config space, read back by BalloonStats) and the worker is told to
 * interrupt the guest; a target past the VM's memory is refused; a VM
 * without a balloon has none to set. */
Test(metrics, set_balloon_and_read_its_stats)
{
	int c = ctl_start();
	ctl_expect_error(ctl_rpc(c, RPC_BALLOON_STATS, NULL), LC_ERR_NOT_CREATED, "state",
			 "BalloonStats before Create");
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), "ready\nwait-run\nserve\n",
		   ", \"balloon\": {\"amount_mib\": 4, \"stats_polling_interval_s\": 1}");
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	struct ctl_stream serial;
	ctl_open_stream(c, false, &serial);
	uint32_t run = ctl_send_call(c, RPC_RUN, NULL);

	struct rpc_reply r = ctl_rpc(c, RPC_BALLOON_STATS, NULL);
	cr_assert(r.ok, "BalloonStats: %s", r.message);
	cr_expect_not_null(strstr(r.result, "\"target_pages\":1024"), "%s", r.result);
	cr_expect_not_null(strstr(r.result, "\"target_mib\":4"), "%s", r.result);
	cr_expect_not_null(strstr(r.result, "\"actual_mib\":0"), "%s", r.result);
	rpc_reply_free(&r);

	ctl_expect_ok(ctl_rpc(c, RPC_SET_BALLOON, "{\"amount_mib\": 12}"), "SetBalloon");
	ctl_read_until(&serial, "config-changed balloon0\r\n", CTL_WAIT_MS);
	r = ctl_rpc(c, RPC_BALLOON_STATS, NULL);
	cr_assert(r.ok, "BalloonStats: %s", r.message);
	cr_expect_not_null(strstr(r.result, "\"target_mib\":12"), "%s", r.result);
	rpc_reply_free(&r);

	ctl_expect_error(ctl_rpc(c, RPC_SET_BALLOON, "{\"amount_mib\": 17}"), LC_ERR_BAD_CONFIG,
			 "16 MiB", "a target past the VM's memory");
	/* A refused Create's config is not the VM's: its 64 MiB is no bound. */
	char bigger[512];
	ctl_config(bigger, sizeof(bigger), "ready\nwait-run\nserve\n",
		   ", \"balloon\": {\"amount_mib\": 0}");
	char *mem = strstr(bigger, "\"16M\"");
	cr_assert_not_null(mem);
	memcpy(mem, "\"64M\"", 5);
	ctl_expect_error(ctl_rpc(c, RPC_CREATE, bigger), LC_ERR_ALREADY_RUNNING, NULL,
			 "Create while one runs");
	ctl_expect_error(ctl_rpc(c, RPC_SET_BALLOON, "{\"amount_mib\": 17}"), LC_ERR_BAD_CONFIG,
			 "16 MiB", "a target past the VM's memory after a refused Create");
	ctl_expect_error(ctl_rpc(c, RPC_SET_BALLOON, "{\"amount\": 1}"), LC_ERR_BAD_CONFIG,
			 "unknown key", "a key SetBalloon does not take");

	uint32_t ids[2] = { run, ctl_send_call(c, RPC_STOP, NULL) };
	struct rpc_reply end[2];
	ctl_replies(c, ids, end);
	ctl_expect_error(end[0], LC_ERR_CONTROLLER_FORCED_HALT, NULL, "Run");
	ctl_expect_ok(end[1], "Stop");
	close(serial.fd);
	close(c);
	ctl_finish();
}

Test(metrics, a_vm_without_a_balloon_has_none_to_set)
{
	int c = ctl_start();
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), "ready\nwait-run\nserve\n", ", \"rng\": true");
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	ctl_expect_error(ctl_rpc(c, RPC_SET_BALLOON, "{\"amount_mib\": 1}"),
			 LC_ERR_DEVICE_NOT_PRESENT, "no balloon", "SetBalloon");
	ctl_expect_error(ctl_rpc(c, RPC_BALLOON_STATS, NULL), LC_ERR_DEVICE_NOT_PRESENT,
			 "no balloon", "BalloonStats");
	ctl_finish();
}
