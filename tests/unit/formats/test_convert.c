/* Unit tests for formats/convert.c: content, sparseness, failure leaves no output. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/convert.h"

static struct vsl_ctx *ctx;
static char dir[64], p1[512], p2[512], p3[512];

static void setup(void)
{
	ctx = vsl_ctx_new();
	snprintf(dir, sizeof(dir), "/tmp/vsl-conv-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(p1, sizeof(p1), "%s/in.raw", dir);
	snprintf(p2, sizeof(p2), "%s/out.qcow2", dir);
	snprintf(p3, sizeof(p3), "%s/back.raw", dir);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	vsl_ctx_free(ctx);
}

static unsigned entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void progress_cb(void *opaque, const char *what, uint64_t done, uint64_t total)
{
	uint64_t *last = opaque;

	ck_assert_uint_ge(done, *last); /* monotonic */
	ck_assert_uint_le(done, total);
	*last = done;
}

START_TEST(raw_qcow2_raw)
{
	const uint64_t size = 40ull << 20 | 777; /* not a cluster multiple */
	uint8_t *buf = malloc(1 << 20), *a = malloc(1 << 20), *b = malloc(1 << 20);
	struct vsl_image *img, *x, *y;
	struct vsl_convert_stats st;
	uint64_t last = 0;
	struct vsl_progress prog = { progress_cb, &last };
	struct vsl_convert_opts o = { .out_fmt = "qcow2", .compress = true, .threads = 2,
				      .progress = &prog };

	for (int i = 0; i < (1 << 20); i++)
		buf[i] = (uint8_t)(i * 7 / 3 + (i >> 12));
	ck_assert_int_eq(vsl_image_create(ctx, p1, "raw", size, NULL, &img), 0);
	ck_assert_int_eq(vsl_image_write(img, 0, buf, 1 << 20), 0);
	ck_assert_int_eq(vsl_image_write(img, 17 << 20, buf, 300000), 0);
	ck_assert_int_eq(vsl_image_write(img, size - 5000, buf, 5000), 0);
	vsl_image_close(img);
	ck_assert_msg(vsl_convert(ctx, p1, p2, &o, &st) == 0, "%s", vsl_ctx_error(ctx));
	ck_assert_uint_eq(last, size);
	ck_assert_uint_ge(st.bytes_skipped, 30ull << 20); /* the holes were never read */
	o = (struct vsl_convert_opts){ .out_fmt = "raw" };
	ck_assert_msg(vsl_convert(ctx, p2, p3, &o, NULL) == 0, "%s", vsl_ctx_error(ctx));
	ck_assert_int_eq(entries(), 3); /* no temporary files left behind */
	ck_assert_int_eq(vsl_image_open(ctx, p1, "raw", 0, &x), 0);
	ck_assert_int_eq(vsl_image_open(ctx, p3, NULL, 0, &y), 0);
	ck_assert_uint_eq(VSL_ALIGN_UP(x->size, 512), y->size); /* qcow2 keeps whole sectors */
	for (uint64_t off = 0; off < size; off += 1 << 20) {
		size_t n = (size_t)VSL_MIN(1 << 20, size - off);
		ck_assert_int_eq(vsl_image_read(x, off, a, n), 0);
		ck_assert_int_eq(vsl_image_read(y, off, b, n), 0);
		ck_assert_msg(!memcmp(a, b, n), "differs in MiB %llu", (unsigned long long)(off >> 20));
	}
	vsl_image_close(x);
	vsl_image_close(y);
	free(buf);
	free(a);
	free(b);
}
END_TEST

START_TEST(failure_leaves_nothing)
{
	const char *kv[] = { "cluster_size=3", NULL };
	struct vsl_convert_opts o = { .out_fmt = "qcow2", .kv = kv };
	struct vsl_image *img;

	ck_assert_int_eq(vsl_image_create(ctx, p1, "raw", 1 << 20, NULL, &img), 0);
	vsl_image_close(img);
	ck_assert_int_ne(vsl_convert(ctx, p1, p2, &o, NULL), 0);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "cluster_size"));
	ck_assert_int_eq(entries(), 1);
	o = (struct vsl_convert_opts){ .out_fmt = "qcow7" };
	ck_assert_int_eq(vsl_convert(ctx, p1, p2, &o, NULL), VSL_ENOTSUP);
	ck_assert_int_ne(vsl_convert(ctx, "/nonexistent", p2, &o, NULL), 0);
	ck_assert_int_eq(entries(), 1);
}
END_TEST

