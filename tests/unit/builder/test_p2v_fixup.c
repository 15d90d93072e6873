/*
 * Unit tests for the initramfs check of builder/p2v_fixup.c
 * (vsl_p2v_initrd_modules): initramfs files are made with libarchive's
 * writer the way mkinitramfs lays them out (an uncompressed early cpio,
 * NUL padding, then a compressed main cpio), and broken ones (empty,
 * garbage, truncated, a directory) must give clear errors, never a crash.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/p2v_fixup.h"
#include "tests/unit/helpers/testutil.h"

static char tmp[256];
static const char *const need[] = { "virtio_pci", "virtio_blk", "virtio-rng", NULL };

static void setup(void)
{
	tu_mkdtemp(tmp, sizeof(tmp), "test_p2v_fixup");
}

static void teardown(void)
{
	tu_rmtree(tmp);
}

/*
 * A newc cpio of the NULL-terminated member paths (each holding its own
 * name as data) compressed with filter (ARCHIVE_FILTER_NONE, _GZIP, ...),
 * appended to path, followed by pad NUL bytes.
 */
static void add_cpio(const char *path, int filter, const char *const *members, size_t pad)
{
	static char buf[1 << 16];
	struct archive *a = archive_write_new();
	size_t used = 0;
	FILE *f;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(archive_write_set_format_cpio_newc(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_add_filter(a, filter), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_set_bytes_per_block(a, 0), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_memory(a, buf, sizeof(buf), &used), ARCHIVE_OK);
	for (size_t i = 0; members[i]; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, members[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(members[i]));
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
		ck_assert_int_eq(archive_write_data(a, members[i], strlen(members[i])),
				 (la_ssize_t)strlen(members[i]));
		archive_entry_free(e);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	f = fopen(path, "ab");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, used, f), used);
	for (size_t i = 0; i < pad; i++)
		fputc(0, f);
	fclose(f);
}

static void file_path(char *p, size_t n, const char *name)
{
	snprintf(p, n, "%s/%s", tmp, name);
}

START_TEST(one_compressed_archive)
{
	static const char *const m[] = {
		"usr/lib/modules/6.1.0-50-amd64/kernel/drivers/block/virtio_blk.ko",
		"usr/lib/modules/6.1.0-50-amd64/kernel/drivers/virtio/virtio_pci.ko.xz",
		"usr/lib/modules/6.1.0-50-amd64/kernel/drivers/virtio/virtio_pci_modern_dev.ko",
		"usr/bin/virtio_blk", "etc/virtio-rng.ko.conf", NULL
	};
	struct vsl_ctx *ctx = vsl_ctx_new();
	char p[300];
	unsigned found = 99;

	file_path(p, sizeof(p), "gz.img");
	add_cpio(p, ARCHIVE_FILTER_GZIP, m, 0);
	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, p, need, &found), 0);
	ck_assert_uint_eq(found, 3); /* virtio_pci, virtio_blk; not virtio-rng */
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(early_cpio_then_compressed)
{
	static const char *const early[] = { "kernel/x86/microcode/GenuineIntel.bin",
					      "lib/modules/virtio_rng.ko", NULL };
	static const char *const main_[] = { "lib/modules/x/virtio_blk.ko", "init", NULL };
	static const char *const only_early[] = { "kernel/x86/microcode/AuthenticAMD.bin",
						   NULL };
	struct vsl_ctx *ctx = vsl_ctx_new();
	char p[300];
	unsigned found;

	/* mkinitramfs: early cpio, padding, then zstd (Debian 12's default) */
	file_path(p, sizeof(p), "zst.img");
	add_cpio(p, ARCHIVE_FILTER_NONE, early, 1024);
	add_cpio(p, ARCHIVE_FILTER_ZSTD, main_, 0);
	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, p, need, &found), 0);
	ck_assert_uint_eq(found, 2 | 4); /* virtio_blk (main), virtio-rng (early) */

	/* two uncompressed ones and an xz one, no padding in between */
	file_path(p, sizeof(p), "three.img");
	add_cpio(p, ARCHIVE_FILTER_NONE, only_early, 0);
	add_cpio(p, ARCHIVE_FILTER_NONE, early, 0);
	add_cpio(p, ARCHIVE_FILTER_XZ, main_, 0);
	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, p, need, &found), 0);
	ck_assert_uint_eq(found, 2 | 4);

	/* only the early archive: nothing after it, virtio_blk missing */
	file_path(p, sizeof(p), "early.img");
	add_cpio(p, ARCHIVE_FILTER_NONE, only_early, 512);
	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, p, need, &found), 0);
	ck_assert_uint_eq(found, 0);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(bad_initramfs)
{
	static const char *const m[] = { "lib/modules/x/virtio_blk.ko", "lib/a", "lib/b", NULL };
	struct vsl_ctx *ctx = vsl_ctx_new();
	char p[300], q[300];
	unsigned found;
	FILE *f;
	struct stat st;

	file_path(p, sizeof(p), "missing.img");
	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, p, need, &found), VSL_EIO);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "missing.img"));

	file_path(p, sizeof(p), "empty.img");
	f = fopen(p, "w");
	fclose(f);
	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, p, need, &found), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "not an initramfs"));

	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, tmp, need, &found), VSL_ECORRUPT);

	file_path(p, sizeof(p), "garbage.img");
	f = fopen(p, "w");
	for (int i = 0; i < 5000; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, p, need, &found), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "garbage.img"));

	/* a gzip'd cpio cut in the middle */
	file_path(q, sizeof(q), "whole.img");
	add_cpio(q, ARCHIVE_FILTER_GZIP, m, 0);
	ck_assert_int_eq(stat(q, &st), 0);
	file_path(p, sizeof(p), "cut.img");
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "head -c %lld '%s' >'%s'", (long long)st.st_size / 2, q, p);
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, p, need, &found), VSL_ECORRUPT);

	/* an uncompressed cpio followed by garbage */
	file_path(p, sizeof(p), "tail.img");
	add_cpio(p, ARCHIVE_FILTER_NONE, m, 16);
	f = fopen(p, "ab");
	fputs("this is not a cpio archive at all, just text", f);
	fclose(f);
	ck_assert_int_eq(vsl_p2v_initrd_modules(ctx, p, need, &found), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "archive 2"));
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		one_compressed_archive, early_cpio_then_compressed, bad_initramfs, NULL
	};

	return tu_run_tests("p2v_fixup", setup, teardown, 0, tests);
}
