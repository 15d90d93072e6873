/*
 * P2V: make a bundle from the disks of a physical machine (or from disk
 * image files: V2V), copying only what matters.
 *
 *	struct vsl_p2v_opts o = { .format = "qcow2", .progress = &p };
 *	struct vsl_problems warn;
 *	vsl_problems_init(&warn);
 *	const char *src[] = { "/dev/sda" };
 *	if (vsl_p2v(ctx, src, 1, "srv.vessel", &o, &warn, &stats) < 0) ...
 *
 * Each source is opened read-only and never written. Blocks that read as
 * zeroes are not written to the copy; for ext2/3/4 filesystems found on the
 * whole disk or in MBR/GPT partitions (libblkid), blocks that the block
 * bitmaps (libext2fs) mark free are not even read. Everything else
 * (unknown partition tables, LUKS, LVM, xfs so far) is copied as opaque
 * data and reported in warn.
 *
 * The bundle is written to a staging directory beside out and renamed into
 * place at the end; on any failure the staging directory is removed.
 */
#ifndef VESSEL_P2V_H
#define VESSEL_P2V_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/bundle.h"
#include "vessel/common.h"
#include "vessel/format.h"
#include "vessel/progress.h"

#define VSL_P2V_MAX_SOURCES 16
#define VSL_P2V_MAX_NICS 16

/* Facts of the source machine, as vessel.yaml records them. */
struct vsl_p2v_facts {
	unsigned cpus;               /* 0 = unknown */
	uint64_t memory;             /* bytes; 0 = unknown */
	unsigned nnics;
	struct {
		char name[32];       /* "eth0", "enp1s0" */
		uint8_t mac[6];
	} nics[VSL_P2V_MAX_NICS];
};

/*
 * Read the facts of the machine whose /proc and /sys are under root ("/" for
 * this machine; tests pass a directory holding proc/cpuinfo, proc/meminfo
 * and sys/class/net/NAME/{address,device}). Only NICs backed by a device
 * (sys/class/net/NAME/device exists) count; loopback, bridges, veth and
 * tunnels are left out. Missing files leave the fact unknown; malformed
 * ones are VSL_ECORRUPT naming the file.
 */
int vsl_p2v_facts_read(struct vsl_ctx *ctx, const char *root, struct vsl_p2v_facts *f);

/* Byte ranges of a disk, sorted, non-overlapping. */
struct vsl_p2v_extent {
	uint64_t off, len;
};
struct vsl_p2v_extents {
	struct vsl_p2v_extent *v;
	size_t n, cap;
};
void vsl_p2v_extents_fini(struct vsl_p2v_extents *e);
/* Append [off, off+len), merging with the last range when adjacent. Ranges must come in order. */
int vsl_p2v_extents_add(struct vsl_ctx *ctx, struct vsl_p2v_extents *e, uint64_t off,
			uint64_t len);

/*
 * Find the free blocks of the filesystems on the raw disk (block device or
 * raw image file) at path, of size bytes: partitions (MBR, GPT) are found
 * with libblkid, ext2/3/4 bitmaps read with libext2fs (read-only). Free
 * ranges are appended to *free (caller inits to zero and finis); what is
 * copied whole and why goes to warn (may be NULL) as warnings. Returns 0
 * even when nothing could be found (then *free stays empty).
 */
int vsl_p2v_free_map(struct vsl_ctx *ctx, const char *path, uint64_t size,
		     struct vsl_p2v_extents *fmap, struct vsl_problems *warn);

/*
 * Wrap src (borrowed; must outlive the wrapper) in a read-only image that
 * reads as zeroes, and reports VSL_BLOCK_ZERO, over the ranges in free
 * (copied). Close with vsl_p2v_filter_close (not vsl_image_close).
 */
int vsl_p2v_filter_open(struct vsl_image *src, const struct vsl_p2v_extents *fmap,
			struct vsl_image **out);
void vsl_p2v_filter_close(struct vsl_image *img);
/* Bytes the filter has read from src so far (free ranges are never read). */
uint64_t vsl_p2v_filter_bytes_read(const struct vsl_image *img);

/* ---- guest fix-ups (builder/p2v_fixup.c) ---- */

/*
 * Parse a guest disk device name as a Linux guest names it ("/dev/sda1",
 * "hdb", "xvda2", "vdc", "nvme0n1p3"): *disk is the 0-based disk index
 * (letters a.., or the NVMe controller), *part the partition number (0 =
 * the whole disk). Returns 0, or -1 when name is none of these.
 */
