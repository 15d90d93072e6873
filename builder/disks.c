/*
 * Recipe disks. Two builders share the contents and step code:
 *
 *   e2fsprogs (ext4 disks without `run` steps; see disk_host_build below):
 *     tree -> private directory -> sfdisk + mke2fs -d + debugfs -> qemu-img.
 *     Reproducible byte for byte, and no appliance to start.
 *
 *   libguestfs (xfs, vfat, `run` steps, or VESSEL_DISKS=guestfs): every such
 *     disk is created (guestfs_disk_create) and added before ONE
 *     guestfs_launch; then, per disk in recipe order: partition table, mkfs
 *     with a UUID derived from the recipe digest, mount at /, contents (each
 *     source as a tar with fixed times and owner 0:0, unpacked with
 *     guestfs_tar_in), the steps that target the disk (the struct vsl_fsops
 *     backend below), every file's times set to SOURCE_DATE_EPOCH, unmount.
 *     A launch costs 10-30 s under TCG, which is why nothing launches twice.
 *     Inside the appliance ext4 still records the mkfs time, inode change
 *     times and a random hash seed (mke2fs has no option for them through
 *     libguestfs), so these images are not bit-identical between builds;
 *     the files in them are.
 *
 *   an existing image (`image:`): converted into the bundle's disk with the
 *     conversion engine (any format formats/ reads); when contents or steps
 *     target it, it joins the same one libguestfs launch, where its
 *     filesystems are found by inspection (the OS's mountpoints) or, with no
 *     OS, its one filesystem; times are left as the image has them.
 *
 * libguestfs prints its errors to stderr by default; the handler is removed
 * and guestfs_last_error() goes into the context instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <guestfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/builder.h"
#include "vessel/convert.h"
#include "vessel/hash.h"

#include "builder/builder_int.h"

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
	/* tools in the appliance append their usage text: the first line says it */
	return vsl_set_error(f->ctx, 0, code, "%s%s%s: %.*s", what, path ? " " : "",
			     path ? path : "", e ? (int)strcspn(e, "\n") : 16,
			     e ? e : "libguestfs error");
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

static void disk_free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Does a device or partition name belong to the disk dev ("/dev/sdb1" to "/dev/sdb")? */
static bool disk_owns(const char *dev, const char *part)
{
	size_t l = strlen(dev);

	return !strncmp(part, dev, l) && (!part[l] || (part[l] >= '0' && part[l] <= '9'));
}

static int disk_mp_cmp(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;
	size_t lx = strlen(x[0]), ly = strlen(y[0]);

	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x[0], y[0]);
}

/*
 * Mount an existing image's filesystems at / as its OS would (inspection),
 * or its only filesystem when libguestfs finds no OS on it.
 */
static int disk_mount_image(struct disk_fs *f, const struct vsl_recipe_disk *d, const char *dev)
{
	char **roots = guestfs_inspect_os(f->g), **mps = NULL, **fss = NULL;
	const char *root = NULL, *only = NULL;
	size_t nfs = 0;
	int rc = 0;

	for (size_t i = 0; roots && roots[i]; i++)
		if (!root && disk_owns(dev, roots[i]))
			root = roots[i];
	if (root && (mps = guestfs_inspect_get_mountpoints(f->g, root))) {
		size_t n = 0;
		while (mps[n])
			n++;
		/* pairs: mountpoint, device; shortest mountpoint first ("/" before "/boot") */
		qsort(mps, n / 2, 2 * sizeof(*mps), disk_mp_cmp);
		for (size_t i = 0; i + 1 < n && rc == 0; i += 2)
			if (guestfs_mount(f->g, mps[i + 1], mps[i]) < 0)
				rc = gfs_err(f, "mount", mps[i + 1]);
		vsl_info(f->ctx, "  disk %s: image holds an OS (%s); mounted its filesystems",
			 d->name, root);
		goto out;
	}
	fss = guestfs_list_filesystems(f->g);
	for (size_t i = 0; fss && fss[i] && fss[i + 1]; i += 2) {
		if (!disk_owns(dev, fss[i]) || !strcmp(fss[i + 1], "swap") ||
		    !strcmp(fss[i + 1], "unknown"))
			continue;
		nfs++;
		only = fss[i];
	}
	if (nfs != 1) {
		rc = vsl_set_error(f->ctx, 0, VSL_ENOTSUP, "image %s: %s (no operating system "
				   "found on it); cannot tell where to put contents and steps",
				   d->image, nfs ? "more than one filesystem" : "no filesystem");
		goto out;
	}
	if (guestfs_mount(f->g, only, "/") < 0)
		rc = gfs_err(f, "mount", only);
out:
	disk_free_strv(roots);
	disk_free_strv(mps);
	disk_free_strv(fss);
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

	if (d->image) {
		snprintf(part, sizeof(part), "%s", dev);
		if ((rc = disk_mount_image(f, d, dev)) < 0)
			return rc;
		goto fill;
	}
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
fill:
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
	if (rc == 0 && !d->image)
		rc = disk_fix_times(f);
	if (guestfs_umount_all(f->g) < 0 && rc == 0)
		rc = gfs_err(f, "unmount", part);
	return rc;
}

