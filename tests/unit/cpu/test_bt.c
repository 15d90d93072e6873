/*
 * Unit tests for the binary translator (runtime/cpu/bt.c). Every case runs
 * the same code on two long-mode fixtures, one with the reference executor
 * and one with the translator, and compares the whole integer state (GPRs,
 * RIP, RFLAGS, the exception vector taken, the data page): the executor is
 * the oracle (it is itself checked against KVM by tests/diff). The cases
 * target what the translator does differently: native instructions with
 * flags kept in host RFLAGS, blocks that end at faults, self-modifying code
 * and writes through an alias, page-boundary blocks, interrupts in a loop.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/bt.h"
#include "runtime/cpu/cpu_internal.h"
#include "tests/unit/helpers/cpu_fixture.h"

static struct vsl_cpu_fixture I, T;

static void setup(void)
{
	ck_assert_int_eq(vsl_cpu_fixture_init(&I, 8 << 20), 0);
	ck_assert_int_eq(vsl_cpu_fixture_init(&T, 8 << 20), 0);
	ck_assert_int_eq(vsl_cpu_set_engine(T.cpu, VSL_ENGINE_BT), 0);
}

static void teardown(void)
{
	vsl_cpu_fixture_fini(&I);
	vsl_cpu_fixture_fini(&T);
}

static void load(const void *code, size_t len)
{
	vsl_cpu_fixture_code(&I, code, len);
	vsl_cpu_fixture_code(&T, code, len);
}

static void run_one(struct vsl_cpu_fixture *f, uint64_t budget, struct vsl_cpu_exit *ex)
{
	int r = vsl_cpu_fixture_run(f, budget, ex);

	ck_assert_msg(r == 0, "run failed: %s", vsl_ctx_error(f->ctx));
}

/* run both, compare everything; returns the translator's exit */
static struct vsl_cpu_exit run_both(uint64_t budget)
{
	struct vsl_cpu_exit ei, et;

	run_one(&I, budget, &ei);
	run_one(&T, budget, &et);
	ck_assert_int_eq(ei.reason, et.reason);
	for (int r = 0; r < 16; r++)
		ck_assert_msg(vsl_cpu_get_gpr(I.cpu, r) == vsl_cpu_get_gpr(T.cpu, r),
			      "gpr %d: interp %#llx bt %#llx", r,
			      (unsigned long long)vsl_cpu_get_gpr(I.cpu, r),
			      (unsigned long long)vsl_cpu_get_gpr(T.cpu, r));
	ck_assert_uint_eq(vsl_cpu_get_rip(I.cpu), vsl_cpu_get_rip(T.cpu));
	ck_assert_msg(vsl_cpu_get_rflags(I.cpu) == vsl_cpu_get_rflags(T.cpu), "rflags: interp %#llx bt %#llx",
		      (unsigned long long)vsl_cpu_get_rflags(I.cpu),
		      (unsigned long long)vsl_cpu_get_rflags(T.cpu));
	ck_assert_uint_eq(vsl_cpu_get_cr(I.cpu, 2), vsl_cpu_get_cr(T.cpu, 2));
	ck_assert_int_eq(vsl_cpu_fixture_vector(&I), vsl_cpu_fixture_vector(&T));
	ck_assert_uint_eq(vsl_cpu_icount(I.cpu), vsl_cpu_icount(T.cpu));
	ck_assert(memcmp(I.ram + VSL_FIX_DATA, T.ram + VSL_FIX_DATA, 0x2000) == 0);
	for (int x = 0; x < 16; x++) {
		uint8_t a[16], b[16];
		vsl_cpu_get_xmm(I.cpu, x, a);
		vsl_cpu_get_xmm(T.cpu, x, b);
		ck_assert_msg(memcmp(a, b, 16) == 0, "xmm%d differs", x);
	}
	ck_assert(memcmp(I.ram + VSL_FIX_STACK - 0x100, T.ram + VSL_FIX_STACK - 0x100, 0x100) == 0);
	return et;
}
#define RUN(s) do { load((s), sizeof(s) - 1); run_both(100000); } while (0)

static void set_gpr(int r, uint64_t v)
{
	vsl_cpu_set_gpr(I.cpu, r, v);
	vsl_cpu_set_gpr(T.cpu, r, v);
}

static struct vsl_bt_stats stats(void)
{
	struct vsl_bt_stats st;

	vsl_cpu_bt_stats(T.cpu, &st);
	return st;
}

/* ------------------------------------------------------------------ */

START_TEST(flags_across_helpers)
{
	/* stc; prefetcht0 (%rax); cmc; push %rbx; cmc; adc $1,%rcx; pop %rdx; hlt */
	set_gpr(VSL_RAX, 0x200000);
	RUN("\xf9\x0f\x18\x08\xf5\x53\xf5\x48\x83\xd1\x01\x5a\xf4");
	ck_assert_uint_gt(stats().insns_native, 0);
	/* mov 0x201f90,%r9d; btc $0x5c,%r10; prefetcht0 0x9c4(%r15d); cmc; hlt */
	set_gpr(VSL_R15, 0x200000);
	set_gpr(VSL_R10, 0x10001234);
	vsl_cpu_set_rflags(I.cpu, 0xe83);
	vsl_cpu_set_rflags(T.cpu, 0xe83);
	RUN("\x90\x44\x8b\x0c\x25\x90\x1f\x20\x00\x49\x0f\xba\xfa\x5c\x67\x41\x0f\x18\x8f\xc4\x09\x00\x00\xf5\xf4");
}
END_TEST

START_TEST(alu_mix)
{
	/*
	 * mov $0x123456789abcdef0,%rax; mov $-5,%rcx; add %rcx,%rax; sbb %eax,%edx;
	 * imul $7,%rdx,%rsi; shl %cl,%rsi; lea 0x10(%rax,%rcx,4),%r8; xor %ah,%bl;
	 * movzx %ah,%r9d; cmovs %rsi,%r10; setnz %r11b; bswap %r8d; lea 1(%rip),%r12;
	 * neg %rbx; rcl $3,%rax; hlt
	 */
	RUN("\x48\xb8\xf0\xde\xbc\x9a\x78\x56\x34\x12\x48\xc7\xc1\xfb\xff\xff\xff\x48\x01\xc8"
	    "\x19\xc2\x48\x6b\xf2\x07\x48\xd3\xe6\x4c\x8d\x44\x88\x10\x30\xe3\x44\x0f\xb6\xcc"
	    "\x4c\x0f\x48\xd6\x41\x0f\x95\xc3\x41\x0f\xc8\x4c\x8d\x25\x01\x00\x00\x00"
	    "\x48\xf7\xdb\x48\xc1\xd0\x03\xf4");
}
END_TEST

