/*
 * VHD ("vpc", as qemu-img names it): Microsoft's Virtual PC / Hyper-V disk.
 *
 * Two layouts are read and written (differencing disks are refused):
 *
 *   fixed:    [ raw data, current_size bytes ][ footer 512 ]
 *   dynamic:  [ footer copy 512 ][ dynamic header 1024 ][ BAT ]
 *             [ block: sector bitmap | block_size data ]... [ footer 512 ]
 *
 * All fields are big-endian. The footer ("conectix") and the dynamic header
 * ("cxsparse") carry a one's-complement checksum of their bytes with the
 * checksum field taken as zero. The BAT holds one 32-bit sector number per
 * block, 0xffffffff for a block that is not allocated (reads as zeroes).
 *
 * Footer (offsets in bytes):
 *    0 cookie[8]  8 features  12 version  16 data_offset(8)  24 timestamp
 *   28 creator_app[4]  32 creator_version  36 creator_os  40 original_size(8)
 *   48 current_size(8)  56 cyls(2) heads(1) spt(1)  60 disk_type  64 checksum
 *   68 uuid[16]  84 saved_state
 * Dynamic header:
 *    0 cookie[8]  8 data_offset(8)  16 table_offset(8)  24 version
 *   28 max_table_entries  32 block_size  36 checksum  40 parent uuid ...
 *
 * Size: the footer's current_size is the virtual size. qemu takes the CHS
 * geometry instead unless the creator is one it trusts or the geometry is
 * the maximum (65535/16/255). We write creator "vssl" and the honest CHS
 * geometry when it describes the size exactly; otherwise the maximum
 * geometry, which the VHD spec already uses for disks CHS cannot describe,
 * so qemu, Hyper-V and VirtualBox all see exactly current_size bytes.
 *
 * Blocks are allocated on write at the old footer position: the new footer
 * is written past the new block first, then the bitmap and the data, and the
 * BAT entry last, so a crash leaves at worst an unreferenced block. Like
 * qemu we write all-ones sector bitmaps and ignore bitmaps on read (a
 * dynamic disk without a parent has no use for them).
 *
 *	vsl_image_create(ctx, "d.vhd", "vpc", 1 << 30, &opts, &img);  // -o subformat=fixed
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "vessel/format.h"

#include "formats/format_int.h"

#define VHD_SECTOR 512u
#define VHD_FOOTER_SIZE 512u
#define VHD_DYN_SIZE 1024u
#define VHD_TYPE_FIXED 2u
#define VHD_TYPE_DYNAMIC 3u
#define VHD_TYPE_DIFF 4u
#define VHD_BAT_FREE 0xffffffffu
#define VHD_DEFAULT_BLOCK (2u << 20)
#define VHD_MIN_BLOCK 4096u
#define VHD_MAX_BLOCK (256u << 20)
/* qemu's limit (and the practical one of Hyper-V's VHD support): 2040 GiB */
#define VHD_MAX_SIZE ((uint64_t)2040 << 30)
#define VHD_MAX_CHS (65535ull * 16 * 255)
#define VHD_EPOCH 946684800 /* 2000-01-01T00:00:00Z in Unix time */
#define VHD_NO_OFFSET 0xffffffffffffffffull

struct vhd {
	uint8_t footer[VHD_FOOTER_SIZE]; /* as on disk; rewritten when the file grows */
	uint32_t type;
	uint64_t footer_off;   /* where the trailing footer lives (end of data) */
	bool end_footer_ok;    /* false: opened from the copy at the start */
	/* dynamic disks */
	uint64_t bat_off;
	uint32_t bat_n;
	uint32_t *bat;         /* host order */
	uint32_t block_size;
	uint32_t bitmap_size;  /* bytes, a multiple of 512 */
};

static const char *const vhd_create_opts[] = { "subformat", "block_size", "force_size", NULL };

static uint32_t vhd_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t vhd_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return be64toh(v);
}

static void vhd_put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void vhd_put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

