/*
 * Unit tests for the CPU reference executor: integer semantics and flags,
 * long-mode paging, exceptions delivered through the IDT, system
 * instructions. Each test runs a byte sequence (disassembly in the comment)
 * on the long-mode fixture (tests/unit/helpers/cpu_fixture.h) until HLT.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

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

static struct vsl_cpu_exit run_code(const char *code, size_t len, uint64_t budget)
{
	struct vsl_cpu_exit ex;

	vsl_cpu_fixture_code(&F, code, len);
	int r = vsl_cpu_fixture_run(&F, budget, &ex);
	ck_assert_msg(r == 0, "run failed: %s", vsl_ctx_error(F.ctx));
	return ex;
}
#define RUN(s) run_code((s), sizeof(s) - 1, 100000)

static uint64_t gpr(int r)
{
	return vsl_cpu_get_gpr(F.cpu, r);
}

static uint64_t flags(void)
{
	return vsl_cpu_get_rflags(F.cpu) & ARITH;
}

/* the frame the IDT stub halted on: [err], rip, cs, rflags, rsp, ss */
static uint64_t frame(int i)
{
	return vsl_cpu_fixture_peek(&F, vsl_cpu_get_gpr(F.cpu, VSL_RSP) + 8 * (uint64_t)i);
}

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

/* ------------------------------------------------------------------ */
/* exceptions */

START_TEST(divide_error)
{
	/* xor %ecx,%ecx; div %ecx; hlt */
	RUN("\x31\xc9\xf7\xf1\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 0);
	ck_assert_uint_eq(frame(0), VSL_FIX_CODE + 2);   /* RIP of the DIV */
	ck_assert_uint_eq(frame(1), VSL_FIX_KCS);
	ck_assert_uint_eq(frame(3), VSL_FIX_STACK);      /* old RSP */
	ck_assert_uint_eq(frame(4), VSL_FIX_KDS);        /* old SS */
}
END_TEST

START_TEST(invalid_opcode)
{
	/* ud2 */
	RUN("\x0f\x0b");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 6);
	ck_assert_uint_eq(frame(0), VSL_FIX_CODE);
}
END_TEST

