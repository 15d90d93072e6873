/*
 * Debian packages through apt, and vessel's download cache.
 *
 * Packages come from the machine's own apt configuration, so apt verifies
 * them against the archive's signed indexes: `apt-cache show
 * --no-all-versions` names the candidate version and its SHA256, and
 * `apt-get download NAME=VERSION` fetches it. vessel checks the downloaded
 * file against that SHA256 again and stores it content-addressed:
 *
 *	$VESSEL_CACHE/debs/NAME_VERSION_SHA256.deb
 *	$VESSEL_CACHE/apt/KEY.txt    apt-cache answers, KEY = sha256 of the
 *	                             names asked plus the state (name, size,
 *	                             mtime) of apt's package lists and sources
 *
 * so a rebuild does not even run apt-cache while `apt-get update` has not
 * changed anything (apt-cache costs ~0.4 s a call here).
 *
 * Subprocesses run with stdin from /dev/null and their output captured;
 * their "E:" lines become vessel's error message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vessel/builder.h"
#include "vessel/hash.h"

#include "builder/builder_int.h"

#define APT_OUT_MAX (8u << 20)

int vsl_cache_dir(struct vsl_ctx *ctx, char **out)
{
	const char *e = getenv("VESSEL_CACHE"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");

	if (e && *e)
		*out = strdup(e);
	else if (x && *x)
		*out = vsl_strdup_printf("%s/vessel", x);
	else if (h && *h)
		*out = vsl_strdup_printf("%s/.cache/vessel", h);
	else
		return vsl_set_error(ctx, 0, VSL_EINVAL, "no cache directory: set VESSEL_CACHE "
					"or HOME");
	if (!*out)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "cache");
	return 0;
}

struct apt_out {
	char *buf;
	size_t len, cap;
};

static void apt_out_add(struct apt_out *o, const char *d, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t nc = (o->len + n + 1) * 2;
		char *b;
		if (nc > APT_OUT_MAX)
			return; /* keep what we have; the rest is noise */
		b = realloc(o->buf, nc);
		if (!b)
			return;
		o->buf = b;
		o->cap = nc;
	}
	memcpy(o->buf + o->len, d, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

typedef void apt_tick_fn(void *opaque);

/*
 * Run argv (PATH lookup) in cwd, capturing stdout and stderr. Returns the
 * exit status (0..255), or a negative VSL_E* when it could not run.
 */
static int apt_run_ex(struct vsl_ctx *ctx, char *const argv[], const char *cwd,
		      const char *const *env, const char *stdin_path, struct apt_out *out,
		      struct apt_out *err, apt_tick_fn *tick, void *opaque)
{
	int po[2], pe[2], status;
	pid_t pid;
	bool oo = true, eo = true;

	if (pipe2(po, O_CLOEXEC) < 0)
		return vsl_set_error(ctx, errno, VSL_EIO, "pipe");
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return vsl_set_error(ctx, errno, VSL_EIO, "pipe");
	}
	pid = fork();
	if (pid < 0) {
		close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
		return vsl_set_error(ctx, errno, VSL_EIO, "fork");
	}
	if (pid == 0) {
		int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
		if (in < 0)
			_exit(126);
		dup2(in, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		setenv("LC_ALL", "C", 1);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execvp(argv[0], argv);
		if (!strchr(argv[0], '/')) {
			/* tools such as mke2fs live in /sbin, often not in a user's PATH */
			char path[512];
			snprintf(path, sizeof(path), "/usr/sbin/%s", argv[0]);
			execv(path, argv);
			snprintf(path, sizeof(path), "/sbin/%s", argv[0]);
			execv(path, argv);
		}
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	while (oo || eo) {
		struct pollfd fds[2] = { { .fd = oo ? po[0] : -1, .events = POLLIN },
					 { .fd = eo ? pe[0] : -1, .events = POLLIN } };
		char buf[8192];
		int n = poll(fds, 2, 200);

		if (n < 0 && errno != EINTR)
			break;
		if (tick)
			tick(opaque);
		for (int i = 0; i < 2 && n > 0; i++) {
			ssize_t r;
			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(fds[i].fd, buf, sizeof(buf));
			if (r > 0) {
				apt_out_add(i ? err : out, buf, (size_t)r);
			} else if (r == 0 || errno != EINTR) {
				if (i)
					eo = false;
				else
					oo = false;
			}
		}
	}
	close(po[0]);
	close(pe[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return vsl_set_error(ctx, errno, VSL_EIO, "waitpid %s", argv[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return vsl_set_error(ctx, 0, VSL_ENOENT, "%s: not found (install apt)", argv[0]);
	if (!WIFEXITED(status))
		return vsl_set_error(ctx, 0, VSL_EIO, "%s killed by signal %d", argv[0],
				     WTERMSIG(status));
	return WEXITSTATUS(status);
}

static int apt_run(struct vsl_ctx *ctx, char *const argv[], const char *cwd, struct apt_out *out,
		   struct apt_out *err, apt_tick_fn *tick, void *opaque)
{
	return apt_run_ex(ctx, argv, cwd, NULL, NULL, out, err, tick, opaque);
}

int vsl_builder_exec(struct vsl_ctx *ctx, char *const argv[], const char *const *env,
		     const char *stdin_path, char **err_out)
{
	struct apt_out out = { 0 }, err = { 0 };
	int st = apt_run_ex(ctx, argv, NULL, env, stdin_path, &out, &err, NULL, NULL);
	int rc = 0;

	if (st < 0) {
		rc = st;
	} else if (st != 0) {
		/* the last non-empty line of stderr (or stdout) says what went wrong */
		const char *txt = err.len ? err.buf : out.buf ? out.buf : "";
		size_t l = strlen(txt);
		while (l && txt[l - 1] == '\n')
			l--;
		size_t b = l;
		while (b && txt[b - 1] != '\n')
			b--;
		rc = vsl_set_error(ctx, 0, VSL_EIO, "%s failed (exit %d): %.*s", argv[0], st,
				   (int)(l - b), txt + b);
	}
	if (err_out) {
		*err_out = err.buf;
		err.buf = NULL;
	}
	free(out.buf);
	free(err.buf);
	return rc;
}

/* The "E: ..." lines of apt's stderr, joined with "; " (or the last line). */
static void apt_errors(const struct apt_out *err, char *buf, size_t len)
{
	const char *s = err->buf ? err->buf : "";
	const char *last = NULL;

	buf[0] = '\0';
	while (*s) {
		const char *e = strchr(s, '\n');
		size_t l = e ? (size_t)(e - s) : strlen(s);

		if (l > 3 && !strncmp(s, "E: ", 3)) {
			size_t bl = strlen(buf);
			snprintf(buf + bl, len - bl, "%s%.*s", bl ? "; " : "", (int)(l - 3), s + 3);
		} else if (l) {
			last = s;
		}
		s += l + (e ? 1 : 0);
	}
	if (!buf[0] && last)
		snprintf(buf, len, "%.*s", (int)strcspn(last, "\n"), last);
	if (!buf[0])
		snprintf(buf, len, "no message");
}

/* Hash apt's package lists and sources configuration (names, sizes, mtimes). */
static void apt_state(struct vsl_hash *h, const char *dirpath)
{
	struct dirent **ents = NULL;
	int n = scandir(dirpath, &ents, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		char path[4096], line[4400];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dirpath, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			int l = snprintf(line, sizeof(line), "%s %lld %lld.%09ld\n", path,
					 (long long)st.st_size, (long long)st.st_mtim.tv_sec,
					 st.st_mtim.tv_nsec);
			vsl_hash_update(h, line, (size_t)l);
		}
		free(ents[i]);
	}
	free(ents);
}

/* Everything that changes apt's answers: its lists, sources, preferences, APT_CONFIG. */
static void apt_state_all(struct vsl_hash *h)
{
	const char *ac = getenv("APT_CONFIG");

	apt_state(h, "/var/lib/apt/lists");
	apt_state(h, "/etc/apt");
	apt_state(h, "/etc/apt/sources.list.d");
	apt_state(h, "/etc/apt/preferences.d");
	if (ac) {
		struct stat st;
		char line[128];

		vsl_hash_update(h, ac, strlen(ac) + 1);
		if (stat(ac, &st) == 0) {
			int l = snprintf(line, sizeof(line), "%lld %lld.%09ld\n",
					 (long long)st.st_size, (long long)st.st_mtim.tv_sec,
					 st.st_mtim.tv_nsec);
			vsl_hash_update(h, line, (size_t)l);
		}
	}
}

/* Read a whole small file into out; false when it cannot be read. */
static bool apt_slurp(const char *path, struct apt_out *out)
{
	FILE *f = fopen(path, "rb");
	char buf[8192];
	size_t got;

	if (!f)
		return false;
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		apt_out_add(out, buf, got);
	fclose(f);
	vsl_cache_touch(path);
	return true;
}

/* Store an answer in the cache: written beside, then renamed (best effort). */
static void apt_store(struct vsl_ctx *ctx, const char *dir, const char *path,
		      const struct apt_out *out)
{
	char *tmp;
	FILE *w;

	if (!out->len || vsl_builder_mkdirs(ctx, dir) < 0)
		return;
	tmp = vsl_strdup_printf("%s.%d.tmp", path, (int)getpid());
	w = tmp ? fopen(tmp, "wb") : NULL;
	if (w) {
		bool ok = fwrite(out->buf, 1, out->len, w) == out->len;
		if (fclose(w) == 0 && ok)
			rename(tmp, path);
		else
			unlink(tmp);
	}
	free(tmp);
}

static char *apt_field(const char *stanza, size_t len, const char *name)
{
	size_t nl = strlen(name);

	for (const char *s = stanza; s < stanza + len;) {
		const char *e = memchr(s, '\n', (size_t)(stanza + len - s));
		size_t l = e ? (size_t)(e - s) : (size_t)(stanza + len - s);

		if (l > nl + 1 && !strncmp(s, name, nl) && s[nl] == ':') {
			const char *v = s + nl + 1;
			while (*v == ' ')
				v++;
			return strndup(v, (size_t)(s + l - v));
		}
		s += l + 1;
	}
	return NULL;
}

int vsl_apt_resolve(struct vsl_ctx *ctx, const char *cache, struct vsl_apt_pkg *pkgs, size_t n)
{
	struct vsl_hash *h = vsl_hash_new(VSL_HASH_SHA256);
	struct apt_out out = { 0 }, err = { 0 };
	char key[VSL_HASH_HEX_MAX], *cpath = NULL, *dir = NULL;
	char **argv = NULL, **specs = NULL;
	bool *matched = NULL;
	int rc = 0, st;

	if (!h)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "apt");
	vsl_hash_update(h, "vessel-apt-2\n", 13);
	for (size_t i = 0; i < n; i++) {
		vsl_hash_update(h, pkgs[i].name, strlen(pkgs[i].name) + 1);
		if (pkgs[i].version)
			vsl_hash_update(h, pkgs[i].version, strlen(pkgs[i].version) + 1);
	}
	apt_state_all(h);
	vsl_hash_final_hex(h, key);
	vsl_hash_free(h);
	dir = vsl_strdup_printf("%s/apt", cache);
	cpath = vsl_strdup_printf("%s/apt/%s.txt", cache, key);
	if (!dir || !cpath) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "apt");
		goto out;
	}
	matched = vsl_calloc(n + 1, sizeof(*matched));
	if (!matched) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "apt");
		goto out;
	}
	if (!apt_slurp(cpath, &out)) {
		argv = vsl_calloc(n + 5, sizeof(*argv));
		specs = vsl_calloc(n + 1, sizeof(*specs));
		if (!argv || !specs) {
			rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "apt");
			goto out;
		}
		argv[0] = (char *)"apt-cache";
		argv[1] = (char *)"show";
		argv[2] = (char *)"--no-all-versions";
		argv[3] = (char *)"--";
		for (size_t i = 0; i < n; i++) {
			/* a pinned version (a resolved dependency) is asked for as NAME=VERSION */
			specs[i] = pkgs[i].version ? vsl_strdup_printf("%s=%s", pkgs[i].name,
								       pkgs[i].version)
						   : strdup(pkgs[i].name);
			if (!specs[i]) {
				rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "apt");
				goto out;
			}
			argv[4 + i] = specs[i];
		}
		st = apt_run(ctx, argv, NULL, &out, &err, NULL, NULL);
		if (st < 0) {
			rc = st;
			goto out;
		}
		if (st == 0)
			apt_store(ctx, dir, cpath, &out);
		vsl_ctx_clear(ctx);
	}
	/* match stanzas to names (and to the pinned version, when there is one) */
	for (const char *s = out.buf ? out.buf : ""; *s;) {
		const char *e = strstr(s, "\n\n");
		size_t l = e ? (size_t)(e - s) + 1 : strlen(s);
		char *pkg = apt_field(s, l, "Package");
		char *ver = pkg ? apt_field(s, l, "Version") : NULL;

		for (size_t i = 0; pkg && ver && i < n; i++) {
			if (matched[i] || strcmp(pkgs[i].name, pkg) ||
			    (pkgs[i].version && strcmp(pkgs[i].version, ver)))
				continue;
			char *size = apt_field(s, l, "Size");
			matched[i] = true;
			free(pkgs[i].version);
			pkgs[i].version = strdup(ver);
			pkgs[i].sha256 = apt_field(s, l, "SHA256");
			pkgs[i].depends = apt_field(s, l, "Depends");
			pkgs[i].size = size ? strtoull(size, NULL, 10) : 0;
			free(size);
		}
		free(pkg);
		free(ver);
		s += l;
		while (*s == '\n')
			s++;
	}
	for (size_t i = 0; i < n; i++) {
		if (!matched[i] || !pkgs[i].version) {
			char msg[512];
			apt_errors(&err, msg, sizeof(msg));
			if (pkgs[i].version)
				rc = vsl_set_error(ctx, 0, VSL_ENOENT, "package '%s' version %s is "
						   "not known to apt%s%s", pkgs[i].name,
						   pkgs[i].version, err.len ? ": " : "",
						   err.len ? msg : "");
			else
				rc = vsl_set_error(ctx, 0, VSL_ENOENT, "package '%s' is not known "
						   "to apt (check the name; run 'apt-get update'?)"
						   "%s%s", pkgs[i].name, err.len ? ": " : "",
						   err.len ? msg : "");
			if (!matched[i]) {
				free(pkgs[i].version); /* unmatched: leave no half answer */
				pkgs[i].version = NULL;
			}
			goto out;
		}
		if (!pkgs[i].sha256 || strlen(pkgs[i].sha256) != 64) {
			rc = vsl_set_error(ctx, 0, VSL_ECORRUPT, "package '%s': apt-cache gives no "
					   "SHA256", pkgs[i].name);
			goto out;
		}
	}
