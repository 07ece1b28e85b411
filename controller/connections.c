#include "connections.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "fds.h"
#include "log.h"
#include "rpc_conn.h"

#define WRITE_LIMIT (1u << 20) /* replies queued for a peer that does not read */
#define READS_PER_ROUND 8      /* so one peer cannot starve the rest */

struct conn {
	struct conns *cs;
	int fd;
	uid_t uid;    /* the peer's; a Guest channel's binder's */
	bool guest;   /* a Guest channel (Bind), else a lifecycle connection */
	bool timed;   /* idle is armed: a lifecycle connection with a timeout */
	bool spoke;   /* a whole request came */
	bool closing; /* close once the queued output is out */
	bool dead;    /* disconnected; freed at the end of the callback (gc) */
	struct rpc_reader rd;
	struct rpc_writer wr;
	struct evloop_timer idle; /* no request in time, or idle too long */
	struct conn *next;
};

struct conns {
	struct evloop *loop;
	const struct conns_ops *ops;
	void *opaque;
	struct conn *list;
	unsigned nlifecycle, nguests;
	unsigned idle_ms; /* 0: connections are not timed out */
};

/* Disconnects c and tells the owner; gc() frees it. */
static void conn_kill(struct conn *c, bool tell)
{
	struct conns *cs = c->cs;
	if (c->guest)
		cs->nguests--;
	else
		cs->nlifecycle--;
	evloop_timer_cancel(&c->idle);
	evloop_del(cs->loop, c->fd);
	close_fd(&c->fd);
	c->dead = true;
	if (tell)
		cs->ops->gone(cs->opaque, c);
}

/* Frees the connections killed so far (nothing holds a connection pointer
 * across event-loop callbacks). */
static void gc(struct conns *cs)
{
	for (struct conn **p = &cs->list; *p;) {
		struct conn *c = *p;
		if (!c->dead) {
			p = &c->next;
			continue;
		}
		*p = c->next;
		rpc_reader_reset(&c->rd);
		rpc_writer_free(&c->wr);
		free(c);
	}
}

static void update_events(struct conn *c)
{
	uint32_t ev = c->closing ? 0 : EPOLLIN;
	if (rpc_writer_pending(&c->wr))
		ev |= EPOLLOUT;
	if (evloop_mod(c->cs->loop, c->fd, ev) < 0)
		log_warn("client %d: watching it failed", c->fd);
}

/* Sends what is queued; disconnects the peer when it is done (closing) or
 * broken. */
static void flush(struct conn *c)
{
	int r = rpc_writer_flush(&c->wr, c->fd);
	if (r < 0) {
		log_ratelimited(LOG_LVL_INFO, "client %d: gone while sending (%s)", c->fd,
				strerror(-r));
		conn_kill(c, true);
	} else if (c->closing && !rpc_writer_pending(&c->wr)) {
		conn_kill(c, true);
	} else {
		update_events(c);
	}
}

/* c did something (a whole request, or a reply to it): its idle time
 * starts again. */
static void touch(struct conn *c)
{
	c->spoke = true;
	if (c->timed)
		evloop_timer_arm(c->cs->loop, &c->idle, c->cs->idle_ms);
}

static void send_frame(struct conn *c, const uint8_t *frame, int len, const int *fds, size_t nfds)
{
	if (!c || c->dead)
		return;
	int r = len < 0 ? len : rpc_writer_queue(&c->wr, frame, (size_t)len, fds, nfds);
	if (r < 0) {
		log_ratelimited(LOG_LVL_WARN, "client %d: reply dropped, disconnecting it (%s)",
				c->fd, strerror(-r));
		conn_kill(c, true);
		return;
	}
	touch(c);
	flush(c);
}

void conns_reply_ok(struct conn *c, uint32_t id, const char *result_json, const int *fds,
		    size_t nfds)
{
	static uint8_t frame[4 + RPC_MAX_BODY];
	send_frame(c, frame, rpc_encode_ok(id, result_json, frame, sizeof(frame)), fds, nfds);
}

void conns_reply_error(struct conn *c, uint32_t id, int code, const char *message)
{
	static uint8_t frame[4 + RPC_MAX_BODY];
	send_frame(c, frame, rpc_encode_error(id, code, message, frame, sizeof(frame)), NULL, 0);
}

void conns_close_guests(struct conns *cs, bool clean)
{
	static uint8_t frame[64];
	int len = rpc_encode_epitaph(clean, frame, sizeof(frame));
	for (struct conn *c = cs->list; c; c = c->next) {
		if (!c->guest || c->dead)
			continue;
		c->closing = true;
		send_frame(c, frame, len, NULL, 0);
	}
}

/* One request from c with its fds (which this takes). Protocol errors
 * disconnect the peer: there is no id to answer to. */
