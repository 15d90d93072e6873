/*
 * vsl_export / vsl_import: the drivers behind `vessel export` and
 * `vessel import` (formats: ovf.c, ova.c, vmx.c, libvirt.c).
 *
 * Export loads the bundle (file list checked, disk digests not re-hashed),
 * then writes the target into a temporary name beside the output
 * (OUT.tmp-XXXXXX) and renames it into place at the end; on failure the
 * temporary is removed, so nothing half-written is left and nothing is
 * written outside the output's directory.
 *
 * Import parses the descriptor into a struct vsl_ix_vm, maps it onto a
 * bundle config (warning about everything that does not map), converts
 * each disk to qcow2 in OUT.tmp-XXXXXX/disks/ (from the OVA in place, or
 * from the files a .ovf/.vmx/domain XML names), writes vessel.yaml and
 * MANIFEST and renames the directory to OUT.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "formats/interchange_priv.h"
#include "formats/ova_priv.h"
#include "vessel/convert.h"
#include "vessel/format.h"

static const char *const ix_kind_names[] = { "none", "ovf", "ova", "vmx", "libvirt" };

const char *vsl_ix_kind_name(enum vsl_ix_kind kind)
{
	return (unsigned)kind < VSL_ARRAY_SIZE(ix_kind_names) ? ix_kind_names[kind] : "?";
}

enum vsl_ix_kind vsl_ix_kind_from_name(const char *name)
{
	for (size_t i = 1; name && i < VSL_ARRAY_SIZE(ix_kind_names); i++)
		if (!strcmp(name, ix_kind_names[i]))
			return (enum vsl_ix_kind)i;
	return VSL_IX_NONE;
}

static bool ix_ends(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcasecmp(s + a - b, suf);
}

enum vsl_ix_kind vsl_ix_detect(const char *path, const void *head, size_t len)
{
	const char *h = head;

	if (len >= 262 && !memcmp(h + 257, "ustar", 5))
		return VSL_IX_OVA;
	if (path && ix_ends(path, ".ova"))
		return VSL_IX_OVA;
	if (path && ix_ends(path, ".ovf"))
		return VSL_IX_OVF;
	if (path && ix_ends(path, ".vmx"))
		return VSL_IX_VMX;
	if (h && memmem(h, len, "<domain", 7))
		return VSL_IX_LIBVIRT;
	if (h && memmem(h, len, "Envelope", 8))
		return VSL_IX_OVF;
	if (h && (memmem(h, len, "config.version", 14) || memmem(h, len, "virtualHW.version", 17)))
		return VSL_IX_VMX;
	return VSL_IX_NONE;
}

/* ---- small file helpers ---- */

static int ix_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void ix_rmtree(const char *path)
{
	if (path)
		nftw(path, ix_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh name "out.tmp-XXXXXX" beside out (created as a directory when dir, else as a file). */
static int ix_tmpname(struct vsl_ctx *ctx, const char *out, bool dir, char **tmp)
{
	char *t = vsl_strdup_printf("%s.tmp-XXXXXX", out);
	int fd;

	if (!t)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	if (dir) {
		if (!mkdtemp(t)) {
			int e = errno;

			free(t);
			return vsl_set_error(ctx, e, VSL_EIO, "create a temporary directory beside %s", out);
		}
		chmod(t, 0755); /* mkdtemp makes it 0700; the result is an ordinary directory */
	} else {
		fd = mkstemp(t);
		if (fd < 0) {
			int e = errno;

			free(t);
			return vsl_set_error(ctx, e, VSL_EIO, "create a temporary file beside %s", out);
		}
		fchmod(fd, 0644); /* mkstemp makes it 0600; the result is an ordinary file */
		close(fd);
	}
	*tmp = t;
	return 0;
}

static int ix_refuse_existing(struct vsl_ctx *ctx, const char *out)
{
	struct stat st;

	if (lstat(out, &st) == 0)
		return vsl_set_error(ctx, 0, VSL_EEXIST, "%s already exists; remove it or choose another -o",
				     out);
	return 0;
}

static int ix_rename(struct vsl_ctx *ctx, const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOSYS) {
		if (ix_refuse_existing(ctx, to) < 0)
			return VSL_EEXIST;
		if (rename(from, to) == 0)
			return 0;
	}
	return vsl_set_error(ctx, errno, errno == EEXIST ? VSL_EEXIST : VSL_EIO, "rename %s to %s", from, to);
}

static int ix_write_file(struct vsl_ctx *ctx, const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	const char *p = data;

	if (fd < 0)
		return vsl_set_error(ctx, errno, VSL_EIO, "create %s", path);
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			int e = errno;

			close(fd);
			return vsl_set_error(ctx, e, VSL_EIO, "write %s", path);
		}
		p += w;
		len -= (size_t)w;
	}
	if (close(fd) < 0)
		return vsl_set_error(ctx, errno, VSL_EIO, "close %s", path);
	return 0;
}

/* Read a whole (small) file; refuses more than max bytes. */
static int ix_read_file(struct vsl_ctx *ctx, const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t n = 0;

	if (fd < 0)
		return vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO, "open %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: %lld bytes is over the %zu-byte limit", path,
				     (long long)st.st_size, max);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	while (n < (size_t)st.st_size) {
		ssize_t rd = read(fd, buf + n, (size_t)st.st_size - n);

		if (rd <= 0) {
			int e = rd < 0 ? errno : 0;

			free(buf);
			close(fd);
			return vsl_set_error(ctx, e, VSL_EIO, "read %s", path);
		}
		n += (size_t)rd;
	}
	close(fd);
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

