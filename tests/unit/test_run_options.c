/* `cellvm run`'s options (client/run_options.h): each makes the config keys
 * docs/config.md names, checked by the config parser itself; what the
 * private cellvmd is allowed follows --vsock; a bad value is refused. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "run_options.h"

#define KERNEL "/var/lib/cellvm/bzImage"

/* Parses `run --kernel KERNEL` + args (NULL-terminated). */
static int parse(struct run_options *o, const char *const *args)
{
	char *argv[32] = { "run", "--kernel", KERNEL };
	int argc = 3;
	for (size_t i = 0; args[i]; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	return run_options_parse(argc, argv, o);
}

/* The options' config, as the controller reads it. */
static struct vm_config config_of(const char *const *args, struct run_options *o)
{
	cr_assert_eq(parse(o, args), 0);
	struct vm_config cfg;
	char err[256];
	cr_assert_eq(vm_config_parse(o->config, strlen(o->config), &cfg, err, sizeof(err)), 0,
		     "%s: %s", o->config, err);
	return cfg;
}

Test(run_options, vsock_makes_firecrackers_keys_and_allows_its_directory)
{
	struct run_options o;
	const char *const args[] = { "--vsock", "cid=7,uds=/run/vm1/v.sock", NULL };
	struct vm_config cfg = config_of(args, &o);
	cr_assert(cfg.vsock);
	cr_assert_eq(cfg.vsock_dev.guest_cid, 7);
	cr_assert_str_eq(cfg.vsock_dev.uds_path, "/run/vm1/v.sock");
	cr_assert_str_eq(o.socket_dir, "/run/vm1");
	free(o.config);
}

Test(run_options, no_vsock_allows_no_socket_directory)
{
	struct run_options o;
	const char *const args[] = { "--rng", NULL };
	struct vm_config cfg = config_of(args, &o);
	cr_assert(!cfg.vsock);
	cr_assert(!cfg.balloon.present);
	cr_assert_str_eq(o.socket_dir, "");
	free(o.config);
}

Test(run_options, balloon_with_every_flag)
{
	struct run_options o;
	const char *const args[] = { "--memory", "512M", "--balloon",
				     "150,deflate_on_oom,stats=2,free_page_reporting", NULL };
	struct vm_config cfg = config_of(args, &o);
	cr_assert(cfg.balloon.present);
	cr_assert_eq(cfg.balloon.amount_mib, 150);
	cr_assert(cfg.balloon.deflate_on_oom);
	cr_assert_eq(cfg.balloon.stats_polling_interval_s, 2);
	cr_assert(cfg.balloon.free_page_reporting);
	free(o.config);
}

Test(run_options, balloon_alone_takes_the_defaults)
{
	struct run_options o;
	const char *const args[] = { "--balloon", "0", NULL };
	struct vm_config cfg = config_of(args, &o);
	cr_assert(cfg.balloon.present);
	cr_assert_eq(cfg.balloon.amount_mib, 0);
	cr_assert(!cfg.balloon.deflate_on_oom);
	cr_assert_eq(cfg.balloon.stats_polling_interval_s, 0);
	cr_assert(!cfg.balloon.free_page_reporting);
	free(o.config);
}

Test(run_options, the_other_options_still_make_their_keys)
{
	struct run_options o;
	const char *const args[] = { "--cpus", "2", "--disk", "/d.img,ro", "--console",
				     "--sandbox=log", "--kvm-check", "api", NULL };
	struct vm_config cfg = config_of(args, &o);
	cr_assert_eq(cfg.cpus, 2);
	cr_assert_eq(cfg.nblock, 1);
	cr_assert(cfg.block[0].read_only);
	cr_assert(cfg.console);
	cr_assert_str_eq(cfg.cmdline, "console=ttyS0");
	cr_assert_str_eq(o.sandbox, "log");
	cr_assert_str_eq(o.kvm_check, "api");
	free(o.config);
}

Test(run_options, net_takes_tap_then_queues_and_mac_either_way)
{
	struct run_options o;
	const char *const args[] = { "--net", "tap=tap0", "--net", "tap=tap1,queues=4,mac=52:54:00:00:00:02",
				     NULL };
	struct vm_config cfg = config_of(args, &o);
	cr_assert_eq(cfg.nnet, 2);
	cr_assert_str_eq(cfg.net[0].tap, "tap0");
	cr_assert_eq(cfg.net[0].num_queues, 2);
	cr_assert_str_eq(cfg.net[1].tap, "tap1");
	cr_assert_eq(cfg.net[1].num_queues, 4);
	cr_assert_eq(cfg.net[1].mac[5], 2);
	free(o.config);
}

Test(run_options, bad_net_values_are_refused, .init = cr_redirect_stderr)
{
	static const char *const bad[] = {
		"tap0", "tap=", "tap=t,", "queues=4,tap=t", "tap=t,,mac=52:54:00:00:00:01", "tap=t,queues=3",
		"tap=t,queues=18", "tap=t,queues=0", "tap=t,queues=", "tap=t,tap=u", "tap=t,colour=red",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run_options o;
		const char *const args[] = { "--net", bad[i], NULL };
		cr_assert_eq(parse(&o, args), -EINVAL, "--net %s", bad[i]);
		cr_assert_null(o.config);
	}
}

Test(run_options, bad_vsock_and_balloon_values_are_refused, .init = cr_redirect_stderr)
{
	static const char *const bad[][2] = {
		{ "--vsock", "cid=3" },
		{ "--vsock", "uds=/run/v.sock" },
		{ "--vsock", "uds=/run/v.sock,cid=3" },
		{ "--vsock", "cid=2,uds=/run/v.sock" },          /* the host's CID */
		{ "--vsock", "cid=4294967295,uds=/run/v.sock" }, /* VMADDR_CID_ANY */
		{ "--vsock", "cid=,uds=/run/v.sock" },
		{ "--vsock", "cid=3,uds=v.sock" },                /* relative */
		{ "--vsock", "cid=3,socket=/run/v.sock" },
		{ "--balloon", "" },
		{ "--balloon", "-1" },
		{ "--balloon", "1M" },
		{ "--balloon", "4294967296" },
		{ "--balloon", "10,stats=86401" },
		{ "--balloon", "10,stats=" },
		{ "--balloon", "10,deflate" },
		{ "--balloon", ",deflate_on_oom" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run_options o;
		const char *const args[] = { bad[i][0], bad[i][1], NULL };
		cr_assert_eq(parse(&o, args), -EINVAL, "%s %s", bad[i][0], bad[i][1]);
		cr_assert_null(o.config);
	}
}

Test(run_options, vsock_or_balloon_twice_is_refused, .init = cr_redirect_stderr)
{
	struct run_options o;
	const char *const vs[] = { "--vsock", "cid=3,uds=/run/a", "--vsock", "cid=4,uds=/run/b",
				   NULL };
	cr_assert_eq(parse(&o, vs), -EINVAL);
	const char *const bl[] = { "--balloon", "1", "--balloon", "2", NULL };
	cr_assert_eq(parse(&o, bl), -EINVAL);
}

Test(run_options, help_sets_nothing_else)
{
	struct run_options o;
	char *argv[] = { "run", "--help", NULL };
	cr_assert_eq(run_options_parse(2, argv, &o), 0);
	cr_assert(o.help);
	cr_assert_null(o.config);
}
