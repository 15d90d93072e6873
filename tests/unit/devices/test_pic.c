/* Unit tests for runtime/devices/pic.c (8259A pair), driven through the bus. */
#include <check.h>
#include <stdlib.h>

#include "vessel/bus.h"
#include "vessel/devices.h"

static struct vsl_bus *bus;
static struct vsl_pic *pic;
static unsigned notified;

static void notify(void *opaque)
{
	notified++;
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

/* Linux's init_8259A sequence: vectors 0x30 (master) and 0x38 (slave). */
static void setup(void)
{
	bus = vsl_bus_new("io");
	pic = vsl_pic_new(notify, NULL);
	ck_assert_int_eq(vsl_pic_map(pic, bus), 0);
	notified = 0;
	out8(0x21, 0xFF);
	out8(0xA1, 0xFF);
	out8(0x20, 0x11); out8(0x21, 0x30); out8(0x21, 0x04); out8(0x21, 0x01);
	out8(0xA0, 0x11); out8(0xA1, 0x38); out8(0xA1, 0x02); out8(0xA1, 0x01);
	out8(0x21, 0xFF);
	out8(0xA1, 0xFF);
}

static void teardown(void)
{
	vsl_pic_free(pic);
	vsl_bus_free(bus);
}

START_TEST(mask_and_priority)
{
	out8(0x21, 0xFC); /* IRQ 0 and 1 unmasked */
	ck_assert_uint_eq(in8(0x21), 0xFC);
	ck_assert(!vsl_pic_has_intr(pic));
	vsl_pic_set_irq(pic, 3, 1); /* masked */
	ck_assert(!vsl_pic_has_intr(pic));
	vsl_pic_set_irq(pic, 1, 1);
	vsl_pic_set_irq(pic, 0, 1);
	ck_assert(notified > 0);
	ck_assert(vsl_pic_has_intr(pic));
	/* IRQ 0 has the highest priority */
	ck_assert_int_eq(vsl_pic_ack(pic), 0x30);
	/* IRQ 1 waits: IRQ 0 is in service */
	ck_assert(!vsl_pic_has_intr(pic));
	out8(0x20, 0x0B); /* OCW3: read ISR */
	ck_assert_uint_eq(in8(0x20), 0x01);
	out8(0x20, 0x0A); /* OCW3: read IRR */
	ck_assert_uint_eq(in8(0x20), 0x0A); /* IRQ 1 and the masked IRQ 3 */
	out8(0x20, 0x20); /* non-specific EOI */
	ck_assert(vsl_pic_has_intr(pic));
	ck_assert_int_eq(vsl_pic_ack(pic), 0x31);
	out8(0x20, 0x61); /* specific EOI for IRQ 1 */
	out8(0x20, 0x0B);
	ck_assert_uint_eq(in8(0x20), 0x00);
	/* unmasking IRQ 3 delivers the latched request */
	out8(0x21, 0xF4);
	ck_assert_int_eq(vsl_pic_ack(pic), 0x33);
	/* nothing left: spurious IRQ 7 */
	ck_assert_int_eq(vsl_pic_ack(pic), 0x37);
}
END_TEST

START_TEST(edge_needs_new_rise)
{
	out8(0x21, 0xFE);
	vsl_pic_set_irq(pic, 0, 1);
	ck_assert_int_eq(vsl_pic_ack(pic), 0x30);
	out8(0x20, 0x20);
	/* still high, no new edge: nothing */
	vsl_pic_set_irq(pic, 0, 1);
	ck_assert(!vsl_pic_has_intr(pic));
	vsl_pic_set_irq(pic, 0, 0);
	vsl_pic_set_irq(pic, 0, 1);
	ck_assert(vsl_pic_has_intr(pic));
}
END_TEST

START_TEST(level_via_elcr)
{
	out8(0x4D1, 0x02); /* IRQ 9 level-triggered */
	ck_assert_uint_eq(in8(0x4D1), 0x02);
	out8(0x4D0, 0x07); /* IRQ 0-2 cannot be level: masked off */
	ck_assert_uint_eq(in8(0x4D0), 0x00);
	out8(0x21, 0xFB); /* cascade */
	out8(0xA1, 0xFD); /* IRQ 9 */
	vsl_pic_set_irq(pic, 9, 1);
	ck_assert_int_eq(vsl_pic_ack(pic), 0x39);
	out8(0xA0, 0x20);
	out8(0x20, 0x20);
	/* the line is still high: requested again without a new edge */
	ck_assert(vsl_pic_has_intr(pic));
	ck_assert_int_eq(vsl_pic_ack(pic), 0x39);
	out8(0xA0, 0x20);
	out8(0x20, 0x20);
	vsl_pic_set_irq(pic, 9, 0);
	ck_assert(!vsl_pic_has_intr(pic));
}
END_TEST

START_TEST(slave_cascade)
{
	out8(0x21, 0xFA); /* IRQ 0 and the cascade */
	out8(0xA1, 0xFE); /* IRQ 8 */
	vsl_pic_set_irq(pic, 8, 1);
	ck_assert(vsl_pic_has_intr(pic));
	ck_assert_int_eq(vsl_pic_ack(pic), 0x38);
	/* IRQ 0 beats the slave (IRQ 2 level) even now */
	vsl_pic_set_irq(pic, 0, 1);
	ck_assert_int_eq(vsl_pic_ack(pic), 0x30);
	out8(0x20, 0x20); /* EOI IRQ 0 (highest in service) */
	out8(0xA0, 0x0B);
	ck_assert_uint_eq(in8(0xA0), 0x01);
	out8(0x20, 0x0B);
	ck_assert_uint_eq(in8(0x20), 0x04);
	out8(0xA0, 0x20);
	out8(0x20, 0x20);
	out8(0x20, 0x0B);
	ck_assert_uint_eq(in8(0x20), 0x00);
	/* masked on the slave: nothing reaches the master */
	out8(0xA1, 0xFF);
	vsl_pic_set_irq(pic, 8, 0);
	vsl_pic_set_irq(pic, 8, 1);
	ck_assert(!vsl_pic_has_intr(pic));
}
END_TEST

START_TEST(rotation_and_poll)
{
	out8(0x21, 0x00);
	out8(0x20, 0xC4); /* set priority: IRQ 4 lowest, so IRQ 5 highest */
	vsl_pic_set_irq(pic, 1, 1);
	vsl_pic_set_irq(pic, 6, 1);
	ck_assert_int_eq(vsl_pic_ack(pic), 0x36);
	out8(0x20, 0x20);
	/* poll mode: read the request as 0x80 | irq and acknowledge it */
	out8(0x20, 0x0C);
	ck_assert_uint_eq(in8(0x20), 0x81);
	out8(0x20, 0x20);
	out8(0x20, 0x0C);
	ck_assert_uint_eq(in8(0x20), 0x00);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pic");
	TCase *tc = tcase_create("8259");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mask_and_priority);
	tcase_add_test(tc, edge_needs_new_rise);
	tcase_add_test(tc, level_via_elcr);
	tcase_add_test(tc, slave_cascade);
	tcase_add_test(tc, rotation_and_poll);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