/* ---- export ---- */

struct ix_export {
	struct vsl_ctx *ctx;
	const char *dir;
	struct vsl_bundle_config cfg;
	char **disk_abs;      /* host paths of the bundle's disks */
	char **hrefs;         /* "NAME-diskN.vmdk" */
	const struct vsl_export_opts *o;
	struct vsl_problems *warn;
};

static void ix_export_fini(struct ix_export *x)
{
	for (size_t i = 0; i < x->cfg.ndisks; i++) {
		if (x->disk_abs)
			free(x->disk_abs[i]);
		if (x->hrefs)
			free(x->hrefs[i]);
	}
	free(x->disk_abs);
	free(x->hrefs);
	vsl_bundle_config_free(&x->cfg);
}

static int ix_export_load(struct ix_export *x)
{
	struct vsl_problems probs;
	int r;

	vsl_problems_init(&probs);
	r = vsl_bundle_load(x->ctx, x->dir, VSL_BUNDLE_NO_VERIFY, &x->cfg, &probs);
	vsl_problems_fini(&probs);
	if (r < 0)
		return r;
	x->disk_abs = vsl_calloc(x->cfg.ndisks + 1, sizeof(char *));
	x->hrefs = vsl_calloc(x->cfg.ndisks + 1, sizeof(char *));
	if (!x->disk_abs || !x->hrefs)
		return vsl_set_error(x->ctx, 0, VSL_ENOMEM, "out of memory");
	for (size_t i = 0; i < x->cfg.ndisks; i++) {
		r = vsl_bundle_resolve_path(x->ctx, x->dir, x->cfg.disks[i].file, &x->disk_abs[i]);
		if (r < 0)
			return r;
		x->hrefs[i] = vsl_strdup_printf("%s-disk%zu.vmdk", x->cfg.name, i + 1);
		if (!x->hrefs[i])
			return vsl_set_error(x->ctx, 0, VSL_ENOMEM, "out of memory");
	}
	return 0;
}

static int ix_manifest_add(struct vsl_ctx *ctx, char **mf, size_t *len, enum vsl_hash_alg alg,
			   const char *name, const char *hex)
{
	char line[600];
	int n = vsl_ova_manifest_line(line, sizeof(line), alg, name, hex);
	char *nm;

	if (n < 0)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "manifest line for '%s' is too long", name);
	nm = realloc(*mf, *len + (size_t)n + 1);
	if (!nm)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	memcpy(nm + *len, line, (size_t)n + 1);
	*mf = nm;
	*len += (size_t)n;
	return 0;
}

static int ix_archive_open(struct vsl_ctx *ctx, const char *path, struct archive **out)
{
	struct archive *a = archive_write_new();

	if (!a)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open_filename(a, path) != ARCHIVE_OK) {
		int r = vsl_set_error(ctx, 0, VSL_EIO, "%s: %s", path, archive_error_string(a));

		archive_write_free(a);
		return r;
	}
	*out = a;
	return 0;
}

