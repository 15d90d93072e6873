/*
 * Free space of xfs filesystems and LVM physical volumes on ssh:// sources,
 * asked of the remote machine's own tools (a machine that uses xfs has
 * xfsprogs, one that uses LVM has lvm2), always read-only:
 *
 *	xfs:  xfs_db -r -c "sb 0" -c "p blocksize agblocks agcount dblocks"
 *	             -c "freesp -d" DEV      free extents per AG (agno agbno len)
 *	      xfs_logprint -t DEV            "state: <CLEAN>" or not
 *	LVM:  lvm pvs --readonly ... DEV     pe_start, extent size, extent count
 *	      lvm lvs --readonly -a ... VG   each segment's type and "PV(first)"
 *
 * (the requests are in builder/p2v_ssh.c). DEV is the disk itself for a
 * whole-disk filesystem or PV, else the partition whose start and size in
 * the remote's /sys/class/block match the area. PV extents no LV segment
 * uses are free. Each LV whose segments are all linear on this PV is read
 * through those segments: ext2/3/4 with libext2fs (vsl_p2v_ext_free on a
 * reader with segments), xfs with xfs_db on the LV's device when the LV is
 * active on the remote (nothing is ever activated there). Hidden LVs (RAID
 * images, thin pool data) are never read as filesystems: a RAID5 image may
 * begin with a superblock whose bitmaps describe striped data. Anything
 * else, a missing or failing tool, a dirty xfs log (the on-disk free-space
 * btrees may predate allocations only in the log) or output that does not
 * parse, is copied whole with a warning: being wrong here would lose data, being
 * cautious only costs bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/p2v.h"

/*
 * Extents of a PV that are mapped (one byte each): 2^26 is 256 TiB of 4 MiB
 * extents; a bigger PV, or a bogus count, is copied whole.
 */
#define P2V_REMOTE_MAX_PE (1ull << 26)

/* ---- parsing ---- */

/* The next line of *p (NUL-terminated copy in buf, truncated), or NULL at the end. */
static const char *remote_line(const char **p, char *buf, size_t len)
{
	const char *s = *p, *nl;
	size_t n;

	if (!s || !*s)
		return NULL;
	nl = strchr(s, '\n');
	n = nl ? (size_t)(nl - s) : strlen(s);
	*p = nl ? nl + 1 : s + n;
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = 0;
	return buf;
}

/* "rc=N" line: 0 when it is one (N in *rc). */
static int remote_rc(const char *line, int *rc)
{
	char tail;

	return sscanf(line, "rc=%d%c", rc, &tail) == 1 ? 0 : -1;
}

/* The error for a tool's exit status (127: not installed). */
static int remote_tool_failed(struct vsl_ctx *ctx, const char *tool, int rc)
{
	if (rc == 127)
		return vsl_set_error(ctx, 0, VSL_ENOENT, "%s not found on the remote", tool);
	return vsl_set_error(ctx, 0, VSL_EIO, "%s failed on the remote (exit status %d)", tool, rc);
}

