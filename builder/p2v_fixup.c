/*
 * P2V guest fix-ups: make a converted Linux guest boot as a VM.
 *
 * Like virt-v2v for Linux guests, with libguestfs, in one appliance launch
 * on the bundle's copy of the disks (the source is never opened here):
 * inspection, fstab and GRUB device paths to UUIDs (a physical sda1 may be
 * vda1 or sdb1 in the VM), a serial console on the kernel command line,
 * virtio drivers in the initramfs, hypervisor guest tools removed, and the
 * kernel + initramfs copied out for vessel's direct kernel boot.
 *
 * The text rewriting (fstab, command lines) is plain C on strings so that
 * it is tested without an appliance; the UUIDs come through a callback.
 * The initramfs copied out is checked on the host (libarchive lists its
 * cpio archives) for virtio_pci + virtio_blk: what the guest needs to find
 * its root disk on vessel's virtio-blk. When they are missing (and not
 * built into the kernel), the guest's update-initramfs rebuilds it once.
 */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <guestfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/p2v_fixup.h"
#include "vessel/p2v.h"

#define P2V_TEXT_MAX (1u << 20)   /* fstab, grub.cfg: larger is refused */

int vsl_p2v_guest_dev(const char *name, unsigned *disk, unsigned *part)
{
	const char *p = name;
	unsigned d = 0, n = 0;
	int letters = 0;

	if (!strncmp(p, "/dev/", 5))
		p += 5;
	if (!strncmp(p, "nvme", 4)) {
		p += 4;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p) && d < 1000; p++)
			d = d * 10 + (unsigned)(*p - '0');
		if (*p++ != 'n' || !isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p == 'p') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			for (; isdigit((unsigned char)*p) && n < 1000; p++)
				n = n * 10 + (unsigned)(*p - '0');
		}
		if (*p || d >= 1000 || n >= 1000)
			return -1;
		*disk = d;
		*part = n;
		return 0;
	}
	if (!strncmp(p, "xvd", 3))
		p += 3;
	else if (!strncmp(p, "sd", 2) || !strncmp(p, "hd", 2) || !strncmp(p, "vd", 2))
		p += 2;
	else
		return -1;
	/* sda..sdz, sdaa..sdzz (a = 0, z = 25, aa = 26) */
	while (*p >= 'a' && *p <= 'z' && letters < 2) {
		d = letters ? (d + 1) * 26 + (unsigned)(*p - 'a') : (unsigned)(*p - 'a');
		letters++;
		p++;
	}
	if (!letters)
		return -1;
	for (; isdigit((unsigned char)*p) && n < 1000; p++)
		n = n * 10 + (unsigned)(*p - '0');
	if (*p || n >= 1000)
		return -1;
	*disk = d;
	*part = n;
	return 0;
}

