/*
 * Unit tests for the builder's file tree, .deb unpacking, initramfs writer
 * and the customization steps on a tree. Hostile .deb files are built in
 * memory with libarchive: members with "..", absolute names, escaping
 * symlinks and paths through symlinks must all be refused.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/builder.h"
#include "vessel/recipe.h"

struct member {
	const char *name;
	char type;         /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link */
	const char *data;  /* file contents or link target */
};

/* A tar.gz of members, in memory. */
static void *make_tar(const struct member *m, size_t n, size_t *len)
{
	size_t cap = 1 << 20;
	void *buf = malloc(cap);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	ck_assert_ptr_nonnull(buf);
	archive_write_set_format_gnutar(a);
	archive_write_add_filter_gzip(a);
	ck_assert_int_eq(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_perm(e, m[i].type == 'd' ? 0755 : 0644);
		archive_entry_set_size(e, 0);
		switch (m[i].type) {
		case 'd': archive_entry_set_filetype(e, AE_IFDIR); break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, m[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, m[i].data);
			break;
		default:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)strlen(m[i].data));
			break;
		}
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
		if (m[i].type == 'f')
			archive_write_data(a, m[i].data, strlen(m[i].data));
	}
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
	return buf;
}

/* A .deb (ar: debian-binary, control.tar.gz, data.tar.gz) around members. */
static void *make_deb(const struct member *m, size_t n, size_t *len)
{
	size_t dlen, cap = 2 << 20;
	void *data = make_tar(m, n, &dlen), *buf = malloc(cap);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	static const struct { const char *name; const char *body; } fixed[] = {
		{ "debian-binary", "2.0\n" }, { "control.tar.gz", "" },
	};

	archive_write_set_format_ar_svr4(a);
	ck_assert_int_eq(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
	for (size_t i = 0; i < 2; i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, fixed[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(fixed[i].body));
		archive_write_header(a, e);
		archive_write_data(a, fixed[i].body, strlen(fixed[i].body));
	}
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "data.tar.gz");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)dlen);
	archive_write_header(a, e);
	archive_write_data(a, data, dlen);
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
	free(data);
	return buf;
}

static int unpack(const struct member *m, size_t n, struct vsl_tree *t, char *err, size_t elen)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	size_t len;
	void *deb = make_deb(m, n, &len);
	int rc = vsl_deb_unpack_mem(ctx, deb, len, "test.deb", t, NULL, NULL);

	snprintf(err, elen, "%s", vsl_ctx_error(ctx));
	free(deb);
	vsl_ctx_free(ctx);
	return rc;
}