START_TEST(memory_operands)
{
	/*
	 * mov $0x200ffe,%rdi; movq $-1,(%rdi) [crosses into the next page: slow
	 * path]; mov $0x200100,%rsi; add %rdi,8(%rsi); lock incl 8(%rsi);
	 * cmovz 8(%rsi),%rax; movzbl 9(%rsi),%ecx; addb $3,(%rsi,%rcx,1);
	 * mov %ecx,0x10(%esi); xor 0x10(%rip),%rdx; sub 4(%rsi),%ax; hlt
	 */
	set_gpr(VSL_RDX, 0x1111);
	RUN("\x48\xc7\xc7\xfe\x0f\x20\x00\x48\xc7\x07\xff\xff\xff\xff"
	    "\x48\xc7\xc6\x00\x01\x20\x00\x48\x01\x7e\x08\xf0\xff\x46\x08"
	    "\x48\x0f\x44\x46\x08\x0f\xb6\x4e\x09\x80\x04\x0e\x03"
	    "\x67\x89\x4e\x10\x48\x33\x15\x10\x00\x00\x00\x66\x2b\x46\x04\xf4");
	ck_assert_uint_ge(stats().mem_native, 6);
	/* the same through FS with a base */
	struct vsl_seg fs;
	vsl_cpu_get_seg(I.cpu, VSL_FS, &fs);
	fs.base = 0x200000;
	vsl_cpu_set_seg(I.cpu, VSL_FS, &fs);
	vsl_cpu_set_seg(T.cpu, VSL_FS, &fs);
	/* mov %fs:0x100,%rax; add %rax,%fs:0x108; hlt */
	RUN("\x64\x48\x8b\x04\x25\x00\x01\x00\x00\x64\x48\x01\x04\x25\x08\x01\x00\x00\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), vsl_cpu_fixture_peek(&T, 0x200100));
	ck_assert_uint_ge(stats().mem_native, 8);
}
END_TEST

START_TEST(stack_call_ret)
{
	/*
	 * fib(15) by recursion: mov $15,%edi; call fib; hlt
	 * fib: cmp $2,%rdi; jb 1f; push %rdi; dec %rdi; call fib; pop %rdi;
	 *      push %rax; lea -2(%rdi),%rdi; call fib; pop %rcx; add %rcx,%rax; ret
	 *   1: mov %rdi,%rax; ret
	 */
	RUN("\xbf\x0f\x00\x00\x00\xe8\x01\x00\x00\x00\xf4"
	    "\x48\x83\xff\x02\x72\x19\x57\x48\xff\xcf\xe8\xf1\xff\xff\xff\x5f"
	    "\x50\x48\x8d\x7f\xfe\xe8\xe6\xff\xff\xff\x59\x48\x01\xc8\xc3"
	    "\x48\x89\xf8\xc3");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 610);
	ck_assert_uint_gt(stats().stack_native, 5);
	ck_assert_uint_gt(stats().indirect_hits, 10);
	/* push %rsp; pop %rax; push %rax; pop %rsp; push $0x7f; pop %rbx; hlt */
	RUN("\x54\x58\x50\x5c\x6a\x7f\x5b\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RBX), 0x7f);
}
END_TEST

START_TEST(ret_non_canonical)
{
	/* mov $0x8000000000000000,%rax; push %rax; ret -> #GP at the RET */
	RUN("\x48\xb8\x00\x00\x00\x00\x00\x00\x00\x80\x50\xc3");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 13);
}
END_TEST

START_TEST(push_page_fault)
{
	/* the stack page below RSP is not present: #PF on the push, RSP unchanged */
	uint64_t va = 0x300000;
	*vsl_cpu_fixture_pte(&I, va) &= ~1ull;
	*vsl_cpu_fixture_pte(&T, va) &= ~1ull;
	set_gpr(VSL_RCX, va + 0x1000);
	/* mov $1,%eax; xchg %rcx,%rsp; push %rax; hlt */
	RUN("\xb8\x01\x00\x00\x00\x48\x87\xcc\x50\xf4");
}
END_TEST

START_TEST(sse_integer)
{
	/*
	 * mov $0x200000,%rsi; movdqu 1(%rsi),%xmm1; movdqa (%rsi),%xmm2;
	 * pxor %xmm1,%xmm2; pcmpeqb %xmm3,%xmm3; paddb %xmm3,%xmm2;
	 * pmovmskb %xmm2,%eax; movdqa %xmm2,0x10(%rsi); pshufd $0x1b,%xmm2,%xmm4;
	 * movups %xmm4,0x23(%rsi); movdqa 8(%rsi),%xmm5 (misaligned: #GP); hlt
	 */
	static const char code[] =
		"\x48\xc7\xc6\x00\x00\x20\x00\xf3\x0f\x6f\x4e\x01\x66\x0f\x6f\x16\x66\x0f\xef\xd1"
		"\x66\x0f\x74\xdb\x66\x0f\xfc\xd3\x66\x0f\xd7\xc2\x66\x0f\x7f\x56\x10\x66\x0f\x70"
		"\xe2\x1b\x0f\x11\x66\x23\x66\x0f\x6f\x6e\x08\xf4";
	for (int i = 0; i < 64; i++)
		I.ram[VSL_FIX_DATA + i] = T.ram[VSL_FIX_DATA + i] = (uint8_t)(i * 37 + 5);
	uint64_t cr4 = vsl_cpu_get_cr(T.cpu, 4) | (1u << 9) | (1u << 10);
	vsl_cpu_set_cr(I.cpu, 4, cr4);
	vsl_cpu_set_cr(T.cpu, 4, cr4);
	load(code, sizeof(code) - 1);
	run_both(100000);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 13);
	ck_assert_uint_ge(stats().sse_native, 8);
	/* with CR0.TS set the first SSE instruction raises #NM */
	uint64_t cr0 = vsl_cpu_get_cr(T.cpu, 0) | (1u << 3);
	vsl_cpu_set_cr(I.cpu, 0, cr0);
	vsl_cpu_set_cr(T.cpu, 0, cr0);
	load(code, sizeof(code) - 1);
	run_both(100000);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 7);
}
END_TEST

