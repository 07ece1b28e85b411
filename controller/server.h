/* The controller of one VM: serves the lifecycle RPC (docs/rpc.md) to its
 * clients (connections.h), supervises the VM's child processes
 * (supervise.h) and carries out what the lifecycle state machine decides
 * (lifecycle.h) for both.
 *
 * Everything happens in callbacks of the caller's event loop. Nothing a
 * client or a child does can make it block or exit: a misbehaving client is
 * disconnected, a misbehaving child ends its VM with a reason. */
#ifndef CELLVM_SERVER_H
#define CELLVM_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "event_loop.h"
#include "metrics_collect.h"
#include "vm.h"

struct server;

/* env is copied (its strings must outlive the server). */
int server_create(struct server **out, struct evloop *loop, const struct vm_env *env);

/* Serves the lifecycle RPC on a connected stream socket from a peer with
 * uid; the server owns client_fd from now on, also on failure (-EMFILE:
 * refused, connections.h). */
int server_add_client(struct server *s, int client_fd, uid_t uid);

/* Clients added from now on are disconnected when idle for ms (0: never):
 * connections.h. */
void server_set_idle_timeout(struct server *s, unsigned ms);

/* Lifecycle connections open now (Guest channels not counted). */
unsigned server_clients(const struct server *s);

/* A Metrics snapshot for a caller of cellvmd's own (--metrics-listen):
 * metrics_collect()'s contract. */
int server_metrics(struct server *s, metrics_done done, void *opaque);

/* Stops the VM as Stop would, without a caller. */
void server_stop_vm(struct server *s);

/* No VM exists and no child is left: the server may be destroyed. */
bool server_idle(const struct server *s);

/* Closes every connection; call only when server_idle(). */
void server_destroy(struct server *s);

#endif
