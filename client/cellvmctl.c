/* cellvmctl: drives a cellvmd over its socket.
 *
 *   cellvmctl --socket PATH create --config FILE
 *   cellvmctl --socket PATH run | stop | status
 *   cellvmctl --socket PATH serial [--console]
 *   cellvmctl --socket PATH metrics [--prometheus]
 *   cellvmctl --socket PATH rate-limiter DEVICE [--rx|--tx] JSON
 *   cellvmctl --socket PATH balloon set MIB | balloon stats
 *   cellvmctl --socket PATH balloon size | balloon pages N | balloon mem-stats
 *   cellvmctl --socket PATH vsock connect PORT
 *
 * Exit status: 0 success, 1 the controller answered with an error (printed
 * with its name and message), 2 bad usage or no connection. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "balloon_json.h"
#include "cli.h"
#include "client.h"
#include "config.h"
#include "dev_ctl.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "metrics_text.h"
#include "term.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: cellvmctl --socket PATH COMMAND\n"
		   "commands:\n"
		   "  create --config FILE   build the VM the JSON config describes (docs/config.md)\n"
		   "  run                    start it; returns when the VM stops\n"
		   "  stop                   stop it and wait until every process exited\n"
		   "  status                 state, uptime, how the last VM ended, processes,\n"
		   "                         their confinement and the operator's floor\n"
		   "  serial [--console]     attach this terminal to the serial port (or the\n"
		   "                         virtio console); Ctrl-] detaches\n"
		   "  metrics [--prometheus] each device's counters, each process's CPU time and\n"
		   "                         memory, the VM's uptime; --prometheus: in\n"
		   "                         Prometheus's text format\n"
		   "  rate-limiter DEVICE [--rx|--tx] JSON\n"
		   "                         change a running device's rate limiter: JSON is\n"
		   "                         Firecracker's ({\"bandwidth\": {\"size\": 1048576,\n"
		   "                         \"refill_time\": 125}, \"ops\": {...}}); a NIC's\n"
		   "                         receive (--rx) or transmit (--tx) side\n"
		   "  balloon set MIB        set the balloon's target: the guest gives MIB of its\n"
		   "                         memory back to the host\n"
		   "  balloon stats          the balloon's target, what the guest gave and its\n"
		   "                         last memory statistics\n"
		   "The Guest interface (a Bind, then Fuchsia's calls):\n"
		   "  balloon size           the pages in the balloon now, and its target\n"
		   "  balloon pages N        set the balloon's target to N pages of 4 KiB\n"
		   "  balloon mem-stats      the guest's last memory statistics by virtio tag\n"
		   "  vsock connect PORT     connect stdin and stdout to the guest's vsock\n"
		   "                         listener on PORT (a terminal: Ctrl-] detaches)\n");
}

static int read_file(const char *path, char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "cellvmctl: --config %s: %s\n", path, strerror(errno));
		return -errno;
	}
	size_t cap = VM_CONFIG_MAX_BYTES + 1, n = 0;
	char *buf = malloc(cap + 1);
	ssize_t r = 0;
	while (buf && n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (!buf || r < 0 || n >= cap) {
		fprintf(stderr, "cellvmctl: --config %s: %s\n", path,
			!buf ? "out of memory" : r < 0 ? strerror(errno) : "larger than 1 MiB");
		free(buf);
		return -EINVAL;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* Prints an error reply; 0 for success. */
static int report(const char *what, const struct rpc_reply *r)
{
	if (r->ok)
		return 0;
	fprintf(stderr, "cellvmctl: %s: %s: %s\n", what, lifecycle_error_name(r->code), r->message);
	return 1;
}

/* The strings of array a, space-separated, or `none` when there are none. */
static void print_words(json_object *a, const char *none)
{
	size_t n = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? " " : "", json_object_get_string(json_object_array_get_idx(a, i)));
	if (!n)
		printf("%s", none);
}

/* The operator's floor, one line each: what a config may ask for. */
static void print_floor(json_object *f)
{
	json_object *v;
	struct config_size_text b;
	if (json_object_object_get_ex(f, "min_sandbox", &v))
		printf("floor:      --min-sandbox %s\n", json_object_get_string(v));
	if (json_object_object_get_ex(f, "allow_dirs", &v)) {
		printf("floor:      --allow-dir ");
		print_words(v, "(none: paths are not limited)");
		printf("\n");
	}
	if (json_object_object_get_ex(f, "allow_socket_dirs", &v)) {
		printf("floor:      --allow-socket-dir ");
		print_words(v, "(none: sockets are not limited)");
		printf("\n");
	}
	if (json_object_object_get_ex(f, "max_memory", &v) && v)
		printf("floor:      --max-memory %s\n",
		       config_format_size(&b, (uint64_t)json_object_get_int64(v)));
	if (json_object_object_get_ex(f, "max_cpus", &v) && v)
		printf("floor:      --max-cpus %d\n", json_object_get_int(v));
	if (json_object_object_get_ex(f, "max_devices", &v) && v)
		printf("floor:      --max-devices %d\n", json_object_get_int(v));
	if (json_object_object_get_ex(f, "kvm_check", &v))
		printf("floor:      --kvm-check %s\n", json_object_get_string(v));
}

