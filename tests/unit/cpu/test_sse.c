/*
 * Unit tests for the SSE/SSE2/MMX half of the fpu module (runtime/cpu/sse.c):
 * moves and alignment faults, arithmetic under MXCSR rounding/DAZ/FTZ with
 * exception flags, compares and COMISD flags, conversions, integer SIMD,
 * MMX aliasing onto the x87 registers, LDMXCSR/STMXCSR, the FXSAVE image,
 * #NM/#UD/#GP/#XM, a few end-to-end runs through the interpreter, and a
 * random differential test that runs each instruction natively on this host
 * (the hardware the guest is meant to match) and compares full state.
 *
 * Instruction bytes carry their disassembly in a comment.
 */
#include <check.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define FX_XMM_HELPERS
#include "tests/unit/helpers/fpu_suite.h"
#include "tests/unit/helpers/testutil.h"

/* ---- moves and alignment ---- */

START_TEST(movaps_aligned_and_misaligned)
{
	for (unsigned i = 0; i < 32; i++)
		ram[FX_DATA + i] = (uint8_t)i;
	cpu->gpr[VSL_RAX] = FX_DATA;
	/* 0f 28 00             movaps xmm0, [rax] */
	ck_assert_int_eq(EXEC(0x0f, 0x28, 0x00), 0);
	ck_assert_int_eq(memcmp(cpu->fpu.xmm[0], ram + FX_DATA, 16), 0);
	cpu->gpr[VSL_RAX] = FX_DATA + 4;
	memset(cpu->fpu.xmm[0], 0xee, 16);
	ck_assert_int_eq(EXEC(0x0f, 0x28, 0x00), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_GP);
	ck_assert_uint_eq(cpu->exc_error, 0);
	ck_assert_uint_eq(cpu->fpu.xmm[0][0], 0xee);
	/* 0f 10 00             movups xmm0, [rax]  (misaligned is fine) */
	ck_assert_int_eq(EXEC(0x0f, 0x10, 0x00), 0);
	ck_assert_int_eq(memcmp(cpu->fpu.xmm[0], ram + FX_DATA + 4, 16), 0);
	/* 66 0f 7f 08          movdqa [rax], xmm1  (misaligned store) */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x7f, 0x08), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_GP);
	/* 66 0f 58 00          addpd xmm0, [rax]  (legacy SSE m128 must be aligned) */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x58, 0x00), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_GP);
	/* f2 0f 58 00          addsd xmm0, [rax]  (m64: no alignment rule) */
	ck_assert_int_eq(EXEC(0xf2, 0x0f, 0x58, 0x00), 0);
}
END_TEST

START_TEST(movss_movsd_movq_movd)
{
	fx_set_xmm_q(1, 0x1111111122222222ull, 0x3333333344444444ull);
	fx_set_xmm_q(2, 0xaaaaaaaabbbbbbbbull, 0xccccccccddddddddull);
	/* f3 0f 10 ca          movss xmm1, xmm2  (merges) */
	ck_assert_int_eq(EXEC(0xf3, 0x0f, 0x10, 0xca), 0);
	ck_assert_uint_eq(fx_xmm_q(1, 0), 0x11111111bbbbbbbbull);
	ck_assert_uint_eq(fx_xmm_q(1, 1), 0x3333333344444444ull);
	memcpy(ram + FX_DATA, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	cpu->gpr[VSL_RAX] = FX_DATA;
	/* f2 0f 10 08          movsd xmm1, [rax]  (zero-extends) */
	ck_assert_int_eq(EXEC(0xf2, 0x0f, 0x10, 0x08), 0);
	ck_assert_uint_eq(fx_xmm_q(1, 0), 0x0807060504030201ull);
	ck_assert_uint_eq(fx_xmm_q(1, 1), 0);
	/* 66 48 0f 6e c3       movq xmm0, rbx */
	cpu->gpr[VSL_RBX] = 0xfedcba9876543210ull;
	fx_set_xmm_q(0, ~0ull, ~0ull);
	ck_assert_int_eq(EXEC(0x66, 0x48, 0x0f, 0x6e, 0xc3), 0);
	ck_assert_uint_eq(fx_xmm_q(0, 0), 0xfedcba9876543210ull);
	ck_assert_uint_eq(fx_xmm_q(0, 1), 0);
	/* 66 0f 7e c1          movd ecx, xmm0  (zero-extends into rcx) */
	cpu->gpr[VSL_RCX] = ~0ull;
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x7e, 0xc1), 0);
	ck_assert_uint_eq(cpu->gpr[VSL_RCX], 0x76543210u);
	/* 66 0f d6 10          movq [rax], xmm2 */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0xd6, 0x10), 0);
	ck_assert_uint_eq(*(uint64_t *)(ram + FX_DATA), 0xaaaaaaaabbbbbbbbull);
	/* f3 0f 7e ca          movq xmm1, xmm2  (zeroes the upper half) */
	ck_assert_int_eq(EXEC(0xf3, 0x0f, 0x7e, 0xca), 0);
	ck_assert_uint_eq(fx_xmm_q(1, 0), 0xaaaaaaaabbbbbbbbull);
	ck_assert_uint_eq(fx_xmm_q(1, 1), 0);
	/* 0f 16 00             movhps xmm0, [rax] */
	ck_assert_int_eq(EXEC(0x0f, 0x16, 0x00), 0);
	ck_assert_uint_eq(fx_xmm_q(0, 1), 0xaaaaaaaabbbbbbbbull);
	/* 0f 12 c2             movhlps xmm0, xmm2 */
	ck_assert_int_eq(EXEC(0x0f, 0x12, 0xc2), 0);
	ck_assert_uint_eq(fx_xmm_q(0, 0), 0xccccccccddddddddull);
	/* 66 0f f7 c1          maskmovdqu xmm0, xmm1: bytes whose mask bit 7 is set, to [rdi] */
	fx_set_xmm_q(0, 0x1122334455667788ull, 0x99aabbccddeeff00ull);
	fx_set_xmm_q(1, 0x8000800000000080ull, 0x80);
	memset(ram + FX_DATA + 0x40, 0xcc, 16);
	cpu->gpr[VSL_RDI] = FX_DATA + 0x40;
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0xf7, 0xc1), 0);
	ck_assert_int_eq(memcmp(ram + FX_DATA + 0x40,
				"\x88\xcc\xcc\xcc\xcc\x33\xcc\x11\x00\xcc\xcc\xcc\xcc\xcc\xcc\xcc", 16), 0);
	/* 66 0f d7 c2          pmovmskb eax, xmm2 */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0xd7, 0xc2), 0);
	ck_assert_uint_eq(cpu->gpr[VSL_RAX], 0xffff);
	/* 0f 50 c2             movmskps eax, xmm2 */
	ck_assert_int_eq(EXEC(0x0f, 0x50, 0xc2), 0);
	ck_assert_uint_eq(cpu->gpr[VSL_RAX], 0xf);
	fx_set_xmm_q(2, 0x8000000000000000ull, 0x0000000080000000ull);
	ck_assert_int_eq(EXEC(0x0f, 0x50, 0xc2), 0);
	ck_assert_uint_eq(cpu->gpr[VSL_RAX], 0x6);
	/* 66 0f 50 c2          movmskpd eax, xmm2 */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x50, 0xc2), 0);
	ck_assert_uint_eq(cpu->gpr[VSL_RAX], 0x1);
}
END_TEST

/* ---- floating point ---- */

