/*
 * Bundles on disk: problem lists, the config's lifecycle, safe path
 * resolution, MANIFEST writing and verification, and vsl_bundle_load()
 * which ties them to the vessel.yaml parser in bundle_yaml.c.
 *
 * Loading never stops at the first problem: vessel.yaml is validated as a
 * whole, then the file tree is walked once (sorted, lstat, no symlinks
 * followed) and compared against MANIFEST, and every mismatch is appended
 * to the caller's struct vsl_problems. Only the CLI prints them.
 *
 *	vsl_problems_init(&pr);
 *	r = vsl_bundle_load(ctx, "web.vessel", 0, &cfg, &pr);
 *	-> pr.items[i] = { "disks/root.qcow2", 0, 0, ERROR,
 *	                   "content does not match MANIFEST (...)" }
 *
 * Path safety: a path from vessel.yaml is first checked for syntax (not
 * empty, relative, no ".." component), then opened with openat2() and
 * RESOLVE_BENEATH, which makes the kernel refuse any resolution that leaves
 * the bundle directory (symlinks included); then realpath() of the result
 * must still lie under realpath() of the bundle. The second check alone is
 * the fallback on kernels without openat2 (ENOSYS).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "formats/bundle_priv.h"
#include "vessel/bundle.h"
#include "vessel/hash.h"

#define BUNDLE_WALK_MAX_FILES 100000   /* a bundle holds a handful of files */
#define BUNDLE_WALK_MAX_DEPTH 16
#define BUNDLE_MANIFEST_MAX (16u << 20)

/* ---- problems ---- */

void vsl_problems_init(struct vsl_problems *p)
{
	*p = (struct vsl_problems){ 0 };
}

void vsl_problems_fini(struct vsl_problems *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->count; i++) {
		free(p->items[i].file);
		free(p->items[i].message);
	}
	free(p->items);
	*p = (struct vsl_problems){ 0 };
}

int vsl_problems_add(struct vsl_problems *p, enum vsl_problem_severity sev, const char *file,
		     int line, int col, const char *fmt, ...)
{
	struct vsl_problem pr = { .line = line, .col = col, .severity = sev };
	va_list ap;

	if (!p)
		return 0;
	if (p->count == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 8;
		struct vsl_problem *n = vsl_reallocarray(p->items, ncap, sizeof(*n));
		if (!n)
			return VSL_ENOMEM;
		p->items = n;
		p->cap = ncap;
	}
	pr.file = strdup(file ? file : "");
	va_start(ap, fmt);
	if (vasprintf(&pr.message, fmt, ap) < 0)
		pr.message = NULL;
	va_end(ap);
	if (!pr.file || !pr.message) {
		free(pr.file);
		free(pr.message);
		return VSL_ENOMEM;
	}
	p->items[p->count++] = pr;
	if (sev == VSL_PROBLEM_ERROR)
		p->errors++;
	return 0;
}

char *vsl_problem_format(const struct vsl_problem *pr, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (pr->file && *pr->file) {
		if (pr->line > 0 && pr->col > 0)
			n = (size_t)snprintf(buf, len, "%s:%d:%d: ", pr->file, pr->line, pr->col);
		else if (pr->line > 0)
			n = (size_t)snprintf(buf, len, "%s:%d: ", pr->file, pr->line);
		else
			n = (size_t)snprintf(buf, len, "%s: ", pr->file);
	}
	if (n < len)
		snprintf(buf + n, len - n, "%s%s",
			 pr->severity == VSL_PROBLEM_WARNING ? "warning: " : "", pr->message);
	return buf;
}

/* ---- the config ---- */

void vsl_bundle_config_init(struct vsl_bundle_config *cfg)
{
	*cfg = (struct vsl_bundle_config){
		.schema = VSL_BUNDLE_SCHEMA,
		.serial = { .port = 1, .output = VSL_SERIAL_STDIO },
	};
}

