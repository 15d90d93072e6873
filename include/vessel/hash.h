/*
 * Message digests (SHA-1, SHA-256, SHA-512) through OpenSSL's libcrypto.
 *
 *	struct vsl_hash *h = vsl_hash_new(VSL_HASH_SHA256);
 *	vsl_hash_update(h, buf, n); ...
 *	char hex[VSL_HASH_HEX_MAX]; vsl_hash_final_hex(h, hex); vsl_hash_free(h);
 */
#ifndef VESSEL_HASH_H
#define VESSEL_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "vessel/common.h"

enum vsl_hash_alg { VSL_HASH_SHA1, VSL_HASH_SHA256, VSL_HASH_SHA512 };

#define VSL_HASH_HEX_MAX 129 /* SHA-512 in hex plus NUL */

struct vsl_hash;

struct vsl_hash *vsl_hash_new(enum vsl_hash_alg alg);
void vsl_hash_update(struct vsl_hash *h, const void *data, size_t len);
/* Writes the lowercase hex digest; the hash cannot be updated afterwards. */
void vsl_hash_final_hex(struct vsl_hash *h, char *hex);
void vsl_hash_free(struct vsl_hash *h);
/* "SHA1", "SHA256", "SHA512" (as in OVF manifests). */
const char *vsl_hash_name(enum vsl_hash_alg alg);
int vsl_hash_from_name(const char *name, enum vsl_hash_alg *alg);

/* One-shot helpers. */
void vsl_sha256_hex(const void *data, size_t len, char hex[65]);
/* Digest a whole file; errors recorded in ctx. */
int vsl_hash_file(struct vsl_ctx *ctx, enum vsl_hash_alg alg, const char *path, char *hex);

#endif
