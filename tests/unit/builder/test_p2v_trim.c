/*
 * Unit tests for builder/p2v_trim.c: area lists, the union of free maps,
 * and the mapping of an overlay's block status to free ranges, on real
 * qcow2 overlays (vessel's formats library) over raw backing files in a
 * fresh temporary directory. The libguestfs launch itself is covered by
 * tests/integration/t83-p2v-xfs-lvm.sh; here only its fallback (a backend
 * that does not exist) is checked.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/format.h"
#include "vessel/p2v.h"

#define K 1024ull
#define CL (64 * K)  /* the overlay's cluster size in these tests */

static char tmp[256];

static void setup(void)
{
	tu_mkdtemp(tmp, sizeof(tmp), "test_p2v_trim");
}

static void teardown(void)
{
	tu_rmtree(tmp);
}

static void ext_expect(const struct vsl_p2v_extents *e, size_t n, const uint64_t *offlen)
{
	ck_assert_uint_eq(e->n, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(e->v[i].off, offlen[2 * i]);
		ck_assert_uint_eq(e->v[i].len, offlen[2 * i + 1]);
	}
}

static void ext_fill(struct vsl_ctx *ctx, struct vsl_p2v_extents *e, size_t n,
		     const uint64_t *offlen)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(vsl_p2v_extents_add(ctx, e, offlen[2 * i], offlen[2 * i + 1]), 0);
}

START_TEST(areas_in_order)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_areas a = { 0 };
	char longname[600];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	for (unsigned i = 0; i < 20; i++)
		ck_assert_int_eq(vsl_p2v_areas_add(ctx, &a, i * 100, 100, "xfs", "d"), 0);
	ck_assert_uint_eq(a.n, 20);
	ck_assert_uint_eq(a.v[19].off, 1900);
	ck_assert_str_eq(a.v[3].type, "xfs");
	/* overlapping the last one, or before it */
	ck_assert_int_eq(vsl_p2v_areas_add(ctx, &a, 1950, 10, "xfs", "d"), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "out of order"));
	ck_assert_int_eq(vsl_p2v_areas_add(ctx, &a, UINT64_MAX - 5, 10, "xfs", "d"), VSL_ERANGE);
	/* long names are cut, not overflowed */
	ck_assert_int_eq(vsl_p2v_areas_add(ctx, &a, 5000, 1, longname, longname), 0);
	ck_assert_uint_eq(strlen(a.v[20].where), sizeof(a.v[20].where) - 1);
	ck_assert_uint_eq(strlen(a.v[20].type), sizeof(a.v[20].type) - 1);
	vsl_p2v_areas_fini(&a);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_ptr_null(a.v);
	vsl_p2v_areas_fini(&a);
	vsl_p2v_areas_fini(NULL);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(trimmed_types)
{
	ck_assert(vsl_p2v_trim_type("xfs"));
	ck_assert(vsl_p2v_trim_type("LVM2_member"));
	ck_assert(vsl_p2v_trim_type("btrfs"));
	/* ext is mapped by libext2fs; the others are opaque or not worth a launch */
	ck_assert(!vsl_p2v_trim_type("ext4"));
	ck_assert(!vsl_p2v_trim_type("swap"));
	ck_assert(!vsl_p2v_trim_type("crypto_LUKS"));
	ck_assert(!vsl_p2v_trim_type("vfat"));
	ck_assert(!vsl_p2v_trim_type(""));
	ck_assert(!vsl_p2v_trim_type(NULL));
}
END_TEST

START_TEST(merge_free_maps)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents d = { 0 }, a = { 0 };
	static const uint64_t d0[] = { 0, 10, 100, 50, 160, 5, 1000, 10 };
	static const uint64_t a0[] = { 20, 5, 140, 20, 500, 100, 1010, 1 };
	/* 140..160 overlaps 100..150 and touches 160..165; 1010 touches 1000..1010 */
	static const uint64_t want[] = { 0, 10, 20, 5, 100, 65, 500, 100, 1000, 11 };
	static const uint64_t inside[] = { 110, 10 };

	/* empty add: dst unchanged */
	ext_fill(ctx, &d, 4, d0);
	ck_assert_int_eq(vsl_p2v_extents_merge(ctx, &d, &a), 0);
	ck_assert_int_eq(vsl_p2v_extents_merge(ctx, &d, NULL), 0);
	ext_expect(&d, 4, d0);
	ext_fill(ctx, &a, 4, a0);
	ck_assert_int_eq(vsl_p2v_extents_merge(ctx, &d, &a), 0);
	ext_expect(&d, 5, want);
	/* add is left as it was */
	ext_expect(&a, 4, a0);
	/* a range inside an existing one changes nothing */
	vsl_p2v_extents_fini(&a);
	ext_fill(ctx, &a, 1, inside);
	ck_assert_int_eq(vsl_p2v_extents_merge(ctx, &d, &a), 0);
	ext_expect(&d, 5, want);
	/* empty dst: a copy of add */
	vsl_p2v_extents_fini(&d);
	ck_assert_int_eq(vsl_p2v_extents_merge(ctx, &d, &a), 0);
	ext_expect(&d, 1, inside);
	vsl_p2v_extents_fini(&d);
	vsl_p2v_extents_fini(&a);
	vsl_ctx_free(ctx);
}
END_TEST

