/*
 * Recipes: the YAML description of a VM bundle (schema v1, docs/recipe.md).
 *
 * A recipe is parsed with libyaml into a tree that keeps every node's mark,
 * then checked against the v1 schema in one pass that collects every problem
 * instead of stopping at the first one, so `vessel validate` can print them
 * all as "recipe.yaml:LINE:COL: message":
 *
 *	struct vsl_recipe_opts o = { .vars = kv, .nvars = n, .use_env = true };
 *	struct vsl_recipe *r;
 *	int rc = vsl_recipe_load(ctx, "hello.yaml", &o, &r);
 *	if (rc == VSL_EINVAL)          // recipe has errors; r is still valid
 *		for (size_t i = 0; i < vsl_recipe_ndiags(r); i++)
 *			puts(vsl_recipe_diag(r, i));
 *	vsl_recipe_free(r);
 *
 * Variables (`${NAME}`) are substituted while the recipe is read; their
 * values come from --var (opts->vars), then the environment (only for names
 * the recipe declares), then the recipe's defaults. A variable declared
 * `sensitive: true` taints every string it is substituted into: such values
 * are marked (`sensitive` flags below) and are never printed, logged or
 * written to provenance by vessel.
 */
#ifndef VESSEL_RECIPE_H
#define VESSEL_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/common.h"

#define VSL_RECIPE_VERSION 1
#define VSL_RECIPE_MAX_BYTES (4u << 20) /* a recipe larger than this is refused */

/* A position in the recipe file, 1-based (0:0 = no position). */
struct vsl_recipe_loc {
	unsigned line, col;
};

struct vsl_recipe_var {
	char *name;
	char *value;        /* NULL: no value (required, none given) */
	char *description;  /* may be NULL */
	const char *origin; /* "--var", "environment", "default" or NULL */
	bool sensitive;
	bool used;
	struct vsl_recipe_loc loc;
};

struct vsl_recipe_forward {
	bool udp;
	uint16_t host_port, guest_port;
	struct vsl_recipe_loc loc;
};

/* A package name with the place it was written (for errors found at build time). */
struct vsl_recipe_pkg {
	char *name;
	struct vsl_recipe_loc loc;
};

/* One file put into the initramfs. Exactly one of content / source is set. */
struct vsl_recipe_file {
	char *path;         /* absolute path in the guest */
	char *content;      /* literal text */
	char *source;       /* host path, resolved against the recipe's directory */
	uint32_t mode;      /* permission bits */
	bool sensitive;
	struct vsl_recipe_loc loc;
};

enum vsl_recipe_source_kind { VSL_SOURCE_PATH, VSL_SOURCE_PACKAGE, VSL_SOURCE_TARBALL };

/* A named input that steps and disk contents refer to. */
struct vsl_recipe_source {
	char *name;
	enum vsl_recipe_source_kind kind;
	char *path;         /* PATH: host file or directory; TARBALL: the archive (both
	                       resolved against the recipe's directory) */
	char *package;      /* PACKAGE: Debian package name */
	char *sha256;       /* optional pinned digest of a PATH file or a TARBALL */
	bool depends;       /* PACKAGE: its dependencies too (default true) */
	struct vsl_recipe_loc loc;
};

/* Disk contents: a source copied into the filesystem at `to`. */
struct vsl_recipe_content {
	char *source;
	int source_index;
	char *to;
	struct vsl_recipe_loc loc;
};

enum vsl_recipe_ptable { VSL_PTABLE_NONE, VSL_PTABLE_MBR, VSL_PTABLE_GPT };
enum vsl_recipe_fs { VSL_FS_EXT4, VSL_FS_XFS, VSL_FS_VFAT };

struct vsl_recipe_disk {
	char *name;
	char *image;        /* the disk starts as a copy of this host image (any format
	                       formats/ reads); NULL: a new disk */
	uint64_t size;      /* with image: its virtual size */
	char *format;       /* "qcow2" (default) or "raw" */
	enum vsl_recipe_ptable ptable;
	enum vsl_recipe_fs fs;
	char *label;        /* filesystem label, may be NULL */
	struct vsl_recipe_content *contents;
	size_t ncontents;
	struct vsl_recipe_loc loc;
};

enum vsl_recipe_step_kind {
	VSL_STEP_WRITE, VSL_STEP_COPY_IN, VSL_STEP_MKDIR, VSL_STEP_CHMOD,
	VSL_STEP_CHOWN, VSL_STEP_SYMLINK, VSL_STEP_DELETE, VSL_STEP_APPEND_LINE,
	VSL_STEP_EDIT, VSL_STEP_HOSTNAME, VSL_STEP_SSH_KEY, VSL_STEP_ROOT_PASSWORD,
	VSL_STEP_FIRSTBOOT, VSL_STEP_RUN
};

