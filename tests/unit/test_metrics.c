/* The metrics' pure parts: the snapshot as JSON and back
 * (controller/metrics.h), as Prometheus text and lines for people
 * (metrics_text.h), and /proc/PID/stat as proc_usage.h reads it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "metrics_text.h"
#include "proc_usage.h"

static struct metrics_snapshot sample(void)
{
	struct metrics_snapshot s = { .vm = "web1", .state = "RUNNING", .uptime_ns = 12000345678 };
	s.ndevices = 3;
	s.dev[0] = (struct metrics_device){ .name = "blk0", .kind = "blk", .answered = true };
	s.dev[0].c = (struct dev_ctl_counters){ .requests = 9, .read_bytes = 32768,
						.write_bytes = 4096, .errors = 1,
						.throttled_us = 1500000, .rx_frames = 77 };
	s.dev[1] = (struct metrics_device){ .name = "net0", .kind = "net", .answered = true };
	s.dev[1].c = (struct dev_ctl_counters){ .rx_frames = 3, .rx_bytes = 180, .tx_dropped = 2 };
	s.dev[2] = (struct metrics_device){ .name = "rng0", .kind = "rng",
					    .error = "did not answer in time" };
	s.nprocs = 2;
	s.proc[0] = (struct metrics_process){ .name = "vcpu-worker", .pid = 41, .have_cpu = true,
					      .cpu_ns = 2500000000, .have_memory = true,
					      .memory_bytes = 5 << 20 };
	s.proc[1] = (struct metrics_process){ .name = "blk0", .pid = 42, .have_restarts = true,
					      .restarts = 3, .blackout_last_ms = 35,
					      .blackout_max_ms = 1250 };
	return s;
}

Test(metrics, json_round_trip)
{
	struct metrics_snapshot s = sample(), back;
	char *json = metrics_to_json(&s);
	cr_assert_not_null(json);
	char err[256];
	cr_assert_eq(metrics_from_json(json, strlen(json), &back, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(back.vm, "web1");
	cr_expect_eq(back.uptime_ns, s.uptime_ns);
	cr_assert_eq(back.ndevices, 3);
	cr_expect_eq(back.dev[0].c.read_bytes, 32768);
	cr_expect_eq(back.dev[0].c.throttled_us, 1500000);
	cr_expect_eq(back.dev[0].c.rx_frames, 0, "not a disk's counter: not sent");
	cr_expect_eq(back.dev[1].c.tx_dropped, 2);
	cr_expect_not(back.dev[2].answered);
	cr_expect_str_eq(back.dev[2].error, "did not answer in time");
	cr_assert_eq(back.nprocs, 2);
	cr_expect(back.proc[0].have_cpu && back.proc[0].cpu_ns == 2500000000);
	cr_expect(!back.proc[1].have_cpu && !back.proc[1].have_memory);
	cr_expect_eq(back.proc[1].pid, 42);
	cr_expect(back.proc[1].have_restarts && back.proc[1].restarts == 3);
	cr_expect_eq(back.proc[1].blackout_last_ms, 35);
	cr_expect_eq(back.proc[1].blackout_max_ms, 1250);
	cr_expect_not(back.proc[0].have_restarts, "the worker is not restarted");
	cr_expect_null(strstr(json, "rx_frames\":77"));
	free(json);
}

Test(metrics, json_refused)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"state\": \"RUNNING\", \"uptime_ns\": 1}",                /* no vm */
		"{\"vm\": 3, \"state\": \"RUNNING\", \"uptime_ns\": 1}",
		"{\"vm\": \"a\", \"state\": \"R\", \"uptime_ns\": -1}",
		"{\"vm\": \"a\", \"state\": \"R\", \"uptime_ns\": 1.5}",
		"{\"vm\": \"a\", \"state\": \"R\", \"uptime_ns\": 1, \"devices\": []}",
		"{\"vm\": \"a\", \"state\": \"R\", \"uptime_ns\": 1, \"devices\": {\"blk0\": 1}}",
		"{\"vm\": \"a\", \"state\": \"R\", \"uptime_ns\": 1, \"devices\": {\"blk0\": {}}}",
		"{\"vm\": \"a\", \"state\": \"R\", \"uptime_ns\": 1, \"devices\": "
		"{\"blk0\": {\"kind\": \"blk\", \"requests\": \"9\"}}}",
		"{\"vm\": \"a\", \"state\": \"R\", \"uptime_ns\": 1, \"processes\": "
		"{\"x\": {\"pid\": 4294967296}}}",
		"{\"vm\": \"a\", \"vm\": \"b\", \"state\": \"R\", \"uptime_ns\": 1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct metrics_snapshot s;
		char err[256] = "";
		cr_expect_eq(metrics_from_json(bad[i], strlen(bad[i]), &s, err, sizeof(err)), -EINVAL,
			     "row %zu: %s", i, bad[i]);
		cr_expect_neq(err[0], '\0', "row %zu says why", i);
	}
	/* More devices than fit. */
	char big[16384];
	size_t n = (size_t)snprintf(big, sizeof(big),
				    "{\"vm\": \"a\", \"state\": \"R\", \"uptime_ns\": 1, \"devices\": {");
	for (int i = 0; i <= METRICS_MAX_DEVICES; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"d%d\": {\"kind\": \"rng\"}",
				      i ? "," : "", i);
	snprintf(big + n, sizeof(big) - n, "}}");
	struct metrics_snapshot s;
	cr_expect_eq(metrics_from_json(big, strlen(big), &s, NULL, 0), -EINVAL);
	/* Keys a newer cellvmd adds are skipped. */
	const char *newer = "{\"vm\": \"a\", \"state\": \"R\", \"uptime_ns\": 1, \"vcpu_exits\": {},"
			    " \"devices\": {\"blk0\": {\"kind\": \"blk\", \"restarts\": 2}}}";
	cr_expect_eq(metrics_from_json(newer, strlen(newer), &s, NULL, 0), 0);
}

