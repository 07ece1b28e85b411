/* The parsers of cgroup v2 files (controller/cgroup_text.h): the texts a
 * 6.1 kernel writes, and what a malformed or cut file does. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cgroup_policy.h"
#include "cgroup_text.h"

static int parse(enum cgroup_stat_file f, const char *text, struct cgroup_stats *s)
{
	return cgroup_stats_parse(f, text, strlen(text), s);
}

Test(cgroup_text, controllers)
{
	static const struct {
		const char *text;
		int ret;
		unsigned mask;
	} rows[] = {
		{ "cpuset cpu io memory hugetlb pids rdma misc\n", 0,
		  CGROUP_CTL_CPU | CGROUP_CTL_MEMORY | CGROUP_CTL_PIDS },
		{ "hugetlb\n", 0, 0 },
		{ "", 0, 0 },
		{ "\n", 0, 0 },
		{ "memory", 0, CGROUP_CTL_MEMORY },
		{ "memoryx cpuset pid\n", 0, 0 },
		{ "memory\tpids\n", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		unsigned m = 0xdead;
		cr_expect_eq(cgroup_parse_controllers(rows[i].text, strlen(rows[i].text), &m),
			     rows[i].ret, "row %zu", i);
		if (rows[i].ret == 0)
			cr_expect_eq(m, rows[i].mask, "row %zu: %#x", i, m);
	}
}

Test(cgroup_text, single_values)
{
	uint64_t v = 7;
	cr_expect_eq(cgroup_parse_value("123\n", 4, &v), 0);
	cr_expect_eq(v, 123);
	cr_expect_eq(cgroup_parse_value("max\n", 4, &v), 0);
	cr_expect_eq(v, CGROUP_MAX);
	cr_expect_eq(cgroup_parse_value("18446744073709551615", 20, &v), 0);
	cr_expect_eq(v, UINT64_MAX);
	static const char *const bad[] = { "", "\n", "18446744073709551616", "-1", "1 2",
					   "12\n\n", "maxx", " 1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(cgroup_parse_value(bad[i], strlen(bad[i]), &v), -EINVAL, "%s", bad[i]);
	/* The length is what counts, not a NUL. */
	cr_expect_eq(cgroup_parse_value("42junk", 2, &v), 0);
	cr_expect_eq(v, 42);
}

Test(cgroup_text, keyed)
{
	static const char ev[] = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 1\n";
	uint64_t v = 0;
	cr_expect_eq(cgroup_parse_keyed(ev, strlen(ev), "oom_kill", &v), 0);
	cr_expect_eq(v, 2);
	cr_expect_eq(cgroup_parse_keyed(ev, strlen(ev), "oom", &v), 0, "not oom_kill's prefix");
	cr_expect_eq(v, 3);
	cr_expect_eq(cgroup_parse_keyed(ev, strlen(ev), "oom_group", &v), -ENOENT);
	cr_expect_eq(cgroup_parse_keyed("a 1", 3, "a", &v), 0, "no final newline");
	cr_expect_eq(v, 1);
	static const char *const bad[] = { "a\n", "a  1\n", " 1\n", "a 1\n\nb 2\n", "a x\n",
					   "a 1 2\n", "a 99999999999999999999\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(cgroup_parse_keyed(bad[i], strlen(bad[i]), "b", &v), -EINVAL, "%s",
			     bad[i]);
}

Test(cgroup_text, stats_as_a_kernel_writes_them)
{
	struct cgroup_stats s = { 0 };
	cr_assert_eq(parse(CGROUP_FILE_MEMORY_CURRENT, "1048576\n", &s), 0);
	cr_assert_eq(parse(CGROUP_FILE_MEMORY_STAT,
			   "anon 4096\nfile 8192\nkernel 12288\nkernel_stack 0\nshmem 2048\n"
			   "sock 0\nslab 100\n",
			   &s),
		     0);
	cr_assert_eq(parse(CGROUP_FILE_MEMORY_EVENTS,
			   "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n", &s),
		     0);
	cr_assert_eq(parse(CGROUP_FILE_CPU_STAT,
			   "usage_usec 300\nuser_usec 200\nsystem_usec 100\nnr_periods 0\n"
			   "nr_throttled 4\nthrottled_usec 50\n",
			   &s),
		     0);
	cr_assert_eq(parse(CGROUP_FILE_PIDS_CURRENT, "7\n", &s), 0);
	cr_expect_eq(s.have, CGROUP_FILE_MEMORY_CURRENT | CGROUP_FILE_MEMORY_STAT |
				     CGROUP_FILE_MEMORY_EVENTS | CGROUP_FILE_CPU_STAT |
				     CGROUP_FILE_PIDS_CURRENT);
	cr_expect_eq(s.memory_current, 1048576);
	cr_expect_eq(s.anon, 4096);
	cr_expect_eq(s.file, 8192);
	cr_expect_eq(s.kernel, 12288);
	cr_expect_eq(s.shmem, 2048);
	cr_expect_eq(s.oom, 1);
	cr_expect_eq(s.oom_kill, 1);
	cr_expect_eq(s.cpu_usage_usec, 300);
	cr_expect_eq(s.cpu_user_usec, 200);
	cr_expect_eq(s.cpu_system_usec, 100);
	cr_expect_eq(s.nr_throttled, 4);
	cr_expect_eq(s.throttled_usec, 50);
	cr_expect_eq(s.pids_current, 7);
}

Test(cgroup_text, what_a_kernel_may_lack_and_what_it_must_have)
{
	struct cgroup_stats s = { 0 };
	/* cpu.stat without the cpu controller; memory.stat before 5.18. */
	cr_expect_eq(parse(CGROUP_FILE_CPU_STAT, "usage_usec 9\nuser_usec 5\nsystem_usec 4\n", &s),
		     0);
	cr_expect_eq(s.nr_throttled, 0);
	cr_expect_eq(parse(CGROUP_FILE_MEMORY_STAT, "anon 1\nfile 2\nshmem 3\n", &s), 0);
	cr_expect_eq(s.kernel, 0);
	/* Missing a key every kernel has, or malformed: nothing is taken. */
	struct cgroup_stats before = s;
	cr_expect_eq(parse(CGROUP_FILE_CPU_STAT, "user_usec 5\nsystem_usec 4\n", &s), -EINVAL);
	cr_expect_eq(parse(CGROUP_FILE_MEMORY_STAT, "anon 10\nfile 20\n", &s), -EINVAL);
	cr_expect_eq(parse(CGROUP_FILE_MEMORY_EVENTS, "oom 1\noom_kill x\n", &s), -EINVAL);
	cr_expect_eq(parse(CGROUP_FILE_MEMORY_CURRENT, "", &s), -EINVAL);
	cr_expect_eq(cgroup_stats_parse((enum cgroup_stat_file)0x100, "1", 1, &s), -EINVAL);
	cr_expect_eq(memcmp(&s, &before, sizeof(s)), 0);
}
