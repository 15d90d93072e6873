/*
 * Compatibility mode: IRETQ from 64-bit CPL 0 to a 32-bit code segment at
 * CPL 3, 32-bit arithmetic, stack and string operations there (ESP-based,
 * addresses wrap at 4 GiB), then a fault that is delivered in 64-bit mode
 * (64-bit frame with the 32-bit CS). The results are checked at CPL 0. PVM
 * takes the 32-bit user CS from STAR[63:48], so STAR is set to match.
 */
#include "tests/diff/guest.h"

#define RES (DIFF_SCRATCH + 0x200)

	.text
	.code64
	.globl _start
_start:
	GUEST_INIT
	/* STAR[63:48]: the 32-bit user CS (PVM takes it from there) */
	mov $0xc0000081, %ecx
	xor %eax, %eax
	mov $((DIFF_SEL_UCODE32 & ~3) << 16), %edx
	wrmsr
	mov %rsp, %r12
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	pushq $DIFF_SEL_UDATA
	pushq $DIFF_USTACK_INIT - 0x100
	pushq $0x202
	pushq $DIFF_SEL_UCODE32
	pushq $u32
	iretq
1:	mov %r12, %rsp
	CHECK_REC DIFF_REC_VECTOR, 6, 0x10
	CHECK_REC DIFF_REC_CS, DIFF_SEL_UCODE32, 0x11
	CHECK_REC DIFF_REC_RIP, u32_end, 0x12
	CHECK_REC DIFF_REC_RSP, (DIFF_USTACK_INIT - 0x100), 0x13
	CHECK RES, 0xacf13568, 0x20               /* 0x12345678 + 0x9abcdef0, 32 bits */
	CHECK (RES + 8), 3, 0x21                  /* pushed/popped values */
	CHECK (RES + 16), 0x0badc0de, 0x22
	CHECK (RES + 24), 0x44434241, 0x23        /* rep movsd copied */
	DONE

	.code32
u32:
	/* the IRETQ left DS/ES null: fine in 64-bit mode, #GP on use here */
	mov $DIFF_SEL_UDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov $0x12345678, %eax
	add $0x9abcdef0, %eax
	mov %eax, RES
	movl $0, RES + 4
	push $1
	push $2
	pop %ecx
	pop %edx
	add %edx, %ecx
	mov %ecx, RES + 8
	movl $0, RES + 12
	mov $0x0badc0de, %eax
	mov %eax, RES + 16
	movl $0x44434241, RES + 0x80
	mov $RES + 0x80, %esi
	mov $RES + 24, %edi
	mov $1, %ecx
	cld
	rep movsd
u32_end:
	ud2
