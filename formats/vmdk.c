/*
 * VMDK ("vmdk"): VMware's virtual disk, read and written per the "Virtual
 * Disk Format 1.1" specification. This file: sparse and flat extents, open,
 * random-access I/O, create; vmdk_desc.c: the text descriptor;
 * vmdk_stream.c: the streamOptimized writer; vmdk_int.h: what they share.
 *
 * An image is a text descriptor plus extents. The descriptor is embedded in
 * the sparse file (monolithicSparse, streamOptimized) or is a file of its
 * own naming extent files next to it (monolithicFlat, twoGbMaxExtentSparse,
 * twoGbMaxExtentFlat). Extent names are resolved relative to the
 * descriptor's directory; absolute names and ".." components are refused.
 *
 * A sparse extent starts with a 512-byte little-endian header:
 *
 *    0 magic "KDMV"     4 version (1; 3 = streamOptimized)   8 flags
 *   12 capacity (sectors, 8)      20 grainSize (sectors, 8)
 *   28 descriptorOffset (8)       36 descriptorSize (8)      44 numGTEsPerGT
 *   48 rgdOffset (8)              56 gdOffset (8)            64 overHead (8)
 *   72 uncleanShutdown  73 '\n' ' ' '\r' '\n'  77 compressAlgorithm (2)
 *
 *   flags: bit 0 newline test valid, 1 redundant GD, 2 zeroed-grain GTEs,
 *          16 compressed grains, 17 markers
 *
 * The grain directory (GD) holds one sector number per grain table (GT); a
 * GT holds one sector number per grain (0 = unallocated, 1 = zeroed grain
 * when flag 2 is set). monolithicSparse keeps a redundant GD/GT copy, which
 * this code writes in step with the primary.
 *
 * streamOptimized files are append-only: each grain is a marker
 * {u64 lba, u32 size} followed by zlib data, padded to a sector; after the
 * grains of each GT come a GT marker {u64 sectors, u32 0, u32 type=1} and
 * the GT; at the end a GD marker (type 2) and the GD, a footer marker (type
 * 3) and a copy of the header holding the real gdOffset (the header at the
 * start says gdOffset = ~0, "GD at end"), and an end-of-stream marker (all
 * zeroes). vSphere and OVA consumers read exactly this layout.
 *
 * Writing streamOptimized: writes must come in increasing offset order (the
 * convert engine guarantees it). Grains are compressed on a vsl_workpool
 * (libdeflate, zlib format) and retired in order by the writing thread.
 * vsl_image_flush() writes a complete tail (pending GT, GD, footer, EOS) at
 * the end without moving the append position, so the file is valid after
 * every flush and later writes simply overwrite the tail; close flushes.
 *
 * Random-access writes (monolithicSparse, flat extents) allocate grains at
 * the end of the file and write their data; then, after one barrier per
 * request (fdatasync, skipped for VSL_IMAGE_UNSAFE conversion outputs), the
 * GT entries (primary, then redundant): data before metadata, so a crash
 * leaks at most the grains of the interrupted request.
 *
 * Reading: compressed grains are inflated with libdeflate (the last one is
 * cached); grain tables go through a small direct-mapped cache. Everything
 * read from the file is range-checked against the file size before use.
 *
 *	struct vsl_image_opts o = { .kv = (const char *[]){ "subformat=streamOptimized", NULL } };
 *	vsl_image_create(ctx, "disk.vmdk", "vmdk", size, &o, &img);
 */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "vessel/format.h"
#include "vessel/workpool.h"

#include "formats/format_int.h"
#include "formats/vmdk_int.h"

static const char *const vmdk_create_opts[] = { "subformat", "adapter_type", "hwversion",
						"compression_level", NULL };

static int vmdk_probe(struct vsl_stream *s)
{
	char buf[64];
	int64_t n = vsl_stream_pread(s, buf, sizeof(buf), 0);

	if (n >= 4 && !memcmp(buf, VMDK_MAGIC, 4))
		return 100;
	if (n >= 4 && !memcmp(buf, "COWD", 4))
		return 50; /* ESX sparse: open() says it is not supported */
	if (n > 0 && vmdk_is_descriptor(buf, (size_t)n))
		return 100;
	return 0;
}

/* ---- sparse extents ---- */

static void vmdk_extent_fini(struct vmdk_extent *e)
{
	if (e->cache) {
		for (unsigned i = 0; i < e->n_slots; i++)
			free(e->cache[i].e);
		free(e->cache);
	}
	if (e->dec)
		libdeflate_free_decompressor(e->dec);
	free(e->zgrain);
	free(e->zin);
	free(e->gd);
	free(e->rgd);
	free(e->name);
	if (e->own_s)
		vsl_stream_free(e->s);
	*e = (struct vmdk_extent){ 0 };
}

static int vmdk_load_gd(struct vsl_ctx *ctx, struct vmdk_extent *e, const char *name,
			uint64_t off, const char *what, uint32_t **out)
{
	uint64_t bytes = (uint64_t)e->gd_n * 4;
	uint64_t gt_bytes = (uint64_t)e->gtes * 4;
	uint32_t *gd;
	int r;

	if (off > e->fsize || e->fsize - off < bytes)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: %s (%u entries at offset %llu) extends past the end of the %llu-byte file",
				     name, what, e->gd_n, (unsigned long long)off,
				     (unsigned long long)e->fsize);
	gd = vsl_calloc(e->gd_n ? e->gd_n : 1, 4);
	if (!gd)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "%s: out of memory for the %s", name, what);
	r = vsl_stream_pread_full(e->s, gd, (size_t)bytes, off);
	if (r < 0) {
		free(gd);
		return r;
	}
	for (uint32_t i = 0; i < e->gd_n; i++) {
		uint64_t gt;

		gd[i] = le32toh(gd[i]);
		gt = (uint64_t)gd[i] * VMDK_SECTOR;
		if (gd[i] && (gt > e->fsize || e->fsize - gt < gt_bytes)) {
			free(gd);
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: grain table %u at offset %llu (from the %s) is past the end of the %llu-byte file",
					     name, i, (unsigned long long)gt, what,
					     (unsigned long long)e->fsize);
		}
	}
	*out = gd;
	return 0;
}

/*
 * Set up a sparse extent from its header (h = 512 bytes at offset 0 of
 * e->s). *desc_off and *desc_len return the embedded descriptor (bytes; 0 if none).
 */
