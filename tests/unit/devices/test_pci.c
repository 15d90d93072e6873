/*
 * Unit tests for runtime/devices/pci.c: configuration mechanism #1 on the
 * I/O bus, BAR sizing and moving on the MMIO bus, the INTx swizzle and the
 * ACPI description for the DSDT.
 */
#include "virtio_driver.h"

static void out32(uint16_t port, uint32_t v)
{
	ck_assert(vsl_bus_write(vd_io, port, 2, v));
}

static uint64_t in(uint16_t port, unsigned size_log2)
{
	uint64_t v;

	ck_assert(vsl_bus_read(vd_io, port, size_log2, &v));
	return v;
}

static uint32_t cfg_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | reg;
}

START_TEST(test_host_bridge)
{
	out32(0xCF8, cfg_addr(0, 0, 0, 0));
	ck_assert_uint_eq(in(0xCF8, 2), cfg_addr(0, 0, 0, 0));
	ck_assert_uint_eq(in(0xCFC, 2), 0x00081b36u);
	ck_assert_uint_eq(in(0xCFC, 1), 0x1b36u);
	ck_assert_uint_eq(in(0xCFE, 1), 0x0008u);
	out32(0xCF8, cfg_addr(0, 0, 0, 8));
	ck_assert_uint_eq(in(0xCFC, 2) >> 16, 0x0600u);
	/* empty slot, other function, other bus, enable bit clear: no device */
	out32(0xCF8, cfg_addr(0, 9, 0, 0));
	ck_assert_uint_eq(in(0xCFC, 2) & 0xFFFFFFFFu, 0xFFFFFFFFu);
	out32(0xCF8, cfg_addr(0, 0, 1, 0));
	ck_assert_uint_eq(in(0xCFC, 2) & 0xFFFFFFFFu, 0xFFFFFFFFu);
	out32(0xCF8, cfg_addr(1, 0, 0, 0));
	ck_assert_uint_eq(in(0xCFC, 2) & 0xFFFFFFFFu, 0xFFFFFFFFu);
	out32(0xCF8, 0x00000000u);
	ck_assert_uint_eq(in(0xCFC, 2) & 0xFFFFFFFFu, 0xFFFFFFFFu);
	/* the host bridge's ID is read-only */
	out32(0xCF8, cfg_addr(0, 0, 0, 0));
	out32(0xCFC, 0x12345678u);
	ck_assert_uint_eq(in(0xCFC, 2), 0x00081b36u);
}
END_TEST

START_TEST(test_bar_sizing_and_move)
{
	struct vsl_virtio *v = vsl_virtio_rng_new(vd_ctx, vd_pci, &vd_mem);
	unsigned s;
	uint32_t bar;
	uint64_t val;

	ck_assert_ptr_nonnull(v);
	s = v->pci.slot;
	ck_assert_uint_eq(s, 1);
	bar = vsl_pci_config_read(vd_pci, s, 0x10, 2);
	ck_assert_uint_eq(bar, (uint32_t)VSL_PCI_MMIO_BASE);
	ck_assert_uint_eq(v->pci.bar_mapped[0], bar);
	ck_assert(vsl_bus_read(vd_mmio, bar + 0x12, 1, &val)); /* num_queues */
	ck_assert_uint_eq(val, 1);
	/* sizing: all ones reads back the size mask, and the BAR is unmapped meanwhile */
	vsl_pci_config_write(vd_pci, s, 0x10, 0xFFFFFFFFu, 2);
	ck_assert_uint_eq(vsl_pci_config_read(vd_pci, s, 0x10, 2), ~(uint32_t)(VSL_VIRTIO_BAR_SIZE - 1));
	ck_assert_uint_eq(v->pci.bar_mapped[0], 0);
	/* move it: the old address goes dead, the new one answers */
	vsl_pci_config_write(vd_pci, s, 0x10, 0xF0000000u, 2);
	ck_assert_uint_eq(v->pci.bar_mapped[0], 0xF0000000u);
	ck_assert(!vsl_bus_read(vd_mmio, bar + 0x12, 1, &val));
	ck_assert(vsl_bus_read(vd_mmio, 0xF0000012u, 1, &val));
	/* memory decoding off unmaps */
	vsl_pci_config_write(vd_pci, s, 0x04, 0, 1);
	ck_assert_uint_eq(v->pci.bar_mapped[0], 0);
	vsl_pci_config_write(vd_pci, s, 0x04, 2, 1);
	ck_assert_uint_eq(v->pci.bar_mapped[0], 0xF0000000u);
	/* absent BARs stay zero */
	vsl_pci_config_write(vd_pci, s, 0x14, 0xFFFFFFFFu, 2);
	ck_assert_uint_eq(vsl_pci_config_read(vd_pci, s, 0x14, 2), 0);
	/* out-of-range register accesses are harmless */
	ck_assert_uint_eq(vsl_pci_config_read(vd_pci, s, 255, 2), 0xFFFFFFFFu);
	vsl_pci_config_write(vd_pci, s, 254, 0xFFFF, 2);
	vsl_virtio_free(v);
	ck_assert(!vsl_bus_read(vd_mmio, 0xF0000012u, 1, &val));
}
END_TEST