START_TEST(jmp_register)
{
	/*
	 * nop; lea 1f(%rip),%rax; jmp *%rax; hlt; 1: mov $5,%ebx;
	 * mov $0x8000000000000000,%rcx; jmp *%rcx (non-canonical: #GP); hlt
	 */
	RUN("\x90\x48\x8d\x05\x03\x00\x00\x00\xff\xe0\xf4\xbb\x05\x00\x00\x00"
	    "\x48\xb9\x00\x00\x00\x00\x00\x00\x00\x80\xff\xe1\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RBX), 5);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 13);
}
END_TEST

START_TEST(loop_and_jcc)
{
	/* mov $1000,%ecx; 1: add %rcx,%rax; dec %ecx; jnz 1b; hlt */
	RUN("\xb9\xe8\x03\x00\x00\x48\x01\xc8\xff\xc9\x75\xf9\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 500500);
	ck_assert_uint_ge(stats().loops, 1); /* a block jumping to its own start: registers carried */
}
END_TEST

START_TEST(loop_two_blocks_chained)
{
	/* mov $1000,%ecx; 1: add %rcx,%rax; jmp 2f; 2: dec %ecx; jnz 1b; hlt */
	RUN("\xb9\xe8\x03\x00\x00\x48\x01\xc8\xeb\x00\xff\xc9\x75\xf7\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 500500);
	ck_assert_uint_ge(stats().chained, 1);
	ck_assert_uint_eq(stats().loops, 0);
}
END_TEST

START_TEST(loop_carried_helper)
{
	/*
	 * A carried loop with an instruction the executor runs (DIV) inside,
	 * whose result (RDX) the loop reads only after its back edge:
	 * mov $100,%ecx; mov $7,%esi; 1: add %rdx,%rdi; mov %ecx,%eax;
	 * xor %edx,%edx; div %esi; dec %ecx; jnz 1b; hlt
	 */
	set_gpr(VSL_RDX, 0);
	RUN("\xb9\x64\x00\x00\x00\xbe\x07\x00\x00\x00\x48\x01\xd7\x89\xc8\x31\xd2\xf7\xf6"
	    "\xff\xc9\x75\xf3\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RDI), 296); /* n mod 7 for n = 100..2 */
	ck_assert_uint_ge(stats().loops, 1);
}
END_TEST

START_TEST(loop_carried_page_fault)
{
	/*
	 * A carried loop walking into a page that is not present:
	 * 1: mov (%rbx),%edx; add %edx,%eax; mov %eax,(%rbx); add $4,%rbx;
	 * inc %ecx; jmp 1b -- #PF at the load with RAX, RCX, RDX, RBX as the
	 * executor leaves them after 64 passes.
	 */
	uint64_t va = VSL_FIX_DATA + 0x1000;
	*vsl_cpu_fixture_pte(&I, va) &= ~1ull;
	*vsl_cpu_fixture_pte(&T, va) &= ~1ull;
	for (unsigned k = 0; k < 0x100; k++) {
		I.ram[VSL_FIX_DATA + 0xf00 + k] = (uint8_t)(k * 7);
		T.ram[VSL_FIX_DATA + 0xf00 + k] = (uint8_t)(k * 7);
	}
	set_gpr(VSL_RBX, va - 0x100);
	RUN("\x8b\x13\x01\xd0\x89\x03\x48\x83\xc3\x04\xff\xc1\xeb\xf2");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 14);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RCX), 64);
	ck_assert_uint_eq(vsl_cpu_get_cr(T.cpu, 2), va);
	ck_assert_uint_ge(stats().loops, 1);
}
END_TEST

START_TEST(loop_register_pressure)
{
	/*
	 * A carried loop on more guest registers than the cache holds, with
	 * a byte store of CL:
	 * 1: add %r8,%rax; add %r9,%rbx; xor %r10,%rcx; add %r11,%rdx;
	 * add %rax,%rsi; add %rbx,%rdi; add %rcx,%rbp; add %rdx,%r12;
	 * rol $3,%r13; add %rsi,%r13; lea 1(%r14),%r14; mov %cl,-8(%rsp);
	 * dec %r15; jnz 1b; hlt
	 */
	for (int r = 0; r < 15; r++)
		if (r != VSL_RSP)
			set_gpr(r, 0x1234567ull * (unsigned)(r + 3) + ((uint64_t)r << 40));
	set_gpr(VSL_R15, 300);
	RUN("\x4c\x01\xc0\x4c\x01\xcb\x4c\x31\xd1\x4c\x01\xda\x48\x01\xc6\x48\x01\xdf\x48\x01\xcd"
	    "\x49\x01\xd4\x49\xc1\xc5\x03\x49\x01\xf5\x4d\x8d\x76\x01\x88\x4c\x24\xf8\x49\xff\xcf"
	    "\x75\xd4\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_R15), 0);
	ck_assert_uint_ge(stats().loops, 1);
}
END_TEST

START_TEST(budget_exact)
{
	/* the same loop stopped by the budget at an exact instruction count */
	load("\xb9\xe8\x03\x00\x00\x48\x01\xc8\xff\xc9\x75\xf9\xf4", 13);
	struct vsl_cpu_exit ex = run_both(1001);
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_BUDGET);
	ck_assert_uint_eq(ex.executed, 1001);
}
END_TEST

START_TEST(page_fault_mid_block)
{
	/*
	 * mov $1,%eax; add $2,%eax; mov %eax,(%rbx); add $3,%eax; hlt with the
	 * page at rbx not present: #PF at the store with RAX = 3, not 6.
	 */
	uint64_t va = 0x300000;
	*vsl_cpu_fixture_pte(&I, va) &= ~1ull;
	*vsl_cpu_fixture_pte(&T, va) &= ~1ull;
	set_gpr(VSL_RBX, va + 8);
	RUN("\xb8\x01\x00\x00\x00\x83\xc0\x02\x89\x03\x83\xc0\x03\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 14);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 3);
	ck_assert_uint_eq(vsl_cpu_get_cr(T.cpu, 2), va + 8);
	ck_assert_uint_ge(stats().faults, 1);
}
END_TEST

START_TEST(divide_error_mid_block)
{
	/* mov $7,%eax; xor %edx,%edx; xor %ecx,%ecx; inc %eax; div %ecx; hlt */
	RUN("\xb8\x07\x00\x00\x00\x31\xd2\x31\xc9\xff\xc0\xf7\xf1\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 0);
}
END_TEST

START_TEST(self_modifying_code)
{
	/*
	 * A loop whose body is patched by itself: the immediate of
	 * "add $1,%eax" is rewritten to 2 on the first pass.
	 *	mov $3,%ecx
	 * 1:	add $1,%eax            (83 c0 01 at +5)
	 *	movb $2,-1(%rip)-ish: movb $2, imm byte of the add
	 *	dec %ecx; jnz 1b; hlt
	 */
	static const char code[] =
		"\xb9\x03\x00\x00\x00"          /* 0: mov $3,%ecx */
		"\x83\xc0\x01"                  /* 5: add $1,%eax */
		"\xc6\x05\xf8\xff\xff\xff\x02"  /* 8: movb $2,-8(%rip): the add's immediate */
		"\xff\xc9\x75\xf2\xf4";         /* 15: dec %ecx; jnz 5; hlt */
	load(code, sizeof(code) - 1);
	run_both(100000);
	/* 1 + 2 + 2 */
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 5);
}
END_TEST

START_TEST(alias_write)
{
	/*
	 * The code page is also mapped at a second linear address (PTE for
	 * 0x301000 -> the physical code page); the loop patches itself through
	 * that alias.
	 */
	uint64_t alias = 0x301000;
	*vsl_cpu_fixture_pte(&I, alias) = VSL_FIX_CODE | 3;
	*vsl_cpu_fixture_pte(&T, alias) = VSL_FIX_CODE | 3;
	set_gpr(VSL_RBX, alias + 7);
	static const char code[] =
		"\xb9\x03\x00\x00\x00"          /* 0: mov $3,%ecx */
		"\x83\xc0\x01"                  /* 5: add $1,%eax */
		"\xc6\x03\x05"                  /* 8: movb $5,(%rbx) (imm of the add) */
		"\xff\xc9\x75\xf6\xf4";         /* 11: dec %ecx; jnz 5; hlt */
	load(code, sizeof(code) - 1);
	run_both(100000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 11);
	ck_assert_uint_ge(stats().invalidated, 1);
}
END_TEST

START_TEST(block_at_page_end_second_unmapped)
{
	/*
	 * Code runs up to the end of its page, the last instruction crosses
	 * into the next page, which is not present: #PF on the fetch with CR2
	 * at the start of that page, after the instruction before it retired.
	 */
	uint64_t start = VSL_FIX_CODE + 0x1000 - 5;
	static const char code[] = "\x83\xc0\x01\x83\xc0\x01"; /* the second add crosses */
	*vsl_cpu_fixture_pte(&I, VSL_FIX_CODE + 0x1000) &= ~1ull;
	*vsl_cpu_fixture_pte(&T, VSL_FIX_CODE + 0x1000) &= ~1ull;
	memcpy(I.ram + start, code, 6);
	memcpy(T.ram + start, code, 6);
	vsl_cpu_set_rip(I.cpu, start);
	vsl_cpu_set_rip(T.cpu, start);
	run_both(100000);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 14);
	ck_assert_uint_eq(vsl_cpu_get_cr(T.cpu, 2), VSL_FIX_CODE + 0x1000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 1);
}
END_TEST

START_TEST(interrupt_in_tight_loop)
{
	/* sti; 1: inc %rax; jmp 1b  -- the pending interrupt must be taken */
	I.irq_vector = -1;
	T.irq_vector = -1;
	load("\xfb\x48\xff\xc0\xeb\xfb", 6);
	struct vsl_cpu_exit ex;
	run_one(&T, 20000, &ex);
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_BUDGET);
	ck_assert_uint_gt(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 5000);
	T.irq_vector = 0x30;
	run_one(&T, 100000, &ex);
	ck_assert_int_eq(ex.reason, VSL_CPU_EXIT_HLT);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 0x30);
	/* bounded latency: taken within a few blocks */
	ck_assert_uint_lt(ex.executed, 2000);
}
END_TEST

