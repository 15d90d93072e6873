/*
 * VMDK internals shared by formats/vmdk.c (sparse and flat extents, open,
 * random-access I/O, create), formats/vmdk_desc.c (the text descriptor) and
 * formats/vmdk_stream.c (the append-only streamOptimized writer). See the
 * comment at the top of vmdk.c for the on-disk layout.
 */
#ifndef VESSEL_FORMATS_VMDK_INT_H
#define VESSEL_FORMATS_VMDK_INT_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vessel/format.h"
#include "vessel/workpool.h"

#define VMDK_SECTOR 512u
#define VMDK_MAGIC "KDMV"
#define VMDK_FLAG_NL_TEST (1u << 0)
#define VMDK_FLAG_RGD (1u << 1)
#define VMDK_FLAG_ZERO_GTE (1u << 2)
#define VMDK_FLAG_COMPRESSED (1u << 16)
#define VMDK_FLAG_MARKERS (1u << 17)
#define VMDK_GD_AT_END 0xffffffffffffffffull
#define VMDK_MARKER_EOS 0u
#define VMDK_MARKER_GT 1u
#define VMDK_MARKER_GD 2u
#define VMDK_MARKER_FOOTER 3u
#define VMDK_GRAIN_MARKER 12u /* u64 lba + u32 size before the compressed data */

/* Limits on untrusted input (all allocations are bounded by these or by the file size). */
#define VMDK_MAX_CAPACITY ((uint64_t)64 << 40)
#define VMDK_MAX_GRAIN_SECTORS 4096u /* 2 MiB (VMware and qemu use 64 KiB) */
#define VMDK_MAX_GTES 65536u
#define VMDK_MAX_DESC (1u << 20)
#define VMDK_MAX_LINE 4096u
#define VMDK_MAX_EXTENTS 1024u
#define VMDK_GT_CACHE_BYTES (2u << 20) /* grain tables kept in memory per extent */
#define VMDK_GT_SLOTS_MAX 256u

/* What vessel writes. */
#define VMDK_GRAIN_SECTORS 128u /* 64 KiB, as VMware and qemu */
#define VMDK_GTES 512u
#define VMDK_DESC_SECTORS 20u
/*
 * libdeflate level 1 output is about 2% larger than zlib 6's (qemu-img's)
 * for 4.5 times less CPU; -o compression_level=4 matches zlib 6's size.
 */
#define VMDK_DEFLATE_LEVEL 1

enum vmdk_etype { VMDK_EXT_FLAT, VMDK_EXT_SPARSE, VMDK_EXT_ZERO };

struct vmdk_gt_slot {
	uint64_t gd_idx;       /* UINT64_MAX: empty */
	uint32_t *e;           /* host order */
};

struct vmdk_extent {
	enum vmdk_etype type;
	struct vsl_stream *s;  /* img->s when own_s is false */
	bool own_s;
	bool rdonly;
	char *name;
	uint64_t start, len;   /* virtual bytes covered */
	uint64_t flat_off;     /* FLAT: byte offset of the data in s */
	/* sparse extents */
	uint32_t version, hflags;
	uint64_t grain;        /* bytes */
	uint32_t gtes;         /* entries per GT */
	uint64_t gt_cover;     /* bytes one GT maps */
	uint32_t gd_n;
	uint32_t *gd, *rgd;    /* host order; rgd NULL when absent or unused */
	uint64_t gd_off, rgd_off; /* bytes */
	uint64_t fsize;        /* current file size */
	uint64_t alloc;        /* where the next grain or GT goes */
	struct vmdk_gt_slot *cache;
	unsigned n_slots;      /* direct-mapped by GD index */
	/* compressed grains: the last one decompressed */
	struct libdeflate_decompressor *dec;
	uint8_t *zgrain, *zin;
	uint64_t zgrain_sector; /* UINT64_MAX: none */
};

struct vmdk_so;

struct vmdk {
	struct vmdk_extent *ext;
	unsigned n_ext;
	char create_type[32];
	char adapter[16];
	char hwversion[16];
	uint32_t cid, parent_cid;
	uint32_t cyls, heads, secs;
	struct vmdk_so *so;    /* non-NULL while writing a streamOptimized image */
};

/* ---- streamOptimized writer state ---- */

