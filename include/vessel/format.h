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
	/*
	 * No fdatasync between ordered metadata writes, nor on flush (qemu-img's
	 * cache=unsafe): for conversion outputs that are discarded on failure.
	 * Set it on img->flags after create/open.
	 */
	VSL_IMAGE_UNSAFE = 1 << 2,
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
	/* --- added after the first draft; new ops go below, existing ones stay put --- */
	/*
	 * Host byte offset of the data at virtual offset off, for `img map`:
	 * sets *host (or VSL_IMAGE_NO_HOST) and *pnum like block_status. Optional.
	 */
	int (*host_offset)(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			   uint64_t *host);
	/* Creation option keys this format accepts (NULL-terminated), for -o validation and help. */
	const char *const *create_opts;
};

#define VSL_IMAGE_NO_HOST UINT64_MAX
/* Longest backing chain vsl_image_open_backing accepts (top image excluded). */
#define VSL_IMAGE_MAX_CHAIN 16

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
	/* --- added after the first draft --- */
	unsigned depth;               /* 0 for the image the user opened, +1 per backing level */
	struct vsl_image *child;      /* borrowed: the image whose backing file this is */
	uint64_t dev, ino;            /* identity of the host file (0 for memory), loop checks */
};

/* The formats vessel knows (vmdk/vpc live in formats/vmdk.c and formats/vhd.c). */
extern const struct vsl_format_ops vsl_format_raw, vsl_format_qcow2;
extern const struct vsl_format_ops vsl_format_vmdk, vsl_format_vpc;

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

/*
 * Reject -o keys the format does not list in ops->create_opts:
 * "qcow2: unknown option 'foo' (known: cluster_size, compat, ...)". Formats
 * call it first thing in create().
 */
int vsl_image_opts_check(struct vsl_ctx *ctx, const struct vsl_format_ops *ops,
			 const struct vsl_image_opts *opts);

/* Create on an empty writable stream (memory images in tests); owns s on success. */
int vsl_image_create_stream(struct vsl_ctx *ctx, struct vsl_stream *s, const char *fmt,
			    uint64_t size, const struct vsl_image_opts *opts,
			    struct vsl_image **out);

/*
 * Open the backing file `name` of img (for formats' open()): a relative name
 * is taken relative to the directory of img->path; fmt NULL probes. Enforces
 * VSL_IMAGE_MAX_CHAIN and refuses loops (a file that is already in the
 * chain). Opens read-only; on success *out->child == img and the caller
 * stores it in img->backing (vsl_image_close closes it).
 */
int vsl_image_open_backing(struct vsl_image *img, const char *name, const char *fmt,
			   struct vsl_image **out);

/* Like ops->check, with a zeroed report; VSL_ENOTSUP when the format has none. */
int vsl_image_check(struct vsl_image *img, struct vsl_check_report *rep);
int vsl_image_resize(struct vsl_image *img, uint64_t size);
/* Host bytes allocated to the image file (st_blocks * 512; stream size for memory). */
int vsl_image_allocated(struct vsl_image *img, uint64_t *bytes);
/* Format-specific info lines (see ops->info); buf gets "" when the format has none. */
int vsl_image_info(struct vsl_image *img, char *buf, size_t len);
int vsl_image_host_offset(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			  uint64_t *host);

/* True when buf[0..len) is all zero bytes (fast; for zero detection in writers). */
bool vsl_buf_is_zero(const void *buf, size_t len);

#endif
