/*
 * qcow2 internals shared by formats/qcow2.c (open, read, write, create,
 * metadata caches) and formats/qcow2_check.c (consistency check).
 *
 * On-disk layout (all integers big-endian), from the qcow2 specification:
 *
 *	cluster 0:  header | header extensions | backing file name
 *	L1 table:   l1_size 64-bit entries, contiguous clusters
 *	  L1 entry:  63: COPIED | 62..56: 0 | 55..9: L2 table offset | 8..0: 0
 *	L2 table:   one cluster of 64-bit entries
 *	  standard:  63: COPIED | 62: 0 | 61..56: 0 | 55..9: host cluster | 8..1: 0 | 0: ZERO (v3)
 *	  compressed: 63: 0 | 62: 1 | 61..x: extra 512-byte sectors | x-1..0: host byte offset
 *	             with x = 62 - (cluster_bits - 8)
 *	refcount table: 64-bit offsets of refcount blocks (contiguous clusters)
 *	refcount block: one cluster of refcount entries of 2^refcount_order bits
 */
#ifndef VESSEL_FORMATS_QCOW2_INT_H
#define VESSEL_FORMATS_QCOW2_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/format.h"
#include "vessel/workpool.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104

#define QCOW2_OFLAG_COPIED (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO 1ull
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L1_RESERVED 0x7f000000000001ffull
#define QCOW2_L2_RESERVED 0x3f000000000001feull

#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)

#define QCOW2_EXT_END 0
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u

/* Bounds on untrusted sizes (the same orders of magnitude as QEMU's). */
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_SNAPSHOTS 65536

struct qcow2_l2slot {
	uint64_t off;      /* host offset of the table; 0 = empty slot */
	uint64_t l1_index;
	uint64_t *tab;     /* cluster of big-endian entries */
	bool dirty;
};

struct qcow2_free {
	uint64_t off, len;
};

struct qcow2_cjob;

struct qcow2 {
	struct vsl_image *img;
	struct vsl_ctx *ctx;
	struct vsl_stream *s;
	const char *name;          /* for messages */

	/* header */
	unsigned version;
	unsigned cluster_bits;
	uint64_t cs;               /* cluster size */
	uint64_t l2_entries;       /* cs / 8 */
	uint32_t header_length;
	uint64_t incompat, compat, autoclear;
	unsigned refcount_order;
	uint64_t nb_snapshots, snapshots_offset;
	char *backing_name, *backing_fmt;
	uint64_t file_size;        /* at open (validation of offsets) */

	/* L1 (always in memory) */
	uint64_t *l1;              /* host-endian */
	uint32_t l1_size;
	uint64_t l1_offset;
	uint32_t l1_dirty_lo, l1_dirty_hi; /* [lo, hi) entries to write back */

	/* L2 cache: a FIFO of slots, looked up through l1_slot */
	struct qcow2_l2slot *l2c;
	unsigned l2c_n, l2c_next;
	uint32_t *l1_slot;         /* l1 index -> slot + 1, 0 = not cached */

	/* refcounts (loaded for writing and checking only) */
	bool rc_loaded;
	uint64_t *rt;              /* host-endian refcount table */
	uint64_t rt_entries;
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint64_t rt_dirty_lo, rt_dirty_hi;
	uint8_t **rb;              /* cached refcount blocks, indexed like rt */
	bool *rb_dirty;
	uint64_t rb_cached;        /* number of cached blocks */
	unsigned rb_shift;         /* log2(refcount entries per block) */
	unsigned rc_depth;         /* recursion guard for refblock allocation */

	/* allocation */
	uint64_t next_free;        /* append point (cluster aligned) */
	uint64_t cpos, cend;       /* partially filled host cluster of compressed data */
	struct qcow2_free *frees;  /* deferred refcount decrements (after L2/L1 are written) */
	size_t nfrees, frees_cap;

	/* decompression */
	struct libdeflate_decompressor *dec;
	uint8_t *cbuf_in, *cbuf_out;
	uint64_t cbuf_host;        /* descriptor of what cbuf_out holds; 0 = nothing */

	/* compressed writing */
	bool compress;
	unsigned clevel;           /* libdeflate level for -c (vessel's compression_level) */
	unsigned threads;
	struct vsl_workpool *wp;
	uint64_t pend_vc;          /* cluster being gathered from partial writes; UINT64_MAX = none */
	uint8_t *pend_buf;
};

static inline uint64_t qcow2_be64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 |
	       (uint64_t)b[3] << 32 | (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 |
	       (uint64_t)b[6] << 8 | b[7];
}

static inline uint32_t qcow2_be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint16_t qcow2_be16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline void qcow2_put64(void *p, uint64_t v)
{
	uint8_t *b = p;
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline void qcow2_put32(void *p, uint32_t v)
{
	uint8_t *b = p;
	for (int i = 3; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline void qcow2_put16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* Refcount entry i of a refcount block (any order 0..6). */
static inline uint64_t qcow2_rc_get(const uint8_t *blk, unsigned order, uint64_t i)
{
	switch (order) {
	case 0: case 1: case 2: {
		unsigned bits = 1u << order;
		uint64_t bit = i * bits;
		return (blk[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
	}
	case 3: return blk[i];
	case 4: return qcow2_be16(blk + 2 * i);
	case 5: return qcow2_be32(blk + 4 * i);
	default: return qcow2_be64(blk + 8 * i);
	}
}

static inline void qcow2_rc_put(uint8_t *blk, unsigned order, uint64_t i, uint64_t v)
{
	switch (order) {
	case 0: case 1: case 2: {
		unsigned bits = 1u << order;
		uint64_t bit = i * bits;
		uint8_t mask = (uint8_t)(((1u << bits) - 1) << (bit % 8));
		blk[bit / 8] = (uint8_t)((blk[bit / 8] & ~mask) | ((v << (bit % 8)) & mask));
		break;
	}
	case 3: blk[i] = (uint8_t)v; break;
	case 4: qcow2_put16(blk + 2 * i, (uint16_t)v); break;
	case 5: qcow2_put32(blk + 4 * i, (uint32_t)v); break;
	default: qcow2_put64(blk + 8 * i, v); break;
	}
}

/* Host byte range [*start, *start + *len) of a compressed L2 entry. */
static inline void qcow2_compressed_range(const struct qcow2 *q, uint64_t e, uint64_t *start,
					  uint64_t *len)
{
	unsigned shift = 62 - (q->cluster_bits - 8);
	uint64_t mask = (1ull << (q->cluster_bits - 8)) - 1;
	uint64_t off = e & ((1ull << shift) - 1);
	uint64_t nsec = ((e >> shift) & mask) + 1;

	*start = off;
	*len = nsec * 512 - (off & 511);
}

/* qcow2.c, for qcow2_check.c */
int qcow2_flush_all(struct qcow2 *q);
int qcow2_rc_load_table(struct qcow2 *q);
int qcow2_rc_block(struct qcow2 *q, uint64_t rt_index, uint8_t **out);
int qcow2_read_l1_entry_table(struct qcow2 *q, uint64_t l1_index, const uint64_t **tab);
/* qcow2_check.c */
int qcow2_check(struct vsl_image *img, struct vsl_check_report *rep);

#endif
