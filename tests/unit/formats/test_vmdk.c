/*
 * Unit tests for formats/vmdk.c: monolithicSparse and streamOptimized round
 * trips, descriptor files (flat, split sparse), hostile headers and
 * descriptors, block status, and qemu-img as the oracle both ways (those
 * cases skip themselves when qemu-img is missing).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/format.h"

static struct vsl_ctx *ctx;
static char dir[64];

static void setup(void)
{
	ctx = vsl_ctx_new();
	tu_mkdtemp(dir, sizeof(dir), "vsl-vmdk");
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

/* A test disk: random runs, zero runs and holes, size not a grain multiple. */
static uint8_t *make_pattern(size_t size)
{
	uint8_t *p = calloc(1, size);

	ck_assert_ptr_nonnull(p);
	tu_fill_random(p, 100000, 1);                     /* unaligned end */
	tu_fill_random(p + 300000, 5000, 2);              /* mid-grain */
	memset(p + (1 << 20), 0x5a, 70000);            /* compressible */
	tu_fill_random(p + (3 << 20) - 1000, 1000, 3);    /* crosses a grain boundary */
	tu_fill_random(p + size - 777, 777, 4);           /* last partial grain */
	return p;
}

static void write_image(const char *file, const char *sub, const uint8_t *data, size_t size,
			size_t chunk)
{
	tu_image_write(ctx, file, "vmdk", tu_kv1(sub), data, size, chunk);
}

static void expect_content(const char *file, const uint8_t *data, size_t size)
{
	tu_image_expect(ctx, file, "vmdk", data, size, 12345);
}

#define DISK_SIZE ((size_t)(5 << 20) + 3 * 512)

START_TEST(sparse_roundtrip)
{
	uint8_t *data = make_pattern(DISK_SIZE);

	write_image(at("s.vmdk"), "subformat=monolithicSparse", data, DISK_SIZE, 65536);
	expect_content(at("s.vmdk"), data, DISK_SIZE);
	free(data);
}
END_TEST

START_TEST(sparse_random_rewrites)
{
	uint8_t *data = calloc(1, DISK_SIZE), chunk[5000];
	struct vsl_image *img;

	ck_assert_int_eq(vsl_image_create(ctx, at("r.vmdk"), "vmdk", DISK_SIZE, NULL, &img), 0);
	for (int i = 0; i < 200; i++) {
		uint64_t off = ((uint64_t)i * 7919 * 4099) % (DISK_SIZE - sizeof(chunk));
		tu_fill_random(chunk, sizeof(chunk), (uint64_t)i + 10);
		memcpy(data + off, chunk, sizeof(chunk));
		ck_assert_int_eq(vsl_image_write(img, off, chunk, sizeof(chunk)), 0);
	}
	vsl_image_close(img);
	/* reopen read-write and overwrite allocated and fresh grains again */
	ck_assert_int_eq(vsl_image_open(ctx, at("r.vmdk"), "vmdk", VSL_IMAGE_RDWR, &img), 0);
	for (int i = 0; i < 50; i++) {
		uint64_t off = ((uint64_t)i * 104729) % (DISK_SIZE - sizeof(chunk));
		tu_fill_random(chunk, sizeof(chunk), (uint64_t)i + 1000);
		memcpy(data + off, chunk, sizeof(chunk));
		ck_assert_int_eq(vsl_image_write(img, off, chunk, sizeof(chunk)), 0);
	}
	ck_assert_int_eq(vsl_image_flush(img), 0);
	vsl_image_close(img);
	expect_content(at("r.vmdk"), data, DISK_SIZE);
	if (tu_have_qemu_img()) {
		tu_write_file(at("r.raw"), data, DISK_SIZE);
		ck_assert_int_eq(tu_sh("qemu-img check -q -f vmdk %s/r.vmdk", dir), 0);
		ck_assert_int_eq(tu_sh("qemu-img compare -q -f raw -F vmdk %s/r.raw %s/r.vmdk", dir, dir), 0);
	}
	free(data);
}
END_TEST