out:
	for (size_t i = 0; specs && i < n; i++)
		free(specs[i]);
	free(specs);
	free(matched);
	free(argv);
	free(out.buf);
	free(err.buf);
	free(cpath);
	free(dir);
	return rc;
}

struct apt_dl {
	const char *dir;
	const struct vsl_progress *progress;
	const char *what;
	uint64_t total;
	uint64_t last;     /* last value reported (UINT64_MAX: none yet) */
};

static uint64_t apt_dir_bytes(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t sum = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
		else if (S_ISDIR(st.st_mode) && depth < 2)
			sum += apt_dir_bytes(path, depth + 1);
	}
	closedir(d);
	return sum;
}

static void apt_dl_tick(void *opaque)
{
	struct apt_dl *dl = opaque;

	uint64_t now;

	if (!dl->progress || !dl->progress->fn)
		return;
	now = apt_dir_bytes(dl->dir, 0);
	if (now != dl->last) {
		vsl_progress_report(dl->progress, dl->what, now, dl->total);
		dl->last = now;
	}
}

static void apt_rmtree(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d))) {
			char path[4096];
			struct stat st;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && depth < 4)
				apt_rmtree(path, depth + 1);
			else
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

int vsl_apt_fetch(struct vsl_ctx *ctx, const char *cache, struct vsl_apt_pkg *pkg,
		  const struct vsl_progress *progress)
{
	char hex[VSL_HASH_HEX_MAX], ver[256], spec[512], found[4096] = "";
	char *debs = NULL, *path = NULL, *tmpl = NULL;
	struct apt_out out = { 0 }, err = { 0 };
	struct stat st;
	int rc = 0;

	snprintf(ver, sizeof(ver), "%s", pkg->version);
	for (char *c = ver; *c; c++)
		if (*c == ':' || *c == '/')
			*c = '_';
	debs = vsl_strdup_printf("%s/debs", cache);
	path = vsl_strdup_printf("%s/debs/%s_%s_%s.deb", cache, pkg->name, ver, pkg->sha256);
	tmpl = vsl_strdup_printf("%s/tmp/dl.XXXXXX", cache);
	if (!debs || !path || !tmpl) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "cache");
		goto out;
	}
	if (stat(path, &st) == 0 && (!pkg->size || (uint64_t)st.st_size == pkg->size)) {
		if ((rc = vsl_hash_file(ctx, VSL_HASH_SHA256, path, hex)) < 0)
			goto out;
		if (!strcmp(hex, pkg->sha256)) {
			vsl_cache_touch(path); /* used: pruning keeps the recently used */
			goto done;
		}
		unlink(path); /* damaged cache entry: fetch again */
	}
	if ((rc = vsl_builder_mkdirs(ctx, debs)) < 0)
		goto out;
	{
		char *t = vsl_strdup_printf("%s/tmp", cache);
		rc = t ? vsl_builder_mkdirs(ctx, t) : vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "cache");
		free(t);
		if (rc < 0)
			goto out;
	}
	if (!mkdtemp(tmpl)) {
		rc = vsl_set_error(ctx, errno, VSL_EIO, "mkdtemp %s", tmpl);
		goto out;
	}
	chmod(tmpl, 0755); /* lets apt's sandbox user write here when we are root */
	snprintf(spec, sizeof(spec), "%s=%s", pkg->name, pkg->version);
	{
		char *argv[] = { (char *)"apt-get", (char *)"download", (char *)"-q",
				 (char *)"-o", (char *)"Acquire::Retries=1",
				 (char *)"-o", (char *)"Acquire::http::Timeout=30",
				 spec, NULL };
		struct apt_dl dl = { .dir = tmpl, .progress = progress, .what = pkg->name,
				     .total = pkg->size, .last = UINT64_MAX };
		int stc = apt_run(ctx, argv, tmpl, &out, &err, apt_dl_tick, &dl);

		if (stc < 0) {
			rc = stc;
			goto out_tmp;
		}
		if (stc != 0) {
			char msg[1024];
			apt_errors(&err, msg, sizeof(msg));
			rc = vsl_set_error(ctx, 0, VSL_EIO, "apt-get download %s failed: %s", spec,
					   msg);
			goto out_tmp;
		}
		apt_dl_tick(&dl);
	}
	{
		DIR *d = opendir(tmpl);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			size_t l = strlen(de->d_name);
			if (l > 4 && !strcmp(de->d_name + l - 4, ".deb"))
				snprintf(found, sizeof(found), "%s/%s", tmpl, de->d_name);
		}
		if (d)
			closedir(d);
	}
	if (!found[0]) {
		rc = vsl_set_error(ctx, 0, VSL_EIO, "apt-get download %s left no .deb", spec);
		goto out_tmp;
	}
	if ((rc = vsl_hash_file(ctx, VSL_HASH_SHA256, found, hex)) < 0)
		goto out_tmp;
	if (strcmp(hex, pkg->sha256)) {
		rc = vsl_set_error(ctx, 0, VSL_ECORRUPT, "%s: downloaded file has sha256 %s, apt "
				   "says %s", spec, hex, pkg->sha256);
		goto out_tmp;
	}
	if (rename(found, path) < 0) {
		rc = vsl_set_error(ctx, errno, VSL_EIO, "rename into %s", path);
		goto out_tmp;
	}
