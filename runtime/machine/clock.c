/*
 * The virtual clock: nanoseconds of guest time plus a small timer table.
 *
 * The board installs a source (instructions retired times the virtual cycle
 * length, plus the time skipped while the guest halted); tests leave the
 * source unset and move time with vsl_clock_set. Timers are few (PIT, APIC,
 * RTC, UART), so the table is a fixed array scanned linearly; the board asks
 * for the next deadline to size the CPU's budget, and runs due timers after
 * each slice. Arming a timer earlier than the deadline the board planned
 * with calls the notify hook, so the board can cut the running slice short.
 *
 *	struct vsl_timer *t = vsl_timer_new(clk, pit_fire, pit);
 *	vsl_timer_mod(t, vsl_clock_now(clk) + 1000000);   // in 1 ms
 */
#include <stdlib.h>

#include "vessel/devices.h"

#define CLOCK_MAX_TIMERS 32

struct vsl_timer {
	struct vsl_clock *clk;
	vsl_timer_fn *fn;
	void *opaque;
	uint64_t deadline; /* VSL_CLOCK_NEVER when idle */
};

struct vsl_clock {
	vsl_clock_source_fn *source;
	void *source_opaque;
	vsl_clock_notify_fn *notify;
	void *notify_opaque;
	uint64_t manual_ns;
	struct vsl_timer *timers[CLOCK_MAX_TIMERS];
	size_t n;
};

struct vsl_clock *vsl_clock_new(void)
{
	return calloc(1, sizeof(struct vsl_clock));
}

void vsl_clock_free(struct vsl_clock *clk)
{
	if (!clk)
		return;
	/* timers are owned by their devices; detach any left behind */
	for (size_t i = 0; i < clk->n; i++)
		clk->timers[i]->clk = NULL;
	free(clk);
}

void vsl_clock_set_source(struct vsl_clock *clk, vsl_clock_source_fn *fn, void *opaque)
{
	clk->source = fn;
	clk->source_opaque = opaque;
}

void vsl_clock_set_notify(struct vsl_clock *clk, vsl_clock_notify_fn *fn, void *opaque)
{
	clk->notify = fn;
	clk->notify_opaque = opaque;
}

void vsl_clock_set(struct vsl_clock *clk, uint64_t ns)
{
	clk->manual_ns = ns;
}

uint64_t vsl_clock_now(const struct vsl_clock *clk)
{
	return clk->source ? clk->source(clk->source_opaque) : clk->manual_ns;
}

uint64_t vsl_clock_next_deadline(const struct vsl_clock *clk)
{
	uint64_t d = VSL_CLOCK_NEVER;

	for (size_t i = 0; i < clk->n; i++)
		d = VSL_MIN(d, clk->timers[i]->deadline);
	return d;
}

void vsl_clock_run_timers(struct vsl_clock *clk)
{
	/* Loop until nothing is due: a callback may arm another timer in the past. */
	for (int round = 0; round < 64; round++) {
		uint64_t now = vsl_clock_now(clk);
		bool fired = false;

		for (size_t i = 0; i < clk->n; i++) {
			struct vsl_timer *t = clk->timers[i];
			if (t->deadline <= now) {
				t->deadline = VSL_CLOCK_NEVER;
				t->fn(t->opaque, now);
				fired = true;
			}
		}
		if (!fired)
			break;
	}
}

struct vsl_timer *vsl_timer_new(struct vsl_clock *clk, vsl_timer_fn *fn, void *opaque)
{
	struct vsl_timer *t;

	if (clk->n == CLOCK_MAX_TIMERS)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	*t = (struct vsl_timer){ .clk = clk, .fn = fn, .opaque = opaque,
				 .deadline = VSL_CLOCK_NEVER };
	clk->timers[clk->n++] = t;
	return t;
}

void vsl_timer_free(struct vsl_timer *t)
{
	struct vsl_clock *clk;

	if (!t)
		return;
	clk = t->clk;
	for (size_t i = 0; clk && i < clk->n; i++) {
		if (clk->timers[i] == t) {
			clk->timers[i] = clk->timers[--clk->n];
			break;
		}
	}
	free(t);
}

void vsl_timer_mod(struct vsl_timer *t, uint64_t deadline_ns)
{
	struct vsl_clock *clk = t->clk;
	uint64_t before;

	if (!clk)
		return;
	before = vsl_clock_next_deadline(clk);
	t->deadline = deadline_ns;
	if (deadline_ns < before && clk->notify)
		clk->notify(clk->notify_opaque);
}

void vsl_timer_del(struct vsl_timer *t)
{
	t->deadline = VSL_CLOCK_NEVER;
}

bool vsl_timer_pending(const struct vsl_timer *t)
{
	return t->deadline != VSL_CLOCK_NEVER;
}
