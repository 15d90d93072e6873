/*
 * Boilerplate shared by the Check suites: running a suite from main(), a
 * temporary directory per test, reading a whole file, deterministic random
 * data, shell commands built with printf, probing for qemu-img and other
 * tools, sparse files and ext4 disk fixtures, and writing, checking and
 * reading disk images through the formats library.
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

struct vsl_ctx;
struct vsl_ix_vm;
struct vsl_problems;

/* Run every test of s (CK_NORMAL), free it; EXIT_SUCCESS when none failed. */
int tu_run_suite(Suite *s);

/*
 * The whole main() of a suite of one case: a suite and a case both named
 * name, with the checked fixture setup/teardown when given (either may be
 * NULL), a timeout in seconds (0: Check's default), and the NULL-terminated
 * tests in order; runs it with tu_run_suite.
 */
int tu_run_tests(const char *name, SFun setup, SFun teardown, double timeout,
		 const TTest *const *tests);

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

/*
 * Put dir first in PATH (after it what PATH was, /usr/bin:/bin when unset),
 * so that fake tools there shadow the real ones; returns the old value
 * (malloc'd) for restoring it.
 */
char *tu_path_prepend(const char *dir);

/* Whether the shell finds tool (`command -v`): tests needing it skip otherwise. */
bool tu_have(const char *tool);

/* Create path (or cut an existing file) as a sparse file of size bytes; asserts. */
void tu_sparse_file(const char *path, uint64_t size);

/*
 * Make dir/name: a 64 MiB MBR disk with one ext4 partition from 1 MiB to the
 * end whose files hold 4 MiB of random data, and put its path in path. With
 * garbage, the partition's unused blocks hold random bytes (mkfs.ext4 -E
 * nodiscard over /dev/urandom) instead of zeroes. false, with nothing made,
 * when mkfs.ext4 or sfdisk is not installed; asserts that the commands ran.
 */
bool tu_make_ext4_disk(const char *dir, const char *name, bool garbage, char *path, size_t len);

/* dir/name, in one of four rotating static buffers (so a few can be live at once). */
const char *tu_path(const char *dir, const char *name);

/* {a, NULL}: a one-entry struct vsl_image_opts.kv list (static: the next call reuses it). */
const char *const *tu_kv1(const char *a);

/*
 * Create file as format fmt with options kv, write data in chunk-byte
 * pieces (all-zero pieces are skipped, as the convert engine leaves holes),
 * flush and close; asserts every step and that the image has size bytes.
 */
void tu_image_write(struct vsl_ctx *ctx, const char *file, const char *fmt,
		    const char *const *kv, const uint8_t *data, size_t size, size_t chunk);

/*
 * Open file (format probed) and assert that it is fmt, has size bytes and
 * reads back as data, read in step-byte pieces (odd steps cross cluster,
 * block and grain boundaries).
 */
void tu_image_expect(struct vsl_ctx *ctx, const char *file, const char *fmt, const uint8_t *data,
		     size_t size, size_t step);

/*
 * Open the len bytes at p from a memory stream as fmt and read the whole
 * image in 1 MiB pieces: 0, or open's or the first failing read's result.
 * For damaged copies of an image.
 */
int tu_image_read_mem(struct vsl_ctx *ctx, const uint8_t *p, size_t len, const char *fmt);

/* Whether any problem message in w contains needle. */
bool tu_has_problem(const struct vsl_problems *w, const char *needle);

/* A machine-description parser: vsl_libvirt_parse, vsl_vmx_parse, vsl_ovf_parse. */
typedef int tu_ix_parse_fn(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
			   struct vsl_ix_vm *vm, struct vsl_problems *warnings);

/* A text the parser must refuse, with the error code and a piece of the message. */
struct tu_ix_bad {
	const char *text;
	int code;
	const char *msg;
};

/*
 * Parse each of the n texts (named file, one context for all of them) and
 * assert that it fails with its code and that the error message contains
 * its msg; failures name the case by index.
 */
void tu_ix_expect_bad(tu_ix_parse_fn *parse, const char *file, const struct tu_ix_bad *cases,
		      size_t n);

#endif
