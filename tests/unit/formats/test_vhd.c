/*
 * Unit tests for formats/vhd.c ("vpc"): fixed and dynamic round trips,
 * random rewrites, exact sizes, hostile footers/headers/BATs, block status,
 * and qemu-img as the oracle both ways (skipped when qemu-img is missing).
 */
#include <check.h>
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/format.h"

static struct vsl_ctx *ctx;
static char dir[64];

static void setup(void)
{
	ctx = vsl_ctx_new();
	tu_mkdtemp(dir, sizeof(dir), "vsl-vhd");
}

static void teardown(void)
{
	tu_rmtree(dir);
	vsl_ctx_free(ctx);
}

static const char *at(const char *name)
{
	return tu_path(dir, name);
}

/* 7 MiB + 5 sectors: not a block multiple, and not a CHS-exact size */
#define DISK_SIZE ((size_t)(7 << 20) + 5 * 512)

static uint8_t *make_pattern(size_t size)
{
	uint8_t *p = calloc(1, size);

	ck_assert_ptr_nonnull(p);
	tu_fill_random(p, 100000, 1);
	memset(p + (3 << 20), 0x5a, 70000);
	tu_fill_random(p + (4 << 20) - 1000, 3000, 3);   /* crosses a block boundary */
	tu_fill_random(p + size - 777, 777, 4);
	return p;
}

static void write_image(const char *file, const char *sub, const uint8_t *data, size_t size,
			size_t chunk)
{
	tu_image_write(ctx, file, "vpc", tu_kv1(sub), data, size, chunk);
}

static void expect_content(const char *file, const uint8_t *data, size_t size)
{
	tu_image_expect(ctx, file, "vpc", data, size, 54321);
}

START_TEST(dynamic_roundtrip)
{
	uint8_t *data = make_pattern(DISK_SIZE);

	write_image(at("d.vhd"), "subformat=dynamic", data, DISK_SIZE, 65536);
	expect_content(at("d.vhd"), data, DISK_SIZE);
	free(data);
}
END_TEST

START_TEST(fixed_roundtrip)
{
	uint8_t *data = make_pattern(DISK_SIZE);

	write_image(at("f.vhd"), "subformat=fixed", data, DISK_SIZE, 1 << 20);
	expect_content(at("f.vhd"), data, DISK_SIZE);
	free(data);
}
END_TEST

START_TEST(dynamic_random_rewrites)
{
	uint8_t *data = calloc(1, DISK_SIZE), chunk[7000];
	struct vsl_image *img;

	ck_assert_int_eq(vsl_image_create(ctx, at("r.vhd"), "vpc", DISK_SIZE, NULL, &img), 0);
	for (int i = 0; i < 100; i++) {
		uint64_t off = ((uint64_t)i * 7919 * 4099) % (DISK_SIZE - sizeof(chunk));
		tu_fill_random(chunk, sizeof(chunk), (uint64_t)i + 10);
		memcpy(data + off, chunk, sizeof(chunk));
		ck_assert_int_eq(vsl_image_write(img, off, chunk, sizeof(chunk)), 0);
	}
	vsl_image_close(img);
	ck_assert_int_eq(vsl_image_open(ctx, at("r.vhd"), "vpc", VSL_IMAGE_RDWR, &img), 0);
	for (int i = 0; i < 30; i++) {
		uint64_t off = ((uint64_t)i * 104729) % (DISK_SIZE - sizeof(chunk));
		tu_fill_random(chunk, sizeof(chunk), (uint64_t)i + 1000);
		memcpy(data + off, chunk, sizeof(chunk));
		ck_assert_int_eq(vsl_image_write(img, off, chunk, sizeof(chunk)), 0);
	}
	vsl_image_close(img);
	expect_content(at("r.vhd"), data, DISK_SIZE);
	if (tu_have_qemu_img()) {
		tu_write_file(at("r.raw"), data, DISK_SIZE);
		ck_assert_int_eq(tu_sh("qemu-img compare -q -f raw -F vpc %s/r.raw %s/r.vhd", dir, dir), 0);
	}
	free(data);
}
END_TEST