START_TEST(arith_packed_scalar)
{
	fx_set_xmm_f(0, 1.5f, 2.0f, -3.0f, 10.0f);
	fx_set_xmm_f(1, 0.25f, 4.0f, 3.0f, 0.5f);
	/* 0f 58 c1             addps xmm0, xmm1 */
	ck_assert_int_eq(EXEC(0x0f, 0x58, 0xc1), 0);
	ck_assert(fx_xmm_f(0, 0) == 1.75f && fx_xmm_f(0, 1) == 6.0f);
	ck_assert(fx_xmm_f(0, 2) == 0.0f && fx_xmm_f(0, 3) == 10.5f);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x1f80);
	/* f3 0f 5e c1          divss xmm0, xmm1  (only lane 0) */
	ck_assert_int_eq(EXEC(0xf3, 0x0f, 0x5e, 0xc1), 0);
	ck_assert(fx_xmm_f(0, 0) == 7.0f && fx_xmm_f(0, 1) == 6.0f);
	/* 1/3 is inexact: PE */
	fx_set_xmm_d(2, 1.0, 9.0);
	fx_set_xmm_d(3, 3.0, 0.0);
	/* 66 0f 5e d3          divpd xmm2, xmm3 */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x5e, 0xd3), 0);
	ck_assert(fx_xmm_d(2, 0) == 1.0 / 3.0);
	ck_assert(isinf(fx_xmm_d(2, 1)));
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x1f80 | 0x20 | 0x04);   /* PE ZE */
	/* 66 0f 51 d3          sqrtpd xmm2, xmm3: sqrt(3), sqrt(0) */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x51, 0xd3), 0);
	ck_assert(fx_xmm_d(2, 0) == sqrt(3.0) && fx_xmm_d(2, 1) == 0.0);
	/* f2 0f 5d d3          minsd: min(x, NaN) returns the second operand */
	fx_set_xmm_d(2, 1.0, 5.0);
	fx_set_xmm_d(3, NAN, 0.0);
	ck_assert_int_eq(EXEC(0xf2, 0x0f, 0x5d, 0xd3), 0);
	ck_assert(isnan(fx_xmm_d(2, 0)) && fx_xmm_d(2, 1) == 5.0);
}
END_TEST

START_TEST(rounding_control_and_conversions)
{
	static const struct { uint32_t rc; int64_t pos, neg; } t[] = {
		{ 0, 2, -2 }, { 1, 2, -3 }, { 2, 3, -2 }, { 3, 2, -2 },
	};

	for (unsigned i = 0; i < 4; i++) {
		cpu->fpu.mxcsr = 0x1f80 | t[i].rc << 13;
		fx_set_xmm_d(1, 2.5, 0);
		/* f2 48 0f 2d c1       cvtsd2si rax, xmm1 */
		ck_assert_int_eq(EXEC(0xf2, 0x48, 0x0f, 0x2d, 0xc1), 0);
		ck_assert_int_eq((int64_t)cpu->gpr[VSL_RAX], t[i].pos);
		fx_set_xmm_d(1, -2.5, 0);
		ck_assert_int_eq(EXEC(0xf2, 0x48, 0x0f, 0x2d, 0xc1), 0);
		ck_assert_int_eq((int64_t)cpu->gpr[VSL_RAX], t[i].neg);
		/* f2 0f 2c c1          cvttsd2si eax, xmm1  (always truncates) */
		ck_assert_int_eq(EXEC(0xf2, 0x0f, 0x2c, 0xc1), 0);
		ck_assert_uint_eq(cpu->gpr[VSL_RAX], 0xfffffffeu);
	}
	/* out of range: integer indefinite and IE */
	cpu->fpu.mxcsr = 0x1f80;
	fx_set_xmm_d(1, 1e30, 0);
	ck_assert_int_eq(EXEC(0xf2, 0x0f, 0x2c, 0xc1), 0);
	ck_assert_uint_eq(cpu->gpr[VSL_RAX], 0x80000000u);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x1f81);
	/* f2 48 0f 2a c3       cvtsi2sd xmm0, rbx  (64-bit source, inexact) */
	cpu->fpu.mxcsr = 0x1f80;
	cpu->gpr[VSL_RBX] = 0x7fffffffffffffffull;
	fx_set_xmm_q(0, 0, 0x1234);
	ck_assert_int_eq(EXEC(0xf2, 0x48, 0x0f, 0x2a, 0xc3), 0);
	ck_assert(fx_xmm_d(0, 0) == 9223372036854775808.0);
	ck_assert_uint_eq(fx_xmm_q(0, 1), 0x1234);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x1fa0);
	/* round toward zero changes the 32-bit float result */
	cpu->fpu.mxcsr = 0x1f80 | 3u << 13;
	cpu->gpr[VSL_RBX] = 0x7fffffffffffffffull;
	/* f3 48 0f 2a c3       cvtsi2ss xmm0, rbx */
	ck_assert_int_eq(EXEC(0xf3, 0x48, 0x0f, 0x2a, 0xc3), 0);
	ck_assert(fx_xmm_f(0, 0) == 9223371487098961920.0f);
	/* 0f 5a c1             cvtps2pd xmm0, xmm1 */
	cpu->fpu.mxcsr = 0x1f80;
	fx_set_xmm_f(1, 0.1f, -2.0f, 7.0f, 8.0f);
	ck_assert_int_eq(EXEC(0x0f, 0x5a, 0xc1), 0);
	ck_assert(fx_xmm_d(0, 0) == (double)0.1f && fx_xmm_d(0, 1) == -2.0);
}
END_TEST

START_TEST(daz_ftz)
{
	float tiny = 1e-30f;

	fx_set_xmm_f(0, tiny, 0, 0, 0);
	fx_set_xmm_f(1, tiny, 0, 0, 0);
	/* f3 0f 59 c1          mulss xmm0, xmm1: underflows to a denormal/0 */
	ck_assert_int_eq(EXEC(0xf3, 0x0f, 0x59, 0xc1), 0);
	ck_assert(fx_xmm_f(0, 0) == 0.0f);
	ck_assert_uint_eq(cpu->fpu.mxcsr & 0x3f, 0x30);   /* UE PE */
	/* FTZ: a result that would be denormal is flushed */
	cpu->fpu.mxcsr = 0x1f80 | 0x8000;
	fx_set_xmm_f(0, 1e-20f, 0, 0, 0);
	fx_set_xmm_f(1, 1e-20f, 0, 0, 0);
	ck_assert_int_eq(EXEC(0xf3, 0x0f, 0x59, 0xc1), 0);
	ck_assert(fx_xmm_f(0, 0) == 0.0f);
	ck_assert_uint_eq(cpu->fpu.mxcsr & 0x3f, 0x30);
	/* without FTZ the same product is a denormal */
	cpu->fpu.mxcsr = 0x1f80;
	fx_set_xmm_f(0, 1e-20f, 0, 0, 0);
	ck_assert_int_eq(EXEC(0xf3, 0x0f, 0x59, 0xc1), 0);
	ck_assert(fx_xmm_f(0, 0) != 0.0f);
	/* DAZ: denormal inputs read as zero, no DE */
	cpu->fpu.mxcsr = 0x1f80 | 0x40;
	fx_set_xmm_f(0, 1e-40f, 0, 0, 0);
	fx_set_xmm_f(1, 1.0f, 0, 0, 0);
	/* f3 0f 58 c1          addss xmm0, xmm1 */
	ck_assert_int_eq(EXEC(0xf3, 0x0f, 0x58, 0xc1), 0);
	ck_assert(fx_xmm_f(0, 0) == 1.0f);
	ck_assert_uint_eq(cpu->fpu.mxcsr & 0x3f, 0);
	cpu->fpu.mxcsr = 0x1f80;
	fx_set_xmm_f(0, 1e-40f, 0, 0, 0);
	ck_assert_int_eq(EXEC(0xf3, 0x0f, 0x58, 0xc1), 0);
	ck_assert_uint_eq(cpu->fpu.mxcsr & 0x3f, 0x22);   /* DE PE */
}
END_TEST