void vsl_bundle_config_free(struct vsl_bundle_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->name);
	free(cfg->arch);
	free(cfg->boot.kernel);
	free(cfg->boot.initrd);
	free(cfg->boot.cmdline);
	free(cfg->boot.disk);
	for (size_t i = 0; i < cfg->ndisks; i++) {
		free(cfg->disks[i].name);
		free(cfg->disks[i].file);
		free(cfg->disks[i].format);
	}
	free(cfg->disks);
	for (size_t i = 0; i < cfg->nnics; i++) {
		free(cfg->nics[i].model);
		for (size_t j = 0; j < cfg->nics[i].nforwards; j++)
			free(cfg->nics[i].forwards[j].host_addr);
		free(cfg->nics[i].forwards);
	}
	free(cfg->nics);
	free(cfg->guest.os);
	free(cfg->guest.distro);
	free(cfg->guest.version);
	free(cfg->guest.product);
	free(cfg->provenance.recipe);
	free(cfg->provenance.recipe_digest);
	free(cfg->provenance.vessel_version);
	for (size_t i = 0; i < cfg->provenance.nsources; i++) {
		free(cfg->provenance.sources[i].uri);
		free(cfg->provenance.sources[i].sha256);
	}
	free(cfg->provenance.sources);
	vsl_bundle_config_init(cfg);
}

/* Grow *arr (of *n elements of size sz) by one zeroed element; returns it. */
static void *bundle_grow(void **arr, size_t *n, size_t sz)
{
	char *p = vsl_reallocarray(*arr, *n + 1, sz);

	if (!p)
		return NULL;
	*arr = p;
	memset(p + *n * sz, 0, sz);
	return p + (*n)++ * sz;
}

struct vsl_bundle_disk *vsl_bundle_config_add_disk(struct vsl_bundle_config *cfg)
{
	return bundle_grow((void **)&cfg->disks, &cfg->ndisks, sizeof(*cfg->disks));
}

struct vsl_bundle_nic *vsl_bundle_config_add_nic(struct vsl_bundle_config *cfg)
{
	return bundle_grow((void **)&cfg->nics, &cfg->nnics, sizeof(*cfg->nics));
}

struct vsl_bundle_forward *vsl_bundle_nic_add_forward(struct vsl_bundle_nic *nic)
{
	return bundle_grow((void **)&nic->forwards, &nic->nforwards, sizeof(*nic->forwards));
}

struct vsl_bundle_source *vsl_bundle_config_add_source(struct vsl_bundle_config *cfg)
{
	return bundle_grow((void **)&cfg->provenance.sources, &cfg->provenance.nsources,
			   sizeof(*cfg->provenance.sources));
}

const struct vsl_bundle_disk *vsl_bundle_config_disk(const struct vsl_bundle_config *cfg,
						      const char *name)
{
	for (size_t i = 0; name && i < cfg->ndisks; i++)
		if (cfg->disks[i].name && !strcmp(cfg->disks[i].name, name))
			return &cfg->disks[i];
	return NULL;
}

const char *vsl_bundle_bus_name(enum vsl_disk_bus bus)
{
	return bus == VSL_DISK_BUS_IDE ? "ide" : "virtio";
}

const char *vsl_bundle_firmware_name(enum vsl_firmware fw)
{
	return fw == VSL_FIRMWARE_UEFI ? "uefi" : "bios";
}

const char *vsl_bundle_net_mode_name(enum vsl_net_mode mode)
{
	return mode == VSL_NET_NONE ? "none" : "user";
}

const char *vsl_bundle_proto_name(enum vsl_net_proto proto)
{
	return proto == VSL_NET_UDP ? "udp" : "tcp";
}

const char *vsl_bundle_serial_output_name(enum vsl_serial_output out)
{
	return out == VSL_SERIAL_NONE ? "none" : "stdio";
}

