/*
 * Streams: positioned I/O on a file or on memory.
 *
 * Formats, bundles and devices do all their I/O through a vsl_stream, so unit
 * tests and fuzzers can run the same code on a memory buffer:
 *
 *	struct vsl_stream *s;
 *	if (vsl_stream_open_file(ctx, "disk.qcow2", VSL_STREAM_RDONLY, &s) < 0) ...
 *	vsl_stream_pread_full(s, hdr, sizeof(hdr), 0);   // VSL_ECORRUPT if short
 *	vsl_stream_free(s);
 *
 *	s = vsl_stream_new_mem(ctx, data, len, VSL_STREAM_RDWR);  // copies data
 */
#ifndef VESSEL_STREAM_H
#define VESSEL_STREAM_H

#include <stdint.h>
#include <stddef.h>

#include "vessel/common.h"

enum {
	VSL_STREAM_RDONLY = 0,
	VSL_STREAM_RDWR = 1 << 0,
	VSL_STREAM_CREATE = 1 << 1, /* with RDWR: create, fail if it exists */
	VSL_STREAM_TRUNC = 1 << 2,  /* with RDWR|CREATE: create or truncate */
	VSL_STREAM_DIRECT = 1 << 3, /* hint: O_DIRECT where possible (ignored otherwise) */
	/*
	 * Hint for writers that fill a new file with large writes (conversion
	 * outputs): a file stream allocates the blocks of each write of 64 KiB
	 * or more (fallocate) before copying the data in. On ext4 this replaces
	 * the delayed allocation's per-block bookkeeping in the write with one
	 * extent allocation: the copy into the page cache costs about half the
	 * CPU. Only the written range is allocated, so holes stay holes. May be
	 * set on s->flags at any time; ignored by memory streams and devices.
	 */
	VSL_STREAM_PREALLOC = 1 << 4,
};

struct vsl_stream;

struct vsl_stream_ops {
	const char *name;
	/* Read up to len bytes at off; returns bytes read (short only at end) or VSL_E*. */
	int64_t (*pread)(struct vsl_stream *s, void *buf, size_t len, uint64_t off);
	/* Write all len bytes at off, growing the stream; 0 or VSL_E*. */
	int (*pwrite)(struct vsl_stream *s, const void *buf, size_t len, uint64_t off);
	int (*size)(struct vsl_stream *s, uint64_t *size);
	int (*truncate)(struct vsl_stream *s, uint64_t size);
	int (*flush)(struct vsl_stream *s);
	/* Deallocate [off, off+len) so it reads as zeroes; VSL_ENOTSUP if impossible. */
	int (*punch)(struct vsl_stream *s, uint64_t off, uint64_t len);
	/*
	 * Find the allocated range at or after off: *data_off = start of data,
	 * *data_end = end of that data run. Returns VSL_ENOENT when only a hole
	 * remains. Optional: NULL means "everything is data".
	 */
	int (*next_data)(struct vsl_stream *s, uint64_t off, uint64_t *data_off, uint64_t *data_end);
	void (*close)(struct vsl_stream *s);
};

struct vsl_stream {
	const struct vsl_stream_ops *ops;
	struct vsl_ctx *ctx;   /* borrowed; errors are recorded here */
	char *name;            /* for messages: the path, or "<memory>" */
	int flags;
	void *priv;
};

/* Open a host file. On success *out is the new stream (free with vsl_stream_free). */
int vsl_stream_open_file(struct vsl_ctx *ctx, const char *path, int flags, struct vsl_stream **out);
/* Wrap an already open file descriptor; the stream owns fd afterwards. */
int vsl_stream_from_fd(struct vsl_ctx *ctx, int fd, const char *name, int flags,
		       struct vsl_stream **out);
/* A memory stream holding a copy of data[0..len) (data may be NULL for empty). */
struct vsl_stream *vsl_stream_new_mem(struct vsl_ctx *ctx, const void *data, size_t len, int flags);
/* Borrowed view of a memory stream's bytes; valid until the next write. */
const uint8_t *vsl_stream_mem_data(struct vsl_stream *s, size_t *len);
/* The host fd behind a file stream, or -1. */
int vsl_stream_fd(struct vsl_stream *s);

void vsl_stream_free(struct vsl_stream *s);

int64_t vsl_stream_pread(struct vsl_stream *s, void *buf, size_t len, uint64_t off);
/* Read exactly len bytes; a short read is VSL_ECORRUPT ("truncated"). */
int vsl_stream_pread_full(struct vsl_stream *s, void *buf, size_t len, uint64_t off);
int vsl_stream_pwrite(struct vsl_stream *s, const void *buf, size_t len, uint64_t off);
int vsl_stream_size(struct vsl_stream *s, uint64_t *size);
int vsl_stream_truncate(struct vsl_stream *s, uint64_t size);
int vsl_stream_flush(struct vsl_stream *s);
int vsl_stream_punch(struct vsl_stream *s, uint64_t off, uint64_t len);
int vsl_stream_next_data(struct vsl_stream *s, uint64_t off, uint64_t *data_off, uint64_t *data_end);

#endif
