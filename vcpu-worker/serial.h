/* A 16550A UART (COM1) for the guest console.
 *
 * Registers RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR and the divisor
 * latch. Transmission is instantaneous: a THR write goes straight to
 * ops->out and THR is empty again, so LSR always shows THRE|TEMT. Interrupt
 * sources are "data ready" (while the receive buffer holds anything, no
 * trigger levels or timeouts) and "THR empty" (set by a THR write or by
 * enabling it in IER; cleared by an IIR read that reports it, or by
 * disabling it); there are no line-status or modem-status events. Loopback
 * (MCR bit 4) sends THR bytes back into the receive buffer instead of out.
 *
 * The receive buffer is larger than the hardware's 16-byte FIFO so that
 * pasted input is not lost: serial_input() takes what fits, and ops->rx_ready
 * says when to offer the rest.
 *
 * Threads: vCPU threads reach the registers through the bus while the I/O
 * thread calls serial_input(); a mutex inside struct serial guards the state.
 * ops->set_irq is called with that mutex held, so that levels reach the
 * interrupt line in the order the state changed; ops->out and ops->rx_ready
 * are called after it is released. None of them may call back into this
 * serial. */
#ifndef CELLVM_SERIAL_H
#define CELLVM_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#define SERIAL_NPORTS 8
#define SERIAL_RX_SIZE 1024

struct serial_ops {
	/* Bytes the guest transmitted, in order. */
	void (*out)(void *opaque, const uint8_t *buf, size_t n);
	/* The interrupt line's new level; only called when it changes. */
	void (*set_irq)(void *opaque, bool level);
	/* Optional: the receive buffer has room again after serial_input()
	 * took less than it was offered. */
	void (*rx_ready)(void *opaque);
};

/* The fields are private to serial.c. */
struct serial {
	pthread_mutex_t lock;
	struct serial_ops ops;
	void *opaque;
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool fifo;         /* FCR bit 0, shown in IIR bits 6-7 */
	bool thr_ipending; /* THR-empty interrupt not yet seen in IIR */
	bool irq_level;    /* last level given to set_irq */
	bool rx_blocked;   /* serial_input() took less than offered */
	size_t rx_head, rx_count;
	uint8_t rx[SERIAL_RX_SIZE];
};

/* Resets the UART state; ops is copied. -errno if the mutex cannot be set up. */
int serial_init(struct serial *s, const struct serial_ops *ops, void *opaque);
void serial_destroy(struct serial *s);

/* Adds the SERIAL_NPORTS registers at port to the port-I/O bus (bus_add's
 * errors). */
int serial_register(struct serial *s, struct bus *bus, uint16_t port);

/* Host input: queues up to n bytes and returns how many fit. */
size_t serial_input(struct serial *s, const uint8_t *buf, size_t n);

/* Whether serial_input() would take at least one byte now. */
bool serial_rx_space(struct serial *s);

#endif
