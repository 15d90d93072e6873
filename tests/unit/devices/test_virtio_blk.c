/*
 * Unit tests for runtime/devices/virtio_blk.c: requests built by hand in a
 * RAM buffer against qcow2 and raw images in a temporary directory; data is
 * checked through the formats library afterwards.
 */
#include <stdio.h>
#include <unistd.h>

#include "virtio_driver.h"

static char dir[64], path[128];
static struct vsl_image *img;
static struct vsl_virtio *blk;

#define HDR 0x20000u
#define DATA 0x21000u
#define STATUS 0x30000u

static void open_disk(const char *fmt, bool ro)
{
	snprintf(dir, sizeof(dir), "/tmp/vsl-vblk-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.%s", dir, fmt);
	ck_assert_int_eq(vsl_image_create(vd_ctx, path, fmt, 4 << 20, NULL, &img), 0);
	if (ro) {
		uint8_t pat[512];
		memset(pat, 0x5A, sizeof(pat));
		ck_assert_int_eq(vsl_image_write(img, 0, pat, sizeof(pat)), 0);
		vsl_image_close(img);
		ck_assert_int_eq(vsl_image_open(vd_ctx, path, NULL, VSL_IMAGE_RDONLY, &img), 0);
	}
	blk = vsl_virtio_blk_new(vd_ctx, vd_pci, &vd_mem, img, ro);
	ck_assert_ptr_nonnull(blk);
	vd_start(blk, ~0ull);
}

static void setup(void)
{
	vd_setup();
	blk = NULL;
	img = NULL;
}

static void teardown(void)
{
	vsl_virtio_free(blk);
	vsl_image_close(img);
	unlink(path);
	rmdir(dir);
	vd_teardown();
}

/* Submit type/sector with a data buffer of len bytes; returns the status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t len, bool data_writable)
{
	uint16_t before = vd_used_idx();
	uint8_t hdr[16] = { 0 };
	unsigned n = 0;

	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	memcpy(vd_ram + HDR, hdr, 16);
	vd_ram[STATUS] = 0xEE;
	vd_desc(n, HDR, 16, 1, (uint16_t)(n + 1));
	n++;
	if (len) {
		vd_desc(n, DATA, len, (uint16_t)(1 | (data_writable ? 2 : 0)), (uint16_t)(n + 1));
		n++;
	}
	vd_desc(n, STATUS, 1, 2, 0);
	vd_kick(blk, 0);
	ck_assert(!vd_needs_reset(blk));
	ck_assert_uint_eq(vd_used_idx(), (uint16_t)(before + 1));
	return vd_ram[STATUS];
}

static void check_rw(const char *fmt)
{
	uint8_t buf[4096];

	open_disk(fmt, false);
	for (unsigned i = 0; i < 4096; i++)
		vd_ram[DATA + i] = (uint8_t)(i * 7 + 1);
	ck_assert_uint_eq(request(1, 100, 4096, false), 0);    /* OUT */
	ck_assert_uint_eq(request(4, 0, 0, false), 0);         /* FLUSH */
	memset(vd_ram + DATA, 0, 4096);
	ck_assert_uint_eq(request(0, 100, 4096, true), 0);     /* IN */
	for (unsigned i = 0; i < 4096; i++)
		ck_assert_uint_eq(vd_ram[DATA + i], (uint8_t)(i * 7 + 1));
	ck_assert_uint_eq(vd_ld32(VD_USED + 8 * ((vd_used_idx() - 1) % VD_QSIZE) + 8), 4097);
	ck_assert_int_eq(vsl_image_read(img, 100 * 512, buf, sizeof(buf)), 0);
	ck_assert_int_eq(memcmp(buf, vd_ram + DATA, 4096), 0);
	/* discard the first half: it reads back as zeroes */
	{
		uint8_t seg[16] = { 0 };
		uint64_t sector = 100;
		uint32_t count = 4;
		memcpy(seg, &sector, 8);
		memcpy(seg + 8, &count, 4);
		memcpy(vd_ram + DATA, seg, 16);
		ck_assert_uint_eq(request(11, 0, 16, false), 0);
	}
	ck_assert_int_eq(vsl_image_read(img, 100 * 512, buf, sizeof(buf)), 0);
	ck_assert(vsl_buf_is_zero(buf, 2048));
	ck_assert_uint_eq(buf[2048], (uint8_t)(2048 * 7 + 1));
}

