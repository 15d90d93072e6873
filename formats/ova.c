/*
 * OVA: a ustar archive holding NAME.ovf first, NAME.mf second, then the
 * disks as streamOptimized VMDKs in References order (DSP0243 5.3),
 * written and read with libarchive.
 *
 * Writing streams. ustar wants each member's size in its header, before
 * the data, and the manifest (second member) wants every disk's digest, so
 * each disk is converted twice (the "two-pass" choice of
 * docs/interchange.md):
 *
 *   pass 1  bundle disk -> VMDK writer -> sink stream -> size + digest(s), data discarded
 *   pass 2  bundle disk -> VMDK writer -> sink stream -> tar member(s), digest re-checked
 *
 * No temporary copy is made and memory stays bounded: the sink stream
 * below turns the VMDK writer's positioned writes into an ordered byte
 * stream. The streamOptimized writer appends grains and grain tables in
 * increasing order and only ever rewrites its not-yet-final tail (it
 * writes a complete tail at creation and on flush, then overwrites it),
 * so every byte more than one tail below the end of what was written is
 * final. The sink keeps only that last stretch (the "lag": the largest
 * tail, GD + GT + one grain + footer, 1 MiB + 4 bytes per 32 MiB of disk)
 * and hands older bytes on; a write below that point is refused rather
 * than silently mis-ordered.
 *
 * The VMDK descriptor holds a random CID, so pass 2 would differ from
 * pass 1 in those 8 hex digits: pass 1 records the first 64 KiB (header
 * and descriptor, everything before the first grain) and pass 2 replays
 * them; the digest of pass 2 is compared with pass 1's and any difference
 * is an error (the archive is then removed), never a wrong manifest.
 *
 * Members of VSL_IX_USTAR_MAX (8 GiB - 1) bytes or more are refused
 * unless a chunk size is given; then they are split into
 * NAME.vmdk.000000000, .000000001, ... and File carries ovf:chunkSize,
 * the manifest listing each chunk.
 *
 * Reading maps the OVA and opens it with archive_read_open_memory: for an
 * uncompressed tar libarchive then hands back data blocks that point into
 * the mapping, which gives each member's offset in the file. Disks are
 * then read in place through a "span" stream (no extraction, no copy);
 * members are never written anywhere under their own names. Links,
 * directories, sparse members, absolute names and ".." are refused.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "formats/interchange_priv.h"
#include "formats/ova_priv.h"
#include "vessel/convert.h"
#include "vessel/format.h"

#define OVA_PREFIX_BYTES (64u << 10)
#define OVA_SINK_MAX (64u << 20)       /* the tail window may not grow beyond this */
#define OVA_MAX_MEMBERS 10000u
#define OVA_MAX_CHUNKS 100000u

/* ---- manifests ---- */

int vsl_ova_manifest_line(char *buf, size_t cap, enum vsl_hash_alg alg, const char *name,
			  const char *hex)
{
	int n = snprintf(buf, cap, "%s(%s)= %s\n", vsl_hash_name(alg), name, hex);

	return n < 0 || (size_t)n >= cap ? VSL_ERANGE : n;
}

int vsl_ova_manifest_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
			   struct vsl_ova_mf_entry **out, size_t *n)
{
	struct vsl_ova_mf_entry *v = NULL;
	size_t cnt = 0, lineno = 0;
	const char *p = text, *end = text + len;

	*out = NULL;
	*n = 0;
	if (len > VSL_IX_DESC_MAX)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: manifest is too large", file);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *q, *op, *cp;
		char alg[16], hex[VSL_HASH_HEX_MAX];
		struct vsl_ova_mf_entry *e;
		size_t al, hl, want;

