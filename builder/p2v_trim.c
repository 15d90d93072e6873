/*
 * P2V: free space of filesystems libext2fs cannot map (xfs, filesystems
 * inside LVM, ...), found by trimming a throw-away overlay with libguestfs.
 *
 * vsl_p2v_free_map (builder/p2v.c) reads ext2/3/4 bitmaps itself; the
 * areas it finds holding xfs, an LVM physical volume, btrfs, ...
 * (vsl_p2v_trim_type) are handed to vsl_p2v_trim_free, which:
 *
 *   1. creates a qcow2 overlay (vessel's formats library) in a temporary
 *      directory for each raw source disk of the run, whose read-only
 *      backing file is that disk;
 *   2. launches one libguestfs appliance on all the overlays with discard
 *      enabled, activates the LVM volume groups, mounts each filesystem
 *      (except ext2/3/4 on plain partitions: already mapped) and runs
 *      fstrim on it; the free extents of each volume group are gathered in
 *      a temporary LV and discarded too;
 *   3. after the appliance has shut down, reads the overlay's block status:
 *      qemu turns a discarded cluster over a backing file into a "zero"
 *      cluster (qcow2 v3), so clusters that read as zero without coming
 *      from the backing file are free. Those inside the areas become free
 *      ranges of the source (vsl_p2v_trim_collect), merged into the free
 *      map (vsl_p2v_extents_merge).
 *
 *	struct vsl_p2v_trim *t = vsl_p2v_trim_new(paths, n);   all the run's local disks
 *	... for each disk: vsl_p2v_free_map_reader finds its areas, then
 *	vsl_p2v_trim_free(ctx, t, path, size, &areas, &fmap, warn);
 *	vsl_p2v_trim_destroy(t);
 *
 * The first vsl_p2v_trim_free of a session launches the appliance once with
 * an overlay for every disk of the session (so a volume group spanning
 * several disks is whole), the later ones only read their disk's overlay.
 * Without a session (t NULL) a call launches for its own disk.
 *
 * The source is only ever read: qemu opens a backing file read-only, and
 * everything the appliance writes (fstrim, LVM metadata, mount-time
 * updates, xfs or ext4 log recovery) lands in the overlays, which are deleted.
 * fstrim needs a read-write mount, so filesystems are mounted normally: a
 * log that needs recovery is replayed into the overlay. The copy keeps the
 * source's own (unrecovered) blocks everywhere except where the recovered
 * filesystem has free space; the copy replays the same log when it is
 * first mounted, and blocks free after that replay are not looked at.
 * Sources in use (a read-only O_EXCL open fails with EBUSY) are not
 * trimmed: their filesystems change under the copy.
 *
 * Granularity is the overlay's cluster (64 KiB): a cluster is free only
 * when the filesystem discarded all of it. Costs one appliance launch
 * (15-60 s under TCG) per run; when libguestfs is missing or the launch
 * fails, the areas are copied whole with a warning, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <guestfs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/p2v.h"

#define P2V_TRIM_CLUSTER "cluster_size=65536"
#define P2V_TRIM_LV "vessel-p2v-trim" /* temporary LV over a VG's free extents */

/* ---- extent lists: areas, union ---- */

/*
 * Worth an appliance launch: what the issue asks for (xfs, LVM) and the
 * other big-volume filesystems the appliance mounts read-write and trims.
 * Small or rarely trimmable ones (vfat ESPs, iso9660) are copied whole
 * rather than cost a launch of their own.
 */
bool vsl_p2v_trim_type(const char *type)
{
	static const char *const types[] = { "xfs", "LVM2_member", "btrfs", "f2fs", "jfs",
					     "reiserfs", "nilfs2", NULL };

	for (size_t i = 0; type && types[i]; i++)
		if (!strcmp(type, types[i]))
			return true;
	return false;
}