START_TEST(compares_and_flags)
{
	fx_set_xmm_d(0, 1.0, 0);
	fx_set_xmm_d(1, NAN, 0);
	cpu->rflags = 2 | VSL_FL_OF | VSL_FL_SF | VSL_FL_AF;
	/* 66 0f 2e c1          ucomisd xmm0, xmm1: unordered, quiet NaN: no IE */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x2e, 0xc1), 0);
	ck_assert_uint_eq(cpu->rflags, 2 | VSL_FL_ZF | VSL_FL_PF | VSL_FL_CF);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x1f80);
	/* 66 0f 2f c1          comisd xmm0, xmm1: QNaN signals IE */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x2f, 0xc1), 0);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x1f81);
	fx_set_xmm_d(1, 2.0, 0);
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x2f, 0xc1), 0);
	ck_assert_uint_eq(cpu->rflags, 2 | VSL_FL_CF);     /* less than */
	fx_set_xmm_f(2, 1.0f, 2.0f, NAN, 4.0f);
	fx_set_xmm_f(3, 2.0f, 2.0f, 1.0f, 3.0f);
	static const uint32_t want[8][4] = {
		{ 0, ~0u, 0, 0 },        /* EQ */
		{ ~0u, 0, 0, 0 },        /* LT */
		{ ~0u, ~0u, 0, 0 },      /* LE */
		{ 0, 0, ~0u, 0 },        /* UNORD */
		{ ~0u, 0, ~0u, ~0u },    /* NEQ */
		{ 0, ~0u, ~0u, ~0u },    /* NLT */
		{ 0, 0, ~0u, ~0u },      /* NLE */
		{ ~0u, ~0u, 0, ~0u },    /* ORD */
	};
	for (unsigned p = 0; p < 8; p++) {
		uint8_t b[] = { 0x0f, 0xc2, 0xe3, (uint8_t)p };   /* cmpps xmm4, xmm3, p */
		uint32_t got[4];

		memcpy(cpu->fpu.xmm[4], cpu->fpu.xmm[2], 16);
		cpu->fpu.mxcsr = 0x1f80;
		ck_assert_int_eq(fx_exec(b, sizeof(b)), 0);
		memcpy(got, cpu->fpu.xmm[4], 16);
		for (unsigned i = 0; i < 4; i++)
			ck_assert_uint_eq(got[i], want[p][i]);
		/* LT/LE/NLT/NLE signal on QNaN, the others do not */
		ck_assert_uint_eq(cpu->fpu.mxcsr & 1, (p == 1 || p == 2 || p == 5 || p == 6));
	}
}
END_TEST

START_TEST(unmasked_exception_faults)
{
	fx_set_xmm_f(0, 1.0f, 1.0f, 1.0f, 1.0f);
	fx_set_xmm_f(1, 0.0f, 1.0f, 1.0f, 1.0f);
	cpu->fpu.mxcsr = 0x1f80 & ~0x200u;   /* ZE unmasked */
	/* 0f 5e c1             divps xmm0, xmm1 */
	ck_assert_int_eq(EXEC(0x0f, 0x5e, 0xc1), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_XM);
	ck_assert(fx_xmm_f(0, 0) == 1.0f);                  /* unchanged */
	ck_assert_uint_eq(cpu->fpu.mxcsr & 0x3f, 0x04);
	cpu->cr4 &= ~VSL_CR4_OSXMMEXCPT;
	ck_assert_int_eq(EXEC(0x0f, 0x5e, 0xc1), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_UD);
}
END_TEST

START_TEST(control_register_checks)
{
	cpu->cr0 |= VSL_CR0_TS;
	/* 0f 58 c1             addps xmm0, xmm1 */
	ck_assert_int_eq(EXEC(0x0f, 0x58, 0xc1), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_NM);
	/* 0f ae 00             fxsave [rax] */
	cpu->gpr[VSL_RAX] = FX_DATA;
	ck_assert_int_eq(EXEC(0x0f, 0xae, 0x00), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_NM);
	cpu->cr0 &= ~VSL_CR0_TS;
	cpu->cr4 &= ~VSL_CR4_OSFXSR;
	ck_assert_int_eq(EXEC(0x0f, 0x58, 0xc1), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_UD);
	cpu->cr4 |= VSL_CR4_OSFXSR;
	cpu->cr0 |= VSL_CR0_EM;
	ck_assert_int_eq(EXEC(0x0f, 0x58, 0xc1), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_UD);
	cpu->cr0 &= ~VSL_CR0_EM;
	ck_assert_int_eq(EXEC(0x0f, 0x58, 0xc1), 0);
	/* not ours: 0f a2 cpuid */
	ck_assert_int_eq(EXEC(0x0f, 0xa2), VSL_FPU_NOT_MINE);
}
END_TEST

/* ---- integer SIMD ---- */

START_TEST(integer_simd)
{
	fx_set_xmm_q(0, 0x7f80ff0001020304ull, 0x8000800012345678ull);
	fx_set_xmm_q(1, 0x0101010101010101ull, 0x8000000100010001ull);
	memcpy(cpu->fpu.xmm[2], cpu->fpu.xmm[0], 16);
	/* 66 0f ec d1          paddsb xmm2, xmm1 */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0xec, 0xd1), 0);
	ck_assert_uint_eq(fx_xmm_q(2, 0), 0x7f81000102030405ull);
	memcpy(cpu->fpu.xmm[2], cpu->fpu.xmm[0], 16);
	/* 66 0f dc d1          paddusb xmm2, xmm1 */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0xdc, 0xd1), 0);
	ck_assert_uint_eq(fx_xmm_q(2, 0), 0x8081ff0102030405ull);
	/* 66 0f 70 d0 1b       pshufd xmm2, xmm0, 0x1b (reverse dwords) */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x70, 0xd0, 0x1b), 0);
	ck_assert_uint_eq(fx_xmm_q(2, 0), 0x1234567880008000ull);
	ck_assert_uint_eq(fx_xmm_q(2, 1), 0x010203047f80ff00ull);
	/* 66 0f 73 fa 03       pslldq xmm2, 3 */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x73, 0xfa, 0x03), 0);
	ck_assert_uint_eq(fx_xmm_q(2, 0), 0x7880008000000000ull);
	ck_assert_uint_eq(fx_xmm_q(2, 1), 0x047f80ff00123456ull);
	/* 66 0f 71 e2 04       psraw xmm2, 4 */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x71, 0xe2, 0x04), 0);
	ck_assert_uint_eq(fx_xmm_q(2, 0), 0x0788000800000000ull);
	/* 66 0f 72 d2 21       psrld xmm2, 33: all zero */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x72, 0xd2, 0x21), 0);
	ck_assert_uint_eq(fx_xmm_q(2, 0) | fx_xmm_q(2, 1), 0);
	/* 66 0f f5 c1          pmaddwd xmm0, xmm1 */
	fx_set_xmm_q(0, 0x0003000200010004ull, 0x8000800000000000ull);
	fx_set_xmm_q(1, 0x0005000600070008ull, 0x8000800000000000ull);
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0xf5, 0xc1), 0);
	ck_assert_uint_eq(fx_xmm_q(0, 0), ((uint64_t)(3 * 5 + 2 * 6) << 32) | (1 * 7 + 4 * 8));
	ck_assert_uint_eq(fx_xmm_q(0, 1), 0x8000000000000000ull);
	/* 66 0f f6 c1          psadbw xmm0, xmm1 */
	fx_set_xmm_q(0, 0x00ff000000000010ull, 0);
	fx_set_xmm_q(1, 0xff00000000000001ull, 0x0000000000000005ull);
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0xf6, 0xc1), 0);
	ck_assert_uint_eq(fx_xmm_q(0, 0), 255 + 255 + 15);
	ck_assert_uint_eq(fx_xmm_q(0, 1), 5);
	/* 66 0f 67 c1          packuswb xmm0, xmm1 */
	fx_set_xmm_q(0, 0x7fff0100ff800042ull, 0x0001000200030004ull);
	fx_set_xmm_q(1, 0, 0);
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x67, 0xc1), 0);
	ck_assert_uint_eq(fx_xmm_q(0, 0), 0x01020304ffff0042ull);
	ck_assert_uint_eq(fx_xmm_q(0, 1), 0);
	/* 66 0f c4 c3 05       pinsrw xmm0, ebx, 5; 66 0f c5 c0 05 pextrw eax, xmm0, 5 */
	cpu->gpr[VSL_RBX] = 0xabcd;
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0xc4, 0xc3, 0x05), 0);
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0xc5, 0xc0, 0x05), 0);
	ck_assert_uint_eq(cpu->gpr[VSL_RAX], 0xabcd);
}
END_TEST