bool bundle_name_ok(const char *s)
{
	size_t n;

	if (!s || !*s)
		return false;
	n = strlen(s);
	if (n > VSL_BUNDLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

bool vsl_bundle_guest_str_ok(const char *s)
{
	size_t n;

	if (!s || !*s)
		return false;
	n = strlen(s);
	if (n > VSL_BUNDLE_GUEST_STR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* ---- paths ---- */

int vsl_bundle_check_relpath(struct vsl_ctx *ctx, const char *rel)
{
	const char *p;

	if (!rel || !*rel)
		return vsl_set_error(ctx, 0, VSL_EPERM, "empty path");
	if (rel[0] == '/')
		return vsl_set_error(ctx, 0, VSL_EPERM,
				     "'%s' is absolute; paths are relative to the bundle directory", rel);
	if (strlen(rel) >= PATH_MAX)
		return vsl_set_error(ctx, 0, VSL_EPERM, "path is too long");
	for (p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return vsl_set_error(ctx, 0, VSL_EPERM, "'%s' leaves the bundle ('..')", rel);
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

/* Is path equal to root or below it? Both are canonical (realpath). */
static bool bundle_path_within(const char *root, const char *path)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return true;
	return !strncmp(root, path, n) && (path[n] == '/' || path[n] == '\0');
}

/* The kernel's answer: 0 beneath, 1 openat2 unavailable, else VSL_E*. */
static int bundle_resolve_openat2(struct vsl_ctx *ctx, const char *dir, const char *rel)
{
#ifdef SYS_openat2
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int dfd, fd, e;

	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO,
				     "open bundle %s", dir);
	fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	e = errno;
	close(dfd);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	switch (e) {
	case ENOSYS:
	case EPERM: /* seccomp filters commonly answer EPERM for unknown syscalls */
		return 1;
	case EXDEV:
		return vsl_set_error(ctx, 0, VSL_EPERM,
				     "'%s' leads outside the bundle through a symbolic link", rel);
	case ELOOP:
		return vsl_set_error(ctx, 0, VSL_EPERM, "'%s': too many symbolic links", rel);
	case ENOENT:
		return vsl_set_error(ctx, 0, VSL_ENOENT, "'%s' does not exist", rel);
	case ENOTDIR:
		return vsl_set_error(ctx, 0, VSL_ENOENT, "'%s': a component is not a directory", rel);
	default:
		return vsl_set_error(ctx, e, VSL_EIO, "'%s'", rel);
	}
#else
	return 1;
#endif
}

int vsl_bundle_resolve_path_ex(struct vsl_ctx *ctx, const char *dir, const char *rel, int flags,
			       char **abs)
{
	char *root = NULL, *joined = NULL, *real = NULL;
	int r;

	*abs = NULL;
	r = vsl_bundle_check_relpath(ctx, rel);
	if (r < 0)
		return r;
	if (!(flags & VSL_RESOLVE_NO_OPENAT2)) {
		r = bundle_resolve_openat2(ctx, dir, rel);
		if (r < 0)
			return r;
	}
	root = realpath(dir, NULL);
	if (!root)
		return vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO,
				     "bundle %s", dir);
	joined = vsl_strdup_printf("%s/%s", root, rel);
	if (!joined) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	real = realpath(joined, NULL);
	if (!real) {
		if (errno == ENOENT || errno == ENOTDIR) {
			/* a dangling link may still point outside: say so if it does */
			struct stat st;
			if (lstat(joined, &st) == 0 && S_ISLNK(st.st_mode))
				r = vsl_set_error(ctx, 0, VSL_ENOENT,
						  "'%s' is a dangling symbolic link", rel);
			else
				r = vsl_set_error(ctx, 0, VSL_ENOENT, "'%s' does not exist", rel);
		} else if (errno == ELOOP) {
			r = vsl_set_error(ctx, 0, VSL_EPERM, "'%s': too many symbolic links", rel);
		} else {
			r = vsl_set_error(ctx, errno, VSL_EIO, "'%s'", rel);
		}
		goto out;
	}
	if (!bundle_path_within(root, real) || !strcmp(root, real)) {
		r = vsl_set_error(ctx, 0, VSL_EPERM,
				  "'%s' leads outside the bundle through a symbolic link", rel);
		goto out;
	}
	*abs = real;
	real = NULL;
	r = 0;
out:
	free(real);
	free(joined);
	free(root);
	return r;
}

int vsl_bundle_resolve_path(struct vsl_ctx *ctx, const char *dir, const char *rel, char **abs)
{
	return vsl_bundle_resolve_path_ex(ctx, dir, rel, 0, abs);
}

/* ---- creating ---- */

int vsl_bundle_create(struct vsl_ctx *ctx, const char *dir)
{
	static const char *const subdirs[] = { "disks", "boot" };

	if (mkdir(dir, 0755) < 0)
		return vsl_set_error(ctx, errno, errno == EEXIST ? VSL_EEXIST : VSL_EIO,
				     "create bundle %s", dir);
	for (size_t i = 0; i < VSL_ARRAY_SIZE(subdirs); i++) {
		char *p = vsl_strdup_printf("%s/%s", dir, subdirs[i]);
		int r = 0;

		if (!p)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		if (mkdir(p, 0755) < 0)
			r = vsl_set_error(ctx, errno, VSL_EIO, "create %s", p);
		free(p);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the file tree ---- */

struct bundle_files {
	char **paths;      /* relative, '/'-separated; sorted after the walk */
	size_t n;
};

static void bundle_files_free(struct bundle_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->paths[i]);
	free(f->paths);
	*f = (struct bundle_files){ 0 };
}

static int bundle_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Collect every regular file under dir/rel (rel "" = the top), except the
 * top-level MANIFEST. A symbolic link or special file is a problem (when
 * probs is given) or an error (when it is NULL: the writer refuses them).
 */
static int bundle_walk(struct vsl_ctx *ctx, const char *dir, const char *rel, int depth,
		       struct bundle_files *out, struct vsl_problems *probs)
{
	char *path = *rel ? vsl_strdup_printf("%s/%s", dir, rel) : strdup(dir);
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!path)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	d = opendir(path);
	if (!d) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "open directory %s", path);
		free(path);
		return r;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		char *sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!*rel && !strcmp(de->d_name, VSL_BUNDLE_MANIFEST))
			continue;
		sub = *rel ? vsl_strdup_printf("%s/%s", rel, de->d_name) : strdup(de->d_name);
		if (!sub) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = vsl_set_error(ctx, errno, VSL_EIO, "stat %s/%s", dir, sub);
		} else if (S_ISDIR(st.st_mode)) {
			if (depth >= BUNDLE_WALK_MAX_DEPTH)
				r = vsl_set_error(ctx, 0, VSL_ERANGE,
						  "%s: directories nested deeper than %d levels", sub,
						  BUNDLE_WALK_MAX_DEPTH);
			else
				r = bundle_walk(ctx, dir, sub, depth + 1, out, probs);
		} else if (S_ISREG(st.st_mode)) {
			if (out->n >= BUNDLE_WALK_MAX_FILES) {
				r = vsl_set_error(ctx, 0, VSL_ERANGE, "more than %d files in the bundle",
						  BUNDLE_WALK_MAX_FILES);
			} else {
				char **n = vsl_reallocarray(out->paths, out->n + 1, sizeof(*n));
				if (!n) {
					r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
				} else {
					out->paths = n;
					out->paths[out->n++] = sub;
					sub = NULL;
				}
			}
		} else {
			const char *what = S_ISLNK(st.st_mode) ? "symbolic link" : "special file";
			if (probs)
				r = vsl_problems_add(probs, VSL_PROBLEM_ERROR, sub, 0, 0,
						     "%s: bundles hold regular files only", what);
			else
				r = vsl_set_error(ctx, 0, VSL_EPERM,
						  "%s is a %s: bundles hold regular files only", sub, what);
		}
		free(sub);
	}
	closedir(d);
	free(path);
	return r;
}