out_tmp:
	apt_rmtree(tmpl, 0);
	if (rc < 0)
		goto out;
done:
	free(pkg->path);
	pkg->path = path;
	path = NULL;
out:
	free(out.buf);
	free(err.buf);
	free(debs);
	free(path);
	free(tmpl);
	return rc;
}

void vsl_apt_pkg_fini(struct vsl_apt_pkg *pkg)
{
	if (!pkg)
		return;
	free(pkg->name);
	free(pkg->version);
	free(pkg->sha256);
	free(pkg->depends);
	free(pkg->path);
	*pkg = (struct vsl_apt_pkg){ 0 };
}

char *vsl_apt_depends_match(const char *depends, const char *prefix)
{
	size_t pl = strlen(prefix);

	for (const char *s = depends; s && *s;) {
		size_t l;

		while (*s == ' ' || *s == ',' || *s == '|')
			s++;
		l = strcspn(s, " ,|(:");
		if (l > pl && !strncmp(s, prefix, pl))
			return strndup(s, l);
		s += strcspn(s, ",|");
	}
	return NULL;
}

/* ---- dependency closure ---- */

static int apt_pkg_cmp(const void *a, const void *b)
{
	const struct vsl_apt_pkg *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int vsl_apt_parse_simulation(struct vsl_ctx *ctx, const char *text, struct vsl_apt_pkg **out,
			     size_t *nout)
{
	struct vsl_apt_pkg *v = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*nout = 0;
	for (const char *s = text ? text : ""; *s;) {
		size_t l = strcspn(s, "\n");
		const char *e = s + l, *p = s + 5, *q;
		size_t nl;

		if (l > 5 && !strncmp(s, "Inst ", 5)) {
			nl = strcspn(p, " :\n");
			q = p + nl;
			if (*q == ':') /* NAME:ARCH */
				q += strcspn(q, " \n");
			while (q < e && *q == ' ')
				q++;
			if (q < e && *q == '[') { /* [installed version]: not with an empty status */
				q = memchr(q, ']', (size_t)(e - q));
				q = q ? q + 1 : e;
				while (q < e && *q == ' ')
					q++;
			}
			if (!nl || q >= e || *q != '(') {
				vsl_set_error(ctx, 0, VSL_ECORRUPT, "apt-get: cannot read '%.*s'",
					      (int)(l > 120 ? 120 : l), s);
				goto fail;
			}
			q++;
			size_t vl = strcspn(q, " )\n");
			if (!vl || vl > 255 || nl > 255) {
				vsl_set_error(ctx, 0, VSL_ECORRUPT, "apt-get: cannot read '%.*s'",
					      (int)(l > 120 ? 120 : l), s);
				goto fail;
			}
			bool dup = false;
			for (size_t i = 0; i < n; i++)
				if (strlen(v[i].name) == nl && !strncmp(v[i].name, p, nl))
					dup = true;
			if (!dup) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 16;
					struct vsl_apt_pkg *nv;
					if (nc > 100000) {
						vsl_set_error(ctx, 0, VSL_ERANGE, "apt-get: more than "
							      "100000 packages in a closure");
						goto fail;
					}
					nv = vsl_reallocarray(v, nc, sizeof(*v));
					if (!nv)
						goto oom;
					v = nv;
					cap = nc;
				}
				v[n] = (struct vsl_apt_pkg){ 0 };
				v[n].name = strndup(p, nl);
				v[n].version = strndup(q, vl);
				n++;
				if (!v[n - 1].name || !v[n - 1].version)
					goto oom;
			}
		}
		s = *e ? e + 1 : e;
	}
	if (n)
		qsort(v, n, sizeof(*v), apt_pkg_cmp);
	*out = v;
	*nout = n;
	return 0;
