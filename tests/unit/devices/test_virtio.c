/*
 * Unit tests for runtime/devices/virtio.c: the modern PCI transport and the
 * split ring, driven through virtio-rng with rings crafted in a RAM buffer.
 * The hostile cases check that the device goes to DEVICE_NEEDS_RESET with
 * a configuration interrupt and touches nothing outside guest RAM (ASan
 * would catch a stray access: RAM is a heap block of exactly VD_RAM bytes).
 */
#include "virtio_driver.h"

static struct vsl_virtio *rng;

static void setup(void)
{
	vd_setup();
	rng = vsl_virtio_rng_new(vd_ctx, vd_pci, &vd_mem);
	ck_assert_ptr_nonnull(rng);
	vd_start(rng, ~0ull);
}

static void teardown(void)
{
	vsl_virtio_free(rng);
	vd_teardown();
}

/* The device failed cleanly: NEEDS_RESET, config interrupt, nothing used. */
static void expect_reset(void)
{
	ck_assert(vd_needs_reset(rng));
	ck_assert_uint_eq(vd_used_idx(), 0);
	ck_assert_int_eq(vd_gsi_level[vsl_pci_gsi(&rng->pci)], 1);
	ck_assert_uint_eq(vd_rd(rng, VSL_VIRTIO_ISR_OFF, 0) & 2, 2);
	ck_assert_int_eq(vd_gsi_level[vsl_pci_gsi(&rng->pci)], 0);
}

START_TEST(test_config_space)
{
	uint32_t id = vsl_pci_config_read(vd_pci, rng->pci.slot, 0, 2);
	unsigned cap, types = 0;

	ck_assert_uint_eq(id, 0x1AF4u | (0x1044u << 16));
	ck_assert_uint_eq(vsl_pci_config_read(vd_pci, rng->pci.slot, 8, 0), 1);
	ck_assert(vsl_pci_config_read(vd_pci, rng->pci.slot, 6, 1) & 0x10);
	/* walk the capability list: common, ISR, notify, pci-cfg (no device config: rng) */
	cap = vsl_pci_config_read(vd_pci, rng->pci.slot, 0x34, 0);
	for (int n = 0; cap && n < 16; n++) {
		ck_assert_uint_eq(vsl_pci_config_read(vd_pci, rng->pci.slot, cap, 0), 0x09);
		types |= 1u << vsl_pci_config_read(vd_pci, rng->pci.slot, cap + 3, 0);
		cap = vsl_pci_config_read(vd_pci, rng->pci.slot, cap + 1, 0);
	}
	ck_assert_uint_eq(types, 0x2E);
}
END_TEST

START_TEST(test_features)
{
	/* VERSION_1 is offered; a driver without it cannot reach FEATURES_OK */
	vd_wr(rng, 0x00, 1, 2);
	ck_assert_uint_eq(vd_rd(rng, 0x04, 2) & 1, 1);
	vd_wr(rng, 0x14, 0, 0);
	ck_assert_uint_eq(vd_rd(rng, 0x14, 0), 0);
	vd_wr(rng, 0x14, 3, 0);
	vd_wr(rng, 0x08, 1, 2);
	vd_wr(rng, 0x0C, 0, 2);
	vd_wr(rng, 0x14, 3 | VSL_VIRTIO_S_FEATURES_OK, 0);
	ck_assert_uint_eq(vd_rd(rng, 0x14, 0) & VSL_VIRTIO_S_FEATURES_OK, 0);
	/* nor one asking for a feature that was not offered */
	vd_wr(rng, 0x08, 0, 2);
	vd_wr(rng, 0x0C, 1u << 5, 2);
	vd_wr(rng, 0x08, 1, 2);
	vd_wr(rng, 0x0C, 1, 2);
	vd_wr(rng, 0x14, 3 | VSL_VIRTIO_S_FEATURES_OK, 0);
	ck_assert_uint_eq(vd_rd(rng, 0x14, 0) & VSL_VIRTIO_S_FEATURES_OK, 0);
}
END_TEST

