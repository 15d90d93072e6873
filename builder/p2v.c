/*
 * P2V: disks of a machine (block devices or image files) into a bundle.
 *
 * The copy goes through the conversion engine (vsl_convert_copy), which
 * never reads extents the source reports as zero and never writes blocks of
 * zeroes. To skip what the filesystems do not use, the source is wrapped in
 * a "filter" image whose block_status reports the free blocks as zero: the
 * engine then neither reads nor writes them. The free blocks come from
 * libblkid (partition tables, filesystem types) and libext2fs (block
 * bitmaps), both opened read-only on the raw disk; p2v_area dispatches each
 * area by its type: ext2/3/4 here, xfs/LVM to the trim overlay for local
 * disks (p2v_trim.c) or to the remote's xfs_db and lvm for ssh sources
 * (p2v_remote_fs.c).
 *
 * The source is opened O_RDONLY through the formats library and by the two
 * libraries above, and nothing else: no overlay, no fix-up touches it.
 *
 * Output: a staging directory OUT.p2v-PID beside OUT, renamed to OUT when
 * complete (MANIFEST last); removed on any failure.
 */

#include <blkid/blkid.h>
#include <dirent.h>
#include <errno.h>
#include <et/com_err.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/convert.h"
#include "vessel/p2v.h"

/* ---- extents ---- */

void vsl_p2v_extents_fini(struct vsl_p2v_extents *e)
{
	if (!e)
		return;
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

int vsl_p2v_extents_add(struct vsl_ctx *ctx, struct vsl_p2v_extents *e, uint64_t off,
			uint64_t len)
{
	if (!len)
		return 0;
	if (off + len < off)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "extent overflows");
	if (e->n) {
		struct vsl_p2v_extent *last = &e->v[e->n - 1];

		if (off < last->off + last->len)
			return vsl_set_error(ctx, 0, VSL_EINVAL, "extents out of order");
		if (off == last->off + last->len) {
			last->len += len;
			return 0;
		}
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		void *v = vsl_reallocarray(e->v, cap, sizeof(*e->v));

		if (!v)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = (struct vsl_p2v_extent){ off, len };
	return 0;
}

/* ---- facts of the machine ---- */

static int p2v_read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -1;
	while (got + 1 < len) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = 0;
	return (int)got;
}

static int p2v_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) < 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

int vsl_p2v_facts_read(struct vsl_ctx *ctx, const char *root, struct vsl_p2v_facts *f)
{
	char path[4096], *buf;
	const size_t bufsz = 1 << 20;  /* /proc/cpuinfo of a big machine; bounded */
	DIR *d;
	struct dirent *de;
	int r = 0;

	memset(f, 0, sizeof(*f));
	if (!root)
		root = "/";
	buf = malloc(bufsz);
	if (!buf)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");

	snprintf(path, sizeof(path), "%s/proc/cpuinfo", root);
	if (p2v_read_small(path, buf, bufsz) > 0) {
		for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
			if (!strncmp(p, "processor", 9) && (p[9] == '\t' || p[9] == ' ' || p[9] == ':'))
				f->cpus++;
	}
	snprintf(path, sizeof(path), "%s/proc/meminfo", root);
	if (p2v_read_small(path, buf, bufsz) > 0) {
		char *p = strstr(buf, "MemTotal:");
		unsigned long long kb;

		if (p) {
			if (sscanf(p + 9, " %llu kB", &kb) != 1 || kb > (1ull << 44)) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: malformed MemTotal line",
						  path);
				goto out;
			}
			f->memory = kb * 1024;
		}
	}
	snprintf(path, sizeof(path), "%s/sys/class/net", root);
	d = opendir(path);
	while (d && (de = readdir(d)) && f->nnics < VSL_P2V_MAX_NICS) {
		char p2[4096];
		struct stat st;
		uint8_t mac[6];

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(f->nics[0].name))
			continue;
		snprintf(p2, sizeof(p2), "%s/%s/device", path, de->d_name);
		if (stat(p2, &st) < 0)
			continue; /* virtual: lo, bridges, veth, tunnels */
		snprintf(p2, sizeof(p2), "%s/%s/address", path, de->d_name);
		if (p2v_read_small(p2, buf, 64) <= 0)
			continue;
		if (p2v_parse_mac(buf, mac) < 0) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: not a MAC address", p2);
			break;
		}
		snprintf(f->nics[f->nnics].name, sizeof(f->nics[0].name), "%s", de->d_name);
		memcpy(f->nics[f->nnics].mac, mac, 6);
		f->nnics++;
	}
	if (d)
		closedir(d);
	/* readdir order is arbitrary: sort by name so bundles are reproducible */
	for (unsigned i = 1; i < f->nnics; i++)
		for (unsigned j = i; j > 0 && strcmp(f->nics[j - 1].name, f->nics[j].name) > 0; j--) {
			__typeof__(f->nics[0]) t = f->nics[j];
			f->nics[j] = f->nics[j - 1];
			f->nics[j - 1] = t;
		}
out:
	free(buf);
	return r;
}

/* ---- free blocks ---- */

/* Free ranges of the ext2/3/4 filesystem at byte offset `off` of the reader. */
int vsl_p2v_ext_free(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd, uint64_t off,
		     uint64_t plen, const char *where, struct vsl_p2v_extents *fmap,
		     struct vsl_problems *warn)
{
	char opts[64], name[64];
	ext2_filsys fs = NULL;
	errcode_t err;
	blk64_t blk, end, z, s;
	uint64_t bs, before = 0;
	int r = 0;