static int bundle_list_files(struct vsl_ctx *ctx, const char *dir, struct bundle_files *out,
			     struct vsl_problems *probs)
{
	int r = bundle_walk(ctx, dir, "", 0, out, probs);

	if (r < 0) {
		bundle_files_free(out);
		return r;
	}
	if (out->n)
		qsort(out->paths, out->n, sizeof(*out->paths), bundle_cmp_str);
	return 0;
}

/* Write data to dir/name through dir/name.tmp + fsync + rename. */
int bundle_write_file(struct vsl_ctx *ctx, const char *dir, const char *name,
			     const char *data, size_t len)
{
	char *tmp = vsl_strdup_printf("%s/%s.tmp", dir, name);
	char *dst = vsl_strdup_printf("%s/%s", dir, name);
	int fd = -1, r = 0;

	if (!tmp || !dst) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "create %s", tmp);
		goto out;
	}
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = vsl_set_error(ctx, errno, VSL_EIO, "write %s", tmp);
			goto out;
		}
		data += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "fsync %s", tmp);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = vsl_set_error(ctx, errno, VSL_EIO, "close %s", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) < 0)
		r = vsl_set_error(ctx, errno, VSL_EIO, "rename %s", tmp);
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(dst);
	return r;
}

/* ---- MANIFEST ---- */