Test(metrics, prometheus_text)
{
	struct metrics_snapshot s = sample();
	static char text[16384];
	int n = metrics_prometheus(&s, text, sizeof(text));
	cr_assert_gt(n, 0);
	cr_assert_eq((size_t)n, strlen(text));
	static const char *const want[] = {
		"# HELP cellvm_vm_uptime_seconds ",
		"# TYPE cellvm_vm_uptime_seconds gauge\n"
		"cellvm_vm_uptime_seconds{vm=\"web1\"} 12.000345678\n",
		"cellvm_vm_state{vm=\"web1\",state=\"RUNNING\"} 1\n",
		"cellvm_device_up{vm=\"web1\",device=\"rng0\"} 0\n",
		"# TYPE cellvm_blk_read_bytes_total counter\n"
		"cellvm_blk_read_bytes_total{vm=\"web1\",device=\"blk0\"} 32768\n",
		"cellvm_blk_throttled_seconds_total{vm=\"web1\",device=\"blk0\"} 1.500000\n",
		"cellvm_net_rx_frames_total{vm=\"web1\",device=\"net0\"} 3\n",
		"cellvm_net_tx_dropped_total{vm=\"web1\",device=\"net0\"} 2\n",
		"cellvm_process_cpu_seconds_total{vm=\"web1\",process=\"vcpu-worker\"} 2.500000000\n",
		"cellvm_process_resident_memory_bytes{vm=\"web1\",process=\"vcpu-worker\"} 5242880\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_not_null(strstr(text, want[i]), "missing:\n%s\nin:\n%s", want[i], text);
	/* Not a disk's counter; a device that did not answer has no samples;
	 * a process without figures has none. */
	cr_expect_null(strstr(text, "cellvm_blk_rx_frames"));
	cr_expect_null(strstr(text, "cellvm_rng_"));
	cr_expect_null(strstr(text, "process=\"blk0\""));
	/* One HELP per family. */
	const char *first = strstr(text, "# HELP cellvm_blk_requests_total");
	cr_assert_not_null(first);
	cr_expect_null(strstr(first + 1, "# HELP cellvm_blk_requests_total"));
	cr_expect_eq(metrics_prometheus(&s, text, 100), -EMSGSIZE);
	cr_expect_eq(metrics_prometheus(&s, text, 0), -EMSGSIZE);
}

Test(metrics, prometheus_escapes_label_values)
{
	struct metrics_snapshot s = { .vm = "a\"b\\c\nd}", .state = "CREATED" };
	char text[4096];
	cr_assert_gt(metrics_prometheus(&s, text, sizeof(text)), 0);
	cr_expect_not_null(strstr(text, "{vm=\"a\\\"b\\\\c\\nd}\"} "), "%s", text);
}

Test(metrics, human_text)
{
	struct metrics_snapshot s = sample();
	char text[4096];
	cr_assert_gt(metrics_human(&s, text, sizeof(text)), 0);
	cr_expect_not_null(strstr(text, "VM web1: RUNNING, vCPUs ran 12.000 s\n"), "%s", text);
	cr_expect_not_null(strstr(text, "blk0         requests 9 read_bytes 32768 write_bytes 4096 "
					"errors 1 throttled_us 1500000\n"), "%s", text);
	cr_expect_not_null(strstr(text, "rng0         (did not answer in time)\n"), "%s", text);
	cr_expect_not_null(strstr(text, "vcpu-worker  pid 41 cpu 2.500 s memory 5120 KiB\n"), "%s",
			   text);
	cr_expect_eq(metrics_human(&s, text, 10), -EMSGSIZE);
}

Test(proc_usage, stat_fields)
{
	/* A name with spaces and parentheses, as a process may give itself. */
	const char *line = "4242 (cell) vm (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
			   "250 75 0 0 20 0 3 0 1000 10000000 1234 18446744073709551615\n";
	struct proc_stat st;
	cr_assert_eq(proc_stat_parse(line, strlen(line), &st), 0);
	cr_expect_eq(st.utime, 250);
	cr_expect_eq(st.stime, 75);
	cr_expect_eq(st.rss_pages, 1234);
	static const char *const bad[] = {
		"",
		"4242 cellvm S 1",
		"4242 (cellvm) S 1 2 3",
		"4242 (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 99999999999999999999 75 0 0 20 0 3 "
		"0 1000 10000000 1234",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(proc_stat_parse(bad[i], strlen(bad[i]), &st), -EINVAL, "row %zu", i);
	/* Not NUL-terminated: only len bytes are read. */
	cr_expect_eq(proc_stat_parse(line, 20, &st), -EINVAL);
}

Test(proc_usage, this_process)
{
	struct proc_usage u;
	cr_assert_eq(proc_usage_read(getpid(), &u), 0);
	cr_expect_gt(u.memory_bytes, 0);
	cr_expect_eq(proc_usage_read(0x7ffffff0, &u), -ESRCH);
}

Test(metrics, restarts_in_prometheus_and_words)
{
	struct metrics_snapshot s = sample();
	static char text[8192];
	cr_assert_geq(metrics_prometheus(&s, text, sizeof(text)), 0);
	cr_expect_not_null(strstr(text, "# TYPE cellvm_device_restarts_total counter\n"
					"cellvm_device_restarts_total{vm=\"web1\",device=\"blk0\"} 3\n"),
			   "%s", text);
	cr_expect_not_null(strstr(text, "cellvm_device_restart_blackout_last_seconds{vm=\"web1\","
					"device=\"blk0\"} 0.035\n"), "%s", text);
	cr_expect_not_null(strstr(text, "cellvm_device_restart_blackout_max_seconds{vm=\"web1\","
					"device=\"blk0\"} 1.250\n"), "%s", text);
	cr_expect_null(strstr(text, "device=\"vcpu-worker\""));
	cr_assert_geq(metrics_human(&s, text, sizeof(text)), 0);
	cr_expect_not_null(strstr(text, "restarts 3 (blackout last 35 ms, max 1250 ms)"), "%s",
			   text);
}