START_TEST(unknown_msr)
{
	/* mov $0x12345,%ecx; rdmsr; hlt */
	RUN("\xb9\x45\x23\x01\x00\x0f\x32\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 13);
	ck_assert_uint_eq(frame(0), 0);                  /* error code */
	ck_assert_uint_eq(frame(1), VSL_FIX_CODE + 5);
}
END_TEST

START_TEST(page_fault_not_present)
{
	*vsl_cpu_fixture_pte(&F, 0x201000) &= ~1ull;
	/* mov 0x201008,%rax; hlt */
	RUN("\x48\x8b\x04\x25\x08\x10\x20\x00\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 14);
	ck_assert_uint_eq(frame(0), 0);                  /* read, supervisor, not present */
	ck_assert_uint_eq(frame(1), VSL_FIX_CODE);
	ck_assert_uint_eq(vsl_cpu_get_cr(F.cpu, 2), 0x201008);
	/* movq $1,0x201008; hlt */
	RUN("\x48\xc7\x04\x25\x08\x10\x20\x00\x01\x00\x00\x00\xf4");
	ck_assert_uint_eq(frame(0), 2);                  /* write */
}
END_TEST

START_TEST(page_fault_write_protect)
{
	*vsl_cpu_fixture_pte(&F, 0x201000) &= ~2ull;   /* read-only; CR0.WP=1 */
	/* movq $1,0x201008; hlt */
	RUN("\x48\xc7\x04\x25\x08\x10\x20\x00\x01\x00\x00\x00\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 14);
	ck_assert_uint_eq(frame(0), 3);                  /* present, write */
	ck_assert_uint_eq(vsl_cpu_get_cr(F.cpu, 2), 0x201008);
	/* the page is still readable: mov 0x201008,%rax; hlt */
	RUN("\x48\x8b\x04\x25\x08\x10\x20\x00\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), -1);
}
END_TEST

START_TEST(accessed_dirty_bits)
{
	uint64_t *pte = vsl_cpu_fixture_pte(&F, 0x201000);
	*pte &= ~0x60ull;
	/* mov 0x201008,%rax; hlt */
	RUN("\x48\x8b\x04\x25\x08\x10\x20\x00\xf4");
	ck_assert_uint_eq(*pte & 0x60, 0x20);            /* A, not D */
	/* movq $1,0x201008; hlt */
	RUN("\x48\xc7\x04\x25\x08\x10\x20\x00\x01\x00\x00\x00\xf4");
	ck_assert_uint_eq(*pte & 0x60, 0x60);            /* A and D */
}
END_TEST

START_TEST(nx_violation)
{
	/* put a hlt at 0x202000 and make that page non-executable */
	F.ram[0x202000] = 0xf4;
	*vsl_cpu_fixture_pte(&F, 0x202000) |= 1ull << 63;
	/* mov $0x202000,%eax; jmp *%rax */
	RUN("\xb8\x00\x20\x20\x00\xff\xe0");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 14);
	ck_assert_uint_eq(frame(0), 0x11);               /* present, instruction fetch */
	ck_assert_uint_eq(frame(1), 0x202000);
	ck_assert_uint_eq(vsl_cpu_get_cr(F.cpu, 2), 0x202000);
}
END_TEST

START_TEST(fetch_crosses_page)
{
	struct vsl_cpu_exit ex;
	/* mov $0x12345678,%eax; hlt, placed 2 bytes before an unmapped page */
	static const uint8_t code[] = { 0xb8, 0x78, 0x56, 0x34, 0x12, 0xf4 };
	memcpy(F.ram + 0x105ffe, code, sizeof(code));
	*vsl_cpu_fixture_pte(&F, 0x106000) &= ~1ull;
	vsl_cpu_set_rip(F.cpu, 0x105ffe);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 14);
	ck_assert_uint_eq(frame(0), 0x10);               /* not present, fetch */
	ck_assert_uint_eq(frame(1), 0x105ffe);
	ck_assert_uint_eq(vsl_cpu_get_cr(F.cpu, 2), 0x106000);
	/* mapped again, the same instruction runs */
	*vsl_cpu_fixture_pte(&F, 0x106000) |= 1;
	vsl_cpu_set_rip(F.cpu, 0x105ffe);
	vsl_cpu_set_gpr(F.cpu, VSL_RSP, VSL_FIX_STACK);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_uint_eq(gpr(VSL_RAX), 0x12345678);
	ck_assert_uint_eq(vsl_cpu_get_rip(F.cpu), 0x106004);
}
END_TEST

START_TEST(double_fault)
{
	/* #PF whose gate is not present -> #NP during delivery -> #DF */
	F.ram[VSL_FIX_IDT + 14 * 16 + 5] &= 0x7f;
	*vsl_cpu_fixture_pte(&F, 0x201000) &= ~1ull;
	RUN("\x48\x8b\x04\x25\x08\x10\x20\x00\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 8);
	ck_assert_uint_eq(frame(0), 0);                  /* #DF error code */
	ck_assert_uint_eq(frame(1), VSL_FIX_CODE);
}
END_TEST

START_TEST(triple_fault)
{
	struct vsl_cpu_exit ex;
	struct vsl_dtable idt = { .base = VSL_FIX_IDT, .limit = 0 };
	vsl_cpu_set_idt(F.cpu, &idt);
	/* ud2 -> #GP (vector beyond limit) -> #DF -> shutdown */
	vsl_cpu_fixture_code(&F, "\x0f\x0b", 2);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_SHUTDOWN);
}
END_TEST

START_TEST(external_interrupt)
{
	/* sti; nop; nop; hlt: the interrupt is taken after the first NOP (STI shadow) */
	F.irq_vector = 0x30;
	RUN("\xfb\x90\x90\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 0x30);
	ck_assert_uint_eq(frame(0), VSL_FIX_CODE + 2);
	ck_assert_uint_eq(frame(2) & 0x200, 0x200);      /* IF was set */
	ck_assert_uint_eq(vsl_cpu_get_rflags(F.cpu) & 0x200, 0); /* interrupt gate clears IF */
}
END_TEST

START_TEST(user_mode_and_back)
{
	/* iretq to ring 3 at CODE+0x40 which does int $0x80 */
	struct vsl_cpu_exit ex;
	static const uint8_t user[] = { 0xcd, 0x80, 0xf4 }; /* int $0x80; hlt */
	memcpy(F.ram + VSL_FIX_CODE + 0x40, user, sizeof(user));
	uint64_t fr[5] = { VSL_FIX_CODE + 0x40, VSL_FIX_UCS, 0x202, 0x380000, VSL_FIX_UDS };
	memcpy(F.ram + VSL_FIX_STACK - 40, fr, 40);
	vsl_cpu_fixture_code(&F, "\x48\xcf", 2);          /* iretq */
	vsl_cpu_set_gpr(F.cpu, VSL_RSP, VSL_FIX_STACK - 40);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 0x80);
	ck_assert_uint_eq(vsl_cpu_get_gpr(F.cpu, VSL_RSP), VSL_FIX_RSP0 - 40);
	ck_assert_uint_eq(frame(0), VSL_FIX_CODE + 0x42); /* after INT */
	ck_assert_uint_eq(frame(1), VSL_FIX_UCS);
	ck_assert_uint_eq(frame(3), 0x380000);
	ck_assert_uint_eq(frame(4), VSL_FIX_UDS);
}
END_TEST

START_TEST(user_page_protection)
{
	struct vsl_cpu_exit ex;
	/* ring 3 reads a supervisor page: mov 0x201008,%rax */
	static const uint8_t user[] = { 0x48, 0x8b, 0x04, 0x25, 0x08, 0x10, 0x20, 0x00, 0xf4 };
	memcpy(F.ram + VSL_FIX_CODE + 0x40, user, sizeof(user));
	*vsl_cpu_fixture_pte(&F, 0x201000) &= ~4ull;
	uint64_t fr[5] = { VSL_FIX_CODE + 0x40, VSL_FIX_UCS, 0x2, 0x380000, VSL_FIX_UDS };
	memcpy(F.ram + VSL_FIX_STACK - 40, fr, 40);
	vsl_cpu_fixture_code(&F, "\x48\xcf", 2);          /* iretq */
	vsl_cpu_set_gpr(F.cpu, VSL_RSP, VSL_FIX_STACK - 40);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 14);
	ck_assert_uint_eq(frame(0), 5);                  /* present, user */
	ck_assert_uint_eq(frame(1), VSL_FIX_CODE + 0x40);
}
END_TEST

START_TEST(syscall_sysret)
{
	struct vsl_cpu_exit ex;
	/* STAR: syscall CS=0x08 SS=0x10; sysret base 0x20 -> CS=0x33 SS=0x2b */
	ck_assert_int_eq(vsl_cpu_set_msr(F.cpu, 0xc0000081, (0x23ull << 48) | (0x08ull << 32)), 0);
	ck_assert_int_eq(vsl_cpu_set_msr(F.cpu, 0xc0000082, VSL_FIX_CODE + 0x80), 0);
	ck_assert_int_eq(vsl_cpu_set_msr(F.cpu, 0xc0000084, 0x200), 0);
	/* kernel entry at +0x80: mov $0x111,%eax; sysretq */
	static const uint8_t kern[] = { 0xb8, 0x11, 0x01, 0x00, 0x00, 0x48, 0x0f, 0x07 };
	memcpy(F.ram + VSL_FIX_CODE + 0x80, kern, sizeof(kern));
	/* user at +0x40: syscall; hlt (hlt at CPL 3 -> #GP) */
	static const uint8_t user[] = { 0x0f, 0x05, 0xf4 };
	memcpy(F.ram + VSL_FIX_CODE + 0x40, user, sizeof(user));
	uint64_t fr[5] = { VSL_FIX_CODE + 0x40, VSL_FIX_UCS, 0x202, 0x380000, VSL_FIX_UDS };
	memcpy(F.ram + VSL_FIX_STACK - 40, fr, 40);
	vsl_cpu_fixture_code(&F, "\x48\xcf", 2);          /* iretq */
	vsl_cpu_set_gpr(F.cpu, VSL_RSP, VSL_FIX_STACK - 40);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_uint_eq(gpr(VSL_RAX), 0x111);
	ck_assert_uint_eq(gpr(VSL_RCX), VSL_FIX_CODE + 0x42);
	ck_assert_uint_eq(gpr(VSL_R11) & 0x200, 0x200);
	/* HLT in ring 3 -> #GP(0) with the user frame */
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 13);
	ck_assert_uint_eq(frame(1), VSL_FIX_CODE + 0x42);
	ck_assert_uint_eq(frame(2), VSL_FIX_UCS);
}
END_TEST

