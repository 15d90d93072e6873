/*
 * The PC's pair of 8259A interrupt controllers (master 0x20/0x21, slave
 * 0xA0/0xA1 cascaded on the master's IRQ 2) plus the ELCR edge/level
 * registers at 0x4D0/0x4D1.
 *
 * Each chip keeps IRR (requests), IMR (mask) and ISR (in service). The
 * request with the best priority wins if it beats everything in service;
 * priority is the IRQ number rotated by priority_add (0 = IRQ0 highest,
 * changed by the rotate commands). The slave's output is treated as a level
 * on the master's IRQ 2, re-evaluated after every change.
 *
 *	OCW2 (port 0, bits 7..5): 001 non-specific EOI   011 specific EOI (bits 2..0)
 *	                          101 rotate on EOI      111 rotate on specific EOI
 *	                          110 set priority       100/000 rotate in AEOI on/off
 *	OCW3 (port 0, bit 3 set): bit 2 poll, bits 1..0 = 10 read IRR, 11 read ISR,
 *	                          bits 6..5 = 11 special mask on, 10 off
 *	ICW1 (port 0, bit 4 set) starts the ICW2 (vector base), ICW3, ICW4 sequence.
 */
#include <stdlib.h>

#include "vessel/devices.h"

struct pic_chip {
	uint8_t irr, imr, isr, elcr;
	uint8_t last_level;   /* line levels, for edge detection */
	uint8_t priority_add; /* IRQ with the highest priority */
	uint8_t irq_base;
	uint8_t init_state;   /* 0 ready, 1 wait ICW2, 2 wait ICW3, 3 wait ICW4 */
	bool icw4, single, auto_eoi, rotate_on_aeoi, special_mask, sfnm;
	bool read_isr, poll;
	uint8_t elcr_mask;
};

struct vsl_pic {
	struct pic_chip c[2]; /* master, slave */
	void (*notify)(void *opaque);
	void *opaque;
};

/* Priority (0 best) of the best bit in mask; 8 if none. */
static int pic_priority(const struct pic_chip *s, uint8_t mask)
{
	if (!mask)
		return 8;
	for (int p = 0; p < 8; p++)
		if (mask & (1u << ((p + s->priority_add) & 7)))
			return p;
	return 8;
}

/* IRQ to signal now, or -1. master: the slave bit may be excluded from ISR (SFNM). */
static int pic_get_irq(const struct pic_chip *s, bool master)
{
	int prio = pic_priority(s, s->irr & ~s->imr);
	uint8_t isr = s->isr;

	if (prio == 8)
		return -1;
	if (s->special_mask)
		isr &= ~s->imr;
	if (master && s->sfnm)
		isr &= ~(1u << 2);
	if (prio < pic_priority(s, isr))
		return (prio + s->priority_add) & 7;
	return -1;
}

static void pic_chip_set(struct pic_chip *s, int irq, int level)
{
	uint8_t bit = (uint8_t)(1u << irq);

	if (s->elcr & bit) {
		if (level)
			s->irr |= bit;
		else
			s->irr &= (uint8_t)~bit;
	} else if (level && !(s->last_level & bit)) {
		s->irr |= bit;
	}
	if (level)
		s->last_level |= bit;
	else
		s->last_level &= (uint8_t)~bit;
}

static void pic_update(struct vsl_pic *p)
{
	/* the slave's INT is a level on master IRQ 2 */
	if (pic_get_irq(&p->c[1], false) >= 0)
		p->c[0].irr |= 4;
	else
		p->c[0].irr &= (uint8_t)~4;
	if (pic_get_irq(&p->c[0], true) >= 0 && p->notify)
		p->notify(p->opaque);
}

void vsl_pic_set_irq(struct vsl_pic *p, int irq, int level)
{
	if (irq < 0 || irq > 15)
		return;
	pic_chip_set(&p->c[irq >> 3], irq & 7, level);
	pic_update(p);
}

bool vsl_pic_has_intr(const struct vsl_pic *p)
{
	struct pic_chip m = p->c[0];

	/* evaluate with the slave's current output folded in, without side effects */
	if (pic_get_irq(&p->c[1], false) >= 0)
		m.irr |= 4;
	else
		m.irr &= (uint8_t)~4;
	return pic_get_irq(&m, true) >= 0;
}

static void pic_intack(struct pic_chip *s, int irq)
{
	uint8_t bit = (uint8_t)(1u << irq);

	if (s->auto_eoi) {
		if (s->rotate_on_aeoi)
			s->priority_add = (uint8_t)((irq + 1) & 7);
	} else {
		s->isr |= bit;
	}
	/* a level-triggered request stays while its line is high */
	if (!(s->elcr & bit))
		s->irr &= (uint8_t)~bit;
}

int vsl_pic_ack(struct vsl_pic *p)
{
	struct pic_chip *m = &p->c[0], *sl = &p->c[1];
	int irq, vec;

	pic_update(p);
	irq = pic_get_irq(m, true);
	if (irq < 0)
		return m->irq_base + 7; /* spurious */
	if (irq == 2) {
		int irq2 = pic_get_irq(sl, false);
		pic_intack(m, 2);
		if (irq2 >= 0) {
			pic_intack(sl, irq2);
			vec = sl->irq_base + irq2;
		} else {
			vec = sl->irq_base + 7;
		}
	} else {
		pic_intack(m, irq);
		vec = m->irq_base + irq;
	}
	pic_update(p);
	return vec;
}