START_TEST(test_rng_fills)
{
	/* two writable segments chained: 16 + 48 bytes */
	vd_desc(0, 0x10000, 16, 1 | 2, 3);
	vd_desc(3, 0x10100, 48, 2, 0);
	vd_kick(rng, 0);
	ck_assert_uint_eq(vd_used_idx(), 1);
	ck_assert_uint_eq(vd_ld32(VD_USED + 4), 0);
	ck_assert_uint_eq(vd_ld32(VD_USED + 8), 64);
	ck_assert(!vsl_buf_is_zero(vd_ram + 0x10000, 16));
	ck_assert(!vsl_buf_is_zero(vd_ram + 0x10100, 48));
	ck_assert(vsl_buf_is_zero(vd_ram + 0x10010, 0x10100 - 0x10010));
	/* used-buffer interrupt; reading ISR clears it and drops the line */
	ck_assert_int_eq(vd_gsi_level[vsl_pci_gsi(&rng->pci)], 1);
	ck_assert_uint_eq(vd_rd(rng, VSL_VIRTIO_ISR_OFF, 0), 1);
	ck_assert_int_eq(vd_gsi_level[vsl_pci_gsi(&rng->pci)], 0);
	ck_assert_uint_eq(vd_rd(rng, VSL_VIRTIO_ISR_OFF, 0), 0);
	ck_assert(!vd_needs_reset(rng));
}
END_TEST

START_TEST(test_no_interrupt_flag)
{
	uint16_t f = 1;

	memcpy(vd_ram + VD_AVAIL, &f, 2);
	vd_desc(0, 0x10000, 8, 2, 0);
	vd_kick(rng, 0);
	ck_assert_uint_eq(vd_used_idx(), 1);
	ck_assert_uint_eq(vd_gsi_rises, 0);
}
END_TEST

START_TEST(test_indirect)
{
	vd_desc_at(0x4000, 0, 0x10000, 8, 1 | 2, 1);
	vd_desc_at(0x4000, 1, 0x10200, 8, 2, 0);
	vd_desc(0, 0x4000, 32, 4, 0);
	vd_kick(rng, 0);
	ck_assert_uint_eq(vd_used_idx(), 1);
	ck_assert_uint_eq(vd_ld32(VD_USED + 8), 16);
	ck_assert(!vd_needs_reset(rng));
}
END_TEST

