/*
 * Internal helpers shared by the builder sources (not part of the public
 * API in include/vessel/builder.h). vsl_builder_mkdirs is implemented in
 * builder/builder_util.c, vsl_builder_rmtree in builder/build.c.
 */
#ifndef VESSEL_BUILDER_BUILDER_INT_H
#define VESSEL_BUILDER_BUILDER_INT_H

#include "vessel/common.h"

/*
 * mkdir -p on the host: create path and any missing parents (mode 0755);
 * directories that already exist are fine. 0, or VSL_ERANGE for a path of
 * 4096 bytes or more, or VSL_EIO naming the directory that failed.
 */
int vsl_builder_mkdirs(struct vsl_ctx *ctx, const char *path);

/*
 * rm -rf on the host: remove dir and everything below it, without following
 * symbolic links. Best effort: what cannot be removed is left and the walk
 * goes on; callers that care check afterwards.
 */
void vsl_builder_rmtree(const char *dir);

#endif
