/* The seccomp policy language's errors, every message with its file and
 * line, and @include (nesting, loops, depth, names), then the real file
 * reader: test_seccomp_policy.c has the rules and what filters do. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy_files.h"
#include "seccomp_policy.h"
#include "testutil.h"

/* ================================================================ errors */

Test(seccomp_policy, unknown_names)
{
	expect_err_in(FILES({ "blk.policy", "# blk\n\n\n\n\n\n\n\n\n\nread: 1\nopn: 1\n", 0 }),
		      "blk.policy", -EINVAL, "blk.policy:12: unknown syscall \"opn\"");
	expect_err("socketcall: 1", "t.policy:1: \"socketcall\" is not a syscall on this "
				    "architecture");
	expect_err("a_syscall_name_longer_than_any_real_one_at_all: 1",
		   "t.policy:1: unknown syscall "
		   "\"a_syscall_name_longer_than_any_real_one_at_all\"");
	expect_err_in(FILES({ "rng.policy", "read: 1\n\nmmap: arg2 in ~PROT_EXECC\n", 0 }),
		      "rng.policy", -EINVAL, "rng.policy:3: unknown constant \"PROT_EXECC\"");
	expect_err("openat: return EFOO", "t.policy:1: unknown errno \"EFOO\"");
	expect_err("openat: return PROT_READ", "t.policy:1: unknown errno \"PROT_READ\"");
	expect_no_leak();
}

Test(seccomp_policy, syntax_errors)
{
	expect_err(": 1", "t.policy:1: expected a syscall name or @include, got \":\"");
	expect_err("read 1", "t.policy:1: expected ':' after read, got \"1\"");
	expect_err("read", "t.policy:1: expected ':' after read, got the end of the line");
	expect_err("read:", "t.policy:1: expected a condition on arg0..arg5, 1 or return ERRNO, "
			    "got the end of the line");
	expect_err("read: 0", "t.policy:1: expected a condition on arg0..arg5, 1 or return "
			      "ERRNO, got \"0\"");
	expect_err("read: fd == 1", "t.policy:1: expected a condition on arg0..arg5, 1 or "
				    "return ERRNO, got \"fd\"");
	expect_err("read: 1 1", "t.policy:1: expected the end of the line after 1, got \"1\"");
	expect_err("read: arg6 == 1", "t.policy:1: arg6: a syscall's arguments are arg0 to arg5");
	expect_err("read: arg0 = 1", "t.policy:1: expected ==, !=, <, <=, >, >= or in after "
				     "arg0, got \"=\"");
	expect_err("read: arg0 ~ 1", "t.policy:1: expected ==, !=, <, <=, >, >= or in after "
				     "arg0, got \"~\"");
	expect_err("read: arg0 ==", "t.policy:1: expected a number or a constant, got the end "
				    "of the line");
	expect_err("read: arg0 == O_RDWR|", "t.policy:1: expected a number or a constant, got "
					    "the end of the line");
	expect_err("read: arg0 == ~1", "t.policy:1: expected a number or a constant, got \"~\"");
	expect_err("read: arg0 in ~~1", "t.policy:1: expected a number or a constant, got \"~\"");
	expect_err("read: arg0 == 1 arg1 == 2", "t.policy:1: expected &&, || or the end of the "
						"line, got \"arg1\"");
	expect_err("read: arg0 == 1 &", "t.policy:1: expected &&, || or the end of the line, "
					"got \"&\"");
	expect_err("read: arg0 == 1 ||", "t.policy:1: expected a condition on arg0..arg5, 1 or "
					 "return ERRNO, got the end of the line");
	expect_err("openat: return", "t.policy:1: expected an errno name or number (1 to 4095) "
				     "after return, got the end of the line");
	expect_err("openat: return ENOENT 1", "t.policy:1: expected the end of the line after "
					      "the errno, got \"1\"");
	expect_err("@includes a.policy", "t.policy:1: unknown directive \"@includes\"");
	expect_err("read: 1 @include a", "t.policy:1: expected the end of the line after 1, got "
					 "\"@\"");
	expect_err("@include", "t.policy:1: @include needs a file name");
	expect_err("@include   # none", "t.policy:1: @include needs a file name");
	expect_err("@include a.policy b.policy", "t.policy:1: unexpected \"b.policy\" after the "
						 "file name");
	expect_no_leak();
}