static int ix_export_ova(struct ix_export *x, const char *out)
{
	struct vsl_ctx *ctx = x->ctx;
	const struct vsl_export_opts *o = x->o;
	uint64_t limit = o->member_limit ? o->member_limit : VSL_IX_USTAR_MAX;
	struct ova_disk_out *dd = vsl_calloc(x->cfg.ndisks + 1, sizeof(*dd));
	struct vsl_ovf_disk *od = vsl_calloc(x->cfg.ndisks + 1, sizeof(*od));
	struct archive *a = NULL;
	char *ovf = NULL, *mf = NULL, *tmp = NULL, *ovfname = NULL, *mfname = NULL;
	size_t ovf_len = 0, mf_len = 0;
	char hex[VSL_HASH_HEX_MAX];
	int r = 0;

	if (!dd || !od) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	if (o->chunk_size && (o->chunk_size > limit || o->chunk_size < 512 || o->chunk_size % 512)) {
		r = vsl_set_error(ctx, 0, VSL_ERANGE,
				  "chunk size %" PRIu64 " must be a multiple of 512 bytes and at most %" PRIu64,
				  o->chunk_size, limit);
		goto out;
	}
	/* pass 1: every disk's VMDK size and digest(s) */
	for (size_t i = 0; i < x->cfg.ndisks; i++) {
		dd[i].src_path = x->disk_abs[i];
		dd[i].src_fmt = x->cfg.disks[i].format;
		dd[i].adapter = vsl_ix_vmdk_adapter(x->cfg.disks[i].bus);
		dd[i].href = x->hrefs[i];
		dd[i].chunk_size = o->chunk_size;
		r = vsl_ova_disk_pass(ctx, &dd[i], 1, o->hash, NULL, o->threads, o->progress);
		if (r < 0) {
			vsl_error_prefix(ctx, "disk '%s'", x->cfg.disks[i].name);
			goto out;
		}
		if (!o->chunk_size && dd[i].file_size > limit) {
			r = vsl_set_error(ctx, 0, VSL_ERANGE,
					  "disk '%s': its streamOptimized VMDK is %" PRIu64
					  " bytes, over the %" PRIu64 "-byte limit of a ustar member; use --chunk-size to split it (OVF chunkSize), or --to ovf",
					  x->cfg.disks[i].name, dd[i].file_size, limit);
			goto out;
		}
		od[i] = (struct vsl_ovf_disk){ .href = x->hrefs[i], .file_size = dd[i].file_size,
					       .populated = dd[i].populated,
					       .chunk_size = dd[i].nchunks > 1 ? o->chunk_size : 0 };
		if (dd[i].nchunks <= 1)
			dd[i].chunk_size = 0; /* one chunk: a plain member */
		{
			struct vsl_image *img;

			r = vsl_image_open(ctx, x->disk_abs[i], x->cfg.disks[i].format, VSL_IMAGE_RDONLY, &img);
			if (r < 0)
				goto out;
			od[i].capacity = img->size;
			vsl_image_close(img);
		}
	}
	r = vsl_ovf_generate(ctx, &x->cfg, od, &ovf, &ovf_len, x->warn);
	if (r < 0)
		goto out;
	ovfname = vsl_strdup_printf("%s.ovf", x->cfg.name);
	mfname = vsl_strdup_printf("%s.mf", x->cfg.name);
	if (!ovfname || !mfname) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	{
		struct vsl_hash *h = vsl_hash_new(o->hash);

		if (!h) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto out;
		}
		vsl_hash_update(h, ovf, ovf_len);
		vsl_hash_final_hex(h, hex);
		vsl_hash_free(h);
	}
	r = ix_manifest_add(ctx, &mf, &mf_len, o->hash, ovfname, hex);
	for (size_t i = 0; r == 0 && i < x->cfg.ndisks; i++) {
		if (!dd[i].chunk_size) {
			r = ix_manifest_add(ctx, &mf, &mf_len, o->hash, x->hrefs[i], dd[i].hex);
			continue;
		}
		for (size_t c = 0; r == 0 && c < dd[i].nchunks; c++) {
			char nm[300];

			snprintf(nm, sizeof(nm), "%s.%09zu", x->hrefs[i], c);
			r = ix_manifest_add(ctx, &mf, &mf_len, o->hash, nm, dd[i].chunk_hex[c]);
		}
	}
	if (r < 0)
		goto out;
	/* pass 2: the archive */
	r = ix_tmpname(ctx, out, false, &tmp);
	if (r < 0)
		goto out;
	r = ix_archive_open(ctx, tmp, &a);
	if (r == 0)
		r = vsl_ova_write_member(ctx, a, ovfname, ovf, ovf_len);
	if (r == 0)
		r = vsl_ova_write_member(ctx, a, mfname, mf, mf_len);
	for (size_t i = 0; r == 0 && i < x->cfg.ndisks; i++) {
		r = vsl_ova_disk_pass(ctx, &dd[i], 2, o->hash, a, o->threads, o->progress);
		if (r < 0)
			vsl_error_prefix(ctx, "disk '%s'", x->cfg.disks[i].name);
	}
	if (a) {
		if (archive_write_close(a) != ARCHIVE_OK && r == 0)
			r = vsl_set_error(ctx, 0, VSL_EIO, "%s: %s", tmp, archive_error_string(a));
		archive_write_free(a);
	}
	if (r == 0)
		r = ix_rename(ctx, tmp, out);
	if (r < 0)
		unlink(tmp);
out:
	for (size_t i = 0; dd && i < x->cfg.ndisks; i++)
		vsl_ova_disk_out_fini(&dd[i]);
	free(dd);
	free(od);
	free(ovf);
	free(mf);
	free(tmp);
	free(ovfname);
	free(mfname);
	return r;
}

/* OVF (directory) and VMX: convert each disk into dir/href with vsl_convert. */
static int ix_export_vmdks(struct ix_export *x, const char *dir, bool stream_optimized,
			   struct vsl_ovf_disk *od)
{
	for (size_t i = 0; i < x->cfg.ndisks; i++) {
		char kvad[64], *path = vsl_strdup_printf("%s/%s", dir, x->hrefs[i]);
		const char *kv[] = { stream_optimized ? "subformat=streamOptimized" : "subformat=monolithicSparse",
				     kvad, NULL };
		struct vsl_convert_opts co = { .in_fmt = x->cfg.disks[i].format, .out_fmt = "vmdk", .kv = kv,
					       .compress = stream_optimized, .threads = x->o->threads,
					       .progress = x->o->progress };
		struct vsl_convert_stats st = { 0 };
		struct stat sb;
		int r;

		if (!path)
			return vsl_set_error(x->ctx, 0, VSL_ENOMEM, "out of memory");
		snprintf(kvad, sizeof(kvad), "adapter_type=%s", vsl_ix_vmdk_adapter(x->cfg.disks[i].bus));
		r = vsl_convert(x->ctx, x->disk_abs[i], path, &co, &st);
		if (r == 0 && od) {
			struct vsl_image *img;

			r = stat(path, &sb) < 0 ? vsl_set_error(x->ctx, errno, VSL_EIO, "stat %s", path) : 0;
			if (r == 0)
				r = vsl_image_open(x->ctx, x->disk_abs[i], x->cfg.disks[i].format,
						   VSL_IMAGE_RDONLY, &img);
			if (r == 0) {
				od[i] = (struct vsl_ovf_disk){ .href = x->hrefs[i], .file_size = (uint64_t)sb.st_size,
							       .capacity = img->size, .populated = st.bytes_written };
				vsl_image_close(img);
			}
		}
		free(path);
		if (r < 0) {
			vsl_error_prefix(x->ctx, "disk '%s'", x->cfg.disks[i].name);
			return r;
		}
	}
	return 0;
}

