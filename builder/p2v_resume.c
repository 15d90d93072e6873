/*
 * Resuming a P2V copy that an ssh transport interrupted.
 *
 * When every reconnection attempt of an ssh source has failed, vsl_p2v keeps
 * its staging directory instead of removing it: vsl_p2v_resume_keep writes
 * a journal saying which disks are complete and how far the interrupted one
 * got (the end of the last window the conversion engine wrote; the copy is
 * flushed before), then renames the staging directory to OUT.p2v-partial.
 * The next run with the same command finds it (vsl_p2v_resume_claim), checks
 * that it was left by the same sources (and for ssh sources, that the remote
 * disk has the same size and the same first MiB), renames it back to its own
 * staging directory, and copies only what is missing: complete disks are
 * skipped, the interrupted one continues at DONE.
 *
 *	vessel-p2v-journal 1
 *	format qcow2
 *	disk 0 complete 3221225472 3221225472 - /dev/loop3
 *	disk 1 partial 1073741824 3221225472 9f86d0...08 ssh://root@h/dev/sdb
 *
 * The journal is small and written atomically (tmp, fsync, rename); a
 * malformed one is an error naming its line, never guessed around.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/p2v.h"

#define P2V_JOURNAL_MAGIC "vessel-p2v-journal 1"

int vsl_p2v_journal_write(struct vsl_ctx *ctx, const char *path, const struct vsl_p2v_journal *j)
{
	char *tmp = vsl_strdup_printf("%s.tmp", path);
	FILE *f;
	int fd, r = 0;

	if (!tmp)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	f = fopen(tmp, "w");
	if (!f) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "create %s", tmp);
		free(tmp);
		return r;
	}
	fprintf(f, "%s\nformat %s\n", P2V_JOURNAL_MAGIC, j->format[0] ? j->format : "-");
	for (size_t i = 0; i < j->n && i < VSL_P2V_MAX_SOURCES; i++) {
		const struct vsl_p2v_journal_disk *d = &j->disks[i];

		fprintf(f, "disk %zu %s %" PRIu64 " %" PRIu64 " %s %s\n", i,
			d->complete ? "complete" : "partial", d->done, d->size,
			d->ident[0] ? d->ident : "-", d->source);
	}
	fd = fileno(f);
	if (fflush(f) != 0 || fsync(fd) < 0)
		r = vsl_set_error(ctx, errno, VSL_EIO, "write %s", tmp);
	if (fclose(f) != 0 && r == 0)
		r = vsl_set_error(ctx, errno, VSL_EIO, "write %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = vsl_set_error(ctx, errno, VSL_EIO, "rename %s to %s", tmp, path);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

static bool p2v_journal_hex(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

/* One "disk ..." line (without its newline) into d; -1 when malformed. */
static int p2v_journal_disk(const char *line, size_t want, struct vsl_p2v_journal_disk *d)
{
	char state[16], ident[80];
	unsigned long long idx, done, size;
	int pos = 0;

	if (sscanf(line, "disk %llu %15s %llu %llu %79s %n", &idx, state, &done, &size, ident,
		   &pos) != 5 || !pos || idx != want)
		return -1;
	if (!strcmp(state, "complete"))
		d->complete = true;
	else if (strcmp(state, "partial"))
		return -1;
	if (size && done > size)
		return -1;
	if (!strcmp(ident, "-"))
		ident[0] = 0;
	else if (!p2v_journal_hex(ident))
		return -1;
	if (!line[pos] || strlen(line + pos) >= sizeof(d->source))
		return -1;
	d->done = done;
	d->size = size;
	snprintf(d->ident, sizeof(d->ident), "%s", ident);
	snprintf(d->source, sizeof(d->source), "%s", line + pos);
	return 0;
}

int vsl_p2v_journal_read(struct vsl_ctx *ctx, const char *path, struct vsl_p2v_journal *j)
{
	char line[1200];
	FILE *f = fopen(path, "r");
	unsigned lineno = 0;
	int r = 0;

	memset(j, 0, sizeof(*j));
	if (!f)
		return vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO, "%s",
				     path);
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		lineno++;
		if (!len || line[len - 1] != '\n') {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s:%u: line too long or cut short",
					  path, lineno);
			break;
		}
		line[--len] = 0;
		if (lineno == 1) {
			if (strcmp(line, P2V_JOURNAL_MAGIC))
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s:1: not a vessel p2v "
						  "journal (expected \"%s\")", path,
						  P2V_JOURNAL_MAGIC);
		} else if (lineno == 2) {
			if (strncmp(line, "format ", 7) || !line[7] ||
			    strlen(line + 7) >= sizeof(j->format) || strchr(line + 7, ' '))
				r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s:2: expected \"format "
						  "FMT\"", path);
			else
				snprintf(j->format, sizeof(j->format), "%s", line + 7);
		} else if (j->n >= VSL_P2V_MAX_SOURCES) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s:%u: more than %d disks", path,
					  lineno, VSL_P2V_MAX_SOURCES);
		} else if (p2v_journal_disk(line, j->n, &j->disks[j->n]) < 0) {
			r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s:%u: expected \"disk %zu "
					  "complete|partial DONE SIZE SHA256|- SOURCE\"", path,
					  lineno, j->n);
		} else {
			j->n++;
		}
		if (r < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = vsl_set_error(ctx, errno, VSL_EIO, "read %s", path);
	if (r == 0 && lineno < 2)
		r = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: truncated journal", path);
	fclose(f);
	return r;
}

