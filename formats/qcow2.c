/*
 * qcow2: QEMU's copy-on-write format, version 3 read/write and version 2
 * read (and write, when an existing v2 image is opened read-write).
 *
 * Reading follows the two-level map: virtual offset -> L1 entry -> L2 table
 * -> host cluster (plain, compressed with raw deflate, zero, or absent and
 * then read from the backing file or as zeroes). Runs of clusters that are
 * contiguous on the host are read with one pread.
 *
 * Writing allocates at the end of the file only (next_free) and keeps the
 * metadata in memory: the whole L1 table, a FIFO cache of L2 tables and the
 * refcount blocks, all written back lazily. Crash safety comes from the
 * order in which things reach the file:
 *
 *	1. data clusters are written at once (before any entry points at them);
 *	2. refcount blocks, then the refcount table, are written before any L2
 *	   table (so an allocated cluster is counted before it is referenced);
 *	3. L2 tables before the L1 table (so L1 never points to a table that
 *	   is not on disk);
 *	4. refcount decrements for clusters that lost their last reference are
 *	   applied only after the L2/L1 tables that dropped the reference.
 *
 * vsl_image_flush() runs the whole sequence with an fdatasync between the
 * steps; an L2 cache eviction writes refcounts first (and syncs unless the
 * image is VSL_IMAGE_UNSAFE, as conversion outputs are). A writer killed at
 * any point therefore leaves, at worst, leaked clusters (refcount > 0 but
 * unreferenced), which `qemu-img check` reports as leaks and not as
 * corruption, and everything written before the last flush is intact.
 *
 * Compressed writing (created with opts->compress) hands whole clusters to
 * a vsl_workpool: the workers deflate them with libdeflate, and the results
 * are retired in order here, packed back to back into host clusters as
 * QEMU does (a host cluster holding pieces of n compressed clusters has
 * refcount n).
 *
 * Untrusted images: every offset read from the file is checked (alignment,
 * past the end of the file, overlap with the header) before use, table sizes
 * are bounded (L1 <= 32 MiB, refcount table <= 8 MiB), and header fields and
 * extensions are parsed within the header cluster. Each failure names the
 * field and the entry, e.g. "qcow2: L2 table offset 0x... of L1 entry 5 is
 * past the end of the file (size 0x...)".
 */
#include <libdeflate.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2_int.h"

static const char *const qcow2_create_opts[] = {
	"cluster_size", "compat", "refcount_bits", "backing_file", "backing_fmt",
	"lazy_refcounts", "preallocation", "compression_type", "extended_l2",
	"compression_level", NULL
};

static int qcow2_err(struct qcow2 *q, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int qcow2_err(struct qcow2 *q, int code, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return vsl_set_error(q->ctx, 0, code, "%s: qcow2: %s", q->name, msg);
}

static bool qcow2_unsafe(const struct qcow2 *q)
{
	return (q->img->flags & VSL_IMAGE_UNSAFE) != 0;
}

static int qcow2_barrier(struct qcow2 *q)
{
	return qcow2_unsafe(q) ? 0 : vsl_stream_flush(q->s);
}

/* End of the host file as far as validation is concerned. */
static uint64_t qcow2_end(const struct qcow2 *q)
{
	return VSL_MAX(q->file_size, q->next_free);
}

/* ---- probe ---- */

static int qcow2_probe(struct vsl_stream *s)
{
	uint8_t h[8];

	if (vsl_stream_pread(s, h, sizeof(h), 0) != (int64_t)sizeof(h))
		return 0;
	if (qcow2_be32(h) != QCOW2_MAGIC)
		return 0;
	return qcow2_be32(h + 4) >= 2 && qcow2_be32(h + 4) <= 3 ? 100 : 50;
}

/* ---- host offset validation ---- */

static int qcow2_check_offset(struct qcow2 *q, uint64_t off, uint64_t len, const char *what,
			      const char *entry_kind, uint64_t entry)
{
	char where[64] = "";
	const char *problem;

	if (off & (q->cs - 1))
		problem = "is not aligned to the cluster size";
	else if (off < q->cs)
		problem = "overlaps the header";
	else if (off >= qcow2_end(q) || len > qcow2_end(q) - off)
		problem = "is past the end of the file";
	else
		return 0; /* the hot path: no formatting */
	if (entry_kind)
		snprintf(where, sizeof(where), " of %s %llu", entry_kind, (unsigned long long)entry);
	if (off & (q->cs - 1))
		return qcow2_err(q, VSL_ECORRUPT, "%s offset 0x%llx%s %s (%llu)", what,
				 (unsigned long long)off, where, problem, (unsigned long long)q->cs);
	if (off < q->cs)
		return qcow2_err(q, VSL_ECORRUPT, "%s offset 0x%llx%s %s", what,
				 (unsigned long long)off, where, problem);
	return qcow2_err(q, VSL_ECORRUPT, "%s offset 0x%llx%s %s (size 0x%llx)", what,
			 (unsigned long long)off, where, problem, (unsigned long long)qcow2_end(q));
}

/* ---- refcounts ---- */

int qcow2_rc_load_table(struct qcow2 *q)
{
	uint64_t bytes = (uint64_t)q->rt_clusters * q->cs;
	uint8_t *raw;
	int r;

	if (q->rc_loaded)
		return 0;
	if (bytes > QCOW2_MAX_REFTABLE_BYTES)
		return qcow2_err(q, VSL_ECORRUPT, "refcount table of %u clusters is larger than "
				 "the limit of %u bytes", q->rt_clusters, QCOW2_MAX_REFTABLE_BYTES);
	r = qcow2_check_offset(q, q->rt_offset, bytes, "refcount table", NULL, 0);
	if (r < 0)
		return r;
	raw = malloc(bytes);
	q->rt_entries = bytes / 8;
	q->rt = vsl_calloc(q->rt_entries, sizeof(*q->rt));
	q->rb = vsl_calloc(q->rt_entries, sizeof(*q->rb));
	q->rb_dirty = vsl_calloc(q->rt_entries, sizeof(*q->rb_dirty));
	if (!raw || !q->rt || !q->rb || !q->rb_dirty) {
		free(raw);
		return qcow2_err(q, VSL_ENOMEM, "out of memory for the refcount table");
	}
	r = vsl_stream_pread_full(q->s, raw, bytes, q->rt_offset);
	if (r < 0) {
		free(raw);
		return r;
	}
	for (uint64_t i = 0; i < q->rt_entries; i++)
		q->rt[i] = qcow2_be64(raw + 8 * i);
	free(raw);
	q->rt_dirty_lo = q->rt_entries;
	q->rt_dirty_hi = 0;
	q->rc_loaded = true;
	return 0;
}

/* Write back every dirty refcount block, then the dirty part of the table. */
static int qcow2_rc_writeback(struct qcow2 *q)
{
	int r;

	if (!q->rc_loaded)
		return 0;
	for (uint64_t i = 0; i < q->rt_entries; i++) {
		if (!q->rb_dirty[i])
			continue;
		r = vsl_stream_pwrite(q->s, q->rb[i], q->cs, q->rt[i]);
		if (r < 0)
			return r;
		q->rb_dirty[i] = false;
	}
	if (q->rt_dirty_lo < q->rt_dirty_hi) {
		uint64_t n = q->rt_dirty_hi - q->rt_dirty_lo;
		uint8_t *raw = malloc(n * 8);
		if (!raw)
			return qcow2_err(q, VSL_ENOMEM, "out of memory");
		for (uint64_t i = 0; i < n; i++)
			qcow2_put64(raw + 8 * i, q->rt[q->rt_dirty_lo + i]);
		r = vsl_stream_pwrite(q->s, raw, n * 8, q->rt_offset + q->rt_dirty_lo * 8);
		free(raw);
		if (r < 0)
			return r;
		q->rt_dirty_lo = q->rt_entries;
		q->rt_dirty_hi = 0;
	}
	return 0;
}

/* Drop clean cached refcount blocks when the cache grows beyond 64 MiB. */
static int qcow2_rc_trim(struct qcow2 *q)
{
	int r;

	if (q->rb_cached * q->cs <= (64u << 20))
		return 0;
	r = qcow2_rc_writeback(q);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < q->rt_entries; i++) {
		free(q->rb[i]);
		q->rb[i] = NULL;
	}
	q->rb_cached = 0;
	return 0;
}

int qcow2_rc_block(struct qcow2 *q, uint64_t i, uint8_t **out)
{
	int r;

	if (q->rb[i]) {
		*out = q->rb[i];
		return 0;
	}
	r = qcow2_rc_trim(q);
	if (r < 0)
		return r;
	r = qcow2_check_offset(q, q->rt[i], q->cs, "refcount block", "refcount table entry", i);
	if (r < 0)
		return r;
	q->rb[i] = malloc(q->cs);
	if (!q->rb[i])
		return qcow2_err(q, VSL_ENOMEM, "out of memory");
	r = vsl_stream_pread_full(q->s, q->rb[i], q->cs, q->rt[i]);
	if (r < 0) {
		free(q->rb[i]);
		q->rb[i] = NULL;
		return r;
	}
	q->rb_cached++;
	*out = q->rb[i];
	return 0;
}

static int qcow2_rc_update(struct qcow2 *q, uint64_t cluster, int64_t delta);
static int qcow2_rt_grow(struct qcow2 *q, uint64_t need);

