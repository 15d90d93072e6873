/* Unit tests for common/stream.c: memory and file streams. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/stream.h"

static struct vsl_ctx *ctx;
static char dir[] = "/tmp/vsl-stream-XXXXXX";

static void setup(void)
{
	ctx = vsl_ctx_new();
	ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/vsl-stream-XXXXXX")));
}

static void teardown(void)
{
	tu_rmtree(dir);
	vsl_ctx_free(ctx);
}

START_TEST(mem_roundtrip)
{
	struct vsl_stream *s = vsl_stream_new_mem(ctx, "hello", 5, VSL_STREAM_RDWR);
	char buf[16] = { 0 };
	uint64_t size;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(vsl_stream_pwrite(s, "XY", 2, 8), 0);
	ck_assert_int_eq(vsl_stream_size(s, &size), 0);
	ck_assert_uint_eq(size, 10);
	ck_assert_int_eq(vsl_stream_pread(s, buf, sizeof(buf), 0), 10);
	ck_assert_mem_eq(buf, "hello\0\0\0XY", 10);
	vsl_stream_free(s);
}
END_TEST

START_TEST(mem_readonly_refuses_write)
{
	struct vsl_stream *s = vsl_stream_new_mem(ctx, "abc", 3, VSL_STREAM_RDONLY);

	ck_assert_int_eq(vsl_stream_pwrite(s, "x", 1, 0), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "read-only"));
	vsl_stream_free(s);
}
END_TEST

START_TEST(short_read_is_truncation)
{
	struct vsl_stream *s = vsl_stream_new_mem(ctx, "abc", 3, VSL_STREAM_RDONLY);
	char buf[8];

	ck_assert_int_eq(vsl_stream_pread_full(s, buf, 8, 0), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "truncated"));
	vsl_stream_free(s);
}
END_TEST

START_TEST(file_sparse_holes)
{
	char path[512];
	struct vsl_stream *s;
	uint64_t d, e;
	char buf[4096];

	snprintf(path, sizeof(path), "%s/f", dir);
	ck_assert_int_eq(vsl_stream_open_file(ctx, path, VSL_STREAM_RDWR | VSL_STREAM_CREATE, &s), 0);
	memset(buf, 0xab, sizeof(buf));
	ck_assert_int_eq(vsl_stream_truncate(s, 64 << 20), 0);
	ck_assert_int_eq(vsl_stream_pwrite(s, buf, sizeof(buf), 32 << 20), 0);
	ck_assert_int_eq(vsl_stream_next_data(s, 0, &d, &e), 0);
	/* tmpfs and ext4 both report the hole before the data */
	ck_assert_uint_le(d, 32 << 20);
	ck_assert_uint_ge(e, (32 << 20) + 4096);
	ck_assert_int_eq(vsl_stream_flush(s), 0);
	vsl_stream_free(s);
	/* opening an existing file with CREATE alone must fail, not truncate */
	ck_assert_int_eq(vsl_stream_open_file(ctx, path, VSL_STREAM_RDWR | VSL_STREAM_CREATE, &s), VSL_EIO);
}
END_TEST

START_TEST(open_missing_names_file)
{
	struct vsl_stream *s;

	ck_assert_int_eq(vsl_stream_open_file(ctx, "/nonexistent/x.img", 0, &s), VSL_ENOENT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "/nonexistent/x.img"));
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("memory");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mem_roundtrip);
	tcase_add_test(tc, mem_readonly_refuses_write);
	tcase_add_test(tc, short_read_is_truncation);
	suite_add_tcase(s, tc);
	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, file_sparse_holes);
	tcase_add_test(tc, open_missing_names_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(stream_suite());
}
