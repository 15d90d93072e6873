/*
 * VMDK streamOptimized writer: append-only, grains compressed in parallel.
 *
 * The caller writes in increasing offset order. Each grain is assembled in
 * so->cur; when a write moves past it, the grain (unless all zero) becomes
 * a job on a vsl_workpool: workers compress it (libdeflate, zlib format,
 * one set of compressors per thread), and the writing thread retires the
 * jobs in order, appending marker + data and filling the current grain
 * table, which is appended (with its marker) once the grains move past it.
 * vmdk_so_tail() writes the rest of a complete file after the append
 * position without moving it (see vmdk.c).
 */
#include <libdeflate.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/vmdk_int.h"

/*
 * One set of compressors per worker thread (libdeflate compressors are not
 * thread-safe): the real one, a level-1 probe and a level-0 "stored" one.
 * A grain whose first 4 KiB do not compress at level 1 (encrypted or
 * already compressed data) is stored in zlib's uncompressed blocks: still
 * valid zlib for every reader, and far cheaper than deflating noise.
 */
struct vmdk_deflaters {
	struct libdeflate_compressor *main, *probe, *store;
	z_stream huff;         /* zlib, Huffman coding only */
	bool huff_ok;
	int level;
};

#define VMDK_PROBE_BYTES 4096u

static pthread_key_t vmdk_ckey;
static pthread_once_t vmdk_ckey_once = PTHREAD_ONCE_INIT;
static bool vmdk_ckey_ok;

static void vmdk_deflaters_free(void *p)
{
	struct vmdk_deflaters *d = p;

	if (d) {
		if (d->main)
			libdeflate_free_compressor(d->main);
		if (d->probe)
			libdeflate_free_compressor(d->probe);
		if (d->store)
			libdeflate_free_compressor(d->store);
		if (d->huff_ok)
			deflateEnd(&d->huff);
		free(d);
	}
}

static struct vmdk_deflaters *vmdk_deflaters_new(int level)
{
	struct vmdk_deflaters *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->level = level;
	d->main = libdeflate_alloc_compressor(level);
	d->probe = libdeflate_alloc_compressor(1);
	d->store = libdeflate_alloc_compressor(0);
	d->huff_ok = deflateInit2(&d->huff, 1, Z_DEFLATED, 15, 8, Z_HUFFMAN_ONLY) == Z_OK;
	if (!d->main || !d->probe || !d->store || !d->huff_ok) {
		vmdk_deflaters_free(d);
		return NULL;
	}
	return d;
}

static void vmdk_ckey_init(void)
{
	vmdk_ckey_ok = pthread_key_create(&vmdk_ckey, vmdk_deflaters_free) == 0;
}

/* The calling worker thread's compressors; NULL when out of memory. */
static struct vmdk_deflaters *vmdk_thread_deflaters(int level)
{
	struct vmdk_deflaters *d;

	pthread_once(&vmdk_ckey_once, vmdk_ckey_init);
	if (!vmdk_ckey_ok)
		return NULL;
	d = pthread_getspecific(vmdk_ckey);
	if (d && d->level != level) {
		vmdk_deflaters_free(d);
		pthread_setspecific(vmdk_ckey, NULL);
		d = NULL;
	}
	if (!d) {
		d = vmdk_deflaters_new(level);
		if (d && pthread_setspecific(vmdk_ckey, d)) {
			vmdk_deflaters_free(d);
			d = NULL;
		}
	}
	return d;
}

/* Bytes an order-0 (Huffman-like) coder needs at least for p[0..n): its byte entropy. */
static double vmdk_entropy_bytes(const uint8_t *p, size_t n)
{
	uint32_t hist[256] = { 0 };
	double bits = 0;

	for (size_t i = 0; i < n; i++)
		hist[p[i]]++;
	for (unsigned k = 0; k < 256; k++)
		if (hist[k])
			bits -= hist[k] * log2((double)hist[k] / (double)n);
	return bits / 8;
}

/* zlib's Huffman-only deflate of in[0..n) into out; 0 when it does not fit. */
static size_t vmdk_huff_compress(struct vmdk_deflaters *d, const uint8_t *in, size_t n,
				 uint8_t *out, size_t cap)
{
	z_stream *z = &d->huff;

	if (deflateReset(z) != Z_OK)
		return 0;
	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)n;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	if (deflate(z, Z_FINISH) != Z_STREAM_END)
		return 0;
	return (size_t)z->total_out;
}

