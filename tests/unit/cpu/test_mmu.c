/*
 * Unit tests for long-mode and legacy paging, the software TLB,
 * accessed/dirty bits and #PF error codes (mmu.c).
 * Each test runs a byte sequence (disassembly in the comment) on the
 * long-mode fixture (tests/unit/helpers/cpu_fixture.h) until HLT.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/cpu_suite.h"
#include "tests/unit/helpers/testutil.h"

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

static Suite *mmu_suite(void)
{
	Suite *s = suite_create("mmu");
	TCase *tc;

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
	return s;
}

int main(void)
{
	return tu_run_suite(mmu_suite());
}
