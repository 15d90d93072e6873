/*
 * Bundles: a virtual machine encapsulated as a directory NAME.vessel/
 * (specification: docs/bundle.md, schema version 1).
 *
 *	NAME.vessel/
 *	  vessel.yaml   configuration (struct vsl_bundle_config)
 *	  disks/        disk images          boot/   kernel, initrd
 *	  state/        memory + device state while suspended
 *	  MANIFEST      "SHA256 (path) = hex" for every other file, sorted
 *
 * Reading (runtime, export, inspect):
 *
 *	struct vsl_bundle_config cfg;
 *	struct vsl_problems probs;
 *	vsl_problems_init(&probs);
 *	if (vsl_bundle_load(ctx, "web.vessel", 0, &cfg, &probs) < 0) {
 *		for (size_t i = 0; i < probs.count; i++) ... print probs.items[i] ...
 *	}
 *	char *kernel;
 *	vsl_bundle_resolve_path(ctx, "web.vessel", cfg.boot.kernel, &kernel);
 *	...
 *	free(kernel); vsl_bundle_config_free(&cfg); vsl_problems_fini(&probs);
 *
 * Writing (builder, import, P2V), in a temporary directory renamed at the end:
 *
 *	vsl_bundle_create(ctx, tmpdir);                  mkdir tmpdir, disks/, boot/
 *	... write boot/vmlinuz, disks/root.qcow2 ...
 *	struct vsl_bundle_config cfg;
 *	vsl_bundle_config_init(&cfg);
 *	cfg.name = strdup("web"); cfg.arch = strdup("x86_64"); cfg.cpus = 2; ...
 *	struct vsl_bundle_disk *d = vsl_bundle_config_add_disk(&cfg);
 *	d->name = strdup("root"); d->file = strdup("disks/root.qcow2"); ...
 *	vsl_bundle_write_config(ctx, tmpdir, &cfg);      validates first
 *	vsl_bundle_write_manifest(ctx, tmpdir);          last: hashes everything
 *	vsl_bundle_config_free(&cfg);
 *
 * Both writers are deterministic (fixed key order, sorted file list, no
 * timestamps), so two builds of the same inputs are bit-identical.
 *
 * Ownership: every char * and array in struct vsl_bundle_config is owned by
 * the config (heap, freed by vsl_bundle_config_free); writers of a config
 * store strdup()ed strings. Paths inside it are relative to the bundle
 * directory; use vsl_bundle_resolve_path() to turn them into host paths.
 */
#ifndef VESSEL_BUNDLE_H
#define VESSEL_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/common.h"

#define VSL_BUNDLE_SCHEMA 1               /* the vessel-bundle: version this code reads */
#define VSL_BUNDLE_CONFIG "vessel.yaml"
#define VSL_BUNDLE_MANIFEST "MANIFEST"
#define VSL_BUNDLE_MEM_MIN (16ull << 20)  /* 16 MiB */
#define VSL_BUNDLE_MEM_MAX (1ull << 40)   /* 1 TiB */
#define VSL_BUNDLE_CPUS_MAX 256u
#define VSL_BUNDLE_NAME_MAX 64            /* name: [A-Za-z0-9][A-Za-z0-9._-]* */
#define VSL_BUNDLE_CONFIG_MAX (1u << 20)  /* vessel.yaml larger than 1 MiB is refused */

/* ---- problems: everything wrong with a bundle, reported at once ---- */

enum vsl_problem_severity { VSL_PROBLEM_ERROR = 0, VSL_PROBLEM_WARNING = 1 };

struct vsl_problem {
	char *file;      /* relative to the bundle ("vessel.yaml", "disks/a.qcow2"); "" = the bundle */
	int line, col;   /* 1-based; 0 when not applicable (col 0 = whole line) */
	enum vsl_problem_severity severity;
	char *message;   /* without file/line prefix, e.g. "cpus: must be 1..256, found 0" */
};

