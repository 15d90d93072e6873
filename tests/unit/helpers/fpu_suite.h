/*
 * What the fpu suites (test_sse, test_x87) share: the fixture, fx_exec()
 * and the EXEC/EXEC16/EXEC32 macros that decode one instruction and run
 * it through vsl_fpu_exec, and (when FX_XMM_HELPERS is defined before
 * the include) XMM lane accessors.
 *
 * Header-only with static definitions: include it from exactly one suite
 * source (each suite is its own program).
 */
#ifndef VESSEL_TESTS_FPU_SUITE_H
#define VESSEL_TESTS_FPU_SUITE_H

#include <check.h>
#include <string.h>

#include "runtime/cpu/cpu_internal.h"
#include "tests/unit/helpers/cpu_fixture.h"

/*
 * Fixture: the shared long-mode test machine (tests/unit/helpers/cpu_fixture)
 * with identity-mapped RAM. Most tests decode one instruction and call
 * vsl_fpu_exec directly, then look at the architectural state and at the
 * pending exception (cpu->exc_vector); the end-to-end ones run code through
 * vsl_cpu_run and see exceptions arrive through the IDT.
 */
#define FX_DATA VSL_FIX_DATA     /* scratch data for memory operands */

static struct vsl_cpu_fixture fx;
static struct vsl_cpu *cpu;
static uint8_t *ram;

static void fx_setup(void)
{
	ck_assert_int_eq(vsl_cpu_fixture_init(&fx, 8 << 20), 0);
	cpu = fx.cpu;
	ram = fx.ram;
	cpu->rip = VSL_FIX_CODE;
	cpu->exc_vector = -1;
}

static void fx_teardown(void)
{
	vsl_cpu_fixture_fini(&fx);
}

/*
 * Decode bytes as one instruction in machine mode mm at cpu->rip and run it
 * through the fpu (cpu->mode is the caller's business).
 */
static inline __attribute__((unused)) int fx_exec_mode(ZydisMachineMode mm, ZydisStackWidth sw,
						       const uint8_t *b, unsigned n)
{
	struct vsl_insn in;
	ZydisDecoder d;

	ZydisDecoderInit(&d, mm, sw);
	ck_assert(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, b, n, &in.zi, in.ops)));
	in.rip = cpu->rip;
	cpu->exc_vector = -1;
	return vsl_fpu_exec(cpu, &in);
}

/* Decode bytes as a 64-bit instruction at cpu->rip and run it through the fpu. */
static int fx_exec(const uint8_t *b, unsigned n)
{
	return fx_exec_mode(ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64, b, n);
}

#define EXEC(...) ({ static const uint8_t b_[] = { __VA_ARGS__ }; fx_exec(b_, sizeof(b_)); })
#define EXEC16(...) ({ static const uint8_t b_[] = { __VA_ARGS__ }; \
	fx_exec_mode(ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16, b_, sizeof(b_)); })
#define EXEC32(...) ({ static const uint8_t b_[] = { __VA_ARGS__ }; \
	fx_exec_mode(ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32, b_, sizeof(b_)); })

#ifdef FX_XMM_HELPERS
static void fx_set_xmm_f(int n, float a, float b, float c, float d)
{
	float v[4] = { a, b, c, d };
	memcpy(cpu->fpu.xmm[n], v, 16);
}
static void fx_set_xmm_d(int n, double a, double b)
{
	double v[2] = { a, b };
	memcpy(cpu->fpu.xmm[n], v, 16);
}
static float fx_xmm_f(int n, int i)
{
	float v;
	memcpy(&v, cpu->fpu.xmm[n] + 4 * i, 4);
	return v;
}
static double fx_xmm_d(int n, int i)
{
	double v;
	memcpy(&v, cpu->fpu.xmm[n] + 8 * i, 8);
	return v;
}
static uint64_t fx_xmm_q(int n, int i)
{
	uint64_t v;
	memcpy(&v, cpu->fpu.xmm[n] + 8 * i, 8);
	return v;
}
static void fx_set_xmm_q(int n, uint64_t lo, uint64_t hi)
{
	memcpy(cpu->fpu.xmm[n], &lo, 8);
	memcpy(cpu->fpu.xmm[n] + 8, &hi, 8);
}
#endif

#endif
