/*
 * OVA internals shared by formats/ova.c and formats/interchange.c (the
 * export/import drivers); not a public API.
 */
#ifndef VESSEL_OVA_PRIV_H
#define VESSEL_OVA_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "vessel/hash.h"
#include "vessel/interchange.h"
#include "vessel/stream.h"

struct archive;

/* Receives the bytes of a streamed VMDK in order; 0 or VSL_E*. */
typedef int ova_emit_fn(void *opaque, const void *data, size_t len);

/*
 * Convert the image at src_path into a streamOptimized VMDK (adapter type
 * adapter, e.g. "lsilogic") and hand its bytes, in file order, to emit;
 * never stores more than the writer's tail. *populated (may be NULL) gets
 * the bytes of guest data written.
 */
int vsl_ova_stream_vmdk(struct vsl_ctx *ctx, const char *src_path, const char *src_fmt,
			const char *adapter, const char *name, unsigned threads,
			const struct vsl_progress *progress, ova_emit_fn *emit, void *opaque,
			uint64_t *populated);

/* One disk being written into an OVA (two passes). */
struct ova_disk_out {
	const char *src_path, *src_fmt, *adapter;   /* borrowed */
	const char *href;                           /* borrowed: member name */
	uint64_t chunk_size;                        /* 0: one member */
	/* set by pass 1 */
	uint64_t file_size, populated;
	char hex[VSL_HASH_HEX_MAX];
	char (*chunk_hex)[VSL_HASH_HEX_MAX];        /* per chunk when chunk_size */
	size_t nchunks;
	uint8_t *prefix;                            /* first 64 KiB, replayed by pass 2 */
};

/* pass 1: sizes and digests (a NULL); pass 2: member(s) into a, digests re-checked. */
int vsl_ova_disk_pass(struct vsl_ctx *ctx, struct ova_disk_out *d, int pass, enum vsl_hash_alg alg,
		      struct archive *a, unsigned threads, const struct vsl_progress *progress);
void vsl_ova_disk_out_fini(struct ova_disk_out *d);
/* A regular member from memory. */
int vsl_ova_write_member(struct vsl_ctx *ctx, struct archive *a, const char *name, const void *data,
			 size_t len);

/* An OVA opened for reading (mapped; members located in place). */
struct ova_member {
	char name[256];
	uint64_t off, size;     /* data bytes in the file */
};

struct ova_in {
	const char *path;       /* borrowed */
	const uint8_t *map;
	size_t size;
	struct ova_member *members;
	size_t nmembers;
};

int vsl_ova_open(struct vsl_ctx *ctx, const char *path, struct ova_in **out);
void vsl_ova_close(struct ova_in *in);
const struct ova_member *vsl_ova_find(const struct ova_in *in, const char *name);
/* Read-only stream over the concatenation of parts (chunks); owned by the caller. */
int vsl_ova_member_stream(struct vsl_ctx *ctx, const struct ova_in *in,
			  const struct ova_member *const *parts, size_t nparts, const char *name,
			  struct vsl_stream **out);
/* Digest of a member's bytes ("" on out-of-memory). */
void vsl_ova_member_hash(const struct ova_in *in, const struct ova_member *m, enum vsl_hash_alg alg,
			 char *hex);

#endif