		lineno++;
		if (le > p && le[-1] == '\r')
			le--;
		if (le == p)
			goto next;
		op = memchr(p, '(', (size_t)(le - p));
		/* the name may contain ')': the separator is the last ")= " / ") = " */
		cp = NULL;
		for (q = le; q > p; q--)
			if (q[-1] == ')') {
				cp = q - 1;
				break;
			}
		if (!op || !cp || cp <= op)
			goto bad;
		al = (size_t)(op - p);
		while (al && p[al - 1] == ' ')
			al--;
		if (!al || al >= sizeof(alg))
			goto bad;
		memcpy(alg, p, al);
		alg[al] = 0;
		q = cp + 1;
		while (q < le && *q == ' ')
			q++;
		if (q >= le || *q != '=')
			goto bad;
		q++;
		while (q < le && *q == ' ')
			q++;
		hl = (size_t)(le - q);
		if (!hl || hl >= sizeof(hex))
			goto bad;
		memcpy(hex, q, hl);
		hex[hl] = 0;
		if (cnt >= OVA_MAX_MEMBERS) {
			free(v);
			return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: more than %u lines", file,
					     OVA_MAX_MEMBERS);
		}
		e = vsl_reallocarray(v, cnt + 1, sizeof(*v));
		if (!e) {
			free(v);
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		}
		v = e;
		e = &v[cnt];
		if (vsl_hash_from_name(alg, &e->alg) < 0) {
			free(v);
			return vsl_set_error(ctx, 0, VSL_ENOTSUP,
					     "%s:%zu: digest algorithm '%s' is not supported (SHA1, SHA256, SHA512)",
					     file, lineno, alg);
		}
		want = e->alg == VSL_HASH_SHA1 ? 40 : e->alg == VSL_HASH_SHA256 ? 64 : 128;
		if (hl != want || strspn(hex, "0123456789abcdefABCDEF") != hl) {
			free(v);
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s:%zu: '%s' is not a %s digest", file,
					     lineno, hex, alg);
		}
		for (size_t i = 0; i < hl; i++)
			hex[i] = (char)((hex[i] >= 'A' && hex[i] <= 'F') ? hex[i] + 32 : hex[i]);
		if ((size_t)(cp - op - 1) >= sizeof(e->name) || cp - op - 1 == 0)
			goto bad;
		memcpy(e->name, op + 1, (size_t)(cp - op - 1));
		e->name[cp - op - 1] = 0;
		memcpy(e->hex, hex, hl + 1);
		cnt++;
next:
		p = nl ? nl + 1 : end;
		continue;
bad:
		free(v);
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "%s:%zu: not a manifest line (expected 'SHA256(name)= hex')", file,
				     lineno);
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- the sink stream: positioned writes in, ordered bytes out ---- */

struct ova_sink {
	struct vsl_ctx *ctx;
	uint8_t *buf;
	size_t cap, len;     /* buf holds [base, base + len) */
	uint64_t base, size; /* size: the stream's logical size */
	uint64_t lag;        /* bytes kept below the end: the largest tail the writer may rewrite */
	ova_emit_fn *emit;
	void *opaque;
	int err;
};

static int ova_sink_out(struct ova_sink *k, const uint8_t *p, size_t n)
{
	static const uint8_t zero[4096];
	int r;

	while (n) {
		size_t c = p ? n : VSL_MIN(n, sizeof(zero));

		r = k->emit(k->opaque, p ? p : zero, c);
		if (r < 0)
			return k->err = r;
		n -= c;
		if (p)
			p += c;
	}
	return 0;
}

/* Hand on every byte below off (held bytes, then zeroes for never-written gaps). */
static int ova_sink_advance(struct ova_sink *k, uint64_t off)
{
	uint64_t upto = off - k->base;
	size_t held = (size_t)VSL_MIN(upto, (uint64_t)k->len);
	int r;

	r = ova_sink_out(k, k->buf, held);
	if (r == 0 && upto > held)
		r = ova_sink_out(k, NULL, (size_t)(upto - held));
	if (r < 0)
		return r;
	memmove(k->buf, k->buf + held, k->len - held);
	k->len -= held;
	k->base = off;
	return 0;
}