/* A growable string. */
struct p2v_buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void p2v_put(struct p2v_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *ns;

		while (cap < b->len + n + 1)
			cap *= 2;
		ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static int p2v_finish(struct vsl_ctx *ctx, struct p2v_buf *b, char **out)
{
	if (!b->oom && !b->s)
		p2v_put(b, "", 0);
	if (b->oom) {
		free(b->s);
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	*out = b->s;
	return 0;
}

/* Resolve a device path (len bytes at dev) to its UUID; 0 when done. */
static int p2v_resolve(const char *dev, size_t len, vsl_p2v_uuid_fn *fn, void *opaque,
		       char *uuid, size_t ulen)
{
	char name[64];
	unsigned d, p;

	if (len >= sizeof(name) || len < 6 || strncmp(dev, "/dev/", 5))
		return -1;
	memcpy(name, dev, len);
	name[len] = 0;
	if (vsl_p2v_guest_dev(name, &d, &p) < 0)
		return -1;
	if (fn(opaque, d, p, uuid, ulen) < 0 || !uuid[0])
		return -1;
	return 0;
}

int vsl_p2v_fstab_rewrite(struct vsl_ctx *ctx, const char *text, vsl_p2v_uuid_fn *fn,
			  void *opaque, char **out, unsigned *changed)
{
	struct p2v_buf b = { 0 };
	const char *p = text;

	*changed = 0;
	if (strlen(text) > P2V_TEXT_MAX)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "fstab larger than %u bytes", P2V_TEXT_MAX);
	while (*p) {
		const char *eol = strchr(p, '\n'), *f = p, *fe;
		size_t n = eol ? (size_t)(eol - p + 1) : strlen(p);
		char uuid[64] = "";

		while (f < p + n && (*f == ' ' || *f == '\t'))
			f++;
		fe = f;
		while (fe < p + n && !isspace((unsigned char)*fe))
			fe++;
		if (fe > f && *f != '#' && p2v_resolve(f, (size_t)(fe - f), fn, opaque, uuid,
							 sizeof(uuid)) == 0) {
			p2v_put(&b, p, (size_t)(f - p));
			p2v_put(&b, "UUID=", 5);
			p2v_put(&b, uuid, strlen(uuid));
			p2v_put(&b, fe, (size_t)(p + n - fe));
			(*changed)++;
		} else {
			p2v_put(&b, p, n);
		}
		p += n;
	}
	return p2v_finish(ctx, &b, out);
}

static bool p2v_has_serial_console(const char *s, size_t n)
{
	for (size_t i = 0; i + 12 <= n; i++)
		if (!strncmp(s + i, "console=ttyS", 12) && (i == 0 || isspace((unsigned char)s[i - 1]) ||
							    s[i - 1] == '"'))
			return true;
	return false;
}

/* Copy s[0..n) to b with root=/resume= device tokens resolved. */
static void p2v_put_rewritten(struct p2v_buf *b, const char *s, size_t n, vsl_p2v_uuid_fn *fn,
			      void *opaque, unsigned *changed)
{
	static const char *const keys[] = { "root=", "resume=" };
	size_t i = 0;

	while (i < n) {
		bool done = false;

		for (size_t k = 0; k < VSL_ARRAY_SIZE(keys) && !done; k++) {
			size_t kl = strlen(keys[k]), e;
			char uuid[64] = "";

			if (i + kl > n || strncmp(s + i, keys[k], kl) ||
			    (i && !isspace((unsigned char)s[i - 1]) && s[i - 1] != '"' &&
			     s[i - 1] != '\''))
				continue;
			e = i + kl;
			while (e < n && !isspace((unsigned char)s[e]) && s[e] != '"' && s[e] != '\'')
				e++;
			if (p2v_resolve(s + i + kl, e - i - kl, fn, opaque, uuid, sizeof(uuid)) < 0)
				continue;
			p2v_put(b, s + i, kl);
			p2v_put(b, "UUID=", 5);
			p2v_put(b, uuid, strlen(uuid));
			(*changed)++;
			i = e;
			done = true;
		}
		if (!done)
			p2v_put(b, s + i++, 1);
	}
}

#define P2V_CONSOLE "console=tty0 console=ttyS0,115200"

int vsl_p2v_cmdline_rewrite(struct vsl_ctx *ctx, const char *text, vsl_p2v_uuid_fn *fn,
			    void *opaque, bool add_console, char **out, unsigned *changed)
{
	struct p2v_buf b = { 0 };
	const char *p = text;
	bool single = !strchr(text, '\n') || strchr(text, '\n')[1] == 0;
	bool seen_line = false;

	*changed = 0;
	if (strlen(text) > P2V_TEXT_MAX)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "text larger than %u bytes", P2V_TEXT_MAX);
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p + 1) : strlen(p);
		const char *q;

		if (add_console && !strncmp(p, "GRUB_CMDLINE_LINUX=\"", 20) &&
		    (q = memchr(p + 20, '"', n - 20)) != NULL) {
			seen_line = true;
			p2v_put_rewritten(&b, p, (size_t)(q - p), fn, opaque, changed);
			if (!p2v_has_serial_console(p + 20, (size_t)(q - p - 20))) {
				if (q > p + 20)
					p2v_put(&b, " ", 1);
				p2v_put(&b, P2V_CONSOLE, strlen(P2V_CONSOLE));
				(*changed)++;
			}
			p2v_put(&b, q, (size_t)(p + n - q));
		} else {
			p2v_put_rewritten(&b, p, n, fn, opaque, changed);
		}
		p += n;
	}
	if (add_console && !seen_line) {
		if (single && !p2v_has_serial_console(text, strlen(text))) {
			/* a bare command line: append before its newline, if any */
			if (b.len && b.s[b.len - 1] == '\n')
				b.len--;
			if (b.len)
				p2v_put(&b, " ", 1);
			p2v_put(&b, P2V_CONSOLE, strlen(P2V_CONSOLE));
			if (strchr(text, '\n'))
				p2v_put(&b, "\n", 1);
			(*changed)++;
		} else if (!single) {
			p2v_put(&b, "GRUB_CMDLINE_LINUX=\"" P2V_CONSOLE "\"\n",
				strlen("GRUB_CMDLINE_LINUX=\"" P2V_CONSOLE "\"\n"));
			(*changed)++;
		}
	}
	return p2v_finish(ctx, &b, out);
}

