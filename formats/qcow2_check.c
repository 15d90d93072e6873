/*
 * qcow2 consistency check (`vessel img check`), in the spirit of
 * `qemu-img check`: walk every structure that references clusters (header,
 * L1 and L2 tables, data and compressed clusters, refcount table and blocks,
 * snapshot tables), count the references each host cluster gets, and
 * compare with the stored refcounts:
 *
 *	stored < references  -> corruption (the cluster could be reallocated)
 *	stored > references  -> leak (space wasted, no data at risk)
 *
 * plus structural errors (unaligned or out-of-file offsets, COPIED flags that
 * disagree with the refcount), each counted as a corruption. Problems are
 * logged as warnings (the first 20) and the first one is kept in the report.
 * Memory: one 16-bit counter per host cluster, refused beyond 2^28 clusters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2_int.h"

#define QCOW2_CHECK_MAX_CLUSTERS (1ull << 28)
#define QCOW2_CHECK_LOG_MAX 20

struct qcow2_chk {
	struct qcow2 *q;
	struct vsl_check_report *rep;
	uint16_t *ref;
	uint64_t nclusters;
	uint64_t logged;
	uint8_t *tab;       /* one cluster, for L2 tables */
};

static void chk_problem(struct qcow2_chk *c, bool leak, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void chk_problem(struct qcow2_chk *c, bool leak, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (leak)
		c->rep->leaks++;
	else
		c->rep->corruptions++;
	if (!c->rep->first_problem[0])
		snprintf(c->rep->first_problem, sizeof(c->rep->first_problem), "%s", msg);
	if (c->logged++ < QCOW2_CHECK_LOG_MAX)
		vsl_warn(c->q->ctx, "qcow2 check: %s", msg);
}

/* Count one reference to every cluster of [off, off+len). */
static void chk_mark(struct qcow2_chk *c, uint64_t off, uint64_t len, const char *what)
{
	uint64_t cb = c->q->cluster_bits;

	if (!len)
		return;
	for (uint64_t k = off >> cb; k <= (off + len - 1) >> cb; k++) {
		if (k >= c->nclusters) {
			chk_problem(c, false, "%s at 0x%llx is past the end of the file", what,
				    (unsigned long long)off);
			return;
		}
		if (c->ref[k] < UINT16_MAX)
			c->ref[k]++;
	}
}

/* Validate a cluster-aligned offset found in a table; false = reported. */
static bool chk_offset(struct qcow2_chk *c, uint64_t off, const char *what, const char *where,
		       uint64_t idx)
{
	struct qcow2 *q = c->q;

	if (off & (q->cs - 1)) {
		chk_problem(c, false, "%s offset 0x%llx of %s %llu is not cluster aligned", what,
			    (unsigned long long)off, where, (unsigned long long)idx);
		return false;
	}
	if (off < q->cs) {
		chk_problem(c, false, "%s offset 0x%llx of %s %llu overlaps the header", what,
			    (unsigned long long)off, where, (unsigned long long)idx);
		return false;
	}
	if ((off >> q->cluster_bits) >= c->nclusters) {
		chk_problem(c, false, "%s offset 0x%llx of %s %llu is past the end of the file",
			    what, (unsigned long long)off, where, (unsigned long long)idx);
		return false;
	}
	return true;
}

/* Stored refcount of host cluster k (0 where no block exists or it is unreadable). */
static uint64_t chk_stored(struct qcow2_chk *c, uint64_t k)
{
	struct qcow2 *q = c->q;
	uint64_t i = k >> q->rb_shift;
	uint8_t *blk;

	if (!q->rc_loaded || i >= q->rt_entries || !q->rt[i])
		return 0;
	if ((q->rt[i] & (q->cs - 1)) || q->rt[i] < q->cs ||
	    (q->rt[i] >> q->cluster_bits) >= c->nclusters)
		return 0;
	if (qcow2_rc_block(q, i, &blk) < 0)
		return 0;
	return qcow2_rc_get(blk, q->refcount_order, k & ((1ull << q->rb_shift) - 1));
}

/* Walk one L1 table (the active one, or a snapshot's: no COPIED checks there). */
static int chk_l1(struct qcow2_chk *c, uint64_t l1_off, uint64_t l1_size, bool active)
{
	struct qcow2 *q = c->q;
	uint8_t *l1raw;
	int r = 0;

	if (!l1_size)
		return 0;
	if (l1_size * 8 > QCOW2_MAX_L1_BYTES) {
		chk_problem(c, false, "L1 table of %llu entries is too large",
			    (unsigned long long)l1_size);
		return 0;
	}
	if (!chk_offset(c, l1_off, "L1 table", "image", 0))
		return 0;
	chk_mark(c, l1_off, l1_size * 8, "L1 table");
	l1raw = malloc(l1_size * 8);
	if (!l1raw)
		return vsl_set_error(q->ctx, 0, VSL_ENOMEM, "qcow2: out of memory");
	if (vsl_stream_pread(q->s, l1raw, l1_size * 8, l1_off) != (int64_t)(l1_size * 8)) {
		chk_problem(c, false, "L1 table at 0x%llx is truncated", (unsigned long long)l1_off);
		free(l1raw);
		return 0;
	}
	for (uint64_t i = 0; i < l1_size && r == 0; i++) {
		uint64_t e = qcow2_be64(l1raw + 8 * i), off = e & QCOW2_OFFSET_MASK;

		if (!off)
			continue;
		if (!chk_offset(c, off, "L2 table", "L1 entry", i))
			continue;
		chk_mark(c, off, q->cs, "L2 table");
		if (active && !!(e & QCOW2_OFLAG_COPIED) != (chk_stored(c, off >> q->cluster_bits) == 1))
			chk_problem(c, false, "OFLAG_COPIED of L1 entry %llu (L2 table 0x%llx) "
				    "disagrees with its refcount %llu", (unsigned long long)i,
				    (unsigned long long)off,
				    (unsigned long long)chk_stored(c, off >> q->cluster_bits));
		r = vsl_stream_pread_full(q->s, c->tab, q->cs, off);
		if (r < 0)
			break;
		for (uint64_t j = 0; j < q->l2_entries; j++) {
			uint64_t le = qcow2_be64(c->tab + 8 * j), vc = i * q->l2_entries + j;

			if (le & QCOW2_OFLAG_COMPRESSED) {
				uint64_t start, len;
				qcow2_compressed_range(q, le, &start, &len);
				if (start < q->cs || (start + len - 1) >> q->cluster_bits >= c->nclusters + 1) {
					chk_problem(c, false, "compressed cluster descriptor of virtual "
						    "cluster %llu (0x%llx, %llu bytes) is out of range",
						    (unsigned long long)vc, (unsigned long long)start,
						    (unsigned long long)len);
					continue;
				}
				chk_mark(c, start, VSL_MIN(len, (c->nclusters << q->cluster_bits) - start),
					 "compressed data");
				if (active)
					c->rep->allocated_clusters++;
				continue;
			}
			off = le & QCOW2_OFFSET_MASK;
			if (!off)
				continue;
			if (!chk_offset(c, off, "data cluster", "virtual cluster", vc))
				continue;
			chk_mark(c, off, q->cs, "data cluster");
			if (!active)
				continue;
			if (!((le & QCOW2_OFLAG_ZERO) && q->version >= 3))
				c->rep->allocated_clusters++;
			if (!!(le & QCOW2_OFLAG_COPIED) != (chk_stored(c, off >> q->cluster_bits) == 1))
				chk_problem(c, false, "OFLAG_COPIED of virtual cluster %llu (host 0x%llx) "
					    "disagrees with its refcount %llu", (unsigned long long)vc,
					    (unsigned long long)off,
					    (unsigned long long)chk_stored(c, off >> q->cluster_bits));
		}
	}
	free(l1raw);
	return r;
}

static int chk_snapshots(struct qcow2_chk *c)
{
	struct qcow2 *q = c->q;
	uint64_t pos = q->snapshots_offset, end = c->nclusters << q->cluster_bits;
	int r = 0;

	if (!q->nb_snapshots)
		return 0;
	if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS) {
		chk_problem(c, false, "%llu snapshots is more than the limit of %u",
			    (unsigned long long)q->nb_snapshots, QCOW2_MAX_SNAPSHOTS);
		return 0;
	}
	if (!chk_offset(c, pos, "snapshot table", "image", 0))
		return 0;
	for (uint64_t n = 0; n < q->nb_snapshots && r == 0; n++) {
		uint8_t sh[40];
		uint64_t l1_off, l1_size, len;

		if (pos > end || end - pos < sizeof(sh) ||
		    vsl_stream_pread_full(q->s, sh, sizeof(sh), pos) < 0) {
			vsl_ctx_clear(q->ctx);
			chk_problem(c, false, "snapshot table entry %llu at 0x%llx is past the end of "
				    "the file", (unsigned long long)n, (unsigned long long)pos);
			return 0;
		}
		l1_off = qcow2_be64(sh);
		l1_size = qcow2_be32(sh + 8);
		len = sizeof(sh) + qcow2_be32(sh + 36) + qcow2_be16(sh + 12) + qcow2_be16(sh + 14);
		pos += VSL_ALIGN_UP(len, 8);
		r = chk_l1(c, l1_off, l1_size, false);
	}
	/* the table as a whole: entries share clusters */
	if (r == 0)
		chk_mark(c, q->snapshots_offset, pos - q->snapshots_offset, "snapshot table");
	return r;
}