/*
 * A 1 MiB raw "source" (0xab everywhere except a hole of zeroes at
 * [512K, 640K)) and a qcow2 overlay over it, cluster by cluster:
 *
 *	cluster  0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
 *	overlay  . D . Z Z Z . d . Z .  .  .  .  .  Z     D data, d zeroes
 *	source   a a a a a a a a z z a  a  a  a  a  a       written as data
 *
 * Only Z (discarded: zero in the overlay itself) is free; a cluster that
 * reads as zero because the source holds zeroes (8) or because zeroes were
 * written as data (7) is not.
 */
static struct vsl_image *make_overlay(struct vsl_ctx *ctx)
{
	char src[300], ov[300];
	uint8_t *buf = malloc(1024 * K);
	struct vsl_image_opts o = { 0 };
	const char *kv[] = { "cluster_size=65536", NULL };
	struct vsl_image *img;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 0xab, 1024 * K);
	memset(buf + 512 * K, 0, 128 * K);
	snprintf(src, sizeof(src), "%s/src.raw", tmp);
	snprintf(ov, sizeof(ov), "%s/ov.qcow2", tmp);
	tu_write_file(src, buf, 1024 * K);
	o.backing_file = src;
	o.backing_format = "raw";
	o.kv = kv;
	ck_assert_int_eq(vsl_image_create(ctx, ov, "qcow2", 1024 * K, &o, &img), 0);
	memset(buf, 0x5a, CL);
	ck_assert_int_eq(vsl_image_write(img, 1 * CL, buf, CL), 0);
	memset(buf, 0, CL);
	ck_assert_int_eq(vsl_image_write(img, 7 * CL, buf, CL), 0);
	ck_assert_int_eq(vsl_image_zero(img, 3 * CL, 3 * CL), 0);
	ck_assert_int_eq(vsl_image_zero(img, 9 * CL, CL), 0);
	ck_assert_int_eq(vsl_image_zero(img, 15 * CL, CL), 0);
	ck_assert_int_eq(vsl_image_flush(img), 0);
	vsl_image_close(img);
	free(buf);
	/* read back from the file, as vsl_p2v_trim_free does after the appliance */
	ck_assert_int_eq(vsl_image_open(ctx, ov, "qcow2", VSL_IMAGE_RDONLY, &img), 0);
	ck_assert_ptr_nonnull(img->backing);
	return img;
}

START_TEST(collect_discarded_clusters)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_image *img = make_overlay(ctx);
	struct vsl_p2v_extents e = { 0 };
	static const uint64_t all[] = { 3 * CL, 3 * CL, 9 * CL, CL, 15 * CL, CL };
	static const uint64_t part[] = { 4 * CL + 100, 2 * CL - 100, 9 * CL, 900 };
	static const uint64_t tail[] = { 15 * CL, CL };

	ck_assert_int_eq(vsl_p2v_trim_collect(ctx, img, 0, img->size, &e), 0);
	ext_expect(&e, 3, all);
	vsl_p2v_extents_fini(&e);
	/* an area cuts the ranges at its edges */
	ck_assert_int_eq(vsl_p2v_trim_collect(ctx, img, 4 * CL + 100, 5 * CL + 900 - 100, &e), 0);
	ext_expect(&e, 2, part);
	vsl_p2v_extents_fini(&e);
	/* an area past the end is clipped; one starting past it gives nothing */
	ck_assert_int_eq(vsl_p2v_trim_collect(ctx, img, 14 * CL, 10 * CL, &e), 0);
	ext_expect(&e, 1, tail);
	ck_assert_int_eq(vsl_p2v_trim_collect(ctx, img, img->size, CL, &e), 0);
	ck_assert_int_eq(vsl_p2v_trim_collect(ctx, img, UINT64_MAX - 1, 2, &e), 0);
	ext_expect(&e, 1, tail);
	/* areas before what is already collected are refused */
	ck_assert_int_eq(vsl_p2v_trim_collect(ctx, img, 0, img->size, &e), VSL_EINVAL);
	vsl_p2v_extents_fini(&e);
	vsl_image_close(img);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(collect_untouched_overlay)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_image_opts o = { 0 };
	struct vsl_image *img;
	struct vsl_p2v_extents e = { 0 };
	char src[300], ov[300];

	snprintf(src, sizeof(src), "%s/sparse.raw", tmp);
	snprintf(ov, sizeof(ov), "%s/plain.qcow2", tmp);
	/* an all-zero (sparse) source: zero, but from the backing file */
	tu_sparse_file(src, 4 << 20);
	o.backing_file = src;
	o.backing_format = "raw";
	ck_assert_int_eq(vsl_image_create(ctx, ov, "qcow2", 4 << 20, &o, &img), 0);
	ck_assert_int_eq(vsl_p2v_trim_collect(ctx, img, 0, img->size, &e), 0);
	ck_assert_uint_eq(e.n, 0);
	vsl_image_close(img);
	vsl_ctx_free(ctx);
}
END_TEST