/*
 * One customization step. `arg` is the value of the step's kind key (a path,
 * a source name, a hostname, a key, a password or a command); the other
 * fields are the modifiers that kind accepts.
 */
struct vsl_recipe_step {
	enum vsl_recipe_step_kind kind;
	char *arg;
	char *target;       /* disk name, or "initramfs" */
	int disk_index;     /* index into disks[], -1 for the initramfs */
	char *content;      /* write */
	char *to;           /* copy-in destination */
	int source_index;   /* copy-in */
	char *link_target;  /* symlink */
	char *line;         /* append-line */
	char *match, *replace; /* edit: every occurrence of match becomes replace */
	char *user;         /* ssh-key (default root) */
	uint32_t mode;
	bool has_mode;
	long uid, gid;      /* chown */
	bool sensitive;     /* a sensitive variable went into this step */
	struct vsl_recipe_loc loc;
};

enum vsl_recipe_serial { VSL_RECIPE_SERIAL_CONSOLE, VSL_RECIPE_SERIAL_NONE };

struct vsl_recipe {
	char *path;         /* as given (used in messages) */
	char *dir;          /* directory relative paths are resolved against */
	char digest[65];    /* sha256 of the recipe file's bytes */

	char *name;
	char *description;
	char *arch;         /* "x86_64" */
	unsigned cpus;
	uint64_t memory;
	bool net_user;      /* network mode user (libslirp) */
	struct vsl_recipe_forward *forwards;
	size_t nforwards;
	enum vsl_recipe_serial serial;

	char *kernel_package; /* exactly one of these two */
	char *kernel_file;
	struct vsl_recipe_loc kernel_loc;
	char *cmdline;

	bool has_initramfs;
	struct vsl_recipe_pkg *packages;
	size_t npackages;
	bool packages_depends; /* boot.initramfs.depends: add the packages' dependencies (true) */
	struct vsl_recipe_pkg *modules;
	size_t nmodules;
	struct vsl_recipe_file *files;
	size_t nfiles;
	char *init;         /* init script text (from init or init-file) */
	bool init_sensitive;
	struct vsl_recipe_loc init_loc;

	struct vsl_recipe_source *sources;
	size_t nsources;
	struct vsl_recipe_disk *disks;
	size_t ndisks;
	struct vsl_recipe_step *steps;
	size_t nsteps;
	struct vsl_recipe_var *vars;
	size_t nvars;

	/* diagnostics, "path:line:col: message" each */
	char **diags;
	size_t ndiags;
};

struct vsl_recipe_opts {
	const char *const *vars; /* "NAME=VALUE" overrides (--var) */
	size_t nvars;
	bool use_env;            /* take declared variables from the environment */
};

/*
 * Read and check the recipe at path. Returns 0 when it is valid, VSL_EINVAL
 * when it has errors (then *out is set and holds the diagnostics, and ctx
 * holds the first one plus a count), or another VSL_E* code with *out NULL
 * when the file cannot be read at all. Free *out with vsl_recipe_free.
 */
int vsl_recipe_load(struct vsl_ctx *ctx, const char *path, const struct vsl_recipe_opts *opts,
		    struct vsl_recipe **out);
/* Same, on text in memory; path is used for messages and relative paths. */
int vsl_recipe_parse(struct vsl_ctx *ctx, const char *path, const char *text, size_t len,
		     const struct vsl_recipe_opts *opts, struct vsl_recipe **out);
void vsl_recipe_free(struct vsl_recipe *r);

size_t vsl_recipe_ndiags(const struct vsl_recipe *r);
/* Borrowed, valid until vsl_recipe_free. */
const char *vsl_recipe_diag(const struct vsl_recipe *r, size_t i);

/* "write", "copy-in", ... as written in recipes. */
const char *vsl_recipe_step_name(enum vsl_recipe_step_kind kind);
const char *vsl_recipe_fs_name(enum vsl_recipe_fs fs);
const char *vsl_recipe_ptable_name(enum vsl_recipe_ptable pt);

/*
 * Format "path:line:col: " for loc into buf (used by the builder to name the
 * recipe line in errors found at build time). Returns buf.
 */
char *vsl_recipe_where(const struct vsl_recipe *r, struct vsl_recipe_loc loc, char *buf,
		       size_t len);

#endif
