/*
 * Unit tests for builder/apt.c's dependency closure: the reader of
 * `apt-get --simulate` output, and vsl_apt_closure / pinned
 * vsl_apt_resolve run against fake apt-get and apt-cache scripts put first
 * in PATH (so the tests need no package lists and no network). The fakes
 * count their calls, which shows that answers come from the cache.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/builder.h"

static char dir[256], cache[320], calls[320], conf[320];
static char *old_path;

static void write_script(const char *name, const char *body)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/bin/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\necho %s >>%s\n%s", name, calls, body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

static int ncalls(void)
{
	FILE *f = fopen(calls, "r");
	int n = 0, c;

	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void setup(void)
{
	char bin[300];

	tu_mkdtemp(dir, sizeof(dir), "vsl-apt");
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	ck_assert_int_eq(mkdir(bin, 0755), 0);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(calls, sizeof(calls), "%s/calls", dir);
	old_path = tu_path_prepend(bin);
	/* the fakes' answers must not be confused with a real apt's (the cache key
	 * includes APT_CONFIG's name) */
	snprintf(conf, sizeof(conf), "%s/apt.conf", dir);
	tu_write_file(conf, "", 0);
	setenv("APT_CONFIG", conf, 1);
}

static void teardown(void)
{
	setenv("PATH", old_path, 1);
	unsetenv("APT_CONFIG");
	free(old_path);
	tu_rmtree(dir);
}

static const char sim[] =
	"NOTE: This is only a simulation!\n"
	"Inst gcc-12-base (12.2.0-14 Debian:12/stable [amd64])\n"
	"Inst libgcc-s1 (12.2.0-14 Debian:12/stable [amd64]) []\n"
	"Inst libc6 (2.36-9+deb12u4 Debian:12/stable [amd64])\n"
	"Inst busybox (1:1.35.0-4+b3 Debian:12/stable [amd64])\n"
	"Conf busybox (1:1.35.0-4+b3 Debian:12/stable [amd64])\n"
	"Inst libfoo:i386 [1.0] (1.1 Debian:12/stable [i386])\n"
	"Inst libc6 (2.36-9+deb12u4 Debian:12/stable [amd64])\n";