Test(seccomp_policy, numbers)
{
	struct sp_policy *p = parse_ok("read: arg0 == 18446744073709551615 || "
				       "arg0 == 0xffffffffffffffff || arg0 == 0 || arg0 == 0x0\n"
				       "openat: return 4095\n");
	sp_free(p);
	expect_err("read: arg0 == 18446744073709551616", "t.policy:1: bad number "
		   "\"18446744073709551616\" (decimal or 0x hex, at most 64 bits)");
	expect_err("read: arg0 == 0x10000000000000000", "t.policy:1: bad number "
		   "\"0x10000000000000000\" (decimal or 0x hex, at most 64 bits)");
	expect_err("read: arg0 == 010", "t.policy:1: bad number \"010\" (decimal or 0x hex, at "
					"most 64 bits)");
	expect_err("read: arg0 == 0x", "t.policy:1: bad number \"0x\" (decimal or 0x hex, at "
				       "most 64 bits)");
	expect_err("read: arg0 == 12ab", "t.policy:1: bad number \"12ab\" (decimal or 0x hex, at "
					 "most 64 bits)");
	expect_err("read: arg0 == 0x1g", "t.policy:1: bad number \"0x1g\" (decimal or 0x hex, at "
					 "most 64 bits)");
	expect_err("openat: return 0", "t.policy:1: expected an errno name or number (1 to "
				       "4095) after return, got \"0\"");
	expect_err("openat: return 4096", "t.policy:1: expected an errno name or number (1 to "
					  "4095) after return, got \"4096\"");
	expect_no_leak();
}

