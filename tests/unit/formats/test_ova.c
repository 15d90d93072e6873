/*
 * Unit tests for formats/ova.c and the export/import drivers: manifests
 * (vessel, VMware and VirtualBox spellings), a bundle -> OVA -> bundle
 * round trip with content compared, digest selection, the ustar member
 * limit (refusal and OVF chunking, with a lowered limit), and hostile
 * archives built with libarchive: '..', absolute names, links, duplicate
 * members, a manifest that does not match, a disk that is absent. Each
 * failure must leave nothing behind.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/ova_priv.h"
#include "tests/unit/helpers/testutil.h"
#include "vessel/bundle.h"
#include "vessel/format.h"
#include "vessel/interchange.h"

static char tmpdir[256];

/* tmpdir/name in one of four rotating buffers (several may appear in one call) */
static const char *P(const char *name)
{
	return tu_path(tmpdir, name);
}

static void setup(void)
{
	tu_mkdtemp(tmpdir, sizeof(tmpdir), "vsl-test-ova");
}

static void teardown(void)
{
	tu_rmtree(tmpdir);
}

/* Number of entries in tmpdir (to prove failures leave nothing behind). */
static int count_entries(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* A bundle "t.vessel" with a 4 MiB qcow2 disk holding a pattern. */
static void make_bundle(struct vsl_ctx *ctx, uint64_t size)
{
	struct vsl_bundle_config cfg;
	struct vsl_bundle_disk *d;
	struct vsl_image *img;
	char dir[300], disk[400];
	uint8_t buf[65536];

	snprintf(dir, sizeof(dir), "%s/t.vessel", tmpdir);
	ck_assert_int_eq(vsl_bundle_create(ctx, dir), 0);
	snprintf(disk, sizeof(disk), "%s/disks/root.qcow2", dir);
	ck_assert_int_eq(vsl_image_create(ctx, disk, "qcow2", size, NULL, &img), 0);
	for (uint64_t off = 0; off < size; off += 3 * sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)((off >> 16) * 31 + i * 7 + (i >> 9));
		ck_assert_int_eq(vsl_image_write(img, off, buf, sizeof(buf)), 0);
	}
	vsl_image_close(img);
	vsl_bundle_config_init(&cfg);
	cfg.name = strdup("t");
	cfg.arch = strdup("x86_64");
	cfg.cpus = 2;
	cfg.memory = 64ull << 20;
	cfg.boot = (struct vsl_bundle_boot){ .kind = VSL_BOOT_FIRMWARE, .disk = strdup("root") };
	d = vsl_bundle_config_add_disk(&cfg);
	d->name = strdup("root");
	d->file = strdup("disks/root.qcow2");
	d->format = strdup("qcow2");
	ck_assert_int_eq(vsl_bundle_write_config(ctx, dir, &cfg), 0);
	ck_assert_int_eq(vsl_bundle_write_manifest(ctx, dir), 0);
	vsl_bundle_config_free(&cfg);
}

static void assert_same_disk(struct vsl_ctx *ctx, const char *a, const char *b)
{
	struct vsl_image *x, *y;
	static uint8_t p[1 << 20], q[1 << 20];

	ck_assert_int_eq(vsl_image_open(ctx, a, NULL, VSL_IMAGE_RDONLY, &x), 0);
	ck_assert_int_eq(vsl_image_open(ctx, b, NULL, VSL_IMAGE_RDONLY, &y), 0);
	ck_assert_uint_eq(x->size, y->size);
	for (uint64_t off = 0; off < x->size; off += sizeof(p)) {
		size_t n = (size_t)VSL_MIN((uint64_t)sizeof(p), x->size - off);

		ck_assert_int_eq(vsl_image_read(x, off, p, n), 0);
		ck_assert_int_eq(vsl_image_read(y, off, q, n), 0);
		ck_assert_msg(!memcmp(p, q, n), "content differs near %llu", (unsigned long long)off);
	}
	vsl_image_close(x);
	vsl_image_close(y);
}

