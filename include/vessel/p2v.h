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
 * bitmaps (libext2fs) mark free are not even read. For xfs, LVM physical
 * volumes (any filesystem in their LVs) and a few other filesystems on
 * local disks, one libguestfs launch fstrims them in a qcow2 overlay over
 * the source (builder/p2v_trim.c) and the discarded clusters are skipped the
 * same way. Everything else (unknown partition tables, LUKS, other
 * filesystems, xfs/LVM when libguestfs cannot run) is copied as opaque data
 * and reported in warn.
 *
 * A source "ssh://[USER@]HOST[:PORT]/dev/sdX" is a disk of another machine,
 * read through one ssh session (builder/p2v_ssh.c) in sha256-verified
 * chunks, with the same free map (through a sparse local mirror) and that
 * machine's facts; its xfs and LVM areas are mapped by the remote's own
 * xfs_db and lvm, read-only (builder/p2v_remote_fs.c).
 *
 * The bundle is written to a staging directory beside out and renamed into
 * place at the end; on any failure the staging directory is removed, except
 * when an ssh transport was lost or the copy interrupted (opts.interrupted):
 * then it is kept as OUT.p2v-partial and the same call resumes it
 * (builder/p2v_resume.c).
 */
#ifndef VESSEL_P2V_H
#define VESSEL_P2V_H

#include <signal.h>
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
 * The same for a disk read through a reader (ssh sources): libblkid probes
 * rd->fd and libext2fs reads through vsl_p2v_io_manager(). When rd->fetch is
 * set, rd->fd is a sparse local mirror of the disk and fetch(opaque, off,
 * len) is called before any of [off, off+len) is read, to fill that range
 * from the disk (the free-map code asks for the regions libblkid and
 * libext2fs read: the first and last MiB of the disk and of each
 * partition, partition boundaries, ext metadata). fetch returns 0 or a
 * negative VSL_E* code with its error set in ctx (then the free map fails).
 */
typedef int vsl_p2v_fetch_fn(void *opaque, uint64_t off, uint64_t len);
struct vsl_p2v_trim;
struct vsl_p2v_reader {
	const char *name;            /* in messages: "ssh://host/dev/sda" */
	int fd;                      /* O_RDONLY: the disk, or its sparse local mirror */
	uint64_t size;               /* the disk's size in bytes */
	vsl_p2v_fetch_fn *fetch;     /* NULL: fd is the disk itself */
	void *opaque;
	struct vsl_ctx *ctx;         /* where fetch errors are set (for libext2fs reads) */
	struct vsl_p2v_trim *trim;   /* xfs/LVM appliance session (p2v_trim.c); NULL: own launch */
	struct vsl_p2v_ssh *ssh;     /* ssh source: xfs/LVM through the remote's own tools */
	/*
	 * NULL: reader offsets are fd offsets. Else the reader is a logical volume:
	 * [seg[i].loff, +len) reads fd at seg[i].doff (sorted by loff, covering
	 * [0, size); fetch gets fd offsets).
	 */
	const struct vsl_p2v_seg *segs;
	size_t nsegs;
};
/* A piece of a logical volume: its bytes [loff, loff+len) are disk bytes [doff, doff+len). */
struct vsl_p2v_seg {
	uint64_t loff, doff, len;
};
int vsl_p2v_free_map_reader(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd,
			    struct vsl_p2v_extents *fmap, struct vsl_problems *warn);

/*
 * Free ranges of the ext2/3/4 filesystem at reader offset off (plen bytes)
 * appended to *fmap in reader offsets; problems (unreadable, journal needing
 * recovery, ...) are warnings and the filesystem is then copied whole.
 */
int vsl_p2v_ext_free(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd, uint64_t off,
		     uint64_t plen, const char *where, struct vsl_p2v_extents *fmap,
		     struct vsl_problems *warn);
/* libblkid's TYPE of [off, off+len) of fd ("" when none is known). */
void vsl_p2v_probe_type(int fd, uint64_t off, uint64_t len, char *type, size_t tlen);

/*
 * libext2fs I/O manager (builder/p2v_io.c) reading a struct vsl_p2v_reader:
 * pass the name vsl_p2v_io_name() writes to ext2fs_open2. Read-only: writes
 * fail with EXT2_ET_RO_FILSYS. Understands the "offset=N" option.
 */