Test(seccomp_policy, bytes_outside_the_language)
{
	expect_err("read: 1\r\n", "t.policy:1: expected the end of the line after 1, got byte "
				  "0x0d");
	expect_err("read: arg0 == \xc3\xa9", "t.policy:1: expected a number or a constant, got "
					     "byte 0xc3");
	expect_err_in(FILES({ "t.policy", "read: 1\nwr\0ite: 1\n", 18 }), "t.policy", -EINVAL,
		      "t.policy:2: NUL byte");
	expect_err_in(FILES({ "t.policy", "read: 1 # \0 in a comment\n", 25 }), "t.policy",
		      -EINVAL, "t.policy:1: NUL byte");
	/* a quoted token is cut and shown printable */
	expect_err("read: 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		   "t.policy:1: expected the end of the line after 1, got "
		   "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
	expect_no_leak();
}

Test(seccomp_policy, argument_used_twice)
{
	expect_err("ioctl: arg0 == 3 && arg1 == 1 && arg1 == 2",
		   "t.policy:1: arg1 used twice in one && chain");
	expect_err("ioctl: arg1 == 1 || arg2 > 1 && arg2 < 5",
		   "t.policy:1: arg2 used twice in one && chain");
	expect_err("ioctl: arg1 in 3 && arg1 in ~4", "t.policy:1: arg1 used twice in one && chain");
	expect_no_leak();
}

Test(seccomp_policy, return_mixed_with_allow)
{
	expect_err("openat: return ENOENT\nopenat: 1",
		   "t.policy:2: openat: allowed here, but made to fail with return at t.policy:1: "
		   "a syscall is either allowed or made to fail");
	expect_err("openat: arg2 == 0\nopenat: return ENOENT",
		   "t.policy:2: openat: return here, but allowed at t.policy:1: a syscall is "
		   "either allowed or made to fail");
	expect_err_in(FILES({ "t.policy", "# t\n@include c.policy\nopenat: arg2 == 0\n", 0 },
			    { "c.policy", "openat: return EACCES\n", 0 }),
		      "t.policy", -EINVAL,
		      "t.policy:3: openat: allowed here, but made to fail with return at "
		      "c.policy:1: a syscall is either allowed or made to fail");
	expect_err("openat: return ENOENT\nopenat: return EACCES",
		   "t.policy:2: openat: return EACCES here, but return ENOENT at t.policy:1");
	expect_err("openat: return ENOENT\nopenat: return 4000",
		   "t.policy:2: openat: return 4000 here, but return ENOENT at t.policy:1");
	expect_no_leak();
}

Test(seccomp_policy, limits)
{
	/* a line of exactly SP_LINE_MAX bytes, then one byte more */
	static char text[SP_FILE_MAX + 2];
	memset(text, '#', SP_LINE_MAX);
	memcpy(text + SP_LINE_MAX, "\nread: 1\n", 9);
	struct sp_policy *p = parse_ok_in(FILES({ "t.policy", text, SP_LINE_MAX + 9 }),
					  "t.policy");
	sp_free(p);
	memcpy(text, "read: 1\n", 8);
	memset(text + 8, '#', SP_LINE_MAX + 1);
	expect_err_in(FILES({ "t.policy", text, SP_LINE_MAX + 1 + 8 }), "t.policy", -EINVAL,
		      "t.policy:2: line longer than 1024 bytes");
	/* a file of exactly SP_FILE_MAX bytes (lines of comments), then one more */
	memset(text, '#', sizeof(text));
	for (size_t i = 1000; i < SP_FILE_MAX; i += 1000)
		text[i] = '\n';
	p = parse_ok_in(FILES({ "t.policy", text, SP_FILE_MAX }), "t.policy");
	sp_free(p);
	expect_err_in(FILES({ "t.policy", text, SP_FILE_MAX + 1 }), "t.policy", -EINVAL,
		      "t.policy: larger than 256 KiB");
	expect_no_leak();
}

Test(seccomp_policy, alternatives_limit)
{
	static char text[64 * 2300];
	size_t n = 0;
	/* the same alternative again adds nothing */
	for (int i = 0; i < 2000; i++)
		n += (size_t)sprintf(text + n, "getppid: arg0 == 1\n");
	/* SP_ALTERNATIVES_MAX distinct ones fit */
	for (int i = 1; i < SP_ALTERNATIVES_MAX; i++)
		n += (size_t)sprintf(text + n, "getppid: arg0 == %d\n", i + 1);
	struct sp_policy *p = parse_ok_in(FILES({ "t.policy", text, n }), "t.policy");
	sp_free(p);
	size_t full = n;
	n += (size_t)sprintf(text + n, "gettid: arg0 == 1 || arg0 == 2\n");
	expect_err_in(FILES({ "t.policy", text, n }), "t.policy", -EINVAL,
		      "t.policy:2256: more than 256 alternatives with argument checks in the "
		      "policy");
	/* `getppid: 1` drops its checks, and their count */
	n = full;
	n += (size_t)sprintf(text + n, "getppid: 1\ngettid: arg0 == 1 || arg0 == 2\n");
	p = parse_ok_in(FILES({ "t.policy", text, n }), "t.policy");
	sp_free(p);
	expect_no_leak();
}

/* libseccomp 2.5 gets !=, <, <=, >, >= wrong across a syscall's alternatives
 * (`arg1 < 0 && arg0 >= 2 || arg1 in ~1 || arg1 in 1 && arg0 > 3` let
 * getppid(2, 1) through) and loops forever on some: one alternative only. */
Test(seccomp_policy, ordered_comparisons_in_one_alternative_only)
{
	static const char *const ops[] = { "!=", "<", "<=", ">", ">=" };
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "getppid: arg0 == 7\n# x\ngetppid: arg1 %s 5\n",
			 ops[i]);
		expect_err(text, "t.policy:3: getppid: more than one alternative, and one "
				 "uses !=, <, <=, > or >= (first rule at t.policy:1): libseccomp "
				 "2.5 combines those across alternatives wrongly; use == and in, "
				 "or one alternative");
	}
	expect_err("getppid: arg0 < 5 || arg0 == 7",
		   "t.policy:1: getppid: more than one alternative, and one uses !=, <, <=, > or "
		   ">= (first rule at t.policy:1): libseccomp 2.5 combines those across "
		   "alternatives wrongly; use == and in, or one alternative");
	expect_err_in(FILES({ "t.policy", "@include c.policy\ngetppid: arg2 in 1\n", 0 },
			    { "c.policy", "getppid: arg0 >= 5 && arg1 == 1\n", 0 }),
		      "t.policy", -EINVAL,
		      "t.policy:2: getppid: more than one alternative, and one uses !=, <, <=, > "
		      "or >= (first rule at c.policy:1): libseccomp 2.5 combines those across "
		      "alternatives wrongly; use == and in, or one alternative");
	/* the same alternative twice is one; `: 1` makes the checks moot */
	struct sp_policy *p = parse_ok("getppid: arg0 < 5 && arg1 != 2\n"
				       "getppid: arg1 != 2 && arg0 < 5\n"
				       "gettid: 1\ngettid: arg0 < 5 || arg0 == 7\n");
	sp_free(p);
	expect_no_leak();
}