/* ---- ext4 disks made on the host, reproducibly ---- */

/*
 * An ext4 disk without `run` steps is made without the appliance: its
 * contents and steps are applied to an in-memory tree (the same step code),
 * the tree is written to a private directory, and e2fsprogs builds the
 * filesystem from it inside the raw disk (mke2fs -d, at the partition's
 * offset, after sfdisk wrote the partition table), with the UUID and the
 * directory hash seed derived from the recipe and E2FSPROGS_FAKE_TIME =
 * SOURCE_DATE_EPOCH. mke2fs copies inode change times from the host files,
 * which cannot be set, so debugfs then sets every inode's times and owner.
 * qemu-img converts the raw disk to qcow2. The result is identical byte for
 * byte between builds, and needs no 10-30 s appliance launch.
 * VESSEL_DISKS=guestfs forces the libguestfs path for every disk.
 */
static bool disk_on_host(const struct vsl_recipe *r, size_t di)
{
	const char *e = getenv("VESSEL_DISKS");

	if (r->disks[di].image || r->disks[di].fs != VSL_FS_EXT4 ||
	    (e && !strcmp(e, "guestfs")))
		return false;
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].disk_index == (int)di && r->steps[i].kind == VSL_STEP_RUN)
			return false;
	return true;
}

/* Write the tree under root (a fresh private directory). */
static int disk_extract(struct vsl_ctx *ctx, struct vsl_tree *t, const char *root, int64_t mtime)
{
	struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
	int rc = 0;

	vsl_tree_sort(t);
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		const struct vsl_tree_entry *e = &t->v[i];
		char *p = vsl_strdup_printf("%s/%s", root, e->path);
		int fd;

		if (!p)
			return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "disk");
		switch (e->type) {
		case VSL_TREE_DIR:
			if (mkdir(p, 0700) < 0 && errno != EEXIST)
				rc = vsl_set_error(ctx, errno, VSL_EIO, "mkdir %s", p);
			break;
		case VSL_TREE_SYMLINK:
			if (symlink(e->target, p) < 0)
				rc = vsl_set_error(ctx, errno, VSL_EIO, "symlink %s", p);
			break;
		case VSL_TREE_FILE:
			fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd < 0 || (e->size && write(fd, e->data, e->size) != (ssize_t)e->size))
				rc = vsl_set_error(ctx, errno, VSL_EIO, "write %s", p);
			if (fd >= 0 && close(fd) < 0 && rc == 0)
				rc = vsl_set_error(ctx, errno, VSL_EIO, "write %s", p);
			break;
		default:
			break; /* device nodes: not on data disks */
		}
		free(p);
	}
	/* modes and times last, children before parents (a 0500 directory is filled first) */
	for (size_t i = t->n; i-- > 0 && rc == 0;) {
		const struct vsl_tree_entry *e = &t->v[i];
		char *p = vsl_strdup_printf("%s/%s", root, e->path);

		if (!p)
			return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "disk");
		if (e->type != VSL_TREE_SYMLINK && e->type != VSL_TREE_CHR && chmod(p, e->mode) < 0)
			rc = vsl_set_error(ctx, errno, VSL_EIO, "chmod %s", p);
		if (rc == 0 && e->type != VSL_TREE_CHR &&
		    utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) < 0)
			rc = vsl_set_error(ctx, errno, VSL_EIO, "set times of %s", p);
		free(p);
	}
	if (rc == 0 && (chmod(root, 0755) < 0 || utimensat(AT_FDCWD, root, ts, 0) < 0))
		rc = vsl_set_error(ctx, errno, VSL_EIO, "%s", root);
	return rc;
}