static int ix_export_ovf(struct ix_export *x, const char *out)
{
	struct vsl_ctx *ctx = x->ctx;
	struct vsl_ovf_disk *od = vsl_calloc(x->cfg.ndisks + 1, sizeof(*od));
	char *tmp = NULL, *ovf = NULL, *mf = NULL, *p = NULL;
	size_t ovf_len = 0, mf_len = 0;
	char hex[VSL_HASH_HEX_MAX];
	int r;

	if (!od)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	r = ix_tmpname(ctx, out, true, &tmp);
	if (r < 0)
		goto out;
	r = ix_export_vmdks(x, tmp, true, od);
	if (r == 0)
		r = vsl_ovf_generate(ctx, &x->cfg, od, &ovf, &ovf_len, x->warn);
	if (r == 0) {
		p = vsl_strdup_printf("%s/%s.ovf", tmp, x->cfg.name);
		r = p ? ix_write_file(ctx, p, ovf, ovf_len) : VSL_ENOMEM;
	}
	if (r == 0)
		r = vsl_hash_file(ctx, x->o->hash, p, hex);
	if (r == 0) {
		char nm[300];

		snprintf(nm, sizeof(nm), "%s.ovf", x->cfg.name);
		r = ix_manifest_add(ctx, &mf, &mf_len, x->o->hash, nm, hex);
	}
	for (size_t i = 0; r == 0 && i < x->cfg.ndisks; i++) {
		free(p);
		p = vsl_strdup_printf("%s/%s", tmp, x->hrefs[i]);
		r = p ? vsl_hash_file(ctx, x->o->hash, p, hex) : VSL_ENOMEM;
		if (r == 0)
			r = ix_manifest_add(ctx, &mf, &mf_len, x->o->hash, x->hrefs[i], hex);
	}
	if (r == 0) {
		free(p);
		p = vsl_strdup_printf("%s/%s.mf", tmp, x->cfg.name);
		r = p ? ix_write_file(ctx, p, mf, mf_len) : VSL_ENOMEM;
	}
	if (r == 0)
		r = ix_rename(ctx, tmp, out);
	if (r < 0)
		ix_rmtree(tmp);
out:
	free(od);
	free(tmp);
	free(ovf);
	free(mf);
	free(p);
	return r;
}

static int ix_export_vmx(struct ix_export *x, const char *out)
{
	char *tmp = NULL, *text = NULL, *p = NULL;
	size_t len;
	int r;

	r = ix_tmpname(x->ctx, out, true, &tmp);
	if (r < 0)
		return r;
	r = ix_export_vmdks(x, tmp, false, NULL);
	if (r == 0)
		r = vsl_vmx_generate(x->ctx, &x->cfg, (const char *const *)x->hrefs, &text, &len, x->warn);
	if (r == 0) {
		p = vsl_strdup_printf("%s/%s.vmx", tmp, x->cfg.name);
		r = p ? ix_write_file(x->ctx, p, text, len) : VSL_ENOMEM;
	}
	if (r == 0)
		r = ix_rename(x->ctx, tmp, out);
	if (r < 0)
		ix_rmtree(tmp);
	free(tmp);
	free(text);
	free(p);
	return r;
}

static int ix_export_libvirt(struct ix_export *x, const char *out)
{
	char *kernel = NULL, *initrd = NULL, *xml = NULL, *tmp = NULL;
	size_t len;
	int r = 0;

	if (x->cfg.boot.kind == VSL_BOOT_KERNEL) {
		r = vsl_bundle_resolve_path(x->ctx, x->dir, x->cfg.boot.kernel, &kernel);
		if (r == 0 && x->cfg.boot.initrd)
			r = vsl_bundle_resolve_path(x->ctx, x->dir, x->cfg.boot.initrd, &initrd);
	}
	if (r == 0)
		r = vsl_libvirt_generate(x->ctx, &x->cfg, (const char *const *)x->disk_abs, kernel, initrd,
					 &xml, &len, x->warn);
	if (r == 0)
		r = ix_tmpname(x->ctx, out, false, &tmp);
	if (r == 0) {
		unlink(tmp);
		r = ix_write_file(x->ctx, tmp, xml, len);
		if (r == 0)
			r = ix_rename(x->ctx, tmp, out);
		if (r < 0)
			unlink(tmp);
	}
	free(kernel);
	free(initrd);
	free(xml);
	free(tmp);
	return r;
}

int vsl_export(struct vsl_ctx *ctx, const char *dir, const char *out,
	       const struct vsl_export_opts *o, struct vsl_problems *warn)
{
	struct ix_export x = { .ctx = ctx, .dir = dir, .o = o, .warn = warn };
	int r;

	vsl_bundle_config_init(&x.cfg);
	r = ix_refuse_existing(ctx, out);
	if (r == 0)
		r = ix_export_load(&x);
	if (r == 0) {
		switch (o->kind) {
		case VSL_IX_OVA: r = ix_export_ova(&x, out); break;
		case VSL_IX_OVF: r = ix_export_ovf(&x, out); break;
		case VSL_IX_VMX: r = ix_export_vmx(&x, out); break;
		case VSL_IX_LIBVIRT: r = ix_export_libvirt(&x, out); break;
		default: r = vsl_set_error(ctx, 0, VSL_EINVAL, "unknown export kind %d", (int)o->kind);
		}
	}
	ix_export_fini(&x);
	return r;
}

/* ---- import ---- */

struct ix_import {
	struct vsl_ctx *ctx;
	const char *in;
	char *in_dir;             /* directory of the descriptor (for relative disk paths) */
	const struct vsl_import_opts *o;
	struct vsl_problems *warn;
	struct vsl_ix_vm vm;
	struct ova_in *ova;
	char *tmp;                /* the bundle being built */
};

