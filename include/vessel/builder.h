/*
 * The builder: recipe -> bundle.
 *
 *	struct vsl_build_opts o = { .recipe = r, .out = "hello.vessel" };
 *	o.progress = &cli->progress;
 *	if (vsl_build_run(ctx, &o) < 0) ... vsl_ctx_error(ctx) ...
 *
 * Pipeline (builder/build.c): resolve packages with apt-cache (apt.c),
 * download them with `apt-get download` into a content-addressed cache,
 * unpack the kernel and the initramfs packages from their .deb files into an
 * in-memory tree without touching the host's filesystem (deb.c, tree.c),
 * add kernel modules with their dependencies (modules.c), apply the
 * initramfs customization steps, write the initramfs as a reproducible newc
 * cpio (initramfs.c), build disks (disks.c: e2fsprogs or one libguestfs launch),
 * then write vessel.yaml and MANIFEST with the bundle library. Everything is
 * assembled in a temporary directory next to the output and renamed into
 * place only when the build succeeded.
 *
 * The lower layers are public so tests (and later P2V) can use them.
 */
#ifndef VESSEL_BUILDER_H
#define VESSEL_BUILDER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/common.h"
#include "vessel/progress.h"
#include "vessel/recipe.h"

/* ---- in-memory file tree (tree.c) ---- */

enum vsl_tree_type { VSL_TREE_FILE, VSL_TREE_DIR, VSL_TREE_SYMLINK, VSL_TREE_CHR };

struct vsl_tree_entry {
	char *path;           /* relative to the root, no leading '/', never "" */
	enum vsl_tree_type type;
	uint32_t mode;        /* permission bits only */
	uint32_t uid, gid;
	uint8_t *data;        /* FILE contents (owned) */
	size_t size;
	char *target;         /* SYMLINK target (owned) */
	uint32_t rmajor, rminor; /* CHR device number */
};

struct vsl_tree {
	struct vsl_tree_entry *v;
	size_t n, cap;
	uint64_t bytes;       /* sum of file sizes */
	uint64_t max_bytes;   /* refuse to grow past this (0 = 4 GiB) */
};

void vsl_tree_init(struct vsl_tree *t);
void vsl_tree_fini(struct vsl_tree *t);
/*
 * Normalise a guest path ("/a//b/./c", "./a/b") into "a/b/c" in out.
 * VSL_EPERM for ".." components (and for absolute paths unless allow_abs).
 */
int vsl_tree_normpath(struct vsl_ctx *ctx, const char *path, bool allow_abs, char *out,
		      size_t len);
/* Find an entry by normalised path; NULL if absent. Symlinks are not followed. */
struct vsl_tree_entry *vsl_tree_find(struct vsl_tree *t, const char *path);
/*
 * Add or replace an entry (parent directories are created, mode 0755).
 * data is copied. A path that goes through a symbolic link in the tree is
 * refused (VSL_EPERM), as is a relative symlink target that climbs above the
 * root. Replacing a directory by a non-directory is refused (VSL_EEXIST).
 */
int vsl_tree_add_file(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path,
		      const void *data, size_t size, uint32_t mode);
int vsl_tree_add_dir(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path, uint32_t mode);
int vsl_tree_add_symlink(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path,
			 const char *target);
/* A character device node (an initramfs needs /dev/console before devtmpfs). */
int vsl_tree_add_chr(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path, uint32_t mode,
		     uint32_t major, uint32_t minor);
/* Remove path and everything under it; VSL_ENOENT if absent. */
int vsl_tree_remove(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path);
/* Sort entries by path (byte order); parents then sort before children. */
void vsl_tree_sort(struct vsl_tree *t);

/* ---- Debian packages (deb.c) ---- */

/*
 * Unpack the data.tar.* of a .deb into t (every member, checked: ".." and
 * absolute member names, escaping symlinks and paths through symlinks are
 * refused). filter, when set, decides per normalised path whether a member
 * is kept; filtered-out members cost only decompression.
 */
typedef bool vsl_deb_filter_fn(void *opaque, const char *path, enum vsl_tree_type type);
int vsl_deb_unpack(struct vsl_ctx *ctx, const char *deb, struct vsl_tree *t,
		   vsl_deb_filter_fn *filter, void *opaque);
/*
 * A tarball (tar, optionally gzip/xz/zstd/bzip2-compressed) into t, with the
 * same checks as a .deb's data.tar. Errors name the archive's base name.
 */
int vsl_tar_unpack(struct vsl_ctx *ctx, const char *path, struct vsl_tree *t,
		   vsl_deb_filter_fn *filter, void *opaque);
/* The same on a .deb already in memory (tests, fuzzers). */
int vsl_deb_unpack_mem(struct vsl_ctx *ctx, const void *deb, size_t len, const char *name,
		       struct vsl_tree *t, vsl_deb_filter_fn *filter, void *opaque);

