/* Unit tests for runtime/devices/rtc.c: BCD/binary registers on virtual time. */
#include <check.h>
#include <stdlib.h>

#include "vessel/bus.h"
#include "vessel/devices.h"

/* 1700000000 = Tue 2023-11-14 22:13:20 UTC */
#define START 1700000000

static struct vsl_bus *bus;
static struct vsl_clock *clk;
static struct vsl_rtc *rtc;
static int level;

static void irq_set(void *opaque, int n, int l)
{
	ck_assert_int_eq(n, 8);
	level = l;
}

static uint8_t cmos(uint8_t idx)
{
	uint64_t v;

	ck_assert(vsl_bus_write(bus, 0x70, 0, idx));
	ck_assert(vsl_bus_read(bus, 0x71, 0, &v));
	return (uint8_t)v;
}

static void cmos_set(uint8_t idx, uint8_t val)
{
	ck_assert(vsl_bus_write(bus, 0x70, 0, idx));
	ck_assert(vsl_bus_write(bus, 0x71, 0, val));
}

static void setup(void)
{
	bus = vsl_bus_new("io");
	clk = vsl_clock_new();
	rtc = vsl_rtc_new(clk, (struct vsl_irq){ irq_set, NULL, 8 }, START);
	ck_assert_int_eq(vsl_rtc_map(rtc, bus), 0);
	level = 0;
}

static void teardown(void)
{
	vsl_rtc_free(rtc);
	vsl_clock_free(clk);
	vsl_bus_free(bus);
}

START_TEST(bcd_time)
{
	ck_assert_uint_eq(cmos(0x0B) & 0x06, 0x02); /* BCD, 24-hour */
	ck_assert_uint_eq(cmos(0x00), 0x20);
	ck_assert_uint_eq(cmos(0x02), 0x13);
	ck_assert_uint_eq(cmos(0x04), 0x22);
	ck_assert_uint_eq(cmos(0x06), 0x03); /* Tuesday (Sunday = 1) */
	ck_assert_uint_eq(cmos(0x07), 0x14);
	ck_assert_uint_eq(cmos(0x08), 0x11);
	ck_assert_uint_eq(cmos(0x09), 0x23);
	ck_assert_uint_eq(cmos(0x32), 0x20);
	ck_assert_uint_eq(cmos(0x0D), 0x80); /* valid */
	/* virtual time moves the clock: +3 h 46 min 45 s crosses midnight */
	vsl_clock_set(clk, (3 * 3600 + 46 * 60 + 45) * VSL_NS_PER_SEC);
	ck_assert_uint_eq(cmos(0x00), 0x05);
	ck_assert_uint_eq(cmos(0x02), 0x00);
	ck_assert_uint_eq(cmos(0x04), 0x02);
	ck_assert_uint_eq(cmos(0x07), 0x15);
	/* UIP in the last 244 us of a second */
	ck_assert_uint_eq(cmos(0x0A) & 0x80, 0);
	vsl_clock_set(clk, 5 * VSL_NS_PER_SEC - 100000);
	ck_assert_uint_eq(cmos(0x0A) & 0x80, 0x80);
}
END_TEST

START_TEST(binary_12h_and_set)
{
	cmos_set(0x0B, 0x04); /* binary, 12-hour */
	ck_assert_uint_eq(cmos(0x00), 20);
	ck_assert_uint_eq(cmos(0x04), 0x80 | 10); /* 10 PM */
	/* set the time: SET, write 2024-02-29 12:00:00, release */
	cmos_set(0x0B, 0x86);
	cmos_set(0x09, 24);
	cmos_set(0x08, 2);
	cmos_set(0x07, 29);
	cmos_set(0x04, 12);
	cmos_set(0x02, 0);
	cmos_set(0x00, 0);
	cmos_set(0x0B, 0x06);
	vsl_clock_set(clk, 61 * VSL_NS_PER_SEC);
	ck_assert_uint_eq(cmos(0x09), 24);
	ck_assert_uint_eq(cmos(0x08), 2);
	ck_assert_uint_eq(cmos(0x07), 29);
	ck_assert_uint_eq(cmos(0x04), 12);
	ck_assert_uint_eq(cmos(0x02), 1);
	ck_assert_uint_eq(cmos(0x00), 1);
	/* NVRAM bytes are plain memory */
	cmos_set(0x40, 0xA5);
	ck_assert_uint_eq(cmos(0x40), 0xA5);
}
END_TEST

START_TEST(periodic_irq)
{
	cmos_set(0x0A, 0x26); /* 1024 Hz */
	cmos_set(0x0B, 0x42); /* PIE */
	ck_assert_uint_lt(vsl_clock_next_deadline(clk), 1000000);
	vsl_clock_set(clk, 1000000);
	vsl_clock_run_timers(clk);
	ck_assert_int_eq(level, 1);
	ck_assert_uint_eq(cmos(0x0C), 0xC0); /* IRQF | PF; reading clears */
	ck_assert_int_eq(level, 0);
	ck_assert_uint_eq(cmos(0x0C), 0x00);
	cmos_set(0x0B, 0x02);
	ck_assert_uint_eq(vsl_clock_next_deadline(clk), VSL_CLOCK_NEVER);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rtc");
	TCase *tc = tcase_create("cmos");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bcd_time);
	tcase_add_test(tc, binary_12h_and_set);
	tcase_add_test(tc, periodic_irq);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
