/*
 * The CLI's progress bar: redrawn in place on stderr at most ten times a
 * second, only when stderr is a terminal (or VESSEL_PROGRESS=1), never with -q.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

struct bar {
	double start, last;
	char what[64];
	bool drawn;
};

static struct bar the_bar;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}

static void bar_draw(void *opaque, const char *what, uint64_t done, uint64_t total)
{
	struct bar *b = opaque;
	double t = now_s();
	char line[512];
	unsigned w;

	if (strncmp(b->what, what, sizeof(b->what) - 1) || !b->drawn) {
		if (b->drawn)
			fputc('\n', stderr);
		snprintf(b->what, sizeof(b->what), "%s", what);
		b->start = t;
		b->last = 0;
		b->drawn = false;
	}
	if (b->drawn && t - b->last < 0.1 && !(total && done >= total))
		return;
	b->last = t;
	w = term_width();
	vsl_progress_format(line, sizeof(line), what, done, total, t - b->start, w - 1);
	fprintf(stderr, "\r%-*.*s", (int)(w - 1), (int)(w - 1), line);
	b->drawn = true;
	if (total && done >= total) {
		fputc('\n', stderr);
		b->drawn = false;
		b->what[0] = '\0';
	}
	fflush(stderr);
}

void cli_progress_init(struct vsl_cli *cli, bool force)
{
	const char *env = getenv("VESSEL_PROGRESS");

	cli->progress = (struct vsl_progress){ 0 };
	if (cli->verbosity < 0)
		return;
	if (force || isatty(STDERR_FILENO) || (env && !strcmp(env, "1")))
		cli->progress = (struct vsl_progress){ .fn = bar_draw, .opaque = &the_bar };
}

void cli_progress_done(struct vsl_cli *cli)
{
	if (the_bar.drawn) {
		fputc('\n', stderr);
		the_bar.drawn = false;
	}
}
