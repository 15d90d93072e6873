/*
 * Shared Check-suite boilerplate (see testutil.h). Linked into every unit
 * binary by the Makefile, so nothing here may depend on a particular suite.
 */
#include "tests/unit/helpers/testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/bundle.h"

int tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
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
	fclose(f);
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

bool tu_has_problem(const struct vsl_problems *w, const char *needle)
{
	for (size_t i = 0; i < w->count; i++)
		if (strstr(w->items[i].message, needle))
			return true;
	return false;
}