/* ---- SSE3 / SSSE3 / SSE4.1 / SSE4.2 ---- */

START_TEST(x86_64_v2_extensions)
{
	static const char digits[] = "123456789";
	uint32_t crc;

	/* 66 0f 38 00 c1       pshufb xmm0, xmm1: reverse the bytes */
	for (int i = 0; i < 16; i++) {
		cpu->fpu.xmm[0][i] = (uint8_t)(0x40 + i);
		cpu->fpu.xmm[1][i] = (uint8_t)(15 - i);
	}
	cpu->fpu.xmm[1][3] = 0x80;                          /* zeroes byte 3 */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x38, 0x00, 0xc1), 0);
	ck_assert_uint_eq(cpu->fpu.xmm[0][0], 0x4f);
	ck_assert_uint_eq(cpu->fpu.xmm[0][3], 0);
	ck_assert_uint_eq(cpu->fpu.xmm[0][15], 0x40);
	/* 66 0f 3a 0f c1 05    palignr xmm0, xmm1, 5 */
	fx_set_xmm_q(0, 0x1716151413121110ull, 0x1f1e1d1c1b1a1918ull);
	fx_set_xmm_q(1, 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull);
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x05), 0);
	ck_assert_uint_eq(fx_xmm_q(0, 0), 0x0c0b0a0908070605ull);
	ck_assert_uint_eq(fx_xmm_q(0, 1), 0x14131211100f0e0dull);
	/* 66 0f 3a 0b c1 09    roundsd xmm0, xmm1, 9 (floor, no PE) */
	fx_set_xmm_d(1, -2.5, 0);
	fx_set_xmm_d(0, 0, 7.0);
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x3a, 0x0b, 0xc1, 0x09), 0);
	ck_assert(fx_xmm_d(0, 0) == -3.0 && fx_xmm_d(0, 1) == 7.0);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x1f80);
	/* 66 0f 3a 0b c1 04    roundsd xmm0, xmm1, 4 (MXCSR.RC = nearest even: -2) */
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x3a, 0x0b, 0xc1, 0x04), 0);
	ck_assert(fx_xmm_d(0, 0) == -2.0);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x1fa0);
	/* 66 0f 38 17 c1       ptest xmm0, xmm1: ZF when (xmm0 & xmm1) == 0 */
	fx_set_xmm_q(0, 0xff00, 0);
	fx_set_xmm_q(1, 0x00ff, 0);
	cpu->rflags = 2 | VSL_FL_SF;
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x38, 0x17, 0xc1), 0);
	ck_assert_uint_eq(cpu->rflags, 2 | VSL_FL_ZF);
	/* 66 0f 38 30 c1       pmovzxbw xmm0, xmm1 */
	fx_set_xmm_q(1, 0x80ff017f, 0);
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x38, 0x30, 0xc1), 0);
	ck_assert_uint_eq(fx_xmm_q(0, 0), 0x008000ff0001007full);
	/* 66 0f 3a 63 c1 00    pcmpistri xmm0, xmm1, 0 (equal any): first of "l" in "hello" */
	memset(cpu->fpu.xmm[0], 0, 16);
	memcpy(cpu->fpu.xmm[0], "l", 1);
	memset(cpu->fpu.xmm[1], 0, 16);
	memcpy(cpu->fpu.xmm[1], "hello", 5);
	cpu->gpr[VSL_RCX] = ~0ull;
	ck_assert_int_eq(EXEC(0x66, 0x0f, 0x3a, 0x63, 0xc1, 0x00), 0);
	ck_assert_uint_eq(cpu->gpr[VSL_RCX], 2);
	ck_assert_uint_eq(cpu->rflags & (VSL_FL_CF | VSL_FL_ZF), VSL_FL_CF | VSL_FL_ZF);
	/* f2 0f 38 f0 03       crc32 eax, byte [rbx]: CRC-32C check value */
	memcpy(ram + FX_DATA, digits, 9);
	cpu->gpr[VSL_RAX] = 0xffffffffu;
	for (int i = 0; i < 9; i++) {
		cpu->gpr[VSL_RBX] = FX_DATA + (unsigned)i;
		ck_assert_int_eq(EXEC(0xf2, 0x0f, 0x38, 0xf0, 0x03), 0);
	}
	crc = (uint32_t)cpu->gpr[VSL_RAX] ^ 0xffffffffu;
	ck_assert_uint_eq(crc, 0xe3069283u);
	/* f2 0f 7c c1          haddps xmm0, xmm1 */
	fx_set_xmm_f(0, 1, 2, 3, 4);
	fx_set_xmm_f(1, 10, 20, 30, 40);
	ck_assert_int_eq(EXEC(0xf2, 0x0f, 0x7c, 0xc1), 0);
	ck_assert(fx_xmm_f(0, 0) == 3 && fx_xmm_f(0, 1) == 7 && fx_xmm_f(0, 2) == 30 && fx_xmm_f(0, 3) == 70);
	/* 66 0f 38 04 c1 is pmaddubsw; its MMX form 0f 38 04 c1 works on mm0 */
	memcpy(cpu->fpu.st[0], "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	memcpy(cpu->fpu.st[1], "\x01\x01\x01\x01\x01\x01\x01\xff", 8);
	ck_assert_int_eq(EXEC(0x0f, 0x38, 0x04, 0xc1), 0);
	ck_assert_int_eq(memcmp(cpu->fpu.st[0], "\x03\x00\x07\x00\x0b\x00\xff\xff", 8), 0);
}
END_TEST

/* ---- state instructions ---- */

