/* One vsock stream connection between the guest and a host socket, as a
 * pure state machine (virtio 1.2, 5.10.6.3-6): what a packet from the
 * guest or a host-side event does to it, which control packets it owes the
 * guest, and the credit both ways. The device (vsock.c) does the I/O.
 *
 * Credit: the guest may have at most buf_alloc bytes in flight to us
 * (received, not yet taken by the host socket: tx_held); fwd_cnt counts
 * what the host took, and the guest learns it from every header we send.
 * We send the guest at most what its own buf_alloc/fwd_cnt leave free. A
 * guest that sends past its credit, or breaks the protocol, is reset. */
#ifndef CELLVM_VSOCK_CSM_H
#define CELLVM_VSOCK_CSM_H

#include <stdbool.h>
#include <stdint.h>

#include "vsock_pkt.h"

enum vsock_state {
	VSOCK_CONNECTING,  /* host-initiated: REQUEST owed or sent, no RESPONSE yet */
	VSOCK_ESTABLISHED,
	VSOCK_CLOSING,     /* done with the guest: goes once nothing is owed or held */
};

/* Control packets a connection owes the guest, sent as rx buffers come,
 * RST first. */
#define VSOCK_OWE_RST 1u
#define VSOCK_OWE_REQUEST 2u
#define VSOCK_OWE_RESPONSE 4u
#define VSOCK_OWE_CREDIT 8u
#define VSOCK_OWE_SHUTDOWN 16u

struct vsock_conn {
	enum vsock_state state;
	uint32_t host_port, guest_port;
	uint32_t buf_alloc;      /* what the guest may have in flight to us */
	uint32_t tx_held;        /* guest bytes received, not yet taken by the host */
	uint32_t fwd_cnt;        /* guest bytes the host took */
	uint32_t fwd_told;       /* fwd_cnt as last sent to the guest */
	uint32_t rx_cnt;         /* bytes sent to the guest */
	uint32_t peer_buf_alloc; /* the guest's, from its last header */
	uint32_t peer_fwd_cnt;
	uint32_t owe;            /* VSOCK_OWE_* */
	uint32_t peer_shut;      /* VSOCK_SHUTDOWN_* the guest sent */
	bool host_eof;           /* the host side will send no more */
};

/* What the device must do after a guest packet. */
struct vsock_act {
	uint32_t deliver;    /* the packet's payload goes to the host side */
	bool established;    /* a host-initiated connection was accepted: "OK" */
	bool shut_host;      /* once the held bytes are written: shutdown(SHUT_WR) */
	bool discard;        /* drop the held bytes and close the host side now */
};

/* A host-initiated connection to guest_port: it owes the guest a REQUEST. */
void vsock_conn_init_host(struct vsock_conn *c, uint32_t host_port, uint32_t guest_port,
			  uint32_t buf_alloc);

/* A guest's REQUEST h that reached a host listener: established, it owes
 * the guest a RESPONSE. */
void vsock_conn_init_guest(struct vsock_conn *c, const struct vsock_hdr *h, uint32_t buf_alloc);

/* A packet from the guest for this connection (checked by vsock_hdr_parse,
 * its ports this connection's). */
void vsock_conn_guest(struct vsock_conn *c, const struct vsock_hdr *h, struct vsock_act *a);

/* n held bytes were written to the host socket. */
void vsock_conn_forwarded(struct vsock_conn *c, uint32_t n);

/* Bytes the guest may be sent now: 0 unless established, the host still
 * sending and the guest still receiving. */
uint32_t vsock_conn_rx_room(const struct vsock_conn *c);

/* The host side reached its end: the guest is told SHUTDOWN(SEND). */
void vsock_conn_host_eof(struct vsock_conn *c);

/* The host side failed or hung up: the held bytes are dropped (the device
 * does so) and the guest gets an RST. */
void vsock_conn_host_gone(struct vsock_conn *c);

/* Fills h (cids aside) for the next packet the connection sends: op, and
 * for RW a payload of len bytes (len <= vsock_conn_rx_room). Counts it. */
void vsock_conn_fill(struct vsock_conn *c, uint16_t op, uint32_t len, struct vsock_hdr *h);

/* The op of the next control packet owed (VSOCK_OP_*), or 0. The caller
 * sends it with vsock_conn_fill(c, op, 0, h) once it has an rx buffer. */
uint16_t vsock_conn_next_owed(const struct vsock_conn *c);

/* Nothing left to do: the device forgets the connection. */
bool vsock_conn_finished(const struct vsock_conn *c);

#endif