static int ova_sink_pwrite(struct vsl_stream *s, const void *buf, size_t len, uint64_t off)
{
	struct ova_sink *k = s->priv;
	uint64_t need;
	int r;

	if (k->err)
		return k->err;
	if (off < k->base)
		return k->err = vsl_set_error(s->ctx, 0, VSL_ENOTSUP,
					      "%s: the VMDK writer went back to offset %" PRIu64
					      ", before the %" PRIu64 " bytes already streamed",
					      s->name, off, k->base);
	need = off + len - k->base;
	if (need > k->lag + OVA_SINK_MAX)
		return k->err = vsl_set_error(s->ctx, 0, VSL_ENOMEM,
					      "%s: a write of %zu bytes at %" PRIu64 " is beyond the streaming window",
					      s->name, len, off);
	if (need > k->cap) {
		size_t nc = (size_t)VSL_MAX(need, (uint64_t)k->cap * 2);
		uint8_t *nb = realloc(k->buf, nc);

		if (!nb)
			return k->err = vsl_set_error(s->ctx, 0, VSL_ENOMEM, "out of memory");
		k->buf = nb;
		k->cap = nc;
	}
	if (off - k->base > k->len)
		memset(k->buf + k->len, 0, (size_t)(off - k->base - k->len));
	memcpy(k->buf + (off - k->base), buf, len);
	if (need > k->len)
		k->len = (size_t)need;
	if (off + len > k->size)
		k->size = off + len;
	/* everything more than one tail below the end is final */
	if (k->base + k->len > k->lag && k->base + k->len - k->lag > k->base) {
		r = ova_sink_advance(k, k->base + k->len - k->lag);
		if (r < 0)
			return r;
	}
	return 0;
}

static int64_t ova_sink_pread(struct vsl_stream *s, void *buf, size_t len, uint64_t off)
{
	return vsl_set_error(s->ctx, 0, VSL_ENOTSUP, "%s: a streamed VMDK cannot be read back", s->name);
}

static int ova_sink_size(struct vsl_stream *s, uint64_t *size)
{
	*size = ((struct ova_sink *)s->priv)->size;
	return 0;
}

static int ova_sink_truncate(struct vsl_stream *s, uint64_t size)
{
	struct ova_sink *k = s->priv;

	if (size < k->base)
		return k->err = vsl_set_error(s->ctx, 0, VSL_ENOTSUP,
					      "%s: truncating below the streamed part", s->name);
	if (size - k->base < k->len)
		k->len = (size_t)(size - k->base);
	k->size = size;
	return 0;
}

static int ova_sink_flush(struct vsl_stream *s)
{
	return 0;
}

static void ova_sink_close(struct vsl_stream *s)
{
	/* the state belongs to ova_stream_disk */
}

static const struct vsl_stream_ops ova_sink_ops = {
	.name = "ova-sink",
	.pread = ova_sink_pread,
	.pwrite = ova_sink_pwrite,
	.size = ova_sink_size,
	.truncate = ova_sink_truncate,
	.flush = ova_sink_flush,
	.close = ova_sink_close,
};