START_TEST(rep_string)
{
	/*
	 * mov $0x200000,%esi; mov $0x200ff3,%edi; mov $0x41,%ecx; rep movsb
	 *   (the destination crosses into the next page);
	 * mov $0x200101,%edi; mov $0x1122334455667788,%rax; mov $9,%ecx; rep stosq
	 *   (misaligned); mov $0x200200,%esi; mov $0x200203,%edi; mov $0x30,%ecx;
	 * rep movsb (overlapping: the pattern repeats); mov $0x200300,%edi;
	 * mov $5,%ecx; rep stosb; rep movsd (rcx 0: no-op); hlt
	 */
	for (unsigned k = 0; k < 0x400; k++)
		I.ram[VSL_FIX_DATA + k] = T.ram[VSL_FIX_DATA + k] = (uint8_t)(k * 7 + 1);
	RUN("\xbe\x00\x00\x20\x00\xbf\xf3\x0f\x20\x00\xb9\x41\x00\x00\x00\xf3\xa4"
	    "\xbf\x01\x01\x20\x00\x48\xb8\x88\x77\x66\x55\x44\x33\x22\x11\xb9\x09\x00\x00\x00\xf3\x48\xab"
	    "\xbe\x00\x02\x20\x00\xbf\x03\x02\x20\x00\xb9\x30\x00\x00\x00\xf3\xa4"
	    "\xbf\x00\x03\x20\x00\xb9\x05\x00\x00\x00\xf3\xaa\xf3\xa5\xf4");
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&T, 0x200209) & 0xffffff,
			  vsl_cpu_fixture_peek(&T, 0x200200) & 0xffffff);
	ck_assert_uint_ge(stats().rep_runs, 4);
	/* rep movsw with DF=1 goes to the executor's handler: std; rep movsw; cld; hlt */
	set_gpr(VSL_RSI, 0x200400);
	set_gpr(VSL_RDI, 0x200500);
	set_gpr(VSL_RCX, 7);
	RUN("\xfd\x66\xf3\xa5\xfc\xf4");
}
END_TEST

START_TEST(implicit_operands)
{
	/*
	 * mov $0x200100,%esi; mov $-5,%rax; cdqe; cqo; mov $7,%ecx; cmpxchg %rcx,(%rsi)
	 * (fails: rax = mem); cmpxchg %rcx,(%rsi) (succeeds); lock cmpxchg %ecx,8(%rsi);
	 * mov $0x123456789,%rax; mulq (%rsi); mul %ecx; imul %rcx; cwde; cbw; cwd;
	 * cdq; mov $3,%cl; shl %cl,%rdx; mul %cl; or $0,%eax; hlt
	 * (MUL leaves SF/ZF/AF/PF undefined: the host's and the executor's differ, the OR defines them)
	 */
	set_gpr(VSL_RDX, 0x55);
	RUN("\xbe\x00\x01\x20\x00\x48\xc7\xc0\xfb\xff\xff\xff\x48\x98\x48\x99"
	    "\xb9\x07\x00\x00\x00\x48\x0f\xb1\x0e\x48\x0f\xb1\x0e\xf0\x0f\xb1\x4e\x08"
	    "\x48\xb8\x89\x67\x45\x23\x01\x00\x00\x00\x48\xf7\x26\xf7\xe1\x48\xf7\xe9"
	    "\x98\x66\x98\x66\x99\x99\xb1\x03\x48\xd3\xe2\xf6\xe1\x83\xc8\x00\xf4");
	ck_assert_uint_ge(stats().mem_native, 4);
}
END_TEST

START_TEST(segment_reads)
{
	/* mov $-1,%rax; mov %cs,%eax; mov %ss,%r13; mov %ds,%r9d; add %rax,%r13; mov %fs,%ecx; hlt */
	set_gpr(VSL_R13, 0x1234);
	RUN("\x48\xc7\xc0\xff\xff\xff\xff\x8c\xc8\x49\x8c\xd5\x41\x8c\xd9\x49\x01\xc5\x8c\xe1\xf4");
	ck_assert_uint_ge(stats().insns_native, 5); /* all but the first (run by the executor) and HLT */
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), VSL_FIX_KCS);
}
END_TEST