/*
 * grub.cfg: the "linux" lines (linux, linux16, linuxefi) of a generated
 * grub.cfg get the serial console too, so that the disk also boots with a
 * console on COM1 before the guest's next update-grub regenerates it from
 * /etc/default/grub. Lines that already name a ttyS console are left alone.
 */
static void p2v_grubcfg_console(const char *text, struct p2v_buf *b, unsigned *changed)
{
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n'), *w = p;
		size_t n = eol ? (size_t)(eol - p) : strlen(p);

		while (w < p + n && (*w == ' ' || *w == '\t'))
			w++;
		if ((size_t)(p + n - w) > 6 && !strncmp(w, "linux", 5) &&
		    (isspace((unsigned char)w[5]) || !strncmp(w + 5, "16", 2) ||
		     !strncmp(w + 5, "efi", 3)) &&
		    !p2v_has_serial_console(w, (size_t)(p + n - w))) {
			size_t m = n;

			while (m && isspace((unsigned char)p[m - 1]))
				m--;
			p2v_put(b, p, m);
			p2v_put(b, " " P2V_CONSOLE, strlen(" " P2V_CONSOLE));
			(*changed)++;
		} else {
			p2v_put(b, p, n);
		}
		if (eol)
			p2v_put(b, "\n", 1);
		p += n + (eol ? 1 : 0);
	}
}

/*
 * /etc/default/grub: GRUB_DISABLE_LINUX_UUID=true makes update-grub write
 * root=/dev/DEVICE, which is what broke the physical machine's disk names in
 * the first place; it is commented out so that the guest's next update-grub
 * (a kernel upgrade) keeps root=UUID=.
 */
static void p2v_grub_default_uuid(const char *text, struct p2v_buf *b, unsigned *changed)
{
	static const char key[] = "GRUB_DISABLE_LINUX_UUID=";
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p + 1) : strlen(p);
		const char *v = p + strlen(key);

		if (n > strlen(key) && !strncmp(p, key, strlen(key)) &&
		    (!strncmp(v, "true", 4) || !strncmp(v, "\"true\"", 6) ||
		     !strncmp(v, "'true'", 6))) {
			size_t m = n;

			while (m && isspace((unsigned char)p[m - 1]))
				m--;
			p2v_put(b, "#", 1);
			p2v_put(b, p, m);
			p2v_put(b, "   # vessel p2v: root= by UUID\n", strlen("   # vessel p2v: root= by UUID\n"));
			(*changed)++;
		} else {
			p2v_put(b, p, n);
		}
		p += n;
	}
}

/* ---- the initramfs ---- */

#define P2V_INITRD_MAX (1ull << 30)

/* a == b[0..n) with '-' and '_' equal (module names) */
static bool p2v_modname_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];

		if (!x || x != y)
			return false;
	}
	return true;
}