int vsl_p2v_areas_add(struct vsl_ctx *ctx, struct vsl_p2v_areas *a, uint64_t off, uint64_t len,
		      const char *type, const char *where)
{
	struct vsl_p2v_area *ar;

	if (off + len < off)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: area overflows", where);
	if (a->n && off < a->v[a->n - 1].off + a->v[a->n - 1].len)
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: areas out of order", where);
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		void *v = vsl_reallocarray(a->v, cap, sizeof(*a->v));

		if (!v)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		a->v = v;
		a->cap = cap;
	}
	ar = &a->v[a->n++];
	*ar = (struct vsl_p2v_area){ .off = off, .len = len };
	snprintf(ar->type, sizeof(ar->type), "%s", type);
	snprintf(ar->where, sizeof(ar->where), "%s", where);
	return 0;
}

void vsl_p2v_areas_fini(struct vsl_p2v_areas *a)
{
	if (!a)
		return;
	free(a->v);
	*a = (struct vsl_p2v_areas){ 0 };
}

int vsl_p2v_extents_merge(struct vsl_ctx *ctx, struct vsl_p2v_extents *dst,
			  const struct vsl_p2v_extents *add)
{
	struct vsl_p2v_extents out = { 0 };
	size_t i = 0, j = 0;
	uint64_t cur_off = 0, cur_end = 0;
	bool have = false;
	int r = 0;

	if (!add || !add->n)
		return 0;
	while (r == 0 && (i < dst->n || j < add->n)) {
		const struct vsl_p2v_extent *e;

		/* the next range by start, from either list */
		if (j >= add->n || (i < dst->n && dst->v[i].off <= add->v[j].off))
			e = &dst->v[i++];
		else
			e = &add->v[j++];
		if (!e->len)
			continue;
		if (have && e->off <= cur_end) {
			cur_end = VSL_MAX(cur_end, e->off + e->len);
			continue;
		}
		if (have)
			r = vsl_p2v_extents_add(ctx, &out, cur_off, cur_end - cur_off);
		cur_off = e->off;
		cur_end = e->off + e->len;
		have = true;
	}
	if (r == 0 && have)
		r = vsl_p2v_extents_add(ctx, &out, cur_off, cur_end - cur_off);
	if (r < 0) {
		vsl_p2v_extents_fini(&out);
		return r;
	}
	vsl_p2v_extents_fini(dst);
	*dst = out;
	return 0;
}

/* ---- overlay status to free ranges ---- */

int vsl_p2v_trim_collect(struct vsl_ctx *ctx, struct vsl_image *ov, uint64_t off, uint64_t len,
			 struct vsl_p2v_extents *out)
{
	uint64_t end, p;
	int r = 0;

	if (off >= ov->size)
		return 0;
	end = off + VSL_MIN(len, ov->size - off);
	for (p = off; p < end && r == 0;) {
		uint64_t pnum = 0;
		int flags = 0;

		r = vsl_image_block_status(ov, p, end - p, &pnum, &flags);
		if (r < 0) {
			if (ctx != ov->ctx)
				vsl_set_error(ctx, 0, r, "%s", vsl_ctx_error(ov->ctx));
			return r;
		}
		if (!pnum || pnum > end - p)
			return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: block status of %llu "
					     "bytes at %llu out of range", ov->path ? ov->path : "overlay",
					     (unsigned long long)pnum, (unsigned long long)p);
		/*
		 * Zero in the overlay itself: discarded by the filesystem. Data
		 * written by the appliance, and whatever still comes from the
		 * backing file (even where the source holds zeroes), is not
		 * free: the copy takes it from the source.
		 */
		if ((flags & VSL_BLOCK_ZERO) && !(flags & (VSL_BLOCK_BACKING | VSL_BLOCK_DATA)))
			r = vsl_p2v_extents_add(ctx, out, p, pnum);
		p += pnum;
	}
	return r;
}

/* ---- the appliance ---- */