int vsl_ova_stream_vmdk(struct vsl_ctx *ctx, const char *src_path, const char *src_fmt,
			const char *adapter, const char *name, unsigned threads,
			const struct vsl_progress *progress, ova_emit_fn *emit, void *opaque,
			uint64_t *populated)
{
	struct ova_sink k = { .ctx = ctx, .emit = emit, .opaque = opaque };
	struct vsl_stream *s = calloc(1, sizeof(*s));
	struct vsl_image *src = NULL, *dst = NULL;
	struct vsl_convert_stats st = { 0 };
	char kvad[64];
	const char *kv[] = { "subformat=streamOptimized", kvad, NULL };
	struct vsl_image_opts o = { .compress = true, .kv = kv, .threads = threads };
	int r;

	snprintf(kvad, sizeof(kvad), "adapter_type=%s", adapter);
	if (!s || !(s->name = strdup(name))) {
		free(s);
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	s->ops = &ova_sink_ops;
	s->ctx = ctx;
	s->flags = VSL_STREAM_RDWR;
	s->priv = &k;
	r = vsl_image_open(ctx, src_path, src_fmt, VSL_IMAGE_RDONLY, &src);
	if (r < 0) {
		vsl_stream_free(s);
		goto out;
	}
	/*
	 * The writer only rewrites its tail: at most one grain (+ marker and
	 * zlib framing), one grain table, the grain directory (4 bytes per
	 * 32 MiB of disk) and the footer. Keep that much, with room to spare.
	 */
	k.lag = (src->size / (32ull << 20) + 1) * 4 + (1u << 20);
	r = vsl_image_create_stream(ctx, s, "vmdk", src->size, &o, &dst);
	if (r < 0) {
		vsl_stream_free(s);
		goto out;
	}
	dst->flags |= VSL_IMAGE_UNSAFE;
	r = vsl_convert_copy(src, dst, progress, &st);
	if (r == 0)
		r = vsl_image_flush(dst); /* the tail, with errors reported (close only logs) */
	vsl_image_close(dst);         /* frees s; nothing is dirty, so nothing more is written */
	dst = NULL;
	if (r == 0 && k.err)
		r = k.err;
	if (r == 0)
		r = ova_sink_advance(&k, k.size);
	if (populated)
		*populated = st.bytes_written;
out:
	vsl_image_close(src);
	free(k.buf);
	return r;
}

/* ---- writing an OVA ---- */

struct ova_pass {
	struct vsl_ctx *ctx;
	struct ova_disk_out *d;
	int pass;                 /* 1 or 2 */
	enum vsl_hash_alg alg;
	struct archive *a;        /* pass 2 */
	uint64_t pos;             /* bytes of the VMDK so far */
	struct vsl_hash *h;       /* whole-file digest */
	struct vsl_hash *ch;      /* current chunk's digest */
	size_t chunk;             /* current chunk index */
	uint64_t in_chunk;
	const char *member_name;  /* href */
	uint64_t member_limit;
};

static int ova_archive_error(struct vsl_ctx *ctx, struct archive *a, const char *what)
{
	return vsl_set_error(ctx, 0, VSL_EIO, "%s: %s", what,
			     archive_error_string(a) ? archive_error_string(a) : "libarchive error");
}

static int ova_member_header(struct vsl_ctx *ctx, struct archive *a, const char *name, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int r = 0;

	if (!e)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		r = ova_archive_error(ctx, a, name);
	archive_entry_free(e);
	return r;
}

static int ova_write_all(struct vsl_ctx *ctx, struct archive *a, const void *p, size_t n,
			 const char *name)
{
	const uint8_t *b = p;

	while (n) {
		la_ssize_t w = archive_write_data(a, b, VSL_MIN(n, (size_t)1 << 20));

		if (w <= 0)
			return ova_archive_error(ctx, a, name);
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static void ova_chunk_name(char *buf, size_t cap, const char *href, size_t idx)
{
	snprintf(buf, cap, "%s.%09zu", href, idx);
}

static int ova_chunk_done(struct ova_pass *p)
{
	struct ova_disk_out *d = p->d;
	char hex[VSL_HASH_HEX_MAX];

	vsl_hash_final_hex(p->ch, hex);
	vsl_hash_free(p->ch);
	p->ch = NULL;
	if (p->pass == 1) {
		char (*nh)[VSL_HASH_HEX_MAX];

		if (p->chunk >= OVA_MAX_CHUNKS)
			return vsl_set_error(p->ctx, 0, VSL_ERANGE, "%s: more than %u chunks",
					     p->member_name, OVA_MAX_CHUNKS);
		nh = vsl_reallocarray(d->chunk_hex, p->chunk + 1, sizeof(*nh));
		if (!nh)
			return vsl_set_error(p->ctx, 0, VSL_ENOMEM, "out of memory");
		d->chunk_hex = nh;
		memcpy(d->chunk_hex[p->chunk], hex, sizeof(hex));
		d->nchunks = p->chunk + 1;
	} else if (p->chunk >= d->nchunks || strcmp(d->chunk_hex[p->chunk], hex)) {
		return vsl_set_error(p->ctx, 0, VSL_ECORRUPT,
				     "%s: chunk %zu differs between the two passes of the VMDK writer",
				     p->member_name, p->chunk);
	}
	p->chunk++;
	p->in_chunk = 0;
	return 0;
}

static int ova_emit(void *opaque, const void *data, size_t n)
{
	struct ova_pass *p = opaque;
	struct ova_disk_out *d = p->d;
	const uint8_t *src = data;
	uint8_t rep[4096];
	int r;

	while (n) {
		const uint8_t *b = src;
		size_t c = n;

		if (p->pos < OVA_PREFIX_BYTES)
			c = (size_t)VSL_MIN((uint64_t)VSL_MIN(c, sizeof(rep)), OVA_PREFIX_BYTES - p->pos);
		if (d->chunk_size)
			c = (size_t)VSL_MIN((uint64_t)c, d->chunk_size - p->in_chunk);
		/* pass 1 records the header + descriptor; pass 2 replays them */
		if (p->pos < OVA_PREFIX_BYTES) {
			if (p->pass == 1) {
				memcpy(d->prefix + p->pos, src, c);
			} else {
				memcpy(rep, d->prefix + p->pos, c);
				b = rep;
			}
		}
		if (d->chunk_size && p->in_chunk == 0) {
			if (!(p->ch = vsl_hash_new(p->alg)))
				return vsl_set_error(p->ctx, 0, VSL_ENOMEM, "out of memory");
			if (p->pass == 2) {
				char nm[300];
				uint64_t left = d->file_size > p->pos ? d->file_size - p->pos : 0;

				ova_chunk_name(nm, sizeof(nm), p->member_name, p->chunk);
				r = ova_member_header(p->ctx, p->a, nm, VSL_MIN(left, d->chunk_size));
				if (r < 0)
					return r;
			}
		}
		if (p->pass == 2 && p->pos + c > d->file_size)
			return vsl_set_error(p->ctx, 0, VSL_ECORRUPT,
					     "%s: the VMDK writer produced more bytes on its second pass",
					     p->member_name);
		vsl_hash_update(p->h, b, c);
		if (p->ch)
			vsl_hash_update(p->ch, b, c);
		if (p->pass == 2) {
			r = ova_write_all(p->ctx, p->a, b, c, p->member_name);
			if (r < 0)
				return r;
		}
		p->pos += c;
		p->in_chunk += c;
		if (d->chunk_size && p->in_chunk == d->chunk_size) {
			r = ova_chunk_done(p);
			if (r < 0)
				return r;
		}
		src += c;
		n -= c;
	}
	return 0;
}

int vsl_ova_disk_pass(struct vsl_ctx *ctx, struct ova_disk_out *d, int pass, enum vsl_hash_alg alg,
		      struct archive *a, unsigned threads, const struct vsl_progress *progress)
{
	struct ova_pass p = { .ctx = ctx, .d = d, .pass = pass, .alg = alg, .a = a,
			      .member_name = d->href };
	char hex[VSL_HASH_HEX_MAX];
	int r;

	if (pass == 1) {
		free(d->chunk_hex);
		d->chunk_hex = NULL;
		d->nchunks = 0;
		if (!d->prefix && !(d->prefix = calloc(1, OVA_PREFIX_BYTES)))
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	} else if (!d->chunk_size) {
		r = ova_member_header(ctx, a, d->href, d->file_size);
		if (r < 0)
			return r;
	}
	p.h = vsl_hash_new(alg);
	if (!p.h)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	r = vsl_ova_stream_vmdk(ctx, d->src_path, d->src_fmt, d->adapter, d->href, threads, progress,
				ova_emit, &p, pass == 1 ? &d->populated : NULL);
	if (r == 0 && d->chunk_size && p.in_chunk)
		r = ova_chunk_done(&p);
	vsl_hash_final_hex(p.h, hex);
	vsl_hash_free(p.h);
	vsl_hash_free(p.ch);
	if (r < 0)
		return r;
	if (pass == 1) {
		d->file_size = p.pos;
		memcpy(d->hex, hex, sizeof(hex));
		return 0;
	}
	if (p.pos != d->file_size || strcmp(hex, d->hex))
		return vsl_set_error(ctx, 0, VSL_ECORRUPT,
				     "%s: the VMDK writer produced different bytes on its second pass (%" PRIu64
				     " vs %" PRIu64 " bytes); the OVA is not written",
				     d->href, p.pos, d->file_size);
	return 0;
}

int vsl_ova_write_member(struct vsl_ctx *ctx, struct archive *a, const char *name, const void *data,
			 size_t len)
{
	int r = ova_member_header(ctx, a, name, len);

	return r < 0 ? r : ova_write_all(ctx, a, data, len, name);
}

void vsl_ova_disk_out_fini(struct ova_disk_out *d)
{
	free(d->prefix);
	free(d->chunk_hex);
	*d = (struct ova_disk_out){ 0 };
}

/* ---- reading an OVA ---- */

void vsl_ova_close(struct ova_in *in)
{
	if (!in)
		return;
	if (in->map && in->map != MAP_FAILED)
		munmap((void *)(uintptr_t)in->map, in->size);
	free(in->members);
	free(in);
}

static int ova_check_name(struct vsl_ctx *ctx, const char *file, const char *name)
{
	const char *p = name;

	if (!*name)
		return vsl_set_error(ctx, 0, VSL_EPERM, "%s: a member has an empty name", file);
	if (name[0] == '/')
		return vsl_set_error(ctx, 0, VSL_EPERM, "%s: member '%s' has an absolute path; refused",
				     file, name);
	while (*p) {
		size_t l = strcspn(p, "/");

		if (l == 2 && !strncmp(p, "..", 2))
			return vsl_set_error(ctx, 0, VSL_EPERM,
					     "%s: member '%s' has a '..' component; refused", file, name);
		p += l;
		if (*p)
			p++;
	}
	if (strlen(name) >= sizeof(((struct ova_member *)0)->name))
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: member name '%.40s...' is too long", file,
				     name);
	return 0;
}

int vsl_ova_open(struct vsl_ctx *ctx, const char *path, struct ova_in **out)
{
	struct ova_in *in = calloc(1, sizeof(*in));
	struct archive *a = NULL;
	struct archive_entry *e;
	struct stat st;
	int fd, r = 0, ar;

	*out = NULL;
	if (!in)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	in->path = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO, "open %s", path);
		goto err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 512) {
		close(fd);
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: not an OVA (not a regular file of at least 512 bytes)",
				  path);
		goto err;
	}
	in->size = (size_t)st.st_size;
	in->map = mmap(NULL, in->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (in->map == MAP_FAILED) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "mmap %s", path);
		goto err;
	}
	a = archive_read_new();
	if (!a) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto err;
	}
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, in->map, in->size) != ARCHIVE_OK) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: not an OVA (not a tar archive): %s", path,
				  archive_error_string(a));
		goto err;
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		struct ova_member *m;
		const void *blk;
		size_t blen;
		la_int64_t boff;
		int64_t sz = archive_entry_size(e);

		if (!name) {
			r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: a member has no name", path);
			goto err;
		}
		if (!strncmp(name, "./", 2))
			name += 2;
		if (archive_entry_hardlink(e) || archive_entry_symlink(e) ||
		    archive_entry_filetype(e) == AE_IFLNK) {
			r = vsl_set_error(ctx, 0, VSL_EPERM, "%s: member '%s' is a link; refused", path, name);
			goto err;
		}
		if (archive_entry_filetype(e) != AE_IFREG) {
			r = vsl_set_error(ctx, 0, VSL_EPERM,
					  "%s: member '%s' is not a regular file (type %o); refused",
					  path, name, (unsigned)archive_entry_filetype(e));
			goto err;
		}
		r = ova_check_name(ctx, path, name);
		if (r < 0)
			goto err;
		if (archive_entry_sparse_count(e) > 0) {
			r = vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s: member '%s' is a sparse tar entry; not supported",
					  path, name);
			goto err;
		}
		if (sz < 0 || (uint64_t)sz > in->size) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: member '%s' claims %" PRId64
					  " bytes, more than the archive holds", path, name, (int64_t)sz);
			goto err;
		}
		for (size_t i = 0; i < in->nmembers; i++)
			if (!strcmp(in->members[i].name, name)) {
				r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: member '%s' appears twice", path, name);
				goto err;
			}
		if (in->nmembers >= OVA_MAX_MEMBERS) {
			r = vsl_set_error(ctx, 0, VSL_ERANGE, "%s: more than %u members", path, OVA_MAX_MEMBERS);
			goto err;
		}
		m = vsl_reallocarray(in->members, in->nmembers + 1, sizeof(*m));
		if (!m) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto err;
		}
		in->members = m;
		m = &in->members[in->nmembers];
		*m = (struct ova_member){ .size = (uint64_t)sz };
		snprintf(m->name, sizeof(m->name), "%s", name);
		if (sz > 0) {
			ar = archive_read_data_block(a, &blk, &blen, &boff);
			if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: member '%s': %s", path, name,
						  archive_error_string(a) ? archive_error_string(a) : "truncated");
				goto err;
			}
			/* with archive_read_open_memory the block points into the mapping */
			if (boff != 0 || (const uint8_t *)blk < in->map ||
			    (const uint8_t *)blk >= in->map + in->size ||
			    (uint64_t)((const uint8_t *)blk - in->map) + (uint64_t)sz > in->size) {
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT,
						  "%s: member '%s' is truncated or not stored contiguously",
						  path, name);
				goto err;
			}
			m->off = (uint64_t)((const uint8_t *)blk - in->map);
		}
		in->nmembers++;
	}
	if (ar != ARCHIVE_EOF) {
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: bad tar data after %zu members: %s", path,
				  in->nmembers, archive_error_string(a) ? archive_error_string(a) : "error");
		goto err;
	}
	if (!in->nmembers) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: an empty archive", path);
		goto err;
	}
	archive_read_free(a);
	*out = in;
	return 0;