/* The bit of names[] that the archive member path is the module file of. */
static unsigned p2v_initrd_match(const char *path, const char *const *names)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (unsigned i = 0; i < 32 && names[i]; i++) {
		size_t n = strlen(names[i]);
		const char *x = base + n;

		if (strlen(base) < n + 3 || !p2v_modname_eq(base, names[i], n) || strncmp(x, ".ko", 3))
			continue;
		x += 3;
		if (!*x || !strcmp(x, ".xz") || !strcmp(x, ".zst") || !strcmp(x, ".gz"))
			return 1u << i;
	}
	return 0;
}

int vsl_p2v_initrd_modules(struct vsl_ctx *ctx, const char *path, const char *const *names,
			   unsigned *found)
{
	const unsigned char *map;
	struct stat st;
	size_t size, off = 0;
	unsigned n = 0;
	int fd, r = 0;

	*found = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vsl_set_error(ctx, errno, VSL_EIO, "%s", path);
	if (fstat(fd, &st) < 0) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "%s", path);
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: not an initramfs (empty or not a "
				     "file)", path);
	}
	if ((uint64_t)st.st_size > P2V_INITRD_MAX) {
		close(fd);
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: initramfs larger than 1 GiB", path);
	}
	size = (size_t)st.st_size;
	map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "%s: mmap", path);
		close(fd);
		return r;
	}
	close(fd);
	while (off < size) {
		struct archive *a = archive_read_new();
		struct archive_entry *e;
		la_int64_t used;
		bool packed;
		int ar;

		if (!a) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			break;
		}
		/* library decoders only (no external programs for guest data) */
		archive_read_support_filter_gzip(a);
		archive_read_support_filter_xz(a);
		archive_read_support_filter_lzma(a);
		archive_read_support_filter_bzip2(a);
		archive_read_support_filter_zstd(a);
		archive_read_support_filter_lz4(a);
		archive_read_support_format_cpio(a);
		ar = archive_read_open_memory(a, map + off, size - off);
		while (ar == ARCHIVE_OK && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK)
			*found |= p2v_initrd_match(archive_entry_pathname(e) ? archive_entry_pathname(e)
									     : "", names);
		if (ar != ARCHIVE_EOF) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: cpio archive %u (byte %zu): %s",
					  path, n + 1, off,
					  archive_error_string(a) ? archive_error_string(a)
								  : "unreadable");
			archive_read_free(a);
			break;
		}
		packed = archive_filter_count(a) > 1 ||
			 archive_filter_code(a, 0) != ARCHIVE_FILTER_NONE;
		used = archive_filter_bytes(a, 0);
		archive_read_free(a);
		n++;
		/* a compressed archive runs to the end; an uncompressed one ends
		 * at its trailer, and NUL padding leads to the next */
		if (packed || used <= 0 || (uint64_t)used > size - off)
			break;
		off += (size_t)used;
		while (off < size && map[off] == 0)
			off++;
	}
	munmap((void *)map, size);
	return r;
}

/* ---- the appliance ---- */

struct p2v_gfs {
	guestfs_h *g;
	char **devices;          /* guestfs_list_devices: one per disk, in order */
	size_t ndevices;
};

static int p2v_gfs_uuid(void *opaque, unsigned disk, unsigned part, char *uuid, size_t len)
{
	struct p2v_gfs *a = opaque;
	char dev[96], *u;

	if (disk >= a->ndevices)
		return -1;
	if (part)
		snprintf(dev, sizeof(dev), "%s%u", a->devices[disk], part);
	else
		snprintf(dev, sizeof(dev), "%s", a->devices[disk]);
	u = guestfs_vfs_uuid(a->g, dev);
	if (!u)
		return -1;
	snprintf(uuid, len, "%s", u);
	free(u);
	return 0;
}

static void p2v_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int p2v_gfs_err(struct vsl_ctx *ctx, guestfs_h *g, const char *what)
{
	const char *e = guestfs_last_error(g);
	char first[512];

	snprintf(first, sizeof(first), "%s", e ? e : "failed");
	first[strcspn(first, "\n")] = 0;
	return vsl_set_error(ctx, 0, VSL_EIO, "libguestfs: %s: %s", what, first);
}

