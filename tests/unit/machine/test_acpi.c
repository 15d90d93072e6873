/* Unit tests for runtime/machine/acpi.c: table layout and checksums; e820. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/devices.h"
#include "vessel/machine.h"

#define RAM (1u << 20)

static uint32_t r32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t r64(const uint8_t *p) { return r32(p) | (uint64_t)r32(p + 4) << 32; }

static const uint8_t *table(const uint8_t *ram, uint64_t addr, const char *sig)
{
	const uint8_t *t;

	ck_assert_uint_lt(addr, RAM);
	t = ram + addr;
	ck_assert_mem_eq(t, sig, 4);
	ck_assert_uint_ge(r32(t + 4), 36);
	ck_assert_uint_eq(vsl_acpi_checksum(t, r32(t + 4)), 0);
	return t;
}

START_TEST(tables)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	uint8_t *ram = calloc(1, RAM);
	const uint8_t *rsdp, *xsdt, *rsdt, *fadt, *madt, *dsdt, *p, *end;
	uint64_t addr;
	bool irq0_override = false, lapic = false, ioapic = false;

	ck_assert_int_eq(vsl_acpi_build(ctx, ram, RAM, VSL_PC_ACPI_BASE, VSL_PC_ACPI_SIZE, &addr), 0);
	ck_assert_uint_eq(addr, VSL_PC_ACPI_BASE);
	rsdp = ram + addr;
	ck_assert_mem_eq(rsdp, "RSD PTR ", 8);
	ck_assert_uint_eq(vsl_acpi_checksum(rsdp, 20), 0);
	ck_assert_uint_eq(vsl_acpi_checksum(rsdp, 36), 0);
	ck_assert_uint_eq(rsdp[15], 2);
	xsdt = table(ram, r64(rsdp + 24), "XSDT");
	rsdt = table(ram, r32(rsdp + 16), "RSDT");
	ck_assert_uint_eq(r32(xsdt + 4), 36 + 16);
	ck_assert_uint_eq(r64(xsdt + 36), r32(rsdt + 36));
	ck_assert_uint_eq(r64(xsdt + 44), r32(rsdt + 40));
	fadt = table(ram, r64(xsdt + 36), "FACP");
	madt = table(ram, r64(xsdt + 44), "APIC");
	/* FADT: PM1a control where the device is, SCI 9, reset register 0xCF9 = 6 */
	ck_assert_uint_eq(r32(fadt + 4), 276);
	ck_assert_uint_eq(r32(fadt + 64), VSL_ACPI_PM1A_CNT);
	ck_assert_uint_eq(r32(fadt + 56), VSL_ACPI_PM1A_EVT);
	ck_assert_uint_eq(r32(fadt + 76), VSL_ACPI_PM_TMR);
	ck_assert_uint_eq(fadt[46], VSL_ACPI_SCI_IRQ);
	ck_assert_uint_eq(fadt[89], 2);
	ck_assert_uint_eq(r64(fadt + 116 + 4), VSL_ACPI_RESET_PORT);
	ck_assert_uint_eq(fadt[128], 6);
	ck_assert(r32(fadt + 112) & (1u << 10));
	ck_assert_uint_eq(r64(fadt + 172 + 4), VSL_ACPI_PM1A_CNT);
	ck_assert_mem_eq(ram + r32(fadt + 36), "FACS", 4);
	dsdt = table(ram, r64(fadt + 140), "DSDT");
	ck_assert_uint_eq(r32(fadt + 40), r64(fadt + 140));
	/* DSDT: Name (_S5_, Package (4) { 5, 5, 0, 0 }) */
	{
		static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
					      0x0A, VSL_ACPI_S5_TYP };
		ck_assert_ptr_nonnull(memmem(dsdt + 36, r32(dsdt + 4) - 36, s5, sizeof(s5)));
	}
	/* MADT: local APIC, I/O APIC, IRQ 0 -> GSI 2 */
	ck_assert_uint_eq(r32(madt + 36), VSL_LAPIC_BASE);
	end = madt + r32(madt + 4);
	for (p = madt + 44; p < end; p += p[1]) {
		ck_assert_uint_ge(p[1], 2);
		if (p[0] == 0 && p[3] == 0 && (r32(p + 4) & 1))
			lapic = true;
		if (p[0] == 1 && r32(p + 4) == VSL_IOAPIC_BASE && r32(p + 8) == 0)
			ioapic = true;
		if (p[0] == 2 && p[3] == 0 && r32(p + 4) == 2)
			irq0_override = true;
	}
	ck_assert(p == end);
	ck_assert(lapic && ioapic && irq0_override);

	/* no room: a clear error */
	ck_assert_int_eq(vsl_acpi_build(ctx, ram, RAM, RAM - 0x100, 0x100, &addr), VSL_ENOMEM);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "ACPI"));
	free(ram);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(e820_map)
{
	struct vsl_e820_entry e[8];
	size_t n = vsl_pc_e820(256u << 20, e, 8);
	uint64_t ram = 0;

	ck_assert_uint_eq(n, 6);
	for (size_t i = 0; i < n; i++) {
		if (i)
			ck_assert_uint_ge(e[i].addr, e[i - 1].addr + e[i - 1].size);
		if (e[i].type == VSL_E820_RAM)
			ram += e[i].size;
	}
	ck_assert_uint_eq(ram, (256u << 20) - 0x60400);
	/* the ACPI tables and the EBDA are reserved, not RAM */
	ck_assert_uint_eq(e[1].addr, VSL_PC_EBDA);
	ck_assert_uint_eq(e[1].type, VSL_E820_RESERVED);
	ck_assert_uint_eq(e[2].addr, VSL_PC_ACPI_BASE);
	ck_assert_uint_eq(e[2].type, VSL_E820_RESERVED);
	ck_assert_uint_eq(vsl_pc_e820(256u << 20, e, 2), 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acpi");
	TCase *tc = tcase_create("tables");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, tables);
	tcase_add_test(tc, e820_map);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