Test(seccomp_policy, err_may_be_null)
{
	struct mem_fs fs = { FILES({ "t.policy", "opn: 1", 0 }), 0 };
	struct sp_policy *p = NULL;
	cr_expect_eq(sp_parse("t.policy", mem_read, &fs, &p, NULL, 0), -EINVAL);
	cr_expect_null(p);
	/* and a short buffer gets a cut message, still NUL-terminated */
	char small[12];
	cr_expect_eq(sp_parse("t.policy", mem_read, &fs, &p, small, sizeof(small)), -EINVAL);
	cr_expect_str_eq(small, "t.policy:1:");
	expect_no_leak();
}

/* ============================================================== includes */

Test(seccomp_policy, nested_includes)
{
	unsigned reads;
	struct sp_policy *p = NULL;
	int r = parse_in(FILES({ "top.policy", "@include a.policy\nread: 1\n"
					       "  @include b.policy   # again: read once\n", 0 },
			       { "a.policy", "@include b.policy\nwrite: 1\n", 0 },
			       { "b.policy", "getpid: 1\n@include c.policy\n", 0 },
			       { "c.policy", "@include b.policy-not-this\n", 0 },
			       { "b.policy-not-this", "gettid: 1\n", 0 }),
			 "top.policy", &p, &reads);
	cr_assert_eq(r, 0, "%s", err);
	expect_names(p, (const char *const[]){ "read", "write", "getpid", "gettid" }, 4);
	cr_expect_eq(reads, 5, "each file read once");
	sp_free(p);
	expect_no_leak();
}

Test(seccomp_policy, include_loops)
{
	expect_err_in(FILES({ "rng.policy", "@include common.policy\n", 0 },
			    { "common.policy", "@include rng.policy\n", 0 }),
		      "rng.policy", -EINVAL, "common.policy:1: @include loops back to rng.policy");
	expect_err_in(FILES({ "a.policy", "read: 1\n@include a.policy\n", 0 }), "a.policy", -EINVAL,
		      "a.policy:2: @include loops back to a.policy");
	expect_err_in(FILES({ "a.policy", "@include b.policy\n", 0 },
			    { "b.policy", "@include c.policy\n", 0 },
			    { "c.policy", "\n@include b.policy\n", 0 }),
		      "a.policy", -EINVAL, "c.policy:2: @include loops back to b.policy");
	expect_no_leak();
}

Test(seccomp_policy, include_depth)
{
	/* f0 includes f1 ... includes fN: f8 is 8 levels below the top */
	struct mem_file files[10];
	char names[10][16], texts[10][32];
	for (int i = 0; i < 10; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d.policy", i);
		if (i < 9)
			snprintf(texts[i], sizeof(texts[i]), "@include f%d.policy\n", i + 1);
		else
			snprintf(texts[i], sizeof(texts[i]), "read: 1\n");
		files[i] = (struct mem_file){ names[i], texts[i], 0 };
	}
	snprintf(texts[8], sizeof(texts[8]), "read: 1\n");
	struct sp_policy *p = parse_ok_in(files, 10, "f0.policy");
	sp_free(p);
	snprintf(texts[8], sizeof(texts[8]), "@include f9.policy\n");
	expect_err_in(files, 10, "f0.policy", -EINVAL,
		      "f8.policy:1: @include f9.policy: nested more than 8 deep");
	expect_no_leak();
}

Test(seccomp_policy, missing_files)
{
	expect_err_in(FILES({ "a.policy", "read: 1\n@include nope.policy\n", 0 }), "a.policy",
		      -ENOENT, "a.policy:2: @include nope.policy: No such file or directory");
	expect_err_in(FILES({ "a.policy", "read: 1\n", 0 }), "nope.policy", -ENOENT,
		      "nope.policy: No such file or directory");
	expect_no_leak();
}

