/*
 * Unit tests for the x87 half of the fpu module (runtime/cpu/x87.c):
 * constants and arithmetic, memory forms (m16/m32/m64/m80, integer, BCD
 * sizes), precision and rounding control, FCOM/FCOMI/FTST/FXAM, stack
 * overflow, pending unmasked exceptions and #MF, suppressed stores, the
 * FNSTENV/FNSAVE/FRSTOR/FLDENV images, transcendental and misc ops, #NM.
 *
 * Instruction bytes carry their disassembly in a comment.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/fpu_suite.h"
#include "tests/unit/helpers/testutil.h"

/* x87 helpers: the register at ST(i) as long double, and setting it */
static long double fx_st(int i)
{
	long double v = 0;
	unsigned top = (cpu->fpu.fsw >> 11) & 7;

	memcpy(&v, cpu->fpu.st[(top + i) & 7], 10);
	return v;
}

static unsigned fx_top(void)
{
	return (cpu->fpu.fsw >> 11) & 7;
}

static unsigned fx_tag(int i)
{
	return (cpu->fpu.ftw >> (2 * ((fx_top() + i) & 7))) & 3;
}

#define C0 0x0100
#define C1 0x0200
#define C2 0x0400
#define C3 0x4000

START_TEST(load_constants_and_arith)
{
	/* d9 e8 fld1; d9 eb fldpi; de c1 faddp st(1), st */
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);
	ck_assert_int_eq(EXEC(0xd9, 0xeb), 0);
	ck_assert_uint_eq(fx_top(), 6);
	ck_assert_int_eq(EXEC(0xde, 0xc1), 0);
	ck_assert_uint_eq(fx_top(), 7);
	{
		volatile long double one = 1.0L;
		long double pi;

		__asm__("fldpi" : "=t" (pi));
		ck_assert(fx_st(0) == pi + one);
	}
	ck_assert_uint_eq(fx_tag(0), 0);
	ck_assert_uint_eq(fx_tag(1), 3);
	ck_assert_uint_eq(cpu->fpu.fsw & 0x3f, 0x20);          /* PE */
	/* d9 ee fldz; d9 c9 fxch st(1); fdiv st(0), st(1) = x / 0: ZE, inf */
	ck_assert_int_eq(EXEC(0xd9, 0xee), 0);
	ck_assert_uint_eq(fx_tag(0), 1);                      /* zero tag */
	ck_assert_int_eq(EXEC(0xd9, 0xc9), 0);
	/* d8 f1                fdiv st, st(1) */
	ck_assert_int_eq(EXEC(0xd8, 0xf1), 0);
	ck_assert(isinf(fx_st(0)));
	ck_assert_uint_eq(fx_tag(0), 2);                      /* special */
	ck_assert_uint_eq(cpu->fpu.fsw & 0x3f, 0x24);
	/* FOP/FIP of the last non-control instruction */
	ck_assert_uint_eq(cpu->fpu.fop, 0x0f1);
	ck_assert_uint_eq(cpu->fpu.fip, cpu->rip);
}
END_TEST

