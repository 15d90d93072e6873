/* Unit tests for runtime/devices/lapic.c and ioapic.c, through the MMIO bus. */
#include <check.h>
#include <stdlib.h>

#include "vessel/bus.h"
#include "vessel/devices.h"

static struct vsl_bus *mmio;
static struct vsl_clock *clk;
static struct vsl_lapic *apic;
static struct vsl_ioapic *ioapic;

static void eoi(void *opaque, int vector)
{
	vsl_ioapic_eoi(ioapic, vector);
}

static void deliver(void *opaque, int vector, bool level)
{
	vsl_lapic_deliver(apic, vector, level);
}

static uint32_t rd(uint64_t addr)
{
	uint64_t v;

	ck_assert(vsl_bus_read(mmio, addr, 2, &v));
	return (uint32_t)v;
}

static void wr(uint64_t addr, uint32_t v)
{
	ck_assert(vsl_bus_write(mmio, addr, 2, v));
}

#define LAPIC(off) (VSL_LAPIC_BASE + (off))

static void io_rte(int pin, uint32_t lo)
{
	wr(VSL_IOAPIC_BASE, 0x10 + 2 * (uint32_t)pin);
	wr(VSL_IOAPIC_BASE + 0x10, lo);
}

static void setup(void)
{
	mmio = vsl_bus_new("mmio");
	clk = vsl_clock_new();
	apic = vsl_lapic_new(clk, mmio, eoi, NULL, NULL);
	ioapic = vsl_ioapic_new(deliver, NULL);
	ck_assert_int_eq(vsl_ioapic_map(ioapic, mmio), 0);
}

static void teardown(void)
{
	vsl_ioapic_free(ioapic);
	vsl_lapic_free(apic);
	vsl_clock_free(clk);
	vsl_bus_free(mmio);
}

START_TEST(reset_state)
{
	ck_assert_uint_eq(vsl_lapic_base_read(apic), 0xFEE00900);
	ck_assert(vsl_lapic_enabled(apic));
	ck_assert_uint_eq(rd(LAPIC(0x030)) & 0xFF, 0x14);
	ck_assert_uint_eq(rd(LAPIC(0x350)), 0x700);   /* LINT0 ExtINT: virtual wire */
	ck_assert(vsl_lapic_accepts_pic(apic));
	ck_assert_int_eq(vsl_lapic_pending(apic, true), VSL_LAPIC_EXTINT);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), -1);
	/* I/O APIC: version 0x11, 24 pins, all masked */
	wr(VSL_IOAPIC_BASE, 1);
	ck_assert_uint_eq(rd(VSL_IOAPIC_BASE + 0x10), 0x00170011);
	wr(VSL_IOAPIC_BASE, 0x10);
	ck_assert_uint_eq(rd(VSL_IOAPIC_BASE + 0x10) & 0x10000, 0x10000);
	/* relocating the APIC moves its MMIO window */
	vsl_lapic_base_write(apic, 0xFED00000 | 0x800);
	uint64_t v;
	ck_assert(!vsl_bus_read(mmio, LAPIC(0x30), 2, &v));
	ck_assert(vsl_bus_read(mmio, 0xFED00030, 2, &v));
	/* hardware-disabled: the PIC goes straight to the CPU */
	vsl_lapic_base_write(apic, 0xFEE00000);
	ck_assert(!vsl_lapic_enabled(apic));
	ck_assert_int_eq(vsl_lapic_pending(apic, true), VSL_LAPIC_EXTINT);
}
END_TEST

