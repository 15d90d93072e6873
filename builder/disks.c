/*
 * Recipe disks through libguestfs: ONE appliance launch per build.
 *
 * Every disk is created (guestfs_disk_create) and added before the single
 * guestfs_launch; then, per disk in recipe order: partition table, mkfs
 * with a UUID derived from the recipe digest, mount at /, contents (each
 * source written as a tar with fixed times and owner 0:0 and unpacked with
 * guestfs_tar_in), the customization steps that target the disk (through
 * the struct vsl_fsops backend below), then every file's times set to
 * SOURCE_DATE_EPOCH, unmount. A launch costs 10-30 s under TCG, which is why
 * nothing here launches twice.
 *
 * Reproducibility: file contents, owners, modes and times, the filesystem
 * UUID, label, GPT GUIDs are fixed. ext4 still records the mkfs time, inode
 * change times and a random directory hash seed, which mke2fs offers no
 * option for through libguestfs; images are therefore NOT bit-identical
 * between builds (the files in them are). See docs/recipe.md.
 *
 * libguestfs prints its errors to stderr by default; the handler is removed
 * and guestfs_last_error() goes into the context instead.
 */
#include <errno.h>
#include <guestfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/builder.h"
#include "vessel/hash.h"

struct disk_fs {
	struct vsl_ctx *ctx;
	guestfs_h *g;
	const char *tmpdir;   /* for tar files */
	int64_t mtime;
	unsigned ntar;
};

static int gfs_err(struct disk_fs *f, const char *what, const char *path)
{
	const char *e = guestfs_last_error(f->g);
	int en = guestfs_last_errno(f->g);
	int code = en == ENOENT ? VSL_ENOENT : en == ENOSPC ? VSL_ERANGE : VSL_EIO;

	if (en == ENOSPC)
		return vsl_set_error(f->ctx, 0, code, "%s %s: the disk is full (contents larger "
				     "than the disk? make 'size' bigger)", what, path ? path : "");
	return vsl_set_error(f->ctx, 0, code, "%s%s%s: %s", what, path ? " " : "",
			     path ? path : "", e ? e : "libguestfs error");
}

/* ---- the guestfs backend of struct vsl_fsops ---- */

static int gfs_read(void *fs, const char *path, char **data, size_t *len)
{
	struct disk_fs *f = fs;
	size_t n = 0;
	char *d;

	if (guestfs_is_file(f->g, path) <= 0)
		return vsl_set_error(f->ctx, 0, VSL_ENOENT, "%s: no such file", path);
	d = guestfs_read_file(f->g, path, &n);
	if (!d)
		return gfs_err(f, "read", path);
	*data = realloc(d, n + 1);
	if (!*data) {
		free(d);
		return vsl_set_error(f->ctx, ENOMEM, VSL_ENOMEM, "%s", path);
	}
	(*data)[n] = '\0';
	*len = n;
	return 0;
}

static int gfs_parent(struct disk_fs *f, const char *path)
{
	char dir[4096];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (guestfs_mkdir_p(f->g, dir) < 0)
		return gfs_err(f, "mkdir", dir);
	return 0;
}

static int gfs_write(void *fs, const char *path, const void *data, size_t len, uint32_t mode)
{
	struct disk_fs *f = fs;
	int rc;

	if ((rc = gfs_parent(f, path)) < 0)
		return rc;
	if (guestfs_write(f->g, path, data, len) < 0)
		return gfs_err(f, "write", path);
	if (guestfs_chmod(f->g, (int)mode, path) < 0)
		return gfs_err(f, "chmod", path);
	return 0;
}

static int gfs_mkdir_p(void *fs, const char *path, uint32_t mode)
{
	struct disk_fs *f = fs;

	if (guestfs_is_dir(f->g, path) > 0)
		return 0;
	if (guestfs_mkdir_p(f->g, path) < 0)
		return gfs_err(f, "mkdir", path);
	if (guestfs_chmod(f->g, (int)mode, path) < 0)
		return gfs_err(f, "chmod", path);
	return 0;
}

static int gfs_chmod(void *fs, const char *path, uint32_t mode)
{
	struct disk_fs *f = fs;

	return guestfs_chmod(f->g, (int)mode, path) < 0 ? gfs_err(f, "chmod", path) : 0;
}

static int gfs_chown(void *fs, const char *path, long uid, long gid)
{
	struct disk_fs *f = fs;

	return guestfs_lchown(f->g, (int)uid, (int)gid, path) < 0 ? gfs_err(f, "chown", path) : 0;
}

