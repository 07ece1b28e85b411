#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_name = "cellvm";
static enum log_level log_level = LOG_LVL_INFO;
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[256];

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_init(const char *process_name, enum log_level level)
{
	log_name = process_name;
	log_level = level;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_set_level_arg(const char *arg)
{
	enum log_level lvl;
	if (log_parse_level(arg, &lvl) < 0) {
		log_err("--log-level %s: use error, warn, info or debug", arg);
		return -EINVAL;
	}
	log_set_level(lvl);
	return 0;
}

const char *log_level_name(enum log_level level)
{
	return level_names[level <= LOG_LVL_DEBUG ? level : LOG_LVL_DEBUG];
}

void log_last_error(char *buf, size_t len)
{
	if (len == 0)
		return;
	pthread_mutex_lock(&last_lock);
	snprintf(buf, len, "%s", last_error);
	pthread_mutex_unlock(&last_lock);
}

void log_msg(enum log_level level, const char *func, const char *fmt, ...)
{
	int saved_errno = errno;
	if (level == LOG_LVL_ERROR) {
		va_list ap;
		va_start(ap, fmt);
		pthread_mutex_lock(&last_lock);
		vsnprintf(last_error, sizeof(last_error), fmt, ap);
		pthread_mutex_unlock(&last_lock);
		va_end(ap);
		errno = saved_errno;
	}
	if (level > log_level)
		return;
	/* Build the line first and write it with one call, so lines from
	 * several processes sharing stderr do not interleave. */
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s[%d]: %s: %s: ", log_name, (int)getpid(),
			 level_names[level], func);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(line)) {
		va_list ap;
		va_start(ap, fmt);
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w; /* nowhere left to report a failed log write */
	errno = saved_errno;
}

bool log_ratelimit_allow(struct log_ratelimit *rl, uint32_t burst)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (rl->last_ns == 0) {
		rl->last_ns = now;
		rl->tokens = burst;
	}
	uint64_t refill = (now - rl->last_ns) / 1000000000ull;
	if (refill > 0) {
		uint64_t t = rl->tokens + refill;
		rl->tokens = t > burst ? burst : (uint32_t)t;
		rl->last_ns = now;
		if (rl->suppressed) {
			uint32_t s = rl->suppressed;
			rl->suppressed = 0;
			log_msg(LOG_LVL_WARN, "ratelimit", "%u similar lines suppressed", s);
		}
	}
	if (rl->tokens == 0) {
		rl->suppressed++;
		return false;
	}
	rl->tokens--;
	return true;
}
