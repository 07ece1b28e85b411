/* A child process's stderr, read by the controller.
 *
 * Each complete line goes on to the controller's own stderr as it comes (a
 * child's lines already name the child and its pid), so one log has every
 * process. Two lines are kept for the reason the VM ends with: the latest
 * seccomp report ("syscall socket (41) is not allowed by rng.policy:
 * killed", the sandbox's SIGSYS reporter) and the latest error line's
 * message. A line longer than CHILD_LOG_LINE_MAX is passed on in pieces;
 * control bytes in kept lines become '?' (a child is less trusted: its words
 * reach an operator's terminal through Status). */
#ifndef CELLVM_CHILD_LOG_H
#define CELLVM_CHILD_LOG_H

#include <stddef.h>

#define CHILD_LOG_LINE_MAX 1024
#define CHILD_LOG_KEPT_MAX 160

struct child_log {
	int fd;                            /* the pipe's read end, non-blocking; -1 */
	size_t plen;                       /* bytes of an unfinished line */
	char partial[CHILD_LOG_LINE_MAX];
	char seccomp[CHILD_LOG_KEPT_MAX];  /* "" until one is seen */
	char error[CHILD_LOG_KEPT_MAX];    /* "" until one is seen */
};

/* Takes fd (the read end of the child's stderr pipe; may be -1). */
void child_log_init(struct child_log *l, int fd);

/* Pure: takes n bytes of the child's output, writes complete lines to
 * out_fd (-1: nowhere), keeps what it must. */
void child_log_feed(struct child_log *l, const char *buf, size_t n, int out_fd);

/* Reads what the pipe holds now, at most `rounds` reads of 4 KiB (so a
 * chatty child cannot hold the controller): 0 when it would block or the
 * rounds are used up, 1 at EOF (a last unfinished line is passed on), or
 * -errno on an error. After 1 or an error, the caller closes it
 * (child_log_close) once it no longer watches the fd. */
int child_log_read(struct child_log *l, int out_fd, unsigned rounds);

void child_log_close(struct child_log *l);

#endif
