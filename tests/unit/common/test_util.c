/* Unit tests for common/: sizes, errors, progress formatting, digests. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/common.h"
#include "vessel/hash.h"
#include "vessel/progress.h"

START_TEST(parse_sizes)
{
	uint64_t v;

	ck_assert_int_eq(vsl_parse_size("512", &v), 0);
	ck_assert_uint_eq(v, 512);
	ck_assert_int_eq(vsl_parse_size("256M", &v), 0);
	ck_assert_uint_eq(v, 256ull << 20);
	ck_assert_int_eq(vsl_parse_size("2GiB", &v), 0);
	ck_assert_uint_eq(v, 2ull << 30);
	ck_assert_int_eq(vsl_parse_size("1t", &v), 0);
	ck_assert_uint_eq(v, 1ull << 40);
	ck_assert_int_eq(vsl_parse_size("", &v), VSL_EINVAL);
	ck_assert_int_eq(vsl_parse_size("-1", &v), VSL_EINVAL);
	ck_assert_int_eq(vsl_parse_size("12X", &v), VSL_EINVAL);
	ck_assert_int_eq(vsl_parse_size("1M2", &v), VSL_EINVAL);
	ck_assert_int_eq(vsl_parse_size("99999999999999999999", &v), VSL_ERANGE);
	ck_assert_int_eq(vsl_parse_size("20000000P", &v), VSL_ERANGE);
}
END_TEST

START_TEST(error_prefix_chain)
{
	struct vsl_ctx *ctx = vsl_ctx_new();

	ck_assert_int_eq(vsl_set_error(ctx, 2, VSL_ENOENT, "open %s", "x"), VSL_ENOENT);
	vsl_error_prefix(ctx, "disk %d", 0);
	ck_assert_str_eq(vsl_ctx_error(ctx), "disk 0: open x: No such file or directory");
	ck_assert_int_eq(vsl_ctx_code(ctx), VSL_ENOENT);
	vsl_ctx_clear(ctx);
	ck_assert_str_eq(vsl_ctx_error(ctx), "");
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(progress_line)
{
	char buf[256];

	vsl_progress_format(buf, sizeof(buf), "convert", 512 << 20, 1024 << 20, 2.0, 100);
	ck_assert_ptr_nonnull(strstr(buf, " 50%"));
	ck_assert_ptr_nonnull(strstr(buf, "512.0 MiB/1.0 GiB"));
	ck_assert_ptr_nonnull(strstr(buf, "256.0 MiB/s"));
	ck_assert_ptr_nonnull(strstr(buf, "ETA 0:02"));
	ck_assert_uint_le(strlen(buf), 100);
	vsl_progress_format(buf, sizeof(buf), "copy", 1024, 0, 1.0, 80);
	ck_assert_ptr_null(strstr(buf, "ETA"));
	/* a tiny buffer is still terminated */
	vsl_progress_format(buf, 8, "convert", 1, 2, 1.0, 80);
	ck_assert_uint_eq(strlen(buf), 7);
}
END_TEST

START_TEST(digests)
{
	char hex[VSL_HASH_HEX_MAX];
	enum vsl_hash_alg a;

	vsl_sha256_hex("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	struct vsl_hash *h = vsl_hash_new(VSL_HASH_SHA1);
	vsl_hash_update(h, "abc", 3);
	vsl_hash_final_hex(h, hex);
	vsl_hash_free(h);
	ck_assert_str_eq(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	ck_assert_int_eq(vsl_hash_from_name("sha512", &a), 0);
	ck_assert_int_eq(a, VSL_HASH_SHA512);
	ck_assert_int_eq(vsl_hash_from_name("md5", &a), VSL_EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, parse_sizes);
	tcase_add_test(tc, error_prefix_chain);
	tcase_add_test(tc, progress_line);
	tcase_add_test(tc, digests);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
