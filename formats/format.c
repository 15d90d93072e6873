/*
 * Disk image format registry and the format-independent image layer.
 *
 * The table below is the list of formats: vsl_format_probe() asks each one
 * how sure it is that a stream holds its image, and the highest bid wins.
 * raw bids 1 on anything, so it only wins when nobody else claims the file.
 *
 * The vsl_image_* wrappers check what every format would otherwise check
 * (bounds, read-only handles, zero lengths) so the formats' vtables only see
 * valid, in-range requests, and they add the image name to error messages.
 *
 *	struct vsl_image *img;
 *	if (vsl_image_open(ctx, "a.qcow2", NULL, VSL_IMAGE_RDONLY, &img) < 0)
 *		return ...;   // ctx: "a.qcow2: qcow2: L1 table offset ... past the end"
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/format.h"

const struct vsl_format_ops *const vsl_formats[] = {
	&vsl_format_qcow2,
	&vsl_format_vmdk, &vsl_format_vpc,
	&vsl_format_raw, /* last: accepts anything */
	NULL
};

const struct vsl_format_ops *vsl_format_find(const char *name)
{
	for (size_t i = 0; vsl_formats[i]; i++)
		if (!strcmp(vsl_formats[i]->name, name))
			return vsl_formats[i];
	return NULL;
}

const struct vsl_format_ops *vsl_format_probe(struct vsl_stream *s)
{
	const struct vsl_format_ops *best = NULL;
	int best_score = 0;

	for (size_t i = 0; vsl_formats[i]; i++) {
		int score = vsl_formats[i]->probe ? vsl_formats[i]->probe(s) : 0;
		if (score > best_score) {
			best_score = score;
			best = vsl_formats[i];
		}
	}
	return best;
}

const char *vsl_image_opt(const struct vsl_image_opts *opts, const char *key)
{
	size_t klen = strlen(key);
	const char *found = NULL;

	if (!opts || !opts->kv)
		return NULL;
	for (size_t i = 0; opts->kv[i]; i++)
		if (!strncmp(opts->kv[i], key, klen) && opts->kv[i][klen] == '=')
			found = opts->kv[i] + klen + 1; /* the last one wins, as in qemu-img */
	return found;
}

int vsl_image_opts_check(struct vsl_ctx *ctx, const struct vsl_format_ops *ops,
			 const struct vsl_image_opts *opts)
{
	char known[256] = "";
	size_t n = 0;

	if (!opts || !opts->kv)
		return 0;
	for (size_t i = 0; opts->kv[i]; i++) {
		const char *kv = opts->kv[i], *eq = strchr(kv, '=');
		bool ok = false;

		if (!eq || eq == kv)
			return vsl_set_error(ctx, 0, VSL_EINVAL,
					     "%s: option '%s' is not of the form key=value",
					     ops->name, kv);
		for (size_t k = 0; ops->create_opts && ops->create_opts[k]; k++)
			if (strlen(ops->create_opts[k]) == (size_t)(eq - kv) &&
			    !strncmp(ops->create_opts[k], kv, (size_t)(eq - kv)))
				ok = true;
		if (ok)
			continue;
		for (size_t k = 0; ops->create_opts && ops->create_opts[k]; k++) {
			int w = snprintf(known + n, sizeof(known) - n, "%s%s", k ? ", " : "",
					 ops->create_opts[k]);
			if (w < 0 || (size_t)w >= sizeof(known) - n)
				break;
			n += (size_t)w;
		}
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: unknown option '%.*s' (known: %s)",
				     ops->name, (int)(eq - kv), kv, n ? known : "none");
	}
	return 0;
}

static const struct vsl_format_ops *format_lookup(struct vsl_ctx *ctx, const char *fmt)
{
	const struct vsl_format_ops *ops = vsl_format_find(fmt);

	if (!ops) {
		char names[128] = "";
		size_t n = 0;
		for (size_t i = 0; vsl_formats[i]; i++) {
			int w = snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
					 vsl_formats[i]->name);
			if (w > 0 && (size_t)w < sizeof(names) - n)
				n += (size_t)w;
		}
		vsl_set_error(ctx, 0, VSL_ENOTSUP, "unknown image format '%s' (known: %s)", fmt,
			      names);
	}
	return ops;
}

