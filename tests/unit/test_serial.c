#include <criterion/criterion.h>
#include <errno.h>
#include <linux/serial_reg.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "serial.h"

#define PORT 0x3f8

/* ---------------------------------------------------------- recording callbacks */

/* Written by whichever thread calls back; checked by the test at the end. */
static struct {
	uint8_t out[4096];
	size_t nout;
	bool line;
	bool levels[64];
	size_t nlevels;
	unsigned int same_level; /* set_irq calls that did not change the level */
	unsigned int rx_ready;
	sem_t room;
} rec;

static void rec_out(void *opaque, const uint8_t *buf, size_t n)
{
	(void)opaque;
	for (size_t i = 0; i < n && rec.nout < sizeof(rec.out); i++)
		rec.out[rec.nout++] = buf[i];
}

static void rec_irq(void *opaque, bool level)
{
	(void)opaque;
	if (level == rec.line)
		rec.same_level++;
	rec.line = level;
	if (rec.nlevels < sizeof(rec.levels))
		rec.levels[rec.nlevels++] = level;
}

static void rec_rx_ready(void *opaque)
{
	(void)opaque;
	rec.rx_ready++;
	sem_post(&rec.room);
}

static const struct serial_ops ops = {
	.out = rec_out,
	.set_irq = rec_irq,
	.rx_ready = rec_rx_ready,
};

static struct serial s;
static struct bus bus;

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	sem_init(&rec.room, 0, 0);
	memset(&bus, 0, sizeof(bus));
	cr_assert_eq(serial_init(&s, &ops, NULL), 0);
	cr_assert_eq(serial_register(&s, &bus, PORT), 0);
}

static void teardown(void)
{
	/* Every test: the line only ever changed level. */
	cr_expect_eq(rec.same_level, 0);
	serial_destroy(&s);
}

TestSuite(serial, .init = setup, .fini = teardown);

static uint8_t in8(unsigned int reg)
{
	uint8_t v;
	cr_assert(bus_access(&bus, PORT + reg, &v, 1, false));
	return v;
}

static void out8(unsigned int reg, uint8_t v)
{
	cr_assert(bus_access(&bus, PORT + reg, &v, 1, true));
}

