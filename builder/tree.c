/*
 * An in-memory file tree: what goes into an initramfs, built without
 * touching the host's filesystem.
 *
 * Entries are a flat array of normalised paths ("bin/busybox"). Adding an
 * entry creates its missing parents. The tree enforces the rules that make
 * unpacking untrusted archives safe even if the tree were later written to a
 * real filesystem: no "..", no path through a symlink, no relative symlink
 * that climbs out of the root.
 *
 *	struct vsl_tree t;
 *	vsl_tree_init(&t);
 *	vsl_tree_add_file(ctx, &t, "/init", script, len, 0755);
 *	vsl_tree_sort(&t);  ... vsl_initramfs_write(...) ...
 *	vsl_tree_fini(&t);
 *
 * Lookups are linear: an initramfs holds hundreds of entries, not millions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/builder.h"

#define TREE_MAX_ENTRIES 200000
#define TREE_PATH_MAX 4096

void vsl_tree_init(struct vsl_tree *t)
{
	*t = (struct vsl_tree){ .max_bytes = 4ull << 30 };
}

static void tree_entry_free(struct vsl_tree_entry *e)
{
	free(e->path);
	free(e->data);
	free(e->target);
}

void vsl_tree_fini(struct vsl_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		tree_entry_free(&t->v[i]);
	free(t->v);
	*t = (struct vsl_tree){ 0 };
}

int vsl_tree_normpath(struct vsl_ctx *ctx, const char *path, bool allow_abs, char *out,
		      size_t len)
{
	const char *s = path;
	size_t o = 0;

	if (!allow_abs && path[0] == '/')
		return vsl_set_error(ctx, 0, VSL_EPERM, "'%s': absolute path", path);
	while (*s) {
		const char *e;
		size_t l;

		while (*s == '/')
			s++;
		if (!*s)
			break;
		e = strchr(s, '/');
		l = e ? (size_t)(e - s) : strlen(s);
		if (l == 1 && s[0] == '.') {
			s += l;
			continue;
		}
		if (l == 2 && s[0] == '.' && s[1] == '.')
			return vsl_set_error(ctx, 0, VSL_EPERM, "'%s': '..' in path", path);
		if (o + l + 2 > len)
			return vsl_set_error(ctx, 0, VSL_ERANGE, "'%.64s...': path too long", path);
		if (o)
			out[o++] = '/';
		memcpy(out + o, s, l);
		o += l;
		s += l;
	}
	if (!o)
		return vsl_set_error(ctx, 0, VSL_EINVAL, "'%s': empty path", path);
	out[o] = '\0';
	return 0;
}

struct vsl_tree_entry *vsl_tree_find(struct vsl_tree *t, const char *path)
{
	for (size_t i = t->n; i-- > 0;)
		if (!strcmp(t->v[i].path, path))
			return &t->v[i];
	return NULL;
}

/* Does a relative symlink at `path` pointing to `target` stay inside the root? */
static bool tree_link_inside(const char *path, const char *target)
{
	long depth = 0;
	const char *s;

	if (target[0] == '/')
		return true; /* resolved against the guest's root, which is the tree */
	for (s = path; *s; s++)
		if (*s == '/')
			depth++;
	for (s = target; *s;) {
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);

		if (l == 2 && s[0] == '.' && s[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (l && !(l == 1 && s[0] == '.')) {
			depth++;
		}
		s += l;
		if (*s)
			s++;
	}
	return true;
}

static struct vsl_tree_entry *tree_slot(struct vsl_ctx *ctx, struct vsl_tree *t)
{
	if (t->n >= TREE_MAX_ENTRIES) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "more than %d files", TREE_MAX_ENTRIES);
		return NULL;
	}
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		struct vsl_tree_entry *v = vsl_reallocarray(t->v, nc, sizeof(*v));
		if (!v) {
			vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "file tree");
			return NULL;
		}
		t->v = v;
		t->cap = nc;
	}
	return &t->v[t->n];
}

/*
 * Check the parents of norm: each must be absent or a directory (created
 * when absent). A symlink on the way is refused: following it is what lets
 * an archive write outside its root.
 */
