/*
 * vessel common definitions: error codes, the error/log context, small
 * utilities shared by every library.
 *
 * Every library function that can fail returns 0 or a negative VSL_E* code
 * and records a human-readable message in a struct vsl_ctx:
 *
 *	struct vsl_ctx *ctx = vsl_ctx_new();
 *	if (vsl_bundle_open(ctx, path, &b) < 0)
 *		fprintf(stderr, "vessel: %s\n", vsl_ctx_error(ctx));
 *
 * The libraries never print and never exit; they log through vsl_log(),
 * which calls the callback installed by the CLI (none by default).
 */
#ifndef VESSEL_COMMON_H
#define VESSEL_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum {
	VSL_OK = 0,
	VSL_EIO = -1,       /* I/O error from the host */
	VSL_EINVAL = -2,    /* invalid argument or malformed input */
	VSL_ENOMEM = -3,    /* allocation failed or limit exceeded */
	VSL_ENOENT = -4,    /* not found */
	VSL_EEXIST = -5,    /* already exists / overlaps */
	VSL_ENOTSUP = -6,   /* valid but not supported by vessel */
	VSL_ECORRUPT = -7,  /* input is damaged or inconsistent */
	VSL_EPERM = -8,     /* refused (e.g. path escapes, read-only) */
	VSL_ERANGE = -9,    /* value out of the accepted range */
	VSL_EAGAIN = -10,   /* try again / interrupted */
	VSL_ECANCELED = -11 /* stopped on request */
};

enum vsl_log_level {
	VSL_LOG_ERR = 0,
	VSL_LOG_WARN = 1,
	VSL_LOG_INFO = 2,
	VSL_LOG_DEBUG = 3
};

typedef void vsl_log_fn(void *opaque, enum vsl_log_level level, const char *file,
			int line, const char *func, const char *msg);

struct vsl_ctx;

/* Allocate a context (no log callback, level INFO). NULL on out-of-memory. */
struct vsl_ctx *vsl_ctx_new(void);
void vsl_ctx_free(struct vsl_ctx *ctx);

/*
 * Record an error: code is returned for convenience. errnum, when non-zero,
 * appends ": strerror(errnum)". The message replaces any earlier one.
 */
int vsl_set_error(struct vsl_ctx *ctx, int errnum, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prefix the current message with "prefix: " (adds context while unwinding). */
void vsl_error_prefix(struct vsl_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Borrowed; valid until the next vsl_set_error on ctx. "" when none. */
const char *vsl_ctx_error(const struct vsl_ctx *ctx);
int vsl_ctx_code(const struct vsl_ctx *ctx);
void vsl_ctx_clear(struct vsl_ctx *ctx);
/* Short name of an error code ("I/O error", "corrupt input", ...). */
const char *vsl_strerror(int code);

void vsl_ctx_set_log(struct vsl_ctx *ctx, vsl_log_fn *fn, void *opaque);
void vsl_ctx_set_log_level(struct vsl_ctx *ctx, enum vsl_log_level level);
enum vsl_log_level vsl_ctx_log_level(const struct vsl_ctx *ctx);

void vsl_log_at(struct vsl_ctx *ctx, enum vsl_log_level level, const char *file, int line,
		const char *func, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define vsl_log(ctx, level, ...) vsl_log_at((ctx), (level), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define vsl_err(ctx, ...)   vsl_log(ctx, VSL_LOG_ERR, __VA_ARGS__)
#define vsl_warn(ctx, ...)  vsl_log(ctx, VSL_LOG_WARN, __VA_ARGS__)
#define vsl_info(ctx, ...)  vsl_log(ctx, VSL_LOG_INFO, __VA_ARGS__)
#define vsl_debug(ctx, ...) vsl_log(ctx, VSL_LOG_DEBUG, __VA_ARGS__)

/* Invariants only; never for validating input. */
#define VSL_ASSERT(cond) \
	((cond) ? (void)0 : vsl_assert_fail(#cond, __FILE__, __LINE__, __func__))
_Noreturn void vsl_assert_fail(const char *expr, const char *file, int line, const char *func);

#define VSL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VSL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VSL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VSL_ALIGN_UP(x, a) (((x) + (a) - 1) / (a) * (a))

/*
 * Parse a size with an optional unit: "512", "64K", "256M", "2G", "1T",
 * also "256MiB"/"2GB" (binary multiples in every case). Returns 0 and sets
 * *out, or VSL_EINVAL for malformed text and VSL_ERANGE for overflow.
 */
int vsl_parse_size(const char *s, uint64_t *out);
/* Format bytes as "1.5 GiB" into buf (at least 16 bytes). Returns buf. */
char *vsl_format_size(uint64_t bytes, char *buf, size_t len);

/* Allocation helpers that return NULL on overflow instead of wrapping. */
void *vsl_calloc(size_t n, size_t size);
void *vsl_reallocarray(void *p, size_t n, size_t size);
char *vsl_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* vessel's version string, e.g. "0.1.0". */
const char *vsl_version(void);

#endif
