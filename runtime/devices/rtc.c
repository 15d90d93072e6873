/*
 * MC146818 CMOS real-time clock and NVRAM (index port 0x70, data 0x71).
 *
 * Wall time is the host's UTC at machine start plus virtual time elapsed,
 * plus whatever offset the guest set by writing the clock (register B bit
 * SET). Time registers are produced on read, in BCD or binary (register B
 * bit DM) and 24- or 12-hour (bit 1), so nothing ticks in the background.
 * A virtual-clock timer raises IRQ 8 for the periodic (PIE, rate from
 * register A), update-ended (UIE) and alarm (AIE) interrupts; reading
 * register C acknowledges them.
 *
 *	0x00 sec  0x02 min  0x04 hour  0x06 weekday  0x07 day  0x08 month
 *	0x09 year 0x01/0x03/0x05 alarms  0x0A A: UIP|DV|RS  0x0B B: SET|PIE|AIE|UIE|SQWE|DM|24h|DSE
 *	0x0C C: IRQF|PF|AF|UF (read clears)  0x0D D: VRT  0x32 century
 */
#include <stdlib.h>
#include <string.h>

#include "vessel/devices.h"

enum {
	RTC_A = 0x0A, RTC_B = 0x0B, RTC_C = 0x0C, RTC_D = 0x0D, RTC_CENTURY = 0x32,
	RTC_B_SET = 0x80, RTC_B_PIE = 0x40, RTC_B_AIE = 0x20, RTC_B_UIE = 0x10,
	RTC_B_DM = 0x04, RTC_B_24H = 0x02,
	RTC_C_IRQF = 0x80, RTC_C_PF = 0x40, RTC_C_AF = 0x20, RTC_C_UF = 0x10,
};

struct vsl_rtc {
	struct vsl_clock *clk;
	struct vsl_irq irq;
	struct vsl_timer *timer;
	uint8_t index;
	uint8_t ram[128];
	int64_t base;        /* host UTC seconds at virtual time 0, plus guest's offset */
	int64_t frozen;      /* wall seconds while SET is held */
	uint64_t last_second; /* last whole second an update was signalled for */
	uint64_t last_period;
};

static int64_t rtc_seconds(const struct vsl_rtc *r)
{
	if (r->ram[RTC_B] & RTC_B_SET)
		return r->frozen;
	return r->base + (int64_t)(vsl_clock_now(r->clk) / VSL_NS_PER_SEC);
}

