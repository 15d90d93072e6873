/* Unit tests for runtime/machine/bus.c and clock.c: routing with "constant devices". */
#include <check.h>
#include <stdlib.h>

#include "vessel/bus.h"
#include "vessel/devices.h"

/* A constant device answers its opaque value (plus the offset) and counts writes. */
struct konst {
	uint64_t value;
	unsigned writes;
	uint64_t last_off, last_val;
	unsigned last_size;
};

static uint64_t konst_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct konst *k = opaque;

	return k->value + off;
}

static void konst_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct konst *k = opaque;

	k->writes++;
	k->last_off = off;
	k->last_val = val;
	k->last_size = size_log2;
}

START_TEST(routing)
{
	struct vsl_bus *bus = vsl_bus_new("test");
	struct konst a = { .value = 0x1000 }, b = { .value = 0x2000 }, c = { .value = 0x3000 };
	uint64_t v;

	/* mapped out of order on purpose: the table must stay sorted */
	ck_assert_int_eq(vsl_bus_map(bus, 0x3F8, 8, &b, konst_read, konst_write), 0);
	ck_assert_int_eq(vsl_bus_map(bus, 0x20, 2, &a, konst_read, konst_write), 0);
	ck_assert_int_eq(vsl_bus_map(bus, 0xFEE00000, 0x1000, &c, konst_read, konst_write), 0);
	ck_assert(vsl_bus_read(bus, 0x21, 0, &v));
	ck_assert_uint_eq(v, 0x1001);
	ck_assert(vsl_bus_read(bus, 0x3FD, 0, &v));
	ck_assert_uint_eq(v, 0x2005);
	ck_assert(vsl_bus_read(bus, 0xFEE000B0, 2, &v));
	ck_assert_uint_eq(v, 0x30B0);
	/* edges: one before, first, last, one after */
	ck_assert(!vsl_bus_read(bus, 0x3F7, 0, &v));
	ck_assert(vsl_bus_read(bus, 0x3F8, 0, &v));
	ck_assert(vsl_bus_read(bus, 0x3FF, 0, &v));
	ck_assert(!vsl_bus_read(bus, 0x400, 0, &v));
	ck_assert(!vsl_bus_read(bus, 0, 0, &v));
	ck_assert(!vsl_bus_read(bus, UINT64_MAX, 0, &v));
	ck_assert(vsl_bus_write(bus, 0x3F9, 1, 0xBEEF));
	ck_assert_uint_eq(b.writes, 1);
	ck_assert_uint_eq(b.last_off, 1);
	ck_assert_uint_eq(b.last_val, 0xBEEF);
	ck_assert_uint_eq(b.last_size, 1);
	ck_assert(!vsl_bus_write(bus, 0x22, 0, 1));
	ck_assert_uint_eq(a.writes, 0);
	vsl_bus_free(bus);
}
END_TEST

START_TEST(overlaps)
{
	struct vsl_bus *bus = vsl_bus_new("test");
	struct konst a = { .value = 1 };
	uint64_t v;

	ck_assert_int_eq(vsl_bus_map(bus, 0x100, 0x10, &a, konst_read, NULL), 0);
	ck_assert_int_eq(vsl_bus_map(bus, 0x10F, 1, &a, konst_read, NULL), VSL_EEXIST);
	ck_assert_int_eq(vsl_bus_map(bus, 0xF0, 0x11, &a, konst_read, NULL), VSL_EEXIST);
	ck_assert_int_eq(vsl_bus_map(bus, 0x80, 0x200, &a, konst_read, NULL), VSL_EEXIST);
	ck_assert_int_eq(vsl_bus_map(bus, 0x104, 2, &a, konst_read, NULL), VSL_EEXIST);
	ck_assert_int_eq(vsl_bus_map(bus, 0xF0, 0x10, &a, konst_read, NULL), 0);  /* adjacent */
	ck_assert_int_eq(vsl_bus_map(bus, 0x110, 0x10, &a, konst_read, NULL), 0); /* adjacent */
	ck_assert_int_eq(vsl_bus_map(bus, 0x200, 0, &a, konst_read, NULL), VSL_EINVAL);
	ck_assert_int_eq(vsl_bus_map(bus, UINT64_MAX, 2, &a, konst_read, NULL), VSL_EINVAL);
	/* a write to a device without a write callback is accepted and dropped */
	ck_assert(vsl_bus_write(bus, 0x100, 0, 5));
	/* unmap only by exact base */
	ck_assert_int_eq(vsl_bus_unmap(bus, 0x101), VSL_ENOENT);
	ck_assert_int_eq(vsl_bus_unmap(bus, 0x100), 0);
	ck_assert(!vsl_bus_read(bus, 0x105, 0, &v));
	ck_assert(vsl_bus_read(bus, 0x110, 0, &v));
	ck_assert_int_eq(vsl_bus_map(bus, 0x100, 0x10, &a, konst_read, NULL), 0);
	vsl_bus_free(bus);
	vsl_bus_free(NULL);
}
END_TEST

