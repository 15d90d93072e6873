/*
 * Small algorithms with known answers: buffer fill, memcpy with REP MOVSB
 * and with a byte loop, an overlapping backward copy (STD; REP MOVSQ),
 * strlen with REPNE SCASB, bitwise CRC-32 (zlib's), Fibonacci(90) and an
 * insertion sort. Expected values were computed independently (Python's
 * zlib.crc32 and integer arithmetic). Runs at CPL 3, where KVM
 * executes it natively.
 */
#include "tests/diff/guest.h"

#define BUF   DIFF_SCRATCH
#define BUF2  (DIFF_SCRATCH + 0x1000)
#define ARR   (DIFF_SCRATCH + 0x2000)

	.text
	.code64
	.globl _start
_start:
	GUEST_INIT
	GO_USER

	/* fill BUF[i] = i*7+3 for i < 256 */
	xor %ecx, %ecx
1:	lea 3(%rcx,%rcx,2), %eax
	lea (%rax,%rcx,4), %eax
	mov %al, BUF(%rcx)
	inc %ecx
	cmp $256, %ecx
	jb 1b
	CHECK (BUF + 248), 0xfcf5eee7e0d9d2cb, 0x10

	/* memcpy with REP MOVSB, then compare with REPE CMPSB */
	cld
	mov $BUF, %esi
	mov $BUF2, %edi
	mov $256, %ecx
	rep movsb
	CHECK %rcx, 0, 0x20
	CHECK %rsi, (BUF + 256), 0x21
	mov $BUF, %esi
	mov $BUF2, %edi
	mov $256, %ecx
	repe cmpsb
	CHECK %rcx, 0, 0x22

	/* byte-loop copy into BUF2+0x100 */
	xor %ecx, %ecx
1:	movzbl BUF(%rcx), %eax
	mov %al, BUF2 + 0x100(%rcx)
	inc %rcx
	cmp $256, %rcx
	jne 1b
	mov BUF2 + 0x100 + 248, %rax
	CHECK %rax, 0xfcf5eee7e0d9d2cb, 0x23

	/* overlapping move 8 bytes up, backwards: STD; REP MOVSQ */
	std
	mov $BUF2 + 0x1f0, %esi
	mov $BUF2 + 0x1f8, %edi
	mov $32, %ecx
	rep movsq
	cld
	CHECK (BUF2 + 0x100 + 248), 0xc4bdb6afa8a19a93, 0x24
	CHECK (BUF2 + 0x100), 0xfcf5eee7e0d9d2cb, 0x25
	CHECK %rdi, (BUF2 + 0xf8), 0x26

	/* strlen of "differential\0" with REPNE SCASB */
	movabs $0x6e65726566666964, %rax   /* "differen" */
	mov %rax, BUF2 + 0x400
	movl $0x6c616974, BUF2 + 0x408     /* "tial" */
	movb $0, BUF2 + 0x40c
	mov $BUF2 + 0x400, %edi
	xor %eax, %eax
	mov $-1, %rcx
	repne scasb
	not %rcx
	dec %rcx
	CHECK %rcx, 12, 0x30

	/* CRC-32 (reflected, poly 0xEDB88320) of BUF[0..255] */
	mov $0xffffffff, %eax
	xor %esi, %esi
2:	movzbl BUF(%rsi), %edx
	xor %edx, %eax
	mov $8, %ecx
3:	shr $1, %eax
	jnc 4f
	xor $0xedb88320, %eax
4:	loop 3b
	inc %esi
	cmp $256, %esi
	jb 2b
	not %eax
	CHECK %rax, 0x78825239, 0x40

	/* Fibonacci(90) */
	xor %eax, %eax
	mov $1, %edx
	mov $90, %ecx
5:	lea (%rax,%rdx), %rbx
	mov %rdx, %rax
	mov %rbx, %rdx
	dec %ecx
	jnz 5b
	CHECK %rax, 0x27f80ddaa1ba7878, 0x50

	/* insertion sort of (i*37) mod 251, i < 200; checksum sum(i*v[i]) */
	xor %ecx, %ecx
6:	imul $37, %ecx, %eax
	xor %edx, %edx
	mov $251, %ebx
	div %ebx
	mov %edx, ARR(,%rcx,4)
	inc %ecx
	cmp $200, %ecx
	jb 6b
	mov $1, %ecx
7:	mov ARR(,%rcx,4), %eax
	mov %rcx, %rdx
8:	test %rdx, %rdx
	jz 9f
	mov ARR - 4(,%rdx,4), %ebx
	cmp %eax, %ebx
	jbe 9f
	mov %ebx, ARR(,%rdx,4)
	dec %rdx
	jmp 8b
9:	mov %eax, ARR(,%rdx,4)
	inc %rcx
	cmp $200, %rcx
	jb 7b
	xor %eax, %eax
	xor %ecx, %ecx
10:	mov ARR(,%rcx,4), %ebx
	imul %rcx, %rbx
	add %rbx, %rax
	inc %rcx
	cmp $200, %rcx
	jb 10b
	CHECK %rax, 0x3256bb, 0x60
	DONE