static char *p2v_partial_dir(const char *out)
{
	return vsl_strdup_printf("%s.p2v-partial", out);
}

int vsl_p2v_resume_claim(struct vsl_ctx *ctx, const char *out, const char *stage,
			 const char *fmt, const char *const *sources, size_t n,
			 struct vsl_p2v_ssh *const *ssh, struct vsl_p2v_journal **jr)
{
	char *dir = p2v_partial_dir(out), *jpath = NULL;
	struct vsl_p2v_journal *j = NULL;
	const char *why = NULL;
	struct stat sb;
	int r = 0;

	*jr = NULL;
	if (!dir)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	if (lstat(dir, &sb) < 0) {
		free(dir);
		return 0; /* nothing to resume */
	}
	jpath = vsl_strdup_printf("%s/p2v-journal", dir);
	j = calloc(1, sizeof(*j));
	if (!jpath || !j) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	r = vsl_p2v_journal_read(ctx, jpath, j);
	if (r < 0) {
		vsl_error_prefix(ctx, "%s holds a partial copy that cannot be resumed (remove it "
				 "to start over)", dir);
		goto out;
	}
	if (strcmp(j->format, fmt))
		why = "another disk format";
	else if (j->n != n)
		why = "another number of sources";
	for (size_t i = 0; !why && i < n; i++) {
		const struct vsl_p2v_journal_disk *d = &j->disks[i];

		if (strcmp(d->source, sources[i]))
			why = "other sources";
		else if (ssh[i] && !d->complete && (d->size != vsl_p2v_ssh_size(ssh[i]) ||
						    strcmp(d->ident, vsl_p2v_ssh_ident(ssh[i]))))
			why = "a remote disk whose size or first MiB has changed since";
	}
	if (why) {
		r = vsl_set_error(ctx, 0, VSL_EEXIST, "%s holds a partial copy of %s: remove it to "
				  "start over", dir, why);
		goto out;
	}
	if (rename(dir, stage) < 0) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "rename %s to %s", dir, stage);
		goto out;
	}
	unlink(jpath); /* stage now; a new journal is written if this run is cut short too */
	*jr = j;
	j = NULL;
out:
	free(j);
	free(jpath);
	free(dir);
	return r;
}

/* Remove the copies of disk i (any format: the run that made them may have had another). */
static void p2v_resume_drop(const char *stage, size_t i, const char *fmt)
{
	char *p = vsl_strdup_printf("%s/disks/disk%zu.%s", stage, i, fmt);

	if (p)
		unlink(p);
	free(p);
}

int vsl_p2v_resume_keep(struct vsl_ctx *ctx, const char *out, const char *stage,
			const char *fmt, const char *const *sources, size_t n,
			struct vsl_p2v_ssh *const *ssh, size_t failed, uint64_t done)
{
	char why[2048];
	char *dir = p2v_partial_dir(out), *jpath = vsl_strdup_printf("%s/p2v-journal", stage);
	struct vsl_p2v_journal *j = calloc(1, sizeof(*j));
	int code = vsl_ctx_code(ctx), r = VSL_ENOMEM;

	snprintf(why, sizeof(why), "%s", vsl_ctx_error(ctx));
	if (!dir || !jpath || !j || n > VSL_P2V_MAX_SOURCES)
		goto out;
	snprintf(j->format, sizeof(j->format), "%s", fmt);
	j->n = n;
	for (size_t i = 0; i < n; i++) {
		struct vsl_p2v_journal_disk *d = &j->disks[i];

		snprintf(d->source, sizeof(d->source), "%s", sources[i]);
		if (ssh[i]) {
			d->size = vsl_p2v_ssh_size(ssh[i]);
			snprintf(d->ident, sizeof(d->ident), "%s", vsl_p2v_ssh_ident(ssh[i]));
		}
		d->complete = i < failed;
		d->done = i < failed ? d->size : i == failed ? done : 0;
		if (i > failed || (i == failed && !done))
			p2v_resume_drop(stage, i, fmt);
	}
	r = vsl_p2v_journal_write(ctx, jpath, j);
	if (r == 0 && rename(stage, dir) < 0)
		r = vsl_set_error(ctx, errno, VSL_EIO, "rename %s to %s", stage, dir);
out:
	if (r == 0) {
		char a[32], b[32];

		vsl_set_error(ctx, 0, code ? code : VSL_EIO, "%s; the partial copy (%s of %s of "
			      "%s) is kept in %s: run the same command again to resume", why,
			      vsl_format_size(done, a, sizeof(a)),
			      vsl_format_size(j->disks[failed].size, b, sizeof(b)), sources[failed],
			      dir);
	} else {
		/* keep the transport error; the partial copy goes as for any failure */
		vsl_set_error(ctx, 0, code ? code : VSL_EIO, "%s", why);
	}
	free(j);
	free(jpath);
	free(dir);
	return r;
}
