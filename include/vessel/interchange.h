/*
 * Interchange: bundles to and from the descriptors of other VM tools
 * (specification and choices: docs/interchange.md).
 *
 *	OVF 1.x  (formats/ovf.c)       DMTF envelope, generated and parsed with libxml2
 *	OVA      (formats/ova.c)       ustar archive of .ovf, .mf, streamOptimized VMDKs (libarchive)
 *	.vmx     (formats/vmx.c)       VMware Workstation/Player/Fusion configuration
 *	libvirt  (formats/libvirt.c)   <domain type='kvm'> XML
 *	drivers  (formats/interchange.c) vsl_export / vsl_import
 *
 * Every foreign descriptor is parsed into one neutral description, struct
 * vsl_ix_vm; import turns it into a bundle, converting the disks with the
 * formats library. What a descriptor says and vessel cannot represent is
 * added to a struct vsl_problems as a warning, never dropped silently.
 *
 *	struct vsl_problems warn;
 *	vsl_problems_init(&warn);
 *	struct vsl_export_opts eo = { .kind = VSL_IX_OVA, .hash = VSL_HASH_SHA256 };
 *	if (vsl_export(ctx, "web.vessel", "web.ova", &eo, &warn) < 0) ... vsl_ctx_error(ctx) ...
 *	struct vsl_import_opts io = { 0 };
 *	if (vsl_import(ctx, "web.ova", "copy.vessel", &io, &warn) < 0) ...
 *	vsl_problems_fini(&warn);
 *
 * The parsers take memory buffers (tests and fuzzers) and never touch files;
 * they never substitute XML entities, never load DTDs or anything from the
 * network, and refuse documents that declare a DOCTYPE.
 */
#ifndef VESSEL_INTERCHANGE_H
#define VESSEL_INTERCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/bundle.h"
#include "vessel/common.h"
#include "vessel/hash.h"
#include "vessel/progress.h"

enum vsl_ix_kind { VSL_IX_NONE = 0, VSL_IX_OVF, VSL_IX_OVA, VSL_IX_VMX, VSL_IX_LIBVIRT };

/* "ovf", "ova", "vmx", "libvirt"; and back (VSL_IX_NONE when unknown). */
const char *vsl_ix_kind_name(enum vsl_ix_kind kind);
enum vsl_ix_kind vsl_ix_kind_from_name(const char *name);

#define VSL_IX_DESC_MAX (16u << 20)     /* descriptors (.ovf, .vmx, XML) larger than this are refused */
#define VSL_IX_MAX_DISKS 64u
#define VSL_IX_MAX_NICS 32u
#define VSL_IX_MAX_FILES 1024u
#define VSL_IX_USTAR_MAX ((1ull << 33) - 1)  /* the largest ustar member: 8 GiB - 1 */

/* Disk controller kinds as descriptors name them. */
enum vsl_ix_ctrl {
	VSL_IX_CTRL_NONE = 0,
	VSL_IX_CTRL_IDE,
	VSL_IX_CTRL_SCSI,      /* sub: "lsilogic", "lsilogicsas", "pvscsi", "buslogic", "virtio-scsi" */
	VSL_IX_CTRL_SATA,
	VSL_IX_CTRL_VIRTIO,    /* virtio-blk */
	VSL_IX_CTRL_NVME,
};

/* One disk of a foreign VM. Strings are heap, owned by the vsl_ix_vm. */
struct vsl_ix_disk {
	char *name;            /* a valid bundle disk name ("disk1" when the source had none usable) */
	char *file;            /* OVF: File id; vmx/libvirt: path as written in the descriptor */
	char *format;          /* "vmdk", "qcow2", "raw", "vpc" or NULL (probe) */
	uint64_t capacity;     /* bytes, 0 = unknown */
	enum vsl_ix_ctrl ctrl;
	char *ctrl_sub;        /* controller model ("lsilogic", ...) or NULL */
	bool readonly;
};

struct vsl_ix_nic {
	bool has_mac;
	uint8_t mac[6];
	char *model;           /* "virtio", "e1000", "vmxnet3", ... or NULL */
	bool connected;        /* false: the card has no link (bundle mode "none") */
};

/* OVF References/File entries. */
struct vsl_ix_file {
	char *id, *href;
	uint64_t size;         /* 0 = not given */
	uint64_t chunk_size;   /* 0 = one file; else href.000000000, .000000001, ... */
};

struct vsl_ix_vm {
	char *name;            /* as the source names the machine (not necessarily a valid bundle name) */
	unsigned cpus;
	uint64_t memory;       /* bytes */
	char *os;              /* the source's OS identifier ("debian11_64Guest", "101", ...) or NULL */
	enum vsl_firmware firmware;
	char *kernel, *initrd, *cmdline;   /* libvirt direct kernel boot (paths as written) */
	struct vsl_ix_disk *disks;
	size_t ndisks;
	struct vsl_ix_nic *nics;
	size_t nnics;
	bool serial;           /* a serial port is configured */
	unsigned serial_port;  /* its number, 1 = COM1 .. 4 = COM4 (0 = unknown: COM1) */
	bool serial_silent;    /* vessel's own OVF said output: none */
	struct vsl_ix_file *files;
	size_t nfiles;
	bool ovirt;            /* oVirt-flavoured OVF (virt-v2v -o rhv/vdsm): hrefs are under ../../../images/ */
};

void vsl_ix_vm_init(struct vsl_ix_vm *vm);
void vsl_ix_vm_fini(struct vsl_ix_vm *vm);

