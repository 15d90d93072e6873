/*
 * The build pipeline: a checked recipe -> NAME.vessel.
 *
 *   1. resolve   apt-cache names every package's candidate version + sha256
 *                (linux-image-amd64 is followed to the real linux-image-*)
 *   2. key       sha256 of everything the result depends on: vessel's
 *                version and executable, the recipe's bytes, variable values, package
 *                versions and digests, local files, SOURCE_DATE_EPOCH
 *   3. cache     $VESSEL_CACHE/builds/KEY/ holds vmlinuz, initrd and disks of
 *                an earlier identical build: copy them and skip to 7
 *   4. fetch     apt-get download into the package cache (apt.c)
 *   5. initramfs packages + modules + files + /init + initramfs steps, as a
 *                reproducible cpio (tree.c, deb.c, modules.c, initramfs.c)
 *   6. disks     e2fsprogs for ext4 (reproducible), one libguestfs launch for
 *                the others (disks.c)
 *   7. bundle    vessel.yaml (with provenance) + MANIFEST through the bundle
 *                library, in a staging directory next to the output that is
 *                renamed into place only when everything succeeded
 *
 * Builds whose variables include a sensitive one are never stored in the
 * result cache: its key would be a hash of the secret.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vessel/builder.h"
#include "vessel/bundle.h"
#include "vessel/hash.h"

#include "builder/builder_int.h"

/* What the build knows about each package besides apt's answer. */
struct build_pkg {
	struct vsl_recipe_loc loc; /* where the recipe names it (or the list that pulled it in) */
	bool dep;                  /* pulled in as a dependency */
};

/* Indices into pkgs[], in unpack order: dependencies (by name), then the named ones. */
struct build_list {
	size_t *v;
	size_t n;
};

struct build {
	struct vsl_ctx *ctx;
	struct vsl_build_opts *o;
	const struct vsl_recipe *r;
	char *cache;
	char *out;
	char *tmp;
	char *lockpath;           /* tmp + ".lock", flock()ed while the build runs */
	int lockfd;
	int64_t mtime;
	struct vsl_apt_pkg *pkgs;
	struct build_pkg *pinfo;  /* parallel to pkgs[] */
	size_t npkgs, cappkgs;
	int kernel_pkg;           /* the package holding vmlinuz, or -1 */
	int kernel_meta;          /* the package the recipe named, or -1 */
	size_t init_pkgs;         /* initramfs packages start here in pkgs[] */
	struct build_list init_order;  /* what the initramfs unpacks, in order */
	struct build_list *src_order;  /* per source: what a package source unpacks */
	int *src_pkg;             /* per source: index in pkgs[] or -1 */
	char **src_digest;        /* per source: digest of a path source */
	char **disk_digest;       /* per disk: digest of its image, or NULL */
	struct vsl_tree **src_trees;
	char key[VSL_HASH_HEX_MAX];
	bool cacheable;
	unsigned stage, nstages;
};

static void build_plan(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void build_plan(struct build *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (b->o->plan_fn)
		b->o->plan_fn(b->o->plan_opaque, line);
}

static int build_where(struct build *b, struct vsl_recipe_loc loc)
{
	char w[512];

	vsl_recipe_where(b->r, loc, w, sizeof(w));
	vsl_error_prefix(b->ctx, "%s", w);
	return vsl_ctx_code(b->ctx);
}

static int build_canceled(struct build *b)
{
	if (b->o->cancel && *b->o->cancel)
		return vsl_set_error(b->ctx, 0, VSL_ECANCELED, "interrupted");
	return 0;
}

/* ---- files ---- */

static int build_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

void vsl_builder_rmtree(const char *dir)
{
	nftw(dir, build_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int build_copy(struct vsl_ctx *ctx, const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out;
	struct stat st;
	int rc = 0;

	if (in < 0)
		return vsl_set_error(ctx, errno, VSL_EIO, "%s", src);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0 || fstat(in, &st) < 0) {
		rc = vsl_set_error(ctx, errno, VSL_EIO, "%s", dst);
		goto out;
	}
	for (off_t left = st.st_size; left > 0;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
			char buf[1 << 16];
			n = read(in, buf, sizeof(buf));
			if (n > 0 && write(out, buf, (size_t)n) != n)
				n = -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = vsl_set_error(ctx, n < 0 ? errno : 0, VSL_EIO, "copy %s to %s", src, dst);
			goto out;
		}
		left -= n;
	}
out:
	if (out >= 0 && close(out) < 0 && !rc)
		rc = vsl_set_error(ctx, errno, VSL_EIO, "%s", dst);
	close(in);
	return rc;
}

/*
 * ---- staging directories ----
 *
 * The staging directory .BASE.build-PID-TIME has a lock file beside it,
 * .BASE.build-PID-TIME.lock, that its build holds with flock() from before
 * the directory exists until after it is renamed or removed. The kernel
 * drops the lock when the process dies, however it dies (SIGKILL, OOM), so
 * a staging directory whose lock can be taken belongs to a dead build and
 * is removed by the next build of the same output. A directory kept by
 * --keep-failed has its lock file removed, so it is never reaped; nor is a
 * directory without a lock file (made by an older vessel).
 */
static int build_lock_staging(struct build *b)
{
	char *tmp = vsl_strdup_printf("%s.lock.%d", b->tmp, (int)getpid());
	char pid[32];
	int fd, l;

	b->lockpath = vsl_strdup_printf("%s.lock", b->tmp);
	if (!tmp || !b->lockpath) {
		free(tmp);
		return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
	}
	/* locked under a private name, then renamed: never visible unlocked */
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		return vsl_set_error(b->ctx, e, VSL_EIO, "lock file %s", b->lockpath);
	}
	l = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (write(fd, pid, (size_t)l) != l || rename(tmp, b->lockpath) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		free(tmp);
		return vsl_set_error(b->ctx, e, VSL_EIO, "lock file %s", b->lockpath);
	}
	free(tmp);
	b->lockfd = fd;
	return 0;
}

static void build_unlock_staging(struct build *b)
{
	if (b->lockfd >= 0) {
		unlink(b->lockpath);
		close(b->lockfd);
		b->lockfd = -1;
	}
}

/*
 * Remove the staging directories (and lone lock files) of dead builds of the
 * same output, saying so. Best effort: what cannot be removed stays.
 */
