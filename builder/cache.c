/*
 * Pruning vessel's cache: keep the most recently used entries up to a size.
 *
 * The cache ($VESSEL_CACHE, see apt.c and build.c) holds three kinds of
 * entries, each removable on its own:
 *
 *	debs/NAME_VERSION_SHA256.deb   downloaded packages
 *	builds/KEY/                    finished results (kernel, initrd, disks)
 *	apt/KEY.txt                      apt's answers (small)
 *
 * An entry's mtime is its last use: the builder touches a .deb or a result
 * when it reuses it. Pruning sorts the entries newest first (ties by name,
 * so the choice is deterministic), keeps them while their total allocated
 * size stays within the limit, and removes the first one that does not fit
 * and every older one: "keep the newest N bytes". Work in progress is never
 * touched: temporary download directories (tmp/), results being stored
 * (builds/.KEY.PID) and anything vessel did not name this way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/builder.h"

#include "builder/builder_int.h"

struct cache_entry {
	char *rel;            /* relative to the cache directory */
	bool dir;
	uint64_t bytes;       /* allocated */
	struct timespec mtime;
};

struct cache_list {
	struct cache_entry *v;
	size_t n, cap;
};

static uint64_t cache_tree_bytes;

static int cache_sum_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path; (void)flag; (void)ftw;
	if (S_ISREG(st->st_mode))
		cache_tree_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

static bool cache_is_key(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static bool cache_ends(const char *s, const char *suffix)
{
	size_t l = strlen(s), k = strlen(suffix);

	return l > k && !strcmp(s + l - k, suffix);
}

static int cache_add(struct vsl_ctx *ctx, struct cache_list *l, const char *cache,
		     const char *sub, const char *name, bool dir)
{
	char path[4096];
	struct stat st;
	struct cache_entry *e;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", cache, sub, name) >= sizeof(path))
		return 0;
	if (lstat(path, &st) < 0 || (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
		return 0;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		struct cache_entry *nv = vsl_reallocarray(l->v, nc, sizeof(*nv));
		if (!nv)
			return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "cache");
		l->v = nv;
		l->cap = nc;
	}
	e = &l->v[l->n];
	*e = (struct cache_entry){ .dir = dir, .mtime = st.st_mtim };
	e->rel = vsl_strdup_printf("%s/%s", sub, name);
	if (!e->rel)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "cache");
	if (dir) {
		cache_tree_bytes = 0;
		nftw(path, cache_sum_one, 16, FTW_PHYS);
		e->bytes = cache_tree_bytes;
	} else {
		e->bytes = (uint64_t)st.st_blocks * 512;
	}
	l->n++;
	return 0;
}

static int cache_scan(struct vsl_ctx *ctx, struct cache_list *l, const char *cache,
		      const char *sub)
{
	char path[4096];
	DIR *d;
	struct dirent *de;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", cache, sub);
	if (!(d = opendir(path)))
		return errno == ENOENT ? 0 : vsl_set_error(ctx, errno, VSL_EIO, "%s", path);
	while (rc == 0 && (de = readdir(d))) {
		const char *n = de->d_name;

		if (n[0] == '.')
			continue; /* ., .., and work in progress (builds/.KEY.PID) */
		if (!strcmp(sub, "debs") && cache_ends(n, ".deb"))
			rc = cache_add(ctx, l, cache, sub, n, false);
		else if (!strcmp(sub, "builds") && cache_is_key(n))
			rc = cache_add(ctx, l, cache, sub, n, true);
		else if (!strcmp(sub, "apt") && cache_ends(n, ".txt"))
			rc = cache_add(ctx, l, cache, sub, n, false);
	}
	closedir(d);
	return rc;
}

/* Newest first; equal times by name. */
static int cache_cmp(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec > y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec > y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

int vsl_cache_prune(struct vsl_ctx *ctx, const char *cache, uint64_t keep_bytes, bool dry_run,
		    vsl_cache_removed_fn *removed, void *opaque, struct vsl_cache_stats *stats)
{
	static const char *const subs[] = { "builds", "debs", "apt" };
	struct cache_list l = { 0 };
	struct vsl_cache_stats s = { 0 };
	bool full = false;
	int rc = 0;

	for (size_t i = 0; i < VSL_ARRAY_SIZE(subs) && rc == 0; i++)
		rc = cache_scan(ctx, &l, cache, subs[i]);
	if (rc < 0)
		goto out;
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cache_cmp);
	for (size_t i = 0; i < l.n; i++) {
		struct cache_entry *e = &l.v[i];
		char path[4096];

		if (!full && s.kept_bytes + e->bytes <= keep_bytes) {
			s.kept++;
			s.kept_bytes += e->bytes;
			continue;
		}
		full = true;
		snprintf(path, sizeof(path), "%s/%s", cache, e->rel);
		if (!dry_run) {
			if (e->dir)
				vsl_builder_rmtree(path);
			else
				unlink(path);
			if (access(path, F_OK) == 0) {
				/* could not remove it: it still takes its space */
				s.kept++;
				s.kept_bytes += e->bytes;
				continue;
			}
		}
		s.removed++;
		s.removed_bytes += e->bytes;
		if (removed)
			removed(opaque, e->rel, e->bytes);
	}
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].rel);
	free(l.v);
	if (stats)
		*stats = s;
	return rc;
}

void vsl_cache_touch(const char *path)
{
	/* best effort: a read-only cache still works, it just ages */
	utimensat(AT_FDCWD, path, NULL, 0);
}
