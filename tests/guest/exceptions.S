/*
 * Exceptions at CPL 0 and CPL 3: #DE, #UD, #GP (unknown MSR, non-canonical
 * address, privileged instruction at CPL 3), #BP (a trap: saved RIP after
 * INT3), delivery from CPL 3 with
 * the stack switch to TSS.RSP0, and IRETQ back into the interrupted code.
 */
#include "tests/diff/guest.h"

	.text
	.code64
	.globl _start
_start:
	GUEST_INIT

	/* #DE: divide by zero; the saved RIP is the DIV itself */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	mov $7, %eax
	xor %edx, %edx
	xor %ecx, %ecx
de_insn:
	div %ecx
	FAIL 0x10
1:	CHECK_REC DIFF_REC_VECTOR, 0, 0x11
	CHECK_REC DIFF_REC_RIP, de_insn, 0x12
	CHECK_REC DIFF_REC_COUNT, 1, 0x13
	CHECK %rax, 7, (0x14                /* the faulting DIV changed nothing */)

	/* #DE: quotient overflow (0x1_0000_0000 / 1 in 32 bits) */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	mov $1, %edx
	xor %eax, %eax
	mov $1, %ecx
	div %ecx
	FAIL 0x18
1:	CHECK_REC DIFF_REC_VECTOR, 0, 0x19

	/* #UD */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
ud_insn:
	ud2
	FAIL 0x20
1:	CHECK_REC DIFF_REC_VECTOR, 6, 0x21
	CHECK_REC DIFF_REC_RIP, ud_insn, 0x22

	/* #GP(0) on RDMSR of an MSR that does not exist */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	mov $0x4000ffff, %ecx
gp_insn:
	rdmsr
	FAIL 0x30
1:	CHECK_REC DIFF_REC_VECTOR, 13, 0x31
	CHECK_REC DIFF_REC_ERROR, 0, 0x32
	CHECK_REC DIFF_REC_RIP, gp_insn, 0x33

	/* #GP(0) on a non-canonical data address */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	movabs $0x0000800000000000, %rbx
	mov (%rbx), %rax
	FAIL 0x40
1:	CHECK_REC DIFF_REC_VECTOR, 13, 0x41
	CHECK_REC DIFF_REC_ERROR, 0, 0x42

	/* #BP from CPL 3 is a trap: saved RIP after INT3, stack switched to RSP0 */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_bp
1:	CHECK_REC DIFF_REC_VECTOR, 3, 0x60
	CHECK_REC DIFF_REC_RIP, u_bp_next, 0x61
	CHECK_REC DIFF_REC_CS, DIFF_SEL_UCODE, 0x62
	CHECK_REC DIFF_REC_SS, DIFF_SEL_UDATA, 0x63
	CHECK_REC DIFF_REC_RSP, (DIFF_USTACK_INIT - 0x100), 0x64

	/* HLT at CPL 3: #GP(0), saved RIP is the HLT */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_hlt
1:	CHECK_REC DIFF_REC_VECTOR, 13, 0x65
	CHECK_REC DIFF_REC_ERROR, 0, 0x66
	CHECK_REC DIFF_REC_RIP, u_hlt, 0x67

	/* RDMSR at CPL 3: #GP(0) */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_rdmsr_setup
1:	CHECK_REC DIFF_REC_VECTOR, 13, 0x68
	CHECK_REC DIFF_REC_RIP, u_rdmsr, 0x69

	/* back at CPL 0 with the kernel selectors */
	mov %cs, %ax
	cmp $DIFF_SEL_KCODE, %ax
	je 1f
	FAIL 0x6a
1:	CHECK_REC DIFF_REC_COUNT, 8, 0x6b
	DONE

	/* user-mode snippets: each ends in the fault under test */
u_bp:
	int3
u_bp_next:
	ud2
u_hlt:
	hlt
u_rdmsr_setup:
	xor %ecx, %ecx
u_rdmsr:
	rdmsr