START_TEST(unimplemented_is_clean)
{
	struct vsl_cpu_exit ex;
	/* sysenter: not implemented -> clean error exit naming the bytes */
	vsl_cpu_fixture_code(&F, "\x0f\x34", 2);
	ck_assert_int_ne(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_ERROR);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(F.ctx), "unimplemented instruction 0f 34 (sysenter) at rip 0x100000"));
	ck_assert_uint_eq(vsl_cpu_get_rip(F.cpu), VSL_FIX_CODE);
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

START_TEST(fs_gs_bases)
{
	/* mov $0xc0000100,%ecx; mov $0x200000,%eax; xor %edx,%edx; wrmsr;
	 * movq $0x55,%fs:0x10; mov 0x200010,%rbx; hlt */
	RUN("\xb9\x00\x01\x00\xc0\xb8\x00\x00\x20\x00\x31\xd2\x0f\x30\x64\x48\xc7\x04\x25\x10\x00"
	    "\x00\x00\x55\x00\x00\x00\x48\x8b\x1c\x25\x10\x00\x20\x00\xf4");
	ck_assert_uint_eq(gpr(VSL_RBX), 0x55);
	/* mov $0xc0000102,%ecx; mov $0x1000,%eax; xor %edx,%edx; wrmsr; swapgs;
	 * mov $0xc0000101,%ecx; rdmsr; hlt */
	RUN("\xb9\x02\x01\x00\xc0\xb8\x00\x10\x00\x00\x31\xd2\x0f\x30\x0f\x01\xf8\xb9\x01\x01\x00\xc0"
	    "\x0f\x32\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 0x1000);
}
END_TEST

static uint64_t echo_val;
static uint64_t echo_read(void *opaque, uint64_t off, unsigned size_log2)
{
	return echo_val + off;
}
static void echo_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	echo_val = val;
}