static bool p2v_trim_is_blockdev(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

/*
 * The last libguestfs error on one line (mount's stderr spans several):
 * runs of newlines and the indentation after them become one space.
 * Borrowed from a static buffer per thread, valid until the next call.
 */
static const char *p2v_trim_lasterr(guestfs_h *g)
{
	static _Thread_local char buf[1024];
	const char *e = guestfs_last_error(g);
	size_t n = 0;

	if (!e)
		return "failed";
	for (; *e && n + 1 < sizeof(buf); e++) {
		if (*e == '\n' || *e == '\r') {
			while (e[1] == '\n' || e[1] == '\r' || e[1] == ' ' || e[1] == '\t')
				e++;
			if (n && buf[n - 1] != ' ' && e[1])
				buf[n++] = ' ';
			continue;
		}
		buf[n++] = *e;
	}
	buf[n] = 0;
	return buf;
}

static int p2v_trim_gfs_err(struct vsl_ctx *ctx, guestfs_h *g, const char *what)
{
	const char *e = p2v_trim_lasterr(g);

	return vsl_set_error(ctx, 0, VSL_EIO, "libguestfs: %s: %s", what,
			     e ? e : "failed");
}

static void p2v_trim_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/*
 * Filesystems whose free space the appliance should discard: every one it
 * lists but swap, unknown contents, LUKS (opaque), btrfs subvolume aliases
 * and ext2/3/4 outside LVM (libext2fs mapped those without a launch).
 */
static bool p2v_trim_wanted(guestfs_h *g, const char *dev, const char *type)
{
	if (!strncmp(dev, "btrfsvol:", 9))
		return false;
	if (!strcmp(type, "swap") || !strcmp(type, "unknown") || !strcmp(type, "crypto_LUKS") ||
	    !strcmp(type, ""))
		return false;
	if (!strncmp(type, "ext", 3))
		return guestfs_is_lv(g, dev) > 0;
	return true;
}

/*
 * Each source disk gets its own launch, so a volume group with physical
 * volumes on other disks is incomplete here: LVM activates only the LVs
 * whose extents are all present, and the others keep their free space.
 */
static void p2v_trim_vg_check(guestfs_h *g, const char *src, struct vsl_problems *warn)
{
	struct guestfs_lvm_vg_list *vgs = guestfs_vgs_full(g);
	struct guestfs_lvm_pv_list *pvs = vgs ? guestfs_pvs_full(g) : NULL;

	for (uint32_t i = 0; pvs && i < vgs->len; i++) {
		char **uu = guestfs_vgpvuuids(g, vgs->val[i].vg_name);
		int64_t here = 0;

		for (size_t k = 0; uu && uu[k]; k++) {
			char u[33];
			size_t n = 0;

			/* "xxxxxx-xxxx-..." here, 32 characters without dashes in pv_uuid */
			for (const char *c = uu[k]; *c && n < 32; c++)
				if (*c != '-')
					u[n++] = *c;
			/* a missing PV is listed too, named "[unknown]" */
			for (uint32_t j = 0; n == 32 && j < pvs->len; j++)
				if (!memcmp(u, pvs->val[j].pv_uuid, 32) &&
				    !strncmp(pvs->val[j].pv_name, "/dev/", 5)) {
					here++;
					break;
				}
		}
		if (uu && here < vgs->val[i].pv_count)
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "%s: LVM volume group %s has %lld of its %lld physical "
					 "volumes among the sources: free space of LVs that reach the "
					 "others is copied", src, vgs->val[i].vg_name,
					 (long long)here, (long long)vgs->val[i].pv_count);
		p2v_trim_strv_free(uu);
	}
	if (pvs)
		guestfs_free_lvm_pv_list(pvs);
	if (vgs)
		guestfs_free_lvm_vg_list(vgs);
}