enum vmdk_method { VMDK_DEFLATE, VMDK_HUFFMAN, VMDK_STORE };

/*
 * Marker + zlib data of one grain into j->out, padded to a sector.
 *
 * Samples of the grain (start, middle, end; 4 KiB each) go through
 * libdeflate level 1 first, and choose the method:
 *  - none compresses by 3%: encrypted or compressed data; store it (zlib's
 *    uncompressed blocks: valid for every reader, at memcpy speed);
 *  - the first that compresses has a high byte entropy (over 5.6 bits)
 *    and does no better than it (random text, base64): string matching
 *    finds nothing, and zlib's Huffman-only mode gets the same size faster;
 *  - otherwise deflate at the chosen level.
 */
static int vmdk_compress_grain(struct vmdk_deflaters *d, uint64_t grain, struct vmdk_job *j)
{
	enum vmdk_method m = VMDK_DEFLATE;
	size_t bound, clen = 0, need;
	uint8_t *out;

	if (!d)
		return VSL_ENOMEM;
	/* the stored form is the largest any method produces */
	bound = libdeflate_zlib_compress_bound(d->store, grain);
	need = VSL_ALIGN_UP(VMDK_GRAIN_MARKER + bound, VMDK_SECTOR);
	if (j->out_cap < need) {
		uint8_t *p = realloc(j->out, need);
		if (!p)
			return VSL_ENOMEM;
		j->out = p;
		j->out_cap = need;
	}
	out = j->out + VMDK_GRAIN_MARKER;
	if (grain >= 8 * VMDK_PROBE_BYTES) {
		/* the probes write where the real output will go: scratch */
		m = VMDK_STORE;
		for (uint64_t at = 0; at < grain && m == VMDK_STORE;
		     at += grain / 2 - VMDK_PROBE_BYTES / 2) {
			const uint8_t *sample = j->data + VSL_MIN(at, grain - VMDK_PROBE_BYTES);
			size_t plen = libdeflate_zlib_compress(d->probe, sample, VMDK_PROBE_BYTES,
							       out, bound);

			if (!plen || plen > VMDK_PROBE_BYTES - VMDK_PROBE_BYTES / 32)
				continue;
			double ent = vmdk_entropy_bytes(sample, VMDK_PROBE_BYTES);
			/* high entropy (over 5.6 bits a byte) that matching does not beat */
			m = ent > 0.7 * VMDK_PROBE_BYTES && (double)plen >= ent ? VMDK_HUFFMAN
										 : VMDK_DEFLATE;
		}
	}
	if (m == VMDK_HUFFMAN)
		clen = vmdk_huff_compress(d, j->data, grain, out, bound);
	if (!clen)
		clen = libdeflate_zlib_compress(m == VMDK_STORE ? d->store : d->main, j->data, grain,
						out, bound);
	if (!clen)
		return VSL_EIO;
	vmdk_put64(j->out, j->grain_idx * (grain / VMDK_SECTOR));
	vmdk_put32(j->out + 8, (uint32_t)clen);
	j->out_len = VSL_ALIGN_UP(VMDK_GRAIN_MARKER + clen, VMDK_SECTOR);
	memset(j->out + VMDK_GRAIN_MARKER + clen, 0, j->out_len - VMDK_GRAIN_MARKER - clen);
	return 0;
}

static int vmdk_so_work(void *opaque, void *job)
{
	struct vmdk_so *so = opaque;

	return vmdk_compress_grain(vmdk_thread_deflaters(so->level), so->grain, job);
}

/*
 * Write a metadata marker (type, `sectors` of payload) and the little-endian
 * table tab[0..n) at *pos; advances *pos. Returns the payload's sector.
 */
