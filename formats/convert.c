/*
 * Conversion engine (see include/vessel/convert.h).
 *
 * One pass in increasing offset order over aligned windows of CONVERT_CHUNK
 * bytes:
 *
 *	block_status(src) finds no data in the window -> skip it (the new output
 *	    reads zero); a zero run that goes on skips all the windows it covers
 *	otherwise -> read from the first data block to the window's end (holes
 *	    inside read as zeroes), write each run of non-zero 64 KiB-aligned
 *	    blocks, skip the zero ones
 *
 * Aligned windows keep every write aligned to 64 KiB (so whole clusters
 * reach qcow2 and whole grains reach VMDK) and strictly increasing.
 *
 * The read buffer is reused; the output format copies what it keeps (qcow2
 * -c hands clusters to its compression workpool and returns at once, so
 * reading the next chunk overlaps with the compression of this one).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/convert.h"

#define CONVERT_CHUNK (4u << 20)
#define CONVERT_ZERO_BLOCK (64u << 10)

int vsl_convert_copy(struct vsl_image *src, struct vsl_image *dst,
		     const struct vsl_progress *progress, struct vsl_convert_stats *stats)
{
	struct vsl_convert_stats st = { 0 };
	uint64_t size = src->size, off = 0;
	uint8_t *buf;
	int r = 0;

	if (dst->size < size)
		return vsl_set_error(src->ctx, 0, VSL_ERANGE, "output is smaller (%llu bytes) "
				     "than the input (%llu bytes)",
				     (unsigned long long)dst->size, (unsigned long long)size);
	if (posix_memalign((void **)&buf, 4096, CONVERT_CHUNK))
		return vsl_set_error(src->ctx, 0, VSL_ENOMEM, "out of memory");
	vsl_progress_report(progress, "convert", 0, size);
	while (off < size && r == 0) {
		uint64_t win_end = VSL_MIN(off - off % CONVERT_CHUNK + CONVERT_CHUNK, size);
		uint64_t p = off, n;
		size_t len, pos;
		int flags = 0;

		/* find the first data in this window; jump over long zero runs */
		while (p < win_end) {
			r = vsl_image_block_status(src, p, size - p, &n, &flags);
			if (r < 0)
				break;
			if ((flags & VSL_BLOCK_DATA) && !(flags & VSL_BLOCK_ZERO))
				break;
			p += n;
		}
		if (r < 0)
			break;
		if (p >= win_end) {
			uint64_t next = p >= size ? size : p - p % CONVERT_ZERO_BLOCK;
			st.bytes_skipped += next - off;
			off = VSL_MAX(next, win_end);
			vsl_progress_report(progress, "convert", off, size);
			continue;
		}
		/* read from the data's block to the end of the window; holes read as zeroes */
		st.bytes_skipped += p - p % CONVERT_ZERO_BLOCK - off;
		off = VSL_MAX(off, p - p % CONVERT_ZERO_BLOCK);
		len = (size_t)(win_end - off);
		r = vsl_image_read(src, off, buf, len);
		if (r < 0)
			break;
		st.bytes_read += len;
		for (pos = 0; pos < len && r == 0;) {
			size_t start = pos;
			bool zero = false;

			while (pos < len) {
				uint64_t a = off + pos;
				size_t blk = (size_t)VSL_MIN(CONVERT_ZERO_BLOCK - a % CONVERT_ZERO_BLOCK,
							     len - pos);
				bool z = vsl_buf_is_zero(buf + pos, blk);
				if (pos == start)
					zero = z;
				else if (z != zero)
					break;
				pos += blk;
			}
			if (!zero) {
				r = vsl_image_write(dst, off + start, buf + start, pos - start);
				st.bytes_written += pos - start;
			}
		}
		off = win_end;
		vsl_progress_report(progress, "convert", off, size);
	}
	free(buf);
	if (r == 0)
		r = vsl_image_flush(dst);
	if (stats)
		*stats = st;
	return r;
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
	char *tmp = NULL;
	const char *target = out;
	int r, fd;

	if (!o->out_fmt)
		return vsl_set_error(ctx, 0, VSL_EINVAL, "no output format");
	if (!vsl_format_find(o->out_fmt))
		return vsl_set_error(ctx, 0, VSL_ENOTSUP, "unknown output format '%s'", o->out_fmt);
	r = vsl_image_open(ctx, in, o->in_fmt, VSL_IMAGE_RDONLY, &src);
	if (r < 0)
		return r;
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
	r = vsl_convert_copy(src, dst, o->progress, stats);
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
	free(tmp);
	return r;
}