/*
 * The source behind an appliance device, for messages: "/dev/sdb2" is
 * "SOURCE partition 2" when names[1] is SOURCE (the k-th drive added);
 * LVs and anything else keep the appliance's name, after "label: ".
 */
static void p2v_trim_devname(guestfs_h *g, const char *dev, const char *label,
			     const char *const *names, size_t n, char *buf, size_t len)
{
	char *whole = NULL;
	int idx = -1, part = 0;

	if (guestfs_is_whole_device(g, dev) > 0) {
		idx = guestfs_device_index(g, dev);
	} else if (!strncmp(dev, "/dev/sd", 7) || !strncmp(dev, "/dev/vd", 7)) {
		whole = guestfs_part_to_dev(g, dev);
		part = whole ? guestfs_part_to_partnum(g, dev) : 0;
		idx = whole && part > 0 ? guestfs_device_index(g, whole) : -1;
	}
	if (idx >= 0 && (size_t)idx < n && part > 0)
		snprintf(buf, len, "%s partition %d", names[idx], part);
	else if (idx >= 0 && (size_t)idx < n)
		snprintf(buf, len, "%s", names[idx]);
	else
		snprintf(buf, len, "%s: %s", label, dev);
	free(whole);
}

/* Mount and fstrim every wanted filesystem, then discard each VG's free extents. */
static void p2v_trim_all(struct vsl_ctx *ctx, guestfs_h *g, const char *src,
			 const char *const *names, size_t nnames, struct vsl_problems *warn)
{
	char **fs, **vgs, err[1024], name[PATH_MAX + 64];

	if (guestfs_vg_activate_all(g, 1) < 0)
		vsl_debug(ctx, "%s: vg-activate-all: %s", src, p2v_trim_lasterr(g));
	p2v_trim_vg_check(g, src, warn);
	fs = guestfs_list_filesystems(g);
	if (!fs) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: libguestfs cannot list the filesystems (%s): their free "
				 "space is copied", src, p2v_trim_lasterr(g));
		return;
	}
	for (size_t i = 0; fs[i] && fs[i + 1]; i += 2) {
		if (!p2v_trim_wanted(g, fs[i], fs[i + 1]))
			continue;
		/* nouuid: xfs refuses a second filesystem with the same UUID (cloned disks) */
		if ((!strcmp(fs[i + 1], "xfs") ? guestfs_mount_options(g, "nouuid", fs[i], "/") :
		     guestfs_mount(g, fs[i], "/")) < 0) {
			snprintf(err, sizeof(err), "%s", p2v_trim_lasterr(g));
			p2v_trim_devname(g, fs[i], src, names, nnames, name, sizeof(name));
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "%s: %s cannot be mounted to find its free space (%s): "
					 "copied whole (zero blocks skipped)", name, fs[i + 1], err);
			continue;
		}
		if (guestfs_fstrim(g, "/", -1) < 0) {
			snprintf(err, sizeof(err), "%s", p2v_trim_lasterr(g));
			p2v_trim_devname(g, fs[i], src, names, nnames, name, sizeof(name));
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "%s: %s: fstrim failed (%s): copied whole (zero blocks "
					 "skipped)", name, fs[i + 1], err);
		} else
			vsl_debug(ctx, "%s: trimmed %s (%s)", src, fs[i], fs[i + 1]);
		if (guestfs_umount(g, "/") < 0)
			vsl_debug(ctx, "%s: umount %s: %s", src, fs[i], p2v_trim_lasterr(g));
	}
	p2v_trim_strv_free(fs);
	/*
	 * Extents no LV uses may hold old data: an LV over all of them,
	 * discarded, leaves zero clusters there. Its metadata update is data
	 * in the overlay, so the copy keeps the source's own LVM metadata.
	 */
	vgs = guestfs_vgs(g);
	for (size_t i = 0; vgs && vgs[i]; i++) {
		char lv[512];

		if (guestfs_lvcreate_free(g, P2V_TRIM_LV, vgs[i], 100) < 0) {
			vsl_debug(ctx, "%s: VG %s: no free extents to discard (%s)", src, vgs[i],
				  p2v_trim_lasterr(g));
			continue;
		}
		snprintf(lv, sizeof(lv), "/dev/%s/%s", vgs[i], P2V_TRIM_LV);
		if (guestfs_blkdiscard(g, lv) < 0)
			vsl_debug(ctx, "%s: blkdiscard %s: %s", src, lv, p2v_trim_lasterr(g));
	}
	p2v_trim_strv_free(vgs);
}

