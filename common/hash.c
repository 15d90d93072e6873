/*
 * Digests via libcrypto's EVP interface (see include/vessel/hash.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "vessel/hash.h"

struct vsl_hash {
	EVP_MD_CTX *md;
};

static const EVP_MD *hash_md(enum vsl_hash_alg alg)
{
	switch (alg) {
	case VSL_HASH_SHA1: return EVP_sha1();
	case VSL_HASH_SHA512: return EVP_sha512();
	case VSL_HASH_SHA256:
	default: return EVP_sha256();
	}
}

struct vsl_hash *vsl_hash_new(enum vsl_hash_alg alg)
{
	struct vsl_hash *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->md = EVP_MD_CTX_new();
	if (!h->md || EVP_DigestInit_ex(h->md, hash_md(alg), NULL) != 1) {
		EVP_MD_CTX_free(h->md);
		free(h);
		return NULL;
	}
	return h;
}

void vsl_hash_update(struct vsl_hash *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->md, data, len);
}

void vsl_hash_final_hex(struct vsl_hash *h, char *hex)
{
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_DigestFinal_ex(h->md, dig, &n);
	for (i = 0; i < n; i++) {
		static const char digits[] = "0123456789abcdef";
		hex[2 * i] = digits[dig[i] >> 4];
		hex[2 * i + 1] = digits[dig[i] & 15];
	}
	hex[2 * n] = '\0';
}

void vsl_hash_free(struct vsl_hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

const char *vsl_hash_name(enum vsl_hash_alg alg)
{
	switch (alg) {
	case VSL_HASH_SHA1: return "SHA1";
	case VSL_HASH_SHA512: return "SHA512";
	case VSL_HASH_SHA256:
	default: return "SHA256";
	}
}

int vsl_hash_from_name(const char *name, enum vsl_hash_alg *alg)
{
	if (!strcasecmp(name, "sha1"))
		*alg = VSL_HASH_SHA1;
	else if (!strcasecmp(name, "sha256"))
		*alg = VSL_HASH_SHA256;
	else if (!strcasecmp(name, "sha512"))
		*alg = VSL_HASH_SHA512;
	else
		return VSL_EINVAL;
	return 0;
}

void vsl_sha256_hex(const void *data, size_t len, char hex[65])
{
	struct vsl_hash *h = vsl_hash_new(VSL_HASH_SHA256);

	if (!h) {
		hex[0] = '\0';
		return;
	}
	vsl_hash_update(h, data, len);
	vsl_hash_final_hex(h, hex);
	vsl_hash_free(h);
}

int vsl_hash_file(struct vsl_ctx *ctx, enum vsl_hash_alg alg, const char *path, char *hex)
{
	enum { BUFSZ = 1 << 20 };
	struct vsl_hash *h;
	char *buf;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO, "open %s", path);
	h = vsl_hash_new(alg);
	buf = malloc(BUFSZ);
	if (!h || !buf) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, BUFSZ);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = vsl_set_error(ctx, errno, VSL_EIO, "read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		vsl_hash_update(h, buf, (size_t)n);
	}
	vsl_hash_final_hex(h, hex);
out:
	free(buf);
	vsl_hash_free(h);
	close(fd);
	return r;
}
