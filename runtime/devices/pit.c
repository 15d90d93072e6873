/*
 * 8254 programmable interval timer (ports 0x40-0x43) and the PC's port 0x61
 * (channel 2 gate, speaker, refresh toggle, OUT2).
 *
 * Counters run on virtual time: a channel remembers the count it was loaded
 * with and when, and its current value is computed on demand as
 *
 *	ticks = (now - load_ns) * 1193182 / 1e9
 *
 * so nothing ticks in the background. Channel 0 drives IRQ 0: a virtual-
 * clock timer is armed for its next terminal count (mode 0 and 4 once,
 * modes 2 and 3 every period) and pulses the line, which the PIC and the
 * I/O APIC latch as an edge.
 *
 *	control word (0x43): SC1 SC0 | RW1 RW0 | M2 M1 M0 | BCD
 *	  RW = 00 latch, 01 LSB, 10 MSB, 11 LSB then MSB;  SC = 11 read-back
 */
#include <stdlib.h>

#include "vessel/devices.h"

struct pit_chan {
	uint32_t count;    /* reload value, 1..65536 */
	uint64_t load_ns;  /* when counting started */
	uint8_t mode, rw, bcd;
	bool gate;
	/* read/write flip-flops and latches */
	bool write_msb, read_msb;
	bool latched, latch_msb_next;
	uint16_t latch;
	bool status_latched;
	uint8_t status;
	uint8_t write_lsb;
	bool null_count;
	uint64_t fired; /* periods already signalled (channel 0) */
};

struct vsl_pit {
	struct vsl_clock *clk;
	struct vsl_irq irq0;
	struct vsl_timer *timer;
	struct pit_chan ch[3];
	uint8_t port61; /* bits 0 (gate 2) and 1 (speaker data) */
};

static uint64_t pit_ticks(const struct vsl_pit *p, const struct pit_chan *c)
{
	uint64_t now = vsl_clock_now(p->clk);

	if (now <= c->load_ns)
		return 0;
	return (uint64_t)((unsigned __int128)(now - c->load_ns) * VSL_PIT_HZ / VSL_NS_PER_SEC);
}

/* Virtual time at which tick number t (since load) happens. */
static uint64_t pit_tick_ns(const struct pit_chan *c, uint64_t t)
{
	return c->load_ns +
	       (uint64_t)(((unsigned __int128)t * VSL_NS_PER_SEC + VSL_PIT_HZ - 1) / VSL_PIT_HZ);
}

static uint16_t pit_counter(const struct vsl_pit *p, const struct pit_chan *c)
{
	uint64_t d = pit_ticks(p, c);

	switch (c->mode) {
	case 2:
		return (uint16_t)(c->count - d % c->count);
	case 3: /* decrements by two, twice per period */
		return (uint16_t)((c->count - (2 * d) % c->count) & ~1u);
	default: /* 0, 1, 4, 5: count down once, then wrap */
		return (uint16_t)(c->count - d);
	}
}

static bool pit_out(const struct vsl_pit *p, const struct pit_chan *c)
{
	uint64_t d = pit_ticks(p, c);

	switch (c->mode) {
	case 0:
	case 1:
		return d >= c->count;
	case 2:
		return !c->gate || d % c->count != c->count - 1;
	case 3:
		return !c->gate || d % c->count < (c->count + 1) / 2;
	default: /* 4, 5: low for one tick at terminal count */
		return d != c->count;
	}
}

static void pit_schedule(struct vsl_pit *p)
{
	struct pit_chan *c = &p->ch[0];
	uint64_t next;

	if (!p->timer)
		return;
	if (c->null_count) {
		vsl_timer_del(p->timer);
		return;
	}
	if (c->mode == 2 || c->mode == 3) {
		next = (c->fired + 1) * c->count;
	} else {
		if (c->fired) {
			vsl_timer_del(p->timer);
			return;
		}
		next = c->count;
	}
	vsl_timer_mod(p->timer, pit_tick_ns(c, next));
}

static void pit_fire(void *opaque, uint64_t now)
{
	struct vsl_pit *p = opaque;
	struct pit_chan *c = &p->ch[0];
	uint64_t d = pit_ticks(p, c);

	vsl_irq_set(&p->irq0, 1);
	vsl_irq_set(&p->irq0, 0);
	/* periods missed in one slice are coalesced into one interrupt */
	if (c->mode == 2 || c->mode == 3)
		c->fired = d / c->count;
	else
		c->fired = 1;
	pit_schedule(p);
}

static void pit_load(struct vsl_pit *p, int n, uint32_t val)
{
	struct pit_chan *c = &p->ch[n];

	if (c->bcd) /* four BCD digits; 0 means 10000 */
		val = (val & 0xF) + ((val >> 4) & 0xF) * 10 + ((val >> 8) & 0xF) * 100 +
		      ((val >> 12) & 0xF) * 1000;
	if (val == 0)
		val = c->bcd ? 10000 : 65536;
	c->count = val;
	c->load_ns = vsl_clock_now(p->clk);
	c->null_count = false;
	c->fired = 0;
	if (n == 0)
		pit_schedule(p);
}