/*
 * The engine's window logic: several data runs inside one 2 MiB window
 * separated by holes, a zero block inside data, data ending mid-block, runs
 * across window boundaries, an odd disk size. Checks content, exact
 * statistics and which 64 KiB blocks of the raw output hold data.
 */
START_TEST(windows_and_zero_blocks)
{
	const uint64_t K = 1024, M = K * K, size = 9 * M + 12345;
	/* [start, len) data pieces; the 64 KiB at 1 MiB + 128 KiB is explicit zeroes */
	static const uint64_t piece[][2] = {
		{ 100 * 1024, 4096 },               /* small run, mid-block */
		{ 1024 * 1024, 320 * 1024 },        /* 1 MiB .. 1.3125 MiB, a zero block inside */
		{ 2 * 1024 * 1024 - 70000, 140000 },/* crosses the 2 MiB window boundary */
		{ 5 * 1024 * 1024, 3 * 1024 * 1024 },/* spans two windows */
		{ 9 * 1024 * 1024 + 1000, 11345 },  /* the tail, up to the odd end */
	};
	uint8_t *buf = malloc(3 * M), *a = malloc(M), *b = malloc(M);
	struct vsl_convert_opts o = { .out_fmt = "raw", .threads = 3 };
	struct vsl_convert_stats st;
	struct vsl_image *img, *x;
	uint64_t data = 0, written = 0, blk;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(vsl_image_create(ctx, p1, "raw", size, NULL, &img), 0);
	for (size_t i = 0; i < sizeof(piece) / sizeof(piece[0]); i++) {
		for (uint64_t j = 0; j < piece[i][1]; j++)
			buf[j] = (uint8_t)(1 + (j * 13 + i) % 251);
		if (i == 1)
			memset(buf + 128 * K, 0, 64 * K);
		ck_assert_int_eq(vsl_image_write(img, piece[i][0], buf, piece[i][1]), 0);
	}
	vsl_image_close(img);
	/* the raw writer turned the zero block into a hole: write it as data */
	{
		FILE *f = fopen(p1, "r+b");
		ck_assert_ptr_nonnull(f);
		memset(buf, 0, 64 * K);
		ck_assert_int_eq(fseek(f, (long)(M + 128 * K), SEEK_SET), 0);
		ck_assert_uint_eq(fwrite(buf, 1, 64 * K, f), 64 * K);
		ck_assert_int_eq(fclose(f), 0);
	}
	ck_assert_msg(vsl_convert(ctx, p1, p3, &o, &st) == 0, "%s", vsl_ctx_error(ctx));
	ck_assert_int_eq(vsl_image_open(ctx, p1, "raw", 0, &img), 0);
	ck_assert_int_eq(vsl_image_open(ctx, p3, "raw", 0, &x), 0);
	ck_assert_uint_eq(x->size, size);
	for (uint64_t off = 0; off < size; off += M) {
		size_t n = (size_t)VSL_MIN(M, size - off);
		ck_assert_int_eq(vsl_image_read(img, off, a, n), 0);
		ck_assert_int_eq(vsl_image_read(x, off, b, n), 0);
		ck_assert_msg(!memcmp(a, b, n), "differs in MiB %llu", (unsigned long long)(off >> 20));
	}
	/* every 64 KiB block written is one that holds a non-zero byte */
	for (blk = 0; blk < size; blk += 64 * K) {
		size_t n = (size_t)VSL_MIN(64 * K, size - blk);
		uint64_t pnum;
		int flags;
		bool nz;

		ck_assert_int_eq(vsl_image_read(img, blk, a, n), 0);
		nz = !vsl_buf_is_zero(a, n);
		data += nz ? n : 0;
		ck_assert_int_eq(vsl_image_block_status(x, blk, n, &pnum, &flags), 0);
		if (!nz)
			ck_assert_msg(!(flags & VSL_BLOCK_DATA) || pnum < n,
				      "zero block at %llu KiB was written", (unsigned long long)(blk >> 10));
	}
	written = st.bytes_written;
	ck_assert_uint_eq(written, data);
	ck_assert_uint_eq(st.bytes_read + st.bytes_skipped, size);
	ck_assert_uint_ge(st.bytes_skipped, 3 * M); /* [2.1 MiB, 5 MiB) and more never read */
	vsl_image_close(img);
	vsl_image_close(x);
	/* the same through qcow2 and back (the sequential engine: vsl_convert_copy) */
	o = (struct vsl_convert_opts){ .out_fmt = "qcow2", .threads = 1 };
	ck_assert_msg(vsl_convert(ctx, p1, p2, &o, &st) == 0, "%s", vsl_ctx_error(ctx));
	ck_assert_uint_eq(st.bytes_written, data);
	ck_assert_int_eq(vsl_image_open(ctx, p1, "raw", 0, &img), 0);
	ck_assert_int_eq(vsl_image_open(ctx, p2, "qcow2", 0, &x), 0);
	{
		struct vsl_image *y;
		ck_assert_int_eq(vsl_image_create(ctx, p3, "raw", x->size, NULL, &y), 0);
		ck_assert_msg(vsl_convert_copy(x, y, NULL, &st) == 0, "%s", vsl_ctx_error(ctx));
		/* qcow2 rounds the size up to whole sectors: the last block grows with it */
		ck_assert_uint_eq(st.bytes_written, data + (x->size - size));
		for (uint64_t off = 0; off < size; off += M) {
			size_t n = (size_t)VSL_MIN(M, size - off);
			ck_assert_int_eq(vsl_image_read(img, off, a, n), 0);
			ck_assert_int_eq(vsl_image_read(y, off, b, n), 0);
			ck_assert_msg(!memcmp(a, b, n), "copy differs in MiB %llu",
				      (unsigned long long)(off >> 20));
		}
		vsl_image_close(y);
	}
	vsl_image_close(img);
	vsl_image_close(x);
	free(buf);
	free(a);
	free(b);
}
END_TEST