static int remote_cmp_ext(const void *a, const void *b)
{
	const struct vsl_p2v_extent *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

void vsl_p2v_xfs_fini(struct vsl_p2v_xfs *x)
{
	vsl_p2v_extents_fini(&x->free);
}

int vsl_p2v_xfs_parse(struct vsl_ctx *ctx, const char *text, struct vsl_p2v_xfs *x)
{
	const char *p = text;
	char line[256];
	struct vsl_p2v_extent *v = NULL;
	size_t n = 0, cap = 0;
	unsigned lineno = 0;
	bool table = false, have_rc = false, clean = false;
	int rc = -1, r = 0;

	*x = (struct vsl_p2v_xfs){ 0 };
	while (r == 0 && remote_line(&p, line, sizeof(line))) {
		unsigned long long a, b, c;
		char key[32], tail;

		lineno++;
		if (have_rc) {
			if (strstr(line, "state:")) {
				clean = strstr(line, "<CLEAN>") != NULL;
				x->log_known = true;
			}
			continue;
		}
		if (remote_rc(line, &rc) == 0) {
			have_rc = true;
			continue;
		}
		if (sscanf(line, " %31s = %llu%c", key, &a, &tail) == 2) {
			if (table || n) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "xfs_db output line %u: "
						  "geometry after the free extents", lineno);
				break;
			}
			if (!strcmp(key, "blocksize"))
				x->blocksize = a;
			else if (!strcmp(key, "agblocks"))
				x->agblocks = a;
			else if (!strcmp(key, "agcount"))
				x->agcount = a;
			else if (!strcmp(key, "dblocks"))
				x->dblocks = a;
			continue;
		}
		if (strstr(line, "agno") && strstr(line, "agbno")) {
			table = true;
			continue;
		}
		if (strstr(line, "from") && strstr(line, "extents")) {
			table = false; /* the histogram that follows the extents */
			continue;
		}
		if (!table)
			continue;
		if (sscanf(line, " %llu %llu %llu %c", &a, &b, &c, &tail) != 3) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "xfs_db output line %u: expected "
					  "\"agno agbno len\", got \"%.80s\"", lineno, line);
			break;
		}
		if (!x->blocksize || !x->agblocks || !x->dblocks) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "xfs_db output line %u: free "
					  "extents before the superblock's geometry", lineno);
			break;
		}
		/* xfs keeps agcount and agblocks in 32 bits: a * agblocks cannot wrap */
		if (x->agcount > UINT32_MAX || x->agblocks > UINT32_MAX || a >= x->agcount ||
		    b >= x->agblocks || !c || c > x->agblocks - b ||
		    a * x->agblocks + b + c > x->dblocks) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "xfs_db output line %u: free extent "
					  "%llu/%llu+%llu outside the filesystem (%llu AGs of %llu "
					  "blocks, %llu blocks)", lineno, a, b, c,
					  (unsigned long long)x->agcount,
					  (unsigned long long)x->agblocks,
					  (unsigned long long)x->dblocks);
			break;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			void *nv = realloc(v, nc * sizeof(*v));

			if (!nv) {
				r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
				break;
			}
			v = nv;
			cap = nc;
		}
		v[n].off = a * x->agblocks + b; /* in blocks until the geometry is checked */
		v[n].len = c;
		n++;
	}
	if (r == 0 && !have_rc)
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "xfs_db output cut short (no exit status)");
	else if (r == 0 && rc != 0)
		r = remote_tool_failed(ctx, "xfs_db", rc);
	else if (r == 0 && (x->blocksize < 512 || x->blocksize > 65536 ||
			    (x->blocksize & (x->blocksize - 1)) || !x->agblocks || !x->agcount ||
			    !x->dblocks || x->dblocks > (UINT64_MAX >> 17)))
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "xfs_db gave no usable geometry (blocksize "
				  "%llu, agblocks %llu, agcount %llu, dblocks %llu)",
				  (unsigned long long)x->blocksize, (unsigned long long)x->agblocks,
				  (unsigned long long)x->agcount, (unsigned long long)x->dblocks);
	x->dirty = !clean;
	if (r == 0 && n)
		qsort(v, n, sizeof(*v), remote_cmp_ext);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (x->free.n) {
			struct vsl_p2v_extent *last = &x->free.v[x->free.n - 1];

			if (v[i].off * x->blocksize < last->off + last->len) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "xfs_db lists overlapping "
						  "free extents (at block %llu)",
						  (unsigned long long)v[i].off);
				break;
			}
		}
		r = vsl_p2v_extents_add(ctx, &x->free, v[i].off * x->blocksize,
					v[i].len * x->blocksize);
	}
	free(v);
	return r;
}