static void build_reap_stale(struct build *b)
{
	const char *slash = strrchr(b->out, '/');
	const char *base = slash ? slash + 1 : b->out;
	char *dir = slash ? (slash == b->out ? strdup("/") :
			     strndup(b->out, (size_t)(slash - b->out))) : strdup(".");
	char *prefix = vsl_strdup_printf(".%s.build-", base);
	struct dirent **ents = NULL;
	int n;

	if (!dir || !prefix)
		goto out;
	n = scandir(dir, &ents, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t pl = strlen(prefix), nl = strlen(name);
		char *path = NULL, *lock = NULL;
		struct stat st;
		int fd = -1;
		bool is_lock = nl > 5 && !strcmp(name + nl - 5, ".lock");

		if (nl <= pl || strncmp(name, prefix, pl) || strchr(name + pl, '/'))
			goto next;
		path = vsl_strdup_printf("%s/%s", dir, name);
		if (!path || lstat(path, &st) < 0)
			goto next;
		if (is_lock) {
			/* a lock without its directory: removed with it below, or lone */
			char *d = strndup(path, strlen(path) - 5);
			struct stat ds;
			bool lone = d && lstat(d, &ds) < 0 && errno == ENOENT;
			free(d);
			if (!lone || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
				goto next;
			if (flock(fd, LOCK_EX | LOCK_NB) == 0)
				unlink(path);
			goto next;
		}
		if (!S_ISDIR(st.st_mode))
			goto next;
		lock = vsl_strdup_printf("%s.lock", path);
		if (!lock || (fd = open(lock, O_RDWR | O_CLOEXEC)) < 0)
			goto next; /* kept by --keep-failed, or not ours */
		if (flock(fd, LOCK_EX | LOCK_NB) < 0)
			goto next; /* a build that is running */
		vsl_builder_rmtree(path);
		if (lstat(path, &st) < 0) {
			int pid = atoi(name + pl);
			vsl_warn(b->ctx, "removed %s, the staging directory of a build that was "
				 "killed (pid %d)", path, pid);
			unlink(lock);
		}
next:
		if (fd >= 0)
			close(fd);
		free(path);
		free(lock);
		free(ents[i]);
	}
	free(ents);
out:
	free(dir);
	free(prefix);
}

/* ---- 1. packages ---- */

/* Where the recipe names package i (the real kernel: where the kernel is named). */
static struct vsl_recipe_loc build_pkg_loc(const struct build *b, size_t i)
{
	if ((int)i == b->kernel_meta || (int)i == b->kernel_pkg)
		return b->r->kernel_loc;
	return i < b->npkgs ? b->pinfo[i].loc : (struct vsl_recipe_loc){ 0, 0 };
}

static bool build_kernel_is_meta(const struct vsl_apt_pkg *p)
{
	/* linux-image-amd64 depends on linux-image-6.1.0-N-amd64; the real one does not */
	char *dep = p->depends ? vsl_apt_depends_match(p->depends, "linux-image-") : NULL;
	bool meta = dep && strncmp(p->name, "linux-image-", 12) == 0 &&
		    !(p->name[12] >= '0' && p->name[12] <= '9');

	free(dep);
	return meta;
}

/*
 * Append a package (name copied, version pinned when given). Returns its
 * index, or a negative VSL_E*. A dependency that is already in the list is
 * not added twice: its index is returned.
 */
static int build_pkg_add(struct build *b, const char *name, const char *version,
			 struct vsl_recipe_loc loc, bool dep)
{
	if (dep)
		for (size_t i = 0; i < b->npkgs; i++)
			if ((int)i != b->kernel_meta && (int)i != b->kernel_pkg &&
			    !strcmp(b->pkgs[i].name, name))
				return (int)i;
	if (b->npkgs + 1 >= b->cappkgs) {
		size_t nc = b->cappkgs ? b->cappkgs * 2 : 16;
		struct vsl_apt_pkg *np = vsl_reallocarray(b->pkgs, nc, sizeof(*np));
		struct build_pkg *ni;

		if (!np)
			return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
		b->pkgs = np;
		ni = vsl_reallocarray(b->pinfo, nc, sizeof(*ni));
		if (!ni)
			return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
		b->pinfo = ni;
		for (size_t i = b->cappkgs; i < nc; i++) {
			b->pkgs[i] = (struct vsl_apt_pkg){ 0 };
			b->pinfo[i] = (struct build_pkg){ { 0, 0 }, false };
		}
		b->cappkgs = nc;
	}
	b->pkgs[b->npkgs].name = strdup(name);
	b->pkgs[b->npkgs].version = version ? strdup(version) : NULL;
	if (!b->pkgs[b->npkgs].name || (version && !b->pkgs[b->npkgs].version)) {
		vsl_apt_pkg_fini(&b->pkgs[b->npkgs]);
		return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
	}
	b->pinfo[b->npkgs] = (struct build_pkg){ loc, dep };
	return (int)b->npkgs++;
}

static int build_list_push(struct build *b, struct build_list *l, size_t idx)
{
	size_t *nv;

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == idx)
			return 0;
	nv = vsl_reallocarray(l->v, l->n + 1, sizeof(*nv));
	if (!nv)
		return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
	nv[l->n++] = idx;
	l->v = nv;
	return 0;
}

/*
 * The unpack list of one package list: with deps, apt's closure of the
 * named packages (dependencies sorted by name, pinned to the version apt
 * chose), then the named packages in recipe order so that they win where
 * files overlap.
 */
static int build_closure(struct build *b, const size_t *named, size_t nnamed, bool deps,
			 struct vsl_recipe_loc loc, const char *what, struct build_list *l)
{
	struct vsl_apt_pkg *cl = NULL;
	size_t ncl = 0;
	const char **names;
	int rc = 0;

	if (deps && nnamed) {
		names = vsl_calloc(nnamed + 1, sizeof(*names));
		if (!names)
			return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
		for (size_t i = 0; i < nnamed; i++)
			names[i] = b->pkgs[named[i]].name;
		rc = vsl_apt_closure(b->ctx, b->cache, names, nnamed, &cl, &ncl);
		free(names);
		if (rc < 0) {
			vsl_error_prefix(b->ctx, "%s", what);
			return build_where(b, loc);
		}
		for (size_t j = 0; j < ncl && rc == 0; j++) {
			bool is_named = false;
			int idx;

			for (size_t i = 0; i < nnamed; i++)
				if (!strcmp(b->pkgs[named[i]].name, cl[j].name))
					is_named = true;
			if (is_named)
				continue;
			idx = build_pkg_add(b, cl[j].name, cl[j].version, loc, true);
			rc = idx < 0 ? idx : build_list_push(b, l, (size_t)idx);
		}
		for (size_t j = 0; j < ncl; j++)
			vsl_apt_pkg_fini(&cl[j]);
		free(cl);
	}
	for (size_t i = 0; i < nnamed && rc == 0; i++)
		rc = build_list_push(b, l, named[i]);
	return rc;
}

/* "busybox + 3 dependencies: gcc-12-base libc6 libgcc-s1" for the log and the plan. */
/* Append to buf[0..len) at *o; once full, further text is dropped and *o stays >= len. */
static void build_cat(char *buf, size_t len, size_t *o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void build_cat(char *buf, size_t len, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *o, len - *o, fmt, ap);
	va_end(ap);
	*o += n > 0 ? (size_t)n : 0;
}

