/*
 * Kernel modules for the initramfs, with their dependencies.
 *
 * Debian's linux-image packages do not ship modules.dep (depmod generates it
 * in the package's postinst), so the dependency graph is read where depmod
 * reads it: the "depends=" string of each module's .modinfo ELF section
 * (libelf on the module's bytes in memory), plus "softdep=" (ext4 pulls in
 * crc32c that way, by a name found in other modules' "alias=" entries).
 * .ko.xz modules are decompressed with libarchive first; Debian 12's 6.1
 * kernel ships plain .ko files.
 *
 * The closure is added under lib/modules/VERSION/ with the package's own
 * relative paths; modules.dep (for modprobe) and etc/vessel/modules (the
 * insmod order, dependencies first, for a plain init script) are written.
 */
#include <archive.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/builder.h"

#define MOD_MAX_DEPTH 64

struct strlist {
	char **v;
	size_t n;
};

struct mod {
	char *name;      /* normalised: '-' -> '_' */
	char *relpath;   /* kernel/fs/ext4/ext4.ko, relative to lib/modules/VERSION */
	struct vsl_tree_entry *e;
	struct strlist deps, soft, aliases;
	bool info_read;
	int state;       /* 0 new, 1 visiting, 2 done */
	uint8_t *raw;    /* decompressed .ko.xz */
	size_t rawlen;
};

struct modset {
	struct mod *v;
	size_t n;
	char version[256];
	char *builtin;   /* modules.builtin contents */
};

static void mod_norm(char *s)
{
	for (; *s; s++)
		if (*s == '-')
			*s = '_';
}

/* The module name of ".../foo-bar.ko[.xz]": "foo_bar". */
static char *mod_name_of(const char *path)
{
	const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	const char *dot = strstr(b, ".ko");
	char *n = dot ? strndup(b, (size_t)(dot - b)) : NULL;

	if (n)
		mod_norm(n);
	return n;
}

static int mod_xz(struct vsl_ctx *ctx, struct mod *m)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	size_t cap = 1 << 20;
	int rc = 0;

	if (!a)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", m->relpath);
	archive_read_support_filter_xz(a);
	archive_read_support_format_raw(a);
	m->raw = malloc(cap);
	if (!m->raw || archive_read_open_memory(a, m->e->data, m->e->size) != ARCHIVE_OK ||
	    archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		rc = vsl_set_error(ctx, 0, VSL_ECORRUPT, "module %s: %s", m->relpath,
				   archive_error_string(a));
		goto out;
	}
	for (;;) {
		la_ssize_t n;

		if (m->rawlen == cap) {
			uint8_t *nb;
			if (cap >= (256u << 20)) {
				rc = vsl_set_error(ctx, 0, VSL_ERANGE, "module %s: too large",
						   m->relpath);
				goto out;
			}
			nb = realloc(m->raw, cap * 2);
			if (!nb) {
				rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", m->relpath);
				goto out;
			}
			m->raw = nb;
			cap *= 2;
		}
		n = archive_read_data(a, m->raw + m->rawlen, cap - m->rawlen);
		if (n < 0) {
			rc = vsl_set_error(ctx, 0, VSL_ECORRUPT, "module %s: %s", m->relpath,
					   archive_error_string(a));
			goto out;
		}
		if (n == 0)
			break;
		m->rawlen += (size_t)n;
	}
out:
	archive_read_free(a);
	return rc;
}