START_TEST(block_status_and_sizes)
{
	struct vsl_image *img;
	struct vsl_image_opts o = { .kv = tu_kv1("block_size=512K") };
	uint8_t buf[4096];
	uint64_t n, size = (uint64_t)10 << 30;
	int flags;
	char info[512];

	memset(buf, 0x77, sizeof(buf));
	ck_assert_int_eq(vsl_image_create(ctx, at("bs.vhd"), "vpc", size, NULL, &img), 0);
	ck_assert_int_eq(vsl_image_write(img, (uint64_t)5 << 30, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsl_image_block_status(img, 0, size, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_uint_eq(n, (uint64_t)5 << 30);
	ck_assert_int_eq(vsl_image_block_status(img, n, size - n, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_DATA);
	ck_assert_uint_eq(n, 2 << 20);
	vsl_image_close(img);
	/* block size option and the info lines */
	ck_assert_int_eq(vsl_image_create(ctx, at("b2.vhd"), "vpc", 3 << 20, &o, &img), 0);
	ck_assert_int_eq(vsl_image_info(img, info, sizeof(info)), 0);
	ck_assert_ptr_nonnull(strstr(info, "block_size: 524288"));
	ck_assert_ptr_nonnull(strstr(info, "creator: vssl"));
	vsl_image_close(img);
	o.kv = tu_kv1("block_size=3M");
	ck_assert_int_eq(vsl_image_create(ctx, at("b3.vhd"), "vpc", 3 << 20, &o, &img), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "power of two"));
	o.kv = tu_kv1("subformat=differencing");
	ck_assert_int_eq(vsl_image_create(ctx, at("b3.vhd"), "vpc", 3 << 20, &o, &img), VSL_EINVAL);
	ck_assert_int_eq(vsl_image_create(ctx, at("b3.vhd"), "vpc", (uint64_t)3 << 40, NULL, &img),
			 VSL_ERANGE);
}
END_TEST

/* ---- hostile input ---- */

static int try_mem(const uint8_t *p, size_t len)
{
	return tu_image_read_mem(ctx, p, len, "vpc");
}

static uint32_t sum(const uint8_t *p, size_t n, size_t skip)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i++)
		if (i < skip || i >= skip + 4)
			s += p[i];
	return ~s;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

/* Re-seal both footers and the dynamic header after a deliberate edit. */
static void reseal(uint8_t *p, size_t len)
{
	put_be32(p + 64, sum(p, 512, 64));
	memcpy(p + len - 512, p, 512);
	put_be32(p + 512 + 36, sum(p + 512, 1024, 36));
}

START_TEST(bad_images)
{
	uint8_t *data = make_pattern(DISK_SIZE), *img, *p;
	size_t len;

	write_image(at("g.vhd"), "subformat=dynamic", data, DISK_SIZE, 65536);
	free(data);
	img = tu_slurp(at("g.vhd"), &len);
	p = malloc(len);
	ck_assert_int_eq(try_mem(img, len), 0);

	/* footer checksum: the end one is bad, the copy at the start is used */
	memcpy(p, img, len);
	p[len - 512 + 100] ^= 1;
	ck_assert_int_eq(try_mem(p, len), 0);
	/* both bad: the error names the checksum and both values */
	p[100] ^= 1;
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "footer checksum mismatch"));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "stored 0x"));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "computed 0x"));
	/* dynamic header checksum */
	memcpy(p, img, len);
	p[512 + 600] ^= 1;
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "dynamic header checksum mismatch"));
	/* BAT entry past EOF */
	memcpy(p, img, len);
	put_be32(p + 1536, 0x7ffffff0);
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "block 0"));
	/* block size not a power of two */
	memcpy(p, img, len);
	put_be32(p + 512 + 32, 3 << 20);
	reseal(p, len);
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "power of two"));
	/* BAT offset past EOF */
	memcpy(p, img, len);
	put_be64(p + 512 + 16, (uint64_t)1 << 40);
	reseal(p, len);
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "block table"));
	/* absurd size */
	memcpy(p, img, len);
	put_be64(p + 48, (uint64_t)1 << 62);
	reseal(p, len);
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "2040 GiB"));
	/* too few BAT entries for the size */
	memcpy(p, img, len);
	put_be32(p + 512 + 28, 1);
	reseal(p, len);
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "too few"));
	/* differencing disks are refused by name */
	memcpy(p, img, len);
	put_be32(p + 60, 4);
	reseal(p, len);
	ck_assert_int_eq(try_mem(p, len), VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "differencing"));
	/* truncated */
	ck_assert_int_lt(try_mem(img, 100), 0);
	ck_assert_int_lt(try_mem(img, len - 4096), 0);
	free(p);
	free(img);
}
END_TEST

START_TEST(fixed_truncated)
{
	uint8_t *data = make_pattern(DISK_SIZE), *img;
	size_t len;

	write_image(at("f.vhd"), "subformat=fixed", data, DISK_SIZE, 1 << 20);
	free(data);
	img = tu_slurp(at("f.vhd"), &len);
	/* drop a MiB of data but keep a valid footer at the end */
	memmove(img + len - (1 << 20) - 512, img + len - 512, 512);
	ck_assert_int_eq(try_mem(img, len - (1 << 20)), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "truncated"));
	free(img);
}
END_TEST

/* ---- qemu-img as the oracle ---- */

