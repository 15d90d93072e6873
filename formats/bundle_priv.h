/*
 * Internals shared by formats/bundle.c (problems, paths, MANIFEST, load)
 * and formats/bundle_yaml.c (vessel.yaml parsing, validation, emitting).
 */
#ifndef VESSEL_FORMATS_BUNDLE_PRIV_H
#define VESSEL_FORMATS_BUNDLE_PRIV_H

#include "vessel/bundle.h"

/*
 * Parse and validate vessel.yaml text. When dir is not NULL, every path the
 * document names is also resolved inside dir (existence, escapes) and
 * reported at the value's line:col.
 */
int bundle_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		 const char *dir, struct vsl_bundle_config *cfg, struct vsl_problems *probs);

/* [A-Za-z0-9][A-Za-z0-9._-]{0,63}: names of bundles and disks. */
bool bundle_name_ok(const char *s);

/* Write data to dir/name through dir/name.tmp + fsync + rename. */
int bundle_write_file(struct vsl_ctx *ctx, const char *dir, const char *name, const char *data,
		      size_t len);

#endif