START_TEST(ldmxcsr_stmxcsr)
{
	cpu->gpr[VSL_RAX] = FX_DATA;
	*(uint32_t *)(ram + FX_DATA) = 0x7f80 | 0x3f;
	/* 0f ae 10             ldmxcsr [rax] */
	ck_assert_int_eq(EXEC(0x0f, 0xae, 0x10), 0);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x7fbf);
	/* 0f ae 18             stmxcsr [rax+0] -> ram */
	*(uint32_t *)(ram + FX_DATA) = 0;
	ck_assert_int_eq(EXEC(0x0f, 0xae, 0x18), 0);
	ck_assert_uint_eq(*(uint32_t *)(ram + FX_DATA), 0x7fbf);
	/* reserved bit 18 set: #GP(0), MXCSR unchanged */
	*(uint32_t *)(ram + FX_DATA) = 0x1f80 | 1u << 18;
	ck_assert_int_eq(EXEC(0x0f, 0xae, 0x10), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_GP);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x7fbf);
}
END_TEST

START_TEST(fxsave_layout)
{
	uint8_t *img = ram + FX_DATA;
	uint64_t q;

	memset(img, 0xcc, 512);
	for (int i = 0; i < 16; i++)
		memset(cpu->fpu.xmm[i], 0x10 + i, 16);
	cpu->fpu.mxcsr = 0x1f80 | 0x6000 | 0x21;
	/* two values on the x87 stack: ST0 = 2.0, ST1 = 1.0 at TOP = 6 */
	cpu->fpu.fsw = 6 << 11;
	memcpy(cpu->fpu.st[6], "\0\0\0\0\0\0\0\x80\x00\x40", 10);  /* 2.0 */
	memcpy(cpu->fpu.st[7], "\0\0\0\0\0\0\0\x80\xff\x3f", 10);  /* 1.0 */
	cpu->fpu.ftw = 0x0fff;                                         /* R6 R7 valid */
	cpu->fpu.fcw = 0x027f;
	cpu->gpr[VSL_RAX] = FX_DATA;
	/* 48 0f ae 00          fxsave64 [rax] */
	ck_assert_int_eq(EXEC(0x48, 0x0f, 0xae, 0x00), 0);
	ck_assert_uint_eq(*(uint16_t *)img, 0x027f);
	ck_assert_uint_eq(*(uint16_t *)(img + 2), 6 << 11);
	ck_assert_uint_eq(img[4], 0xc0);                     /* abridged tags */
	ck_assert_uint_eq(img[5], 0);
	memcpy(&q, img + 8, 8);
	if (!vsl_fpu_quirks()->fxsave_ptrs_always)
		ck_assert_uint_eq(q, 0);                     /* AMD: no pointers without ES */
	ck_assert_uint_eq(*(uint32_t *)(img + 24), 0x7fa1);
	ck_assert_uint_eq(*(uint32_t *)(img + 28), vsl_fpu_mxcsr_mask());
	ck_assert_int_eq(memcmp(img + 32, cpu->fpu.st[6], 10), 0); /* ST0 first */
	ck_assert_int_eq(memcmp(img + 48, cpu->fpu.st[7], 10), 0);
	for (int i = 10; i < 16; i++)
		ck_assert_uint_eq(img[32 + i], 0);
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(img[160 + 16 * i + 7], 0x10 + i);
	ck_assert_uint_eq(img[416], 0xcc);                  /* not written */
	ck_assert_uint_eq(img[511], 0xcc);

	/* round trip through FXRSTOR64 into a clean state */
	vsl_fpu_reset(&cpu->fpu);
	/* 48 0f ae 08          fxrstor64 [rax] */
	ck_assert_int_eq(EXEC(0x48, 0x0f, 0xae, 0x08), 0);
	ck_assert_uint_eq(cpu->fpu.fcw, 0x027f);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x7fa1);
	ck_assert_uint_eq(cpu->fpu.ftw, 0x0fff);
	ck_assert_uint_eq(cpu->fpu.xmm[15][0], 0x1f);
	ck_assert_int_eq(memcmp(cpu->fpu.st[6], "\0\0\0\0\0\0\0\x80\x00\x40", 10), 0);

	/* misaligned: #GP(0) */
	cpu->gpr[VSL_RAX] = FX_DATA + 8;
	ck_assert_int_eq(EXEC(0x48, 0x0f, 0xae, 0x00), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_GP);
	/* FXRSTOR with reserved MXCSR bits: #GP(0), nothing loaded */
	cpu->gpr[VSL_RAX] = FX_DATA;
	*(uint32_t *)(img + 24) = 0x1f80 | 1u << 20;
	*(uint16_t *)img = 0x037f;
	ck_assert_int_eq(EXEC(0x48, 0x0f, 0xae, 0x08), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_GP);
	ck_assert_uint_eq(cpu->fpu.fcw, 0x027f);
	/* 32-bit format (no REX.W): FIP/FCS/FDP/FDS, stored while ES is set */
	cpu->fpu.fsw |= 0x8081;
	cpu->fpu.fcw = 0x037e;
	cpu->fpu.fip = 0x123456789ull;
	cpu->fpu.fcs = 0x10;
	cpu->fpu.fdp = 0xabcdef;
	cpu->fpu.fop = 0x5a5;
	/* 0f ae 00             fxsave [rax] */
	ck_assert_int_eq(EXEC(0x0f, 0xae, 0x00), 0);
	ck_assert_uint_eq(*(uint16_t *)(img + 6), 0x5a5);
	ck_assert_uint_eq(*(uint32_t *)(img + 8), 0x23456789u);
	ck_assert_uint_eq(*(uint16_t *)(img + 12), 0x10);
	ck_assert_uint_eq(*(uint32_t *)(img + 16), 0xabcdef);
}
END_TEST

START_TEST(mmx_aliasing)
{
	memcpy(cpu->fpu.st[0], "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00", 10);
	memcpy(cpu->fpu.st[1], "\x10\x10\x10\x10\x10\x10\x10\x10\x00\x00", 10);
	cpu->fpu.fsw = 5 << 11;
	/* 0f fc c1             paddb mm0, mm1 */
	ck_assert_int_eq(EXEC(0x0f, 0xfc, 0xc1), 0);
	ck_assert_int_eq(memcmp(cpu->fpu.st[0], "\x11\x12\x13\x14\x15\x16\x17\x18\xff\xff", 10), 0);
	ck_assert_uint_eq((cpu->fpu.fsw >> 11) & 7, 0);
	for (int r = 0; r < 8; r++)
		ck_assert_uint_ne((cpu->fpu.ftw >> (2 * r)) & 3, 3);
	/* 0f 6a c1             punpckhdq mm0, mm1 */
	ck_assert_int_eq(EXEC(0x0f, 0x6a, 0xc1), 0);
	ck_assert_int_eq(memcmp(cpu->fpu.st[0], "\x15\x16\x17\x18\x10\x10\x10\x10", 8), 0);
	/* 0f 63 c1             packsswb mm0, mm1 */
	memcpy(cpu->fpu.st[0], "\x05\x00\xff\x7f\x00\x80\xfe\xff", 8);
	memcpy(cpu->fpu.st[1], "\x01\x00\x02\x00\x03\x00\x04\x00", 8);
	ck_assert_int_eq(EXEC(0x0f, 0x63, 0xc1), 0);
	ck_assert_int_eq(memcmp(cpu->fpu.st[0], "\x05\x7f\x80\xfe\x01\x02\x03\x04", 8), 0);
	/* 0f 77                emms */
	ck_assert_int_eq(EXEC(0x0f, 0x77), 0);
	ck_assert_uint_eq(cpu->fpu.ftw, 0xffff);
	/* TS: #NM; EM: #UD */
	cpu->cr0 |= VSL_CR0_TS;
	ck_assert_int_eq(EXEC(0x0f, 0xfc, 0xc1), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_NM);
	cpu->cr0 = (cpu->cr0 & ~VSL_CR0_TS) | VSL_CR0_EM;
	ck_assert_int_eq(EXEC(0x0f, 0xfc, 0xc1), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_UD);
}
END_TEST

