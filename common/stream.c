/*
 * File and memory streams (see include/vessel/stream.h).
 *
 * The file stream uses pread/pwrite, fallocate(PUNCH_HOLE) for discards and
 * lseek(SEEK_DATA/SEEK_HOLE) to report holes, so sparse files stay sparse.
 * With VSL_STREAM_PREALLOC it allocates each large write's range (plain
 * fallocate) before the write.
 * The memory stream grows on write (bounded by VSL_STREAM_MEM_MAX) and is
 * what tests and fuzzers use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/stream.h"

#define VSL_STREAM_MEM_MAX ((uint64_t)1 << 32)

/* ---- file streams ---- */

struct file_priv {
	int fd;
	bool regular;  /* a regular file (fallocate applies) */
};

/* Writes from this size on are preallocated under VSL_STREAM_PREALLOC. */
#define FILE_PREALLOC_MIN (64u << 10)

static int file_fd(struct vsl_stream *s)
{
	return ((struct file_priv *)s->priv)->fd;
}

static int64_t file_pread(struct vsl_stream *s, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(file_fd(s), (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return vsl_set_error(s->ctx, errno, VSL_EIO, "%s: read at offset %llu",
					     s->name, (unsigned long long)(off + done));
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int64_t)done;
}

static int file_pwrite(struct vsl_stream *s, const void *buf, size_t len, uint64_t off)
{
	struct file_priv *p = s->priv;
	size_t done = 0;

	/*
	 * VSL_STREAM_PREALLOC: allocate the range first (see stream.h). A
	 * failure here changes nothing: the write itself reports what matters
	 * (ENOSPC, EIO), and filesystems without fallocate just skip it.
	 */
	if ((s->flags & VSL_STREAM_PREALLOC) && p->regular && len >= FILE_PREALLOC_MIN &&
	    fallocate(p->fd, 0, (off_t)off, (off_t)len) < 0 &&
	    (errno == EOPNOTSUPP || errno == ENOSYS))
		p->regular = false; /* not supported here: stop asking */
	while (done < len) {
		ssize_t n = pwrite(file_fd(s), (const char *)buf + done, len - done,
				   (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return vsl_set_error(s->ctx, errno, VSL_EIO, "%s: write at offset %llu",
					     s->name, (unsigned long long)(off + done));
		}
		done += (size_t)n;
	}
	return 0;
}

static int file_size(struct vsl_stream *s, uint64_t *size)
{
	struct stat st;
	int fd = file_fd(s);

	if (fstat(fd, &st) < 0)
		return vsl_set_error(s->ctx, errno, VSL_EIO, "%s: stat", s->name);
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end < 0)
			return vsl_set_error(s->ctx, errno, VSL_EIO, "%s: size of block device",
					     s->name);
		*size = (uint64_t)end;
		return 0;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static int file_truncate(struct vsl_stream *s, uint64_t size)
{
	if (ftruncate(file_fd(s), (off_t)size) < 0)
		return vsl_set_error(s->ctx, errno, VSL_EIO, "%s: truncate", s->name);
	return 0;
}

static int file_flush(struct vsl_stream *s)
{
	if (fdatasync(file_fd(s)) < 0 && errno != EINVAL)
		return vsl_set_error(s->ctx, errno, VSL_EIO, "%s: flush", s->name);
	return 0;
}

static int file_punch(struct vsl_stream *s, uint64_t off, uint64_t len)
{
	if (fallocate(file_fd(s), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) < 0) {
		if (errno == EOPNOTSUPP || errno == ENOSYS)
			return VSL_ENOTSUP;
		return vsl_set_error(s->ctx, errno, VSL_EIO, "%s: discard", s->name);
	}
	return 0;
}

static int file_next_data(struct vsl_stream *s, uint64_t off, uint64_t *data_off,
			  uint64_t *data_end)
{
	off_t d, h;
	int fd = file_fd(s);

	d = lseek(fd, (off_t)off, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO)
			return VSL_ENOENT;
		if (errno == EINVAL || errno == EOPNOTSUPP) {
			uint64_t size;
			int r = file_size(s, &size);
			if (r < 0)
				return r;
			if (off >= size)
				return VSL_ENOENT;
			*data_off = off;
			*data_end = size;
			return 0;
		}
		return vsl_set_error(s->ctx, errno, VSL_EIO, "%s: seek data", s->name);
	}
	h = lseek(fd, d, SEEK_HOLE);
	if (h < 0)
		return vsl_set_error(s->ctx, errno, VSL_EIO, "%s: seek hole", s->name);
	*data_off = (uint64_t)d;
	*data_end = (uint64_t)h;
	return 0;
}

static void file_close(struct vsl_stream *s)
{
	struct file_priv *p = s->priv;

	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

static const struct vsl_stream_ops file_ops = {
	.name = "file",
	.pread = file_pread,
	.pwrite = file_pwrite,
	.size = file_size,
	.truncate = file_truncate,
	.flush = file_flush,
	.punch = file_punch,
	.next_data = file_next_data,
	.close = file_close,
};

int vsl_stream_from_fd(struct vsl_ctx *ctx, int fd, const char *name, int flags,
		       struct vsl_stream **out)
{
	struct vsl_stream *s = calloc(1, sizeof(*s));
	struct file_priv *p = calloc(1, sizeof(*p));
	struct stat st;

	if (!s || !p || !(s->name = strdup(name))) {
		free(p);
		if (s)
			free(s);
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	p->fd = fd;
	p->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	s->ops = &file_ops;
	s->ctx = ctx;
	s->flags = flags;
	s->priv = p;
	*out = s;
	return 0;
}

int vsl_stream_open_file(struct vsl_ctx *ctx, const char *path, int flags, struct vsl_stream **out)
{
	int oflags = O_CLOEXEC, fd, r;

	if (flags & VSL_STREAM_RDWR) {
		oflags |= O_RDWR;
		if (flags & VSL_STREAM_CREATE)
			oflags |= O_CREAT | ((flags & VSL_STREAM_TRUNC) ? O_TRUNC : O_EXCL);
	} else {
		oflags |= O_RDONLY;
	}
	fd = open(path, oflags, 0644);
	if (fd < 0)
		return vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO,
				     "open %s", path);
	r = vsl_stream_from_fd(ctx, fd, path, flags, out);
	if (r < 0)
		close(fd);
	return r;
}

int vsl_stream_fd(struct vsl_stream *s)
{
	return s && s->ops == &file_ops ? file_fd(s) : -1;
}

/* ---- memory streams ---- */

struct mem_priv {
	uint8_t *data;
	size_t len, cap;
};

static int64_t mem_pread(struct vsl_stream *s, void *buf, size_t len, uint64_t off)
{
	struct mem_priv *m = s->priv;
	size_t n;

	if (off >= m->len)
		return 0;
	n = VSL_MIN(len, m->len - (size_t)off);
	memcpy(buf, m->data + off, n);
	return (int64_t)n;
}

static int mem_reserve(struct vsl_stream *s, uint64_t end)
{
	struct mem_priv *m = s->priv;
	size_t cap;
	uint8_t *p;

	if (end > VSL_STREAM_MEM_MAX)
		return vsl_set_error(s->ctx, 0, VSL_ENOMEM, "%s: memory stream over %llu bytes",
				     s->name, (unsigned long long)VSL_STREAM_MEM_MAX);
	if (end <= m->cap)
		return 0;
	cap = m->cap ? m->cap : 4096;
	while (cap < end)
		cap *= 2;
	p = realloc(m->data, cap);
	if (!p)
		return vsl_set_error(s->ctx, 0, VSL_ENOMEM, "%s: out of memory", s->name);
	memset(p + m->cap, 0, cap - m->cap);
	m->data = p;
	m->cap = cap;
	return 0;
}

static int mem_pwrite(struct vsl_stream *s, const void *buf, size_t len, uint64_t off)
{
	struct mem_priv *m = s->priv;
	int r;

	if (!(s->flags & VSL_STREAM_RDWR))
		return vsl_set_error(s->ctx, 0, VSL_EPERM, "%s: stream is read-only", s->name);
	if (off + len < off)
		return vsl_set_error(s->ctx, 0, VSL_ERANGE, "%s: write past 2^64", s->name);
	r = mem_reserve(s, off + len);
	if (r < 0)
		return r;
	if (off > m->len)
		memset(m->data + m->len, 0, off - m->len);
	memcpy(m->data + off, buf, len);
	if (off + len > m->len)
		m->len = off + len;
	return 0;
}

static int mem_size(struct vsl_stream *s, uint64_t *size)
{
	*size = ((struct mem_priv *)s->priv)->len;
	return 0;
}

static int mem_truncate(struct vsl_stream *s, uint64_t size)
{
	struct mem_priv *m = s->priv;
	int r = mem_reserve(s, size);

	if (r < 0)
		return r;
	if (size > m->len)
		memset(m->data + m->len, 0, size - m->len);
	m->len = size;
	return 0;
}

static int mem_flush(struct vsl_stream *s)
{
	return 0;
}

static int mem_punch(struct vsl_stream *s, uint64_t off, uint64_t len)
{
	struct mem_priv *m = s->priv;

	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = m->len - off;
	memset(m->data + off, 0, len);
	return 0;
}

static void mem_close(struct vsl_stream *s)
{
	struct mem_priv *m = s->priv;

	free(m->data);
	free(m);
}

static const struct vsl_stream_ops mem_ops = {
	.name = "memory",
	.pread = mem_pread,
	.pwrite = mem_pwrite,
	.size = mem_size,
	.truncate = mem_truncate,
	.flush = mem_flush,
	.punch = mem_punch,
	.close = mem_close,
};

struct vsl_stream *vsl_stream_new_mem(struct vsl_ctx *ctx, const void *data, size_t len, int flags)
{
	struct vsl_stream *s = calloc(1, sizeof(*s));
	struct mem_priv *m = calloc(1, sizeof(*m));

	if (!s || !m || !(s->name = strdup("<memory>")))
		goto err_free;
	s->ops = &mem_ops;
	s->ctx = ctx;
	s->flags = flags | VSL_STREAM_RDWR; /* allow the initial fill */
	s->priv = m;
	if (len && mem_pwrite(s, data, len, 0) < 0)
		goto err_free;
	s->flags = flags;
	return s;
err_free:
	if (s)
		free(s->name);
	free(m ? m->data : NULL);
	free(m);
	free(s);
	vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	return NULL;
}

const uint8_t *vsl_stream_mem_data(struct vsl_stream *s, size_t *len)
{
	struct mem_priv *m;

	if (!s || s->ops != &mem_ops)
		return NULL;
	m = s->priv;
	*len = m->len;
	return m->data;
}

/* ---- dispatch ---- */

void vsl_stream_free(struct vsl_stream *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s->name);
	free(s);
}

int64_t vsl_stream_pread(struct vsl_stream *s, void *buf, size_t len, uint64_t off)
{
	return s->ops->pread(s, buf, len, off);
}

int vsl_stream_pread_full(struct vsl_stream *s, void *buf, size_t len, uint64_t off)
{
	int64_t n = s->ops->pread(s, buf, len, off);

	if (n < 0)
		return (int)n;
	if ((size_t)n != len)
		return vsl_set_error(s->ctx, 0, VSL_ECORRUPT,
				     "%s: truncated: wanted %zu bytes at offset %llu, file ends after %lld",
				     s->name, len, (unsigned long long)off, (long long)n);
	return 0;
}

int vsl_stream_pwrite(struct vsl_stream *s, const void *buf, size_t len, uint64_t off)
{
	if (!(s->flags & VSL_STREAM_RDWR))
		return vsl_set_error(s->ctx, 0, VSL_EPERM, "%s: opened read-only", s->name);
	return s->ops->pwrite(s, buf, len, off);
}

int vsl_stream_size(struct vsl_stream *s, uint64_t *size)
{
	return s->ops->size(s, size);
}

int vsl_stream_truncate(struct vsl_stream *s, uint64_t size)
{
	if (!(s->flags & VSL_STREAM_RDWR))
		return vsl_set_error(s->ctx, 0, VSL_EPERM, "%s: opened read-only", s->name);
	return s->ops->truncate(s, size);
}

int vsl_stream_flush(struct vsl_stream *s)
{
	return s->ops->flush(s);
}

int vsl_stream_punch(struct vsl_stream *s, uint64_t off, uint64_t len)
{
	if (!(s->flags & VSL_STREAM_RDWR))
		return vsl_set_error(s->ctx, 0, VSL_EPERM, "%s: opened read-only", s->name);
	return s->ops->punch ? s->ops->punch(s, off, len) : VSL_ENOTSUP;
}

int vsl_stream_next_data(struct vsl_stream *s, uint64_t off, uint64_t *data_off, uint64_t *data_end)
{
	uint64_t size;
	int r;

	if (s->ops->next_data)
		return s->ops->next_data(s, off, data_off, data_end);
	r = s->ops->size(s, &size);
	if (r < 0)
		return r;
	if (off >= size)
		return VSL_ENOENT;
	*data_off = off;
	*data_end = size;
	return 0;
}
