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
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
