/*
 * Debian packages: unpack a .deb's data.tar.* into an in-memory tree.
 *
 * A .deb is an ar archive: "debian-binary", "control.tar.*", "data.tar.*".
 * libarchive reads the ar; its data.tar member is fed straight into a second
 * libarchive reader through a read callback, so nothing is written to disk
 * and nothing is buffered whole. Every tar member is checked before it goes
 * into the tree (vsl_tree_* refuse the rest):
 *   - names with ".." components or absolute names: refused;
 *   - relative symlinks climbing above the root, paths through symlinks: refused;
 *   - hard links: the earlier member's contents are copied;
 *   - devices, fifos, sockets: skipped (an initramfs gets /dev from devtmpfs).
 *
 *	vsl_deb_unpack(ctx, "busybox-static_1.35.deb", &tree, NULL, NULL);
 *
 * Tarball sources of recipes (vsl_tar_unpack) go through the same member
 * checks: a tar in any compression libarchive reads.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vessel/builder.h"

#define DEB_MEMBER_MAX (1ull << 30) /* one file in a package: at most 1 GiB */

struct deb_inner {
	struct archive *outer;
	char buf[64 * 1024];
};

static la_ssize_t deb_inner_read(struct archive *a, void *opaque, const void **buf)
{
	struct deb_inner *in = opaque;
	la_ssize_t n = archive_read_data(in->outer, in->buf, sizeof(in->buf));

	if (n < 0)
		archive_set_error(a, EIO, "%s", archive_error_string(in->outer));
	*buf = in->buf;
	return n;
}

static int deb_add_member(struct vsl_ctx *ctx, struct archive *tar, struct archive_entry *ae,
			  const char *name, struct vsl_tree *t, vsl_deb_filter_fn *filter,
			  void *opaque)
{
	const char *raw = archive_entry_pathname(ae);
	char norm[4096];
	mode_t ft = archive_entry_filetype(ae);
	const char *hl = archive_entry_hardlink(ae);
	enum vsl_tree_type type;
	int rc;

	if (!raw)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: a member has no name", name);
	if (raw[0] == '/')
		return vsl_set_error(ctx, 0, VSL_EPERM, "%s: member '%s' has an absolute path",
				     name, raw);
	rc = vsl_tree_normpath(ctx, raw, false, norm, sizeof(norm));
	if (rc == VSL_EINVAL)
		return 0; /* "./": the root itself */
	if (rc < 0) {
		vsl_error_prefix(ctx, "%s: member", name);
		return rc;
	}
	if (hl) {
		char hnorm[4096];
		struct vsl_tree_entry *src;

		if (vsl_tree_normpath(ctx, hl, false, hnorm, sizeof(hnorm)) < 0) {
			vsl_error_prefix(ctx, "%s: hard link '%s'", name, norm);
			return vsl_ctx_code(ctx);
		}
		if (filter && !filter(opaque, norm, VSL_TREE_FILE))
			return 0;
		src = vsl_tree_find(t, hnorm);
		if (!src || src->type != VSL_TREE_FILE)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: hard link '%s' to '%s', "
						"which is not an earlier file", name, norm, hnorm);
		{
			/* copy first: adding may move the array src points into */
			uint8_t *copy = src->size ? malloc(src->size) : NULL;
			size_t size = src->size;
			uint32_t mode = src->mode;

			if (size && !copy)
				return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", name);
			if (size)
				memcpy(copy, src->data, size);
			rc = vsl_tree_add_file(ctx, t, norm, copy, size, mode);
			free(copy);
		}
		goto out;
	}
	switch (ft) {
	case AE_IFREG: type = VSL_TREE_FILE; break;
	case AE_IFDIR: type = VSL_TREE_DIR; break;
	case AE_IFLNK: type = VSL_TREE_SYMLINK; break;
	default:
		return 0; /* device nodes and the like: not wanted in a package tree */
	}
	if (filter && !filter(opaque, norm, type))
		return 0;
	if (type == VSL_TREE_DIR) {
		rc = vsl_tree_add_dir(ctx, t, norm, (uint32_t)archive_entry_perm(ae));
	} else if (type == VSL_TREE_SYMLINK) {
		const char *target = archive_entry_symlink(ae);
		rc = vsl_tree_add_symlink(ctx, t, norm, target ? target : "");
	} else {
		la_int64_t size = archive_entry_size(ae);
		uint64_t limit = t->max_bytes ? t->max_bytes : (4ull << 30);
		uint8_t *data;
		size_t got = 0, cap;

		if (size < 0 || (uint64_t)size > DEB_MEMBER_MAX ||
		    t->bytes + (uint64_t)size > limit)
			return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: member '%s' is too large",
					     name, norm);
		/*
		 * The header's size is a claim: memory grows with the data that
		 * really arrives, so a tiny archive claiming 1 GiB costs nothing.
		 */
		cap = (size_t)size < (1u << 20) ? (size_t)size + 1 : (1u << 20);
		data = malloc(cap);
		if (!data)
			return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s: '%s'", name, norm);
		while (got < (size_t)size) {
			la_ssize_t n;

			if (got == cap) {
				size_t nc = cap * 2 < (size_t)size ? cap * 2 : (size_t)size;
				uint8_t *nd = realloc(data, nc);
				if (!nd) {
					free(data);
					return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s: '%s'", name,
							     norm);
				}
				data = nd;
				cap = nc;
			}
			n = archive_read_data(tar, data + got, cap - got);
			if (n <= 0) {
				vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: member '%s': %s", name,
					      norm, n < 0 ? archive_error_string(tar) : "truncated");
				free(data);
				return vsl_ctx_code(ctx);
			}
			got += (size_t)n;
		}
		rc = vsl_tree_add_file(ctx, t, norm, data, got, (uint32_t)archive_entry_perm(ae));
		free(data);
	}
