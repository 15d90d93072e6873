/*
 * Boilerplate shared by the Check suites: running a suite from main(), a
 * temporary directory per test, reading a whole file, deterministic random
 * data, shell commands built with printf, and probing for qemu-img.
 *
 * Every helper that can fail asserts (ck_assert), so a suite calls them
 * from a test or a checked fixture and needs no error handling of its own.
 */
#ifndef VESSEL_TESTS_TESTUTIL_H
#define VESSEL_TESTS_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vsl_problems;

/* Run every test of s (CK_NORMAL), free it; EXIT_SUCCESS when none failed. */
int tu_run_suite(Suite *s);

/* Create /tmp/<prefix>-XXXXXX into dir (size bytes); asserts on failure. */
void tu_mkdtemp(char *dir, size_t size, const char *prefix);

/* rm -rf dir; asserts that it succeeded. */
void tu_rmtree(const char *dir);

/*
 * The whole of a file, malloc'd and NUL-terminated (the NUL is not counted
 * in *len); asserts that the file opens and reads completely.
 */
void *tu_slurp(const char *path, size_t *len);

/* Write n bytes to path (created or truncated); asserts on failure. */
void tu_write_file(const char *path, const void *data, size_t n);

/* n bytes of xorshift64 noise: the same seed gives the same bytes. */
void tu_fill_random(uint8_t *p, size_t n, uint64_t seed);

/* system() of a command formatted like printf (at most 2047 bytes). */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether qemu-img runs here (tests using it as an oracle skip otherwise). */
bool tu_have_qemu_img(void);

/* Whether any problem message in w contains needle. */
bool tu_has_problem(const struct vsl_problems *w, const char *needle);

#endif