static void pit_latch(struct vsl_pit *p, struct pit_chan *c)
{
	if (c->latched)
		return;
	c->latch = c->null_count ? (uint16_t)c->count : pit_counter(p, c);
	c->latched = true;
	c->latch_msb_next = false;
}

static uint8_t pit_read_chan(struct vsl_pit *p, struct pit_chan *c)
{
	uint16_t v;
	uint8_t b;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latched) {
		v = c->latch;
		if (c->rw == 3 && !c->latch_msb_next) {
			c->latch_msb_next = true;
			return (uint8_t)v;
		}
		c->latched = false;
		return c->rw == 1 ? (uint8_t)v : (uint8_t)(v >> 8);
	}
	v = c->null_count ? (uint16_t)c->count : pit_counter(p, c);
	switch (c->rw) {
	case 1: return (uint8_t)v;
	case 2: return (uint8_t)(v >> 8);
	default:
		b = c->read_msb ? (uint8_t)(v >> 8) : (uint8_t)v;
		c->read_msb = !c->read_msb;
		return b;
	}
}

static uint64_t pit_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_pit *p = opaque;

	if (off == 3)
		return 0xFF; /* the control word register cannot be read */
	return pit_read_chan(p, &p->ch[off]);
}

static void pit_control(struct vsl_pit *p, uint8_t v)
{
	int sc = v >> 6;

	if (sc == 3) { /* read-back: bit 5 = 0 latch count, bit 4 = 0 latch status */
		for (int n = 0; n < 3; n++) {
			struct pit_chan *c = &p->ch[n];
			if (!(v & (2 << n)))
				continue;
			if (!(v & 0x20))
				pit_latch(p, c);
			if (!(v & 0x10) && !c->status_latched) {
				c->status = (uint8_t)((pit_out(p, c) ? 0x80 : 0) |
						      (c->null_count ? 0x40 : 0) | c->rw << 4 |
						      c->mode << 1 | c->bcd);
				c->status_latched = true;
			}
		}
		return;
	}
	struct pit_chan *c = &p->ch[sc];
	if (((v >> 4) & 3) == 0) {
		pit_latch(p, c);
		return;
	}
	c->rw = (v >> 4) & 3;
	c->mode = (v >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4; /* 6 and 7 alias 2 and 3 */
	c->bcd = v & 1;
	c->write_msb = c->read_msb = false;
	c->latched = false;
	c->null_count = true;
	if (sc == 0)
		pit_schedule(p);
}

static void pit_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_pit *p = opaque;
	uint8_t v = (uint8_t)val;
	struct pit_chan *c;

	if (off == 3) {
		pit_control(p, v);
		return;
	}
	c = &p->ch[off];
	switch (c->rw) {
	case 1: pit_load(p, (int)off, v); break;
	case 2: pit_load(p, (int)off, (uint32_t)v << 8); break;
	default:
		if (!c->write_msb) {
			c->write_lsb = v;
			c->write_msb = true;
		} else {
			c->write_msb = false;
			pit_load(p, (int)off, c->write_lsb | (uint32_t)v << 8);
		}
		break;
	}
}

static uint64_t pit_port61_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_pit *p = opaque;
	uint64_t now = vsl_clock_now(p->clk);
	uint8_t v = p->port61 & 3;

	/* DRAM refresh toggles every 15.085 us; OUT2 on bit 5 */
	if ((now / 15085) & 1)
		v |= 0x10;
	if (pit_out(p, &p->ch[2]))
		v |= 0x20;
	return v;
}

static void pit_port61_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_pit *p = opaque;
	struct pit_chan *c = &p->ch[2];
	bool gate = val & 1;

	/* a rising gate restarts modes 1, 2, 3, 5 */
	if (gate && !c->gate && c->mode != 0 && c->mode != 4 && !c->null_count)
		c->load_ns = vsl_clock_now(p->clk);
	c->gate = gate;
	p->port61 = (uint8_t)(val & 3);
}

struct vsl_pit *vsl_pit_new(struct vsl_clock *clk, struct vsl_irq irq0)
{
	struct vsl_pit *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->clk = clk;
	p->irq0 = irq0;
	p->timer = vsl_timer_new(clk, pit_fire, p);
	if (!p->timer) {
		free(p);
		return NULL;
	}
	for (int n = 0; n < 3; n++)
		p->ch[n] = (struct pit_chan){ .count = 65536, .rw = 3, .mode = 3,
					      .gate = n != 2, .null_count = true };
	return p;
}

void vsl_pit_free(struct vsl_pit *p)
{
	if (!p)
		return;
	vsl_timer_free(p->timer);
	free(p);
}

int vsl_pit_map(struct vsl_pit *p, struct vsl_bus *io)
{
	int r = vsl_bus_map(io, 0x40, 4, p, pit_read, pit_write);

	return r ? r : vsl_bus_map(io, 0x61, 1, p, pit_port61_read, pit_port61_write);
}