/* A growable list, caller storage: _init before use, _fini to free. */
struct vsl_problems {
	struct vsl_problem *items;
	size_t count;
	size_t errors;   /* how many items are VSL_PROBLEM_ERROR */
	size_t cap;
};

void vsl_problems_init(struct vsl_problems *p);
void vsl_problems_fini(struct vsl_problems *p);
/* Append one problem. Returns 0 or VSL_ENOMEM (the list then stays as it was). */
int vsl_problems_add(struct vsl_problems *p, enum vsl_problem_severity sev, const char *file,
		     int line, int col, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "FILE:LINE:COL: message" (parts omitted when 0/empty) into buf; returns buf. */
char *vsl_problem_format(const struct vsl_problem *pr, char *buf, size_t len);

/* ---- the configuration: vessel.yaml as plain C data ---- */

enum vsl_boot_kind {
	VSL_BOOT_NONE = 0,    /* not set (invalid in a complete config) */
	VSL_BOOT_KERNEL,      /* direct Linux boot: boot.kernel [+ initrd, cmdline] */
	VSL_BOOT_FIRMWARE,    /* BIOS/UEFI from boot.disk */
};

enum vsl_firmware { VSL_FIRMWARE_BIOS = 0, VSL_FIRMWARE_UEFI };
enum vsl_disk_bus { VSL_DISK_BUS_VIRTIO = 0, VSL_DISK_BUS_IDE };
enum vsl_net_mode { VSL_NET_USER = 0, VSL_NET_NONE };
enum vsl_net_proto { VSL_NET_TCP = 0, VSL_NET_UDP };
enum vsl_serial_output { VSL_SERIAL_STDIO = 0, VSL_SERIAL_NONE };

struct vsl_bundle_boot {
	enum vsl_boot_kind kind;
	/* VSL_BOOT_KERNEL */
	char *kernel;             /* relative path, required */
	char *initrd;             /* relative path or NULL */
	char *cmdline;            /* or NULL */
	/* VSL_BOOT_FIRMWARE */
	enum vsl_firmware firmware;
	char *disk;               /* name of an entry of disks[] */
};

struct vsl_bundle_disk {
	char *name;               /* unique: [A-Za-z0-9][A-Za-z0-9._-]*, e.g. "root" */
	char *file;               /* relative path, normally under disks/ */
	char *format;             /* "raw", "qcow2", "vmdk" or "vpc" (qemu-img names) */
	enum vsl_disk_bus bus;
	bool readonly;
};

struct vsl_bundle_forward {
	enum vsl_net_proto proto;
	char *host_addr;          /* host address to bind, NULL = 127.0.0.1 */
	uint16_t host_port, guest_port;   /* 1..65535 */
};

struct vsl_bundle_nic {
	enum vsl_net_mode mode;
	char *model;              /* "virtio" (the only model so far) */
	bool has_mac;
	uint8_t mac[6];           /* when has_mac; otherwise the runtime picks one */
	struct vsl_bundle_forward *forwards;
	size_t nforwards;
};

struct vsl_bundle_serial {
	unsigned port;            /* 1 = COM1 .. 4 = COM4 */
	enum vsl_serial_output output;
};

struct vsl_bundle_source {
	char *uri;                /* URL, path or ssh://host/dev/sdX it came from */
	char *sha256;             /* 64 lowercase hex digits, or NULL */
};

struct vsl_bundle_provenance {
	char *recipe;             /* recipe file name, or NULL */
	char *recipe_digest;      /* "sha256:<hex>", or NULL */
	char *vessel_version;     /* vessel that wrote the bundle, or NULL */
	struct vsl_bundle_source *sources;
	size_t nsources;
};

/*
 * The guest operating system as found by P2V's inspection or an import
 * (vessel.yaml "guest:", all optional, informative only: nothing in vessel
 * depends on it). Each field is a non-empty string or NULL.
 */
struct vsl_bundle_guest {
	char *os;                 /* family: "linux", "windows", "freebsd", ... */
	char *distro;             /* "debian", "ubuntu", "rhel", ... */
	char *version;            /* "12.15", "22.04", "10.0" */
	char *product;            /* "Debian GNU/Linux 12 (bookworm)" */
};
#define VSL_BUNDLE_GUEST_STR_MAX 128
/* Can s be stored in a guest field: 1..VSL_BUNDLE_GUEST_STR_MAX bytes, no control characters? */
bool vsl_bundle_guest_str_ok(const char *s);

/* Facts found by vsl_bundle_load that are not part of vessel.yaml (write ignores them). */
struct vsl_bundle_facts {
	bool parsed;              /* vessel.yaml was read and had the current schema */
	bool manifest_present;
	bool manifest_verified;   /* every listed file was hashed (not VSL_BUNDLE_NO_VERIFY) */
	size_t manifest_files;    /* entries in MANIFEST */
	size_t manifest_problems; /* problems found in MANIFEST checks */
	bool suspended;           /* state/ exists and holds files */
};

struct vsl_bundle_config {
	unsigned schema;          /* VSL_BUNDLE_SCHEMA */
	char *name;
	char *arch;               /* "x86_64" */
	unsigned cpus;            /* 1..VSL_BUNDLE_CPUS_MAX */
	uint64_t memory;          /* bytes, VSL_BUNDLE_MEM_MIN..VSL_BUNDLE_MEM_MAX, multiple of 4 KiB */
	struct vsl_bundle_boot boot;
	struct vsl_bundle_disk *disks;
	size_t ndisks;
	struct vsl_bundle_nic *nics;      /* vessel.yaml "network:" list */
	size_t nnics;
	struct vsl_bundle_serial serial;
	struct vsl_bundle_guest guest;        /* all NULL when vessel.yaml has no "guest:" */
	struct vsl_bundle_provenance provenance;
	struct vsl_bundle_facts facts;
};

/* Zero cfg and set the defaults (schema 1, serial COM1 to stdio). */
void vsl_bundle_config_init(struct vsl_bundle_config *cfg);
/* Free everything cfg owns and re-initialise it. NULL is a no-op. */
void vsl_bundle_config_free(struct vsl_bundle_config *cfg);
/*
 * Append a zeroed entry (defaults: bus virtio, mode user, model NULL = virtio,
 * proto tcp) and return it; NULL on out-of-memory. Pointers to earlier
 * entries of the same array are invalidated.
 */
struct vsl_bundle_disk *vsl_bundle_config_add_disk(struct vsl_bundle_config *cfg);
struct vsl_bundle_nic *vsl_bundle_config_add_nic(struct vsl_bundle_config *cfg);
struct vsl_bundle_forward *vsl_bundle_nic_add_forward(struct vsl_bundle_nic *nic);
struct vsl_bundle_source *vsl_bundle_config_add_source(struct vsl_bundle_config *cfg);
/* Find a disk by name; NULL if none. */
const struct vsl_bundle_disk *vsl_bundle_config_disk(const struct vsl_bundle_config *cfg,
						      const char *name);

/* Names as they appear in vessel.yaml ("virtio", "bios", "tcp", "stdio", ...). */
const char *vsl_bundle_bus_name(enum vsl_disk_bus bus);
const char *vsl_bundle_firmware_name(enum vsl_firmware fw);
const char *vsl_bundle_net_mode_name(enum vsl_net_mode mode);
const char *vsl_bundle_proto_name(enum vsl_net_proto proto);
const char *vsl_bundle_serial_output_name(enum vsl_serial_output out);

/*
 * Check a config built in memory against the schema (ranges, names,
 * required fields, disk references, path syntax). Files are not looked at.
 * Problems go to probs (may be NULL); returns 0 or VSL_EINVAL with the first
 * problem as ctx's message.
 */
int vsl_bundle_config_check(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg,
			    struct vsl_problems *probs);

/* ---- reading ---- */

enum {
	VSL_BUNDLE_NO_VERIFY = 1 << 0,   /* check MANIFEST's syntax and file list, skip hashing */
	VSL_BUNDLE_NO_MANIFEST = 1 << 1, /* ignore MANIFEST entirely (bundle under construction) */
};

/*
 * Parse vessel.yaml from text (no files touched beyond it: paths are
 * checked for syntax only). file names the text in problems. cfg is
 * always initialised and must be freed with vsl_bundle_config_free, even
 * on failure (it then holds what could be parsed). Returns 0, or VSL_EINVAL
 * if any problem is an error.
 */
int vsl_bundle_parse_config(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
			    struct vsl_bundle_config *cfg, struct vsl_problems *probs);

/*
 * Load the bundle in dir: parse and validate vessel.yaml, check that every
 * file it names exists inside the bundle (see vsl_bundle_resolve_path),
 * and verify MANIFEST (every other file listed, each digest matching,
 * nothing missing, nothing extra). Every problem found is appended to
 * probs (may be NULL); warnings do not fail the load.
 *
 * cfg is always initialised; free it with vsl_bundle_config_free whatever
 * the result. Returns 0 when no error was found; VSL_ENOENT when dir is
 * not a directory (or has no vessel.yaml); VSL_EINVAL when any problem is
 * an error (ctx: "N problems, first: FILE:LINE:COL: message").
 */
int vsl_bundle_load(struct vsl_ctx *ctx, const char *dir, int flags,
		    struct vsl_bundle_config *cfg, struct vsl_problems *probs);

/*
 * Resolve relpath (as found in vessel.yaml) inside the bundle dir and
 * return the real absolute host path in *abs (caller frees). Refused with
 * VSL_EPERM: empty, absolute, ".." components, and any path that leaves the
 * bundle through a symbolic link (of the file or of a directory on the
 * way). Uses openat2(RESOLVE_BENEATH) when the kernel has it, then always
 * realpath + prefix check. VSL_ENOENT when the file does not exist.
 * Not proof against a concurrent attacker renaming directories in the
 * bundle between this check and the open; open the result with O_NOFOLLOW
 * where that matters.
 */
int vsl_bundle_resolve_path(struct vsl_ctx *ctx, const char *dir, const char *relpath,
			    char **abs);
enum { VSL_RESOLVE_NO_OPENAT2 = 1 << 0 }; /* realpath + prefix check only (tests) */
int vsl_bundle_resolve_path_ex(struct vsl_ctx *ctx, const char *dir, const char *relpath,
			       int flags, char **abs);
/* Syntax-only check of a bundle-relative path: 0 or VSL_EPERM with a reason in ctx. */
int vsl_bundle_check_relpath(struct vsl_ctx *ctx, const char *relpath);

/* ---- writing ---- */

/* mkdir dir (must not exist: VSL_EEXIST), dir/disks and dir/boot. */
int vsl_bundle_create(struct vsl_ctx *ctx, const char *dir);

/*
 * Validate cfg (vsl_bundle_config_check) and write dir/vessel.yaml with
 * libyaml's emitter: keys in the order of docs/bundle.md, vessel-bundle
 * first, optional keys omitted when unset, memory with the largest exact
 * binary unit ("512M"). Written to a temporary file and renamed.
 */
int vsl_bundle_write_config(struct vsl_ctx *ctx, const char *dir,
			    const struct vsl_bundle_config *cfg);
/* The same document into a heap string (caller frees); *len excludes the NUL. */
int vsl_bundle_format_config(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg,
			     char **text, size_t *len);

/*
 * Write dir/MANIFEST: one line "SHA256 (path) = <64 hex>\n" for every
 * regular file under dir except MANIFEST itself, paths relative with '/',
 * sorted by byte value. Symbolic links and special files are refused
 * (VSL_EPERM). Call it last, after every other file is in place.
 */
int vsl_bundle_write_manifest(struct vsl_ctx *ctx, const char *dir);

#endif