START_TEST(port_io)
{
	ck_assert_int_eq(vsl_bus_map(F.io, 0x3f8, 8, NULL, echo_read, echo_write), 0);
	/* mov $0x3f8,%dx; mov $0x41,%al; out %al,%dx; in %dx,%al; in $0x80,%eax; hlt */
	vsl_cpu_set_gpr(F.cpu, VSL_RBX, 0);
	RUN("\x66\xba\xf8\x03\xb0\x41\xee\xec\xe5\x80\xf4");
	ck_assert_uint_eq(echo_val, 0x41);
	ck_assert_uint_eq(gpr(VSL_RAX), 0xffffffff); /* unmapped port reads all ones */
}
END_TEST

START_TEST(single_step)
{
	/* pushfq; orq $0x100,(%rsp); popfq; nop; hlt: #DB after the NOP */
	RUN("\x9c\x48\x81\x0c\x24\x00\x01\x00\x00\x9d\x90\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 1);
	ck_assert_uint_eq(frame(0), VSL_FIX_CODE + 0xb);
	ck_assert_uint_eq(frame(2) & 0x100, 0x100);
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

START_TEST(paging_off_and_on_in_compat_mode)
{
	/*
	 * The Linux decompressor's trampoline: lretq to a 32-bit code
	 * segment, turn paging off (leaving long mode), back on, lret to 64-bit.
	 *   pushq $0x18; lea 1f(%rip),%rax; pushq %rax; lretq
	 * 1: (32-bit) mov $0x10,%eax; mov %eax,%ds; mov %eax,%ss; mov %cr0,%eax;
	 *   btr $31,%eax; mov %eax,%cr0; mov $0x12345,%ebx; push %ebx; pop %esi;
	 *   mov %cr0,%eax; bts $31,%eax; call 3f; 3: pop %edx; add $14,%edx;
	 *   push $0x08; push %edx; mov %eax,%cr0; lret
	 * 2: (64-bit) mov $0x777,%ecx; hlt
	 */
	RUN("\x6a\x18\x48\x8d\x05\x03\x00\x00\x00\x50\x48\xcb\xb8\x10\x00\x00\x00\x8e\xd8\x8e\xd0"
	    "\x0f\x20\xc0\x0f\xba\xf0\x1f\x0f\x22\xc0\xbb\x45\x23\x01\x00\x53\x5e\x0f\x20\xc0\x0f\xba"
	    "\xe8\x1f\xe8\x00\x00\x00\x00\x5a\x81\xc2\x0e\x00\x00\x00\x6a\x08\x52\x0f\x22\xc0\xcb\xb9"
	    "\x77\x07\x00\x00\xf4");
	ck_assert_uint_eq(gpr(VSL_RCX), 0x777);
	ck_assert_uint_eq(gpr(VSL_RSI), 0x12345);
	ck_assert_uint_eq(vsl_cpu_get_cr(F.cpu, 0xC0000080) & 0x400, 0x400); /* LMA again */
	struct vsl_seg cs;
	vsl_cpu_get_seg(F.cpu, VSL_CS, &cs);
	ck_assert_uint_eq(cs.sel, VSL_FIX_KCS);
}
END_TEST


START_TEST(tlb_flush_on_cr3_and_invlpg)
{
	F.ram[0x201000] = 0x11;
	F.ram[0x202000] = 0x22;
	/* mov 0x201000,%rax; hlt */
	RUN("\x48\x8b\x04\x25\x00\x10\x20\x00\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 0x11);
	/* remap 0x201000 -> 0x202000; mov %cr3,%rax; mov %rax,%cr3; mov 0x201000,%rax; hlt */
	*vsl_cpu_fixture_pte(&F, 0x201000) += 0x1000;
	RUN("\x0f\x20\xd8\x0f\x22\xd8\x48\x8b\x04\x25\x00\x10\x20\x00\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 0x22);
	/* back, with INVLPG: invlpg 0x201000; mov 0x201000,%rax; hlt */
	*vsl_cpu_fixture_pte(&F, 0x201000) -= 0x1000;
	RUN("\x0f\x01\x3c\x25\x00\x10\x20\x00\x48\x8b\x04\x25\x00\x10\x20\x00\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 0x11);
}
END_TEST

START_TEST(reserved_bit_fault)
{
	*vsl_cpu_fixture_pte(&F, 0x201000) |= 1ull << 51;
	/* mov 0x201000,%rax; hlt */
	RUN("\x48\x8b\x04\x25\x00\x10\x20\x00\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 14);
	ck_assert_uint_eq(frame(0), 9);                  /* present, reserved bit */
}
END_TEST

START_TEST(noncanonical_gp)
{
	/* movabs $0x800000000000,%rax; mov (%rax),%rbx; hlt */
	RUN("\x48\xb8\x00\x00\x00\x00\x00\x80\x00\x00\x48\x8b\x18\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 13);
	ck_assert_uint_eq(frame(0), 0);
	ck_assert_uint_eq(frame(1), VSL_FIX_CODE + 10);
}
END_TEST

START_TEST(cr4_reserved_gp)
{
	/* mov %cr4,%rax; or $0x800000,%rax (CET, not offered); mov %rax,%cr4; hlt */
	RUN("\x0f\x20\xe0\x48\x0d\x00\x00\x80\x00\x0f\x22\xe0\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 13);
	ck_assert_uint_eq(frame(1), VSL_FIX_CODE + 9);
}
END_TEST

START_TEST(descriptor_table_stores)
{
	/* sgdt 0x200000; sidt 0x200010; str %ax; hlt */
	RUN("\x0f\x01\x04\x25\x00\x00\x20\x00\x0f\x01\x0c\x25\x10\x00\x20\x00\x66\x0f\x00\xc8\xf4");
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&F, 0x200000) & 0xffff, 0x4f);
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&F, 0x200002), VSL_FIX_GDT);
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&F, 0x200010) & 0xffff, 0xfff);
	ck_assert_uint_eq(gpr(VSL_RAX) & 0xffff, VSL_FIX_TSSSEL);
	/* LTR marked the TSS busy (type 0xb) */
	ck_assert_uint_eq(F.ram[VSL_FIX_GDT + VSL_FIX_TSSSEL + 5] & 0xf, 0xb);
}
END_TEST

START_TEST(halt_and_wake)
{
	struct vsl_cpu_exit ex;
	/* hlt; mov $1,%eax; hlt */
	vsl_cpu_set_rflags(F.cpu, 0x202);
	ex = RUN("\xf4\xb8\x01\x00\x00\x00\xf4");
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_HLT);
	ck_assert_uint_eq(vsl_cpu_get_rip(F.cpu), VSL_FIX_CODE + 1);
	/* nothing pending: stays halted */
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_HLT);
	ck_assert_uint_eq(ex.executed, 0);
	F.irq_vector = 0x40;
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 0x40);
	ck_assert_uint_eq(frame(0), VSL_FIX_CODE + 1);    /* returns after the HLT */
	/* a kick ends the run at the next boundary */
	vsl_cpu_kick(F.cpu);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_IRQ_CHECK);
}
END_TEST