static struct vsl_image *image_alloc(struct vsl_ctx *ctx, struct vsl_stream *s,
				     const struct vsl_format_ops *ops, int flags)
{
	struct vsl_image *img = calloc(1, sizeof(*img));
	struct stat st;
	int fd = vsl_stream_fd(s);

	if (!img) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		return NULL;
	}
	*img = (struct vsl_image){ .ops = ops, .ctx = ctx, .s = s, .flags = flags };
	if (fd >= 0 && fstat(fd, &st) == 0) {
		img->dev = (uint64_t)st.st_dev;
		img->ino = (uint64_t)st.st_ino;
	}
	return img;
}

/* Open s (owned on success) as an image; path may be NULL. */
static int image_open(struct vsl_ctx *ctx, struct vsl_stream *s, const char *path,
		      const char *fmt, int flags, struct vsl_image *child, struct vsl_image **out)
{
	const struct vsl_format_ops *ops;
	struct vsl_image *img;
	int r;

	if (fmt) {
		ops = format_lookup(ctx, fmt);
		if (!ops)
			return VSL_ENOTSUP;
	} else {
		ops = vsl_format_probe(s);
		if (!ops)
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: unknown image format",
					     s->name);
	}
	img = image_alloc(ctx, s, ops, flags);
	if (!img)
		return VSL_ENOMEM;
	if (path && !(img->path = strdup(path))) {
		free(img);
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	img->child = child;
	img->depth = child ? child->depth + 1 : 0;
	r = ops->open(img, s, flags);
	if (r < 0) {
		if (img->backing)
			vsl_image_close(img->backing);
		free(img->path);
		free(img);
		return r;
	}
	*out = img;
	return 0;
}

int vsl_image_open_stream(struct vsl_ctx *ctx, struct vsl_stream *s, const char *fmt,
			  int flags, struct vsl_image **out)
{
	return image_open(ctx, s, NULL, fmt, flags, NULL, out);
}

int vsl_image_open(struct vsl_ctx *ctx, const char *path, const char *fmt, int flags,
		   struct vsl_image **out)
{
	struct vsl_stream *s;
	int r;

	r = vsl_stream_open_file(ctx, path, (flags & VSL_IMAGE_RDWR) ? VSL_STREAM_RDWR : 0, &s);
	if (r < 0)
		return r;
	r = image_open(ctx, s, path, fmt, flags, NULL, out);
	if (r < 0) {
		vsl_stream_free(s);
		if (!strstr(vsl_ctx_error(ctx), path))
			vsl_error_prefix(ctx, "%s", path);
	}
	return r;
}

int vsl_image_open_backing(struct vsl_image *img, const char *name, const char *fmt,
			   struct vsl_image **out)
{
	struct vsl_ctx *ctx = img->ctx;
	struct vsl_stream *s;
	char *full = NULL;
	struct stat st;
	int r;

	if (img->depth + 1 > VSL_IMAGE_MAX_CHAIN)
		return vsl_set_error(ctx, 0, VSL_ERANGE,
				     "backing chain deeper than %d images (at '%s'); a loop?",
				     VSL_IMAGE_MAX_CHAIN, name);
	if (name[0] == '/' || !img->path) {
		full = strdup(name);
	} else {
		char *dup = strdup(img->path);
		if (dup)
			full = vsl_strdup_printf("%s/%s", dirname(dup), name);
		free(dup);
	}
	if (!full)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	if (!img->path && name[0] != '/') {
		r = vsl_set_error(ctx, 0, VSL_EINVAL,
				  "relative backing file '%s' of an image that has no path", name);
		goto out_free;
	}
	if (stat(full, &st) == 0) {
		for (struct vsl_image *c = img; c; c = c->child)
			if (c->dev == (uint64_t)st.st_dev && c->ino == (uint64_t)st.st_ino) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
						  "backing file loop: '%s' is already in the chain",
						  full);
				goto out_free;
			}
	}
	r = vsl_stream_open_file(ctx, full, VSL_STREAM_RDONLY, &s);
	if (r < 0) {
		vsl_error_prefix(ctx, "backing file");
		goto out_free;
	}
	r = image_open(ctx, s, full, fmt, VSL_IMAGE_RDONLY, img, out);
	if (r < 0) {
		vsl_stream_free(s);
		if (!strstr(vsl_ctx_error(ctx), full))
			vsl_error_prefix(ctx, "backing file %s", full);
	}
