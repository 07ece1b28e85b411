/* Attaching the user's terminal to a guest stream (serial or console):
 * stdin goes to the stream, the stream goes to stdout. A terminal is put in
 * raw mode (restored on return), so the guest sees every key, Ctrl-C
 * included; Ctrl-] detaches. Without a terminal on stdin, stdin is read to
 * its end and the output is copied until the stream ends. */
#ifndef CELLVM_TERM_H
#define CELLVM_TERM_H

#define TERM_DETACH_KEY 0x1d /* Ctrl-] */

enum term_end {
	TERM_DETACHED,  /* the user pressed Ctrl-] */
	TERM_EOF,       /* the stream ended (the VM is gone) */
	TERM_WATCHED,   /* watch_fd became readable */
	TERM_ERROR,     /* stdout or the stream failed (logged) */
};

/* Pumps until one of the above. watch_fd (-1: none) lets the caller end the
 * pump when something else needs attention (a reply, a signalfd); output
 * the stream has ready goes out first. */
enum term_end term_attach(int stream_fd, int watch_fd);

#endif