/* Take n contiguous clusters at the end of the file, refcount 1 each. */
static int qcow2_alloc(struct qcow2 *q, uint64_t n, uint64_t *off)
{
	uint64_t start = q->next_free;
	int r;

	if (n > (1ull << 40) || start + n * q->cs < start)
		return qcow2_err(q, VSL_ERANGE, "cluster allocation beyond 2^64");
	q->next_free = start + n * q->cs;
	for (uint64_t i = 0; i < n; i++) {
		r = qcow2_rc_update(q, (start >> q->cluster_bits) + i, 1);
		if (r < 0)
			return r;
	}
	*off = start;
	return 0;
}

static int qcow2_rc_update(struct qcow2 *q, uint64_t cluster, int64_t delta)
{
	uint64_t i = cluster >> q->rb_shift, e = cluster & ((1ull << q->rb_shift) - 1);
	uint64_t max = q->refcount_order == 6 ? UINT64_MAX : (1ull << (1u << q->refcount_order)) - 1;
	uint64_t v;
	uint8_t *blk;
	int r;

	if (q->rc_depth > 8)
		return qcow2_err(q, VSL_ECORRUPT, "refcount block allocation does not converge "
				 "(refcount structures loop)");
	if (i >= q->rt_entries) {
		r = qcow2_rt_grow(q, i + 1);
		if (r < 0)
			return r;
	}
	if (!q->rt[i]) {
		uint64_t off;
		/* a new refcount block at the end of the file, counting itself if it can */
		if (delta < 0)
			return qcow2_err(q, VSL_ECORRUPT, "refcount of cluster 0x%llx would drop "
					 "below zero", (unsigned long long)cluster);
		off = q->next_free;
		q->next_free += q->cs;
		blk = calloc(1, q->cs);
		if (!blk)
			return qcow2_err(q, VSL_ENOMEM, "out of memory");
		q->rb[i] = blk;
		q->rb_cached++;
		q->rb_dirty[i] = true;
		q->rt[i] = off;
		q->rt_dirty_lo = VSL_MIN(q->rt_dirty_lo, i);
		q->rt_dirty_hi = VSL_MAX(q->rt_dirty_hi, i + 1);
		q->rc_depth++;
		r = qcow2_rc_update(q, off >> q->cluster_bits, 1);
		q->rc_depth--;
		if (r < 0)
			return r;
	}
	r = qcow2_rc_block(q, i, &blk);
	if (r < 0)
		return r;
	v = qcow2_rc_get(blk, q->refcount_order, e);
	if (delta > 0 && v > max - (uint64_t)delta)
		return qcow2_err(q, VSL_ECORRUPT, "refcount of cluster 0x%llx overflows",
				 (unsigned long long)cluster);
	if (delta < 0 && v < (uint64_t)-delta)
		return qcow2_err(q, VSL_ECORRUPT, "refcount of cluster 0x%llx would drop below "
				 "zero", (unsigned long long)cluster);
	qcow2_rc_put(blk, q->refcount_order, e, v + (uint64_t)delta);
	q->rb_dirty[i] = true;
	return 0;
}

/*
 * Grow the refcount table to at least `need` entries: write a bigger copy
 * at the end of the file (its clusters counted by the blocks it lists),
 * switch the header to it, then release the old one.
 */