/* One's complement of the byte sum, with the 4-byte checksum field at csum_off as zero. */
static uint32_t vhd_checksum(const uint8_t *p, size_t len, size_t csum_off)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++)
		if (i < csum_off || i >= csum_off + 4)
			sum += p[i];
	return ~sum;
}

/*
 * CHS geometry for a size in sectors, per the VHD specification's algorithm
 * (appendix "CHS calculation").
 */
static void vhd_geometry(uint64_t sectors, uint16_t *cyls, uint8_t *heads, uint8_t *spt)
{
	uint64_t cth;
	uint32_t h, s;

	if (sectors > VHD_MAX_CHS)
		sectors = VHD_MAX_CHS;
	if (sectors >= 65535ull * 16 * 63) {
		s = 255;
		h = 16;
		cth = sectors / s;
	} else {
		s = 17;
		cth = sectors / s;
		h = (uint32_t)((cth + 1023) / 1024);
		if (h < 4)
			h = 4;
		if (cth >= (uint64_t)h * 1024 || h > 16) {
			s = 31;
			h = 16;
			cth = sectors / s;
		}
		if (cth >= (uint64_t)h * 1024) {
			s = 63;
			h = 16;
			cth = sectors / s;
		}
	}
	*cyls = (uint16_t)(cth / h);
	*heads = (uint8_t)h;
	*spt = (uint8_t)s;
}

static int vhd_probe(struct vsl_stream *s)
{
	uint8_t buf[8];
	uint64_t size;

	if (vsl_stream_pread(s, buf, 8, 0) == 8 && !memcmp(buf, "conectix", 8))
		return 100;
	/* fixed disks have their only footer at the end */
	if (vsl_stream_size(s, &size) == 0 && size >= VHD_FOOTER_SIZE) {
		if (vsl_stream_pread(s, buf, 8, size - VHD_FOOTER_SIZE) == 8 &&
		    !memcmp(buf, "conectix", 8))
			return 100;
		/* pre-2004 Virtual PC wrote 511-byte footers */
		if (vsl_stream_pread(s, buf, 8, size - 511) == 8 && !memcmp(buf, "conectix", 8))
			return 100;
	}
	return 0;
}

/* Validate a footer; where names it in messages ("footer at offset N"). */
static int vhd_check_footer(struct vsl_ctx *ctx, const char *name, const uint8_t *f,
			    const char *where)
{
	uint32_t stored, computed;

	if (memcmp(f, "conectix", 8))
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: no VHD footer cookie 'conectix' in %s",
				     name, where);
	stored = vhd_be32(f + 64);
	computed = vhd_checksum(f, VHD_FOOTER_SIZE, 64);
	if (stored != computed)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: VHD footer checksum mismatch in %s: stored 0x%08x, computed 0x%08x",
				     name, where, stored, computed);
	if ((vhd_be32(f + 12) >> 16) != 1)
		return vsl_set_error(ctx, 0, VSL_ENOTSUP,
				     "%s: VHD file format version 0x%08x not supported (want 1.x)",
				     name, vhd_be32(f + 12));
	return 0;
}

static void vhd_free(struct vhd *v)
{
	if (v) {
		free(v->bat);
		free(v);
	}
}

