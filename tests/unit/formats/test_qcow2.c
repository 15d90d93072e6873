/*
 * Unit tests for formats/qcow2.c and qcow2_check.c: random-access round
 * trips against a reference buffer (every cluster size class, v2 and v3,
 * compressed), reopen from the bytes written, block status, zeroing,
 * resizing, backing files (copy-on-write, loops, depth limit), refcount
 * table growth, the consistency check, and hostile headers/tables built in
 * memory (each must fail with a message naming the problem).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vessel/format.h"

static struct vsl_ctx *ctx;
static char dir[64];
static char pathbuf[4][512];

static void setup(void)
{
	ctx = vsl_ctx_new();
	snprintf(dir, sizeof(dir), "/tmp/vsl-qcow2-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	vsl_ctx_free(ctx);
}

static const char *at(int slot, const char *name)
{
	snprintf(pathbuf[slot], sizeof(pathbuf[slot]), "%s/%s", dir, name);
	return pathbuf[slot];
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill(uint8_t *p, size_t n, bool compressible)
{
	for (size_t i = 0; i < n; i++)
		p[i] = compressible ? (uint8_t)("vessel qcow2 "[i % 13]) : (uint8_t)rnd();
}

/* A qcow2 image in memory with the given -o options. */
static struct vsl_image *mem_create(uint64_t size, const char *const *kv, bool compress)
{
	struct vsl_stream *s = vsl_stream_new_mem(ctx, NULL, 0, VSL_STREAM_RDWR);
	struct vsl_image_opts o = { .kv = kv, .compress = compress, .threads = 2 };
	struct vsl_image *img;
	int r;

	ck_assert_ptr_nonnull(s);
	r = vsl_image_create_stream(ctx, s, "qcow2", size, &o, &img);
	ck_assert_msg(r == 0, "create: %s", vsl_ctx_error(ctx));
	return img;
}

/* Reopen an in-memory image from its bytes (after a flush). */
static struct vsl_image *mem_reopen(struct vsl_image *img, int flags)
{
	size_t len;
	const uint8_t *d;
	struct vsl_stream *s;
	struct vsl_image *out;
	int r;

	ck_assert_int_eq(vsl_image_flush(img), 0);
	d = vsl_stream_mem_data(img->s, &len);
	ck_assert_ptr_nonnull(d);
	s = vsl_stream_new_mem(ctx, d, len, VSL_STREAM_RDWR);
	ck_assert_ptr_nonnull(s);
	r = vsl_image_open_stream(ctx, s, NULL, flags | VSL_IMAGE_NO_BACKING, &out);
	ck_assert_msg(r == 0, "reopen: %s", vsl_ctx_error(ctx));
	ck_assert_str_eq(out->ops->name, "qcow2");
	return out;
}

static void assert_same(struct vsl_image *img, const uint8_t *ref, uint64_t size)
{
	uint8_t *buf = malloc(size);

	ck_assert_ptr_nonnull(buf);
	ck_assert_msg(vsl_image_read(img, 0, buf, size) == 0, "read: %s", vsl_ctx_error(ctx));
	for (uint64_t i = 0; i < size; i++)
		if (buf[i] != ref[i])
			ck_abort_msg("byte %llu differs: %02x != %02x", (unsigned long long)i, buf[i],
				     ref[i]);
	free(buf);
}

static void assert_clean(struct vsl_image *img)
{
	struct vsl_check_report rep;

	ck_assert_int_eq(vsl_image_check(img, &rep), 0);
	ck_assert_msg(rep.corruptions == 0 && rep.leaks == 0, "check: %llu corruptions, %llu "
		      "leaks: %s", (unsigned long long)rep.corruptions,
		      (unsigned long long)rep.leaks, rep.first_problem);
}

