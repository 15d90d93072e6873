/*
 * VMDK text descriptor: parsing (untrusted: bounded size, bounded lines,
 * every number range-checked), writing, and the resolution of extent file
 * names relative to the descriptor.
 *
 *	# Disk DescriptorFile
 *	version=1
 *	CID=fffffffe
 *	parentCID=ffffffff
 *	createType="monolithicSparse"
 *	RW 2048 SPARSE "disk.vmdk"          ACCESS SECTORS TYPE ["NAME" [OFFSET]]
 *	ddb.adapterType = "lsilogic"
 *
 * Keys vessel does not use (ddb.uuid, ddb.toolsVersion, ...) are skipped;
 * delta disks (parentCID other than ffffffff) are refused.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/vmdk_int.h"

bool vmdk_is_descriptor(const char *p, size_t n)
{
	static const char tag[] = "# Disk DescriptorFile";

	return n >= sizeof(tag) - 1 && !memcmp(p, tag, sizeof(tag) - 1);
}

void vmdk_desc_fini(struct vmdk_desc *d)
{
	for (unsigned i = 0; i < d->n_ext; i++)
		free(d->ext[i].name);
	free(d->ext);
	d->ext = NULL;
	d->n_ext = 0;
}

static char *vmdk_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

/* Copy a value, dropping one pair of surrounding double quotes. */
static int vmdk_unquote(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	if (n >= cap)
		return -1;
	memcpy(dst, v, n);
	dst[n] = 0;
	return 0;
}

static int vmdk_parse_u32(const char *v, int base, uint32_t *out)
{
	char buf[32], *end;
	unsigned long long x;

	if (vmdk_unquote(buf, sizeof(buf), v) < 0 || !buf[0])
		return -1;
	errno = 0;
	x = strtoull(buf, &end, base);
	if (errno || *end || x > UINT32_MAX || buf[0] == '-')
		return -1;
	*out = (uint32_t)x;
	return 0;
}

/* ACCESS SECTORS TYPE ["NAME" [OFFSET]] */
static int vmdk_parse_extent_line(struct vsl_ctx *ctx, const char *where, unsigned lineno,
				  char *line, struct vmdk_desc_extent *e)
{
	char *p = line, *end, *q;
	unsigned long long v;

	*e = (struct vmdk_desc_extent){ 0 };
	q = strchr(p, ' ');
	if (!q || (size_t)(q - p) >= sizeof(e->access))
		goto bad;
	memcpy(e->access, p, (size_t)(q - p));
	p = vmdk_trim(q);
	if (!isdigit((unsigned char)*p))
		goto bad;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || (*end != ' ' && *end != '\t') || v > VMDK_MAX_CAPACITY / VMDK_SECTOR)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: descriptor line %u: extent size '%.20s' is not a number of sectors up to 64 TiB",
				     where, lineno, p);
	e->sectors = v;
	p = vmdk_trim(end);
	q = p;
	while (*q && *q != ' ' && *q != '\t')
		q++;
	if (q == p || (size_t)(q - p) >= sizeof(e->type))
		goto bad;
	memcpy(e->type, p, (size_t)(q - p));
	p = vmdk_trim(q);
	if (!strcmp(e->type, "ZERO"))
		return 0;
	if (*p != '"')
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: descriptor line %u: extent file name must be in double quotes",
				     where, lineno);
	q = strchr(p + 1, '"');
	if (!q)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: descriptor line %u: unterminated extent file name", where,
				     lineno);
	e->name = strndup(p + 1, (size_t)(q - p - 1));
	if (!e->name)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	p = vmdk_trim(q + 1);
	if (*p) {
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno || *vmdk_trim(end) || !isdigit((unsigned char)*p) ||
		    v > (UINT64_MAX / VMDK_SECTOR)) {
			free(e->name);
			e->name = NULL;
			return vsl_set_error(ctx, 0, VSL_ECORRUPT,
					     "%s: descriptor line %u: bad extent offset '%.20s'", where,
					     lineno, p);
		}
		e->offset = v;
	}
	return 0;
