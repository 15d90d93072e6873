/*
 * vessel build: recipe -> NAME.vessel bundle.
 *
 *	vessel build recipes/hello.yaml -o hello.vessel --var greeting=hi
 *
 * The recipe is checked first (every problem printed as with `vessel
 * validate`); then the builder library runs the pipeline and logs one line
 * per stage at info level (shown by default here), with a progress bar for
 * downloads when stderr is a terminal.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "vessel/builder.h"
#include "vessel/bundle.h"
#include "vessel/interchange.h"
#include "vessel/recipe.h"

extern const struct vsl_cmd vsl_cmd_build;

static volatile sig_atomic_t build_interrupted;

static void build_on_signal(int sig)
{
	(void)sig;
	build_interrupted = 1;
}

static void build_plan_line(void *opaque, const char *line)
{
	(void)opaque;
	printf("%s\n", line);
}

static double build_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define BUILD_PRUNE_DEFAULT (2ull << 30)

static void build_pruned(void *opaque, const char *rel, uint64_t bytes)
{
	char sz[32];

	printf("%s %s (%s)\n", *(const bool *)opaque ? "would remove" : "removed", rel,
	       vsl_format_size(bytes, sz, sizeof(sz)));
}

/* --prune-cache: keep the newest keep bytes of the cache; report what went. */
static int build_prune(struct vsl_cli *cli, uint64_t keep, bool dry)
{
	struct vsl_cache_stats st;
	char *cache = NULL, a[32], b[32], c[32];

	if (vsl_cache_dir(cli->ctx, &cache) < 0)
		return cli_fail(cli, "build: --prune-cache");
	if (vsl_cache_prune(cli->ctx, cache, keep, dry, build_pruned, &dry, &st) < 0) {
		free(cache);
		return cli_fail(cli, "build: --prune-cache");
	}
	printf("cache %s: %s %zu entr%s (%s), kept %zu (%s, limit %s)\n", cache,
	       dry ? "would remove" : "removed", st.removed, st.removed == 1 ? "y" : "ies",
	       vsl_format_size(st.removed_bytes, a, sizeof(a)), st.kept,
	       vsl_format_size(st.kept_bytes, b, sizeof(b)), vsl_format_size(keep, c, sizeof(c)));
	free(cache);
	return VSL_EXIT_OK;
}

static int build_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

/*
 * Is out an earlier export of this kind (so a rebuild may replace it)? An
 * .ova or .xml is a file; an ovf or vmx export a directory holding a .ovf
 * or .vmx file and nothing but regular files.
 */
static bool build_export_is_ours(const char *out, const struct stat *st, enum vsl_ix_kind kind)
{
	const char *want = kind == VSL_IX_OVF ? ".ovf" : ".vmx";
	bool found = false, other = false;
	struct dirent *de;
	DIR *d;

	if (kind == VSL_IX_OVA || kind == VSL_IX_LIBVIRT)
		return S_ISREG(st->st_mode);
	if (!S_ISDIR(st->st_mode) || !(d = opendir(out)))
		return false;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type != DT_REG)
			other = true;
		if (l > 4 && !strcmp(de->d_name + l - 4, want))
			found = true;
	}
	closedir(d);
	return found && !other;
}

/*
 * --export KIND: hand the finished bundle to the interchange exporters. The
 * output goes beside the bundle: DIR/NAME.vessel -> DIR/NAME.ova, NAME-ovf/,
 * NAME-vmx/ or NAME.xml (the names `vessel export` uses by default).
 */
static int build_export(struct vsl_cli *cli, const char *bundle, enum vsl_ix_kind kind)
{
	struct vsl_export_opts eo = { .kind = kind, .hash = VSL_HASH_SHA256 };
	struct vsl_problems warn;
	struct stat st;
	size_t n = strlen(bundle);
	char *out, *tmp, *old, ctxname[32], buf[1024];
	int rc;

	if (n > 7 && !strcmp(bundle + n - 7, ".vessel"))
		n -= 7;
	out = vsl_strdup_printf("%.*s%s", (int)n, bundle,
				kind == VSL_IX_OVA ? ".ova" : kind == VSL_IX_OVF ? "-ovf" :
				kind == VSL_IX_VMX ? "-vmx" : ".xml");
	if (!out)
		return cli_failf("build", "out of memory");
	tmp = vsl_strdup_printf("%s.new-%d", out, (int)getpid());
	old = vsl_strdup_printf("%s.old-%d", out, (int)getpid());
	if (!tmp || !old) {
		free(out); free(tmp); free(old);
		return cli_failf("build", "out of memory");
	}
	snprintf(ctxname, sizeof(ctxname), "build: --export %s", vsl_ix_kind_name(kind));
	if (lstat(out, &st) == 0 && !build_export_is_ours(out, &st, kind)) {
		rc = cli_failf(ctxname, "%s exists and is not an earlier export; remove it or "
			       "choose another -o", out);
		free(out); free(tmp); free(old);
		return rc;
	}
	eo.progress = &cli->progress;
	vsl_problems_init(&warn);
	/* exported beside, then swapped in: a rebuild replaces the earlier export */
	rc = vsl_export(cli->ctx, bundle, tmp, &eo, &warn);
	if (cli->verbosity >= 0)
		for (size_t i = 0; i < warn.count; i++)
			fprintf(stderr, "vessel: %s: %s\n", ctxname,
				vsl_problem_format(&warn.items[i], buf, sizeof(buf)));
	vsl_problems_fini(&warn);
	if (rc < 0) {
		rc = cli_fail(cli, ctxname);
	} else {
		bool had = lstat(out, &st) == 0;

		if ((had && rename(out, old) < 0) || rename(tmp, out) < 0) {
			rc = cli_failf(ctxname, "cannot move %s into place: %s", out,
				       strerror(errno));
			if (had)
				rename(old, out);
			nftw(tmp, build_rm_one, 16, FTW_DEPTH | FTW_PHYS);
		} else {
			if (had)
				nftw(old, build_rm_one, 16, FTW_DEPTH | FTW_PHYS);
			if (cli->verbosity >= 0)
				fprintf(stderr, "vessel: build: exported %s\n", out);
			rc = VSL_EXIT_OK;
		}
	}
	free(out);
	free(tmp);
	free(old);
	return rc;
}