START_TEST(normpath)
{
	char out[64];

	ck_assert_int_eq(vsl_tree_normpath(NULL, "/a//b/./c/", true, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "a/b/c");
	ck_assert_int_eq(vsl_tree_normpath(NULL, "./bin/busybox", false, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "bin/busybox");
	ck_assert_int_eq(vsl_tree_normpath(NULL, "/abs", false, out, sizeof(out)), VSL_EPERM);
	ck_assert_int_eq(vsl_tree_normpath(NULL, "a/../../b", true, out, sizeof(out)), VSL_EPERM);
	ck_assert_int_eq(vsl_tree_normpath(NULL, "./", true, out, sizeof(out)), VSL_EINVAL);
	ck_assert_int_eq(vsl_tree_normpath(NULL, "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
					   true, out, sizeof(out)), VSL_ERANGE);
}
END_TEST

START_TEST(tree_rules)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_tree t;

	vsl_tree_init(&t);
	ck_assert_int_eq(vsl_tree_add_file(ctx, &t, "/etc/motd", "hi\n", 3, 0644), 0);
	ck_assert_ptr_nonnull(vsl_tree_find(&t, "etc"));      /* parent created */
	ck_assert_int_eq(vsl_tree_find(&t, "etc")->type, VSL_TREE_DIR);
	ck_assert_int_eq(vsl_tree_add_symlink(ctx, &t, "/bin/sh", "busybox"), 0);
	ck_assert_int_eq(vsl_tree_add_symlink(ctx, &t, "/etc/abs", "/usr/bin/x"), 0);
	/* a relative link climbing above the root */
	ck_assert_int_eq(vsl_tree_add_symlink(ctx, &t, "/a/b", "../../etc"), VSL_EPERM);
	ck_assert_int_eq(vsl_tree_add_symlink(ctx, &t, "/a/c", "../etc"), 0);
	/* a path through a symlink */
	ck_assert_int_eq(vsl_tree_add_file(ctx, &t, "/a/c/passwd", "x", 1, 0644), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "symbolic link"));
	/* a file where a directory is */
	ck_assert_int_eq(vsl_tree_add_file(ctx, &t, "/etc", "x", 1, 0644), VSL_EEXIST);
	ck_assert_int_eq(vsl_tree_add_file(ctx, &t, "/etc/motd/x", "x", 1, 0644), VSL_EEXIST);
	/* replace, remove */
	ck_assert_int_eq(vsl_tree_add_file(ctx, &t, "/etc/motd", "hello\n", 6, 0600), 0);
	ck_assert_uint_eq(vsl_tree_find(&t, "etc/motd")->size, 6);
	ck_assert_uint_eq(t.bytes, 6);
	ck_assert_int_eq(vsl_tree_remove(ctx, &t, "/etc"), 0);
	ck_assert_ptr_null(vsl_tree_find(&t, "etc/motd"));
	ck_assert_uint_eq(t.bytes, 0);
	ck_assert_int_eq(vsl_tree_remove(ctx, &t, "/etc"), VSL_ENOENT);
	/* size limit */
	t.max_bytes = 10;
	ck_assert_int_eq(vsl_tree_add_file(ctx, &t, "/big", "0123456789abc", 13, 0644), VSL_ENOMEM);
	vsl_tree_fini(&t);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(deb_good)
{
	static const struct member m[] = {
		{ "./", 'd', NULL }, { "./bin/", 'd', NULL }, { "./bin/busybox", 'f', "ELF..." },
		{ "./bin/sh", 'l', "busybox" }, { "./bin/ash", 'h', "./bin/busybox" },
		{ "./usr/bin/env", 'l', "/bin/busybox" },
	};
	struct vsl_tree t;
	char err[512];

	vsl_tree_init(&t);
	ck_assert_int_eq(unpack(m, 6, &t, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(vsl_tree_find(&t, "bin/busybox"));
	ck_assert_uint_eq(vsl_tree_find(&t, "bin/busybox")->size, 6);
	ck_assert_str_eq(vsl_tree_find(&t, "bin/sh")->target, "busybox");
	ck_assert_uint_eq(vsl_tree_find(&t, "bin/ash")->size, 6);
	ck_assert_str_eq(vsl_tree_find(&t, "usr/bin/env")->target, "/bin/busybox");
	vsl_tree_fini(&t);
}
END_TEST

START_TEST(deb_hostile)
{
	static const struct member dotdot[] = { { "./../../etc/cron.d/x", 'f', "pwned" } };
	static const struct member abs[] = { { "/etc/passwd", 'f', "root::0:0::/:/bin/sh" } };
	static const struct member esc[] = { { "./lib/x", 'l', "../../../.." } };
	static const struct member through[] = { { "./etc", 'l', "/etc" },
						  { "./etc/passwd", 'f', "x" } };
	static const struct member badhl[] = { { "./a", 'h', "./nothing" } };
	struct vsl_tree t;
	char err[512];

	vsl_tree_init(&t);
	ck_assert_int_eq(unpack(dotdot, 1, &t, err, sizeof(err)), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "test.deb"));
	ck_assert_ptr_nonnull(strstr(err, ".."));
	ck_assert_int_eq(unpack(abs, 1, &t, err, sizeof(err)), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "absolute"));
	ck_assert_int_eq(unpack(esc, 1, &t, err, sizeof(err)), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "outside the root"));
	ck_assert_int_eq(unpack(through, 2, &t, err, sizeof(err)), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
	ck_assert_int_eq(unpack(badhl, 1, &t, err, sizeof(err)), VSL_ECORRUPT);
	vsl_tree_fini(&t);
	{
		struct vsl_ctx *ctx = vsl_ctx_new();
		static const char junk[] = "!<arch>\nthis is not a package";
		vsl_tree_init(&t);
		ck_assert_int_lt(vsl_deb_unpack_mem(ctx, junk, sizeof(junk), "junk.deb", &t,
						    NULL, NULL), 0);
		ck_assert_int_lt(vsl_deb_unpack_mem(ctx, "", 0, "empty.deb", &t, NULL, NULL), 0);
		vsl_tree_fini(&t);
		vsl_ctx_free(ctx);
	}
}
END_TEST

/* vsl_tar_unpack on members written to a file (len: how much of the archive to keep). */
static int untar(const struct member *m, size_t n, size_t keep, struct vsl_tree *t, char *err,
		 size_t elen)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	char path[] = "/tmp/vsl-tar-XXXXXX";
	int fd = mkstemp(path), rc;
	size_t len;
	void *tar = make_tar(m, n, &len);

	ck_assert_int_ge(fd, 0);
	if (keep && keep < len)
		len = keep;
	ck_assert_int_eq(write(fd, tar, len), (ssize_t)len);
	close(fd);
	rc = vsl_tar_unpack(ctx, path, t, NULL, NULL);
	snprintf(err, elen, "%s", vsl_ctx_error(ctx));
	unlink(path);
	free(tar);
	vsl_ctx_free(ctx);
	return rc;
}