bad:
	return vsl_set_error(ctx, 0, VSL_ECORRUPT,
			     "%s: descriptor line %u: malformed extent line '%.60s'", where, lineno,
			     line);
}

/*
 * Parse descriptor text (not NUL-terminated; stops at the first NUL, as
 * embedded descriptors are padded with zeroes). Fills d; on error d is
 * released.
 */
int vmdk_desc_parse(struct vsl_ctx *ctx, const char *where, const char *text, size_t len,
		    struct vmdk_desc *d)
{
	char line[VMDK_MAX_LINE + 1];
	unsigned lineno = 0;
	size_t pos = 0;
	bool seen_version = false;
	int r;

	*d = (struct vmdk_desc){ .parent_cid = 0xffffffffu };
	snprintf(d->adapter, sizeof(d->adapter), "ide");
	snprintf(d->hwversion, sizeof(d->hwversion), "4");
	if (len > VMDK_MAX_DESC)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: descriptor of %zu bytes is larger than the %u-byte limit",
				     where, len, VMDK_MAX_DESC);
	while (pos < len && text[pos]) {
		size_t n = 0;
		char *l, *eq;

		lineno++;
		while (pos < len && text[pos] && text[pos] != '\n') {
			if (n == VMDK_MAX_LINE) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
						  "%s: descriptor line %u is longer than %u bytes",
						  where, lineno, VMDK_MAX_LINE);
				goto err;
			}
			line[n++] = text[pos++];
		}
		if (pos < len && text[pos] == '\n')
			pos++;
		line[n] = 0;
		if (strlen(line) != n) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: descriptor line %u holds a NUL byte",
					  where, lineno);
			goto err;
		}
		l = vmdk_trim(line);
		if (!*l || *l == '#')
			continue;
		if (!strncmp(l, "RW ", 3) || !strncmp(l, "RDONLY ", 7) ||
		    !strncmp(l, "NOACCESS ", 9)) {
			struct vmdk_desc_extent *ne;

			if (d->n_ext == VMDK_MAX_EXTENTS) {
				r = vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s: more than %u extents",
						  where, VMDK_MAX_EXTENTS);
				goto err;
			}
			ne = vsl_reallocarray(d->ext, d->n_ext + 1, sizeof(*ne));
			if (!ne) {
				r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
				goto err;
			}
			d->ext = ne;
			r = vmdk_parse_extent_line(ctx, where, lineno, l, &d->ext[d->n_ext]);
			if (r < 0)
				goto err;
			d->n_ext++;
			continue;
		}
		eq = strchr(l, '=');
		if (!eq) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
					  "%s: descriptor line %u: expected KEY=VALUE or an extent, got '%.60s'",
					  where, lineno, l);
			goto err;
		}
		*eq = 0;
		char *key = vmdk_trim(l), *val = vmdk_trim(eq + 1);
		int bad = 0;

		if (!strcmp(key, "version")) {
			uint32_t ver;
			seen_version = true;
			bad = vmdk_parse_u32(val, 10, &ver) < 0 || ver < 1 || ver > 3;
		} else if (!strcmp(key, "CID")) {
			bad = vmdk_parse_u32(val, 16, &d->cid) < 0;
		} else if (!strcmp(key, "parentCID")) {
			bad = vmdk_parse_u32(val, 16, &d->parent_cid) < 0;
		} else if (!strcmp(key, "createType")) {
			bad = vmdk_unquote(d->create_type, sizeof(d->create_type), val) < 0;
		} else if (!strcmp(key, "ddb.adapterType")) {
			bad = vmdk_unquote(d->adapter, sizeof(d->adapter), val) < 0;
		} else if (!strcmp(key, "ddb.virtualHWVersion")) {
			bad = vmdk_unquote(d->hwversion, sizeof(d->hwversion), val) < 0;
		} else if (!strcmp(key, "ddb.geometry.cylinders")) {
			bad = vmdk_parse_u32(val, 10, &d->cyls) < 0;
		} else if (!strcmp(key, "ddb.geometry.heads")) {
			bad = vmdk_parse_u32(val, 10, &d->heads) < 0;
		} else if (!strcmp(key, "ddb.geometry.sectors")) {
			bad = vmdk_parse_u32(val, 10, &d->secs) < 0;
		}
		/* other keys (ddb.uuid, ddb.toolsVersion, parentFileNameHint, ...) are kept out */
		if (bad) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
					  "%s: descriptor line %u: bad value '%.40s' for %s", where,
					  lineno, val, key);
			goto err;
		}
	}
	if (!seen_version) {
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: descriptor has no 'version=' line",
				  where);
		goto err;
	}
	if (!d->n_ext) {
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: descriptor lists no extents", where);
		goto err;
	}
	if (d->parent_cid != 0xffffffffu) {
		r = vsl_set_error(ctx, 0, VSL_ENOTSUP,
				  "%s: VMDK delta disks (parentCID=%08x) are not supported; convert the chain with its parent",
				  where, d->parent_cid);
		goto err;
	}
	return 0;
