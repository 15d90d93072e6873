/*
 * Unit tests for builder/cache.c: vsl_cache_prune keeps the most recently
 * used entries that fit (mtimes set here), removes the first that does not
 * fit and everything older, reports each, leaves work in progress and
 * unknown files alone, and removes nothing in a dry run.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/builder.h"

static char dir[256];

static void settime(const char *rel, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };

	ck_assert_int_eq(utimensat(AT_FDCWD, tu_path(dir, rel), ts, 0), 0);
}

/* A file of size bytes (non-zero data: allocated) with mtime t. */
static void mkentry(const char *rel, size_t size, time_t t)
{
	char *buf = malloc(size);

	ck_assert_ptr_nonnull(buf);
	memset(buf, 'x', size);
	tu_write_file(tu_path(dir, rel), buf, size);
	free(buf);
	settime(rel, t);
}

/* Allocated bytes, as the pruner counts them. */
static uint64_t alloc(const char *rel)
{
	struct stat st;

	ck_assert_int_eq(stat(tu_path(dir, rel), &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static bool exists(const char *rel)
{
	return access(tu_path(dir, rel), F_OK) == 0;
}

struct seen {
	char names[16][128];
	size_t n;
};

static void on_removed(void *opaque, const char *rel, uint64_t bytes)
{
	struct seen *s = opaque;

	ck_assert_uint_gt(bytes, 0);
	ck_assert_uint_lt(s->n, 16);
	snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", rel);
}

#define KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void setup(void)
{
	char p[512];

	tu_mkdtemp(dir, sizeof(dir), "vsl-cache");
	for (const char *const *s = (const char *const[]){ "debs", "builds", "apt", "tmp",
							     "builds/" KEY, "builds/." KEY ".7",
							     "tmp/dl.x", NULL }; *s; s++) {
		snprintf(p, sizeof(p), "%s/%s", dir, *s);
		ck_assert_int_eq(mkdir(p, 0755), 0);
	}
	mkentry("debs/a_1_x.deb", 64 << 10, 1000);        /* oldest */
	mkentry("debs/b_1_x.deb", 64 << 10, 3000);
	mkentry("builds/" KEY "/initrd", 128 << 10, 2000);
	settime("builds/" KEY, 4000);                      /* newest: just reused */
	mkentry("apt/k.txt", 10000, 2500);
	mkentry("builds/." KEY ".7/initrd", 64 << 10, 1);  /* being stored */
	mkentry("tmp/dl.x/c.deb", 64 << 10, 1);            /* being downloaded */
	mkentry("debs/notes", 10, 1);                      /* not a cache entry */
}

static void teardown(void)
{
	tu_rmtree(dir);
}

START_TEST(prune_keeps_newest)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_cache_stats st;
	struct seen s = { .n = 0 };

	uint64_t fit = alloc("builds/" KEY "/initrd") + alloc("debs/b_1_x.deb");
	uint64_t keep = fit + alloc("apt/k.txt") / 2;

	/* room for the build and b but not also apt/k.txt */
	ck_assert_uint_gt(alloc("apt/k.txt"), 0);
	ck_assert_int_eq(vsl_cache_prune(ctx, dir, keep, false, on_removed, &s, &st), 0);
	ck_assert_uint_eq(st.kept, 2);
	ck_assert_uint_eq(st.removed, 2);
	ck_assert_uint_eq(s.n, 2);
	/* newest first: k.txt (2500) did not fit, so a (1000) goes too */
	ck_assert_str_eq(s.names[0], "apt/k.txt");
	ck_assert_str_eq(s.names[1], "debs/a_1_x.deb");
	ck_assert(exists("builds/" KEY "/initrd"));
	ck_assert(exists("debs/b_1_x.deb"));
	ck_assert(!exists("debs/a_1_x.deb"));
	ck_assert(!exists("apt/k.txt"));
	ck_assert(exists("builds/." KEY ".7/initrd"));
	ck_assert(exists("tmp/dl.x/c.deb"));
	ck_assert(exists("debs/notes"));
	ck_assert_uint_eq(st.kept_bytes, fit);

	/* 0 removes every entry, and only entries */
	s.n = 0;
	ck_assert_int_eq(vsl_cache_prune(ctx, dir, 0, false, on_removed, &s, &st), 0);
	ck_assert_uint_eq(st.removed, 2);
	ck_assert_str_eq(s.names[0], "builds/" KEY);
	ck_assert(!exists("builds/" KEY));
	ck_assert(exists("builds/." KEY ".7/initrd"));
	ck_assert(exists("debs/notes"));
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(prune_dry_run_and_empty)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_cache_stats st;
	struct seen s = { .n = 0 };
	char missing[300];

	ck_assert_int_eq(vsl_cache_prune(ctx, dir, 0, true, on_removed, &s, &st), 0);
	ck_assert_uint_eq(st.removed, 4);
	ck_assert_uint_eq(st.kept, 0);
	ck_assert_str_eq(s.names[0], "builds/" KEY);
	ck_assert_str_eq(s.names[3], "debs/a_1_x.deb");
	ck_assert(exists("debs/a_1_x.deb"));
	ck_assert(exists("builds/" KEY "/initrd"));
	/* a cache that does not exist yet: nothing to do */
	snprintf(missing, sizeof(missing), "%s/none", dir);
	ck_assert_int_eq(vsl_cache_prune(ctx, missing, 0, false, NULL, NULL, &st), 0);
	ck_assert_uint_eq(st.removed + st.kept, 0);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		prune_keeps_newest, prune_dry_run_and_empty, NULL
	};

	return tu_run_tests("cache", setup, teardown, 0, tests);
}
