#include "run_options.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "config.h"
#include "sandbox_mode.h"
#include "worker_args.h"

void run_options_usage(FILE *f)
{
	fprintf(f,
		"usage: cellvm run --kernel FILE [options]\n"
		"  --kernel FILE            the Linux bzImage to boot\n"
		"  --initrd FILE            its initramfs\n"
		"  --cmdline TEXT           the kernel command line (default: console=ttyS0)\n"
		"  --cpus N                 vCPUs (default 1)\n"
		"  --memory SIZE            guest memory, e.g. 512M or 2G (default 256M)\n"
		"  --disk FILE[,ro]         a virtio-blk disk (repeatable; ,ro: read-only)\n"
		"  --net tap=NAME[,mac=M][,queues=N]\n"
		"                           a virtio-net device on an existing tap (repeatable);\n"
		"                           queues: its virtqueues as num_queues counts them,\n"
		"                           2 per rx/tx pair (4 = two pairs; default 2), on a\n"
		"                           multi_queue tap when more than 2\n"
		"  --rng                    a virtio-rng device\n"
		"  --console                a virtio-console device (hvc0)\n"
		"  --vsock cid=N,uds=PATH   a virtio-vsock device: the guest's CID (3 or more)\n"
		"                           and its hybrid socket, an absolute path (host\n"
		"                           listeners for guest port P go at PATH_P)\n"
		"  --balloon MIB[,deflate_on_oom][,stats=S][,free_page_reporting]\n"
		"                           a virtio-balloon taking MIB at boot; statistics\n"
		"                           every S seconds\n"
		"  --sandbox=on|off|log     confine every process (default on; log: allow and\n"
		"                           log what a policy lacks)\n"
		"  --policy-dir DIR         where the seccomp policies are (debugging)\n"
		"  --allow-degraded         run even where the kernel refuses a namespace or\n"
		"                           the empty root (warned); without it, do not run\n"
		"  --kvm-check full|api     what is checked of /dev/kvm first: full (default)\n"
		"                           runs a test vCPU; api only the API and capabilities\n"
		"  --log-level LEVEL        error, warn, info (default: warn) or debug\n"
		"The terminal is the guest's serial console; Ctrl-] stops the VM.\n");
}

static int bad(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "cellvm: %s %s: %s\n", opt, arg, want);
	return -EINVAL;
}

/* "FILE" or "FILE,ro". */
static int add_disk(json_object *disks, const char *arg)
{
	size_t n = strlen(arg);
	bool ro = n > 3 && strcmp(arg + n - 3, ",ro") == 0;
	if (ro)
		n -= 3;
	if (n == 0)
		return bad("--disk", arg, "want FILE or FILE,ro");
	json_object *d = json_object_new_object();
	json_object_object_add(d, "path", json_object_new_string_len(arg, (int)n));
	if (ro)
		json_object_object_add(d, "read_only", json_object_new_boolean(true));
	json_object_array_add(disks, d);
	return 0;
}

static const char net_want[] = "want tap=NAME[,mac=52:54:00:12:34:56][,queues=N]";

/* One KEY=VALUE of --net arg into d. queues is the config's num_queues (rx
 * and tx of each pair), checked here so that the error names the option's
 * own word. */
static int net_member(json_object *d, const char *arg, char *kv)
{
	char *v = strchr(kv, '=');
	if (!v || !v[1])
		return bad("--net", arg, net_want);
	*v++ = '\0';
	bool queues = !strcmp(kv, "queues");
	if (!queues && strcmp(kv, "tap") && strcmp(kv, "mac"))
		return bad("--net", arg, net_want);
	const char *key = queues ? "num_queues" : kv;
	if (json_object_object_get_ex(d, key, NULL))
		return bad("--net", arg, "each of tap, mac and queues once");
	if (!queues) {
		json_object_object_add(d, key, json_object_new_string(v));
		return 0;
	}
	unsigned long n;
	if (cli_parse_uint(v, 2, VM_CONFIG_NET_QUEUES_MAX, &n) < 0 || n % 2)
		return bad("--net", arg, "queues: an even number from 2 to 16 (2 per rx/tx pair)");
	json_object_object_add(d, key, json_object_new_int((int)n));
	return 0;
}