static void handle_request(struct conn *c, const char *body, size_t len, int *fds, size_t nfds)
{
	struct rpc_request rq = { 0 };
	char err[256];
	int bad = rpc_parse_request(body, len, &rq, err, sizeof(err));
	if (!bad && nfds != rpc_method_fds(rq.method)) {
		snprintf(err, sizeof(err), "%s with %zu fds (it takes %u)", rpc_method_name(rq.method),
			 nfds, rpc_method_fds(rq.method));
		bad = -EINVAL;
	} else if (!bad && c->guest != rpc_method_guest(rq.method)) {
		snprintf(err, sizeof(err), "%s on a %s channel", rpc_method_name(rq.method),
			 c->guest ? "Guest" : "lifecycle");
		bad = -EINVAL;
	}
	if (bad) {
		log_ratelimited(LOG_LVL_WARN, "client %d: %s; disconnecting it", c->fd, err);
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		rpc_request_free(&rq);
		conn_kill(c, true);
		return;
	}
	c->cs->ops->request(c->cs->opaque, c, &rq, fds, nfds);
	rpc_request_free(&rq);
}

static void on_conn(void *opaque, uint32_t events)
{
	struct conn *c = opaque;
	struct conns *cs = c->cs;
	if ((events & EPOLLOUT) && !c->dead)
		flush(c);
	for (int i = 0; i < READS_PER_ROUND && !c->dead && !c->closing &&
			(events & (EPOLLIN | EPOLLHUP | EPOLLERR));
	     i++) {
		int r = rpc_reader_feed(&c->rd, c->fd);
		if (r == 0)
			break;
		if (r < 0) {
			if (r != -ECONNRESET)
				log_ratelimited(LOG_LVL_WARN, "client %d: %s; disconnecting it",
						c->fd, strerror(-r));
			conn_kill(c, true);
			break;
		}
		int fds[RPC_MAX_FDS];
		size_t nfds = c->rd.nfds;
		memcpy(fds, c->rd.fds, nfds * sizeof(int));
		c->rd.nfds = 0;
		touch(c);
		handle_request(c, c->rd.body, c->rd.body_len, fds, nfds);
		if (!c->dead)
			rpc_reader_next(&c->rd);
	}
	gc(cs);
}

static unsigned first_request_ms(const struct conns *cs)
{
	return cs->idle_ms < CONNS_FIRST_REQUEST_MS ? cs->idle_ms : CONNS_FIRST_REQUEST_MS;
}

/* The timer of a lifecycle connection: closes it unless it waits for an
 * answer. */
static void on_idle(void *opaque)
{
	struct conn *c = opaque;
	struct conns *cs = c->cs;
	if (cs->ops->waiting(cs->opaque, c)) {
		touch(c);
		return;
	}
	if (c->spoke)
		log_ratelimited(LOG_LVL_INFO, "client %d: idle for %u ms; disconnecting it",
				c->fd, cs->idle_ms);
	else
		log_ratelimited(LOG_LVL_INFO, "client %d: no whole request within %u ms; "
				"disconnecting it", c->fd, first_request_ms(cs));
	conn_kill(c, true);
	gc(cs);
}

/* Serves fd for a peer of uid if admission.h lets it in; takes fd. */
static int add(struct conns *cs, int fd, uid_t uid, bool guest)
{
	unsigned of_uid = 0;
	for (const struct conn *o = cs->list; o; o = o->next)
		of_uid += !o->dead && o->uid == uid;
	enum admit_verdict v = admit_decide(cs->nlifecycle + cs->nguests, of_uid, uid == 0);
	if (v != ADMIT_OK) {
		log_ratelimited(LOG_LVL_WARN, "%s from uid %u refused: %s",
				guest ? "Guest channel" : "client", (unsigned)uid,
				admit_verdict_text(v));
		close(fd);
		return -EMFILE;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->cs = cs;
	c->fd = fd;
	c->uid = uid;
	c->guest = guest;
	c->timed = !guest && cs->idle_ms;
	rpc_reader_init(&c->rd);
	rpc_writer_init(&c->wr, WRITE_LIMIT);
	evloop_timer_init(&c->idle, on_idle, c);
	int err = evloop_add(cs->loop, fd, EPOLLIN, on_conn, c);
	if (err < 0) {
		rpc_writer_free(&c->wr);
		free(c);
		close(fd);
		return err;
	}
	c->next = cs->list;
	cs->list = c;
	if (guest)
		cs->nguests++;
	else
		cs->nlifecycle++;
	if (c->timed)
		evloop_timer_arm(cs->loop, &c->idle, first_request_ms(cs));
	return 0;
}

int conns_add(struct conns *cs, int fd, uid_t uid)
{
	return add(cs, fd, uid, false);
}

int conns_add_guest(struct conns *cs, int fd, const struct conn *via)
{
	return add(cs, fd, via->uid, true);
}

void conns_set_idle_timeout(struct conns *cs, unsigned idle_ms)
{
	cs->idle_ms = idle_ms;
}

unsigned conns_lifecycle(const struct conns *cs)
{
	return cs->nlifecycle;
}

int conns_create(struct conns **out, struct evloop *loop, const struct conns_ops *ops,
		 void *opaque)
{
	struct conns *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	*cs = (struct conns){ .loop = loop, .ops = ops, .opaque = opaque };
	*out = cs;
	return 0;
}

void conns_destroy(struct conns *cs)
{
	if (!cs)
		return;
	for (struct conn *c = cs->list; c; c = c->next)
		if (!c->dead)
			conn_kill(c, false);
	gc(cs);
	free(cs);
}
