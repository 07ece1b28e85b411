/* Logging to stderr: one line per call, "name[pid]: level: message".
 *
 * Every process calls log_init() once with its own name. Messages below the
 * current level are dropped. Errors travel as -errno values; the place that
 * decides what an error means logs it once (log_err), nobody else does.
 * Anything a guest or peer can trigger repeatedly goes through log_ratelimited. */
#ifndef CELLVM_LOG_H
#define CELLVM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *process_name, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns -EINVAL otherwise. */
int log_parse_level(const char *s, enum log_level *out);
/* The value of a --log-level option: sets the level, or logs what it takes
 * and returns -EINVAL. */
int log_set_level_arg(const char *arg);
/* "error", "warn", "info" or "debug" (what log_parse_level() takes). */
const char *log_level_name(enum log_level level);

/* Copies the message of the latest error line (without the "name[pid]:
 * error: func: " prefix) into buf, "" if there was none: what a process
 * reports as its reason when it exits. Thread-safe. */
void log_last_error(char *buf, size_t len);

void log_msg(enum log_level level, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(...) log_msg(LOG_LVL_ERROR, __func__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __func__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __func__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __func__, __VA_ARGS__)

/* A token bucket per call site: at most `burst` lines, refilled one per second,
 * so a hostile guest cannot flood the log. Returns true if the line may go out. */
struct log_ratelimit {
	uint64_t last_ns;
	uint32_t tokens;
	uint32_t suppressed;
};
bool log_ratelimit_allow(struct log_ratelimit *rl, uint32_t burst);

#define log_ratelimited(level, ...)                                          \
	do {                                                                 \
		static struct log_ratelimit rl__;                            \
		if (log_ratelimit_allow(&rl__, 10))                          \
			log_msg(level, __func__, __VA_ARGS__);               \
	} while (0)

#endif