START_TEST(manifest_lines)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	const char *text =
		"SHA256(a b.ovf)= 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
		"SHA1 (disk (1).vmdk) = 0123456789ABCDEF0123456789abcdef01234567\r\n"
		"\n";
	struct vsl_ova_mf_entry *e;
	char line[512];
	size_t n;

	ck_assert_int_eq(vsl_ova_manifest_parse(ctx, text, strlen(text), "x.mf", &e, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(e[0].name, "a b.ovf");
	ck_assert_int_eq(e[0].alg, VSL_HASH_SHA256);
	ck_assert_str_eq(e[1].name, "disk (1).vmdk");
	ck_assert_int_eq(e[1].alg, VSL_HASH_SHA1);
	ck_assert_str_eq(e[1].hex, "0123456789abcdef0123456789abcdef01234567");
	free(e);
	ck_assert_int_gt(vsl_ova_manifest_line(line, sizeof(line), VSL_HASH_SHA256, "x.ovf", "ab"), 0);
	ck_assert_str_eq(line, "SHA256(x.ovf)= ab\n");
	ck_assert_int_eq(vsl_ova_manifest_parse(ctx, "MD5(x)= 00\n", 11, "x.mf", &e, &n), VSL_ENOTSUP);
	ck_assert_int_eq(vsl_ova_manifest_parse(ctx, "SHA1(x)= 00\n", 12, "x.mf", &e, &n), VSL_EINVAL);
	ck_assert_int_eq(vsl_ova_manifest_parse(ctx, "ok\ngarbage\n", 11, "x.mf", &e, &n), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "x.mf:1:"));
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(roundtrip)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_export_opts eo = { .kind = VSL_IX_OVA, .hash = VSL_HASH_SHA512, .threads = 2 };
	struct vsl_import_opts io = { 0 };
	struct vsl_problems w;
	struct ova_in *in;
	char ova[300], out[300], a[400], b[400];

	make_bundle(ctx, 4u << 20);
	vsl_problems_init(&w);
	snprintf(ova, sizeof(ova), "%s", P("t.ova"));
	ck_assert_msg(vsl_export(ctx, P("t.vessel"), ova, &eo, &w) == 0, "%s", vsl_ctx_error(ctx));
	ck_assert_int_eq(vsl_ova_open(ctx, ova, &in), 0);
	ck_assert_uint_eq(in->nmembers, 3);
	ck_assert_str_eq(in->members[0].name, "t.ovf");
	ck_assert_str_eq(in->members[1].name, "t.mf");
	ck_assert_str_eq(in->members[2].name, "t-disk1.vmdk");
	ck_assert(!memcmp(in->map + in->members[1].off, "SHA512(t.ovf)= ", 15));
	ck_assert(!memcmp(in->map + in->members[2].off, "KDMV\3\0\0\0", 8));
	vsl_ova_close(in);
	/* refuses to overwrite */
	ck_assert_int_eq(vsl_export(ctx, P("t.vessel"), ova, &eo, &w), VSL_EEXIST);
	snprintf(out, sizeof(out), "%s", P("back.vessel"));
	ck_assert_msg(vsl_import(ctx, ova, out, &io, &w) == 0, "%s", vsl_ctx_error(ctx));
	snprintf(a, sizeof(a), "%s/t.vessel/disks/root.qcow2", tmpdir);
	snprintf(b, sizeof(b), "%s/back.vessel/disks/root.qcow2", tmpdir);
	assert_same_disk(ctx, a, b);
	{
		struct vsl_bundle_config cfg;

		ck_assert_int_eq(vsl_bundle_load(ctx, out, 0, &cfg, NULL), 0);
		ck_assert_str_eq(cfg.name, "t");
		ck_assert_uint_eq(cfg.cpus, 2);
		ck_assert_uint_eq(cfg.memory, 64ull << 20);
		ck_assert_uint_eq(cfg.ndisks, 1);
		ck_assert_int_eq(cfg.disks[0].bus, VSL_DISK_BUS_VIRTIO);
		ck_assert_str_eq(cfg.boot.disk, "root");
		vsl_bundle_config_free(&cfg);
	}
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(member_limit_and_chunks)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_export_opts eo = { .kind = VSL_IX_OVA, .hash = VSL_HASH_SHA256,
				      .member_limit = 64u << 10 };
	struct vsl_import_opts io = { 0 };
	struct vsl_problems w;
	struct ova_in *in;
	char a[400], b[400];

	make_bundle(ctx, 4u << 20);
	vsl_problems_init(&w);
	ck_assert_int_eq(vsl_export(ctx, P("t.vessel"), P("big.ova"), &eo, &w), VSL_ERANGE);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "--chunk-size"));
	ck_assert_int_eq(count_entries(), 1); /* only the bundle */
	eo.chunk_size = 32u << 10;
	ck_assert_msg(vsl_export(ctx, P("t.vessel"), P("big.ova"), &eo, &w) == 0, "%s", vsl_ctx_error(ctx));
	ck_assert_int_eq(vsl_ova_open(ctx, P("big.ova"), &in), 0);
	ck_assert_uint_gt(in->nmembers, 4);
	ck_assert_str_eq(in->members[2].name, "t-disk1.vmdk.000000000");
	ck_assert_str_eq(in->members[3].name, "t-disk1.vmdk.000000001");
	for (size_t i = 2; i + 1 < in->nmembers; i++)
		ck_assert_uint_eq(in->members[i].size, 32u << 10);
	ck_assert_uint_le(in->members[in->nmembers - 1].size, 32u << 10);
	ck_assert_ptr_nonnull(memmem(in->map + in->members[0].off, in->members[0].size,
				     "ovf:chunkSize=\"32768\"", 21));
	ck_assert_ptr_nonnull(memmem(in->map + in->members[1].off, in->members[1].size,
				     "SHA256(t-disk1.vmdk.000000001)= ", 32));
	vsl_ova_close(in);
	ck_assert_msg(vsl_import(ctx, P("big.ova"), P("c.vessel"), &io, &w) == 0, "%s", vsl_ctx_error(ctx));
	snprintf(a, sizeof(a), "%s/t.vessel/disks/root.qcow2", tmpdir);
	snprintf(b, sizeof(b), "%s/c.vessel/disks/root.qcow2", tmpdir);
	assert_same_disk(ctx, a, b);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

