#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"

/* Runs fn with stderr redirected into a pipe and returns what it wrote. */
static void capture(void (*fn)(void), char *out, size_t cap)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	int saved = dup(STDERR_FILENO);
	cr_assert_geq(saved, 0);
	cr_assert_geq(dup2(p[1], STDERR_FILENO), 0);
	close(p[1]);
	fn();
	cr_assert_geq(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	ssize_t n = read(p[0], out, cap - 1);
	close(p[0]);
	out[n < 0 ? 0 : n] = '\0';
}

static void emit_info_and_debug(void)
{
	log_init("cellvm-test", LOG_LVL_INFO);
	log_info("hello %d", 42);
	log_debug("hidden");
}

Test(log, line_has_name_pid_level_function)
{
	char buf[512], want[256];
	capture(emit_info_and_debug, buf, sizeof(buf));
	snprintf(want, sizeof(want), "cellvm-test[%d]: info: emit_info_and_debug: hello 42\n",
		 (int)getpid());
	cr_assert_str_eq(buf, want, "debug lines below the level are dropped");
}

static void emit_long(void)
{
	char big[4000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("t", LOG_LVL_DEBUG);
	log_err("%s", big);
}

Test(log, long_line_is_truncated_but_terminated)
{
	char buf[8192];
	capture(emit_long, buf, sizeof(buf));
	size_t n = strlen(buf);
	cr_assert_lt(n, 1100);
	cr_assert_eq(buf[n - 1], '\n');
	cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "exactly one line");
}

static void emit_flood(void)
{
	log_init("t", LOG_LVL_DEBUG);
	for (int i = 0; i < 100; i++)
		log_ratelimited(LOG_LVL_WARN, "flood %d", i);
}

Test(log, ratelimited_lines_are_bounded)
{
	char buf[8192];
	capture(emit_flood, buf, sizeof(buf));
	int lines = 0;
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	cr_assert_eq(lines, 10, "burst of 10, the rest suppressed (got %d)", lines);
}

Test(log, parse_level)
{
	enum log_level l;
	cr_assert_eq(log_parse_level("debug", &l), 0);
	cr_assert_eq(l, LOG_LVL_DEBUG);
	cr_assert_eq(log_parse_level("warn", &l), 0);
	cr_assert_eq(l, LOG_LVL_WARN);
	cr_assert_eq(log_parse_level("loud", &l), -EINVAL);
	for (l = LOG_LVL_ERROR; l <= LOG_LVL_DEBUG; l++) {
		enum log_level back;
		cr_assert_eq(log_parse_level(log_level_name(l), &back), 0);
		cr_expect_eq(back, l);
	}
}

Test(log, errno_preserved)
{
	log_init("t", LOG_LVL_ERROR);
	errno = EXDEV;
	log_err("x");
	cr_assert_eq(errno, EXDEV);
}

Test(log, last_error)
{
	char buf[64];
	log_init("t", LOG_LVL_ERROR);
	log_last_error(buf, sizeof(buf));
	cr_expect_str_eq(buf, "", "none yet");
	tu_log_begin();
	log_err("disk %d: %s", 2, "gone");
	log_warn("a warning is not an error");
	tu_log_end();
	log_last_error(buf, sizeof(buf));
	cr_expect_str_eq(buf, "disk 2: gone");
	log_last_error(buf, 5);
	cr_expect_str_eq(buf, "disk", "cut to the buffer");
}

Test(log, level_option)
{
	char buf[96];
	log_init("t", LOG_LVL_INFO);
	cr_assert_eq(log_set_level_arg("debug"), 0);
	cr_expect_eq(log_get_level(), LOG_LVL_DEBUG);
	tu_log_begin();
	cr_assert_eq(log_set_level_arg("chatty"), -EINVAL);
	tu_log_end();
	cr_expect_eq(log_get_level(), LOG_LVL_DEBUG, "a bad value leaves the level");
	log_last_error(buf, sizeof(buf));
	cr_expect_str_eq(buf, "--log-level chatty: use error, warn, info or debug");
}