static int strlist_add(struct strlist *l, const char *s, size_t len)
{
	char **nv = vsl_reallocarray(l->v, l->n + 1, sizeof(*nv));

	if (!nv)
		return -1;
	l->v = nv;
	if (!(nv[l->n] = strndup(s, len)))
		return -1;
	mod_norm(nv[l->n++]);
	return 0;
}

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* Split s[0..len) at any of seps into l, skipping words in skip[]. */
static int strlist_split(struct strlist *l, const char *s, size_t len, const char *seps,
			 const char *const *skip)
{
	for (size_t i = 0; i < len;) {
		size_t w = 0;
		bool skipped = false;

		while (i < len && strchr(seps, s[i]))
			i++;
		while (i + w < len && !strchr(seps, s[i + w]))
			w++;
		for (size_t k = 0; skip && skip[k]; k++)
			if (strlen(skip[k]) == w && !strncmp(skip[k], s + i, w))
				skipped = true;
		if (w && !skipped && strlist_add(l, s + i, w) < 0)
			return -1;
		i += w;
	}
	return 0;
}

/*
 * Read the module's .modinfo once: "depends=" (hard dependencies),
 * "softdep=pre: a b post: c" (loaded with it: ext4 needs crc32c this way)
 * and "alias=" (names such as "crc32c" that a softdep may use).
 */
static int mod_read_info(struct vsl_ctx *ctx, struct mod *m)
{
	static const char *const softwords[] = { "pre:", "post:", NULL };
	const uint8_t *img = m->e->data;
	size_t len = m->e->size;
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	int rc = 0;

	if (m->info_read)
		return 0;
	m->info_read = true;
	if (strstr(m->relpath, ".ko.xz")) {
		if ((rc = mod_xz(ctx, m)) < 0)
			return rc;
		img = m->raw;
		len = m->rawlen;
	}
	elf = elf_memory((char *)img, len);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx) != 0) {
		rc = vsl_set_error(ctx, 0, VSL_ECORRUPT, "module %s: not an ELF object: %s",
				   m->relpath, elf_errmsg(-1));
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *sname;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			continue;
		sname = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!sname || strcmp(sname, ".modinfo"))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf)
			break;
		for (size_t o = 0; o < d->d_size;) {
			const char *s = (const char *)d->d_buf + o;
			size_t l = strnlen(s, d->d_size - o);
			int r = 0;

			if (l > 8 && !strncmp(s, "depends=", 8))
				r = strlist_split(&m->deps, s + 8, l - 8, ",", NULL);
			else if (l > 8 && !strncmp(s, "softdep=", 8))
				r = strlist_split(&m->soft, s + 8, l - 8, " ", softwords);
			else if (l > 6 && !strncmp(s, "alias=", 6) && !memchr(s, '*', l))
				r = strlist_add(&m->aliases, s + 6, l - 6);
			if (r < 0) {
				rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "modules");
				goto out;
			}
			o += l + 1;
		}
		break;
	}
out:
	if (elf)
		elf_end(elf);
	return rc;
}

static struct mod *mod_find(struct modset *ms, const char *name)
{
	for (size_t i = 0; i < ms->n; i++)
		if (!strcmp(ms->v[i].name, name))
			return &ms->v[i];
	return NULL;
}

static bool mod_builtin(struct modset *ms, const char *name)
{
	const char *s = ms->builtin;

	while (s && *s) {
		const char *e = strchr(s, '\n');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		char line[512];

		if (l < sizeof(line)) {
			char *n;
			memcpy(line, s, l);
			line[l] = '\0';
			n = mod_name_of(line);
			if (n && !strcmp(n, name)) {
				free(n);
				return true;
			}
			free(n);
		}
		s += l + (e ? 1 : 0);
	}
	return false;
}

/*
 * A module providing `name` through an alias ("crc32c" -> crc32c_generic);
 * reads every module's .modinfo the first time (they are all in memory).
 * Generic implementations win over CPU-specific ones.
 */
static struct mod *mod_by_alias(struct vsl_ctx *ctx, struct modset *ms, const char *name)
{
	struct mod *best = NULL;
	char crypto[300];