static int vmdk_sparse_init(struct vsl_ctx *ctx, struct vmdk_extent *e, const uint8_t *h,
			    int flags, uint64_t *desc_off, uint64_t *desc_len)
{
	const char *name = e->s->name;
	uint64_t cap, gsec, gd_off, rgd_off, dsec, dlen;
	uint8_t foot[3 * VMDK_SECTOR];
	int r;

	r = vsl_stream_size(e->s, &e->fsize);
	if (r < 0)
		return r;
	e->version = vmdk_le32(h + 4);
	e->hflags = vmdk_le32(h + 8);
	cap = vmdk_le64(h + 12);
	gsec = vmdk_le64(h + 20);
	dsec = vmdk_le64(h + 28);
	dlen = vmdk_le64(h + 36);
	e->gtes = vmdk_le32(h + 44);
	rgd_off = vmdk_le64(h + 48);
	gd_off = vmdk_le64(h + 56);
	if (e->version < 1 || e->version > 3)
		return vsl_set_error(ctx, 0, VSL_ENOTSUP,
				     "%s: sparse extent version %u not supported (1 to 3 are)", name,
				     e->version);
	if ((e->hflags & VMDK_FLAG_NL_TEST) &&
	    (h[73] != '\n' || h[74] != ' ' || h[75] != '\r' || h[76] != '\n'))
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: header newline test failed: the file went through a text-mode transfer",
				     name);
	if ((e->hflags & VMDK_FLAG_COMPRESSED) && vmdk_le32(h + 77) % 65536 != 1)
		return vsl_set_error(ctx, 0, VSL_ENOTSUP,
				     "%s: compression algorithm %u not supported (1 = deflate is)",
				     name, h[77] | h[78] << 8);
	if (cap > VMDK_MAX_CAPACITY / VMDK_SECTOR)
		return vsl_set_error(ctx, 0, VSL_ERANGE,
				     "%s: capacity of %llu sectors is over the 64 TiB limit", name,
				     (unsigned long long)cap);
	if (!gsec || gsec > VMDK_MAX_GRAIN_SECTORS || (gsec & (gsec - 1)))
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: grain size of %llu sectors is not a power of two up to %u",
				     name, (unsigned long long)gsec, VMDK_MAX_GRAIN_SECTORS);
	if (!e->gtes || e->gtes > VMDK_MAX_GTES)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: %u entries per grain table (expected 1 to %u, normally 512)",
				     name, e->gtes, VMDK_MAX_GTES);
	e->grain = gsec * VMDK_SECTOR;
	e->gt_cover = e->grain * e->gtes;
	e->len = cap * VMDK_SECTOR;
	{
		uint64_t gd_n = (e->len + e->gt_cover - 1) / e->gt_cover;
		/* the GD must fit in the file: this also bounds the allocation */
		if (gd_n > e->fsize / 4)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: capacity needs %llu grain tables, more than the %llu-byte file can index",
					     name, (unsigned long long)gd_n, (unsigned long long)e->fsize);
		e->gd_n = (uint32_t)gd_n;
	}
	if (dsec && dlen) {
		if (dsec > e->fsize / VMDK_SECTOR || dlen > VMDK_MAX_DESC / VMDK_SECTOR)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: embedded descriptor (%llu sectors at sector %llu) is out of range",
					     name, (unsigned long long)dlen, (unsigned long long)dsec);
		*desc_off = dsec * VMDK_SECTOR;
		*desc_len = VSL_MIN(dlen * VMDK_SECTOR, e->fsize - *desc_off);
	} else {
		*desc_off = *desc_len = 0;
	}
	if (gd_off == VMDK_GD_AT_END) {
		/* streamOptimized: the footer, a copy of the header, says where the GD is */
		if (e->fsize < 4 * VMDK_SECTOR)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: grain directory is at the end but the file has no footer (truncated?)",
					     name);
		r = vsl_stream_pread_full(e->s, foot, sizeof(foot), e->fsize - sizeof(foot));
		if (r < 0)
			return r;
		if (vmdk_le64(foot) != 1 || vmdk_le32(foot + 8) != 0 ||
		    vmdk_le32(foot + 12) != VMDK_MARKER_FOOTER ||
		    memcmp(foot + VMDK_SECTOR, VMDK_MAGIC, 4))
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: grain directory is at the end but no footer precedes the end-of-stream marker (truncated?)",
					     name);
		gd_off = vmdk_le64(foot + VMDK_SECTOR + 56);
		rgd_off = 0;
		if (gd_off == VMDK_GD_AT_END)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: the footer also says the grain directory is at the end",
					     name);
		if (vmdk_le64(foot + VMDK_SECTOR + 12) != cap ||
		    vmdk_le64(foot + VMDK_SECTOR + 20) != gsec ||
		    vmdk_le32(foot + VMDK_SECTOR + 44) != e->gtes)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: footer and header disagree on the disk layout", name);
	}
	if (gd_off > UINT64_MAX / VMDK_SECTOR || rgd_off > UINT64_MAX / VMDK_SECTOR)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: grain directory offset out of range",
				     name);
	e->gd_off = gd_off * VMDK_SECTOR;
	e->rgd_off = rgd_off * VMDK_SECTOR;
	r = vmdk_load_gd(ctx, e, name, e->gd_off, "grain directory", &e->gd);
	if (r < 0)
		return r;
	if ((e->hflags & VMDK_FLAG_RGD) && rgd_off && (flags & VSL_IMAGE_RDWR) &&
	    !(e->hflags & VMDK_FLAG_COMPRESSED)) {
		r = vmdk_load_gd(ctx, e, name, rgd_off * VMDK_SECTOR, "redundant grain directory",
				 &e->rgd);
		if (r < 0)
			return r;
	}
	e->n_slots = (unsigned)VSL_MAX(4u, VSL_MIN(VMDK_GT_SLOTS_MAX,
						       VMDK_GT_CACHE_BYTES / (e->gtes * 4u)));
	e->cache = vsl_calloc(e->n_slots, sizeof(*e->cache));
	if (!e->cache)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	for (unsigned i = 0; i < e->n_slots; i++)
		e->cache[i].gd_idx = UINT64_MAX;
	e->zgrain_sector = UINT64_MAX;
	e->alloc = VSL_ALIGN_UP(e->fsize, VMDK_SECTOR);
	e->type = VMDK_EXT_SPARSE;
	return 0;
}

/* The GT for gd_idx (loaded through the cache), or NULL with *r = 0 when unallocated. */
static uint32_t *vmdk_gt(struct vsl_ctx *ctx, struct vmdk_extent *e, uint64_t gd_idx, int *r)
{
	struct vmdk_gt_slot *slot = &e->cache[gd_idx % e->n_slots];

	*r = 0;
	if (gd_idx >= e->gd_n || !e->gd[gd_idx])
		return NULL;
	if (slot->gd_idx == gd_idx)
		return slot->e;
	if (!slot->e) {
		slot->e = vsl_calloc(e->gtes, 4);
		if (!slot->e) {
			*r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			return NULL;
		}
	}
	slot->gd_idx = UINT64_MAX;
	*r = vsl_stream_pread_full(e->s, slot->e, (size_t)e->gtes * 4,
				   (uint64_t)e->gd[gd_idx] * VMDK_SECTOR);
	if (*r < 0)
		return NULL;
	for (uint32_t i = 0; i < e->gtes; i++)
		slot->e[i] = le32toh(slot->e[i]);
	slot->gd_idx = gd_idx;
	return slot->e;
}

/* GT entry for byte offset off in the extent (0 = unallocated). */
static int vmdk_lookup(struct vsl_ctx *ctx, struct vmdk_extent *e, uint64_t off, uint32_t *ent)
{
	int r;
	uint32_t *gt = vmdk_gt(ctx, e, off / e->gt_cover, &r);

	*ent = gt ? gt[(off % e->gt_cover) / e->grain] : 0;
	return r;
}