START_TEST(ist_stack)
{
	/* gate 0x80 uses IST1: int $0x80; hlt */
	F.ram[VSL_FIX_IDT + 0x80 * 16 + 4] = 1;
	RUN("\xcd\x80\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 0x80);
	ck_assert_uint_eq(gpr(VSL_RSP), VSL_FIX_IST1 - 40);
	ck_assert_uint_eq(frame(3), VSL_FIX_STACK);
}
END_TEST

START_TEST(long_rep_stos)
{
	/* mov $0x200000,%edi; mov $0x1234,%eax; mov $0x20000,%ecx; rep stosq; hlt
	 * (1 MiB: more than one resumable chunk) */
	RUN("\xbf\x00\x00\x20\x00\xb8\x34\x12\x00\x00\xb9\x00\x00\x02\x00\xf3\x48\xab\xf4");
	ck_assert_uint_eq(gpr(VSL_RCX), 0);
	ck_assert_uint_eq(gpr(VSL_RDI), 0x300000);
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&F, 0x2ffff8), 0x1234);
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&F, 0x300000), 0);
}
END_TEST

START_TEST(dma_invalidates_decoded_code)
{
	/* mov $1,%eax; hlt -- then "DMA" rewrites the immediate */
	RUN("\xb8\x01\x00\x00\x00\xf4");
	ck_assert_uint_eq(gpr(VSL_RAX), 1);
	F.ram[VSL_FIX_CODE + 1] = 7;
	vsl_cpu_invalidate_phys(F.cpu, VSL_FIX_CODE, 16);
	struct vsl_cpu_exit ex;
	vsl_cpu_set_rip(F.cpu, VSL_FIX_CODE);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_uint_eq(gpr(VSL_RAX), 7);
}
END_TEST


