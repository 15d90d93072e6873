/*
 * vessel: entry point, global options and command dispatch.
 *
 *	vessel [-v|-q] COMMAND [ARGS...]
 *
 * The command table below is the single list of subcommands; `vessel help`
 * is generated from it.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

extern const struct vsl_cmd vsl_cmd_build, vsl_cmd_validate;

extern const struct vsl_cmd vsl_cmd_inspect;

extern const struct vsl_cmd vsl_cmd_run;

extern const struct vsl_cmd vsl_cmd_img;

extern const struct vsl_cmd vsl_cmd_export, vsl_cmd_import;
extern const struct vsl_cmd vsl_cmd_p2v;

static const struct vsl_cmd *const commands[] = {
	&vsl_cmd_help,
	&vsl_cmd_version,
	&vsl_cmd_img,
	&vsl_cmd_inspect,
	&vsl_cmd_build,
	&vsl_cmd_validate,
	&vsl_cmd_run,
	&vsl_cmd_export,
	&vsl_cmd_import,
	&vsl_cmd_p2v,
	NULL
};

static const struct vsl_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; commands[i]; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

int cli_fail(struct vsl_cli *cli, const char *context)
{
	const char *msg = vsl_ctx_error(cli->ctx);

	if (context && *context)
		fprintf(stderr, "vessel: %s: %s\n", context, *msg ? msg : "failed");
	else
		fprintf(stderr, "vessel: %s\n", *msg ? msg : "failed");
	return VSL_EXIT_FAIL;
}

int cli_failf(const char *context, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vessel: %s: ", context);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return VSL_EXIT_FAIL;
}

int cli_usage(const struct vsl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vessel: %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vessel help %s'.\n", cmd->name);
	return VSL_EXIT_USAGE;
}

void cli_print_help(const struct vsl_cmd *cmd)
{
	fputs(cmd->usage, stdout);
}

void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void log_to_stderr(void *opaque, enum vsl_log_level level, const char *file, int line,
			  const char *func, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	if (level == VSL_LOG_DEBUG)
		fprintf(stderr, "vessel: debug: %s:%d %s: %s\n", file, line, func, msg);
	else if (level == VSL_LOG_INFO)
		fprintf(stderr, "vessel: %s\n", msg);
	else
		fprintf(stderr, "vessel: %s: %s\n", names[level], msg);
}

static void print_overview(FILE *f)
{
	fprintf(f, "usage: vessel [-v|-q] COMMAND [ARGS...]\n\n"
		   "vessel builds, converts and runs x86-64 virtual machine bundles.\n\n"
		   "Commands:\n");
	for (size_t i = 0; commands[i]; i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nGlobal options:\n"
		   "  -v, --verbose   more messages (repeat for debug output)\n"
		   "  -q, --quiet     errors only, no progress bar\n"
		   "  --version       print the version and exit\n"
		   "  -h, --help      this text; 'vessel help COMMAND' for a command\n"
		   "\nEnvironment:\n"
		   "  VESSEL_PROGRESS=1   draw progress bars even when stderr is not a terminal\n"
		   "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

static int help_run(struct vsl_cli *cli, int argc, char **argv)
{
	const struct vsl_cmd *cmd;

	if (argc < 2) {
		print_overview(stdout);
		return VSL_EXIT_OK;
	}
	if (argc > 2)
		return cli_usage(&vsl_cmd_help, "too many arguments");
	cmd = find_cmd(argv[1]);
	if (!cmd)
		return cli_usage(&vsl_cmd_help, "unknown command '%s'", argv[1]);
	cli_print_help(cmd);
	return VSL_EXIT_OK;
}

const struct vsl_cmd vsl_cmd_help = {
	.name = "help",
	.run = help_run,
	.summary = "show help for vessel or one command",
	.usage = "usage: vessel help [COMMAND]\n\n"
		 "Without COMMAND, list every command; with it, show that command's usage.\n",
};

static int version_run(struct vsl_cli *cli, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(&vsl_cmd_version, "unexpected argument '%s'", argv[1]);
	printf("vessel %s\n", vsl_version());
	return VSL_EXIT_OK;
}

const struct vsl_cmd vsl_cmd_version = {
	.name = "version",
	.run = version_run,
	.summary = "print vessel's version",
	.usage = "usage: vessel version\n\nPrint vessel's version.\n",
};

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct vsl_cli cli = { 0 };
	const struct vsl_cmd *cmd;
	int c, status;

	/* '+' stops at the first non-option: the command's own options follow it. */
	while ((c = getopt_long(argc, argv, "+vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'v': cli.verbosity = cli.verbosity < 0 ? 1 : cli.verbosity + 1; break;
		case 'q': cli.verbosity = -1; break;
		case 'V': printf("vessel %s\n", vsl_version()); return VSL_EXIT_OK;
		case 'h': print_overview(stdout); return VSL_EXIT_OK;
		default:
			fprintf(stderr, "Try 'vessel help'.\n");
			return VSL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		print_overview(stderr);
		return VSL_EXIT_USAGE;
	}
	cmd = find_cmd(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "vessel: unknown command '%s'\nTry 'vessel help'.\n", argv[optind]);
		return VSL_EXIT_USAGE;
	}
	if (wants_help(argc - optind, argv + optind)) {
		cli_print_help(cmd);
		return VSL_EXIT_OK;
	}
	cli.ctx = vsl_ctx_new();
	if (!cli.ctx) {
		fprintf(stderr, "vessel: out of memory\n");
		return VSL_EXIT_FAIL;
	}
	vsl_ctx_set_log(cli.ctx, log_to_stderr, NULL);
	vsl_ctx_set_log_level(cli.ctx, cli.verbosity < 0 ? VSL_LOG_ERR :
				       cli.verbosity == 0 ? VSL_LOG_WARN :
				       cli.verbosity == 1 ? VSL_LOG_INFO : VSL_LOG_DEBUG);
	cli_progress_init(&cli, false);
	argc -= optind;
	argv += optind;
	optind = 0; /* glibc: 0 re-initialises getopt for the command's own parsing */
	status = cmd->run(&cli, argc, argv);
	cli_progress_done(&cli);
	vsl_ctx_free(cli.ctx);
	return status;
}