void vsl_p2v_lvm_fini(struct vsl_p2v_lvm *l)
{
	for (size_t i = 0; i < l->nlv; i++)
		free(l->lv[i].segs);
	free(l->lv);
	free(l->used);
	*l = (struct vsl_p2v_lvm){ 0 };
}

/* Split line at sep into at most max fields (in place); returns the count. */
static size_t remote_split(char *line, char sep, char **f, size_t max)
{
	size_t n = 0;
	char *s = line;

	while (*s == ' ' || *s == '\t')
		s++;
	while (n < max) {
		char *e = strchr(s, sep);

		f[n++] = s;
		if (!e)
			break;
		*e = 0;
		s = e + 1;
	}
	return n;
}

static int remote_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (!*s || *s == '-' || *s == ' ')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = x;
	return 0;
}

static struct vsl_p2v_lvm_lv *remote_lv(struct vsl_p2v_lvm *l, const char *name)
{
	struct vsl_p2v_lvm_lv *nv;

	for (size_t i = 0; i < l->nlv; i++)
		if (!strcmp(l->lv[i].name, name))
			return &l->lv[i];
	if (l->nlv >= 65536)
		return NULL;
	nv = realloc(l->lv, (l->nlv + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	l->lv = nv;
	nv = &l->lv[l->nlv++];
	*nv = (struct vsl_p2v_lvm_lv){ .simple = true };
	snprintf(nv->name, sizeof(nv->name), "%s", name);
	return nv;
}

/* One lvs line: "lv:vg:segtype:start_pe:size_pe:devices:path:active". */
static int remote_lvs_line(struct vsl_ctx *ctx, struct vsl_p2v_lvm *l, char *line,
			   unsigned lineno)
{
	char *f[9], *dv;
	uint64_t start, size;
	struct vsl_p2v_lvm_lv *lv;
	size_t nf = remote_split(line, ':', f, 9), ndev = 0;
	bool on_us = false, linear;

	if (nf != 8 || remote_u64(f[3], &start) || remote_u64(f[4], &size) || !f[0][0] ||
	    start > UINT32_MAX || size > UINT32_MAX)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "lvm lvs output line %u: expected "
				     "\"lv:vg:segtype:start:size:devices:path:active\"", lineno);
	lv = remote_lv(l, f[0]);
	if (!lv)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory (LVs)");
	snprintf(lv->path, sizeof(lv->path), "%s", f[6]);
	lv->active = !strcmp(f[7], "active");
	linear = !strcmp(f[2], "linear");
	/* devices: "PV(first)" entries, comma separated; hidden LVs look like "[x](0)" */
	dv = f[5];
	while (*dv) {
		char *comma = strchr(dv, ','), *paren;
		uint64_t first;

		if (comma)
			*comma = 0;
		paren = strrchr(dv, '(');
		ndev++;
		if (paren && paren[strlen(paren) - 1] == ')') {
			paren[strlen(paren) - 1] = 0;
			*paren = 0;
			if (!strcmp(dv, l->pv) && remote_u64(paren + 1, &first) == 0) {
				/* mark conservatively: a stripe uses less, never more */
				for (uint64_t e = first; e < l->pe_count && e - first < size; e++)
					l->used[e] = 1;
				on_us = true;
				lv->here = true;
				if (linear && first + size <= l->pe_count) {
					struct vsl_p2v_seg *ns = realloc(lv->segs, (lv->nsegs + 1) *
									 sizeof(*ns));

					if (!ns)
						return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
					lv->segs = ns;
					ns[lv->nsegs++] = (struct vsl_p2v_seg){
						.loff = start * l->extent,
						.doff = l->pe_start + first * l->extent,
						.len = size * l->extent };
					if (comma)
						dv = comma + 1;
					else
						dv += strlen(dv);
					continue;
				}
			}
		}
		lv->simple = false;
		if (!comma)
			break;
		dv = comma + 1;
	}
	if (!linear || ndev != 1 || !on_us)
		lv->simple = false;
	if (!linear)
		lv->nonlinear = true;
	/* hidden LVs (RAID images, thin pool data, ...) are parts of others: never read as a filesystem */
	if (f[0][0] == '[')
		lv->simple = false;
	return 0;
}

static int remote_cmp_seg(const void *a, const void *b)
{
	const struct vsl_p2v_seg *x = a, *y = b;

	return x->loff < y->loff ? -1 : x->loff > y->loff;
}

int vsl_p2v_lvm_parse(struct vsl_ctx *ctx, const char *text, struct vsl_p2v_lvm *l)
{
	const char *p = text;
	char line[1024];
	unsigned lineno = 0;
	int section = 0, rc, r = 0; /* 1: pvs, 2: lvs */
	bool have_pv = false, pvs_done = false, lvs_done = false;

	*l = (struct vsl_p2v_lvm){ 0 };
	while (r == 0 && remote_line(&p, line, sizeof(line))) {
		lineno++;
		if (!strcmp(line, "pvs")) {
			section = 1;
			continue;
		}
		if (!strcmp(line, "lvs")) {
			section = 2;
			continue;
		}
		if (remote_rc(line, &rc) == 0) {
			if (rc != 0)
				r = remote_tool_failed(ctx, "lvm", rc);
			if (section == 1)
				pvs_done = true;
			else if (section == 2)
				lvs_done = true;
			section = 0;
			continue;
		}
		if (section == 1 && !have_pv) {
			char *f[6];
			size_t nf = remote_split(line, ':', f, 6);

			if (nf != 5 || remote_u64(f[2], &l->pe_start) ||
			    remote_u64(f[3], &l->extent) || remote_u64(f[4], &l->pe_count) ||
			    !f[0][0] || l->extent < 512 || l->extent > (1ull << 40) ||
			    l->pe_count > P2V_REMOTE_MAX_PE || l->pe_start > (1ull << 40)) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "lvm pvs output line %u: "
						  "expected \"pv:vg:pe_start:extent_size:pe_count\"",
						  lineno);
				break;
			}
			snprintf(l->pv, sizeof(l->pv), "%s", f[0]);
			snprintf(l->vg, sizeof(l->vg), "%s", f[1]);
			have_pv = true;
			l->used = calloc((size_t)l->pe_count + 1, 1);
			if (!l->used)
				r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		} else if (section == 2) {
			if (!have_pv) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "lvm output line %u: LVs "
						  "before the PV", lineno);
				break;
			}
			r = remote_lvs_line(ctx, l, line, lineno);
		} else if (line[0]) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "lvm output line %u: unexpected "
					  "\"%.80s\"", lineno, line);
		}
	}
	if (r == 0 && (!pvs_done || !lvs_done))
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "lvm output cut short");
	else if (r == 0 && !have_pv)
		r = vsl_set_error(ctx, 0, VSL_EIO, "lvm does not know the physical volume");
	else if (r == 0 && !l->vg[0])
		r = vsl_set_error(ctx, 0, VSL_EIO, "the physical volume %s is in no volume group",
				  l->pv);
	/* each simple LV's segments must cover it from 0 without gaps */
	for (size_t i = 0; r == 0 && i < l->nlv; i++) {
		struct vsl_p2v_lvm_lv *lv = &l->lv[i];
		uint64_t at = 0;

		if (!lv->simple)
			continue;
		qsort(lv->segs, lv->nsegs, sizeof(*lv->segs), remote_cmp_seg);
		for (size_t k = 0; k < lv->nsegs; k++) {
			if (lv->segs[k].loff != at)
				lv->simple = false;
			at = lv->segs[k].loff + lv->segs[k].len;
		}
		if (!lv->nsegs)
			lv->simple = false;
	}
	return r;
}