/* ---- the session: one appliance for all the local disks of a run ---- */

struct p2v_trim_disk {
	char *path;                  /* realpath of the source */
	char *overlay;               /* NULL: not attached (why says why) */
	char why[512];
};

struct vsl_p2v_trim {
	struct p2v_trim_disk *d;
	size_t n;
	bool ran;                    /* the appliance was tried (whatever came of it) */
	char dir[PATH_MAX];          /* the overlays' temporary directory; "" if none */
};

struct vsl_p2v_trim *vsl_p2v_trim_new(const char *const *paths, size_t n)
{
	struct vsl_p2v_trim *t = vsl_calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->d = n ? vsl_calloc(n, sizeof(*t->d)) : NULL;
	if (n && !t->d) {
		free(t);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char rp[PATH_MAX];
		bool dup = false;

		if (!realpath(paths[i], rp))
			continue;  /* vsl_p2v reports it */
		/* the same disk twice would show LVM duplicate PVs */
		for (size_t k = 0; k < t->n && !dup; k++)
			dup = !strcmp(t->d[k].path, rp);
		if (dup)
			continue;
		t->d[t->n].path = strdup(rp);
		if (!t->d[t->n].path) {
			vsl_p2v_trim_destroy(t);
			return NULL;
		}
		t->n++;
	}
	return t;
}

void vsl_p2v_trim_destroy(struct vsl_p2v_trim *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		if (t->d[i].overlay)
			unlink(t->d[i].overlay);
		free(t->d[i].overlay);
		free(t->d[i].path);
	}
	if (t->dir[0])
		rmdir(t->dir);
	free(t->d);
	free(t);
}

/* Label for messages about the appliance: the disk, or "the source disks". */
static const char *p2v_trim_label(const struct vsl_p2v_trim *t)
{
	size_t k = 0, n = 0;

	for (size_t i = 0; i < t->n; i++)
		if (t->d[i].overlay) {
			k = i;
			n++;
		}
	return n == 1 ? t->d[k].path : "the source disks";
}

/*
 * An overlay for disk d, when it is a raw disk not in use; else d->why
 * says why not (its areas are then copied whole).
 */
static void p2v_trim_overlay(struct vsl_ctx *octx, struct vsl_p2v_trim *t, size_t i)
{
	struct p2v_trim_disk *d = &t->d[i];
	struct vsl_image_opts opts = { 0 };
	const char *kv[] = { P2V_TRIM_CLUSTER, NULL };
	struct vsl_image *img = NULL;
	uint64_t size;
	int fd, r;

	fd = open(d->path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0 && errno == EBUSY) {
		snprintf(d->why, sizeof(d->why), "the disk is in use");
		return;
	}
	if (fd >= 0)
		close(fd);
	/* a block device is raw whatever its first bytes look like */
	r = vsl_image_open(octx, d->path, NULL, VSL_IMAGE_RDONLY, &img);
	if (r < 0 || (img->ops != &vsl_format_raw && !p2v_trim_is_blockdev(d->path))) {
		snprintf(d->why, sizeof(d->why), "%s", r < 0 ? vsl_ctx_error(octx) : "not a raw disk");
		vsl_image_close(img);
		return;
	}
	size = img->size;
	vsl_image_close(img);
	d->overlay = vsl_strdup_printf("%s/overlay%zu.qcow2", t->dir, i);
	if (!d->overlay) {
		snprintf(d->why, sizeof(d->why), "out of memory");
		return;
	}
	opts.backing_file = d->path;
	opts.backing_format = "raw";
	opts.kv = kv;
	r = vsl_image_create(octx, d->overlay, "qcow2", size, &opts, &img);
	if (r == 0) {
		r = vsl_image_flush(img);
		vsl_image_close(img);
	}
	if (r < 0) {
		snprintf(d->why, sizeof(d->why), "overlay: %s", vsl_ctx_error(octx));
		unlink(d->overlay);
		free(d->overlay);
		d->overlay = NULL;
	}
}