static bool vmdk_is_zero_entry(const struct vmdk_extent *e, uint32_t ent)
{
	return ent == 0 || (ent == 1 && (e->hflags & VMDK_FLAG_ZERO_GTE));
}

/* Decompress the grain whose marker is at sector sec into e->zgrain. */
static int vmdk_load_compressed(struct vsl_ctx *ctx, struct vmdk_extent *e, uint64_t sec)
{
	const char *name = e->s->name;
	uint64_t off = sec * VMDK_SECTOR, clen, avail;
	size_t in_cap = (size_t)(2 * e->grain + VMDK_SECTOR), out_len = 0, in_used = 0;
	const uint8_t *src;
	enum libdeflate_result res;
	int64_t got;

	if (e->zgrain_sector == sec)
		return 0;
	if (!e->zgrain) {
		e->zgrain = malloc(e->grain);
		e->zin = malloc(in_cap);
		e->dec = libdeflate_alloc_decompressor();
		if (!e->zgrain || !e->zin || !e->dec)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	e->zgrain_sector = UINT64_MAX;
	if (off >= e->fsize)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: compressed grain at offset %llu is past the end of the %llu-byte file",
				     name, (unsigned long long)off, (unsigned long long)e->fsize);
	avail = e->fsize - off;
	got = vsl_stream_pread(e->s, e->zin, (size_t)VSL_MIN(avail, in_cap), off);
	if (got < 0)
		return (int)got;
	src = e->zin;
	if (e->hflags & VMDK_FLAG_MARKERS) {
		if (got < VMDK_GRAIN_MARKER)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: grain marker at offset %llu is truncated", name,
					     (unsigned long long)off);
		clen = vmdk_le32(e->zin + 8);
		if (!clen || clen > in_cap - VMDK_GRAIN_MARKER)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: compressed grain at offset %llu claims %llu bytes (a %llu-byte grain allows at most %zu)",
					     name, (unsigned long long)off, (unsigned long long)clen,
					     (unsigned long long)e->grain, in_cap - VMDK_GRAIN_MARKER);
		if (clen > (uint64_t)got - VMDK_GRAIN_MARKER)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: compressed grain at offset %llu (%llu bytes) extends past the end of the file",
					     name, (unsigned long long)off, (unsigned long long)clen);
		src += VMDK_GRAIN_MARKER;
	} else {
		clen = (uint64_t)got;
	}
	res = libdeflate_zlib_decompress_ex(e->dec, src, (size_t)clen, e->zgrain, e->grain,
					    &in_used, &out_len);
	if (res == LIBDEFLATE_INSUFFICIENT_SPACE)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: compressed grain at offset %llu inflates to more than the %llu-byte grain size",
				     name, (unsigned long long)off, (unsigned long long)e->grain);
	if (res != LIBDEFLATE_SUCCESS)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: compressed grain at offset %llu is not valid zlib data",
				     name, (unsigned long long)off);
	memset(e->zgrain + out_len, 0, e->grain - out_len);
	e->zgrain_sector = sec;
	return 0;
}