/* debugfs commands that give every inode the build's times and the tree's owner. */
static int disk_fixups(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path, int64_t mtime)
{
	static const char *const fields[] = { "ctime", "atime", "mtime", "crtime" };
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (!f)
		return vsl_set_error(ctx, errno, VSL_EIO, "%s", path);
	for (size_t i = 0; i <= t->n; i++) {
		const struct vsl_tree_entry *e = i < t->n ? &t->v[i] : NULL;
		const char *p = e ? e->path : "";

		if (e && e->type == VSL_TREE_CHR)
			continue;
		if (strpbrk(p, "\"\n\\")) {
			rc = vsl_set_error(ctx, 0, VSL_ENOTSUP, "'/%s': file names with quotes, "
					   "backslashes or newlines are not supported on disks", p);
			break;
		}
		for (size_t k = 0; k < VSL_ARRAY_SIZE(fields); k++)
			fprintf(f, "sif \"/%s\" %s @%lld\n", p, fields[k], (long long)mtime);
		fprintf(f, "sif \"/%s\" uid %u\nsif \"/%s\" gid %u\n", p, e ? e->uid : 0, p,
			e ? e->gid : 0);
	}
	if (fclose(f) < 0 && rc == 0)
		rc = vsl_set_error(ctx, errno, VSL_EIO, "%s", path);
	return rc;
}