static void build_list_describe(const struct build *b, const struct build_list *l, char *buf,
				size_t len)
{
	size_t ndep = 0, o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		if (b->pinfo[l->v[i]].dep)
			ndep++;
		else
			build_cat(buf, len, &o, "%s%s", o ? " " : "", b->pkgs[l->v[i]].name);
	}
	if (ndep)
		build_cat(buf, len, &o, " + %zu dependenc%s:", ndep, ndep == 1 ? "y" : "ies");
	for (size_t i = 0; i < l->n; i++)
		if (b->pinfo[l->v[i]].dep)
			build_cat(buf, len, &o, " %s", b->pkgs[l->v[i]].name);
	if (o >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
}

static int build_resolve(struct build *b)
{
	const struct vsl_recipe *r = b->r;
	size_t *named = NULL, first_dep;
	int rc, idx;

	b->src_pkg = vsl_calloc(r->nsources + 1, sizeof(*b->src_pkg));
	b->src_order = vsl_calloc(r->nsources + 1, sizeof(*b->src_order));
	named = vsl_calloc(r->npackages + 1, sizeof(*named));
	if (!b->src_pkg || !b->src_order || !named) {
		rc = vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
		goto out;
	}
	b->kernel_pkg = b->kernel_meta = -1;
	if (r->kernel_package) {
		if ((idx = build_pkg_add(b, r->kernel_package, NULL, r->kernel_loc, false)) < 0) {
			rc = idx;
			goto out;
		}
		b->kernel_meta = idx;
	}
	b->init_pkgs = b->npkgs;
	for (size_t i = 0; i < r->npackages; i++) {
		if ((idx = build_pkg_add(b, r->packages[i].name, NULL, r->packages[i].loc,
					 false)) < 0) {
			rc = idx;
			goto out;
		}
		named[i] = (size_t)idx;
	}
	for (size_t i = 0; i < r->nsources; i++) {
		b->src_pkg[i] = -1;
		if (r->sources[i].kind != VSL_SOURCE_PACKAGE)
			continue;
		if ((idx = build_pkg_add(b, r->sources[i].package, NULL, r->sources[i].loc,
					 false)) < 0) {
			rc = idx;
			goto out;
		}
		b->src_pkg[i] = idx;
	}
	rc = 0;
	if (!b->npkgs)
		goto out;
	rc = vsl_apt_resolve(b->ctx, b->cache, b->pkgs, b->npkgs);
	if (rc < 0) {
		/* name the recipe line of the package apt does not know */
		for (size_t i = 0; i < b->npkgs; i++)
			if (!b->pkgs[i].version) {
				rc = build_where(b, build_pkg_loc(b, i));
				break;
			}
		goto out;
	}
	b->kernel_pkg = b->kernel_meta;
	if (b->kernel_meta >= 0 && build_kernel_is_meta(&b->pkgs[b->kernel_meta])) {
		char *kname = vsl_apt_depends_match(b->pkgs[b->kernel_meta].depends,
						    "linux-image-");
		if (!kname) {
			rc = vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
			goto out;
		}
		idx = build_pkg_add(b, kname, NULL, r->kernel_loc, false);
		free(kname);
		if (idx < 0) {
			rc = idx;
			goto out;
		}
		if ((rc = vsl_apt_resolve(b->ctx, b->cache, &b->pkgs[idx], 1)) < 0) {
			vsl_error_prefix(b->ctx, "kernel %s", r->kernel_package);
			rc = build_where(b, r->kernel_loc);
			goto out;
		}
		b->kernel_pkg = idx;
	}
	/* dependencies: never the kernel's (it is only a source of vmlinuz and modules) */
	first_dep = b->npkgs;
	if (r->npackages && (rc = build_closure(b, named, r->npackages, r->packages_depends,
						r->packages[0].loc, "boot.initramfs.packages",
						&b->init_order)) < 0)
		goto out;
	for (size_t i = 0; i < r->nsources; i++) {
		size_t one;
		char what[300];

		if (b->src_pkg[i] < 0)
			continue;
		one = (size_t)b->src_pkg[i];
		snprintf(what, sizeof(what), "source '%s'", r->sources[i].name);
		if ((rc = build_closure(b, &one, 1, r->sources[i].depends, r->sources[i].loc, what,
					&b->src_order[i])) < 0)
			goto out;
	}
	if (b->npkgs > first_dep &&
	    (rc = vsl_apt_resolve(b->ctx, b->cache, &b->pkgs[first_dep], b->npkgs - first_dep)) < 0) {
		for (size_t i = first_dep; i < b->npkgs; i++)
			if (!b->pkgs[i].version || !b->pkgs[i].sha256) {
				vsl_error_prefix(b->ctx, "dependency %s", b->pkgs[i].name);
				rc = build_where(b, build_pkg_loc(b, i));
				break;
			}
		goto out;
	}
	if (b->init_order.n) {
		char line[1024];
		build_list_describe(b, &b->init_order, line, sizeof(line));
		vsl_info(b->ctx, "  initramfs packages: %s", line);
	}
	for (size_t i = 0; i < r->nsources; i++)
		if (b->src_order[i].n > 1) {
			char line[1024];
			build_list_describe(b, &b->src_order[i], line, sizeof(line));
			vsl_info(b->ctx, "  source %s: %s", r->sources[i].name, line);
		}
out:
	free(named);
	return rc;
}

/* ---- 2. the cache key ---- */

static void build_hash_tree(struct vsl_hash *h, struct vsl_tree *t)
{
	vsl_tree_sort(t);
	for (size_t i = 0; i < t->n; i++) {
		const struct vsl_tree_entry *e = &t->v[i];
		char hdr[64];
		int l = snprintf(hdr, sizeof(hdr), "%d %o %zu ", (int)e->type, e->mode, e->size);

		vsl_hash_update(h, hdr, (size_t)l);
		vsl_hash_update(h, e->path, strlen(e->path) + 1);
		if (e->data)
			vsl_hash_update(h, e->data, e->size);
		if (e->target)
			vsl_hash_update(h, e->target, strlen(e->target) + 1);
	}
}