/* ---- the free map ---- */

/* Disk ranges found free so far, in any order. */
struct remote_acc {
	struct vsl_p2v_extent *v;
	size_t n, cap;
};

static int remote_push(struct vsl_ctx *ctx, struct remote_acc *a, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 256;
		void *nv = realloc(a->v, nc * sizeof(*a->v));

		if (!nv)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		a->v = nv;
		a->cap = nc;
	}
	a->v[a->n++] = (struct vsl_p2v_extent){ off, len };
	return 0;
}

/* Push the LV-relative ranges of in, mapped through segs (disk offsets), onto a. */
static int remote_push_mapped(struct vsl_ctx *ctx, struct remote_acc *a,
			      const struct vsl_p2v_seg *segs, size_t nsegs,
			      const struct vsl_p2v_extents *in)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < in->n; i++) {
		uint64_t o = in->v[i].off, e = o + in->v[i].len;

		for (size_t k = 0; r == 0 && k < nsegs; k++) {
			uint64_t s0 = segs[k].loff, s1 = s0 + segs[k].len;
			uint64_t lo = VSL_MAX(o, s0), hi = VSL_MIN(e, s1);

			if (lo < hi)
				r = remote_push(ctx, a, segs[k].doff + (lo - s0), hi - lo);
		}
	}
	return r;
}