/*
 * Parsers: text[0..len) is untrusted. file names the text in warnings.
 * Fill vm (initialised by the parser; free with vsl_ix_vm_fini whatever
 * the result); unmappable facts go to warn as warnings. Return 0, or
 * VSL_EINVAL / VSL_ERANGE / VSL_ENOTSUP with a message naming the place.
 */
int vsl_ovf_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		  struct vsl_ix_vm *vm, struct vsl_problems *warn);
int vsl_vmx_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		  struct vsl_ix_vm *vm, struct vsl_problems *warn);
int vsl_libvirt_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		      struct vsl_ix_vm *vm, struct vsl_problems *warn);

/* What the OVF generator needs to know about each exported disk (cfg->disks order). */
struct vsl_ovf_disk {
	const char *href;      /* file name in the package, e.g. "web-disk1.vmdk" */
	uint64_t file_size;    /* bytes of the VMDK file */
	uint64_t capacity;     /* virtual size, bytes */
	uint64_t populated;    /* bytes of guest data (allocated), 0 = unknown */
	uint64_t chunk_size;   /* 0 = not split */
};

/*
 * Generate an OVF 1.x envelope (namespace http://schemas.dmtf.org/ovf/envelope/1,
 * valid against DSP8023 1.1.1) for cfg with one VMDK per disk. *xml is a heap
 * NUL-terminated string (caller frees), *len excludes the NUL. What OVF
 * cannot express (direct kernel boot, port forwards) goes to warn.
 */
int vsl_ovf_generate(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg,
		     const struct vsl_ovf_disk *disks, char **xml, size_t *len,
		     struct vsl_problems *warn);

/* The VMDK adapter type ("lsilogic" or "ide") vessel uses for a bundle disk bus. */
const char *vsl_ix_vmdk_adapter(enum vsl_disk_bus bus);

/*
 * .vmx text for cfg; disk_files[i] is the VMDK file name of cfg->disks[i]
 * (beside the .vmx). Heap string, caller frees.
 */
int vsl_vmx_generate(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg,
		     const char *const *disk_files, char **text, size_t *len,
		     struct vsl_problems *warn);

/*
 * libvirt domain XML for cfg; disk_paths[i] is the absolute host path of
 * cfg->disks[i] (and kernel/initrd their absolute paths, or NULL).
 */
int vsl_libvirt_generate(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg,
			 const char *const *disk_paths, const char *kernel, const char *initrd,
			 char **xml, size_t *len, struct vsl_problems *warn);

/* ---- OVA manifests ---- */

/* One "ALG(name)= hex" line, as vessel writes them (buf >= 256 + VSL_HASH_HEX_MAX). */
int vsl_ova_manifest_line(char *buf, size_t cap, enum vsl_hash_alg alg, const char *name,
			  const char *hex);

struct vsl_ova_mf_entry {
	enum vsl_hash_alg alg;
	char name[256];
	char hex[VSL_HASH_HEX_MAX];
};

/*
 * Parse a manifest: lines "SHA256(name)= hex" (also "SHA1 (name) = hex" as
 * VirtualBox writes them; SHA1, SHA256, SHA512). *out is a heap array
 * (caller frees). Malformed lines are VSL_EINVAL naming the line.
 */
int vsl_ova_manifest_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
			   struct vsl_ova_mf_entry **out, size_t *n);

/* ---- the drivers ---- */

struct vsl_export_opts {
	enum vsl_ix_kind kind;
	enum vsl_hash_alg hash;        /* OVA/OVF manifest digest (the CLI defaults to SHA256) */
	uint64_t chunk_size;           /* OVA: split disk members into chunks of this size (0: refuse >= 8 GiB) */
	uint64_t member_limit;         /* OVA: largest member (0 = VSL_IX_USTAR_MAX); tests lower it */
	unsigned threads;              /* VMDK compression threads (0 = online CPUs) */
	const struct vsl_progress *progress;
};

/*
 * Export the bundle in dir to out:
 *   OVA      out is the .ova file (written to out.tmp-XXXXXX, renamed at the end);
 *   OVF      out is a directory created for NAME.ovf, NAME.mf and NAME-diskN.vmdk;
 *   VMX      out is a directory created for NAME.vmx and NAME-diskN.vmdk;
 *   LIBVIRT  out is the domain XML file; it references the bundle's disks in place.
 * Nothing is left behind on failure. Warnings (what the target cannot express) go to warn.
 */
int vsl_export(struct vsl_ctx *ctx, const char *dir, const char *out,
	       const struct vsl_export_opts *o, struct vsl_problems *warn);

struct vsl_import_opts {
	enum vsl_ix_kind kind;         /* VSL_IX_NONE: from the file name / content */
	const char *name;              /* bundle name; NULL: from the source, else from out */
	unsigned threads;
	const struct vsl_progress *progress;
};

/*
 * Import in (.ova, .ovf, .vmx or libvirt domain XML) into the new bundle
 * out (must not exist; built in out.tmp-XXXXXX and renamed). Disks are
 * converted to qcow2 in out/disks/. OVA manifests are verified (a mismatch
 * is an error naming the member).
 */
int vsl_import(struct vsl_ctx *ctx, const char *in, const char *out,
	       const struct vsl_import_opts *o, struct vsl_problems *warn);

/* Guess the kind of an input from its name and first bytes (VSL_IX_NONE if unsure). */
enum vsl_ix_kind vsl_ix_detect(const char *path, const void *head, size_t len);

#endif