static int gfs_symlink(void *fs, const char *target, const char *path)
{
	struct disk_fs *f = fs;
	int rc;

	if ((rc = gfs_parent(f, path)) < 0)
		return rc;
	return guestfs_ln_sf(f->g, target, path) < 0 ? gfs_err(f, "symlink", path) : 0;
}

static int gfs_remove(void *fs, const char *path)
{
	struct disk_fs *f = fs;

	if (guestfs_exists(f->g, path) <= 0)
		return vsl_set_error(f->ctx, 0, VSL_ENOENT, "%s: no such file or directory", path);
	return guestfs_rm_rf(f->g, path) < 0 ? gfs_err(f, "delete", path) : 0;
}

static int gfs_copy_in(void *fs, struct vsl_tree *src, const char *to)
{
	struct disk_fs *f = fs;
	char *tar = vsl_strdup_printf("%s/.contents-%u.tar", f->tmpdir, f->ntar++);
	int rc;

	if (!tar)
		return vsl_set_error(f->ctx, ENOMEM, VSL_ENOMEM, "copy-in");
	rc = vsl_tree_write(f->ctx, src, tar, VSL_ARCHIVE_TAR, f->mtime);
	if (rc == 0 && guestfs_mkdir_p(f->g, to) < 0)
		rc = gfs_err(f, "mkdir", to);
	if (rc == 0 && guestfs_tar_in(f->g, tar, to) < 0)
		rc = gfs_err(f, "copy into", to);
	unlink(tar);
	free(tar);
	return rc;
}

static int gfs_run(void *fs, const char *cmd)
{
	struct disk_fs *f = fs;
	char *out;

	if (guestfs_is_file(f->g, "/bin/sh") <= 0)
		return vsl_set_error(f->ctx, 0, VSL_ENOTSUP, "the disk has no /bin/sh to run "
				     "commands with (run needs an operating system on the disk)");
	out = guestfs_sh(f->g, cmd);
	if (!out)
		return gfs_err(f, "run", NULL);
	vsl_debug(f->ctx, "run output: %s", out);
	free(out);
	return 0;
}

static const struct vsl_fsops disk_fsops = {
	.read = gfs_read, .write = gfs_write, .mkdir_p = gfs_mkdir_p, .chmod = gfs_chmod,
	.chown = gfs_chown, .symlink = gfs_symlink, .remove = gfs_remove,
	.copy_in = gfs_copy_in, .run = gfs_run,
};

/* ---- disks ---- */

/* A UUID derived from the recipe digest and a purpose ("fs:data"). */
static void disk_uuid(const struct vsl_recipe *r, const char *what, const char *name, char out[37])
{
	char buf[512], hex[VSL_HASH_HEX_MAX];

	snprintf(buf, sizeof(buf), "%s %s %s", r->digest, what, name);
	vsl_sha256_hex(buf, strlen(buf), hex);
	/* version 4 / variant 1 bits, so tools take it for a random UUID */
	hex[12] = '4';
	hex[16] = "89ab"[hex[16] % 4];
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* Bytes a disk's contents and copy-in steps need (file data only). */
static uint64_t disk_need(const struct vsl_recipe *r, size_t di, struct vsl_tree *const *src)
{
	const struct vsl_recipe_disk *d = &r->disks[di];
	uint64_t need = 0;

	for (size_t j = 0; j < d->ncontents; j++)
		if (src[d->contents[j].source_index])
			need += src[d->contents[j].source_index]->bytes;
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].disk_index == (int)di && r->steps[i].kind == VSL_STEP_COPY_IN &&
		    src[r->steps[i].source_index])
			need += src[r->steps[i].source_index]->bytes;
	return need;
}

static int disk_where(struct vsl_ctx *ctx, const struct vsl_recipe *r, struct vsl_recipe_loc loc)
{
	char w[512];

	vsl_error_prefix(ctx, "%s", vsl_recipe_where(r, loc, w, sizeof(w)));
	return vsl_ctx_code(ctx);
}

/* Set every file's times to mtime (files that steps created got "now"). */
static int disk_fix_times(struct disk_fs *f)
{
	char **files = guestfs_find(f->g, "/");
	int rc = 0;

	if (!files)
		return gfs_err(f, "find", "/");
	for (size_t i = 0; files[i]; i++) {
		char *p = vsl_strdup_printf("/%s", files[i]);
		if (!p) {
			rc = vsl_set_error(f->ctx, ENOMEM, VSL_ENOMEM, "disks");
		} else if (strcmp(files[i], "lost+found") && strncmp(files[i], "lost+found/", 11) &&
			   guestfs_is_symlink(f->g, p) == 0 &&
			   guestfs_utimens(f->g, p, f->mtime, 0, f->mtime, 0) < 0) {
			rc = gfs_err(f, "set times of", p);
		}
		free(p);
		if (rc < 0)
			break;
	}
	for (size_t i = 0; files[i]; i++)
		free(files[i]);
	free(files);
	if (rc == 0 && guestfs_utimens(f->g, "/", f->mtime, 0, f->mtime, 0) < 0)
		rc = gfs_err(f, "set times of", "/");
	return rc;
}