struct struct_io_manager;
struct struct_io_manager *vsl_p2v_io_manager(void);
void vsl_p2v_io_name(const struct vsl_p2v_reader *rd, char *buf, size_t len);

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

/* ---- free space found by trimming an overlay (builder/p2v_trim.c) ---- */

/* A part of a disk holding something libext2fs cannot map: xfs, an LVM PV, ... */
struct vsl_p2v_area {
	uint64_t off, len;
	char type[32];               /* libblkid's TYPE: "xfs", "LVM2_member" */
	char where[256];             /* in messages: "/dev/sdb partition 2" */
};
struct vsl_p2v_areas {
	struct vsl_p2v_area *v;
	size_t n, cap;
};
/* Append an area; areas must come in disk order and not overlap. */
int vsl_p2v_areas_add(struct vsl_ctx *ctx, struct vsl_p2v_areas *a, uint64_t off, uint64_t len,
		      const char *type, const char *where);
void vsl_p2v_areas_fini(struct vsl_p2v_areas *a);
/* True for libblkid TYPEs whose free space vsl_p2v_trim_free finds: xfs, LVM2_member, ... */
bool vsl_p2v_trim_type(const char *type);

/*
 * A trimming session: one libguestfs appliance for all the local disks of
 * a run (paths: those disks; duplicates and missing paths are left out).
 * Nothing is created or launched until the first vsl_p2v_trim_free that
 * needs it. NULL on ENOMEM (then pass NULL: each disk gets its own launch).
 */
struct vsl_p2v_trim;
struct vsl_p2v_trim *vsl_p2v_trim_new(const char *const *paths, size_t n);
/* Removes the overlays. NULL is a no-op. */
void vsl_p2v_trim_destroy(struct vsl_p2v_trim *t);

/*
 * Free space of the areas of the raw disk at path (size bytes): the first
 * call of session t creates a qcow2 overlay backed (read-only) by each of
 * its raw disks not in use and launches libguestfs once on them: LVM
 * activated, each filesystem mounted and fstrimmed, unused VG extents
 * discarded. The discarded clusters of path's overlay inside the areas are
 * merged into *fmap. t NULL: a session of path alone. The sources are never
 * written. When that cannot run (libguestfs missing, launch failure, the
 * disk in use or not raw), each area is reported in warn as copied whole
 * and 0 is returned with *fmap unchanged.
 */
int vsl_p2v_trim_free(struct vsl_ctx *ctx, struct vsl_p2v_trim *t, const char *path,
		      uint64_t size, const struct vsl_p2v_areas *areas, struct vsl_p2v_extents *fmap,
		      struct vsl_problems *warn);
/*
 * Append to *out the ranges of [off, off+len) that ov (an overlay over the
 * source) reports as zero in itself: VSL_BLOCK_ZERO without
 * VSL_BLOCK_BACKING or VSL_BLOCK_DATA. Ranges must come after out's last.
 */
int vsl_p2v_trim_collect(struct vsl_ctx *ctx, struct vsl_image *ov, uint64_t off, uint64_t len,
			 struct vsl_p2v_extents *out);
/* *dst becomes the union of *dst and *add (both sorted; overlaps and neighbours merge). */
int vsl_p2v_extents_merge(struct vsl_ctx *ctx, struct vsl_p2v_extents *dst,
			  const struct vsl_p2v_extents *add);

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
	bool initramfs_has_virtio;   /* virtio_pci and virtio_blk found in it (or built in) */
	bool tools_removed;
};

/*
 * Inspect and fix the converted guest on the copies disks[0..n) (format fmt):
 * one libguestfs launch; the source is never opened. Fixes: fstab and
 * GRUB device paths to UUIDs, serial console on the kernel command line,
 * virtio modules in the initramfs (listed in /etc/initramfs-tools/modules;
 * the guest's own update-initramfs is run when the copied initramfs, read
 * on the host, lacks virtio_pci or virtio_blk), VMware/VirtualBox guest
 * tools removed. The newest
 * kernel and its initramfs are copied to bootdir/vmlinuz and
 * bootdir/initrd.img. A guest that is not Linux, or has no OS, is
 * reported in warn and left untouched (g->found false or type != linux).
 */
int vsl_p2v_fixup(struct vsl_ctx *ctx, const char *const *disks, size_t ndisks, const char *fmt,
		  const char *bootdir, struct vsl_p2v_guest *g, struct vsl_problems *warn);

/* ---- ssh:// sources (builder/p2v_ssh.c) ---- */

