/* The controller's side of one guest character stream (the serial port or the
 * virtio console): the guest's output goes to every attached client, every
 * client's input goes to the guest.
 *
 * The guest never waits for a client. Device output is read whenever it
 * arrives into a ring of the last `backlog` bytes (byte_ring.h), and each
 * client is sent from its own position with non-blocking writes. A client
 * attaching late first gets the backlog. A client that falls more than
 * `backlog` bytes behind skips what was overwritten and gets the line
 * "\r\n[cellvm: N bytes dropped]\r\n" in its place. A client that hangs up or
 * fails is closed without affecting the others; one that only shuts its
 * sending side keeps receiving.
 *
 * Client input goes to the device non-blocking. While the device cannot take
 * more, no client's input is read: it waits in the client sockets, delayed but
 * not lost. Input is discarded (logged, rate-limited) only when the device no
 * longer takes any, or from a client that hangs up while it waits.
 *
 * When the device closes its output (the worker is gone), each client gets the
 * rest of the output and then EOF (its socket's write side is shut). The hub
 * keeps the backlog, so a client attaching later still reads the end of the
 * log; the controller destroys the hub when it releases the VM.
 *
 * Every fd is a connected stream socket; the hub makes the ones it owns
 * non-blocking and close-on-exec and never raises SIGPIPE. Single-threaded:
 * the work happens in callbacks of the given event loop. */
#ifndef CELLVM_STREAM_HUB_H
#define CELLVM_STREAM_HUB_H

#include <stddef.h>

#include "event_loop.h"

#define STREAM_HUB_MAX_CLIENTS 16

struct stream_hub;

/* dev_fd: the controller's end of the guest's stream socket. On success the
 * hub owns it (closes it on destroy). name is for logs ("serial", "console";
 * up to 15 bytes are kept). backlog: bytes of recent output kept, e.g. 64 KiB.
 * Errors: -EINVAL (backlog 0), -ENOTSOCK / -EPROTOTYPE (not a stream socket),
 * -EBADF, -EEXIST (dev_fd already in the loop), -ENOMEM; dev_fd then stays
 * the caller's, possibly made non-blocking and close-on-exec. */
int stream_hub_create(struct stream_hub **out, struct evloop *loop, int dev_fd,
		       const char *name, size_t backlog);

/* Attaches a client socket: it first receives the backlog, then live output;
 * what it sends goes to the guest. On success the hub owns client_fd. Errors:
 * -EMFILE (STREAM_HUB_MAX_CLIENTS attached), -ENOTSOCK / -EPROTOTYPE, -EBADF,
 * -EEXIST, -ENOMEM; client_fd then stays the caller's. */
int stream_hub_attach(struct stream_hub *h, int client_fd);

/* Closes every client and the device fd and removes them from the loop.
 * NULL is a no-op. */
void stream_hub_destroy(struct stream_hub *h);

#endif