START_TEST(test_swizzle)
{
	struct vsl_virtio *v[5];

	for (int i = 0; i < 5; i++) {
		v[i] = vsl_virtio_rng_new(vd_ctx, vd_pci, &vd_mem);
		ck_assert_ptr_nonnull(v[i]);
		ck_assert_uint_eq(v[i]->pci.slot, (unsigned)i + 1);
		/* INTA of slot s: GSI 16 + (s mod 4); Interrupt Line says so */
		ck_assert_int_eq(vsl_pci_gsi(&v[i]->pci), 16 + (i + 1) % 4);
		ck_assert_uint_eq(vsl_pci_config_read(vd_pci, v[i]->pci.slot, 0x3C, 0),
				  16u + (unsigned)(i + 1) % 4);
		ck_assert_uint_eq(vsl_pci_config_read(vd_pci, v[i]->pci.slot, 0x3D, 0), 1);
	}
	/* slots 1 and 5 share GSI 17: the line is the OR of both */
	vsl_pci_set_irq(&v[0]->pci, 1);
	vsl_pci_set_irq(&v[4]->pci, 1);
	ck_assert_int_eq(vd_gsi_level[17], 1);
	vsl_pci_set_irq(&v[0]->pci, 0);
	ck_assert_int_eq(vd_gsi_level[17], 1);
	vsl_pci_set_irq(&v[4]->pci, 0);
	ck_assert_int_eq(vd_gsi_level[17], 0);
	for (int i = 0; i < 5; i++)
		vsl_virtio_free(v[i]);
}
END_TEST

START_TEST(test_slots_run_out)
{
	struct vsl_virtio *v[VSL_PCI_SLOTS];
	int n = 0;

	while (n < VSL_PCI_SLOTS && (v[n] = vsl_virtio_rng_new(vd_ctx, vd_pci, &vd_mem)))
		n++;
	ck_assert_int_eq(n, VSL_PCI_SLOTS - 1);
	ck_assert_int_eq(vsl_ctx_code(vd_ctx), VSL_ENOMEM);
	/* left attached: vsl_pci_free (teardown) releases them (LeakSanitizer checks) */
}
END_TEST

START_TEST(test_acpi_aml)
{
	uint8_t aml[256];
	size_t n = vsl_pci_acpi_aml(aml, sizeof(aml));

	ck_assert_uint_gt(n, 0);
	ck_assert_uint_le(n, 200);      /* fits the board's DSDT beside \_S5 */
	ck_assert_uint_eq(aml[0], 0x10); /* ScopeOp */
	ck_assert(memmem(aml, n, "\\_SB_", 5));
	ck_assert(memmem(aml, n, "PCI0", 4));
	ck_assert(memmem(aml, n, "_PRT", 4));
	ck_assert(memmem(aml, n, "_CRS", 4));
	ck_assert(memmem(aml, n, "\x0C\x41\xD0\x0A\x03", 5)); /* PNP0A03 */
	/* the Scope's PkgLength covers exactly the rest */
	{
		size_t len = (aml[1] & 0xC0) ? ((size_t)(aml[1] & 0x0F) | (size_t)aml[2] << 4) : aml[1];
		ck_assert_uint_eq(len + 1, n);
	}
	ck_assert_uint_eq(vsl_pci_acpi_aml(aml, 20), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pci");
	TCase *t = tcase_create("host");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(t, vd_setup, vd_teardown);
	tcase_add_test(t, test_host_bridge);
	tcase_add_test(t, test_bar_sizing_and_move);
	tcase_add_test(t, test_swizzle);
	tcase_add_test(t, test_slots_run_out);
	tcase_add_test(t, test_acpi_aml);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