START_TEST(tarball_sources)
{
	static const struct member good[] = { { "./site/", 'd', "" },
					      { "./site/index.html", 'f', "<p>hi</p>" },
					      { "./site/home", 'l', "index.html" },
					      { "./site/copy", 'h', "./site/index.html" } };
	static const struct member dotdot[] = { { "site/../../x", 'f', "pwned" } };
	static const struct member abs[] = { { "/etc/shadow", 'f', "root::" } };
	static const struct member esc[] = { { "a/b", 'l', "../../etc" } };
	static const struct member through[] = { { "etc", 'l', "/etc" }, { "etc/passwd", 'f', "x" } };
	struct vsl_tree t;
	struct vsl_tree_entry *e;
	char err[512];

	vsl_tree_init(&t);
	ck_assert_int_eq(untar(good, 4, 0, &t, err, sizeof(err)), 0);
	e = vsl_tree_find(&t, "site/index.html");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->size, 9);
	ck_assert_int_eq(memcmp(e->data, "<p>hi</p>", 9), 0);
	ck_assert_int_eq(vsl_tree_find(&t, "site/home")->type, VSL_TREE_SYMLINK);
	ck_assert_uint_eq(vsl_tree_find(&t, "site/copy")->size, 9);
	vsl_tree_fini(&t);

	vsl_tree_init(&t);
	ck_assert_int_eq(untar(dotdot, 1, 0, &t, err, sizeof(err)), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "vsl-tar-"));
	ck_assert_ptr_nonnull(strstr(err, ".."));
	ck_assert_int_eq(untar(abs, 1, 0, &t, err, sizeof(err)), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "absolute"));
	ck_assert_int_eq(untar(esc, 1, 0, &t, err, sizeof(err)), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "outside the root"));
	ck_assert_int_eq(untar(through, 2, 0, &t, err, sizeof(err)), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
	/* a truncated archive and a file that is no archive fail cleanly */
	ck_assert_int_lt(untar(good, 4, 60, &t, err, sizeof(err)), 0);
	vsl_tree_fini(&t);
	{
		struct vsl_ctx *ctx = vsl_ctx_new();
		char path[] = "/tmp/vsl-tar-XXXXXX";
		int fd = mkstemp(path);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "just text, no tar\n", 18), 18);
		close(fd);
		vsl_tree_init(&t);
		ck_assert_int_lt(vsl_tar_unpack(ctx, path, &t, NULL, NULL), 0);
		ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "vsl-tar-"));
		ck_assert_int_lt(vsl_tar_unpack(ctx, "/nonexistent/x.tar", &t, NULL, NULL), 0);
		vsl_tree_fini(&t);
		unlink(path);
		vsl_ctx_free(ctx);
	}
}
END_TEST

