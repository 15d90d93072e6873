/*
 * Unit tests for integer semantics and exact flags of the reference
 * executor (interp.c).
 * Each test runs a byte sequence (disassembly in the comment) on the
 * long-mode fixture (tests/unit/helpers/cpu_fixture.h) until HLT.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/cpu_suite.h"
#include "tests/unit/helpers/testutil.h"

/* ------------------------------------------------------------------ */

START_TEST(add_flags)
{
	/* mov $0x7fffffff,%eax; add $1,%eax; hlt */
	struct vsl_cpu_exit ex = RUN("\xb8\xff\xff\xff\x7f\x83\xc0\x01\xf4");
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_HLT);
	ck_assert_uint_eq(ex.executed, 3);
	ck_assert_uint_eq(gpr(VSL_RAX), 0x80000000u);
	ck_assert_uint_eq(flags(), OF | SF | AF | PF);
}
END_TEST

START_TEST(loop_sum)
{
	/* mov $100,%ecx; xor %eax,%eax; 1: add %rcx,%rax; loop 1b; hlt */
	RUN("\xb9\x64\x00\x00\x00\x31\xc0\x48\x01\xc8\xe2\xfb\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 5050);
	ck_assert_uint_eq(gpr(VSL_RCX), 0);
	ck_assert_uint_eq(vsl_cpu_icount(F.cpu) > 200, 1);
}
END_TEST

START_TEST(rotate_through_carry)
{
	/* mov $0x80000000,%eax; mov $3,%cl; rcl %cl,%eax; hlt */
	RUN("\xb8\x00\x00\x00\x80\xb1\x03\xd3\xd0\xf4");
	/* CF=0 initially: 1000..0 rcl 3 -> bit 31 goes to CF then into bit 1 */
	ck_assert_uint_eq(gpr(VSL_RAX), 0x2);
	ck_assert_uint_eq(flags() & CF, 0);
	/* stc; mov $1,%eax; rcr $1,%eax; hlt */
	RUN("\xf9\xb8\x01\x00\x00\x00\xd1\xd8\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 0x80000000u);
	ck_assert_uint_eq(flags() & (CF | OF), CF | OF);
}
END_TEST

START_TEST(shld_64)
{
	/* movabs $0x8000000000000001,%rax; movabs $0xf000000000000000,%rdx;
	 * shld $4,%rdx,%rax; hlt */
	RUN("\x48\xb8\x01\x00\x00\x00\x00\x00\x00\x80\x48\xba\x00\x00\x00\x00\x00\x00\x00\xf0"
	    "\x48\x0f\xa4\xd0\x04\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 0x1f);
	ck_assert_uint_eq(flags() & CF, 0);
}
END_TEST

START_TEST(imul_idiv)
{
	/* mov $-7,%rbx; imul $3,%rbx,%rax; mov $-100,%rax; cqto; mov $7,%rcx; idiv %rcx; hlt */
	RUN("\x48\xc7\xc3\xf9\xff\xff\xff\x48\x6b\xc3\x03\x48\xc7\xc0\x9c\xff\xff\xff\x48\x99"
	    "\x48\xc7\xc1\x07\x00\x00\x00\x48\xf7\xf9\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), (uint64_t)-14);
	ck_assert_uint_eq(gpr(VSL_RDX), (uint64_t)-2);
}
END_TEST

START_TEST(cmpxchg_xadd)
{
	/* mov $5,%eax; mov $5,%ebx; mov $9,%ecx; cmpxchg %ecx,%ebx; mov $3,%edx;
	 * xadd %edx,%ebx; hlt */
	RUN("\xb8\x05\x00\x00\x00\xbb\x05\x00\x00\x00\xb9\x09\x00\x00\x00\x0f\xb1\xcb"
	    "\xba\x03\x00\x00\x00\x0f\xc1\xd3\xf4");
	ck_assert_uint_eq(gpr(VSL_RBX), 12);
	ck_assert_uint_eq(gpr(VSL_RDX), 9);
	ck_assert_uint_eq(gpr(VSL_RAX), 5);
}
END_TEST

START_TEST(strings)
{
	/* mov $0x200000,%edi; mov $0xab,%al; mov $16,%ecx; cld; rep stosb;
	 * mov $0x200000,%esi; mov $0x200100,%edi; mov $2,%ecx; rep movsq;
	 * mov $0x200100,%edi; mov $0,%al; mov $100,%ecx; repne scasb; hlt */
	RUN("\xbf\x00\x00\x20\x00\xb0\xab\xb9\x10\x00\x00\x00\xfc\xf3\xaa\xbe\x00\x00\x20\x00"
	    "\xbf\x00\x01\x20\x00\xb9\x02\x00\x00\x00\xf3\x48\xa5\xbf\x00\x01\x20\x00\xb0\x00"
	    "\xb9\x64\x00\x00\x00\xf2\xae\xf4");
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&F, 0x200108), 0xababababababababull);
	/* the first zero byte after the 16 copied ones is at 0x200110 */
	ck_assert_uint_eq(gpr(VSL_RDI), 0x200111);
	ck_assert_uint_eq(gpr(VSL_RCX), 100 - 17);
	ck_assert_uint_eq(flags() & ZF, ZF);
}
END_TEST

START_TEST(call_ret_stack)
{
	/* mov $0x300000,%rax; mov %rax,%rsp; push $0x1234; call 1f; hlt;
	 * 1: pop %rbx; pop %rcx; push %rbx; ret */
	RUN("\x48\xc7\xc0\x00\x00\x30\x00\x48\x89\xc4\x68\x34\x12\x00\x00\xe8\x01\x00\x00\x00"
	    "\xf4\x5b\x59\x53\xc3");
	ck_assert_uint_eq(gpr(VSL_RBX), VSL_FIX_CODE + 0x14);
	ck_assert_uint_eq(gpr(VSL_RCX), 0x1234);
	ck_assert_uint_eq(gpr(VSL_RSP), 0x300000);
	ck_assert_uint_eq(vsl_cpu_get_rip(F.cpu), VSL_FIX_CODE + 0x15);
}
END_TEST

START_TEST(cmov32_zero_extends)
{
	/* mov $0xffffffff,%ebx; mov $0x11112222,%eax; cmp %eax,%eax; cmovne %ebx,%eax; hlt */
	vsl_cpu_set_gpr(F.cpu, VSL_RAX, 0xdeadbeef00000000ull);
	RUN("\xbb\xff\xff\xff\xff\xb8\x22\x22\x11\x11\x39\xc0\x0f\x45\xc3\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 0x11112222);
}
END_TEST

START_TEST(bit_scan)
{
	/* mov $0x100,%ebx; bsf %ebx,%ecx; bsr %ebx,%edx; popcnt %ebx,%esi; setz %al; hlt */
	RUN("\xbb\x00\x01\x00\x00\x0f\xbc\xcb\x0f\xbd\xd3\xf3\x0f\xb8\xf3\x0f\x94\xc0\xf4");
	ck_assert_uint_eq(gpr(VSL_RCX), 8);
	ck_assert_uint_eq(gpr(VSL_RDX), 8);
	ck_assert_uint_eq(gpr(VSL_RSI), 1);
	ck_assert_uint_eq(gpr(VSL_RAX) & 0xff, 0);
	/* movq $0,0x200000; mov $67,%eax; bts %rax,0x200000; mov 0x200008,%rbx; hlt */
	RUN("\x48\xc7\x04\x25\x00\x00\x20\x00\x00\x00\x00\x00\xb8\x43\x00\x00\x00\x48\x0f\xab"
	    "\x04\x25\x00\x00\x20\x00\x48\x8b\x1c\x25\x08\x00\x20\x00\xf4");
	ck_assert_uint_eq(gpr(VSL_RBX), 8);
}
END_TEST

START_TEST(cpuid_honest)
{
	/* mov $0x4321,%eax -> leaf 1 after the next mov; cpuid */
	/* mov $1,%eax; xor %ecx,%ecx; cpuid; hlt */
	RUN("\xb8\x01\x00\x00\x00\x31\xc9\x0f\xa2\xf4");
	uint64_t edx = gpr(VSL_RDX), ecx = gpr(VSL_RCX);
	ck_assert_uint_eq(edx & (1u << 26), 1u << 26);  /* SSE2 */
	ck_assert_uint_eq(edx & (1u << 15), 1u << 15);  /* CMOV */
	/* the rest of glibc's x86-64 baseline (without it a dynamically linked
	 * Debian 12 program dies: "CPU ISA level is lower than required") */
	ck_assert_uint_eq(edx & (1u << 23), 1u << 23);  /* MMX */
	ck_assert_uint_eq(edx & (1u << 24), 1u << 24);  /* FXSR */
	ck_assert_uint_eq(edx & (1u << 25), 1u << 25);  /* SSE */
	ck_assert_uint_eq(edx & (1u << 8), 1u << 8);    /* CX8 */
	ck_assert_uint_eq(edx & 1u, 1u);                /* FPU */
	ck_assert_uint_eq(ecx & (1u << 28), 0);         /* no AVX */
	ck_assert_uint_eq(ecx & (1u << 26), 0);         /* no XSAVE */
}
END_TEST

START_TEST(pushf_popf)
{
	/* pushfq; pop %rax; hlt */
	RUN("\x9c\x58\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 2);
}
END_TEST

START_TEST(segment_load)
{
	/* mov $0x10,%eax; mov %eax,%ds; mov %ds,%ebx; hlt */
	RUN("\xb8\x10\x00\x00\x00\x8e\xd8\x8c\xdb\xf4");
	ck_assert_uint_eq(gpr(VSL_RBX), 0x10);
	/* mov $0x48,%eax; mov %eax,%es -> #GP(0x48): beyond the GDT limit (0x4f)?
	 * 0x48 is the TSS's upper half: a system descriptor -> #GP(sel) */
	RUN("\xb8\x48\x00\x00\x00\x8e\xc0\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 13);
	ck_assert_uint_eq(frame(0), 0x48);
}
END_TEST

START_TEST(self_modifying_code)
{
	/* movb $0x90,1f(%rip); 1: hlt; hlt -> the first hlt becomes a nop */
	/* c6 05 00 00 00 00 90 = movb $0x90,0(%rip) (the next byte) */
	struct vsl_cpu_exit ex = RUN("\xc6\x05\x00\x00\x00\x00\x90\xf4\xf4");
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_HLT);
	ck_assert_uint_eq(vsl_cpu_get_rip(F.cpu), VSL_FIX_CODE + 9);
	/* run the same code again from the start: now decoded freshly */
	ex = RUN("\xc6\x05\x00\x00\x00\x00\x90\xf4\xf4");
	ck_assert_uint_eq(vsl_cpu_get_rip(F.cpu), VSL_FIX_CODE + 9);
}
END_TEST

START_TEST(trace_dump)
{
	char buf[4096];
	RUN("\xb9\x64\x00\x00\x00\x31\xc0\x48\x01\xc8\xe2\xfb\xf4");
	vsl_cpu_dump_trace(F.cpu, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "loop"));
	ck_assert_ptr_nonnull(strstr(buf, "hlt"));
	vsl_cpu_dump(F.cpu, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "rip=0000000000100"));
}
END_TEST

START_TEST(shift_flags)
{
	/* mov $0x81,%al; sar $1,%al; setc %bl; seto %cl; shr $1,%al; hlt */
	RUN("\xb0\x81\xd0\xf8\x0f\x92\xc3\x0f\x90\xc1\xd0\xe8\xf4");
	ck_assert_uint_eq(gpr(VSL_RBX) & 0xff, 1);
	ck_assert_uint_eq(gpr(VSL_RCX) & 0xff, 0);
	ck_assert_uint_eq(gpr(VSL_RAX) & 0xff, 0x60);
	ck_assert_uint_eq(flags() & (CF | OF | ZF | SF), OF); /* OF = old MSB for SHR by 1 */
}
END_TEST

START_TEST(carry_chain)
{
	/* mov $-1,%rax; add $1,%rax; adc $0,%rdx; sbb %rsi,%rsi; neg %rax; hlt */
	vsl_cpu_set_gpr(F.cpu, VSL_RDX, 0);
	vsl_cpu_set_gpr(F.cpu, VSL_RSI, 5);
	RUN("\x48\xc7\xc0\xff\xff\xff\xff\x48\x83\xc0\x01\x48\x83\xd2\x00\x48\x19\xf6\x48\xf7\xd8\xf4");
	ck_assert_uint_eq(gpr(VSL_RDX), 1);
	ck_assert_uint_eq(gpr(VSL_RSI), 0);
	ck_assert_uint_eq(gpr(VSL_RAX), 0);
	ck_assert_uint_eq(flags(), ZF | PF);
}
END_TEST

START_TEST(mul8_and_div_overflow)
{
	/* mov $0x80,%al; mov $0x3,%cl; mul %cl; hlt */
	RUN("\xb0\x80\xb1\x03\xf6\xe1\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX) & 0xffff, 0x180);
	ck_assert_uint_eq(flags() & (CF | OF), CF | OF);
	/* mov $1,%edx; xor %eax,%eax; mov $1,%ecx; div %ecx: quotient too big -> #DE */
	RUN("\xba\x01\x00\x00\x00\x31\xc0\xb9\x01\x00\x00\x00\xf7\xf1\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 0);
	ck_assert_uint_eq(frame(0), VSL_FIX_CODE + 0xc);
}
END_TEST

START_TEST(enter_leave)
{
	/* push %rbp; mov %rsp,%rbp; enter $0x10,$0; leave; pop %rbp; hlt */
	vsl_cpu_set_gpr(F.cpu, VSL_RBP, 0x1234);
	RUN("\x55\x48\x89\xe5\xc8\x10\x00\x00\xc9\x5d\xf4");
	ck_assert_uint_eq(gpr(VSL_RSP), VSL_FIX_STACK);
	ck_assert_uint_eq(gpr(VSL_RBP), 0x1234);
}
END_TEST

START_TEST(sign_extension_and_ahf)
{
	/* mov $0x80,%al; cbw; cwde; cdqe; mov $0xd5,%ah; sahf; lahf; hlt */
	RUN("\xb0\x80\x66\x98\x98\x48\x98\xb4\xd5\x9e\x9f\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 0xffffffffffffd780ull);
	ck_assert_uint_eq(flags(), SF | ZF | AF | PF | CF);
}
END_TEST

START_TEST(lea_address_size)
{
	/* lea 0x10(%rax,%rbx,4),%rcx; lea 0x10(%eax,%ebx,4),%edx; hlt */
	vsl_cpu_set_gpr(F.cpu, VSL_RAX, 0xfffffffffffffff0ull);
	vsl_cpu_set_gpr(F.cpu, VSL_RBX, 0x10);
	RUN("\x48\x8d\x4c\x98\x10\x67\x8d\x54\x98\x10\xf4");
	ck_assert_uint_eq(gpr(VSL_RCX), 0x40);
	ck_assert_uint_eq(gpr(VSL_RDX), 0x40);
}
END_TEST

START_TEST(cmpxchg16b)
{
	/* lock cmpxchg16b 0x200000; hlt */
	vsl_cpu_set_gpr(F.cpu, VSL_RAX, 0);
	vsl_cpu_set_gpr(F.cpu, VSL_RDX, 0);
	vsl_cpu_set_gpr(F.cpu, VSL_RBX, 1);
	vsl_cpu_set_gpr(F.cpu, VSL_RCX, 2);
	RUN("\xf0\x48\x0f\xc7\x0c\x25\x00\x00\x20\x00\xf4");
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&F, 0x200000), 1);
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&F, 0x200008), 2);
	ck_assert_uint_eq(flags() & ZF, ZF);
}
END_TEST

static Suite *interp_suite(void)
{
	Suite *s = suite_create("interp");
	TCase *tc;

	tc = tcase_create("integer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, add_flags);
	tcase_add_test(tc, loop_sum);
	tcase_add_test(tc, rotate_through_carry);
	tcase_add_test(tc, shld_64);
	tcase_add_test(tc, imul_idiv);
	tcase_add_test(tc, cmpxchg_xadd);
	tcase_add_test(tc, strings);
	tcase_add_test(tc, call_ret_stack);
	tcase_add_test(tc, cmov32_zero_extends);
	tcase_add_test(tc, bit_scan);
	tcase_add_test(tc, cpuid_honest);
	tcase_add_test(tc, pushf_popf);
	tcase_add_test(tc, segment_load);
	tcase_add_test(tc, self_modifying_code);
	tcase_add_test(tc, trace_dump);
	tcase_add_test(tc, shift_flags);
	tcase_add_test(tc, carry_chain);
	tcase_add_test(tc, mul8_and_div_overflow);
	tcase_add_test(tc, enter_leave);
	tcase_add_test(tc, sign_extension_and_ahf);
	tcase_add_test(tc, lea_address_size);
	tcase_add_test(tc, cmpxchg16b);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(interp_suite());
}