START_TEST(memory_forms)
{
	double d = 1.5;
	float fl;
	int16_t w;

	memcpy(ram + FX_DATA, &d, 8);
	cpu->gpr[VSL_RAX] = FX_DATA;
	/* dd 00                fld qword [rax] */
	ck_assert_int_eq(EXEC(0xdd, 0x00), 0);
	ck_assert(fx_st(0) == 1.5L);
	ck_assert_uint_eq(cpu->fpu.fdp, FX_DATA);
	ck_assert_uint_eq(cpu->fpu.fop, 0x500);
	/* d9 58 10             fstp dword [rax+0x10] */
	ck_assert_int_eq(EXEC(0xd9, 0x58, 0x10), 0);
	memcpy(&fl, ram + FX_DATA + 0x10, 4);
	ck_assert(fl == 1.5f);
	ck_assert_uint_eq(fx_tag(-1), 3);                     /* popped */
	ck_assert_uint_eq(cpu->fpu.fdp, FX_DATA + 0x10);
	/* df 28 fild qword [rax]: large integer */
	*(int64_t *)(ram + FX_DATA) = -1234567890123ll;
	ck_assert_int_eq(EXEC(0xdf, 0x28), 0);
	ck_assert(fx_st(0) == -1234567890123.0L);
	/* df 58 20             fistp word [rax+0x20]: overflow -> IE, indefinite */
	*(uint16_t *)(ram + FX_DATA + 0x20) = 0x1111;
	ck_assert_int_eq(EXEC(0xdf, 0x58, 0x20), 0);
	memcpy(&w, ram + FX_DATA + 0x20, 2);
	ck_assert_uint_eq((uint16_t)w, 0x8000);
	ck_assert_uint_eq(cpu->fpu.fsw & 0x3f, 0x01);
	/* db 68 30 fld tbyte [rax+0x30] / db 78 40 fstp tbyte [rax+0x40] */
	memcpy(ram + FX_DATA + 0x30, "\x01\x00\x00\x00\x00\x00\x00\xc0\xff\x7f", 10); /* QNaN */
	ck_assert_int_eq(EXEC(0xdb, 0x68, 0x30), 0);
	ck_assert_int_eq(EXEC(0xdb, 0x78, 0x40), 0);
	ck_assert_int_eq(memcmp(ram + FX_DATA + 0x40, ram + FX_DATA + 0x30, 10), 0);
	/* rounding control: fld 2.5; fistp dword with RC = up gives 3 */
	d = 2.5;
	memcpy(ram + FX_DATA, &d, 8);
	*(uint16_t *)(ram + FX_DATA + 8) = 0x0b7f;
	/* d9 68 08             fldcw [rax+8] */
	ck_assert_int_eq(EXEC(0xd9, 0x68, 0x08), 0);
	ck_assert_uint_eq(cpu->fpu.fcw, 0x0b7f);
	ck_assert_int_eq(EXEC(0xdd, 0x00), 0);
	/* db 58 50             fistp dword [rax+0x50] */
	ck_assert_int_eq(EXEC(0xdb, 0x58, 0x50), 0);
	ck_assert_int_eq(*(int32_t *)(ram + FX_DATA + 0x50), 3);
	/* dd 08 fisttp qword [rax] truncates regardless */
	ck_assert_int_eq(EXEC(0xdd, 0x00), 0);
	ck_assert_int_eq(EXEC(0xdd, 0x08), 0);
	ck_assert_int_eq(*(int64_t *)(ram + FX_DATA), 2);
}
END_TEST

START_TEST(precision_control)
{
	long double third;

	/* FCW PC = 00 (24-bit) : 1/3 rounded to single precision */
	*(uint16_t *)(ram + FX_DATA) = 0x007f;
	cpu->gpr[VSL_RAX] = FX_DATA;
	ck_assert_int_eq(EXEC(0xd9, 0x28), 0);              /* fldcw [rax] */
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);              /* fld1 */
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);              /* fld1 */
	ck_assert_int_eq(EXEC(0xd8, 0xc0), 0);              /* fadd st, st(0) = 2 */
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);              /* fld1 */
	ck_assert_int_eq(EXEC(0xd8, 0xc1), 0);              /* fadd st, st(1) = 3 */
	ck_assert_int_eq(EXEC(0xde, 0xfa), 0);              /* fdivrp st(2), st: 1/3 */
	third = fx_st(1);
	ck_assert(third == (long double)(1.0f / 3.0f));
	ck_assert(third != 1.0L / 3.0L);
}
END_TEST

