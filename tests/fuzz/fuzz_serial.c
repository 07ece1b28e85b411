/* libFuzzer harness: the 16550 UART (vcpu-worker/serial.c), whose registers
 * a guest drives at will and whose receive side the host feeds, checked
 * against a shadow of what serial.h promises.
 *
 * Input: a sequence of records, each starting with an op byte:
 *   op & 3 == 0  port read:  byte off; the access is op bits 2-3 as size
 *                (1, 2, 4, 8) at COM1 + off % 16 - 4 (so partly or wholly
 *                outside the window too), through bus_access
 *   op & 3 == 1  port write: byte off, then size value bytes
 *   op & 3 == 2  host input: byte n, then n bytes; serial_input() is offered
 *                them (1 + op bits 2-5) times over, so it can fill up
 *   op & 3 == 3  serial_rx_space()
 * Asserted (abort): every register read; bytes reach ops->out exactly when
 * the guest wrote THR with DLAB and loopback clear, in order, and with the
 * lock released; set_irq only on a change, with the lock held, and the line
 * high exactly when IIR reports a source; rx_ready (lock released) once
 * after an input that did not fit, when room comes back, and never
 * otherwise; accesses outside the window are unhandled and read all ones.
 *
 * Links: vcpu-worker/serial.c vcpu-worker/bus.c */
#include <errno.h>
#include <linux/serial_reg.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "serial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define COM1 0x3f8u
#define CHECK(c) ((c) ? (void)0 : abort())

static struct serial s;
static struct bus bus;

/* What the fakes saw during one operation. */
static struct {
	uint8_t out[16];
	size_t nout;
	unsigned int rx_ready;
	bool line;
} got;

/* The shadow UART: serial.h's behaviour, register by register. */
static struct {
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool fifo, thr_ip, blocked;
	size_t head, count;
	uint8_t rx[SERIAL_RX_SIZE];
} sh;

static void lock_is(bool held)
{
	int err = pthread_mutex_trylock(&s.lock);
	CHECK(held ? err == EBUSY : err == 0);
	if (!err)
		pthread_mutex_unlock(&s.lock);
}

static void fake_out(void *opaque, const uint8_t *buf, size_t n)
{
	CHECK(opaque == &got && n > 0 && got.nout + n <= sizeof(got.out));
	lock_is(false);
	memcpy(got.out + got.nout, buf, n);
	got.nout += n;
}

static void fake_irq(void *opaque, bool level)
{
	CHECK(opaque == &got && level != got.line);
	lock_is(true);
	got.line = level;
}

static void fake_rx_ready(void *opaque)
{
	CHECK(opaque == &got);
	lock_is(false);
	got.rx_ready++;
}

static const struct serial_ops ops = { fake_out, fake_irq, fake_rx_ready };

static void sh_push(uint8_t v)
{
	if (sh.count < SERIAL_RX_SIZE)
		sh.rx[(sh.head + sh.count++) % SERIAL_RX_SIZE] = v;
}

static uint8_t sh_iir(void)
{
	uint8_t fifo = sh.fifo ? 0xc0 : 0;
	if ((sh.ier & UART_IER_RDI) && sh.count)
		return UART_IIR_RDI | fifo;
	if ((sh.ier & UART_IER_THRI) && sh.thr_ip)
		return UART_IIR_THRI | fifo;
	return UART_IIR_NO_INT | fifo;
}