static int build_run(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "var", required_argument, NULL, 'D' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "no-cache", no_argument, NULL, 'C' },
		{ "keep-failed", no_argument, NULL, 'K' },
		{ "no-env", no_argument, NULL, 'E' },
		{ "prune-cache", optional_argument, NULL, 'P' },
		{ "export", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 }
	};
	struct vsl_recipe_opts ro = { .use_env = true };
	struct vsl_build_opts bo = { 0 };
	struct vsl_recipe *r = NULL;
	const char **vars;
	size_t nvars = 0;
	double t0 = build_now();
	int c, rc, status = VSL_EXIT_FAIL;
	bool prune = false;
	uint64_t keep = BUILD_PRUNE_DEFAULT;
	enum vsl_ix_kind exports[4];
	size_t nexports = 0;

	vars = calloc((size_t)argc + 1, sizeof(*vars));
	if (!vars)
		return cli_failf("build", "out of memory");
	while ((c = getopt_long(argc, argv, "o:D:n", opts, NULL)) != -1) {
		switch (c) {
		case 'o': bo.out = optarg; break;
		case 'D': vars[nvars++] = optarg; break;
		case 'n': bo.dry_run = true; break;
		case 'C': bo.no_cache = true; break;
		case 'K': bo.keep_failed = true; break;
		case 'E': ro.use_env = false; break;
		case 'X': {
			enum vsl_ix_kind k = vsl_ix_kind_from_name(optarg);
			bool dup = false;

			if (k == VSL_IX_NONE) {
				free(vars);
				return cli_usage(&vsl_cmd_build, "--export: unknown target '%s' (ova, "
						 "ovf, vmx, libvirt)", optarg);
			}
			for (size_t i = 0; i < nexports; i++)
				dup |= exports[i] == k;
			if (!dup && nexports < VSL_ARRAY_SIZE(exports))
				exports[nexports++] = k;
			break;
		}
		case 'P':
			prune = true;
			if (optarg && vsl_parse_size(optarg, &keep) < 0) {
				free(vars);
				return cli_usage(&vsl_cmd_build, "--prune-cache: bad size");
			}
			break;
		default:
			free(vars);
			return cli_usage(&vsl_cmd_build, "bad option");
		}
	}
	if (nexports && optind == argc) {
		free(vars);
		return cli_usage(&vsl_cmd_build, "--export needs a RECIPE to build");
	}
	if (prune && optind == argc) {
		/* prune only */
		free(vars);
		return build_prune(cli, keep, bo.dry_run);
	}
	if (optind != argc - 1) {
		free(vars);
		return cli_usage(&vsl_cmd_build, optind >= argc ? "missing RECIPE" :
								"too many arguments");
	}
	ro.vars = vars;
	ro.nvars = nvars;
	rc = vsl_recipe_load(cli->ctx, argv[optind], &ro, &r);
	if (rc < 0 && !r) {
		free(vars);
		return cli_fail(cli, "build");
	}
	if (vsl_recipe_ndiags(r)) {
		for (size_t i = 0; i < vsl_recipe_ndiags(r); i++)
			fprintf(stderr, "%s\n", vsl_recipe_diag(r, i));
		fprintf(stderr, "vessel: build: %s: %zu error%s; nothing built\n", argv[optind],
			vsl_recipe_ndiags(r), vsl_recipe_ndiags(r) == 1 ? "" : "s");
		goto out;
	}
	/* a build is long: show its stages unless -q */
	if (cli->verbosity == 0)
		vsl_ctx_set_log_level(cli->ctx, VSL_LOG_INFO);
	bo.recipe = r;
	bo.progress = &cli->progress;
	bo.cancel = &build_interrupted;
	{
		/* Ctrl-C: apt-get and the libguestfs appliance get it too and fail;
		 * vessel itself stays to remove the half-built bundle */
		struct sigaction sa = { .sa_handler = build_on_signal };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	bo.plan_fn = build_plan_line;
	if (vsl_build_run(cli->ctx, &bo) < 0) {
		cli_fail(cli, "build");
		if (bo.kept_dir)
			fprintf(stderr, "vessel: build: the failed build is kept in %s\n",
				bo.kept_dir);
		goto out;
	}
	if (!bo.dry_run && cli->verbosity >= 0)
		fprintf(stderr, "vessel: build: done in %.2f s%s\n", build_now() - t0,
			bo.cache_hit ? " (from the cache)" : "");
	status = VSL_EXIT_OK;
	if (!bo.dry_run && nexports) {
		char *bundle = bo.out ? strdup(bo.out) : vsl_strdup_printf("%s.vessel", r->name);

		if (!bundle) {
			status = cli_failf("build", "out of memory");
			goto out;
		}
		for (size_t l = strlen(bundle); l > 1 && bundle[l - 1] == '/'; l--)
			bundle[l - 1] = '\0';
		for (size_t i = 0; i < nexports && status == VSL_EXIT_OK; i++)
			status = build_export(cli, bundle, exports[i]);
		free(bundle);
	}
	if (prune && status == VSL_EXIT_OK)
		status = build_prune(cli, keep, bo.dry_run);
out:
	free(bo.kept_dir);
	vsl_recipe_free(r);
	free(vars);
	return status;
}