/* What p2v_fix_file rewrites. */
enum p2v_file {
	P2V_FSTAB,          /* device paths in the first field */
	P2V_GRUB_DEFAULT,   /* root=/resume=, GRUB_CMDLINE_LINUX console, UUID switch */
	P2V_GRUB_CFG,       /* root=/resume=, console on the linux lines */
};

/* Rewrite the guest file path; missing files are fine. */
static int p2v_fix_file(struct vsl_ctx *ctx, struct p2v_gfs *a, const char *path,
			enum p2v_file kind, unsigned *changed)
{
	char *text, *out = NULL;
	size_t size;
	unsigned n = 0;
	int r;

	*changed = 0;
	if (guestfs_is_file(a->g, path) <= 0)
		return 0;
	text = guestfs_read_file(a->g, path, &size);
	if (!text)
		return p2v_gfs_err(ctx, a->g, path);
	if (memchr(text, 0, size)) {
		free(text);
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "guest %s holds NUL bytes", path);
	}
	r = kind == P2V_FSTAB
		? vsl_p2v_fstab_rewrite(ctx, text, p2v_gfs_uuid, a, &out, &n)
		: vsl_p2v_cmdline_rewrite(ctx, text, p2v_gfs_uuid, a, kind == P2V_GRUB_DEFAULT,
					  &out, &n);
	free(text);
	if (r < 0) {
		vsl_error_prefix(ctx, "guest %s", path);
		return r;
	}
	if (kind != P2V_FSTAB) {
		struct p2v_buf b = { 0 };

		if (kind == P2V_GRUB_CFG)
			p2v_grubcfg_console(out, &b, &n);
		else
			p2v_grub_default_uuid(out, &b, &n);
		free(out);
		out = NULL;
		r = p2v_finish(ctx, &b, &out);
		if (r < 0)
			return r;
	}
	if (n && guestfs_write(a->g, path, out, strlen(out)) < 0)
		r = p2v_gfs_err(ctx, a->g, path);
	free(out);
	*changed = n;
	return r;
}

static int p2v_mount_all(struct vsl_ctx *ctx, guestfs_h *g, const char *root)
{
	char **mp = guestfs_inspect_get_mountpoints(g, root);
	size_t n = 0;

	if (!mp)
		return p2v_gfs_err(ctx, g, "mount points");
	while (mp[n])
		n += 2;
	/* shortest mount point first: "/" before "/boot" */
	for (size_t len = 1; len < 4096; len++) {
		bool more = false;

		for (size_t i = 0; i < n; i += 2) {
			size_t l = strlen(mp[i]);

			if (l == len && guestfs_mount(g, mp[i + 1], mp[i]) < 0) {
				vsl_debug(ctx, "mount %s on %s failed", mp[i + 1], mp[i]);
			}
			more |= l > len;
		}
		if (!more)
			break;
	}
	p2v_strv_free(mp);
	return 0;
}

/* Does the guest's initramfs-tools configuration say MODULES=most? */
static bool p2v_initramfs_most(guestfs_h *g)
{
	size_t size;
	char *text = guestfs_read_file(g, "/etc/initramfs-tools/initramfs.conf", &size);
	char *o;
	bool most = false;

	if (!text)
		return false;
	for (char *p = text; p && p < text + size; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, "MODULES=", 8)) {
			const char *v = p + 8;

			most = !strncmp(v, "most", 4) && (v[4] == '\n' || v[4] == 0 || v[4] == ' ');
		}
	}
	free(text);
	/* conf.d may override it */
	o = guestfs_sh(g, "cat /etc/initramfs-tools/conf.d/* 2>/dev/null | grep '^MODULES=' | "
		       "tail -n1");
	if (o && !strncmp(o, "MODULES=", 8))
		most = !strncmp(o + 8, "most", 4);
	free(o);
	return most;
}