/* The appliance cannot start (its hypervisor does not exist); overlays go to tmp. */
static void no_appliance(void)
{
	setenv("LIBGUESTFS_BACKEND", "direct", 1);
	setenv("LIBGUESTFS_HV", "/nonexistent/vessel-test-qemu", 1);
	setenv("TMPDIR", tmp, 1);
}

/* No usable libguestfs: every area is reported as copied whole, the map is kept. */
START_TEST(fallback_without_appliance)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_areas a = { 0 };
	struct vsl_p2v_extents f = { 0 };
	struct vsl_problems warn;
	static const uint64_t f0[] = { 0, 4096 };
	char src[300];

	snprintf(src, sizeof(src), "%s/disk.raw", tmp);
	tu_sparse_file(src, 8 << 20);
	vsl_problems_init(&warn);
	no_appliance();
	ext_fill(ctx, &f, 1, f0);
	/* no areas: nothing to do, no launch */
	ck_assert_int_eq(vsl_p2v_trim_free(ctx, NULL, src, 8 << 20, &a, &f, &warn), 0);
	ck_assert_uint_eq(warn.count, 0);
	ck_assert_int_eq(vsl_p2v_areas_add(ctx, &a, 1 << 20, 2 << 20, "xfs", "disk partition 1"), 0);
	ck_assert_int_eq(vsl_p2v_areas_add(ctx, &a, 4 << 20, 4 << 20, "LVM2_member",
					   "disk partition 2"), 0);
	ck_assert_int_eq(vsl_p2v_trim_free(ctx, NULL, src, 8 << 20, &a, &f, &warn), 0);
	ext_expect(&f, 1, f0);
	ck_assert_uint_eq(warn.count, 2);
	ck_assert_ptr_nonnull(strstr(warn.items[0].message, "disk partition 1: xfs"));
	ck_assert_ptr_nonnull(strstr(warn.items[0].message, "copied whole"));
	ck_assert_ptr_nonnull(strstr(warn.items[1].message, "disk partition 2: LVM2_member"));
	/* the temporary overlay is gone: only disk.raw is left */
	ck_assert_int_eq(tu_sh("test \"$(ls '%s')\" = disk.raw", tmp), 0);
	vsl_problems_fini(&warn);
	vsl_p2v_areas_fini(&a);
	vsl_p2v_extents_fini(&f);
	vsl_ctx_free(ctx);
}
END_TEST

/*
 * A session skips what it cannot trim without launching anything: a disk
 * that is not raw, a disk it was not given; duplicates and missing paths
 * are left out when it is made.
 */