/* Load the path and tarball sources (their digests go into the key and the provenance). */
static int build_path_sources(struct build *b)
{
	const struct vsl_recipe *r = b->r;

	b->src_trees = vsl_calloc(r->nsources + 1, sizeof(*b->src_trees));
	b->src_digest = vsl_calloc(r->nsources + 1, sizeof(*b->src_digest));
	if (!b->src_trees || !b->src_digest)
		return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
	for (size_t i = 0; i < r->nsources; i++) {
		const struct vsl_recipe_source *s = &r->sources[i];
		struct vsl_hash *h;
		struct stat st;
		char hex[VSL_HASH_HEX_MAX];
		int rc;

		if (s->kind == VSL_SOURCE_PACKAGE)
			continue;
		b->src_trees[i] = malloc(sizeof(struct vsl_tree));
		if (!b->src_trees[i])
			return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
		vsl_tree_init(b->src_trees[i]);
		if (stat(s->path, &st) < 0) {
			vsl_set_error(b->ctx, errno, VSL_ENOENT, "source '%s': %s", s->name, s->path);
			return build_where(b, s->loc);
		}
		if (s->kind == VSL_SOURCE_TARBALL) {
			/* the tarball's digest stands for its contents */
			if ((rc = vsl_hash_file(b->ctx, VSL_HASH_SHA256, s->path, hex)) == 0 &&
			    s->sha256 && strcmp(hex, s->sha256))
				rc = vsl_set_error(b->ctx, 0, VSL_ECORRUPT, "%s has sha256 %s, "
						   "the recipe pins %s", s->path, hex, s->sha256);
			if (rc == 0)
				rc = vsl_tar_unpack(b->ctx, s->path, b->src_trees[i], NULL, NULL);
		} else if (S_ISREG(st.st_mode)) {
			const char *base = strrchr(s->path, '/') ? strrchr(s->path, '/') + 1 : s->path;
			char *dest = vsl_strdup_printf("/%s", base);
			rc = dest ? vsl_tree_add_host(b->ctx, b->src_trees[i], s->path, dest) : VSL_ENOMEM;
			free(dest);
			if (rc == 0 && (rc = vsl_hash_file(b->ctx, VSL_HASH_SHA256, s->path, hex)) == 0 &&
			    s->sha256 && strcmp(hex, s->sha256))
				rc = vsl_set_error(b->ctx, 0, VSL_ECORRUPT, "%s has sha256 %s, "
						   "the recipe pins %s", s->path, hex, s->sha256);
		} else {
			rc = vsl_tree_add_host(b->ctx, b->src_trees[i], s->path, "/");
			if (rc == 0) {
				h = vsl_hash_new(VSL_HASH_SHA256);
				if (!h)
					return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
				build_hash_tree(h, b->src_trees[i]);
				vsl_hash_final_hex(h, hex);
				vsl_hash_free(h);
			}
		}
		if (rc < 0) {
			vsl_error_prefix(b->ctx, "source '%s'", s->name);
			return build_where(b, s->loc);
		}
		b->src_digest[i] = strdup(hex);
	}
	/* disks made from images: the image's digest stands for the disk */
	b->disk_digest = vsl_calloc(r->ndisks + 1, sizeof(*b->disk_digest));
	if (!b->disk_digest)
		return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
	for (size_t i = 0; i < r->ndisks; i++) {
		char hex[VSL_HASH_HEX_MAX];

		if (!r->disks[i].image)
			continue;
		if (vsl_hash_file(b->ctx, VSL_HASH_SHA256, r->disks[i].image, hex) < 0) {
			vsl_error_prefix(b->ctx, "disk '%s': image", r->disks[i].name);
			return build_where(b, r->disks[i].loc);
		}
		if (!(b->disk_digest[i] = strdup(hex)))
			return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
	}
	return 0;
}

static int build_key(struct build *b)
{
	const struct vsl_recipe *r = b->r;
	struct vsl_hash *h = vsl_hash_new(VSL_HASH_SHA256);
	char line[512], hex[VSL_HASH_HEX_MAX];
	int l, rc = 0;

	if (!h)
		return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
	b->cacheable = true;
	l = snprintf(line, sizeof(line), "vessel-build-1 %s %s %lld\n", vsl_version(), r->digest,
		     (long long)b->mtime);
	vsl_hash_update(h, line, (size_t)l);
	/* the builder itself: a rebuilt vessel must not reuse an old result */
	if (vsl_hash_file(b->ctx, VSL_HASH_SHA256, "/proc/self/exe", hex) == 0)
		vsl_hash_update(h, hex, strlen(hex));
	vsl_ctx_clear(b->ctx);
	for (size_t i = 0; i < r->nvars; i++) {
		const struct vsl_recipe_var *v = &r->vars[i];
		if (v->sensitive && v->used)
			b->cacheable = false;
		vsl_hash_update(h, v->name, strlen(v->name) + 1);
		if (v->value && !v->sensitive)
			vsl_hash_update(h, v->value, strlen(v->value) + 1);
	}
	for (size_t i = 0; i < b->npkgs; i++) {
		l = snprintf(line, sizeof(line), "pkg %s %s %s\n", b->pkgs[i].name,
			     b->pkgs[i].version, b->pkgs[i].sha256);
		vsl_hash_update(h, line, (size_t)l);
	}
	if (r->init)
		vsl_hash_update(h, r->init, strlen(r->init) + 1);
	if (r->kernel_file) {
		if ((rc = vsl_hash_file(b->ctx, VSL_HASH_SHA256, r->kernel_file, hex)) < 0) {
			build_where(b, r->kernel_loc);
			goto out;
		}
		vsl_hash_update(h, hex, strlen(hex));
	}
	for (size_t i = 0; i < r->nfiles; i++) {
		if (!r->files[i].source)
			continue;
		if ((rc = vsl_hash_file(b->ctx, VSL_HASH_SHA256, r->files[i].source, hex)) < 0) {
			build_where(b, r->files[i].loc);
			goto out;
		}
		vsl_hash_update(h, hex, strlen(hex));
	}
	for (size_t i = 0; i < r->nsources; i++)
		if (b->src_digest[i])
			vsl_hash_update(h, b->src_digest[i], strlen(b->src_digest[i]));
	for (size_t i = 0; i < r->ndisks; i++)
		if (b->disk_digest[i]) {
			vsl_hash_update(h, "image ", 6);
			vsl_hash_update(h, b->disk_digest[i], strlen(b->disk_digest[i]));
		}
out:
	vsl_hash_final_hex(h, b->key);
	vsl_hash_free(h);
	return rc;
}

/* ---- 4./5. kernel and initramfs ---- */

static int build_fetch(struct build *b)
{
	for (size_t i = 0; i < b->npkgs; i++) {
		if ((int)i == b->kernel_meta && b->kernel_pkg != b->kernel_meta)
			continue; /* the metapackage itself holds nothing we need */
		if (build_canceled(b) < 0)
			return VSL_ECANCELED;
		vsl_info(b->ctx, "  package %s %s%s", b->pkgs[i].name, b->pkgs[i].version,
			 b->pinfo[i].dep ? " (dependency)" : "");
		if (vsl_apt_fetch(b->ctx, b->cache, &b->pkgs[i], b->o->progress) < 0)
			return build_where(b, build_pkg_loc(b, i));
	}
	return 0;
}

static bool build_kernel_filter(void *opaque, const char *path, enum vsl_tree_type type)
{
	const struct build *b = opaque;
	size_t l = strlen(path);

	if (type == VSL_TREE_DIR)
		return false;
	if (!strncmp(path, "boot/vmlinuz-", 13))
		return true;
	if (!strncmp(path, "lib/modules/", 12)) {
		if (l > 16 && !strcmp(path + l - 16, "/modules.builtin"))
			return true;
		if (b->r->nmodules && ((l > 3 && !strcmp(path + l - 3, ".ko")) ||
				       (l > 6 && !strcmp(path + l - 6, ".ko.xz"))))
			return true;
	}
	return false;
}