int vsl_p2v_guest_dev(const char *name, unsigned *disk, unsigned *part);

/* Writes the filesystem UUID of (disk, part) into uuid; 0 or -1 when unknown. */
typedef int vsl_p2v_uuid_fn(void *opaque, unsigned disk, unsigned part, char *uuid, size_t len);

/*
 * Rewrite an /etc/fstab: entries whose first field is a device path that
 * vsl_p2v_guest_dev parses and fn resolves become "UUID=..."; everything
 * else (comments, spacing, options) is kept byte for byte. *out is a heap
 * string; *changed counts the entries rewritten.
 */
int vsl_p2v_fstab_rewrite(struct vsl_ctx *ctx, const char *text, vsl_p2v_uuid_fn *fn,
			  void *opaque, char **out, unsigned *changed);

/*
 * Rewrite "root=/dev/sdXN" (and resume=) tokens anywhere in text (grub.cfg,
 * /etc/default/grub, a kernel command line) to "root=UUID=...". With
 * add_console, the value of GRUB_CMDLINE_LINUX="..." (or, when text has no
 * such line and is a single line, text itself) gains
 * "console=tty0 console=ttyS0,115200" unless it names a ttyS console.
 */
int vsl_p2v_cmdline_rewrite(struct vsl_ctx *ctx, const char *text, vsl_p2v_uuid_fn *fn,
			    void *opaque, bool add_console, char **out, unsigned *changed);

/* What the fix-ups found and did. */
struct vsl_p2v_guest {
	bool found;                  /* an operating system was found */
	char type[32];               /* "linux", "windows", ... */
	char distro[32];             /* "debian" */
	int major, minor;            /* 12, 0 */
	char product[128];           /* "Debian GNU/Linux 12 (bookworm)" */
	char root_dev[64];           /* appliance device of /, e.g. "/dev/sda1" */
	char root_uuid[64];
	char kernel_version[128];    /* "6.1.0-28-amd64"; "" when none was found */
	unsigned fstab_changed, grub_changed;
	bool initramfs_rebuilt;      /* update-initramfs was run */
	bool initramfs_has_virtio;   /* rebuilt, or MODULES=most (all block drivers) */
	bool tools_removed;
};

/*
 * Inspect and fix the converted guest on the copies disks[0..n) (format fmt):
 * one libguestfs launch; the source is never opened. Fixes: fstab and
 * GRUB device paths to UUIDs, serial console on the kernel command line,
 * virtio modules in the initramfs (listed in /etc/initramfs-tools/modules;
 * the guest's own update-initramfs is run unless initramfs.conf says
 * MODULES=most, which already includes every block driver), VMware/VirtualBox guest tools removed. The newest
 * kernel and its initramfs are copied to bootdir/vmlinuz and
 * bootdir/initrd.img. A guest that is not Linux, or has no OS, is
 * reported in warn and left untouched (g->found false or type != linux).
 */
int vsl_p2v_fixup(struct vsl_ctx *ctx, const char *const *disks, size_t ndisks, const char *fmt,
		  const char *bootdir, struct vsl_p2v_guest *g, struct vsl_problems *warn);

struct vsl_p2v_opts {
	const char *name;        /* bundle name; NULL: from out's base name */
	const char *format;      /* disk format in the bundle; NULL: "qcow2" */
	bool copy_free;          /* copy free filesystem blocks too */
	bool no_macs;            /* do not keep the source's MAC addresses */
	bool no_fixup;           /* do not touch the guest (no inspection, no fix-ups) */
	unsigned cpus;           /* 0: the source's (or 1) */
	uint64_t memory;         /* 0: the source's (or 1 GiB) */
	const char *facts_root;  /* NULL: "/" (tests point it at a fake tree) */
	const struct vsl_progress *progress;
};

struct vsl_p2v_stats {
	uint64_t disk_bytes;     /* virtual size of all sources */
	uint64_t free_bytes;     /* found free by the filesystem bitmaps, never read */
	uint64_t bytes_read;     /* read from the sources */
	uint64_t bytes_written;  /* written to the bundle's disks */
	struct vsl_p2v_guest guest; /* what fix-ups found (all zero with no_fixup) */
};

/* Convert sources[0..n) into the bundle out (must not exist). */
int vsl_p2v(struct vsl_ctx *ctx, const char *const *sources, size_t n, const char *out,
	    const struct vsl_p2v_opts *o, struct vsl_problems *warn, struct vsl_p2v_stats *stats);

#endif