	snprintf(crypto, sizeof(crypto), "crypto_%s", name);
	for (size_t i = 0; i < ms->n; i++) {
		struct mod *m = &ms->v[i];

		if (mod_read_info(ctx, m) < 0) {
			vsl_ctx_clear(ctx); /* an unreadable module provides nothing */
			continue;
		}
		for (size_t j = 0; j < m->aliases.n; j++) {
			if (strcmp(m->aliases.v[j], name) && strcmp(m->aliases.v[j], crypto))
				continue;
			if (!best || (strstr(m->name, "generic") && !strstr(best->name, "generic")))
				best = m;
		}
	}
	return best;
}

/* Depth-first: dependencies land in order before the module itself. */
static int mod_visit(struct vsl_ctx *ctx, struct modset *ms, struct mod *m, struct mod ***order,
		     size_t *norder, int depth)
{
	int rc;

	if (m->state == 2)
		return 0;
	if (m->state == 1 || depth > MOD_MAX_DEPTH)
		return vsl_set_error(ctx, 0, VSL_ECORRUPT, "module %s: circular dependencies",
				     m->name);
	m->state = 1;
	if ((rc = mod_read_info(ctx, m)) < 0)
		return rc;
	for (size_t i = 0; i < m->deps.n; i++) {
		struct mod *d = mod_find(ms, m->deps.v[i]);

		if (!d) {
			if (mod_builtin(ms, m->deps.v[i]))
				continue;
			return vsl_set_error(ctx, 0, VSL_ENOENT, "module %s needs %s, which the "
						"kernel package does not have", m->name, m->deps.v[i]);
		}
		if ((rc = mod_visit(ctx, ms, d, order, norder, depth + 1)) < 0)
			return rc;
	}
	/* soft dependencies: wanted, not required (built in, or optional) */
	for (size_t i = 0; i < m->soft.n; i++) {
		struct mod *d = mod_find(ms, m->soft.v[i]);

		if (!d && !mod_builtin(ms, m->soft.v[i]))
			d = mod_by_alias(ctx, ms, m->soft.v[i]);
		if (d && d->state == 0 && (rc = mod_visit(ctx, ms, d, order, norder, depth + 1)) < 0)
			return rc;
	}
	m->state = 2;
	(*order)[(*norder)++] = m;
	return 0;
}

static int mod_emit(struct vsl_ctx *ctx, struct modset *ms, struct mod **order, size_t n,
		    struct vsl_tree *t)
{
	size_t cap = 4096, len = 0, lcap = 4096, llen = 0;
	char *dep = malloc(cap), *list = malloc(lcap);
	char path[4096];
	int rc = 0;

	if (!dep || !list) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "modules");
		goto out;
	}
	dep[0] = list[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		struct mod *m = order[i];
		size_t need = strlen(m->relpath) + 4;

		snprintf(path, sizeof(path), "lib/modules/%s/%s", ms->version, m->relpath);
		if ((rc = vsl_tree_add_file(ctx, t, path, m->e->data, m->e->size, 0644)) < 0)
			goto out;
		for (size_t j = 0; j < m->deps.n; j++) {
			struct mod *d = mod_find(ms, m->deps.v[j]);
			need += d ? strlen(d->relpath) + 1 : 0;
		}
		while (len + need + 1 > cap || llen + strlen(m->relpath) + 2 > lcap) {
			char *a = realloc(dep, cap * 2), *b;
			if (!a) {
				rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "modules");
				goto out;
			}
			dep = a;
			cap *= 2;
			b = realloc(list, lcap * 2);
			if (!b) {
				rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "modules");
				goto out;
			}
			list = b;
			lcap *= 2;
		}
		len += (size_t)sprintf(dep + len, "%s:", m->relpath);
		/* modules.dep lists the full closure, nearest first; ours is per module */
		for (size_t j = 0; j < m->deps.n; j++) {
			struct mod *d = mod_find(ms, m->deps.v[j]);
			if (d)
				len += (size_t)sprintf(dep + len, " %s", d->relpath);
		}
		dep[len++] = '\n';
		dep[len] = '\0';
		llen += (size_t)sprintf(list + llen, "%s\n", m->relpath);
	}
	snprintf(path, sizeof(path), "lib/modules/%s/modules.dep", ms->version);
	if ((rc = vsl_tree_add_file(ctx, t, path, dep, len, 0644)) < 0)
		goto out;
	rc = vsl_tree_add_file(ctx, t, "etc/vessel/modules", list, llen, 0644);