int qcow2_check(struct vsl_image *img, struct vsl_check_report *rep)
{
	struct qcow2 *q = img->priv;
	struct qcow2_chk c = { .q = q, .rep = rep };
	uint64_t fsize;
	int r;

	r = qcow2_flush_all(q);
	if (r == 0)
		r = vsl_stream_size(q->s, &fsize);
	if (r < 0)
		return r;
	c.nclusters = (fsize + q->cs - 1) >> q->cluster_bits;
	if (c.nclusters > QCOW2_CHECK_MAX_CLUSTERS)
		return vsl_set_error(q->ctx, 0, VSL_ENOTSUP, "qcow2: the file has %llu clusters, "
				     "more than the checker handles (%llu)",
				     (unsigned long long)c.nclusters,
				     (unsigned long long)QCOW2_CHECK_MAX_CLUSTERS);
	c.ref = vsl_calloc(VSL_MAX(c.nclusters, 1), sizeof(*c.ref));
	c.tab = malloc(q->cs);
	if (!c.ref || !c.tab) {
		r = vsl_set_error(q->ctx, 0, VSL_ENOMEM, "qcow2: out of memory");
		goto out;
	}
	rep->total_clusters = (img->size + q->cs - 1) >> q->cluster_bits;
	if (qcow2_rc_load_table(q) < 0) {
		chk_problem(&c, false, "%s", vsl_ctx_error(q->ctx));
		vsl_ctx_clear(q->ctx);
	}
	chk_mark(&c, 0, q->cs, "header");
	r = chk_l1(&c, q->l1_offset, q->l1_size, true);
	if (r == 0)
		r = chk_snapshots(&c);
	if (r < 0)
		goto out;
	if (q->rc_loaded) {
		chk_mark(&c, q->rt_offset, (uint64_t)q->rt_clusters * q->cs, "refcount table");
		for (uint64_t i = 0; i < q->rt_entries; i++) {
			uint64_t off = q->rt[i];
			if (!off)
				continue;
			if (chk_offset(&c, off, "refcount block", "refcount table entry", i))
				chk_mark(&c, off, q->cs, "refcount block");
		}
	}
	for (uint64_t k = 0; k < c.nclusters; k++) {
		uint64_t stored = chk_stored(&c, k);
		if (stored == c.ref[k])
			continue;
		if (stored > c.ref[k])
			chk_problem(&c, true, "leaked cluster %llu: refcount=%llu reference=%u",
				    (unsigned long long)k, (unsigned long long)stored, c.ref[k]);
		else
			chk_problem(&c, false, "cluster %llu (host 0x%llx): refcount=%llu "
				    "reference=%u", (unsigned long long)k,
				    (unsigned long long)(k << q->cluster_bits),
				    (unsigned long long)stored, c.ref[k]);
	}
	vsl_ctx_clear(q->ctx);
out:
	free(c.ref);
	free(c.tab);
	return r;
}