/* Random writes of random lengths (partial clusters, spans) against a reference. */
static void random_io(const char *cluster_size, const char *compat, uint64_t size, int nops)
{
	char o1[64], o2[64];
	const char *kv[] = { o1, o2, NULL };
	uint8_t *ref = calloc(1, size), *buf = malloc(size);
	struct vsl_image *img, *re;

	snprintf(o1, sizeof(o1), "cluster_size=%s", cluster_size);
	snprintf(o2, sizeof(o2), "compat=%s", compat);
	ck_assert_ptr_nonnull(ref);
	img = mem_create(size, kv, false);
	/* qcow2 sizes are whole 512-byte sectors, as QEMU counts them */
	ck_assert_uint_eq(img->size, VSL_ALIGN_UP(size, 512));
	size = img->size;
	ref = realloc(ref, size);
	buf = realloc(buf, size);
	memset(ref, 0, size);
	for (int i = 0; i < nops; i++) {
		uint64_t off = rnd() % size, len = 1 + rnd() % VSL_MIN(size - off, 200000);
		int what = (int)(rnd() % 4);
		if (what == 0) {
			memset(buf, 0, len);
		} else {
			fill(buf, len, what == 1);
		}
		ck_assert_msg(vsl_image_write(img, off, buf, len) == 0, "write: %s",
			      vsl_ctx_error(ctx));
		memcpy(ref + off, buf, len);
		if (i % 7 == 3) {
			uint64_t zo = rnd() % size, zl = 1 + rnd() % VSL_MIN(size - zo, 300000);
			ck_assert_int_eq(vsl_image_zero(img, zo, zl), 0);
			memset(ref + zo, 0, zl);
		}
		if (i % 5 == 0) {
			uint64_t ro = rnd() % size, rl = 1 + rnd() % VSL_MIN(size - ro, 100000);
			ck_assert_int_eq(vsl_image_read(img, ro, buf, rl), 0);
			ck_assert_mem_eq(buf, ref + ro, rl);
		}
	}
	assert_same(img, ref, size);
	assert_clean(img);
	re = mem_reopen(img, VSL_IMAGE_RDONLY);
	assert_same(re, ref, size);
	assert_clean(re);
	vsl_image_close(re);
	vsl_image_close(img);
	free(ref);
	free(buf);
}

START_TEST(roundtrip_64k_v3)
{
	random_io("64K", "1.1", 5 * 1024 * 1024 + 4567, 120);
}
END_TEST

START_TEST(roundtrip_512_v3)
{
	/* tiny clusters: many L2 tables and refcount blocks, refcount table growth */
	random_io("512", "1.1", 3 * 1024 * 1024 + 17, 80);
}
END_TEST

START_TEST(roundtrip_4k_v2)
{
	random_io("4096", "0.10", 4 * 1024 * 1024 + 512, 80);
}
END_TEST

START_TEST(roundtrip_2m)
{
	random_io("2M", "1.1", 9 * 1024 * 1024 + 1, 40);
}
END_TEST

START_TEST(compressed_writes)
{
	const uint64_t size = 3 * 1024 * 1024 + 512;
	const char *kv[] = { "cluster_size=65536", NULL };
	uint8_t *ref = calloc(1, size);
	struct vsl_image *img = mem_create(size, kv, true), *re;
	uint64_t before, after;

	/* sequential, as the converter writes: compressible, random, zero, partial */
	fill(ref, 1024 * 1024, true);
	fill(ref + 1024 * 1024, 256 * 1024, false);
	fill(ref + 2 * 1024 * 1024 + 1000, 5000, true);
	fill(ref + size - 50, 50, true);
	ck_assert_int_eq(vsl_image_write(img, 0, ref, 1024 * 1024 + 256 * 1024), 0);
	ck_assert_int_eq(vsl_image_write(img, 2 * 1024 * 1024 + 1000, ref + 2 * 1024 * 1024 + 1000,
					 5000), 0);
	ck_assert_int_eq(vsl_image_write(img, size - 50, ref + size - 50, 50), 0);
	assert_same(img, ref, size);
	/* compressed: the text megabyte takes far less than a megabyte */
	ck_assert_int_eq(vsl_stream_size(img->s, &before), 0);
	ck_assert_uint_lt(before, 700 * 1024);
	/* overwrite inside a compressed cluster: copy-on-write to a plain cluster */
	fill(ref + 70000, 3000, false);
	ck_assert_int_eq(vsl_image_write(img, 70000, ref + 70000, 3000), 0);
	assert_same(img, ref, size);
	assert_clean(img);
	re = mem_reopen(img, VSL_IMAGE_RDWR);
	assert_same(re, ref, size);
	assert_clean(re);
	ck_assert_int_eq(vsl_stream_size(re->s, &after), 0);
	vsl_image_close(re);
	vsl_image_close(img);
	free(ref);
}
END_TEST

