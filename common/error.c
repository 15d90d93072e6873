/*
 * Error and log context.
 *
 * A struct vsl_ctx carries the last error (code + message) and the log
 * callback. Messages are built with vsl_set_error() at the failure site and
 * given more context with vsl_error_prefix() as the error travels up:
 *
 *	return vsl_set_error(ctx, errno, VSL_EIO, "read %s", path);
 *	...
 *	vsl_error_prefix(ctx, "disk %s", name);   -> "disk d0: read x: No such file"
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/common.h"

#define VSL_CTX_MSG_MAX 4096

struct vsl_ctx {
	int code;
	char msg[VSL_CTX_MSG_MAX];
	vsl_log_fn *log_fn;
	void *log_opaque;
	enum vsl_log_level level;
};

struct vsl_ctx *vsl_ctx_new(void)
{
	struct vsl_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx)
		ctx->level = VSL_LOG_INFO;
	return ctx;
}

void vsl_ctx_free(struct vsl_ctx *ctx)
{
	free(ctx);
}

int vsl_set_error(struct vsl_ctx *ctx, int errnum, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!ctx)
		return code;
	ctx->code = code;
	va_start(ap, fmt);
	vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
	va_end(ap);
	if (errnum) {
		n = strlen(ctx->msg);
		snprintf(ctx->msg + n, sizeof(ctx->msg) - n, ": %s", strerror(errnum));
	}
	return code;
}

void vsl_error_prefix(struct vsl_ctx *ctx, const char *fmt, ...)
{
	char prefix[1024], old[VSL_CTX_MSG_MAX];
	va_list ap;

	if (!ctx)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, ctx->msg, sizeof(old));
	snprintf(ctx->msg, sizeof(ctx->msg), "%s: %s", prefix, old);
}

const char *vsl_ctx_error(const struct vsl_ctx *ctx)
{
	if (!ctx)
		return "";
	if (!ctx->msg[0] && ctx->code)
		return vsl_strerror(ctx->code);
	return ctx->msg;
}

int vsl_ctx_code(const struct vsl_ctx *ctx)
{
	return ctx ? ctx->code : 0;
}

void vsl_ctx_clear(struct vsl_ctx *ctx)
{
	if (ctx) {
		ctx->code = 0;
		ctx->msg[0] = '\0';
	}
}

const char *vsl_strerror(int code)
{
	switch (code) {
	case VSL_OK: return "success";
	case VSL_EIO: return "I/O error";
	case VSL_EINVAL: return "invalid input";
	case VSL_ENOMEM: return "out of memory";
	case VSL_ENOENT: return "not found";
	case VSL_EEXIST: return "already exists";
	case VSL_ENOTSUP: return "not supported";
	case VSL_ECORRUPT: return "corrupt input";
	case VSL_EPERM: return "not permitted";
	case VSL_ERANGE: return "out of range";
	case VSL_EAGAIN: return "try again";
	case VSL_ECANCELED: return "canceled";
	default: return "unknown error";
	}
}

void vsl_ctx_set_log(struct vsl_ctx *ctx, vsl_log_fn *fn, void *opaque)
{
	ctx->log_fn = fn;
	ctx->log_opaque = opaque;
}

void vsl_ctx_set_log_level(struct vsl_ctx *ctx, enum vsl_log_level level)
{
	ctx->level = level;
}

enum vsl_log_level vsl_ctx_log_level(const struct vsl_ctx *ctx)
{
	return ctx ? ctx->level : VSL_LOG_ERR;
}

void vsl_log_at(struct vsl_ctx *ctx, enum vsl_log_level level, const char *file, int line,
		const char *func, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!ctx || !ctx->log_fn || level > ctx->level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log_fn(ctx->log_opaque, level, file, line, func, msg);
}

void vsl_assert_fail(const char *expr, const char *file, int line, const char *func)
{
	/* An invariant broke: this is a vessel bug, not bad input. */
	fprintf(stderr, "vessel: internal error: %s:%d: %s: assertion '%s' failed\n",
		file, line, func, expr);
	abort();
}