START_TEST(protected_mode_delivery)
{
	struct vsl_cpu_exit ex;
	/* leave long mode the way a loader sets state: 32-bit flat, no paging */
	vsl_cpu_set_cr(F.cpu, 0, 0x11);
	vsl_cpu_set_cr(F.cpu, 0xC0000080, 0);
	vsl_cpu_set_cr(F.cpu, 4, 0);
	struct vsl_seg cs = { .sel = VSL_FIX_KCS32, .limit = 0xffffffff, .attr = 0xc9b };
	struct vsl_seg ds = { .sel = VSL_FIX_KDS, .limit = 0xffffffff, .attr = 0xc93 };
	for (int i = 0; i < 6; i++)
		vsl_cpu_set_seg(F.cpu, i, i == VSL_CS ? &cs : &ds);
	/* 32-bit IDT at 0x6000: vector 0 -> the HLT stub of vector 0 */
	uint64_t gate = (VSL_FIX_STUBS & 0xffff) | ((uint64_t)VSL_FIX_KCS32 << 16) | (0x8eull << 40) |
			((VSL_FIX_STUBS >> 16) << 48);
	memcpy(F.ram + 0x6000, &gate, 8);
	vsl_cpu_set_idt(F.cpu, &(struct vsl_dtable){ .base = 0x6000, .limit = 0x7ff });
	/* xor %ecx,%ecx; div %ecx; hlt (32-bit code) */
	vsl_cpu_fixture_code(&F, "\x31\xc9\xf7\xf1\xf4", 5);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 0);
	uint32_t fr[3];
	memcpy(fr, F.ram + vsl_cpu_get_gpr(F.cpu, VSL_RSP), sizeof(fr));
	ck_assert_uint_eq(fr[0], VSL_FIX_CODE + 2);
	ck_assert_uint_eq(fr[1], VSL_FIX_KCS32);
	ck_assert_uint_eq(vsl_cpu_get_gpr(F.cpu, VSL_RSP), VSL_FIX_STACK - 12);
}
END_TEST


START_TEST(unadvertised_is_ud)
{
	/* xgetbv (no XSAVE), vaddps %xmm2,%xmm1,%xmm0 (no AVX), rdrand %eax: #UD */
	static const char *const codes[] = { "\x0f\x01\xd0", "\xc5\xf0\x58\xc2", "\x0f\xc7\xf0" };
	for (unsigned i = 0; i < 3; i++) {
		vsl_cpu_set_gpr(F.cpu, VSL_RSP, VSL_FIX_STACK);
		run_code(codes[i], strlen(codes[i]), 10);
		ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 6);
		ck_assert_uint_eq(frame(0), VSL_FIX_CODE);
	}
	/* mov $5,%ecx; xor %ebx,%ebx; tzcnt %ebx,%ecx; hlt: without BMI1 this is
	 * BSF with an ignored REP prefix: ZF=1, ECX unchanged (TZCNT would give 32) */
	vsl_cpu_set_gpr(F.cpu, VSL_RSP, VSL_FIX_STACK);
	RUN("\xb9\x05\x00\x00\x00\x31\xdb\xf3\x0f\xbc\xcb\xf4");
	ck_assert_uint_eq(gpr(VSL_RCX), 5);
	ck_assert_uint_eq(flags() & ZF, ZF);
}
END_TEST