START_TEST(stream_roundtrip)
{
	uint8_t *data = make_pattern(DISK_SIZE);

	write_image(at("so.vmdk"), "subformat=streamOptimized", data, DISK_SIZE, 100000);
	expect_content(at("so.vmdk"), data, DISK_SIZE);
	free(data);
}
END_TEST

START_TEST(stream_flush_midway)
{
	uint8_t *data = make_pattern(DISK_SIZE);
	struct vsl_image_opts o = { .kv = tu_kv1("subformat=streamOptimized") };
	struct vsl_image *img;
	size_t half = 300000 + 1234;

	ck_assert_int_eq(vsl_image_create(ctx, at("f.vmdk"), "vmdk", DISK_SIZE, &o, &img), 0);
	ck_assert_int_eq(vsl_image_write(img, 0, data, half), 0);
	ck_assert_int_eq(vsl_image_flush(img), 0);
	/* the file is complete now: a second reader sees the first half */
	{
		uint8_t *exp = calloc(1, DISK_SIZE);
		memcpy(exp, data, half);
		expect_content(at("f.vmdk"), exp, DISK_SIZE);
		free(exp);
	}
	/* continue in the same grain, then the rest */
	ck_assert_int_eq(vsl_image_write(img, half, data + half, DISK_SIZE - half), 0);
	vsl_image_close(img); /* close finishes the tail */
	expect_content(at("f.vmdk"), data, DISK_SIZE);
	free(data);
}
END_TEST

START_TEST(stream_refuses_backwards)
{
	struct vsl_image_opts o = { .kv = tu_kv1("subformat=streamOptimized") };
	struct vsl_image *img;
	uint8_t buf[512] = { 1 };

	ck_assert_int_eq(vsl_image_create(ctx, at("b.vmdk"), "vmdk", 1 << 20, &o, &img), 0);
	ck_assert_int_eq(vsl_image_write(img, 512 << 10, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsl_image_write(img, 0, buf, sizeof(buf)), VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "in order"));
	vsl_image_close(img);
	/* a finished streamOptimized image refuses random writes */
	ck_assert_int_eq(vsl_image_open(ctx, at("b.vmdk"), NULL, VSL_IMAGE_RDWR, &img), 0);
	ck_assert_int_eq(vsl_image_write(img, 0, buf, sizeof(buf)), VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "streamOptimized"));
	vsl_image_close(img);
}
END_TEST

START_TEST(empty_images)
{
	static const char *const subs[] = { "subformat=monolithicSparse",
					    "subformat=streamOptimized",
					    "subformat=monolithicFlat" };
	uint8_t *zero = calloc(1, 3 << 20);

	for (size_t i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "e%zu.vmdk", i);
		write_image(at(name), subs[i], zero, 3 << 20, 1 << 20);
		expect_content(at(name), zero, 3 << 20);
	}
	free(zero);
}
END_TEST

START_TEST(flat_roundtrip)
{
	uint8_t *data = make_pattern(DISK_SIZE);
	struct vsl_image *img;
	char info[1024];

	write_image(at("flat.vmdk"), "subformat=monolithicFlat", data, DISK_SIZE, 65536);
	expect_content(at("flat.vmdk"), data, DISK_SIZE);
	ck_assert_int_eq(access(at("flat-flat.vmdk"), F_OK), 0);
	ck_assert_int_eq(vsl_image_open(ctx, at("flat.vmdk"), NULL, 0, &img), 0);
	ck_assert_int_eq(vsl_image_info(img, info, sizeof(info)), 0);
	ck_assert_ptr_nonnull(strstr(info, "subformat: monolithicFlat"));
	vsl_image_close(img);
	free(data);
}
END_TEST

