/*
 * The vessel command line: shared state and the command table.
 *
 * Each subcommand lives in cli/cmd_<name>.c and defines one
 * `const struct vsl_cmd vsl_cmd_<name>`; cli/main.c lists them in its table,
 * which also generates `vessel help`. A command's run() gets argv with
 * argv[0] = the command name and returns the process exit status:
 * 0 success, 1 failure, 2 usage error.
 */
#ifndef VESSEL_CLI_H
#define VESSEL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "vessel/common.h"
#include "vessel/progress.h"

enum { VSL_EXIT_OK = 0, VSL_EXIT_FAIL = 1, VSL_EXIT_USAGE = 2 };

struct vsl_cli {
	struct vsl_ctx *ctx;
	int verbosity;                 /* -1 quiet, 0 normal, 1 info, 2 debug */
	struct vsl_progress progress;  /* bar on a terminal, silent otherwise */
};

struct vsl_cmd {
	const char *name;
	int (*run)(struct vsl_cli *cli, int argc, char **argv);
	const char *summary; /* one line for `vessel help` */
	const char *usage;   /* full text for `vessel help NAME` and NAME --help */
};

/* Print "vessel: CONTEXT: <ctx error>" and return VSL_EXIT_FAIL. */
int cli_fail(struct vsl_cli *cli, const char *context);
/* Print "vessel: CONTEXT: MESSAGE" and return VSL_EXIT_FAIL. */
int cli_failf(const char *context, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "vessel: NAME: MESSAGE" plus a pointer to the help; returns VSL_EXIT_USAGE. */
int cli_usage(const struct vsl_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the command's full usage to stdout. */
void cli_print_help(const struct vsl_cmd *cmd);

/* Progress bar (cli/progress.c): install on cli->progress. */
void cli_progress_init(struct vsl_cli *cli, bool force);
void cli_progress_done(struct vsl_cli *cli);

/* Print a JSON string literal (with quotes and escapes) to f. */
void cli_json_str(FILE *f, const char *s);

extern const struct vsl_cmd vsl_cmd_help;
extern const struct vsl_cmd vsl_cmd_version;

#endif