const struct vsl_cmd vsl_cmd_build = {
	.name = "build",
	.run = build_run,
	.summary = "build a VM bundle from a recipe",
	.usage = "usage: vessel build RECIPE.yaml [-o OUT] [--var NAME=VALUE]... [--dry-run]\n"
		 "                    [--no-cache] [--keep-failed] [--no-env] [--prune-cache[=SIZE]]\n"
		 "                    [--export ova|ovf|vmx|libvirt]...\n"
		 "       vessel build --prune-cache[=SIZE] [--dry-run]\n"
		 "\n"
		 "Build the bundle OUT (default NAME.vessel, NAME from machine.name) from\n"
		 "RECIPE (docs/recipe.md): Debian packages, with their dependencies as apt\n"
		 "resolves them (unless the recipe says depends: false), are fetched with\n"
		 "apt-get download (the machine's apt sources, verified by apt) into a\n"
		 "cache; the kernel and an initramfs are assembled without touching the\n"
		 "host; disks are made with e2fsprogs (ext4) or libguestfs (xfs, vfat, run\n"
		 "steps: one appliance launch per build). The bundle is assembled next to\n"
		 "OUT and renamed into place only when the build succeeded; an existing\n"
		 "bundle at OUT is replaced. A staging directory left beside OUT by a\n"
		 "killed build is removed.\n"
		 "\n"
		 "Options:\n"
		 "  -o, --output OUT     the bundle directory to write\n"
		 "  --var NAME=VALUE     give a recipe variable a value (repeatable)\n"
		 "  -n, --dry-run        resolve packages and print the plan; build nothing\n"
		 "  --no-cache           rebuild even if an identical build is cached\n"
		 "  --keep-failed        keep the temporary directory of a failed build\n"
		 "  --no-env             do not take variable values from the environment\n"
		 "  --export KIND        after the build, export the bundle as with `vessel\n"
		 "                       export --to KIND` (repeatable): OUT without .vessel\n"
		 "                       plus .ova, -ovf/, -vmx/ or .xml, beside OUT\n"
		 "  --prune-cache[=SIZE] after the build (or alone, without RECIPE): keep the\n"
		 "                       most recently used cache entries up to SIZE (default\n"
		 "                       2G) and remove the rest, listing each on stdout;\n"
		 "                       with --dry-run only list what would be removed\n"
		 "\n"
		 "Environment:\n"
		 "  VESSEL_CACHE         cache directory (default ~/.cache/vessel): downloaded\n"
		 "                       packages, apt answers and finished builds\n"
		 "  APT_CONFIG           apt's configuration file (apt-get and apt-cache read it)\n"
		 "  SOURCE_DATE_EPOCH    timestamp of every file in the initramfs and disks (0)\n"
		 "  NAME                 value of a variable the recipe declares (--var wins)\n"
		 "  LIBGUESTFS_BACKEND, LIBGUESTFS_BACKEND_SETTINGS  passed to libguestfs\n"
		 "                       (vessel sets direct / force_tcg when they are unset)\n"
		 "\n"
		 "Exit status: 0 built, 1 failed (a failed build leaves nothing behind; after\n"
		 "a failed --export the bundle stays), 2 usage error.\n",
};
