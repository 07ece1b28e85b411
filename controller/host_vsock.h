/* HostVsockConnect (docs/rpc.md): cellvmd makes the hybrid vsock handshake
 * (common/vsock_hybrid.h) with the VM's cellvm-vsock for a Guest client
 * and hands it the connected stream.
 *
 * The device's socket is connected beneath --allow-socket-dir
 * (gate_connect_now: a full backlog fails at once), "CONNECT <port>\n"
 * written, and the answer read a byte at a time, non-blocking, from the
 * event loop: nothing past the "OK <host port>\n" line is taken from the
 * stream, and the device is less trusted than cellvmd, so a line that
 * cannot become an OK line, a hang-up, or no line within
 * HOST_VSOCK_ANSWER_MS ends the handshake. At most HOST_VSOCK_MAX run at
 * once. */
#ifndef CELLVM_HOST_VSOCK_H
#define CELLVM_HOST_VSOCK_H

#include <stdint.h>

#include "event_loop.h"
#include "gate.h"

#define HOST_VSOCK_MAX 16
/* The device gives the guest 2 s to accept (docs/config.md), then hangs up. */
#define HOST_VSOCK_ANSWER_MS 3000

/* code 0: fd is the connected stream, the callee's to keep or close, and
 * host_port the device's port for it; else a GuestError (LC_ERR_*) with
 * message, and fd -1. Called from the event loop, never from
 * host_vsock_connect itself. */
typedef void (*host_vsock_done)(void *opaque, int code, const char *message, int fd,
				uint32_t host_port);

struct host_vsock;

int host_vsock_create(struct host_vsock **out, struct evloop *loop, const struct gate *gate);
/* Ends every handshake without calling its done. */
void host_vsock_destroy(struct host_vsock *h);

/* Starts a handshake with the device at uds_path for guest_port. 0, or a
 * GuestError with message (then done is not called): the socket could not
 * be reached, or HOST_VSOCK_MAX handshakes already run. */
int host_vsock_connect(struct host_vsock *h, const char *uds_path, uint32_t guest_port,
		       host_vsock_done done, void *opaque, char *message, size_t len);

#endif