START_TEST(jmp_memory)
{
	/*
	 * mov $0x200000,%rsi; movq $0x100016,(%rsi); mov $5,%ecx;
	 * 1: jmp *(%rsi); hlt; 0x100016: dec %ecx; jnz 1b; hlt
	 * (the first JMP misses the TLB, the others hit)
	 */
	RUN("\x48\xc7\xc6\x00\x00\x20\x00\x48\xc7\x06\x16\x00\x10\x00\xb9\x05\x00\x00\x00"
	    "\xff\x26\xf4\xff\xc9\x75\xf9\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RCX), 0);
	ck_assert_uint_eq(vsl_cpu_get_rip(T.cpu), VSL_FIX_CODE + 0x1b);
	/* a non-canonical target: #GP at the JMP (movabs $1<<63,%rax; mov %rax,8(%rsi); jmp *8(%rsi)) */
	RUN("\x48\xc7\xc6\x00\x00\x20\x00\x48\xb8\x00\x00\x00\x00\x00\x00\x00\x80\x48\x89\x46\x08"
	    "\xff\x66\x08\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 13);
	/* the table's page is not present: #PF at the JMP (jmp *(%rdi)) */
	*vsl_cpu_fixture_pte(&I, 0x300000) &= ~1ull;
	*vsl_cpu_fixture_pte(&T, 0x300000) &= ~1ull;
	set_gpr(VSL_RDI, 0x300010);
	RUN("\x48\xff\xc0\xff\x27\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 14);
}
END_TEST

START_TEST(sse_scalar_double_helper)
{
	/*
	 * MOVSD and CMPSD (SSE2) share their mnemonics with the string
	 * instructions: the executor's string handler passes them on to its
	 * generic path, which needs the complete decode.
	 * movsd (%rbx),%xmm0; addsd %xmm0,%xmm0; movsd %xmm0,8(%rbx);
	 * cmpsd $0,8(%rbx),%xmm0; movsd %xmm0,16(%rbx); hlt
	 */
	static const double v = 1.25;
	memcpy(I.ram + VSL_FIX_DATA, &v, 8);
	memcpy(T.ram + VSL_FIX_DATA, &v, 8);
	set_gpr(VSL_RBX, VSL_FIX_DATA);
	uint64_t cr0 = vsl_cpu_get_cr(T.cpu, 0) & ~(1ull << 2);
	uint64_t cr4 = vsl_cpu_get_cr(T.cpu, 4) | (1ull << 9);
	vsl_cpu_set_cr(I.cpu, 0, cr0);
	vsl_cpu_set_cr(T.cpu, 0, cr0);
	vsl_cpu_set_cr(I.cpu, 4, cr4);
	vsl_cpu_set_cr(T.cpu, 4, cr4);
	RUN("\xf2\x0f\x10\x03\xf2\x0f\x58\xc0\xf2\x0f\x11\x43\x08\xf2\x0f\xc2\x43\x08\x00"
	    "\xf2\x0f\x11\x43\x10\xf4");
	double d;
	uint64_t mask;
	memcpy(&d, T.ram + VSL_FIX_DATA + 8, 8);
	memcpy(&mask, T.ram + VSL_FIX_DATA + 16, 8);
	ck_assert(d == 2.5);
	ck_assert_uint_eq(mask, ~0ull);
}
END_TEST

START_TEST(sse_movd_movq)
{
	/*
	 * mov $0x200000,%rsi; mov $-3,%rax; movq %rax,%xmm1; movd %xmm1,%ecx;
	 * movd 4(%rsi),%xmm2; movq (%rsi),%xmm3; movq %xmm3,%xmm4 (upper half cleared);
	 * movq %xmm1,0x18(%rsi); movd %xmm2,0x20(%rsi); movq %xmm4,%r9; hlt
	 */
	static const char code[] =
		"\x48\xc7\xc6\x00\x00\x20\x00\x48\xc7\xc0\xfd\xff\xff\xff\x66\x48\x0f\x6e\xc8"
		"\x66\x0f\x7e\xc9\x66\x0f\x6e\x56\x04\xf3\x0f\x7e\x1e\xf3\x0f\x7e\xe3"
		"\x66\x0f\xd6\x4e\x18\x66\x0f\x7e\x56\x20\x66\x49\x0f\x7e\xe1\xf4";
	for (int i = 0; i < 64; i++)
		I.ram[VSL_FIX_DATA + i] = T.ram[VSL_FIX_DATA + i] = (uint8_t)(i * 29 + 3);
	uint64_t cr4 = vsl_cpu_get_cr(T.cpu, 4) | (1u << 9) | (1u << 10);
	vsl_cpu_set_cr(I.cpu, 4, cr4);
	vsl_cpu_set_cr(T.cpu, 4, cr4);
	/* xmm4 starts with garbage in its upper half */
	uint8_t junk[16];
	memset(junk, 0xa5, sizeof(junk));
	vsl_cpu_set_xmm(I.cpu, 4, junk);
	vsl_cpu_set_xmm(T.cpu, 4, junk);
	load(code, sizeof(code) - 1);
	run_both(100000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RCX), 0xfffffffdu);
	ck_assert_uint_ge(stats().sse_native, 6);
}
END_TEST

START_TEST(jmp_to_ret_after_helper)
{
	/*
	 * As jmp_to_ret_other_page, with f dividing (the executor's DIV: RAX
	 * and RDX leave their host registers) before its JMP, so that the
	 * guard's failure finds them where the RET would have put them back:
	 * f: mov $10,%eax; xor %edx,%edx; mov $2,%r8d; div %r8d; jmp thunk
	 */
	static const char code[] =
		"\x48\xc7\xc1\x03\x00\x00\x00\xe8\xf4\x0f\x00\x00\xe8\x2f\x00\x00\x00\x48\xff\xc9\x75\xf6"
		"\x48\xc7\xc6\x00\x10\x10\x00\xc7\x06\x48\xff\xc0\xc3\xe8\x18\x00\x00\x00\xf4";
	static const char f[] = "\xb8\x0a\x00\x00\x00\x31\xd2\x41\xb8\x02\x00\x00\x00\x41\xf7\xf0\xe9\xab\x0f\x00\x00";
	uint8_t buf[0x1001];
	memset(buf, 0xcc, sizeof(buf));
	memcpy(buf, code, sizeof(code) - 1);
	memcpy(buf + 0x40, f, sizeof(f) - 1);
	buf[0x1000] = 0xc3;
	set_gpr(VSL_RAX, 0);
	load(buf, sizeof(buf));
	run_both(100000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 6);
	ck_assert_uint_ge(stats().ret_inlined, 1);
}
END_TEST

START_TEST(jmp_to_ret_other_page)
{
	/*
	 * The kernel's return-thunk pattern: f: jmp thunk (another page); thunk: ret.
	 * 0x100000: mov $3,%rcx; call thunk (runs it once: its page is in the code TLB);
	 *   1: call f; dec %rcx; jnz 1b;
	 *   mov $0x101000,%rsi; movl $0xc3c0ff48,(%rsi) (thunk: inc %rax; ret); call f; hlt
	 * 0x100040: f: jmp 0x101000        0x101000: ret
	 */
	static const char code[] =
		"\x48\xc7\xc1\x03\x00\x00\x00\xe8\xf4\x0f\x00\x00\xe8\x2f\x00\x00\x00\x48\xff\xc9\x75\xf6"
		"\x48\xc7\xc6\x00\x10\x10\x00\xc7\x06\x48\xff\xc0\xc3\xe8\x18\x00\x00\x00\xf4";
	uint8_t buf[0x1001];
	memset(buf, 0xcc, sizeof(buf));
	memcpy(buf, code, sizeof(code) - 1);
	memcpy(buf + 0x40, "\xe9\xbb\x0f\x00\x00", 5);
	buf[0x1000] = 0xc3;
	set_gpr(VSL_RAX, 0);
	load(buf, sizeof(buf));
	run_both(100000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 1);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RCX), 0);
	ck_assert_uint_ge(stats().ret_inlined, 1);
}
END_TEST

START_TEST(rep_string_fault)
{
	/* rep stosl running into a not-present page: #PF with RCX/RDI counting the elements done */
	uint64_t va = 0x300000;
	*vsl_cpu_fixture_pte(&I, va) &= ~1ull;
	*vsl_cpu_fixture_pte(&T, va) &= ~1ull;
	set_gpr(VSL_RDI, va - 0x102);
	set_gpr(VSL_RCX, 0x100);
	set_gpr(VSL_RAX, 0xdeadbeef);
	/* rep stosl; hlt */
	RUN("\xf3\xab\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 14);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RCX), 0x100 - 0x40);
	/* rep movsq whose source page is not present */
	set_gpr(VSL_RSI, va - 0x18);
	set_gpr(VSL_RDI, 0x200000);
	set_gpr(VSL_RCX, 0x10);
	RUN("\xf3\x48\xa5\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 14);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RCX), 0x10 - 3);
}
END_TEST

START_TEST(flush_mid_run)
{
	/* the counting loop, interrupted by the budget, the cache flushed, resumed */
	load("\xb9\xe8\x03\x00\x00\x48\x01\xc8\xff\xc9\x75\xf9\xf4", 13);
	run_both(1500);
	vsl_cpu_bt_flush(T.cpu);
	run_both(100000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 500500);
	ck_assert_uint_ge(stats().flushes, 1);
}
END_TEST

START_TEST(dma_over_code)
{
	/* nop; nop; mov $1,%eax; hlt -- then the machine rewrites the immediate behind the CPU */
	load("\x90\x90\xb8\x01\x00\x00\x00\xf4", 8);
	run_both(100);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 1);
	ck_assert_uint_ge(stats().blocks_translated, 1);
	I.ram[VSL_FIX_CODE + 3] = 7;
	T.ram[VSL_FIX_CODE + 3] = 7;
	vsl_cpu_invalidate_phys(I.cpu, VSL_FIX_CODE + 3, 1);
	vsl_cpu_invalidate_phys(T.cpu, VSL_FIX_CODE + 3, 1);
	vsl_cpu_set_rip(I.cpu, VSL_FIX_CODE);
	vsl_cpu_set_rip(T.cpu, VSL_FIX_CODE);
	run_both(100);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 7);
}
END_TEST

START_TEST(flag_instructions)
{
	/* pushfq; pop %rax; push %rax; popfq; cld; std; cld; hlt */
	RUN("\x9c\x58\x50\x9d\xfc\xfd\xfc\xf4");
}
END_TEST

/* clocks for the inline RDTSC: linear in the instruction count, and not */
static uint64_t clock_linear(void *opaque)
{
	const struct vsl_cpu *cpu = opaque;

	return cpu->icount * 3 + 1000;
}

static uint64_t clock_square(void *opaque)
{
	const struct vsl_cpu *cpu = opaque;

	return cpu->icount * cpu->icount;
}

/*
 * mov $50,%r12d; 1: rdtsc; shl $32,%rdx; or %rax,%rdx; add %rdx,%r8;
 * rol $7,%r8; lfence; rdtscp; add %rax,%r10; add %rdx,%r11; add %rcx,%r11;
 * cmp $25,%r12d; jne 2f; mov $0x10,%ecx; mov $0x1234,%eax; xor %edx,%edx;
 * wrmsr (IA32_TSC); 2: dec %r12d; jnz 1b; hlt
 */
static const char rdtsc_loop[] =
	"\x41\xbc\x32\x00\x00\x00\x0f\x31\x48\xc1\xe2\x20\x48\x09\xc2\x49\x01\xd0\x49\xc1"
	"\xc0\x07\x0f\xae\xe8\x0f\x01\xf9\x49\x01\xc2\x49\x01\xd3\x49\x01\xcb\x41\x83\xfc"
	"\x19\x75\x0e\xb9\x10\x00\x00\x00\xb8\x34\x12\x00\x00\x31\xd2\x0f\x30\x41\xff\xcc"
	"\x75\xc8\xf4";

