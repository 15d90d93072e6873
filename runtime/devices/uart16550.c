/*
 * 16550A UART: the guest's serial console (COM1 at 0x3F8, IRQ 4).
 *
 * Transmit is immediate: a byte written to THR goes straight to the host
 * callback and THR is empty again at once (the THRE interrupt fires as a
 * real chip would after the shift). Receive has the 16-byte FIFO; the board
 * pushes host input only while there is room, so nothing is dropped.
 *
 * Registers (offset, DLAB=0 / DLAB=1):
 *
 *	0 RBR/THR / DLL    1 IER / DLM    2 IIR (read) / FCR (write)
 *	3 LCR   4 MCR   5 LSR   6 MSR   7 SCR
 *
 * Interrupt identification priority: line status (none here), received
 * data (0x4, or 0xC "timeout" below the trigger level), THR empty (0x2),
 * modem status (0x0). The IRQ line is the OR of the enabled causes, gated
 * by MCR.OUT2 as on PC boards. In loopback (MCR bit 4) transmitted bytes
 * come back into the receive FIFO and MSR mirrors the MCR outputs, which
 * Linux's 8250 probe checks.
 */
#include <stdlib.h>
#include <string.h>

#include "vessel/devices.h"

enum {
	UART_IER_RDI = 0x01, UART_IER_THRI = 0x02, UART_IER_RLSI = 0x04, UART_IER_MSI = 0x08,
	UART_LSR_DR = 0x01, UART_LSR_OE = 0x02, UART_LSR_THRE = 0x20, UART_LSR_TEMT = 0x40,
	UART_MCR_OUT2 = 0x08, UART_MCR_LOOP = 0x10,
	UART_FCR_ENABLE = 0x01, UART_FCR_CLEAR_RX = 0x02, UART_FCR_CLEAR_TX = 0x04,
};

struct vsl_uart {
	/* set by the board */
	struct vsl_irq irq;
	vsl_uart_tx_fn *tx;
	void *tx_opaque;
	/* registers */
	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
	uint16_t divisor;
	bool thr_ipending; /* THRE interrupt latched until IIR read or THR write */
	int level;         /* current IRQ line level */
	/* receive FIFO */
	uint8_t rx[VSL_UART_FIFO];
	unsigned rx_head, rx_count;
};

static unsigned uart_trigger(const struct vsl_uart *u)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };

	return (u->fcr & UART_FCR_ENABLE) ? levels[u->fcr >> 6] : 1;
}

static uint8_t uart_iir(const struct vsl_uart *u)
{
	uint8_t fifo = (u->fcr & UART_FCR_ENABLE) ? 0xC0 : 0;

	if ((u->ier & UART_IER_RDI) && u->rx_count)
		return fifo | (u->rx_count >= uart_trigger(u) ? 0x04 : 0x0C);
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return fifo | 0x02;
	if ((u->ier & UART_IER_MSI) && (u->msr & 0x0F))
		return fifo | 0x00;
	return fifo | 0x01;
}

static void uart_update_irq(struct vsl_uart *u)
{
	int level = !(uart_iir(u) & 1);

	/* PC boards gate the UART's interrupt output with OUT2 */
	if (!(u->mcr & UART_MCR_OUT2))
		level = 0;
	if (level != u->level) {
		u->level = level;
		vsl_irq_set(&u->irq, level);
	}
}

static void uart_rx_one(struct vsl_uart *u, uint8_t b)
{
	if (u->rx_count == VSL_UART_FIFO) {
		u->lsr |= UART_LSR_OE;
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % VSL_UART_FIFO] = b;
	u->rx_count++;
	u->lsr |= UART_LSR_DR;
}

size_t vsl_uart_rx_room(const struct vsl_uart *u)
{
	/* in loopback the line is disconnected from the outside */
	if (u->mcr & UART_MCR_LOOP)
		return 0;
	return VSL_UART_FIFO - u->rx_count;
}

bool vsl_uart_rx_listening(const struct vsl_uart *u)
{
	return (u->ier & UART_IER_RDI) && !(u->mcr & UART_MCR_LOOP);
}

size_t vsl_uart_rx_push(struct vsl_uart *u, const uint8_t *buf, size_t len)
{
	size_t n = VSL_MIN(len, vsl_uart_rx_room(u));

	for (size_t i = 0; i < n; i++)
		uart_rx_one(u, buf[i]);
	if (n)
		uart_update_irq(u);
	return n;
}