out_free:
	free(full);
	return r;
}

int vsl_image_create_stream(struct vsl_ctx *ctx, struct vsl_stream *s, const char *fmt,
			    uint64_t size, const struct vsl_image_opts *opts,
			    struct vsl_image **out)
{
	const struct vsl_format_ops *ops = format_lookup(ctx, fmt);
	struct vsl_image *img;
	int r;

	if (!ops)
		return VSL_ENOTSUP;
	if (!ops->create)
		return vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s: creating images is not supported",
				     ops->name);
	if (size >= (1ull << 62))
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: virtual size %llu is too large",
				     ops->name, (unsigned long long)size);
	img = image_alloc(ctx, s, ops, VSL_IMAGE_RDWR);
	if (!img)
		return VSL_ENOMEM;
	r = ops->create(img, s, size, opts);
	if (r < 0) {
		if (img->backing)
			vsl_image_close(img->backing);
		free(img->path);
		free(img);
		return r;
	}
	*out = img;
	return 0;
}

int vsl_image_create(struct vsl_ctx *ctx, const char *path, const char *fmt, uint64_t size,
		     const struct vsl_image_opts *opts, struct vsl_image **out)
{
	const struct vsl_format_ops *ops = format_lookup(ctx, fmt);
	struct vsl_image *img;
	struct vsl_stream *s;
	int r;

	if (!ops)
		return VSL_ENOTSUP;
	/*
	 * Create (or empty) the file, close it, and open it again for the
	 * writes: ext4 remembers that a file was truncated and writes all its
	 * dirty data back when that descriptor is closed ("auto_da_alloc"), which
	 * on a freshly written image costs as much as an fsync. Closing while
	 * the file is still empty spends that for nothing, as qemu-img does.
	 */
	r = vsl_stream_open_file(ctx, path, VSL_STREAM_RDWR | VSL_STREAM_CREATE | VSL_STREAM_TRUNC,
				 &s);
	if (r < 0)
		return r;
	vsl_stream_free(s);
	r = vsl_stream_open_file(ctx, path, VSL_STREAM_RDWR, &s);
	if (r < 0) {
		unlink(path);
		return r;
	}
	/* the path must be known before create() so relative backing names resolve */
	img = image_alloc(ctx, s, ops, VSL_IMAGE_RDWR);
	if (!img) {
		r = VSL_ENOMEM;
		goto err;
	}
	img->path = strdup(path);
	if (!img->path) {
		free(img);
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto err;
	}
	if (!ops->create) {
		r = vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s: creating images is not supported",
				  ops->name);
	} else if (size >= (1ull << 62)) {
		r = vsl_set_error(ctx, 0, VSL_ERANGE, "%s: virtual size %llu is too large",
				  ops->name, (unsigned long long)size);
	} else {
		r = ops->create(img, s, size, opts);
	}
	if (r < 0) {
		if (img->backing)
			vsl_image_close(img->backing);
		free(img->path);
		free(img);
		goto err;
	}
	*out = img;
	return 0;
err:
	vsl_stream_free(s);
	unlink(path);
	return r;
}

static int image_range(struct vsl_image *img, uint64_t off, uint64_t len, const char *what)
{
	if (off > img->size || len > img->size - off)
		return vsl_set_error(img->ctx, 0, VSL_ERANGE,
				     "%s of %llu bytes at offset %llu is past the end of the "
				     "image (virtual size %llu)",
				     what, (unsigned long long)len, (unsigned long long)off,
				     (unsigned long long)img->size);
	return 0;
}

static int image_writable(struct vsl_image *img)
{
	if (!(img->flags & VSL_IMAGE_RDWR))
		return vsl_set_error(img->ctx, 0, VSL_EPERM, "%s: image is open read-only",
				     img->path ? img->path : img->s->name);
	return 0;
}

int vsl_image_read(struct vsl_image *img, uint64_t off, void *buf, size_t len)
{
	int r = image_range(img, off, len, "read");

	if (r < 0 || !len)
		return r;
	return img->ops->read(img, off, buf, len);
}