int vsl_bundle_write_manifest(struct vsl_ctx *ctx, const char *dir)
{
	struct bundle_files files = { 0 };
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r;

	r = bundle_list_files(ctx, dir, &files, NULL);
	if (r < 0)
		return r;
	for (size_t i = 0; i < files.n; i++) {
		char hex[VSL_HASH_HEX_MAX], *p;
		size_t need;

		if (strchr(files.paths[i], '\n')) {
			r = vsl_set_error(ctx, 0, VSL_EINVAL, "file name with a newline: %s",
					  files.paths[i]);
			goto out;
		}
		p = vsl_strdup_printf("%s/%s", dir, files.paths[i]);
		if (!p) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto out;
		}
		r = vsl_hash_file(ctx, VSL_HASH_SHA256, p, hex);
		free(p);
		if (r < 0)
			goto out;
		need = strlen(files.paths[i]) + 64 + 16;
		if (len + need + 1 > cap) {
			char *n = realloc(buf, cap * 2 + need + 1);
			if (!n) {
				r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
				goto out;
			}
			buf = n;
			cap = cap * 2 + need + 1;
		}
		len += (size_t)snprintf(buf + len, cap - len, "SHA256 (%s) = %s\n", files.paths[i], hex);
	}
	r = bundle_write_file(ctx, dir, VSL_BUNDLE_MANIFEST, buf ? buf : "", len);
out:
	free(buf);
	bundle_files_free(&files);
	return r;
}

struct manifest_entry {
	char *path;
	char hex[65];
	int line;
	bool seen;         /* found in the tree */
};

static int bundle_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct manifest_entry *)a)->path,
		      ((const struct manifest_entry *)b)->path);
}

static bool bundle_is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

