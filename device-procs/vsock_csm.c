#include "vsock_csm.h"

void vsock_conn_init_host(struct vsock_conn *c, uint32_t host_port, uint32_t guest_port,
			  uint32_t buf_alloc)
{
	*c = (struct vsock_conn){ .state = VSOCK_CONNECTING, .host_port = host_port,
				  .guest_port = guest_port, .buf_alloc = buf_alloc,
				  .owe = VSOCK_OWE_REQUEST };
}

void vsock_conn_init_guest(struct vsock_conn *c, const struct vsock_hdr *h, uint32_t buf_alloc)
{
	*c = (struct vsock_conn){ .state = VSOCK_ESTABLISHED, .host_port = h->dst_port,
				  .guest_port = h->src_port, .buf_alloc = buf_alloc,
				  .peer_buf_alloc = h->buf_alloc, .peer_fwd_cnt = h->fwd_cnt,
				  .owe = VSOCK_OWE_RESPONSE };
}

/* Ends the connection with an RST; what the host has not taken is lost. */
static void reset(struct vsock_conn *c, struct vsock_act *a)
{
	c->state = VSOCK_CLOSING;
	c->owe = VSOCK_OWE_RST;
	c->tx_held = 0;
	a->discard = true;
}

/* Both sides are done sending: the guest gets the RST that completes the
 * close (5.10.6.6), the host what is still held. */
static void maybe_done(struct vsock_conn *c)
{
	if (c->state == VSOCK_ESTABLISHED && c->host_eof && (c->peer_shut & VSOCK_SHUTDOWN_SEND)) {
		c->state = VSOCK_CLOSING;
		c->owe = VSOCK_OWE_RST;
	}
}

static void established(struct vsock_conn *c, const struct vsock_hdr *h, struct vsock_act *a)
{
	switch (h->op) {
	case VSOCK_OP_RW:
		if ((c->peer_shut & VSOCK_SHUTDOWN_SEND) || h->len > c->buf_alloc - c->tx_held) {
			reset(c, a);
			return;
		}
		c->tx_held += h->len;
		a->deliver = h->len;
		return;
	case VSOCK_OP_CREDIT_UPDATE:
		return;
	case VSOCK_OP_CREDIT_REQUEST:
		c->owe |= VSOCK_OWE_CREDIT;
		return;
	case VSOCK_OP_SHUTDOWN:
		if ((h->flags & VSOCK_SHUTDOWN_SEND) && !(c->peer_shut & VSOCK_SHUTDOWN_SEND))
			a->shut_host = true;
		c->peer_shut |= h->flags;
		if (c->peer_shut == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
			/* The guest closed: it waits for our RST. */
			c->state = VSOCK_CLOSING;
			c->owe = VSOCK_OWE_RST;
		} else {
			maybe_done(c);
		}
		return;
	default: /* REQUEST or RESPONSE on an open connection */
		reset(c, a);
	}
}

void vsock_conn_guest(struct vsock_conn *c, const struct vsock_hdr *h, struct vsock_act *a)
{
	*a = (struct vsock_act){ 0 };
	if (h->op == VSOCK_OP_RST) {
		/* The guest is gone: nothing more is owed it. */
		c->state = VSOCK_CLOSING;
		c->owe = 0;
		c->tx_held = 0;
		a->discard = true;
		return;
	}
	if (c->state == VSOCK_CLOSING)
		return;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (c->state == VSOCK_ESTABLISHED) {
		established(c, h, a);
		return;
	}
	/* Connecting: only a RESPONSE to a REQUEST already sent. */
	if (h->op == VSOCK_OP_RESPONSE && !(c->owe & VSOCK_OWE_REQUEST)) {
		c->state = VSOCK_ESTABLISHED;
		a->established = true;
		return;
	}
	reset(c, a);
}

void vsock_conn_forwarded(struct vsock_conn *c, uint32_t n)
{
	if (n > c->tx_held)
		n = c->tx_held;
	c->tx_held -= n;
	c->fwd_cnt += n;
	/* A guest that filled its credit waits for this: tell it once half
	 * of its window is free again (every header we send tells it too). */
	if (c->state == VSOCK_ESTABLISHED && c->fwd_cnt - c->fwd_told >= c->buf_alloc / 2)
		c->owe |= VSOCK_OWE_CREDIT;
}

uint32_t vsock_conn_rx_room(const struct vsock_conn *c)
{
	if (c->state != VSOCK_ESTABLISHED || c->host_eof || (c->peer_shut & VSOCK_SHUTDOWN_RCV) ||
	    (c->owe & VSOCK_OWE_RESPONSE))
		return 0;
	/* Wrapping counters; a guest claiming more taken than sent has no
	 * room beyond its buf_alloc. */
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

void vsock_conn_host_eof(struct vsock_conn *c)
{
	if (c->state != VSOCK_ESTABLISHED || c->host_eof)
		return;
	c->host_eof = true;
	c->owe |= VSOCK_OWE_SHUTDOWN;
	maybe_done(c);
}

void vsock_conn_host_gone(struct vsock_conn *c)
{
	struct vsock_act a;
	if (c->state == VSOCK_CLOSING && !(c->owe & VSOCK_OWE_RST)) {
		c->tx_held = 0;
		return;
	}
	reset(c, &a);
}

void vsock_conn_fill(struct vsock_conn *c, uint16_t op, uint32_t len, struct vsock_hdr *h)
{
	*h = (struct vsock_hdr){ .src_port = c->host_port, .dst_port = c->guest_port,
				 .type = VSOCK_TYPE_STREAM, .op = op,
				 .buf_alloc = c->buf_alloc, .fwd_cnt = c->fwd_cnt };
	c->fwd_told = c->fwd_cnt;
	switch (op) {
	case VSOCK_OP_RW:
		h->len = len;
		c->rx_cnt += len;
		break;
	case VSOCK_OP_RST:
		c->owe = 0;
		break;
	case VSOCK_OP_REQUEST:
		c->owe &= ~VSOCK_OWE_REQUEST;
		break;
	case VSOCK_OP_RESPONSE:
		c->owe &= ~VSOCK_OWE_RESPONSE;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		c->owe &= ~VSOCK_OWE_CREDIT;
		break;
	case VSOCK_OP_SHUTDOWN:
		/* The host stopped sending; it may still read. */
		h->flags = VSOCK_SHUTDOWN_SEND;
		c->owe &= ~VSOCK_OWE_SHUTDOWN;
		break;
	}
	/* Every header carries fwd_cnt: no separate update needed. */
	if (op != VSOCK_OP_CREDIT_UPDATE)
		c->owe &= ~VSOCK_OWE_CREDIT;
}

uint16_t vsock_conn_next_owed(const struct vsock_conn *c)
{
	static const struct { uint32_t bit; uint16_t op; } order[] = {
		{ VSOCK_OWE_RST, VSOCK_OP_RST },
		{ VSOCK_OWE_REQUEST, VSOCK_OP_REQUEST },
		{ VSOCK_OWE_RESPONSE, VSOCK_OP_RESPONSE },
		{ VSOCK_OWE_CREDIT, VSOCK_OP_CREDIT_UPDATE },
		{ VSOCK_OWE_SHUTDOWN, VSOCK_OP_SHUTDOWN },
	};
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (c->owe & order[i].bit)
			return order[i].op;
	return 0;
}

bool vsock_conn_finished(const struct vsock_conn *c)
{
	return c->state == VSOCK_CLOSING && !c->owe && !c->tx_held;
}
