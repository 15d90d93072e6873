/* Unit tests for runtime/devices/pit.c: counting and IRQ 0 on virtual time. */
#include <check.h>
#include <stdlib.h>

#include "vessel/bus.h"
#include "vessel/devices.h"

static struct vsl_bus *bus;
static struct vsl_clock *clk;
static struct vsl_pit *pit;
static unsigned rises;
static int level;

static void irq_set(void *opaque, int n, int l)
{
	ck_assert_int_eq(n, 0);
	if (l && !level)
		rises++;
	level = l;
}

static void out8(uint16_t port, uint8_t v)
{
	ck_assert(vsl_bus_write(bus, port, 0, v));
}

static uint8_t in8(uint16_t port)
{
	uint64_t v;

	ck_assert(vsl_bus_read(bus, port, 0, &v));
	return (uint8_t)v;
}

/* Advance virtual time to t (ns), firing timers at each deadline on the way. */
static void advance(uint64_t t)
{
	for (;;) {
		uint64_t d = vsl_clock_next_deadline(clk);
		if (d > t)
			break;
		vsl_clock_set(clk, d);
		vsl_clock_run_timers(clk);
	}
	vsl_clock_set(clk, t);
	vsl_clock_run_timers(clk);
}

static void setup(void)
{
	bus = vsl_bus_new("io");
	clk = vsl_clock_new();
	pit = vsl_pit_new(clk, (struct vsl_irq){ irq_set, NULL, 0 });
	ck_assert_int_eq(vsl_pit_map(pit, bus), 0);
	rises = 0;
	level = 0;
}

static void teardown(void)
{
	vsl_pit_free(pit);
	vsl_clock_free(clk);
	vsl_bus_free(bus);
}

START_TEST(periodic_mode2)
{
	unsigned v;

	/* channel 0, LSB then MSB, mode 2: 1193 ticks = 999.8 us */
	out8(0x43, 0x34);
	out8(0x40, 1193 & 0xFF);
	out8(0x40, 1193 >> 8);
	ck_assert_uint_ge(vsl_clock_next_deadline(clk), 999000);
	ck_assert_uint_le(vsl_clock_next_deadline(clk), 1000000);
	advance(500000); /* half way: 596.6 ticks elapsed */
	out8(0x43, 0x00); /* latch channel 0 */
	v = in8(0x40);
	v |= (unsigned)in8(0x40) << 8;
	ck_assert_uint_eq(v, 1193 - 596);
	ck_assert_uint_eq(rises, 0);
	advance(100 * 1000000ull); /* 100 ms: 100 periods */
	ck_assert_uint_eq(rises, 100);
	/* reprogramming as one-shot (mode 4, Linux's oneshot clockevent) */
	out8(0x43, 0x38);
	out8(0x40, 0x10);
	out8(0x40, 0x00); /* 16 ticks = 13.4 us */
	advance(100 * 1000000ull + 20000);
	ck_assert_uint_eq(rises, 101);
	advance(200 * 1000000ull);
	ck_assert_uint_eq(rises, 101);
	ck_assert_uint_eq(vsl_clock_next_deadline(clk), VSL_CLOCK_NEVER);
}
END_TEST

START_TEST(channel2_gate_and_out)
{
	/* pit_calibrate_tsc style: gate on, speaker off, mode 0, poll OUT2 on 0x61 */
	out8(0x61, (in8(0x61) & ~0x02) | 0x01);
	out8(0x43, 0xB0);
	out8(0x42, 0xE8);
	out8(0x42, 0x03); /* 1000 ticks = 838.1 us */
	ck_assert_uint_eq(in8(0x61) & 0x20, 0);
	advance(838000);
	ck_assert_uint_eq(in8(0x61) & 0x20, 0);
	advance(838200);
	ck_assert_uint_eq(in8(0x61) & 0x20, 0x20);
	ck_assert_uint_eq(in8(0x61) & 0x01, 0x01);
	/* no IRQ from channel 2 */
	ck_assert_uint_eq(rises, 0);
	/* read-back status of channel 2: OUT high, LSB/MSB, mode 0, binary */
	out8(0x43, 0xE8);
	ck_assert_uint_eq(in8(0x42), 0x80 | 0x30);
	/* unlatched LSB/MSB reads alternate; the counter has wrapped past 0 */
	(void)in8(0x42);
	(void)in8(0x42);
}
END_TEST

START_TEST(bcd_and_msb_only)
{
	/* channel 0, MSB only, mode 0, BCD: 0x10 << 8 = 1000 ticks */
	out8(0x43, 0x23);
	out8(0x40, 0x10);
	advance(837000);
	ck_assert_uint_eq(rises, 0);
	advance(839000);
	ck_assert_uint_eq(rises, 1);
	/* the control word register cannot be read */
	ck_assert_uint_eq(in8(0x43), 0xFF);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pit");
	TCase *tc = tcase_create("8254");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, periodic_mode2);
	tcase_add_test(tc, channel2_gate_and_out);
	tcase_add_test(tc, bcd_and_msb_only);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