START_TEST(parse_simulation)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_apt_pkg *v;
	size_t n;

	ck_assert_int_eq(vsl_apt_parse_simulation(ctx, sim, &v, &n), 0);
	ck_assert_uint_eq(n, 5); /* the second libc6 is a duplicate */
	/* sorted by name, versions as apt chose them */
	ck_assert_str_eq(v[0].name, "busybox");
	ck_assert_str_eq(v[0].version, "1:1.35.0-4+b3");
	ck_assert_str_eq(v[1].name, "gcc-12-base");
	ck_assert_str_eq(v[2].name, "libc6");
	ck_assert_str_eq(v[2].version, "2.36-9+deb12u4");
	ck_assert_str_eq(v[3].name, "libfoo");
	ck_assert_str_eq(v[3].version, "1.1");
	ck_assert_str_eq(v[4].name, "libgcc-s1");
	for (size_t i = 0; i < n; i++)
		vsl_apt_pkg_fini(&v[i]);
	free(v);

	ck_assert_int_eq(vsl_apt_parse_simulation(ctx, "", &v, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(vsl_apt_parse_simulation(ctx, "Inst broken\n", &v, &n), VSL_ECORRUPT);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(vsl_apt_parse_simulation(ctx, "Inst x (\n", &v, &n), VSL_ECORRUPT);
	ck_assert(strstr(vsl_ctx_error(ctx), "cannot read"));
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(closure_cached)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	const char *names[] = { "busybox" };
	struct vsl_apt_pkg *v, *w;
	size_t n, m;
	char body[1024];

	/* the fake checks it is asked for a simulation against an empty status */
	snprintf(body, sizeof(body),
		 "case \"$*\" in *--simulate*Dir::State::status=%s/apt/empty-status*"
		 "install\\ --\\ busybox) ;; *) echo \"E: bad args: $*\" >&2; exit 100;; esac\n"
		 "cat <<'X'\n%sX\n", cache, sim);
	write_script("apt-get", body);
	ck_assert_int_eq(vsl_apt_closure(ctx, cache, names, 1, &v, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(ncalls(), 1);
	/* the same question again: answered from the cache, identical */
	ck_assert_int_eq(vsl_apt_closure(ctx, cache, names, 1, &w, &m), 0);
	ck_assert_int_eq(ncalls(), 1);
	ck_assert_uint_eq(m, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(v[i].name, w[i].name);
		ck_assert_str_eq(v[i].version, w[i].version);
		vsl_apt_pkg_fini(&v[i]);
		vsl_apt_pkg_fini(&w[i]);
	}
	free(v);
	free(w);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(closure_errors)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	const char *names[] = { "dropbear-bin" };
	const char *virt[] = { "awk" };
	struct vsl_apt_pkg *v;
	size_t n;

	write_script("apt-get",
		     "case \"$*\" in *awk) echo 'Inst mawk (1.3 Debian:12 [amd64])'; exit 0;; esac\n"
		     "echo 'E: Unable to correct problems, you have held broken packages.' >&2\n"
		     "exit 100\n");
	ck_assert_int_eq(vsl_apt_closure(ctx, cache, names, 1, &v, &n), VSL_EINVAL);
	ck_assert_ptr_null(v);
	ck_assert_str_eq(vsl_ctx_error(ctx), "apt cannot resolve the dependencies: Unable to "
			 "correct problems, you have held broken packages.");
	/* apt installs another package for a virtual name: the recipe must name it */
	ck_assert_int_eq(vsl_apt_closure(ctx, cache, virt, 1, &v, &n), VSL_ENOENT);
	ck_assert(strstr(vsl_ctx_error(ctx), "apt would not install 'awk'"));
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(resolve_pinned)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_apt_pkg p[2] = { { 0 } };
	static const char sha[] =
		"1111111111111111111111111111111111111111111111111111111111111111";
	char body[2048];

	/* two versions of libc6 in the answer: the pinned one is taken */
	snprintf(body, sizeof(body),
		 "case \"$*\" in *libc6=2.36-9*) ;; *) echo \"E: bad args: $*\" >&2; exit 100;; "
		 "esac\n"
		 "printf 'Package: libc6\\nVersion: 2.36-1\\nSize: 5\\nSHA256: %.63s2\\n\\n'\n"
		 "printf 'Package: libc6\\nVersion: 2.36-9\\nSize: 7\\nSHA256: %s\\n\\n'\n"
		 "printf 'Package: zlib1g\\nVersion: 1.2\\nSize: 3\\nSHA256: %s\\n\\n'\n",
		 sha, sha, sha);
	write_script("apt-cache", body);
	p[0].name = strdup("libc6");
	p[0].version = strdup("2.36-9");
	p[1].name = strdup("zlib1g");
	ck_assert_int_eq(vsl_apt_resolve(ctx, cache, p, 2), 0);
	ck_assert_str_eq(p[0].version, "2.36-9");
	ck_assert_uint_eq(p[0].size, 7);
	ck_assert_str_eq(p[0].sha256, sha);
	ck_assert_str_eq(p[1].version, "1.2");
	vsl_apt_pkg_fini(&p[0]);
	vsl_apt_pkg_fini(&p[1]);

	/* a pinned version apt does not have */
	p[0].name = strdup("libc6");
	p[0].version = strdup("2.36-9");
	write_script("apt-cache", "printf 'Package: libc6\\nVersion: 2.36-1\\nSHA256: x\\n\\n'\n");
	ck_assert_int_eq(setenv("APT_CONFIG", dir, 1), 0); /* a new cache key */
	ck_assert_int_eq(vsl_apt_resolve(ctx, cache, p, 1), VSL_ENOENT);
	ck_assert(strstr(vsl_ctx_error(ctx), "package 'libc6' version 2.36-9 is not known"));
	ck_assert_ptr_null(p[0].version);
	vsl_apt_pkg_fini(&p[0]);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		parse_simulation, closure_cached, closure_errors, resolve_pinned, NULL
	};

	return tu_run_tests("apt", setup, teardown, 0, tests);
}
