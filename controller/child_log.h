/* A child process's stderr, read by the controller.
 *
 * Each complete line goes on to the controller's own stderr as it comes, so
 * one log has every process, marked with the name the controller knows the
 * child by: "[rng0] cellvm-rng[7]: info: main: ..." (docs/rpc.md). A child
 * is less trusted: what it writes after the mark is its own claim, and
 * cannot pass for a line of the controller's, which never starts with '['.
 * Two lines are kept for the reason the VM ends with: the latest seccomp
 * report ("syscall socket (41) is not allowed by rng.policy: killed", the
 * sandbox's SIGSYS reporter) and the latest error line's message. A line
 * longer than CHILD_LOG_LINE_MAX is passed on in pieces. Control bytes
 * (below 0x20, DEL, and C1 controls as UTF-8) become '?' in what is passed
 * on and in what is kept: a child's words reach an operator's terminal
 * through the log and Status, and must not drive it. */
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

/* Pure: takes n bytes of the output of the child called name, writes its
 * complete lines, marked and cleaned, to out_fd (-1: nowhere), keeps what it
 * must. */
void child_log_feed(struct child_log *l, const char *name, const char *buf, size_t n,
		    int out_fd);

/* Reads what the pipe holds now, at most `rounds` reads of 4 KiB (so a
 * chatty child cannot hold the controller), and feeds it as child_log_feed
 * does: 0 when it would block or the rounds are used up, 1 at EOF (a last
 * unfinished line is passed on), or -errno on an error. After 1 or an
 * error, the caller closes it (child_log_close) once it no longer watches
 * the fd. */
int child_log_read(struct child_log *l, const char *name, int out_fd, unsigned rounds);

void child_log_close(struct child_log *l);

#endif
