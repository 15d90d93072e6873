/*
 * Progress reporting for long operations.
 *
 * Libraries report progress through a caller-supplied callback and never
 * draw anything themselves. The CLI installs a callback that renders a bar
 * with rate and ETA on a terminal (see vsl_progress_format) and nothing
 * otherwise:
 *
 *	vsl_progress_report(p, "convert", bytes_done, bytes_total);
 */
#ifndef VESSEL_PROGRESS_H
#define VESSEL_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef void vsl_progress_fn(void *opaque, const char *what, uint64_t done, uint64_t total);

struct vsl_progress {
	vsl_progress_fn *fn; /* NULL: no reporting */
	void *opaque;
};

static inline void vsl_progress_report(const struct vsl_progress *p, const char *what,
				       uint64_t done, uint64_t total)
{
	if (p && p->fn)
		p->fn(p->opaque, what, done, total);
}

/*
 * Render one progress line into buf (always NUL-terminated):
 *   "convert  [#########           ]  45%  1.2 GiB/2.7 GiB  310.0 MiB/s  ETA 0:05"
 * elapsed_s is the time since the operation started; width is the terminal
 * width (the bar shrinks to fit). total == 0 means unknown (no bar, no ETA).
 */
void vsl_progress_format(char *buf, size_t len, const char *what, uint64_t done,
			 uint64_t total, double elapsed_s, unsigned width);

#endif