START_TEST(many_ranges)
{
	struct vsl_bus *bus = vsl_bus_new("test");
	static struct konst ks[1000];
	uint64_t v;

	/* map in a scrambled order, then check every device answers for itself */
	for (unsigned i = 0; i < 1000; i++) {
		unsigned j = (i * 7919) % 1000;
		ks[j].value = j * 100;
		ck_assert_int_eq(vsl_bus_map(bus, j * 16, 8, &ks[j], konst_read, konst_write), 0);
	}
	for (unsigned j = 0; j < 1000; j++) {
		ck_assert(vsl_bus_read(bus, j * 16 + 3, 0, &v));
		ck_assert_uint_eq(v, j * 100 + 3);
		ck_assert(!vsl_bus_read(bus, j * 16 + 8, 0, &v));
	}
	vsl_bus_free(bus);
}
END_TEST

static unsigned fired_a, fired_b;
static uint64_t fired_at;

static void timer_a(void *opaque, uint64_t now)
{
	fired_a++;
	fired_at = now;
}

static void timer_b(void *opaque, uint64_t now)
{
	struct vsl_timer *self = opaque;

	/* re-arm itself every 100 ns */
	fired_b++;
	vsl_timer_mod(self, now + 100);
}

static unsigned notified;
static void notify(void *opaque)
{
	notified++;
}

START_TEST(clock_timers)
{
	struct vsl_clock *clk = vsl_clock_new();
	struct vsl_timer *a = vsl_timer_new(clk, timer_a, NULL);
	struct vsl_timer *b;

	b = vsl_timer_new(clk, timer_b, NULL);
	/* give b itself as opaque: recreate */
	vsl_timer_free(b);
	b = vsl_timer_new(clk, timer_b, NULL);
	ck_assert_ptr_nonnull(b);
	vsl_clock_set_notify(clk, notify, NULL);
	ck_assert_uint_eq(vsl_clock_next_deadline(clk), VSL_CLOCK_NEVER);
	vsl_timer_mod(a, 500);
	ck_assert_uint_eq(notified, 1);
	ck_assert(vsl_timer_pending(a));
	ck_assert_uint_eq(vsl_clock_next_deadline(clk), 500);
	vsl_clock_set(clk, 499);
	vsl_clock_run_timers(clk);
	ck_assert_uint_eq(fired_a, 0);
	vsl_clock_set(clk, 700);
	vsl_clock_run_timers(clk);
	ck_assert_uint_eq(fired_a, 1);
	ck_assert_uint_eq(fired_at, 700);
	ck_assert(!vsl_timer_pending(a));
	vsl_timer_mod(a, 800);
	vsl_timer_del(a);
	vsl_clock_set(clk, 900);
	vsl_clock_run_timers(clk);
	ck_assert_uint_eq(fired_a, 1);
	vsl_timer_free(a);
	vsl_timer_free(b);
	vsl_clock_free(clk);
}
END_TEST

struct selfarm {
	struct vsl_timer *t;
	unsigned n;
};

static void selfarm_fire(void *opaque, uint64_t now)
{
	struct selfarm *s = opaque;

	s->n++;
	vsl_timer_mod(s->t, now + 100);
}

START_TEST(clock_rearm)
{
	struct vsl_clock *clk = vsl_clock_new();
	struct selfarm s = { 0 };

	s.t = vsl_timer_new(clk, selfarm_fire, &s);
	vsl_timer_mod(s.t, 100);
	for (uint64_t t = 100; t <= 1000; t += 100) {
		vsl_clock_set(clk, t);
		vsl_clock_run_timers(clk);
	}
	ck_assert_uint_eq(s.n, 10);
	ck_assert_uint_eq(vsl_clock_next_deadline(clk), 1100);
	/* freeing the clock first detaches the timer; freeing it later is safe */
	vsl_clock_free(clk);
	vsl_timer_free(s.t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("bus");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, routing);
	tcase_add_test(tc, overlaps);
	tcase_add_test(tc, many_ranges);
	suite_add_tcase(s, tc);
	tc = tcase_create("clock");
	tcase_add_test(tc, clock_timers);
	tcase_add_test(tc, clock_rearm);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
