/* The cgroup options and what they decide (controller/cgroup_policy.h):
 * each option's parser, a VM's limits and the files they become, and the
 * verdict on a --cgroup directory, as tables. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cgroup_policy.h"

#define MiB (1ull << 20)

static int opt(struct cgroup_policy *p, int c, const char *arg)
{
	char err[256];
	return cgroup_opt(p, c, arg, err, sizeof(err));
}

Test(cgroup_policy, options_take_what_they_say_and_refuse_the_rest)
{
	static const struct {
		int c;
		const char *arg;
		int want;
	} rows[] = {
		{ CGROUP_OPT_DIR, "/sys/fs/cgroup/x", 1 },
		{ CGROUP_OPT_DIR, "self", 1 },
		{ CGROUP_OPT_DIR, "relative", -EINVAL },
		{ CGROUP_OPT_DIR, "", -EINVAL },
		{ CGROUP_OPT_MEMORY_HEADROOM, "64M", 1 },
		{ CGROUP_OPT_MEMORY_HEADROOM, "-64M", 1 },
		{ CGROUP_OPT_MEMORY_HEADROOM, "none", 1 },
		{ CGROUP_OPT_MEMORY_HEADROOM, "0", 1 },
		{ CGROUP_OPT_MEMORY_HEADROOM, "--64M", -EINVAL },
		{ CGROUP_OPT_MEMORY_HEADROOM, "65G", -EINVAL },
		{ CGROUP_OPT_MEMORY_HEADROOM, "64MiB", -EINVAL },
		{ CGROUP_OPT_MEMORY_HEADROOM, "", -EINVAL },
		{ CGROUP_OPT_SWAP_MAX, "1G", 1 },
		{ CGROUP_OPT_SWAP_MAX, "-1G", -EINVAL },
		{ CGROUP_OPT_PIDS_MAX, "64", 1 },
		{ CGROUP_OPT_PIDS_MAX, "none", 1 },
		{ CGROUP_OPT_PIDS_MAX, "15", -EINVAL },
		{ CGROUP_OPT_PIDS_MAX, "4194305", -EINVAL },
		{ CGROUP_OPT_PIDS_MAX, "-1", -EINVAL },
		{ CGROUP_OPT_CPU_MAX, "50", 1 },
		{ CGROUP_OPT_CPU_MAX, "0", -EINVAL },
		{ CGROUP_OPT_CPU_MAX, "10001", -EINVAL },
		{ CGROUP_OPT_CPU_MAX, "50%", -EINVAL },
		{ 0x42, "x", 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cgroup_policy p;
		cgroup_policy_init(&p);
		cr_expect_eq(opt(&p, rows[i].c, rows[i].arg), rows[i].want, "row %zu (%s)", i,
			     rows[i].arg);
	}
}

Test(cgroup_policy, an_option_without_cgroup_is_an_error_not_ignored)
{
	struct cgroup_policy p;
	char err[256];
	cgroup_policy_init(&p);
	cr_expect_eq(cgroup_policy_check(&p, err, sizeof(err)), 0, "nothing asked");
	cr_assert_eq(opt(&p, CGROUP_OPT_PIDS_MAX, "64"), 1);
	cr_expect_eq(cgroup_policy_check(&p, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "--cgroup DIR"), "%s", err);
	cr_assert_eq(opt(&p, CGROUP_OPT_DIR, "self"), 1);
	cr_expect_eq(cgroup_policy_check(&p, err, sizeof(err)), 0);
}

static struct vm_config vm(uint32_t cpus, uint64_t mem)
{
	struct vm_config c = { .cpus = cpus, .memory = mem, .nblock = 2, .rng = true };
	c.block[0].backend = VM_BACKEND_CELLVM;
	c.block[1].backend = VM_BACKEND_VHOST_USER; /* another's process */
	return c;
}

Test(cgroup_policy, the_overhead_counts_the_worker_vcpus_own_devices_and_guest_ram)
{
	struct vm_config a = vm(1, 256 * MiB), b = vm(4, 1024 * MiB);
	/* worker 32M, 4M a vCPU, 16M a device of ours (blk0, rng0), RAM/64 */
	cr_expect_eq(cgroup_overhead(&a), (32 + 4 + 2 * 16 + 4) * MiB);
	cr_expect_eq(cgroup_overhead(&b), (32 + 16 + 2 * 16 + 16) * MiB);
}