static bool build_pkg_filter(void *opaque, const char *path, enum vsl_tree_type type)
{
	static const char *const skip[] = { "usr/share/doc", "usr/share/man", "usr/share/info",
					    "usr/share/lintian", "usr/share/bug", NULL };
	(void)opaque; (void)type;
	for (size_t i = 0; skip[i]; i++) {
		size_t l = strlen(skip[i]);
		if (!strncmp(path, skip[i], l) && (path[l] == '/' || !path[l]))
			return false;
	}
	return true;
}

static int build_kernel(struct build *b, struct vsl_tree *kt)
{
	const struct vsl_recipe *r = b->r;
	char *dst = vsl_strdup_printf("%s/boot/vmlinuz", b->tmp);
	struct vsl_tree_entry *vm = NULL;
	int rc = 0, fd;

	if (!dst)
		return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
	if (r->kernel_file) {
		rc = build_copy(b->ctx, r->kernel_file, dst);
		if (rc < 0)
			build_where(b, r->kernel_loc);
		free(dst);
		return rc;
	}
	vsl_info(b->ctx, "  unpacking %s", b->pkgs[b->kernel_pkg].name);
	if ((rc = vsl_deb_unpack(b->ctx, b->pkgs[b->kernel_pkg].path, kt, build_kernel_filter,
				 b)) < 0) {
		build_where(b, r->kernel_loc);
		goto out;
	}
	for (size_t i = 0; i < kt->n; i++)
		if (!strncmp(kt->v[i].path, "boot/vmlinuz-", 13) && kt->v[i].type == VSL_TREE_FILE)
			vm = &kt->v[i];
	if (!vm) {
		rc = vsl_set_error(b->ctx, 0, VSL_ENOENT, "package %s holds no boot/vmlinuz-*",
				   b->pkgs[b->kernel_pkg].name);
		build_where(b, r->kernel_loc);
		goto out;
	}
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, vm->data, vm->size) != (ssize_t)vm->size) {
		rc = vsl_set_error(b->ctx, errno, VSL_EIO, "%s", dst);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (close(fd) < 0)
		rc = vsl_set_error(b->ctx, errno, VSL_EIO, "%s", dst);
out:
	free(dst);
	return rc;
}

static int build_initramfs(struct build *b, struct vsl_tree *kt)
{
	const struct vsl_recipe *r = b->r;
	struct vsl_tree t;
	struct vsl_fstree fs = { b->ctx, &t };
	char *dst = NULL;
	int rc;

	vsl_tree_init(&t);
	/* the skeleton every initramfs needs; /dev/console lets init talk before devtmpfs */
	if ((rc = vsl_tree_add_dir(b->ctx, &t, "dev", 0755)) < 0 ||
	    (rc = vsl_tree_add_chr(b->ctx, &t, "dev/console", 0600, 5, 1)) < 0 ||
	    (rc = vsl_tree_add_dir(b->ctx, &t, "proc", 0755)) < 0 ||
	    (rc = vsl_tree_add_dir(b->ctx, &t, "sys", 0755)) < 0 ||
	    (rc = vsl_tree_add_dir(b->ctx, &t, "run", 0755)) < 0 ||
	    (rc = vsl_tree_add_dir(b->ctx, &t, "root", 0700)) < 0 ||
	    (rc = vsl_tree_add_dir(b->ctx, &t, "etc", 0755)) < 0 ||
	    (rc = vsl_tree_add_dir(b->ctx, &t, "tmp", 01777)) < 0)
		goto out;
	for (size_t i = 0; i < b->init_order.n; i++) {
		size_t k = b->init_order.v[i];
		struct vsl_apt_pkg *p = &b->pkgs[k];

		vsl_info(b->ctx, "  unpacking %s%s", p->name, b->pinfo[k].dep ? " (dependency)" : "");
		if ((rc = vsl_deb_unpack(b->ctx, p->path, &t, build_pkg_filter, NULL)) < 0) {
			vsl_error_prefix(b->ctx, "package %s", p->name);
			build_where(b, build_pkg_loc(b, k));
			goto out;
		}
	}
	if (r->nmodules) {
		const char **names = vsl_calloc(r->nmodules + 1, sizeof(*names));

		if (!names) {
			rc = vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
			goto out;
		}
		for (size_t i = 0; i < r->nmodules; i++)
			names[i] = r->modules[i].name;
		rc = vsl_modules_add(b->ctx, kt, names, r->nmodules, &t, NULL);
		free(names);
		if (rc < 0) {
			/* name the module's line when the message names it */
			size_t at = 0;
			for (size_t i = 0; i < r->nmodules; i++) {
				char q[300];
				snprintf(q, sizeof(q), "'%s'", r->modules[i].name);
				if (strstr(vsl_ctx_error(b->ctx), q))
					at = i;
			}
			build_where(b, r->modules[at].loc);
			goto out;
		}
		vsl_info(b->ctx, "  kernel modules: %s", vsl_tree_find(&t, "etc/vessel/modules") ?
			 "added with their dependencies" : "none needed (built in)");
	}
	for (size_t i = 0; i < r->nfiles; i++) {
		const struct vsl_recipe_file *f = &r->files[i];

		if (f->content)
			rc = vsl_tree_add_file(b->ctx, &t, f->path, f->content, strlen(f->content),
					       f->mode);
		else if ((rc = vsl_tree_add_host(b->ctx, &t, f->source, f->path)) == 0)
			rc = vsl_fsops_tree.chmod(&fs, f->path, f->mode);
		if (rc < 0) {
			build_where(b, f->loc);
			goto out;
		}
	}
	if (r->init && (rc = vsl_tree_add_file(b->ctx, &t, "init", r->init, strlen(r->init),
					       0755)) < 0) {
		build_where(b, r->init_loc);
		goto out;
	}
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct vsl_recipe_step *st = &r->steps[i];
		struct vsl_tree *src = NULL;

		if (st->disk_index >= 0)
			continue;
		vsl_info(b->ctx, "  step %zu: %s%s%s (initramfs)", i + 1,
			 vsl_recipe_step_name(st->kind), st->sensitive ||
			 st->kind == VSL_STEP_ROOT_PASSWORD ? "" : " ",
			 st->sensitive || st->kind == VSL_STEP_ROOT_PASSWORD ? "" : st->arg);
		if (st->kind == VSL_STEP_COPY_IN)
			src = b->src_trees[st->source_index];
		if ((rc = vsl_step_apply(b->ctx, &vsl_fsops_tree, &fs, r, st, src)) < 0)
			goto out;
	}
	{
		struct vsl_tree_entry *init = vsl_tree_find(&t, "init");
		if (!init || (init->type == VSL_TREE_FILE && !(init->mode & 0111))) {
			rc = vsl_set_error(b->ctx, 0, VSL_EINVAL, "the initramfs has no executable "
					   "/init (add boot.initramfs.init)");
			goto out;
		}
	}
	dst = vsl_strdup_printf("%s/boot/initrd", b->tmp);
	if (!dst) {
		rc = vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
		goto out;
	}
	vsl_info(b->ctx, "  writing initramfs: %zu entries, %llu KiB uncompressed", t.n,
		 (unsigned long long)(t.bytes >> 10));
	rc = vsl_initramfs_write(b->ctx, &t, dst, b->mtime);
