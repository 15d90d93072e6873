/* Unit tests for formats/raw.c: zeroes become holes, block status reports them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/format.h"

static struct vsl_ctx *ctx;
static char dir[64], path[512];

static void setup(void)
{
	ctx = vsl_ctx_new();
	snprintf(dir, sizeof(dir), "/tmp/vsl-raw-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.raw", dir);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	vsl_ctx_free(ctx);
}

static uint64_t allocated(void)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Does this filesystem report holes? (tmpfs, ext4, xfs, btrfs do) */
static bool fs_has_holes(void)
{
	struct vsl_image *img;
	uint64_t n;
	int flags;
	bool holes;

	ck_assert_int_eq(vsl_image_create(ctx, path, "raw", 1 << 20, NULL, &img), 0);
	ck_assert_int_eq(vsl_image_block_status(img, 0, 1 << 20, &n, &flags), 0);
	holes = flags == VSL_BLOCK_ZERO;
	vsl_image_close(img);
	return holes;
}

START_TEST(zeroes_are_holes)
{
	const size_t size = 4 << 20;
	uint8_t *buf = calloc(1, size), *got = malloc(size);
	struct vsl_image *img;
	uint64_t n;
	int flags;

	if (!fs_has_holes()) {
		fprintf(stderr, "skip: %s does not report holes\n", dir);
		goto out;
	}
	ck_assert_int_eq(vsl_image_create(ctx, path, "raw", size, NULL, &img), 0);
	/* 1 MiB of zeroes then 64 KiB of data then zeroes: only the data is stored */
	memset(buf + (1 << 20), 0xab, 65536);
	ck_assert_int_eq(vsl_image_write(img, 0, buf, size), 0);
	ck_assert_int_eq(vsl_image_flush(img), 0);
	ck_assert_uint_le(allocated(), 65536 + 8192);
	ck_assert_int_eq(vsl_image_block_status(img, 0, size, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_uint_eq(n, 1 << 20);
	ck_assert_int_eq(vsl_image_block_status(img, 1 << 20, size - (1 << 20), &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_DATA);
	ck_assert_uint_eq(n, 65536);
	/* overwriting data with zeroes punches it out again */
	ck_assert_int_eq(vsl_image_write(img, 1 << 20, buf, 65536), 0);
	ck_assert_int_eq(vsl_image_block_status(img, 0, size, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_uint_eq(n, size);
	/* an unaligned write of zeroes inside data stays correct */
	memset(buf, 0x11, 10000);
	ck_assert_int_eq(vsl_image_write(img, 100, buf, 10000), 0);
	memset(buf, 0, 5000);
	ck_assert_int_eq(vsl_image_write(img, 3000, buf, 5000), 0);
	ck_assert_int_eq(vsl_image_read(img, 0, got, 12000), 0);
	for (size_t i = 0; i < 12000; i++)
		ck_assert_uint_eq(got[i], (i >= 100 && i < 3000) || (i >= 8000 && i < 10100) ? 0x11 : 0);
	ck_assert_int_eq(vsl_image_zero(img, 0, 65536), 0);
	ck_assert_int_eq(vsl_image_read(img, 0, got, 65536), 0);
	ck_assert(vsl_buf_is_zero(got, 65536));
	ck_assert_int_eq(vsl_image_resize(img, 1000), 0);
	ck_assert_uint_eq(img->size, 1000);
	vsl_image_close(img);
out:
	free(buf);
	free(got);
}
END_TEST

START_TEST(open_and_reject_backing)
{
	struct vsl_image_opts o = { .backing_file = "x" };
	struct vsl_image *img;

	ck_assert_int_eq(vsl_image_create(ctx, path, "raw", 12345, &o, &img), VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "backing"));
	ck_assert_int_eq(access(path, F_OK), -1); /* a failed create leaves nothing */
	ck_assert_int_eq(vsl_image_create(ctx, path, "raw", 12345, NULL, &img), 0);
	vsl_image_close(img);
	ck_assert_int_eq(vsl_image_open(ctx, path, NULL, VSL_IMAGE_RDONLY, &img), 0);
	ck_assert_str_eq(img->ops->name, "raw");
	ck_assert_uint_eq(img->size, 12345);
	vsl_image_close(img);
}
END_TEST

/*
 * VSL_STREAM_PREALLOC on the file stream: large writes allocate exactly
 * their range first. Content is intact, the rest stays holes (block status
 * and st_blocks), small writes and writes that extend the file work too.
 */
START_TEST(prealloc_keeps_holes)
{
	const size_t big = 1 << 20;
	uint8_t *buf = malloc(big), *got = malloc(big);
	struct vsl_image *img;
	uint64_t n, size;
	int flags;

	if (!fs_has_holes()) {
		free(buf);
		free(got);
		return; /* cannot tell holes here */
	}
	unlink(path);
	for (size_t i = 0; i < big; i++)
		buf[i] = (uint8_t)(i % 253 + 1);
	ck_assert_int_eq(vsl_image_create(ctx, path, "raw", 64 << 20, NULL, &img), 0);
	img->s->flags |= VSL_STREAM_PREALLOC;
	ck_assert_int_eq(vsl_image_write(img, 8 << 20, buf, big), 0);       /* preallocated */
	ck_assert_int_eq(vsl_image_write(img, 20 << 20, buf, 4096), 0);     /* too small: plain */
	ck_assert_int_eq(vsl_stream_pwrite(img->s, buf, big, 70 << 20), 0); /* extends the file */
	ck_assert_int_eq(vsl_stream_size(img->s, &size), 0);
	ck_assert_uint_eq(size, (70 << 20) + big);
	ck_assert_int_eq(vsl_image_read(img, 8 << 20, got, big), 0);
	ck_assert(!memcmp(buf, got, big));
	ck_assert_int_eq(vsl_stream_pread_full(img->s, got, big, 70 << 20), 0);
	ck_assert(!memcmp(buf, got, big));
	ck_assert_int_eq(vsl_image_block_status(img, 0, 64 << 20, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_uint_eq(n, 8 << 20);
	ck_assert_int_eq(vsl_image_block_status(img, 8 << 20, 56 << 20, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_DATA);
	ck_assert_uint_eq(n, big);
	ck_assert_int_eq(vsl_image_block_status(img, 9 << 20, 55 << 20, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_uint_eq(n, 11 << 20);
	vsl_image_close(img);
	/* 2 MiB of data + 4 KiB (+ filesystem metadata slack) */
	ck_assert_uint_ge(allocated(), 2 * big);
	ck_assert_uint_le(allocated(), 2 * big + (256 << 10));
	free(buf);
	free(got);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("raw");
	TCase *tc = tcase_create("raw");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, zeroes_are_holes);
	tcase_add_test(tc, open_and_reject_backing);
	tcase_add_test(tc, prealloc_keeps_holes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