err:
	vmdk_desc_fini(d);
	return r;
}

void vmdk_chs(uint64_t size, const char *adapter, uint32_t *c, uint32_t *h, uint32_t *s)
{
	uint64_t cyl;

	*h = strcmp(adapter, "ide") ? 255 : 16;
	*s = 63;
	cyl = size / VMDK_SECTOR / (*h * *s);
	*c = (uint32_t)VSL_MIN(cyl, (uint64_t)(strcmp(adapter, "ide") ? 65535 : 16383));
}

/* Descriptor text for one extent; caller frees. */
char *vmdk_desc_text(const struct vmdk *v, const char *create_type, uint64_t sectors,
		     const char *etype, const char *name, bool with_offset)
{
	return vsl_strdup_printf("# Disk DescriptorFile\n"
				 "version=1\n"
				 "CID=%08x\n"
				 "parentCID=ffffffff\n"
				 "createType=\"%s\"\n"
				 "\n"
				 "# Extent description\n"
				 "RW %llu %s \"%s\"%s\n"
				 "\n"
				 "# The Disk Data Base\n"
				 "#DDB\n"
				 "\n"
				 "ddb.virtualHWVersion = \"%s\"\n"
				 "ddb.geometry.cylinders = \"%u\"\n"
				 "ddb.geometry.heads = \"%u\"\n"
				 "ddb.geometry.sectors = \"%u\"\n"
				 "ddb.adapterType = \"%s\"\n",
				 v->cid, create_type, (unsigned long long)sectors, etype, name,
				 with_offset ? " 0" : "", v->hwversion, v->cyls, v->heads, v->secs,
				 v->adapter);
}

/*
 * Path of extent `name` next to the descriptor at dpath; refuses absolute
 * names and ".." components. Caller frees.
 */
int vmdk_extent_path(struct vsl_ctx *ctx, const char *dpath, const char *name, char **out)
{
	const char *slash, *p = name;

	if (!*name)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: empty extent file name", dpath);
	if (name[0] == '/')
		return vsl_set_error(ctx, 0, VSL_EPERM,
				     "%s: extent file '%s' is an absolute path; only names relative to the descriptor are allowed",
				     dpath, name);
	for (;;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && !strncmp(p, "..", 2))
			return vsl_set_error(ctx, 0, VSL_EPERM,
					     "%s: extent file '%s' has a '..' component; it must stay in the descriptor's directory",
					     dpath, name);
		if (!p[n])
			break;
		p += n + 1;
	}
	slash = strrchr(dpath, '/');
	if (slash)
		*out = vsl_strdup_printf("%.*s/%s", (int)(slash - dpath), dpath, name);
	else
		*out = strdup(name);
	if (!*out)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	return 0;
}