static void expect_levels(const bool *want, size_t n)
{
	cr_assert_eq(rec.nlevels, n, "%zu level changes, expected %zu", rec.nlevels, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(rec.levels[i], want[i], "change %zu", i);
}

static void input(const char *str)
{
	size_t n = strlen(str);
	cr_assert_eq(serial_input(&s, (const uint8_t *)str, n), n);
}

/* ---------------------------------------------------------- registers */

Test(serial, reset_state)
{
	cr_assert_eq(in8(UART_LSR), UART_LSR_TEMT | UART_LSR_THRE);
	cr_assert_eq(in8(UART_IIR), UART_IIR_NO_INT);
	cr_assert_eq(in8(UART_IER), 0);
	cr_assert_eq(in8(UART_LCR), 0);
	cr_assert_eq(in8(UART_MCR), UART_MCR_OUT2);
	cr_assert_eq(in8(UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	cr_assert_eq(in8(UART_RX), 0); /* empty: no crash, no data */
	cr_assert_eq(rec.nlevels, 0);
	cr_assert_eq(rec.nout, 0);
	cr_assert(serial_rx_space(&s));
}

Test(serial, thr_output_in_order)
{
	const char *msg = "Linux version 6.1\r\n";
	for (const char *p = msg; *p; p++)
		out8(UART_TX, (uint8_t)*p);
	cr_assert_eq(rec.nout, strlen(msg));
	cr_assert_eq(memcmp(rec.out, msg, rec.nout), 0);
	/* Transmission is instantaneous. */
	cr_assert_eq(in8(UART_LSR), UART_LSR_TEMT | UART_LSR_THRE);
	/* Interrupts off: no line changes. */
	cr_assert_eq(rec.nlevels, 0);
}

Test(serial, divisor_latch_does_not_output)
{
	out8(UART_IER, UART_IER_RDI);
	out8(UART_LCR, UART_LCR_DLAB | UART_LCR_WLEN8);
	out8(UART_DLL, 0x01);
	out8(UART_DLM, 0x02);
	cr_assert_eq(rec.nout, 0);
	cr_assert_eq(in8(UART_DLL), 0x01);
	cr_assert_eq(in8(UART_DLM), 0x02);
	out8(UART_LCR, UART_LCR_WLEN8);
	cr_assert_eq(in8(UART_LCR), UART_LCR_WLEN8);
	/* IER and THR are back, untouched by the latch writes. */
	cr_assert_eq(in8(UART_IER), UART_IER_RDI);
	out8(UART_TX, 'x');
	cr_assert_eq(rec.nout, 1);
	cr_assert_eq(rec.out[0], 'x');
	out8(UART_LCR, UART_LCR_DLAB);
	cr_assert_eq(in8(UART_DLL), 0x01);
	cr_assert_eq(in8(UART_DLM), 0x02);
	/* Input stays in the buffer while the latch hides RBR. */
	input("k");
	cr_assert_eq(in8(UART_DLL), 0x01);
	out8(UART_LCR, 0);
	cr_assert_eq(in8(UART_RX), 'k');
}

Test(serial, scratch_lcr_mcr_read_back)
{
	out8(UART_SCR, 0x5a);
	cr_assert_eq(in8(UART_SCR), 0x5a);
	out8(UART_LCR, 0x1b);
	cr_assert_eq(in8(UART_LCR), 0x1b);
	out8(UART_MCR, 0xff);
	cr_assert_eq(in8(UART_MCR), 0x1f);
	out8(UART_MCR, UART_MCR_OUT2 | UART_MCR_RTS | UART_MCR_DTR);
	cr_assert_eq(in8(UART_MCR), UART_MCR_OUT2 | UART_MCR_RTS | UART_MCR_DTR);
}

Test(serial, lsr_msr_are_read_only)
{
	out8(UART_LSR, 0);
	out8(UART_MSR, 0);
	cr_assert_eq(in8(UART_LSR), UART_LSR_TEMT | UART_LSR_THRE);
	cr_assert_eq(in8(UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
}

Test(serial, wide_access_is_bytewise)
{
	input("q");
	uint8_t v[2];
	cr_assert(bus_access(&bus, PORT + UART_LSR, v, 2, false));
	cr_assert_eq(v[0], UART_LSR_TEMT | UART_LSR_THRE | UART_LSR_DR);
	cr_assert_eq(v[1], UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	uint8_t w[2] = { 'a', 'b' };
	cr_assert(bus_access(&bus, PORT + UART_SCR - 1, w, 2, true)); /* MSR (ignored), SCR */
	cr_assert_eq(in8(UART_SCR), 'b');
	/* Past the window: not ours. */
	cr_assert(!bus_access(&bus, PORT + UART_SCR, w, 2, true));
}

/* ---------------------------------------------------------- Linux's probes */

/* autoconfig(): IER keeps its low 4 bits (and not bit 6, the XScale UUE). */
Test(serial, linux_ier_probe)
{
	out8(UART_IER, 0);
	cr_assert_eq(in8(UART_IER) & 0x0f, 0);
	out8(UART_IER, 0x0f);
	cr_assert_eq(in8(UART_IER) & 0x0f, 0x0f);
	out8(UART_IER, 0);
	out8(UART_IER, 0x40);
	cr_assert_eq(in8(UART_IER), 0);
}

/* autoconfig(): FCR enable shows as IIR bits 6-7 = 3, a 16550A. */
Test(serial, linux_fifo_probe)
{
	out8(UART_LCR, UART_LCR_CONF_MODE_B);
	out8(UART_EFR, 0);
	out8(UART_LCR, 0);
	out8(UART_FCR, UART_FCR_ENABLE_FIFO);
	cr_assert_eq(in8(UART_IIR) >> 6, 3);
	out8(UART_FCR, 0);
	cr_assert_eq(in8(UART_IIR) >> 6, 0);
}

/* autoconfig(): loopback wires MCR to MSR (MCR = LOOP|RTS|OUT2 -> CTS|DCD). */
Test(serial, linux_loopback_probe)
{
	out8(UART_MCR, UART_MCR_LOOP | 0x0a);
	cr_assert_eq(in8(UART_MSR) & 0xf0, UART_MSR_CTS | UART_MSR_DCD);
	out8(UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT1);
	cr_assert_eq(in8(UART_MSR) & 0xf0, UART_MSR_DSR | UART_MSR_RI);
	/* THR bytes come back as input instead of going out. */
	out8(UART_TX, 'z');
	cr_assert_eq(rec.nout, 0);
	cr_assert(in8(UART_LSR) & UART_LSR_DR);
	cr_assert_eq(in8(UART_RX), 'z');
	cr_assert(!(in8(UART_LSR) & UART_LSR_DR));
	out8(UART_MCR, UART_MCR_OUT2);
	cr_assert_eq(in8(UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	out8(UART_TX, 'y');
	cr_assert_eq(rec.nout, 1);
}

/* serial8250_do_startup(): enabling the THRE interrupt must raise it at
 * once, both times, or Linux marks the port with UART_BUG_THRE/TXEN. */
Test(serial, linux_startup_thre_test)
{
	out8(UART_FCR, UART_FCR_ENABLE_FIFO);
	out8(UART_LCR, UART_LCR_WLEN8);

	/* UART_BUG_THRE check (with interrupts masked in the guest). */
	out8(UART_IER, UART_IER_THRI);
	uint8_t iir1 = in8(UART_IIR);
	out8(UART_IER, 0);
	out8(UART_IER, UART_IER_THRI);
	uint8_t iir = in8(UART_IIR);
	out8(UART_IER, 0);
	cr_assert_eq(iir1, 0xc0 | UART_IIR_THRI);
	cr_assert_eq(iir, 0xc0 | UART_IIR_THRI);

	/* UART_BUG_TXEN check. */
	out8(UART_IER, UART_IER_THRI);
	uint8_t lsr = in8(UART_LSR);
	iir = in8(UART_IIR);
	out8(UART_IER, 0);
	cr_assert(lsr & UART_LSR_TEMT);
	cr_assert(!(iir & UART_IIR_NO_INT));

	const bool want[] = { 1, 0, 1, 0, 1, 0 };
	expect_levels(want, 6);
	cr_assert_eq(in8(UART_IIR), 0xc0 | UART_IIR_NO_INT);
}

/* ---------------------------------------------------------- interrupts */

/* start_tx, the interrupt handler's tx_chars, then stop_tx. */
Test(serial, tx_interrupt_cycle)
{
	out8(UART_FCR, UART_FCR_ENABLE_FIFO);
	out8(UART_IER, UART_IER_THRI);
	cr_assert(rec.line);
	cr_assert_eq(in8(UART_IIR), 0xc0 | UART_IIR_THRI); /* acknowledges */
	cr_assert(!rec.line);
	cr_assert_eq(in8(UART_IIR), 0xc0 | UART_IIR_NO_INT);
	for (int i = 0; i < 16; i++)
		out8(UART_TX, (uint8_t)('a' + i));
	cr_assert(rec.line); /* THR empty again */
	cr_assert_eq(in8(UART_IIR), 0xc0 | UART_IIR_THRI);
	cr_assert(!rec.line);
	out8(UART_TX, '!');
	cr_assert(rec.line);
	out8(UART_IER, 0); /* stop_tx: nothing left to send */
	cr_assert(!rec.line);
	cr_assert_eq(in8(UART_IIR), 0xc0 | UART_IIR_NO_INT);
	cr_assert_eq(rec.nout, 17);
	const bool want[] = { 1, 0, 1, 0, 1, 0 };
	expect_levels(want, 6);
}

Test(serial, thr_write_without_thri_stays_low)
{
	out8(UART_TX, 'a');
	cr_assert_eq(rec.nlevels, 0);
	cr_assert_eq(in8(UART_IIR), UART_IIR_NO_INT);
	out8(UART_IER, UART_IER_RDI);
	out8(UART_TX, 'b');
	cr_assert_eq(rec.nlevels, 0);
	cr_assert_eq(in8(UART_IIR), UART_IIR_NO_INT);
}

Test(serial, rx_interrupt_cycle)
{
	out8(UART_FCR, UART_FCR_ENABLE_FIFO);
	out8(UART_IER, UART_IER_RDI);
	cr_assert_eq(rec.nlevels, 0);
	input("ab");
	cr_assert(rec.line);
	cr_assert_eq(in8(UART_IIR), 0xc0 | UART_IIR_RDI);
	cr_assert(rec.line); /* reading IIR does not clear data-ready */
	cr_assert_eq(in8(UART_LSR), UART_LSR_TEMT | UART_LSR_THRE | UART_LSR_DR);
	cr_assert_eq(in8(UART_RX), 'a');
	cr_assert(rec.line);
	cr_assert_eq(in8(UART_RX), 'b'); /* now empty */
	cr_assert(!rec.line);
	cr_assert_eq(in8(UART_LSR), UART_LSR_TEMT | UART_LSR_THRE);
	cr_assert_eq(in8(UART_IIR), 0xc0 | UART_IIR_NO_INT);
	const bool want[] = { 1, 0 };
	expect_levels(want, 2);
}

Test(serial, rx_without_rdi_only_sets_dr)
{
	input("x");
	cr_assert_eq(rec.nlevels, 0);
	cr_assert(in8(UART_LSR) & UART_LSR_DR);
	out8(UART_IER, UART_IER_RDI); /* pending data raises it at once */
	cr_assert(rec.line);
	out8(UART_IER, 0);
	cr_assert(!rec.line);
	cr_assert_eq(in8(UART_RX), 'x');
}

/* Data ready outranks THR empty; an IIR read that reports data ready
 * leaves THR empty pending. */
Test(serial, iir_priority)
{
	out8(UART_IER, UART_IER_RDI | UART_IER_THRI);
	cr_assert(rec.line);
	input("x");
	cr_assert_eq(in8(UART_IIR), UART_IIR_RDI);
	cr_assert_eq(in8(UART_IIR), UART_IIR_RDI);
	cr_assert_eq(in8(UART_RX), 'x');
	cr_assert(rec.line);
	cr_assert_eq(in8(UART_IIR), UART_IIR_THRI);
	cr_assert(!rec.line);
	cr_assert_eq(in8(UART_IIR), UART_IIR_NO_INT);
	const bool want[] = { 1, 0 };
	expect_levels(want, 2);
}

Test(serial, thri_disable_clears_pending)
{
	out8(UART_IER, UART_IER_THRI);
	cr_assert(rec.line);
	out8(UART_IER, UART_IER_RDI);
	cr_assert(!rec.line);
	/* Re-enabling THRI alone (other bits unchanged) raises it again. */
	out8(UART_IER, UART_IER_RDI | UART_IER_THRI);
	cr_assert(rec.line);
	/* Writing the same IER again does not re-arm an acknowledged THRE. */
	cr_assert_eq(in8(UART_IIR), UART_IIR_THRI);
	out8(UART_IER, UART_IER_RDI | UART_IER_THRI);
	cr_assert(!rec.line);
	const bool want[] = { 1, 0, 1, 0 };
	expect_levels(want, 4);
}

Test(serial, set_irq_only_on_changes)
{
	out8(UART_IER, UART_IER_THRI);
	for (int i = 0; i < 100; i++)
		out8(UART_TX, '.');
	input("abc");
	out8(UART_IER, UART_IER_THRI | UART_IER_RDI);
	cr_assert_eq(rec.nlevels, 1);
	cr_assert(rec.line);
}

/* ---------------------------------------------------------- input buffer */

Test(serial, input_buffer_fills_and_drains)
{
	uint8_t big[1500];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	cr_assert_eq(serial_input(&s, big, sizeof(big)), SERIAL_RX_SIZE);
	cr_assert(!serial_rx_space(&s));
	cr_assert_eq(serial_input(&s, big + SERIAL_RX_SIZE, 10), 0);
	cr_assert_eq(rec.rx_ready, 0);

	cr_assert_eq(in8(UART_RX), big[0]);
	cr_assert_eq(rec.rx_ready, 1); /* room again: offer the rest */
	cr_assert(serial_rx_space(&s));
	cr_assert_eq(serial_input(&s, big + SERIAL_RX_SIZE, sizeof(big) - SERIAL_RX_SIZE), 1);
	cr_assert_eq(in8(UART_RX), big[1]);
	cr_assert_eq(rec.rx_ready, 2);
	cr_assert_eq(serial_input(&s, big + SERIAL_RX_SIZE + 1, sizeof(big) - SERIAL_RX_SIZE - 1), 1);

	/* Everything comes out in order, nothing lost or repeated. */
	for (size_t i = 2; i < SERIAL_RX_SIZE + 2; i++) {
		cr_assert(in8(UART_LSR) & UART_LSR_DR, "byte %zu", i);
		cr_assert_eq(in8(UART_RX), big[i], "byte %zu", i);
	}
	cr_assert(!(in8(UART_LSR) & UART_LSR_DR));
	cr_assert_eq(rec.rx_ready, 3);
}

Test(serial, rx_ready_only_after_short_input)
{
	input("abc");
	cr_assert_eq(in8(UART_RX), 'a');
	out8(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
	cr_assert_eq(rec.rx_ready, 0);
}

Test(serial, fcr_clears_receive_buffer)
{
	out8(UART_IER, UART_IER_RDI);
	uint8_t big[SERIAL_RX_SIZE + 1] = { 0 };
	cr_assert_eq(serial_input(&s, big, sizeof(big)), SERIAL_RX_SIZE);
	cr_assert(rec.line);
	out8(UART_FCR, UART_FCR_ENABLE_FIFO); /* no clear bit: kept */
	cr_assert(in8(UART_LSR) & UART_LSR_DR);
	cr_assert_eq(rec.rx_ready, 0);
	out8(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
	cr_assert(!(in8(UART_LSR) & UART_LSR_DR));
	cr_assert(!rec.line);
	cr_assert_eq(rec.rx_ready, 1);
	cr_assert(serial_rx_space(&s));
}

Test(serial, loopback_fills_buffer_without_output)
{
	out8(UART_MCR, UART_MCR_LOOP);
	for (int i = 0; i < SERIAL_RX_SIZE + 10; i++)
		out8(UART_TX, (uint8_t)i);
	cr_assert_eq(rec.nout, 0);
	cr_assert(!serial_rx_space(&s));
	for (int i = 0; i < SERIAL_RX_SIZE; i++)
		cr_assert_eq(in8(UART_RX), (uint8_t)i);
	cr_assert(!(in8(UART_LSR) & UART_LSR_DR));
}

Test(serial, register_conflicts)
{
	struct serial other;
	cr_assert_eq(serial_init(&other, &ops, NULL), 0);
	cr_assert_eq(serial_register(&other, &bus, PORT + 4), -EEXIST);
	cr_assert_eq(serial_register(&other, &bus, PORT - 8), 0);
	serial_destroy(&other);
}

/* ---------------------------------------------------------- threads */

#define STREAM 200000

static void *producer(void *arg)
{
	(void)arg;
	uint8_t chunk[300];
	size_t sent = 0;
	while (sent < STREAM) {
		size_t n = STREAM - sent < sizeof(chunk) ? STREAM - sent : sizeof(chunk);
		for (size_t i = 0; i < n; i++)
			chunk[i] = (uint8_t)((sent + i) * 13);
		size_t took = serial_input(&s, chunk, n);
		sent += took;
		if (took < n) {
			/* rx_ready must come: a lost wake-up fails the test. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 10;
			if (sem_timedwait(&rec.room, &ts))
				return (void *)1;
		}
	}
	return NULL;
}

/* The I/O thread feeds input while a vCPU drains it with interrupts on. */
Test(serial, concurrent_input_and_reads, .timeout = 60)
{
	out8(UART_IER, UART_IER_RDI);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, producer, NULL), 0);
	for (size_t got = 0; got < STREAM;) {
		if (!(in8(UART_LSR) & UART_LSR_DR))
			continue;
		uint8_t v = in8(UART_RX);
		cr_assert_eq(v, (uint8_t)(got * 13), "byte %zu", got);
		got++;
	}
	void *ret;
	pthread_join(t, &ret);
	cr_assert_null(ret);
	cr_assert(!rec.line);
	cr_assert_eq(in8(UART_IIR), UART_IIR_NO_INT);
	cr_assert_eq(rec.same_level, 0);
}
