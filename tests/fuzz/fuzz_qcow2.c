/*
 * libFuzzer harness for formats/qcow2.c (and qcow2_check.c): the input is a
 * qcow2 file. Open it from memory without backing files, walk the block
 * status, read the first megabytes and a few offsets chosen by the input,
 * run the consistency check, then do the same with a writable copy after a
 * handful of writes. Any crash, hang, leak or sanitizer report is a bug;
 * errors are expected and ignored.
 *
 *	make fuzz FUZZ_SECONDS=60          (see tests/fuzz/module.mk)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_exercise(struct vsl_image *img, const uint8_t *data, size_t size, bool write)
{
	static uint8_t buf[1 << 16];
	struct vsl_check_report rep;
	uint64_t off = 0, n;
	int flags;

	for (int i = 0; i < 256 && off < img->size; i++) {
		if (vsl_image_block_status(img, off, img->size - off, &n, &flags) < 0)
			break;
		off += n;
	}
	for (off = 0; off < VSL_MIN(img->size, 4u << 20); off += sizeof(buf))
		if (vsl_image_read(img, off, buf, (size_t)VSL_MIN(sizeof(buf), img->size - off)) < 0)
			break;
	for (size_t i = 0; i + 8 <= VSL_MIN(size, 64) && img->size; i += 8) {
		uint64_t o;
		memcpy(&o, data + i, 8);
		o %= img->size;
		n = VSL_MIN(img->size - o, 70000);
		if (write) {
			memset(buf, (int)i, (size_t)VSL_MIN(n, sizeof(buf)));
			vsl_image_write(img, o, buf, (size_t)VSL_MIN(n, sizeof(buf)));
		} else {
			vsl_image_read(img, o, buf, (size_t)VSL_MIN(n, sizeof(buf)));
		}
	}
	if (write) {
		vsl_image_zero(img, 0, VSL_MIN(img->size, 200000));
		vsl_image_flush(img);
	}
	vsl_image_check(img, &rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_stream *s;
	struct vsl_image *img;

	if (!ctx)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		int flags = VSL_IMAGE_NO_BACKING | (pass ? VSL_IMAGE_RDWR : 0);
		s = vsl_stream_new_mem(ctx, data, size, pass ? VSL_STREAM_RDWR : 0);
		if (!s)
			break;
		if (vsl_image_open_stream(ctx, s, "qcow2", flags, &img) < 0) {
			vsl_stream_free(s);
			continue;
		}
		fuzz_exercise(img, data, size, pass == 1);
		vsl_image_close(img);
	}
	vsl_ctx_free(ctx);
	return 0;
}