	for (size_t i = 0; i < fmap->n; i++)
		before += fmap->v[i].len;
	snprintf(opts, sizeof(opts), "offset=%llu", (unsigned long long)off);
	/* no EXT2_FLAG_RW: unix_io opens the device O_RDONLY; vsl_p2v_io never writes */
	if (rd->fetch || rd->segs) {
		vsl_p2v_io_name(rd, name, sizeof(name));
		err = ext2fs_open2(name, opts, EXT2_FLAG_64BITS, 0, 0, vsl_p2v_io_manager(), &fs);
	} else {
		err = ext2fs_open2(rd->name, opts, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
	}
	if (err) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: ext filesystem not readable (%s): copied whole", where,
				 error_message(err));
		return 0;
	}
	bs = fs->blocksize;
	if (ext2fs_has_feature_journal_needs_recovery(fs->super)) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: filesystem is mounted or was not cleanly unmounted (journal "
				 "needs recovery): free blocks copied too", where);
		goto out;
	}
	end = ext2fs_blocks_count(fs->super);
	if (end * bs > plen) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: filesystem (%llu bytes) larger than its partition (%llu bytes): "
				 "copied whole", where, (unsigned long long)(end * bs),
				 (unsigned long long)plen);
		goto out;
	}
	err = ext2fs_read_block_bitmap(fs);
	if (err) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: block bitmaps unreadable (%s): copied whole", where,
				 error_message(err));
		goto out;
	}
	blk = fs->super->s_first_data_block;
	while (blk < end && r == 0) {
		if (ext2fs_find_first_zero_block_bitmap2(fs->block_map, blk, end - 1, &z))
			break;  /* no free block left */
		if (ext2fs_find_first_set_block_bitmap2(fs->block_map, z, end - 1, &s))
			s = end;
		r = vsl_p2v_extents_add(ctx, fmap, off + z * bs, (s - z) * bs);
		blk = s;
	}
	if (r == 0) {
		uint64_t after = 0;

		for (size_t i = 0; i < fmap->n; i++)
			after += fmap->v[i].len;
		vsl_info(ctx, "%s: ext filesystem, %llu of %llu bytes free", where,
			 (unsigned long long)(after - before), (unsigned long long)(end * bs));
	}
out:
	ext2fs_close_free(&fs);
	return r;
}

void vsl_p2v_probe_type(int fd, uint64_t off, uint64_t len, char *type, size_t tlen)
{
	blkid_probe pr = blkid_new_probe();
	const char *v = NULL;

	type[0] = 0;
	if (!pr)
		return;
	if (blkid_probe_set_device(pr, fd, (blkid_loff_t)off, (blkid_loff_t)len) == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
		if (blkid_do_safeprobe(pr) == 0 &&
		    blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0 && v)
			snprintf(type, tlen, "%s", v);
	}
	blkid_free_probe(pr);
}

/* A fetching reader: the head and tail of [off, off+len), where superblocks live. */
static int p2v_fetch_ends(const struct vsl_p2v_reader *rd, uint64_t off, uint64_t len)
{
	uint64_t n = VSL_MIN(len, (uint64_t)1 << 20);
	int r;

	if (!rd->fetch || !len)
		return 0;
	r = rd->fetch(rd->opaque, off, n);
	if (r == 0 && len > n)
		r = rd->fetch(rd->opaque, off + len - n, n);
	return r;
}

/*
 * ta: where areas for vsl_p2v_trim_free go (xfs, LVM, ...; local disks);
 * NULL: none. ssh sources ask the remote's tools about xfs and LVM instead
 * (builder/p2v_remote_fs.c).
 */
static int p2v_area(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd, uint64_t off,
		    uint64_t len, const char *where, struct vsl_p2v_extents *fmap,
		    struct vsl_p2v_areas *ta, struct vsl_problems *warn)
{
	char type[64];
	int r = p2v_fetch_ends(rd, off, len);

	if (r < 0)
		return ctx == rd->ctx ? r : vsl_set_error(ctx, 0, r, "%s", vsl_ctx_error(rd->ctx));
	vsl_p2v_probe_type(rd->fd, off, len, type, sizeof(type));
	if (!strcmp(type, "ext2") || !strcmp(type, "ext3") || !strcmp(type, "ext4"))
		return vsl_p2v_ext_free(ctx, rd, off, len, where, fmap, warn);
	if (!strcmp(type, "crypto_LUKS"))
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: encrypted volume (LUKS): copied as opaque data", where);
	else if (!type[0])
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: no filesystem recognised: copied as opaque data", where);
	else if (rd->ssh && (!strcmp(type, "xfs") || !strcmp(type, "LVM2_member")))
		return vsl_p2v_remote_free(ctx, rd, off, len, type, where, fmap, warn);
	else if (ta && vsl_p2v_trim_type(type))
		return vsl_p2v_areas_add(ctx, ta, off, len, type, where);
	else if (strcmp(type, "swap"))
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: %s: free space not known yet, copied whole (zero blocks "
				 "skipped)", where, type);
	return 0;
}

