/*
 * What the instruction-level CPU suites (test_cpu, test_mmu, test_interp)
 * share: one long-mode fixture F (tests/unit/helpers/cpu_fixture.h) built
 * and torn down around each test by setup()/teardown(), RUN("bytes") to
 * place code at VSL_FIX_CODE and run it until HLT (asserting that the run
 * itself did not fail), and accessors for registers, the arithmetic flags
 * and the exception frame an IDT stub halted on.
 *
 * Header-only with static definitions: include it from exactly one suite
 * source (each suite is its own program).
 */
#ifndef VESSEL_TESTS_CPU_SUITE_H
#define VESSEL_TESTS_CPU_SUITE_H

#include <check.h>

#include "tests/unit/helpers/cpu_fixture.h"

#define CF 0x1ull
#define PF 0x4ull
#define AF 0x10ull
#define ZF 0x40ull
#define SF 0x80ull
#define OF 0x800ull
#define ARITH (CF | PF | AF | ZF | SF | OF)

static struct vsl_cpu_fixture F;

static void setup(void)
{
	ck_assert_int_eq(vsl_cpu_fixture_init(&F, 8 << 20), 0);
}

static void teardown(void)
{
	vsl_cpu_fixture_fini(&F);
}

static inline __attribute__((unused)) struct vsl_cpu_exit run_code(const char *code, size_t len,
								   uint64_t budget)
{
	struct vsl_cpu_exit ex;

	vsl_cpu_fixture_code(&F, code, len);
	int r = vsl_cpu_fixture_run(&F, budget, &ex);
	ck_assert_msg(r == 0, "run failed: %s", vsl_ctx_error(F.ctx));
	return ex;
}
#define RUN(s) run_code((s), sizeof(s) - 1, 100000)

static inline __attribute__((unused)) uint64_t gpr(int r)
{
	return vsl_cpu_get_gpr(F.cpu, r);
}

static inline __attribute__((unused)) uint64_t flags(void)
{
	return vsl_cpu_get_rflags(F.cpu) & ARITH;
}

/* the frame the IDT stub halted on: [err], rip, cs, rflags, rsp, ss */
static inline __attribute__((unused)) uint64_t frame(int i)
{
	return vsl_cpu_fixture_peek(&F, vsl_cpu_get_gpr(F.cpu, VSL_RSP) + 8 * (uint64_t)i);
}

#endif