err:
	if (a)
		archive_read_free(a);
	vsl_ova_close(in);
	return r;
}

const struct ova_member *vsl_ova_find(const struct ova_in *in, const char *name)
{
	for (size_t i = 0; i < in->nmembers; i++)
		if (!strcmp(in->members[i].name, name))
			return &in->members[i];
	return NULL;
}

/* ---- span stream: read-only view of [off, off+len) extents of the mapping ---- */

struct ova_span {
	const uint8_t *map;
	size_t n;
	struct { uint64_t off, len; } ext[];
};

static int64_t ova_span_pread(struct vsl_stream *s, void *buf, size_t len, uint64_t off)
{
	struct ova_span *sp = s->priv;
	uint64_t start = 0;
	size_t done = 0;

	for (size_t i = 0; i < sp->n && done < len; i++) {
		uint64_t l = sp->ext[i].len;

		if (off + done < start + l) {
			uint64_t in = off + done - start;
			size_t c = (size_t)VSL_MIN((uint64_t)(len - done), l - in);

			memcpy((uint8_t *)buf + done, sp->map + sp->ext[i].off + in, c);
			done += c;
		}
		start += l;
	}
	return (int64_t)done;
}

static int ova_span_pwrite(struct vsl_stream *s, const void *buf, size_t len, uint64_t off)
{
	return vsl_set_error(s->ctx, 0, VSL_EPERM, "%s: read-only", s->name);
}