/* A local disk's free map; trim: the run's appliance session (NULL: one of its own). */
static int p2v_free_map_local(struct vsl_ctx *ctx, const char *path, uint64_t size,
			      struct vsl_p2v_trim *trim, struct vsl_p2v_extents *fmap,
			      struct vsl_problems *warn)
{
	struct vsl_p2v_reader rd = { .name = path, .size = size, .ctx = ctx, .trim = trim };
	int r;

	rd.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (rd.fd < 0)
		return vsl_set_error(ctx, errno, VSL_EIO, "open %s", path);
	r = vsl_p2v_free_map_reader(ctx, &rd, fmap, warn);
	close(rd.fd);
	return r;
}

int vsl_p2v_free_map(struct vsl_ctx *ctx, const char *path, uint64_t size,
		     struct vsl_p2v_extents *fmap, struct vsl_problems *warn)
{
	return p2v_free_map_local(ctx, path, size, NULL, fmap, warn);
}

/*
 * The partition list of the reader's disk. With a fetching reader, libblkid
 * sees only what was fetched: fetch the first and last MiB (MBR, GPT and
 * its backup), then the start and the end of every partition found (the
 * EBRs of logical partitions follow each other through the extended one),
 * and probe again until the list stops growing (bounded).
 */
static int p2v_partitions(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd,
			  blkid_probe *ppr, blkid_partlist *ppl, int *pn)
{
	int prev = -1, r = p2v_fetch_ends(rd, 0, rd->size);

	for (int iter = 0; r == 0 && iter < 64; iter++) {
		blkid_probe pr = blkid_new_probe();
		blkid_partlist pl;
		int n;

		if (!pr)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		if (blkid_probe_set_device(pr, rd->fd, 0, (blkid_loff_t)rd->size) < 0) {
			blkid_free_probe(pr);
			return vsl_set_error(ctx, 0, VSL_EIO, "%s: libblkid cannot probe it",
					     rd->name);
		}
		blkid_probe_enable_partitions(pr, 1);
		pl = blkid_probe_get_partitions(pr);
		n = pl ? blkid_partlist_numof_partitions(pl) : 0;
		if (*ppr)
			blkid_free_probe(*ppr);
		*ppr = pr;
		*ppl = pl;
		*pn = n;
		if (!rd->fetch || n == prev)
			return 0;
		prev = n;
		for (int i = 0; i < n && r == 0; i++) {
			blkid_partition p = blkid_partlist_get_partition(pl, i);
			uint64_t st = p ? (uint64_t)blkid_partition_get_start(p) * 512 : 0;
			uint64_t ln = p ? (uint64_t)blkid_partition_get_size(p) * 512 : 0;

			if (!p || st >= rd->size)
				continue;
			ln = VSL_MIN(ln, rd->size - st);
			r = p2v_fetch_ends(rd, st, VSL_MIN(ln, (uint64_t)1 << 20));
			if (r == 0 && st + ln < rd->size)
				r = p2v_fetch_ends(rd, st + ln, VSL_MIN(rd->size - st - ln,
									(uint64_t)1 << 20));
		}
	}
	if (r < 0)
		return ctx == rd->ctx ? r : vsl_set_error(ctx, 0, r, "%s", vsl_ctx_error(rd->ctx));
	return 0;
}

int vsl_p2v_free_map_reader(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd,
			    struct vsl_p2v_extents *fmap, struct vsl_problems *warn)
{
	const char *path = rd->name;
	uint64_t size = rd->size;
	blkid_probe pr = NULL;
	blkid_partlist pl = NULL;
	struct vsl_p2v_areas ta = { 0 }, *tap = rd->fetch ? NULL : &ta; /* local disks only */
	int n = 0, r;

	r = p2v_partitions(ctx, rd, &pr, &pl, &n);
	if (r < 0)
		goto out;
	if (n <= 0) {
		/* a filesystem on the whole disk, or something unknown */
		r = p2v_area(ctx, rd, 0, size, path, fmap, tap, warn);
		goto out;
	}
	{
		blkid_parttable tab = blkid_partlist_get_table(pl);
		const char *tt = tab ? blkid_parttable_get_type(tab) : "?";

		vsl_info(ctx, "%s: %s partition table, %d partitions", path, tt ? tt : "?", n);
	}
	/*
	 * libblkid lists partitions in table order; extents must be appended in
	 * disk order, so walk them sorted by start.
	 */
	{
		uint64_t prev_end = 0;
		bool *done = vsl_calloc((size_t)n, sizeof(bool));

		if (!done) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto out;
		}
		for (int k = 0; k < n && r == 0; k++) {
			int best = -1;
			uint64_t bstart = 0, blen = 0;

			for (int i = 0; i < n; i++) {
				blkid_partition p = blkid_partlist_get_partition(pl, i);
				uint64_t st, ln;

				if (done[i] || !p)
					continue;
				st = (uint64_t)blkid_partition_get_start(p) * 512;
				ln = (uint64_t)blkid_partition_get_size(p) * 512;
				if (best < 0 || st < bstart) {
					best = i;
					bstart = st;
					blen = ln;
				}
			}
			if (best < 0)
				break;
			done[best] = true;
			{
				blkid_partition p = blkid_partlist_get_partition(pl, best);
				int num = blkid_partition_get_partno(p);
				char where[4200];

				snprintf(where, sizeof(where), "%s partition %d", path, num);
				if (bstart + blen < bstart || bstart + blen > size || !blen) {
					vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
							 "%s: lies outside the disk: ignored", where);
					continue;
				}
				/* extended partition containers and overlaps: no free map */
				if (blkid_partition_is_extended(p) || bstart < prev_end)
					continue;
				r = p2v_area(ctx, rd, bstart, blen, where, fmap, tap, warn);
				prev_end = bstart + blen;
			}
		}
		free(done);
	}