static int disk_fill(struct disk_fs *f, const struct vsl_recipe *r, size_t di,
		     const char *dev, struct vsl_tree *const *src)
{
	const struct vsl_recipe_disk *d = &r->disks[di];
	struct vsl_ctx *ctx = f->ctx;
	char part[64], uuid[37];
	const char *fst = vsl_recipe_fs_name(d->fs);
	int rc = 0;

	if (d->ptable != VSL_PTABLE_NONE) {
		if (guestfs_part_disk(f->g, dev, d->ptable == VSL_PTABLE_GPT ? "gpt" : "msdos") < 0)
			return gfs_err(f, "partition", dev);
		if (d->ptable == VSL_PTABLE_GPT) {
			char g1[37], g2[37];
			disk_uuid(r, "gpt-disk", d->name, g1);
			disk_uuid(r, "gpt-part", d->name, g2);
			if (guestfs_part_set_disk_guid(f->g, dev, g1) < 0 ||
			    guestfs_part_set_gpt_guid(f->g, dev, 1, g2) < 0)
				return gfs_err(f, "set GUIDs on", dev);
		}
		snprintf(part, sizeof(part), "%s1", dev);
	} else {
		snprintf(part, sizeof(part), "%s", dev);
	}
	disk_uuid(r, "fs", d->name, uuid);
	if (d->fs == VSL_FS_EXT4) {
		struct guestfs_mke2fs_argv a = { .bitmask = GUESTFS_MKE2FS_FSTYPE_BITMASK |
							    GUESTFS_MKE2FS_UUID_BITMASK,
						 .fstype = "ext4", .uuid = uuid };
		if (d->label) {
			a.bitmask |= GUESTFS_MKE2FS_LABEL_BITMASK;
			a.label = d->label;
		}
		if (guestfs_mke2fs_argv(f->g, part, &a) < 0)
			return gfs_err(f, "mkfs.ext4 on", part);
	} else {
		struct guestfs_mkfs_opts_argv a = { 0 };
		if (d->label) {
			a.bitmask |= GUESTFS_MKFS_OPTS_LABEL_BITMASK;
			a.label = d->label;
		}
		if (guestfs_mkfs_opts_argv(f->g, fst, part, &a) < 0)
			return gfs_err(f, "mkfs", part);
		/* xfs takes a UUID afterwards; vfat has a 32-bit serial libguestfs may not set */
		if (d->fs == VSL_FS_XFS && guestfs_set_uuid(f->g, part, uuid) < 0)
			return gfs_err(f, "set UUID of", part);
	}
	if (guestfs_mount(f->g, part, "/") < 0)
		return gfs_err(f, "mount", part);
	for (size_t j = 0; j < d->ncontents && rc == 0; j++) {
		const struct vsl_recipe_content *c = &d->contents[j];
		vsl_info(ctx, "  disk %s: contents %s -> %s", d->name, c->source, c->to);
		if (!src[c->source_index]) {
			rc = vsl_set_error(ctx, 0, VSL_EINVAL, "source '%s' is not available",
					   c->source);
		} else {
			rc = gfs_copy_in(f, src[c->source_index], c->to);
		}
		if (rc < 0) {
			vsl_error_prefix(ctx, "disk '%s': contents '%s'", d->name, c->source);
			disk_where(ctx, r, c->loc);
		}
	}
	for (size_t i = 0; i < r->nsteps && rc == 0; i++) {
		const struct vsl_recipe_step *st = &r->steps[i];
		bool hide = st->sensitive || st->kind == VSL_STEP_ROOT_PASSWORD;

		if (st->disk_index != (int)di)
			continue;
		vsl_info(ctx, "  step %zu: %s%s%s (%s)", i + 1, vsl_recipe_step_name(st->kind),
			 hide ? "" : " ", hide ? "" : st->arg, d->name);
		rc = vsl_step_apply(ctx, &disk_fsops, f, r, st,
				    st->kind == VSL_STEP_COPY_IN ? src[st->source_index] : NULL);
	}
	if (rc == 0)
		rc = disk_fix_times(f);
	if (guestfs_umount_all(f->g) < 0 && rc == 0)
		rc = gfs_err(f, "unmount", part);
	return rc;
}