/* 32-bit protected mode, flat segments, IDT at 0x6000 (vectors 0..31 -> HLT stubs) */
static void enter_protected_mode(void)
{
	vsl_cpu_set_cr(F.cpu, 0, 0x11);
	vsl_cpu_set_cr(F.cpu, 0xC0000080, 0);
	vsl_cpu_set_cr(F.cpu, 4, 0);
	struct vsl_seg cs = { .sel = VSL_FIX_KCS32, .limit = 0xffffffff, .attr = 0xc9b };
	struct vsl_seg ds = { .sel = VSL_FIX_KDS, .limit = 0xffffffff, .attr = 0xc93 };
	for (int i = 0; i < 6; i++)
		vsl_cpu_set_seg(F.cpu, i, i == VSL_CS ? &cs : &ds);
	for (uint64_t v = 0; v < 32; v++) {
		uint64_t off = VSL_FIX_STUBS + v * 8;
		uint64_t gate = (off & 0xffff) | ((uint64_t)VSL_FIX_KCS32 << 16) | (0x8eull << 40) |
				((off >> 16) << 48);
		memcpy(F.ram + 0x6000 + v * 8, &gate, 8);
	}
	vsl_cpu_set_idt(F.cpu, &(struct vsl_dtable){ .base = 0x6000, .limit = 0xff });
}

START_TEST(legacy_32bit_paging)
{
	struct vsl_cpu_exit ex;
	enter_protected_mode();
	/* page directory at 0x7000: two 4 MiB pages (0-8 MiB), then nothing */
	uint32_t pd[3] = { 0x00000083 | 4, 0x00400083 | 4, 0 };
	memcpy(F.ram + 0x7000, pd, sizeof(pd));
	F.ram[0x201000] = 0x5a;
	vsl_cpu_set_cr(F.cpu, 4, 1 << 4);               /* PSE */
	vsl_cpu_set_cr(F.cpu, 3, 0x7000);
	vsl_cpu_set_cr(F.cpu, 0, 0x80000011);            /* PG PE */
	/* mov 0x201000,%eax; mov 0x800004,%ebx (unmapped); hlt */
	vsl_cpu_fixture_code(&F, "\xa1\x00\x10\x20\x00\x8b\x1d\x04\x00\x80\x00\xf4", 12);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_uint_eq(gpr(VSL_RAX) & 0xff, 0x5a);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 14);
	ck_assert_uint_eq(vsl_cpu_get_cr(F.cpu, 2), 0x800004);
	uint32_t fr[2];
	memcpy(fr, F.ram + vsl_cpu_get_gpr(F.cpu, VSL_RSP), sizeof(fr));
	ck_assert_uint_eq(fr[0], 0);                     /* error: not present, read */
	ck_assert_uint_eq(fr[1], VSL_FIX_CODE + 5);
	memcpy(pd, F.ram + 0x7000, sizeof(pd));
	ck_assert_uint_eq(pd[0] & 0x20, 0x20);           /* accessed */
}
END_TEST


START_TEST(user_port_io_gp)
{
	struct vsl_cpu_exit ex;
	/* ring 3 with IOPL 0 and no I/O bitmap in the TSS: in $0x80,%al -> #GP(0) */
	static const uint8_t user[] = { 0xe4, 0x80, 0xf4 };
	memcpy(F.ram + VSL_FIX_CODE + 0x40, user, sizeof(user));
	uint64_t fr[5] = { VSL_FIX_CODE + 0x40, VSL_FIX_UCS, 0x2, 0x380000, VSL_FIX_UDS };
	memcpy(F.ram + VSL_FIX_STACK - 40, fr, 40);
	vsl_cpu_fixture_code(&F, "\x48\xcf", 2);          /* iretq */
	vsl_cpu_set_gpr(F.cpu, VSL_RSP, VSL_FIX_STACK - 40);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&F), 13);
	ck_assert_uint_eq(frame(0), 0);
	ck_assert_uint_eq(frame(1), VSL_FIX_CODE + 0x40);
}
END_TEST

START_TEST(real_mode)
{
	struct vsl_cpu_exit ex;
	vsl_cpu_reset(F.cpu);
	/* code at 1000:0000; IVT entry 0x10 -> 2000:0000 (a HLT) */
	struct vsl_seg cs = { .sel = 0x1000, .base = 0x10000, .limit = 0xffff, .attr = 0x9b };
	vsl_cpu_set_seg(F.cpu, VSL_CS, &cs);
	vsl_cpu_set_idt(F.cpu, &(struct vsl_dtable){ .base = 0, .limit = 0x3ff });
	uint32_t ivt = 0x20000000;
	memcpy(F.ram + 0x10 * 4, &ivt, 4);
	F.ram[0x20000] = 0xf4;
	/* mov $0x1234,%ax; mov %ax,%ds; movw $0x55aa,0x10; int $0x10; hlt */
	memcpy(F.ram + 0x10000, "\xb8\x34\x12\x8e\xd8\xc7\x06\x10\x00\xaa\x55\xcd\x10\xf4", 14);
	vsl_cpu_set_rip(F.cpu, 0);
	vsl_cpu_set_gpr(F.cpu, VSL_RSP, 0x8000);
	ck_assert_int_eq(vsl_cpu_fixture_run(&F, 100, &ex), 0);
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_HLT);
	ck_assert_uint_eq(F.ram[0x12350] | (F.ram[0x12351] << 8), 0x55aa);
	struct vsl_seg now;
	vsl_cpu_get_seg(F.cpu, VSL_CS, &now);
	ck_assert_uint_eq(now.sel, 0x2000);
	ck_assert_uint_eq(vsl_cpu_get_rip(F.cpu), 1);
	/* the IVT frame: IP after INT, CS, FLAGS */
	ck_assert_uint_eq(F.ram[0x8000 - 6] | (F.ram[0x8000 - 5] << 8), 0xd);
	ck_assert_uint_eq(F.ram[0x8000 - 4] | (F.ram[0x8000 - 3] << 8), 0x1000);
}
END_TEST