/* The remote's device for [off, off+len) of the disk, into dev; false: none found. */
static int remote_dev(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd, uint64_t off,
		      uint64_t len, char *dev, size_t dlen, bool *found)
{
	char *text = NULL, line[256];
	const char *p;
	int r;

	*found = false;
	if (off == 0 && len == rd->size) {
		snprintf(dev, dlen, "%s", vsl_p2v_ssh_path(rd->ssh));
		*found = true;
		return 0;
	}
	r = vsl_p2v_ssh_query(ctx, rd->ssh, VSL_P2V_SSH_PARTS, NULL, &text);
	if (r < 0)
		return r;
	p = text;
	while (remote_line(&p, line, sizeof(line))) {
		char name[128], tail;
		unsigned long long st, sz;

		if (sscanf(line, "%127s %llu %llu%c", name, &st, &sz, &tail) != 3 ||
		    strchr(name, '/') || name[0] == '.')
			continue;
		if (st * 512 == off && sz * 512 == len) {
			snprintf(dev, dlen, "/dev/%s", name);
			*found = true;
			break;
		}
	}
	free(text);
	return 0;
}

/*
 * xfs on the remote's dev: its free ranges relative to the filesystem's
 * start into *x; *ok false (with a warning) when it is to be copied whole.
 */
static int remote_xfs(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd, const char *dev,
		      uint64_t len, const char *where, struct vsl_p2v_xfs *x, bool *ok,
		      struct vsl_problems *warn)
{
	char *text = NULL;
	uint64_t nfree = 0;
	int r;

	*ok = false;
	*x = (struct vsl_p2v_xfs){ 0 };
	r = vsl_p2v_ssh_query(ctx, rd->ssh, VSL_P2V_SSH_XFS, dev, &text);
	if (r == VSL_EINVAL) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0, "%s: xfs: %s: copied whole",
				 where, vsl_ctx_error(ctx));
		return 0;
	}
	if (r < 0)
		return r;
	r = vsl_p2v_xfs_parse(ctx, text, x);
	free(text);
	if (r == VSL_ENOMEM)
		return r;
	if (r < 0) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: xfs (%s on the remote): %s: free space copied too", where,
				 dev, vsl_ctx_error(ctx));
		return 0;
	}
	if (!x->log_known) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: xfs: the state of its log is not known (xfs_logprint "
				 "missing or failing on the remote): free blocks copied too", where);
		return 0;
	}
	if (x->dirty) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: xfs log not clean (mounted, or not cleanly unmounted; the "
				 "copy of a mounted filesystem may be inconsistent): free blocks "
				 "copied too", where);
		return 0;
	}
	if (x->dblocks * x->blocksize > len) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: xfs (%llu bytes) larger than its space (%llu bytes): copied "
				 "whole", where, (unsigned long long)(x->dblocks * x->blocksize),
				 (unsigned long long)len);
		return 0;
	}
	for (size_t i = 0; i < x->free.n; i++)
		nfree += x->free.v[i].len;
	vsl_info(ctx, "%s: xfs (xfs_db on the remote's %s), %llu of %llu bytes free", where, dev,
		 (unsigned long long)nfree, (unsigned long long)(x->dblocks * x->blocksize));
	*ok = true;
	return 0;
}