static void rdtsc_clock(uint64_t (*fn)(void *))
{
	I.cpu->env.now_ns = fn;
	I.cpu->env.opaque = I.cpu;
	T.cpu->env.now_ns = fn;
	T.cpu->env.opaque = T.cpu;
}

START_TEST(rdtsc_inline)
{
	/* a clock linear in the instruction count: RDTSC/RDTSCP inline, same values */
	rdtsc_clock(clock_linear);
	I.cpu->tsc_aux = 7;
	T.cpu->tsc_aux = 7;
	RUN(rdtsc_loop);
	ck_assert_uint_ne(vsl_cpu_get_gpr(T.cpu, VSL_R8), 0);
	/* only WRMSR and HLT left to the executor's handlers */
	struct vsl_bt_stats st = stats();
	ck_assert_uint_le(st.insns_translated - st.insns_native, 3);
	/* a budget ending inside the loop: the same count, the same values */
	load(rdtsc_loop, sizeof(rdtsc_loop) - 1);
	run_both(333);
}
END_TEST

START_TEST(rdtsc_fallback)
{
	/* a clock that is not linear in the count: the executor's handler, same values */
	rdtsc_clock(clock_square);
	RUN(rdtsc_loop);
	ck_assert_uint_ne(vsl_cpu_get_gpr(T.cpu, VSL_R8), 0);
	/* CR4.TSD at CPL 0: still allowed, through the handler */
	rdtsc_clock(clock_linear);
	I.cpu->cr4 |= VSL_CR4_TSD;
	T.cpu->cr4 |= VSL_CR4_TSD;
	RUN(rdtsc_loop);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), -1);
}
END_TEST

START_TEST(invlpg_large_page)
{
	/*
	 * mov (%rbx),%rax; mov %rcx,(%rdx) (PD[2] -> the 2M page at 6M);
	 * invlpg 0x1000(%rbx) (another 4K piece of the same 2M page);
	 * mov (%rbx),%r8 (the new page); invlpg 0x3000 (a 4K region);
	 * mov 0x800(%rbx),%r9; hlt
	 */
	static const uint64_t m1 = 0x1111111111111111ull, m2 = 0x2222222222222222ull,
			      m3 = 0x3333333333333333ull;
	struct vsl_cpu_fixture *fs[2] = { &I, &T };
	for (int k = 0; k < 2; k++) {
		memcpy(fs[k]->ram + 0x400000, &m1, 8);
		memcpy(fs[k]->ram + 0x600000, &m2, 8);
		memcpy(fs[k]->ram + 0x600800, &m3, 8);
	}
	set_gpr(VSL_RBX, 0x400000);
	set_gpr(VSL_RDX, VSL_FIX_PML4 + 0x2000 + 2 * 8);
	set_gpr(VSL_RCX, 0x600000 | 0x87);
	RUN("\x48\x8b\x03\x48\x89\x0a\x0f\x01\xbb\x00\x10\x00\x00\x4c\x8b\x03\x0f\x01\x3c\x25\x00\x30"
	    "\x00\x00\x4c\x8b\x8b\x00\x08\x00\x00\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), m1);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_R8), m2);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_R9), m3);
}
END_TEST

/* code of several pages: page k of n at VSL_FIX_CODE + k * 0x1000, the rest HLT */
static void load_pages(const char *const *page, const size_t *len, int n)
{
	static uint8_t buf[0x3000];

	ck_assert_int_le(n, 3);
	memset(buf, 0xf4, sizeof(buf));
	for (int k = 0; k < n; k++)
		memcpy(buf + k * 0x1000, page[k], len[k]);
	load(buf, (size_t)n * 0x1000);
}
/* the same for char arrays holding each page's code */
#define LOAD_PAGES2(a, b)                                                  \
	do {                                                               \
		const char *pg_[] = { a, b };                              \
		const size_t ln_[] = { sizeof(a) - 1, sizeof(b) - 1 };     \
		load_pages(pg_, ln_, 2);                                   \
	} while (0)
#define LOAD_PAGES3(a, b, c)                                                       \
	do {                                                                       \
		const char *pg_[] = { a, b, c };                                   \
		const size_t ln_[] = { sizeof(a) - 1, sizeof(b) - 1, sizeof(c) - 1 }; \
		load_pages(pg_, ln_, 3);                                           \
	} while (0)

START_TEST(return_stack_mismatch)
{
	/*
	 * Returns that do not match the CALL before them: g adds 3 to its
	 * return address (skipping inc %rdi), h pops it and jumps there
	 * (its CALL is never returned from), so outer's own RET finds another
	 * address on top of the return stack.
	 * 0x100000: mov $5,%ecx; 1: call outer; dec %ecx; jnz 1b; hlt
	 *   outer: call f; call g; inc %rdi; inc %rsi; call h; call f; ret
	 * 0x101000: f: inc %rax; ret   g: addq $3,(%rsp); ret   h: pop %rdx; jmp *%rdx
	 */
	static const char p0[] = "\xb9\x05\x00\x00\x00\xe8\x05\x00\x00\x00\xff\xc9\x75\xf7\xf4\xe8\xec\x0f\x00\x00"
				 "\xe8\xeb\x0f\x00\x00\x48\xff\xc7\x48\xff\xc6\xe8\xe6\x0f\x00\x00\xe8\xd7\x0f\x00"
				 "\x00\xc3";
	static const char p1[] = "\x48\xff\xc0\xc3\x48\x83\x04\x24\x03\xc3\x5a\xff\xe2";
	LOAD_PAGES2(p0, p1);
	run_both(100000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 10);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RSI), 5);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RDI), 0);
}
END_TEST

START_TEST(return_to_rewritten_caller)
{
	/*
	 * The callee (another page) increments a data byte, except on the
	 * third pass, where it is the immediate right after the CALL: by then
	 * the return is chained to the old code; the landing pad must notice.
	 * 0x100000: mov $4,%ecx; 1: mov $0x200000,%esi; cmp $2,%ecx; jne 2f;
	 *   lea 3f+2(%rip),%rsi; jmp 2f; 2: call f; 3: add $1,%eax; dec %ecx; jnz 1b; hlt
	 * 0x101000: f: incb (%rsi); ret          eax = 1 + 1 + 2 + 2
	 */
	static const char p0[] = "\xb9\x04\x00\x00\x00\xbe\x00\x00\x20\x00\x83\xf9\x02\x75\x09\x48\x8d\x35\x09\x00"
				 "\x00\x00\xeb\x00\xe8\xe3\x0f\x00\x00\x83\xc0\x01\xff\xc9\x75\xe1\xf4";
	static const char p1[] = "\xfe\x06\xc3";
	set_gpr(VSL_RAX, 0);
	LOAD_PAGES2(p0, p1);
	run_both(100000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 6);
}
END_TEST

START_TEST(chained_exit_remapped)
{
	/*
	 * A CALL to another page gets chained; on the last pass that page is
	 * mapped to other code first (PTE rewritten, INVLPG):
	 * 0x100000: mov $3,%ecx; 1: cmp $1,%ecx; jne 2f; mov %r8,(%r9);
	 *   invlpg 0x101000; 2: call 0x101000; dec %ecx; jnz 1b; hlt
	 * 0x101000: inc %rax; ret        0x102000: add $10,%rax; ret
	 */
	static const char p0[] = "\xb9\x03\x00\x00\x00\x83\xf9\x01\x75\x0b\x4d\x89\x01\x0f\x01\x3c\x25\x00\x10\x10"
				 "\x00\xe8\xe6\x0f\x00\x00\xff\xc9\x75\xe7\xf4";
	static const char p1[] = "\x48\xff\xc0\xc3";
	static const char p2[] = "\x48\x83\xc0\x0a\xc3";
	set_gpr(VSL_RAX, 0);
	set_gpr(VSL_R8, (VSL_FIX_CODE + 0x2000) | 3);
	set_gpr(VSL_R9, VSL_FIX_PT0 + ((VSL_FIX_CODE + 0x1000) >> 12) * 8);
	LOAD_PAGES3(p0, p1, p2);
	run_both(100000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 12);
	ck_assert_uint_ge(stats().chained, 1);
}
END_TEST

