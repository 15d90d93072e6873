/*
 * Initramfs writer: an in-memory tree -> gzip-compressed newc cpio (or a
 * plain tar, which is how trees go into disks through guestfs_tar_in).
 *
 * Reproducible byte for byte: members in byte order of their paths, every
 * mtime the same (SOURCE_DATE_EPOCH or 0), owner from the tree (packages
 * give 0:0), inode numbers by position, device numbers 0, and the gzip
 * header without a timestamp or file name. libarchive does the cpio and the
 * gzip (ARCHIVE_FORMAT_CPIO_SVR4_NOCRC is newc, what the kernel unpacks).
 *
 *	vsl_tree_sort(&t);
 *	vsl_initramfs_write(ctx, &t, "boot/initrd", 0);
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/builder.h"

int vsl_initramfs_write(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path,
			int64_t mtime)
{
	return vsl_tree_write(ctx, t, path, VSL_ARCHIVE_CPIO_GZ, mtime);
}

int vsl_tree_write(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path,
		   enum vsl_tree_archive kind, int64_t mtime)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	int rc = 0;

	if (!a || !ae) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "initramfs");
		goto out;
	}
	vsl_tree_sort(t);
	if (kind == VSL_ARCHIVE_TAR) {
		if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
		    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
			rc = vsl_set_error(ctx, 0, VSL_EIO, "tar: %s", archive_error_string(a));
			goto out;
		}
	} else if (archive_write_set_format(a, ARCHIVE_FORMAT_CPIO_SVR4_NOCRC) != ARCHIVE_OK ||
	    archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    /* no mtime in the gzip header (reproducibility) */
	    archive_write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
	    archive_write_set_filter_option(a, "gzip", "compression-level", "9") != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
		rc = vsl_set_error(ctx, 0, VSL_EIO, "initramfs: %s", archive_error_string(a));
		goto out;
	}
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		rc = vsl_set_error(ctx, archive_errno(a) > 0 ? archive_errno(a) : 0, VSL_EIO,
				   "%s", path);
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct vsl_tree_entry *e = &t->v[i];

		archive_entry_clear(ae);
		archive_entry_set_pathname(ae, e->path);
		archive_entry_set_uid(ae, e->uid);
		archive_entry_set_gid(ae, e->gid);
		archive_entry_set_mtime(ae, (time_t)mtime, 0);
		archive_entry_set_ino64(ae, (la_int64_t)i + 1);
		archive_entry_set_dev(ae, 0);
		archive_entry_set_size(ae, 0);
		switch (e->type) {
		case VSL_TREE_DIR:
			archive_entry_set_filetype(ae, AE_IFDIR);
			archive_entry_set_nlink(ae, 2);
			break;
		case VSL_TREE_SYMLINK:
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, e->target);
			archive_entry_set_nlink(ae, 1);
			break;
		case VSL_TREE_CHR:
			archive_entry_set_filetype(ae, AE_IFCHR);
			archive_entry_set_rdevmajor(ae, e->rmajor);
			archive_entry_set_rdevminor(ae, e->rminor);
			archive_entry_set_nlink(ae, 1);
			break;
		default:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, (la_int64_t)e->size);
			archive_entry_set_nlink(ae, 1);
			break;
		}
		archive_entry_set_perm(ae, e->mode);
		if (archive_write_header(a, ae) < ARCHIVE_WARN) {
			rc = vsl_set_error(ctx, 0, VSL_EIO, "initramfs: /%s: %s", e->path,
					   archive_error_string(a));
			goto out_close;
		}
		if (e->type == VSL_TREE_FILE && e->size &&
		    archive_write_data(a, e->data, e->size) != (la_ssize_t)e->size) {
			rc = vsl_set_error(ctx, 0, VSL_EIO, "initramfs: /%s: %s", e->path,
					   archive_error_string(a));
			goto out_close;
		}
	}
out_close:
	if (archive_write_close(a) != ARCHIVE_OK && !rc)
		rc = vsl_set_error(ctx, 0, VSL_EIO, "initramfs %s: %s", path,
				   archive_error_string(a));
out:
	archive_entry_free(ae);
	archive_write_free(a);
	return rc;
}