static int qcow2_rt_grow(struct qcow2 *q, uint64_t need)
{
	uint64_t per = q->cs / 8, n = VSL_MAX(need, q->rt_entries * 2);
	uint64_t nclusters, off, old_off = q->rt_offset, old_clusters = q->rt_clusters;
	uint8_t hdr[12], **rb;
	uint64_t *rt;
	bool *rbd;
	int r;

	n = VSL_ALIGN_UP(n + per, per); /* room for the blocks this growth adds */
	nclusters = n / per;
	if (n * 8 > QCOW2_MAX_REFTABLE_BYTES)
		return qcow2_err(q, VSL_ERANGE, "refcount table would exceed %u bytes",
				 QCOW2_MAX_REFTABLE_BYTES);
	rt = vsl_reallocarray(q->rt, n, sizeof(*rt));
	if (rt)
		q->rt = rt;
	rb = vsl_reallocarray(q->rb, n, sizeof(*rb));
	if (rb)
		q->rb = rb;
	rbd = vsl_reallocarray(q->rb_dirty, n, sizeof(*rbd));
	if (rbd)
		q->rb_dirty = rbd;
	if (!rt || !rb || !rbd)
		return qcow2_err(q, VSL_ENOMEM, "out of memory");
	memset(q->rt + q->rt_entries, 0, (n - q->rt_entries) * sizeof(*rt));
	memset(q->rb + q->rt_entries, 0, (n - q->rt_entries) * sizeof(*rb));
	memset(q->rb_dirty + q->rt_entries, 0, (n - q->rt_entries) * sizeof(*rbd));
	q->rt_entries = n;
	r = qcow2_alloc(q, nclusters, &off);
	if (r < 0)
		return r;
	/* blocks first, then the new table, then the header points at it */
	q->rt_offset = off;
	q->rt_clusters = (uint32_t)nclusters;
	q->rt_dirty_lo = 0;
	q->rt_dirty_hi = n;
	r = qcow2_rc_writeback(q);
	if (r == 0)
		r = qcow2_barrier(q);
	if (r < 0)
		return r;
	qcow2_put64(hdr, off);
	qcow2_put32(hdr + 8, (uint32_t)nclusters);
	r = vsl_stream_pwrite(q->s, hdr, sizeof(hdr), 48);
	if (r == 0)
		r = qcow2_barrier(q);
	if (r < 0)
		return r;
	for (uint64_t c = 0; c < old_clusters && old_off; c++) {
		r = qcow2_rc_update(q, (old_off >> q->cluster_bits) + c, -1);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Release clusters later, once the tables that referenced them are on disk. */
static int qcow2_defer_free(struct qcow2 *q, uint64_t off, uint64_t len)
{
	if (q->nfrees && q->frees[q->nfrees - 1].off + q->frees[q->nfrees - 1].len == off) {
		q->frees[q->nfrees - 1].len += len;
		return 0;
	}
	if (q->nfrees == q->frees_cap) {
		size_t cap = q->frees_cap ? q->frees_cap * 2 : 64;
		struct qcow2_free *f = vsl_reallocarray(q->frees, cap, sizeof(*f));
		if (!f)
			return qcow2_err(q, VSL_ENOMEM, "out of memory");
		q->frees = f;
		q->frees_cap = cap;
	}
	q->frees[q->nfrees++] = (struct qcow2_free){ off, len };
	return 0;
}

/* Drop the reference an L2 entry held (deferred). */
static int qcow2_release_entry(struct qcow2 *q, uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED) {
		uint64_t start, len;
		/* one reference per host cluster the compressed bytes touch */
		qcow2_compressed_range(q, e, &start, &len);
		for (uint64_t c = start >> q->cluster_bits; c <= (start + len - 1) >> q->cluster_bits;
		     c++) {
			int r = qcow2_defer_free(q, c << q->cluster_bits, q->cs);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (e & QCOW2_OFFSET_MASK)
		return qcow2_defer_free(q, e & QCOW2_OFFSET_MASK, q->cs);
	return 0;
}

static int qcow2_apply_frees(struct qcow2 *q)
{
	for (size_t i = 0; i < q->nfrees; i++)
		for (uint64_t o = 0; o < q->frees[i].len; o += q->cs) {
			int r = qcow2_rc_update(q, (q->frees[i].off + o) >> q->cluster_bits, -1);
			if (r < 0)
				return r;
		}
	q->nfrees = 0;
	return 0;
}

/* ---- L2 cache ---- */

static int qcow2_l2_writeback(struct qcow2 *q, struct qcow2_l2slot *sl)
{
	int r;

	if (!sl->dirty)
		return 0;
	/* ordering rule 2: every allocation this table refers to is counted first */
	r = qcow2_rc_writeback(q);
	if (r == 0)
		r = qcow2_barrier(q);
	if (r == 0)
		r = vsl_stream_pwrite(q->s, sl->tab, q->cs, sl->off);
	if (r == 0)
		sl->dirty = false;
	return r;
}

static int qcow2_l1_writeback(struct qcow2 *q)
{
	uint32_t lo = q->l1_dirty_lo, hi = q->l1_dirty_hi;
	uint8_t *raw;
	int r;

	if (lo >= hi)
		return 0;
	raw = malloc((size_t)(hi - lo) * 8);
	if (!raw)
		return qcow2_err(q, VSL_ENOMEM, "out of memory");
	for (uint32_t i = lo; i < hi; i++)
		qcow2_put64(raw + 8 * (i - lo), q->l1[i]);
	r = vsl_stream_pwrite(q->s, raw, (size_t)(hi - lo) * 8, q->l1_offset + (uint64_t)lo * 8);
	free(raw);
	if (r == 0) {
		q->l1_dirty_lo = q->l1_size;
		q->l1_dirty_hi = 0;
	}
	return r;
}

static void qcow2_l1_set(struct qcow2 *q, uint64_t i, uint64_t v)
{
	q->l1[i] = v;
	q->l1_dirty_lo = VSL_MIN(q->l1_dirty_lo, (uint32_t)i);
	q->l1_dirty_hi = VSL_MAX(q->l1_dirty_hi, (uint32_t)i + 1);
}

/* A free slot (evicting the oldest); returns its index. */
static int qcow2_l2_slot(struct qcow2 *q, unsigned *slot)
{
	struct qcow2_l2slot *sl = &q->l2c[q->l2c_next];
	int r;

	if (sl->off) {
		r = qcow2_l2_writeback(q, sl);
		if (r < 0)
			return r;
		q->l1_slot[sl->l1_index] = 0;
		sl->off = 0;
	}
	if (!sl->tab) {
		sl->tab = malloc(q->cs);
		if (!sl->tab)
			return qcow2_err(q, VSL_ENOMEM, "out of memory");
	}
	*slot = q->l2c_next;
	q->l2c_next = (q->l2c_next + 1) % q->l2c_n;
	return 0;
}

/*
 * The L2 table for L1 entry i, or NULL in *out when there is none and
 * `alloc` is false. With `alloc`, a missing or shared (not COPIED) table is
 * replaced by a new one (a copy) and the L1 entry updated in memory.
 * The pointer is valid until the next call that may evict (any L2 access).
 */
static int qcow2_l2_get(struct qcow2 *q, uint64_t i, bool alloc, struct qcow2_l2slot **out)
{
	uint64_t e = q->l1[i], off = e & QCOW2_OFFSET_MASK, noff = 0;
	struct qcow2_l2slot *sl;
	unsigned slot = 0;
	int r;

	*out = NULL;
	if (!off && !alloc)
		return 0;
	if (q->l1_slot[i]) {
		slot = q->l1_slot[i] - 1;
		sl = &q->l2c[slot];
	} else {
		if (off) {
			r = qcow2_check_offset(q, off, q->cs, "L2 table", "L1 entry", i);
			if (r < 0)
				return r;
		}
		r = qcow2_l2_slot(q, &slot);
		if (r < 0)
			return r;
		sl = &q->l2c[slot];
		if (off) {
			r = vsl_stream_pread_full(q->s, sl->tab, q->cs, off);
			if (r < 0)
				return r;
			sl->off = off;
			sl->l1_index = i;
			sl->dirty = false;
			q->l1_slot[i] = slot + 1;
		} else {
			memset(sl->tab, 0, q->cs);
		}
	}
	if (off && (!alloc || (e & QCOW2_OFLAG_COPIED))) {
		*out = sl;
		return 0;
	}
	/* a new table: the loaded copy of the shared one, or zeroes */
	r = qcow2_alloc(q, 1, &noff);
	if (r < 0)
		return r;
	sl->off = noff;
	sl->l1_index = i;
	sl->dirty = true;
	q->l1_slot[i] = slot + 1;
	qcow2_l1_set(q, i, noff | QCOW2_OFLAG_COPIED);
	if (off) {
		r = qcow2_defer_free(q, off, q->cs);
		if (r < 0)
			return r;
	}
	*out = sl;
	return 0;
}

static inline uint64_t qcow2_l2e(const struct qcow2_l2slot *sl, uint64_t j)
{
	return qcow2_be64(&sl->tab[j]);
}

static inline void qcow2_l2e_set(struct qcow2_l2slot *sl, uint64_t j, uint64_t v)
{
	qcow2_put64(&sl->tab[j], v);
	sl->dirty = true;
}

static int qcow2_drain(struct qcow2 *q);

/* Writes back everything in the order of the file comment. */
int qcow2_flush_all(struct qcow2 *q)
{
	int r;

	if (!(q->img->flags & VSL_IMAGE_RDWR))
		return 0;
	r = qcow2_drain(q);
	if (r < 0)
		return r;
	r = qcow2_rc_writeback(q);
	if (r == 0)
		r = qcow2_barrier(q);
	for (unsigned i = 0; r == 0 && i < q->l2c_n; i++) {
		struct qcow2_l2slot *sl = &q->l2c[i];
		if (!sl->off || !sl->dirty)
			continue;
		r = vsl_stream_pwrite(q->s, sl->tab, q->cs, sl->off);
		if (r == 0)
			sl->dirty = false;
	}
	if (r == 0)
		r = qcow2_barrier(q);
	if (r == 0)
		r = qcow2_l1_writeback(q);
	if (r == 0 && q->nfrees) {
		r = qcow2_barrier(q);
		if (r == 0)
			r = qcow2_apply_frees(q);
		if (r == 0)
			r = qcow2_rc_writeback(q);
	}
	if (r == 0)
		r = qcow2_barrier(q);
	return r;
}

/* ---- decompression ---- */

static int qcow2_decompress(struct qcow2 *q, uint64_t e, uint64_t vcluster)
{
	uint64_t start, len;
	size_t got = 0;
	int64_t n;
	enum libdeflate_result res;

	if (q->cbuf_host == e)
		return 0;
	qcow2_compressed_range(q, e, &start, &len);
	if (start < q->cs || start >= qcow2_end(q) || len > 2 * q->cs ||
	    start + len > qcow2_end(q) + 512)
		return qcow2_err(q, VSL_ECORRUPT, "compressed cluster descriptor of virtual "
				 "cluster %llu (host offset 0x%llx, %llu bytes) is out of range "
				 "(file size 0x%llx)", (unsigned long long)vcluster,
				 (unsigned long long)start, (unsigned long long)len,
				 (unsigned long long)qcow2_end(q));
	if (!q->dec) {
		q->dec = libdeflate_alloc_decompressor();
		q->cbuf_in = malloc(2 * q->cs);
		q->cbuf_out = malloc(q->cs);
		if (!q->dec || !q->cbuf_in || !q->cbuf_out)
			return qcow2_err(q, VSL_ENOMEM, "out of memory");
	}
	n = vsl_stream_pread(q->s, q->cbuf_in, len, start);
	if (n < 0)
		return (int)n;
	memset(q->cbuf_in + n, 0, len - (size_t)n);
	q->cbuf_host = 0;
	res = libdeflate_deflate_decompress(q->dec, q->cbuf_in, len, q->cbuf_out, q->cs, &got);
	if (res != LIBDEFLATE_SUCCESS || got != q->cs)
		return qcow2_err(q, VSL_ECORRUPT, "compressed cluster at host offset 0x%llx "
				 "(virtual cluster %llu) does not inflate to %llu bytes%s",
				 (unsigned long long)start, (unsigned long long)vcluster,
				 (unsigned long long)q->cs,
				 res == LIBDEFLATE_BAD_DATA ? " (bad deflate data)" : "");
	q->cbuf_host = e;
	return 0;
}

/* ---- mapping ---- */

enum qcow2_kind { QK_UNALLOC, QK_ZERO, QK_DATA, QK_COMPRESSED };

/*
 * Classify the run of clusters starting at virtual offset off (at most len
 * bytes, not crossing an L2 table): kind, length and, for QK_DATA, the host
 * offset of off (the run is host-contiguous).
 */
static int qcow2_map(struct qcow2 *q, uint64_t off, uint64_t len, enum qcow2_kind *kind,
		     uint64_t *pnum, uint64_t *host, uint64_t *entry)
{
	uint64_t vc = off >> q->cluster_bits;
	uint64_t i = vc / q->l2_entries, j = vc % q->l2_entries;
	uint64_t in = off & (q->cs - 1), n, e, first_host = 0;
	struct qcow2_l2slot *sl;
	enum qcow2_kind k = QK_UNALLOC;
	int r;

	if (i >= q->l1_size)
		return qcow2_err(q, VSL_ECORRUPT, "virtual offset 0x%llx needs L1 entry %llu but "
				 "the L1 table has %u entries", (unsigned long long)off,
				 (unsigned long long)i, q->l1_size);
	/* the run never crosses the L2 table */
	len = VSL_MIN(len, (q->l2_entries - j) * q->cs - in);
	r = qcow2_l2_get(q, i, false, &sl);
	if (r < 0)
		return r;
	if (!sl) {
		*kind = QK_UNALLOC;
		*pnum = len;
		*entry = 0;
		return 0;
	}
	for (n = 0; n < len; j++) {
		uint64_t chunk = VSL_MIN(q->cs - in, len - n);
		enum qcow2_kind ck;
		uint64_t h = 0;

		e = qcow2_l2e(sl, j);
		if (e & QCOW2_OFLAG_COMPRESSED) {
			ck = QK_COMPRESSED;
		} else if ((e & QCOW2_OFLAG_ZERO) && q->version >= 3) {
			ck = QK_ZERO;
		} else if (e & QCOW2_OFFSET_MASK) {
			ck = QK_DATA;
			h = e & QCOW2_OFFSET_MASK;
			r = qcow2_check_offset(q, h, q->cs, "data cluster", "virtual cluster",
					       i * q->l2_entries + j);
			if (r < 0)
				return r;
		} else {
			ck = QK_UNALLOC;
		}
		if (n == 0) {
			k = ck;
			*entry = e;
			first_host = h + in;
		} else if (ck != k || ck == QK_COMPRESSED ||
			   (ck == QK_DATA && h != first_host - in + n)) {
			break;
		}
		n += chunk;
		in = 0;
		if (k == QK_COMPRESSED)
			break;
	}
	*kind = k;
	*pnum = n;
	*host = first_host;
	return 0;
}

/* ---- read ---- */

static int qcow2_read_unalloc(struct qcow2 *q, uint64_t off, uint8_t *buf, uint64_t n)
{
	struct vsl_image *b = q->img->backing;

	if (b && off < b->size) {
		uint64_t bn = VSL_MIN(n, b->size - off);
		int r = vsl_image_read(b, off, buf, bn);
		if (r < 0)
			return r;
		buf += bn;
		n -= bn;
	}
	memset(buf, 0, n);
	return 0;
}

static int qcow2_write_compressed(struct qcow2 *q, uint64_t vc, const uint8_t *data, size_t n);

/* Hand the cluster gathered from partial writes to the compressor. */
static int qcow2_pend_flush(struct qcow2 *q)
{
	uint64_t vc = q->pend_vc;

	if (vc == UINT64_MAX)
		return 0;
	q->pend_vc = UINT64_MAX;
	if (!q->img->backing && vsl_buf_is_zero(q->pend_buf, q->cs))
		return 0;
	return qcow2_write_compressed(q, vc, q->pend_buf, q->cs);
}

/* Finish every pending compressed write (before any other access). */
static int qcow2_drain(struct qcow2 *q)
{
	int r = qcow2_pend_flush(q);

	if (r == 0 && q->wp)
		r = vsl_workpool_drain(q->wp);
	return r;
}

static int qcow2_read(struct vsl_image *img, uint64_t off, void *buf, size_t len)
{
	struct qcow2 *q = img->priv;
	uint8_t *b = buf;
	int r = qcow2_drain(q);

	while (r == 0 && len) {
		enum qcow2_kind k;
		uint64_t n, host, e;

		r = qcow2_map(q, off, len, &k, &n, &host, &e);
		if (r < 0)
			break;
		switch (k) {
		case QK_UNALLOC:
			r = qcow2_read_unalloc(q, off, b, n);
			break;
		case QK_ZERO:
			memset(b, 0, n);
			break;
		case QK_DATA: {
			int64_t got = vsl_stream_pread(q->s, b, n, host);
			if (got < 0)
				r = (int)got;
			else if ((uint64_t)got < n)
				r = qcow2_err(q, VSL_ECORRUPT, "data at host offset 0x%llx is past "
					      "the end of the file", (unsigned long long)(host + got));
			break;
		}
		case QK_COMPRESSED:
			r = qcow2_decompress(q, e, off >> q->cluster_bits);
			if (r == 0)
				memcpy(b, q->cbuf_out + (off & (q->cs - 1)), n);
			break;
		}
		off += n;
		b += n;
		len -= n;
	}
	return r;
}

/* ---- block status / map ---- */

static int qcow2_block_status(struct vsl_image *img, uint64_t off, uint64_t len,
			      uint64_t *pnum, int *flags)
{
	struct qcow2 *q = img->priv;
	uint64_t done = 0, n, host, e;
	enum qcow2_kind k, first = QK_UNALLOC;
	int r = qcow2_drain(q);

	if (r < 0)
		return r;
	/* merge runs of the same kind across L2 tables (bounded work per call) */
	while (done < len) {
		r = qcow2_map(q, off + done, len - done, &k, &n, &host, &e);
		if (r < 0)
			return r;
		if (k == QK_COMPRESSED)
			k = QK_DATA;
		if (done == 0)
			first = k;
		else if (k != first)
			break;
		done += n;
		if (done >= (1ull << 32))
			break;
	}
	*pnum = done;
	switch (first) {
	case QK_ZERO:
		*flags = VSL_BLOCK_ZERO;
		break;
	case QK_DATA:
		*flags = VSL_BLOCK_DATA;
		break;
	default:
		if (img->backing && off < img->backing->size) {
			uint64_t bn = VSL_MIN(done, img->backing->size - off);
			r = vsl_image_block_status(img->backing, off, bn, pnum, flags);
			if (r < 0)
				return r;
			*flags |= VSL_BLOCK_BACKING;
		} else {
			if (img->backing)
				*pnum = done;
			*flags = VSL_BLOCK_ZERO;
		}
	}
	return 0;
}

static int qcow2_host_offset(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			     uint64_t *host)
{
	struct qcow2 *q = img->priv;
	enum qcow2_kind k;
	uint64_t e;
	int r = qcow2_drain(q);

	if (r == 0)
		r = qcow2_map(q, off, len, &k, pnum, host, &e);
	if (r == 0 && k != QK_DATA)
		*host = VSL_IMAGE_NO_HOST;
	return r;
}

/* ---- write ---- */

/* A plain cluster this image owns alone: writable in place. */
static bool qcow2_inplace(const struct qcow2 *q, uint64_t e)
{
	return !(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_OFLAG_COPIED) &&
	       (e & QCOW2_OFFSET_MASK) && !((e & QCOW2_OFLAG_ZERO) && q->version >= 3);
}

/* Current contents of virtual cluster vc (whole cluster) into buf. */
static int qcow2_read_cluster(struct qcow2 *q, uint64_t vc, uint8_t *buf)
{
	uint64_t off = vc << q->cluster_bits;
	uint64_t n = VSL_MIN(q->cs, q->img->size - off);

	memset(buf + n, 0, q->cs - n);
	return qcow2_read(q->img, off, buf, n);
}

/*
 * Write [off, off+len) which lies inside one L2 table. In-place where the
 * cluster is ours (COPIED, plain), else new clusters: full clusters straight
 * from buf (one pwrite per run), partial ones merged with the old contents.
 */
static int qcow2_write_span(struct qcow2 *q, uint64_t off, const uint8_t *buf, uint64_t len)
{
	uint64_t vc0 = off >> q->cluster_bits, i = vc0 / q->l2_entries;
	struct qcow2_l2slot *sl;
	uint64_t pos = 0;
	uint8_t *tmp = NULL;
	int r;

	/* nothing to do for zeroes over clusters that already read as zero */
	if (!q->img->backing && vsl_buf_is_zero(buf, len)) {
		r = qcow2_l2_get(q, i, false, &sl);
		if (r < 0)
			return r;
		if (!sl)
			return 0;
	}
	r = qcow2_l2_get(q, i, true, &sl);
	if (r < 0)
		return r;
	while (pos < len) {
		uint64_t o = off + pos, vc = o >> q->cluster_bits, j = vc % q->l2_entries;
		uint64_t in = o & (q->cs - 1), chunk = VSL_MIN(q->cs - in, len - pos);
		uint64_t e = qcow2_l2e(sl, j), vend = VSL_MIN((vc + 1) << q->cluster_bits, q->img->size);
		bool full = in == 0 && o + chunk == vend;

		if (qcow2_inplace(q, e)) {
			/* in place, extended over following host-contiguous clusters of ours */
			uint64_t h0 = e & QCOW2_OFFSET_MASK, n = chunk, c = 1;
			r = qcow2_check_offset(q, h0, q->cs, "data cluster", "virtual cluster", vc);
			while (r == 0 && pos + n < len && j + c < q->l2_entries) {
				uint64_t ee = qcow2_l2e(sl, j + c);
				if (!qcow2_inplace(q, ee) || (ee & QCOW2_OFFSET_MASK) != h0 + c * q->cs)
					break;
				r = qcow2_check_offset(q, h0 + c * q->cs, q->cs, "data cluster",
						       "virtual cluster", vc + c);
				n += VSL_MIN(q->cs, len - pos - n);
				c++;
			}
			if (r == 0)
				r = vsl_stream_pwrite(q->s, buf + pos, n, h0 + in);
			if (r < 0)
				goto out;
			pos += n;
			continue;
		}
		if (full && !q->img->backing && !(e & ~QCOW2_OFLAG_ZERO) &&
		    vsl_buf_is_zero(buf + pos, chunk)) {
			pos += chunk; /* unallocated or zero cluster stays so */
			continue;
		}
		if (full && in == 0 && chunk == q->cs) {
			/* a run of whole clusters that all need new space */
			uint64_t n = 1, h = 0;
			while (pos + (n + 1) * q->cs <= len && j + n < q->l2_entries) {
				if (qcow2_inplace(q, qcow2_l2e(sl, j + n)))
					break;
				n++;
			}
			r = qcow2_alloc(q, n, &h);
			if (r == 0)
				r = vsl_stream_pwrite(q->s, buf + pos, n * q->cs, h);
			for (uint64_t c = 0; r == 0 && c < n; c++) {
				uint64_t old = qcow2_l2e(sl, j + c);
				qcow2_l2e_set(sl, j + c, (h + c * q->cs) | QCOW2_OFLAG_COPIED);
				r = qcow2_release_entry(q, old);
			}
			if (r < 0)
				goto out;
			pos += n * q->cs;
			continue;
		}
		/* partial cluster (or the short last one): read, merge, write anew */
		{
			uint64_t h = 0;
			if (!tmp && !(tmp = malloc(q->cs))) {
				r = qcow2_err(q, VSL_ENOMEM, "out of memory");
				goto out;
			}
			r = qcow2_read_cluster(q, vc, tmp);
			if (r < 0)
				goto out;
			memcpy(tmp + in, buf + pos, chunk);
			/* the read may have evicted our table: fetch it again */
			r = qcow2_l2_get(q, i, true, &sl);
			if (r == 0)
				r = qcow2_alloc(q, 1, &h);
			if (r == 0)
				r = vsl_stream_pwrite(q->s, tmp, q->cs, h);
			if (r == 0) {
				e = qcow2_l2e(sl, j);
				qcow2_l2e_set(sl, j, h | QCOW2_OFLAG_COPIED);
				r = qcow2_release_entry(q, e);
			}
			if (r < 0)
				goto out;
			pos += chunk;
		}
	}
out:
	free(tmp);
	return r;
}

/* ---- compressed writing ---- */

struct qcow2_cjob {
	uint64_t vc;          /* virtual cluster */
	size_t clen;          /* compressed length; 0 = store uncompressed */
	uint8_t *in, *out;
};

/*
 * Default deflate level for -c. libdeflate's levels are not zlib's: measured
 * on 64 KiB clusters of /usr/lib binaries, its level 2 compresses to 39.1%
 * where zlib level 6 (qemu-img's) gives 39.8%, with 3.8 times less CPU
 * (level 1: 40.9% at 5.1x; level 6: 37.6% at 2.4x). -o compression_level=1..12
 * trades one for the other.
 */
#define QCOW2_DEFAULT_CLEVEL 2

/* Per worker thread: one libdeflate compressor per level, made on first use. */
struct qcow2_comp_tls {
	struct libdeflate_compressor *c[13];
};

static pthread_key_t qcow2_comp_key;
static pthread_once_t qcow2_comp_once = PTHREAD_ONCE_INIT;

static void qcow2_comp_free(void *p)
{
	struct qcow2_comp_tls *t = p;

	for (size_t i = 0; i < VSL_ARRAY_SIZE(t->c); i++)
		if (t->c[i])
			libdeflate_free_compressor(t->c[i]);
	free(t);
}

static void qcow2_comp_init(void)
{
	pthread_key_create(&qcow2_comp_key, qcow2_comp_free);
}

static struct libdeflate_compressor *qcow2_compressor(unsigned level)
{
	struct qcow2_comp_tls *t = pthread_getspecific(qcow2_comp_key);

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		pthread_setspecific(qcow2_comp_key, t);
	}
	if (!t->c[level])
		t->c[level] = libdeflate_alloc_compressor((int)level);
	return t->c[level];
}

/*
 * Cheap test for data that deflate cannot shrink (already compressed or
 * encrypted data, random bytes): compress two 4 KiB samples at level 1;
 * when neither gains 2%, storing the cluster uncompressed is what full
 * compression would end up doing anyway, at an eighth of the cost.
 */
#define QCOW2_SAMPLE 4096

static bool qcow2_incompressible(struct libdeflate_compressor *fast, const uint8_t *in,
				 uint64_t cs, uint8_t *out)
{
	if (cs < 8 * QCOW2_SAMPLE)
		return false;
	for (unsigned k = 0; k < 2; k++) {
		size_t n = libdeflate_deflate_compress(fast, in + k * (cs / 2), QCOW2_SAMPLE, out,
						       QCOW2_SAMPLE - QCOW2_SAMPLE / 50);
		if (n)
			return false;
	}
	return true;
}

static int qcow2_cjob_work(void *opaque, void *job)
{
	struct qcow2 *q = opaque;
	struct qcow2_cjob *cj = job;
	struct libdeflate_compressor *c = qcow2_compressor(q->clevel);
	struct libdeflate_compressor *fast = qcow2_compressor(1);

	if (!c || !fast)
		return VSL_ENOMEM;
	if (qcow2_incompressible(fast, cj->in, q->cs, cj->out)) {
		cj->clen = 0;
		return 0;
	}
	/* QEMU stores a cluster uncompressed when deflate does not make it smaller */
	cj->clen = libdeflate_deflate_compress(c, cj->in, q->cs, cj->out, q->cs - 1);
	return 0;
}

static void qcow2_cjob_free(struct qcow2_cjob *cj)
{
	if (cj) {
		free(cj->in);
		free(cj);
	}
}

/* Place one compressed cluster in the file (retire order = submission order). */
static int qcow2_cjob_retire(void *opaque, void *job, int status)
{
	struct qcow2 *q = opaque;
	struct qcow2_cjob *cj = job;
	uint64_t i = cj->vc / q->l2_entries, j = cj->vc % q->l2_entries, e, start = 0, desc;
	struct qcow2_l2slot *sl;
	unsigned shift = 62 - (q->cluster_bits - 8);
	int r = status;

	if (r == VSL_ENOMEM)
		r = qcow2_err(q, VSL_ENOMEM, "out of memory for a compressor");
	if (r < 0)
		goto out;
	if (!cj->clen) {
		uint64_t h = 0;
		r = qcow2_l2_get(q, i, true, &sl);
		if (r == 0)
			r = qcow2_alloc(q, 1, &h);
		if (r == 0)
			r = vsl_stream_pwrite(q->s, cj->in, q->cs, h);
		if (r < 0)
			goto out;
		e = qcow2_l2e(sl, j);
		qcow2_l2e_set(sl, j, h | QCOW2_OFLAG_COPIED);
		r = qcow2_release_entry(q, e);
		goto out;
	}
	r = qcow2_l2_get(q, i, true, &sl);
	if (r < 0)
		goto out;
	if (q->cpos && q->cpos < q->cend && q->cpos + cj->clen <= q->cend) {
		/* fits in the current host cluster */
		start = q->cpos;
		r = qcow2_rc_update(q, start >> q->cluster_bits, 1);
	} else if (q->cpos && q->cpos < q->cend && q->next_free == q->cend) {
		/* spans into the next cluster, which is the next one allocated */
		uint64_t h = 0;
		start = q->cpos;
		r = qcow2_rc_update(q, start >> q->cluster_bits, 1);
		if (r == 0)
			r = qcow2_alloc(q, 1, &h);
		q->cend = h + q->cs;
	} else {
		r = qcow2_alloc(q, 1, &start);
		q->cend = start + q->cs;
	}
	if (r < 0)
		goto out;
	r = vsl_stream_pwrite(q->s, cj->out, cj->clen, start);
	if (r < 0)
		goto out;
	q->cpos = start + cj->clen;
	desc = ((start + cj->clen - 1) >> 9) - (start >> 9);
	/* the table may have been evicted by the allocations above */
	r = qcow2_l2_get(q, i, true, &sl);
	if (r < 0)
		goto out;
	e = qcow2_l2e(sl, j);
	qcow2_l2e_set(sl, j, QCOW2_OFLAG_COMPRESSED | (desc << shift) | start);
	r = qcow2_release_entry(q, e);
out:
	qcow2_cjob_free(cj);
	return r;
}

static int qcow2_write_compressed(struct qcow2 *q, uint64_t vc, const uint8_t *data, size_t n)
{
	struct qcow2_cjob *cj = calloc(1, sizeof(*cj));
	int r;

	if (!q->wp) {
		pthread_once(&qcow2_comp_once, qcow2_comp_init);
		q->wp = vsl_workpool_new(q->ctx, q->threads, 0, qcow2_cjob_work, qcow2_cjob_retire,
					 q);
		if (!q->wp) {
			free(cj);
			return VSL_ENOMEM;
		}
	}
	if (!cj || !(cj->in = malloc(2 * q->cs))) {
		free(cj);
		return qcow2_err(q, VSL_ENOMEM, "out of memory");
	}
	cj->out = cj->in + q->cs;
	cj->vc = vc;
	memcpy(cj->in, data, n);
	memset(cj->in + n, 0, q->cs - n);
	r = vsl_workpool_submit(q->wp, cj);
	return r;
}

static int qcow2_write(struct vsl_image *img, uint64_t off, const void *buf, size_t len)
{
	struct qcow2 *q = img->priv;
	const uint8_t *b = buf;
	int r = 0;

	if (q->compress) {
		/*
		 * Clusters that are unallocated go through the compressor: whole
		 * ones at once, partial ones once gathered (writes arrive in
		 * increasing order when converting, so a cluster is complete when
		 * a write lands in another one).
		 */
		while (len) {
			uint64_t vc = off >> q->cluster_bits, in = off & (q->cs - 1);
			uint64_t vend = VSL_MIN((vc + 1) << q->cluster_bits, img->size);
			uint64_t chunk = VSL_MIN(vend - off, len);
			enum qcow2_kind k;
			uint64_t n, host, e;

			if (q->pend_vc != UINT64_MAX && q->pend_vc != vc)
				r = qcow2_pend_flush(q);
			if (r == 0 && q->pend_vc == vc) {
				memcpy(q->pend_buf + in, b, chunk);
				goto next;
			}
			if (r == 0 && q->wp)
				r = vsl_workpool_poll(q->wp);
			if (r == 0)
				r = qcow2_map(q, off, chunk, &k, &n, &host, &e);
			if (r < 0)
				return r;
			if (k == QK_UNALLOC || k == QK_ZERO) {
				if (in == 0 && off + chunk == vend) {
					if (img->backing || !vsl_buf_is_zero(b, chunk))
						r = qcow2_write_compressed(q, vc, b, chunk);
				} else {
					if (!q->pend_buf && !(q->pend_buf = malloc(q->cs)))
						return qcow2_err(q, VSL_ENOMEM, "out of memory");
					if (k == QK_UNALLOC && img->backing)
						r = qcow2_read_cluster(q, vc, q->pend_buf);
					else
						memset(q->pend_buf, 0, q->cs);
					q->pend_vc = vc;
					memcpy(q->pend_buf + in, b, chunk);
				}
			} else {
				r = qcow2_drain(q);
				if (r == 0)
					r = qcow2_write_span(q, off, b, chunk);
			}
			if (r < 0)
				return r;
next:
			off += chunk;
			b += chunk;
			len -= chunk;
		}
		return 0;
	}
	r = qcow2_drain(q);
	while (r == 0 && len) {
		uint64_t span = q->l2_entries * q->cs;
		uint64_t n = VSL_MIN(len, span - off % span);
		r = qcow2_write_span(q, off, b, n);
		off += n;
		b += n;
		len -= n;
	}
	return r;
}

static int qcow2_zero(struct vsl_image *img, uint64_t off, uint64_t len)
{
	struct qcow2 *q = img->priv;
	int r = qcow2_drain(q);

	if (q->version < 3 && img->backing)
		return VSL_ENOTSUP; /* v2 cannot say "zero" over a backing file */
	while (r == 0 && len) {
		uint64_t vc = off >> q->cluster_bits, in = off & (q->cs - 1);
		uint64_t vend = VSL_MIN((vc + 1) << q->cluster_bits, img->size);
		uint64_t chunk = VSL_MIN(vend - off, len), e;
		struct qcow2_l2slot *sl;

		if (in || off + chunk != vend) {
			static const uint8_t zeros[4096];
			uint64_t done = 0;
			while (r == 0 && done < chunk) {
				uint64_t n = VSL_MIN(sizeof(zeros), chunk - done);
				r = qcow2_write_span(q, off + done, zeros, n);
				done += n;
			}
		} else {
			r = qcow2_l2_get(q, vc / q->l2_entries, img->backing != NULL, &sl);
			if (r == 0 && sl) {
				uint64_t j = vc % q->l2_entries;
				e = qcow2_l2e(sl, j);
				if (img->backing || e) {
					r = qcow2_l2_get(q, vc / q->l2_entries, true, &sl);
					if (r == 0) {
						qcow2_l2e_set(sl, j, q->version >= 3 ? QCOW2_OFLAG_ZERO : 0);
						r = qcow2_release_entry(q, e);
					}
				}
			}
		}
		off += chunk;
		len -= chunk;
	}
	return r;
}

static int qcow2_flush(struct vsl_image *img)
{
	return qcow2_flush_all(img->priv);
}

/* ---- open ---- */

static void qcow2_free(struct qcow2 *q)
{
	if (!q)
		return;
	vsl_workpool_free(q->wp);
	for (unsigned i = 0; q->l2c && i < q->l2c_n; i++)
		free(q->l2c[i].tab);
	free(q->l2c);
	free(q->l1_slot);
	free(q->l1);
	for (uint64_t i = 0; q->rb && i < q->rt_entries; i++)
		free(q->rb[i]);
	free(q->rb);
	free(q->rb_dirty);
	free(q->rt);
	free(q->frees);
	free(q->backing_name);
	free(q->backing_fmt);
	if (q->dec)
		libdeflate_free_decompressor(q->dec);
	free(q->cbuf_in);
	free(q->cbuf_out);
	free(q->pend_buf);
	free(q);
}

static int qcow2_setup_caches(struct qcow2 *q)
{
	uint64_t want = (32u << 20) / q->cs;

	q->l2c_n = (unsigned)VSL_MIN(VSL_MAX(want, 16), 4096);
	q->l2c = vsl_calloc(q->l2c_n, sizeof(*q->l2c));
	q->l1_slot = vsl_calloc(VSL_MAX(q->l1_size, 1), sizeof(*q->l1_slot));
	if (!q->l2c || !q->l1_slot)
		return qcow2_err(q, VSL_ENOMEM, "out of memory");
	q->rb_shift = q->cluster_bits + 3 - q->refcount_order;
	return 0;
}

static int qcow2_load_l1(struct qcow2 *q)
{
	uint64_t bytes = (uint64_t)q->l1_size * 8;
	uint8_t *raw;
	int r;

	q->l1 = vsl_calloc(VSL_MAX(q->l1_size, 1), sizeof(*q->l1));
	if (!q->l1)
		return qcow2_err(q, VSL_ENOMEM, "out of memory for the L1 table");
	q->l1_dirty_lo = q->l1_size;
	if (!q->l1_size)
		return 0;
	r = qcow2_check_offset(q, q->l1_offset, bytes, "L1 table", NULL, 0);
	if (r < 0)
		return r;
	raw = malloc(bytes);
	if (!raw)
		return qcow2_err(q, VSL_ENOMEM, "out of memory for the L1 table");
	r = vsl_stream_pread_full(q->s, raw, bytes, q->l1_offset);
	for (uint32_t i = 0; r == 0 && i < q->l1_size; i++)
		q->l1[i] = qcow2_be64(raw + 8 * i);
	free(raw);
	return r;
}

/* Header extensions: bounded by the header cluster, each length checked. */
static int qcow2_parse_extensions(struct qcow2 *q, const uint8_t *h, uint64_t hlen,
				  uint64_t limit)
{
	uint64_t pos = hlen;

	while (pos + 8 <= limit) {
		uint32_t type = qcow2_be32(h + pos), len = qcow2_be32(h + pos + 4);

		pos += 8;
		if (type == QCOW2_EXT_END)
			return 0;
		if (len > limit - pos)
			return qcow2_err(q, VSL_ECORRUPT, "header extension 0x%08x at offset %llu "
					 "is %u bytes long, past the end of the header area "
					 "(%llu bytes)", type, (unsigned long long)(pos - 8), len,
					 (unsigned long long)limit);
		if (type == QCOW2_EXT_BACKING_FORMAT) {
			free(q->backing_fmt);
			q->backing_fmt = strndup((const char *)h + pos, len);
			if (!q->backing_fmt)
				return qcow2_err(q, VSL_ENOMEM, "out of memory");
		}
		pos += VSL_ALIGN_UP((uint64_t)len, 8);
	}
	return 0;
}

static int qcow2_open_header(struct qcow2 *q, int flags)
{
	uint8_t *h;
	uint64_t hlimit, size, need_l1;
	int r;

	r = vsl_stream_size(q->s, &q->file_size);
	if (r < 0)
		return r;
	h = calloc(1, 4096);
	if (!h)
		return qcow2_err(q, VSL_ENOMEM, "out of memory");
	if (vsl_stream_pread(q->s, h, 4096, 0) < QCOW2_V2_HEADER_LEN) {
		r = qcow2_err(q, VSL_ECORRUPT, "file is too short for a qcow2 header (%llu bytes)",
			      (unsigned long long)q->file_size);
		goto out;
	}
	if (qcow2_be32(h) != QCOW2_MAGIC) {
		r = qcow2_err(q, VSL_EINVAL, "not a qcow2 image (bad magic)");
		goto out;
	}
	q->version = qcow2_be32(h + 4);
	if (q->version < 2 || q->version > 3) {
		r = qcow2_err(q, VSL_ENOTSUP, "unsupported qcow2 version %u (vessel reads 2 and 3)",
			      q->version);
		goto out;
	}
	q->cluster_bits = qcow2_be32(h + 20);
	if (q->cluster_bits < 9 || q->cluster_bits > 21) {
		r = qcow2_err(q, VSL_ECORRUPT, "cluster_bits %u is outside 9..21", q->cluster_bits);
		goto out;
	}
	q->cs = 1ull << q->cluster_bits;
	q->l2_entries = q->cs / 8;
	size = qcow2_be64(h + 24);
	if (size >= (1ull << 62)) {
		r = qcow2_err(q, VSL_ECORRUPT, "virtual size %llu is absurd (>= 2^62)",
			      (unsigned long long)size);
		goto out;
	}
	q->img->size = size;
	if (qcow2_be32(h + 32)) {
		r = qcow2_err(q, VSL_ENOTSUP, "encrypted images (method %u) are not supported",
			      qcow2_be32(h + 32));
		goto out;
	}
	q->l1_size = qcow2_be32(h + 36);
	q->l1_offset = qcow2_be64(h + 40);
	q->rt_offset = qcow2_be64(h + 48);
	q->rt_clusters = qcow2_be32(h + 56);
	q->nb_snapshots = qcow2_be32(h + 60);
	q->snapshots_offset = qcow2_be64(h + 64);
	q->refcount_order = 4;
	q->header_length = QCOW2_V2_HEADER_LEN;
	if (q->version == 3) {
		q->incompat = qcow2_be64(h + 72);
		q->compat = qcow2_be64(h + 80);
		q->autoclear = qcow2_be64(h + 88);
		q->refcount_order = qcow2_be32(h + 96);
		q->header_length = qcow2_be32(h + 100);
		if (q->header_length < QCOW2_V3_HEADER_LEN || q->header_length > VSL_MIN(q->cs, 4096) ||
		    q->header_length % 8) {
			r = qcow2_err(q, VSL_ECORRUPT, "header length %u is invalid (must be a "
				      "multiple of 8 from %u to %llu)", q->header_length,
				      QCOW2_V3_HEADER_LEN, (unsigned long long)VSL_MIN(q->cs, 4096));
			goto out;
		}
		if (q->refcount_order > 6) {
			r = qcow2_err(q, VSL_ECORRUPT, "refcount_order %u is larger than 6",
				      q->refcount_order);
			goto out;
		}
		if (q->incompat & QCOW2_INCOMPAT_COMPRESSION && q->header_length > 104 && h[104]) {
			r = qcow2_err(q, VSL_ENOTSUP, "compression type %u (zstd) is not supported; "
				      "only zlib", h[104]);
			goto out;
		}
		if (q->incompat & QCOW2_INCOMPAT_DATA_FILE) {
			r = qcow2_err(q, VSL_ENOTSUP, "images with an external data file are not "
				      "supported");
			goto out;
		}
		if (q->incompat & QCOW2_INCOMPAT_EXTL2) {
			r = qcow2_err(q, VSL_ENOTSUP, "images with extended L2 entries (subclusters) "
				      "are not supported");
			goto out;
		}
		if (q->incompat & ~0x1full) {
			r = qcow2_err(q, VSL_ENOTSUP, "unknown incompatible features 0x%llx",
				      (unsigned long long)(q->incompat & ~0x1full));
			goto out;
		}
		if ((flags & VSL_IMAGE_RDWR) && (q->incompat & QCOW2_INCOMPAT_CORRUPT)) {
			r = qcow2_err(q, VSL_EPERM, "image is marked corrupt; it can only be opened "
				      "read-only (repair it with qemu-img check -r all)");
			goto out;
		}
		if ((flags & VSL_IMAGE_RDWR) && (q->incompat & QCOW2_INCOMPAT_DIRTY)) {
			r = qcow2_err(q, VSL_EPERM, "image is dirty (lazy refcounts were in use); "
				      "repair it with qemu-img check -r all before writing");
			goto out;
		}
	}
	if ((flags & VSL_IMAGE_RDWR) && q->nb_snapshots) {
		r = qcow2_err(q, VSL_ENOTSUP, "writing to images with internal snapshots (%llu) "
			      "is not supported; open read-only", (unsigned long long)q->nb_snapshots);
		goto out;
	}
	if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
		r = qcow2_err(q, VSL_ECORRUPT, "L1 table of %u entries is larger than the limit "
			      "of %u bytes", q->l1_size, QCOW2_MAX_L1_BYTES);
		goto out;
	}
	need_l1 = (size + q->cs * q->l2_entries - 1) / (q->cs * q->l2_entries);
	if (need_l1 > q->l1_size) {
		r = qcow2_err(q, VSL_ECORRUPT, "L1 table has %u entries but the virtual size %llu "
			      "needs %llu", q->l1_size, (unsigned long long)size,
			      (unsigned long long)need_l1);
		goto out;
	}
	/* before anything is allocated for it: the L1 table must be in the file */
	if (q->l1_size) {
		r = qcow2_check_offset(q, q->l1_offset, (uint64_t)q->l1_size * 8, "L1 table", NULL, 0);
		if (r < 0)
			goto out;
	}
	if (q->l1_size && q->rt_offset && q->l1_offset < q->rt_offset + (uint64_t)q->rt_clusters * q->cs &&
	    q->rt_offset < q->l1_offset + (uint64_t)q->l1_size * 8) {
		r = qcow2_err(q, VSL_ECORRUPT, "L1 table (0x%llx) overlaps the refcount table "
			      "(0x%llx)", (unsigned long long)q->l1_offset,
			      (unsigned long long)q->rt_offset);
		goto out;
	}
	/* extensions and the backing name live in the first cluster (read up to 4 KiB) */
	hlimit = VSL_MIN(q->cs, 4096);
	{
		uint64_t bo = qcow2_be64(h + 8);
		uint32_t bl = qcow2_be32(h + 16);
		if (bo) {
			if (bl == 0 || bl > QCOW2_MAX_BACKING_NAME || bo >= hlimit || bl > hlimit - bo ||
			    bo < q->header_length) {
				r = qcow2_err(q, VSL_ECORRUPT, "backing file name (offset %llu, %u "
					      "bytes) is not inside the header cluster",
					      (unsigned long long)bo, bl);
				goto out;
			}
			q->backing_name = strndup((const char *)h + bo, bl);
			if (!q->backing_name) {
				r = qcow2_err(q, VSL_ENOMEM, "out of memory");
				goto out;
			}
			hlimit = bo;
		}
	}
	r = qcow2_parse_extensions(q, h, q->header_length, hlimit);
out:
	free(h);
	return r;
}

static int qcow2_open(struct vsl_image *img, struct vsl_stream *s, int flags)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	int r;

	if (!q)
		return vsl_set_error(img->ctx, 0, VSL_ENOMEM, "out of memory");
	*q = (struct qcow2){ .img = img, .ctx = img->ctx, .s = s, .name = s->name,
			     .pend_vc = UINT64_MAX };
	img->priv = q;
	r = qcow2_open_header(q, flags);
	if (r == 0)
		r = qcow2_setup_caches(q);
	if (r == 0)
		r = qcow2_load_l1(q);
	if (r == 0 && (flags & VSL_IMAGE_RDWR)) {
		r = qcow2_rc_load_table(q);
		q->next_free = VSL_ALIGN_UP(q->file_size, q->cs);
		if (r == 0 && q->autoclear) {
			/* we do not maintain what the autoclear bits promise: clear them */
			uint8_t z[8] = { 0 };
			r = vsl_stream_pwrite(s, z, 8, 88);
			q->autoclear = 0;
		}
	}
	if (r == 0 && q->backing_name && !(flags & VSL_IMAGE_NO_BACKING))
		r = vsl_image_open_backing(img, q->backing_name, q->backing_fmt, &img->backing);
	if (r < 0) {
		qcow2_free(q);
		img->priv = NULL;
	}
	return r;
}