START_TEST(faults_leave_state_unchanged)
{
	uint64_t page = FX_DATA + 0x3000, *pte = vsl_cpu_fixture_pte(&fx, page);

	ck_assert_ptr_nonnull(pte);
	*pte &= ~1ull;
	vsl_mmu_flush(cpu, true);
	cpu->gpr[VSL_RAX] = page;
	fx_set_xmm_f(0, 1, 2, 3, 4);
	cpu->fpu.mxcsr = 0x1f80;
	/* 0f 58 00             addps xmm0, [rax]: #PF, xmm0 and MXCSR unchanged */
	ck_assert_int_eq(EXEC(0x0f, 0x58, 0x00), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_PF);
	ck_assert(fx_xmm_f(0, 0) == 1 && fx_xmm_f(0, 3) == 4);
	ck_assert_uint_eq(cpu->fpu.mxcsr, 0x1f80);
	/* 48 0f ae 08          fxrstor64 [rax]: #PF, nothing loaded */
	ck_assert_int_eq(EXEC(0x48, 0x0f, 0xae, 0x08), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_PF);
	ck_assert(fx_xmm_f(0, 0) == 1);
	/* the alignment check comes first: 0f 28 40 04 movaps xmm0, [rax+4] is #GP */
	ck_assert_int_eq(EXEC(0x0f, 0x28, 0x40, 0x04), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_GP);
	*pte |= 1;
	vsl_mmu_flush(cpu, true);
}
END_TEST

/* ---- end to end through the interpreter ---- */

START_TEST(run_sse_code)
{
	static const uint8_t code[] = {
		0x48, 0xb8, 0x00, 0x00, 0x20, 0, 0, 0, 0, 0,   /* movabs rax, FX_DATA */
		0x0f, 0x28, 0x00,                              /* movaps xmm0, [rax] */
		0x0f, 0x58, 0x40, 0x10,                        /* addps xmm0, [rax+0x10] */
		0x0f, 0x29, 0x40, 0x20,                        /* movaps [rax+0x20], xmm0 */
		0xf3, 0x0f, 0x2d, 0x48, 0x20,                  /* cvtss2si ecx, [rax+0x20] */
		0xf4,                                          /* hlt */
	};
	const float a[4] = { 1, 2, 3, 4.5f }, b[4] = { 10, 20, 30, 40 };
	struct vsl_cpu_exit ex;
	float out[4];

	ck_assert_uint_eq(FX_DATA, 0x200000);
	memcpy(ram + FX_DATA, a, 16);
	memcpy(ram + FX_DATA + 16, b, 16);
	vsl_cpu_fixture_code(&fx, code, sizeof(code));
	vsl_cpu_fixture_run(&fx, 100, &ex);
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_HLT);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&fx), -1);
	memcpy(out, ram + FX_DATA + 32, 16);
	ck_assert(out[0] == 11 && out[1] == 22 && out[2] == 33 && out[3] == 44.5f);
	ck_assert_uint_eq(vsl_cpu_get_gpr(cpu, VSL_RCX), 11);
}
END_TEST

START_TEST(run_faults_reach_idt)
{
	static const uint8_t misaligned[] = {
		0x48, 0xb8, 0x08, 0x00, 0x20, 0, 0, 0, 0, 0,   /* movabs rax, FX_DATA + 8 */
		0x66, 0x0f, 0x6f, 0x00,                        /* movdqa xmm0, [rax] */
		0xf4,
	};
	static const uint8_t fp[] = {
		0xd9, 0xe8,                                    /* fld1 */
		0xf4,
	};
	struct vsl_cpu_exit ex;

	vsl_cpu_fixture_code(&fx, misaligned, sizeof(misaligned));
	vsl_cpu_fixture_run(&fx, 100, &ex);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&fx), VSL_EXC_GP);
	/* the saved RIP is the faulting instruction's */
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&fx, vsl_cpu_get_gpr(cpu, VSL_RSP) + 8),
			  VSL_FIX_CODE + 10);

	vsl_cpu_set_cr(cpu, 0, vsl_cpu_get_cr(cpu, 0) | VSL_CR0_TS);
	vsl_cpu_fixture_code(&fx, fp, sizeof(fp));
	vsl_cpu_fixture_run(&fx, 100, &ex);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&fx), VSL_EXC_NM);
}
END_TEST

/*
 * ---- random differential test against this host ----
 *
 * Random instruction bytes (legacy 0F map with 66/F2/F3 and REX.W, and the
 * x87 D8..DF opcodes) with operands limited to xmm/mm/x87 registers, RBX,
 * RCX and [RAX]; random register, MXCSR, FCW/FSW and memory contents
 * (including unmasked exceptions and misaligned memory). Each instruction
 * the fpu accepts is also executed natively between FXRSTOR64 and
 * FXSAVE64, and the resulting x87/SSE state, GPRs, flags, memory and the
 * exception (SIGFPE/SIGSEGV trap number vs the raised vector) must agree.
 */
struct diff_state {
	uint8_t img[512];
	uint64_t rax, rbx, rcx, fl, rdx;
} __attribute__((aligned(64)));

static uint8_t *diff_code;
static uint8_t diff_buf[1024] __attribute__((aligned(64)));
static sigjmp_buf diff_jb;
static volatile int diff_sig, diff_trap;
static struct diff_state *diff_cur;
static uint64_t diff_rng = 88172645463325252ull;

static uint64_t diff_rnd(void)
{
	diff_rng ^= diff_rng << 13;
	diff_rng ^= diff_rng >> 7;
	diff_rng ^= diff_rng << 17;
	return diff_rng;
}

static void diff_handler(int s, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;

	diff_sig = s;
	diff_trap = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
	memcpy(diff_cur->img, uc->uc_mcontext.fpregs, 512);
	siglongjmp(diff_jb, 1);
}

/* push rbx; mov rsi, rdi; fxrstor64 [rsi]; load rax/rbx/rcx/rdx; push [rsi+0x218]; popfq
 * <insn>
 * pushfq; pop [rsi+0x218]; store rax/rbx/rcx/rdx; fxsave64 [rsi]; fnclex; pop rbx; ret */
static void diff_emit(const uint8_t *insn, unsigned n)
{
	static const uint8_t pro[] = {
		0x53, 0x48, 0x89, 0xfe, 0x48, 0x0f, 0xae, 0x0e,
		0x48, 0x8b, 0x86, 0x00, 0x02, 0, 0, 0x48, 0x8b, 0x9e, 0x08, 0x02, 0, 0,
		0x48, 0x8b, 0x8e, 0x10, 0x02, 0, 0, 0x48, 0x8b, 0x96, 0x20, 0x02, 0, 0,
		0xff, 0xb6, 0x18, 0x02, 0, 0, 0x9d };
	static const uint8_t epi[] = {
		0x9c, 0x8f, 0x86, 0x18, 0x02, 0, 0,
		0x48, 0x89, 0x86, 0x00, 0x02, 0, 0, 0x48, 0x89, 0x9e, 0x08, 0x02, 0, 0,
		0x48, 0x89, 0x8e, 0x10, 0x02, 0, 0, 0x48, 0x89, 0x96, 0x20, 0x02, 0, 0,
		0x48, 0x0f, 0xae, 0x06, 0xdb, 0xe2,
		0x5b, 0xc3 };

	memcpy(diff_code, pro, sizeof(pro));
	memcpy(diff_code + sizeof(pro), insn, n);
	memcpy(diff_code + sizeof(pro) + n, epi, sizeof(epi));
}

