/* Unit tests for common/workpool.c: order of retirement, errors, draining. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/workpool.h"

struct wjob {
	unsigned seq;
	unsigned value;
	bool worked;
};

struct wstate {
	unsigned next;      /* next sequence number expected by retire */
	unsigned fail_at;   /* retire fails on this seq (~0u: never) */
	unsigned canceled;
	unsigned retired;
	bool out_of_order;
};

static int w_work(void *opaque, void *job)
{
	struct wjob *j = job;

	/* uneven durations so workers finish out of order */
	if (j->seq % 7 == 0)
		usleep(300);
	j->value = j->seq * 3 + 1;
	j->worked = true;
	return j->seq == 1000000 ? VSL_EIO : 0;
}

static int w_retire(void *opaque, void *job, int status)
{
	struct wstate *st = opaque;
	struct wjob *j = job;
	int r = 0;

	if (j->seq != st->next)
		st->out_of_order = true;
	st->next++;
	st->retired++;
	if (status == VSL_ECANCELED)
		st->canceled++;
	else if (status == 0 && (!j->worked || j->value != j->seq * 3 + 1))
		st->out_of_order = true;
	if (j->seq == st->fail_at)
		r = VSL_EIO;
	free(j);
	return r;
}

static struct wjob *w_new(unsigned seq)
{
	struct wjob *j = calloc(1, sizeof(*j));

	ck_assert_ptr_nonnull(j);
	j->seq = seq;
	return j;
}

START_TEST(ordered_retire)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct wstate st = { .fail_at = ~0u };
	struct vsl_workpool *wp = vsl_workpool_new(ctx, 4, 3, w_work, w_retire, &st);
	unsigned i;

	ck_assert_ptr_nonnull(wp);
	ck_assert_uint_eq(vsl_workpool_threads(wp), 4);
	for (i = 0; i < 500; i++)
		ck_assert_int_eq(vsl_workpool_submit(wp, w_new(i)), 0);
	ck_assert_int_eq(vsl_workpool_drain(wp), 0);
	ck_assert_uint_eq(st.retired, 500);
	ck_assert(!st.out_of_order);
	ck_assert_uint_eq(st.canceled, 0);
	/* the pool is reusable after a drain */
	ck_assert_int_eq(vsl_workpool_submit(wp, w_new(500)), 0);
	vsl_workpool_free(wp);
	ck_assert_uint_eq(st.retired, 501);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(retire_error_is_sticky)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct wstate st = { .fail_at = 10 };
	struct vsl_workpool *wp = vsl_workpool_new(ctx, 2, 0, w_work, w_retire, &st);
	unsigned i;
	int r = 0;

	ck_assert_ptr_nonnull(wp);
	for (i = 0; i < 100 && r == 0; i++)
		r = vsl_workpool_submit(wp, w_new(i));
	if (r == 0)
		r = vsl_workpool_drain(wp);
	ck_assert_int_eq(r, VSL_EIO);
	ck_assert_int_eq(vsl_workpool_drain(wp), VSL_EIO);
	/* every submitted job was retired exactly once, in order */
	ck_assert_uint_eq(st.retired, i);
	ck_assert(!st.out_of_order);
	vsl_workpool_free(wp);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(free_without_jobs)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct wstate st = { .fail_at = ~0u };
	struct vsl_workpool *wp = vsl_workpool_new(ctx, 0, 0, w_work, w_retire, &st);

	ck_assert_ptr_nonnull(wp);
	ck_assert_uint_ge(vsl_workpool_threads(wp), 1);
	ck_assert_int_eq(vsl_workpool_poll(wp), 0);
	vsl_workpool_free(wp);
	vsl_workpool_free(NULL);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("workpool");
	TCase *tc = tcase_create("workpool");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, ordered_retire);
	tcase_add_test(tc, retire_error_is_sticky);
	tcase_add_test(tc, free_without_jobs);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
