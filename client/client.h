/* The client side of cellvmd's RPC, for cellvmctl and cellvm run: blocking
 * calls on a connected socket, one at a time.
 *
 * Errors are -errno with a one-line message in err for the user (what went
 * wrong with the connection or the controller's answer). An error reply from
 * the controller is not an error of the call: it comes back in the reply. */
#ifndef CELLVM_CLIENT_H
#define CELLVM_CLIENT_H

#include <stddef.h>

#include "rpc.h"

/* Connects to cellvmd's socket at path. */
int client_connect(const char *path, char *err, size_t errlen);

/* Sends request id (method m, Create's params as JSON text, fds for Bind). */
int client_send(int sock, uint32_t id, enum rpc_method m, const char *params, const int *fds,
		size_t nfds, char *err, size_t errlen);

/* Receives one reply (or epitaph) into *reply (free it with rpc_reply_free)
 * and the fd it carried into *fd (-1 if none; at most one is accepted). */
int client_recv(int sock, struct rpc_reply *reply, int *fd, char *err, size_t errlen);

/* client_send, then client_recv until the reply with this id comes; an
 * epitaph or a reply to another id is a protocol error. */
int client_call(int sock, uint32_t id, enum rpc_method m, const char *params, const int *fds,
		size_t nfds, struct rpc_reply *reply, int *fd, char *err, size_t errlen);

/* Bind on sock: the Guest channel's fd (the calls of docs/rpc.md's Guest
 * interface go there), or -errno. A refused Bind shows only as the
 * channel closing at its first call (client_call: -ECONNRESET). */
int client_bind(int sock, char *err, size_t errlen);

/* Bind on sock, then GetSerial (console: GetConsole) on the new Guest
 * channel. Returns the stream fd, or -errno; *code is the controller's error
 * code when it refused (e.g. DEVICE_NOT_PRESENT), else 0. The Guest channel
 * is closed again: the stream stays open on its own. */
int client_open_stream(int sock, int console, int *code, char *err, size_t errlen);

#endif