START_TEST(options_validated)
{
	struct vsl_image_opts o = { .kv = tu_kv1("subformat=twoGbMaxExtentFlat") };
	struct vsl_image *img;

	ck_assert_int_eq(vsl_image_create(ctx, at("o.vmdk"), "vmdk", 1 << 20, &o, &img),
			 VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "subformat"));
	o.kv = tu_kv1("adapter_type=scsi");
	ck_assert_int_eq(vsl_image_create(ctx, at("o.vmdk"), "vmdk", 1 << 20, &o, &img),
			 VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "lsilogic"));
	o.kv = tu_kv1("hwversion=x");
	ck_assert_int_eq(vsl_image_create(ctx, at("o.vmdk"), "vmdk", 1 << 20, &o, &img),
			 VSL_EINVAL);
	o.kv = tu_kv1("adapter_type=lsilogic");
	ck_assert_int_eq(vsl_image_create(ctx, at("o.vmdk"), "vmdk", 1 << 20, &o, &img), 0);
	vsl_image_close(img);
	ck_assert_int_eq(tu_sh("grep -aq 'ddb.adapterType = \"lsilogic\"' %s", at("o.vmdk")), 0);
	ck_assert_int_eq(tu_sh("grep -aq 'ddb.geometry.heads = \"255\"' %s", at("o.vmdk")), 0);
}
END_TEST

START_TEST(block_status_sparse)
{
	struct vsl_image *img;
	uint8_t buf[4096];
	uint64_t n, size = (uint64_t)10 << 30;
	int flags;

	memset(buf, 0x77, sizeof(buf));
	ck_assert_int_eq(vsl_image_create(ctx, at("bs.vmdk"), "vmdk", size, NULL, &img), 0);
	ck_assert_int_eq(vsl_image_write(img, (uint64_t)5 << 30, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsl_image_block_status(img, 0, size, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_uint_eq(n, (uint64_t)5 << 30);
	ck_assert_int_eq(vsl_image_block_status(img, n, size - n, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_DATA);
	ck_assert_uint_eq(n, 65536);
	vsl_image_close(img);
}
END_TEST

/* ---- hostile input ---- */

/* Open a (damaged) copy from memory and read everything; return open's or read's result. */
static int try_mem(const uint8_t *p, size_t len)
{
	return tu_image_read_mem(ctx, p, len, "vmdk");
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint8_t *good_sparse(size_t *len)
{
	uint8_t *data = make_pattern(DISK_SIZE);

	write_image(at("g.vmdk"), "subformat=monolithicSparse", data, DISK_SIZE, 65536);
	free(data);
	return tu_slurp(at("g.vmdk"), len);
}

START_TEST(bad_headers)
{
	size_t len;
	uint8_t *img = good_sparse(&len), *p = malloc(len);

	ck_assert_int_eq(try_mem(img, len), 0);
	/* grain size not a power of two */
	memcpy(p, img, len);
	put64(p + 20, 100);
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "grain size"));
	/* absurd capacity */
	memcpy(p, img, len);
	put64(p + 12, 1ull << 60);
	ck_assert_int_eq(try_mem(p, len), VSL_ERANGE);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "capacity"));
	/* GD past EOF */
	memcpy(p, img, len);
	put64(p + 56, len / 512 + 10);
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "grain directory"));
	/* a GD entry pointing past EOF */
	memcpy(p, img, len);
	{
		uint64_t gd;
		memcpy(&gd, p + 56, 8);
		put32(p + gd * 512, 0x7fffffff);
	}
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "grain table 0"));
	/* a GT entry pointing past EOF */
	memcpy(p, img, len);
	{
		uint64_t gd;
		uint32_t gt;
		memcpy(&gd, p + 56, 8);
		memcpy(&gt, p + gd * 512, 4);
		put32(p + (uint64_t)gt * 512, 0x7fffff00);
	}
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "past the end"));
	/* truncated files */
	ck_assert_int_lt(try_mem(img, 300), 0);
	ck_assert_int_lt(try_mem(img, 1000), 0);
	ck_assert_int_lt(try_mem(img, 20 * 512), 0);
	/* text-mode transfer */
	memcpy(p, img, len);
	p[75] = '\n';
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "newline"));
	free(p);
	free(img);
}
END_TEST