/* Newest /boot/vmlinuz-VERSION that has /boot/initrd.img-VERSION. */
static void p2v_pick_kernel(guestfs_h *g, char *ver, size_t len)
{
	char **ls = guestfs_ls(g, "/boot");

	ver[0] = 0;
	for (size_t i = 0; ls && ls[i]; i++) {
		char path[512];
		const char *v;

		if (strncmp(ls[i], "vmlinuz-", 8))
			continue;
		v = ls[i] + 8;
		snprintf(path, sizeof(path), "/boot/initrd.img-%s", v);
		if (guestfs_is_file(g, path) <= 0)
			continue;
		if (!ver[0] || strverscmp(v, ver) > 0)
			snprintf(ver, len, "%s", v);
	}
	p2v_strv_free(ls);
}

static void p2v_copy_str(char *dst, size_t len, char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
	free(src);
}

/*
 * Which of the drivers the guest needs to find its root disk on vessel's
 * virtio-blk are neither in the initramfs at host (copied out) nor built
 * into kernel ver: "" when none, else a list such as " virtio_blk".
 * -1 when the initramfs cannot be read (ctx has why).
 */
static int p2v_initrd_missing(struct vsl_ctx *ctx, guestfs_h *g, const char *ver,
			      const char *host, char *missing, size_t len)
{
	static const char *const need[] = { "virtio_pci", "virtio_blk", NULL };
	char path[300], *builtin;
	size_t size = 0;
	unsigned found;

	missing[0] = 0;
	if (vsl_p2v_initrd_modules(ctx, host, need, &found) < 0)
		return -1;
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.builtin", ver);
	builtin = guestfs_is_file(g, path) > 0 ? guestfs_read_file(g, path, &size) : NULL;
	for (unsigned i = 0; need[i]; i++) {
		char ko[64];

		if (found & (1u << i))
			continue;
		snprintf(ko, sizeof(ko), "/%s.ko\n", need[i]);
		if (builtin && memmem(builtin, size, ko, strlen(ko)))
			continue;
		snprintf(missing + strlen(missing), len - strlen(missing), " %s", need[i]);
	}
	free(builtin);
	return 0;
}

/*
 * Copy the picked kernel and its initramfs to bootdir and check the
 * initramfs for the virtio drivers; when they are missing and the guest
 * has update-initramfs (can_rebuild), rebuild that one initramfs once and
 * copy it again.
 */
static int p2v_boot_files(struct vsl_ctx *ctx, struct p2v_gfs *a, const char *bootdir,
			  bool can_rebuild, struct vsl_p2v_guest *gst, struct vsl_problems *warn)
{
	guestfs_h *g = a->g;
	const char *ver = gst->kernel_version;
	char path[300], host[4200], missing[64];

	snprintf(path, sizeof(path), "/boot/vmlinuz-%s", ver);
	snprintf(host, sizeof(host), "%s/vmlinuz", bootdir);
	if (guestfs_download(g, path, host) < 0)
		return p2v_gfs_err(ctx, g, path);
	snprintf(path, sizeof(path), "/boot/initrd.img-%s", ver);
	snprintf(host, sizeof(host), "%s/initrd.img", bootdir);
	for (int pass = 0;; pass++) {
		char cmd[400], *o;

		if (guestfs_download(g, path, host) < 0)
			return p2v_gfs_err(ctx, g, path);
		if (p2v_initrd_missing(ctx, g, ver, host, missing, sizeof(missing)) < 0) {
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "guest: virtio drivers in the initramfs not checked: %s",
					 vsl_ctx_error(ctx));
			vsl_ctx_clear(ctx);
			return 0;
		}
		if (!missing[0]) {
			gst->initramfs_has_virtio = true;
			return 0;
		}
		/* the version goes into a shell command: plain characters only */
		if (pass || !can_rebuild || gst->initramfs_rebuilt ||
		    strspn(ver, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+~-") !=
			    strlen(ver))
			break;
		snprintf(cmd, sizeof(cmd), "update-initramfs -u -k '%s' 2>&1", ver);
		o = guestfs_sh(g, cmd);
		if (!o) {
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "guest: update-initramfs -k %s failed: %s", ver,
					 guestfs_last_error(g));
			break;
		}
		free(o);
		gst->initramfs_rebuilt = true;
	}
	vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
			 "guest: the initramfs of %s lacks%s: the guest may not find its root "
			 "disk on virtio-blk", ver, missing);
	return 0;
}