START_TEST(return_to_sentinel)
{
	/* a RET to the return stack's stand-in address (unmapped here): #PF at the fetch */
	RUN("\x48\xc7\xc0\x00\xe0\xff\xff\x50\xc3");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 14);
	ck_assert_uint_eq(vsl_cpu_get_cr(T.cpu, 2), 0xffffffffffffe000ull);
}
END_TEST

START_TEST(side_exits)
{
	/*
	 * A conditional branch in the middle of a block, taken every eighth
	 * pass (the block leaves early with registers cached), the block
	 * stopped by the budget at several points:
	 *	mov $100,%ecx; xor %eax,%eax; xor %edx,%edx
	 * 1:	add $3,%rax; test $7,%cl; jz 2f; add %rcx,%rdx; mov %rdx,0x200000;
	 *	dec %ecx; jnz 1b; hlt
	 * 2:	sub $1,%rdx; dec %ecx; jnz 1b; hlt
	 */
	static const char code[] = "\xb9\x64\x00\x00\x00\x31\xc0\x31\xd2\x48\x83\xc0\x03\xf6\xc1\x07\x74\x10\x48\x01"
				   "\xca\x48\x89\x14\x25\x00\x00\x20\x00\xff\xc9\x75\xe8\xf4\x48\x83\xea\x01\xff\xc9"
				   "\x75\xdf\xf4";
	static const uint64_t budgets[] = { 5, 6, 9, 40, 57, 58, 59, 333, 100000 };
	for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
		load(code, sizeof(code) - 1);
		struct vsl_cpu_exit ex = run_both(budgets[i]);
		if (budgets[i] < 500)
			ck_assert_uint_eq(ex.executed, budgets[i]);
	}
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 300);
}
END_TEST

START_TEST(user_block_own_tlb)
{
	/*
	 * The same code run at CPL 0, then at CPL 3 where its data page is
	 * supervisor-only: the user run must take #PF, not reuse the
	 * translation (and TLB) of the supervisor run.
	 * 0x100000: call f; push $0x2b; push $0x380000; push $0x202; push $0x33;
	 *   push $f; iretq
	 * 0x100040: f: mov (%rbx),%rax; ret
	 */
	static const char p0[] = "\xe8\x3b\x00\x00\x00\x6a\x2b\x68\x00\x00\x38\x00\x68\x02\x02\x00\x00\x6a\x33\x68"
				 "\x40\x00\x10\x00\x48\xcf";
	uint8_t buf[0x48];
	memset(buf, 0xf4, sizeof(buf));
	memcpy(buf, p0, sizeof(p0) - 1);
	memcpy(buf + 0x40, "\x48\x8b\x03\xc3", 4);
	*vsl_cpu_fixture_pte(&I, VSL_FIX_DATA) &= ~4ull;
	*vsl_cpu_fixture_pte(&T, VSL_FIX_DATA) &= ~4ull;
	set_gpr(VSL_RBX, VSL_FIX_DATA);
	set_gpr(VSL_RAX, 0);
	load(buf, sizeof(buf));
	run_both(1000);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 14);
	ck_assert_uint_eq(vsl_cpu_get_cr(T.cpu, 2), VSL_FIX_DATA);
}
END_TEST

START_TEST(xadd_prefetch)
{
	/* prefetcht0 (%rax) at an unmapped address (no fault); lock xadd %rcx,(%rbx) twice; hlt */
	set_gpr(VSL_RAX, 0xdead0000);
	set_gpr(VSL_RBX, VSL_FIX_DATA + 8);
	set_gpr(VSL_RCX, 5);
	RUN("\x0f\x18\x08\xf0\x48\x0f\xc1\x0b\xf0\x48\x0f\xc1\x0b\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), -1);
	/* [m] = 0 + 5, rcx = 0; then [m] = 5 + 0, rcx = 5 */
	ck_assert_uint_eq(vsl_cpu_fixture_peek(&T, VSL_FIX_DATA + 8), 5);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RCX), 5);
}
END_TEST

START_TEST(call_indirect)
{
	/*
	 * CALL through a register and through memory to another page, three
	 * times, then CALL to a non-canonical address (#GP, nothing pushed):
	 * 0x100000: mov $3,%ecx; lea f(%rip),%rsi; mov %rsi,0x200010;
	 *   1: call *%rsi; call *0x200010; dec %ecx; jnz 1b;
	 *   movabs $0x8000000000000000,%rdx; call *%rdx; hlt
	 * 0x101000: f: inc %rax; ret
	 */
	static const char p0[] = "\xb9\x03\x00\x00\x00\x48\x8d\x35\xf4\x0f\x00\x00\x48\x89\x34\x25\x10\x00\x20\x00"
				 "\xff\xd6\xff\x14\x25\x10\x00\x20\x00\xff\xc9\x75\xf3\x48\xba\x00\x00\x00\x00\x00"
				 "\x00\x00\x80\xff\xd2\xf4";
	static const char p1[] = "\x48\xff\xc0\xc3";
	set_gpr(VSL_RAX, 0);
	LOAD_PAGES2(p0, p1);
	run_both(100000);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 6);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 13);
	ck_assert_uint_ge(stats().stack_native, 4); /* translated: three CALLs and the RET */
}
END_TEST

START_TEST(sti_pending_and_not)
{
	/*
	 * cli; sti; inc %rax; inc %rax; hlt: with an interrupt waiting, it is
	 * taken after the one instruction STI's shadow covers (rax = 1); with
	 * none, the block runs on to the HLT (rax = 2).
	 */
	static const char code[] = "\xfa\xfb\x48\xff\xc0\x48\xff\xc0\xf4";
	I.irq_vector = T.irq_vector = 0x30;
	set_gpr(VSL_RAX, 0);
	RUN(code);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 0x30);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 1);
	I.irq_vector = T.irq_vector = -1;
	set_gpr(VSL_RAX, 0);
	RUN(code);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), -1);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 2);
}
END_TEST

START_TEST(tlb_refill)
{
	/*
	 * Inline look-ups that miss: refilled and retried (a read, a write,
	 * after a CR3 reload), or left to the executor (an 8-byte read across
	 * a page boundary, whose entry alone would not make it hit):
	 *	mov (%rbx),%rax; movq $7,0x10(%rbx); mov %cr3,%rcx; mov %rcx,%cr3;
	 *	mov 0x10(%rbx),%rdx; mov 0xffc(%rbx),%rsi; hlt
	 */
	set_gpr(VSL_RBX, VSL_FIX_DATA);
	RUN("\x48\x8b\x03\x48\xc7\x43\x10\x07\x00\x00\x00\x0f\x20\xd9\x0f\x22\xd9\x48\x8b\x53\x10"
	    "\x48\x8b\xb3\xfc\x0f\x00\x00\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RDX), 7);
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), -1);
}
END_TEST