static int vmdk_sparse_read(struct vsl_ctx *ctx, struct vmdk_extent *e, uint64_t off, uint8_t *p,
			    size_t len)
{
	while (len) {
		uint64_t in = off % e->grain, n = VSL_MIN((uint64_t)len, e->grain - in), host;
		uint32_t ent;
		int r = vmdk_lookup(ctx, e, off, &ent);

		if (r < 0)
			return r;
		if (vmdk_is_zero_entry(e, ent)) {
			memset(p, 0, n);
		} else if (e->hflags & VMDK_FLAG_COMPRESSED) {
			r = vmdk_load_compressed(ctx, e, ent);
			if (r < 0)
				return r;
			memcpy(p, e->zgrain + in, n);
		} else {
			int64_t got;

			host = (uint64_t)ent * VMDK_SECTOR;
			if (host >= e->fsize)
				return vsl_set_error(ctx, 0, VSL_ECORRUPT,
						     "%s: grain at offset %llu is past the end of the %llu-byte file",
						     e->s->name, (unsigned long long)host,
						     (unsigned long long)e->fsize);
			got = vsl_stream_pread(e->s, p, n, host + in);
			if (got < 0)
				return (int)got;
			/* a final grain cut short by the end of the file reads as zeroes */
			memset(p + got, 0, n - (uint64_t)got);
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Give gd_idx a zeroed GT (and a redundant one) at the end of the file, then point the GDs at them. */
static int vmdk_alloc_gt(struct vsl_ctx *ctx, struct vmdk_extent *e, uint64_t gd_idx)
{
	uint64_t bytes = VSL_ALIGN_UP((uint64_t)e->gtes * 4, VMDK_SECTOR);
	uint64_t copies = e->rgd ? 2 : 1, at = e->alloc;
	uint32_t le;
	int r;

	if ((at + copies * bytes) / VMDK_SECTOR > UINT32_MAX)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: sparse extent would exceed 2 TiB",
				     e->s->name);
	r = vsl_stream_truncate(e->s, at + copies * bytes);
	if (r < 0)
		return r;
	if (e->rgd) {
		le = htole32((uint32_t)((at + bytes) / VMDK_SECTOR));
		r = vsl_stream_pwrite(e->s, &le, 4, e->rgd_off + gd_idx * 4);
		if (r < 0)
			return r;
		e->rgd[gd_idx] = le32toh(le);
	}
	le = htole32((uint32_t)(at / VMDK_SECTOR));
	r = vsl_stream_pwrite(e->s, &le, 4, e->gd_off + gd_idx * 4);
	if (r < 0)
		return r;
	e->gd[gd_idx] = le32toh(le);
	e->alloc = at + copies * bytes;
	e->fsize = VSL_MAX(e->fsize, e->alloc);
	return 0;
}

/* Grain allocations of one write whose GT entries are not on disk yet. */
struct vmdk_pending {
	uint64_t off;          /* grain offset in the extent */
	uint32_t sec;          /* where its data went */
};

#define VMDK_PENDING 256u

/* Order data before the metadata that points at it (skipped for unsafe conversion outputs). */
static int vmdk_barrier(struct vsl_image *img, struct vsl_stream *s)
{
	return (img->flags & VSL_IMAGE_UNSAFE) ? 0 : vsl_stream_flush(s);
}

/*
 * Make pending allocations visible: the data is written (and, unless the
 * image is unsafe, flushed); now the GT entries, primary then redundant,
 * one write per run of consecutive entries.
 */
static int vmdk_commit(struct vsl_image *img, struct vmdk_extent *e, struct vmdk_pending *pend,
		       unsigned n)
{
	uint32_t le[VMDK_PENDING];
	int r;

	if (!n)
		return 0;
	if (e->fsize < e->alloc) {
		/* the last fresh grain may be only partly written: cover it fully */
		r = vsl_stream_truncate(e->s, e->alloc);
		if (r < 0)
			return r;
		e->fsize = e->alloc;
	}
	r = vmdk_barrier(img, e->s);
	for (unsigned i = 0, j; i < n && r == 0; i = j) {
		uint64_t gd_idx = pend[i].off / e->gt_cover;
		uint64_t first = (pend[i].off % e->gt_cover) / e->grain, k = first;
		uint32_t *gt = vmdk_gt(img->ctx, e, gd_idx, &r);

		if (!gt)
			return r < 0 ? r : vsl_set_error(img->ctx, 0, VSL_ECORRUPT, "grain table vanished");
		for (j = i; j < n && pend[j].off / e->gt_cover == gd_idx &&
			    (pend[j].off % e->gt_cover) / e->grain == k; j++, k++) {
			gt[k] = pend[j].sec;
			le[j - i] = htole32(pend[j].sec);
		}
		r = vsl_stream_pwrite(e->s, le, (size_t)(k - first) * 4,
				      (uint64_t)e->gd[gd_idx] * VMDK_SECTOR + first * 4);
		if (r == 0 && e->rgd && e->rgd[gd_idx])
			r = vsl_stream_pwrite(e->s, le, (size_t)(k - first) * 4,
					      (uint64_t)e->rgd[gd_idx] * VMDK_SECTOR + first * 4);
	}
	return r;
}

/* Contiguous data destined for contiguous host bytes, written with one pwrite. */
struct vmdk_run {
	uint64_t host;
	const uint8_t *src;
	uint64_t len;
};

static int vmdk_run_add(struct vmdk_extent *e, struct vmdk_run *run, uint64_t host,
			const uint8_t *src, uint64_t len)
{
	int r = 0;

	if (run->len && run->host + run->len == host && run->src + run->len == src) {
		run->len += len;
		return 0;
	}
	if (run->len) {
		r = vsl_stream_pwrite(e->s, run->src, run->len, run->host);
		e->fsize = VSL_MAX(e->fsize, run->host + run->len);
	}
	*run = (struct vmdk_run){ .host = host, .src = src, .len = len };
	return r;
}

static int vmdk_sparse_write(struct vsl_image *img, struct vmdk_extent *e, uint64_t off,
			     const uint8_t *p, size_t len)
{
	struct vsl_ctx *ctx = img->ctx;
	struct vmdk_pending pend[VMDK_PENDING];
	struct vmdk_run run = { 0 };
	unsigned np = 0;
	int r = 0;

	if (e->hflags & VMDK_FLAG_COMPRESSED)
		return vsl_set_error(ctx, 0, VSL_ENOTSUP,
				     "%s: random writes to a compressed (streamOptimized) VMDK are not supported; convert it to monolithicSparse first",
				     e->s->name);
	while (len) {
		uint64_t in = off % e->grain, n = VSL_MIN((uint64_t)len, e->grain - in), host;
		uint32_t ent;

		r = vmdk_lookup(ctx, e, off, &ent);
		if (r < 0)
			return r;
		if (vmdk_is_zero_entry(e, ent) || ent == 1) {
			if (vsl_buf_is_zero(p, n) && vmdk_is_zero_entry(e, ent))
				goto next; /* already reads as zeroes */
			if (np == VMDK_PENDING) {
				r = vmdk_run_add(e, &run, 0, NULL, 0);
				if (r == 0)
					r = vmdk_commit(img, e, pend, np);
				if (r < 0)
					return r;
				np = 0;
			}
			if (off / e->gt_cover >= e->gd_n)
				return vsl_set_error(ctx, 0, VSL_ECORRUPT,
						     "%s: offset %llu is beyond the sparse extent's capacity of %llu bytes",
						     e->s->name, (unsigned long long)off,
						     (unsigned long long)e->gd_n * e->gt_cover);
			if (!e->gd[off / e->gt_cover]) {
				r = vmdk_alloc_gt(ctx, e, off / e->gt_cover);
				if (r < 0)
					return r;
			}
			if ((e->alloc + e->grain) / VMDK_SECTOR > UINT32_MAX)
				return vsl_set_error(ctx, 0, VSL_ERANGE,
						     "%s: sparse extent would exceed 2 TiB", e->s->name);
			/* a fresh grain at the end; what is not written of it stays a hole (zeroes) */
			pend[np++] = (struct vmdk_pending){ .off = off - in,
							    .sec = (uint32_t)(e->alloc / VMDK_SECTOR) };
			host = e->alloc + in;
			e->alloc += e->grain;
		} else {
			host = (uint64_t)ent * VMDK_SECTOR + in;
			/* never let a hostile GT entry aim writes at the header or past the end */
			if (host < VMDK_SECTOR || host + n > e->fsize)
				return vsl_set_error(ctx, 0, VSL_ECORRUPT,
						     "%s: grain at offset %llu lies outside the %llu-byte file",
						     e->s->name,
						     (unsigned long long)ent * VMDK_SECTOR,
						     (unsigned long long)e->fsize);
		}
		r = vmdk_run_add(e, &run, host, p, n);
		if (r < 0)
			return r;
next:
		p += n;
		off += n;
		len -= n;
	}
	r = vmdk_run_add(e, &run, 0, NULL, 0);
	if (r == 0)
		r = vmdk_commit(img, e, pend, np);
	return r;
}

/* ---- open ---- */

static void vmdk_free(struct vmdk *v)
{
	if (!v)
		return;
	vmdk_so_free(v->so);
	for (unsigned i = 0; i < v->n_ext; i++)
		vmdk_extent_fini(&v->ext[i]);
	free(v->ext);
	free(v);
}

static void vmdk_take_desc(struct vmdk *v, const struct vmdk_desc *d)
{
	memcpy(v->create_type, d->create_type, sizeof(v->create_type));
	memcpy(v->adapter, d->adapter, sizeof(v->adapter));
	memcpy(v->hwversion, d->hwversion, sizeof(v->hwversion));
	v->cid = d->cid;
	v->parent_cid = d->parent_cid;
	v->cyls = d->cyls;
	v->heads = d->heads;
	v->secs = d->secs;
}


static int vmdk_open_sparse_file(struct vsl_image *img, struct vmdk_extent *e, int flags)
{
	uint8_t h[VMDK_SECTOR];
	uint64_t doff, dlen, len = e->len;
	int r;

	r = vsl_stream_pread_full(e->s, h, sizeof(h), 0);
	if (r < 0)
		return r;
	if (memcmp(h, VMDK_MAGIC, 4))
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP,
				     "%s: sparse extent has no 'KDMV' header (ESX 'COWD' and SE sparse extents are not supported)",
				     e->s->name);
	r = vmdk_sparse_init(img->ctx, e, h, flags, &doff, &dlen);
	e->len = len; /* the descriptor decides how much of the extent is used */
	return r;
}

/* Open the extents a descriptor file lists. */
static int vmdk_open_descriptor_file(struct vsl_image *img, struct vmdk *v, int flags)
{
	struct vsl_ctx *ctx = img->ctx;
	struct vmdk_desc d;
	uint64_t fsize, total = 0;
	char *text;
	int r;

	r = vsl_stream_size(img->s, &fsize);
	if (r < 0)
		return r;
	if (fsize > VMDK_MAX_DESC)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: descriptor file of %llu bytes is larger than the %u-byte limit",
				     img->s->name, (unsigned long long)fsize, VMDK_MAX_DESC);
	text = malloc(fsize + 1);
	if (!text)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	r = vsl_stream_pread_full(img->s, text, fsize, 0);
	if (r == 0)
		r = vmdk_desc_parse(ctx, img->s->name, text, fsize, &d);
	free(text);
	if (r < 0)
		return r;
	vmdk_take_desc(v, &d);
	v->ext = vsl_calloc(d.n_ext, sizeof(*v->ext));
	if (!v->ext) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < d.n_ext; i++) {
		struct vmdk_desc_extent *de = &d.ext[i];
		struct vmdk_extent *e = &v->ext[i];
		bool sparse = !strcmp(de->type, "SPARSE");
		bool flat = !strcmp(de->type, "FLAT") || !strcmp(de->type, "VMFS");
		char *path = NULL;
		int sflags;

		v->n_ext = i + 1;
		e->start = total;
		e->len = de->sectors * VMDK_SECTOR;
		total += e->len;
		if (total > VMDK_MAX_CAPACITY) {
			r = vsl_set_error(ctx, 0, VSL_ERANGE, "%s: extents add up to more than 64 TiB",
					  img->s->name);
			goto out;
		}
		e->rdonly = strcmp(de->access, "RW") != 0;
		if (!strcmp(de->access, "NOACCESS")) {
			r = vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s: extent %u is NOACCESS",
					  img->s->name, i + 1);
			goto out;
		}
		if (!strcmp(de->type, "ZERO")) {
			e->type = VMDK_EXT_ZERO;
			continue;
		}
		if (!sparse && !flat) {
			r = vsl_set_error(ctx, 0, VSL_ENOTSUP,
					  "%s: extent type %s not supported (FLAT, VMFS, SPARSE and ZERO are)",
					  img->s->name, de->type);
			goto out;
		}
		if (!img->path) {
			r = vsl_set_error(ctx, 0, VSL_ENOTSUP,
					  "%s: descriptor names extent file '%s' but the image has no path",
					  img->s->name, de->name);
			goto out;
		}
		r = vmdk_extent_path(ctx, img->path, de->name, &path);
		if (r < 0)
			goto out;
		sflags = (flags & VSL_IMAGE_RDWR) && !e->rdonly ? VSL_STREAM_RDWR : VSL_STREAM_RDONLY;
		r = vsl_stream_open_file(ctx, path, sflags, &e->s);
		free(path);
		if (r < 0)
			goto out;
		e->own_s = true;
		e->name = strdup(de->name);
		if (flat) {
			uint64_t esize;

			e->type = VMDK_EXT_FLAT;
			e->flat_off = de->offset * VMDK_SECTOR;
			r = vsl_stream_size(e->s, &esize);
			if (r < 0)
				goto out;
			if (esize < e->flat_off || esize - e->flat_off < e->len) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
						  "%s: flat extent holds %llu bytes from offset %llu; the descriptor says %llu",
						  e->s->name, (unsigned long long)(esize > e->flat_off ? esize - e->flat_off : 0),
						  (unsigned long long)e->flat_off,
						  (unsigned long long)e->len);
				goto out;
			}
		} else {
			r = vmdk_open_sparse_file(img, e, flags);
			if (r < 0)
				goto out;
		}
	}
	img->size = total;