static void qcow2_close(struct vsl_image *img)
{
	struct qcow2 *q = img->priv;

	if (!q)
		return;
	if (img->flags & VSL_IMAGE_RDWR)
		qcow2_flush_all(q); /* errors here are reported by an explicit flush */
	qcow2_free(q);
	img->priv = NULL;
}

/* ---- create ---- */

static int qcow2_parse_opts(struct vsl_image *img, const struct vsl_image_opts *opts,
			    unsigned *cluster_bits, unsigned *version, unsigned *rc_order)
{
	const char *v;
	uint64_t n;

	*cluster_bits = 16;
	*version = 3;
	*rc_order = 4;
	if ((v = vsl_image_opt(opts, "cluster_size"))) {
		if (vsl_parse_size(v, &n) < 0 || n < 512 || n > (2u << 20) || (n & (n - 1)))
			return vsl_set_error(img->ctx, 0, VSL_EINVAL, "qcow2: cluster_size '%s' must "
					     "be a power of two from 512 to 2M", v);
		*cluster_bits = (unsigned)__builtin_ctzll(n);
	}
	if ((v = vsl_image_opt(opts, "compat"))) {
		if (!strcmp(v, "0.10") || !strcmp(v, "v2"))
			*version = 2;
		else if (!strcmp(v, "1.1") || !strcmp(v, "v3"))
			*version = 3;
		else
			return vsl_set_error(img->ctx, 0, VSL_EINVAL, "qcow2: compat '%s' must be "
					     "0.10 or 1.1", v);
	}
	if ((v = vsl_image_opt(opts, "refcount_bits"))) {
		unsigned long b = strtoul(v, NULL, 10);
		if (b < 1 || b > 64 || (b & (b - 1)))
			return vsl_set_error(img->ctx, 0, VSL_EINVAL, "qcow2: refcount_bits '%s' "
					     "must be a power of two from 1 to 64", v);
		*rc_order = (unsigned)__builtin_ctzl(b);
		if (*version == 2 && b != 16)
			return vsl_set_error(img->ctx, 0, VSL_EINVAL, "qcow2: compat=0.10 "
					     "requires refcount_bits=16");
	}
	if ((v = vsl_image_opt(opts, "lazy_refcounts")) && strcmp(v, "off"))
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP, "qcow2: lazy_refcounts are not "
				     "supported");
	if ((v = vsl_image_opt(opts, "preallocation")) && strcmp(v, "off"))
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP, "qcow2: preallocation=%s is not "
				     "supported (only off)", v);
	if ((v = vsl_image_opt(opts, "compression_type")) && strcmp(v, "zlib"))
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP, "qcow2: compression_type=%s is not "
				     "supported (only zlib)", v);
	if ((v = vsl_image_opt(opts, "extended_l2")) && strcmp(v, "off"))
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP, "qcow2: extended_l2 is not "
				     "supported");
	return 0;
}

