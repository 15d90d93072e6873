/*
 * Local APIC of the single virtual CPU (xAPIC, MMIO at IA32_APIC_BASE,
 * 0xFEE00000 by default; x2APIC is not offered).
 *
 * State is the architectural one: IRR/ISR/TMR as 256-bit maps, TPR and the
 * derived PPR, the LVT entries, ICR, and the timer (one-shot and periodic;
 * TSC-deadline mode is not advertised). The timer counts the 1 GHz virtual
 * bus clock divided by the DCR divider, computed from virtual time on read,
 * and arms one virtual-clock timer for its next expiry.
 *
 * The reset state is what a PC BIOS leaves behind: APIC globally enabled,
 * software-enabled (SVR 0x1FF), LINT0 = ExtINT (the 8259 pair reaches the
 * CPU through it: "virtual wire") and LINT1 = NMI. Linux's setup keeps
 * that virtual wire and routes device interrupts through the I/O APIC.
 *
 *	0x020 ID  0x030 version  0x080 TPR  0x0A0 PPR  0x0B0 EOI  0x0D0 LDR  0x0E0 DFR
 *	0x0F0 SVR  0x100 ISR  0x180 TMR  0x200 IRR  0x280 ESR  0x300/0x310 ICR
 *	0x320 LVT timer  0x330 thermal  0x340 perf  0x350 LINT0  0x360 LINT1  0x370 error
 *	0x380 initial count  0x390 current count  0x3E0 divide configuration
 */
#include <stdlib.h>
#include <string.h>

#include "vessel/devices.h"

enum {
	LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_CMCI, LVT_N
};
#define LVT_MASKED (1u << 16)
#define LVT_DM(v) (((v) >> 8) & 7)
#define LVT_DM_EXTINT 7

struct vsl_lapic {
	struct vsl_clock *clk;
	struct vsl_bus *mmio;
	struct vsl_timer *timer;
	void (*eoi)(void *opaque, int vector);
	void (*notify)(void *opaque);
	void *opaque;
	uint64_t base_msr;
	bool mapped;
	uint32_t id, tpr, ldr, dfr, svr, esr, icr_lo, icr_hi;
	uint32_t lvt[LVT_N];
	uint32_t irr[8], isr[8], tmr[8];
	/* timer */
	uint32_t initial, dcr;
	uint64_t start_ns;
	uint64_t periods; /* periodic expiries already delivered */
};

static int lapic_highest(const uint32_t map[8])
{
	for (int i = 7; i >= 0; i--)
		if (map[i])
			return i * 32 + 31 - __builtin_clz(map[i]);
	return -1;
}

static bool lapic_test(const uint32_t map[8], int v)
{
	return map[v >> 5] & (1u << (v & 31));
}

static void lapic_setb(uint32_t map[8], int v, bool on)
{
	if (on)
		map[v >> 5] |= 1u << (v & 31);
	else
		map[v >> 5] &= ~(1u << (v & 31));
}

