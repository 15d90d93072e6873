/*
 * I/O APIC (82093AA-style, version 0x11, 24 pins) at MMIO 0xFEC00000.
 *
 * Indirect registers: write the index to IOREGSEL (offset 0x00), then read
 * or write IOWIN (offset 0x10). Index 0 ID, 1 version, 2 arbitration,
 * 0x10 + 2n / 0x11 + 2n the low/high halves of pin n's redirection entry:
 *
 *	63..56 destination | 16 mask | 15 level | 14 remote IRR | 13 active low |
 *	12 delivery status | 11 logical | 10..8 delivery mode | 7..0 vector
 *
 * With a single CPU every fixed or lowest-priority message goes to its
 * local APIC. Edge pins send on a rising input; level pins send while the
 * input is high and Remote IRR is clear, and the local APIC's EOI for the
 * vector clears Remote IRR (re-sending if the input is still high). The
 * inputs are logical levels (asserted = 1): the board's devices do not model
 * line polarity.
 */
#include <stdlib.h>

#include "vessel/devices.h"

#define RTE_MASK (1ull << 16)
#define RTE_LEVEL (1ull << 15)
#define RTE_REMOTE_IRR (1ull << 14)

struct vsl_ioapic {
	void (*deliver)(void *opaque, int vector, bool level);
	void *opaque;
	uint32_t sel, id;
	uint64_t rte[VSL_IOAPIC_PINS];
	uint32_t lines; /* current input levels */
};

static void ioapic_service(struct vsl_ioapic *io, int pin)
{
	uint64_t e = io->rte[pin];
	unsigned mode = (e >> 8) & 7;

	if (e & RTE_MASK)
		return;
	if (mode != 0 && mode != 1)
		return; /* SMI/NMI/INIT/ExtINT through the I/O APIC: not wired here */
	if (e & RTE_LEVEL) {
		if (!(io->lines & (1u << pin)) || (e & RTE_REMOTE_IRR))
			return;
		io->rte[pin] |= RTE_REMOTE_IRR;
	}
	io->deliver(io->opaque, (int)(e & 0xFF), e & RTE_LEVEL);
}

void vsl_ioapic_set_irq(struct vsl_ioapic *io, int pin, int level)
{
	uint32_t bit;
	bool rising;

	if (pin < 0 || pin >= VSL_IOAPIC_PINS)
		return;
	bit = 1u << pin;
	rising = level && !(io->lines & bit);
	if (level)
		io->lines |= bit;
	else
		io->lines &= ~bit;
	if (io->rte[pin] & RTE_LEVEL) {
		if (level)
			ioapic_service(io, pin);
	} else if (rising) {
		ioapic_service(io, pin);
	}
}

void vsl_ioapic_eoi(struct vsl_ioapic *io, int vector)
{
	for (int pin = 0; pin < VSL_IOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];
		if ((e & 0xFF) != (uint64_t)vector || !(e & RTE_LEVEL) || !(e & RTE_REMOTE_IRR))
			continue;
		io->rte[pin] &= ~RTE_REMOTE_IRR;
		ioapic_service(io, pin);
	}
}

static uint32_t ioapic_reg_read(const struct vsl_ioapic *io)
{
	uint32_t idx = io->sel & 0xFF;

	switch (idx) {
	case 0: return io->id;
	case 1: return 0x11 | ((VSL_IOAPIC_PINS - 1u) << 16);
	case 2: return io->id;
	}
	if (idx >= 0x10 && idx < 0x10 + 2 * VSL_IOAPIC_PINS) {
		uint64_t e = io->rte[(idx - 0x10) / 2];
		return (idx & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0xFFFFFFFF;
}

static void ioapic_reg_write(struct vsl_ioapic *io, uint32_t v)
{
	uint32_t idx = io->sel & 0xFF;
	int pin;
	uint64_t e;

	if (idx == 0) {
		io->id = v & 0x0F000000;
		return;
	}
	if (idx < 0x10 || idx >= 0x10 + 2 * VSL_IOAPIC_PINS)
		return;
	pin = (int)(idx - 0x10) / 2;
	e = io->rte[pin];
	if (idx & 1) {
		e = (e & 0xFFFFFFFFull) | ((uint64_t)(v & 0xFF000000) << 32);
	} else {
		/* delivery status and Remote IRR are read-only */
		uint64_t ro = RTE_REMOTE_IRR | (1ull << 12);
		e = (e & ~0xFFFFFFFFull) | (e & ro) | (v & ~ro & 0x1FFFF);
		if (!(e & RTE_LEVEL))
			e &= ~RTE_REMOTE_IRR;
	}
	io->rte[pin] = e;
	/* unmasking a level pin whose input is high sends it now */
	if ((e & RTE_LEVEL) && !(e & RTE_MASK))
		ioapic_service(io, pin);
}

static uint64_t ioapic_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_ioapic *io = opaque;

	if (off == 0x00)
		return io->sel;
	if (off == 0x10)
		return ioapic_reg_read(io);
	return 0xFFFFFFFF;
}

static void ioapic_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_ioapic *io = opaque;

	if (off == 0x00)
		io->sel = (uint32_t)val & 0xFF;
	else if (off == 0x10)
		ioapic_reg_write(io, (uint32_t)val);
}

struct vsl_ioapic *vsl_ioapic_new(void (*deliver)(void *opaque, int vector, bool level),
				  void *opaque)
{
	struct vsl_ioapic *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	io->deliver = deliver;
	io->opaque = opaque;
	io->id = 1u << 24; /* the local APIC is 0 */
	for (int i = 0; i < VSL_IOAPIC_PINS; i++)
		io->rte[i] = RTE_MASK;
	return io;
}

void vsl_ioapic_free(struct vsl_ioapic *io)
{
	free(io);
}

int vsl_ioapic_map(struct vsl_ioapic *io, struct vsl_bus *mmio)
{
	return vsl_bus_map(mmio, VSL_IOAPIC_BASE, 0x1000, io, ioapic_read, ioapic_write);
}
