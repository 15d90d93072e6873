/*
 * Conversion engine (see include/vessel/convert.h).
 *
 * One pass in increasing offset order over aligned windows of CONVERT_CHUNK
 * bytes. The calling thread walks the source's block status (each run is
 * asked for once and remembered, so a long hole or data extent costs one
 * query, not one per window) and, for each window:
 *
 *	no data in the window -> skip it (the new output reads zero); the
 *	    skipped bytes ride along with the next window that has data
 *	otherwise -> read from the 64 KiB block of the first data byte to the
 *	    end of the last data run in the window (holes inside read as
 *	    zeroes), mark the 64 KiB blocks that hold a non-zero byte, write
 *	    each run of such blocks, skip the zero ones
 *
 * Aligned windows keep every write aligned to 64 KiB (so whole clusters
 * reach qcow2 and whole grains reach VMDK) and strictly increasing.
 *
 * Threads (vsl_convert; vsl_convert_copy works on the caller's handles and
 * stays on the calling thread): worker threads of a vsl_workpool, each with
 * its own handle on the source, read and scan windows ahead while the
 * calling thread writes the finished ones in order (CONVERT_PIPE). Both
 * page-cache copies (out of the source, into the output) thus run at once
 * on two cores. The writes stay on one thread: the output's metadata is
 * single-threaded, and buffered writes to one file serialise on its inode
 * lock in the kernel anyway (two writers measured slower than one).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/convert.h"
#include "vessel/workpool.h"

/* The scan keeps one bit per 64 KiB block in a uint64_t: at most 64 blocks. */
/*
 * 2 MiB windows: measured against 4 MiB on the benchmark's input (1 GiB
 * of data, raw -> qcow2 and qcow2 -> raw), they cost about 40% less CPU in
 * the kernel's page-cache copies (the largest page-cache folio is 2 MiB,
 * and a window stays in the L2 cache between its read and its write);
 * 1 MiB and 512 KiB measured the same as 2 MiB with more hand-offs.
 */
#define CONVERT_CHUNK (2u << 20)
#define CONVERT_ZERO_BLOCK (64u << 10)

/*
 * One window of the source: [off, end), aligned to CONVERT_CHUNK (end: or
 * the disk's end). When has_data, buf holds [start, stop): start is the
 * 64 KiB block of the first data byte, stop the end of the last data run
 * (rounded up to a block); everything else in the window reads as zeroes.
 */
struct convert_win {
	uint64_t off, end, start, stop;
	uint64_t skipped_before;     /* bytes of empty windows since the previous one */
	bool has_data;
	bool scanned;                /* nonzero is valid */
	uint64_t nonzero;            /* bit i: 64 KiB block i of the window holds data */
	uint8_t *buf;                /* CONVERT_CHUNK bytes */
	char err[512];               /* the worker's error message */
	struct convert_win *next;    /* free list */
};

/* A source handle of one worker thread (each image is single-threaded). */
struct convert_handle {
	struct vsl_ctx *ctx;
	struct vsl_image *src;
	struct convert_handle *next;
};

/* Worker mode: how the workers open their own source handles. */
struct convert_par {
	const char *in, *in_fmt;
	pthread_mutex_t lock;
	struct convert_handle *free;   /* every handle ever opened, when idle */
};

struct convert_state {
	struct vsl_image *src, *dst;
	const struct vsl_progress *progress;
	struct vsl_convert_stats st;
	struct convert_win *free_wins;
	struct convert_par *par;       /* NULL: sequential, this thread reads and writes */
	/* the last block-status run of the source: [run_off, run_end) */
	uint64_t run_off, run_end;
	bool run_data;
};

/*
 * Where the data of window w lies: sets w->has_data and, if so, w->start
 * and w->stop. Block-status runs are remembered in cs, so each is looked
 * up once however many windows it spans.
 */
static int convert_locate(struct convert_state *cs, struct convert_win *w)
{
	uint64_t p = w->off, first = UINT64_MAX, last = 0;

	while (p < w->end) {
		if (p < cs->run_off || p >= cs->run_end) {
			uint64_t n;
			int flags, r = vsl_image_block_status(cs->src, p, cs->src->size - p, &n,
							      &flags);
			if (r < 0)
				return r;
			if (!n)
				return vsl_set_error(cs->src->ctx, 0, VSL_EIO, "block status of "
						     "offset %llu reports an empty run",
						     (unsigned long long)p);
			cs->run_off = p;
			cs->run_end = p + VSL_MIN(n, cs->src->size - p);
			cs->run_data = (flags & VSL_BLOCK_DATA) && !(flags & VSL_BLOCK_ZERO);
		}
		if (cs->run_data) {
			first = VSL_MIN(first, p);
			last = VSL_MIN(cs->run_end, w->end);
		}
		p = cs->run_end;
	}
	w->has_data = first < w->end;
	w->scanned = false;
	if (w->has_data) {
		w->start = VSL_MAX(w->off, first - first % CONVERT_ZERO_BLOCK);
		w->stop = VSL_MIN(VSL_ALIGN_UP(last, CONVERT_ZERO_BLOCK), w->end);
	}
	return 0;
}