START_TEST(qemu_reads_ours)
{
	uint8_t *data = make_pattern(DISK_SIZE);
	char out[256];
	FILE *f;

	if (!tu_have_qemu_img()) {
		fprintf(stderr, "qemu_reads_ours: qemu-img not installed; skipped\n");
		free(data);
		return;
	}
	tu_write_file(at("src.raw"), data, DISK_SIZE);
	write_image(at("d.vhd"), "subformat=dynamic", data, DISK_SIZE, 65536);
	write_image(at("f.vhd"), "subformat=fixed", data, DISK_SIZE, 1 << 20);
	/* qemu must see the exact size (not a CHS rounding) and the same bytes */
	ck_assert_int_eq(tu_sh("qemu-img info -f vpc --output=json %s | grep '\"virtual-size\"' > %s/sz",
			    at("d.vhd"), dir), 0);
	f = fopen(at("sz"), "r");
	ck_assert_ptr_nonnull(fgets(out, sizeof(out), f));
	fclose(f);
	ck_assert_msg(strstr(out, "7342592") != NULL, "qemu-img size: %s", out);
	ck_assert_int_eq(tu_sh("qemu-img compare -q -f raw -F vpc %s/src.raw %s/d.vhd", dir, dir), 0);
	ck_assert_int_eq(tu_sh("qemu-img compare -q -f raw -F vpc %s/src.raw %s/f.vhd", dir, dir), 0);
	data[99] ^= 1;
	tu_write_file(at("src.raw"), data, DISK_SIZE);
	ck_assert_int_ne(tu_sh("qemu-img compare -q -f raw -F vpc %s/src.raw %s/d.vhd", dir, dir), 0);
	free(data);
}
END_TEST

START_TEST(we_read_qemus)
{
	static const char *const opts[] = { "subformat=dynamic,force_size=on",
					    "subformat=fixed,force_size=on" };
	uint8_t *data = make_pattern(DISK_SIZE);

	if (!tu_have_qemu_img()) {
		fprintf(stderr, "we_read_qemus: qemu-img not installed; skipped\n");
		free(data);
		return;
	}
	tu_write_file(at("src.raw"), data, DISK_SIZE);
	for (size_t i = 0; i < VSL_ARRAY_SIZE(opts); i++) {
		char name[64];
		snprintf(name, sizeof(name), "q%zu.vhd", i);
		ck_assert_int_eq(tu_sh("qemu-img convert -f raw -O vpc -o %s %s/src.raw %s/%s", opts[i],
				    dir, dir, name), 0);
		expect_content(at(name), data, DISK_SIZE);
	}
	/* without force_size qemu rounds the size up to CHS; the data still matches */
	ck_assert_int_eq(tu_sh("qemu-img convert -f raw -O vpc %s/src.raw %s/chs.vhd", dir, dir), 0);
	{
		struct vsl_image *img;
		uint8_t *buf = malloc(DISK_SIZE);
		ck_assert_int_eq(vsl_image_open(ctx, at("chs.vhd"), NULL, 0, &img), 0);
		ck_assert_uint_ge(img->size, DISK_SIZE);
		ck_assert_int_eq(vsl_image_read(img, 0, buf, DISK_SIZE), 0);
		ck_assert(memcmp(buf, data, DISK_SIZE) == 0);
		vsl_image_close(img);
		free(buf);
	}
	free(data);
}
END_TEST

/* The fuzz seeds are hand-made images (tests/data/images/vmdk-vhd-gen-seeds.py): qemu agrees on them. */
START_TEST(seeds_match_qemu)
{
	static const char *const seeds[] = { "dynamic-4k.vhd", "fixed-8k.vhd" };

	if (!tu_have_qemu_img() || access("tests/fuzz/seeds/vpc", F_OK)) {
		fprintf(stderr, "seeds_match_qemu: needs qemu-img and the source tree; skipped\n");
		return;
	}
	for (size_t i = 0; i < VSL_ARRAY_SIZE(seeds); i++) {
		size_t len;
		uint8_t *raw;
		char seed[128];

		ck_assert_int_eq(tu_sh("qemu-img convert -f vpc -O raw tests/fuzz/seeds/vpc/%s %s/seed.raw",
				    seeds[i], dir), 0);
		raw = tu_slurp(at("seed.raw"), &len);
		snprintf(seed, sizeof(seed), "tests/fuzz/seeds/vpc/%s", seeds[i]);
		expect_content(seed, raw, len);
		free(raw);
	}
}
END_TEST

static Suite *vhd_suite(void)
{
	Suite *s = suite_create("vhd");
	TCase *tc;

	tc = tcase_create("roundtrip");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dynamic_roundtrip);
	tcase_add_test(tc, fixed_roundtrip);
	tcase_add_test(tc, dynamic_random_rewrites);
	tcase_add_test(tc, block_status_and_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bad_images);
	tcase_add_test(tc, fixed_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("qemu");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, qemu_reads_ours);
	tcase_add_test(tc, we_read_qemus);
	tcase_add_test(tc, seeds_match_qemu);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(vhd_suite());
}