START_TEST(compare_and_classify)
{
	/* fld1; fldz; fcomi st, st(1): 0 < 1 -> CF */
	cpu->rflags = 2 | VSL_FL_OF | VSL_FL_SF;
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);
	ck_assert_int_eq(EXEC(0xd9, 0xee), 0);
	/* db f1                fcomi st, st(1) */
	ck_assert_int_eq(EXEC(0xdb, 0xf1), 0);
	ck_assert_uint_eq(cpu->rflags, 2 | VSL_FL_CF);
	/* d8 d1                fcom st(1): C0 set (less) */
	ck_assert_int_eq(EXEC(0xd8, 0xd1), 0);
	ck_assert_uint_eq(cpu->fpu.fsw & (C0 | C2 | C3), C0);
	/* df e0                fnstsw ax */
	cpu->gpr[VSL_RAX] = 0xffffffffffff0000ull;
	ck_assert_int_eq(EXEC(0xdf, 0xe0), 0);
	ck_assert_uint_eq(cpu->gpr[VSL_RAX], 0xffffffffffff0000ull | cpu->fpu.fsw);
	/* d9 e4 ftst (0 == 0): C3 */
	ck_assert_int_eq(EXEC(0xd9, 0xe4), 0);
	ck_assert_uint_eq(cpu->fpu.fsw & (C0 | C2 | C3), C3);
	/* de d9 fcompp: pops both */
	ck_assert_int_eq(EXEC(0xde, 0xd9), 0);
	ck_assert_uint_eq(cpu->fpu.ftw, 0xffff);
	/* d9 e5 fxam on an empty ST0: C3 C0 (empty) */
	ck_assert_int_eq(EXEC(0xd9, 0xe5), 0);
	ck_assert_uint_eq(cpu->fpu.fsw & (C0 | C2 | C3), C3 | C0);
	/* fld1; fchs; fxam: normal, negative: C2, C1 */
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);
	ck_assert_int_eq(EXEC(0xd9, 0xe0), 0);
	ck_assert_int_eq(EXEC(0xd9, 0xe5), 0);
	ck_assert_uint_eq(cpu->fpu.fsw & (C0 | C1 | C2 | C3), C2 | C1);
	/* fcmovb st, st(1) with CF = 1 (da c1): ST0 = ST1 */
	ck_assert_int_eq(EXEC(0xd9, 0xee), 0);                     /* fldz */
	cpu->rflags = 2 | VSL_FL_CF;
	ck_assert_int_eq(EXEC(0xda, 0xc1), 0);
	ck_assert(fx_st(0) == -1.0L);
	cpu->rflags = 2;
	ck_assert_int_eq(EXEC(0xd9, 0xee), 0);
	ck_assert_int_eq(EXEC(0xda, 0xc1), 0);                     /* no move */
	ck_assert(fx_st(0) == 0.0L);
}
END_TEST

START_TEST(stack_faults_and_pending)
{
	/* nine pushes: the ninth overflows (IE, SF, C1) and loads the indefinite */
	for (int i = 0; i < 9; i++)
		ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);
	ck_assert_uint_eq(cpu->fpu.fsw & 0x7f, 0x41);
	ck_assert_uint_eq(cpu->fpu.fsw & C1, C1);
	ck_assert(isnan(fx_st(0)));
	/* unmask IE: the flag is already set, so the next waiting insn gets #MF */
	*(uint16_t *)(ram + FX_DATA) = 0x037e;
	cpu->gpr[VSL_RAX] = FX_DATA;
	ck_assert_int_eq(EXEC(0xd9, 0x28), 0);              /* fldcw: no #MF itself */
	ck_assert_uint_eq(cpu->fpu.fsw & 0x8080, 0x8080);   /* B and ES */
	ck_assert_int_eq(EXEC(0xd9, 0xe8), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_MF);
	ck_assert_int_eq(EXEC(0x9b), VSL_CPU_FAULT);        /* fwait */
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_MF);
	/* non-waiting ones still run: fnstsw ax, fnclex */
	ck_assert_int_eq(EXEC(0xdf, 0xe0), 0);
	ck_assert_int_eq(EXEC(0xdb, 0xe2), 0);
	ck_assert_uint_eq(cpu->fpu.fsw & 0x80ff, 0);
	ck_assert_int_eq(EXEC(0x9b), 0);
	/* unmasked invalid on a store: memory is left alone, ES pending */
	cpu->gpr[VSL_RAX] = FX_DATA;                        /* fnstsw ax changed it */
	ck_assert_int_eq(EXEC(0xdb, 0xe3), 0);              /* fninit */
	ck_assert_int_eq(EXEC(0xd9, 0x28), 0);              /* fldcw 0x37e */
	*(double *)(ram + FX_DATA + 8) = 1e10;
	ck_assert_int_eq(EXEC(0xdd, 0x40, 0x08), 0);        /* fld qword [rax+8] */
	*(uint16_t *)(ram + FX_DATA + 0x10) = 0x5a5a;
	ck_assert_int_eq(EXEC(0xdf, 0x50, 0x10), 0);        /* fist word [rax+0x10] */
	ck_assert_uint_eq(*(uint16_t *)(ram + FX_DATA + 0x10), 0x5a5a);
	ck_assert_uint_eq(cpu->fpu.fsw & 0x80, 0x80);
	ck_assert_int_eq(EXEC(0xd9, 0xe8), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_MF);
}
END_TEST

