/* Unit tests for formats/format.c: registry, probing, options, the image layer's checks. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/format.h"

static struct vsl_ctx *ctx;

static void setup(void)
{
	ctx = vsl_ctx_new();
}

static void teardown(void)
{
	vsl_ctx_free(ctx);
}

START_TEST(registry)
{
	size_t n = 0;

	ck_assert_ptr_eq(vsl_format_find("qcow2"), &vsl_format_qcow2);
	ck_assert_ptr_eq(vsl_format_find("raw"), &vsl_format_raw);
	ck_assert_ptr_null(vsl_format_find("qcow3"));
	while (vsl_formats[n])
		n++;
	ck_assert_uint_ge(n, 2);
	ck_assert_ptr_eq(vsl_formats[n - 1], &vsl_format_raw); /* raw is the fallback, last */
}
END_TEST

START_TEST(probe)
{
	static const uint8_t qcow2[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	struct vsl_stream *s = vsl_stream_new_mem(ctx, qcow2, sizeof(qcow2), 0);

	ck_assert_ptr_eq(vsl_format_probe(s), &vsl_format_qcow2);
	vsl_stream_free(s);
	s = vsl_stream_new_mem(ctx, "just some bytes", 15, 0);
	ck_assert_ptr_eq(vsl_format_probe(s), &vsl_format_raw);
	vsl_stream_free(s);
	s = vsl_stream_new_mem(ctx, NULL, 0, 0);
	ck_assert_ptr_eq(vsl_format_probe(s), &vsl_format_raw);
	vsl_stream_free(s);
}
END_TEST

START_TEST(options)
{
	const char *kv[] = { "cluster_size=4096", "compat=0.10", "cluster_size=512", NULL };
	const char *bad[] = { "novalue", NULL };
	const char *unknown[] = { "size_of_cluster=1", NULL };
	struct vsl_image_opts o = { .kv = kv };

	ck_assert_str_eq(vsl_image_opt(&o, "cluster_size"), "512"); /* the last one wins */
	ck_assert_str_eq(vsl_image_opt(&o, "compat"), "0.10");
	ck_assert_ptr_null(vsl_image_opt(&o, "cluster"));
	ck_assert_ptr_null(vsl_image_opt(NULL, "compat"));
	ck_assert_int_eq(vsl_image_opts_check(ctx, &vsl_format_qcow2, &o), 0);
	o.kv = bad;
	ck_assert_int_eq(vsl_image_opts_check(ctx, &vsl_format_qcow2, &o), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "key=value"));
	o.kv = unknown;
	ck_assert_int_eq(vsl_image_opts_check(ctx, &vsl_format_raw, &o), VSL_EINVAL);
	ck_assert_str_eq(vsl_ctx_error(ctx), "raw: unknown option 'size_of_cluster' (known: none)");
}
END_TEST

START_TEST(zero_detection)
{
	uint8_t buf[100000] = { 0 };

	ck_assert(vsl_buf_is_zero(buf, sizeof(buf)));
	ck_assert(vsl_buf_is_zero(buf, 0));
	ck_assert(vsl_buf_is_zero(buf, 7));
	buf[99999] = 1;
	ck_assert(!vsl_buf_is_zero(buf, sizeof(buf)));
	ck_assert(vsl_buf_is_zero(buf, 99999));
	buf[3] = 1;
	ck_assert(!vsl_buf_is_zero(buf, 10));
}
END_TEST

START_TEST(image_layer_checks)
{
	struct vsl_stream *s = vsl_stream_new_mem(ctx, "0123456789", 10, 0);
	struct vsl_image *img;
	char buf[16];
	uint64_t n;
	int flags;

	ck_assert_int_eq(vsl_image_open_stream(ctx, s, NULL, VSL_IMAGE_RDONLY, &img), 0);
	ck_assert_str_eq(img->ops->name, "raw");
	ck_assert_uint_eq(img->size, 10);
	ck_assert_int_eq(vsl_image_read(img, 5, buf, 5), 0);
	ck_assert_mem_eq(buf, "56789", 5);
	ck_assert_int_eq(vsl_image_read(img, 5, buf, 6), VSL_ERANGE);
	ck_assert_int_eq(vsl_image_read(img, UINT64_MAX, buf, 2), VSL_ERANGE);
	ck_assert_int_eq(vsl_image_write(img, 0, "x", 1), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "read-only"));
	ck_assert_int_eq(vsl_image_block_status(img, 0, 10, &n, &flags), 0);
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(flags, VSL_BLOCK_DATA);
	ck_assert_int_eq(vsl_image_block_status(img, 0, 0, &n, &flags), VSL_EINVAL);
	vsl_image_close(img);
	vsl_image_close(NULL);
	s = vsl_stream_new_mem(ctx, NULL, 0, VSL_STREAM_RDWR);
	ck_assert_int_eq(vsl_image_open_stream(ctx, s, "qcow9", VSL_IMAGE_RDONLY, &img), VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "unknown image format 'qcow9'"));
	ck_assert_int_eq(vsl_image_open(ctx, "/nonexistent/x.img", NULL, 0, &img), VSL_ENOENT);
	vsl_stream_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("format");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, registry);
	tcase_add_test(tc, probe);
	tcase_add_test(tc, options);
	tcase_add_test(tc, zero_detection);
	tcase_add_test(tc, image_layer_checks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
