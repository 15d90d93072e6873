/*
 * Unit tests for the run loop, exceptions and interrupts delivered through
 * the IDT, and system instructions (cpu.c, sys.c).
 * Each test runs a byte sequence (disassembly in the comment) on the
 * long-mode fixture (tests/unit/helpers/cpu_fixture.h) until HLT.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/cpu_suite.h"
#include "tests/unit/helpers/testutil.h"

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
	return tu_run_suite(cpu_suite());
}