static void print_status(const char *json)
{
	json_object *o = json_tokener_parse(json), *v, *le;
	if (!o) {
		printf("%s\n", json);
		return;
	}
	if (json_object_object_get_ex(o, "state", &v))
		printf("state:      %s\n", json_object_get_string(v));
	if (json_object_object_get_ex(o, "uptime_ns", &v))
		printf("uptime:     %.1f s\n", (double)json_object_get_int64(v) / 1e9);
	if (json_object_object_get_ex(o, "last_error", &le) && le) {
		json_object *name = NULL, *reason = NULL;
		json_object_object_get_ex(le, "name", &name);
		json_object_object_get_ex(le, "reason", &reason);
		printf("last end:   %s%s%s\n", name ? json_object_get_string(name) : "?",
		       reason ? ": " : "", reason ? json_object_get_string(reason) : "");
	}
	if (json_object_object_get_ex(o, "pids", &v)) {
		printf("processes: ");
		json_object_object_foreach(v, name, pid) printf(" %s=%d", name, json_object_get_int(pid));
		printf("\n");
	}
	if (json_object_object_get_ex(o, "restarts", &v)) {
		json_object_object_foreach(v, name, r) {
			json_object *n = NULL, *last = NULL, *max = NULL;
			json_object_object_get_ex(r, "count", &n);
			json_object_object_get_ex(r, "blackout_last_ms", &last);
			json_object_object_get_ex(r, "blackout_max_ms", &max);
			if (n && json_object_get_int64(n))
				printf("restarted:  %-15s %lld times, I/O blackout %lld ms last, "
				       "%lld ms at most\n", name, (long long)json_object_get_int64(n),
				       (long long)json_object_get_int64(last),
				       (long long)json_object_get_int64(max));
		}
	}
	if (json_object_object_get_ex(o, "confinement", &v)) {
		json_object_object_foreach(v, name, c) {
			json_object *mode = NULL, *policy = NULL, *ns = NULL;
			json_object_object_get_ex(c, "sandbox", &mode);
			json_object_object_get_ex(c, "policy", &policy);
			json_object_object_get_ex(c, "namespaces", &ns);
			printf("confined:   %-15s sandbox %s, %s, namespaces ", name,
			       mode ? json_object_get_string(mode) : "?",
			       policy ? json_object_get_string(policy) : "no policy");
			print_words(ns, "none");
			printf("\n");
		}
	}
	if (json_object_object_get_ex(o, "operator", &v))
		print_floor(v);
	json_object_put(o);
}

/* The Metrics result as text for people or for Prometheus. */
static int print_metrics(const char *json, bool prometheus)
{
	static struct metrics_snapshot s;
	static char text[1u << 20];
	char why[300];
	if (metrics_from_json(json, strlen(json), &s, why, sizeof(why)) < 0) {
		fprintf(stderr, "cellvmctl: metrics: the controller's answer: %s\n", why);
		return 1;
	}
	int n = prometheus ? metrics_prometheus(&s, text, sizeof(text))
			   : metrics_human(&s, text, sizeof(text));
	if (n < 0) {
		fprintf(stderr, "cellvmctl: metrics: more than %zu bytes of text\n", sizeof(text));
		return 1;
	}
	fwrite(text, 1, (size_t)n, stdout);
	return 0;
}

/* SetRateLimiter's params: the device and its limiter (JSON, the user's)
 * under the key Firecracker gives it; NULL (said why) if not JSON. */