START_TEST(session_without_launch)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_areas a = { 0 };
	struct vsl_p2v_extents f = { 0 };
	struct vsl_problems warn;
	struct vsl_image *img;
	struct vsl_p2v_trim *t;
	char q[300], q2[300], other[300], missing[300];
	const char *paths[4];

	snprintf(q, sizeof(q), "%s/disk.qcow2", tmp);
	snprintf(q2, sizeof(q2), "%s/../%s/disk.qcow2", tmp, strrchr(tmp, '/') + 1);
	snprintf(other, sizeof(other), "%s/other.raw", tmp);
	snprintf(missing, sizeof(missing), "%s/missing.raw", tmp);
	ck_assert_int_eq(vsl_image_create(ctx, q, "qcow2", 8 << 20, NULL, &img), 0);
	vsl_image_close(img);
	tu_sparse_file(other, 8 << 20);
	paths[0] = q;
	paths[1] = missing;
	paths[2] = q2;  /* the same file again */
	t = vsl_p2v_trim_new(paths, 3);
	ck_assert_ptr_nonnull(t);
	setenv("TMPDIR", tmp, 1);
	vsl_problems_init(&warn);
	ck_assert_int_eq(vsl_p2v_areas_add(ctx, &a, 0, 8 << 20, "xfs", "q"), 0);
	ck_assert_int_eq(vsl_p2v_trim_free(ctx, t, q, 8 << 20, &a, &f, &warn), 0);
	ck_assert_uint_eq(warn.count, 1);
	ck_assert_ptr_nonnull(strstr(warn.items[0].message, "q: xfs: free space unknown (not a raw disk)"));
	ck_assert_int_eq(vsl_p2v_trim_free(ctx, t, other, 8 << 20, &a, &f, &warn), 0);
	ck_assert_uint_eq(warn.count, 2);
	ck_assert_ptr_nonnull(strstr(warn.items[1].message, "not among the disks"));
	ck_assert_uint_eq(f.n, 0);
	ck_assert_int_eq(vsl_p2v_trim_free(ctx, t, missing, 8 << 20, &a, &f, &warn), VSL_EIO);
	vsl_p2v_trim_destroy(t);
	vsl_p2v_trim_destroy(NULL);
	/* nothing left behind: no overlay directory in TMPDIR */
	ck_assert_int_eq(tu_sh("test \"$(ls '%s' | tr '\\n' ' ')\" = 'disk.qcow2 other.raw '", tmp), 0);
	vsl_problems_fini(&warn);
	vsl_p2v_areas_fini(&a);
	vsl_ctx_free(ctx);
}
END_TEST

/*
 * vsl_p2v_free_map hands xfs to the trimmer, on the whole disk and in a
 * partition (the appliance cannot start here, so both are reported as
 * copied whole by p2v_trim.c, not as "not known"); ext4 beside it is still
 * mapped by libext2fs.
 */
START_TEST(free_map_hands_xfs_over)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents f = { 0 };
	struct vsl_problems warn;
	char path[300];

	if (!tu_have("mkfs.xfs") || !tu_have("sfdisk") || !tu_have("mkfs.ext4")) {
		fprintf(stderr, "free_map_hands_xfs_over: skipped (no mkfs.xfs, sfdisk or mkfs.ext4)\n");
		vsl_ctx_free(ctx);
		return;
	}
	no_appliance();
	vsl_problems_init(&warn);
	/* the whole disk */
	snprintf(path, sizeof(path), "%s/whole.raw", tmp);
	ck_assert_int_eq(tu_sh("truncate -s 320M '%s' && mkfs.xfs -q '%s'", path, path), 0);
	ck_assert_int_eq(vsl_p2v_free_map(ctx, path, 320 << 20, &f, &warn), 0);
	ck_assert_uint_eq(f.n, 0);
	ck_assert_uint_eq(warn.count, 1);
	ck_assert_ptr_nonnull(strstr(warn.items[0].message, "whole.raw: xfs: free space unknown"));
	vsl_problems_fini(&warn);
	vsl_problems_init(&warn);
	/* GPT: ext4 in partition 1, xfs in partition 2 */
	snprintf(path, sizeof(path), "%s/parts.raw", tmp);
	ck_assert_int_eq(tu_sh("truncate -s 400M '%s' && printf 'label: gpt\\n,64M,L\\n,,L\\n' | "
			       "sfdisk -q '%s' && truncate -s 64M '%s/p1' && mkfs.ext4 -q -F '%s/p1' && "
			       "dd if='%s/p1' of='%s' bs=1M seek=1 conv=notrunc,sparse status=none && "
			       "truncate -s 300M '%s/p2' && mkfs.xfs -q '%s/p2' && "
			       "dd if='%s/p2' of='%s' bs=1M seek=65 conv=notrunc,sparse status=none",
			       path, path, tmp, tmp, tmp, path, tmp, tmp, tmp, path), 0);
	ck_assert_int_eq(vsl_p2v_free_map(ctx, path, 400 << 20, &f, &warn), 0);
	ck_assert_uint_gt(f.n, 0);  /* ext4's free blocks */
	ck_assert_uint_le(f.v[f.n - 1].off + f.v[f.n - 1].len, 65 << 20);
	ck_assert_uint_eq(warn.count, 1);
	ck_assert_ptr_nonnull(strstr(warn.items[0].message, "partition 2: xfs: free space unknown"));
	vsl_problems_fini(&warn);
	vsl_p2v_extents_fini(&f);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		areas_in_order, trimmed_types, merge_free_maps, collect_discarded_clusters,
		collect_untouched_overlay, fallback_without_appliance, free_map_hands_xfs_over,
		session_without_launch, NULL
	};

	return tu_run_tests("p2v_trim", setup, teardown, 60, tests);
}