/* The contents of one LV linear on this PV: free ranges onto a (disk offsets). */
static int remote_lv_free(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd,
			  const struct vsl_p2v_lvm_lv *lv, uint64_t base, const char *pvwhere,
			  struct remote_acc *a, struct vsl_problems *warn)
{
	struct vsl_p2v_seg *segs = calloc(lv->nsegs, sizeof(*segs));
	struct vsl_p2v_reader lr = *rd;
	struct vsl_p2v_extents lf = { 0 };
	char where[600], type[64];
	uint64_t size = 0;
	int r = 0;

	if (!segs)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	for (size_t k = 0; k < lv->nsegs; k++) {
		segs[k] = lv->segs[k];
		segs[k].doff += base;
		size = segs[k].loff + segs[k].len;
		if (segs[k].doff > rd->size || segs[k].len > rd->size - segs[k].doff) {
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "%s: LV %s: its extents lie past the disk's end: copied "
					 "whole", pvwhere, lv->name);
			goto out;
		}
	}
	snprintf(where, sizeof(where), "%s LV %s", pvwhere, lv->name);
	lr.segs = segs;
	lr.nsegs = lv->nsegs;
	lr.size = size;
	if (rd->fetch) {
		uint64_t n = VSL_MIN(segs[0].len, (uint64_t)1 << 20);

		r = rd->fetch(rd->opaque, segs[0].doff, n);
		if (r < 0) {
			if (ctx != rd->ctx)
				r = vsl_set_error(ctx, 0, r, "%s", vsl_ctx_error(rd->ctx));
			goto out;
		}
	}
	vsl_p2v_probe_type(rd->fd, segs[0].doff, segs[0].len, type, sizeof(type));
	if (!strcmp(type, "ext2") || !strcmp(type, "ext3") || !strcmp(type, "ext4")) {
		r = vsl_p2v_ext_free(ctx, &lr, 0, size, where, &lf, warn);
	} else if (!strcmp(type, "xfs")) {
		struct vsl_p2v_xfs x;
		bool ok = false;

		if (!lv->active || !lv->path[0]) {
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "%s: xfs in an LV not active on the remote (vessel never "
					 "activates anything there): copied whole", where);
			goto out;
		}
		r = remote_xfs(ctx, rd, lv->path, size, where, &x, &ok, warn);
		if (r == 0 && ok)
			r = vsl_p2v_extents_merge(ctx, &lf, &x.free);
		vsl_p2v_xfs_fini(&x);
	} else if (!type[0]) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: no filesystem recognised: copied as opaque data", where);
	} else if (strcmp(type, "swap")) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: %s: free space not known, copied whole (zero blocks "
				 "skipped)", where, type);
	}
	if (r == 0)
		r = remote_push_mapped(ctx, a, segs, lv->nsegs, &lf);
out:
	vsl_p2v_extents_fini(&lf);
	free(segs);
	return r;
}

/* An LVM PV at [base, base+len): free extents and the free space of its LVs onto a. */
static int remote_lvm(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd, const char *dev,
		      uint64_t base, uint64_t len, const char *where, struct remote_acc *a,
		      struct vsl_problems *warn)
{
	struct vsl_p2v_lvm l;
	char *text = NULL;
	uint64_t nfree = 0;
	int r = vsl_p2v_ssh_query(ctx, rd->ssh, VSL_P2V_SSH_LVM, dev, &text);