out:
	free(dst);
	vsl_tree_fini(&t);
	return rc;
}

/* ---- 7. the bundle ---- */

/*
 * A host file the build read (a source, a disk image) as a provenance entry
 * "file:PATH" with its digest; none without a digest. -1 when out of memory.
 */
static int build_file_source(struct vsl_bundle_config *cfg, const char *path, const char *digest)
{
	struct vsl_bundle_source *s;

	if (!digest)
		return 0;
	if (!(s = vsl_bundle_config_add_source(cfg)))
		return -1;
	s->uri = vsl_strdup_printf("file:%s", path);
	s->sha256 = strdup(digest);
	return 0;
}

static int build_config(struct build *b)
{
	const struct vsl_recipe *r = b->r;
	struct vsl_bundle_config cfg;
	struct vsl_bundle_source *s;
	int rc = VSL_ENOMEM;

	vsl_bundle_config_init(&cfg);
	cfg.name = strdup(r->name);
	cfg.arch = strdup(r->arch);
	cfg.cpus = r->cpus;
	cfg.memory = r->memory;
	cfg.boot.kind = VSL_BOOT_KERNEL;
	cfg.boot.kernel = strdup("boot/vmlinuz");
	cfg.boot.initrd = r->has_initramfs ? strdup("boot/initrd") : NULL;
	cfg.boot.cmdline = r->cmdline && r->cmdline[0] ? strdup(r->cmdline) : NULL;
	cfg.serial.port = 1;
	cfg.serial.output = r->serial == VSL_RECIPE_SERIAL_NONE ? VSL_SERIAL_NONE : VSL_SERIAL_STDIO;
	if (!cfg.name || !cfg.arch || !cfg.boot.kernel)
		goto oom;
	for (size_t i = 0; i < r->ndisks; i++) {
		struct vsl_bundle_disk *d = vsl_bundle_config_add_disk(&cfg);
		if (!d)
			goto oom;
		d->name = strdup(r->disks[i].name);
		d->file = vsl_strdup_printf("disks/%s.%s", r->disks[i].name, r->disks[i].format);
		d->format = strdup(r->disks[i].format);
		d->bus = VSL_DISK_BUS_VIRTIO;
		if (!d->name || !d->file || !d->format)
			goto oom;
	}
	if (r->net_user) {
		struct vsl_bundle_nic *nic = vsl_bundle_config_add_nic(&cfg);
		if (!nic)
			goto oom;
		nic->mode = VSL_NET_USER;
		nic->model = strdup("virtio");
		for (size_t i = 0; i < r->nforwards; i++) {
			struct vsl_bundle_forward *f = vsl_bundle_nic_add_forward(nic);
			if (!f)
				goto oom;
			f->proto = r->forwards[i].udp ? VSL_NET_UDP : VSL_NET_TCP;
			f->host_port = r->forwards[i].host_port;
			f->guest_port = r->forwards[i].guest_port;
		}
	}
	{
		const char *base = strrchr(r->path, '/') ? strrchr(r->path, '/') + 1 : r->path;
		cfg.provenance.recipe = strdup(base);
		cfg.provenance.recipe_digest = vsl_strdup_printf("sha256:%s", r->digest);
		cfg.provenance.vessel_version = strdup(vsl_version());
	}
	for (size_t i = 0; i < b->npkgs; i++) {
		if (!(s = vsl_bundle_config_add_source(&cfg)))
			goto oom;
		s->uri = vsl_strdup_printf("deb:%s=%s", b->pkgs[i].name, b->pkgs[i].version);
		s->sha256 = strdup(b->pkgs[i].sha256);
	}
	for (size_t i = 0; i < r->nsources; i++)
		if (build_file_source(&cfg, r->sources[i].path, b->src_digest[i]) < 0)
			goto oom;
	for (size_t i = 0; i < r->ndisks; i++)
		if (build_file_source(&cfg, r->disks[i].image, b->disk_digest[i]) < 0)
			goto oom;
	rc = vsl_bundle_write_config(b->ctx, b->tmp, &cfg);
	if (rc < 0)
		vsl_error_prefix(b->ctx, "vessel.yaml");
	vsl_bundle_config_free(&cfg);
	return rc;
oom:
	vsl_bundle_config_free(&cfg);
	return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
}

/* The files a cached result holds, relative to the bundle. */
static int build_cached_files(const struct vsl_recipe *r, char ***out, size_t *n)
{
	char **v = vsl_calloc(r->ndisks + 3, sizeof(*v));
	size_t k = 0;

	if (!v)
		return VSL_ENOMEM;
	v[k++] = strdup("boot/vmlinuz");
	if (r->has_initramfs)
		v[k++] = strdup("boot/initrd");
	for (size_t i = 0; i < r->ndisks; i++)
		v[k++] = vsl_strdup_printf("disks/%s.%s", r->disks[i].name, r->disks[i].format);
	for (size_t i = 0; i < k; i++)
		if (!v[i]) {
			for (size_t j = 0; j < k; j++)
				free(v[j]);
			free(v);
			return VSL_ENOMEM;
		}
	*out = v;
	*n = k;
	return 0;
}

static void build_free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Copy the cached result into the staging bundle. 1 = hit, 0 = miss. */
static int build_cache_get(struct build *b)
{
	char **files, *dir;
	size_t n;
	int rc = 1;

	if (build_cached_files(b->r, &files, &n) < 0)
		return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
	dir = vsl_strdup_printf("%s/builds/%s", b->cache, b->key);
	for (size_t i = 0; dir && i < n && rc == 1; i++) {
		char *src = vsl_strdup_printf("%s/%s", dir, files[i]);
		char *dst = vsl_strdup_printf("%s/%s", b->tmp, files[i]);
		if (!src || !dst || access(src, R_OK) < 0)
			rc = 0;
		else if (build_copy(b->ctx, src, dst) < 0)
			rc = 0;
		free(src);
		free(dst);
	}
	if (rc == 0) {
		/* partial copy: start from an empty staging bundle again */
		for (size_t i = 0; i < n; i++) {
			char *dst = vsl_strdup_printf("%s/%s", b->tmp, files[i]);
			if (dst)
				unlink(dst);
			free(dst);
		}
		vsl_ctx_clear(b->ctx);
	} else if (dir) {
		vsl_cache_touch(dir); /* used: pruning keeps the recently used */
	}
	free(dir);
	build_free_list(files, n);
	return rc;
}