static int disk_host_build(struct vsl_ctx *ctx, const struct vsl_recipe *r, size_t di,
			   const char *dir, struct vsl_tree *const *src, int64_t mtime)
{
	const struct vsl_recipe_disk *d = &r->disks[di];
	struct vsl_tree t;
	struct vsl_fstree fs = { ctx, &t };
	char *work = vsl_strdup_printf("%s/.disk-%s-XXXXXX", dir, d->name);
	char *root = NULL, *raw = NULL, *script = NULL, *fix = NULL, *target = NULL;
	char *spec = NULL, uuid[37], env_time[64], ext[160], blocks[32], offs[32];
	uint64_t off = 0, fssize = d->size;
	bool made = false;
	int rc = 0, fd;

	vsl_tree_init(&t);
	if (work && mkdtemp(work))
		made = true;
	if (!made) {
		rc = vsl_set_error(ctx, errno, VSL_EIO, "disk '%s': temporary directory", d->name);
		goto out;
	}
	root = vsl_strdup_printf("%s/root", work);
	raw = vsl_strdup_printf("%s/disk.raw", work);
	script = vsl_strdup_printf("%s/sfdisk", work);
	fix = vsl_strdup_printf("%s/debugfs", work);
	target = vsl_strdup_printf("%s/disks/%s.%s", dir, d->name, d->format);
	if (!root || !raw || !script || !fix || !target) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "disk");
		goto out;
	}
	for (size_t j = 0; j < d->ncontents && rc == 0; j++) {
		const struct vsl_recipe_content *c = &d->contents[j];
		vsl_info(ctx, "  disk %s: contents %s -> %s", d->name, c->source, c->to);
		rc = src[c->source_index] ? vsl_fsops_tree.copy_in(&fs, src[c->source_index], c->to) :
			vsl_set_error(ctx, 0, VSL_EINVAL, "source '%s' is not available", c->source);
		if (rc < 0) {
			vsl_error_prefix(ctx, "disk '%s': contents '%s'", d->name, c->source);
			disk_where(ctx, r, c->loc);
			goto out;
		}
	}
	for (size_t i = 0; i < r->nsteps && rc == 0; i++) {
		const struct vsl_recipe_step *st = &r->steps[i];
		bool hide = st->sensitive || st->kind == VSL_STEP_ROOT_PASSWORD;

		if (st->disk_index != (int)di)
			continue;
		vsl_info(ctx, "  step %zu: %s%s%s (%s)", i + 1, vsl_recipe_step_name(st->kind),
			 hide ? "" : " ", hide ? "" : st->arg, d->name);
		rc = vsl_step_apply(ctx, &vsl_fsops_tree, &fs, r, st,
				    st->kind == VSL_STEP_COPY_IN ? src[st->source_index] : NULL);
	}
	if (rc < 0)
		goto out;
	if (mkdir(root, 0755) < 0) {
		rc = vsl_set_error(ctx, errno, VSL_EIO, "%s", root);
		goto out;
	}
	if ((rc = disk_extract(ctx, &t, root, mtime)) < 0)
		goto out;
	fd = open(raw, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)d->size) < 0) {
		rc = vsl_set_error(ctx, errno, VSL_EIO, "%s", raw);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	if (d->ptable != VSL_PTABLE_NONE) {
		/* one partition from 1 MiB; GPT keeps its backup header in the last MiB */
		char g1[37], g2[37];
		FILE *f = fopen(script, "w");

		off = 1 << 20;
		if (d->size < (4u << 20)) {
			rc = vsl_set_error(ctx, 0, VSL_ERANGE, "disk '%s': a partitioned disk needs "
					   "at least 4 MiB", d->name);
			if (f)
				fclose(f);
			disk_where(ctx, r, d->loc);
			goto out;
		}
		fssize = d->size - off - (d->ptable == VSL_PTABLE_GPT ? off : 0);
		disk_uuid(r, "gpt-disk", d->name, g1);
		disk_uuid(r, "gpt-part", d->name, g2);
		if (!f) {
			rc = vsl_set_error(ctx, errno, VSL_EIO, "%s", script);
			goto out;
		}
		if (d->ptable == VSL_PTABLE_GPT)
			fprintf(f, "label: gpt\nlabel-id: %s\nstart=2048, size=%llu, "
				   "type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=%s\n", g1,
				(unsigned long long)(fssize / 512), g2);
		else
			fprintf(f, "label: dos\nlabel-id: 0x%.8s\nstart=2048, size=%llu, type=83\n",
				g1, (unsigned long long)(fssize / 512));
		if (fclose(f) < 0) {
			rc = vsl_set_error(ctx, errno, VSL_EIO, "%s", script);
			goto out;
		}
		{
			char *argv[] = { (char *)"sfdisk", (char *)"-q", (char *)"--no-reread",
					 (char *)"--no-tell-kernel", raw, NULL };
			if ((rc = vsl_builder_exec(ctx, argv, NULL, script, NULL)) < 0)
				goto out;
		}
	}
	fssize &= ~(uint64_t)4095;
	disk_uuid(r, "fs", d->name, uuid);
	snprintf(env_time, sizeof(env_time), "E2FSPROGS_FAKE_TIME=%lld", (long long)mtime);
	snprintf(ext, sizeof(ext), "hash_seed=%s,offset=%llu,root_owner=0:0", uuid,
		 (unsigned long long)off);
	snprintf(blocks, sizeof(blocks), "%lluk", (unsigned long long)(fssize >> 10));
	{
		const char *env[] = { env_time, NULL };
		char *argv[16];
		int a = 0;

		argv[a++] = (char *)"mke2fs";
		argv[a++] = (char *)"-q";
		argv[a++] = (char *)"-F";
		argv[a++] = (char *)"-t";
		argv[a++] = (char *)"ext4";
		argv[a++] = (char *)"-U";
		argv[a++] = uuid;
		argv[a++] = (char *)"-E";
		argv[a++] = ext;
		if (d->label) {
			argv[a++] = (char *)"-L";
			argv[a++] = d->label;
		}
		argv[a++] = (char *)"-d";
		argv[a++] = root;
		argv[a++] = raw;
		argv[a++] = blocks;
		argv[a] = NULL;
		if ((rc = vsl_builder_exec(ctx, argv, env, NULL, NULL)) < 0) {
			vsl_error_prefix(ctx, "disk '%s'", d->name);
			disk_where(ctx, r, d->loc);
			goto out;
		}
	}
	if ((rc = disk_fixups(ctx, &t, fix, mtime)) < 0)
		goto out;
	snprintf(offs, sizeof(offs), "%llu", (unsigned long long)off);
	spec = vsl_strdup_printf("%s?offset=%s", raw, offs);
	{
		const char *env[] = { env_time, NULL };
		char *argv[] = { (char *)"debugfs", (char *)"-w", (char *)"-f", fix, spec, NULL };
		char *err = NULL;

		if (!spec) {
			rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "disk");
			goto out;
		}
		rc = vsl_builder_exec(ctx, argv, env, NULL, &err);
		/* debugfs exits 0 even when a command fails: its errors are on stderr */
		for (char *line = err, *nl; rc == 0 && line && *line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			if (*line && strncmp(line, "debugfs ", 8))
				rc = vsl_set_error(ctx, 0, VSL_EIO, "debugfs: %s", line);
			if (!nl)
				break;
		}
		free(err);
		if (rc < 0)
			goto out;
	}
	if (!strcmp(d->format, "qcow2")) {
		char *argv[] = { (char *)"qemu-img", (char *)"convert", (char *)"-q", (char *)"-f",
				 (char *)"raw", (char *)"-O", (char *)"qcow2", (char *)"-o",
				 (char *)"compat=1.1", raw, target, NULL };
		rc = vsl_builder_exec(ctx, argv, NULL, NULL, NULL);
	} else if (rename(raw, target) < 0) {
		rc = vsl_set_error(ctx, errno, VSL_EIO, "rename %s", raw);
	}