/* MSR in loopback: CTS<-RTS, DSR<-DTR, RI<-OUT1, DCD<-OUT2 */
static uint8_t uart_loop_msr(uint8_t mcr)
{
	return (uint8_t)(((mcr & 0x02) << 3) | ((mcr & 0x01) << 5) | ((mcr & 0x04) << 4) |
			 ((mcr & 0x08) << 4));
}

static uint64_t uart_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_uart *u = opaque;
	uint8_t v = 0xFF;

	switch (off) {
	case 0:
		if (u->lcr & 0x80)
			return u->divisor & 0xFF;
		v = 0;
		if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % VSL_UART_FIFO;
			u->rx_count--;
		}
		if (!u->rx_count)
			u->lsr &= (uint8_t)~UART_LSR_DR;
		uart_update_irq(u);
		break;
	case 1:
		v = (u->lcr & 0x80) ? (uint8_t)(u->divisor >> 8) : u->ier;
		break;
	case 2:
		v = uart_iir(u);
		/* reading IIR while it reports THRE clears that cause */
		if ((v & 0x0F) == 0x02) {
			u->thr_ipending = false;
			uart_update_irq(u);
		}
		break;
	case 3: v = u->lcr; break;
	case 4: v = u->mcr; break;
	case 5:
		v = u->lsr;
		u->lsr &= (uint8_t)~UART_LSR_OE; /* error bits clear on read */
		break;
	case 6:
		if (u->mcr & UART_MCR_LOOP) {
			v = uart_loop_msr(u->mcr);
		} else {
			v = u->msr;
			u->msr &= 0xF0; /* delta bits clear on read */
			uart_update_irq(u);
		}
		break;
	case 7: v = u->scr; break;
	}
	return v;
}

static void uart_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_uart *u = opaque;
	uint8_t v = (uint8_t)val;

	switch (off) {
	case 0:
		if (u->lcr & 0x80) {
			u->divisor = (uint16_t)((u->divisor & 0xFF00) | v);
			break;
		}
		if (u->mcr & UART_MCR_LOOP)
			uart_rx_one(u, v);
		else if (u->tx)
			u->tx(u->tx_opaque, v);
		/* the byte leaves at once: THR is empty again */
		u->thr_ipending = true;
		u->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
		uart_update_irq(u);
		break;
	case 1:
		if (u->lcr & 0x80) {
			u->divisor = (uint16_t)((u->divisor & 0x00FF) | (v << 8));
			break;
		}
		/* enabling THRI while THR is empty raises the interrupt (16550A) */
		if ((v & UART_IER_THRI) && !(u->ier & UART_IER_THRI) && (u->lsr & UART_LSR_THRE))
			u->thr_ipending = true;
		u->ier = v & 0x0F;
		uart_update_irq(u);
		break;
	case 2:
		if (v & UART_FCR_CLEAR_RX) {
			u->rx_head = u->rx_count = 0;
			u->lsr &= (uint8_t)~UART_LSR_DR;
		}
		u->fcr = v & 0xC9;
		uart_update_irq(u);
		break;
	case 3: u->lcr = v; break;
	case 4:
		u->mcr = v & 0x1F;
		uart_update_irq(u);
		break;
	case 5: break; /* LSR is read-only (factory test) */
	case 6: break;
	case 7: u->scr = v; break;
	}
}

struct vsl_uart *vsl_uart_new(struct vsl_irq irq, vsl_uart_tx_fn *tx, void *tx_opaque)
{
	struct vsl_uart *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	*u = (struct vsl_uart){ .irq = irq, .tx = tx, .tx_opaque = tx_opaque,
				.lsr = UART_LSR_THRE | UART_LSR_TEMT,
				.msr = 0xB0, /* DCD, DSR, CTS: a cable is connected */
				.divisor = 12, .lcr = 0x03 };
	return u;
}

void vsl_uart_free(struct vsl_uart *u)
{
	free(u);
}

int vsl_uart_map(struct vsl_uart *u, struct vsl_bus *io, uint16_t base)
{
	return vsl_bus_map(io, base, 8, u, uart_read, uart_write);
}