/* Read the whole of a regular file of at most max bytes (NUL-terminated). */
static int bundle_read_small(struct vsl_ctx *ctx, const char *dir, const char *name, size_t max,
			     char **data, size_t *len)
{
	char *path = vsl_strdup_printf("%s/%s", dir, name), *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd, r = 0;

	*data = NULL;
	*len = 0;
	if (!path)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = vsl_set_error(ctx, errno == ELOOP ? 0 : errno,
				  errno == ENOENT ? VSL_ENOENT : errno == ELOOP ? VSL_EPERM : VSL_EIO,
				  errno == ELOOP ? "is a symbolic link" : "open");
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = vsl_set_error(ctx, 0, VSL_ERANGE, "larger than %zu bytes", max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = vsl_set_error(ctx, errno, VSL_EIO, "read");
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return r;
}

/* Parse MANIFEST text into entries; malformed lines become problems. */
static int bundle_parse_manifest(char *text, size_t len, struct manifest_entry **out, size_t *nout,
				 struct vsl_problems *probs)
{
	struct manifest_entry *ents = NULL;
	size_t n = 0;
	int lineno = 0;
	char *p = text, *end = text + len;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *line = p, *close;
		size_t ll;

		lineno++;
		if (!nl) {
			vsl_problems_add(probs, VSL_PROBLEM_ERROR, VSL_BUNDLE_MANIFEST, lineno, 0,
					 "last line does not end with a newline");
			nl = end;
		}
		*nl = '\0';
		p = nl + 1;
		ll = strlen(line);
		if (ll != (size_t)(nl - line)) {
			vsl_problems_add(probs, VSL_PROBLEM_ERROR, VSL_BUNDLE_MANIFEST, lineno, 0,
					 "NUL byte in line");
			continue;
		}
		/* SHA256 (PATH) = HEX: parse from both ends, PATH may hold anything but \n */
		if (ll < 8 + 4 + 64 || strncmp(line, "SHA256 (", 8) ||
		    strncmp(line + ll - 64 - 4, ") = ", 4) || !bundle_is_hex64(line + ll - 64)) {
			vsl_problems_add(probs, VSL_PROBLEM_ERROR, VSL_BUNDLE_MANIFEST, lineno, 0,
					 "malformed line (expected 'SHA256 (path) = <64 lowercase hex "
					 "digits>')");
			continue;
		}
		close = line + ll - 64 - 4;
		*close = '\0';
		if (vsl_bundle_check_relpath(NULL, line + 8) < 0 || !strcmp(line + 8, "MANIFEST") ||
		    strstr(line + 8, "//") || close[-1] == '/' || !strncmp(line + 8, "./", 2)) {
			vsl_problems_add(probs, VSL_PROBLEM_ERROR, VSL_BUNDLE_MANIFEST, lineno, 0,
					 "invalid path '%s'", line + 8);
			continue;
		}
		struct manifest_entry *e = bundle_grow((void **)&ents, &n, sizeof(*ents));
		if (!e)
			goto nomem;
		e->path = strdup(line + 8);
		if (!e->path) {
			n--;
			goto nomem;
		}
		memcpy(e->hex, close + 4, 65);
		e->line = lineno;
	}
	if (n)
		qsort(ents, n, sizeof(*ents), bundle_entry_cmp);
	*out = ents;
	*nout = n;
	return 0;
nomem:
	for (size_t i = 0; i < n; i++)
		free(ents[i].path);
	free(ents);
	return VSL_ENOMEM;
}

/* Compare MANIFEST with the tree; returns <0 only on host failures. */
static int bundle_verify_manifest(struct vsl_ctx *ctx, const char *dir, int flags,
				  struct vsl_bundle_config *cfg, struct vsl_problems *probs)
{
	struct bundle_files files = { 0 };
	struct manifest_entry *ents = NULL;
	size_t nents = 0, before = probs ? probs->count : 0;
	char *text = NULL;
	size_t len;
	int r;