static int vhd_open_dynamic(struct vsl_image *img, struct vhd *v, uint64_t fsize)
{
	struct vsl_ctx *ctx = img->ctx;
	const char *name = img->s->name;
	uint8_t dh[VHD_DYN_SIZE];
	uint64_t doff = vhd_be64(v->footer + 16), need;
	uint32_t stored, computed;
	int r;

	if (doff == VHD_NO_OFFSET || doff % VHD_SECTOR || doff > fsize || fsize - doff < VHD_DYN_SIZE)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: dynamic header offset %llu is outside the %llu-byte file",
				     name, (unsigned long long)doff, (unsigned long long)fsize);
	r = vsl_stream_pread_full(img->s, dh, sizeof(dh), doff);
	if (r < 0)
		return r;
	if (memcmp(dh, "cxsparse", 8))
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: no dynamic header cookie 'cxsparse' at offset %llu", name,
				     (unsigned long long)doff);
	stored = vhd_be32(dh + 36);
	computed = vhd_checksum(dh, sizeof(dh), 36);
	if (stored != computed)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: VHD dynamic header checksum mismatch: stored 0x%08x, computed 0x%08x",
				     name, stored, computed);
	v->bat_off = vhd_be64(dh + 16);
	v->bat_n = vhd_be32(dh + 28);
	v->block_size = vhd_be32(dh + 32);
	if (v->block_size < VHD_MIN_BLOCK || v->block_size > VHD_MAX_BLOCK ||
	    (v->block_size & (v->block_size - 1)))
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: VHD block size %u is not a power of two between %u and %u",
				     name, v->block_size, VHD_MIN_BLOCK, VHD_MAX_BLOCK);
	v->bitmap_size = VSL_ALIGN_UP(v->block_size / VHD_SECTOR / 8, VHD_SECTOR);
	if ((uint64_t)v->bat_n * v->block_size < img->size)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: VHD block table has %u entries of %u bytes, too few for the %llu-byte disk",
				     name, v->bat_n, v->block_size, (unsigned long long)img->size);
	need = (uint64_t)v->bat_n * 4;
	if (v->bat_off % VHD_SECTOR || v->bat_off > fsize || fsize - v->bat_off < need)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: VHD block table (%u entries at offset %llu) extends past the end of the %llu-byte file",
				     name, v->bat_n, (unsigned long long)v->bat_off,
				     (unsigned long long)fsize);
	/* entries beyond the disk size are never used; do not load them */
	v->bat_n = (uint32_t)VSL_MIN((uint64_t)v->bat_n,
				     (img->size + v->block_size - 1) / v->block_size);
	v->bat = vsl_calloc(v->bat_n ? v->bat_n : 1, 4);
	if (!v->bat)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "%s: out of memory for the block table", name);
	r = vsl_stream_pread_full(img->s, v->bat, (size_t)v->bat_n * 4, v->bat_off);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < v->bat_n; i++) {
		uint64_t off;

		v->bat[i] = be32toh(v->bat[i]);
		if (v->bat[i] == VHD_BAT_FREE)
			continue;
		off = (uint64_t)v->bat[i] * VHD_SECTOR;
		if (off + v->bitmap_size + v->block_size > fsize)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: block %u at offset %llu extends past the end of the %llu-byte file",
					     name, i, (unsigned long long)off, (unsigned long long)fsize);
		if (v->end_footer_ok && off + v->bitmap_size + v->block_size > v->footer_off)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: block %u at offset %llu overlaps the footer at offset %llu",
					     name, i, (unsigned long long)off,
					     (unsigned long long)v->footer_off);
		if (off < v->bat_off + need && off + v->bitmap_size + v->block_size > v->bat_off)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: block %u at offset %llu overlaps the block table",
					     name, i, (unsigned long long)off);
	}
	return 0;
}

