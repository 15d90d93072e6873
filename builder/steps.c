/*
 * Customization steps, written once over a small filesystem vtable
 * (struct vsl_fsops) with two backends: the in-memory initramfs tree (here)
 * and a disk through libguestfs (disks.c).
 *
 *	struct vsl_fstree fs = { ctx, &tree };
 *	vsl_step_apply(ctx, &vsl_fsops_tree, &fs, recipe, &recipe->steps[i], NULL);
 *
 * Steps that edit a file (append-line, edit, root-password, ssh-key) read
 * it whole, change it in memory and write it back. Messages name the step's
 * recipe line and never quote a sensitive value.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/builder.h"
#include "vessel/hash.h"

#define STEP_FILE_MAX (64u << 20) /* files edited in place: at most 64 MiB */

/* ---- the tree backend ---- */

static int fst_read(void *fs, const char *path, char **data, size_t *len)
{
	struct vsl_fstree *f = fs;
	char norm[4096];
	struct vsl_tree_entry *e;

	if (vsl_tree_normpath(f->ctx, path, true, norm, sizeof(norm)) < 0)
		return vsl_ctx_code(f->ctx);
	e = vsl_tree_find(f->t, norm);
	if (!e)
		return vsl_set_error(f->ctx, 0, VSL_ENOENT, "%s: no such file", path);
	if (e->type != VSL_TREE_FILE)
		return vsl_set_error(f->ctx, 0, VSL_EINVAL, "%s: not a regular file", path);
	*data = malloc(e->size + 1);
	if (!*data)
		return vsl_set_error(f->ctx, ENOMEM, VSL_ENOMEM, "%s", path);
	if (e->size)
		memcpy(*data, e->data, e->size);
	(*data)[e->size] = '\0';
	*len = e->size;
	return 0;
}

static int fst_write(void *fs, const char *path, const void *data, size_t len, uint32_t mode)
{
	struct vsl_fstree *f = fs;

	return vsl_tree_add_file(f->ctx, f->t, path, data, len, mode);
}

static int fst_mkdir_p(void *fs, const char *path, uint32_t mode)
{
	struct vsl_fstree *f = fs;

	return vsl_tree_add_dir(f->ctx, f->t, path, mode);
}

static struct vsl_tree_entry *fst_entry(struct vsl_fstree *f, const char *path)
{
	char norm[4096];
	struct vsl_tree_entry *e;

	if (vsl_tree_normpath(f->ctx, path, true, norm, sizeof(norm)) < 0)
		return NULL;
	e = vsl_tree_find(f->t, norm);
	if (!e)
		vsl_set_error(f->ctx, 0, VSL_ENOENT, "%s: no such file or directory", path);
	return e;
}

static int fst_chmod(void *fs, const char *path, uint32_t mode)
{
	struct vsl_fstree *f = fs;
	struct vsl_tree_entry *e = fst_entry(f, path);

	if (!e)
		return vsl_ctx_code(f->ctx);
	e->mode = mode & 07777;
	return 0;
}

static int fst_chown(void *fs, const char *path, long uid, long gid)
{
	struct vsl_fstree *f = fs;
	struct vsl_tree_entry *e = fst_entry(f, path);

	if (!e)
		return vsl_ctx_code(f->ctx);
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	return 0;
}

static int fst_symlink(void *fs, const char *target, const char *path)
{
	struct vsl_fstree *f = fs;

	return vsl_tree_add_symlink(f->ctx, f->t, path, target);
}

static int fst_remove(void *fs, const char *path)
{
	struct vsl_fstree *f = fs;

	return vsl_tree_remove(f->ctx, f->t, path);
}

static int fst_copy_in(void *fs, struct vsl_tree *src, const char *to)
{
	struct vsl_fstree *f = fs;
	int rc = 0;

	vsl_tree_sort(src);
	for (size_t i = 0; i < src->n && rc == 0; i++) {
		const struct vsl_tree_entry *e = &src->v[i];
		char *dest = vsl_strdup_printf("%s/%s", to, e->path);

		if (!dest)
			return vsl_set_error(f->ctx, ENOMEM, VSL_ENOMEM, "copy-in");
		switch (e->type) {
		case VSL_TREE_DIR: rc = vsl_tree_add_dir(f->ctx, f->t, dest, e->mode); break;
		case VSL_TREE_SYMLINK: rc = vsl_tree_add_symlink(f->ctx, f->t, dest, e->target); break;
		case VSL_TREE_CHR:
			rc = vsl_tree_add_chr(f->ctx, f->t, dest, e->mode, e->rmajor, e->rminor);
			break;
		default: rc = vsl_tree_add_file(f->ctx, f->t, dest, e->data, e->size, e->mode); break;
		}
		free(dest);
	}
	return rc;
}