out:
	free(dep);
	free(list);
	return rc;
}

int vsl_modules_add(struct vsl_ctx *ctx, struct vsl_tree *kpkg, const char *const *names,
		    size_t n, struct vsl_tree *t, char ***missing_out)
{
	struct modset ms = { 0 };
	struct mod **order = NULL;
	size_t norder = 0;
	int rc = 0;

	if (missing_out)
		*missing_out = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return vsl_set_error(ctx, 0, VSL_ENOTSUP, "libelf: %s", elf_errmsg(-1));
	ms.v = vsl_calloc(kpkg->n + 1, sizeof(*ms.v));
	if (!ms.v)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "modules");
	/* index lib/modules/VERSION/...ko[.xz] */
	for (size_t i = 0; i < kpkg->n; i++) {
		struct vsl_tree_entry *e = &kpkg->v[i];
		const char *p = e->path, *rest;
		size_t vl;

		if (strncmp(p, "lib/modules/", 12))
			continue;
		rest = strchr(p + 12, '/');
		if (!rest)
			continue;
		vl = (size_t)(rest - (p + 12));
		if (!ms.version[0] && vl < sizeof(ms.version))
			memcpy(ms.version, p + 12, vl);
		if (e->type != VSL_TREE_FILE)
			continue;
		if (!strcmp(rest + 1, "modules.builtin")) {
			free(ms.builtin);
			ms.builtin = strndup((const char *)e->data, e->size);
			continue;
		}
		if (!(strlen(rest) > 3 && (!strcmp(rest + strlen(rest) - 3, ".ko") ||
					   strstr(rest, ".ko.xz"))))
			continue;
		ms.v[ms.n] = (struct mod){ .name = mod_name_of(rest), .relpath = strdup(rest + 1),
					   .e = e };
		if (!ms.v[ms.n].name || !ms.v[ms.n].relpath) {
			free(ms.v[ms.n].name);
			free(ms.v[ms.n].relpath);
			rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "modules");
			goto out;
		}
		ms.n++;
	}
	if (!ms.version[0]) {
		rc = vsl_set_error(ctx, 0, VSL_ENOENT, "the kernel package has no lib/modules");
		goto out;
	}
	order = vsl_calloc(ms.n + 1, sizeof(*order));
	if (!order) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "modules");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char name[256];
		struct mod *m;

		snprintf(name, sizeof(name), "%s", names[i]);
		mod_norm(name);
		m = mod_find(&ms, name);
		if (!m) {
			if (mod_builtin(&ms, name))
				continue; /* built into the kernel: nothing to load */
			rc = vsl_set_error(ctx, 0, VSL_ENOENT, "kernel %s has no module '%s'",
					   ms.version, names[i]);
			if (missing_out) {
				char **mv = calloc(2, sizeof(*mv));
				if (mv && (mv[0] = strdup(names[i])))
					*missing_out = mv;
				else
					free(mv);
			}
			goto out;
		}
		if ((rc = mod_visit(ctx, &ms, m, &order, &norder, 0)) < 0)
			goto out;
	}
	rc = mod_emit(ctx, &ms, order, norder, t);
out:
	for (size_t i = 0; i < ms.n; i++) {
		free(ms.v[i].name);
		free(ms.v[i].relpath);
		strlist_free(&ms.v[i].deps);
		strlist_free(&ms.v[i].soft);
		strlist_free(&ms.v[i].aliases);
		free(ms.v[i].raw);
	}
	free(ms.v);
	free(ms.builtin);
	free(order);
	return rc;
}