static void pic_chip_reset(struct pic_chip *s)
{
	uint8_t elcr = s->elcr, mask = s->elcr_mask;

	*s = (struct pic_chip){ .elcr = elcr, .elcr_mask = mask };
}

static uint64_t pic_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_pic *p = opaque;
	struct pic_chip *s = &p->c[off >> 7 & 1]; /* off 0/1 master, 0x80/0x81 slave */
	int irq;

	if (off & 1)
		return s->imr;
	if (s->poll) {
		s->poll = false;
		irq = pic_get_irq(s, s == &p->c[0]);
		if (irq < 0)
			return 0;
		pic_intack(s, irq);
		pic_update(p);
		return 0x80 | (unsigned)irq;
	}
	return s->read_isr ? s->isr : s->irr;
}

static void pic_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_pic *p = opaque;
	struct pic_chip *s = &p->c[off >> 7 & 1];
	uint8_t v = (uint8_t)val;
	int irq, prio;

	if (off & 1) {
		switch (s->init_state) {
		case 0:
			s->imr = v;
			break;
		case 1:
			s->irq_base = v & 0xF8;
			s->init_state = s->single ? (s->icw4 ? 3 : 0) : 2;
			break;
		case 2:
			s->init_state = s->icw4 ? 3 : 0;
			break;
		case 3:
			s->auto_eoi = v & 2;
			s->sfnm = v & 0x10;
			s->init_state = 0;
			break;
		}
	} else if (v & 0x10) { /* ICW1 */
		pic_chip_reset(s);
		s->init_state = 1;
		s->icw4 = v & 1;
		s->single = v & 2;
	} else if (v & 0x08) { /* OCW3 */
		if (v & 0x04)
			s->poll = true;
		if (v & 0x02)
			s->read_isr = v & 1;
		if (v & 0x40)
			s->special_mask = (v >> 5) & 1;
	} else { /* OCW2 */
		switch (v >> 5) {
		case 0: s->rotate_on_aeoi = false; break;
		case 4: s->rotate_on_aeoi = true; break;
		case 1: /* non-specific EOI */
		case 5: /* rotate on non-specific EOI */
			prio = pic_priority(s, s->isr);
			if (prio != 8) {
				irq = (prio + s->priority_add) & 7;
				s->isr &= (uint8_t)~(1u << irq);
				if ((v >> 5) == 5)
					s->priority_add = (uint8_t)((irq + 1) & 7);
			}
			break;
		case 3: /* specific EOI */
			s->isr &= (uint8_t)~(1u << (v & 7));
			break;
		case 6: /* set priority: IRQ v&7 becomes the lowest */
			s->priority_add = (uint8_t)((v + 1) & 7);
			break;
		case 7: /* rotate on specific EOI */
			s->isr &= (uint8_t)~(1u << (v & 7));
			s->priority_add = (uint8_t)((v + 1) & 7);
			break;
		default:
			break;
		}
	}
	pic_update(p);
}

static uint64_t pic_slave_read(void *opaque, uint64_t off, unsigned size_log2)
{
	return pic_read(opaque, off | 0x80, size_log2);
}

static void pic_slave_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	pic_write(opaque, off | 0x80, val, size_log2);
}

static uint64_t pic_elcr_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_pic *p = opaque;

	if (size_log2 >= 1 && off == 0)
		return p->c[0].elcr | (unsigned)p->c[1].elcr << 8;
	return p->c[off & 1].elcr;
}

static void pic_elcr_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_pic *p = opaque;

	if (size_log2 >= 1 && off == 0) {
		p->c[0].elcr = (uint8_t)val & p->c[0].elcr_mask;
		p->c[1].elcr = (uint8_t)(val >> 8) & p->c[1].elcr_mask;
	} else {
		p->c[off & 1].elcr = (uint8_t)val & p->c[off & 1].elcr_mask;
	}
	pic_update(p);
}

struct vsl_pic *vsl_pic_new(void (*notify)(void *opaque), void *opaque)
{
	struct vsl_pic *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->notify = notify;
	p->opaque = opaque;
	/* IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge-triggered */
	p->c[0].elcr_mask = 0xF8;
	p->c[1].elcr_mask = 0xDE;
	return p;
}

void vsl_pic_free(struct vsl_pic *p)
{
	free(p);
}

int vsl_pic_map(struct vsl_pic *p, struct vsl_bus *io)
{
	int r;

	/* one pair of callbacks for both chips: off 0x00/0x01 master, 0x80/0x81 slave */
	if ((r = vsl_bus_map(io, 0x20, 2, p, pic_read, pic_write)) < 0)
		return r;
	if ((r = vsl_bus_map(io, 0xA0, 2, p, pic_slave_read, pic_slave_write)) < 0)
		return r;
	return vsl_bus_map(io, 0x4D0, 2, p, pic_elcr_read, pic_elcr_write);
}
