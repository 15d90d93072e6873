/*
 * Internal helpers shared by the builder sources (not part of the public
 * API in include/vessel/builder.h). Implemented in builder/builder_util.c.
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

#endif
