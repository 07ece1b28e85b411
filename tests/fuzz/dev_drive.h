/* The fuzz harnesses' driver for a real device process (fuzz_dev_*.c): it
 * starts the device from its serve_program with real options, as its main()
 * would, serves it a frontend over a socketpair with real vhost-user
 * messages, and plays the guest on a memfd of guest memory.
 *
 * An input is a 6-byte header {u8 queue size: 4 << (n % 7); u8 variant, for
 * the harness; le32 mask ANDed with the offered features, VERSION_1 always
 * set}, then records, each an op byte (low nibble) and its arguments:
 *   0 ADD q nseg flags, then per segment le16 (bit 15 device-writable, low
 *     13 bits its length) and, for a readable one, its bytes (bit 14: one
 *     byte, repeated): a chain, made available (flags bit 0: through an
 *     indirect table, if negotiated);
 *   1 KICK q;              2 HOST le16 n, bytes: the host side gives them;
 *   3 RAW le16 off (times 4), u8 n, bytes: a write anywhere in guest memory;
 *   4 STOP q flags: GET_VRING_BASE, and with bit 0 a restart at that base;
 *   5 RENEG qsel le32 mask: stop everything, reset, negotiate anew;
 *   6 CONFIG set off len [bytes]: GET_CONFIG, or SET_CONFIG if set is odd;
 *   7 HOST_CLOSE;          8 ENABLE q on.
 * Each record ends by running the event loop until idle (an async device
 * also until what it popped is answered), then checking (abort on failure):
 * each used id is a chain in flight, its len at most the chain's writable
 * bytes; guest memory equals what the driver wrote except in the used rings
 * and the writable buffers of chains in flight or just used. A RAW write
 * into a ring or a descriptor table (indirect too) turns those checks off
 * for the rest of the input. DD_DEBUG=1 in the environment: the device's
 * debug log lines on stderr, for a reproducer. */
#ifndef CELLVM_DEV_DRIVE_H
#define CELLVM_DEV_DRIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "serve.h"

#define DD_MAX_SEG 16u
#define DD_MAX_QUEUES 2u

struct dd_seg {
	uint32_t gpa, len;
	bool w;
};

struct dd_chain {
	bool busy;
	uint16_t pos; /* its avail ring position */
	unsigned int nseg, ndesc;
	struct dd_seg seg[DD_MAX_SEG];
	uint16_t desc[DD_MAX_SEG]; /* descriptors it holds in the table */
	uint64_t wbytes;
	uint32_t table, table_len; /* its indirect table; len 0: none */
};

struct dd;

/* What a harness adds for its device; every hook is optional. */
struct dd_hooks {
	bool async; /* completions come later: wait for popped chains */
	void (*host_feed)(struct dd *d, const uint8_t *p, size_t n);
	void (*host_close)(struct dd *d);
	/* A chain came back with len; its buffers are still as used. */
	void (*used)(struct dd *d, unsigned int q, const struct dd_chain *c, uint32_t len);
	/* After each record's checks: what reached the host side. */
	void (*check)(struct dd *d);
};

struct dd {
	const struct dd_hooks *h;
	void *dev;
	struct serve_device sd;
	struct vub b;
	uint8_t *mem;     /* the driver's view of guest memory */
	bool loose;       /* rings written raw: no used/memory checks */
	unsigned int dropped; /* chains a ring stop took unanswered */
	bool config_written;  /* a SET_CONFIG was sent */
	void *priv;       /* the harness's */
};

/* Starts prog's device with the options argv[0..argc) (the driver adds
 * --fd) into d; aborts if it fails. */
void dd_start(struct dd *d, const struct serve_program *prog, int argc, const char *const *argv);

/* Closes what the device kept and frees it. */
void dd_stop(struct dd *d);

/* Runs one input against d as above. */
void dd_run(struct dd *d, const struct dd_hooks *h, const uint8_t *data, size_t size);

/* Guest memory the device may read, for a hook: bytes [gpa, gpa+n) into out. */
void dd_read(const struct dd *d, uint32_t gpa, void *out, size_t n);

#endif