static int vhd_open(struct vsl_image *img, struct vsl_stream *s, int flags)
{
	struct vsl_ctx *ctx = img->ctx;
	struct vhd *v;
	uint64_t fsize, cur;
	char where[64];
	int r;

	r = vsl_stream_size(s, &fsize);
	if (r < 0)
		return r;
	if (fsize < VHD_FOOTER_SIZE - 1)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: %llu bytes is too small for a VHD (no 512-byte footer)",
				     s->name, (unsigned long long)fsize);
	v = calloc(1, sizeof(*v));
	if (!v)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	v->footer_off = fsize % VHD_SECTOR == 511 ? fsize - 511 : fsize - VHD_FOOTER_SIZE;
	if (fsize < VHD_FOOTER_SIZE)
		v->footer_off = 0;
	r = vsl_stream_pread(s, v->footer, VHD_FOOTER_SIZE, v->footer_off);
	if (r < 0)
		goto err;
	snprintf(where, sizeof(where), "the footer at offset %llu",
		 (unsigned long long)v->footer_off);
	r = vhd_check_footer(ctx, s->name, v->footer, where);
	v->end_footer_ok = r == 0;
	if (r < 0) {
		/* a dynamic disk keeps a copy at the start (a crash mid-extension loses the end) */
		uint8_t copy[VHD_FOOTER_SIZE];
		char first[512];

		snprintf(first, sizeof(first), "%s", vsl_ctx_error(ctx));
		if (fsize < 2 * VHD_FOOTER_SIZE ||
		    vsl_stream_pread_full(s, copy, sizeof(copy), 0) < 0 ||
		    vhd_check_footer(ctx, s->name, copy, "the footer copy at offset 0") < 0 ||
		    vhd_be32(copy + 60) != VHD_TYPE_DYNAMIC) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s", first);
			goto err;
		}
		if (flags & VSL_IMAGE_RDWR) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
					  "%s (the copy at offset 0 is intact: open read-only and convert to recover)",
					  first);
			goto err;
		}
		vsl_warn(ctx, "%s; using the footer copy at offset 0", first);
		memcpy(v->footer, copy, sizeof(copy));
	}
	v->type = vhd_be32(v->footer + 60);
	cur = vhd_be64(v->footer + 48);
	if (cur > VHD_MAX_SIZE || cur % VHD_SECTOR) {
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
				  "%s: VHD size %llu is not a multiple of 512 up to 2040 GiB",
				  s->name, (unsigned long long)cur);
		goto err;
	}
	img->size = cur;
	switch (v->type) {
	case VHD_TYPE_FIXED:
		if (cur > v->footer_off) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
					  "%s: fixed VHD of %llu bytes holds only %llu bytes of data (truncated?)",
					  s->name, (unsigned long long)cur,
					  (unsigned long long)v->footer_off);
			goto err;
		}
		break;
	case VHD_TYPE_DYNAMIC:
		r = vhd_open_dynamic(img, v, fsize);
		if (r < 0)
			goto err;
		if (v->footer_off % VHD_SECTOR && (flags & VSL_IMAGE_RDWR)) {
			r = vsl_set_error(ctx, 0, VSL_ENOTSUP,
					  "%s: old 511-byte VHD footer; open read-only and convert",
					  s->name);
			goto err;
		}
		break;
	case VHD_TYPE_DIFF:
		r = vsl_set_error(ctx, 0, VSL_ENOTSUP,
				  "%s: differencing VHDs are not supported (convert it with its parent first)",
				  s->name);
		goto err;
	default:
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: unknown VHD disk type %u", s->name,
				  v->type);
		goto err;
	}
	img->priv = v;
	return 0;
err:
	vhd_free(v);
	return r;
}

static void vhd_close(struct vsl_image *img)
{
	vhd_free(img->priv);
	img->priv = NULL;
}

/* Map a virtual offset: *host = file offset or VSL_IMAGE_NO_HOST; *n = bytes in the same run. */
static void vhd_map(struct vhd *v, uint64_t size, uint64_t off, uint64_t len, uint64_t *host,
		    uint64_t *n)
{
	if (v->type == VHD_TYPE_FIXED) {
		*host = off;
		*n = len;
		return;
	}
	uint64_t blk = off / v->block_size, in = off % v->block_size;
	uint32_t e = blk < v->bat_n ? v->bat[blk] : VHD_BAT_FREE;

	*n = VSL_MIN(len, v->block_size - in);
	*host = e == VHD_BAT_FREE ? VSL_IMAGE_NO_HOST
				  : (uint64_t)e * VHD_SECTOR + v->bitmap_size + in;
	(void)size;
}