out:
	/* xfs, LVM, ...: one libguestfs launch trims them in an overlay */
	if (r == 0 && ta.n)
		r = vsl_p2v_trim_free(ctx, rd->trim, path, size, &ta, fmap, warn);
	vsl_p2v_areas_fini(&ta);
	if (pr)
		blkid_free_probe(pr);
	return r;
}

/* ---- the filter image: free ranges read as zeroes ---- */

struct p2v_filter {
	struct vsl_image *src;
	struct vsl_p2v_extents free;
	uint64_t bytes_read;     /* from src: what the filter did not zero */
	int watch_fd;            /* src->path opened O_RDONLY to watch its size; -1 */
};

/*
 * The raw format reads a file that shrank as zeroes (right for a disk
 * being served, wrong for a copy): after each read, check that the source
 * still reaches past it, so a source that vanishes or shrinks mid-copy is
 * an error, not a silently zero-filled copy.
 */
static int p2v_filter_watch(struct vsl_image *img, uint64_t end)
{
	struct p2v_filter *f = img->priv;
	struct stat st;
	uint64_t size;

	if (f->watch_fd < 0)
		return 0;
	if (fstat(f->watch_fd, &st) < 0)
		return vsl_set_error(img->ctx, errno, VSL_EIO, "%s: vanished during the copy",
				     img->path);
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(f->watch_fd, BLKGETSIZE64, &size) < 0)
			return vsl_set_error(img->ctx, errno, VSL_EIO,
					     "%s: vanished during the copy", img->path);
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		return 0;
	}
	if (size < end)
		return vsl_set_error(img->ctx, 0, VSL_EIO, "%s: shrank to %llu bytes during the "
				     "copy (was %llu): the source vanished or changed", img->path,
				     (unsigned long long)size, (unsigned long long)img->size);
	return 0;
}