static int qcow2_write_header(struct qcow2 *q)
{
	uint8_t *h = calloc(1, q->cs);
	uint64_t pos;
	int r;

	if (!h)
		return qcow2_err(q, VSL_ENOMEM, "out of memory");
	qcow2_put32(h, QCOW2_MAGIC);
	qcow2_put32(h + 4, q->version);
	qcow2_put32(h + 20, q->cluster_bits);
	qcow2_put64(h + 24, q->img->size);
	qcow2_put32(h + 36, q->l1_size);
	qcow2_put64(h + 40, q->l1_offset);
	qcow2_put64(h + 48, q->rt_offset);
	qcow2_put32(h + 56, q->rt_clusters);
	pos = QCOW2_V2_HEADER_LEN;
	if (q->version == 3) {
		qcow2_put32(h + 96, q->refcount_order);
		qcow2_put32(h + 100, QCOW2_V3_HEADER_LEN);
		pos = QCOW2_V3_HEADER_LEN;
	}
	if (q->backing_fmt) {
		size_t l = strlen(q->backing_fmt);
		qcow2_put32(h + pos, QCOW2_EXT_BACKING_FORMAT);
		qcow2_put32(h + pos + 4, (uint32_t)l);
		memcpy(h + pos + 8, q->backing_fmt, l);
		pos += 8 + VSL_ALIGN_UP(l, 8);
	}
	pos += 8; /* end-of-extensions marker (zeroes) */
	if (q->backing_name) {
		size_t l = strlen(q->backing_name);
		if (pos + l > q->cs) {
			free(h);
			return qcow2_err(q, VSL_ERANGE, "backing file name is too long for a %llu-byte "
					 "header cluster", (unsigned long long)q->cs);
		}
		qcow2_put64(h + 8, pos);
		qcow2_put32(h + 16, (uint32_t)l);
		memcpy(h + pos, q->backing_name, l);
	}
	r = vsl_stream_pwrite(q->s, h, q->cs, 0);
	free(h);
	return r;
}