static int vhd_read(struct vsl_image *img, uint64_t off, void *buf, size_t len)
{
	struct vhd *v = img->priv;
	uint8_t *p = buf;

	while (len) {
		uint64_t host, n;
		int r;

		vhd_map(v, img->size, off, len, &host, &n);
		if (host == VSL_IMAGE_NO_HOST) {
			memset(p, 0, n);
		} else {
			r = vsl_stream_pread_full(img->s, p, n, host);
			if (r < 0)
				return r;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static void vhd_footer_finish(uint8_t *f)
{
	vhd_put32(f + 64, 0);
	vhd_put32(f + 64, vhd_checksum(f, VHD_FOOTER_SIZE, 64));
}

/* Allocate block blk at the footer position (see the ordering in the file comment). */
static int vhd_alloc_block(struct vsl_image *img, uint64_t blk)
{
	struct vhd *v = img->priv;
	uint64_t at = v->footer_off, end = at + v->bitmap_size + v->block_size;
	uint8_t *bitmap;
	int r;

	if (at / VHD_SECTOR >= VHD_BAT_FREE)
		return vsl_set_error(img->ctx, 0, VSL_ERANGE, "%s: VHD file would exceed 2 TiB",
				     img->s->name);
	r = vsl_stream_pwrite(img->s, v->footer, VHD_FOOTER_SIZE, end);
	if (r < 0)
		return r;
	bitmap = malloc(v->bitmap_size);
	if (!bitmap)
		return vsl_set_error(img->ctx, 0, VSL_ENOMEM, "out of memory");
	memset(bitmap, 0xff, v->bitmap_size);
	r = vsl_stream_pwrite(img->s, bitmap, v->bitmap_size, at);
	free(bitmap);
	if (r < 0)
		return r;
	/* the data between bitmap and new footer is a hole: it reads as zeroes */
	v->footer_off = end;
	v->bat[blk] = (uint32_t)(at / VHD_SECTOR);
	return 0;
}

#define VHD_PENDING 64u

/*
 * Make freshly allocated blocks visible: their data is written (and, unless
 * the image is unsafe, flushed); now their BAT entries, one write per run of
 * consecutive blocks.
 */
static int vhd_commit(struct vsl_image *img, const uint64_t *blks, unsigned n)
{
	struct vhd *v = img->priv;
	uint32_t be[VHD_PENDING];
	int r = 0;

	if (!n)
		return 0;
	if (!(img->flags & VSL_IMAGE_UNSAFE))
		r = vsl_stream_flush(img->s);
	for (unsigned i = 0, j; i < n && r == 0; i = j) {
		for (j = i; j < n && blks[j] == blks[i] + (j - i); j++)
			be[j - i] = htobe32(v->bat[blks[j]]);
		r = vsl_stream_pwrite(img->s, be, (size_t)(j - i) * 4, v->bat_off + blks[i] * 4);
	}
	return r;
}

static int vhd_write(struct vsl_image *img, uint64_t off, const void *buf, size_t len)
{
	struct vhd *v = img->priv;
	const uint8_t *p = buf;
	uint64_t pend[VHD_PENDING];
	unsigned np = 0;
	int r = 0;

	if (v->type == VHD_TYPE_FIXED)
		return vsl_stream_pwrite(img->s, buf, len, off);
	while (len) {
		uint64_t host, n, blk = off / v->block_size;

		vhd_map(v, img->size, off, len, &host, &n);
		if (host == VSL_IMAGE_NO_HOST) {
			if (vsl_buf_is_zero(p, n))
				goto next; /* unallocated blocks read as zeroes already */
			if (np == VHD_PENDING) {
				r = vhd_commit(img, pend, np);
				if (r < 0)
					return r;
				np = 0;
			}
			r = vhd_alloc_block(img, blk);
			if (r < 0)
				return r;
			pend[np++] = blk;
			vhd_map(v, img->size, off, len, &host, &n);
		}
		/* data first; the BAT entries that make new blocks visible come last */
		r = vsl_stream_pwrite(img->s, p, n, host);
		if (r < 0)
			return r;
next:
		p += n;
		off += n;
		len -= n;
	}
	return vhd_commit(img, pend, np);
}

static int vhd_flush(struct vsl_image *img)
{
	if (img->flags & VSL_IMAGE_UNSAFE)
		return 0;
	return vsl_stream_flush(img->s);
}

static int vhd_block_status(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			    int *flags)
{
	struct vhd *v = img->priv;
	uint64_t host, n, d, e;
	int r;

	if (v->type == VHD_TYPE_FIXED) {
		/* holes in the host file read as zeroes: keep conversions sparse */
		r = vsl_stream_next_data(img->s, off, &d, &e);
		if (r == VSL_ENOENT || (r == 0 && d >= off + len)) {
			*pnum = len;
			*flags = VSL_BLOCK_ZERO;
		} else if (r == 0 && d > off) {
			*pnum = d - off;
			*flags = VSL_BLOCK_ZERO;
		} else {
			*pnum = (r == 0 && e > off) ? VSL_MIN(len, e - off) : len;
			*flags = VSL_BLOCK_DATA;
		}
		return 0;
	}
	vhd_map(v, img->size, off, len, &host, &n);
	*flags = host == VSL_IMAGE_NO_HOST ? VSL_BLOCK_ZERO : VSL_BLOCK_DATA;
	/* merge following blocks of the same kind (a bounded number: callers ask about the rest of the disk) */
	for (unsigned budget = 4096; n < len && budget; budget--) {
		uint64_t h2, n2;

		vhd_map(v, img->size, off + n, len - n, &h2, &n2);
		if ((h2 == VSL_IMAGE_NO_HOST) != (host == VSL_IMAGE_NO_HOST))
			break;
		n += n2;
	}
	*pnum = n;
	return 0;
}

static int vhd_host_offset(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			   uint64_t *host)
{
	vhd_map(img->priv, img->size, off, len, host, pnum);
	return 0;
}

static int vhd_zero(struct vsl_image *img, uint64_t off, uint64_t len)
{
	struct vhd *v = img->priv;
	static const uint8_t zeros[65536];

	if (v->type == VHD_TYPE_FIXED)
		return VSL_ENOTSUP; /* the generic path writes zeroes */
	while (len) {
		uint64_t host, n;
		int r;

		vhd_map(v, img->size, off, len, &host, &n);
		if (host != VSL_IMAGE_NO_HOST) {
			for (uint64_t done = 0; done < n;) {
				size_t k = (size_t)VSL_MIN(n - done, sizeof(zeros));
				r = vsl_stream_pwrite(img->s, zeros, k, host + done);
				if (r < 0)
					return r;
				done += k;
			}
		}
		off += n;
		len -= n;
	}
	return 0;
}

static int vhd_check(struct vsl_image *img, struct vsl_check_report *rep)
{
	struct vhd *v = img->priv;

	if (!v->end_footer_ok) {
		rep->corruptions++;
		snprintf(rep->first_problem, sizeof(rep->first_problem),
			 "footer at the end is missing or damaged (the copy at offset 0 was used)");
	}
	if (v->type == VHD_TYPE_FIXED) {
		rep->total_clusters = rep->allocated_clusters = 1;
		return 0;
	}
	rep->total_clusters = v->bat_n;
	for (uint32_t i = 0; i < v->bat_n; i++) {
		if (v->bat[i] == VHD_BAT_FREE)
			continue;
		rep->allocated_clusters++;
		/* blocks were range-checked at open; look for two entries sharing a block */
		for (uint32_t j = i + 1; j < v->bat_n && j < i + 4096; j++) {
			if (v->bat[j] != VHD_BAT_FREE && v->bat[j] == v->bat[i]) {
				if (!rep->corruptions++)
					snprintf(rep->first_problem, sizeof(rep->first_problem),
						 "blocks %u and %u share offset %llu", i, j,
						 (unsigned long long)v->bat[i] * VHD_SECTOR);
			}
		}
	}
	return 0;
}

static int vhd_info(struct vsl_image *img, char *buf, size_t len)
{
	struct vhd *v = img->priv;
	const uint8_t *f = v->footer;
	char creator[5];
	const uint8_t *u = f + 68;

	for (int i = 0; i < 4; i++)
		creator[i] = (f[28 + i] >= 32 && f[28 + i] < 127) ? (char)f[28 + i] : '?';
	creator[4] = 0;
	int n = snprintf(buf, len,
			 "subformat: %s\n"
			 "creator: %s\n"
			 "geometry: %u/%u/%u\n"
			 "uuid: %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n",
			 v->type == VHD_TYPE_FIXED ? "fixed" : "dynamic", creator,
			 (unsigned)(f[56] << 8 | f[57]), f[58], f[59], u[0], u[1], u[2], u[3], u[4],
			 u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	if (v->type == VHD_TYPE_DYNAMIC && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "block_size: %u\n", v->block_size);
	return 0;
}

static void vhd_make_footer(uint8_t *f, uint64_t size, uint32_t type, uint64_t data_off)
{
	uint16_t c;
	uint8_t h, s;
	uint64_t sectors = size / VHD_SECTOR;

	memset(f, 0, VHD_FOOTER_SIZE);
	memcpy(f, "conectix", 8);
	vhd_put32(f + 8, 2);               /* features: reserved bit always set */
	vhd_put32(f + 12, 0x00010000);     /* format version 1.0 */
	vhd_put64(f + 16, data_off);
	vhd_put32(f + 24, (uint32_t)(time(NULL) - VHD_EPOCH));
	memcpy(f + 28, "vssl", 4);
	vhd_put32(f + 32, 0x00000001);     /* creator version 0.1 */
	memcpy(f + 36, "Wi2k", 4);         /* the spec knows only Windows and Mac hosts */
	vhd_put64(f + 40, size);
	vhd_put64(f + 48, size);
	vhd_geometry(sectors, &c, &h, &s);
	if ((uint64_t)c * h * s != sectors) {
		/* CHS cannot say this size: maximum geometry makes readers use current_size */
		c = 65535;
		h = 16;
		s = 255;
	}
	f[56] = (uint8_t)(c >> 8);
	f[57] = (uint8_t)c;
	f[58] = h;
	f[59] = s;
	vhd_put32(f + 60, type);
	if (getrandom(f + 68, 16, 0) != 16) {
		uint64_t t = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)f << 16);
		memcpy(f + 68, &t, 8);
		memcpy(f + 76, &size, 8);
	}
	f[68 + 6] = (uint8_t)((f[68 + 6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
	f[68 + 8] = (uint8_t)((f[68 + 8] & 0x3f) | 0x80);
	vhd_footer_finish(f);
}

static int vhd_create(struct vsl_image *img, struct vsl_stream *s, uint64_t size,
		      const struct vsl_image_opts *opts)
{
	struct vsl_ctx *ctx = img->ctx;
	const char *sub = vsl_image_opt(opts, "subformat");
	const char *bs_opt = vsl_image_opt(opts, "block_size");
	const char *force = vsl_image_opt(opts, "force_size");
	uint64_t bs = VHD_DEFAULT_BLOCK;
	struct vhd *v;
	int r;

	r = vsl_image_opts_check(ctx, img->ops, opts);
	if (r < 0)
		return r;
	if (opts && opts->backing_file)
		return vsl_set_error(ctx, 0, VSL_ENOTSUP,
				     "vpc: backing files (differencing VHDs) are not supported");
	vsl_format_skip_close_flush(img->path);
	if (force && strcmp(force, "on") && strcmp(force, "off"))
		return vsl_set_error(ctx, 0, VSL_EINVAL, "vpc: force_size must be on or off, not '%s'",
				     force);
	if (sub && strcmp(sub, "dynamic") && strcmp(sub, "fixed"))
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "vpc: unknown subformat '%s' (known: dynamic, fixed)", sub);
	if (bs_opt) {
		if (vsl_parse_size(bs_opt, &bs) < 0 || bs < VHD_MIN_BLOCK || bs > VHD_MAX_BLOCK ||
		    (bs & (bs - 1)))
			return vsl_set_error(ctx, 0, VSL_EINVAL,
					     "vpc: block_size '%s' must be a power of two from 4K to 256M",
					     bs_opt);
	}
	/* sizes are whole sectors; exact sizes are otherwise kept (see the file comment) */
	size = VSL_ALIGN_UP(size, VHD_SECTOR);
	if (size > VHD_MAX_SIZE)
		return vsl_set_error(ctx, 0, VSL_ERANGE,
				     "vpc: %llu bytes exceeds the VHD limit of 2040 GiB",
				     (unsigned long long)size);
	v = calloc(1, sizeof(*v));
	if (!v)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	v->end_footer_ok = true;
	if (sub && !strcmp(sub, "fixed")) {
		v->type = VHD_TYPE_FIXED;
		vhd_make_footer(v->footer, size, VHD_TYPE_FIXED, VHD_NO_OFFSET);
		v->footer_off = size;
		r = vsl_stream_truncate(s, size);
		if (r == 0)
			r = vsl_stream_pwrite(s, v->footer, VHD_FOOTER_SIZE, size);
	} else {
		uint8_t dh[VHD_DYN_SIZE] = { 0 };
		uint64_t bat_bytes;
		uint8_t *bat;

		v->type = VHD_TYPE_DYNAMIC;
		v->block_size = (uint32_t)bs;
		v->bitmap_size = VSL_ALIGN_UP(v->block_size / VHD_SECTOR / 8, VHD_SECTOR);
		v->bat_n = (uint32_t)((size + bs - 1) / bs);
		v->bat_off = VHD_FOOTER_SIZE + VHD_DYN_SIZE;
		bat_bytes = VSL_ALIGN_UP((uint64_t)v->bat_n * 4, VHD_SECTOR);
		v->footer_off = v->bat_off + bat_bytes;
		vhd_make_footer(v->footer, size, VHD_TYPE_DYNAMIC, VHD_FOOTER_SIZE);
		memcpy(dh, "cxsparse", 8);
		vhd_put64(dh + 8, VHD_NO_OFFSET);
		vhd_put64(dh + 16, v->bat_off);
		vhd_put32(dh + 24, 0x00010000);
		vhd_put32(dh + 28, v->bat_n);
		vhd_put32(dh + 32, v->block_size);
		vhd_put32(dh + 36, vhd_checksum(dh, sizeof(dh), 36));
		v->bat = vsl_calloc(v->bat_n ? v->bat_n : 1, 4);
		bat = malloc(bat_bytes ? bat_bytes : 1);
		if (!v->bat || !bat) {
			free(bat);
			vhd_free(v);
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		}
		memset(v->bat, 0xff, (size_t)v->bat_n * 4);
		memset(bat, 0xff, bat_bytes);
		r = vsl_stream_pwrite(s, v->footer, VHD_FOOTER_SIZE, 0);
		if (r == 0)
			r = vsl_stream_pwrite(s, dh, sizeof(dh), VHD_FOOTER_SIZE);
		if (r == 0)
			r = vsl_stream_pwrite(s, bat, bat_bytes, v->bat_off);
		if (r == 0)
			r = vsl_stream_pwrite(s, v->footer, VHD_FOOTER_SIZE, v->footer_off);
		free(bat);
	}
	if (r < 0) {
		vhd_free(v);
		return r;
	}
	img->size = size;
	img->priv = v;
	return 0;
}

const struct vsl_format_ops vsl_format_vpc = {
	.name = "vpc",
	.description = "Microsoft Virtual PC / Hyper-V VHD (fixed, dynamic)",
	.probe = vhd_probe,
	.open = vhd_open,
	.create = vhd_create,
	.read = vhd_read,
	.write = vhd_write,
	.flush = vhd_flush,
	.block_status = vhd_block_status,
	.zero = vhd_zero,
	.check = vhd_check,
	.info = vhd_info,
	.close = vhd_close,
	.host_offset = vhd_host_offset,
	.create_opts = vhd_create_opts,
};