	r = bundle_list_files(ctx, dir, &files, probs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < files.n; i++)
		if (!strncmp(files.paths[i], "state/", 6))
			cfg->facts.suspended = true;
	if (flags & VSL_BUNDLE_NO_MANIFEST)
		goto out;
	r = bundle_read_small(ctx, dir, VSL_BUNDLE_MANIFEST, BUNDLE_MANIFEST_MAX, &text, &len);
	if (r == VSL_ENOENT) {
		r = vsl_problems_add(probs, VSL_PROBLEM_ERROR, VSL_BUNDLE_MANIFEST, 0, 0,
				     "missing (it lists the sha256 of every file of the bundle)");
		goto out;
	}
	if (r < 0) {
		r = vsl_problems_add(probs, VSL_PROBLEM_ERROR, VSL_BUNDLE_MANIFEST, 0, 0, "%s",
				     vsl_ctx_error(ctx));
		goto out;
	}
	cfg->facts.manifest_present = true;
	r = bundle_parse_manifest(text, len, &ents, &nents, probs);
	if (r < 0) {
		r = vsl_set_error(ctx, 0, r, "out of memory");
		goto out;
	}
	cfg->facts.manifest_files = nents;
	for (size_t i = 1; i < nents; i++)
		if (!strcmp(ents[i].path, ents[i - 1].path))
			vsl_problems_add(probs, VSL_PROBLEM_ERROR, VSL_BUNDLE_MANIFEST, ents[i].line, 0,
					 "'%s' is listed twice (also on line %d)", ents[i].path,
					 ents[i - 1].line);
	/* files on disk, sorted: each must be listed, and match */
	for (size_t i = 0; i < files.n; i++) {
		struct manifest_entry key = { .path = files.paths[i] }, *e;

		e = nents ? bsearch(&key, ents, nents, sizeof(*ents), bundle_entry_cmp) : NULL;
		if (!e) {
			vsl_problems_add(probs, VSL_PROBLEM_ERROR, files.paths[i], 0, 0,
					 "not listed in MANIFEST");
			continue;
		}
		e->seen = true;
		if (flags & VSL_BUNDLE_NO_VERIFY)
			continue;
		char hex[VSL_HASH_HEX_MAX], *p = vsl_strdup_printf("%s/%s", dir, files.paths[i]);
		if (!p) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			goto out;
		}
		r = vsl_hash_file(ctx, VSL_HASH_SHA256, p, hex);
		free(p);
		if (r < 0) {
			vsl_problems_add(probs, VSL_PROBLEM_ERROR, files.paths[i], 0, 0, "%s",
					 vsl_ctx_error(ctx));
			r = 0;
			continue;
		}
		if (strcmp(hex, e->hex))
			vsl_problems_add(probs, VSL_PROBLEM_ERROR, files.paths[i], 0, 0,
					 "content does not match MANIFEST (sha256 is %s, "
					 "MANIFEST line %d says %s)", hex, e->line, e->hex);
	}
	for (size_t i = 0; i < nents; i++)
		if (!ents[i].seen && (i == 0 || strcmp(ents[i].path, ents[i - 1].path)))
			vsl_problems_add(probs, VSL_PROBLEM_ERROR, VSL_BUNDLE_MANIFEST, ents[i].line, 0,
					 "'%s' is listed but does not exist", ents[i].path);
	cfg->facts.manifest_verified = !(flags & VSL_BUNDLE_NO_VERIFY);
out:
	if (probs)
		cfg->facts.manifest_problems = probs->count - before;
	for (size_t i = 0; i < nents; i++)
		free(ents[i].path);
	free(ents);
	free(text);
	bundle_files_free(&files);
	return r;
}

/* ---- loading ---- */

int vsl_bundle_load(struct vsl_ctx *ctx, const char *dir, int flags, struct vsl_bundle_config *cfg,
		    struct vsl_problems *probs)
{
	struct vsl_problems local;
	struct vsl_problems *pr = probs;
	struct stat st;
	char *text = NULL;
	size_t len;
	int r;

	vsl_bundle_config_init(cfg);
	if (!pr) {
		vsl_problems_init(&local);
		pr = &local;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = vsl_set_error(ctx, 0, VSL_ENOENT, "%s is not a bundle directory", dir);
		goto out;
	}
	r = bundle_read_small(ctx, dir, VSL_BUNDLE_CONFIG, VSL_BUNDLE_CONFIG_MAX, &text, &len);
	if (r == VSL_ENOENT) {
		r = vsl_set_error(ctx, 0, VSL_ENOENT, "%s is not a bundle directory (no %s)", dir,
				  VSL_BUNDLE_CONFIG);
		goto out;
	}
	if (r < 0) {
		r = vsl_problems_add(pr, VSL_PROBLEM_ERROR, VSL_BUNDLE_CONFIG, 0, 0, "%s",
				     vsl_ctx_error(ctx));
	} else {
		r = bundle_parse(ctx, text, len, VSL_BUNDLE_CONFIG, dir, cfg, pr);
		if (r == VSL_ENOMEM)
			goto out;
	}
	r = bundle_verify_manifest(ctx, dir, flags, cfg, pr);
	if (r < 0)
		goto out;
	if (pr->errors) {
		char first[1024] = "";
		for (size_t i = 0; i < pr->count; i++)
			if (pr->items[i].severity == VSL_PROBLEM_ERROR) {
				vsl_problem_format(&pr->items[i], first, sizeof(first));
				break;
			}
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: %zu problem%s, first: %s", dir, pr->errors,
				  pr->errors == 1 ? "" : "s", first);
	}
out:
	free(text);
	if (pr == &local)
		vsl_problems_fini(&local);
	return r;
}