const struct vsl_fsops vsl_fsops_tree = {
	.read = fst_read, .write = fst_write, .mkdir_p = fst_mkdir_p, .chmod = fst_chmod,
	.chown = fst_chown, .symlink = fst_symlink, .remove = fst_remove,
	.copy_in = fst_copy_in, .run = NULL,
};

/* ---- the steps ---- */

/* Read a file, or an empty one when it does not exist. */
static int step_read(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
		     const char *path, bool must_exist, char **data, size_t *len)
{
	int rc = ops->read(fs, path, data, len);

	if (rc == VSL_ENOENT && !must_exist) {
		vsl_ctx_clear(ctx);
		*data = calloc(1, 1);
		*len = 0;
		return *data ? 0 : vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", path);
	}
	if (rc == 0 && *len > STEP_FILE_MAX) {
		free(*data);
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: too large to edit", path);
	}
	return rc;
}

/* data + (newline if missing) + line + "\n" */
static char *step_append(const char *data, size_t len, const char *line, size_t *outlen)
{
	bool nl = len && data[len - 1] != '\n';
	char *o = vsl_strdup_printf("%s%s%s\n", data, nl ? "\n" : "", line);

	if (o)
		*outlen = strlen(o);
	return o;
}

static int step_append_line(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
			    const char *path, const char *line, uint32_t mode)
{
	char *data, *o;
	size_t len, olen;
	int rc = step_read(ctx, ops, fs, path, false, &data, &len);

	if (rc < 0)
		return rc;
	o = step_append(data, len, line, &olen);
	free(data);
	if (!o)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", path);
	rc = ops->write(fs, path, o, olen, mode);
	free(o);
	return rc;
}

static int step_edit(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
		     const struct vsl_recipe_step *st)
{
	char *data, *o, *w;
	size_t len, ml = strlen(st->match), rl = strlen(st->replace), count = 0;
	int rc = step_read(ctx, ops, fs, st->arg, true, &data, &len);

	if (rc < 0)
		return rc;
	for (const char *s = data; (s = strstr(s, st->match)); s += ml)
		count++;
	if (!count) {
		free(data);
		if (st->sensitive)
			return vsl_set_error(ctx, 0, VSL_ENOENT, "%s: the text to replace is not "
						"there", st->arg);
		return vsl_set_error(ctx, 0, VSL_ENOENT, "%s: '%s' not found", st->arg, st->match);
	}
	if (rl > ml && count > (STEP_FILE_MAX - len) / (rl - ml + 1)) {
		free(data);
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: the edit makes it too large", st->arg);
	}
	o = malloc(len + count * (rl >= ml ? rl - ml : 0) + 1);
	if (!o) {
		free(data);
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", st->arg);
	}
	w = o;
	for (const char *s = data;;) {
		const char *hit = strstr(s, st->match);
		size_t l = hit ? (size_t)(hit - s) : strlen(s);
		memcpy(w, s, l);
		w += l;
		if (!hit)
			break;
		memcpy(w, st->replace, rl);
		w += rl;
		s = hit + ml;
	}
	*w = '\0';
	free(data);
	rc = ops->write(fs, st->arg, o, (size_t)(w - o), 0644);
	free(o);
	return rc;
}

/* Look a user up in /etc/passwd: home, uid, gid. */
static int step_user(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
		     const char *user, char *home, size_t hlen, long *uid, long *gid)
{
	char *data;
	size_t len;
	int rc;

	if (!strcmp(user, "root")) {
		snprintf(home, hlen, "/root");
		*uid = *gid = 0;
		return 0;
	}
	rc = step_read(ctx, ops, fs, "/etc/passwd", false, &data, &len);
	if (rc < 0)
		return rc;
	for (char *save = NULL, *line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[7] = { 0 };
		int nf = 0;
		for (char *p = line; nf < 7; nf++) {
			f[nf] = p;
			p = strchr(p, ':');
			if (!p) {
				nf++;
				break;
			}
			*p++ = '\0';
		}
		if (nf >= 6 && !strcmp(f[0], user)) {
			*uid = strtol(f[2], NULL, 10);
			*gid = strtol(f[3], NULL, 10);
			snprintf(home, hlen, "%s", f[5]);
			free(data);
			return 0;
		}
	}
	free(data);
	return vsl_set_error(ctx, 0, VSL_ENOENT, "user '%s' is not in /etc/passwd", user);
}