oom:
	vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "apt");
fail:
	for (size_t i = 0; i < n; i++)
		vsl_apt_pkg_fini(&v[i]);
	free(v);
	return vsl_ctx_code(ctx);
}

int vsl_apt_closure(struct vsl_ctx *ctx, const char *cache, const char *const *names, size_t n,
		    struct vsl_apt_pkg **out, size_t *nout)
{
	struct vsl_hash *h;
	struct apt_out so = { 0 }, se = { 0 };
	char key[VSL_HASH_HEX_MAX];
	char *dir = NULL, *cpath = NULL, *status = NULL, *ostatus = NULL;
	char **argv = NULL;
	int rc = 0, st;

	*out = NULL;
	*nout = 0;
	if (!n)
		return 0;
	h = vsl_hash_new(VSL_HASH_SHA256);
	if (!h)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "apt");
	vsl_hash_update(h, "vessel-closure-1\n", 17);
	for (size_t i = 0; i < n; i++)
		vsl_hash_update(h, names[i], strlen(names[i]) + 1);
	apt_state_all(h);
	vsl_hash_final_hex(h, key);
	vsl_hash_free(h);
	dir = vsl_strdup_printf("%s/apt", cache);
	cpath = vsl_strdup_printf("%s/apt/closure-%s.txt", cache, key);
	status = vsl_strdup_printf("%s/apt/empty-status", cache);
	ostatus = vsl_strdup_printf("Dir::State::status=%s", status ? status : "");
	argv = vsl_calloc(n + 20, sizeof(*argv));
	if (!dir || !cpath || !status || !ostatus || !argv) {
		rc = vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "apt");
		goto out;
	}
	if (!apt_slurp(cpath, &so)) {
		size_t k = 0;
		int fd;

		/* an empty dpkg status: apt plans a fresh install of everything needed */
		if ((rc = vsl_builder_mkdirs(ctx, dir)) < 0)
			goto out;
		fd = open(status, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			rc = vsl_set_error(ctx, errno, VSL_EIO, "%s", status);
			goto out;
		}
		close(fd);
		argv[k++] = (char *)"apt-get";
		argv[k++] = (char *)"--simulate";
		argv[k++] = (char *)"-q";
		argv[k++] = (char *)"-o";
		argv[k++] = ostatus;
		argv[k++] = (char *)"-o";
		argv[k++] = (char *)"Debug::NoLocking=true";
		argv[k++] = (char *)"-o";
		argv[k++] = (char *)"APT::Install-Recommends=false";
		argv[k++] = (char *)"-o";
		argv[k++] = (char *)"APT::Install-Suggests=false";
		argv[k++] = (char *)"-o";
		argv[k++] = (char *)"APT::Get::Assume-Yes=true";
		argv[k++] = (char *)"install";
		argv[k++] = (char *)"--";
		for (size_t i = 0; i < n; i++)
			argv[k++] = (char *)names[i];
		st = apt_run(ctx, argv, NULL, &so, &se, NULL, NULL);
		if (st < 0) {
			rc = st;
			goto out;
		}
		if (st != 0) {
			char msg[1024], why[1024] = "";
			size_t wl = 0;

			/* apt explains on stdout: " NAME : Depends: OTHER but it is not installable" */
			for (const char *s = so.buf ? so.buf : ""; *s;) {
				size_t l = strcspn(s, "\n");
				const char *c = memchr(s, ':', l);
				if (c && l > 2 && s[0] == ' ' && (size_t)(c - s) < l &&
				    strstr(s, "epends: ") && (size_t)(strstr(s, "epends: ") - s) < l) {
					const char *t = s;
					while (*t == ' ')
						t++;
					wl += (size_t)snprintf(why + wl, wl < sizeof(why) ?
							       sizeof(why) - wl : 0, "%s%.*s",
							       wl ? "; " : "", (int)(s + l - t), t);
				}
				s += l + (s[l] ? 1 : 0);
			}
			if (wl >= sizeof(why))
				memcpy(why + sizeof(why) - 4, "...", 4);
			apt_errors(&se, msg, sizeof(msg));
			if (why[0])
				rc = vsl_set_error(ctx, 0, VSL_EINVAL, "apt cannot resolve the "
						   "dependencies: %s (apt: %s)", why, msg);
			else
				rc = vsl_set_error(ctx, 0, VSL_EINVAL, "apt cannot resolve the "
						   "dependencies: %s", msg);
			goto out;
		}
		{
			/* keep only the Inst lines: the cached answer is small and exact */
			struct apt_out keep = { 0 };
			for (const char *s = so.buf ? so.buf : ""; *s;) {
				size_t l = strcspn(s, "\n");
				if (!strncmp(s, "Inst ", 5))
					apt_out_add(&keep, s, l + (s[l] ? 1 : 0));
				s += l + (s[l] ? 1 : 0);
			}
			free(so.buf);
			so = keep;
		}
		apt_store(ctx, dir, cpath, &so);
		vsl_ctx_clear(ctx);
	}
	rc = vsl_apt_parse_simulation(ctx, so.buf, out, nout);
	if (rc == 0) {
		/* every name asked for must be in the answer */
		for (size_t i = 0; i < n; i++) {
			bool found = false;
			for (size_t j = 0; j < *nout; j++)
				if (!strcmp((*out)[j].name, names[i]))
					found = true;
			if (!found) {
				rc = vsl_set_error(ctx, 0, VSL_ENOENT, "apt would not install '%s' "
						   "(a virtual package? name the real one)",
						   names[i]);
				break;
			}
		}
		if (rc < 0) {
			for (size_t j = 0; j < *nout; j++)
				vsl_apt_pkg_fini(&(*out)[j]);
			free(*out);
			*out = NULL;
			*nout = 0;
		}
	}
out:
	free(so.buf);
	free(se.buf);
	free(argv);
	free(ostatus);
	free(status);
	free(cpath);
	free(dir);
	return rc;
}