/* Resolve a disk file named in a .ovf/.vmx relative to its directory: no absolute, no "..", no URL. */
static int ix_local_path(struct ix_import *x, const char *name, bool allow_abs, char **out)
{
	const char *p = name;

	if (strstr(name, "://"))
		return vsl_set_error(x->ctx, 0, VSL_ENOTSUP, "%s: '%s' is a URL; only local files are read",
				     x->in, name);
	if (name[0] == '/') {
		if (!allow_abs)
			return vsl_set_error(x->ctx, 0, VSL_EPERM,
					     "%s: disk path '%s' is absolute; refused (disks must lie beside the descriptor)",
					     x->in, name);
		*out = strdup(name);
		return *out ? 0 : vsl_set_error(x->ctx, 0, VSL_ENOMEM, "out of memory");
	}
	while (*p) {
		size_t l = strcspn(p, "/");

		if (!allow_abs && l == 2 && !strncmp(p, "..", 2))
			return vsl_set_error(x->ctx, 0, VSL_EPERM, "%s: disk path '%s' has a '..' component; refused",
					     x->in, name);
		p += l;
		if (*p)
			p++;
	}
	*out = vsl_strdup_printf("%s/%s", x->in_dir, name);
	return *out ? 0 : vsl_set_error(x->ctx, 0, VSL_ENOMEM, "out of memory");
}

static int ix_verify_ova(struct ix_import *x, const char *mfname)
{
	const struct ova_member *mf = vsl_ova_find(x->ova, mfname);
	struct vsl_ova_mf_entry *e = NULL;
	size_t n = 0;
	int r;

	r = vsl_ova_manifest_parse(x->ctx, (const char *)x->ova->map + mf->off, (size_t)mf->size, mfname,
				   &e, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const struct ova_member *m = vsl_ova_find(x->ova, e[i].name);
		char hex[VSL_HASH_HEX_MAX];

		if (!m) {
			r = vsl_set_error(x->ctx, 0, VSL_ENOENT, "%s: the manifest lists '%s', which the OVA does not contain",
					  x->in, e[i].name);
			break;
		}
		vsl_ova_member_hash(x->ova, m, e[i].alg, hex);
		if (strcmp(hex, e[i].hex)) {
			r = vsl_set_error(x->ctx, 0, VSL_ECORRUPT,
					  "%s: member '%s' does not match the manifest (%s is %s, %s says %s)",
					  x->in, e[i].name, vsl_hash_name(e[i].alg), hex, mfname, e[i].hex);
			break;
		}
	}
	/* members the manifest does not cover */
	for (size_t j = 0; r == 0 && j < x->ova->nmembers; j++) {
		bool listed = !strcmp(x->ova->members[j].name, mfname);

		for (size_t i = 0; !listed && i < n; i++)
			listed = !strcmp(e[i].name, x->ova->members[j].name);
		if (!listed)
			vsl_ix_warn(x->warn, x->in, "member '%s' is not covered by the manifest", x->ova->members[j].name);
	}
	free(e);
	return r;
}

static int ix_parse_input(struct ix_import *x, enum vsl_ix_kind kind)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	if (kind == VSL_IX_OVA) {
		const struct ova_member *ovf = NULL;
		char mfname[300];

		r = vsl_ova_open(x->ctx, x->in, &x->ova);
		if (r < 0)
			return r;
		for (size_t i = 0; i < x->ova->nmembers; i++) {
			if (!ix_ends(x->ova->members[i].name, ".ovf"))
				continue;
			if (ovf)
				return vsl_set_error(x->ctx, 0, VSL_EINVAL, "%s: more than one .ovf descriptor ('%s', '%s')",
						     x->in, ovf->name, x->ova->members[i].name);
			ovf = &x->ova->members[i];
			if (i != 0)
				vsl_ix_warn(x->warn, x->in, "the descriptor '%s' is not the first member", ovf->name);
		}
		if (!ovf)
			return vsl_set_error(x->ctx, 0, VSL_EINVAL, "%s: no .ovf descriptor in the archive", x->in);
		if (ovf->size > VSL_IX_DESC_MAX)
			return vsl_set_error(x->ctx, 0, VSL_ERANGE, "%s: descriptor '%s' is too large", x->in,
					     ovf->name);
		snprintf(mfname, sizeof(mfname), "%.*s.mf", (int)strlen(ovf->name) - 4, ovf->name);
		if (vsl_ova_find(x->ova, mfname)) {
			r = ix_verify_ova(x, mfname);
			if (r < 0)
				return r;
		} else {
			vsl_ix_warn(x->warn, x->in, "no manifest (%s): the contents are not verified", mfname);
		}
		for (size_t i = 0; i < x->ova->nmembers; i++)
			if (ix_ends(x->ova->members[i].name, ".cert"))
				vsl_ix_warn(x->warn, x->in, "certificate '%s' is not checked", x->ova->members[i].name);
		return vsl_ovf_parse(x->ctx, (const char *)x->ova->map + ovf->off, (size_t)ovf->size, ovf->name,
				     &x->vm, x->warn);
	}
	r = ix_read_file(x->ctx, x->in, VSL_IX_DESC_MAX, &text, &len);
	if (r < 0)
		return r;
	switch (kind) {
	case VSL_IX_OVF: r = vsl_ovf_parse(x->ctx, text, len, x->in, &x->vm, x->warn); break;
	case VSL_IX_VMX: r = vsl_vmx_parse(x->ctx, text, len, x->in, &x->vm, x->warn); break;
	default: r = vsl_libvirt_parse(x->ctx, text, len, x->in, &x->vm, x->warn); break;
	}
	if (r == 0 && kind == VSL_IX_OVF) {
		/* a manifest beside the .ovf is verified too */
		char *mf = vsl_strdup_printf("%.*s.mf", (int)strlen(x->in) - 4, x->in), *mtext = NULL;
		struct vsl_ova_mf_entry *e = NULL;
		size_t mlen, n = 0;

		if (mf && access(mf, F_OK) == 0) {
			r = ix_read_file(x->ctx, mf, VSL_IX_DESC_MAX, &mtext, &mlen);
			if (r == 0)
				r = vsl_ova_manifest_parse(x->ctx, mtext, mlen, mf, &e, &n);
			for (size_t i = 0; r == 0 && i < n; i++) {
				char *p = NULL, hex[VSL_HASH_HEX_MAX];

				r = ix_local_path(x, e[i].name, false, &p);
				if (r == 0)
					r = vsl_hash_file(x->ctx, e[i].alg, p, hex);
				if (r == 0 && strcmp(hex, e[i].hex))
					r = vsl_set_error(x->ctx, 0, VSL_ECORRUPT,
							  "%s: '%s' does not match the manifest", mf, e[i].name);
				free(p);
			}
		} else {
			vsl_ix_warn(x->warn, x->in, "no manifest beside the descriptor: the contents are not verified");
		}
		free(mf);
		free(mtext);
		free(e);
	}
	free(text);
	return r;
}