out:
	if (rc < 0 && !strstr(vsl_ctx_error(ctx), "disk '"))
		vsl_error_prefix(ctx, "disk '%s'", d->name);
	if (made)
		vsl_builder_rmtree(work);
	vsl_tree_fini(&t);
	free(work); free(root); free(raw); free(script); free(fix); free(target); free(spec);
	return rc;
}

/* Do contents or steps change disk di? */
static bool disk_changed(const struct vsl_recipe *r, size_t di)
{
	if (r->disks[di].ncontents)
		return true;
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].disk_index == (int)di)
			return true;
	return false;
}

/* Disks the appliance does not see: made on the host, or images nothing changes. */
static bool disk_skip_guest(const struct vsl_recipe *r, size_t di)
{
	return r->disks[di].image ? !disk_changed(r, di) : disk_on_host(r, di);
}

/* An image disk: the image converted into disks/NAME.FORMAT (sparse, any source format). */
static int disk_from_image(struct vsl_ctx *ctx, const struct vsl_recipe *r, size_t di,
			   const char *dir, const struct vsl_progress *progress)
{
	const struct vsl_recipe_disk *d = &r->disks[di];
	struct vsl_convert_opts o = { .out_fmt = d->format, .progress = progress };
	char *path = vsl_strdup_printf("%s/disks/%s.%s", dir, d->name, d->format);
	int rc;

	if (!path)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "disks");
	vsl_info(ctx, "  disk %s: converting image %s to %s", d->name, d->image, d->format);
	rc = vsl_convert(ctx, d->image, path, &o, NULL);
	free(path);
	if (rc < 0) {
		vsl_error_prefix(ctx, "disk '%s': image %s", d->name, d->image);
		return disk_where(ctx, r, d->loc);
	}
	return 0;
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
		if (need > r->disks[i].size) { /* an image's free space shows only inside */
			char a[32], b[32];
			vsl_set_error(ctx, 0, VSL_ERANGE, "disk '%s': its contents need %s but the "
				      "disk is %s; make 'size' bigger", r->disks[i].name,
				      vsl_format_size(need, a, sizeof(a)),
				      vsl_format_size(r->disks[i].size, b, sizeof(b)));
			return disk_where(ctx, r, r->disks[i].loc);
		}
	}
	{
		size_t nguest = 0;

		for (size_t i = 0; i < r->ndisks; i++) {
			if (r->disks[i].image) {
				if ((rc = disk_from_image(ctx, r, i, dir, progress)) < 0)
					return rc;
				if (disk_changed(r, i))
					nguest++;
				continue;
			}
			if (!disk_on_host(r, i)) {
				nguest++;
				continue;
			}
			vsl_info(ctx, "  disk %s: ext4 made with e2fsprogs (reproducible)",
				 r->disks[i].name);
			if ((rc = disk_host_build(ctx, r, i, dir, src_trees, mtime)) < 0)
				return rc;
		}
		if (!nguest)
			return 0;
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
		char *path;
		struct guestfs_disk_create_argv ca = { 0 };

		if (disk_skip_guest(r, i))
			continue;
		path = vsl_strdup_printf("%s/disks/%s.%s", dir, d->name, d->format);

		if (!path) {
			rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "disks");
			goto out;
		}
		if (d->image) {
			if (guestfs_add_drive_opts(f.g, path, GUESTFS_ADD_DRIVE_OPTS_FORMAT,
						   d->format, -1) < 0) {
				rc = gfs_err(&f, "add disk", path);
				free(path);
				disk_where(ctx, r, d->loc);
				goto out;
			}
			free(path);
			continue;
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
	vsl_info(ctx, "  starting the libguestfs appliance (one launch for all its disks)");
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
	for (size_t i = 0, dev = 0; i < r->ndisks && rc == 0; i++) {
		if (disk_skip_guest(r, i))
			continue;
		if (!devs[dev]) {
			rc = vsl_set_error(ctx, 0, VSL_EIO, "libguestfs shows fewer disks than added");
			break;
		}
		vsl_progress_report(progress, "disks", i + 1, r->ndisks + 1);
		rc = disk_fill(&f, r, i, devs[dev++], src_trees);
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