static int p2v_fix_linux(struct vsl_ctx *ctx, struct p2v_gfs *a, const char *root,
			 const char *bootdir, struct vsl_p2v_guest *gst, struct vsl_problems *warn)
{
	guestfs_h *g = a->g;
	char *u;
	unsigned n = 0;
	bool can_rebuild;
	int r;

	r = p2v_mount_all(ctx, g, root);
	if (r < 0)
		return r;
	snprintf(gst->root_dev, sizeof(gst->root_dev), "%s", root);
	u = guestfs_vfs_uuid(g, root);
	p2v_copy_str(gst->root_uuid, sizeof(gst->root_uuid), u);

	r = p2v_fix_file(ctx, a, "/etc/fstab", P2V_FSTAB, &gst->fstab_changed);
	if (r == 0)
		r = p2v_fix_file(ctx, a, "/etc/default/grub", P2V_GRUB_DEFAULT, &n);
	gst->grub_changed = n;
	if (r == 0)
		r = p2v_fix_file(ctx, a, "/boot/grub/grub.cfg", P2V_GRUB_CFG, &n);
	gst->grub_changed += n;
	if (r < 0)
		return r;

	/* hypervisor guest tools: useless (or harmful) in the new VM */
	if (guestfs_exists(g, "/var/lib/dpkg/status") > 0 &&
	    (guestfs_exists(g, "/usr/bin/vmtoolsd") > 0 ||
	     guestfs_exists(g, "/usr/sbin/VBoxService") > 0)) {
		char *o = guestfs_sh(g, "DEBIAN_FRONTEND=noninteractive dpkg --purge open-vm-tools "
				     "open-vm-tools-desktop virtualbox-guest-utils "
				     "virtualbox-guest-x11 2>&1");
		if (o)
			gst->tools_removed = true;
		else
			vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
					 "guest: removing VMware/VirtualBox tools failed: %s",
					 guestfs_last_error(g));
		free(o);
	}

	/* virtio drivers in the initramfs, with the guest's own tool */
	can_rebuild = guestfs_is_file(g, "/etc/initramfs-tools/modules") > 0 &&
		      guestfs_is_file(g, "/usr/sbin/update-initramfs") > 0;
	if (can_rebuild) {
		static const char *const mods[] = { "virtio_pci", "virtio_blk", "virtio_net",
						    "virtio_scsi", NULL };
		size_t size;
		char *text = guestfs_read_file(g, "/etc/initramfs-tools/modules", &size);
		struct p2v_buf b = { 0 };
		bool add = false;

		if (!text)
			return p2v_gfs_err(ctx, g, "/etc/initramfs-tools/modules");
		p2v_put(&b, text, strnlen(text, size));
		if (b.len && b.s[b.len - 1] != '\n')
			p2v_put(&b, "\n", 1);
		for (size_t i = 0; mods[i]; i++) {
			char line[64];

			snprintf(line, sizeof(line), "\n%s\n", mods[i]);
			if (strncmp(text, line + 1, strlen(line + 1)) && !strstr(text, line)) {
				p2v_put(&b, line + 1, strlen(line + 1));
				add = true;
			}
		}
		free(text);
		if (b.oom) {
			free(b.s);
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		}
		if (add && guestfs_write(g, "/etc/initramfs-tools/modules", b.s, b.len) < 0) {
			free(b.s);
			return p2v_gfs_err(ctx, g, "/etc/initramfs-tools/modules");
		}
		free(b.s);
		/*
		 * With MODULES=most (Debian's default) every block driver, virtio's
		 * included, is already in the initramfs: the modules list serves
		 * later rebuilds, and the rebuild itself (minutes under TCG) is
		 * only run for MODULES=dep/list/netboot, or when the initramfs
		 * copied out turns out to lack the drivers (p2v_boot_files).
		 */
		if (add && !p2v_initramfs_most(g)) {
			char *o = guestfs_sh(g, "update-initramfs -u -k all 2>&1");

			if (o)
				gst->initramfs_rebuilt = true;
			else
				vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
						 "guest: update-initramfs failed (virtio drivers may "
						 "be missing from the initramfs): %s",
						 guestfs_last_error(g));
			free(o);
		}
	}

	p2v_pick_kernel(g, gst->kernel_version, sizeof(gst->kernel_version));
	if (!gst->kernel_version[0]) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "guest: no /boot/vmlinuz-* with a matching initrd.img: the bundle "
				 "boots from its disk");
		return 0;
	}
	return p2v_boot_files(ctx, a, bootdir, can_rebuild, gst, warn);
}