static uint8_t rtc_to_reg(const struct vsl_rtc *r, int v)
{
	if (r->ram[RTC_B] & RTC_B_DM)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int rtc_from_reg(const struct vsl_rtc *r, uint8_t v)
{
	if (r->ram[RTC_B] & RTC_B_DM)
		return v;
	return (v >> 4) * 10 + (v & 0xF);
}

static uint8_t rtc_hour_reg(const struct vsl_rtc *r, int h)
{
	if (r->ram[RTC_B] & RTC_B_24H)
		return rtc_to_reg(r, h);
	/* 12-hour: 12, 1..11 with bit 7 = PM */
	return (uint8_t)(rtc_to_reg(r, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0));
}

static int rtc_hour_from_reg(const struct vsl_rtc *r, uint8_t v)
{
	int h;

	if (r->ram[RTC_B] & RTC_B_24H)
		return rtc_from_reg(r, v);
	h = rtc_from_reg(r, v & 0x7F) % 12;
	return (v & 0x80) ? h + 12 : h;
}

static uint8_t rtc_time_reg(const struct vsl_rtc *r, unsigned idx)
{
	time_t t = (time_t)rtc_seconds(r);
	struct tm tm;

	gmtime_r(&t, &tm);
	switch (idx) {
	case 0x00: return rtc_to_reg(r, tm.tm_sec);
	case 0x02: return rtc_to_reg(r, tm.tm_min);
	case 0x04: return rtc_hour_reg(r, tm.tm_hour);
	case 0x06: return rtc_to_reg(r, tm.tm_wday + 1);
	case 0x07: return rtc_to_reg(r, tm.tm_mday);
	case 0x08: return rtc_to_reg(r, tm.tm_mon + 1);
	case 0x09: return rtc_to_reg(r, tm.tm_year % 100);
	case RTC_CENTURY: return rtc_to_reg(r, (tm.tm_year + 1900) / 100);
	}
	return r->ram[idx];
}

/* The guest wrote a time register while SET is held: update the frozen time. */
static void rtc_set_time_reg(struct vsl_rtc *r, unsigned idx, uint8_t v)
{
	time_t t = (time_t)r->frozen;
	struct tm tm;

	gmtime_r(&t, &tm);
	switch (idx) {
	case 0x00: tm.tm_sec = rtc_from_reg(r, v); break;
	case 0x02: tm.tm_min = rtc_from_reg(r, v); break;
	case 0x04: tm.tm_hour = rtc_hour_from_reg(r, v); break;
	case 0x07: tm.tm_mday = rtc_from_reg(r, v); break;
	case 0x08: tm.tm_mon = rtc_from_reg(r, v) - 1; break;
	case 0x09: tm.tm_year = (tm.tm_year / 100) * 100 + rtc_from_reg(r, v) % 100; break;
	case RTC_CENTURY: tm.tm_year = (rtc_from_reg(r, v) - 19) * 100 + tm.tm_year % 100; break;
	default: return;
	}
	r->frozen = (int64_t)timegm(&tm);
}

static uint64_t rtc_period_ns(const struct vsl_rtc *r)
{
	unsigned rs = r->ram[RTC_A] & 0xF;

	if (!rs)
		return 0;
	if (rs < 3)
		rs += 7; /* 1 and 2 alias 256 and 128 Hz */
	return (VSL_NS_PER_SEC << (rs - 1)) / 32768;
}

static void rtc_update_irq(struct vsl_rtc *r)
{
	uint8_t c = r->ram[RTC_C] & 0x70;
	uint8_t en = r->ram[RTC_B] & (RTC_B_PIE | RTC_B_AIE | RTC_B_UIE);

	if (c & en) { /* PF/AF/UF line up with PIE/AIE/UIE */
		if (!(r->ram[RTC_C] & RTC_C_IRQF)) {
			r->ram[RTC_C] |= RTC_C_IRQF;
			vsl_irq_set(&r->irq, 1);
		}
	}
}

static void rtc_schedule(struct vsl_rtc *r)
{
	uint64_t now = vsl_clock_now(r->clk), next = VSL_CLOCK_NEVER;
	uint64_t period = rtc_period_ns(r);

	if ((r->ram[RTC_B] & RTC_B_PIE) && period)
		next = (now / period + 1) * period;
	if (r->ram[RTC_B] & (RTC_B_UIE | RTC_B_AIE))
		next = VSL_MIN(next, (now / VSL_NS_PER_SEC + 1) * VSL_NS_PER_SEC);
	if (next == VSL_CLOCK_NEVER)
		vsl_timer_del(r->timer);
	else
		vsl_timer_mod(r->timer, next);
}

static bool rtc_alarm_match(const struct vsl_rtc *r)
{
	static const unsigned alarm[3][2] = { { 0x01, 0x00 }, { 0x03, 0x02 }, { 0x05, 0x04 } };

	for (int i = 0; i < 3; i++) {
		uint8_t a = r->ram[alarm[i][0]];
		if ((a & 0xC0) == 0xC0) /* don't-care */
			continue;
		if (a != rtc_time_reg(r, alarm[i][1]))
			return false;
	}
	return true;
}

static void rtc_fire(void *opaque, uint64_t now)
{
	struct vsl_rtc *r = opaque;
	uint64_t period = rtc_period_ns(r);
	uint64_t sec = now / VSL_NS_PER_SEC;

	if (period && now / period != r->last_period) {
		r->last_period = now / period;
		r->ram[RTC_C] |= RTC_C_PF;
	}
	if (sec != r->last_second && !(r->ram[RTC_B] & RTC_B_SET)) {
		r->last_second = sec;
		r->ram[RTC_C] |= RTC_C_UF;
		if (rtc_alarm_match(r))
			r->ram[RTC_C] |= RTC_C_AF;
	}
	rtc_update_irq(r);
	rtc_schedule(r);
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_rtc *r = opaque;
	unsigned idx = r->index;
	uint8_t v;

	if (off == 0)
		return 0xFF; /* the index port is write-only */
	switch (idx) {
	case 0x00: case 0x02: case 0x04: case 0x06: case 0x07: case 0x08: case 0x09:
	case RTC_CENTURY:
		return rtc_time_reg(r, idx);
	case RTC_A:
		v = r->ram[RTC_A] & 0x7F;
		/* update in progress during the last 244 us of each second */
		if (!(r->ram[RTC_B] & RTC_B_SET) &&
		    vsl_clock_now(r->clk) % VSL_NS_PER_SEC >= VSL_NS_PER_SEC - 244000)
			v |= 0x80;
		return v;
	case RTC_C:
		v = r->ram[RTC_C];
		r->ram[RTC_C] = 0;
		if (v & RTC_C_IRQF)
			vsl_irq_set(&r->irq, 0);
		return v;
	case RTC_D:
		return 0x80; /* valid RAM and time */
	default:
		return r->ram[idx];
	}
}

static void rtc_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_rtc *r = opaque;
	uint8_t v = (uint8_t)val;
	unsigned idx = r->index;

	if (off == 0) {
		r->index = v & 0x7F; /* bit 7 is the NMI mask */
		return;
	}
	switch (idx) {
	case 0x00: case 0x02: case 0x04: case 0x06: case 0x07: case 0x08: case 0x09:
	case RTC_CENTURY:
		if (r->ram[RTC_B] & RTC_B_SET)
			rtc_set_time_reg(r, idx, v);
		else {
			/* writes outside SET still land (Linux holds SET; be lenient) */
			r->frozen = rtc_seconds(r);
			rtc_set_time_reg(r, idx, v);
			r->base = r->frozen - (int64_t)(vsl_clock_now(r->clk) / VSL_NS_PER_SEC);
		}
		break;
	case RTC_A:
		r->ram[RTC_A] = v & 0x7F;
		rtc_schedule(r);
		break;
	case RTC_B:
		if ((v & RTC_B_SET) && !(r->ram[RTC_B] & RTC_B_SET))
			r->frozen = rtc_seconds(r);
		if (!(v & RTC_B_SET) && (r->ram[RTC_B] & RTC_B_SET))
			r->base = r->frozen - (int64_t)(vsl_clock_now(r->clk) / VSL_NS_PER_SEC);
		r->ram[RTC_B] = (v & RTC_B_SET) ? (uint8_t)(v & ~RTC_B_UIE) : v;
		rtc_update_irq(r);
		rtc_schedule(r);
		break;
	case RTC_C: case RTC_D:
		break; /* read-only */
	default:
		r->ram[idx] = v;
		break;
	}
}

void vsl_rtc_set_nvram(struct vsl_rtc *r, unsigned index, uint8_t val)
{
	if (index >= 0x0E && index < 128 && index != RTC_CENTURY)
		r->ram[index] = val;
}

struct vsl_rtc *vsl_rtc_new(struct vsl_clock *clk, struct vsl_irq irq8, time_t start_time)
{
	struct vsl_rtc *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->clk = clk;
	r->irq = irq8;
	r->base = (int64_t)start_time;
	r->ram[RTC_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	r->ram[RTC_B] = RTC_B_24H;
	r->last_second = 0;
	r->timer = vsl_timer_new(clk, rtc_fire, r);
	if (!r->timer) {
		free(r);
		return NULL;
	}
	return r;
}

void vsl_rtc_free(struct vsl_rtc *r)
{
	if (!r)
		return;
	vsl_timer_free(r->timer);
	free(r);
}

int vsl_rtc_map(struct vsl_rtc *r, struct vsl_bus *io)
{
	return vsl_bus_map(io, 0x70, 2, r, rtc_read, rtc_write);
}
