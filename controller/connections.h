/* The RPC connections cellvmd serves: lifecycle connections (its socket's
 * clients) and Guest channels (passed by Bind).
 *
 * Each request is read whole, checked (it parses, carries the fds its method
 * takes, and is one this kind of connection may make) and handed to the
 * owner; replies (with fds) and epitaphs are queued and sent as the peer
 * reads. A peer that breaks the protocol, does not read its replies or goes
 * away loses its own connection only, and the owner hears that it is gone.
 * A connection stays valid memory until the event-loop callback in which it
 * went returns, so the owner may still pass it to a reply (which does
 * nothing then).
 *
 * Who gets a connection is admission.h's rule, by the peer's uid. With an
 * idle timeout set, a lifecycle connection must send its first whole
 * request within CONNS_FIRST_REQUEST_MS (or the timeout, if shorter), and
 * is closed once it has gone the timeout since its last request or reply
 * with no call of its own unanswered (the owner says which: a client
 * waiting on Run is not idle). Bytes of an unfinished request do not count
 * as a request. Guest channels are never timed out: they hold the VM's
 * streams and end with it (docs/rpc.md, "Connections"). */
#ifndef CELLVM_CONNECTIONS_H
#define CELLVM_CONNECTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "admission.h"
#include "event_loop.h"
#include "rpc.h"

#define CONNS_MAX ADMIT_MAX          /* connections of both kinds at once */
#define CONNS_FIRST_REQUEST_MS 10000 /* from connecting to a whole request */

struct conns;
struct conn;

struct conns_ops {
	/* A checked request on c; takes fds (as many as rq->method takes). */
	void (*request)(void *opaque, struct conn *c, const struct rpc_request *rq, int *fds,
			size_t nfds);
	/* c is disconnected: forget it as a caller. */
	void (*gone)(void *opaque, struct conn *c);
	/* Whether c waits for the answer to a call of its own (not idle). */
	bool (*waiting)(void *opaque, const struct conn *c);
};

int conns_create(struct conns **out, struct evloop *loop, const struct conns_ops *ops,
		 void *opaque);
/* Closes every connection (without telling the owner). */
void conns_destroy(struct conns *cs);

/* Times out lifecycle connections added from now on after idle_ms (0:
 * never, the default); see above. */
void conns_set_idle_timeout(struct conns *cs, unsigned idle_ms);

/* Serves a lifecycle connection (a connected stream socket) from a peer
 * with uid. Takes fd, also on failure: -EMFILE when admission.h refuses it
 * (logged, rate-limited). */
int conns_add(struct conns *cs, int fd, uid_t uid);
/* Serves a Guest channel that via (a live lifecycle connection) passed with
 * Bind, counted as its uid's; takes fd as conns_add does. */
int conns_add_guest(struct conns *cs, int fd, const struct conn *via);

/* Lifecycle connections open now (Guest channels not counted). */
unsigned conns_lifecycle(const struct conns *cs);

/* Replies to request id on c; nothing happens when c is NULL or gone. The
 * fds are sent as dups: the caller keeps its own. */
void conns_reply_ok(struct conn *c, uint32_t id, const char *result_json, const int *fds,
		    size_t nfds);
void conns_reply_error(struct conn *c, uint32_t id, int code, const char *message);

/* Ends every Guest channel with the epitaph (clean: ok, else internal). */
void conns_close_guests(struct conns *cs, bool clean);

#endif