static int vmdk_so_put_table(struct vmdk_so *so, uint32_t type, const uint32_t *tab, size_t n,
			     uint64_t *pos, uint32_t *sector)
{
	size_t bytes = VSL_ALIGN_UP(n * 4, VMDK_SECTOR);
	uint8_t *buf = calloc(1, VMDK_SECTOR + bytes);
	int r;

	if (!buf)
		return vsl_set_error(so->img->ctx, 0, VSL_ENOMEM, "out of memory");
	vmdk_put64(buf, bytes / VMDK_SECTOR);
	vmdk_put32(buf + 12, type);
	for (size_t i = 0; i < n; i++)
		vmdk_put32(buf + VMDK_SECTOR + i * 4, tab[i]);
	if ((*pos + VMDK_SECTOR) / VMDK_SECTOR > UINT32_MAX) {
		free(buf);
		return vsl_set_error(so->img->ctx, 0, VSL_ERANGE,
				     "%s: streamOptimized file would exceed 2 TiB", so->img->s->name);
	}
	r = vsl_stream_pwrite(so->img->s, buf, VMDK_SECTOR + bytes, *pos);
	free(buf);
	if (r < 0)
		return r;
	*sector = (uint32_t)((*pos + VMDK_SECTOR) / VMDK_SECTOR);
	*pos += VMDK_SECTOR + bytes;
	return 0;
}

/* Write the finished GT being filled (if it maps any grain) and record it in the GD. */
static int vmdk_so_close_gt(struct vmdk_so *so)
{
	uint32_t sec;
	int r;

	if (so->gt_idx == UINT64_MAX || !so->gt_used)
		return 0;
	r = vmdk_so_put_table(so, VMDK_MARKER_GT, so->gt, VMDK_GTES, &so->wpos, &sec);
	if (r < 0)
		return r;
	so->gd[so->gt_idx] = sec;
	so->gt_used = false;
	return 0;
}

/* Append one compressed grain (in order) and note it in its GT. */
static int vmdk_so_emit(struct vmdk_so *so, struct vmdk_job *j)
{
	uint64_t gti = j->grain_idx / VMDK_GTES;
	int r;

	if (gti != so->gt_idx) {
		r = vmdk_so_close_gt(so);
		if (r < 0)
			return r;
		so->gt_idx = gti;
		memset(so->gt, 0, VMDK_GTES * 4);
	}
	if ((so->wpos + j->out_len) / VMDK_SECTOR > UINT32_MAX)
		return vsl_set_error(so->img->ctx, 0, VSL_ERANGE,
				     "%s: streamOptimized file would exceed 2 TiB", so->img->s->name);
	r = vsl_stream_pwrite(so->img->s, j->out, j->out_len, so->wpos);
	if (r < 0)
		return r;
	so->gt[j->grain_idx % VMDK_GTES] = (uint32_t)(so->wpos / VMDK_SECTOR);
	so->gt_used = true;
	so->wpos += j->out_len;
	return 0;
}

static void vmdk_job_free(struct vmdk_job *j)
{
	if (j) {
		free(j->data);
		free(j->out);
		free(j);
	}
}

static int vmdk_so_retire(void *opaque, void *job, int status)
{
	struct vmdk_so *so = opaque;
	int r = status;

	if (r == VSL_ENOMEM)
		r = vsl_set_error(so->img->ctx, 0, VSL_ENOMEM, "out of memory compressing a grain");
	else if (r < 0 && r != VSL_ECANCELED)
		r = vsl_set_error(so->img->ctx, 0, r, "compressing grain %llu failed",
				  (unsigned long long)((struct vmdk_job *)job)->grain_idx);
	if (r == 0)
		r = vmdk_so_emit(so, job);
	/* keep the job and its buffers: the next grain reuses them (no page faults) */
	((struct vmdk_job *)job)->next = so->free_jobs;
	so->free_jobs = job;
	return r;
}

/* Hand the grain being assembled to the pool (all-zero grains stay unallocated). */
static int vmdk_so_submit_cur(struct vmdk_so *so)
{
	struct vmdk_job *j;
	int r;

	if (so->cur_idx == UINT64_MAX)
		return 0;
	if (!so->cur_dirty || vsl_buf_is_zero(so->cur, so->grain)) {
		so->cur_idx = UINT64_MAX;
		return 0;
	}
	j = so->free_jobs;
	if (j)
		so->free_jobs = j->next;
	else if (!(j = calloc(1, sizeof(*j))))
		return vsl_set_error(so->img->ctx, 0, VSL_ENOMEM, "out of memory");
	if (!j->data && !(j->data = malloc(so->grain))) {
		vmdk_job_free(j);
		return vsl_set_error(so->img->ctx, 0, VSL_ENOMEM, "out of memory");
	}
	/* the job takes the assembled grain; its spare buffer becomes the next one */
	uint8_t *spare = j->data;
	j->data = so->cur;
	so->cur = spare;
	j->grain_idx = so->cur_idx;
	so->cur_idx = UINT64_MAX;
	r = vsl_workpool_submit(so->wp, j);
	return r;
}