out:
	if (rc < 0)
		vsl_error_prefix(ctx, "%s", name);
	return rc;
}

/* Every member of an open tar reader into t. */
static int deb_tar_members(struct vsl_ctx *ctx, struct archive *tar, const char *name,
			   const char *what, struct vsl_tree *t, vsl_deb_filter_fn *filter,
			   void *opaque)
{
	struct archive_entry *ae;
	int rc, r;

	while ((r = archive_read_next_header(tar, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		rc = deb_add_member(ctx, tar, ae, name, t, filter, opaque);
		if (rc < 0)
			return rc;
	}
	if (r != ARCHIVE_EOF)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s%s%s: %s", name, what[0] ? ": " : "",
				     what, archive_error_string(tar));
	return 0;
}

static int deb_data_tar(struct vsl_ctx *ctx, struct archive *outer, const char *name,
			struct vsl_tree *t, vsl_deb_filter_fn *filter, void *opaque)
{
	struct deb_inner *in = malloc(sizeof(*in));
	struct archive *tar = archive_read_new();
	int rc = 0;

	if (!in || !tar) {
		free(in);
		archive_read_free(tar);
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", name);
	}
	in->outer = outer;
	archive_read_support_filter_all(tar);
	archive_read_support_format_tar(tar);
	if (archive_read_open(tar, in, NULL, deb_inner_read, NULL) != ARCHIVE_OK) {
		rc = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: data.tar: %s", name,
				   archive_error_string(tar));
		goto out;
	}
	rc = deb_tar_members(ctx, tar, name, "data.tar", t, filter, opaque);
out:
	archive_read_free(tar);
	free(in);
	return rc;
}

static int deb_walk(struct vsl_ctx *ctx, struct archive *ar, const char *name,
		    struct vsl_tree *t, vsl_deb_filter_fn *filter, void *opaque)
{
	struct archive_entry *ae;
	bool seen_binary = false, seen_data = false;
	int r, rc = 0;

	while ((r = archive_read_next_header(ar, &ae)) == ARCHIVE_OK) {
		const char *m = archive_entry_pathname(ae);

		if (!m)
			continue;
		if (!strcmp(m, "debian-binary")) {
			char v[16] = "";
			la_ssize_t n = archive_read_data(ar, v, sizeof(v) - 1);
			if (n < 3 || strncmp(v, "2.", 2))
				return vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s: not a Debian 2.x "
							"binary package", name);
			seen_binary = true;
		} else if (!strncmp(m, "data.tar", 8)) {
			if (!seen_binary)
				break;
			rc = deb_data_tar(ctx, ar, name, t, filter, opaque);
			if (rc < 0)
				return rc;
			seen_data = true;
		}
	}
	if (r != ARCHIVE_EOF && r != ARCHIVE_OK)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: %s", name, archive_error_string(ar));
	if (!seen_binary || !seen_data)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: not a Debian package (%s missing)",
				     name, seen_binary ? "data.tar" : "debian-binary");
	return 0;
}

static struct archive *deb_reader(void)
{
	struct archive *ar = archive_read_new();

	if (ar)
		archive_read_support_format_ar(ar);
	return ar;
}

int vsl_deb_unpack(struct vsl_ctx *ctx, const char *deb, struct vsl_tree *t,
		   vsl_deb_filter_fn *filter, void *opaque)
{
	struct archive *ar = deb_reader();
	const char *base = strrchr(deb, '/') ? strrchr(deb, '/') + 1 : deb;
	int rc;

	if (!ar)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", deb);
	if (archive_read_open_filename(ar, deb, 1 << 16) != ARCHIVE_OK) {
		rc = vsl_set_error(ctx, archive_errno(ar) > 0 ? archive_errno(ar) : 0, VSL_EIO,
				   "%s", deb);
		archive_read_free(ar);
		return rc;
	}
	rc = deb_walk(ctx, ar, base, t, filter, opaque);
	archive_read_free(ar);
	return rc;
}

int vsl_deb_unpack_mem(struct vsl_ctx *ctx, const void *deb, size_t len, const char *name,
		       struct vsl_tree *t, vsl_deb_filter_fn *filter, void *opaque)
{
	struct archive *ar = deb_reader();
	int rc;

	if (!ar)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", name);
	if (archive_read_open_memory(ar, deb, len) != ARCHIVE_OK) {
		rc = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: %s", name, archive_error_string(ar));
		archive_read_free(ar);
		return rc;
	}
	rc = deb_walk(ctx, ar, name, t, filter, opaque);
	archive_read_free(ar);
	return rc;
}

int vsl_tar_unpack(struct vsl_ctx *ctx, const char *path, struct vsl_tree *t,
		   vsl_deb_filter_fn *filter, void *opaque)
{
	struct archive *tar = archive_read_new();
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	int rc;

	if (!tar)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", path);
	archive_read_support_filter_all(tar);
	archive_read_support_format_tar(tar);
	if (archive_read_open_filename(tar, path, 1 << 16) != ARCHIVE_OK) {
		rc = vsl_set_error(ctx, archive_errno(tar) > 0 ? archive_errno(tar) : 0,
				   VSL_ECORRUPT, "%s: not a tar archive: %s", base,
				   archive_error_string(tar));
		archive_read_free(tar);
		return rc;
	}
	rc = deb_tar_members(ctx, tar, base, "", t, filter, opaque);
	archive_read_free(tar);
	return rc;
}