static const struct vsl_ix_file *ix_file(const struct vsl_ix_vm *vm, const char *id)
{
	for (size_t i = 0; i < vm->nfiles; i++)
		if (!strcmp(vm->files[i].id, id))
			return &vm->files[i];
	return NULL;
}

/* Open the source image of disk i (read-only). */
static int ix_open_source(struct ix_import *x, enum vsl_ix_kind kind, size_t i, struct vsl_image **img)
{
	const struct vsl_ix_disk *d = &x->vm.disks[i];
	char *path = NULL;
	int r;

	if (kind == VSL_IX_OVA || kind == VSL_IX_OVF) {
		const struct vsl_ix_file *f = ix_file(&x->vm, d->file);
		const struct ova_member *parts[1024];
		size_t np = 0;
		struct vsl_stream *s;

		if (kind == VSL_IX_OVF) {
			if (f->chunk_size)
				return vsl_set_error(x->ctx, 0, VSL_ENOTSUP, "%s: chunked files outside an OVA are not supported",
						     x->in);
			r = ix_local_path(x, f->href, false, &path);
			if (r < 0)
				return r;
			if (x->vm.ovirt && access(path, F_OK) < 0) {
				/*
				 * an oVirt export domain: DOMAIN/master/vms/VM/VM.ovf and
				 * DOMAIN/images/IMAGE/VOLUME (the href, checked above)
				 */
				char *p2 = vsl_strdup_printf("%s/../../../images/%s", x->in_dir, f->href);

				free(path);
				path = p2;
				if (!path)
					return vsl_set_error(x->ctx, 0, VSL_ENOMEM, "out of memory");
			}
			if (access(path, F_OK) < 0) {
				r = vsl_set_error(x->ctx, errno, VSL_ENOENT, "%s: disk file '%s' is missing", x->in, f->href);
				free(path);
				return r;
			}
			r = vsl_image_open(x->ctx, path, d->format, VSL_IMAGE_RDONLY, img);
			free(path);
			return r;
		}
		if (f->chunk_size) {
			char nm[300];

			for (np = 0; np < VSL_ARRAY_SIZE(parts); np++) {
				snprintf(nm, sizeof(nm), "%s.%09zu", f->href, np);
				if (!(parts[np] = vsl_ova_find(x->ova, nm)))
					break;
			}
			snprintf(nm, sizeof(nm), "%s.%09zu", f->href, np);
			if (np == VSL_ARRAY_SIZE(parts) && vsl_ova_find(x->ova, nm))
				return vsl_set_error(x->ctx, 0, VSL_ERANGE, "%s: '%s' has more than %zu chunks",
						     x->in, f->href, VSL_ARRAY_SIZE(parts));
			/* every chunk but the last is exactly chunkSize bytes */
			for (size_t c = 0; c + 1 < np; c++)
				if (parts[c]->size != f->chunk_size)
					return vsl_set_error(x->ctx, 0, VSL_ECORRUPT,
							     "%s: chunk '%s' is %llu bytes, not the chunkSize %llu",
							     x->in, parts[c]->name, (unsigned long long)parts[c]->size,
							     (unsigned long long)f->chunk_size);
		} else if ((parts[0] = vsl_ova_find(x->ova, f->href))) {
			np = 1;
		}
		if (!np)
			return vsl_set_error(x->ctx, 0, VSL_ENOENT,
					     "%s: disk '%s' refers to file '%s', which is not in the OVA", x->in,
					     d->name ? d->name : d->file, f->href);
		if (f->size) {
			uint64_t total = 0;

			for (size_t c = 0; c < np; c++)
				total += parts[c]->size;
			if (total != f->size)
				return vsl_set_error(x->ctx, 0, VSL_ECORRUPT,
						     "%s: '%s' is %llu bytes, but the descriptor says ovf:size=%llu",
						     x->in, f->href, (unsigned long long)total,
						     (unsigned long long)f->size);
		}
		r = vsl_ova_member_stream(x->ctx, x->ova, parts, np, f->href, &s);
		if (r < 0)
			return r;
		r = vsl_image_open_stream(x->ctx, s, d->format, VSL_IMAGE_RDONLY, img);
		if (r < 0)
			vsl_stream_free(s);
		return r;
	}
	r = ix_local_path(x, d->file, kind == VSL_IX_LIBVIRT, &path);
	if (r < 0)
		return r;
	if (access(path, F_OK) < 0) {
		r = vsl_set_error(x->ctx, errno, VSL_ENOENT, "%s: disk file '%s' is missing", x->in, d->file);
		free(path);
		return r;
	}
	r = vsl_image_open(x->ctx, path, d->format, VSL_IMAGE_RDONLY, img);
	free(path);
	return r;
}