START_TEST(bsf_bsr_zero_source)
{
	/* a zero source leaves the destination as it was: mov $0x1234,%rax; xor %ecx,%ecx;
	 * bsr %rcx,%rax; bsf %rcx,%rdx; hlt */
	set_gpr(VSL_RDX, 0x5678);
	RUN("\x48\xc7\xc0\x34\x12\x00\x00\x31\xc9\x48\x0f\xbd\xc1\x48\x0f\xbc\xd1\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), 0x1234);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RDX), 0x5678);
}
END_TEST

START_TEST(inline_tlb_empty_entries)
{
	/*
	 * Empty TLB entries never match: reads of page 0 (not present, also
	 * from the end of the page before it) and of the last page of the
	 * address space (not mapped, nor is the one before it) fault through
	 * the inline look-up's miss:
	 *	nop; mov (%rbx),%rax; hlt
	 */
	static const uint64_t addrs[] = { 0x0, 0xffc, 0xfffffffffffff000ull, 0xffffffffffffeffcull };
	static const uint64_t cr2[] = { 0x0, 0xffc, 0xfffffffffffff000ull, 0xffffffffffffeffcull };
	*vsl_cpu_fixture_pte(&I, 0) &= ~1ull;
	*vsl_cpu_fixture_pte(&T, 0) &= ~1ull;
	for (unsigned k = 0; k < sizeof(addrs) / sizeof(addrs[0]); k++) {
		set_gpr(VSL_RBX, addrs[k]);
		RUN("\x90\x48\x8b\x03\xf4");
		ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 14);
		ck_assert_uint_eq(vsl_cpu_get_cr(T.cpu, 2), cr2[k]);
	}
	ck_assert_uint_ge(stats().mem_native, 1);
}
END_TEST

START_TEST(div_native)
{
	/*
	 * DIV r64 and r32 run natively in a loop (128-bit dividends, RDX
	 * below the divisor), then a DIV whose quotient overflows (#DE, RDX
	 * and RAX as they were):
	 *	mov $1000,%ecx; mov $7,%esi; movabs $0x9e3779b97f4a7c15,%r8
	 *	1: mov %rcx,%rax; imul %r8,%rax; mov %rcx,%rdx; and $3,%edx;
	 *	mov %rcx,%r9; or $4,%r9; div %r9; add %rax,%rdi; add %rdx,%rbp;
	 *	mov %edi,%eax; mov $3,%edx; div %esi; add %rax,%r10; add %rdx,%r11;
	 *	dec %ecx; jnz 1b; mov $5,%edx; mov $5,%r9d; div %r9; hlt
	 */
	set_gpr(VSL_RDI, 0);
	set_gpr(VSL_RBP, 0);
	set_gpr(VSL_R10, 0);
	set_gpr(VSL_R11, 0);
	RUN("\xb9\xe8\x03\x00\x00\xbe\x07\x00\x00\x00\x49\xb8\x15\x7c\x4a\x7f\xb9\x79\x37\x9e"
	    "\x48\x89\xc8\x49\x0f\xaf\xc0\x48\x89\xca\x83\xe2\x03\x49\x89\xc9\x49\x83\xc9\x04"
	    "\x49\xf7\xf1\x48\x01\xc7\x48\x01\xd5\x89\xf8\xba\x03\x00\x00\x00\xf7\xf6\x49\x01"
	    "\xc2\x49\x01\xd3\xff\xc9\x75\xd0\xba\x05\x00\x00\x00\x41\xb9\x05\x00\x00\x00\x49"
	    "\xf7\xf1\xf4");
	ck_assert_int_eq(vsl_cpu_fixture_vector(&T), 0);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RCX), 0);
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RDX), 5);
	ck_assert_uint_ne(vsl_cpu_get_gpr(T.cpu, VSL_RBP), 0);
}
END_TEST

START_TEST(tlb_flush_after_many_fills)
{
	/*
	 * More pages read than the TLB's fill log holds, then a PTE changed and
	 * CR3 reloaded: the next read must see the new mapping.
	 *	xor %esi,%esi; mov $1024,%ecx; 1: mov (%rsi),%rax; add $0x1000,%rsi;
	 *	dec %ecx; jnz 1b; mov %r8,(%r9); mov %cr3,%rax; mov %rax,%cr3;
	 *	mov 0x200000,%rax; hlt
	 */
	static const uint64_t old = 0x1111111111111111ull, new = 0x2222222222222222ull;
	struct vsl_cpu_fixture *fs[2] = { &I, &T };
	for (int k = 0; k < 2; k++) {
		memcpy(fs[k]->ram + VSL_FIX_DATA, &old, 8);
		memcpy(fs[k]->ram + VSL_FIX_DATA + 0x1000, &new, 8);
	}
	set_gpr(VSL_R8, (VSL_FIX_DATA + 0x1000) | 7);
	set_gpr(VSL_R9, VSL_FIX_PT0 + (VSL_FIX_DATA >> 12) * 8);
	RUN("\x31\xf6\xb9\x00\x04\x00\x00\x48\x8b\x06\x48\x81\xc6\x00\x10\x00\x00\xff\xc9\x75\xf2\x4d\x89\x01"
	    "\x0f\x20\xd8\x0f\x22\xd8\x48\x8b\x04\x25\x00\x00\x20\x00\xf4");
	ck_assert_uint_eq(vsl_cpu_get_gpr(T.cpu, VSL_RAX), new);
}
END_TEST

static Suite *bt_suite(void)
{
	Suite *s = suite_create("bt");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, flags_across_helpers);
	tcase_add_test(tc, alu_mix);
	tcase_add_test(tc, memory_operands);
	tcase_add_test(tc, stack_call_ret);
	tcase_add_test(tc, ret_non_canonical);
	tcase_add_test(tc, push_page_fault);
	tcase_add_test(tc, sse_integer);
	tcase_add_test(tc, jmp_register);
	tcase_add_test(tc, loop_and_jcc);
	tcase_add_test(tc, budget_exact);
	tcase_add_test(tc, page_fault_mid_block);
	tcase_add_test(tc, divide_error_mid_block);
	tcase_add_test(tc, self_modifying_code);
	tcase_add_test(tc, alias_write);
	tcase_add_test(tc, block_at_page_end_second_unmapped);
	tcase_add_test(tc, interrupt_in_tight_loop);
	tcase_add_test(tc, flag_instructions);
	tcase_add_test(tc, flush_mid_run);
	tcase_add_test(tc, rep_string);
	tcase_add_test(tc, rep_string_fault);
	tcase_add_test(tc, implicit_operands);
	tcase_add_test(tc, segment_reads);
	tcase_add_test(tc, jmp_memory);
	tcase_add_test(tc, sse_movd_movq);
	tcase_add_test(tc, jmp_to_ret_other_page);
	tcase_add_test(tc, dma_over_code);
	tcase_add_test(tc, rdtsc_inline);
	tcase_add_test(tc, rdtsc_fallback);
	tcase_add_test(tc, invlpg_large_page);
	tcase_add_test(tc, return_stack_mismatch);
	tcase_add_test(tc, return_to_rewritten_caller);
	tcase_add_test(tc, chained_exit_remapped);
	tcase_add_test(tc, loop_two_blocks_chained);
	tcase_add_test(tc, jmp_to_ret_after_helper);
	tcase_add_test(tc, inline_tlb_empty_entries);
	tcase_add_test(tc, div_native);
	tcase_add_test(tc, sse_scalar_double_helper);
	tcase_add_test(tc, loop_carried_helper);
	tcase_add_test(tc, loop_carried_page_fault);
	tcase_add_test(tc, loop_register_pressure);
	tcase_add_test(tc, return_to_sentinel);
	tcase_add_test(tc, side_exits);
	tcase_add_test(tc, user_block_own_tlb);
	tcase_add_test(tc, xadd_prefetch);
	tcase_add_test(tc, call_indirect);
	tcase_add_test(tc, sti_pending_and_not);
	tcase_add_test(tc, tlb_refill);
	tcase_add_test(tc, bsf_bsr_zero_source);
	tcase_add_test(tc, tlb_flush_after_many_fills);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bt_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
