/*
 * Self-modifying code at CPL 3 (where KVM runs the host CPU natively):
 * patching the immediate of an instruction further down, patching the very
 * next instruction (x86 detects stores into the instruction stream), and a
 * generated function rewritten and called in a loop. A translator must
 * invalidate what it translated from the written bytes.
 */
#include "tests/diff/guest.h"

#define GEN (DIFF_CODE + 0x8000)     /* user, writable, executable */

	.text
	.code64
	.globl _start
_start:
	GUEST_INIT
	GO_USER

	/* a MOV runs once, its imm32 is patched, then it runs again */
	xor %ebx, %ebx
	mov $2, %ecx
	jmp patch_imm
1:	add %eax, %ebx
	movl $0x1234, patch_imm + 1
	dec %ecx
	jz 2f
patch_imm:
	mov $0x11, %eax                      /* b8 imm32 */
	jmp 1b
2:	CHECK %rbx, (0x11 + 0x1234), 0x10

	/* patch the next instruction: UD2 becomes two NOPs */
	movw $0x9090, next_insn
next_insn:
	ud2
	mov $1, %eax                         /* reached: the patch was seen */
	CHECK %rax, 1, 0x11

	/* generate "mov $i, %eax; ret" into GEN and call it, 100 times */
	xor %ebx, %ebx
	xor %ecx, %ecx
3:	movb $0xb8, GEN
	mov %ecx, GEN + 1
	movb $0xc3, GEN + 5
	mov $GEN, %rdx
	call *%rdx
	add %rax, %rbx
	inc %ecx
	cmp $100, %ecx
	jne 3b
	CHECK %rbx, 4950, 0x12

	/* two functions on one page, one rewritten between calls of the other */
	movl $0x00002ab8, GEN + 0x40         /* mov $0x2a, %eax */
	movw $0xc300, GEN + 0x44             /* (imm high byte 0) ret */
	mov $GEN + 0x40, %rdx
	call *%rdx
	CHECK %rax, 0x2a, 0x13
	movb $0x2b, GEN + 0x41
	call *%rdx
	CHECK %rax, 0x2b, 0x14
	DONE