static void build_cache_put(struct build *b)
{
	char **files, *dir, *tmp;
	size_t n;
	bool ok = true;

	if (build_cached_files(b->r, &files, &n) < 0)
		return;
	dir = vsl_strdup_printf("%s/builds/%s", b->cache, b->key);
	tmp = vsl_strdup_printf("%s/builds/.%s.%d", b->cache, b->key, (int)getpid());
	if (!dir || !tmp || vsl_builder_mkdirs(b->ctx, tmp) < 0)
		ok = false;
	for (size_t i = 0; ok && i < n; i++) {
		char *src = vsl_strdup_printf("%s/%s", b->tmp, files[i]);
		char *dst = vsl_strdup_printf("%s/%s", tmp, files[i]);
		char *slash = dst ? strrchr(dst, '/') : NULL;
		if (!src || !dst || !slash)
			ok = false;
		if (ok) {
			*slash = '\0';
			ok = vsl_builder_mkdirs(b->ctx, dst) == 0;
			*slash = '/';
		}
		ok = ok && build_copy(b->ctx, src, dst) == 0;
		free(src);
		free(dst);
	}
	if (ok && rename(tmp, dir) < 0)
		ok = false;
	if (!ok && tmp)
		vsl_builder_rmtree(tmp);
	vsl_ctx_clear(b->ctx); /* the cache is best effort */
	free(dir);
	free(tmp);
	build_free_list(files, n);
}

/* Move the staging bundle to its place, replacing an earlier bundle. */
static int build_commit(struct build *b)
{
	struct stat st;
	char *old = NULL;
	int rc = 0;

	if (lstat(b->out, &st) == 0) {
		char *cfgp = vsl_strdup_printf("%s/%s", b->out, VSL_BUNDLE_CONFIG);
		bool bundle = S_ISDIR(st.st_mode) && cfgp && access(cfgp, F_OK) == 0;

		free(cfgp);
		if (!bundle)
			return vsl_set_error(b->ctx, 0, VSL_EEXIST, "%s exists and is not a bundle; "
					     "remove it or choose another -o", b->out);
		old = vsl_strdup_printf("%s.old.%d", b->out, (int)getpid());
		if (!old)
			return vsl_set_error(b->ctx, ENOMEM, VSL_ENOMEM, "build");
		if (rename(b->out, old) < 0) {
			rc = vsl_set_error(b->ctx, errno, VSL_EIO, "rename %s", b->out);
			free(old);
			return rc;
		}
	}
	if (rename(b->tmp, b->out) < 0) {
		rc = vsl_set_error(b->ctx, errno, VSL_EIO, "rename %s to %s", b->tmp, b->out);
		if (old)
			rename(old, b->out);
	} else if (old) {
		vsl_builder_rmtree(old);
	}
	free(old);
	return rc;
}

/* ---- the plan (--dry-run) ---- */

static void build_print_plan(struct build *b)
{
	const struct vsl_recipe *r = b->r;
	char sz[32];

	build_plan(b, "recipe %s (sha256 %.16s...)", r->path, r->digest);
	build_plan(b, "machine %s: %s, %u cpu%s, %s, network %s, serial %s", r->name, r->arch,
		   r->cpus, r->cpus == 1 ? "" : "s", vsl_format_size(r->memory, sz, sizeof(sz)),
		   r->net_user ? "user" : "none", r->serial == VSL_RECIPE_SERIAL_NONE ? "none" : "console");
	for (size_t i = 0; i < r->nforwards; i++)
		build_plan(b, "  forward %s host %u -> guest %u", r->forwards[i].udp ? "udp" : "tcp",
			   r->forwards[i].host_port, r->forwards[i].guest_port);
	for (size_t i = 0; i < b->npkgs; i++)
		build_plan(b, "package %s %s (sha256 %.16s...)%s", b->pkgs[i].name,
			   b->pkgs[i].version, b->pkgs[i].sha256,
			   (int)i == b->kernel_pkg ? " [kernel]" : (int)i == b->kernel_meta ?
			   " [kernel metapackage]" : b->pinfo[i].dep ? " [dependency]" : "");
	if (b->init_order.n) {
		char line[1024];
		build_list_describe(b, &b->init_order, line, sizeof(line));
		build_plan(b, "initramfs packages: %s", line);
	}
	if (r->kernel_file)
		build_plan(b, "kernel file %s", r->kernel_file);
	build_plan(b, "cmdline \"%s\"", r->cmdline ? r->cmdline : "");
	if (r->has_initramfs)
		build_plan(b, "initramfs: %zu package%s, %zu module%s (+ dependencies), %zu "
			   "file%s, %s", r->npackages, r->npackages == 1 ? "" : "s", r->nmodules,
			   r->nmodules == 1 ? "" : "s", r->nfiles, r->nfiles == 1 ? "" : "s",
			   r->init ? "init script" : "init from a package");
	for (size_t i = 0; i < r->nsources; i++) {
		char line[1024] = "";
		if (r->sources[i].kind == VSL_SOURCE_PACKAGE)
			build_list_describe(b, &b->src_order[i], line, sizeof(line));
		build_plan(b, "source %s: %s %s", r->sources[i].name,
			   r->sources[i].kind == VSL_SOURCE_PATH ? "path" :
			   r->sources[i].kind == VSL_SOURCE_TARBALL ? "tarball" : "package",
			   r->sources[i].kind == VSL_SOURCE_PACKAGE ? line : r->sources[i].path);
	}
	for (size_t i = 0; i < r->ndisks; i++) {
		const struct vsl_recipe_disk *d = &r->disks[i];
		if (d->image)
			build_plan(b, "disk %s: %s %s from image %s (sha256 %.16s...)", d->name,
				   vsl_format_size(d->size, sz, sizeof(sz)), d->format, d->image,
				   b->disk_digest[i]);
		else
			build_plan(b, "disk %s: %s %s, partition table %s, %s%s%s", d->name,
				   vsl_format_size(d->size, sz, sizeof(sz)), d->format,
				   vsl_recipe_ptable_name(d->ptable), vsl_recipe_fs_name(d->fs),
				   d->label ? " label " : "", d->label ? d->label : "");
		for (size_t j = 0; j < d->ncontents; j++)
			build_plan(b, "  contents: source %s -> %s", d->contents[j].source,
				   d->contents[j].to);
	}
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct vsl_recipe_step *st = &r->steps[i];
		bool hide = st->sensitive || st->kind == VSL_STEP_ROOT_PASSWORD;
		build_plan(b, "step %zu: %s %s on %s", i + 1, vsl_recipe_step_name(st->kind),
			   hide ? "<sensitive>" : st->arg, st->target);
	}
	build_plan(b, "output %s", b->out);
}