/*
 * Write a complete tail at the append position without moving it: the
 * grain being assembled, the GT(s) not yet written, the GD, the footer and
 * the end-of-stream marker. Later writes overwrite it.
 */
int vmdk_so_tail(struct vmdk_so *so)
{
	struct vsl_stream *s = so->img->s;
	uint64_t pos, fsize;
	uint32_t *gd = NULL, *gt = NULL, sec;
	uint8_t foot[3 * VMDK_SECTOR] = { 0 };
	struct vmdk_job j = { 0 };
	struct vmdk_deflaters *c = NULL;
	int r;

	r = vsl_workpool_drain(so->wp);
	if (r < 0)
		return r;
	pos = so->wpos;
	gd = vsl_calloc(so->gd_n ? so->gd_n : 1, 4);
	gt = malloc(VMDK_GTES * 4);
	if (!gd || !gt) {
		r = vsl_set_error(so->img->ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(gd, so->gd, (size_t)so->gd_n * 4);
	memcpy(gt, so->gt, VMDK_GTES * 4);
	if (so->cur_idx != UINT64_MAX && so->cur_dirty && !vsl_buf_is_zero(so->cur, so->grain)) {
		uint64_t gti = so->cur_idx / VMDK_GTES;

		c = vmdk_deflaters_new(so->level);
		j.grain_idx = so->cur_idx;
		j.data = so->cur;
		r = vmdk_compress_grain(c, so->grain, &j);
		if (r < 0) {
			r = vsl_set_error(so->img->ctx, 0, r, "compressing grain %llu failed",
					  (unsigned long long)so->cur_idx);
			goto out;
		}
		if (gti != so->gt_idx) {
			if (so->gt_idx != UINT64_MAX && so->gt_used) {
				r = vmdk_so_put_table(so, VMDK_MARKER_GT, gt, VMDK_GTES, &pos, &sec);
				if (r < 0)
					goto out;
				gd[so->gt_idx] = sec;
			}
			memset(gt, 0, VMDK_GTES * 4);
		}
		r = vsl_stream_pwrite(s, j.out, j.out_len, pos);
		if (r < 0)
			goto out;
		gt[so->cur_idx % VMDK_GTES] = (uint32_t)(pos / VMDK_SECTOR);
		pos += j.out_len;
		r = vmdk_so_put_table(so, VMDK_MARKER_GT, gt, VMDK_GTES, &pos, &sec);
		if (r < 0)
			goto out;
		gd[gti] = sec;
	} else if (so->gt_idx != UINT64_MAX && so->gt_used) {
		r = vmdk_so_put_table(so, VMDK_MARKER_GT, gt, VMDK_GTES, &pos, &sec);
		if (r < 0)
			goto out;
		gd[so->gt_idx] = sec;
	}
	r = vmdk_so_put_table(so, VMDK_MARKER_GD, gd, so->gd_n, &pos, &sec);
	if (r < 0)
		goto out;
	/* footer marker, header copy with the real GD offset, end-of-stream marker */
	vmdk_put64(foot, 1);
	vmdk_put32(foot + 12, VMDK_MARKER_FOOTER);
	memcpy(foot + VMDK_SECTOR, so->header, VMDK_SECTOR);
	vmdk_put64(foot + VMDK_SECTOR + 56, sec);
	r = vsl_stream_pwrite(s, foot, sizeof(foot), pos);
	if (r < 0)
		goto out;
	pos += sizeof(foot);
	r = vsl_stream_size(s, &fsize);
	if (r == 0 && fsize > pos)
		r = vsl_stream_truncate(s, pos);
	if (r == 0 && !(so->img->flags & VSL_IMAGE_UNSAFE))
		r = vsl_stream_flush(s);
	if (r == 0)
		so->dirty = false;
out:
	vmdk_deflaters_free(c);
	free(j.out);
	free(gd);
	free(gt);
	return r;
}

/* buf NULL writes zeroes. */
int vmdk_so_write(struct vmdk_so *so, uint64_t off, const uint8_t *buf, size_t len)
{
	struct vsl_ctx *ctx = so->img->ctx;
	int r;

	if (so->err)
		return so->err;
	while (len) {
		uint64_t gidx = off / so->grain, in = off % so->grain;
		uint64_t n = VSL_MIN((uint64_t)len, so->grain - in);

		if (gidx != so->cur_idx) {
			if (so->cur_idx != UINT64_MAX && gidx < so->cur_idx) {
				if (!buf)
					goto next; /* zeroing what is already written: nothing to do */
				return vsl_set_error(ctx, 0, VSL_ENOTSUP,
						     "%s: streamOptimized VMDKs are written in order: write at offset %llu after offset %llu (use subformat=monolithicSparse for random access)",
						     so->img->s->name, (unsigned long long)off,
						     (unsigned long long)(so->cur_idx * so->grain));
			}
			if (!buf && n == so->grain)
				goto next; /* a whole zero grain is simply not written */
			r = vmdk_so_submit_cur(so);
			if (r < 0)
				return so->err = r;
			so->cur_idx = gidx;
			so->cur_dirty = false;
			if (!buf || n != so->grain)
				memset(so->cur, 0, so->grain);
		}
		if (buf)
			memcpy(so->cur + in, buf, n);
		else
			memset(so->cur + in, 0, n);
		so->cur_dirty = true;
next:
		so->dirty = true;
		if (buf)
			buf += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

void vmdk_so_free(struct vmdk_so *so)
{
	if (!so)
		return;
	vsl_workpool_free(so->wp);
	while (so->free_jobs) {
		struct vmdk_job *j = so->free_jobs;
		so->free_jobs = j->next;
		vmdk_job_free(j);
	}
	free(so->gd);
	free(so->gt);
	free(so->cur);
	free(so);
}

int vmdk_so_create(struct vsl_image *img, struct vmdk *v, uint64_t size, uint32_t gd_n,
		   const char *text, int level, unsigned threads)
{
	struct vsl_ctx *ctx = img->ctx;
	struct vmdk_so *so = calloc(1, sizeof(*so));
	uint64_t desc_n;
	int r;

	if (!so)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	v->so = so; /* freed with v from here on */
	*so = (struct vmdk_so){ .img = img, .level = level,
				.grain = VMDK_GRAIN_SECTORS * VMDK_SECTOR,
				.capacity = size, .gd_n = gd_n, .gt_idx = UINT64_MAX,
				.cur_idx = UINT64_MAX, .dirty = true };
	desc_n = VSL_ALIGN_UP(strlen(text), VMDK_SECTOR) / VMDK_SECTOR;
	vmdk_make_header(so->header, 3,
			 VMDK_FLAG_NL_TEST | VMDK_FLAG_COMPRESSED | VMDK_FLAG_MARKERS,
			 size / VMDK_SECTOR, 1, desc_n, 0, VMDK_GD_AT_END, VMDK_GRAIN_SECTORS, true);
	so->wpos = (uint64_t)VMDK_GRAIN_SECTORS * VMDK_SECTOR;
	so->gd = vsl_calloc(gd_n ? gd_n : 1, 4);
	so->gt = vsl_calloc(VMDK_GTES, 4);
	so->cur = malloc(so->grain);
	if (!so->gd || !so->gt || !so->cur)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	/* 64 grains (4 MiB) in flight keep the workers busy while the caller reads */
	so->wp = vsl_workpool_new(ctx, threads, 64, vmdk_so_work, vmdk_so_retire, so);
	if (!so->wp)
		return VSL_ENOMEM;
	r = vsl_stream_pwrite(img->s, so->header, VMDK_SECTOR, 0);
	if (r == 0)
		r = vmdk_write_desc(img->s, text, (VMDK_GRAIN_SECTORS - 1) * VMDK_SECTOR);
	/* valid (all zero) from the start: header, GD, footer, EOS */
	if (r == 0)
		r = vmdk_so_tail(so);
	return r;
}