START_TEST(msr_api)
{
	uint64_t v;

	ck_assert_int_eq(vsl_cpu_get_msr(F.cpu, 0x12345, &v), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(F.ctx), "0x12345"));
	ck_assert_int_eq(vsl_cpu_set_msr(F.cpu, 0xc0000080, 1ull << 20), VSL_EINVAL); /* reserved EFER bit */
	ck_assert_int_eq(vsl_cpu_set_msr(F.cpu, 0xc0000082, 0x0000800000000000ull), VSL_EINVAL); /* LSTAR non-canonical */
	ck_assert_int_eq(vsl_cpu_set_msr(F.cpu, 0x277, 0x0007040600070406ull), 0);      /* PAT */
	ck_assert_int_eq(vsl_cpu_set_msr(F.cpu, 0x277, 0x0000000000000002ull), VSL_EINVAL); /* PAT type 2 */
	ck_assert_int_eq(vsl_cpu_get_msr(F.cpu, 0x10, &v), 0);                          /* TSC */
	F.now_ns = 1000;
	uint64_t w;
	ck_assert_int_eq(vsl_cpu_get_msr(F.cpu, 0x10, &w), 0);
	ck_assert_uint_eq(w - v, 1000);                  /* tsc_khz = 1 GHz */
	ck_assert_int_eq(vsl_cpu_set_msr(F.cpu, 0x10, 5000), 0);
	ck_assert_int_eq(vsl_cpu_get_msr(F.cpu, 0x10, &w), 0);
	ck_assert_uint_eq(w, 5000);
}
END_TEST

static Suite *cpu_suite(void)
{
	Suite *s = suite_create("cpu");
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

	tc = tcase_create("exceptions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, divide_error);
	tcase_add_test(tc, invalid_opcode);
	tcase_add_test(tc, unknown_msr);
	tcase_add_test(tc, double_fault);
	tcase_add_test(tc, triple_fault);
	tcase_add_test(tc, external_interrupt);
	tcase_add_test(tc, unimplemented_is_clean);
	tcase_add_test(tc, unadvertised_is_ud);
	suite_add_tcase(s, tc);

	tc = tcase_create("paging");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, page_fault_not_present);
	tcase_add_test(tc, page_fault_write_protect);
	tcase_add_test(tc, accessed_dirty_bits);
	tcase_add_test(tc, nx_violation);
	tcase_add_test(tc, fetch_crosses_page);
	tcase_add_test(tc, user_page_protection);
	tcase_add_test(tc, tlb_flush_on_cr3_and_invlpg);
	tcase_add_test(tc, reserved_bit_fault);
	tcase_add_test(tc, noncanonical_gp);
	tcase_add_test(tc, long_rep_stos);
	tcase_add_test(tc, dma_invalidates_decoded_code);
	tcase_add_test(tc, legacy_32bit_paging);
	suite_add_tcase(s, tc);

	tc = tcase_create("system");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, user_mode_and_back);
	tcase_add_test(tc, syscall_sysret);
	tcase_add_test(tc, fs_gs_bases);
	tcase_add_test(tc, port_io);
	tcase_add_test(tc, single_step);
	tcase_add_test(tc, paging_off_and_on_in_compat_mode);
	tcase_add_test(tc, cr4_reserved_gp);
	tcase_add_test(tc, descriptor_table_stores);
	tcase_add_test(tc, halt_and_wake);
	tcase_add_test(tc, ist_stack);
	tcase_add_test(tc, protected_mode_delivery);
	tcase_add_test(tc, user_port_io_gp);
	tcase_add_test(tc, real_mode);
	tcase_add_test(tc, msr_api);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cpu_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
