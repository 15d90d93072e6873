/*
 * Internal interface of builder/p2v_fixup.c beyond include/vessel/p2v.h:
 * what the fix-ups check in a guest's initramfs, exposed for the unit
 * tests (tests/unit/builder/test_p2v_fixup.c).
 *
 *	static const char *const need[] = { "virtio_pci", "virtio_blk", NULL };
 *	unsigned found;
 *	if (vsl_p2v_initrd_modules(ctx, "boot/initrd.img", need, &found) == 0 &&
 *	    found == 3) ...   // both present
 */
#ifndef VSL_BUILDER_P2V_FIXUP_H
#define VSL_BUILDER_P2V_FIXUP_H

#include "vessel/common.h"

/*
 * Which kernel modules of names[] (NULL-terminated, at most 32, names as
 * modprobe spells them: "virtio_blk") the Linux initramfs at path holds:
 * bit i of *found is set when a file NAME.ko (or .ko.xz/.ko.zst/.ko.gz)
 * is in it. An initramfs is one or more cpio archives back to back (the
 * early microcode archive uncompressed, then the main one compressed:
 * gzip, xz, zstd, lz4, bzip2...); each is read with libarchive until one
 * is compressed (nothing can follow that) or the file ends. Returns 0, or
 * VSL_EIO / VSL_ECORRUPT (not an initramfs, truncated) / VSL_ERANGE (file
 * above 1 GiB) with a message naming path.
 */
int vsl_p2v_initrd_modules(struct vsl_ctx *ctx, const char *path, const char *const *names,
			   unsigned *found);

#endif