int vsl_image_write(struct vsl_image *img, uint64_t off, const void *buf, size_t len)
{
	int r = image_writable(img);

	if (r == 0)
		r = image_range(img, off, len, "write");
	if (r < 0 || !len)
		return r;
	if (!img->ops->write)
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP, "%s: writing is not supported",
				     img->ops->name);
	return img->ops->write(img, off, buf, len);
}

int vsl_image_flush(struct vsl_image *img)
{
	if (!(img->flags & VSL_IMAGE_RDWR))
		return 0;
	if (img->ops->flush)
		return img->ops->flush(img);
	return vsl_stream_flush(img->s);
}

int vsl_image_block_status(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			   int *flags)
{
	int r = image_range(img, off, len, "block status");

	if (r < 0)
		return r;
	if (!len)
		return vsl_set_error(img->ctx, 0, VSL_EINVAL, "block status of 0 bytes");
	if (!img->ops->block_status) {
		*pnum = len;
		*flags = VSL_BLOCK_DATA;
		return 0;
	}
	r = img->ops->block_status(img, off, len, pnum, flags);
	if (r == 0 && (*pnum == 0 || *pnum > len))
		return vsl_set_error(img->ctx, 0, VSL_ECORRUPT,
				     "%s: block status returned %llu bytes for a %llu-byte query",
				     img->ops->name, (unsigned long long)*pnum,
				     (unsigned long long)len);
	return r;
}

int vsl_image_zero(struct vsl_image *img, uint64_t off, uint64_t len)
{
	int r = image_writable(img);
	static const uint8_t zeros[65536];

	if (r == 0)
		r = image_range(img, off, len, "zero");
	if (r < 0 || !len)
		return r;
	if (img->ops->zero) {
		r = img->ops->zero(img, off, len);
		if (r != VSL_ENOTSUP)
			return r;
	}
	while (len) {
		size_t n = (size_t)VSL_MIN(len, sizeof(zeros));
		r = vsl_image_write(img, off, zeros, n);
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

int vsl_image_check(struct vsl_image *img, struct vsl_check_report *rep)
{
	*rep = (struct vsl_check_report){ 0 };
	if (!img->ops->check)
		return VSL_ENOTSUP;
	return img->ops->check(img, rep);
}

int vsl_image_resize(struct vsl_image *img, uint64_t size)
{
	int r = image_writable(img);

	if (r < 0)
		return r;
	if (size >= (1ull << 62))
		return vsl_set_error(img->ctx, 0, VSL_ERANGE, "size %llu is too large",
				     (unsigned long long)size);
	if (!img->ops->resize)
		return vsl_set_error(img->ctx, 0, VSL_ENOTSUP, "%s: resizing is not supported",
				     img->ops->name);
	return img->ops->resize(img, size);
}

int vsl_image_allocated(struct vsl_image *img, uint64_t *bytes)
{
	int fd = vsl_stream_fd(img->s);
	struct stat st;

	if (fd >= 0) {
		if (fstat(fd, &st) < 0)
			return vsl_set_error(img->ctx, errno, VSL_EIO, "%s: stat", img->s->name);
		*bytes = (uint64_t)st.st_blocks * 512;
		return 0;
	}
	return vsl_stream_size(img->s, bytes);
}

int vsl_image_info(struct vsl_image *img, char *buf, size_t len)
{
	if (len)
		buf[0] = '\0';
	return img->ops->info ? img->ops->info(img, buf, len) : 0;
}

int vsl_image_host_offset(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			  uint64_t *host)
{
	int r = image_range(img, off, len, "map");

	if (r < 0)
		return r;
	if (!img->ops->host_offset) {
		*pnum = len;
		*host = VSL_IMAGE_NO_HOST;
		return 0;
	}
	return img->ops->host_offset(img, off, len, pnum, host);
}

void vsl_image_close(struct vsl_image *img)
{
	if (!img)
		return;
	if (img->ops->close)
		img->ops->close(img);
	if (img->backing)
		vsl_image_close(img->backing);
	vsl_stream_free(img->s);
	free(img->path);
	free(img);
}

bool vsl_buf_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	/* check the first 16 bytes byte-wise, then compare the buffer with itself shifted */
	for (i = 0; i < len && i < 16; i++)
		if (p[i])
			return false;
	return len <= 16 || !memcmp(p, p + 16, len - 16);
}