START_TEST(bad_compressed_grains)
{
	uint8_t *data = make_pattern(DISK_SIZE), *img, *p;
	size_t len;
	uint64_t grain0 = 128 * 512; /* the first grain marker sits at the overhead */

	write_image(at("c.vmdk"), "subformat=streamOptimized", data, DISK_SIZE, 65536);
	free(data);
	img = tu_slurp(at("c.vmdk"), &len);
	p = malloc(len);
	ck_assert_int_eq(try_mem(img, len), 0);
	/* grain size 2^31 */
	memcpy(p, img, len);
	put32(p + grain0 + 8, 0x80000000u);
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "claims"));
	/* garbage instead of zlib data */
	memcpy(p, img, len);
	memset(p + grain0 + 12, 0xee, 100);
	ck_assert_int_eq(try_mem(p, len), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "zlib"));
	/* footer gone (truncated stream) */
	ck_assert_int_eq(try_mem(img, len - 1024), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "footer"));
	free(p);
	free(img);
}
END_TEST

static int open_desc(const char *text)
{
	struct vsl_image *img;
	FILE *f = fopen(at("d.vmdk"), "w");
	int r;

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	r = vsl_image_open(ctx, at("d.vmdk"), NULL, 0, &img);
	if (r == 0)
		vsl_image_close(img);
	return r;
}

#define DESC_HEAD "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n"

START_TEST(bad_descriptors)
{
	char *big;

	ck_assert_int_eq(tu_sh("truncate -s 1M %s/x-flat.vmdk", dir), 0);
	ck_assert_int_eq(open_desc(DESC_HEAD "RW 2048 FLAT \"x-flat.vmdk\" 0\n"), 0);
	ck_assert_int_eq(open_desc(DESC_HEAD "RW 2048 FLAT \"../x-flat.vmdk\" 0\n"), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "'..'"));
	ck_assert_int_eq(open_desc(DESC_HEAD "RW 2048 FLAT \"/etc/passwd\" 0\n"), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "absolute"));
	ck_assert_int_eq(open_desc(DESC_HEAD "RW 4096 FLAT \"x-flat.vmdk\" 0\n"), VSL_ECORRUPT);
	ck_assert_int_eq(open_desc(DESC_HEAD "RW 2048 FLAT \"x-flat.vmdk\n"), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "line 6"));
	ck_assert_int_eq(open_desc(DESC_HEAD "RW 99999999999999999999 FLAT \"x\" 0\n"),
			 VSL_ECORRUPT);
	ck_assert_int_eq(open_desc(DESC_HEAD "this is not a descriptor line\n"), VSL_ECORRUPT);
	ck_assert_int_eq(open_desc(DESC_HEAD), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "no extents"));
	ck_assert_int_eq(open_desc(DESC_HEAD "RW 2048 VMFSSPARSE \"x-flat.vmdk\"\n"), VSL_ENOTSUP);
	ck_assert_int_eq(open_desc("# Disk DescriptorFile\nversion=1\nparentCID=abcdef01\n"
				   "RW 2048 FLAT \"x-flat.vmdk\" 0\n"),
			 VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "delta"));
	/* an overlong line and an overlong file */
	big = malloc(3 << 20);
	memset(big, 'a', 3 << 20);
	big[(3 << 20) - 1] = 0;
	memcpy(big, DESC_HEAD, strlen(DESC_HEAD));
	big[5000 + strlen(DESC_HEAD)] = 0;
	ck_assert_int_eq(open_desc(big), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "longer than"));
	memset(big + strlen(DESC_HEAD), '\n', (3 << 20) - 1 - strlen(DESC_HEAD));
	ck_assert_int_eq(open_desc(big), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "limit"));
	free(big);
}
END_TEST

START_TEST(bad_write_target)
{
	size_t len;
	uint8_t *img = good_sparse(&len), buf[4096];
	struct vsl_stream *s;
	struct vsl_image *im;
	uint64_t gd;
	uint32_t gt;

	/* the first GT entry aims at a sector far past the end of the file */
	memcpy(&gd, img + 56, 8);
	memcpy(&gt, img + gd * 512, 4);
	put32(img + (uint64_t)gt * 512, 0x7fffff00);
	s = vsl_stream_new_mem(ctx, img, len, VSL_STREAM_RDWR);
	ck_assert_int_eq(vsl_image_open_stream(ctx, s, "vmdk", VSL_IMAGE_RDWR, &im), 0);
	memset(buf, 1, sizeof(buf));
	ck_assert_int_eq(vsl_image_write(im, 0, buf, sizeof(buf)), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "outside"));
	vsl_image_close(im);
	free(img);
}
END_TEST

