/* The control channel between the controller and cellvm-vcpu.
 *
 * A SOCK_SEQPACKET socketpair; each packet is one fixed-size message
 * (WCTL_WIRE_SIZE bytes: le32 type, le32 status, WCTL_TEXT_MAX text bytes,
 * NUL-padded). Only BACKEND carries an fd (exactly one).
 *
 *   worker -> controller: READY   the VM is built (KVM, kernel, devices); the
 *                                 vCPUs wait for RUN
 *                         EXIT    just before the worker exits: status is its
 *                                 exit status (common/exit_status.h), text
 *                                 the reason in words
 *                         PONG    the answer to a PING
 *                         RESUMED text names a device whose new backend
 *                                 (BACKEND) now serves its rings; status
 *                                 is the µs the worker took to resume it
 *                         HUNG    text names a device whose backend stopped
 *                                 answering (the worker's watch): kill it,
 *                                 and restart it as for a death; status is
 *                                 how many BACKENDs the worker had for it,
 *                                 so a late HUNG about a process already
 *                                 replaced is told from one about the new
 *   controller -> worker: RUN     start the vCPUs (once)
 *                         PING    are you alive? (the worker's event loop
 *                                 answers; the controller uses it to notice a
 *                                 hung worker)
 *                         CONFIG_CHANGED  text names a virtio device
 *                                 ("balloon0") whose backend changed its
 *                                 config space: raise the guest's
 *                                 configuration-change interrupt
 *                         BACKEND text names a device whose process was
 *                                 restarted; the fd is the worker's end of
 *                                 its new vhost-user socket
 * The worker treats EOF as "the controller is gone" and stops the VM.
 *
 * wctl_decode() is pure and checks everything: exact size, a known type,
 * status 0 except for EXIT, RESUMED and HUNG, text empty except for EXIT and
 * the messages naming a device (which need one), text NUL-terminated; control bytes in the text
 * are replaced by '?' so a hostile worker cannot inject lines into logs. */
#ifndef CELLVM_WORKER_CTL_H
#define CELLVM_WORKER_CTL_H

#include <stddef.h>
#include <stdint.h>

#define WCTL_TEXT_MAX 160 /* including the NUL */
#define WCTL_WIRE_SIZE (8 + WCTL_TEXT_MAX)

enum wctl_type {
	WCTL_READY = 1,
	WCTL_RUN = 2,
	WCTL_EXIT = 3,
	WCTL_PING = 4,
	WCTL_PONG = 5,
	WCTL_CONFIG_CHANGED = 6,
	WCTL_BACKEND = 7,
	WCTL_RESUMED = 8,
	WCTL_HUNG = 9,
};

struct wctl_msg {
	enum wctl_type type;
	uint32_t status;           /* WCTL_EXIT, WCTL_RESUMED and WCTL_HUNG only */
	char text[WCTL_TEXT_MAX];  /* EXIT's words, or a device's name; NUL-terminated */
};

/* Encodes m; text longer than WCTL_TEXT_MAX - 1 is cut. */
void wctl_encode(const struct wctl_msg *m, uint8_t out[WCTL_WIRE_SIZE]);

/* 0 with *out filled, or -EBADMSG (*out untouched). */
int wctl_decode(const uint8_t *buf, size_t len, struct wctl_msg *out);

/* One message on a SOCK_SEQPACKET socket. wctl_send returns 0 or -errno;
 * wctl_recv returns 0, -ECONNRESET on EOF, -EAGAIN (non-blocking, nothing
 * there), -EBADMSG for a malformed or truncated packet or one that carried
 * fds (they are closed), or -errno. Both retry on EINTR. */
int wctl_send(int sock, enum wctl_type type, uint32_t status, const char *text);
int wctl_recv(int sock, struct wctl_msg *out);

/* BACKEND with fd (not taken). 0 or -errno. */
int wctl_send_backend(int sock, const char *device, int fd);
/* As wctl_recv, but a BACKEND message must carry exactly one fd, which goes
 * to *fd (the caller's to close); *fd is -1 for every other message. */
int wctl_recv_fd(int sock, struct wctl_msg *out, int *fd);

/* "READY", "RUN", ... or "UNKNOWN". */
const char *wctl_type_name(enum wctl_type type);

#endif