static char *rate_limiter_request(const char *device, const char *side, const char *limiter)
{
	json_object *rl = json_tokener_parse(limiter);
	if (!rl) {
		fprintf(stderr, "cellvmctl: rate-limiter: %s is not JSON\n", limiter);
		return NULL;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "device", json_object_new_string(device));
	json_object_object_add(o, side, rl);
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

/* {"KEY": N} from the operand arg of `what`, N 0..max; NULL (said why)
 * if not such a number. */
static char *uint_params(const char *what, const char *key, const char *arg, unsigned long max)
{
	unsigned long n;
	if (cli_parse_uint(arg, 0, max, &n) < 0) {
		fprintf(stderr, "cellvmctl: %s %s: want a number 0..%lu\n", what, arg, max);
		return NULL;
	}
	char text[80];
	snprintf(text, sizeof(text), "{\"%s\": %lu}", key, n);
	return strdup(text);
}

/* BalloonStats's result, one "key: value" a line, in its order. */
static void print_balloon(const char *json)
{
	json_object *o = json_tokener_parse(json);
	if (!o)
		return;
	json_object_object_foreach(o, key, v) printf("%s: %s\n", key, json_object_get_string(v));
	json_object_put(o);
}

/* BalloonGetMemStats's result: each statistic by its Firecracker name
 * (its virtio tag when the name is not known), or why there are none. */
static void print_mem_stats(const char *json)
{
	json_object *o = json_tokener_parse(json), *st = NULL, *a = NULL;
	if (!o)
		return;
	json_object_object_get_ex(o, "status", &st);
	json_object_object_get_ex(o, "mem_stats", &a);
	if (json_object_get_int(st) != 0)
		printf("no statistics: the VM's balloon polls none (stats_polling_interval_s)\n");
	size_t n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(a, i), *tag = NULL, *val = NULL;
		json_object_object_get_ex(m, "tag", &tag);
		json_object_object_get_ex(m, "val", &val);
		const char *name = dev_ctl_balloon_stat_name((unsigned)json_object_get_int(tag));
		if (name)
			printf("%s: %s\n", name, json_object_get_string(val));
		else
			printf("tag %d: %s\n", json_object_get_int(tag), json_object_get_string(val));
	}
	json_object_put(o);
}

/* vsock connect: the stream HostVsockConnect passed, attached to stdin and
 * stdout until it ends. */
static int vsock_attach(int fd)
{
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "[connected; Ctrl-] detaches]\r\n");
	enum term_end end = term_attach(fd, -1);
	close(fd);
	if (end == TERM_DETACHED)
		fprintf(stderr, "\r\n[detached]\r\n");
	return end == TERM_ERROR ? 1 : 0;
}