static int diff_native(struct diff_state *s)
{
	static uint8_t host[512] __attribute__((aligned(16)));

	diff_sig = 0;
	diff_cur = s;
	__asm__ volatile("fxsave64 %0" : "=m" (host));
	if (!sigsetjmp(diff_jb, 1))
		((void (*)(struct diff_state *))(uintptr_t)diff_code)(s);
	__asm__ volatile("fxrstor64 %0" : : "m" (host));
	return diff_sig;
}

/* Only [rax], RBX/RCX (and AX for FNSTSW) as operands; no MASKMOV ([rdi]). */
static bool diff_usable(const struct vsl_insn *in)
{
	ZydisMnemonic m = in->zi.mnemonic;

	if (m == ZYDIS_MNEMONIC_MASKMOVDQU || m == ZYDIS_MNEMONIC_MASKMOVQ)
		return false;
	/* RAX is the memory pointer here, but a length for PCMPESTRx */
	if ((m == ZYDIS_MNEMONIC_PCMPESTRI || m == ZYDIS_MNEMONIC_PCMPESTRM) &&
	    in->ops[1].type == ZYDIS_OPERAND_TYPE_MEMORY)
		return false;
	for (unsigned i = 0; i < in->zi.operand_count; i++) {
		const ZydisDecodedOperand *o = &in->ops[i];
		ZydisRegisterClass c;
		int id;

		if (o->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN)
			continue;
		if (o->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    (o->mem.base != ZYDIS_REGISTER_RAX || o->mem.index != ZYDIS_REGISTER_NONE ||
		     o->mem.disp.value))
			return false;
		if (o->type != ZYDIS_OPERAND_TYPE_REGISTER)
			continue;
		c = ZydisRegisterGetClass(o->reg.value);
		if (c != ZYDIS_REGCLASS_GPR8 && c != ZYDIS_REGCLASS_GPR16 &&
		    c != ZYDIS_REGCLASS_GPR32 && c != ZYDIS_REGCLASS_GPR64)
			continue;
		id = ZydisRegisterGetId(o->reg.value);
		if (c == ZYDIS_REGCLASS_GPR8 || (id != 1 && id != 3 && !(id == 0 && m == ZYDIS_MNEMONIC_FNSTSW)))
			return false;
	}
	return true;
}

static void diff_random_state(struct diff_state *ns, unsigned off)
{
	uint16_t fcw = 0x037f ^ (uint16_t)((diff_rnd() % 4) << 8) ^ (uint16_t)((diff_rnd() % 4) << 10);
	unsigned top = diff_rnd() % 8, cnt = diff_rnd() % 9;
	uint16_t fsw = (uint16_t)(top << 11);
	uint32_t mx = 0x1f80 | (uint32_t)((diff_rnd() % 4) << 13) | (diff_rnd() % 2 ? 0x8040 : 0);

	memset(ns, 0, sizeof(*ns));
	for (unsigned i = 160; i < 416; i += 8) {
		uint64_t v = diff_rnd();

		switch (diff_rnd() % 4) {
		case 0: v = 0x3ff0000000000000ull ^ (diff_rnd() & 0x800fffff00000000ull); break;
		case 1: v = 0x3f8000003f800000ull ^ (diff_rnd() & 0x807f0000807f0000ull); break;
		default: break;
		}
		memcpy(ns->img + i, &v, 8);
	}
	for (unsigned i = 0; i < cnt; i++)
		ns->img[4] |= (uint8_t)(1u << ((top + i) & 7));
	for (unsigned i = 0; i < 8; i++) {
		long double v = (long double)(int64_t)diff_rnd() / (long double)(1ull << (diff_rnd() % 64));
		uint64_t mant = diff_rnd();

		if (diff_rnd() % 8 == 0)
			v = 0;
		if (diff_rnd() % 2)
			memcpy(ns->img + 32 + 16 * i, &mant, 8);
		else
			memcpy(ns->img + 32 + 16 * i, &v, 10);
	}
	if (diff_rnd() % 4 == 0)
		mx &= ~(uint32_t)((diff_rnd() & 0x3f) << 7);
	if (diff_rnd() % 4 == 0)
		mx |= VSL_FPU_MXCSR_MM & vsl_fpu_mxcsr_mask();   /* AMD misaligned SSE */
	if (diff_rnd() % 8 == 0)
		fcw &= (uint16_t)~(diff_rnd() & 0x3f);
	if (diff_rnd() % 16 == 0)
		fsw |= (uint16_t)(diff_rnd() & 0x3f);
	memcpy(ns->img, &fcw, 2);
	memcpy(ns->img + 2, &fsw, 2);
	memcpy(ns->img + 24, &mx, 4);
	ns->rbx = diff_rnd();
	ns->rcx = diff_rnd();
	ns->rdx = diff_rnd() % 2 ? diff_rnd() % 20 - 2 : diff_rnd();
	ns->fl = 2 | (diff_rnd() & 0x8d5);
	for (unsigned i = 0; i < 512; i++)
		diff_buf[i] = (uint8_t)diff_rnd();
	if (diff_rnd() % 2) {
		/* give LDMXCSR/FXRSTOR/FLDCW something loadable */
		uint32_t ok = 0x1f80 | (uint32_t)(diff_rnd() & 0x607f);

		memcpy(diff_buf + off + 24, &ok, 4);
		memcpy(diff_buf + off, &ok, 4);
	}
	ns->rax = (uint64_t)(uintptr_t)diff_buf + off;
}