out:
	vmdk_desc_fini(&d);
	return r;
}

static int vmdk_open(struct vsl_image *img, struct vsl_stream *s, int flags)
{
	struct vsl_ctx *ctx = img->ctx;
	uint8_t h[VMDK_SECTOR] = { 0 };
	struct vmdk *v;
	int64_t n;
	int r;

	n = vsl_stream_pread(s, h, sizeof(h), 0);
	if (n < 0)
		return (int)n;
	v = calloc(1, sizeof(*v));
	if (!v)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	snprintf(v->adapter, sizeof(v->adapter), "ide");
	snprintf(v->hwversion, sizeof(v->hwversion), "4");
	v->parent_cid = 0xffffffffu;
	if (n >= 4 && !memcmp(h, VMDK_MAGIC, 4)) {
		struct vmdk_extent *e;
		uint64_t doff, dlen;

		if (n < (int64_t)sizeof(h)) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
					  "%s: truncated: %lld bytes, a sparse VMDK header needs 512",
					  s->name, (long long)n);
			goto err;
		}
		v->ext = calloc(1, sizeof(*v->ext));
		if (!v->ext) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto err;
		}
		v->n_ext = 1;
		e = &v->ext[0];
		e->s = s;
		r = vmdk_sparse_init(ctx, e, h, flags, &doff, &dlen);
		if (r < 0)
			goto err;
		snprintf(v->create_type, sizeof(v->create_type), "%s",
			 (e->hflags & VMDK_FLAG_COMPRESSED) ? "streamOptimized" : "monolithicSparse");
		if (dlen) {
			struct vmdk_desc d;
			char *text = malloc(dlen);

			if (!text) {
				r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
				goto err;
			}
			r = vsl_stream_pread_full(s, text, dlen, doff);
			if (r == 0)
				r = vmdk_desc_parse(ctx, s->name, text, dlen, &d);
			free(text);
			if (r < 0)
				goto err;
			if (d.n_ext != 1 || strcmp(d.ext[0].type, "SPARSE")) {
				r = vsl_set_error(ctx, 0, VSL_ENOTSUP,
						  "%s: embedded descriptor lists %u extents (%s); a sparse file holds exactly one SPARSE extent",
						  s->name, d.n_ext, d.ext[0].type);
				vmdk_desc_fini(&d);
				goto err;
			}
			vmdk_take_desc(v, &d);
			vmdk_desc_fini(&d);
			if (!v->create_type[0])
				snprintf(v->create_type, sizeof(v->create_type), "monolithicSparse");
		}
		img->size = e->len;
	} else if (n >= 4 && !memcmp(h, "COWD", 4)) {
		r = vsl_set_error(ctx, 0, VSL_ENOTSUP,
				  "%s: ESX 'COWD' sparse VMDKs are not supported", s->name);
		goto err;
	} else if (n > 0 && vmdk_is_descriptor((const char *)h, (size_t)n)) {
		r = vmdk_open_descriptor_file(img, v, flags);
		if (r < 0)
			goto err;
	} else {
		r = vsl_set_error(ctx, 0, VSL_EINVAL,
				  "%s: not a VMDK (no 'KDMV' header or '# Disk DescriptorFile')",
				  s->name);
		goto err;
	}
	img->priv = v;
	return 0;
err:
	vmdk_free(v);
	return r;
}

static void vmdk_close(struct vsl_image *img)
{
	struct vmdk *v = img->priv;

	if (!v)
		return;
	if (v->so && (v->so->dirty || v->so->cur_dirty) && !v->so->err) {
		if (vmdk_so_tail(v->so) < 0)
			vsl_err(img->ctx, "%s: finishing the streamOptimized VMDK failed: %s",
				img->s->name, vsl_ctx_error(img->ctx));
	}
	vmdk_free(v);
	img->priv = NULL;
}

/* ---- I/O ---- */

static struct vmdk_extent *vmdk_find(struct vmdk *v, uint64_t off)
{
	unsigned lo = 0, hi = v->n_ext;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		struct vmdk_extent *e = &v->ext[mid];