START_TEST(test_bad_outside_ram)
{
	vd_desc(0, VD_RAM - 8, 16, 2, 0);   /* crosses the end of RAM */
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

START_TEST(test_bad_huge_len)
{
	vd_desc(0, 0x10000, 0xFFFFFFFFu, 2, 0);
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

START_TEST(test_bad_address_wrap)
{
	vd_desc(0, ~0ull - 4, 16, 2, 0);   /* addr + len wraps around 2^64 */
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

START_TEST(test_bad_loop)
{
	vd_desc(0, 0x10000, 8, 1 | 2, 1);
	vd_desc(1, 0x10100, 8, 1 | 2, 0);
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

START_TEST(test_bad_self_loop)
{
	vd_desc(5, 0x10000, 8, 1 | 2, 5);
	vd_kick(rng, 5);
	expect_reset();
}
END_TEST

START_TEST(test_bad_next_beyond)
{
	vd_desc(0, 0x10000, 8, 1 | 2, VD_QSIZE);
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

START_TEST(test_bad_head)
{
	vd_kick(rng, VD_QSIZE + 3);
	expect_reset();
}
END_TEST

START_TEST(test_bad_avail_jump)
{
	uint16_t idx = VD_QSIZE + 1;

	memcpy(vd_ram + VD_AVAIL + 2, &idx, 2);
	vd_wr(rng, VSL_VIRTIO_NOTIFY_OFF, 0, 1);
	expect_reset();
}
END_TEST

START_TEST(test_bad_nested_indirect)
{
	vd_desc_at(0x4000, 0, 0x4100, 16, 4, 0);
	vd_desc_at(0x4100, 0, 0x10000, 8, 2, 0);
	vd_desc(0, 0x4000, 16, 4, 0);
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

START_TEST(test_bad_indirect_table)
{
	vd_desc(0, 0x4000, 17, 4, 0);        /* not a multiple of 16 */
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

START_TEST(test_bad_indirect_outside)
{
	vd_desc(0, VD_RAM - 16, 32, 4, 0);
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

START_TEST(test_bad_indirect_loop)
{
	vd_desc_at(0x4000, 0, 0x10000, 8, 1 | 2, 1);
	vd_desc_at(0x4000, 1, 0x10000, 8, 1 | 2, 0);
	vd_desc(0, 0x4000, 32, 4, 0);
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

START_TEST(test_bad_ring_address)
{
	/* a queue whose used ring lies past RAM is refused at enable */
	vd_wr(rng, 0x14, 0, 0);
	vd_wr(rng, 0x14, 3, 0);
	vd_wr(rng, 0x08, 1, 2);
	vd_wr(rng, 0x0C, 1, 2);
	vd_wr(rng, 0x14, 3 | VSL_VIRTIO_S_FEATURES_OK, 0);
	vd_wr(rng, 0x18, VD_QSIZE, 1);
	vd_wr(rng, 0x20, VD_DESC, 3);
	vd_wr(rng, 0x28, VD_AVAIL, 3);
	vd_wr(rng, 0x30, VD_RAM - 8, 3);
	vd_wr(rng, 0x1C, 1, 1);
	ck_assert_uint_eq(vd_rd(rng, 0x1C, 1), 0);
	ck_assert(vd_needs_reset(rng));
}
END_TEST

START_TEST(test_reset_recovers)
{
	vd_kick(rng, 200);
	ck_assert(vd_needs_reset(rng));
	/* NEEDS_RESET stays until the driver resets; requests are ignored */
	vd_desc(0, 0x10000, 8, 2, 0);
	vd_kick(rng, 0);
	ck_assert_uint_eq(vd_used_idx(), 0);
	memset(vd_ram + VD_AVAIL, 0, 0x2000);
	vd_start(rng, ~0ull);
	ck_assert(!vd_needs_reset(rng));
	vd_kick(rng, 0);
	ck_assert_uint_eq(vd_used_idx(), 1);
}
END_TEST

START_TEST(test_readable_after_writable)
{
	vd_desc(0, 0x10000, 8, 1 | 2, 1);
	vd_desc(1, 0x10100, 8, 0, 0);
	vd_kick(rng, 0);
	expect_reset();
}
END_TEST

static Suite *virtio_suite(void)
{
	Suite *s = suite_create("virtio");
	TCase *t = tcase_create("transport");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_config_space);
	tcase_add_test(t, test_features);
	tcase_add_test(t, test_rng_fills);
	tcase_add_test(t, test_no_interrupt_flag);
	tcase_add_test(t, test_indirect);
	tcase_add_test(t, test_reset_recovers);
	suite_add_tcase(s, t);
	t = tcase_create("hostile");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_bad_outside_ram);
	tcase_add_test(t, test_bad_huge_len);
	tcase_add_test(t, test_bad_address_wrap);
	tcase_add_test(t, test_bad_loop);
	tcase_add_test(t, test_bad_self_loop);
	tcase_add_test(t, test_bad_next_beyond);
	tcase_add_test(t, test_bad_head);
	tcase_add_test(t, test_bad_avail_jump);
	tcase_add_test(t, test_bad_nested_indirect);
	tcase_add_test(t, test_bad_indirect_table);
	tcase_add_test(t, test_bad_indirect_outside);
	tcase_add_test(t, test_bad_indirect_loop);
	tcase_add_test(t, test_bad_ring_address);
	tcase_add_test(t, test_readable_after_writable);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(virtio_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