	if (r == VSL_EINVAL) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: LVM: %s: copied whole", where, vsl_ctx_error(ctx));
		return 0;
	}
	if (r < 0)
		return r;
	r = vsl_p2v_lvm_parse(ctx, text, &l);
	free(text);
	if (r == VSL_ENOMEM)
		goto out;
	if (r == 0 && (l.pe_start > len || l.pe_count > (len - l.pe_start) / l.extent))
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "lvm reports %llu extents of %llu bytes "
				  "from byte %llu, past the end of the %llu-byte volume",
				  (unsigned long long)l.pe_count, (unsigned long long)l.extent,
				  (unsigned long long)l.pe_start, (unsigned long long)len);
	if (r < 0) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: LVM physical volume (%s on the remote): %s: copied whole",
				 where, dev, vsl_ctx_error(ctx));
		r = 0;
		goto out;
	}
	for (uint64_t e = 0; r == 0 && e < l.pe_count; e++) {
		if (l.used[e])
			continue;
		r = remote_push(ctx, a, base + l.pe_start + e * l.extent, l.extent);
		nfree++;
	}
	vsl_info(ctx, "%s: LVM PV of VG %s (lvm on the remote's %s): %llu of %llu extents free",
		 where, l.vg, dev, (unsigned long long)nfree, (unsigned long long)l.pe_count);
	for (size_t i = 0; r == 0 && i < l.nlv; i++) {
		if (l.lv[i].simple)
			r = remote_lv_free(ctx, rd, &l.lv[i], base, where, a, warn);
		else if (l.lv[i].name[0] != '[' && (l.lv[i].here || l.lv[i].nonlinear))
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "%s: LV %s is not linear on this PV (striped, RAID, thin, "
					 "or spanning other disks): whatever it has here is copied "
					 "whole", where, l.lv[i].name);
	}
out:
	vsl_p2v_lvm_fini(&l);
	return r;
}

int vsl_p2v_remote_free(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd, uint64_t off,
			uint64_t len, const char *type, const char *where,
			struct vsl_p2v_extents *fmap, struct vsl_problems *warn)
{
	struct remote_acc a = { 0 };
	struct vsl_p2v_extents add = { 0 };
	char dev[600];
	bool found;
	int r = remote_dev(ctx, rd, off, len, dev, sizeof(dev), &found);

	if (r < 0)
		return r;
	if (!found) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "%s: %s: the remote has no device for this partition (no "
				 "/sys/class/block entry starting at sector %llu): copied whole",
				 where, type, (unsigned long long)(off / 512));
		return 0;
	}
	if (!strcmp(type, "xfs")) {
		struct vsl_p2v_xfs x;
		bool ok = false;

		r = remote_xfs(ctx, rd, dev, len, where, &x, &ok, warn);
		for (size_t i = 0; r == 0 && ok && i < x.free.n; i++)
			r = remote_push(ctx, &a, off + x.free.v[i].off, x.free.v[i].len);
		vsl_p2v_xfs_fini(&x);
	} else {
		r = remote_lvm(ctx, rd, dev, off, len, where, &a, warn);
	}
	if (r == 0 && a.n) {
		qsort(a.v, a.n, sizeof(*a.v), remote_cmp_ext);
		for (size_t i = 0; r == 0 && i < a.n; i++) {
			uint64_t o = a.v[i].off, e = o + a.v[i].len;

			/* ranges stay inside the area; overlaps (none expected) are clipped */
			if (add.n) {
				uint64_t le = add.v[add.n - 1].off + add.v[add.n - 1].len;

				o = VSL_MAX(o, le);
			}
			o = VSL_MAX(o, off);
			e = VSL_MIN(e, off + len);
			if (o < e)
				r = vsl_p2v_extents_add(ctx, &add, o, e - o);
		}
		if (r == 0)
			r = vsl_p2v_extents_merge(ctx, fmap, &add);
	}
	vsl_p2v_extents_fini(&add);
	free(a.v);
	return r;
}