static int qcow2_create(struct vsl_image *img, struct vsl_stream *s, uint64_t size,
			const struct vsl_image_opts *opts)
{
	struct qcow2 *q;
	unsigned cb = 16, version = 3, order = 4;
	uint64_t cs, l2cover, est, per_rb, rt_entries, off;
	const char *bfile = opts ? opts->backing_file : NULL;
	const char *bfmt = opts ? opts->backing_format : NULL;
	const char *bfile_level;
	int r;

	r = vsl_image_opts_check(img->ctx, img->ops, opts);
	if (r == 0)
		r = qcow2_parse_opts(img, opts, &cb, &version, &order);
	if (r < 0)
		return r;
	if (!bfile)
		bfile = vsl_image_opt(opts, "backing_file");
	if (!bfmt)
		bfmt = vsl_image_opt(opts, "backing_fmt");
	q = calloc(1, sizeof(*q));
	if (!q)
		return vsl_set_error(img->ctx, 0, VSL_ENOMEM, "out of memory");
	*q = (struct qcow2){ .img = img, .ctx = img->ctx, .s = s, .name = s->name,
			     .version = version, .cluster_bits = cb, .refcount_order = order,
			     .compress = opts && opts->compress,
			     .threads = opts ? opts->threads : 0, .pend_vc = UINT64_MAX };
	img->priv = q;
	q->clevel = QCOW2_DEFAULT_CLEVEL;
	if ((bfile_level = vsl_image_opt(opts, "compression_level"))) {
		char *end;
		unsigned long lv = strtoul(bfile_level, &end, 10);
		if (*end || lv < 1 || lv > 12) {
			r = qcow2_err(q, VSL_EINVAL, "compression_level '%s' must be 1..12",
				      bfile_level);
			goto err;
		}
		q->clevel = (unsigned)lv;
	}
	if (bfile) {
		q->backing_name = strdup(bfile);
		q->backing_fmt = bfmt ? strdup(bfmt) : NULL;
		if (!q->backing_name || (bfmt && !q->backing_fmt)) {
			r = qcow2_err(q, VSL_ENOMEM, "out of memory");
			goto err;
		}
		r = vsl_image_open_backing(img, bfile, bfmt, &img->backing);
		if (r < 0)
			goto err;
		if (!bfmt) {
			q->backing_fmt = strdup(img->backing->ops->name);
			if (!q->backing_fmt) {
				r = qcow2_err(q, VSL_ENOMEM, "out of memory");
				goto err;
			}
		}
		if (!size)
			size = img->backing->size;
	}
	cs = q->cs = 1ull << cb;
	q->l2_entries = cs / 8;
	/* QEMU counts qcow2 sizes in 512-byte sectors (and rounds a partial one down) */
	size = VSL_ALIGN_UP(size, 512);
	img->size = size;
	l2cover = cs * q->l2_entries;
	q->l1_size = (uint32_t)VSL_MIN((size + l2cover - 1) / l2cover, UINT32_MAX);
	if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
		r = qcow2_err(q, VSL_ERANGE, "virtual size %llu needs an L1 table larger than %u "
			      "bytes with %llu-byte clusters; use a larger cluster_size",
			      (unsigned long long)size, QCOW2_MAX_L1_BYTES, (unsigned long long)cs);
		goto err;
	}
	/* refcount table sized for the full image plus metadata (capped; it can grow) */
	per_rb = cs * 8 >> order;
	est = size / cs + (uint64_t)q->l1_size * 2 + 64;
	est += est / per_rb + 16;
	rt_entries = VSL_MIN((est + per_rb - 1) / per_rb, (1u << 20) / 8);
	q->rt_clusters = (uint32_t)VSL_MAX((rt_entries * 8 + cs - 1) / cs, 1);
	q->rt_entries = q->rt_clusters * cs / 8;
	q->rt_offset = cs;
	q->rt = vsl_calloc(q->rt_entries, sizeof(*q->rt));
	q->rb = vsl_calloc(q->rt_entries, sizeof(*q->rb));
	q->rb_dirty = vsl_calloc(q->rt_entries, sizeof(*q->rb_dirty));
	if (!q->rt || !q->rb || !q->rb_dirty) {
		r = qcow2_err(q, VSL_ENOMEM, "out of memory");
		goto err;
	}
	q->rc_loaded = true;
	q->rt_dirty_lo = 0;
	q->rt_dirty_hi = q->rt_entries;
	r = qcow2_setup_caches(q);
	if (r < 0)
		goto err;
	/* header and refcount table were placed by hand; count them */
	q->next_free = cs * (1 + q->rt_clusters);
	for (uint64_t c = 0; r == 0 && c < 1 + q->rt_clusters; c++)
		r = qcow2_rc_update(q, c, 1);
	if (r == 0 && q->l1_size) {
		r = qcow2_alloc(q, ((uint64_t)q->l1_size * 8 + cs - 1) / cs, &off);
		q->l1_offset = off;
	}
	if (r == 0 && !(q->l1 = vsl_calloc(VSL_MAX(q->l1_size, 1), sizeof(*q->l1))))
		r = qcow2_err(q, VSL_ENOMEM, "out of memory");
	if (r < 0)
		goto err;
	q->l1_dirty_lo = 0;
	q->l1_dirty_hi = q->l1_size;
	/* the file covers all metadata so that a reopen finds everything in range */
	r = vsl_stream_truncate(s, q->next_free);
	if (r == 0)
		r = qcow2_rc_writeback(q);
	if (r == 0)
		r = qcow2_l1_writeback(q);
	if (r == 0)
		r = qcow2_write_header(q);
	if (r == 0)
		r = vsl_stream_size(s, &q->file_size);
	if (r == 0)
		return 0;