/* "tap=NAME", then ",mac=MAC" and ",queues=N" in either order. */
static int add_net(json_object *nets, const char *arg)
{
	char buf[256];
	size_t len = strlen(arg);
	if (strncmp(arg, "tap=", 4) != 0 || len >= sizeof(buf) || arg[len - 1] == ',' ||
	    strstr(arg, ",,"))
		return bad("--net", arg, net_want);
	memcpy(buf, arg, len + 1);
	json_object *d = json_object_new_object();
	int err = 0;
	char *save = NULL;
	for (char *kv = strtok_r(buf, ",", &save); kv && !err; kv = strtok_r(NULL, ",", &save))
		err = net_member(d, arg, kv);
	if (err) {
		json_object_put(d);
		return err;
	}
	json_object_array_add(nets, d);
	return 0;
}

/* "cid=N,uds=PATH": PATH is the rest, commas and all. Its directory is
 * what the controller must allow. */
static int add_vsock(json_object *cfg, const char *arg, char dir[VM_CONFIG_SOCKET_MAX])
{
	static const char want[] = "want cid=N,uds=/ABSOLUTE/PATH (N from 3)";
	char cid[16];
	const char *comma = strchr(arg, ',');
	size_t n = comma ? (size_t)(comma - arg) : 0;
	unsigned long v;
	if (strncmp(arg, "cid=", 4) != 0 || !comma || n - 4 >= sizeof(cid) ||
	    strncmp(comma, ",uds=", 5) != 0)
		return bad("--vsock", arg, want);
	memcpy(cid, arg + 4, n - 4);
	cid[n - 4] = '\0';
	const char *uds = comma + 5, *slash = strrchr(uds, '/');
	if (cli_parse_uint(cid, VM_CONFIG_VSOCK_CID_MIN, VM_CONFIG_VSOCK_CID_MAX, &v) < 0 ||
	    uds[0] != '/' || strlen(uds) >= VM_CONFIG_SOCKET_MAX)
		return bad("--vsock", arg, want);
	/* "/x.sock" has "/" as its directory, which the config refuses. */
	snprintf(dir, VM_CONFIG_SOCKET_MAX, "%.*s", slash == uds ? 1 : (int)(slash - uds), uds);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "guest_cid", json_object_new_int64((int64_t)v));
	json_object_object_add(o, "uds_path", json_object_new_string(uds));
	json_object_object_add(cfg, "vsock", o);
	return 0;
}

/* "MIB[,deflate_on_oom][,stats=S][,free_page_reporting]", in any order
 * after MIB. */
static int add_balloon(json_object *cfg, const char *arg)
{
	static const char want[] = "want MIB[,deflate_on_oom][,stats=SECONDS][,free_page_reporting]";
	char *copy = strdup(arg), *save = NULL;
	if (!copy)
		return -ENOMEM;
	json_object *o = json_object_new_object();
	unsigned long v;
	int err = 0;
	char *tok = strtok_r(copy, ",", &save);
	if (!tok || cli_parse_uint(tok, 0, UINT32_MAX, &v) < 0)
		err = bad("--balloon", arg, want);
	else
		json_object_object_add(o, "amount_mib", json_object_new_int64((int64_t)v));
	while (!err && (tok = strtok_r(NULL, ",", &save))) {
		if (strcmp(tok, "deflate_on_oom") == 0 || strcmp(tok, "free_page_reporting") == 0)
			json_object_object_add(o, tok, json_object_new_boolean(true));
		else if (strncmp(tok, "stats=", 6) == 0 &&
			 cli_parse_uint(tok + 6, 0, VM_CONFIG_BALLOON_STATS_MAX, &v) == 0)
			json_object_object_add(o, "stats_polling_interval_s",
					       json_object_new_int64((int64_t)v));
		else
			err = bad("--balloon", arg, want);
	}
	free(copy);
	if (err)
		json_object_put(o);
	else
		json_object_object_add(cfg, "balloon", o);
	return err;
}

/* An object option given twice would be one config key given twice. */
static int once(json_object *cfg, const char *key, const char *opt, const char *arg)
{
	return json_object_object_get_ex(cfg, key, NULL) ? bad(opt, arg, "given twice") : 0;
}