/* The fuzz seeds are hand-made images (tests/data/images/vmdk-vhd-gen-seeds.py): qemu agrees on them. */
START_TEST(seeds_match_qemu)
{
	static const char *const seeds[] = { "sparse-4k.vmdk", "stream-4k.vmdk" };

	if (!tu_have_qemu_img() || access("tests/fuzz/seeds/vmdk", F_OK)) {
		fprintf(stderr, "seeds_match_qemu: needs qemu-img and the source tree; skipped\n");
		return;
	}
	for (size_t i = 0; i < VSL_ARRAY_SIZE(seeds); i++) {
		char path[512];
		size_t len;
		uint8_t *raw;

		ck_assert_int_eq(tu_sh("qemu-img convert -f vmdk -O raw tests/fuzz/seeds/vmdk/%s %s/seed.raw",
				    seeds[i], dir), 0);
		raw = tu_slurp(at("seed.raw"), &len);
		snprintf(path, sizeof(path), "tests/fuzz/seeds/vmdk/%s", seeds[i]);
		expect_content(path, raw, len);
		free(raw);
	}
}
END_TEST

START_TEST(split_extent_smaller_than_descriptor)
{
	struct vsl_image *img;
	uint8_t buf[4096], zero[4096] = { 0 };
	FILE *f;

	/* a 1 MiB sparse extent (one grain table: 32 MiB) that a descriptor claims holds 64 MiB */
	ck_assert_int_eq(vsl_image_create(ctx, at("small.vmdk"), "vmdk", 1 << 20, NULL, &img), 0);
	vsl_image_close(img);
	f = fopen(at("split.vmdk"), "w");
	ck_assert_ptr_nonnull(f);
	fputs("# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n"
	      "createType=\"twoGbMaxExtentSparse\"\nRW 131072 SPARSE \"small.vmdk\"\n", f);
	fclose(f);
	ck_assert_int_eq(vsl_image_open(ctx, at("split.vmdk"), NULL, VSL_IMAGE_RDWR, &img), 0);
	ck_assert_uint_eq(img->size, 64 << 20);
	memset(buf, 9, sizeof(buf));
	ck_assert_int_eq(vsl_image_write(img, 4096, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsl_image_write(img, 40 << 20, buf, sizeof(buf)), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "capacity"));
	ck_assert_int_eq(vsl_image_read(img, 40 << 20, buf, sizeof(buf)), 0);
	ck_assert(memcmp(buf, zero, sizeof(buf)) == 0);
	ck_assert_int_eq(vsl_image_read(img, 4096, buf, sizeof(buf)), 0);
	ck_assert_int_eq(buf[0], 9);
	vsl_image_close(img);
}
END_TEST

/* ---- qemu-img as the oracle ---- */

START_TEST(qemu_reads_ours)
{
	uint8_t *data = make_pattern(DISK_SIZE);

	if (!tu_have_qemu_img()) {
		fprintf(stderr, "qemu_reads_ours: qemu-img not installed; skipped\n");
		free(data);
		return;
	}
	tu_write_file(at("src.raw"), data, DISK_SIZE);
	write_image(at("s.vmdk"), "subformat=monolithicSparse", data, DISK_SIZE, 65536);
	write_image(at("so.vmdk"), "subformat=streamOptimized", data, DISK_SIZE, 1 << 20);
	write_image(at("fl.vmdk"), "subformat=monolithicFlat", data, DISK_SIZE, 1 << 20);
	ck_assert_int_eq(tu_sh("qemu-img check -q -f vmdk %s", at("s.vmdk")), 0);
	ck_assert_int_eq(tu_sh("qemu-img check -q -f vmdk %s", at("so.vmdk")), 0);
	ck_assert_int_eq(tu_sh("qemu-img compare -q -f raw -F vmdk %s/src.raw %s/s.vmdk", dir, dir), 0);
	ck_assert_int_eq(tu_sh("qemu-img compare -q -f raw -F vmdk %s/src.raw %s/so.vmdk", dir, dir), 0);
	ck_assert_int_eq(tu_sh("qemu-img compare -q -f raw -F vmdk %s/src.raw %s/fl.vmdk", dir, dir), 0);
	/* the oracle must be able to fail: a changed byte is noticed */
	data[4242] ^= 1;
	tu_write_file(at("src.raw"), data, DISK_SIZE);
	ck_assert_int_ne(tu_sh("qemu-img compare -q -f raw -F vmdk %s/src.raw %s/so.vmdk", dir, dir), 0);
	free(data);
}
END_TEST