/* A source that fails while being read: the message names the problem, no output. */
START_TEST(source_error_reported)
{
	struct vsl_convert_opts o = { .out_fmt = "raw" };
	uint8_t hdr[512] = { 0 }, cl[512];
	struct vsl_image *img;
	FILE *f;

	/* a qcow2 image with 512-byte clusters whose L1 entry points past the end */
	ck_assert_int_eq(vsl_image_create(ctx, p2, "qcow2", 1 << 20,
					  &(struct vsl_image_opts){ .kv = (const char *const[]){
						  "cluster_size=512", NULL } }, &img), 0);
	memset(cl, 0x5a, sizeof(cl));
	ck_assert_int_eq(vsl_image_write(img, 0, cl, sizeof(cl)), 0);
	vsl_image_close(img);
	f = fopen(p2, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(hdr, 1, 48, f), 48);
	{
		/* L1 table offset: header bytes 40..47 (big endian) */
		uint64_t l1 = 0;
		uint8_t e[8] = { 0x80, 0, 0, 0, 0x40, 0, 0, 0 }; /* COPIED | 1 GiB */
		for (int i = 0; i < 8; i++)
			l1 = l1 << 8 | hdr[40 + i];
		ck_assert_int_eq(fseek(f, (long)l1, SEEK_SET), 0);
		ck_assert_uint_eq(fwrite(e, 1, 8, f), 8);
	}
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_ne(vsl_convert(ctx, p2, p3, &o, NULL), 0);
	ck_assert_msg(strstr(vsl_ctx_error(ctx), "L2 table offset") &&
		      strstr(vsl_ctx_error(ctx), "past the end of the file"), "%s", vsl_ctx_error(ctx));
	ck_assert_int_eq(entries(), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("convert");
	TCase *tc = tcase_create("convert");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, raw_qcow2_raw);
	tcase_add_test(tc, failure_leaves_nothing);
	tcase_add_test(tc, windows_and_zero_blocks);
	tcase_add_test(tc, source_error_reported);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