/* ---- entry ---- */

static int build_stage(struct build *b, const char *what)
{
	if (build_canceled(b) < 0)
		return VSL_ECANCELED;
	vsl_info(b->ctx, "[%u/%u] %s", ++b->stage, b->nstages, what);
	return 0;
}

int vsl_build_run(struct vsl_ctx *ctx, struct vsl_build_opts *o)
{
	const struct vsl_recipe *r = o->recipe;
	struct build b = { .ctx = ctx, .o = o, .r = r, .kernel_pkg = -1, .kernel_meta = -1,
			   .lockfd = -1 };
	struct vsl_tree kt;
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	int rc = 0;

	vsl_tree_init(&kt);
	if (!r || r->ndiags)
		return vsl_set_error(ctx, 0, VSL_EINVAL, "the recipe has errors");
	if (sde && *sde) {
		char *end;
		long long v = strtoll(sde, &end, 10);
		if (*end || v < 0)
			return vsl_set_error(ctx, 0, VSL_EINVAL, "SOURCE_DATE_EPOCH='%s' is not a "
					     "number of seconds", sde);
		b.mtime = v;
	}
	b.out = o->out ? strdup(o->out) : vsl_strdup_printf("%s.vessel", r->name);
	if (!b.out)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "build");
	{
		size_t l = strlen(b.out);
		while (l > 1 && b.out[l - 1] == '/')
			b.out[--l] = '\0';
	}
	if ((rc = vsl_cache_dir(ctx, &b.cache)) < 0)
		goto out;
	b.nstages = 5 + (r->ndisks ? 1 : 0);
	if ((rc = build_stage(&b, "resolving packages")) < 0)
		goto out;
	if ((rc = build_resolve(&b)) < 0 || (rc = build_path_sources(&b)) < 0)
		goto out;
	if (o->dry_run) {
		build_print_plan(&b);
		goto out;
	}
	if ((rc = build_key(&b)) < 0)
		goto out;
	{
		char *slash = strrchr(b.out, '/');
		const char *base = slash ? slash + 1 : b.out;
		b.tmp = vsl_strdup_printf("%.*s.%s.build-%d-%lx", slash ? (int)(slash - b.out + 1) : 0,
					  b.out, base, (int)getpid(), (unsigned long)time(NULL));
	}
	if (!b.tmp) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "build");
		goto out;
	}
	{
		/* the output's directory is created when missing */
		char *slash = strrchr(b.tmp, '/');
		if (slash && slash != b.tmp) {
			*slash = '\0';
			rc = vsl_builder_mkdirs(ctx, b.tmp);
			*slash = '/';
			if (rc < 0)
				goto out;
		}
	}
	build_reap_stale(&b);
	if ((rc = build_lock_staging(&b)) < 0) {
		free(b.tmp);
		b.tmp = NULL;
		goto out;
	}
	if ((rc = vsl_bundle_create(ctx, b.tmp)) < 0) {
		free(b.tmp); /* not ours to remove or keep: it may exist */
		b.tmp = NULL;
		goto out;
	}
	if (!o->no_cache && b.cacheable && build_cache_get(&b) == 1) {
		o->cache_hit = true;
		b.stage = b.nstages - 2;
		if ((rc = build_stage(&b, "kernel, initramfs and disks from the cache")) < 0)
			goto out;
	} else {
		if ((rc = build_stage(&b, "fetching packages")) < 0)
			goto out;
		if ((rc = build_fetch(&b)) < 0)
			goto out;
		/* package sources first: initramfs and disk steps may copy them in */
		for (size_t i = 0; i < r->nsources; i++) {
			struct vsl_tree *t;
			if (b.src_pkg[i] < 0)
				continue;
			t = malloc(sizeof(*t));
			if (!t) {
				rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "build");
				goto out;
			}
			vsl_tree_init(t);
			b.src_trees[i] = t;
			for (size_t j = 0; j < b.src_order[i].n; j++) {
				size_t k = b.src_order[i].v[j];
				if ((rc = vsl_deb_unpack(ctx, b.pkgs[k].path, t, NULL, NULL)) < 0) {
					vsl_error_prefix(ctx, "package %s", b.pkgs[k].name);
					build_where(&b, r->sources[i].loc);
					goto out;
				}
			}
		}
		if ((rc = build_stage(&b, "kernel")) < 0)
			goto out;
		if ((rc = build_kernel(&b, &kt)) < 0)
			goto out;
		if (r->has_initramfs) {
			if ((rc = build_stage(&b, "initramfs")) < 0)
				goto out;
			if ((rc = build_initramfs(&b, &kt)) < 0)
				goto out;
		} else {
			b.stage++;
		}
		vsl_tree_fini(&kt);
		if (r->ndisks) {
			if ((rc = build_stage(&b, "disks")) < 0)
				goto out;
			if ((rc = vsl_disks_build(ctx, r, b.tmp, b.src_trees, b.mtime,
						  o->progress)) < 0)
				goto out;
		}
		if (b.cacheable)
			build_cache_put(&b); /* also after --no-cache: it refreshes the entry */
	}
	if ((rc = build_stage(&b, "bundle")) < 0)
		goto out;
	if ((rc = build_config(&b)) < 0 || (rc = vsl_bundle_write_manifest(ctx, b.tmp)) < 0)
		goto out;
	if ((rc = build_commit(&b)) < 0)
		goto out;
	free(b.tmp);
	b.tmp = NULL;
	vsl_info(ctx, "built %s", b.out);
out:
	if (b.tmp) {
		if (rc < 0 && o->keep_failed) {
			o->kept_dir = b.tmp;
			b.tmp = NULL;
		} else {
			struct stat st;
			if (lstat(b.tmp, &st) == 0)
				vsl_builder_rmtree(b.tmp);
		}
	}
	build_unlock_staging(&b);
	free(b.lockpath);
	vsl_tree_fini(&kt);
	free(b.tmp);
	free(b.out);
	free(b.cache);
	for (size_t i = 0; b.pkgs && i < b.npkgs; i++)
		vsl_apt_pkg_fini(&b.pkgs[i]);
	free(b.pkgs);
	free(b.pinfo);
	free(b.init_order.v);
	for (size_t i = 0; b.src_order && i < r->nsources; i++)
		free(b.src_order[i].v);
	free(b.src_order);
	free(b.src_pkg);
	for (size_t i = 0; i < r->nsources; i++) {
		if (b.src_trees && b.src_trees[i]) {
			vsl_tree_fini(b.src_trees[i]);
			free(b.src_trees[i]);
		}
		if (b.src_digest)
			free(b.src_digest[i]);
	}
	free(b.src_trees);
	free(b.src_digest);
	for (size_t i = 0; b.disk_digest && i < r->ndisks; i++)
		free(b.disk_digest[i]);
	free(b.disk_digest);
	return rc;
}