START_TEST(initramfs_reproducible)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	char dir[] = "/tmp/vsl-initramfs-XXXXXX", p1[64], p2[64];
	struct vsl_tree t;
	size_t l1, l2;
	char *a, *b;
	struct archive *ar;
	struct archive_entry *e;
	const char *prev = "";
	int n = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(p1, sizeof(p1), "%s/1", dir);
	snprintf(p2, sizeof(p2), "%s/2", dir);
	vsl_tree_init(&t);
	/* added out of order: the writer sorts */
	ck_assert_int_eq(vsl_tree_add_file(ctx, &t, "/zz", "z", 1, 0644), 0);
	ck_assert_int_eq(vsl_tree_add_file(ctx, &t, "/init", "#!/bin/sh\n", 10, 0755), 0);
	ck_assert_int_eq(vsl_tree_add_chr(ctx, &t, "/dev/console", 0600, 5, 1), 0);
	ck_assert_int_eq(vsl_tree_add_symlink(ctx, &t, "/bin/sh", "busybox"), 0);
	ck_assert_int_eq(vsl_initramfs_write(ctx, &t, p1, 1234), 0);
	ck_assert_int_eq(vsl_initramfs_write(ctx, &t, p2, 1234), 0);
	a = tu_slurp(p1, &l1);
	b = tu_slurp(p2, &l2);
	ck_assert_uint_eq(l1, l2);
	ck_assert(memcmp(a, b, l1) == 0);
	ck_assert_uint_eq((unsigned char)a[0], 0x1f); /* gzip */
	/* read back: newc, sorted, fixed mtime, root-owned */
	ar = archive_read_new();
	archive_read_support_filter_gzip(ar);
	archive_read_support_format_cpio(ar);
	ck_assert_int_eq(archive_read_open_memory(ar, a, l1), ARCHIVE_OK);
	while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(e);
		ck_assert_int_lt(strcmp(prev, p), 0);
		ck_assert_int_eq(archive_entry_mtime(e), 1234);
		ck_assert_int_eq(archive_entry_uid(e), 0);
		if (!strcmp(p, "dev/console")) {
			ck_assert_int_eq(archive_entry_filetype(e), AE_IFCHR);
			ck_assert_int_eq(archive_entry_rdevmajor(e), 5);
		}
		prev = strcmp(p, "zz") ? "" : "zz";
		if (!strcmp(p, "init"))
			ck_assert_int_eq(archive_entry_perm(e), 0755);
		n++;
	}
	ck_assert_int_eq(archive_format(ar), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
	ck_assert_int_eq(n, 6);
	archive_read_free(ar);
	free(a);
	free(b);
	unlink(p1);
	unlink(p2);
	rmdir(dir);
	vsl_tree_fini(&t);
	vsl_ctx_free(ctx);
}
END_TEST

static struct vsl_recipe *recipe_with_steps(const char *steps)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_recipe *r = NULL;
	char *text = vsl_strdup_printf("vessel: 1\nvariables:\n  pw: {default: hunter2, sensitive: true}\n"
				       "machine: {name: m}\nboot:\n  kernel: k\n"
				       "  initramfs: {init: x}\ncustomize:\n%s", steps);

	ck_assert_int_eq(vsl_recipe_parse(ctx, "s.yaml", text, strlen(text), NULL, &r), 0);
	free(text);
	vsl_ctx_free(ctx);
	return r;
}