/* ---- hostile archives ---- */

struct member {
	const char *name;
	const char *data;      /* NULL: copy member `from` of the good OVA */
	int from;
	unsigned type;         /* AE_IFREG default */
	const char *link;
};

static void write_tar(const char *path, const struct member *m, size_t n, const struct ova_in *good)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		const void *data = m[i].data;
		size_t len = data ? strlen(m[i].data) : 0;

		if (!data && good) {
			data = good->map + good->members[m[i].from].off;
			len = (size_t)good->members[m[i].from].size;
		}
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, m[i].type ? m[i].type : AE_IFREG);
		archive_entry_set_perm(e, 0644);
		if (m[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, m[i].link);
		else if (m[i].link)
			archive_entry_set_hardlink(e, m[i].link);
		if (m[i].link)
			len = 0; /* links carry no data */
		if (!m[i].type || m[i].type == AE_IFREG)
			archive_entry_set_size(e, (la_int64_t)len);
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
		if ((!m[i].type || m[i].type == AE_IFREG) && len)
			ck_assert_int_eq(archive_write_data(a, data, len), (la_ssize_t)len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

static const struct {
	struct member m[4];
	size_t n;
	int code;
	const char *msg;
} hostile[] = {
	{ { { "t.ovf", NULL, 0 }, { "../evil", "x" } }, 2, VSL_EPERM, "'..'" },
	{ { { "t.ovf", NULL, 0 }, { "/etc/evil", "x" } }, 2, VSL_EPERM, "absolute" },
	{ { { "t.ovf", NULL, 0 }, { "t-disk1.vmdk", NULL, 0, AE_IFLNK, "/etc/passwd" } }, 2, VSL_EPERM, "link" },
	{ { { "t.ovf", NULL, 0 }, { "x", "y" }, { "t-disk1.vmdk", NULL, 0, AE_IFREG, "x" } }, 3, VSL_EPERM, "link" },
	{ { { "t.ovf", NULL, 0 }, { "dir", NULL, 0, AE_IFDIR } }, 2, VSL_EPERM, "not a regular file" },
	{ { { "t.ovf", NULL, 0 }, { "t.ovf", NULL, 0 } }, 2, VSL_EINVAL, "twice" },
	/* the disk is missing */
	{ { { "t.ovf", NULL, 0 } }, 1, VSL_ENOENT, "not in the OVA" },
	/* the manifest does not match the disk (the disk of another export) */
	{ { { "t.ovf", NULL, 0 }, { "t.mf", NULL, 1 }, { "t-disk1.vmdk", "not the disk" } }, 3, VSL_ECORRUPT,
	  "'t-disk1.vmdk' does not match the manifest" },
	{ { { "t.mf", NULL, 1 } }, 1, VSL_EINVAL, "no .ovf" },
	/* no manifest, and a disk member whose size is not the descriptor's */
	{ { { "t.ovf", NULL, 0 }, { "t-disk1.vmdk", "short" } }, 2, VSL_ECORRUPT, "ovf:size" },
	{ { { "t.ovf", "<Envelope" } }, 1, VSL_EINVAL, "t.ovf:" },
};

START_TEST(hostile_archives)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_export_opts eo = { .kind = VSL_IX_OVA, .hash = VSL_HASH_SHA256 };
	struct vsl_import_opts io = { 0 };
	struct vsl_problems w;
	struct ova_in *good;
	char bad[300];
	int before, r;

	make_bundle(ctx, 1u << 20);
	vsl_problems_init(&w);
	ck_assert_int_eq(vsl_export(ctx, P("t.vessel"), P("good.ova"), &eo, &w), 0);
	ck_assert_int_eq(vsl_ova_open(ctx, P("good.ova"), &good), 0);
	snprintf(bad, sizeof(bad), "%s", P("bad.ova"));
	write_tar(bad, hostile[_i].m, hostile[_i].n, good);
	vsl_ova_close(good);
	before = count_entries();
	r = vsl_import(ctx, bad, P("out.vessel"), &io, &w);
	ck_assert_msg(r == hostile[_i].code, "case %d: %d %s", _i, r, vsl_ctx_error(ctx));
	ck_assert_msg(strstr(vsl_ctx_error(ctx), hostile[_i].msg), "case %d: %s", _i, vsl_ctx_error(ctx));
	ck_assert_int_eq(count_entries(), before); /* nothing written */
	ck_assert_int_ne(access("/etc/evil", F_OK), 0);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(not_an_ova)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct ova_in *in;
	int fd = open(P("x.ova"), O_WRONLY | O_CREAT, 0644);
	char junk[4096];

	memset(junk, 'j', sizeof(junk));
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	ck_assert_int_lt(vsl_ova_open(ctx, P("x.ova"), &in), 0);
	ck_assert_int_eq(vsl_ova_open(ctx, P("missing.ova"), &in), VSL_ENOENT);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ova");
	TCase *tm = tcase_create("manifest"), *tr = tcase_create("roundtrip"), *th = tcase_create("hostile");

	tcase_add_test(tm, manifest_lines);
	tcase_add_checked_fixture(tr, setup, teardown);
	tcase_set_timeout(tr, 60);
	tcase_add_test(tr, roundtrip);
	tcase_add_test(tr, member_limit_and_chunks);
	tcase_add_checked_fixture(th, setup, teardown);
	tcase_set_timeout(th, 60);
	tcase_add_loop_test(th, hostile_archives, 0, sizeof(hostile) / sizeof(hostile[0]));
	tcase_add_test(th, not_an_ova);
	suite_add_tcase(s, tm);
	suite_add_tcase(s, tr);
	suite_add_tcase(s, th);
	return tu_run_suite(s);
}