static uint32_t lapic_ppr(const struct vsl_lapic *a)
{
	int isrv = lapic_highest(a->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;

	return (a->tpr & 0xF0) >= isr_class ? a->tpr & 0xFF : isr_class;
}

bool vsl_lapic_enabled(const struct vsl_lapic *a)
{
	return a->base_msr & (1u << 11);
}

static bool lapic_sw_enabled(const struct vsl_lapic *a)
{
	return vsl_lapic_enabled(a) && (a->svr & 0x100);
}

bool vsl_lapic_accepts_pic(const struct vsl_lapic *a)
{
	uint32_t l = a->lvt[LVT_LINT0];

	if (!vsl_lapic_enabled(a))
		return true;
	return LVT_DM(l) == LVT_DM_EXTINT && !(l & LVT_MASKED);
}

int vsl_lapic_pending(const struct vsl_lapic *a, bool extint_line)
{
	int v;

	if (extint_line && vsl_lapic_accepts_pic(a))
		return VSL_LAPIC_EXTINT;
	if (!lapic_sw_enabled(a))
		return -1;
	v = lapic_highest(a->irr);
	if (v < 0 || ((uint32_t)v & 0xF0) <= (lapic_ppr(a) & 0xF0))
		return -1;
	return v;
}

void vsl_lapic_ack(struct vsl_lapic *a, int vector)
{
	if (vector < 0 || vector > 255)
		return;
	lapic_setb(a->irr, vector, false);
	lapic_setb(a->isr, vector, true);
}

void vsl_lapic_deliver(struct vsl_lapic *a, int vector, bool level)
{
	if (vector < 16 || vector > 255) {
		a->esr |= 0x40; /* received illegal vector */
		return;
	}
	lapic_setb(a->irr, vector, true);
	lapic_setb(a->tmr, vector, level);
	if (a->notify)
		a->notify(a->opaque);
}

static void lapic_eoi(struct vsl_lapic *a)
{
	int v = lapic_highest(a->isr);

	if (v < 0)
		return;
	lapic_setb(a->isr, v, false);
	if (lapic_test(a->tmr, v) && a->eoi)
		a->eoi(a->opaque, v);
	if (a->notify)
		a->notify(a->opaque); /* a lower-priority request may now be deliverable */
}

static unsigned lapic_divider(const struct vsl_lapic *a)
{
	unsigned v = (a->dcr & 3) | ((a->dcr & 8) >> 1);

	return 1u << ((v + 1) & 7);
}

static uint64_t lapic_ticks_ns(const struct vsl_lapic *a, uint64_t ticks)
{
	return ticks * lapic_divider(a) * (VSL_NS_PER_SEC / VSL_LAPIC_HZ);
}

static bool lapic_periodic(const struct vsl_lapic *a)
{
	return ((a->lvt[LVT_TIMER] >> 17) & 3) == 1;
}

static uint32_t lapic_current_count(const struct vsl_lapic *a)
{
	uint64_t now = vsl_clock_now(a->clk), ticks;

	if (!a->initial || now < a->start_ns)
		return a->initial;
	ticks = (now - a->start_ns) / lapic_ticks_ns(a, 1);
	if (lapic_periodic(a))
		return a->initial - (uint32_t)(ticks % a->initial);
	return ticks >= a->initial ? 0 : a->initial - (uint32_t)ticks;
}

static void lapic_timer_schedule(struct vsl_lapic *a)
{
	uint64_t period;

	if (!a->initial) {
		vsl_timer_del(a->timer);
		return;
	}
	period = lapic_ticks_ns(a, a->initial);
	if (lapic_periodic(a))
		vsl_timer_mod(a->timer, a->start_ns + (a->periods + 1) * period);
	else if (!a->periods)
		vsl_timer_mod(a->timer, a->start_ns + period);
	else
		vsl_timer_del(a->timer);
}

static void lapic_timer_fire(void *opaque, uint64_t now)
{
	struct vsl_lapic *a = opaque;
	uint32_t lvt = a->lvt[LVT_TIMER];
	uint64_t period;

	if (!a->initial)
		return;
	period = lapic_ticks_ns(a, a->initial);
	if (!(lvt & LVT_MASKED) && lapic_sw_enabled(a))
		vsl_lapic_deliver(a, (int)(lvt & 0xFF), false);
	/* expiries missed inside one slice are coalesced */
	a->periods = lapic_periodic(a) ? (now - a->start_ns) / period : 1;
	lapic_timer_schedule(a);
}

static void lapic_icr_write(struct vsl_lapic *a, uint32_t lo)
{
	unsigned mode = (lo >> 8) & 7, shorthand = (lo >> 18) & 3;
	bool to_self;

	a->icr_lo = lo & ~(1u << 12); /* delivery status: always idle */
	if (mode != 0 && mode != 1)
		return; /* INIT, SIPI, NMI, SMI: no other CPUs to start */
	switch (shorthand) {
	case 1: to_self = true; break;
	case 2: to_self = true; break;   /* all including self */
	case 3: to_self = false; break;  /* all excluding self */
	default: {
		uint32_t dest = a->icr_hi >> 24;
		if (lo & (1u << 11)) /* logical destination: flat model match */
			to_self = (dest & (a->ldr >> 24)) != 0;
		else
			to_self = dest == (a->id >> 24) || dest == 0xFF;
		break;
	}
	}
	if (to_self)
		vsl_lapic_deliver(a, (int)(lo & 0xFF), false);
}

static uint64_t lapic_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_lapic *a = opaque;
	unsigned reg = (unsigned)(off & 0xFF0);
	uint32_t v = 0;

	switch (reg) {
	case 0x020: v = a->id; break;
	case 0x030: v = 0x00050014 | ((LVT_N - 1u) << 16); break; /* integrated APIC, 7 LVTs */
	case 0x080: v = a->tpr; break;
	case 0x090: v = 0; break;
	case 0x0A0: v = lapic_ppr(a); break;
	case 0x0D0: v = a->ldr; break;
	case 0x0E0: v = a->dfr; break;
	case 0x0F0: v = a->svr; break;
	case 0x280: v = a->esr; break;
	case 0x2F0: v = a->lvt[LVT_CMCI]; break;
	case 0x300: v = a->icr_lo; break;
	case 0x310: v = a->icr_hi; break;
	case 0x320: case 0x330: case 0x340: case 0x350: case 0x360: case 0x370:
		v = a->lvt[(reg - 0x320) >> 4];
		break;
	case 0x380: v = a->initial; break;
	case 0x390: v = lapic_current_count(a); break;
	case 0x3E0: v = a->dcr; break;
	default:
		if (reg >= 0x100 && reg < 0x180)
			v = a->isr[(reg - 0x100) >> 4];
		else if (reg >= 0x180 && reg < 0x200)
			v = a->tmr[(reg - 0x180) >> 4];
		else if (reg >= 0x200 && reg < 0x280)
			v = a->irr[(reg - 0x200) >> 4];
		break;
	}
	return (uint64_t)v >> (8 * (off & 3));
}