/*
 * Mark the 64 KiB blocks of a window that was read which hold a non-zero
 * byte (bit i: the block at w->off + i * 64 KiB). Data blocks cost a few
 * bytes each (the test stops at the first non-zero byte); zero blocks are
 * read once, best right after the read put them in this CPU's cache.
 */
static void convert_scan(struct convert_win *w)
{
	uint64_t a = w->start;

	w->nonzero = 0;
	while (a < w->stop) {
		uint64_t b = VSL_MIN(a - a % CONVERT_ZERO_BLOCK + CONVERT_ZERO_BLOCK, w->stop);
		if (!vsl_buf_is_zero(w->buf + (a - w->start), (size_t)(b - a)))
			w->nonzero |= 1ull << ((a - w->off) / CONVERT_ZERO_BLOCK);
		a = b;
	}
	w->scanned = true;
}

/* Read (and scan) the data of a located window. */
static int convert_read(struct vsl_image *src, struct convert_win *w)
{
	int r;

	if (!w->has_data)
		return 0;
	r = vsl_image_read(src, w->start, w->buf, (size_t)(w->stop - w->start));
	if (r == 0)
		convert_scan(w);
	return r;
}

/* Write the non-zero 64 KiB-aligned runs of a window that was read. */
static int convert_write(struct vsl_image *dst, struct convert_win *w, struct vsl_convert_stats *st)
{
	uint64_t nblk = (w->stop - w->off + CONVERT_ZERO_BLOCK - 1) / CONVERT_ZERO_BLOCK;
	uint64_t i = (w->start - w->off) / CONVERT_ZERO_BLOCK;
	int r = 0;

	st->bytes_skipped += (w->start - w->off) + (w->end - w->stop);
	st->bytes_read += w->stop - w->start;
	while (i < nblk && r == 0) {
		uint64_t j, a, b;

		if (!(w->nonzero >> i & 1)) {
			i++;
			continue;
		}
		for (j = i + 1; j < nblk && (w->nonzero >> j & 1); j++)
			;
		a = w->off + i * CONVERT_ZERO_BLOCK;
		b = VSL_MIN(w->off + j * CONVERT_ZERO_BLOCK, w->stop);
		r = vsl_image_write(dst, a, w->buf + (a - w->start), (size_t)(b - a));
		st->bytes_written += b - a;
		i = j;
	}
	return r;
}

/* Account for (and write) a window, in order; reports progress up to its end. */
static int convert_retire_win(struct convert_state *cs, struct convert_win *w)
{
	int r = 0;

	cs->st.bytes_skipped += w->skipped_before;
	if (w->has_data)
		r = convert_write(cs->dst, w, &cs->st);
	else
		cs->st.bytes_skipped += w->end - w->off;
	vsl_progress_report(cs->progress, "convert", w->end, cs->src->size);
	return r;
}