START_TEST(environment)
{
	uint32_t pad = (uint32_t)vsl_fpu_quirks()->env_pad << 16;
	uint8_t *e = ram + FX_DATA;

	cpu->rip = 0x401000;
	cpu->seg[VSL_CS].sel = 0x33;
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);              /* fld1: valid */
	ck_assert_int_eq(EXEC(0xd9, 0xee), 0);              /* fldz: zero */
	cpu->gpr[VSL_RAX] = FX_DATA;
	memset(e, 0xcc, 128);
	/* d9 30                fnstenv [rax] (28 bytes) */
	ck_assert_int_eq(EXEC(0xd9, 0x30), 0);
	/* upper halves: as the host fills them (0xFFFF on AMD) */
	ck_assert_uint_eq(*(uint32_t *)e, pad | 0x037f);
	ck_assert_uint_eq(*(uint32_t *)(e + 4), pad | 6u << 11);
	ck_assert_uint_eq(*(uint32_t *)(e + 8), pad | 0x1fff);
	ck_assert_uint_eq(*(uint32_t *)(e + 12), 0x401000);
	ck_assert_uint_eq(*(uint32_t *)(e + 16), 0x33 | 0x1eeu << 16);
	ck_assert_uint_eq(e[28], 0xcc);
	ck_assert_uint_eq(cpu->fpu.fcw, 0x037f);            /* masks already all set */
	/* 66 d9 30             fnstenv [rax] with o16: 14 bytes */
	memset(e, 0xcc, 128);
	ck_assert_int_eq(EXEC(0x66, 0xd9, 0x30), 0);
	ck_assert_uint_eq(*(uint16_t *)(e + 6), 0x1000);
	ck_assert_uint_eq(*(uint16_t *)(e + 8), 0x33);
	ck_assert_uint_eq(e[14], 0xcc);
	/* dd 30 fnsave [rax]; then the FPU is initialised */
	ck_assert_int_eq(EXEC(0xdd, 0x30), 0);
	ck_assert_uint_eq(cpu->fpu.ftw, 0xffff);
	ck_assert_uint_eq(cpu->fpu.fsw, 0);
	ck_assert_int_eq(memcmp(e + 28, "\0\0\0\0\0\0\0\0\0\0", 10), 0);      /* ST0 = +0 */
	ck_assert_int_eq(memcmp(e + 38, "\0\0\0\0\0\0\0\x80\xff\x3f", 10), 0); /* ST1 = 1 */
	/* dd 20 frstor [rax] brings it back */
	ck_assert_int_eq(EXEC(0xdd, 0x20), 0);
	ck_assert_uint_eq(fx_top(), 6);
	ck_assert(fx_st(1) == 1.0L);
	ck_assert_uint_eq(fx_tag(0), 1);
	ck_assert_uint_eq(cpu->fpu.fip, 0x401000);
	/* d9 20 fldenv with an all-empty tag word */
	*(uint32_t *)(e + 8) = 0xffff;
	ck_assert_int_eq(EXEC(0xd9, 0x20), 0);
	ck_assert_uint_eq(cpu->fpu.ftw, 0xffff);
}
END_TEST

START_TEST(transcendental_and_misc)
{
	long double want;

	/* fld1; fsqrt of 2 */
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);
	ck_assert_int_eq(EXEC(0xd8, 0xc0), 0);              /* fadd st, st: 2 */
	ck_assert_int_eq(EXEC(0xd9, 0xfa), 0);              /* fsqrt */
	want = sqrtl(2.0L);
	ck_assert(fx_st(0) == want);
	/* fchs; fsqrt: invalid, default NaN */
	ck_assert_int_eq(EXEC(0xd9, 0xe0), 0);
	ck_assert_int_eq(EXEC(0xd9, 0xfa), 0);
	ck_assert(isnan(fx_st(0)));
	ck_assert_uint_eq(cpu->fpu.fsw & 1, 1);
	/* ffree st(0); fincstp */
	ck_assert_int_eq(EXEC(0xdd, 0xc0), 0);
	ck_assert_uint_eq(fx_tag(0), 3);
	/* fldpi; fsin ~ 0 (host's own approximation); frndint; fscale */
	ck_assert_int_eq(EXEC(0xdb, 0xe3), 0);              /* fninit */
	ck_assert_int_eq(EXEC(0xd9, 0xeb), 0);
	ck_assert_int_eq(EXEC(0xd9, 0xfe), 0);
	ck_assert(fabsl(fx_st(0)) < 1e-18L);
	ck_assert_int_eq(EXEC(0xdb, 0xe3), 0);
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);              /* fld1: scale */
	ck_assert_int_eq(EXEC(0xd9, 0xeb), 0);              /* fldpi */
	ck_assert_int_eq(EXEC(0xd9, 0xfc), 0);              /* frndint: 3 */
	ck_assert(fx_st(0) == 3.0L);
	ck_assert_int_eq(EXEC(0xd9, 0xc9), 0);              /* fxch */
	ck_assert_int_eq(EXEC(0xd9, 0xfd), 0);              /* fscale: 1 * 2^3 */
	ck_assert(fx_st(0) == 8.0L);
	/* fprem: 8 mod 3 = 2 */
	ck_assert_int_eq(EXEC(0xd9, 0xf8), 0);
	ck_assert(fx_st(0) == 2.0L);
	ck_assert_uint_eq(cpu->fpu.fsw & C2, 0);
}
END_TEST