static uint8_t sh_read(unsigned int reg)
{
	bool dlab = sh.lcr & UART_LCR_DLAB;
	uint8_t v = 0;
	switch (reg) {
	case UART_RX:
		if (dlab)
			return sh.dll;
		if (sh.count) {
			v = sh.rx[sh.head];
			sh.head = (sh.head + 1) % SERIAL_RX_SIZE;
			sh.count--;
		}
		return v;
	case UART_IER:
		return dlab ? sh.dlm : sh.ier;
	case UART_IIR:
		v = sh_iir();
		if ((v & UART_IIR_ID) == UART_IIR_THRI)
			sh.thr_ip = false;
		return v;
	case UART_LCR:
		return sh.lcr;
	case UART_MCR:
		return sh.mcr;
	case UART_LSR:
		return UART_LSR_TEMT | UART_LSR_THRE | (sh.count ? UART_LSR_DR : 0);
	case UART_MSR:
		if (!(sh.mcr & UART_MCR_LOOP))
			return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
		return (sh.mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
		       (sh.mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
		       (sh.mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
		       (sh.mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
	default:
		return sh.scr;
	}
}

/* Returns whether the byte is one ops->out must see. */
static bool sh_write(unsigned int reg, uint8_t v)
{
	bool dlab = sh.lcr & UART_LCR_DLAB;
	switch (reg) {
	case UART_TX:
		if (dlab) {
			sh.dll = v;
			return false;
		}
		sh.thr_ip = true;
		if (sh.mcr & UART_MCR_LOOP) {
			sh_push(v);
			return false;
		}
		return true;
	case UART_IER:
		if (dlab) {
			sh.dlm = v;
		} else {
			v &= 0x0f;
			if ((v ^ sh.ier) & UART_IER_THRI)
				sh.thr_ip = v & UART_IER_THRI;
			sh.ier = v;
		}
		return false;
	case UART_FCR:
		sh.fifo = v & UART_FCR_ENABLE_FIFO;
		if (v & UART_FCR_CLEAR_RCVR)
			sh.count = 0;
		return false;
	case UART_LCR:
		sh.lcr = v;
		return false;
	case UART_MCR:
		sh.mcr = v & 0x1f;
		return false;
	case UART_SCR:
		sh.scr = v;
		return false;
	default:
		return false;
	}
}

/* After every operation: the line and rx_ready as promised. */
static void check_after(void)
{
	CHECK(got.line == !(sh_iir() & UART_IIR_NO_INT));
	unsigned int want = sh.blocked && sh.count < SERIAL_RX_SIZE;
	CHECK(got.rx_ready == want);
	if (want)
		sh.blocked = false;
	got.rx_ready = 0;
}

static void access(uint8_t op, uint8_t offb, const uint8_t *val)
{
	uint32_t len = 1u << ((op >> 2) & 3);
	int off = offb % 16 - 4;
	uint8_t buf[8], want_out[8];
	size_t nwant = 0;
	bool is_write = op & 1;
	bool inside = off >= 0 && off + (int)len <= SERIAL_NPORTS;
	if (is_write)
		memcpy(buf, val, len);
	else
		memset(buf, 0x5a, sizeof(buf));
	got.nout = 0;
	CHECK(bus_access(&bus, COM1 + off, buf, len, is_write) == inside);
	for (uint32_t i = 0; i < len; i++) {
		if (!inside)
			CHECK(is_write ? buf[i] == val[i] : buf[i] == 0xff);
		else if (!is_write)
			CHECK(buf[i] == sh_read((unsigned int)off + i));
		else if (sh_write((unsigned int)off + i, buf[i]))
			want_out[nwant++] = buf[i];
	}
	CHECK(got.nout == nwant && !memcmp(got.out, want_out, nwant));
}

static void input(uint8_t op, const uint8_t *p, size_t n)
{
	uint8_t buf[255 * 16];
	size_t offered = n * (1 + ((op >> 2) & 15));
	for (size_t i = 0; i < offered; i++)
		buf[i] = p[i % n];
	size_t room = SERIAL_RX_SIZE - sh.count;
	size_t took = serial_input(&s, buf, offered);
	CHECK(took == (offered < room ? offered : room));
	for (size_t i = 0; i < took; i++)
		sh_push(buf[i]);
	if (took < offered)
		sh.blocked = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(&got, 0, sizeof(got));
	memset(&sh, 0, sizeof(sh));
	sh.mcr = UART_MCR_OUT2;
	sh.dll = 12;
	memset(&bus, 0, sizeof(bus));
	if (serial_init(&s, &ops, &got) != 0 || serial_register(&s, &bus, COM1) != 0)
		abort();
	size_t pos = 0;
	while (pos < size) {
		uint8_t op = data[pos++];
		if ((op & 3) == 3) {
			CHECK(serial_rx_space(&s) == (sh.count < SERIAL_RX_SIZE));
			continue;
		}
		if (pos == size)
			break;
		uint8_t arg = data[pos++];
		if ((op & 3) == 2) {
			if (arg == 0 || arg > size - pos)
				break;
			input(op, data + pos, arg);
			pos += arg;
		} else {
			uint32_t len = 1u << ((op >> 2) & 3);
			if ((op & 1) && len > size - pos)
				break;
			access(op, arg, data + pos);
			if (op & 1)
				pos += len;
		}
		check_after();
	}
	serial_destroy(&s);
	return 0;
}
