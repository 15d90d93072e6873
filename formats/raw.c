/*
 * raw: the image is the disk, byte for byte. Sparse-aware both ways:
 *
 * - block_status asks the stream for its holes (SEEK_DATA/SEEK_HOLE on
 *   files), so converting from raw skips what was never written;
 * - write() never stores zero blocks: every 4 KiB-aligned block of zeros in
 *   the buffer becomes a hole (punched, or simply skipped where the file is
 *   known to be a hole already: beyond the furthest byte this handle has
 *   written into a file it created). Converting to raw thus stays sparse.
 *
 * raw bids 1 in probe(): any file is a raw image, so it only wins when no
 * other format recognises the contents.
 */
#include <stdlib.h>
#include <string.h>

#include "vessel/format.h"

#define RAW_ZERO_BLOCK 4096

struct raw_priv {
	bool created;       /* we created the file: beyond hole_from it is all hole */
	uint64_t hole_from;
};

static int raw_probe(struct vsl_stream *s)
{
	return 1;
}

static int raw_open(struct vsl_image *img, struct vsl_stream *s, int flags)
{
	struct raw_priv *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return vsl_set_error(img->ctx, 0, VSL_ENOMEM, "out of memory");
	r = vsl_stream_size(s, &img->size);
	if (r < 0) {
		free(p);
		return r;
	}
	img->priv = p;
	return 0;
}

static int raw_create(struct vsl_image *img, struct vsl_stream *s, uint64_t size,
		      const struct vsl_image_opts *opts)
{
	struct raw_priv *p;
	int r = vsl_image_opts_check(img->ctx, img->ops, opts);

	if (r < 0)
		return r;
	if (opts && opts->backing_file)
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP,
				     "raw: images cannot have a backing file");
	r = vsl_stream_truncate(s, size);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return vsl_set_error(img->ctx, 0, VSL_ENOMEM, "out of memory");
	p->created = true;
	img->priv = p;
	img->size = size;
	return 0;
}

static int raw_read(struct vsl_image *img, uint64_t off, void *buf, size_t len)
{
	int64_t n = vsl_stream_pread(img->s, buf, len, off);

	if (n < 0)
		return (int)n;
	/* the file may have shrunk under us: what is missing reads as zeroes */
	if ((size_t)n < len)
		memset((char *)buf + n, 0, len - (size_t)n);
	return 0;
}

/* Make [off, off+len) a hole; zeroes written where the stream cannot punch. */
static int raw_hole(struct vsl_image *img, uint64_t off, uint64_t len)
{
	struct raw_priv *p = img->priv;
	static const uint8_t zeros[65536];
	int r;

	if (p->created && off >= p->hole_from)
		return 0;
	r = vsl_stream_punch(img->s, off, len);
	if (r != VSL_ENOTSUP)
		return r;
	while (len) {
		size_t n = (size_t)VSL_MIN(len, sizeof(zeros));
		r = vsl_stream_pwrite(img->s, zeros, n, off);
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

static int raw_write(struct vsl_image *img, uint64_t off, const void *buf, size_t len)
{
	struct raw_priv *p = img->priv;
	const uint8_t *b = buf;
	uint64_t end = off + len, pos = off;
	int r;

	/*
	 * Walk aligned blocks; gather runs of data and runs of zero blocks.
	 * The partial blocks at either end count as data unless the whole
	 * block is inside the buffer.
	 */
	while (pos < end) {
		uint64_t run_start = pos;
		bool zero = false;

		while (pos < end) {
			uint64_t bend = VSL_MIN((pos / RAW_ZERO_BLOCK + 1) * RAW_ZERO_BLOCK, end);
			bool full = pos % RAW_ZERO_BLOCK == 0 &&
				    (bend - pos == RAW_ZERO_BLOCK || bend == img->size);
			bool z = full && vsl_buf_is_zero(b + (pos - off), (size_t)(bend - pos));

			if (pos == run_start)
				zero = z;
			else if (z != zero)
				break;
			pos = bend;
		}
		if (zero) {
			r = raw_hole(img, run_start, pos - run_start);
		} else {
			r = vsl_stream_pwrite(img->s, b + (run_start - off), (size_t)(pos - run_start),
					      run_start);
			if (r == 0 && pos > p->hole_from)
				p->hole_from = pos;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int raw_flush(struct vsl_image *img)
{
	if (img->flags & VSL_IMAGE_UNSAFE)
		return 0;
	return vsl_stream_flush(img->s);
}

static int raw_block_status(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			    int *flags)
{
	uint64_t d, e;
	int r = vsl_stream_next_data(img->s, off, &d, &e);

	if (r == VSL_ENOENT) {
		*pnum = len;
		*flags = VSL_BLOCK_ZERO;
		return 0;
	}
	if (r < 0)
		return r;
	if (d > off) {
		*pnum = VSL_MIN(d - off, len);
		*flags = VSL_BLOCK_ZERO;
	} else {
		*pnum = e > off ? VSL_MIN(e - off, len) : len;
		*flags = VSL_BLOCK_DATA;
	}
	return 0;
}

static int raw_host_offset(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			   uint64_t *host)
{
	int flags, r = raw_block_status(img, off, len, pnum, &flags);

	if (r == 0)
		*host = (flags & VSL_BLOCK_DATA) ? off : VSL_IMAGE_NO_HOST;
	return r;
}

static int raw_zero(struct vsl_image *img, uint64_t off, uint64_t len)
{
	return raw_hole(img, off, len);
}

static int raw_resize(struct vsl_image *img, uint64_t size)
{
	int r = vsl_stream_truncate(img->s, size);

	if (r == 0)
		img->size = size;
	return r;
}

static void raw_close(struct vsl_image *img)
{
	free(img->priv);
	img->priv = NULL;
}

const struct vsl_format_ops vsl_format_raw = {
	.name = "raw",
	.description = "raw disk image (sparse-aware)",
	.probe = raw_probe,
	.open = raw_open,
	.create = raw_create,
	.read = raw_read,
	.write = raw_write,
	.flush = raw_flush,
	.block_status = raw_block_status,
	.zero = raw_zero,
	.resize = raw_resize,
	.close = raw_close,
	.host_offset = raw_host_offset,
};