static int tree_parents(struct vsl_ctx *ctx, struct vsl_tree *t, const char *norm)
{
	char buf[TREE_PATH_MAX];
	size_t l = strlen(norm);

	memcpy(buf, norm, l + 1);
	for (size_t i = 0; i < l; i++) {
		struct vsl_tree_entry *e, *slot;

		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		e = vsl_tree_find(t, buf);
		if (e && e->type == VSL_TREE_SYMLINK)
			return vsl_set_error(ctx, 0, VSL_EPERM, "'/%s' goes through the symbolic "
						"link '/%s'", norm, buf);
		if (e && e->type != VSL_TREE_DIR)
			return vsl_set_error(ctx, 0, VSL_EEXIST, "'/%s': '/%s' is a file, not a "
						"directory", norm, buf);
		if (!e) {
			if (!(slot = tree_slot(ctx, t)))
				return vsl_ctx_code(ctx);
			*slot = (struct vsl_tree_entry){ .path = strdup(buf), .type = VSL_TREE_DIR,
							 .mode = 0755 };
			if (!slot->path)
				return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "file tree");
			t->n++;
		}
		buf[i] = '/';
	}
	return 0;
}

/* Prepare an entry for norm: parents exist; an old non-dir entry is reset. */
static struct vsl_tree_entry *tree_put(struct vsl_ctx *ctx, struct vsl_tree *t,
				       const char *path, enum vsl_tree_type type)
{
	char norm[TREE_PATH_MAX];
	struct vsl_tree_entry *e;

	if (vsl_tree_normpath(ctx, path, true, norm, sizeof(norm)) < 0)
		return NULL;
	if (tree_parents(ctx, t, norm) < 0)
		return NULL;
	e = vsl_tree_find(t, norm);
	if (e) {
		if (e->type == VSL_TREE_DIR && type == VSL_TREE_DIR)
			return e;
		if (e->type == VSL_TREE_DIR) {
			vsl_set_error(ctx, 0, VSL_EEXIST, "'/%s' is a directory", norm);
			return NULL;
		}
		t->bytes -= e->size;
		free(e->data);
		free(e->target);
		e->data = NULL;
		e->target = NULL;
		e->size = 0;
		e->type = type;
		return e;
	}
	if (!(e = tree_slot(ctx, t)))
		return NULL;
	*e = (struct vsl_tree_entry){ .path = strdup(norm), .type = type };
	if (!e->path) {
		vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "file tree");
		return NULL;
	}
	t->n++;
	return e;
}

int vsl_tree_add_file(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path,
		      const void *data, size_t size, uint32_t mode)
{
	struct vsl_tree_entry *e;
	uint64_t max = t->max_bytes ? t->max_bytes : 4ull << 30;

	if (t->bytes + size > max)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "'%s': the file tree would exceed %llu "
					"MiB", path, (unsigned long long)(max >> 20));
	if (!(e = tree_put(ctx, t, path, VSL_TREE_FILE)))
		return vsl_ctx_code(ctx);
	e->mode = mode & 07777;
	if (size) {
		e->data = malloc(size);
		if (!e->data)
			return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "'%s'", path);
		memcpy(e->data, data, size);
	}
	e->size = size;
	t->bytes += size;
	return 0;
}

int vsl_tree_add_dir(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path, uint32_t mode)
{
	struct vsl_tree_entry *e = tree_put(ctx, t, path, VSL_TREE_DIR);

	if (!e)
		return vsl_ctx_code(ctx);
	e->mode = mode & 07777;
	return 0;
}

int vsl_tree_add_symlink(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path,
			 const char *target)
{
	char norm[TREE_PATH_MAX];
	struct vsl_tree_entry *e;

	if (!target[0])
		return vsl_set_error(ctx, 0, VSL_EINVAL, "'%s': empty symbolic link", path);
	if (vsl_tree_normpath(ctx, path, true, norm, sizeof(norm)) < 0)
		return vsl_ctx_code(ctx);
	if (!tree_link_inside(norm, target))
		return vsl_set_error(ctx, 0, VSL_EPERM, "symbolic link '/%s' -> '%s' points "
					"outside the root", norm, target);
	if (!(e = tree_put(ctx, t, norm, VSL_TREE_SYMLINK)))
		return vsl_ctx_code(ctx);
	e->mode = 0777;
	e->target = strdup(target);
	if (!e->target)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "file tree");
	return 0;
}

int vsl_tree_add_chr(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path, uint32_t mode,
		     uint32_t major, uint32_t minor)
{
	struct vsl_tree_entry *e = tree_put(ctx, t, path, VSL_TREE_CHR);

	if (!e)
		return vsl_ctx_code(ctx);
	e->mode = mode & 07777;
	e->rmajor = major;
	e->rminor = minor;
	return 0;
}