static int serial(int sock, int console)
{
	char err[300];
	int code;
	int fd = client_open_stream(sock, console, &code, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "cellvmctl: serial: %s\n", err);
		return code ? 1 : 2;
	}
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "[attached to the %s; Ctrl-] detaches]\r\n",
			console ? "console" : "serial port");
	enum term_end end = term_attach(fd, -1);
	close(fd);
	if (end == TERM_DETACHED)
		fprintf(stderr, "\r\n[detached]\r\n");
	return end == TERM_ERROR ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock_path = NULL;
	int c;
	log_init("cellvmctl", LOG_LVL_WARN);
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!sock_path || optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	const char *config = NULL;
	int console = 0;
	static const struct option sub[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "console", no_argument, NULL, 'C' },
		{ "prometheus", no_argument, NULL, 'P' },
		{ "rx", no_argument, NULL, 'R' },
		{ "tx", no_argument, NULL, 'T' },
		{ 0 },
	};
	bool prometheus = false;
	const char *side = "rate_limiter";
	/* The command's own options: argv from the command on, as its argv. */
	argc -= optind;
	argv += optind;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", sub, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'C': console = 1; break;
		case 'P': prometheus = true; break;
		case 'R': side = "rx_rate_limiter"; break;
		case 'T': side = "tx_rate_limiter"; break;
		default: usage(stderr); return 2;
		}
	}
	enum rpc_method m;
	if (strcmp(cmd, "create") == 0)
		m = RPC_CREATE;
	else if (strcmp(cmd, "run") == 0)
		m = RPC_RUN;
	else if (strcmp(cmd, "stop") == 0)
		m = RPC_STOP;
	else if (strcmp(cmd, "status") == 0)
		m = RPC_STATUS;
	else if (strcmp(cmd, "serial") == 0)
		m = RPC_GET_SERIAL;
	else if (strcmp(cmd, "metrics") == 0)
		m = RPC_METRICS;
	else if (strcmp(cmd, "rate-limiter") == 0)
		m = RPC_SET_RATE_LIMITER;
	else if (strcmp(cmd, "balloon") == 0 && optind < argc && !strcmp(argv[optind], "set"))
		m = RPC_SET_BALLOON;
	else if (strcmp(cmd, "balloon") == 0 && optind < argc && !strcmp(argv[optind], "stats"))
		m = RPC_BALLOON_STATS;
	else if (strcmp(cmd, "balloon") == 0 && optind < argc && !strcmp(argv[optind], "size"))
		m = RPC_BALLOON_GET_SIZE;
	else if (strcmp(cmd, "balloon") == 0 && optind < argc && !strcmp(argv[optind], "pages"))
		m = RPC_BALLOON_REQUEST_NUM_PAGES;
	else if (strcmp(cmd, "balloon") == 0 && optind < argc &&
		 !strcmp(argv[optind], "mem-stats"))
		m = RPC_BALLOON_GET_MEM_STATS;
	else if (strcmp(cmd, "vsock") == 0 && optind < argc && !strcmp(argv[optind], "connect"))
		m = RPC_HOST_VSOCK_CONNECT;
	else {
		fprintf(stderr, "cellvmctl: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	/* rate-limiter's DEVICE and JSON, balloon's and vsock's subcommand and
	 * its number; no other command has operands. */
	int operands = m == RPC_SET_RATE_LIMITER || m == RPC_SET_BALLOON ||
				       m == RPC_BALLOON_REQUEST_NUM_PAGES ||
				       m == RPC_HOST_VSOCK_CONNECT
			       ? 2
		       : m == RPC_BALLOON_STATS || m == RPC_BALLOON_GET_SIZE ||
				       m == RPC_BALLOON_GET_MEM_STATS
			       ? 1
			       : 0;
	if (argc - optind != operands || (m == RPC_CREATE) != (config != NULL) ||
	    (console && m != RPC_GET_SERIAL) || (prometheus && m != RPC_METRICS) ||
	    (strcmp(side, "rate_limiter") != 0 && m != RPC_SET_RATE_LIMITER)) {
		usage(stderr);
		return 2;
	}
	char *params = NULL;
	if (config && read_file(config, &params) < 0)
		return 2;
	if (m == RPC_SET_RATE_LIMITER &&
	    !(params = rate_limiter_request(argv[optind], side, argv[optind + 1])))
		return 2;
	if (m == RPC_SET_BALLOON &&
	    !(params = uint_params("balloon set", "amount_mib", argv[optind + 1],
				   BALLOON_JSON_MAX_MIB)))
		return 2;
	if (m == RPC_BALLOON_REQUEST_NUM_PAGES &&
	    !(params = uint_params("balloon pages", "requested_num_pages", argv[optind + 1],
				   UINT32_MAX)))
		return 2;
	if (m == RPC_HOST_VSOCK_CONNECT &&
	    !(params = uint_params("vsock connect", "guest_port", argv[optind + 1], UINT32_MAX)))
		return 2;
	/* The controller checks it too; checking here points into the file
	 * even when it is not JSON at all. */
	static struct vm_config cfg;
	char why[300];
	if (config && vm_config_parse(params, strlen(params), &cfg, why, sizeof(why)) < 0) {
		fprintf(stderr, "cellvmctl: %s: BAD_CONFIG: %s\n", config, why);
		free(params);
		return 1;
	}

	char err[300];
	int sock = client_connect(sock_path, err, sizeof(err));
	if (sock < 0) {
		fprintf(stderr, "cellvmctl: %s\n", err);
		free(params);
		return 2;
	}
	int status;
	if (m == RPC_GET_SERIAL) {
		status = serial(sock, console);
	} else {
		/* The Guest interface's calls go on a channel of their own. */
		int ch = rpc_method_guest(m) ? client_bind(sock, err, sizeof(err)) : sock, rc = ch;
		struct rpc_reply r = { 0 };
		int fd = -1;
		if (ch >= 0)
			rc = client_call(ch, 1, m, params, NULL, 0, &r, &fd, err, sizeof(err));
		if (rc < 0) {
			/* A refused Bind closes the channel. */
			fprintf(stderr, "cellvmctl: %s: %s\n", cmd,
				rc == -ECONNRESET && ch != sock ? "no VM to bind to: Create one first"
								: err);
			status = 2;
		} else {
			status = report(cmd, &r);
			if (!status && m == RPC_STATUS)
				print_status(r.result);
			if (!status && m == RPC_METRICS)
				status = print_metrics(r.result, prometheus);
			if (!status && (m == RPC_BALLOON_STATS || m == RPC_BALLOON_GET_SIZE))
				print_balloon(r.result);
			if (!status && m == RPC_BALLOON_GET_MEM_STATS)
				print_mem_stats(r.result);
			if (!status && m == RPC_HOST_VSOCK_CONNECT && fd >= 0) {
				status = vsock_attach(fd);
				fd = -1;
			}
			rpc_reply_free(&r);
		}
		if (fd >= 0)
			close(fd);
		if (ch >= 0 && ch != sock)
			close(ch);
	}
	free(params);
	close(sock);
	return status;
}
