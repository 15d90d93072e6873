/*
 * Unit tests for the CPU counters behind `vessel run --stats`
 * (vsl_cpu_get_stats): each case runs a small program on the long-mode
 * fixture under both engines (a loop test: _i 0 = reference executor,
 * 1 = binary translator) and checks that the counters it should move do
 * move, by the amounts the program implies where they are exact (port I/O,
 * CPUID, HLT, exceptions) and as "more than before" where they depend on
 * the engine (TLB misses after a CR3 write, translated blocks).
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "tests/unit/helpers/cpu_fixture.h"

static struct vsl_cpu_fixture F;
static struct vsl_cpu_stats B;  /* after fixture set-up (it runs LTR; HLT) */

static void start(int engine)
{
	ck_assert_int_eq(vsl_cpu_fixture_init(&F, 8 << 20), 0);
	if (engine)
		ck_assert_int_eq(vsl_cpu_set_engine(F.cpu, VSL_ENGINE_BT), 0);
	vsl_cpu_get_stats(F.cpu, &B);
}

static void run(const char *code, size_t len, struct vsl_cpu_stats *st)
{
	struct vsl_cpu_exit ex;

	vsl_cpu_fixture_code(&F, code, len);
	int r = vsl_cpu_fixture_run(&F, 100000, &ex);
	ck_assert_msg(r == 0, "run failed: %s", vsl_ctx_error(F.ctx));
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_HLT);
	vsl_cpu_get_stats(F.cpu, st);
}
#define RUN(s, st) run((s), sizeof(s) - 1, (st))

/* 200 load/add/store iterations on the data page, then OUT, CPUID, HLT */
static const char loop_prog[] =
	"\x48\xc7\xc3\x00\x00\x20\x00"   /* mov $0x200000,%rbx */
	"\xb9\xc8\x00\x00\x00"           /* mov $200,%ecx */
	"\x48\x8b\x03"                   /* 1: mov (%rbx),%rax */
	"\x48\x83\xc0\x01"               /* add $1,%rax */
	"\x48\x89\x03"                   /* mov %rax,(%rbx) */
	"\xff\xc9"                       /* dec %ecx */
	"\x75\xf2"                       /* jnz 1b */
	"\xe6\x80"                       /* out %al,$0x80 */
	"\x31\xc0"                       /* xor %eax,%eax */
	"\x0f\xa2"                       /* cpuid */
	"\xf4";                          /* hlt */

START_TEST(test_counts_loop)
{
	struct vsl_cpu_stats st;

	start(_i);
	RUN(loop_prog, &st);
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&F, VSL_FIX_DATA), 200);
	ck_assert_uint_eq(st.io - B.io, 1);
	ck_assert_uint_eq(st.cpuid - B.cpuid, 1);
	ck_assert_uint_eq(st.hlt - B.hlt, 1);
	ck_assert_uint_eq(st.exceptions - B.exceptions, 0);
	ck_assert_uint_eq(st.interrupts - B.interrupts, 0);
	ck_assert_uint_eq(st.mmio - B.mmio, 0);
	if (_i) {
		ck_assert_uint_gt(st.blocks_translated, 0);
		ck_assert_uint_gt(st.insns_translated, st.blocks_translated - 1);
		ck_assert_uint_gt(st.lookup_exits, 0);
		ck_assert_uint_gt(st.cache_bytes_used, 0);
		ck_assert_uint_ge(st.cache_bytes_total, st.cache_bytes_used);
	} else {
		ck_assert_uint_eq(st.blocks_translated, 0);
		ck_assert_uint_eq(st.cache_bytes_total, 0);
		/* 400 data accesses, nearly all TLB hits */
		ck_assert_uint_ge(st.tlb_hits + st.tlb_misses, 400);
		ck_assert_uint_gt(st.tlb_hits, st.tlb_misses);
	}
	/* the counters are cumulative (reloading the code retranslates it) */
	struct vsl_cpu_stats st2;
	RUN(loop_prog, &st2);
	ck_assert_uint_eq(st2.io - B.io, 2);
	ck_assert_uint_eq(st2.cpuid - B.cpuid, 2);
	ck_assert_uint_eq(st2.hlt - B.hlt, 2);
	if (_i) {
		ck_assert_uint_gt(st2.blocks_translated, st.blocks_translated);
		ck_assert_uint_gt(st2.lookup_exits, st.lookup_exits);
	} else {
		ck_assert_uint_gt(st2.tlb_hits, st.tlb_hits);
	}
	vsl_cpu_fixture_fini(&F);
}
END_TEST

START_TEST(test_tlb_after_cr3)
{
	struct vsl_cpu_stats a, b;

	start(_i);
	/* warm the TLB for the data page */
	RUN("\x48\xc7\xc3\x00\x00\x20\x00\x48\x8b\x03\x48\x8b\x03\xf4", &a);
	/* reload CR3, then read the same page again: the read must miss */
	RUN("\x48\xc7\xc3\x00\x00\x20\x00"   /* mov $0x200000,%rbx */
	    "\x0f\x20\xd8"                   /* mov %cr3,%rax */
	    "\x0f\x22\xd8"                   /* mov %rax,%cr3 */
	    "\x48\x8b\x13"                   /* mov (%rbx),%rdx */
	    "\xf4", &b);
	ck_assert_uint_gt(b.tlb_flushes, a.tlb_flushes);
	ck_assert_uint_gt(b.tlb_misses, a.tlb_misses);
	vsl_cpu_fixture_fini(&F);
}
END_TEST

START_TEST(test_exceptions_and_io)
{
	struct vsl_cpu_stats st;

	start(_i);
	/* OUTSB x3 through REP, IN, then UD2: the #UD stub halts */
	RUN("\x48\xc7\xc6\x00\x00\x20\x00"   /* mov $0x200000,%rsi */
	    "\xb9\x03\x00\x00\x00"           /* mov $3,%ecx */
	    "\x66\xba\x80\x00"               /* mov $0x80,%dx */
	    "\xf3\x6e"                       /* rep outsb */
	    "\xec"                           /* in (%dx),%al */
	    "\x0f\x0b", &st);                /* ud2 */
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 6);
	ck_assert_uint_eq(st.io - B.io, 4);
	ck_assert_uint_eq(st.exceptions - B.exceptions, 1);
	ck_assert_uint_eq(st.hlt - B.hlt, 1);   /* the stub's */
	vsl_cpu_fixture_fini(&F);
}
END_TEST

START_TEST(test_msr_and_interrupt)
{
	struct vsl_cpu_stats st;

	start(_i);
	F.irq_vector = 0x30;
	/* RDMSR EFER, then STI; NOP: the pending interrupt is taken, its stub halts */
	RUN("\xb9\x80\x00\x00\xc0"           /* mov $0xc0000080,%ecx */
	    "\x0f\x32"                       /* rdmsr */
	    "\xfb"                           /* sti */
	    "\x90"                           /* nop */
	    "\x90"                           /* nop */
	    "\xf4", &st);
	ck_assert_uint_eq(st.msr - B.msr, 1);
	ck_assert_uint_eq(st.interrupts - B.interrupts, 1);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 0x30);
	vsl_cpu_fixture_fini(&F);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cpu_stats");
	TCase *tc = tcase_create("stats");

	tcase_add_loop_test(tc, test_counts_loop, 0, 2);
	tcase_add_loop_test(tc, test_tlb_after_cr3, 0, 2);
	tcase_add_loop_test(tc, test_exceptions_and_io, 0, 2);
	tcase_add_loop_test(tc, test_msr_and_interrupt, 0, 2);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
