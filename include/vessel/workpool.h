/*
 * Ordered parallel pipeline: N worker threads transform jobs (compress a
 * chunk, hash a block, ...) while the submitting thread retires the results
 * strictly in submission order (write them to an output stream, say).
 *
 * Work functions run on worker threads: they must touch only their own job
 * (no vsl_ctx, no streams). Retire functions run on the thread that calls
 * vsl_workpool_submit / vsl_workpool_drain, one job at a time, in order, so
 * they may do I/O and set errors on a ctx.
 *
 *	static int work(void *opaque, void *job)   { compress((struct chunk *)job); return 0; }
 *	static int retire(void *opaque, void *job, int status)
 *	{ return status < 0 ? status : write_chunk(opaque, job); }
 *
 *	struct vsl_workpool *wp = vsl_workpool_new(ctx, 0, 0, work, retire, out);
 *	for (...) {
 *		struct chunk *c = ...;            // owned by the pool until retired
 *		if (vsl_workpool_submit(wp, c) < 0) break;   // may block; retires as it goes
 *	}
 *	r = vsl_workpool_drain(wp);               // retire everything still in flight
 *	vsl_workpool_free(wp);                    // drains too (errors discarded)
 *
 * Errors: a work function returns 0 or a negative VSL_E* code, which is
 * passed to retire as `status`. When retire returns < 0 the pool becomes
 * failed: later jobs are still retired with status VSL_ECANCELED (so their
 * memory can be freed) and submit/drain return the first error.
 */
#ifndef VESSEL_WORKPOOL_H
#define VESSEL_WORKPOOL_H

#include "vessel/common.h"

struct vsl_workpool;

/* Runs on a worker thread. Returns 0 or VSL_E*. */
typedef int vsl_workpool_work_fn(void *opaque, void *job);
/* Runs on the submitting thread, in submission order. Returns 0 or VSL_E*. */
typedef int vsl_workpool_retire_fn(void *opaque, void *job, int status);

/*
 * threads: worker threads (0 = online CPUs; capped at 64).
 * depth: jobs in flight before submit blocks (0 = 4 * threads).
 * NULL (ctx error set) on failure.
 */
struct vsl_workpool *vsl_workpool_new(struct vsl_ctx *ctx, unsigned threads, unsigned depth,
				      vsl_workpool_work_fn *work,
				      vsl_workpool_retire_fn *retire, void *opaque);
/* Queue a job; blocks while the pool is full, retiring finished jobs. */
int vsl_workpool_submit(struct vsl_workpool *wp, void *job);
/* Retire the jobs that are already finished, without blocking. */
int vsl_workpool_poll(struct vsl_workpool *wp);
/* Wait for every submitted job and retire it. Returns the pool's first error. */
int vsl_workpool_drain(struct vsl_workpool *wp);
/* Number of worker threads. */
unsigned vsl_workpool_threads(const struct vsl_workpool *wp);
/* Drain (discarding errors), stop the threads, free. NULL is a no-op. */
void vsl_workpool_free(struct vsl_workpool *wp);

#endif