START_TEST(nm_and_em)
{
	cpu->cr0 |= VSL_CR0_TS;
	ck_assert_int_eq(EXEC(0xd9, 0xe8), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_NM);
	/* fwait: #NM only with TS and MP */
	ck_assert_int_eq(EXEC(0x9b), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_NM);
	cpu->cr0 &= ~VSL_CR0_MP;
	ck_assert_int_eq(EXEC(0x9b), 0);
	cpu->cr0 = (cpu->cr0 & ~VSL_CR0_TS) | VSL_CR0_EM;
	ck_assert_int_eq(EXEC(0xd9, 0xe8), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_NM);
	ck_assert_uint_eq(cpu->fpu.ftw, 0xffff);            /* nothing ran */
}
END_TEST

START_TEST(real_and_protected32_formats)
{
	uint8_t *e = ram + 0x9000;
	uint16_t h[7];

	/* real mode: FNSTENV stores 20-bit linear pointers, 14 bytes */
	cpu->cr0 = VSL_CR0_ET | VSL_CR0_NE;
	cpu->mode = VSL_MODE_REAL;
	for (int i = 0; i < 6; i++)
		cpu->seg[i] = (struct vsl_seg){ .sel = 0, .base = 0, .limit = 0xffff, .attr = 0x93 };
	cpu->seg[VSL_CS].sel = 0x1000;
	cpu->seg[VSL_CS].base = 0x10000;
	cpu->rip = 0x0100;
	/* d9 e8                fld1 */
	ck_assert_int_eq(EXEC16(0xd9, 0xe8), 0);
	ck_assert_uint_eq(cpu->fpu.fip, 0x10100);
	cpu->gpr[VSL_RBX] = 0x9020;
	/* dd 07                fld qword [bx] */
	memset(ram + 0x9020, 0, 8);
	ck_assert_int_eq(EXEC16(0xdd, 0x07), 0);
	ck_assert_uint_eq(cpu->fpu.fdp, 0x9020);
	memset(e, 0xcc, 32);
	/* d9 36 00 90          fnstenv [0x9000] */
	ck_assert_int_eq(EXEC16(0xd9, 0x36, 0x00, 0x90), 0);
	memcpy(h, e, 14);
	ck_assert_uint_eq(h[0], 0x037f);
	ck_assert_uint_eq(h[3], 0x0100);                    /* FIP[15:0] */
	ck_assert_uint_eq(h[4], 0x1000 | 0x507);            /* FIP[19:16] << 12 | FOP */
	ck_assert_uint_eq(h[5], 0x9020);                    /* FDP[15:0] */
	ck_assert_uint_eq(h[6], 0);
	ck_assert_uint_eq(e[14], 0xcc);
	/* d9 26 00 90          fldenv [0x9000] reads them back */
	cpu->fpu.fip = cpu->fpu.fdp = 0;
	ck_assert_int_eq(EXEC16(0xd9, 0x26, 0x00, 0x90), 0);
	ck_assert_uint_eq(cpu->fpu.fip, 0x10100);
	ck_assert_uint_eq(cpu->fpu.fop, 0x507);

	/* 32-bit protected mode: FXSAVE stores XMM0-7 only */
	cpu->cr0 = VSL_CR0_PE | VSL_CR0_ET | VSL_CR0_NE;
	cpu->mode = VSL_MODE_PROT32;
	for (int i = 0; i < 6; i++)
		cpu->seg[i] = (struct vsl_seg){ .sel = 0x10, .base = 0, .limit = 0xffffffff, .attr = 0xc93 };
	cpu->seg[VSL_CS].sel = 0x08;
	memset(ram + 0x9200, 0xcc, 512);
	for (int i = 0; i < 16; i++)
		memset(cpu->fpu.xmm[i], i + 1, 16);
	cpu->gpr[VSL_RAX] = 0x9200;
	/* 0f ae 00             fxsave [eax] */
	ck_assert_int_eq(EXEC32(0x0f, 0xae, 0x00), 0);
	ck_assert_uint_eq(ram[0x9200 + 160 + 16 * 7], 8);
	ck_assert_uint_eq(ram[0x9200 + 160 + 16 * 8], 0xcc);
	/* 0f ae 08             fxrstor [eax] leaves XMM8-15 alone */
	memset(ram + 0x9200 + 160, 0x77, 16);
	ck_assert_int_eq(EXEC32(0x0f, 0xae, 0x08), 0);
	ck_assert_uint_eq(cpu->fpu.xmm[0][0], 0x77);
	ck_assert_uint_eq(cpu->fpu.xmm[8][0], 9);
}
END_TEST

