/*
 * Recipe disks through libguestfs (placeholder until the guestfs backend lands).
 */
#include "vessel/builder.h"

int vsl_disks_build(struct vsl_ctx *ctx, const struct vsl_recipe *r, const char *dir,
		    struct vsl_tree *const *src_trees, int64_t mtime,
		    const struct vsl_progress *progress)
{
	(void)r; (void)dir; (void)src_trees; (void)mtime; (void)progress;
	return vsl_set_error(ctx, 0, VSL_ENOTSUP, "disks are not supported yet");
}