static int step_ssh_key(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
			const struct vsl_recipe_step *st)
{
	char home[1024], dir[1100], file[1200];
	long uid = 0, gid = 0;
	int rc;

	if ((rc = step_user(ctx, ops, fs, st->user, home, sizeof(home), &uid, &gid)) < 0)
		return rc;
	snprintf(dir, sizeof(dir), "%s/.ssh", home);
	snprintf(file, sizeof(file), "%s/authorized_keys", dir);
	if ((rc = ops->mkdir_p(fs, dir, 0700)) < 0 || (rc = ops->chmod(fs, dir, 0700)) < 0 ||
	    (rc = ops->chown(fs, dir, uid, gid)) < 0 ||
	    (rc = step_append_line(ctx, ops, fs, file, st->arg, 0600)) < 0 ||
	    (rc = ops->chmod(fs, file, 0600)) < 0 || (rc = ops->chown(fs, file, uid, gid)) < 0)
		return rc;
	return 0;
}

/*
 * root's password: a SHA-512 crypt hash. The salt is derived from the
 * recipe digest and the password so that builds stay reproducible; it is
 * still unique per recipe and password.
 */
static int step_root_password(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
			      const struct vsl_recipe *r, const struct vsl_recipe_step *st)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], seed[VSL_HASH_HEX_MAX], *shadow = NULL, *out = NULL;
	struct vsl_hash *h = vsl_hash_new(VSL_HASH_SHA256);
	const char *hash;
	size_t len, olen = 0;
	bool found = false;
	int rc;

	if (!cd || !h) {
		free(cd);
		vsl_hash_free(h);
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "root-password");
	}
	vsl_hash_update(h, r->digest, strlen(r->digest));
	vsl_hash_update(h, st->arg, strlen(st->arg));
	vsl_hash_final_hex(h, seed);
	vsl_hash_free(h);
	{
		unsigned char rnd[16];
		for (int i = 0; i < 16; i++)
			rnd[i] = (unsigned char)strtoul((char[]){ seed[2 * i], seed[2 * i + 1], 0 },
							NULL, 16);
		if (!crypt_gensalt_rn("$6$", 0, (const char *)rnd, sizeof(rnd), setting,
				      sizeof(setting))) {
			free(cd);
			return vsl_set_error(ctx, errno, VSL_EIO, "root-password: crypt_gensalt");
		}
		explicit_bzero(rnd, sizeof(rnd));
	}
	hash = crypt_r(st->arg, setting, cd);
	explicit_bzero(seed, sizeof(seed));
	if (!hash || hash[0] == '*') {
		free(cd);
		return vsl_set_error(ctx, errno, VSL_EIO, "root-password: crypt failed");
	}
	rc = step_read(ctx, ops, fs, "/etc/shadow", false, &shadow, &len);
	if (rc < 0)
		goto out;
	out = malloc(len + strlen(hash) + 64);
	if (!out) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "root-password");
		goto out;
	}
	out[0] = '\0';
	for (char *save = NULL, *line = strtok_r(shadow, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "root:", 5)) {
			char *rest = strchr(line + 5, ':');
			olen += (size_t)sprintf(out + olen, "root:%s%s\n", hash, rest ? rest : ":0:0:99999:7:::");
			found = true;
		} else {
			olen += (size_t)sprintf(out + olen, "%s\n", line);
		}
	}
	if (!found)
		olen += (size_t)sprintf(out + olen, "root:%s:0:0:99999:7:::\n", hash);
	rc = ops->write(fs, "/etc/shadow", out, olen, 0640);
	if (rc == 0) {
		char *pw;
		size_t pl;
		/* an initramfs has no /etc/passwd: give root one so login works */
		if (ops->read(fs, "/etc/passwd", &pw, &pl) == VSL_ENOENT) {
			static const char line[] = "root:x:0:0:root:/root:/bin/sh\n";
			vsl_ctx_clear(ctx);
			rc = ops->write(fs, "/etc/passwd", line, sizeof(line) - 1, 0644);
		} else if (pw) {
			free(pw);
		}
	}