START_TEST(test_rw_qcow2)
{
	check_rw("qcow2");
}
END_TEST

START_TEST(test_rw_raw)
{
	check_rw("raw");
}
END_TEST

START_TEST(test_config)
{
	uint64_t cap;

	open_disk("raw", false);
	cap = vd_rd(blk, VSL_VIRTIO_DEVCFG_OFF, 3);
	ck_assert_uint_eq(cap, (4 << 20) / 512);
	ck_assert_uint_eq(vd_rd(blk, VSL_VIRTIO_DEVCFG_OFF + 20, 2), 512);
	vd_wr(blk, 0x00, 0, 2);
	ck_assert_uint_eq(vd_rd(blk, 0x04, 2) & (1u << 5), 0);  /* not RO */
	ck_assert(vd_rd(blk, 0x04, 2) & (1u << 9));             /* FLUSH */
	/* capabilities: common, notify, ISR, device config, pci-cfg */
	{
		unsigned c = vsl_pci_config_read(vd_pci, blk->pci.slot, 0x34, 0), types = 0;
		for (int n = 0; c && n < 16; n++) {
			types |= 1u << vsl_pci_config_read(vd_pci, blk->pci.slot, c + 3, 0);
			c = vsl_pci_config_read(vd_pci, blk->pci.slot, c + 1, 0);
		}
		ck_assert_uint_eq(types, 0x3E);
	}
}
END_TEST

START_TEST(test_bounds)
{
	open_disk("raw", false);
	/* the last sector is fine, one past it is not; nor an unaligned length */
	ck_assert_uint_eq(request(0, 8191, 512, true), 0);
	ck_assert_uint_eq(request(0, 8191, 1024, true), 1);
	ck_assert_uint_eq(request(1, 8192, 512, false), 1);
	ck_assert_uint_eq(request(0, ~0ull, 512, true), 1);
	ck_assert_uint_eq(request(0, 0, 100, true), 1);
	ck_assert_uint_eq(request(77, 0, 0, false), 2);          /* UNSUPP */
	ck_assert_uint_eq(request(8, 0, 20, true), 0);           /* GET_ID */
	ck_assert_int_eq(memcmp(vd_ram + DATA, "vessel-disk", 11), 0);
}
END_TEST

START_TEST(test_readonly)
{
	uint8_t buf[512];

	open_disk("qcow2", true);
	vd_wr(blk, 0x00, 0, 2);
	ck_assert(vd_rd(blk, 0x04, 2) & (1u << 5));               /* RO offered */
	memset(vd_ram + DATA, 0xA5, 512);
	ck_assert_uint_eq(request(1, 0, 512, false), 1);          /* write: IOERR */
	ck_assert_uint_eq(request(0, 0, 512, true), 0);           /* read works */
	ck_assert_uint_eq(vd_ram[DATA], 0x5A);
	ck_assert_int_eq(vsl_image_read(img, 0, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(buf[0], 0x5A);
}
END_TEST

START_TEST(test_short_request)
{
	open_disk("raw", false);
	/* a chain with a header only (no status byte) is a ring violation */
	vd_desc(0, HDR, 16, 0, 0);
	vd_kick(blk, 0);
	ck_assert(vd_needs_reset(blk));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *t = tcase_create("requests");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_rw_qcow2);
	tcase_add_test(t, test_rw_raw);
	tcase_add_test(t, test_config);
	tcase_add_test(t, test_bounds);
	tcase_add_test(t, test_readonly);
	tcase_add_test(t, test_short_request);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