/* Worker mode: a source handle for this worker (opened on first need). */
static struct convert_handle *convert_handle_get(struct convert_par *par, char *err,
						 size_t errlen)
{
	struct convert_handle *h;

	pthread_mutex_lock(&par->lock);
	h = par->free;
	if (h)
		par->free = h->next;
	pthread_mutex_unlock(&par->lock);
	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h || !(h->ctx = vsl_ctx_new())) {
		snprintf(err, errlen, "out of memory");
		free(h);
		return NULL;
	}
	if (vsl_image_open(h->ctx, par->in, par->in_fmt, VSL_IMAGE_RDONLY, &h->src) < 0) {
		snprintf(err, errlen, "%s", vsl_ctx_error(h->ctx));
		vsl_ctx_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

static void convert_handle_put(struct convert_par *par, struct convert_handle *h)
{
	pthread_mutex_lock(&par->lock);
	h->next = par->free;
	par->free = h;
	pthread_mutex_unlock(&par->lock);
}

static void convert_handles_free(struct convert_par *par)
{
	while (par->free) {
		struct convert_handle *h = par->free;
		par->free = h->next;
		vsl_image_close(h->src);
		vsl_ctx_free(h->ctx);
		free(h);
	}
}

/* Workpool work (a worker thread, with its own source handle): read and scan. */
static int convert_work(void *opaque, void *job)
{
	struct convert_state *cs = opaque;
	struct convert_win *w = job;
	struct convert_handle *h = convert_handle_get(cs->par, w->err, sizeof(w->err));
	int r;

	if (!h)
		return VSL_EIO;
	r = convert_read(h->src, w);
	if (r < 0)
		snprintf(w->err, sizeof(w->err), "%s", vsl_ctx_error(h->ctx));
	convert_handle_put(cs->par, h);
	return r;
}

/* Workpool retire (the calling thread, in window order): write what was read. */
static int convert_retire(void *opaque, void *job, int status)
{
	struct convert_state *cs = opaque;
	struct convert_win *w = job;
	int r = status;

	if (r == VSL_ECANCELED) {
		r = 0; /* an earlier window failed; that error is already recorded */
	} else if (r < 0) {
		/* the worker's message lives in another context: bring it over */
		vsl_set_error(cs->dst->ctx, 0, r, "%s", w->err);
	} else {
		r = convert_retire_win(cs, w);
	}
	w->next = cs->free_wins;
	cs->free_wins = w;
	return r;
}

static struct convert_win *convert_win_get(struct convert_state *cs)
{
	struct convert_win *w = cs->free_wins;

	if (w) {
		cs->free_wins = w->next;
		return w;
	}
	w = calloc(1, sizeof(*w));
	if (w && posix_memalign((void **)&w->buf, 4096, CONVERT_CHUNK)) {
		free(w);
		w = NULL;
	}
	return w;
}

static void convert_wins_free(struct convert_state *cs)
{
	while (cs->free_wins) {
		struct convert_win *w = cs->free_wins;
		cs->free_wins = w->next;
		free(w->buf);
		free(w);
	}
}

/* A source error, reported in the output's context (which the caller reads). */
static int convert_src_error(struct convert_state *cs, int r)
{
	if (cs->src->ctx != cs->dst->ctx)
		vsl_set_error(cs->dst->ctx, 0, r, "%s", vsl_ctx_error(cs->src->ctx));
	return r;
}

/*
 * The pass over the source. par NULL: this thread reads and writes;
 * otherwise `threads` workers read with their own handles (par says how to
 * open them) and this thread writes.
 */
static int convert_run(struct vsl_image *src, struct vsl_image *dst,
		       const struct vsl_progress *progress, struct vsl_convert_stats *stats,
		       struct convert_par *par, unsigned threads)
{
	struct convert_state cs = { .src = src, .dst = dst, .progress = progress, .par = par };
	struct vsl_workpool *wp = NULL;
	struct convert_win *w = NULL;
	uint64_t size = src->size, off, skipped = 0;
	int r = 0;

	if (dst->size < size)
		return vsl_set_error(dst->ctx, 0, VSL_ERANGE, "output is smaller (%llu bytes) "
				     "than the input (%llu bytes)",
				     (unsigned long long)dst->size, (unsigned long long)size);
	vsl_progress_report(progress, "convert", 0, size);
	if (par) {
		wp = vsl_workpool_new(dst->ctx, threads, 2 * threads + 2, convert_work,
				      convert_retire, &cs);
		if (!wp)
			return VSL_ENOMEM;
	}
	off = 0;
	while (off < size && r == 0) {
		if (!w && !(w = convert_win_get(&cs))) {
			r = vsl_set_error(dst->ctx, 0, VSL_ENOMEM, "out of memory");
			break;
		}
		w->off = off;
		w->end = VSL_MIN(off - off % CONVERT_CHUNK + CONVERT_CHUNK, size);
		off = w->end;
		r = convert_locate(&cs, w);
		if (r < 0) {
			convert_src_error(&cs, r);
			break;
		}
		if (!w->has_data) {
			skipped += w->end - w->off;
			continue; /* w is reused for the next window */
		}
		w->skipped_before = skipped;
		skipped = 0;
		if (wp) {
			r = vsl_workpool_submit(wp, w); /* the pool owns w until retired */
		} else {
			r = convert_read(src, w);
			if (r < 0)
				convert_src_error(&cs, r);
			else
				r = convert_retire_win(&cs, w);
			w->next = cs.free_wins;
			cs.free_wins = w;
		}
		w = NULL;
	}
	if (wp) {
		int r2 = vsl_workpool_drain(wp);
		if (r == 0)
			r = r2;
		vsl_workpool_free(wp);
	}
	if (w) {
		w->next = cs.free_wins;
		cs.free_wins = w;
	}
	convert_wins_free(&cs);
	if (r == 0) {
		cs.st.bytes_skipped += skipped;
		vsl_progress_report(progress, "convert", size, size);
		r = vsl_image_flush(dst);
	}
	if (stats)
		*stats = cs.st;
	return r;
}

int vsl_convert_copy(struct vsl_image *src, struct vsl_image *dst,
		     const struct vsl_progress *progress, struct vsl_convert_stats *stats)
{
	return convert_run(src, dst, progress, stats, NULL, 1);
}

/* Formats that may create files named after the output besides the output itself. */
static bool convert_multi_file(const struct vsl_convert_opts *o)
{
	const char *sub = NULL;

	if (strcmp(o->out_fmt, "vmdk"))
		return false;
	for (size_t i = 0; o->kv && o->kv[i]; i++)
		if (!strncmp(o->kv[i], "subformat=", 10))
			sub = o->kv[i] + 10;
	return sub && strcmp(sub, "monolithicSparse") && strcmp(sub, "streamOptimized");
}

int vsl_convert(struct vsl_ctx *ctx, const char *in, const char *out,
		const struct vsl_convert_opts *o, struct vsl_convert_stats *stats)
{
	struct vsl_image_opts io = { .compress = o->compress, .kv = o->kv, .threads = o->threads };
	struct vsl_image *src = NULL, *dst = NULL;
	struct vsl_ctx *sctx;  /* the source's own (messages are copied into ctx) */
	char *tmp = NULL;
	const char *target = out;
	int r, fd;

	if (!o->out_fmt)
		return vsl_set_error(ctx, 0, VSL_EINVAL, "no output format");
	if (!vsl_format_find(o->out_fmt))
		return vsl_set_error(ctx, 0, VSL_ENOTSUP, "unknown output format '%s'", o->out_fmt);
	sctx = vsl_ctx_new();
	if (!sctx)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	r = vsl_image_open(sctx, in, o->in_fmt, VSL_IMAGE_RDONLY, &src);
	if (r < 0) {
		vsl_set_error(ctx, 0, r, "%s", vsl_ctx_error(sctx));
		vsl_ctx_free(sctx);
		return r;
	}
	if (!convert_multi_file(o)) {
		tmp = vsl_strdup_printf("%s.tmp-XXXXXX", out);
		if (!tmp) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto out_close;
		}
		fd = mkstemp(tmp);
		if (fd < 0) {
			r = vsl_set_error(ctx, errno, VSL_EIO, "create %s", tmp);
			free(tmp);
			tmp = NULL;
			goto out_close;
		}
		{
			/* mkstemp makes the file 0600; give it the mode a plain create would */
			mode_t mask = umask(0);
			umask(mask);
			if (fchmod(fd, 0666 & ~mask) < 0)
				vsl_debug(ctx, "chmod %s: %s", tmp, strerror(errno));
		}
		close(fd);
		target = tmp;
	}
	r = vsl_image_create(ctx, target, o->out_fmt, src->size, &io, &dst);
	if (r < 0) {
		vsl_error_prefix(ctx, "%s", out);
		unlink(target);
		goto out_close;
	}
	dst->flags |= VSL_IMAGE_UNSAFE;
	/*
	 * The output is filled with large writes into new space: allocating
	 * each write's blocks first halves the cost of the copy into the page
	 * cache on ext4 (see VSL_STREAM_PREALLOC).
	 */
	dst->s->flags |= VSL_STREAM_PREALLOC;
	{
		struct convert_par par = { .in = in, .in_fmt = src->ops->name };
		unsigned threads = o->threads;
		if (!threads) {
			long n = sysconf(_SC_NPROCESSORS_ONLN);
			threads = n > 0 ? (unsigned)n : 1;
		}
		threads = VSL_MAX(VSL_MIN(threads, 16u), 2u);
		pthread_mutex_init(&par.lock, NULL);
		r = convert_run(src, dst, o->progress, stats, &par, threads);
		convert_handles_free(&par);
		pthread_mutex_destroy(&par.lock);
	}
	if (r < 0) {
		vsl_image_close(dst);
		unlink(target);
		goto out_close;
	}
	vsl_image_close(dst);
	if (tmp && rename(tmp, out) < 0) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "rename %s to %s", tmp, out);
		unlink(tmp);
	}
out_close:
	vsl_image_close(src);
	vsl_ctx_free(sctx);
	free(tmp);
	return r;
}