/* Index of the first free range ending after off. */
static size_t p2v_filter_find(const struct p2v_filter *f, uint64_t off)
{
	size_t lo = 0, hi = f->free.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->free.v[mid].off + f->free.v[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Free ranges are zeroed, not read: the engine reads whole windows from the
 * first data block on, and on an ssh link or a slow disk the free space
 * inside a window would cost as much as data.
 */
static int p2v_filter_read(struct vsl_image *img, uint64_t off, void *buf, size_t len)
{
	struct p2v_filter *f = img->priv;
	uint64_t p = off, end = off + len;
	size_t i = p2v_filter_find(f, off);
	int r;

	while (p < end) {
		uint64_t stop = end;

		if (i < f->free.n && f->free.v[i].off <= p) {
			stop = VSL_MIN(f->free.v[i].off + f->free.v[i].len, end);
			memset((uint8_t *)buf + (p - off), 0, stop - p);
			i++;
			p = stop;
			continue;
		}
		if (i < f->free.n && f->free.v[i].off < end)
			stop = f->free.v[i].off;
		r = vsl_image_read(f->src, p, (uint8_t *)buf + (p - off), stop - p);
		if (r < 0) {
			if (img->ctx != f->src->ctx)
				vsl_set_error(img->ctx, 0, r, "%s", vsl_ctx_error(f->src->ctx));
			return r;
		}
		f->bytes_read += stop - p;
		p = stop;
	}
	return p2v_filter_watch(img, end);
}

uint64_t vsl_p2v_filter_bytes_read(const struct vsl_image *img)
{
	const struct p2v_filter *f = img->priv;

	return f->bytes_read;
}

static int p2v_filter_status(struct vsl_image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			     int *flags)
{
	struct p2v_filter *f = img->priv;
	size_t i = p2v_filter_find(f, off);
	int r;

	if (i < f->free.n && f->free.v[i].off <= off) {
		*pnum = VSL_MIN(f->free.v[i].off + f->free.v[i].len - off, len);
		*flags = VSL_BLOCK_ZERO;
		return 0;
	}
	if (i < f->free.n && f->free.v[i].off < off + len)
		len = f->free.v[i].off - off;
	r = vsl_image_block_status(f->src, off, len, pnum, flags);
	if (r < 0 && img->ctx != f->src->ctx)
		vsl_set_error(img->ctx, 0, r, "%s", vsl_ctx_error(f->src->ctx));
	/* a truncated raw file reports its lost tail as a hole */
	if (r == 0 && !(*flags & VSL_BLOCK_DATA))
		r = p2v_filter_watch(img, off + *pnum);
	return r;
}

static const struct vsl_format_ops p2v_filter_ops = {
	.name = "p2v-filter",
	.description = "source disk with free filesystem blocks reading as zeroes",
	.read = p2v_filter_read,
	.block_status = p2v_filter_status,
};

int vsl_p2v_filter_open(struct vsl_image *src, const struct vsl_p2v_extents *fmap,
			struct vsl_image **out)
{
	struct vsl_image *img = vsl_calloc(1, sizeof(*img));
	struct p2v_filter *f = vsl_calloc(1, sizeof(*f));

	if (f)
		f->watch_fd = -1;
	if (!img || !f)
		goto nomem;
	f->src = src;
	/* formats other than raw keep their own size in metadata: only raw is watched */
	f->watch_fd = src->path && src->ops == &vsl_format_raw ?
		open(src->path, O_RDONLY | O_CLOEXEC) : -1;
	if (fmap && fmap->n) {
		f->free.v = vsl_reallocarray(NULL, fmap->n, sizeof(*fmap->v));
		if (!f->free.v)
			goto nomem;
		memcpy(f->free.v, fmap->v, fmap->n * sizeof(*fmap->v));
		f->free.n = f->free.cap = fmap->n;
	}
	img->path = strdup(src->path ? src->path : "p2v source"); /* messages name it */
	if (!img->path)
		goto nomem;
	img->ops = &p2v_filter_ops;
	img->ctx = src->ctx;
	img->size = src->size;
	img->flags = VSL_IMAGE_RDONLY;
	img->priv = f;
	*out = img;
	return 0;
nomem:
	if (f && f->watch_fd >= 0)
		close(f->watch_fd);
	if (f)
		free(f->free.v);
	if (img)
		free(img->path);
	free(img);
	free(f);
	return vsl_set_error(src->ctx, 0, VSL_ENOMEM, "out of memory");
}

void vsl_p2v_filter_close(struct vsl_image *img)
{
	struct p2v_filter *f;

	if (!img)
		return;
	f = img->priv;
	if (f->watch_fd >= 0)
		close(f->watch_fd);
	vsl_p2v_extents_fini(&f->free);
	free(f);
	free(img->path);
	free(img);
}

/* ---- the whole conversion ---- */

static int p2v_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static void p2v_rmtree(const char *dir)
{
	nftw(dir, p2v_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Remove the staging directories OUT.p2v-PID beside out that runs killed
 * before they could clean up (SIGKILL, power loss) left behind: those whose
 * process is gone. A live process's directory is left alone.
 */
static void p2v_remove_stale(struct vsl_ctx *ctx, const char *out)
{
	const char *slash = strrchr(out, '/');
	const char *base = slash ? slash + 1 : out;
	char *dir = slash ? vsl_strdup_printf("%.*s", (int)(slash - out) + (slash == out), out) :
			   vsl_strdup_printf(".");
	size_t blen = strlen(base);
	struct dirent *de;
	DIR *d;

	if (!dir)
		return;
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		const char *tail = de->d_name + blen;
		char *path;
		long pid;

		if (strncmp(de->d_name, base, blen) || strncmp(tail, ".p2v-", 5) || !tail[5] ||
		    strspn(tail + 5, "0123456789") != strlen(tail + 5))
			continue;
		pid = strtol(tail + 5, NULL, 10);
		if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		path = vsl_strdup_printf("%s/%s", dir, de->d_name);
		if (!path)
			break;
		p2v_rmtree(path);
		vsl_warn(ctx, "removed %s, the staging directory of a p2v run that was killed (pid %ld)",
			 path, pid);
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* Bundle name from "path/to/NAME.vessel": [A-Za-z0-9][A-Za-z0-9._-]*. */
static char *p2v_default_name(const char *out)
{
	const char *b = strrchr(out, '/');
	char *n;
	size_t len, j = 0;

	b = b ? b + 1 : out;
	len = strlen(b);
	if (len > 7 && !strcmp(b + len - 7, ".vessel"))
		len -= 7;
	if (len > VSL_BUNDLE_NAME_MAX)
		len = VSL_BUNDLE_NAME_MAX;
	n = malloc(len + 2);
	if (!n)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = b[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && !(j && (c == '.' || c == '_' || c == '-')))
			c = j ? '-' : 0;
		if (c)
			n[j++] = c;
	}
	if (!j)
		n[j++] = 'p', n[j++] = '2';
	n[j] = 0;
	return n;
}

static bool p2v_is_blockdev(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

/* The engine's progress, passed on; done is the end of the last window written. */
struct p2v_track {
	const struct vsl_progress *up;
	uint64_t done;
};

static void p2v_track_fn(void *opaque, const char *what, uint64_t done, uint64_t total)
{
	struct p2v_track *t = opaque;

	t->done = done;
	vsl_progress_report(t->up, what, done, total);
}

/*
 * Copy one source (ssh: its session, else NULL) into dir/disks/diskI.FMT.
 * resume > 0: dst_path holds [0, resume) from an interrupted run; only the
 * rest is copied. *done: bytes [0, *done) are in dst_path (also on failure).
 */
static int p2v_copy_disk(struct vsl_ctx *ctx, const char *src, struct vsl_p2v_ssh *ssh,
			 const char *dst_path, uint64_t resume, uint64_t *done,
			 const struct vsl_p2v_opts *o, struct vsl_p2v_trim *trim,
			 struct vsl_problems *warn, struct vsl_p2v_stats *stats)
{
	struct vsl_ctx *sctx = vsl_ctx_new(); /* read on the engine's helper thread */
	struct vsl_image *in = NULL, *filt = NULL, *out = NULL;
	struct vsl_p2v_extents fmap = { 0 };
	struct vsl_convert_stats cst = { 0 };
	struct p2v_track track = { .up = o->progress, .done = resume };
	struct vsl_progress tprog = { .fn = p2v_track_fn, .opaque = &track };
	bool dev = !ssh && p2v_is_blockdev(src);
	int r;

	*done = resume;
	if (!sctx)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	/* a physical disk is raw whatever its first bytes look like */
	if (ssh)
		r = vsl_p2v_ssh_image(sctx, ssh, resume, &in);
	else
		r = vsl_image_open(sctx, src, dev ? "raw" : NULL, VSL_IMAGE_RDONLY, &in);
	if (r < 0) {
		vsl_set_error(ctx, 0, r, "%s", vsl_ctx_error(sctx));
		goto out;
	}
	if (!in->size) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: empty disk", src);
		goto out;
	}
	if (dev) {
		/*
		 * The kernel says whether a block device is in use: a read-only
		 * exclusive open fails with EBUSY while it (or a partition of it)
		 * is mounted, swapped on or held by device-mapper/LVM/MD.
		 */
		int fd = open(src, O_RDONLY | O_EXCL | O_CLOEXEC);

		if (fd >= 0)
			close(fd);
		else if (errno == EBUSY)
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "%s is in use (mounted, swap or held by LVM/RAID): the "
					 "copy may be inconsistent; boot from rescue media for a "
					 "consistent one", src);
	}
	if (ssh && vsl_p2v_ssh_in_use(ssh))
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s is in use on its machine (mounted, swap or held by "
				 "LVM/RAID): the copy may be inconsistent; boot that machine from "
				 "rescue media for a consistent one", src);
	if (!o->copy_free) {
		if (ssh)
			r = vsl_p2v_ssh_free_map(ctx, ssh, &fmap, warn);
		else if (in->ops == &vsl_format_raw)
			r = p2v_free_map_local(ctx, src, in->size, trim, &fmap, warn);
		else
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "%s: %s image: free filesystem blocks are not looked for "
					 "yet (unallocated and zero blocks are skipped)", src,
					 in->ops->name);
		if (r < 0)
			goto out;
	}
	r = vsl_p2v_filter_open(in, &fmap, &filt);
	if (r < 0) {
		vsl_set_error(ctx, 0, r, "%s", vsl_ctx_error(sctx));
		goto out;
	}
	if (resume) {
		char a[32], b[32];

		r = vsl_image_open(ctx, dst_path, o->format ? o->format : "qcow2", VSL_IMAGE_RDWR,
				   &out);
		if (r == 0 && out->size != in->size)
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: the partial copy is %llu bytes, "
					  "the source %llu", dst_path, (unsigned long long)out->size,
					  (unsigned long long)in->size);
		if (r < 0)
			goto out;
		vsl_warn(ctx, "%s: resuming at %s of %s", src, vsl_format_size(resume, a, sizeof(a)),
			 vsl_format_size(in->size, b, sizeof(b)));
	} else {
		r = vsl_image_create(ctx, dst_path, o->format ? o->format : "qcow2", in->size,
				     NULL, &out);
		if (r < 0)
			goto out;
	}
	/* the whole bundle is discarded on failure; a kept partial copy is flushed below */
	out->flags |= VSL_IMAGE_UNSAFE;
	vsl_ctx_clear(sctx);
	r = vsl_convert_copy(filt, out, &tprog, &cst);
	*done = track.done;
	if (r < 0) {
		/* the source's errors (a read, a lost ssh link) are in its own context */
		if (vsl_ctx_error(sctx)[0])
			vsl_set_error(ctx, 0, r, "%s", vsl_ctx_error(sctx));
		if (strncmp(vsl_ctx_error(ctx), src, strlen(src))) /* not named yet */
			vsl_error_prefix(ctx, "copying %s", src);
		goto out;
	}
	stats->disk_bytes += in->size;
	stats->resumed_bytes += resume;
	for (size_t i = 0; i < fmap.n; i++)
		stats->free_bytes += fmap.v[i].len;
	stats->bytes_read += vsl_p2v_filter_bytes_read(filt);
	stats->bytes_written += cst.bytes_written;
out:
	if (out) {
		int r2 = vsl_image_flush(out);

		if (r == 0 && r2 < 0)
			r = r2;
		vsl_image_close(out);
	}
	vsl_p2v_filter_close(filt);
	vsl_image_close(in);
	vsl_p2v_extents_fini(&fmap);
	vsl_ctx_free(sctx);
	return r;
}

static int p2v_config(struct vsl_ctx *ctx, struct vsl_bundle_config *cfg, const char *out,
		      const char *const *sources, size_t n, const struct vsl_p2v_opts *o,
		      const char *fmt, struct vsl_problems *warn)
{
	struct vsl_p2v_facts facts = { 0 };
	bool any_dev = false;
	int r;

	for (size_t i = 0; i < n; i++)
		any_dev |= p2v_is_blockdev(sources[i]) || vsl_p2v_ssh_is_url(sources[i]);
	if (any_dev) {
		r = vsl_p2v_facts_read(ctx, o->facts_root, &facts);
		if (r < 0)
			return r;
	}
	cfg->name = o->name ? strdup(o->name) : p2v_default_name(out);
	cfg->arch = strdup("x86_64");
	cfg->cpus = o->cpus ? o->cpus : facts.cpus ? VSL_MIN(facts.cpus, VSL_BUNDLE_CPUS_MAX) : 1;
	cfg->memory = o->memory ? o->memory : facts.memory ? facts.memory : (1ull << 30);
	cfg->memory &= ~((1ull << 20) - 1); /* whole MiB: "24105M", not "24684100K" */
	cfg->memory = VSL_MAX(cfg->memory, VSL_BUNDLE_MEM_MIN);
	cfg->memory = VSL_MIN(cfg->memory, VSL_BUNDLE_MEM_MAX);
	if (!cfg->name || !cfg->arch)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct vsl_bundle_disk *d = vsl_bundle_config_add_disk(cfg);
		struct vsl_bundle_source *s = vsl_bundle_config_add_source(cfg);

		if (!d || !s)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		d->name = vsl_strdup_printf("disk%zu", i);
		d->file = vsl_strdup_printf("disks/disk%zu.%s", i, fmt);
		d->format = strdup(fmt);
		s->uri = strdup(sources[i]);
		if (!d->name || !d->file || !d->format || !s->uri)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	cfg->boot.kind = VSL_BOOT_FIRMWARE;
	cfg->boot.firmware = VSL_FIRMWARE_BIOS;
	cfg->boot.disk = strdup("disk0");
	cfg->provenance.vessel_version = strdup(vsl_version());
	if (!cfg->boot.disk || !cfg->provenance.vessel_version)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	for (unsigned i = 0; i < facts.nnics; i++) {
		struct vsl_bundle_nic *nic = vsl_bundle_config_add_nic(cfg);

		if (!nic)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		nic->has_mac = !o->no_macs;
		memcpy(nic->mac, facts.nics[i].mac, 6);
	}
	if (!facts.nnics && !vsl_bundle_config_add_nic(cfg))
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	if (any_dev && facts.nnics)
		vsl_info(ctx, "%u network cards recorded%s", facts.nnics,
			 o->no_macs ? " (without their MACs)" : " with their MACs");
	(void)warn;
	return 0;
}

/* One inspection answer into a guest field: kept only when usable and known. */
static int p2v_guest_field(char **dst, const char *val)
{
	if (!val || !vsl_bundle_guest_str_ok(val) || !strcmp(val, "unknown"))
		return 0;
	*dst = strdup(val);
	return *dst ? 0 : VSL_ENOMEM;
}

/* Record what the inspection found as vessel.yaml "guest:" (shown by inspect). */
static int p2v_guest_record(struct vsl_ctx *ctx, struct vsl_bundle_config *cfg,
			    const struct vsl_p2v_guest *gst)
{
	char version[32];
	int r = 0;

	if (!gst->found)
		return 0;
	version[0] = '\0';
	if (gst->major > 0 || gst->minor > 0)
		snprintf(version, sizeof(version), "%d.%d", gst->major, gst->minor);
	if (p2v_guest_field(&cfg->guest.os, gst->type) < 0 ||
	    p2v_guest_field(&cfg->guest.distro, gst->distro) < 0 ||
	    (version[0] && p2v_guest_field(&cfg->guest.version, version) < 0) ||
	    /* libguestfs answers Debian's product with /etc/debian_version: no news */
	    (strcmp(gst->product, version) && p2v_guest_field(&cfg->guest.product, gst->product) < 0))
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	return r;
}

/* Fix the guest on the bundle's copies; boot its kernel directly when one was found. */
static int p2v_fixup(struct vsl_ctx *ctx, const char *stage, struct vsl_bundle_config *cfg,
		     const char *fmt, struct vsl_problems *warn, struct vsl_p2v_guest *gst)
{
	const char *disks[VSL_P2V_MAX_SOURCES];
	char *paths[VSL_P2V_MAX_SOURCES] = { 0 }, *bootdir;
	int r = 0;

	bootdir = vsl_strdup_printf("%s/boot", stage);
	for (size_t i = 0; i < cfg->ndisks && bootdir; i++) {
		paths[i] = vsl_strdup_printf("%s/%s", stage, cfg->disks[i].file);
		disks[i] = paths[i];
		if (!paths[i])
			r = VSL_ENOMEM;
	}
	if (!bootdir || r < 0)
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	if (r == 0) {
		vsl_info(ctx, "fixing up the copy to boot as a VM with libguestfs (one appliance "
			 "launch, 15-60 s)");
		r = vsl_p2v_fixup(ctx, disks, cfg->ndisks, fmt, bootdir, gst, warn);
	}
	if (r < 0)
		vsl_error_prefix(ctx, "guest fix-ups");
	for (size_t i = 0; i < cfg->ndisks; i++)
		free(paths[i]);
	free(bootdir);
	if (r == 0)
		r = p2v_guest_record(ctx, cfg, gst);
	if (r < 0 || !gst->kernel_version[0] || !gst->root_uuid[0])
		return r;
	free(cfg->boot.disk);
	cfg->boot.disk = NULL;
	cfg->boot.kind = VSL_BOOT_KERNEL;
	cfg->boot.kernel = strdup("boot/vmlinuz");
	cfg->boot.initrd = strdup("boot/initrd.img");
	cfg->boot.cmdline = vsl_strdup_printf("root=UUID=%s ro console=ttyS0,115200",
					      gst->root_uuid);
	if (!cfg->boot.kernel || !cfg->boot.initrd || !cfg->boot.cmdline)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	return 0;
}

int vsl_p2v(struct vsl_ctx *ctx, const char *const *sources, size_t n, const char *out,
	    const struct vsl_p2v_opts *o, struct vsl_problems *warn, struct vsl_p2v_stats *stats)
{
	static const struct vsl_p2v_opts defaults = { 0 };
	struct vsl_p2v_stats st = { 0 };
	struct vsl_bundle_config cfg;
	struct vsl_p2v_ssh *ssh[VSL_P2V_MAX_SOURCES] = { 0 };
	struct vsl_p2v_journal *jr = NULL;  /* resumed: the interrupted run's journal */
	struct vsl_p2v_trim *trim = NULL;   /* one appliance for xfs/LVM of all local disks */
	const char *local[VSL_P2V_MAX_SOURCES];
	size_t nlocal = 0;
	struct vsl_p2v_opts o2;
	const char *fmt;
	char *stage = NULL, *facts = NULL;
	bool kept = false;
	struct stat sb;
	int r;

	if (!o)
		o = &defaults;
	fmt = o->format ? o->format : "qcow2";
	if (!n)
		return vsl_set_error(ctx, 0, VSL_EINVAL, "no source disk");
	if (n > VSL_P2V_MAX_SOURCES)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%zu source disks (at most %d)", n,
				     VSL_P2V_MAX_SOURCES);
	if (!vsl_format_find(fmt))
		return vsl_set_error(ctx, 0, VSL_ENOTSUP, "unknown disk format '%s'", fmt);
	for (size_t i = 0; i < n; i++) {
		if (vsl_p2v_ssh_is_url(sources[i]))
			continue; /* connected below */
		if (stat(sources[i], &sb) < 0)
			return vsl_set_error(ctx, errno, VSL_ENOENT, "%s", sources[i]);
	}
	if (lstat(out, &sb) == 0)
		return vsl_set_error(ctx, 0, VSL_EEXIST, "%s already exists", out);
	vsl_bundle_config_init(&cfg);
	/* ssh sources: connect first (auth, reachability, the remote disk) */
	for (size_t i = 0; i < n; i++) {
		if (!vsl_p2v_ssh_is_url(sources[i]))
			continue;
		r = vsl_p2v_ssh_open(ctx, sources[i], o, &ssh[i]);
		if (r < 0)
			goto out;
		if (!facts && !o->facts_root) {
			/* the machine's facts are the remote's: its /proc and /sys, laid out here */
			facts = vsl_strdup_printf("%s/vessel-p2v-facts-XXXXXX",
						  getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
			if (!facts || !mkdtemp(facts)) {
				r = vsl_set_error(ctx, errno, VSL_EIO, "temporary directory");
				free(facts);
				facts = NULL;
				goto out;
			}
			r = vsl_p2v_ssh_facts_dir(ctx, ssh[i], facts);
			if (r < 0)
				goto out;
			o2 = *o;
			o2.facts_root = facts;
			o = &o2;
		}
	}
	stage = vsl_strdup_printf("%s.p2v-%ld", out, (long)getpid());
	if (!stage) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	p2v_rmtree(stage); /* left over by a killed run of the same pid */
	p2v_remove_stale(ctx, out);
	/* a copy interrupted by a lost ssh transport is resumed (builder/p2v_resume.c) */
	r = vsl_p2v_resume_claim(ctx, out, stage, fmt, sources, n, ssh, &jr);
	if (r == 0 && !jr)
		r = vsl_bundle_create(ctx, stage);
	if (r < 0) {
		free(stage);
		stage = NULL;
		goto out;
	}
	r = p2v_config(ctx, &cfg, out, sources, n, o, fmt, warn);
	for (size_t i = 0; i < n && !o->copy_free; i++)
		if (!ssh[i])
			local[nlocal++] = sources[i];
	trim = nlocal ? vsl_p2v_trim_new(local, nlocal) : NULL; /* NULL: a launch per disk */
	for (size_t i = 0; i < n && r == 0; i++) {
		char *dst = vsl_strdup_printf("%s/%s", stage, cfg.disks[i].file);
		uint64_t done = 0;

		if (!dst) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			break;
		}
		if (jr && jr->disks[i].complete) {
			st.disk_bytes += jr->disks[i].size;
			st.resumed_bytes += jr->disks[i].size;
		} else {
			r = p2v_copy_disk(ctx, sources[i], ssh[i], dst, jr ? jr->disks[i].done : 0,
					  &done, o, trim, warn, &st);
		}
		free(dst);
		if (r < 0 && ssh[i] && vsl_p2v_ssh_lost(ssh[i]))
			kept = vsl_p2v_resume_keep(ctx, out, stage, fmt, sources, n, ssh, i,
						   done) == 0;
	}
	vsl_p2v_trim_destroy(trim);
	for (size_t i = 0; i < n; i++)
		st.ssh_bytes += ssh[i] ? vsl_p2v_ssh_bytes(ssh[i]) : 0;
	if (r == 0 && !o->no_fixup)
		r = p2v_fixup(ctx, stage, &cfg, fmt, warn, &st.guest);
	if (r == 0)
		r = vsl_bundle_write_config(ctx, stage, &cfg);
	if (r == 0)
		r = vsl_bundle_write_manifest(ctx, stage);
	if (r == 0 && rename(stage, out) < 0)
		r = vsl_set_error(ctx, errno, VSL_EIO, "rename %s to %s", stage, out);
out:
	if (r < 0 && stage && !kept)
		p2v_rmtree(stage);
	if (facts)
		p2v_rmtree(facts);
	free(facts);
	for (size_t i = 0; i < n && i < VSL_P2V_MAX_SOURCES; i++)
		vsl_p2v_ssh_close(ssh[i]);
	free(jr);
	free(stage);
	vsl_bundle_config_free(&cfg);
	if (stats)
		*stats = st;
	return r;
}