int run_options_parse(int argc, char **argv, struct run_options *o)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "cpus", required_argument, NULL, 'n' },
		{ "memory", required_argument, NULL, 'm' },
		{ "disk", required_argument, NULL, 'd' },
		{ "net", required_argument, NULL, 'N' },
		{ "rng", no_argument, NULL, 'r' },
		{ "console", no_argument, NULL, 'C' },
		{ "vsock", required_argument, NULL, 'V' },
		{ "balloon", required_argument, NULL, 'B' },
		{ "sandbox", required_argument, NULL, 's' },
		{ "policy-dir", required_argument, NULL, 'P' },
		{ "allow-degraded", no_argument, NULL, 'D' },
		{ "kvm-check", required_argument, NULL, 'K' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	*o = (struct run_options){ .sandbox = "on", .log_level = LOG_LVL_WARN };
	json_object *cfg = json_object_new_object(), *disks = json_object_new_array(),
		    *nets = json_object_new_array();
	bool have_kernel = false, have_cmdline = false;
	unsigned long cpus;
	enum sandbox_mode sb;
	int c, err = 0;
	optind = 0; /* glibc: start afresh, whoever parsed before */
	while (!err && !o->help && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
		case 'i':
		case 'c':
			json_object_object_add(cfg, c == 'k' ? "kernel" : c == 'i' ? "initrd" : "cmdline",
					       json_object_new_string(optarg));
			have_kernel |= c == 'k';
			have_cmdline |= c == 'c';
			break;
		case 'n':
			if (cli_parse_uint(optarg, 1, VM_CONFIG_MAX_CPUS, &cpus) < 0)
				err = bad("--cpus", optarg, "want 1 to 32");
			else
				json_object_object_add(cfg, "cpus", json_object_new_int((int)cpus));
			break;
		case 'm':
			json_object_object_add(cfg, "memory", json_object_new_string(optarg));
			break;
		case 'd': err = add_disk(disks, optarg); break;
		case 'N': err = add_net(nets, optarg); break;
		case 'r': json_object_object_add(cfg, "rng", json_object_new_boolean(true)); break;
		case 'C': json_object_object_add(cfg, "console", json_object_new_boolean(true)); break;
		case 'V':
			if (!(err = once(cfg, "vsock", "--vsock", optarg)))
				err = add_vsock(cfg, optarg, o->socket_dir);
			break;
		case 'B':
			if (!(err = once(cfg, "balloon", "--balloon", optarg)))
				err = add_balloon(cfg, optarg);
			break;
		case 's':
			if (sandbox_parse_mode(optarg, &sb) < 0)
				err = bad("--sandbox", optarg, "want on, off or log");
			else
				json_object_object_add(cfg, "sandbox",
						       json_object_new_string(o->sandbox = optarg));
			break;
		case 'P': o->policy_dir = optarg; break;
		case 'D': o->allow_degraded = true; break;
		case 'K': {
			enum worker_kvm_check kc;
			if (worker_kvm_check_parse(optarg, &kc) < 0)
				err = bad("--kvm-check", optarg, "want full or api");
			else
				o->kvm_check = optarg;
			break;
		}
		case 'l':
			if (log_parse_level(optarg, &o->log_level) < 0)
				err = bad("--log-level", optarg, "want error, warn, info or debug");
			break;
		case 'h': o->help = true; break;
		default: err = -EINVAL; break;
		}
	}
	if (!err && !o->help && (optind < argc || !have_kernel)) {
		fprintf(stderr, "cellvm: %s\n",
			optind < argc ? "unexpected arguments" : "--kernel is required");
		err = -EINVAL;
	}
	if (!err && !o->help) {
		if (!have_cmdline)
			json_object_object_add(cfg, "cmdline", json_object_new_string("console=ttyS0"));
		json_object_object_add(cfg, "block_devices", json_object_get(disks));
		json_object_object_add(cfg, "net_devices", json_object_get(nets));
		const char *text = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN);
		if (!text || !(o->config = strdup(text)))
			err = -ENOMEM;
	}
	json_object_put(disks);
	json_object_put(nets);
	json_object_put(cfg);
	return err;
}
