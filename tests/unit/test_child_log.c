/* A child's stderr as the controller reads it: lines pass through whole,
 * marked with the child's name and cleaned; the seccomp report and the last
 * error are kept, cleaned. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "child_log.h"
#include "testutil.h"

static struct child_log l;

/* Feeds text in pieces of `step` bytes; returns what was passed on. */
static const char *feed(const char *text, size_t step)
{
	static char out[8192];
	int p[2];
	cr_assert_eq(pipe(p), 0);
	for (size_t i = 0; i < strlen(text); i += step) {
		size_t n = strlen(text) - i < step ? strlen(text) - i : step;
		child_log_feed(&l, "rng0", text + i, n, p[1]);
	}
	close(p[1]);
	ssize_t n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

Test(child_log, lines_pass_through_marked_in_any_pieces)
{
	const char *text = "cellvm-rng[7]: info: main: hello\ncellvm-rng[7]: warn: x: y\n";
	for (size_t step = 1; step < 20; step++) {
		child_log_init(&l, -1);
		cr_expect_str_eq(feed(text, step),
				 "[rng0] cellvm-rng[7]: info: main: hello\n"
				 "[rng0] cellvm-rng[7]: warn: x: y\n",
				 "step %zu", step);
	}
}

/* What a hostile device writes cannot pass for cellvmd's own line, nor
 * drive the operator's terminal. */
Test(child_log, a_forged_line_and_escapes_come_out_marked_and_defanged)
{
	child_log_init(&l, -1);
	const char *out = feed("cellvmd[1]: error: main: the VM is fine\n"
			       "\x1b[2J\x1b]0;owned\x07\rcellvmd[1]: info: x\x7f\x01\t\n"
			       "csi \xc2\x9b" "31m, but \xc3\xa9t\xc3\xa9 stays\n",
			       5);
	cr_expect_str_eq(out, "[rng0] cellvmd[1]: error: main: the VM is fine\n"
			      "[rng0] ?[2J?]0;owned??cellvmd[1]: info: x???\n"
			      "[rng0] csi ?31m, but \xc3\xa9t\xc3\xa9 stays\n");
	for (const char *p = out; *p; p++)
		cr_expect(*p == '\n' || ((unsigned char)*p >= 0x20 && *p != 0x7f),
			  "byte 0x%02x at %zu", (unsigned char)*p, (size_t)(p - out));
}

Test(child_log, keeps_the_seccomp_report_and_the_last_error)
{
	child_log_init(&l, -1);
	feed("cellvm-blk[1]: error: blk_open: first failure\n"
	     "cellvm-blk[1]: error: serve_run: disk gone: Input/output error\n"
	     "cellvm-blk[1]: seccomp: syscall socket (41) is not allowed by blk.policy: killed\n",
	     7);
	cr_expect_str_eq(l.error, "disk gone: Input/output error");
	cr_expect_str_eq(l.seccomp, "syscall socket (41) is not allowed by blk.policy: killed");
}

Test(child_log, kept_lines_are_cleaned_and_bounded)
{
	child_log_init(&l, -1);
	char line[600];
	snprintf(line, sizeof(line), "x[1]: error: f: bad\x1b[2J\x07%0400d\n", 0);
	feed(line, 64);
	cr_expect_eq(strlen(l.error), CHILD_LOG_KEPT_MAX - 1);
	cr_expect(strncmp(l.error, "bad?[2J?000", 11) == 0, "got %s", l.error);
}

Test(child_log, an_endless_line_goes_out_in_pieces)
{
	child_log_init(&l, -1);
	static char big[3 * CHILD_LOG_LINE_MAX + 1];
	memset(big, 'a', sizeof(big) - 1);
	const char *out = feed(big, 1000);
	cr_expect_eq(strlen(out), 3 * (strlen("[rng0] ") + CHILD_LOG_LINE_MAX + 1),
		     "three full pieces, each marked and ended");
	cr_expect_eq(l.plen, 0);
}

Test(child_log, read_passes_on_the_last_unfinished_line_at_eof)
{
	int p[2], o[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(o), 0);
	child_log_init(&l, p[0]);
	cr_assert_eq(write(p[1], "a\nb[1]: seccomp: syscall kill (62) x", 36), 36);
	close(p[1]);
	cr_expect_eq(child_log_read(&l, "rng0", o[1], 8), 1, "EOF");
	close(o[1]);
	char out[64] = { 0 };
	cr_expect_gt(read(o[0], out, sizeof(out) - 1), 0);
	cr_expect_str_eq(out, "[rng0] a\n[rng0] b[1]: seccomp: syscall kill (62) x\n");
	cr_expect_str_eq(l.seccomp, "syscall kill (62) x");
	int before = tu_count_fds();
	child_log_close(&l);
	cr_expect_eq(tu_count_fds(), before - 1);
	close(o[0]);
}
