/*
 * Progress line formatting. Drawing (and deciding whether stderr is a
 * terminal) is the CLI's job; this only builds the text so it can be tested.
 */
#include <stdio.h>
#include <string.h>

#include "vessel/common.h"
#include "vessel/progress.h"

static void fmt_eta(char *buf, size_t len, double s)
{
	unsigned long t = (unsigned long)(s + 0.5);

	if (t >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
}

void vsl_progress_format(char *buf, size_t len, const char *what, uint64_t done,
			 uint64_t total, double elapsed_s, unsigned width)
{
	char d[32], t[32], rate[32], eta[32], tail[160], bar[256];
	double bps = elapsed_s > 0.05 ? (double)done / elapsed_s : 0.0;
	unsigned pct = 0, barw, fill, i;
	size_t taillen, whatlen;

	if (!len)
		return;
	vsl_format_size(done, d, sizeof(d));
	if (bps > 0)
		snprintf(rate, sizeof(rate), "%s/s", vsl_format_size((uint64_t)bps, t, sizeof(t)));
	else
		snprintf(rate, sizeof(rate), "-");
	if (total == 0) {
		snprintf(buf, len, "%s  %s  %s", what, d, rate);
		return;
	}
	if (done > total)
		done = total;
	pct = (unsigned)(done * 100.0 / (double)total);
	if (bps > 0 && done < total)
		fmt_eta(eta, sizeof(eta), (double)(total - done) / bps);
	else if (done >= total)
		fmt_eta(eta, sizeof(eta), elapsed_s);
	else
		snprintf(eta, sizeof(eta), "--:--");
	vsl_format_size(total, t, sizeof(t));
	snprintf(tail, sizeof(tail), " %3u%%  %s/%s  %s  %s %s", pct, d, t, rate,
		 done >= total ? "in" : "ETA", eta);
	taillen = strlen(tail);
	whatlen = strlen(what);
	/* bar width: whatever is left of the line, between 10 and 50 columns */
	barw = width > whatlen + taillen + 4 ? width - (unsigned)(whatlen + taillen + 4) : 10;
	barw = VSL_MIN(VSL_MAX(barw, 10u), 50u);
	fill = (unsigned)((double)barw * (double)done / (double)total);
	for (i = 0; i < barw; i++)
		bar[i] = i < fill ? '#' : ' ';
	bar[barw] = '\0';
	snprintf(buf, len, "%s [%s]%s", what, bar, tail);
}
