/*
 * Ordered parallel pipeline (see include/vessel/workpool.h).
 *
 * Jobs sit in a ring of `depth` slots. Three indices move forward forever
 * (taken modulo depth):
 *
 *	retired <= started <= submitted,   submitted - retired <= depth
 *
 * [retired, started) are being worked on or finished (slot->done tells),
 * [started, submitted) wait for a worker. Workers take the next waiting
 * slot under the mutex and run the work function without it. The
 * submitting thread retires slots from `retired` onward while they are
 * done, so results leave in the order they came in whatever order the
 * workers finish them in.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/workpool.h"

#define WORKPOOL_MAX_THREADS 64

struct workpool_slot {
	void *job;
	int status;
	bool done;
};

struct vsl_workpool {
	struct vsl_ctx *ctx;
	vsl_workpool_work_fn *work;
	vsl_workpool_retire_fn *retire;
	void *opaque;
	pthread_mutex_t lock;
	pthread_cond_t work_cv;  /* workers wait for jobs or stop */
	pthread_cond_t done_cv;  /* the submitter waits for a finished slot */
	struct workpool_slot *slots;
	unsigned depth, nthreads;
	uint64_t submitted, started, retired;
	bool stop;
	int error;               /* first retire error (sticky) */
	pthread_t *threads;
};

static void *workpool_thread(void *arg)
{
	struct vsl_workpool *wp = arg;

	pthread_mutex_lock(&wp->lock);
	for (;;) {
		struct workpool_slot *slot;
		int status;
		bool cancel;

		while (!wp->stop && wp->started == wp->submitted)
			pthread_cond_wait(&wp->work_cv, &wp->lock);
		if (wp->started == wp->submitted)
			break; /* stopping and nothing left */
		slot = &wp->slots[wp->started++ % wp->depth];
		cancel = wp->error != 0;
		pthread_mutex_unlock(&wp->lock);
		status = cancel ? VSL_ECANCELED : wp->work(wp->opaque, slot->job);
		pthread_mutex_lock(&wp->lock);
		slot->status = status;
		slot->done = true;
		pthread_cond_broadcast(&wp->done_cv);
	}
	pthread_mutex_unlock(&wp->lock);
	return NULL;
}

struct vsl_workpool *vsl_workpool_new(struct vsl_ctx *ctx, unsigned threads, unsigned depth,
				      vsl_workpool_work_fn *work,
				      vsl_workpool_retire_fn *retire, void *opaque)
{
	struct vsl_workpool *wp;
	unsigned i;
	int r;

	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	threads = VSL_MIN(threads, WORKPOOL_MAX_THREADS);
	if (!depth)
		depth = 4 * threads;
	wp = calloc(1, sizeof(*wp));
	if (!wp)
		goto err_nomem;
	wp->slots = vsl_calloc(depth, sizeof(*wp->slots));
	wp->threads = vsl_calloc(threads, sizeof(*wp->threads));
	if (!wp->slots || !wp->threads)
		goto err_free;
	wp->ctx = ctx;
	wp->work = work;
	wp->retire = retire;
	wp->opaque = opaque;
	wp->depth = depth;
	pthread_mutex_init(&wp->lock, NULL);
	pthread_cond_init(&wp->work_cv, NULL);
	pthread_cond_init(&wp->done_cv, NULL);
	for (i = 0; i < threads; i++) {
		r = pthread_create(&wp->threads[i], NULL, workpool_thread, wp);
		if (r) {
			vsl_workpool_free(wp);
			vsl_set_error(ctx, r, VSL_ENOMEM, "workpool: cannot start thread %u", i);
			return NULL;
		}
		wp->nthreads = i + 1;
	}
	return wp;
err_free:
	free(wp->slots);
	free(wp->threads);
	free(wp);
err_nomem:
	vsl_set_error(ctx, 0, VSL_ENOMEM, "workpool: out of memory");
	return NULL;
}

/* Retire finished slots in order; with `wait`, until at least one is retired. Lock held. */
static void workpool_retire_locked(struct vsl_workpool *wp, bool wait, uint64_t until)
{
	while (wp->retired < until) {
		struct workpool_slot *slot = &wp->slots[wp->retired % wp->depth];
		int status, r;
		void *job;

		if (!slot->done) {
			if (!wait)
				return;
			pthread_cond_wait(&wp->done_cv, &wp->lock);
			continue;
		}
		job = slot->job;
		status = wp->error ? VSL_ECANCELED : slot->status;
		*slot = (struct workpool_slot){ 0 };
		wp->retired++;
		pthread_mutex_unlock(&wp->lock);
		r = wp->retire(wp->opaque, job, status);
		pthread_mutex_lock(&wp->lock);
		if (r < 0 && !wp->error)
			wp->error = r;
		wait = false; /* one retired: a slot is free */
	}
}

int vsl_workpool_submit(struct vsl_workpool *wp, void *job)
{
	int r;

	pthread_mutex_lock(&wp->lock);
	workpool_retire_locked(wp, false, wp->submitted);
	while (wp->submitted - wp->retired >= wp->depth)
		workpool_retire_locked(wp, true, wp->submitted);
	wp->slots[wp->submitted % wp->depth] = (struct workpool_slot){ .job = job };
	wp->submitted++;
	pthread_cond_signal(&wp->work_cv);
	r = wp->error;
	pthread_mutex_unlock(&wp->lock);
	return r;
}

int vsl_workpool_poll(struct vsl_workpool *wp)
{
	int r;

	pthread_mutex_lock(&wp->lock);
	workpool_retire_locked(wp, false, wp->submitted);
	r = wp->error;
	pthread_mutex_unlock(&wp->lock);
	return r;
}

int vsl_workpool_drain(struct vsl_workpool *wp)
{
	int r;

	pthread_mutex_lock(&wp->lock);
	while (wp->retired < wp->submitted)
		workpool_retire_locked(wp, true, wp->submitted);
	r = wp->error;
	pthread_mutex_unlock(&wp->lock);
	return r;
}

unsigned vsl_workpool_threads(const struct vsl_workpool *wp)
{
	return wp->nthreads;
}

void vsl_workpool_free(struct vsl_workpool *wp)
{
	unsigned i;

	if (!wp)
		return;
	if (wp->nthreads)
		vsl_workpool_drain(wp);
	pthread_mutex_lock(&wp->lock);
	wp->stop = true;
	pthread_cond_broadcast(&wp->work_cv);
	pthread_mutex_unlock(&wp->lock);
	for (i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	pthread_mutex_destroy(&wp->lock);
	pthread_cond_destroy(&wp->work_cv);
	pthread_cond_destroy(&wp->done_cv);
	free(wp->slots);
	free(wp->threads);
	free(wp);
}
