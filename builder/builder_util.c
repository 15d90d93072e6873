/*
 * Small host-side helpers that several builder stages need (see
 * builder_int.h). Nothing here knows about recipes or bundles.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/builder_int.h"

int vsl_builder_mkdirs(struct vsl_ctx *ctx, const char *path)
{
	char buf[4096];
	size_t l = strlen(path);

	if (l >= sizeof(buf))
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: path too long", path);
	memcpy(buf, path, l + 1);
	for (size_t i = 1; i <= l; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return vsl_set_error(ctx, errno, VSL_EIO, "mkdir %s", buf);
		buf[i] = path[i];
	}
	return 0;
}