static int ova_span_size(struct vsl_stream *s, uint64_t *size)
{
	struct ova_span *sp = s->priv;

	*size = 0;
	for (size_t i = 0; i < sp->n; i++)
		*size += sp->ext[i].len;
	return 0;
}

static int ova_span_truncate(struct vsl_stream *s, uint64_t size)
{
	return vsl_set_error(s->ctx, 0, VSL_EPERM, "%s: read-only", s->name);
}

static void ova_span_close(struct vsl_stream *s)
{
	free(s->priv);
}

static const struct vsl_stream_ops ova_span_ops = {
	.name = "ova-member",
	.pread = ova_span_pread,
	.pwrite = ova_span_pwrite,
	.size = ova_span_size,
	.truncate = ova_span_truncate,
	.flush = ova_sink_flush,
	.close = ova_span_close,
};

int vsl_ova_member_stream(struct vsl_ctx *ctx, const struct ova_in *in,
			  const struct ova_member *const *parts, size_t nparts, const char *name,
			  struct vsl_stream **out)
{
	struct vsl_stream *s = calloc(1, sizeof(*s));
	struct ova_span *sp = calloc(1, sizeof(*sp) + nparts * sizeof(sp->ext[0]));

	if (!s || !sp || !(s->name = vsl_strdup_printf("%s(%s)", in->path, name))) {
		free(s);
		free(sp);
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	sp->map = in->map;
	sp->n = nparts;
	for (size_t i = 0; i < nparts; i++) {
		sp->ext[i].off = parts[i]->off;
		sp->ext[i].len = parts[i]->size;
	}
	s->ops = &ova_span_ops;
	s->ctx = ctx;
	s->flags = VSL_STREAM_RDONLY;
	s->priv = sp;
	*out = s;
	return 0;
}

void vsl_ova_member_hash(const struct ova_in *in, const struct ova_member *m, enum vsl_hash_alg alg,
			 char *hex)
{
	struct vsl_hash *h = vsl_hash_new(alg);
	uint64_t done = 0;

	while (h && done < m->size) {
		size_t c = (size_t)VSL_MIN(m->size - done, (uint64_t)8 << 20);

		vsl_hash_update(h, in->map + m->off + done, c);
		done += c;
	}
	if (h) {
		vsl_hash_final_hex(h, hex);
		vsl_hash_free(h);
	} else {
		hex[0] = 0;
	}
}
