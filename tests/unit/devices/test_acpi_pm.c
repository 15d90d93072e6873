/* Unit tests for runtime/devices/acpi_pm.c and i8042.c: poweroff, reset, PM timer. */
#include <check.h>
#include <stdlib.h>

#include "vessel/bus.h"
#include "vessel/devices.h"

static unsigned poweroffs, resets;

static void poweroff(void *opaque) { poweroffs++; }
static void reset(void *opaque) { resets++; }

START_TEST(sleep_and_reset)
{
	struct vsl_bus *io = vsl_bus_new("io");
	struct vsl_clock *clk = vsl_clock_new();
	struct vsl_acpi_pm *pm = vsl_acpi_pm_new(clk, poweroff, reset, NULL);
	uint64_t v, t0;

	poweroffs = resets = 0;
	ck_assert_int_eq(vsl_acpi_pm_map(pm, io), 0);
	/* SCI_EN always set */
	ck_assert(vsl_bus_read(io, VSL_ACPI_PM1A_CNT, 1, &v));
	ck_assert_uint_eq(v & 1, 1);
	/* SLP_TYP without SLP_EN, or another type: nothing */
	ck_assert(vsl_bus_write(io, VSL_ACPI_PM1A_CNT, 1, VSL_ACPI_S5_TYP << 10));
	ck_assert(vsl_bus_write(io, VSL_ACPI_PM1A_CNT, 1, (1u << 13) | (3u << 10)));
	ck_assert_uint_eq(poweroffs, 0);
	/* Linux's S5: SLP_TYP | SLP_EN in one 16-bit write */
	ck_assert(vsl_bus_write(io, VSL_ACPI_PM1A_CNT, 1, (1u << 13) | (VSL_ACPI_S5_TYP << 10)));
	ck_assert_uint_eq(poweroffs, 1);
	/* reset register: 0x02 alone does nothing, 0x06 resets */
	ck_assert(vsl_bus_write(io, VSL_ACPI_RESET_PORT, 0, 0x02));
	ck_assert_uint_eq(resets, 0);
	ck_assert(vsl_bus_write(io, VSL_ACPI_RESET_PORT, 0, 0x06));
	ck_assert_uint_eq(resets, 1);
	/* PM timer: 3.579545 MHz on virtual time, 24 bits */
	vsl_clock_set(clk, 1000000);
	ck_assert(vsl_bus_read(io, VSL_ACPI_PM_TMR, 2, &t0));
	ck_assert_uint_eq(t0, 3579);
	vsl_clock_set(clk, 5 * VSL_NS_PER_SEC);
	ck_assert(vsl_bus_read(io, VSL_ACPI_PM_TMR, 2, &v));
	ck_assert_uint_eq(v, (5 * 3579545ull) & 0xFFFFFF);
	/* status bits are write-one-to-clear; enable is read/write */
	ck_assert(vsl_bus_write(io, VSL_ACPI_PM1A_EVT + 2, 1, 0x0121));
	ck_assert(vsl_bus_read(io, VSL_ACPI_PM1A_EVT + 2, 1, &v));
	ck_assert_uint_eq(v, 0x0121);
	vsl_acpi_pm_free(pm);
	vsl_clock_free(clk);
	vsl_bus_free(io);
}
END_TEST

START_TEST(i8042_probe_and_reset)
{
	struct vsl_bus *io = vsl_bus_new("io");
	struct vsl_i8042 *k = vsl_i8042_new(reset, NULL);
	uint64_t v;

	resets = 0;
	ck_assert_int_eq(vsl_i8042_map(k, io), 0);
	/* port 0x61 is not the controller's */
	ck_assert(!vsl_bus_read(io, 0x61, 0, &v));
	ck_assert(vsl_bus_read(io, 0x64, 0, &v));
	ck_assert_uint_ne(v, 0xFF);
	ck_assert_uint_eq(v & 1, 0);
	/* self test answers 0x55 */
	ck_assert(vsl_bus_write(io, 0x64, 0, 0xAA));
	ck_assert(vsl_bus_read(io, 0x64, 0, &v));
	ck_assert_uint_eq(v & 1, 1);
	ck_assert(vsl_bus_read(io, 0x60, 0, &v));
	ck_assert_uint_eq(v, 0x55);
	/* command byte round trip */
	ck_assert(vsl_bus_write(io, 0x64, 0, 0x60));
	ck_assert(vsl_bus_write(io, 0x60, 0, 0x47));
	ck_assert(vsl_bus_write(io, 0x64, 0, 0x20));
	ck_assert(vsl_bus_read(io, 0x60, 0, &v));
	ck_assert_uint_eq(v, 0x47);
	/* keyboard reset: ACK + BAT ok */
	ck_assert(vsl_bus_write(io, 0x60, 0, 0xFF));
	ck_assert(vsl_bus_read(io, 0x60, 0, &v));
	ck_assert_uint_eq(v, 0xFA);
	ck_assert(vsl_bus_read(io, 0x60, 0, &v));
	ck_assert_uint_eq(v, 0xAA);
	/* pulse the reset line */
	ck_assert_uint_eq(resets, 0);
	ck_assert(vsl_bus_write(io, 0x64, 0, 0xFE));
	ck_assert_uint_eq(resets, 1);
	vsl_i8042_free(k);
	vsl_bus_free(io);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acpi_pm");
	TCase *tc = tcase_create("pm");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, sleep_and_reset);
	tcase_add_test(tc, i8042_probe_and_reset);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
