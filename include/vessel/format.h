/*
 * Disk image formats: one const vtable per format, probed by magic.
 *
 * An image is opened through a vsl_stream, so every format runs on files and
 * on memory (tests, fuzzers) alike. Reads and writes are random access at
 * byte granularity (formats handle partial clusters), so the runtime can
 * serve guest disks straight from qcow2, VMDK, VHD or raw.
 *
 *	struct vsl_image *img;
 *	if (vsl_image_open(ctx, "disk.vmdk", NULL, VSL_IMAGE_RDONLY, &img) < 0) ...
 *	vsl_image_read(img, 0, buf, 512);
 *	vsl_image_close(img);
 *
 * Formats are named as qemu-img names them: raw, qcow2, vmdk, vpc.
 */
#ifndef VESSEL_FORMAT_H
#define VESSEL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/common.h"
#include "vessel/progress.h"
#include "vessel/stream.h"

enum {
	VSL_IMAGE_RDONLY = 0,
	VSL_IMAGE_RDWR = 1 << 0,
	VSL_IMAGE_NO_BACKING = 1 << 1, /* do not open backing files */
};

/* Block status flags (vsl_image_block_status). */
enum {
	VSL_BLOCK_DATA = 1 << 0,      /* allocated in this image (or a backing file) */
	VSL_BLOCK_ZERO = 1 << 1,      /* reads as zeroes */
	VSL_BLOCK_BACKING = 1 << 2,   /* comes from the backing chain */
};

/* Key=value creation options, as qemu-img's -o (e.g. "cluster_size=65536"). */
struct vsl_image_opts {
	const char *backing_file;    /* -b */
	const char *backing_format;  /* -F */
	bool compress;               /* -c: compress data (qcow2, vmdk streamOptimized) */
	const char *const *kv;       /* NULL-terminated "key=value" list from -o */
	unsigned threads;            /* compression threads (0 = all cores) */
};

struct vsl_image;
struct vsl_check_report;

struct vsl_format_ops {
	const char *name;        /* "qcow2" */
	const char *description; /* "QEMU copy-on-write v2/v3" */
	/* How sure this format is that s holds one of its images: 0 = not mine, 100 = certain. */
	int (*probe)(struct vsl_stream *s);
	/* Open an existing image; set img->size and img->priv. */
	int (*open)(struct vsl_image *img, struct vsl_stream *s, int flags);
	/* Create a new image of `size` bytes in the empty, writable stream s. */
	int (*create)(struct vsl_image *img, struct vsl_stream *s, uint64_t size,
		      const struct vsl_image_opts *opts);
	int (*read)(struct vsl_image *img, uint64_t off, void *buf, size_t len);
	int (*write)(struct vsl_image *img, uint64_t off, const void *buf, size_t len);
	int (*flush)(struct vsl_image *img);
	/*
	 * Status of [off, off+len): returns the status flags of the run starting
	 * at off and its length in *pnum (>= 1 byte, <= len). NULL = all data.
	 */
	int (*block_status)(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			    int *flags);
	/* Make [off, off+len) read as zeroes, deallocating where possible. Optional. */
	int (*zero)(struct vsl_image *img, uint64_t off, uint64_t len);
	/* Consistency check: fills the report; returns 0 even when problems are found. */
	int (*check)(struct vsl_image *img, struct vsl_check_report *rep);
	/* Format-specific facts as "key: value\n" lines for `img info`. Optional. */
	int (*info)(struct vsl_image *img, char *buf, size_t len);
	int (*resize)(struct vsl_image *img, uint64_t size);
	void (*close)(struct vsl_image *img);
};

struct vsl_check_report {
	uint64_t corruptions;  /* errors that lose or misplace data */
	uint64_t leaks;        /* allocated but unreferenced space (repairable) */
	uint64_t allocated_clusters, total_clusters;
	char first_problem[512];
};

struct vsl_image {
	const struct vsl_format_ops *ops;
	struct vsl_ctx *ctx;          /* borrowed */
	struct vsl_stream *s;         /* owned */
	char *path;                   /* NULL for memory images */
	uint64_t size;                /* virtual disk size in bytes */
	int flags;
	struct vsl_image *backing;    /* owned; NULL if none */
	void *priv;                   /* the format's state */
};

/* The registry, NULL-terminated; raw last (it accepts anything). */
extern const struct vsl_format_ops *const vsl_formats[];
const struct vsl_format_ops *vsl_format_find(const char *name);
/* Highest probe wins; raw only as the fallback. */
const struct vsl_format_ops *vsl_format_probe(struct vsl_stream *s);

/* fmt NULL: probe. */
int vsl_image_open(struct vsl_ctx *ctx, const char *path, const char *fmt, int flags,
		   struct vsl_image **out);
int vsl_image_open_stream(struct vsl_ctx *ctx, struct vsl_stream *s, const char *fmt,
			  int flags, struct vsl_image **out);
int vsl_image_create(struct vsl_ctx *ctx, const char *path, const char *fmt, uint64_t size,
		     const struct vsl_image_opts *opts, struct vsl_image **out);
int vsl_image_read(struct vsl_image *img, uint64_t off, void *buf, size_t len);
int vsl_image_write(struct vsl_image *img, uint64_t off, const void *buf, size_t len);
int vsl_image_flush(struct vsl_image *img);
int vsl_image_block_status(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			   int *flags);
int vsl_image_zero(struct vsl_image *img, uint64_t off, uint64_t len);
void vsl_image_close(struct vsl_image *img);

/* Look up a "key=value" option; NULL when absent. */
const char *vsl_image_opt(const struct vsl_image_opts *opts, const char *key);

#endif
