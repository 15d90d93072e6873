/*
 * #SS: a non-canonical address whose base register is RBP or RSP raises
 * #SS(0), not #GP(0) (SDM Vol. 3 "Interrupt 12"; AMD APM "#SS"); with any
 * other base it is #GP(0). Checked at CPL 0 and at CPL 3.
 */
#include "tests/diff/guest.h"

	.text
	.code64
	.globl _start
_start:
	GUEST_INIT
	mov %rbp, %r13
	mov %rsp, %r12

	/* RBP-based, CPL 0 */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	movabs $0x8000000000000000, %rbp
	mov (%rbp), %rax
	FAIL 0x10
1:	mov %r13, %rbp
	CHECK_REC DIFF_REC_VECTOR, 12, 0x11
	CHECK_REC DIFF_REC_ERROR, 0, 0x12

	/* RSP-based with a large index, CPL 0 */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	movabs $0x0000900000000000, %rax
	mov 8(%rsp,%rax), %rbx
	FAIL 0x20
1:	mov %r12, %rsp
	CHECK_REC DIFF_REC_VECTOR, 12, 0x21

	/* RBP only as the index: not a stack reference, #GP(0) */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	movabs $0x0000900000000000, %rbp
	xor %eax, %eax
	mov (%rax,%rbp,1), %rbx
	FAIL 0x30
1:	mov %r13, %rbp
	CHECK_REC DIFF_REC_VECTOR, 13, 0x31

	/* RBP-based at CPL 3 */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_ss
1:	mov %r13, %rbp
	CHECK_REC DIFF_REC_VECTOR, 12, 0x40
	CHECK_REC DIFF_REC_CS, DIFF_SEL_UCODE, 0x41
	DONE

u_ss:
	movabs $0x8000000000001000, %rbp
	mov (%rbp), %rax
	ud2