int vsl_disks_build(struct vsl_ctx *ctx, const struct vsl_recipe *r, const char *dir,
		    struct vsl_tree *const *src_trees, int64_t mtime,
		    const struct vsl_progress *progress)
{
	struct disk_fs f = { .ctx = ctx, .tmpdir = dir, .mtime = mtime };
	char **devs = NULL;
	int rc = 0;

	/* contents that cannot fit are an error before the 10-30 s launch */
	for (size_t i = 0; i < r->ndisks; i++) {
		uint64_t need = disk_need(r, i, src_trees);
		if (need > r->disks[i].size) {
			char a[32], b[32];
			vsl_set_error(ctx, 0, VSL_ERANGE, "disk '%s': its contents need %s but the "
				      "disk is %s; make 'size' bigger", r->disks[i].name,
				      vsl_format_size(need, a, sizeof(a)),
				      vsl_format_size(r->disks[i].size, b, sizeof(b)));
			return disk_where(ctx, r, r->disks[i].loc);
		}
	}
	f.g = guestfs_create_flags(GUESTFS_CREATE_NO_CLOSE_ON_EXIT);
	if (!f.g)
		return vsl_set_error(ctx, errno, VSL_ENOTSUP, "libguestfs: cannot create a handle");
	guestfs_set_error_handler(f.g, NULL, NULL);
	/* TCG unless told otherwise: QEMU's KVM acceleration is not usable everywhere */
	if (!getenv("LIBGUESTFS_BACKEND"))
		guestfs_set_backend(f.g, "direct");
	if (!getenv("LIBGUESTFS_BACKEND_SETTINGS")) {
		char *settings[] = { (char *)"force_tcg", NULL };
		guestfs_set_backend_settings(f.g, settings);
	}
	for (size_t i = 0; i < r->ndisks; i++) {
		const struct vsl_recipe_disk *d = &r->disks[i];
		char *path = vsl_strdup_printf("%s/disks/%s.%s", dir, d->name, d->format);
		struct guestfs_disk_create_argv ca = { 0 };

		if (!path) {
			rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "disks");
			goto out;
		}
		if (!strcmp(d->format, "qcow2")) {
			ca.bitmask = GUESTFS_DISK_CREATE_COMPAT_BITMASK;
			ca.compat = "1.1";
		}
		if (guestfs_disk_create_argv(f.g, path, d->format, (int64_t)d->size, &ca) < 0 ||
		    guestfs_add_drive_opts(f.g, path, GUESTFS_ADD_DRIVE_OPTS_FORMAT, d->format,
					   -1) < 0) {
			rc = gfs_err(&f, "create disk", path);
			free(path);
			disk_where(ctx, r, d->loc);
			goto out;
		}
		free(path);
	}
	vsl_info(ctx, "  starting the libguestfs appliance (one launch for %zu disk%s)",
		 r->ndisks, r->ndisks == 1 ? "" : "s");
	vsl_progress_report(progress, "disks", 0, r->ndisks + 1);
	if (guestfs_launch(f.g) < 0) {
		const char *e = guestfs_last_error(f.g);
		rc = vsl_set_error(ctx, 0, VSL_ENOTSUP, "libguestfs could not start its appliance: "
				   "%s (needs a kernel in /boot: apt-get install linux-image-amd64)",
				   e ? e : "unknown error");
		goto out;
	}
	devs = guestfs_list_devices(f.g);
	if (!devs) {
		rc = gfs_err(&f, "list devices", NULL);
		goto out;
	}
	for (size_t i = 0; i < r->ndisks && rc == 0; i++) {
		if (!devs[i]) {
			rc = vsl_set_error(ctx, 0, VSL_EIO, "libguestfs shows fewer disks than added");
			break;
		}
		vsl_progress_report(progress, "disks", i + 1, r->ndisks + 1);
		rc = disk_fill(&f, r, i, devs[i], src_trees);
		if (rc < 0)
			vsl_error_prefix(ctx, "disk '%s'", r->disks[i].name);
	}
	if (rc == 0 && guestfs_shutdown(f.g) < 0)
		rc = gfs_err(&f, "shut down libguestfs", NULL);
	vsl_progress_report(progress, "disks", r->ndisks + 1, r->ndisks + 1);
out:
	if (devs) {
		for (size_t i = 0; devs[i]; i++)
			free(devs[i]);
		free(devs);
	}
	guestfs_close(f.g);
	return rc;
}
