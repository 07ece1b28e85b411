#include "serial.h"

#include <linux/serial_reg.h>
#include <string.h>

/* Divisor 12: 9600 baud, what a PC BIOS leaves behind. */
#define SERIAL_RESET_DLL 12
#define IIR_FIFO_BITS 0xc0
#define IER_MASK 0x0f
#define MCR_MASK 0x1f

/* What a register access leaves to do once the lock is dropped. */
struct effects {
	uint8_t tx[8]; /* a bus access is at most 8 bytes */
	size_t ntx;
	bool rx_ready;
};

static uint8_t serial_iir(const struct serial *s)
{
	uint8_t id = UART_IIR_NO_INT;
	if ((s->ier & UART_IER_RDI) && s->rx_count)
		id = UART_IIR_RDI;
	else if ((s->ier & UART_IER_THRI) && s->thr_ipending)
		id = UART_IIR_THRI;
	return id | (s->fifo ? IIR_FIFO_BITS : 0);
}

static void update_irq(struct serial *s)
{
	bool level = !(serial_iir(s) & UART_IIR_NO_INT);
	if (level != s->irq_level) {
		s->irq_level = level;
		s->ops.set_irq(s->opaque, level);
	}
}

static size_t rx_push(struct serial *s, const uint8_t *buf, size_t n)
{
	size_t took = 0;
	for (; took < n && s->rx_count < SERIAL_RX_SIZE; took++) {
		s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_SIZE] = buf[took];
		s->rx_count++;
	}
	return took;
}

static uint8_t rx_pop(struct serial *s)
{
	if (!s->rx_count)
		return 0;
	uint8_t v = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_RX_SIZE;
	s->rx_count--;
	return v;
}

static void write_reg(struct serial *s, unsigned int reg, uint8_t v, struct effects *fx)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	switch (reg) {
	case UART_TX:
		if (dlab) {
			s->dll = v;
		} else {
			if (s->mcr & UART_MCR_LOOP)
				rx_push(s, &v, 1);
			else
				fx->tx[fx->ntx++] = v;
			/* Sent at once: THR is empty again. */
			s->thr_ipending = true;
		}
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = v;
			break;
		}
		v &= IER_MASK;
		/* THR is always empty, so enabling its interrupt raises it;
		 * Linux's start-up check relies on that. */
		if ((v ^ s->ier) & UART_IER_THRI)
			s->thr_ipending = v & UART_IER_THRI;
		s->ier = v;
		break;
	case UART_FCR:
		s->fifo = v & UART_FCR_ENABLE_FIFO;
		if (v & UART_FCR_CLEAR_RCVR)
			s->rx_count = 0;
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & MCR_MASK;
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static uint8_t read_msr(const struct serial *s)
{
	if (!(s->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS; /* a cable, always ready */
	/* Loopback wires the modem outputs to the inputs. */
	return (s->mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
	       (s->mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
	       (s->mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
	       (s->mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
}

static uint8_t read_reg(struct serial *s, unsigned int reg)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	uint8_t v;
	switch (reg) {
	case UART_RX:
		return dlab ? s->dll : rx_pop(s);
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR:
		v = serial_iir(s);
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if ((v & UART_IIR_ID) == UART_IIR_THRI)
			s->thr_ipending = false;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return UART_LSR_TEMT | UART_LSR_THRE | (s->rx_count ? UART_LSR_DR : 0);
	case UART_MSR:
		return read_msr(s);
	default:
		return s->scr;
	}
}

/* Under the lock, after every change of state. */
static void settle(struct serial *s, struct effects *fx)
{
	update_irq(s);
	if (s->rx_blocked && s->rx_count < SERIAL_RX_SIZE) {
		s->rx_blocked = false;
		fx->rx_ready = true;
	}
}

static void run_effects(struct serial *s, const struct effects *fx)
{
	if (fx->ntx)
		s->ops.out(s->opaque, fx->tx, fx->ntx);
	if (fx->rx_ready && s->ops.rx_ready)
		s->ops.rx_ready(s->opaque);
}

/* Wider accesses reach the registers a byte at a time, as on the ISA bus. */
static void serial_bus_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	struct effects fx = { .ntx = 0 };
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = read_reg(s, (unsigned int)(off + i));
	settle(s, &fx);
	pthread_mutex_unlock(&s->lock);
	run_effects(s, &fx);
}

static void serial_bus_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	struct effects fx = { .ntx = 0 };
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		write_reg(s, (unsigned int)(off + i), data[i], &fx);
	settle(s, &fx);
	pthread_mutex_unlock(&s->lock);
	run_effects(s, &fx);
}

int serial_init(struct serial *s, const struct serial_ops *ops, void *opaque)
{
	memset(s, 0, sizeof(*s));
	int err = pthread_mutex_init(&s->lock, NULL);
	if (err)
		return -err;
	s->ops = *ops;
	s->opaque = opaque;
	s->mcr = UART_MCR_OUT2;
	s->dll = SERIAL_RESET_DLL;
	return 0;
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

int serial_register(struct serial *s, struct bus *bus, uint16_t port)
{
	struct bus_dev dev = {
		.name = "serial",
		.base = port,
		.len = SERIAL_NPORTS,
		.read = serial_bus_read,
		.write = serial_bus_write,
		.opaque = s,
	};
	return bus_add(bus, &dev);
}

size_t serial_input(struct serial *s, const uint8_t *buf, size_t n)
{
	pthread_mutex_lock(&s->lock);
	size_t took = rx_push(s, buf, n);
	if (took < n)
		s->rx_blocked = true;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return took;
}

bool serial_rx_space(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	bool space = s->rx_count < SERIAL_RX_SIZE;
	pthread_mutex_unlock(&s->lock);
	return space;
}