static void lapic_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_lapic *a = opaque;
	unsigned reg = (unsigned)(off & 0xFF0);
	uint32_t v = (uint32_t)val;

	switch (reg) {
	case 0x020: a->id = v & 0xFF000000; break;
	case 0x080:
		a->tpr = v & 0xFF;
		if (a->notify)
			a->notify(a->opaque);
		break;
	case 0x0B0: lapic_eoi(a); break;
	case 0x0D0: a->ldr = v & 0xFF000000; break;
	case 0x0E0: a->dfr = v | 0x0FFFFFFF; break;
	case 0x0F0:
		a->svr = v & 0x13FF;
		if (!(v & 0x100)) /* software disable masks every LVT */
			for (int i = 0; i < LVT_N; i++)
				a->lvt[i] |= LVT_MASKED;
		if (a->notify)
			a->notify(a->opaque);
		break;
	case 0x280: a->esr = 0; break;
	case 0x2F0: a->lvt[LVT_CMCI] = v & 0x107FF; break;
	case 0x300: lapic_icr_write(a, v); break;
	case 0x310: a->icr_hi = v & 0xFF000000; break;
	case 0x320: case 0x330: case 0x340: case 0x350: case 0x360: case 0x370: {
		int i = (int)((reg - 0x320) >> 4);
		bool was_periodic = lapic_periodic(a);
		if (!(a->svr & 0x100))
			v |= LVT_MASKED;
		a->lvt[i] = v & (i == LVT_TIMER ? 0x710FFu : 0x1F7FFu);
		if (i == LVT_TIMER && was_periodic != lapic_periodic(a))
			lapic_timer_schedule(a);
		if (a->notify)
			a->notify(a->opaque);
		break;
	}
	case 0x380:
		a->initial = v;
		a->start_ns = vsl_clock_now(a->clk);
		a->periods = 0;
		lapic_timer_schedule(a);
		break;
	case 0x3E0:
		a->dcr = v & 0xB;
		break;
	default:
		break; /* read-only or reserved */
	}
}

static void lapic_remap(struct vsl_lapic *a, uint64_t old_base)
{
	if (a->mapped)
		vsl_bus_unmap(a->mmio, old_base);
	a->mapped = false;
	if (vsl_lapic_enabled(a) && a->mmio)
		a->mapped = vsl_bus_map(a->mmio, a->base_msr & ~0xFFFull, 0x1000, a,
					lapic_read, lapic_write) == 0;
}

uint64_t vsl_lapic_base_read(const struct vsl_lapic *a)
{
	return a->base_msr;
}

void vsl_lapic_base_write(struct vsl_lapic *a, uint64_t val)
{
	uint64_t old = a->base_msr & ~0xFFFull;

	/* BSP (bit 8) is read-only; bits above the 36-bit physical width are reserved */
	a->base_msr = (val & 0xFFFFFF000ull) | (val & (1u << 11)) | (1u << 8);
	lapic_remap(a, old);
	if (a->notify)
		a->notify(a->opaque);
}

struct vsl_lapic *vsl_lapic_new(struct vsl_clock *clk, struct vsl_bus *mmio,
				void (*eoi)(void *opaque, int vector),
				void (*notify)(void *opaque), void *opaque)
{
	struct vsl_lapic *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->clk = clk;
	a->mmio = mmio;
	a->eoi = eoi;
	a->notify = notify;
	a->opaque = opaque;
	a->timer = vsl_timer_new(clk, lapic_timer_fire, a);
	if (!a->timer) {
		free(a);
		return NULL;
	}
	for (int i = 0; i < LVT_N; i++)
		a->lvt[i] = LVT_MASKED;
	a->lvt[LVT_LINT0] = LVT_DM_EXTINT << 8; /* virtual wire, as a BIOS leaves it */
	a->lvt[LVT_LINT1] = 4 << 8;             /* NMI */
	a->svr = 0x1FF;
	a->dfr = 0xFFFFFFFF;
	a->base_msr = VSL_LAPIC_BASE | (1u << 11) | (1u << 8);
	lapic_remap(a, 0);
	return a;
}

void vsl_lapic_free(struct vsl_lapic *a)
{
	if (!a)
		return;
	if (a->mapped)
		vsl_bus_unmap(a->mmio, a->base_msr & ~0xFFFull);
	vsl_timer_free(a->timer);
	free(a);
}