START_TEST(we_read_qemus)
{
	static const char *const subs[] = { "monolithicSparse", "streamOptimized",
					    "twoGbMaxExtentSparse", "monolithicFlat",
					    "twoGbMaxExtentFlat" };
	uint8_t *data = make_pattern(DISK_SIZE);

	if (!tu_have_qemu_img()) {
		fprintf(stderr, "we_read_qemus: qemu-img not installed; skipped\n");
		free(data);
		return;
	}
	tu_write_file(at("src.raw"), data, DISK_SIZE);
	for (size_t i = 0; i < VSL_ARRAY_SIZE(subs); i++) {
		char name[64];
		snprintf(name, sizeof(name), "q%zu.vmdk", i);
		ck_assert_int_eq(tu_sh("qemu-img convert -f raw -O vmdk -o subformat=%s %s/src.raw %s/%s",
				    subs[i], dir, dir, name), 0);
		expect_content(at(name), data, DISK_SIZE);
	}
	free(data);
}
END_TEST

START_TEST(we_read_qemus_large_split)
{
	/* a 5 GiB twoGbMaxExtentSparse: three extent files, data in the second */
	struct vsl_image *img;
	uint8_t buf[65536], exp[65536];
	uint64_t off = ((uint64_t)2 << 30) + 12345;

	if (!tu_have_qemu_img()) {
		fprintf(stderr, "skipped: qemu-img not installed\n");
		return;
	}
	ck_assert_int_eq(tu_sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse %s/big.vmdk 5G && "
			    "qemu-io -f vmdk -c 'write -P 0x61 %llu 65536' %s/big.vmdk >/dev/null",
			    dir, (unsigned long long)off, dir), 0);
	ck_assert_int_eq(vsl_image_open(ctx, at("big.vmdk"), NULL, 0, &img), 0);
	ck_assert_uint_eq(img->size, (uint64_t)5 << 30);
	ck_assert_int_eq(vsl_image_read(img, off - 100, buf, sizeof(buf)), 0);
	memset(exp, 0, 100);
	memset(exp + 100, 0x61, sizeof(exp) - 100);
	ck_assert(memcmp(buf, exp, sizeof(buf)) == 0);
	vsl_image_close(img);
}
END_TEST

static Suite *vmdk_suite(void)
{
	Suite *s = suite_create("vmdk");
	TCase *tc;

	tc = tcase_create("roundtrip");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sparse_roundtrip);
	tcase_add_test(tc, sparse_random_rewrites);
	tcase_add_test(tc, stream_roundtrip);
	tcase_add_test(tc, stream_flush_midway);
	tcase_add_test(tc, stream_refuses_backwards);
	tcase_add_test(tc, empty_images);
	tcase_add_test(tc, flat_roundtrip);
	tcase_add_test(tc, options_validated);
	tcase_add_test(tc, block_status_sparse);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bad_headers);
	tcase_add_test(tc, bad_compressed_grains);
	tcase_add_test(tc, bad_descriptors);
	tcase_add_test(tc, bad_write_target);
	tcase_add_test(tc, split_extent_smaller_than_descriptor);
	suite_add_tcase(s, tc);

	tc = tcase_create("qemu");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, qemu_reads_ours);
	tcase_add_test(tc, we_read_qemus);
	tcase_add_test(tc, we_read_qemus_large_split);
	tcase_add_test(tc, seeds_match_qemu);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(vmdk_suite());
}