Test(seccomp_policy, include_names)
{
	unsigned reads;
	struct sp_policy *p = NULL;
	static const char *const bad[] = { "../etc/passwd", "/etc/passwd", "x/y", ".hidden",
					   "..", "a\\b", "a:b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128], want[256];
		snprintf(text, sizeof(text), "@include %s\n", bad[i]);
		cr_expect_eq(parse_in(FILES({ "t.policy", text, 0 }), "t.policy", &p, &reads),
			     -EINVAL);
		snprintf(want, sizeof(want),
			 "t.policy:1: @include \"%s\": a policy is named by a file name in the "
			 "same directory ([A-Za-z0-9._-], at most 64 bytes, no leading '.')",
			 bad[i]);
		cr_expect_str_eq(err, want);
		cr_expect_eq(reads, 1, "%s never asked for", bad[i]);
	}
	char text[128];
	snprintf(text, sizeof(text), "@include %065d\n", 0);
	expect_err(text, "t.policy:1: @include \"000000000000000000000000000000000000000000000000"
			 "...\": a policy is named by a file name in the same directory "
			 "([A-Za-z0-9._-], at most 64 bytes, no leading '.')");
	expect_err_in(FILES({ "t.policy", "read: 1\n", 0 }), "../t.policy", -EINVAL,
		      "../t.policy: a policy is named by a file name ([A-Za-z0-9._-], at most 64 "
		      "bytes, no leading '.')");
	expect_no_leak();
}

/* ================================================= the real file reader */

static char dir[64];

static void write_file(const char *name, const char *text, size_t len)
{
	len = len ? len : strlen(text);
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void remove_dir(void)
{
	static const char *const names[] = { "top.policy", "common.policy", "max.policy",
					     "big.policy", "bad.policy", "fifo.policy" };
	int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(d, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cr_expect_eq(unlinkat(d, names[i], 0), 0, "%s", names[i]);
	cr_expect_eq(unlinkat(d, "sub.policy", AT_REMOVEDIR), 0);
	close(d);
	cr_expect_eq(rmdir(dir), 0);
}

Test(seccomp_policy, read_file)
{
	snprintf(dir, sizeof(dir), "/tmp/test_seccomp_policy.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	write_file("top.policy", "@include common.policy\nread: 1\n", 0);
	write_file("common.policy", "write: 1\n", 0);
	static char big[SP_FILE_MAX + 1];
	memset(big, '\n', sizeof(big));
	write_file("max.policy", big, SP_FILE_MAX);
	write_file("big.policy", big, SP_FILE_MAX + 1);
	write_file("bad.policy", "@include missing.policy\n", 0);
	char path[128];
	snprintf(path, sizeof(path), "%s/sub.policy", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/fifo.policy", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	int before = tu_count_fds();

	struct sp_policy *p = NULL;
	cr_assert_eq(sp_parse("top.policy", sp_read_file, dir, &p, err, sizeof(err)), 0, "%s",
		     err);
	expect_names(p, (const char *const[]){ "read", "write" }, 2);
	sp_free(p);
	cr_assert_eq(sp_parse("max.policy", sp_read_file, dir, &p, err, sizeof(err)), 0, "%s",
		     err);
	cr_expect_eq(sp_syscall_count(p), 0);
	sp_free(p);

	static const struct {
		const char *name;
		int code;
		const char *msg;
	} bad[] = {
		{ "big.policy", -EFBIG, "big.policy: File too large" },
		{ "missing.policy", -ENOENT, "missing.policy: No such file or directory" },
		{ "bad.policy", -ENOENT,
		  "bad.policy:1: @include missing.policy: No such file or directory" },
		{ "sub.policy", -EISDIR, "sub.policy: Is a directory" },
		{ "fifo.policy", -EINVAL, "fifo.policy: Invalid argument" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = NULL;
		cr_expect_eq(sp_parse(bad[i].name, sp_read_file, dir, &p, err, sizeof(err)),
			     bad[i].code, "%s", bad[i].name);
		cr_expect_str_eq(err, bad[i].msg);
		cr_expect_null(p);
	}
	/* the reader's own check, for callers other than sp_parse */
	char *text;
	size_t len;
	cr_expect_eq(sp_read_file(dir, "../top.policy", &text, &len), -EINVAL);
	char longname[5000];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_expect_eq(sp_read_file(dir, longname, &text, &len), -ENAMETOOLONG);
	cr_expect_eq(tu_count_fds(), before);
	remove_dir();
	expect_no_leak();
}