		if (off < e->start)
			hi = mid;
		else if (off - e->start >= e->len)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

static int vmdk_no_extent(struct vsl_image *img, uint64_t off)
{
	return vsl_set_error(img->ctx, 0, VSL_ECORRUPT, "%s: no extent covers offset %llu",
			     img->s->name, (unsigned long long)off);
}

static int vmdk_read(struct vsl_image *img, uint64_t off, void *buf, size_t len)
{
	struct vmdk *v = img->priv;
	uint8_t *p = buf;

	if (v->so)
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP,
				     "%s: a streamOptimized VMDK being written cannot be read until it is closed",
				     img->s->name);
	while (len) {
		struct vmdk_extent *e = vmdk_find(v, off);
		uint64_t in, n;
		int r = 0;

		if (!e)
			return vmdk_no_extent(img, off);
		in = off - e->start;
		n = VSL_MIN((uint64_t)len, e->len - in);
		switch (e->type) {
		case VMDK_EXT_ZERO:
			memset(p, 0, n);
			break;
		case VMDK_EXT_FLAT:
			r = vsl_stream_pread_full(e->s, p, n, e->flat_off + in);
			break;
		case VMDK_EXT_SPARSE:
			r = vmdk_sparse_read(img->ctx, e, in, p, n);
			break;
		}
		if (r < 0)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int vmdk_write(struct vsl_image *img, uint64_t off, const void *buf, size_t len)
{
	struct vmdk *v = img->priv;
	const uint8_t *p = buf;

	if (v->so)
		return vmdk_so_write(v->so, off, buf, len);
	while (len) {
		struct vmdk_extent *e = vmdk_find(v, off);
		uint64_t in, n;
		int r = 0;

		if (!e)
			return vmdk_no_extent(img, off);
		in = off - e->start;
		n = VSL_MIN((uint64_t)len, e->len - in);
		if (e->rdonly)
			return vsl_set_error(img->ctx, 0, VSL_EPERM,
					     "%s: extent '%s' is read-only in the descriptor",
					     img->s->name, e->name ? e->name : "?");
		switch (e->type) {
		case VMDK_EXT_ZERO:
			if (!vsl_buf_is_zero(p, n))
				return vsl_set_error(img->ctx, 0, VSL_ENOTSUP,
						     "%s: cannot write data to a ZERO extent",
						     img->s->name);
			break;
		case VMDK_EXT_FLAT:
			r = vsl_stream_pwrite(e->s, p, n, e->flat_off + in);
			break;
		case VMDK_EXT_SPARSE:
			r = vmdk_sparse_write(img, e, in, p, n);
			break;
		}
		if (r < 0)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int vmdk_zero(struct vsl_image *img, uint64_t off, uint64_t len)
{
	struct vmdk *v = img->priv;

	if (v->so) {
		while (len) {
			size_t n = (size_t)VSL_MIN(len, (uint64_t)1 << 30);
			int r = vmdk_so_write(v->so, off, NULL, n);
			if (r < 0)
				return r;
			off += n;
			len -= n;
		}
		return 0;
	}
	return VSL_ENOTSUP; /* the generic path writes zeroes, which skips unallocated grains */
}

static int vmdk_flush(struct vsl_image *img)
{
	struct vmdk *v = img->priv;
	int r = 0;

	if (v->so)
		return v->so->err ? v->so->err : vmdk_so_tail(v->so);
	if (img->flags & VSL_IMAGE_UNSAFE)
		return 0;
	for (unsigned i = 0; i < v->n_ext && r == 0; i++)
		if (v->ext[i].s)
			r = vsl_stream_flush(v->ext[i].s);
	return r;
}

/* Kind of the grain at in: 1 data, 0 zero; *host its file offset or NO_HOST. */
static int vmdk_grain_kind(struct vsl_ctx *ctx, struct vmdk_extent *e, uint64_t in,
			   uint64_t *host, int *kind)
{
	uint32_t ent;
	int r = vmdk_lookup(ctx, e, in, &ent);

	if (r < 0)
		return r;
	*kind = !vmdk_is_zero_entry(e, ent);
	*host = (!*kind || (e->hflags & VMDK_FLAG_COMPRESSED))
			? VSL_IMAGE_NO_HOST
			: (uint64_t)ent * VMDK_SECTOR + in % e->grain;
	return 0;
}

static int vmdk_status(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
		       int *flags, uint64_t *host)
{
	struct vmdk *v = img->priv;
	struct vmdk_extent *e;
	uint64_t in, n, d, end;
	int r;

	if (v->so) {
		*pnum = len;
		*flags = VSL_BLOCK_DATA;
		*host = VSL_IMAGE_NO_HOST;
		return 0;
	}
	e = vmdk_find(v, off);
	if (!e)
		return vmdk_no_extent(img, off);
	in = off - e->start;
	len = VSL_MIN(len, e->len - in);
	*host = VSL_IMAGE_NO_HOST;
	switch (e->type) {
	case VMDK_EXT_ZERO:
		*pnum = len;
		*flags = VSL_BLOCK_ZERO;
		return 0;
	case VMDK_EXT_FLAT:
		r = vsl_stream_next_data(e->s, e->flat_off + in, &d, &end);
		if (r == VSL_ENOENT || (r == 0 && d >= e->flat_off + in + len)) {
			*pnum = len;
			*flags = VSL_BLOCK_ZERO;
		} else if (r == 0 && d > e->flat_off + in) {
			*pnum = d - (e->flat_off + in);
			*flags = VSL_BLOCK_ZERO;
		} else {
			*pnum = (r == 0 && end > e->flat_off + in) ? VSL_MIN(len, end - e->flat_off - in)
								   : len;
			*flags = VSL_BLOCK_DATA;
			*host = e->flat_off + in;
		}
		if (e->s != img->s)
			*host = VSL_IMAGE_NO_HOST;
		return 0;
	case VMDK_EXT_SPARSE:
		break;
	}
	int kind;

	r = vmdk_grain_kind(img->ctx, e, in, host, &kind);
	if (r < 0)
		return r;
	n = VSL_MIN(len, e->grain - in % e->grain);
	/*
	 * Extend the run a grain table at a time. Callers ask about the rest of
	 * the disk: a bounded number of tables keeps each answer cheap (a
	 * shorter *pnum is always allowed).
	 */
	for (unsigned budget = 1024; n < len && budget; budget--) {
		uint64_t at = in + n, gdi = at / e->gt_cover;
		uint32_t *gt;

		if (gdi >= e->gd_n || !e->gd[gdi]) {
			if (kind)
				break;
			n = VSL_MIN(len, (gdi + 1) * e->gt_cover - in); /* a whole unallocated GT */
			continue;
		}
		gt = vmdk_gt(img->ctx, e, gdi, &r);
		if (!gt) {
			if (r < 0)
				return r;
			break;
		}
		for (uint64_t i = (at % e->gt_cover) / e->grain; i < e->gtes && n < len; i++) {
			if (!vmdk_is_zero_entry(e, gt[i]) != kind)
				goto done;
			/* data runs must also be contiguous in the file for *host to hold */
			if (kind && *host != VSL_IMAGE_NO_HOST &&
			    (uint64_t)gt[i] * VMDK_SECTOR != *host + n)
				goto done;
			n = VSL_MIN(len, n + e->grain);
		}
	}
done:
	*pnum = n;
	*flags = kind ? VSL_BLOCK_DATA : VSL_BLOCK_ZERO;
	if (e->s != img->s)
		*host = VSL_IMAGE_NO_HOST;
	return 0;
}

static int vmdk_block_status(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			     int *flags)
{
	uint64_t host;

	return vmdk_status(img, off, len, pnum, flags, &host);
}

static int vmdk_host_offset(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			    uint64_t *host)
{
	int flags;

	return vmdk_status(img, off, len, pnum, &flags, host);
}

static void vmdk_problem(struct vsl_check_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void vmdk_problem(struct vsl_check_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (rep->corruptions++)
		return;
	va_start(ap, fmt);
	vsnprintf(rep->first_problem, sizeof(rep->first_problem), fmt, ap);
	va_end(ap);
}

static int vmdk_check(struct vsl_image *img, struct vsl_check_report *rep)
{
	struct vmdk *v = img->priv;

	if (v->so)
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP, "check an image after writing it");
	for (unsigned x = 0; x < v->n_ext; x++) {
		struct vmdk_extent *e = &v->ext[x];

		if (e->type != VMDK_EXT_SPARSE)
			continue;
		rep->total_clusters += (e->len + e->grain - 1) / e->grain;
		for (uint32_t g = 0; g < e->gd_n; g++) {
			uint32_t *gt;
			int r;

			if (!e->gd[g])
				continue;
			gt = vmdk_gt(img->ctx, e, g, &r);
			if (!gt)
				return r;
			for (uint32_t i = 0; i < e->gtes; i++) {
				uint64_t at = (uint64_t)gt[i] * VMDK_SECTOR;
				bool comp = e->hflags & VMDK_FLAG_COMPRESSED;

				if (vmdk_is_zero_entry(e, gt[i]))
					continue;
				rep->allocated_clusters++;
				if (at >= e->fsize || (!comp && e->fsize - at < e->grain))
					vmdk_problem(rep,
						     "%s: grain %llu at offset %llu is past the end of the %llu-byte file",
						     e->s->name,
						     (unsigned long long)g * e->gtes + i,
						     (unsigned long long)at,
						     (unsigned long long)e->fsize);
			}
		}
	}
	return 0;
}

static int vmdk_info(struct vsl_image *img, char *buf, size_t len)
{
	struct vmdk *v = img->priv;
	size_t n = 0;
	int w;

	w = snprintf(buf, len,
		     "subformat: %s\nadapter_type: %s\nhwversion: %s\ncid: %08x\nextents: %u\n",
		     v->create_type[0] ? v->create_type : "unknown", v->adapter, v->hwversion,
		     v->cid, v->n_ext);
	if (w < 0 || (size_t)w >= len)
		return 0;
	n = (size_t)w;
	if (v->n_ext && v->ext[0].type == VMDK_EXT_SPARSE) {
		w = snprintf(buf + n, len - n, "grain_size: %llu\ncompressed: %s\n",
			     (unsigned long long)v->ext[0].grain,
			     (v->ext[0].hflags & VMDK_FLAG_COMPRESSED) ? "yes" : "no");
	}
	return 0;
}

/* ---- create ---- */

void vmdk_make_header(uint8_t *h, uint32_t version, uint32_t flags, uint64_t cap_sec,
		      uint64_t desc_sec, uint64_t desc_n, uint64_t rgd, uint64_t gd,
		      uint64_t overhead, bool compressed)
{
	memset(h, 0, VMDK_SECTOR);
	memcpy(h, VMDK_MAGIC, 4);
	vmdk_put32(h + 4, version);
	vmdk_put32(h + 8, flags);
	vmdk_put64(h + 12, cap_sec);
	vmdk_put64(h + 20, VMDK_GRAIN_SECTORS);
	vmdk_put64(h + 28, desc_sec);
	vmdk_put64(h + 36, desc_n);
	vmdk_put32(h + 44, VMDK_GTES);
	vmdk_put64(h + 48, rgd);
	vmdk_put64(h + 56, gd);
	vmdk_put64(h + 64, overhead);
	h[73] = '\n';
	h[74] = ' ';
	h[75] = '\r';
	h[76] = '\n';
	h[77] = compressed ? 1 : 0;
}

/* Write a GD whose entries point at consecutive GTs from first_gt (sectors). */
static int vmdk_write_gd(struct vsl_stream *s, uint64_t at_sec, uint32_t gd_n, uint64_t first_gt)
{
	size_t bytes = VSL_ALIGN_UP((size_t)gd_n * 4, VMDK_SECTOR);
	uint8_t *buf = calloc(1, bytes ? bytes : 1);
	int r;

	if (!buf)
		return vsl_set_error(s->ctx, 0, VSL_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < gd_n; i++)
		vmdk_put32(buf + i * 4, (uint32_t)(first_gt + (uint64_t)i * (VMDK_GTES * 4 / VMDK_SECTOR)));
	r = vsl_stream_pwrite(s, buf, bytes, at_sec * VMDK_SECTOR);
	free(buf);
	return r;
}

int vmdk_write_desc(struct vsl_stream *s, const char *text, uint64_t max_bytes)
{
	size_t n = strlen(text);

	if (n > max_bytes)
		return vsl_set_error(s->ctx, 0, VSL_ERANGE, "descriptor of %zu bytes does not fit in %llu",
				     n, (unsigned long long)max_bytes);
	return vsl_stream_pwrite(s, text, n, VMDK_SECTOR);
}

static int vmdk_create(struct vsl_image *img, struct vsl_stream *s, uint64_t size,
		       const struct vsl_image_opts *opts)
{
	struct vsl_ctx *ctx = img->ctx;
	const char *sub = vsl_image_opt(opts, "subformat");
	const char *adapter = vsl_image_opt(opts, "adapter_type");
	const char *hw = vsl_image_opt(opts, "hwversion");
	const char *lvl = vsl_image_opt(opts, "compression_level");
	int level = VMDK_DEFLATE_LEVEL;
	const char *base;
	char name[256];
	struct vmdk *v;
	char *text = NULL;
	uint64_t cap_sec;
	uint32_t gd_n;
	int r;

	r = vsl_image_opts_check(ctx, img->ops, opts);
	if (r < 0)
		return r;
	if (opts && opts->backing_file)
		return vsl_set_error(ctx, 0, VSL_ENOTSUP,
				     "vmdk: backing files (delta disks) are not supported");
	vsl_format_skip_close_flush(img->path);
	if (!sub)
		sub = (opts && opts->compress) ? "streamOptimized" : "monolithicSparse";
	if (strcmp(sub, "monolithicSparse") && strcmp(sub, "streamOptimized") &&
	    strcmp(sub, "monolithicFlat"))
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "vmdk: unknown subformat '%s' (known: monolithicSparse, streamOptimized, monolithicFlat)",
				     sub);
	if (opts && opts->compress && strcmp(sub, "streamOptimized"))
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "vmdk: compression needs subformat=streamOptimized, not %s", sub);
	if (!adapter)
		adapter = "ide";
	if (strcmp(adapter, "ide") && strcmp(adapter, "lsilogic") && strcmp(adapter, "buslogic") &&
	    strcmp(adapter, "legacyESX"))
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "vmdk: unknown adapter_type '%s' (known: ide, lsilogic, buslogic, legacyESX)",
				     adapter);
	if (!hw)
		hw = "4";
	if (!*hw || strlen(hw) > 3 || strspn(hw, "0123456789") != strlen(hw) || atoi(hw) < 1)
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "vmdk: hwversion '%s' must be a number from 1 to 999", hw);
	if (lvl) {
		char *end;
		long l = strtol(lvl, &end, 10);
		if (!*lvl || *end || l < 0 || l > 12 || strcmp(sub, "streamOptimized"))
			return vsl_set_error(ctx, 0, VSL_EINVAL,
					     "vmdk: compression_level '%s' must be 0 to 12, with subformat=streamOptimized",
					     lvl);
		level = (int)l;
	}
	size = VSL_ALIGN_UP(size, VMDK_SECTOR);
	if (strcmp(sub, "monolithicFlat") ? size > ((uint64_t)2 << 40) : size > VMDK_MAX_CAPACITY)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "vmdk: %llu bytes is over the %s limit",
				     (unsigned long long)size,
				     strcmp(sub, "monolithicFlat") ? "2 TiB sparse extent" : "64 TiB");
	base = img->path ? strrchr(img->path, '/') : NULL;
	base = base ? base + 1 : (img->path ? img->path : "disk.vmdk");
	if (strlen(base) >= sizeof(name) - 16 || strpbrk(base, "\"\n\r"))
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "vmdk: file name '%s' cannot be written in a descriptor", base);
	snprintf(name, sizeof(name), "%s", base);
	{
		/* `img convert` writes OUT.tmp-XXXXXX and renames it: name the final file */
		size_t bl = strlen(name);
		if (bl > 11 && !strncmp(name + bl - 11, ".tmp-", 5))
			name[bl - 11] = 0;
	}

	v = calloc(1, sizeof(*v));
	if (!v)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	if (getrandom(&v->cid, sizeof(v->cid), 0) != sizeof(v->cid))
		v->cid = (uint32_t)time(NULL);
	if (v->cid == 0xffffffffu || !v->cid)
		v->cid = 0x1234abcd;
	v->parent_cid = 0xffffffffu;
	snprintf(v->create_type, sizeof(v->create_type), "%s", sub);
	snprintf(v->adapter, sizeof(v->adapter), "%s", adapter);
	snprintf(v->hwversion, sizeof(v->hwversion), "%s", hw);
	vmdk_chs(size, adapter, &v->cyls, &v->heads, &v->secs);
	cap_sec = size / VMDK_SECTOR;
	gd_n = (uint32_t)((size + (uint64_t)VMDK_GRAIN_SECTORS * VMDK_SECTOR * VMDK_GTES - 1) /
			  ((uint64_t)VMDK_GRAIN_SECTORS * VMDK_SECTOR * VMDK_GTES));

	if (!strcmp(sub, "monolithicSparse")) {
		uint8_t h[VMDK_SECTOR];
		uint64_t gd_sec = VSL_ALIGN_UP((uint64_t)gd_n * 4, VMDK_SECTOR) / VMDK_SECTOR;
		uint64_t gts_sec = (uint64_t)gd_n * (VMDK_GTES * 4 / VMDK_SECTOR);
		uint64_t rgd = 1 + VMDK_DESC_SECTORS, rgt = rgd + gd_sec;
		uint64_t gd = rgt + gts_sec, gt = gd + gd_sec;
		uint64_t overhead = VSL_ALIGN_UP(gt + gts_sec, VMDK_GRAIN_SECTORS);

		text = vmdk_desc_text(v, sub, cap_sec, "SPARSE", name, false);
		vmdk_make_header(h, 1, VMDK_FLAG_NL_TEST | VMDK_FLAG_RGD, cap_sec, 1,
				 VMDK_DESC_SECTORS, rgd, gd, overhead, false);
		r = text ? 0 : vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		if (r == 0)
			r = vsl_stream_pwrite(s, h, sizeof(h), 0);
		if (r == 0)
			r = vmdk_write_desc(s, text, VMDK_DESC_SECTORS * VMDK_SECTOR);
		if (r == 0)
			r = vmdk_write_gd(s, rgd, gd_n, rgt);
		if (r == 0)
			r = vmdk_write_gd(s, gd, gd_n, gt);
		/* the GTs start zeroed: leave them as a hole */
		if (r == 0)
			r = vsl_stream_truncate(s, overhead * VMDK_SECTOR);
		free(text);
		vmdk_free(v);
		if (r < 0)
			return r;
		return vmdk_open(img, s, VSL_IMAGE_RDWR);
	}
	if (!strcmp(sub, "monolithicFlat")) {
		char flat[300], *path = NULL;
		struct vsl_stream *fs;
		size_t bl = strlen(name);

		if (!img->path) {
			vmdk_free(v);
			return vsl_set_error(ctx, 0, VSL_ENOTSUP,
					     "vmdk: monolithicFlat needs a file path for its -flat extent");
		}
		if (bl > 5 && !strcmp(name + bl - 5, ".vmdk"))
			bl -= 5;
		snprintf(flat, sizeof(flat), "%.*s-flat.vmdk", (int)bl, name);
		r = vmdk_extent_path(ctx, img->path, flat, &path);
		if (r == 0)
			r = vsl_stream_open_file(ctx, path,
						 VSL_STREAM_RDWR | VSL_STREAM_CREATE | VSL_STREAM_TRUNC,
						 &fs);
		free(path);
		if (r < 0) {
			vmdk_free(v);
			return r;
		}
		r = vsl_stream_truncate(fs, size);
		vsl_stream_free(fs);
		text = vmdk_desc_text(v, sub, cap_sec, "FLAT", flat, true);
		vmdk_free(v);
		if (r == 0 && !text)
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		if (r == 0)
			r = vsl_stream_pwrite(s, text, strlen(text), 0);
		free(text);
		if (r < 0)
			return r;
		return vmdk_open(img, s, VSL_IMAGE_RDWR);
	}

	/* streamOptimized */
	text = vmdk_desc_text(v, sub, cap_sec, "SPARSE", name, false);
	r = text ? vmdk_so_create(img, v, size, gd_n, text, level, opts ? opts->threads : 0)
		 : vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	free(text);
	if (r < 0) {
		vmdk_free(v);
		return r;
	}
	img->size = size;
	img->priv = v;
	return 0;
}

const struct vsl_format_ops vsl_format_vmdk = {
	.name = "vmdk",
	.description = "VMware virtual disk (monolithicSparse, streamOptimized, flat, split)",
	.probe = vmdk_probe,
	.open = vmdk_open,
	.create = vmdk_create,
	.read = vmdk_read,
	.write = vmdk_write,
	.flush = vmdk_flush,
	.block_status = vmdk_block_status,
	.zero = vmdk_zero,
	.check = vmdk_check,
	.info = vmdk_info,
	.close = vmdk_close,
	.host_offset = vmdk_host_offset,
	.create_opts = vmdk_create_opts,
};
