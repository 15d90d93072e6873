/*
 * libFuzzer harness for the OVA reader (formats/ova.c): the input is a tar
 * archive. It is put in a memfd (the reader maps a file), opened with
 * vsl_ova_open, every member is digested, the .ovf and .mf members are
 * parsed, and every other member is opened as a disk image through the
 * in-place member stream and read a little. Errors are expected; any
 * crash, hang, leak or sanitizer report is a bug.
 *
 *	make fuzz FUZZ_ONLY=ova FUZZ_SECONDS=60     (see tests/fuzz/module.mk)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/ova_priv.h"
#include "vessel/format.h"
#include "vessel/interchange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct ova_in *in = NULL;
	char path[64], hex[VSL_HASH_HEX_MAX];
	int fd;

	if (!ctx)
		return 0;
	fd = memfd_create("fuzz-ova", 0);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		vsl_ctx_free(ctx);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (vsl_ova_open(ctx, path, &in) == 0) {
		for (size_t i = 0; i < in->nmembers && i < 16; i++) {
			const struct ova_member *m = &in->members[i];
			size_t nl = strlen(m->name);
			struct vsl_stream *s;
			struct vsl_image *img;

			if (m->off + m->size > in->size)
				abort(); /* the reader promised the member lies in the file */
			vsl_ova_member_hash(in, m, VSL_HASH_SHA256, hex);
			if (nl > 4 && !strcmp(m->name + nl - 4, ".ovf")) {
				struct vsl_ix_vm vm;

				vsl_ovf_parse(ctx, (const char *)in->map + m->off, (size_t)m->size, m->name, &vm,
					      NULL);
				vsl_ix_vm_fini(&vm);
			} else if (nl > 3 && !strcmp(m->name + nl - 3, ".mf")) {
				struct vsl_ova_mf_entry *e = NULL;
				size_t n;

				if (vsl_ova_manifest_parse(ctx, (const char *)in->map + m->off, (size_t)m->size,
							   m->name, &e, &n) == 0)
					free(e);
			} else if (vsl_ova_member_stream(ctx, in, &m, 1, m->name, &s) == 0) {
				if (vsl_image_open_stream(ctx, s, NULL, VSL_IMAGE_RDONLY, &img) == 0) {
					uint8_t buf[4096];

					vsl_image_read(img, 0, buf, (size_t)VSL_MIN(img->size, sizeof(buf)));
					vsl_image_close(img);
				} else {
					vsl_stream_free(s);
				}
			}
		}
		vsl_ova_close(in);
	}
	close(fd);
	vsl_ctx_free(ctx);
	return 0;
}