err:
	qcow2_free(q);
	img->priv = NULL;
	return r;
}

/* ---- resize ---- */

static int qcow2_resize(struct vsl_image *img, uint64_t size)
{
	struct qcow2 *q = img->priv;
	uint64_t l2cover = q->cs * q->l2_entries, need = (size + l2cover - 1) / l2cover;
	uint8_t hdr[8];
	int r;

	if (size < img->size)
		return qcow2_err(q, VSL_ENOTSUP, "shrinking qcow2 images is not supported");
	size = VSL_ALIGN_UP(size, 512); /* whole sectors, as in create */
	r = qcow2_flush_all(q);
	if (r < 0)
		return r;
	if (need > q->l1_size) {
		uint64_t nclusters, off, old = q->l1_offset;
		uint64_t oldc = ((uint64_t)q->l1_size * 8 + q->cs - 1) / q->cs;
		uint64_t *l1;
		uint32_t *slot;
		uint8_t l1hdr[12];

		if (need * 8 > QCOW2_MAX_L1_BYTES)
			return qcow2_err(q, VSL_ERANGE, "size %llu needs an L1 table larger than %u "
					 "bytes", (unsigned long long)size, QCOW2_MAX_L1_BYTES);
		l1 = vsl_reallocarray(q->l1, need, sizeof(*l1));
		if (l1)
			q->l1 = l1;
		slot = vsl_reallocarray(q->l1_slot, need, sizeof(*slot));
		if (slot)
			q->l1_slot = slot;
		if (!l1 || !slot)
			return qcow2_err(q, VSL_ENOMEM, "out of memory");
		memset(q->l1 + q->l1_size, 0, (need - q->l1_size) * sizeof(*l1));
		memset(q->l1_slot + q->l1_size, 0, (need - q->l1_size) * sizeof(*slot));
		nclusters = (need * 8 + q->cs - 1) / q->cs;
		r = qcow2_alloc(q, nclusters, &off);
		if (r < 0)
			return r;
		q->l1_offset = off;
		q->l1_size = (uint32_t)need;
		q->l1_dirty_lo = 0;
		q->l1_dirty_hi = q->l1_size;
		r = qcow2_rc_writeback(q);
		if (r == 0)
			r = vsl_stream_truncate(q->s, VSL_MAX(q->next_free, q->file_size));
		if (r == 0)
			r = qcow2_l1_writeback(q);
		if (r == 0)
			r = qcow2_barrier(q);
		if (r < 0)
			return r;
		qcow2_put32(l1hdr, q->l1_size);
		qcow2_put64(l1hdr + 4, off);
		r = vsl_stream_pwrite(q->s, l1hdr, sizeof(l1hdr), 36);
		if (r == 0)
			r = qcow2_barrier(q);
		for (uint64_t c = 0; r == 0 && c < oldc && old; c++)
			r = qcow2_defer_free(q, old + c * q->cs, q->cs);
		if (r < 0)
			return r;
	}
	qcow2_put64(hdr, size);
	r = vsl_stream_pwrite(q->s, hdr, sizeof(hdr), 24);
	if (r == 0) {
		img->size = size;
		r = qcow2_flush_all(q);
	}
	return r;
}