/* ---- apt and the package cache (apt.c) ---- */

struct vsl_apt_pkg {
	char *name;
	char *version;
	char *sha256;         /* of the .deb, from apt-cache show */
	char *depends;        /* raw Depends: field, may be NULL */
	uint64_t size;        /* of the .deb */
	char *path;           /* the cached .deb (after vsl_apt_fetch) */
};

/* The cache directory: $VESSEL_CACHE, else $XDG_CACHE_HOME/vessel, else ~/.cache/vessel. */
int vsl_cache_dir(struct vsl_ctx *ctx, char **out);

/*
 * Ask apt-cache for the candidate of each name (one apt-cache call; the
 * answer is cached for as long as apt's package lists do not change).
 * pkgs[i].name must be set; the rest is filled in. A name apt does not
 * know fails with VSL_ENOENT naming it. When pkgs[i].version is already
 * set (a pinned version, e.g. from vsl_apt_closure), exactly that version is
 * looked up ("NAME=VERSION"), and VSL_ENOENT says apt does not have it.
 */
int vsl_apt_resolve(struct vsl_ctx *ctx, const char *cache, struct vsl_apt_pkg *pkgs, size_t n);
/*
 * The dependency closure of names as apt would install it on a system with
 * nothing installed: `apt-get --simulate install` (no recommends, no
 * suggests) against an empty dpkg status in the cache, so apt itself picks
 * among alternatives and virtual packages. *out gets every package of the
 * closure, the named ones included, with name and version set, sorted by
 * name (free each with vsl_apt_pkg_fini, then the array). The answer is
 * cached like vsl_apt_resolve's. apt's refusal (unsatisfiable or
 * conflicting dependencies) is VSL_EINVAL with apt's message.
 */
int vsl_apt_closure(struct vsl_ctx *ctx, const char *cache, const char *const *names, size_t n,
		    struct vsl_apt_pkg **out, size_t *nout);
/*
 * Read the "Inst NAME (VERSION ...)" lines of apt-get --simulate output into
 * packages sorted by name (duplicates dropped). VSL_ECORRUPT for an Inst
 * line it cannot read.
 */
int vsl_apt_parse_simulation(struct vsl_ctx *ctx, const char *text, struct vsl_apt_pkg **out,
			     size_t *nout);
/*
 * Make sure pkg's .deb is in the cache (apt-get download on a miss, then the
 * sha256 is checked against apt's) and set pkg->path. progress may be NULL.
 */
int vsl_apt_fetch(struct vsl_ctx *ctx, const char *cache, struct vsl_apt_pkg *pkg,
		  const struct vsl_progress *progress);
void vsl_apt_pkg_fini(struct vsl_apt_pkg *pkg);
/*
 * The first package named by a Depends: field that matches prefix (e.g.
 * "linux-image-" for linux-image-amd64 -> linux-image-6.1.0-28-amd64).
 * Caller frees; NULL if none.
 */
char *vsl_apt_depends_match(const char *depends, const char *prefix);

/*
 * Run a tool (argv[0] looked up in PATH, then /usr/sbin and /sbin) with
 * extra "NAME=VALUE" environment entries (NULL-terminated, may be NULL) and
 * stdin from stdin_path (NULL: /dev/null). Output is captured; a non-zero
 * exit is VSL_EIO with the tool's last message. *err_out (may be NULL)
 * receives its stderr (caller frees; may be NULL).
 */
int vsl_builder_exec(struct vsl_ctx *ctx, char *const argv[], const char *const *env,
		     const char *stdin_path, char **err_out);

/* ---- pruning the cache (cache.c) ---- */

struct vsl_cache_stats {
	size_t kept, removed;            /* entries */
	uint64_t kept_bytes, removed_bytes; /* allocated on disk */
};

/* Told of each entry removed (or, in a dry run, that would be): path relative to the cache. */
typedef void vsl_cache_removed_fn(void *opaque, const char *rel, uint64_t bytes);

/*
 * Keep the most recently used cache entries (debs/NAME.deb, builds/KEY/,
 * apt/KEY.txt; the mtime is the last use) whose sizes add up to at most
 * keep_bytes, and remove the rest: the first entry that does not fit and
 * every older one. Temporary and in-progress files are left alone.
 * dry_run reports without removing. removed and stats may be NULL.
 */
int vsl_cache_prune(struct vsl_ctx *ctx, const char *cache, uint64_t keep_bytes, bool dry_run,
		    vsl_cache_removed_fn *removed, void *opaque, struct vsl_cache_stats *stats);
/* Mark a cache entry as just used (its mtime). Best effort. */
void vsl_cache_touch(const char *path);

/* ---- kernel modules (modules.c) ---- */