START_TEST(steps_on_tree)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_tree t;
	struct vsl_fstree fs = { ctx, &t };
	struct vsl_recipe *r = recipe_with_steps(
		"  - write: /etc/conf\n    content: \"a=1\\nb=2\\n\"\n"
		"  - edit: /etc/conf\n    replace: \"b=2\"\n    with: \"b=3\"\n"
		"  - append-line: /etc/conf\n    line: c=4\n"
		"  - mkdir: /srv/www\n    mode: \"0750\"\n"
		"  - chown: /srv/www\n    owner: \"33:34\"\n"
		"  - symlink: /www\n    target: srv/www\n"
		"  - hostname: box\n"
		"  - ssh-key: ssh-ed25519 AAAAC3 test@host\n"
		"  - root-password: ${pw}\n"
		"  - firstboot: echo one\n"
		"  - firstboot: echo two\n"
		"  - delete: /srv\n"
		"  - edit: /etc/conf\n    replace: zzz\n    with: y\n"
		"  - chmod: /nothing\n    mode: \"0600\"\n");
	struct vsl_tree_entry *e;
	char *s;

	vsl_tree_init(&t);
	for (size_t i = 0; i < 12; i++)
		ck_assert_msg(vsl_step_apply(ctx, &vsl_fsops_tree, &fs, r, &r->steps[i], NULL) == 0,
			      "step %zu: %s", i, vsl_ctx_error(ctx));
	e = vsl_tree_find(&t, "etc/conf");
	ck_assert_uint_eq(e->size, 12);
	ck_assert(memcmp(e->data, "a=1\nb=3\nc=4\n", 12) == 0);
	ck_assert_ptr_null(vsl_tree_find(&t, "srv/www"));
	ck_assert_str_eq(vsl_tree_find(&t, "www")->target, "srv/www");
	e = vsl_tree_find(&t, "etc/hostname");
	ck_assert(e->size == 4 && !memcmp(e->data, "box\n", 4));
	e = vsl_tree_find(&t, "root/.ssh/authorized_keys");
	ck_assert_uint_eq(e->mode, 0600);
	ck_assert_uint_eq(vsl_tree_find(&t, "root/.ssh")->mode, 0700);
	e = vsl_tree_find(&t, "etc/shadow");
	s = strndup((const char *)e->data, e->size);
	ck_assert_ptr_nonnull(strstr(s, "root:$6$"));
	ck_assert_ptr_null(strstr(s, "hunter2"));
	free(s);
	ck_assert_ptr_nonnull(vsl_tree_find(&t, "etc/passwd"));
	e = vsl_tree_find(&t, "etc/vessel/firstboot.sh");
	ck_assert_uint_eq(e->mode, 0755);
	s = strndup((const char *)e->data, e->size);
	ck_assert_ptr_nonnull(strstr(s, "#!/bin/sh\n"));
	ck_assert_ptr_nonnull(strstr(s, "echo one\necho two\n"));
	free(s);
	/* failures name the recipe line */
	ck_assert_int_eq(vsl_step_apply(ctx, &vsl_fsops_tree, &fs, r, &r->steps[12], NULL),
			 VSL_ENOENT);
	ck_assert_msg(strstr(vsl_ctx_error(ctx), "s.yaml:28:5: step 'edit'") != NULL, "%s", vsl_ctx_error(ctx));
	ck_assert_int_eq(vsl_step_apply(ctx, &vsl_fsops_tree, &fs, r, &r->steps[13], NULL),
			 VSL_ENOENT);
	vsl_recipe_free(r);
	vsl_tree_fini(&t);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(root_password_reproducible_and_secret)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_tree t1, t2;
	struct vsl_fstree f1 = { ctx, &t1 }, f2 = { ctx, &t2 };
	struct vsl_recipe *r = recipe_with_steps("  - edit: /etc/none\n    replace: ${pw}\n"
						 "    with: x\n  - root-password: ${pw}\n");
	struct vsl_tree_entry *a, *b;

	vsl_tree_init(&t1);
	vsl_tree_init(&t2);
	ck_assert_int_eq(vsl_tree_add_file(ctx, &t1, "/etc/none", "abc", 3, 0644), 0);
	/* the error of a sensitive step does not quote the value */
	ck_assert_int_lt(vsl_step_apply(ctx, &vsl_fsops_tree, &f1, r, &r->steps[0], NULL), 0);
	ck_assert_ptr_null(strstr(vsl_ctx_error(ctx), "hunter2"));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "sensitive"));
	ck_assert_int_eq(vsl_step_apply(ctx, &vsl_fsops_tree, &f1, r, &r->steps[1], NULL), 0);
	ck_assert_int_eq(vsl_step_apply(ctx, &vsl_fsops_tree, &f2, r, &r->steps[1], NULL), 0);
	a = vsl_tree_find(&t1, "etc/shadow");
	b = vsl_tree_find(&t2, "etc/shadow");
	ck_assert_uint_eq(a->size, b->size);
	ck_assert(memcmp(a->data, b->data, a->size) == 0);
	vsl_recipe_free(r);
	vsl_tree_fini(&t1);
	vsl_tree_fini(&t2);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(depends_match)
{
	char *s = vsl_apt_depends_match("linux-image-6.1.0-28-amd64 (= 6.1.119-1), foo | bar",
					"linux-image-");
	ck_assert_str_eq(s, "linux-image-6.1.0-28-amd64");
	free(s);
	ck_assert_ptr_null(vsl_apt_depends_match("libc6 (>= 2.34)", "linux-image-"));
	ck_assert_ptr_null(vsl_apt_depends_match(NULL, "x"));
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		normpath, tree_rules, deb_good, deb_hostile, tarball_sources,
		initramfs_reproducible, steps_on_tree, root_password_reproducible_and_secret,
		depends_match, NULL
	};

	return tu_run_tests("tree", NULL, NULL, 0, tests);
}