/* ssh://[USER@]HOST[:PORT]/PATH ("[v6addr]" for IPv6 hosts). */
struct vsl_p2v_ssh_url {
	char user[64];               /* "": ssh's default (~/.ssh/config, local user) */
	char host[256];              /* without brackets */
	unsigned port;               /* 0: ssh's default */
	char path[512];              /* absolute: "/dev/sda" */
};
bool vsl_p2v_ssh_is_url(const char *s);
/*
 * Parse url; VSL_EINVAL naming what is wrong. PATH may only hold
 * [A-Za-z0-9/._+:@,=-] (it is passed to the remote shell); USER and HOST
 * may not start with '-'.
 */
int vsl_p2v_ssh_parse(struct vsl_ctx *ctx, const char *url, struct vsl_p2v_ssh_url *u);

/*
 * One ssh session to a remote disk: the OpenSSH client (`ssh -T -o
 * BatchMode=yes`, so ~/.ssh/config applies and a password prompt never
 * hangs) runs a POSIX sh loop on the remote that answers requests on
 * stdin with byte-counted replies on stdout (see p2v_ssh.c). The remote is
 * only ever read: dd, head, sha256sum, blockdev/stat, cat, and for the free
 * map xfs_db -r, xfs_logprint and lvm --readonly; no files are written there.
 */
struct vsl_p2v_ssh;
struct vsl_p2v_opts;
/*
 * Connect and check the remote disk (it exists, is readable, its size is
 * known). Errors name the host and path: authentication failure, host
 * unreachable, no such device, not readable.
 */
int vsl_p2v_ssh_open(struct vsl_ctx *ctx, const char *url, const struct vsl_p2v_opts *o,
		     struct vsl_p2v_ssh **out);
void vsl_p2v_ssh_close(struct vsl_p2v_ssh *s);
uint64_t vsl_p2v_ssh_size(const struct vsl_p2v_ssh *s);
/*
 * Read [off, off+len) of the remote disk, verified: the remote's sha256 of
 * the same range must match what arrived (refetched up to 3 times), and a
 * dropped connection is re-established (up to 4 attempts, logged as
 * warnings). A final transport failure sets vsl_p2v_ssh_lost(); a remote
 * read failure or a disk that shrank is VSL_EIO naming host and path.
 */
int vsl_p2v_ssh_read(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t off, void *buf,
		     size_t len);
/*
 * The remote disk, or a partition of it, was mounted, a swap or held by
 * device-mapper/LVM/MD when the session opened (/proc/mounts, /proc/swaps,
 * /sys/class/block/NAME/holders on the remote): the copy may be inconsistent.
 */
bool vsl_p2v_ssh_in_use(const struct vsl_p2v_ssh *s);
/* The session gave up on the transport or was interrupted (the copy can be resumed). */
bool vsl_p2v_ssh_lost(const struct vsl_p2v_ssh *s);
/* Bytes of disk data fetched and verified so far (metadata probes included). */
uint64_t vsl_p2v_ssh_bytes(const struct vsl_p2v_ssh *s);
/* sha256 (hex) of the disk's first MiB, taken at open: a resumed run checks it reads the same disk. */
const char *vsl_p2v_ssh_ident(const struct vsl_p2v_ssh *s);
/*
 * Lay the remote's /proc/cpuinfo, /proc/meminfo and its NICs
 * (sys/class/net/NAME/{address,device}) out under dir (exists, empty),
 * for vsl_p2v_facts_read(ctx, dir, ...).
 */
int vsl_p2v_ssh_facts_dir(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, const char *dir);
/* Free map of the remote disk: vsl_p2v_free_map_reader on a sparse local mirror. */
int vsl_p2v_ssh_free_map(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s,
			 struct vsl_p2v_extents *fmap, struct vsl_problems *warn);
/*
 * A read-only raw image of the remote disk (reads via vsl_p2v_ssh_read on
 * ctx). Bytes below skip_below report VSL_BLOCK_ZERO (a resumed copy
 * already holds them) and are never fetched. s is borrowed. Close with
 * vsl_image_close.
 */
int vsl_p2v_ssh_image(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t skip_below,
		      struct vsl_image **out);