static const char *ix_ctrl_name(enum vsl_ix_ctrl c)
{
	static const char *const n[] = { "no", "IDE", "SCSI", "SATA", "virtio", "NVMe" };

	return (unsigned)c < VSL_ARRAY_SIZE(n) ? n[c] : "?";
}

static int ix_copy_boot_file(struct ix_import *x, const char *src, const char *rel)
{
	char *path = NULL, *dst = vsl_strdup_printf("%s/%s", x->tmp, rel), *data = NULL;
	size_t len;
	int r = ix_local_path(x, src, true, &path);

	if (r == 0)
		r = ix_read_file(x->ctx, path, 1u << 30, &data, &len);
	if (r == 0)
		r = dst ? ix_write_file(x->ctx, dst, data, len) : VSL_ENOMEM;
	free(path);
	free(dst);
	free(data);
	return r;
}

static int ix_build(struct ix_import *x, enum vsl_ix_kind kind, const char *out)
{
	struct vsl_ctx *ctx = x->ctx;
	struct vsl_bundle_config cfg;
	char *base = NULL;
	int r;

	vsl_bundle_config_init(&cfg);
	/* the name: option, source, output file name */
	if (x->o->name)
		cfg.name = strdup(x->o->name);
	else if (!(cfg.name = vsl_ix_bundle_name(x->vm.name))) {
		char *b = strdup(out), *bn;

		bn = b ? basename(b) : NULL;
		if (bn && ix_ends(bn, ".vessel"))
			bn[strlen(bn) - 7] = 0;
		cfg.name = vsl_ix_bundle_name(bn);
		free(b);
	}
	if (!cfg.name)
		cfg.name = strdup("imported");
	if (x->vm.name && strcmp(x->vm.name, cfg.name))
		vsl_ix_warn(x->warn, x->in, "machine name '%s' becomes '%s'", x->vm.name, cfg.name);
	cfg.arch = strdup("x86_64");
	cfg.cpus = x->vm.cpus;
	cfg.memory = VSL_ALIGN_UP(x->vm.memory, 4096);
	if (cfg.memory != x->vm.memory)
		vsl_ix_warn(x->warn, x->in, "memory rounded up to a multiple of 4 KiB");
	/* the source's OS identifier or description, kept as is in guest.product */
	if (x->vm.os && vsl_bundle_guest_str_ok(x->vm.os)) {
		cfg.guest.product = strdup(x->vm.os);
		if (!cfg.guest.product) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto out;
		}
	} else if (x->vm.os) {
		vsl_ix_warn(x->warn, x->in, "guest OS type is not recorded (empty, longer than %d "
			    "bytes or with control characters)", VSL_BUNDLE_GUEST_STR_MAX);
	}
	if (!x->vm.ndisks && !x->vm.kernel) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: the machine has no disk and no kernel: nothing to boot",
				  x->in);
		goto out;
	}
	/* disks */
	for (size_t i = 0; i < x->vm.ndisks; i++) {
		struct vsl_ix_disk *d = &x->vm.disks[i];
		struct vsl_bundle_disk *bd = vsl_bundle_config_add_disk(&cfg);
		struct vsl_image *src = NULL, *dst = NULL;
		char *name = NULL, *path;
		bool dup;

		if (!bd) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto out;
		}
		name = d->name && vsl_ix_valid_name(d->name) ? strdup(d->name) : vsl_strdup_printf("disk%zu", i + 1);
		dup = vsl_bundle_config_disk(&cfg, name) != NULL;
		if (dup) {
			free(name);
			name = vsl_strdup_printf("disk%zu", i + 1);
		}
		bd->name = name;
		bd->file = vsl_strdup_printf("disks/%s.qcow2", name);
		bd->format = strdup("qcow2");
		bd->readonly = d->readonly;
		switch (d->ctrl) {
		case VSL_IX_CTRL_VIRTIO:
			bd->bus = VSL_DISK_BUS_VIRTIO;
			break;
		case VSL_IX_CTRL_IDE:
			bd->bus = VSL_DISK_BUS_IDE;
			break;
		case VSL_IX_CTRL_SATA:
			bd->bus = VSL_DISK_BUS_IDE;
			vsl_ix_warn(x->warn, x->in, "disk '%s': SATA (%s) controller becomes IDE (vessel has no AHCI)",
				    name, d->ctrl_sub ? d->ctrl_sub : "AHCI");
			break;
		default:
			bd->bus = VSL_DISK_BUS_VIRTIO;
			vsl_ix_warn(x->warn, x->in,
				    "disk '%s': %s%s%s%s controller becomes virtio-blk; the guest needs virtio drivers",
				    name, ix_ctrl_name(d->ctrl), d->ctrl_sub ? " (" : "",
				    d->ctrl_sub ? d->ctrl_sub : "", d->ctrl_sub ? ")" : "");
		}
		if (!bd->file || !bd->format) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto out;
		}
		if (!d->file) { /* an OVF blank disk */
			src = NULL;
		} else {
			r = ix_open_source(x, kind, i, &src);
			if (r < 0) {
				vsl_error_prefix(ctx, "disk '%s'", name);
				goto out;
			}
		}
		path = vsl_strdup_printf("%s/%s", x->tmp, bd->file);
		r = path ? vsl_image_create(ctx, path, "qcow2", src ? src->size : d->capacity, NULL, &dst)
			 : vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		free(path);
		if (r == 0) {
			dst->flags |= VSL_IMAGE_UNSAFE;
			if (src)
				r = vsl_convert_copy(src, dst, x->o->progress, NULL);
			if (r == 0)
				r = vsl_image_flush(dst);
			vsl_image_close(dst);
		}
		vsl_image_close(src);
		if (r < 0) {
			vsl_error_prefix(ctx, "disk '%s'", name);
			goto out;
		}
	}
	/* boot */
	if (x->vm.kernel) {
		cfg.boot.kind = VSL_BOOT_KERNEL;
		cfg.boot.kernel = strdup("boot/vmlinuz");
		r = ix_copy_boot_file(x, x->vm.kernel, "boot/vmlinuz");
		if (r == 0 && x->vm.initrd) {
			cfg.boot.initrd = strdup("boot/initrd.img");
			r = ix_copy_boot_file(x, x->vm.initrd, "boot/initrd.img");
		}
		if (x->vm.cmdline && *x->vm.cmdline)
			cfg.boot.cmdline = strdup(x->vm.cmdline);
		if (r < 0)
			goto out;
	} else {
		cfg.boot.kind = VSL_BOOT_FIRMWARE;
		cfg.boot.firmware = x->vm.firmware;
		cfg.boot.disk = strdup(cfg.disks[0].name);
	}
	/* network */
	for (size_t i = 0; i < x->vm.nnics; i++) {
		const struct vsl_ix_nic *n = &x->vm.nics[i];
		struct vsl_bundle_nic *bn = vsl_bundle_config_add_nic(&cfg);

		if (!bn) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto out;
		}
		bn->mode = n->connected ? VSL_NET_USER : VSL_NET_NONE;
		bn->model = strdup("virtio");
		if (n->model && strcmp(n->model, "virtio"))
			vsl_ix_warn(x->warn, x->in, "network card %zu: model '%s' becomes virtio-net", i + 1, n->model);
		if (n->has_mac && !(n->mac[0] & 1)) {
			bn->has_mac = true;
			memcpy(bn->mac, n->mac, 6);
		} else if (n->has_mac) {
			vsl_ix_warn(x->warn, x->in, "network card %zu: multicast MAC address dropped", i + 1);
		}
	}
	cfg.serial.port = x->vm.serial_port ? x->vm.serial_port : 1;
	cfg.serial.output = x->vm.serial_silent ? VSL_SERIAL_NONE : VSL_SERIAL_STDIO;
	{
		struct vsl_bundle_source *src = vsl_bundle_config_add_source(&cfg);
		char *abs = realpath(x->in, NULL);

		if (src)
			src->uri = abs ? abs : strdup(x->in);
		else
			free(abs);
	}
	cfg.provenance.vessel_version = strdup(vsl_version());
	r = vsl_bundle_write_config(ctx, x->tmp, &cfg);
	if (r == 0)
		r = vsl_bundle_write_manifest(ctx, x->tmp);