/*
 * Add the named modules and everything they depend on (the "depends=" of
 * each module's .modinfo section, as depmod reads it) from the kernel
 * package's tree kpkg into t under lib/modules/VERSION/. Modules built into
 * the kernel (modules.builtin) are skipped. Writes lib/modules/VERSION/
 * modules.dep and etc/vessel/modules (one path per line, dependencies
 * first: the order to insmod them). .ko and .ko.xz are accepted.
 * VSL_ENOENT names a module the kernel does not have.
 */
int vsl_modules_add(struct vsl_ctx *ctx, struct vsl_tree *kpkg, const char *const *names,
		    size_t n, struct vsl_tree *t, char ***missing_out);

/* ---- initramfs (initramfs.c) ---- */

/*
 * Write t as a gzip-compressed newc cpio to path: members sorted, mtime
 * fixed (mtime argument: SOURCE_DATE_EPOCH or 0), uid/gid from the tree
 * (0 for package contents), inode numbers by position: byte-for-byte
 * reproducible.
 */
int vsl_initramfs_write(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path,
			int64_t mtime);

/*
 * Copy a host file or directory tree into t at dest (a guest path): regular
 * files, directories and symlinks with their permission bits; owner 0:0.
 * Anything else (devices, sockets) is refused.
 */
int vsl_tree_add_host(struct vsl_ctx *ctx, struct vsl_tree *t, const char *host,
		      const char *dest);

enum vsl_tree_archive { VSL_ARCHIVE_CPIO_GZ, VSL_ARCHIVE_TAR };
/* Write t as an archive (initramfs.c); same reproducibility rules as below. */
int vsl_tree_write(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path,
		   enum vsl_tree_archive kind, int64_t mtime);

/* ---- customization steps (steps.c) ---- */

/*
 * The filesystem a step works on: the initramfs tree, or a disk through
 * libguestfs. Paths are absolute guest paths. read returns VSL_ENOENT for a
 * missing file; *data is malloc()ed and NUL-terminated.
 */
struct vsl_fsops {
	int (*read)(void *fs, const char *path, char **data, size_t *len);
	int (*write)(void *fs, const char *path, const void *data, size_t len, uint32_t mode);
	int (*mkdir_p)(void *fs, const char *path, uint32_t mode);
	int (*chmod)(void *fs, const char *path, uint32_t mode);
	int (*chown)(void *fs, const char *path, long uid, long gid);
	int (*symlink)(void *fs, const char *target, const char *path);
	int (*remove)(void *fs, const char *path);
	int (*copy_in)(void *fs, struct vsl_tree *src, const char *to);
	int (*run)(void *fs, const char *cmd);  /* NULL: cannot run commands */
};

/* The tree backend (fs is a struct vsl_fstree). */
struct vsl_fstree {
	struct vsl_ctx *ctx;
	struct vsl_tree *t;
};
extern const struct vsl_fsops vsl_fsops_tree;

/*
 * Apply one step. src is the tree of the step's source (copy-in), or NULL.
 * Errors are prefixed with the step's recipe position ("r.yaml:30:5: step
 * 'edit': ..."). Sensitive values never appear in messages.
 */
int vsl_step_apply(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
		   const struct vsl_recipe *r, const struct vsl_recipe_step *st,
		   struct vsl_tree *src);

/* ---- disks through libguestfs (disks.c) ---- */

/*
 * Create every disk of the recipe in dir/disks/NAME.FORMAT, partition,
 * format and fill them (contents, then the steps that target them): ext4
 * disks without `run` steps with e2fsprogs (bit-identical between builds),
 * the others through ONE libguestfs appliance launch. src_trees[i] is the
 * tree of recipe source i (NULL when unused). UUIDs derive from the recipe
 * digest; file times are mtime. VSL_ENOTSUP when libguestfs cannot run here.
 */
int vsl_disks_build(struct vsl_ctx *ctx, const struct vsl_recipe *r, const char *dir,
		    struct vsl_tree *const *src_trees, int64_t mtime,
		    const struct vsl_progress *progress);

/* ---- the build (build.c) ---- */

struct vsl_build_opts {
	const struct vsl_recipe *recipe;
	const char *out;            /* NAME.vessel (default: recipe name + ".vessel") */
	bool dry_run;               /* print the plan (through plan_fn), build nothing */
	bool no_cache;              /* ignore cached results (downloads stay cached) */
	bool keep_failed;           /* leave the temporary directory of a failed build */
	const struct vsl_progress *progress;
	/*
	 * Set (by a signal handler) to stop the build: checked between stages
	 * and packages; the build then fails with VSL_ECANCELED and removes its
	 * staging directory. May be NULL.
	 */
	volatile sig_atomic_t *cancel;
	/* dry run: called once per plan line */
	void (*plan_fn)(void *opaque, const char *line);
	void *plan_opaque;
	/* set by the build: the temporary directory kept by keep_failed (caller frees) */
	char *kept_dir;
	bool cache_hit;             /* the whole result came from the cache */
};

int vsl_build_run(struct vsl_ctx *ctx, struct vsl_build_opts *o);

#endif