START_TEST(host_differential)
{
	struct sigaction sa = { .sa_sigaction = diff_handler, .sa_flags = SA_SIGINFO | SA_NODEFER };
	long ran = 0, bad = 0, faults = 0, corner = 0;
	static long isa_seen[256];
	ZydisDecoder d;

	diff_code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(diff_code, MAP_FAILED);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);

	/* FPU_DIFF_SEED / FPU_DIFF_ITERS widen a run by hand; the default is fixed */
	long iters = getenv("FPU_DIFF_ITERS") ? atol(getenv("FPU_DIFF_ITERS")) : 200000;

	if (getenv("FPU_DIFF_SEED"))
		diff_rng ^= strtoull(getenv("FPU_DIFF_SEED"), NULL, 0) * 0x9e3779b97f4a7c15ull;
	if (!diff_rng)
		diff_rng = 1;
	for (long it = 0; it < iters; it++) {
		uint8_t b[16], eimg[512];
		unsigned n = 0, off = diff_rnd() % 4 == 0 ? 8 : 0;
		bool reg = diff_rnd() & 1;
		uint8_t modrm = reg ? (uint8_t)(0xc0 | (diff_rnd() & 0x3f)) : (uint8_t)(diff_rnd() & 0x38);
		struct diff_state ns;
		struct vsl_insn in;
		const char *what = NULL;
		uint64_t nrax;
		int r, sg;

		if (diff_rnd() % 10 < 8) {
			static const uint8_t pf[] = { 0, 0x66, 0xf2, 0xf3 };
			uint8_t p = pf[diff_rnd() % 4];

			if (p)
				b[n++] = p;
			if (diff_rnd() % 4 == 0)
				b[n++] = (uint8_t)(0x48 | (diff_rnd() & 5));
			b[n++] = 0x0f;
			switch (diff_rnd() % 4) {
			case 0: b[n++] = 0x38; break;
			case 1: b[n++] = 0x3a; break;
			default: break;
			}
			b[n++] = (uint8_t)diff_rnd();
		} else {
			b[n++] = (uint8_t)(0xd8 + diff_rnd() % 8);
		}
		b[n++] = modrm;
		for (unsigned i = n; i < 16; i++)
			b[i] = (uint8_t)diff_rnd();
		if (ZYAN_FAILED(ZydisDecoderDecodeFull(&d, b, 15, &in.zi, in.ops)) || !diff_usable(&in))
			continue;

		diff_random_state(&ns, off);
		/* emulated */
		vsl_fpu_load_image(&cpu->fpu, ns.img, true, 16);
		if (in.zi.mnemonic == ZYDIS_MNEMONIC_PCMPESTRI || in.zi.mnemonic == ZYDIS_MNEMONIC_PCMPESTRM)
			ns.rax = diff_rnd() % 2 ? diff_rnd() % 20 - 2 : diff_rnd();
		cpu->gpr[VSL_RAX] = in.zi.mnemonic == ZYDIS_MNEMONIC_PCMPESTRI ||
				    in.zi.mnemonic == ZYDIS_MNEMONIC_PCMPESTRM ? ns.rax : FX_DATA + off;
		cpu->gpr[VSL_RDX] = ns.rdx;
		cpu->gpr[VSL_RBX] = ns.rbx;
		cpu->gpr[VSL_RCX] = ns.rcx;
		cpu->rflags = ns.fl;
		memcpy(ram + FX_DATA, diff_buf, 512);
		cpu->exc_vector = -1;
		in.rip = cpu->rip;
		r = vsl_fpu_exec(cpu, &in);
		if (r == VSL_FPU_NOT_MINE)
			continue;
		/* native */
		diff_emit(b, in.zi.length);
		sg = diff_native(&ns);
		ran++;
		faults += sg != 0;
		isa_seen[in.zi.meta.isa_ext & 255]++;
		if ((r ? cpu->exc_vector : -1) != (sg ? diff_trap : -1)) {
			what = "exception";
		} else {
			if (sg) {
				ns.rbx = cpu->gpr[VSL_RBX];
				ns.rcx = cpu->gpr[VSL_RCX];
				ns.rdx = cpu->gpr[VSL_RDX];
				ns.fl = cpu->rflags;
			}
			memset(eimg, 0, sizeof(eimg));
			vsl_fpu_save_image(&cpu->fpu, eimg, true, 16);
			nrax = ns.rax;
			if (memcmp(eimg, ns.img, 4))
				what = "fcw/fsw";
			else if (eimg[4] != ns.img[4])
				what = "ftw";
			else if ((ns.img[2] & 0x80) && memcmp(eimg + 6, ns.img + 6, 2))
				what = "fop";   /* stored while an exception is pending */
			else if (memcmp(eimg + 24, ns.img + 24, 4))
				what = "mxcsr";
			else if (memcmp(eimg + 32, ns.img + 32, 128))
				what = "st";
			else if (memcmp(eimg + 160, ns.img + 160, 256))
				what = "xmm";
			else if (cpu->gpr[VSL_RBX] != ns.rbx || cpu->gpr[VSL_RCX] != ns.rcx ||
				 cpu->gpr[VSL_RDX] != ns.rdx)
				what = "gpr";
			else if (in.zi.mnemonic == ZYDIS_MNEMONIC_FNSTSW && !sg &&
				 in.ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
				 (uint16_t)cpu->gpr[VSL_RAX] != (uint16_t)nrax)
				what = "ax";
			else if ((cpu->rflags & 0x8d5) != (ns.fl & 0x8d5))
				what = "rflags";
			else if (memcmp(ram + FX_DATA, diff_buf, 512))
				what = "memory";
		}
		if (!what)
			continue;
		/*
		 * Documented approximation (sse.c): PE when an unmasked OE/UE
		 * faults. Tolerated only as an MXCSR.PE difference on a #XM-free
		 * run with UE or OE unmasked.
		 */
		if (!strcmp(what, "mxcsr") &&
		    ((*(uint32_t *)(eimg + 24) ^ *(uint32_t *)(ns.img + 24)) == 0x20) &&
		    (*(uint32_t *)(ns.img + 24) & 0x18) && ((~*(uint32_t *)(ns.img + 24) >> 7) & 0x18)) {
			corner++;
			continue;
		}
		bad++;
		if (bad <= 10) {
			fprintf(stderr, "host_differential: %s differs for %s:", what,
				ZydisMnemonicGetString(in.zi.mnemonic));
			for (unsigned i = 0; i < in.zi.length; i++)
				fprintf(stderr, " %02x", b[i]);
			fprintf(stderr, " (emu r %d vec %d, native signal %d trap %d; mxcsr %08x vs %08x)\n", r,
				cpu->exc_vector, sg, diff_trap, *(uint32_t *)(eimg + 24), *(uint32_t *)(ns.img + 24));
		}
	}
	munmap(diff_code, 4096);
	if (getenv("FPU_DIFF_VERBOSE")) {
		fprintf(stderr, "host_differential: ran %ld, native faults %ld, tolerated %ld\n",
			ran, faults, corner);
		for (int i = 0; i < 256; i++)
			if (isa_seen[i])
				fprintf(stderr, "  %s: %ld\n", ZydisISAExtGetString((ZydisISAExt)i), isa_seen[i]);
	}
	/* the generator must actually reach a large share of the ISA */
	ck_assert_int_gt(ran, iters / 5);
	ck_assert_int_gt(faults, iters / 2000);
	ck_assert_int_le(corner, ran / 10000 + 5);
	ck_assert_int_eq(bad, 0);
}
END_TEST

static Suite *sse_suite(void)
{
	Suite *s = suite_create("sse");
	TCase *tc;

	tc = tcase_create("moves");
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_add_test(tc, movaps_aligned_and_misaligned);
	tcase_add_test(tc, movss_movsd_movq_movd);
	tcase_add_test(tc, faults_leave_state_unchanged);
	suite_add_tcase(s, tc);
	tc = tcase_create("float");
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_add_test(tc, arith_packed_scalar);
	tcase_add_test(tc, rounding_control_and_conversions);
	tcase_add_test(tc, daz_ftz);
	tcase_add_test(tc, compares_and_flags);
	tcase_add_test(tc, unmasked_exception_faults);
	tcase_add_test(tc, control_register_checks);
	suite_add_tcase(s, tc);
	tc = tcase_create("integer");
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_add_test(tc, integer_simd);
	tcase_add_test(tc, mmx_aliasing);
	tcase_add_test(tc, x86_64_v2_extensions);
	suite_add_tcase(s, tc);
	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_add_test(tc, ldmxcsr_stmxcsr);
	tcase_add_test(tc, fxsave_layout);
	suite_add_tcase(s, tc);
	tc = tcase_create("run");
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_add_test(tc, run_sse_code);
	tcase_add_test(tc, run_faults_reach_idt);
	suite_add_tcase(s, tc);
	tc = tcase_create("differential");
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, host_differential);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(sse_suite());
}