/*
 * Ask the remote for filesystem facts with its own tools, read-only
 * (builder/p2v_ssh.c); *out is a heap string (caller frees):
 *   VSL_P2V_SSH_PARTS  ""     : "NAME START SIZE" lines (512-byte sectors) for
 *                              each partition of the disk in /sys/class/block;
 *   VSL_P2V_SSH_XFS    DEV    : xfs_db -r (sb 0: blocksize agblocks agcount
 *                              dblocks; freesp -d), "rc=N", xfs_logprint -t's
 *                              "state:" line;
 *   VSL_P2V_SSH_LVM    DEV    : "pvs", lvm pvs of DEV, "rc=N", "lvs", lvm lvs -a
 *                              of its VG, "rc=N" (lvm --readonly: no locks).
 * DEV must be a path of [A-Za-z0-9/._+:-] (VSL_EINVAL otherwise). A reply
 * over 32 MiB is VSL_ERANGE. Transport failures are VSL_EIO.
 */
enum vsl_p2v_ssh_query { VSL_P2V_SSH_PARTS, VSL_P2V_SSH_XFS, VSL_P2V_SSH_LVM };
int vsl_p2v_ssh_query(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, enum vsl_p2v_ssh_query q,
		      const char *dev, char **out);
/* The remote disk's path as given in the URL ("/dev/sda"). */
const char *vsl_p2v_ssh_path(const struct vsl_p2v_ssh *s);

/* ---- xfs and LVM of ssh sources through the remote's tools (builder/p2v_remote_fs.c) ---- */

/* An xfs_db reply (VSL_P2V_SSH_XFS) parsed. */
struct vsl_p2v_xfs {
	uint64_t blocksize, agblocks, agcount, dblocks;
	bool dirty;                  /* the log is not known to be clean */
	bool log_known;              /* xfs_logprint gave the log's state */
	struct vsl_p2v_extents free; /* bytes from the filesystem's start, sorted */
};
/*
 * Parse text. A missing tool is VSL_ENOENT ("xfs_db not found on the
 * remote"), a failed one VSL_EIO, malformed or inconsistent output
 * VSL_ECORRUPT naming the line. Fini x with vsl_p2v_xfs_fini even on failure.
 */
int vsl_p2v_xfs_parse(struct vsl_ctx *ctx, const char *text, struct vsl_p2v_xfs *x);
void vsl_p2v_xfs_fini(struct vsl_p2v_xfs *x);

/* An lvm reply (VSL_P2V_SSH_LVM) parsed: the PV and the LVs of its VG. */
struct vsl_p2v_lvm_lv {
	char name[128];              /* "root"; hidden LVs in brackets: "[pool_tdata]" */
	char path[256];              /* "/dev/vg/root"; "" for hidden LVs */
	bool active;                 /* lv_active says "active" */
	bool simple;                 /* every segment is linear on this PV */
	bool here;                   /* some segment uses this PV */
	bool nonlinear;              /* some segment is not "linear" */
	struct vsl_p2v_seg *segs;    /* simple: LV bytes -> bytes from the PV's start */
	size_t nsegs;
};
struct vsl_p2v_lvm {
	char pv[256], vg[128];
	uint64_t pe_start, extent, pe_count; /* bytes, bytes, extents */
	struct vsl_p2v_lvm_lv *lv;
	size_t nlv;
	uint8_t *used;               /* one byte per PV extent: some LV uses it */
};
/* Like vsl_p2v_xfs_parse (ENOENT: lvm missing; EIO: lvm failed, or the PV is in no VG). */
int vsl_p2v_lvm_parse(struct vsl_ctx *ctx, const char *text, struct vsl_p2v_lvm *l);
void vsl_p2v_lvm_fini(struct vsl_p2v_lvm *l);

/*
 * Free ranges of the area [off, off+len) of rd's disk holding libblkid TYPE
 * type ("xfs", "LVM2_member"), asked of the remote of rd->ssh, merged into
 * *fmap. Whatever the remote cannot tell (tool missing or failing, an LV
 * not linear on this PV or not active for xfs_db) is copied whole and said
 * in warn. Errors only for transport failures and out of memory.
 */
int vsl_p2v_remote_free(struct vsl_ctx *ctx, const struct vsl_p2v_reader *rd, uint64_t off,
			uint64_t len, const char *type, const char *where,
			struct vsl_p2v_extents *fmap, struct vsl_problems *warn);