/* ---- info ---- */

static int qcow2_info(struct vsl_image *img, char *buf, size_t len)
{
	struct qcow2 *q = img->priv;

	snprintf(buf, len,
		 "compat: %s\ncluster_size: %llu\nrefcount_bits: %u\ncompression type: zlib\n"
		 "backing file: %s\nbacking file format: %s\ncorrupt: %s\nsnapshots: %llu\n",
		 q->version == 2 ? "0.10" : "1.1", (unsigned long long)q->cs,
		 1u << q->refcount_order, q->backing_name ? q->backing_name : "",
		 q->backing_fmt ? q->backing_fmt : "",
		 q->incompat & QCOW2_INCOMPAT_CORRUPT ? "true" : "false",
		 (unsigned long long)q->nb_snapshots);
	return 0;
}

const struct vsl_format_ops vsl_format_qcow2 = {
	.name = "qcow2",
	.description = "QEMU copy-on-write v2/v3",
	.probe = qcow2_probe,
	.open = qcow2_open,
	.create = qcow2_create,
	.read = qcow2_read,
	.write = qcow2_write,
	.flush = qcow2_flush,
	.block_status = qcow2_block_status,
	.zero = qcow2_zero,
	.check = qcow2_check,
	.info = qcow2_info,
	.resize = qcow2_resize,
	.close = qcow2_close,
	.host_offset = qcow2_host_offset,
	.create_opts = qcow2_create_opts,
};