START_TEST(faults_leave_state_unchanged)
{
	uint64_t page = FX_DATA + 0x3000, *pte = vsl_cpu_fixture_pte(&fx, page);
	uint16_t fsw, ftw;
	uint8_t st7[10];

	ck_assert_ptr_nonnull(pte);
	ck_assert_int_eq(EXEC(0xd9, 0xe8), 0);              /* fld1 */
	fsw = cpu->fpu.fsw;
	ftw = cpu->fpu.ftw;
	memcpy(st7, cpu->fpu.st[7], 10);
	*pte &= ~1ull;                                      /* not present */
	vsl_mmu_flush(cpu, true);
	cpu->gpr[VSL_RAX] = page + 8;
	/* dd 18                fstp qword [rax]: #PF, nothing popped */
	ck_assert_int_eq(EXEC(0xdd, 0x18), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_PF);
	ck_assert_uint_eq(cpu->fpu.fsw, fsw);
	ck_assert_uint_eq(cpu->fpu.ftw, ftw);
	ck_assert_int_eq(memcmp(cpu->fpu.st[7], st7, 10), 0);
	/* dd 00                fld qword [rax]: #PF, nothing pushed */
	ck_assert_int_eq(EXEC(0xdd, 0x00), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_PF);
	ck_assert_uint_eq(cpu->fpu.fsw, fsw);
	/* d9 30                fnstenv [rax]: #PF, exceptions not masked */
	cpu->fpu.fcw = 0x037e;
	ck_assert_int_eq(EXEC(0xd9, 0x30), VSL_CPU_FAULT);
	ck_assert_uint_eq(cpu->fpu.fcw, 0x037e);
	/* dd 30                fnsave [rax]: #PF, no FNINIT */
	ck_assert_int_eq(EXEC(0xdd, 0x30), VSL_CPU_FAULT);
	ck_assert_uint_eq(cpu->fpu.ftw, ftw);
	/* read-only page: 48 0f ae 00 fxsave64 [rax] faults with a write #PF */
	*pte = (*pte | 1) & ~2ull;
	vsl_mmu_flush(cpu, true);
	cpu->gpr[VSL_RAX] = page;
	ck_assert_int_eq(EXEC(0x48, 0x0f, 0xae, 0x00), VSL_CPU_FAULT);
	ck_assert_int_eq(cpu->exc_vector, VSL_EXC_PF);
	ck_assert_uint_eq(cpu->exc_error & 2, 2);
	/* ...while a load from it works: dd 00 fld qword [rax] */
	ck_assert_int_eq(EXEC(0xdd, 0x00), 0);
	*pte |= 3;
	vsl_mmu_flush(cpu, true);
}
END_TEST

static Suite *x87_suite(void)
{
	Suite *s = suite_create("x87");
	TCase *tc;

	tc = tcase_create("arith");
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_add_test(tc, load_constants_and_arith);
	tcase_add_test(tc, memory_forms);
	tcase_add_test(tc, precision_control);
	tcase_add_test(tc, compare_and_classify);
	tcase_add_test(tc, transcendental_and_misc);
	suite_add_tcase(s, tc);
	tc = tcase_create("control");
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_add_test(tc, stack_faults_and_pending);
	tcase_add_test(tc, environment);
	tcase_add_test(tc, nm_and_em);
	tcase_add_test(tc, real_and_protected32_formats);
	tcase_add_test(tc, faults_leave_state_unchanged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(x87_suite());
}
