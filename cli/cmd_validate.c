/*
 * vessel validate: check a recipe and print every problem at once.
 *
 *	vessel validate recipes/hello.yaml [--var K=V]...
 *
 * Problems go to stderr as "RECIPE:LINE:COL: message", one per line, in the
 * order they appear in the file's walk; the exit status is 1 when there is
 * at least one. Nothing is downloaded: packages are checked at build time.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vessel/recipe.h"

extern const struct vsl_cmd vsl_cmd_validate;

static int validate_run(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "var", required_argument, NULL, 'D' },
		{ "no-env", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 }
	};
	const char **vars = NULL;
	struct vsl_recipe_opts ro = { .use_env = true };
	struct vsl_recipe *r = NULL;
	size_t nvars = 0;
	int c, rc, status;

	vars = calloc((size_t)argc + 1, sizeof(*vars));
	if (!vars)
		return cli_failf("validate", "out of memory");
	while ((c = getopt_long(argc, argv, "D:", opts, NULL)) != -1) {
		switch (c) {
		case 'D': vars[nvars++] = optarg; break;
		case 'E': ro.use_env = false; break;
		default:
			free(vars);
			return cli_usage(&vsl_cmd_validate, "bad option");
		}
	}
	if (optind != argc - 1) {
		free(vars);
		return cli_usage(&vsl_cmd_validate, optind >= argc ? "missing RECIPE" :
								   "too many arguments");
	}
	ro.vars = vars;
	ro.nvars = nvars;
	rc = vsl_recipe_load(cli->ctx, argv[optind], &ro, &r);
	if (rc < 0 && !r) {
		free(vars);
		return cli_fail(cli, "validate");
	}
	for (size_t i = 0; i < vsl_recipe_ndiags(r); i++)
		fprintf(stderr, "%s\n", vsl_recipe_diag(r, i));
	if (vsl_recipe_ndiags(r)) {
		fprintf(stderr, "vessel: validate: %s: %zu error%s\n", argv[optind],
			vsl_recipe_ndiags(r), vsl_recipe_ndiags(r) == 1 ? "" : "s");
		status = VSL_EXIT_FAIL;
	} else {
		if (cli->verbosity >= 0)
			printf("%s: valid (recipe schema %d, machine '%s', %zu disk%s, %zu step%s)\n",
			       argv[optind], VSL_RECIPE_VERSION, r->name, r->ndisks,
			       r->ndisks == 1 ? "" : "s", r->nsteps, r->nsteps == 1 ? "" : "s");
		status = VSL_EXIT_OK;
	}
	vsl_recipe_free(r);
	free(vars);
	return status;
}

const struct vsl_cmd vsl_cmd_validate = {
	.name = "validate",
	.run = validate_run,
	.summary = "check a recipe and report every error with its line",
	.usage = "usage: vessel validate RECIPE.yaml [--var NAME=VALUE]... [--no-env]\n"
		 "\n"
		 "Check RECIPE against the recipe schema (docs/recipe.md) and print every\n"
		 "problem found, one per line, as RECIPE:LINE:COL: MESSAGE on stderr:\n"
		 "YAML syntax, unknown keys (with a did-you-mean), wrong types, sizes and\n"
		 "units, references to disks or sources that do not exist, undefined\n"
		 "variables and variables without a value, missing local files.\n"
		 "Packages are not looked up (that needs apt; `vessel build` does it).\n"
		 "\n"
		 "Options:\n"
		 "  --var NAME=VALUE  give a recipe variable a value (repeatable)\n"
		 "  --no-env          do not take variable values from the environment\n"
		 "\n"
		 "Environment:\n"
		 "  NAME              a variable the recipe declares takes its value from the\n"
		 "                    environment variable of the same name (--var wins)\n"
		 "\n"
		 "Exit status: 0 valid, 1 invalid or unreadable, 2 usage error.\n",
};