int vsl_p2v_fixup(struct vsl_ctx *ctx, const char *const *disks, size_t ndisks, const char *fmt,
		  const char *bootdir, struct vsl_p2v_guest *gst, struct vsl_problems *warn)
{
	struct p2v_gfs a = { 0 };
	char **roots = NULL;
	int r = 0;

	memset(gst, 0, sizeof(*gst));
	a.g = guestfs_create_flags(GUESTFS_CREATE_NO_CLOSE_ON_EXIT);
	if (!a.g)
		return vsl_set_error(ctx, errno, VSL_ENOTSUP, "libguestfs: cannot create a handle");
	guestfs_set_error_handler(a.g, NULL, NULL);
	/* TCG unless told otherwise, as builder/disks.c */
	if (!getenv("LIBGUESTFS_BACKEND"))
		guestfs_set_backend(a.g, "direct");
	if (!getenv("LIBGUESTFS_BACKEND_SETTINGS")) {
		char *settings[] = { (char *)"force_tcg", NULL };
		guestfs_set_backend_settings(a.g, settings);
	}
	for (size_t i = 0; i < ndisks; i++)
		if (guestfs_add_drive_opts(a.g, disks[i], GUESTFS_ADD_DRIVE_OPTS_FORMAT, fmt,
					   -1) < 0) {
			r = p2v_gfs_err(ctx, a.g, disks[i]);
			goto out;
		}
	if (guestfs_launch(a.g) < 0) {
		r = p2v_gfs_err(ctx, a.g, "launch (use --no-fixup to skip the fix-ups)");
		goto out;
	}
	a.devices = guestfs_list_devices(a.g);
	if (!a.devices) {
		r = p2v_gfs_err(ctx, a.g, "list devices");
		goto out;
	}
	while (a.devices[a.ndevices])
		a.ndevices++;
	roots = guestfs_inspect_os(a.g);
	if (!roots) {
		r = p2v_gfs_err(ctx, a.g, "inspection");
		goto out;
	}
	if (!roots[0]) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "guest: no operating system found: no fix-ups, the bundle boots "
				 "from its disk");
		goto out;
	}
	if (roots[1])
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "guest: several operating systems: fixing the first (%s)", roots[0]);
	gst->found = true;
	p2v_copy_str(gst->type, sizeof(gst->type), guestfs_inspect_get_type(a.g, roots[0]));
	p2v_copy_str(gst->distro, sizeof(gst->distro), guestfs_inspect_get_distro(a.g, roots[0]));
	p2v_copy_str(gst->product, sizeof(gst->product),
		     guestfs_inspect_get_product_name(a.g, roots[0]));
	gst->major = guestfs_inspect_get_major_version(a.g, roots[0]);
	gst->minor = guestfs_inspect_get_minor_version(a.g, roots[0]);
	if (strcmp(gst->type, "linux")) {
		vsl_problems_add(warn, VSL_PROBLEM_WARNING, "", 0, 0,
				 "guest: %s (%s): only Linux guests are fixed up so far", gst->product,
				 gst->type);
		goto out;
	}
	r = p2v_fix_linux(ctx, &a, roots[0], bootdir, gst, warn);
	if (r == 0 && guestfs_umount_all(a.g) < 0)
		r = p2v_gfs_err(ctx, a.g, "unmount");
	if (r == 0 && guestfs_shutdown(a.g) < 0)
		r = p2v_gfs_err(ctx, a.g, "shutdown (changes may not be written)");
out:
	p2v_strv_free(roots);
	p2v_strv_free(a.devices);
	guestfs_close(a.g);
	return r;
}
