/*
 * The conversion engine behind `vessel img convert`: copy one image into a
 * new image of another (or the same) format.
 *
 *	struct vsl_convert_opts o = { .out_fmt = "qcow2", .compress = true };
 *	if (vsl_convert(ctx, "disk.raw", "disk.qcow2", &o) < 0)
 *		... vsl_ctx_error(ctx) ...
 *
 * The engine walks the source with vsl_image_block_status and never reads
 * unallocated or zero extents; in the data it does read, 64 KiB-aligned
 * blocks of zeroes are not written either, so the output stays sparse. It
 * writes in strictly increasing offset order (streaming formats such as VMDK
 * streamOptimized rely on that), in chunks of up to 2 MiB. Compression
 * (-c) is done by the output format on a vsl_workpool (opts threads); the
 * engine only asks for it through vsl_image_opts.compress.
 *
 * Threads: vsl_convert reads the source on worker threads (-m, at least 2),
 * each with its own handle on the input, while the calling thread writes
 * the windows they finish, in order; vsl_convert_copy does everything on
 * the calling thread. The output's stream is marked VSL_STREAM_PREALLOC
 * (each large write's blocks are allocated before the write).
 *
 * The output never appears half-written: single-file formats are written
 * to OUT.tmp-XXXXXX beside OUT and renamed over OUT once flushed; formats
 * that may create extra files named after OUT (vmdk with a subformat other
 * than monolithicSparse/streamOptimized) are written in place and unlinked
 * on failure.
 */
#ifndef VESSEL_CONVERT_H
#define VESSEL_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/format.h"
#include "vessel/progress.h"

struct vsl_convert_opts {
	const char *in_fmt;                 /* NULL: probe */
	const char *out_fmt;                /* required: "qcow2", "raw", "vmdk", "vpc" */
	const char *const *kv;              /* -o key=value list (NULL-terminated) or NULL */
	bool compress;                      /* -c */
	unsigned threads;                   /* -m: compression and reader threads, 0 = online CPUs */
	const struct vsl_progress *progress;/* may be NULL */
};

/* Statistics of a finished conversion. */
struct vsl_convert_stats {
	uint64_t bytes_read;     /* data read from the source */
	uint64_t bytes_written;  /* data handed to the output (zero blocks excluded) */
	uint64_t bytes_skipped;  /* holes and zero extents never read */
};

/* Convert the image at `in` into a new image at `out` (replaced if it exists). */
int vsl_convert(struct vsl_ctx *ctx, const char *in, const char *out,
		const struct vsl_convert_opts *o, struct vsl_convert_stats *stats);

/*
 * Copy every non-zero byte of src into dst (same virtual size or larger,
 * and reading as zeroes where nothing is written, as a new image does).
 * stats may be NULL.
 */
int vsl_convert_copy(struct vsl_image *src, struct vsl_image *dst,
		     const struct vsl_progress *progress, struct vsl_convert_stats *stats);

#endif
