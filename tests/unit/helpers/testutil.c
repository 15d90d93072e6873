/*
 * Shared Check-suite boilerplate (see testutil.h). Linked into every unit
 * binary by the Makefile, so nothing here may depend on a particular suite.
 */
#include "tests/unit/helpers/testutil.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/bundle.h"
#include "vessel/format.h"
#include "vessel/interchange.h"

int tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int tu_run_tests(const char *name, SFun setup, SFun teardown, double timeout,
		 const TTest *const *tests)
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(name);

	if (setup || teardown)
		tcase_add_checked_fixture(tc, setup, teardown);
	if (timeout > 0)
		tcase_set_timeout(tc, timeout);
	for (; *tests; tests++)
		tcase_add_test(tc, *tests);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}

void tu_mkdtemp(char *dir, size_t size, const char *prefix)
{
	int n = snprintf(dir, size, "/tmp/%s-XXXXXX", prefix);

	ck_assert_msg(n > 0 && (size_t)n < size, "temporary directory name too long");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

void tu_rmtree(const char *dir)
{
	ck_assert_int_eq(tu_sh("rm -rf '%s'", dir), 0);
}

void *tu_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return buf;
}

void tu_write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

void tu_fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

int tu_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

bool tu_have_qemu_img(void)
{
	return system("qemu-img --version >/dev/null 2>&1") == 0;
}

char *tu_path_prepend(const char *dir)
{
	const char *p = getenv("PATH");
	char *old = strdup(p ? p : "/usr/bin:/bin");
	char *path = malloc(strlen(dir) + strlen(old ? old : "") + 2);

	ck_assert_ptr_nonnull(old);
	ck_assert_ptr_nonnull(path);
	sprintf(path, "%s:%s", dir, old);
	ck_assert_int_eq(setenv("PATH", path, 1), 0);
	free(path);
	return old;
}

bool tu_have(const char *tool)
{
	return tu_sh("command -v '%s' >/dev/null 2>&1", tool) == 0;
}

void tu_sparse_file(const char *path, uint64_t size)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	ck_assert_msg(fd >= 0, "cannot create %s", path);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

bool tu_make_ext4_disk(const char *dir, const char *name, bool garbage, char *path, size_t len)
{
	if (!tu_have("mkfs.ext4") || !tu_have("sfdisk"))
		return false;
	ck_assert_uint_lt((size_t)snprintf(path, len, "%s/%s", dir, name), len);
	ck_assert_int_eq(tu_sh("cd '%s' && mkdir -p tree && head -c 4194304 /dev/urandom > tree/data &&"
			       " %s && mkfs.ext4 -q -F %s-d tree part >/dev/null 2>&1 &&"
			       " truncate -s 64M '%s' &&"
			       " printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q '%s' >/dev/null 2>&1 &&"
			       " dd if=part of='%s' bs=1M seek=1 conv=notrunc status=none && rm -r part tree",
			       dir, garbage ? "head -c 66060288 /dev/urandom > part" : "truncate -s 63M part",
			       garbage ? "-E nodiscard " : "", name, name, name), 0);
	return true;
}

const char *tu_path(const char *dir, const char *name)
{
	static char buf[4][512];
	static unsigned next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

const char *const *tu_kv1(const char *a)
{
	static const char *list[2];

	list[0] = a;
	list[1] = NULL;
	return list;
}

void tu_image_write(struct vsl_ctx *ctx, const char *file, const char *fmt,
		    const char *const *kv, const uint8_t *data, size_t size, size_t chunk)
{
	struct vsl_image_opts o = { .kv = kv };
	struct vsl_image *img;

	ck_assert_msg(vsl_image_create(ctx, file, fmt, size, &o, &img) == 0, "%s",
		      vsl_ctx_error(ctx));
	ck_assert_uint_eq(img->size, size);
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (vsl_buf_is_zero(data + off, n))
			continue;
		ck_assert_msg(vsl_image_write(img, off, data + off, n) == 0, "%s",
			      vsl_ctx_error(ctx));
	}
	ck_assert_msg(vsl_image_flush(img) == 0, "%s", vsl_ctx_error(ctx));
	vsl_image_close(img);
}

void tu_image_expect(struct vsl_ctx *ctx, const char *file, const char *fmt, const uint8_t *data,
		     size_t size, size_t step)
{
	struct vsl_image *img;
	uint8_t *buf = malloc(size);

	ck_assert_ptr_nonnull(buf);
	ck_assert_msg(vsl_image_open(ctx, file, NULL, VSL_IMAGE_RDONLY, &img) == 0, "%s",
		      vsl_ctx_error(ctx));
	ck_assert_str_eq(img->ops->name, fmt);
	ck_assert_uint_eq(img->size, size);
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		ck_assert_msg(vsl_image_read(img, off, buf + off, n) == 0, "%s", vsl_ctx_error(ctx));
	}
	ck_assert(memcmp(buf, data, size) == 0);
	vsl_image_close(img);
	free(buf);
}

int tu_image_read_mem(struct vsl_ctx *ctx, const uint8_t *p, size_t len, const char *fmt)
{
	struct vsl_stream *s = vsl_stream_new_mem(ctx, p, len, VSL_STREAM_RDONLY);
	struct vsl_image *img;
	uint8_t *buf;
	int r;

	r = vsl_image_open_stream(ctx, s, fmt, 0, &img);
	if (r < 0) {
		vsl_stream_free(s);
		return r;
	}
	buf = malloc(1 << 20);
	for (uint64_t off = 0; off < img->size && r == 0; off += 1 << 20)
		r = vsl_image_read(img, off, buf,
				   (size_t)(img->size - off < (1 << 20) ? img->size - off : (1 << 20)));
	free(buf);
	vsl_image_close(img);
	return r;
}

bool tu_has_problem(const struct vsl_problems *w, const char *needle)
{
	for (size_t i = 0; i < w->count; i++)
		if (strstr(w->items[i].message, needle))
			return true;
	return false;
}

void tu_ix_expect_bad(tu_ix_parse_fn *parse, const char *file, const struct tu_ix_bad *cases,
		      size_t n)
{
	struct vsl_ctx *ctx = vsl_ctx_new();

	for (size_t i = 0; i < n; i++) {
		struct vsl_ix_vm vm;
		int r = parse(ctx, cases[i].text, strlen(cases[i].text), file, &vm, NULL);

		ck_assert_msg(r == cases[i].code, "case %zu: %d %s", i, r, vsl_ctx_error(ctx));
		ck_assert_msg(strstr(vsl_ctx_error(ctx), cases[i].msg), "case %zu: %s", i, vsl_ctx_error(ctx));
		vsl_ix_vm_fini(&vm);
	}
	vsl_ctx_free(ctx);
}