START_TEST(block_status_and_zero)
{
	const uint64_t size = 8 * 1024 * 1024;
	struct vsl_image *img = mem_create(size, NULL, false);
	uint8_t buf[65536];
	uint64_t n;
	int flags;

	ck_assert_int_eq(vsl_image_block_status(img, 0, size, &n, &flags), 0);
	ck_assert_uint_eq(n, size);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	fill(buf, sizeof(buf), false);
	ck_assert_int_eq(vsl_image_write(img, 131072, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsl_image_write(img, 196608, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsl_image_block_status(img, 0, size, &n, &flags), 0);
	ck_assert_uint_eq(n, 131072);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_int_eq(vsl_image_block_status(img, 131072, size - 131072, &n, &flags), 0);
	ck_assert_uint_eq(n, 131072);
	ck_assert_int_eq(flags, VSL_BLOCK_DATA);
	/* writing zeroes over nothing allocates nothing */
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(vsl_image_write(img, 4 << 20, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsl_image_block_status(img, 4 << 20, 65536, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	/* zero a cluster: v3 zero flag, reads zero, block status says zero */
	ck_assert_int_eq(vsl_image_zero(img, 131072, 65536), 0);
	ck_assert_int_eq(vsl_image_block_status(img, 131072, 65536, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_int_eq(vsl_image_read(img, 131072, buf, sizeof(buf)), 0);
	ck_assert(vsl_buf_is_zero(buf, sizeof(buf)));
	assert_clean(img);
	/* out of range */
	ck_assert_int_eq(vsl_image_read(img, size - 10, buf, 11), VSL_ERANGE);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "past the end of the image"));
	vsl_image_close(img);
}
END_TEST

START_TEST(resize_grows_l1)
{
	const char *kv[] = { "cluster_size=512", NULL };
	struct vsl_image *img = mem_create(100000, kv, false), *re;
	uint8_t buf[1000], got[1000];

	fill(buf, sizeof(buf), false);
	ck_assert_int_eq(vsl_image_write(img, 5000, buf, sizeof(buf)), 0);
	/* 512-byte clusters: an L2 table covers 32 KiB, so 50 MiB needs a new L1 */
	ck_assert_msg(vsl_image_resize(img, 50 << 20) == 0, "%s", vsl_ctx_error(ctx));
	ck_assert_int_eq(vsl_image_write(img, (50 << 20) - 1000, buf, sizeof(buf)), 0);
	re = mem_reopen(img, VSL_IMAGE_RDONLY);
	ck_assert_uint_eq(re->size, 50 << 20);
	ck_assert_int_eq(vsl_image_read(re, 5000, got, sizeof(got)), 0);
	ck_assert_mem_eq(got, buf, sizeof(buf));
	ck_assert_int_eq(vsl_image_read(re, (50 << 20) - 1000, got, sizeof(got)), 0);
	ck_assert_mem_eq(got, buf, sizeof(buf));
	assert_clean(re);
	ck_assert_int_eq(vsl_image_resize(img, 1000), VSL_ENOTSUP);
	vsl_image_close(re);
	vsl_image_close(img);
}
END_TEST

START_TEST(backing_cow)
{
	const uint64_t size = 1 << 20;
	uint8_t *base = malloc(size), *ref = malloc(size), buf[3000];
	struct vsl_image_opts o = { .backing_file = "base.raw", .backing_format = "raw" };
	struct vsl_image *b, *top;
	uint64_t n;
	int flags;

	fill(base, size, false);
	ck_assert_int_eq(vsl_image_create(ctx, at(0, "base.raw"), "raw", size, NULL, &b), 0);
	ck_assert_int_eq(vsl_image_write(b, 0, base, size), 0);
	vsl_image_close(b);
	/* size 0: taken from the backing file; relative name resolved beside the image */
	ck_assert_msg(vsl_image_create(ctx, at(1, "top.qcow2"), "qcow2", 0, &o, &top) == 0, "%s",
		      vsl_ctx_error(ctx));
	ck_assert_uint_eq(top->size, size);
	memcpy(ref, base, size);
	fill(buf, sizeof(buf), true);
	/* partial cluster write: the rest of the cluster comes from the backing file */
	ck_assert_int_eq(vsl_image_write(top, 70000, buf, sizeof(buf)), 0);
	memcpy(ref + 70000, buf, sizeof(buf));
	ck_assert_int_eq(vsl_image_zero(top, 262144, 65536), 0);
	memset(ref + 262144, 0, 65536);
	vsl_image_close(top);
	ck_assert_int_eq(vsl_image_open(ctx, at(1, "top.qcow2"), NULL, VSL_IMAGE_RDONLY, &top), 0);
	ck_assert_ptr_nonnull(top->backing);
	assert_same(top, ref, size);
	ck_assert_int_eq(vsl_image_block_status(top, 0, size, &n, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_DATA | VSL_BLOCK_BACKING);
	assert_clean(top);
	vsl_image_close(top);
	free(base);
	free(ref);
}
END_TEST

START_TEST(backing_loop_and_depth)
{
	struct vsl_image_opts o = { .backing_format = "qcow2" };
	struct vsl_image *img;
	char name[32], prev[32];
	FILE *f;
	uint8_t hdr[512];

	/* a -> b -> a: create a, b on a, then patch a's header to name b */
	ck_assert_int_eq(vsl_image_create(ctx, at(0, "a.qcow2"), "qcow2", 1 << 20, NULL, &img), 0);
	vsl_image_close(img);
	o.backing_file = "a.qcow2";
	ck_assert_int_eq(vsl_image_create(ctx, at(1, "b.qcow2"), "qcow2", 1 << 20, &o, &img), 0);
	vsl_image_close(img);
	f = fopen(at(0, "a.qcow2"), "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	/* backing name at offset 400, "b.qcow2" (7 bytes) */
	memset(hdr + 8, 0, 12);
	hdr[8 + 6] = 400 >> 8;
	hdr[8 + 7] = 400 & 0xff;
	hdr[16 + 3] = 7;
	memcpy(hdr + 400, "b.qcow2", 7);
	fseek(f, 0, SEEK_SET);
	ck_assert_uint_eq(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	fclose(f);
	ck_assert_int_ne(vsl_image_open(ctx, at(0, "a.qcow2"), NULL, VSL_IMAGE_RDONLY, &img), 0);
	ck_assert_msg(strstr(vsl_ctx_error(ctx), "loop") != NULL, "%s", vsl_ctx_error(ctx));

	/* a chain of 18 images is deeper than the limit */
	snprintf(prev, sizeof(prev), "c0.qcow2");
	ck_assert_int_eq(vsl_image_create(ctx, at(0, prev), "qcow2", 1 << 20, NULL, &img), 0);
	vsl_image_close(img);
	for (int i = 1; i <= VSL_IMAGE_MAX_CHAIN + 1; i++) {
		snprintf(name, sizeof(name), "c%d.qcow2", i);
		o.backing_file = prev;
		/* creation opens the chain too; the last ones fail there already */
		if (vsl_image_create(ctx, at(1, name), "qcow2", 1 << 20, &o, &img) == 0)
			vsl_image_close(img);
		snprintf(prev, sizeof(prev), "%s", name);
	}
	snprintf(name, sizeof(name), "c%d.qcow2", VSL_IMAGE_MAX_CHAIN);
	ck_assert_int_eq(vsl_image_open(ctx, at(0, name), NULL, VSL_IMAGE_RDONLY, &img), 0);
	vsl_image_close(img);
	ck_assert_int_eq(access(at(0, "c17.qcow2"), F_OK), -1); /* its creation was refused */
	ck_assert_msg(strstr(vsl_ctx_error(ctx), "deeper") != NULL, "%s", vsl_ctx_error(ctx));
}
END_TEST

/* ---- hostile images ---- */

static uint8_t *good_image(size_t *len)
{
	struct vsl_image *img = mem_create(1 << 20, NULL, false);
	uint8_t buf[4096];
	const uint8_t *d;
	uint8_t *copy;

	fill(buf, sizeof(buf), false);
	ck_assert_int_eq(vsl_image_write(img, 65536 * 3, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsl_image_flush(img), 0);
	d = vsl_stream_mem_data(img->s, len);
	copy = malloc(*len);
	memcpy(copy, d, *len);
	vsl_image_close(img);
	return copy;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Open (and read everything of) a patched image; expect failure mentioning `what`. */
static void expect_bad(uint8_t *d, size_t len, const char *what)
{
	struct vsl_stream *s = vsl_stream_new_mem(ctx, d, len, VSL_STREAM_RDWR);
	struct vsl_image *img;
	uint8_t *buf;
	int r;

	vsl_ctx_clear(ctx);
	r = vsl_image_open_stream(ctx, s, "qcow2", VSL_IMAGE_RDONLY | VSL_IMAGE_NO_BACKING, &img);
	if (r == 0) {
		buf = malloc(img->size);
		ck_assert_ptr_nonnull(buf);
		r = vsl_image_read(img, 0, buf, img->size);
		free(buf);
		vsl_image_close(img);
	} else {
		vsl_stream_free(s);
	}
	ck_assert_msg(r < 0, "hostile image (%s) was accepted", what);
	ck_assert_msg(strstr(vsl_ctx_error(ctx), what) != NULL, "expected '%s' in: %s", what,
		      vsl_ctx_error(ctx));
}

START_TEST(hostile_headers)
{
	size_t len;
	uint8_t *good = good_image(&len), *d = malloc(len);
	uint64_t l1_off = get64(good + 40), l2_off;

#define PATCH(stmt, what)                  \
	do {                               \
		memcpy(d, good, len);      \
		stmt;                      \
		expect_bad(d, len, what);  \
	} while (0)

	PATCH(put32(d + 20, 8), "cluster_bits 8 is outside 9..21");
	PATCH(put32(d + 20, 22), "cluster_bits 22");
	PATCH(put64(d + 24, 1ull << 62), "absurd");
	PATCH(put32(d + 4, 4), "version 4");
	PATCH(put32(d + 36, 0x10000000), "larger than the limit");
	PATCH(put32(d + 36, 0), "needs 1");
	PATCH(put64(d + 40, 512), "L1 table offset 0x200 is not aligned");
	PATCH(put64(d + 40, 0), "overlaps the header");
	PATCH(put64(d + 40, 1ull << 40), "past the end of the file");
	PATCH(put32(d + 100, 5000), "header length 5000");
	PATCH(put32(d + 96, 7), "refcount_order 7");
	PATCH(put64(d + 72, 1ull << 20), "unknown incompatible features");
	PATCH(put32(d + 32, 1), "encrypted");
	PATCH((put64(d + 8, 4000), put32(d + 16, 200)), "backing file name");
	/* a header extension whose length runs past the header area */
	PATCH((put32(d + 104, 0x12345678), put32(d + 108, 100000)), "header extension");
	/* L2 table offset of L1 entry 0 past EOF / unaligned */
	PATCH(put64(d + l1_off, (1ull << 63) | (1ull << 40)),
	      "L2 table offset 0x10000000000 of L1 entry 0 is past the end of the file");
	PATCH(put64(d + l1_off, (1ull << 63) | 0x10200), "of L1 entry 0 is not aligned");
	l2_off = get64(good + l1_off) & 0x00fffffffffffe00ull;
	/* data cluster of virtual cluster 3 past EOF */
	PATCH(put64(d + l2_off + 3 * 8, (1ull << 63) | (1ull << 39)),
	      "data cluster offset 0x8000000000 of virtual cluster 3 is past the end");
	/* compressed cluster descriptor out of range */
	PATCH(put64(d + l2_off + 3 * 8, (1ull << 62) | (1ull << 39)),
	      "compressed cluster descriptor of virtual cluster 3");
	/* compressed data that is not deflate */
	PATCH(put64(d + l2_off + 3 * 8, (1ull << 62) | 0x30000), "does not inflate");
#undef PATCH
	free(good);
	free(d);
}
END_TEST

START_TEST(check_finds_problems)
{
	size_t len;
	uint8_t *good = good_image(&len), *d = malloc(len);
	uint64_t l1_off = get64(good + 40), l2_off = get64(good + l1_off) & 0x00fffffffffffe00ull;
	struct vsl_stream *s;
	struct vsl_image *img;
	struct vsl_check_report rep;

	/* point virtual cluster 5 at the data cluster of virtual cluster 3: refcount 1, 2 refs */
	memcpy(d, good, len);
	memcpy(d + l2_off + 5 * 8, d + l2_off + 3 * 8, 8);
	s = vsl_stream_new_mem(ctx, d, len, VSL_STREAM_RDONLY);
	ck_assert_int_eq(vsl_image_open_stream(ctx, s, NULL, VSL_IMAGE_RDONLY, &img), 0);
	ck_assert_int_eq(vsl_image_check(img, &rep), 0);
	ck_assert_uint_ge(rep.corruptions, 1);
	ck_assert_ptr_nonnull(strstr(rep.first_problem, "reference=2"));
	vsl_image_close(img);

	/* drop the only reference to the data cluster: a leak, not a corruption */
	memcpy(d, good, len);
	memset(d + l2_off + 3 * 8, 0, 8);
	s = vsl_stream_new_mem(ctx, d, len, VSL_STREAM_RDONLY);
	ck_assert_int_eq(vsl_image_open_stream(ctx, s, NULL, VSL_IMAGE_RDONLY, &img), 0);
	ck_assert_int_eq(vsl_image_check(img, &rep), 0);
	ck_assert_uint_eq(rep.corruptions, 0);
	ck_assert_uint_eq(rep.leaks, 1);
	vsl_image_close(img);
	free(good);
	free(d);
}
END_TEST

START_TEST(refcount_orders)
{
	/* write with every refcount width; reopen and check */
	static const char *const widths[] = { "1", "2", "4", "8", "16", "32", "64" };

	for (size_t i = 0; i < VSL_ARRAY_SIZE(widths); i++) {
		char opt[32];
		const char *kv[] = { opt, "cluster_size=4096", NULL };
		uint8_t buf[10000];
		struct vsl_image *img, *re;

		snprintf(opt, sizeof(opt), "refcount_bits=%s", widths[i]);
		img = mem_create(2 << 20, kv, false);
		fill(buf, sizeof(buf), false);
		ck_assert_int_eq(vsl_image_write(img, 12345, buf, sizeof(buf)), 0);
		ck_assert_int_eq(vsl_image_write(img, 12345, buf, sizeof(buf)), 0);
		re = mem_reopen(img, VSL_IMAGE_RDONLY);
		assert_clean(re);
		vsl_image_close(re);
		vsl_image_close(img);
	}
}
END_TEST

START_TEST(create_options)
{
	struct vsl_stream *s = vsl_stream_new_mem(ctx, NULL, 0, VSL_STREAM_RDWR);
	const char *bad[] = { "cluster_size=1000", NULL };
	const char *unknown[] = { "colour=blue", NULL };
	struct vsl_image_opts o = { .kv = bad };
	struct vsl_image *img;

	ck_assert_int_eq(vsl_image_create_stream(ctx, s, "qcow2", 1 << 20, &o, &img), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "power of two"));
	o.kv = unknown;
	ck_assert_int_eq(vsl_image_create_stream(ctx, s, "qcow2", 1 << 20, &o, &img), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "unknown option 'colour'"));
	vsl_stream_free(s);
}
END_TEST

/* Writing into a qemu-img image with 512-byte clusters outgrows its refcount table. */
START_TEST(qemu_image_reftable_growth)
{
	char cmd[1200];
	struct vsl_image *img, *raw;
	uint8_t *buf = malloc(1 << 20);
	uint64_t rt_clusters = 0;
	FILE *f;
	uint8_t hdr[60];

	if (system("qemu-img --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "skip: qemu-img not found (package qemu-utils)\n");
		free(buf);
		return;
	}
	snprintf(cmd, sizeof(cmd), "qemu-img create -q -f qcow2 -o cluster_size=512 %s 64M",
		 at(0, "g.qcow2"));
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(vsl_image_open(ctx, at(0, "g.qcow2"), NULL, VSL_IMAGE_RDWR, &img), 0);
	ck_assert_int_eq(vsl_image_create(ctx, at(1, "g.raw"), "raw", 64 << 20, NULL, &raw), 0);
	for (int i = 0; i < 20; i++) {
		fill(buf, 1 << 20, i % 3 == 0);
		ck_assert_msg(vsl_image_write(img, (uint64_t)i << 20, buf, 1 << 20) == 0, "%s",
			      vsl_ctx_error(ctx));
		ck_assert_int_eq(vsl_image_write(raw, (uint64_t)i << 20, buf, 1 << 20), 0);
	}
	ck_assert_int_eq(vsl_image_flush(img), 0);
	vsl_image_close(img);
	vsl_image_close(raw);
	f = fopen(at(0, "g.qcow2"), "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	fclose(f);
	rt_clusters = (uint64_t)hdr[56] << 24 | hdr[57] << 16 | hdr[58] << 8 | hdr[59];
	ck_assert_uint_gt(rt_clusters, 1); /* it had to grow */
	snprintf(cmd, sizeof(cmd), "qemu-img check -q %s && qemu-img compare -q %s %s",
		 at(0, "g.qcow2"), at(0, "g.qcow2"), at(1, "g.raw"));
	ck_assert_int_eq(system(cmd), 0);
	free(buf);
}
END_TEST

/* ---- crash safety: kill a writer at random points ---- */

#define CRASH_BLOCKS 251u   /* prime: piece k of generation g uses block (3g + k) * 97 % 251 */
#define CRASH_BLOCK (96u * 1024)
#define CRASH_SIZE ((uint64_t)CRASH_BLOCKS * CRASH_BLOCK)

/* Piece k of generation g: block, offset inside it, length, fill byte. */
static void crash_piece(unsigned g, unsigned k, uint64_t *off, uint64_t *len, uint8_t *byte)
{
	uint64_t x = (uint64_t)g * 2654435761u + k * 40503u + 12345;
	unsigned blk = (g * 3 + k) * 97 % CRASH_BLOCKS; /* a permutation: never reused */

	*len = 1 + x % (CRASH_BLOCK - 1);
	*off = (uint64_t)blk * CRASH_BLOCK + (x >> 20) % (CRASH_BLOCK - *len + 1);
	*byte = (uint8_t)(1 + g % 250);
}

/* Generations 0..82 touch disjoint blocks (3 pieces each, 251 blocks). */
#define CRASH_GENS 83u

static void crash_writer(const char *path, int fd)
{
	struct vsl_ctx *c = vsl_ctx_new();
	struct vsl_image *img;
	uint8_t *buf = malloc(CRASH_BLOCK);

	if (!c || !buf || vsl_image_open(c, path, "qcow2", VSL_IMAGE_RDWR, &img) < 0)
		_exit(2);
	for (unsigned g = 0; g < CRASH_GENS; g++) {
		for (unsigned k = 0; k < 3; k++) {
			uint64_t off, len;
			uint8_t byte;
			crash_piece(g, k, &off, &len, &byte);
			memset(buf, byte, len);
			if (vsl_image_write(img, off, buf, len) < 0)
				_exit(3);
		}
		if (g % 4 == 3) {
			if (vsl_image_flush(img) < 0)
				_exit(4);
			/* tell the parent which generations are durable */
			if (write(fd, &g, sizeof(g)) != sizeof(g))
				_exit(5);
		}
	}
	vsl_image_close(img);
	_exit(0);
}

START_TEST(crash_kill_writer)
{
	const char *path = at(0, "crash.qcow2");
	bool have_qemu = system("qemu-img --version >/dev/null 2>&1") == 0;
	const char *kv[] = { "cluster_size=4096", NULL };
	struct vsl_image_opts o = { .kv = kv };
	uint8_t *buf = malloc(CRASH_BLOCK);

	srand((unsigned)time(NULL));
	for (int round = 0; round < 6; round++) {
		struct vsl_image *img;
		int pfd[2], status;
		unsigned g, last = ~0u;
		pid_t pid;
		char cmd[700];

		ck_assert_int_eq(vsl_image_create(ctx, path, "qcow2", CRASH_SIZE, &o, &img), 0);
		vsl_image_close(img);
		ck_assert_int_eq(pipe(pfd), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(pfd[0]);
			crash_writer(path, pfd[1]);
		}
		close(pfd[1]);
		usleep((useconds_t)(rand() % 40000) * (useconds_t)(round + 1));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		while (read(pfd[0], &g, sizeof(g)) == sizeof(g))
			last = g;
		close(pfd[0]);
		if (getenv("VSL_TEST_VERBOSE"))
			fprintf(stderr, "crash round %d: killed=%d, last flushed generation %d\n", round,
				WIFSIGNALED(status), (int)last);
		if (have_qemu) {
			/* 0: clean, 3: leaks only; anything else is a corruption */
			snprintf(cmd, sizeof(cmd), "qemu-img check -q %s >/dev/null 2>&1", path);
			int rc = system(cmd);
			ck_assert_msg(WIFEXITED(rc) && (WEXITSTATUS(rc) == 0 || WEXITSTATUS(rc) == 3),
				      "round %d: qemu-img check exit %d", round, WEXITSTATUS(rc));
		}
		ck_assert_int_eq(vsl_image_open(ctx, path, NULL, VSL_IMAGE_RDONLY, &img), 0);
		{
			struct vsl_check_report rep;
			ck_assert_int_eq(vsl_image_check(img, &rep), 0);
			ck_assert_msg(rep.corruptions == 0, "round %d: %s", round, rep.first_problem);
		}
		for (g = 0; last != ~0u && g <= last; g++)
			for (unsigned k = 0; k < 3; k++) {
				uint64_t off, len;
				uint8_t byte;
				crash_piece(g, k, &off, &len, &byte);
				ck_assert_int_eq(vsl_image_read(img, off, buf, len), 0);
				for (uint64_t i = 0; i < len; i++)
					if (buf[i] != byte)
						ck_abort_msg("round %d: generation %u (flushed) lost at %llu",
							     round, g, (unsigned long long)(off + i));
			}
		vsl_image_close(img);
	}
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qcow2");
	TCase *io = tcase_create("io"), *bk = tcase_create("backing"), *bad = tcase_create("hostile");
	TCase *crash = tcase_create("crash");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(io, setup, teardown);
	tcase_add_checked_fixture(bk, setup, teardown);
	tcase_add_checked_fixture(bad, setup, teardown);
	tcase_set_timeout(io, 120);
	tcase_set_timeout(bk, 60);
	tcase_add_test(io, roundtrip_64k_v3);
	tcase_add_test(io, roundtrip_512_v3);
	tcase_add_test(io, roundtrip_4k_v2);
	tcase_add_test(io, roundtrip_2m);
	tcase_add_test(io, compressed_writes);
	tcase_add_test(io, block_status_and_zero);
	tcase_add_test(io, resize_grows_l1);
	tcase_add_test(io, refcount_orders);
	tcase_add_test(io, create_options);
	tcase_add_test(bk, backing_cow);
	tcase_add_test(bk, backing_loop_and_depth);
	tcase_add_test(bk, qemu_image_reftable_growth);
	tcase_add_test(bad, hostile_headers);
	tcase_add_test(bad, check_finds_problems);
	tcase_add_checked_fixture(crash, setup, teardown);
	tcase_set_timeout(crash, 120);
	tcase_add_test(crash, crash_kill_writer);
	suite_add_tcase(s, io);
	suite_add_tcase(s, crash);
	suite_add_tcase(s, bk);
	suite_add_tcase(s, bad);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