START_TEST(priority_and_eoi)
{
	vsl_lapic_deliver(apic, 0x41, false);
	vsl_lapic_deliver(apic, 0x81, false);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), 0x81);
	vsl_lapic_ack(apic, 0x81);
	ck_assert_uint_eq(rd(LAPIC(0x100 + 0x10 * (0x81 / 32))), 1u << (0x81 % 32)); /* ISR */
	/* 0x41 is a lower class than the one in service */
	ck_assert_int_eq(vsl_lapic_pending(apic, false), -1);
	ck_assert_uint_eq(rd(LAPIC(0x0A0)), 0x80); /* PPR */
	wr(LAPIC(0x0B0), 0);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), 0x41);
	/* TPR blocks classes at or below it */
	wr(LAPIC(0x080), 0x40);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), -1);
	wr(LAPIC(0x080), 0x00);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), 0x41);
	/* self-IPI through ICR */
	wr(LAPIC(0x300), (1u << 18) | 0xF0);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), 0xF0);
	/* software disable: nothing fixed is delivered */
	wr(LAPIC(0x0F0), 0xFF);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), -1);
}
END_TEST

START_TEST(timer_modes)
{
	wr(LAPIC(0x3E0), 0x3);               /* divide by 16 */
	wr(LAPIC(0x320), 0x20000 | 0xEC);    /* periodic, vector 0xEC */
	wr(LAPIC(0x380), 1000);              /* 16 us period */
	ck_assert_uint_eq(vsl_clock_next_deadline(clk), 16000);
	vsl_clock_set(clk, 8000);
	ck_assert_uint_eq(rd(LAPIC(0x390)), 500);
	vsl_clock_set(clk, 16000);
	vsl_clock_run_timers(clk);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), 0xEC);
	ck_assert_uint_eq(vsl_clock_next_deadline(clk), 32000);
	vsl_lapic_ack(apic, 0xEC);
	wr(LAPIC(0x0B0), 0);
	/* one-shot: counts to 0 and stays */
	wr(LAPIC(0x320), 0xED);
	wr(LAPIC(0x380), 100);               /* from now (16 us): 1.6 us */
	vsl_clock_set(clk, 17600);
	vsl_clock_run_timers(clk);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), 0xED);
	ck_assert_uint_eq(rd(LAPIC(0x390)), 0);
	ck_assert_uint_eq(vsl_clock_next_deadline(clk), VSL_CLOCK_NEVER);
	/* masked: no interrupt */
	vsl_lapic_ack(apic, 0xED);
	wr(LAPIC(0x0B0), 0);
	wr(LAPIC(0x320), 0x10000 | 0xEE);
	wr(LAPIC(0x380), 10);
	vsl_clock_set(clk, 20000);
	vsl_clock_run_timers(clk);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), -1);
}
END_TEST

START_TEST(ioapic_edge_and_level)
{
	/* pin 2 edge -> 0x30, pin 9 level -> 0x39 */
	io_rte(2, 0x30);
	io_rte(9, 0x39 | (1u << 15));
	vsl_ioapic_set_irq(ioapic, 2, 1);
	vsl_ioapic_set_irq(ioapic, 2, 0);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), 0x30);
	vsl_lapic_ack(apic, 0x30);
	wr(LAPIC(0x0B0), 0);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), -1);
	/* level: Remote IRR holds it until the EOI; still high -> sent again */
	vsl_ioapic_set_irq(ioapic, 9, 1);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), 0x39);
	wr(VSL_IOAPIC_BASE, 0x10 + 18);
	ck_assert_uint_eq(rd(VSL_IOAPIC_BASE + 0x10) & (1u << 14), 1u << 14);
	vsl_lapic_ack(apic, 0x39);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), -1);
	wr(LAPIC(0x0B0), 0); /* EOI of a level vector reaches the I/O APIC */
	ck_assert_int_eq(vsl_lapic_pending(apic, false), 0x39);
	vsl_lapic_ack(apic, 0x39);
	vsl_ioapic_set_irq(ioapic, 9, 0);
	wr(LAPIC(0x0B0), 0);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), -1);
	/* masked pin: nothing */
	io_rte(4, 0x34 | (1u << 16));
	vsl_ioapic_set_irq(ioapic, 4, 1);
	ck_assert_int_eq(vsl_lapic_pending(apic, false), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lapic");
	TCase *tc = tcase_create("apic");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reset_state);
	tcase_add_test(tc, priority_and_eoi);
	tcase_add_test(tc, timer_modes);
	tcase_add_test(tc, ioapic_edge_and_level);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