/* Overlays for every disk, one launch over all of them; failures end in d->why. */
static void p2v_trim_run(struct vsl_ctx *ctx, struct vsl_p2v_trim *t, struct vsl_problems *warn)
{
	struct vsl_ctx *octx = vsl_ctx_new();
	const char *tmpdir = getenv("TMPDIR");
	guestfs_h *g = NULL;
	const char **names = NULL;
	size_t nov = 0, nnames = 0;
	int r = 0;

	t->ran = true;
	if (!tmpdir || !tmpdir[0])
		tmpdir = "/var/tmp";
	if (!octx) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	if ((size_t)snprintf(t->dir, sizeof(t->dir), "%s/vessel-p2v-trim.XXXXXX", tmpdir) >=
	    sizeof(t->dir) || !mkdtemp(t->dir)) {
		r = vsl_set_error(octx, errno, VSL_EIO, "cannot create a directory in %s", tmpdir);
		t->dir[0] = 0;
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		p2v_trim_overlay(octx, t, i);
		nov += t->d[i].overlay != NULL;
	}
	if (!nov)
		goto out;
	names = vsl_calloc(nov, sizeof(*names));
	if (!names) {
		r = vsl_set_error(octx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	vsl_info(ctx, "finding the free space of xfs, LVM, ... on %s with libguestfs (one "
		 "appliance launch)", p2v_trim_label(t));
	g = guestfs_create_flags(GUESTFS_CREATE_NO_CLOSE_ON_EXIT);
	if (!g) {
		r = vsl_set_error(octx, errno, VSL_ENOTSUP, "libguestfs: cannot create a handle");
		goto out;
	}
	guestfs_set_error_handler(g, NULL, NULL);
	/* TCG unless told otherwise, as builder/p2v_fixup.c */
	if (!getenv("LIBGUESTFS_BACKEND"))
		guestfs_set_backend(g, "direct");
	if (!getenv("LIBGUESTFS_BACKEND_SETTINGS")) {
		char *settings[] = { (char *)"force_tcg", NULL };

		guestfs_set_backend_settings(g, settings);
	}
	for (size_t i = 0; i < t->n && r == 0; i++) {
		if (!t->d[i].overlay)
			continue;
		if (guestfs_add_drive_opts(g, t->d[i].overlay, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "qcow2",
					   GUESTFS_ADD_DRIVE_OPTS_DISCARD, "enable", -1) < 0)
			r = p2v_trim_gfs_err(octx, g, "add the overlay");
		names[nnames++] = t->d[i].path;  /* appliance drive nnames is this disk */
	}
	if (r == 0 && guestfs_launch(g) < 0)
		r = p2v_trim_gfs_err(octx, g, "launch");
	if (r == 0) {
		p2v_trim_all(ctx, g, p2v_trim_label(t), names, nnames, warn);
		/* the discards must reach the overlay files before they are read */
		if (guestfs_shutdown(g) < 0)
			r = p2v_trim_gfs_err(octx, g, "shutdown");
	}
out:
	if (g)
		guestfs_close(g);
	free(names);
	/* the copy still works, only bigger: every disk's areas are copied whole */
	for (size_t i = 0; r < 0 && i < t->n; i++) {
		if (t->d[i].overlay) {
			unlink(t->d[i].overlay);
			free(t->d[i].overlay);
			t->d[i].overlay = NULL;
		}
		if (!t->d[i].why[0])
			snprintf(t->d[i].why, sizeof(t->d[i].why), "%s",
				 octx ? vsl_ctx_error(octx) : "out of memory");
	}
	vsl_ctx_free(octx);
}

static void p2v_trim_whole(const struct vsl_p2v_areas *areas, const char *why,
			   struct vsl_problems *warn)
{
	for (size_t i = 0; i < areas->n; i++)
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: %s: free space unknown (%s): copied whole (zero blocks "
				 "skipped)", areas->v[i].where, areas->v[i].type, why);
}

/* The free ranges of path's areas, from its trimmed overlay, merged into fmap. */
static int p2v_trim_collect_disk(struct vsl_ctx *ctx, const struct p2v_trim_disk *d,
				 uint64_t size, const struct vsl_p2v_areas *areas,
				 struct vsl_p2v_extents *fmap)
{
	struct vsl_ctx *octx = vsl_ctx_new();
	struct vsl_image *ov = NULL;
	int r;

	if (!octx)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	r = vsl_image_open(octx, d->overlay, "qcow2", VSL_IMAGE_RDONLY, &ov);
	if (r < 0)
		r = vsl_set_error(ctx, 0, r, "trim overlay: %s", vsl_ctx_error(octx));
	else if (ov->size != size)
		r = vsl_set_error(ctx, 0, VSL_EIO, "trim overlay: size %llu, source %llu (the "
				  "source changed?)", (unsigned long long)ov->size,
				  (unsigned long long)size);
	for (size_t i = 0; i < areas->n && r == 0; i++) {
		const struct vsl_p2v_area *a = &areas->v[i];
		struct vsl_p2v_extents one = { 0 };
		uint64_t freeb = 0;

		r = vsl_p2v_trim_collect(ctx, ov, a->off, a->len, &one);
		for (size_t k = 0; k < one.n && r == 0; k++)
			freeb += one.v[k].len;
		if (r == 0)
			r = vsl_p2v_extents_merge(ctx, fmap, &one);
		if (r == 0)
			vsl_info(ctx, "%s: %s, %llu of %llu bytes free (fstrim in an overlay)",
				 a->where, a->type, (unsigned long long)freeb,
				 (unsigned long long)a->len);
		vsl_p2v_extents_fini(&one);
	}
	vsl_image_close(ov);
	vsl_ctx_free(octx);
	return r;
}

int vsl_p2v_trim_free(struct vsl_ctx *ctx, struct vsl_p2v_trim *t, const char *path,
		      uint64_t size, const struct vsl_p2v_areas *areas, struct vsl_p2v_extents *fmap,
		      struct vsl_problems *warn)
{
	struct vsl_p2v_trim *own = NULL;
	const struct p2v_trim_disk *d = NULL;
	char rp[PATH_MAX];
	int r = 0;

	if (!areas || !areas->n)
		return 0;
	if (!realpath(path, rp))
		return vsl_set_error(ctx, errno, VSL_EIO, "%s", path);
	if (!t) {
		const char *one[] = { path };

		t = own = vsl_p2v_trim_new(one, 1);
		if (!t)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	if (!t->ran)
		p2v_trim_run(ctx, t, warn);
	for (size_t i = 0; i < t->n && !d; i++)
		if (!strcmp(t->d[i].path, rp))
			d = &t->d[i];
	if (!d)
		p2v_trim_whole(areas, "not among the disks the appliance was given", warn);
	else if (!d->overlay)
		p2v_trim_whole(areas, d->why[0] ? d->why : "no overlay", warn);
	else
		r = p2v_trim_collect_disk(ctx, d, size, areas, fmap);
	vsl_p2v_trim_destroy(own);
	return r;
}