/*
 * Resume journal (NAME.vessel.p2v-partial/p2v-journal, builder/p2v_resume.c):
 * kept when a copy fails because an ssh transport was lost, so that the same
 * command resumes.
 *
 *	vessel-p2v-journal 1
 *	format qcow2
 *	disk 0 complete 3221225472 3221225472 - /dev/loop3
 *	disk 1 partial 1073741824 3221225472 <sha256 of the first MiB> ssh://root@h/dev/sdb
 *
 * "disk I STATE DONE SIZE IDENT SOURCE": bytes [0, DONE) of the disk are in
 * the bundle's copy (flushed); SIZE 0 and IDENT "-" when not known.
 */
struct vsl_p2v_journal {
	char format[16];
	size_t n;
	struct vsl_p2v_journal_disk {
		bool complete;
		uint64_t done;       /* complete: == size */
		uint64_t size;
		char ident[65];      /* "" when not known ("-" in the file) */
		char source[1024];
	} disks[VSL_P2V_MAX_SOURCES];
};
/* Written to path.tmp, fsync'd and renamed over path. */
int vsl_p2v_journal_write(struct vsl_ctx *ctx, const char *path, const struct vsl_p2v_journal *j);
/* VSL_ENOENT when missing; VSL_ECORRUPT naming path:line when malformed. */
int vsl_p2v_journal_read(struct vsl_ctx *ctx, const char *path, struct vsl_p2v_journal *j);

/*
 * When OUT.p2v-partial exists and its journal was left by the same command
 * (same sources in order, same format; for ssh sources the same disk size
 * and first-MiB digest), rename it to stage and set *jr (caller frees);
 * otherwise *jr = NULL. A partial copy of something else is VSL_EEXIST
 * naming it (remove it to start over).
 */
int vsl_p2v_resume_claim(struct vsl_ctx *ctx, const char *out, const char *stage,
			 const char *fmt, const char *const *sources, size_t n,
			 struct vsl_p2v_ssh *const *ssh, struct vsl_p2v_journal **jr);
/*
 * After the ssh transport of source `failed` was lost: journal disks
 * [0, failed) as complete and `failed` as copied up to done, in stage;
 * remove the copies of later disks; rename stage to OUT.p2v-partial. The
 * error in ctx gains "; partial copy kept in OUT.p2v-partial: run the same
 * command again to resume". Returns 0 when the partial copy was kept.
 */
int vsl_p2v_resume_keep(struct vsl_ctx *ctx, const char *out, const char *stage,
			const char *fmt, const char *const *sources, size_t n,
			struct vsl_p2v_ssh *const *ssh, size_t failed, uint64_t done);

struct vsl_p2v_opts {
	const char *name;        /* bundle name; NULL: from out's base name */
	const char *format;      /* disk format in the bundle; NULL: "qcow2" */
	bool copy_free;          /* copy free filesystem blocks too */
	bool no_macs;            /* do not keep the source's MAC addresses */
	bool no_fixup;           /* do not touch the guest (no inspection, no fix-ups) */
	unsigned cpus;           /* 0: the source's (or 1) */
	uint64_t memory;         /* 0: the source's (or 1 GiB) */
	const char *facts_root;  /* NULL: "/" (tests point it at a fake tree) */
	const char *ssh_identity;           /* ssh -i FILE for ssh:// sources; NULL: none */
	const char *const *ssh_options;     /* ssh -o OPT each, NULL-terminated; may be NULL */
	/*
	 * Set (by a signal handler: Ctrl-C) to stop the copy of an ssh source at
	 * its next request: what was copied is kept for resuming, as after a
	 * lost transport. NULL: never. Local sources do not look at it.
	 */
	const volatile sig_atomic_t *interrupted;
	const struct vsl_progress *progress;
};

struct vsl_p2v_stats {
	uint64_t disk_bytes;     /* virtual size of all sources */
	uint64_t free_bytes;     /* found free by the filesystem bitmaps, never read */
	uint64_t bytes_read;     /* read from the sources */
	uint64_t bytes_written;  /* written to the bundle's disks */
	uint64_t ssh_bytes;      /* fetched over ssh (verified disk data and metadata) */
	uint64_t resumed_bytes;  /* already copied by an interrupted run, not fetched again */
	struct vsl_p2v_guest guest; /* what fix-ups found (all zero with no_fixup) */
};

/* Convert sources[0..n) into the bundle out (must not exist). */
int vsl_p2v(struct vsl_ctx *ctx, const char *const *sources, size_t n, const char *out,
	    const struct vsl_p2v_opts *o, struct vsl_problems *warn, struct vsl_p2v_stats *stats);

#endif