out:
	free(base);
	vsl_bundle_config_free(&cfg);
	return r;
}

int vsl_import(struct vsl_ctx *ctx, const char *in, const char *out,
	       const struct vsl_import_opts *o, struct vsl_problems *warn)
{
	struct ix_import x = { .ctx = ctx, .in = in, .o = o, .warn = warn };
	enum vsl_ix_kind kind = o->kind;
	char head[4096], *d;
	int r, fd;

	vsl_ix_vm_init(&x.vm);
	r = ix_refuse_existing(ctx, out);
	if (r < 0)
		return r;
	fd = open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO, "open %s", in);
	{
		ssize_t n = read(fd, head, sizeof(head));

		close(fd);
		if (kind == VSL_IX_NONE)
			kind = vsl_ix_detect(in, head, n > 0 ? (size_t)n : 0);
	}
	if (kind == VSL_IX_NONE)
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "%s: cannot tell what this is (not an OVA, .ovf, .vmx or libvirt domain XML); name it with --from",
				     in);
	d = strdup(in);
	x.in_dir = d ? strdup(dirname(d)) : NULL;
	free(d);
	if (!x.in_dir)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	r = ix_parse_input(&x, kind);
	if (r < 0)
		goto out;
	r = ix_tmpname(ctx, out, true, &x.tmp);
	if (r < 0)
		goto out;
	rmdir(x.tmp); /* vsl_bundle_create makes it (with disks/ and boot/) */
	r = vsl_bundle_create(ctx, x.tmp);
	if (r < 0) {
		free(x.tmp);
		x.tmp = NULL;
		goto out;
	}
	r = ix_build(&x, kind, out);
	if (r == 0)
		r = ix_rename(ctx, x.tmp, out);
	if (r < 0)
		ix_rmtree(x.tmp);
out:
	free(x.tmp);
	free(x.in_dir);
	vsl_ova_close(x.ova);
	vsl_ix_vm_fini(&x.vm);
	return r;
}