struct vmdk_job {
	uint64_t grain_idx;
	uint8_t *data;         /* grain bytes */
	uint8_t *out;          /* marker + compressed data, padded to a sector */
	size_t out_len;
	size_t out_cap;
	struct vmdk_job *next; /* on the free list */
};

struct vmdk_so {
	struct vsl_image *img;
	int level;             /* libdeflate compression level */
	uint64_t grain;        /* bytes */
	uint64_t capacity;     /* bytes (sector multiple) */
	uint32_t gd_n;
	uint32_t *gd;          /* host order, 0 = no GT */
	uint32_t *gt;          /* the GT being filled */
	uint64_t gt_idx;       /* which GT that is; UINT64_MAX none */
	bool gt_used;
	uint64_t wpos;         /* append position (bytes, sector aligned) */
	uint8_t *cur;          /* the grain being assembled */
	uint64_t cur_idx;      /* its index; UINT64_MAX none */
	bool cur_dirty;
	bool dirty;            /* writes since the last complete tail */
	uint8_t header[VMDK_SECTOR];
	struct vsl_workpool *wp;
	struct vmdk_job *free_jobs; /* retired jobs kept with their buffers for reuse */
	int err;
};

static inline uint32_t vmdk_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t vmdk_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline void vmdk_put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline void vmdk_put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

struct vmdk_desc_extent {
	char access[10];
	uint64_t sectors;
	char type[16];
	char *name;            /* NULL for ZERO */
	uint64_t offset;       /* sectors, FLAT */
};

struct vmdk_desc {
	struct vmdk_desc_extent *ext;
	unsigned n_ext;
	char create_type[32];
	char adapter[16];
	char hwversion[16];
	uint32_t cid, parent_cid;
	uint32_t cyls, heads, secs;
};

/* ---- vmdk_desc.c ---- */

/* True when p[0..n) starts like a text descriptor. */
bool vmdk_is_descriptor(const char *p, size_t n);
/*
 * Parse descriptor text (not NUL-terminated; stops at the first NUL, as
 * embedded descriptors are padded with zeroes); where names it in messages.
 * On error d holds nothing to release.
 */
int vmdk_desc_parse(struct vsl_ctx *ctx, const char *where, const char *text, size_t len,
		    struct vmdk_desc *d);
void vmdk_desc_fini(struct vmdk_desc *d);
/* Descriptor text with one extent; caller frees. NULL when out of memory. */
char *vmdk_desc_text(const struct vmdk *v, const char *create_type, uint64_t sectors,
		     const char *etype, const char *name, bool with_offset);
/* The ddb.geometry VMware uses for a disk of `size` bytes on `adapter`. */
void vmdk_chs(uint64_t size, const char *adapter, uint32_t *c, uint32_t *h, uint32_t *s);
/*
 * Path of extent `name` next to the descriptor at dpath (caller frees);
 * refuses absolute names and ".." components with VSL_EPERM.
 */
int vmdk_extent_path(struct vsl_ctx *ctx, const char *dpath, const char *name, char **out);

/* ---- vmdk_stream.c ---- */

/*
 * Start writing a streamOptimized image of `size` bytes into img->s: writes
 * the header, the descriptor `text` and an empty but complete tail, and sets
 * v->so. threads: compression workers (0 = all CPUs).
 */
int vmdk_so_create(struct vsl_image *img, struct vmdk *v, uint64_t size, uint32_t gd_n,
		   const char *text, int level, unsigned threads);
/* Append data (buf NULL: zeroes) at off, which must not go back before the current grain. */
int vmdk_so_write(struct vmdk_so *so, uint64_t off, const uint8_t *buf, size_t len);
/* Make the file complete: pending grains, GTs, GD, footer, EOS (see vmdk.c). */
int vmdk_so_tail(struct vmdk_so *so);
void vmdk_so_free(struct vmdk_so *so);

/* ---- vmdk.c ---- */

void vmdk_make_header(uint8_t *h, uint32_t version, uint32_t flags, uint64_t cap_sec,
		      uint64_t desc_sec, uint64_t desc_n, uint64_t rgd, uint64_t gd,
		      uint64_t overhead, bool compressed);
/* Write the descriptor at sector 1, refusing text longer than max_bytes. */
int vmdk_write_desc(struct vsl_stream *s, const char *text, uint64_t max_bytes);

#endif
