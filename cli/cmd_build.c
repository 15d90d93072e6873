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
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "vessel/builder.h"
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
	if (prune)
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
		 "       vessel build --prune-cache[=SIZE] [--dry-run]\n"
		 "\n"
		 "Build the bundle OUT (default NAME.vessel, NAME from machine.name) from\n"
		 "RECIPE (docs/recipe.md): Debian packages are fetched with apt-get download\n"
		 "(the machine's apt sources, verified by apt) into a cache, the kernel and\n"
		 "an initramfs are assembled without touching the host, disks are made with\n"
		 "e2fsprogs (ext4) or libguestfs (xfs, vfat, run steps: one appliance launch\n"
		 "per build). The bundle is assembled next\n"
		 "to OUT and renamed into place only when the build succeeded; an existing\n"
		 "bundle at OUT is replaced. Package lists come with their dependencies as\n"
		 "apt resolves them (unless the recipe says depends: false). A staging\n"
		 "directory left by a killed build of the same OUT is removed.\n"
		 "\n"
		 "Options:\n"
		 "  -o, --output OUT     the bundle directory to write\n"
		 "  --var NAME=VALUE     give a recipe variable a value (repeatable)\n"
		 "  -n, --dry-run        resolve packages and print the plan; build nothing\n"
		 "  --no-cache           rebuild even if an identical build is cached\n"
		 "  --keep-failed        keep the temporary directory of a failed build\n"
		 "  --no-env             do not take variable values from the environment\n"
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
		 "Exit status: 0 built, 1 failed (nothing is left behind), 2 usage error.\n",
};
