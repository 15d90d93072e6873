/*
 * The body shared by the libFuzzer harnesses of the disk-image formats
 * (fuzz_vhd.c, fuzz_vmdk.c): open the input from a memory stream as the
 * given format, walk the block status, read every allocated byte (up to a
 * budget, so huge declared capacities stay fast), read or write at offsets
 * taken from the input, run the check and the info dump; then repeat on a
 * writable copy, writing. Errors are expected; any crash, hang, leak or
 * sanitizer report is a bug.
 *
 * Header-only (static functions) because each harness is linked on its own
 * from exactly one source file (see tests/fuzz/module.mk).
 */
#ifndef VESSEL_TESTS_FUZZ_IMAGE_COMMON_H
#define VESSEL_TESTS_FUZZ_IMAGE_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/format.h"

#define FUZZ_READ_BUDGET (16u << 20)

static inline void fuzz_image_exercise(struct vsl_image *img, const uint8_t *data, size_t size,
				       bool write)
{
	static uint8_t buf[1 << 16];
	struct vsl_check_report rep;
	uint64_t off = 0, n, budget = FUZZ_READ_BUDGET;
	char info[1024];
	int flags;

	/* the whole image: data runs are read, zero runs skipped */
	for (int i = 0; i < 4096 && off < img->size && budget; i++) {
		if (vsl_image_block_status(img, off, img->size - off, &n, &flags) < 0)
			break;
		if (flags & VSL_BLOCK_DATA) {
			uint64_t end = off + VSL_MIN(n, budget);
			for (uint64_t o = off; o < end; o += sizeof(buf)) {
				size_t k = (size_t)VSL_MIN(sizeof(buf), end - o);
				if (vsl_image_read(img, o, buf, k) < 0)
					break;
			}
			budget -= end - off;
		}
		off += n;
	}
	for (size_t i = 0; i + 8 <= VSL_MIN(size, 64) && img->size; i += 8) {
		uint64_t o;
		memcpy(&o, data + i, 8);
		o %= img->size;
		n = VSL_MIN(img->size - o, sizeof(buf));
		if (write) {
			memset(buf, (int)i + 1, (size_t)n);
			vsl_image_write(img, o, buf, (size_t)n);
		} else {
			vsl_image_read(img, o, buf, (size_t)n);
		}
	}
	if (write)
		vsl_image_flush(img);
	vsl_image_check(img, &rep);
	vsl_image_info(img, info, sizeof(info));
}

/* One fuzz input opened as format (a vsl_image_open_stream() name); returns 0. */
static inline int fuzz_image_one(const uint8_t *data, size_t size, const char *format)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_stream *s;
	struct vsl_image *img;

	if (!ctx)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		s = vsl_stream_new_mem(ctx, data, size, pass ? VSL_STREAM_RDWR : 0);
		if (!s)
			break;
		if (vsl_image_open_stream(ctx, s, format, pass ? VSL_IMAGE_RDWR : 0, &img) < 0) {
			vsl_stream_free(s);
			continue;
		}
		fuzz_image_exercise(img, data, size, pass == 1);
		vsl_image_close(img);
	}
	vsl_ctx_free(ctx);
	return 0;
}

#endif