int vsl_tree_remove(struct vsl_ctx *ctx, struct vsl_tree *t, const char *path)
{
	char norm[TREE_PATH_MAX];
	size_t l, o = 0;
	bool found = false;

	if (vsl_tree_normpath(ctx, path, true, norm, sizeof(norm)) < 0)
		return vsl_ctx_code(ctx);
	l = strlen(norm);
	for (size_t i = 0; i < t->n; i++) {
		struct vsl_tree_entry *e = &t->v[i];

		if (!strcmp(e->path, norm) || (!strncmp(e->path, norm, l) && e->path[l] == '/')) {
			found = true;
			t->bytes -= e->size;
			tree_entry_free(e);
			continue;
		}
		t->v[o++] = *e;
	}
	t->n = o;
	if (!found)
		return vsl_set_error(ctx, 0, VSL_ENOENT, "'/%s': no such file", norm);
	return 0;
}

static int tree_cmp(const void *a, const void *b)
{
	return strcmp(((const struct vsl_tree_entry *)a)->path,
		      ((const struct vsl_tree_entry *)b)->path);
}

void vsl_tree_sort(struct vsl_tree *t)
{
	/*
	 * Byte order puts "a" before "a-b" before "a/b" ('-' < '/'), so a
	 * directory may not be immediately followed by its children, but it
	 * always comes before them, which is all cpio extraction needs.
	 */
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), tree_cmp);
}

static int tree_host_file(struct vsl_ctx *ctx, struct vsl_tree *t, const char *host,
			  const char *dest, const struct stat *st)
{
	uint64_t max = t->max_bytes ? t->max_bytes : 4ull << 30;
	uint8_t *data = NULL;
	size_t got = 0;
	int fd, rc;

	if ((uint64_t)st->st_size > max - VSL_MIN(max, t->bytes))
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "%s: too large (%lld bytes)", host,
				     (long long)st->st_size);
	fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return vsl_set_error(ctx, errno, VSL_EIO, "%s", host);
	data = malloc(st->st_size ? (size_t)st->st_size : 1);
	if (!data) {
		close(fd);
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", host);
	}
	while (got < (size_t)st->st_size) {
		ssize_t n = read(fd, data + got, (size_t)st->st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)st->st_size) {
		free(data);
		return vsl_set_error(ctx, errno, VSL_EIO, "read %s", host);
	}
	rc = vsl_tree_add_file(ctx, t, dest, data, got, st->st_mode & 07777);
	free(data);
	return rc;
}

static int tree_host(struct vsl_ctx *ctx, struct vsl_tree *t, const char *host,
		     const char *dest, int depth)
{
	struct stat st;
	int rc = 0;

	if (depth > 64)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: nested too deeply", host);
	if (lstat(host, &st) < 0)
		return vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO, "%s", host);
	if (S_ISREG(st.st_mode))
		return tree_host_file(ctx, t, host, dest, &st);
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(host, target, sizeof(target) - 1);
		if (n < 0)
			return vsl_set_error(ctx, errno, VSL_EIO, "readlink %s", host);
		target[n] = '\0';
		return vsl_tree_add_symlink(ctx, t, dest, target);
	}
	if (!S_ISDIR(st.st_mode))
		return vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s: not a file, directory or symbolic "
					"link", host);
	if (strcmp(dest, "/") && (rc = vsl_tree_add_dir(ctx, t, dest, st.st_mode & 07777)) < 0)
		return rc;
	{
		struct dirent **ents = NULL;
		int n = scandir(host, &ents, NULL, alphasort);

		if (n < 0)
			return vsl_set_error(ctx, errno, VSL_EIO, "%s", host);
		for (int i = 0; i < n; i++) {
			const char *name = ents[i]->d_name;
			if (rc == 0 && strcmp(name, ".") && strcmp(name, "..")) {
				char *h = vsl_strdup_printf("%s/%s", host, name);
				char *d = vsl_strdup_printf("%s/%s", dest, name);
				rc = h && d ? tree_host(ctx, t, h, d, depth + 1) :
					      vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", host);
				free(h);
				free(d);
			}
			free(ents[i]);
		}
		free(ents);
	}
	return rc;
}

int vsl_tree_add_host(struct vsl_ctx *ctx, struct vsl_tree *t, const char *host,
		      const char *dest)
{
	return tree_host(ctx, t, host, dest, 0);
}