out:
	if (out)
		explicit_bzero(out, olen);
	free(out);
	free(shadow);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

static int step_firstboot(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
			  const char *cmd)
{
	static const char head[] = "#!/bin/sh\n# vessel: firstboot commands, run once by init\n";
	char *data;
	size_t len;
	int rc = step_read(ctx, ops, fs, "/etc/vessel/firstboot.sh", false, &data, &len);

	if (rc < 0)
		return rc;
	if (!len) {
		free(data);
		if ((rc = ops->mkdir_p(fs, "/etc/vessel", 0755)) < 0)
			return rc;
		if ((rc = ops->write(fs, "/etc/vessel/firstboot.sh", head, sizeof(head) - 1,
				     0755)) < 0)
			return rc;
	} else {
		free(data);
	}
	if ((rc = step_append_line(ctx, ops, fs, "/etc/vessel/firstboot.sh", cmd, 0755)) < 0)
		return rc;
	return ops->chmod(fs, "/etc/vessel/firstboot.sh", 0755);
}

static int step_do(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
		   const struct vsl_recipe *r, const struct vsl_recipe_step *st,
		   struct vsl_tree *src)
{
	int rc;

	switch (st->kind) {
	case VSL_STEP_WRITE:
		return ops->write(fs, st->arg, st->content, strlen(st->content),
				  st->has_mode ? st->mode : 0644);
	case VSL_STEP_COPY_IN:
		if (!src)
			return vsl_set_error(ctx, 0, VSL_EINVAL, "source '%s' is not available",
					     st->arg);
		return ops->copy_in(fs, src, st->to);
	case VSL_STEP_MKDIR:
		if ((rc = ops->mkdir_p(fs, st->arg, st->has_mode ? st->mode : 0755)) < 0)
			return rc;
		return st->has_mode ? ops->chmod(fs, st->arg, st->mode) : 0;
	case VSL_STEP_CHMOD:
		return ops->chmod(fs, st->arg, st->mode);
	case VSL_STEP_CHOWN:
		return ops->chown(fs, st->arg, st->uid, st->gid);
	case VSL_STEP_SYMLINK:
		return ops->symlink(fs, st->link_target, st->arg);
	case VSL_STEP_DELETE:
		return ops->remove(fs, st->arg);
	case VSL_STEP_APPEND_LINE:
		return step_append_line(ctx, ops, fs, st->arg, st->line, 0644);
	case VSL_STEP_EDIT:
		return step_edit(ctx, ops, fs, st);
	case VSL_STEP_HOSTNAME: {
		char *line = vsl_strdup_printf("%s\n", st->arg);
		if (!line)
			return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "hostname");
		if ((rc = ops->mkdir_p(fs, "/etc", 0755)) == 0)
			rc = ops->write(fs, "/etc/hostname", line, strlen(line), 0644);
		free(line);
		return rc;
	}
	case VSL_STEP_SSH_KEY:
		return step_ssh_key(ctx, ops, fs, st);
	case VSL_STEP_ROOT_PASSWORD:
		return step_root_password(ctx, ops, fs, r, st);
	case VSL_STEP_FIRSTBOOT:
		return step_firstboot(ctx, ops, fs, st->arg);
	case VSL_STEP_RUN:
		if (!ops->run)
			return vsl_set_error(ctx, 0, VSL_ENOTSUP, "cannot run commands here");
		return ops->run(fs, st->arg);
	}
	return vsl_set_error(ctx, 0, VSL_EINVAL, "unknown step");
}

int vsl_step_apply(struct vsl_ctx *ctx, const struct vsl_fsops *ops, void *fs,
		   const struct vsl_recipe *r, const struct vsl_recipe_step *st,
		   struct vsl_tree *src)
{
	char where[512];
	int rc = step_do(ctx, ops, fs, r, st, src);

	if (rc < 0) {
		vsl_recipe_where(r, st->loc, where, sizeof(where));
		if (st->sensitive)
			vsl_set_error(ctx, 0, rc, "step '%s' failed (details withheld: it uses a "
				      "sensitive variable)", vsl_recipe_step_name(st->kind));
		vsl_error_prefix(ctx, "%s: step '%s' (%s)", where, vsl_recipe_step_name(st->kind),
				 st->target ? st->target : "initramfs");
	}
	return rc;
}