Test(cgroup_policy, limits_from_the_options_and_the_config)
{
	struct vm_config c = vm(2, 256 * MiB);
	uint64_t over = cgroup_overhead(&c);
	static const struct {
		const char *headroom, *pids, *cpu, *swap;
		uint64_t mem; /* besides guest RAM + overhead; UINT64_MAX: none */
		int64_t sign;
		uint32_t pids_max;
		uint64_t quota;
	} rows[] = {
		{ NULL, NULL, NULL, NULL, 64 * MiB, 1, 512, 0 },
		{ "0", "64", "50", "1G", 0, 1, 64, 100000 },
		{ "-128M", NULL, "150", NULL, 128 * MiB, -1, 512, 300000 },
		{ "none", "none", NULL, NULL, UINT64_MAX, 1, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cgroup_policy p;
		struct cgroup_limits l;
		char err[256];
		cgroup_policy_init(&p);
		if (rows[i].headroom)
			cr_assert_eq(opt(&p, CGROUP_OPT_MEMORY_HEADROOM, rows[i].headroom), 1);
		if (rows[i].pids)
			cr_assert_eq(opt(&p, CGROUP_OPT_PIDS_MAX, rows[i].pids), 1);
		if (rows[i].cpu)
			cr_assert_eq(opt(&p, CGROUP_OPT_CPU_MAX, rows[i].cpu), 1);
		if (rows[i].swap)
			cr_assert_eq(opt(&p, CGROUP_OPT_SWAP_MAX, rows[i].swap), 1);
		cr_assert_eq(cgroup_limits_for(&p, &c, &l, err, sizeof(err)), 0, "row %zu: %s", i,
			     err);
		uint64_t want = rows[i].mem == UINT64_MAX ? 0
				: rows[i].sign > 0	  ? 256 * MiB + over + rows[i].mem
							  : 256 * MiB + over - rows[i].mem;
		cr_expect_eq(l.memory_max, want, "row %zu: memory.max %llu", i,
			     (unsigned long long)l.memory_max);
		cr_expect_eq(l.pids_max, rows[i].pids_max, "row %zu", i);
		cr_expect_eq(l.cpu_quota_us, rows[i].quota, "row %zu", i);
		cr_expect_eq(l.cpu_period_us, CGROUP_CPU_PERIOD_US);
		cr_expect_eq(l.swap_max, rows[i].swap ? 1024 * MiB : 0, "row %zu", i);
	}
}

Test(cgroup_policy, a_headroom_that_leaves_too_little_is_refused)
{
	struct vm_config c = vm(1, 16 * MiB);
	struct cgroup_policy p;
	struct cgroup_limits l;
	char err[256];
	cgroup_policy_init(&p);
	cr_assert_eq(opt(&p, CGROUP_OPT_MEMORY_HEADROOM, "-1G"), 1);
	cr_expect_eq(cgroup_limits_for(&p, &c, &l, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "--cgroup-memory-headroom"), "%s", err);
	/* The smallest memory.max that is still taken. */
	int64_t room = (int64_t)CGROUP_MEMORY_MIN - (int64_t)(16 * MiB + cgroup_overhead(&c));
	p.memory_headroom = room;
	cr_expect_eq(cgroup_limits_for(&p, &c, &l, err, sizeof(err)), 0);
	cr_expect_eq(l.memory_max, CGROUP_MEMORY_MIN);
	p.memory_headroom = room - 1;
	cr_expect_eq(cgroup_limits_for(&p, &c, &l, err, sizeof(err)), -EINVAL);
}

Test(cgroup_policy, the_files_written_for_the_limits)
{
	struct cgroup_file_text f[CGROUP_LIMIT_FILES];
	struct cgroup_limits all = { .memory_max = 300 * MiB, .swap_max = 0, .pids_max = 64,
				     .cpu_quota_us = 50000, .cpu_period_us = 100000 };
	size_t n = cgroup_limit_files(&all, f);
	cr_assert_eq(n, 5);
	static const char *const want[][2] = {
		{ "memory.oom.group", "1" }, { "memory.max", "314572800" },
		{ "memory.swap.max", "0" },  { "pids.max", "64" },
		{ "cpu.max", "50000 100000" },
	};
	for (size_t i = 0; i < n; i++) {
		cr_expect_str_eq(f[i].file, want[i][0]);
		cr_expect_str_eq(f[i].text, want[i][1]);
	}
	struct cgroup_limits none = { .cpu_period_us = 100000 };
	cr_expect_eq(cgroup_limit_files(&none, f), 0, "no limit, no file");
	struct cgroup_limits pids = { .pids_max = 16 };
	cr_assert_eq(cgroup_limit_files(&pids, f), 1);
	cr_expect_str_eq(f[0].file, "pids.max");
}

Test(cgroup_policy, the_controllers_each_limit_needs)
{
	struct cgroup_policy p;
	cgroup_policy_init(&p);
	cr_expect_eq(cgroup_policy_controllers(&p), CGROUP_CTL_MEMORY | CGROUP_CTL_PIDS);
	cr_assert_eq(opt(&p, CGROUP_OPT_CPU_MAX, "100"), 1);
	cr_expect_eq(cgroup_policy_controllers(&p),
		     CGROUP_CTL_MEMORY | CGROUP_CTL_PIDS | CGROUP_CTL_CPU);
	cr_assert_eq(opt(&p, CGROUP_OPT_MEMORY_HEADROOM, "none"), 1);
	cr_assert_eq(opt(&p, CGROUP_OPT_PIDS_MAX, "none"), 1);
	cr_expect_eq(cgroup_policy_controllers(&p), CGROUP_CTL_CPU);
	char buf[64];
	cr_expect_str_eq(cgroup_controller_names(CGROUP_CTL_MEMORY | CGROUP_CTL_CPU, true, buf,
						 sizeof(buf)),
			 "+memory +cpu");
	cr_expect_str_eq(cgroup_controller_names(CGROUP_CTL_MEMORY | CGROUP_CTL_PIDS, false, buf,
						 sizeof(buf)),
			 "memory, pids");
	cr_expect_str_eq(cgroup_controller_names(0, true, buf, sizeof(buf)), "");
}

Test(cgroup_policy, the_verdict_on_a_directory)
{
	const struct cgroup_dir_seen good = { .cgroup2 = true, .read_controllers = true,
					      .controllers = CGROUP_CTL_MEMORY | CGROUP_CTL_PIDS,
					      .dir_writable = true, .procs_writable = true,
					      .subtree_writable = true };
	static const struct {
		const char *what;
		int field; /* which of good's to clear */
		unsigned want;
		const char *word; /* NULL: accepted */
	} rows[] = {
		{ "good", -1, CGROUP_CTL_MEMORY | CGROUP_CTL_PIDS, NULL },
		{ "no controller wanted", -1, 0, NULL },
		{ "v1 or no cgroup", 0, 0, "not a cgroup v2" },
		{ "unreadable controllers", 1, 0, "cgroup.controllers" },
		{ "cpu missing", -1, CGROUP_CTL_MEMORY | CGROUP_CTL_CPU, "the cpu controller is" },
		{ "dir", 3, 0, "no cgroup can be made" },
		{ "procs", 4, 0, "cgroup.procs is not writable" },
		{ "subtree", 5, 0, "cgroup.subtree_control is not writable" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cgroup_dir_seen s = good;
		switch (rows[i].field) {
		case 0: s.cgroup2 = false; break;
		case 1: s.read_controllers = false; break;
		case 3: s.dir_writable = false; break;
		case 4: s.procs_writable = false; break;
		case 5: s.subtree_writable = false; break;
		}
		char err[512] = "";
		int r = cgroup_dir_verdict(&s, rows[i].want, err, sizeof(err));
		if (!rows[i].word) {
			cr_expect_eq(r, 0, "%s: %s", rows[i].what, err);
			continue;
		}
		cr_expect_eq(r, -EINVAL, "%s", rows[i].what);
		cr_expect(strstr(err, rows[i].word), "%s: %s", rows[i].what, err);
	}
	struct cgroup_dir_seen none = good;
	none.controllers = 0;
	char err[512];
	cr_expect_eq(cgroup_dir_verdict(&none, CGROUP_CTL_MEMORY | CGROUP_CTL_PIDS, err,
					sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "the memory, pids controllers are"), "%s", err);
}
